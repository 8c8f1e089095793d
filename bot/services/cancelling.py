"""/batalkan N: the starter, the Kadis or an admin stops a running process with a reason.
Every open card closes, everyone involved is told, the record keeps it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.bounds import clean_note
from bot.people import Actor
from bot.runtime import Runtime
from bot.services.acting import apply_events
from bot.services.common import Reply, ServiceError, add_token, clear_prompt, set_prompt, sop_of
from bot.workflow import engine
from bot.workflow.engine import ProcessState, WorkflowError
from storage.models import PendingPrompt, Process, StepInstance

PROMPT = "alasan_batal"


def may_cancel(actor: Actor, process: Process) -> bool:
    return actor.is_admin or "kadis" in actor.roles or process.starter_id == actor.id


async def _running(session: AsyncSession, actor: Actor, process_id: int) -> Process:
    process = await session.get(Process, process_id)
    if process is None:
        raise ServiceError(texts.PROCESS_NOT_FOUND)
    if not may_cancel(actor, process):
        raise ServiceError(texts.CANCEL_WHO)
    if process.status != engine.RUNNING:
        raise ServiceError(f"Proses #{process.id} sudah tidak berjalan ({process.status}).")
    return process


async def ask(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, process_id: int | None
) -> Reply:
    if process_id is None:
        raise ServiceError(texts.CANCEL_USAGE)
    process = await _running(session, actor, process_id)
    await set_prompt(session, now, actor.id, PROMPT, process_id=process.id)
    cancel = await add_token(session, now, "batal", person_id=actor.id)
    return Reply(
        "",
        message=texts.ASK_CANCEL_REASON.format(id=process.id, title=process.title),
        message_buttons=[[("✖️ Tidak jadi", cancel)]],
    )


async def answer_text(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    prompt: PendingPrompt,
    text: str,
) -> Reply:
    reason = clean_note(text)
    if not reason:
        raise ServiceError("Alasan pembatalan tidak boleh kosong. Silakan tulis alasannya.")
    process = await _running(session, actor, int(prompt.data["process_id"]))
    sop = sop_of(rt, process)
    try:
        state, events = engine.cancel(ProcessState.from_json(process.state), reason)
    except WorkflowError as exc:
        raise ServiceError(exc.message) from exc
    open_si = await session.scalar(
        select(StepInstance)
        .where(StepInstance.process_id == process.id, StepInstance.finished_at.is_(None))
        .order_by(StepInstance.id.desc())
        .limit(1)
    )
    await apply_events(rt, session, now, actor, process, sop, state, events, open_si)
    await clear_prompt(session, now, actor)
    return Reply(f"⛔ Proses #{process.id} {process.title} dibatalkan.")
