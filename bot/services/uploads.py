"""Files: decide which step a file is for before it is downloaded, then record it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.bounds import clean_note, one_line
from bot.people import Actor
from bot.runtime import Runtime
from bot.services.acting import act_on_step, answer_step_prompt, revise
from bot.services.common import (
    Buttons,
    FileIn,
    Reply,
    ServiceError,
    add_document,
    add_token,
    already_done_message,
    check_open,
    clear_prompt,
    load_step,
    open_steps,
    set_prompt,
)
from bot.sop.model import Kind
from bot.workflow import engine
from bot.workflow.engine import ProcessState
from storage.models import PendingPrompt, Process, StepInstance


@dataclass
class UploadTarget:
    """Where an incoming file goes, decided before it is downloaded."""

    kind: str  # "step", "revisi", "mulai", "ask"
    step_instance_id: int | None = None
    steps: list[tuple[int, str]] = field(default_factory=list)  # (si id, label) to choose from
    accepted: tuple[str, ...] = ()
    label: str = "Dokumen"  # what the step's file is ("Tanda Terima"), to name a photo


async def upload_target(
    rt: Runtime, session: AsyncSession, actor: Actor, task_step_instance_id: int | None
) -> UploadTarget:
    """Decide what a file is for. `task_step_instance_id`: the task message it replies to."""
    prompt = await session.get(PendingPrompt, actor.id)
    if prompt is not None and prompt.kind == "mulai_lampiran":
        return UploadTarget("mulai")
    if prompt is not None and prompt.kind == "catatan_revisi":
        return UploadTarget("revisi", prompt.data["step_instance_id"])
    candidates, collecting = [], []
    for si, process in [*await open_steps(session, actor), *await _scans(rt, session, actor)]:
        sop = rt.sops.get(process.sop_number)
        step = sop.phase(si.step_no, si.role) if sop is not None else None
        if step is not None and step.kind is Kind.UNGGAH:
            candidates.append((si, process, step))
        elif step is not None and step.kind is Kind.TANDA_TANGAN:
            # The signed document (TTE from SRIKANDI or a scan) closes a sign step: a PDF.
            candidates.append((si, process, step.model_copy(update={"berkas": ("pdf",)})))
        elif step is not None and step.kind is Kind.KUMPUL:
            collecting.append(step.no)
    if task_step_instance_id is not None:
        chosen = [c for c in candidates if c[0].id == task_step_instance_id]
        if chosen:
            candidates = chosen
    if not candidates and collecting:
        raise ServiceError(
            f"Langkah {collecting[0]} adalah pengumpulan data: file data bidang disimpan di "
            "luar bot. Tandai bidang yang datanya sudah masuk dengan tombolnya pada pesan "
            "tugas, lalu tekan ✅ Selesai."
        )
    if not candidates:
        raise ServiceError(
            "Saat ini tidak ada langkah yang menunggu dokumen dari Bapak/Ibu. "
            "Ketik /tugas untuk melihat tugas Bapak/Ibu."
        )
    if len(candidates) == 1:
        si, _, step = candidates[0]
        return UploadTarget("step", si.id, accepted=step.berkas, label=step.document_kind)
    accepted = tuple(sorted({t for c in candidates for t in c[2].berkas}))
    return UploadTarget(
        "ask",
        steps=[(si.id, f"{p.title} · Langkah {si.step_no}") for si, p, _ in candidates],
        accepted=accepted,
    )


async def _scans(
    rt: Runtime, session: AsyncSession, actor: Actor
) -> list[tuple[StepInstance, Process]]:
    """Open signatures whose signed scan this person may send (`pindai_oleh`), e.g. the
    Jafung for the Kadis; the signer's own steps come from `open_steps`."""
    wanted = [
        and_(Process.sop_number == sop.number, StepInstance.step_no == s.no)
        for sop in rt.sops.all()
        for s in sop.steps
        if s.pindai_oleh in actor.roles
    ]
    if not wanted:
        return []
    rows = await session.execute(
        select(StepInstance, Process)
        .join(Process, Process.id == StepInstance.process_id)
        .where(StepInstance.finished_at.is_(None), or_(*wanted))
        .order_by(StepInstance.id)
    )
    found = []
    for si, process in rows.all():
        sop = rt.sops.get(process.sop_number)
        signing = sop is not None and sop.phase(si.step_no, si.role).kind is Kind.TANDA_TANGAN
        if signing and si.role not in actor.roles:  # a signer's own come from open_steps
            found.append((si, process))
    return found


