"""/mulai: the Kadis (or an admin) starts a process in a few taps.

Choose the SOP → title (one-tap suggestions) → sifat (Biasa / Segera / Sangat Segera) →
arahan (optional) → Surat Edaran (optional).
Each answer is kept in the person's pending prompt, so a restart in between loses nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.bounds import clean_note, one_line
from bot.people import Actor
from bot.runtime import Runtime
from bot.services.acting import apply_events
from bot.services.common import (
    Buttons,
    FileIn,
    Reply,
    ServiceError,
    add_document,
    add_token,
    audit,
    clear_prompt,
    new_instance,
    set_prompt,
)
from bot.services.notices import forward_to_everyone
from bot.sop.model import SopDefinition
from bot.workflow import engine
from storage.models import ActionToken, PendingPrompt, Process


def can_start(rt: Runtime, actor: Actor) -> bool:
    return actor.is_admin or any(s.step(1).role in actor.roles for s in rt.sops.all())


async def begin(rt: Runtime, session: AsyncSession, now: datetime, actor: Actor) -> Reply:
    if not can_start(rt, actor):
        raise ServiceError("Maaf, hanya Kepala Dinas atau admin yang dapat memulai proses SOP.")
    buttons: Buttons = []
    for sop in rt.sops.all():
        if actor.is_admin or sop.step(1).role in actor.roles:
            token = await add_token(session, now, "mulai_sop", arg=sop.number, person_id=actor.id)
            buttons.append([(f"{sop.short} · {sop.nama_singkat or sop.title}", token)])
    cancel = await add_token(session, now, "batal", person_id=actor.id)
    buttons.append([("✖️ Batal", cancel)])
    await set_prompt(session, now, actor.id, "mulai_sop")
    return Reply("", message="Pilih SOP yang akan dijalankan:", message_buttons=buttons)


async def press(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    tok: ActionToken,
    prompt: PendingPrompt | None,
) -> Reply:
    stage = {
        "mulai_sop": "mulai_sop",
        "mulai_judul": "mulai_judul",
        "mulai_sifat": "mulai_sifat",
        "mulai_arahan": "mulai_arahan",
        "mulai_tanpa_lampiran": "mulai_lampiran",
    }
    expected = stage.get(tok.action)
    if expected is None or prompt is None or prompt.kind != expected:
        raise ServiceError("Tombol ini sudah tidak berlaku. Ketik /mulai untuk memulai lagi.")
    match tok.action:
        case "mulai_sop":
            return await _ask_title(rt, session, now, actor, tok.arg or "")
        case "mulai_judul":
            return await _ask_sifat(session, now, actor, prompt, tok.arg or "")
        case "mulai_sifat":
            return await _ask_arahan(session, now, actor, prompt, tok.arg or "biasa")
        case "mulai_arahan":
            return await _ask_lampiran(session, now, actor, prompt, None)
        case _:
            return await finish(rt, session, now, actor, prompt, None)


async def answer_text(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    prompt: PendingPrompt,
    text: str,
) -> Reply:
    match prompt.kind:
        case "mulai_judul":
            text = one_line(text, 1000)
            if not 3 <= len(text) <= 200:
                raise ServiceError('Judul/periode harus 3–200 karakter, mis. "LAKIP Tahun 2026".')
            return await _ask_sifat(session, now, actor, prompt, text)
        case "mulai_sifat":
            raise ServiceError("Pilih sifat disposisi dengan tombol di atas.")
        case "mulai_arahan":
            text = clean_note(text)  # stored whole, shown shortened on cards
            if not text:
                raise ServiceError(
                    "Arahan tidak boleh kosong. Tulis arahannya, atau tekan ➡️ Tanpa arahan."
                )
            return await _ask_lampiran(session, now, actor, prompt, text)
        case "mulai_lampiran":
            raise ServiceError(
                "Kirim file Surat Edaran sebagai dokumen, atau tekan ▶️ Mulai tanpa lampiran."
            )
    raise ServiceError("Pilih SOP dengan tombol di atas, atau ketik /mulai untuk mengulang.")


async def _ask_title(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, number: str
) -> Reply:
    sop = rt.sops.get(number)
    if sop is None:
        raise ServiceError("SOP tidak ditemukan. Ketik /mulai untuk memulai lagi.")
    await set_prompt(session, now, actor.id, "mulai_judul", sop=sop.number)
    year = now.astimezone(ZoneInfo(rt.settings.timezone)).year
    name = sop.nama_singkat or sop.title
    buttons: Buttons = []
    for y in (year, year - 1):
        title = f"{name} Tahun {y}"
        token = await add_token(session, now, "mulai_judul", arg=title, person_id=actor.id)
        buttons.append([(title, token)])
    cancel = await add_token(session, now, "batal", person_id=actor.id)
    buttons.append([("✖️ Batal", cancel)])
    return Reply(
        f"SOP dipilih: {sop.title}.",
        edit=f"SOP dipilih: {sop.title} ({sop.short}).",
        message="Judul/periode proses: silakan pilih di bawah atau ketik sendiri.",
        message_buttons=buttons,
    )


async def _ask_sifat(
    session: AsyncSession, now: datetime, actor: Actor, prompt: PendingPrompt, title: str
) -> Reply:
    data = {**prompt.data, "title": title}
    await set_prompt(session, now, actor.id, "mulai_sifat", **data)
    buttons: Buttons = [
        [(label, await add_token(session, now, "mulai_sifat", arg=code, person_id=actor.id))]
        for code, label in texts.SIFAT.items()
    ]
    cancel = await add_token(session, now, "batal", person_id=actor.id)
    buttons.append([("✖️ Batal", cancel)])
    return Reply(
        f"Judul: {title}.",
        edit=f"Judul: {title}.",
        message=texts.ASK_SIFAT,
        message_buttons=buttons,
    )


async def _ask_arahan(
    session: AsyncSession, now: datetime, actor: Actor, prompt: PendingPrompt, sifat: str
) -> Reply:
    sifat = sifat if sifat in texts.SIFAT else "biasa"
    data = {**prompt.data, "sifat": sifat}
    await set_prompt(session, now, actor.id, "mulai_arahan", **data)
    skip = await add_token(session, now, "mulai_arahan", person_id=actor.id)
    cancel = await add_token(session, now, "batal", person_id=actor.id)
    label = f"Sifat: {texts.SIFAT[sifat]}."
    return Reply(
        label,
        edit=label,
        message="Tulis arahan disposisi untuk Sekretaris, atau tekan ➡️ Tanpa arahan.",
        message_buttons=[[("➡️ Tanpa arahan", skip)], [("✖️ Batal", cancel)]],
    )


async def _ask_lampiran(
    session: AsyncSession, now: datetime, actor: Actor, prompt: PendingPrompt, arahan: str | None
) -> Reply:
    data = {**prompt.data, "arahan": arahan}
    await set_prompt(session, now, actor.id, "mulai_lampiran", **data)
    go = await add_token(session, now, "mulai_tanpa_lampiran", person_id=actor.id)
    cancel = await add_token(session, now, "batal", person_id=actor.id)
    return Reply(
        "Arahan sudah dicatat." if arahan else "Tanpa arahan.",
        edit=f"Arahan: {arahan}" if arahan else "Tanpa arahan.",
        message=(
            "Kirim file Surat Edaran (PDF/DOC/DOCX) sebagai dokumen untuk dilampirkan, "
            "atau tekan ▶️ Mulai tanpa lampiran."
        ),
        message_buttons=[[("▶️ Mulai tanpa lampiran", go)], [("✖️ Batal", cancel)]],
    )


async def attach_surat_edaran(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, file: FileIn
) -> Reply:
    """The Surat Edaran arrived as a file: the last answer /mulai waits for."""
    prompt = await session.get(PendingPrompt, actor.id)
    if prompt is None or prompt.kind != "mulai_lampiran":
        raise ServiceError("Isian /mulai sudah berakhir. Ketik /mulai untuk memulai lagi.")
    return await finish(rt, session, now, actor, prompt, file)


async def finish(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    prompt: PendingPrompt,
    surat_edaran: FileIn | None,
) -> Reply:
    sop = rt.sops.get(prompt.data["sop"])
    if sop is None:
        raise ServiceError("SOP tidak ditemukan. Ketik /mulai untuk memulai lagi.")
    process = await start_process(
        rt,
        session,
        now,
        actor,
        sop,
        prompt.data["title"],
        prompt.data.get("arahan"),
        surat_edaran,
        prompt.data.get("sifat", "biasa"),
    )
    await clear_prompt(session, now, actor)
    first = sop.step(1)
    if first.role in actor.roles:
        who = texts.role_name(sop, sop.step(2).role) if len(sop.steps) > 1 else ""
        done = f"✅ Disposisi diberikan: {process.title}. Diteruskan ke {who} (Langkah 2)."
    else:
        done = (
            f"✅ Proses dibuat: {process.title}. Langkah 1 dikirim ke "
            f"{texts.role_name(sop, first.role)}."
        )
    return Reply(
        done,
        edit=done,  # the pressed /mulai prompt when started by button
    )


async def start_process(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    sop: SopDefinition,
    title: str,
    arahan: str | None,
    surat_edaran: FileIn | None,
    sifat: str = "biasa",
) -> Process:
    first = sop.step(1)
    if first.role not in actor.roles and not actor.is_admin:
        raise ServiceError(
            f"Proses {sop.nama_singkat or sop.title} dimulai oleh "
            f"{texts.role_name(sop, first.role)}."
        )
    state, events = engine.start(sop, tuple(rt.settings.bidang))
    process = Process(
        sop_number=sop.number,
        title=title.strip()[:300],
        arahan=(arahan or "").strip() or None,
        starter_id=actor.id,
        status=engine.RUNNING,
        current_step=state.current,
        state=state.to_json(),
        created_at=now,
        sifat=sifat,
        nomor_agenda=await nomor_agenda(rt, session, now, sop),
    )
    session.add(process)
    await session.flush()
    audit(session, now, actor.id, "mulai", process.id, None, f"{sop.number}: {title}")
    if surat_edaran is not None:
        await add_document(
            session, now, process.id, 1, None, "surat_edaran", surat_edaran, actor.id
        )
    if first.role in actor.roles:
        # The starter gives the disposisi with the same taps: step 1 is done at once.
        si = new_instance(rt, process.id, first, now, state.revision_round)
        session.add(si)
        await session.flush()
        audit(session, now, actor.id, "aktif", process.id, 1, "mulai")
        # The lembar disposisi starts with the starter's own line.
        await forward_to_everyone(session, now, process, si, sop, actor.id, process.arahan)
        state, events = engine.act(sop, state, engine.Complete(1, note=None), actor.roles)
        await apply_events(rt, session, now, actor, process, sop, state, events, si)
    else:
        await apply_events(rt, session, now, actor, process, sop, state, events[1:], None)
    return process


async def nomor_agenda(
    rt: Runtime, session: AsyncSession, now: datetime, sop: SopDefinition
) -> str:
    """From NOMOR_AGENDA_POLA, e.g. 370/004/2026: numbered per SOP per year (a number taken
    twice at the same instant fails the unique index and the update is retried)."""
    tz = ZoneInfo(rt.settings.timezone)
    year = now.astimezone(tz).year
    count = await session.scalar(
        select(func.count(Process.id)).where(
            Process.sop_number == sop.number,
            Process.created_at >= datetime(year, 1, 1, tzinfo=tz).astimezone(UTC),
        )
    )
    seq = (count or 0) + 1
    try:
        return rt.settings.nomor_agenda_pola.format(sop=sop.short, seq=seq, year=year)
    except (KeyError, ValueError, IndexError):  # a mistyped pattern must not stop /mulai
        return f"{sop.short}/{seq:03d}/{year}"
