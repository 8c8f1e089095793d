"""Where a press or a text goes: a task card's button, a personal prompt's button, or the
answer to what the bot asked this person. Routing only; the use cases live beside it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.people import Actor, recipients
from bot.runtime import Runtime
from bot.services import (
    acting,
    cancelling,
    claims,
    disposisi,
    own_words,
    record_files,
    reports,
    starting,
    uploads,
)
from bot.services.common import (
    FileIn,
    Reply,
    ServiceError,
    already_done_message,
    audit,
    check_open,
    load_step,
)
from bot.services.reminders import remind
from storage.models import ActionToken, PendingPrompt, Process, StepInstance

# Every press: a task card's token comes with its step and process (`load_step` then finds
# them in the session instead of reading them again), and the presser's pending prompt
# with any token (None: they have none). Built once.
_TOKEN = (
    select(ActionToken, StepInstance, Process, PendingPrompt)
    .outerjoin(StepInstance, StepInstance.id == ActionToken.step_instance_id)
    .outerjoin(Process, Process.id == StepInstance.process_id)
    .outerjoin(PendingPrompt, PendingPrompt.person_id == bindparam("person"))
    .where(ActionToken.token == bindparam("token"))
)


async def press(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, token: str
) -> Reply:
    """A button was pressed: decide from the stored token and the state now."""
    row = (await session.execute(_TOKEN, {"token": token, "person": actor.id})).first()
    if row is None:
        raise ServiceError(texts.UNKNOWN_BUTTON)
    tok, prompt = row[0], row[3]
    if tok.person_id is not None and tok.person_id != actor.id:
        raise ServiceError(texts.NOT_YOURS)
    if tok.step_instance_id is not None:
        return await _press_step(rt, session, now, actor, tok, prompt)
    # Buttons of a conversation with one person (cancel, choose a task, /mulai).
    if tok.action == "batal":
        return await acting.cancel_prompt(session, now, actor)
    match tok.action:
        case "tugas":
            return await reports.queue_open_tasks(rt, session, now, actor)
        case "status":
            process = await session.get(Process, int(tok.arg or 0))
            if process is None:
                raise ServiceError(texts.PROCESS_NOT_FOUND)
            return Reply("", message=await reports.status_text(rt, session, process))
        case "riwayat":  # 📄 Riwayat under a /status card
            return await record_files.request_riwayat(rt, session, now, actor, int(tok.arg or 0))
        case "ingatkan":
            return await nudge(rt, session, now, actor, int(tok.arg or 0))
        case "jadikan_catatan":
            return await own_words.keep_note(rt, session, now, actor, int(tok.arg or 0))
        case "alihkan":
            return await claims.ask_move(rt, session, now, actor, int(tok.arg or 0))
        case "alihkan_ke":
            return await claims.move(rt, session, now, actor, tok.arg or "")
    if tok.action.startswith("dispo_"):
        return await disposisi.press(rt, session, now, actor, tok, prompt)
    if tok.action == "pilih_unggah":
        if prompt is None or prompt.kind != "pilih_unggah":
            raise ServiceError(texts.UNKNOWN_BUTTON)
        file = FileIn(**prompt.data["file"])
        reply = await uploads.receive_upload(rt, session, now, actor, int(tok.arg or 0), file)
        reply.edit = reply.text
        return reply
    return await starting.press(rt, session, now, actor, tok, prompt)


async def _press_step(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    tok: ActionToken,
    prompt: PendingPrompt | None,
) -> Reply:
    """A task card's button: the office-practice ones here, the transitions in `acting`."""
    assert tok.step_instance_id is not None
    if tok.action in ("disposisi", "ttd", "setuju_ttd"):
        si, process = await load_step(session, tok.step_instance_id)
        sop = await check_open(rt, session, actor, si, process)
        if tok.action == "disposisi":
            return await disposisi.open_form(rt, session, now, actor, si, process, sop)
        return Reply("Silakan kirim PDF bertanda tangan.", message=texts.ASK_SIGNED)
    if tok.action in ("ambil", "lepas"):
        si, _ = await load_step(session, tok.step_instance_id)
        act = claims.claim if tok.action == "ambil" else claims.release
        return await act(rt, session, now, actor, si)
    return await acting.press_step(rt, session, now, actor, tok, prompt)


async def answer_text(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, text: str
) -> Reply:
    """A text message: it answers whatever the bot asked this person for."""
    prompt = await session.get(PendingPrompt, actor.id)
    if prompt is None or prompt.kind in own_words.FREE_TEXT_KINDS:
        # Said in their own words: with one open task, offer its buttons.
        return await own_words.free_text(rt, session, now, actor, text)
    if prompt.kind.startswith("mulai_"):
        return await starting.answer_text(rt, session, now, actor, prompt, text)
    if prompt.kind == "pilih_unggah":
        raise ServiceError("Pilih dulu langkah untuk dokumen tadi dengan tombol di atas.")
    if prompt.kind in (disposisi.FORM, disposisi.ASKING_NOTE):
        return await disposisi.answer_text(rt, session, now, actor, prompt, text)
    if prompt.kind == cancelling.PROMPT:
        return await cancelling.answer_text(rt, session, now, actor, prompt, text)
    return await acting.answer_step_prompt(rt, session, now, actor, prompt, text)


async def nudge(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, si_id: int
) -> Reply:
    """🔔 Ingatkan on an escalation: the holders are reminded now, and the superior told so."""
    si, process = await load_step(session, si_id)
    if si.finished_at is not None:
        raise ServiceError(await already_done_message(session, si, rt.settings.timezone))
    people = await recipients(session, si, now)
    await remind(rt, session, now, process, si, people, asked=True)
    audit(session, now, actor.id, "ingatkan", process.id, si.step_no)
    names = ", ".join(p.name for p in people) or "-"
    return Reply(f"🔔 Pengingat Langkah {si.step_no} sudah dikirim kepada {names}.")
