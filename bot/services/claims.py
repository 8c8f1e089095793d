"""Shared steps and moving a step: «🙋 Saya kerjakan» on a step several people share (the
others see who took it, reminders go to the claimer only), «↩️ Lepaskan», and «👤 Alihkan»
by a superior or an admin."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.people import Actor, holders, recipients
from bot.runtime import Runtime
from bot.services.common import (
    Buttons,
    Reply,
    ServiceError,
    add_token,
    audit,
    check_open,
    load_step,
    sop_of,
)
from bot.services.outgoing import enqueue
from bot.services.views import card_buttons, notify_task, step_tokens, task_view
from bot.sop.model import SopDefinition
from storage.models import Person, Process, StepInstance


async def claim(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, si: StepInstance
) -> Reply:
    si, process = await load_step(session, si.id)
    sop = await check_open(rt, session, actor, si, process)
    others = [p for p in await recipients(session, si, now) if p.id != actor.id]
    # Two people pressing at the same instant: the first write wins, the second is told.
    taken = await session.execute(
        update(StepInstance)
        .where(StepInstance.id == si.id, StepInstance.claimed_by.is_(None))
        .values(claimed_by=actor.id)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        await session.refresh(si)
        name = await _name(session, si.claimed_by)
        raise ServiceError(texts.CLAIMED_BY.format(no=si.step_no, names=name))
    si.claimed_by = actor.id
    step = sop.phase(si.step_no, si.role)
    closed = texts.claimed_card(step.no, step.short, process.title, actor.name)
    for person in others:
        enqueue(session, now, person.telegram_id, "close_task", {"text": closed}, si.id)
    audit(session, now, actor.id, "ambil", process.id, si.step_no)
    view, _ = await task_view(rt, session, process, si, sop)
    buttons = card_buttons(await step_tokens(session, si.id), view, False, True)
    return Reply(texts.CLAIMED_YOU, edit=texts.task_text(view), edit_buttons=buttons)


async def release(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, si: StepInstance
) -> Reply:
    si, process = await load_step(session, si.id)
    sop = await check_open(rt, session, actor, si, process)
    if si.claimed_by != actor.id:
        raise ServiceError(texts.UNKNOWN_BUTTON)
    si.claimed_by = None
    audit(session, now, actor.id, "lepas", process.id, si.step_no)
    # Every copy in the claimer's chat closes; everyone sharing the step gets a fresh card.
    enqueue(session, now, actor.person.telegram_id, "close_task", {"text": texts.RELEASED}, si.id)
    await notify_task(rt, session, now, process, si, sop, await recipients(session, si, now))
    return Reply(texts.RELEASED)


def may_move(rt: Runtime, actor: Actor, process: Process, si: StepInstance) -> bool:
    """The superior of the step's role (up the SOP's chain) or an admin."""
    if actor.is_admin:
        return True
    sop = sop_of(rt, process)
    role = sop.role(si.role).superior
    while role is not None:
        if role in actor.roles:
            return True
        role = sop.role(role).superior
    return False


async def _movable(
    rt: Runtime, session: AsyncSession, actor: Actor, si_id: int
) -> tuple[StepInstance, Process, SopDefinition]:
    si, process = await load_step(session, si_id)
    if si.finished_at is not None:
        raise ServiceError(texts.UNKNOWN_BUTTON)
    if not may_move(rt, actor, process, si):
        raise ServiceError(texts.MOVE_WHO)
    return si, process, sop_of(rt, process)


async def ask_move(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, si_id: int
) -> Reply:
    si, _, sop = await _movable(rt, session, actor, si_id)
    current = {p.id for p in await recipients(session, si, now)}
    people = [p for p in await holders(session, si.role, now) if p.id not in current]
    if not people:
        raise ServiceError(texts.MOVE_NO_ONE)
    buttons: Buttons = []
    for p in people:
        token = await add_token(
            session, now, "alihkan_ke", arg=f"{si.id}:{p.id}", person_id=actor.id
        )
        buttons.append([(p.name, token)])
    cancel = await add_token(session, now, "batal", person_id=actor.id)
    buttons.append([("✖️ Batal", cancel)])
    role = texts.role_name(sop, si.role)
    return Reply("", message=texts.move_ask(si.step_no, role), message_buttons=buttons)


async def move(rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, arg: str) -> Reply:
    si_id, person_id = (int(x) for x in arg.split(":"))
    si, process, sop = await _movable(rt, session, actor, si_id)
    target = await session.get(Person, person_id)
    if target is None or not target.active:
        raise ServiceError(texts.MOVE_NO_ONE)
    before = await recipients(session, si, now)
    si.assignees, si.claimed_by = [target.id], None
    step = sop.phase(si.step_no, si.role)
    closed = texts.moved_card(process.title, step.no, step.short, target.name)
    for person in before:
        if person.id != target.id:
            enqueue(session, now, person.telegram_id, "close_task", {"text": closed}, si.id)
    await notify_task(rt, session, now, process, si, sop, [target])
    audit(session, now, actor.id, "alihkan", process.id, si.step_no, target.name)
    done = texts.moved_done(si.step_no, target.name)
    return Reply(done, edit=done)


async def _name(session: AsyncSession, person_id: int | None) -> str:
    person = await session.get(Person, person_id) if person_id else None
    return person.name if person else "orang lain"