async def receive_upload(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    si_id: int,
    file: FileIn,
    caption: str | None = None,
) -> Reply:
    si, process = await load_step(session, si_id)
    sop = rt.sops.get(process.sop_number)
    if sop is not None and sop.phase(si.step_no, si.role).kind is Kind.TANDA_TANGAN:
        return await _receive_signed(rt, session, now, actor, si, process, file, caption)
    sop = await act_on_step(
        rt, session, now, actor, si, process, engine.Upload(si.step_no), upload_file=file
    )
    await clear_prompt(session, now, actor)
    state = ProcessState.from_json(process.state)
    nxt = ""
    if state.signing:
        nxt = " " + texts.to_signer(texts.role_name(sop, engine.current_step(sop, state).role))
    elif state.current:
        role = texts.role_name(sop, sop.step(state.current).role)
        nxt = f" Diteruskan ke Langkah {state.current} ({role})."

    return Reply(f"✅ Dokumen {file.file_name} diterima untuk Langkah {si.step_no}.{nxt}")


async def _receive_signed(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    si: StepInstance,
    process: Process,
    file: FileIn,
    caption: str | None,
) -> Reply:
    """The signed PDF closes the sign step; its caption, if any, is the nomor naskah (of
    the process's own naskah on a sign step; of the signed upload, e.g. the surat pengantar,
    kept with that step only)."""
    if not file.file_name.lower().endswith(".pdf"):
        raise ServiceError(texts.SIGNED_ONLY_PDF)
    nomor = one_line(caption or "", 100) or None
    sop = await check_open(rt, session, actor, si, process)
    doc = await add_document(session, now, process.id, si.step_no, si.id, "ttd", file, actor.id)
    if nomor and sop.step(si.step_no).kind is Kind.TANDA_TANGAN:
        process.nomor_naskah = nomor
    await act_on_step(rt, session, now, actor, si, process, engine.Sign(si.step_no, doc.id, nomor))
    await clear_prompt(session, now, actor)
    return Reply(texts.signed_received(si.step_no, nomor))


async def receive_revision_file(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    si_id: int,
    file: FileIn,
    caption: str | None,
) -> Reply:
    si, process = await load_step(session, si_id)
    prompt = await session.get(PendingPrompt, actor.id)
    if si.finished_at is not None or prompt is None:
        await clear_prompt(session, now, actor)
        raise ServiceError(await already_done_message(session, si, rt.settings.timezone))
    note = clean_note(caption)
    if note:
        return await revise(rt, session, now, actor, si, process, note, prompt, file)
    # Keep the file with the prompt and wait for the note.
    prompt.data = {**prompt.data, "file": file.__dict__}
    return Reply("📎 File koreksi diterima. Sekarang tulis catatan revisinya.")


async def ask_upload_step(
    session: AsyncSession, now: datetime, actor: Actor, target: UploadTarget, file: FileIn
) -> Reply:
    await set_prompt(session, now, actor.id, "pilih_unggah", file=file.__dict__)
    buttons: Buttons = []
    for si_id, label in target.steps:
        token = await add_token(
            session, now, "pilih_unggah", step_instance_id=None, arg=str(si_id), person_id=actor.id
        )
        buttons.append([(label, token)])
    cancel = await add_token(session, now, "batal", person_id=actor.id)
    buttons.append([("✖️ Batal", cancel)])
    return Reply(
        "",
        message="Dokumen diterima. Dokumen ini untuk tugas yang mana?",
        message_buttons=buttons,
    )


VOICE_NOTE_KINDS = ("catatan_revisi", "catatan_disposisi", "catatan_setuju")


async def receive_voice(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, file: FileIn, seconds: int
) -> Reply:
    """A voice note answers a note prompt like typed words; the recording goes on with the
    next card (see `views.notify_task`) and is kept like any document."""
    prompt = await session.get(PendingPrompt, actor.id)
    if prompt is None or prompt.kind not in VOICE_NOTE_KINDS:
        raise ServiceError(texts.VOICE_WHERE)
    si, process = await load_step(session, prompt.data["step_instance_id"])
    await add_document(session, now, process.id, si.step_no, si.id, "suara", file, actor.id)
    note = texts.voice_note(seconds)
    return await answer_step_prompt(rt, session, now, actor, prompt, note)
