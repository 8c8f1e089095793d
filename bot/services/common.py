"""What every use case shares: refusals and replies, tokens, audit, the outbox, prompts,
documents, and the deadlines a step gets when it becomes someone's task."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from bot import texts
from bot.people import Actor, holders, recipients
from bot.runtime import Runtime
from bot.services.outgoing import Buttons, enqueue
from bot.sop.model import SopDefinition, Step
from bot.timefmt import when
from storage import audit_chain  # noqa: F401  (chains every audit row as it is written)
from storage.models import (
    ActionToken,
    AuditLog,
    Document,
    PendingPrompt,
    Person,
    Process,
    StandIn,
    StepInstance,
)

RECORD_PURPOSES = ("arsip", "lembar")  # documents the bot made itself (services/record_files)
VOICES = "voices_added"  # session.info: voice notes recorded in this transaction (add_document)


class ServiceError(Exception):
    """Refused: nothing changed. `message` is what the person reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Reply:
    """What the handler shows the person who acted (the rest went to the outbox)."""

    text: str  # short answer (callback toast or chat reply)
    edit: str | None = None  # new text for the pressed message (buttons removed)
    edit_buttons: Buttons | None = None  # keep the message interactive with these buttons
    message: str | None = None  # an extra message to send now (e.g. a prompt)
    message_buttons: Buttons | None = None
    message_card: int | None = None  # the message is a copy of this step instance's card
    refused: bool = False  # set by the handler when a ServiceError stopped the action


@dataclass(frozen=True)
class FileIn:
    """A file already downloaded and stored under FILES_DIR."""

    file_name: str
    mime_type: str | None
    size: int
    sha256: str
    telegram_file_id: str
    path: str


# --- small helpers -----------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(9)  # 12 characters, 72 random bits


async def add_token(
    session: AsyncSession,
    now: datetime,
    action: str,
    *,
    step_instance_id: int | None = None,
    arg: str | None = None,
    person_id: int | None = None,
) -> str:
    token = new_token()
    session.add(
        ActionToken(
            token=token,
            step_instance_id=step_instance_id,
            action=action,
            arg=arg,
            person_id=person_id,
            created_at=now,
        )
    )
    return token


def audit(
    session: AsyncSession,
    now: datetime,
    person_id: int | None,
    action: str,
    process_id: int | None = None,
    step_no: int | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        AuditLog(
            at=now,
            person_id=person_id,
            process_id=process_id,
            step_no=step_no,
            action=action,
            detail=detail,
        )
    )


async def set_prompt(
    session: AsyncSession, now: datetime, person_id: int, kind: str, **data: Any
) -> None:
    prompt = await session.get(PendingPrompt, person_id)
    if prompt is None:
        session.add(PendingPrompt(person_id=person_id, kind=kind, data=data, created_at=now))
    else:
        await _close_prompts(session, now, person_id)  # the question asked before is over
        prompt.kind, prompt.data, prompt.created_at = kind, data, now


async def clear_prompt(session: AsyncSession, now: datetime, actor: Actor) -> None:
    prompt = await session.get(PendingPrompt, actor.id)
    if prompt is not None:
        await session.delete(prompt)
        enqueue(session, now, actor.person.telegram_id, "close_prompts", {})


async def _close_prompts(session: AsyncSession, now: datetime, person_id: int) -> None:
    """Queue the removal of the buttons of every question asked so far (✖️ Batal...): the
    outbox closes the prompt messages of that chat older than this row."""
    chat = await session.scalar(select(Person.telegram_id).where(Person.id == person_id))
    if chat is not None:
        enqueue(session, now, chat, "close_prompts", {})


def sop_of(rt: Runtime, process: Process) -> SopDefinition:
    sop = rt.sops.get(process.sop_number)
    if sop is None:
        raise ServiceError(f"Definisi SOP {process.sop_number} tidak ditemukan. Hubungi admin.")
    return sop


async def latest_document(
    session: AsyncSession,
    process_id: int,
    purposes: tuple[str, ...] | None = None,
    step_no: int | None = None,
) -> Document | None:
    query = select(Document).where(Document.process_id == process_id)
    if purposes:
        query = query.where(Document.purpose.in_(purposes))
    else:  # what people sent, not the records the bot made (archive, lembar disposisi)
        query = query.where(Document.purpose.not_in(RECORD_PURPOSES))
    if step_no is not None:
        query = query.where(Document.step_no == step_no)
    return await session.scalar(query.order_by(Document.id.desc()).limit(1))


async def add_document(
    session: AsyncSession,
    now: datetime,
    process_id: int,
    step_no: int,
    step_instance_id: int | None,
    purpose: str,
    file: FileIn,
    uploader_id: int,
) -> Document:
    # Versions count per kind of document (the draft, the surat pengantar...), not per process.
    count = await session.scalar(
        select(func.count(Document.id)).where(
            Document.process_id == process_id,
            Document.purpose == purpose,
            Document.step_no == step_no,
        )
    )
    doc = Document(
        process_id=process_id,
        step_instance_id=step_instance_id,
        step_no=step_no,
        version=(count or 0) + 1,
        purpose=purpose,
        file_name=file.file_name,
        mime_type=file.mime_type,
        size=file.size,
        sha256=file.sha256,
        telegram_file_id=file.telegram_file_id,
        path=file.path,
        uploaded_by=uploader_id,
        created_at=now,
    )
    session.add(doc)
    await session.flush()
    if purpose == "suara":  # goes out with the next card this transaction sends
        session.info.setdefault(VOICES, []).append(doc)
    return doc


async def load_step(session: AsyncSession, step_instance_id: int) -> tuple[StepInstance, Process]:
    # A press read both with its token (services/routing.py): a read would return the same
    # objects, unchanged, so only read what the session does not hold.
    si = _held(session, StepInstance, step_instance_id)
    process = _held(session, Process, si.process_id) if si is not None else None
    if si is not None and process is not None:
        return si, process
    row = (await session.execute(_LOAD_STEP, {"si": step_instance_id})).first()
    if row is None:
        raise ServiceError(texts.UNKNOWN_BUTTON)
    return row[0], row[1]


_LOAD_STEP = (
    select(StepInstance, Process)
    .join(Process, Process.id == StepInstance.process_id)
    .where(StepInstance.id == bindparam("si"))
)


def _held(session: AsyncSession, cls: type, pk: int) -> Any:
    """The object of this row already in the session, loaded and not expired; else None."""
    obj = session.sync_session.identity_map.get(identity_key(cls, pk))
    return obj if obj is not None and not inspect(obj).expired_attributes else None


async def already_done_message(session: AsyncSession, si: StepInstance, tz: str) -> str:
    name = await session.scalar(select(Person.name).where(Person.id == si.actor_id))
    when_text = when(si.finished_at, tz) if si.finished_at else ""
    return f"Langkah {si.step_no} sudah diproses oleh {name or 'orang lain'}, {when_text}."


async def open_steps(
    session: AsyncSession, actor: Actor, now: datetime | None = None, for_cards: bool = False
) -> list[tuple[StepInstance, Process]]:
    """The open steps this person may act on now (a claim, a disposisi to named people and
    a Plh/Plt hand-over narrow who that is).

    `for_cards`: a copy of their cards is queued next (/tugas, a free text). On PostgreSQL
    the steps are then share-locked to the end of this transaction: a step's closing locks
    it first (`notices.close_cards`), so it either waits for this transaction and then sees
    the copies it queued, or it committed first and the step is not returned (the lock
    re-reads `finished_at`). SQLite has one writer at a time, and an action's transaction
    writes first (`inbox.mark_handled`): nothing closes meanwhile."""
    stmt = _OPEN_STEPS_SHARED if for_cards and locks_rows(session) else _OPEN_STEPS
    rows = (await session.execute(stmt, {"roles": list(actor.roles)})).all()
    now = now or datetime.now(UTC)
    away = await _away_roles(session, actor) if rows else set()
    return [(si, p) for si, p in rows if await _is_for(session, actor, si, now, away)]


def locks_rows(session: AsyncSession) -> bool:
    """Row locks are needed (PostgreSQL: transactions write side by side)."""
    return session.bind is not None and session.bind.dialect.name == "postgresql"


_OPEN_STEPS = (  # /tugas and every press: built once
    select(StepInstance, Process)
    .join(Process, Process.id == StepInstance.process_id)
    .where(
        StepInstance.finished_at.is_(None),
        StepInstance.role.in_(bindparam("roles", expanding=True)),
    )
    .order_by(StepInstance.id)
)
_OPEN_STEPS_SHARED = _OPEN_STEPS.with_for_update(read=True, of=StepInstance)


async def _away_roles(session: AsyncSession, actor: Actor) -> set[str]:
    """The roles this person holds but someone stands in for right now (Plh/Plt): read
    with the actor when the update came in (`find_actor`), else here."""
    if actor.away is not None:
        return set(actor.away)
    found = await session.scalars(
        select(StandIn.role).where(
            StandIn.holder_id == actor.id,
            StandIn.started_at.is_not(None),
            StandIn.ended_at.is_(None),
        )
    )
    return set(found)


async def _is_for(
    session: AsyncSession,
    actor: Actor,
    si: StepInstance,
    now: datetime,
    away: set[str] | None = None,
) -> bool:
    """`away`: `_away_roles` of the actor, when the caller already has it (one query for
    a whole /tugas list, not one per step)."""
    if si.claimed_by is None and not si.assignees and si.role not in actor.standing_in:
        # The usual case: a step for everyone holding the role, unless this holder is away.
        if away is None:
            away = await _away_roles(session, actor)
        return si.role not in away
    return any(p.id == actor.id for p in await recipients(session, si, now))


def deadline_for(rt: Runtime, step: Step, start: datetime) -> datetime:
    return rt.scaled(start, rt.calendar.add(start, step.waktu_parsed))


def escalation_for(rt: Runtime, step: Step, start: datetime) -> datetime:
    """The superior hears of it after a multiple of the standard time (in working time)."""
    minutes = rt.calendar.waktu_minutes(step.waktu_parsed) * rt.settings.escalation_multiple
    return rt.scaled(start, rt.calendar.add_working(start, minutes))


def new_instance(
    rt: Runtime, process_id: int, step: Step, now: datetime, round_: int
) -> StepInstance:
    """A step becomes someone's task: its deadline and reminder times are fixed now."""
    deadline = deadline_for(rt, step, now)
    return StepInstance(
        process_id=process_id,
        step_no=step.no,
        role=step.role,
        round=round_,
        started_at=now,
        deadline_at=deadline,
        next_reminder_at=deadline,
        escalate_at=escalation_for(rt, step, now),
    )


async def check_open(
    rt: Runtime, session: AsyncSession, actor: Actor, si: StepInstance, process: Process
) -> SopDefinition:
    sop = sop_of(rt, process)
    if si.finished_at is not None:
        raise ServiceError(await already_done_message(session, si, rt.settings.timezone))
    scanner = sop.phase(si.step_no, si.role).scanner
    if si.role not in actor.roles and scanner in actor.roles:
        # The signature's scanner: only 🖋 is theirs (the engine refuses the rest); not
        # while a Plh/Plt stands in for them in that role.
        if scanner in await _away_roles(session, actor):
            names = ", ".join(p.name for p in await holders(session, scanner, rt.clock.now()))
            raise ServiceError(texts.HANDLED_BY.format(no=si.step_no, names=names or "-"))
        return sop
    if si.role not in actor.roles:
        raise ServiceError(
            f"{texts.NOT_YOURS} Langkah {si.step_no} adalah tugas {texts.role_name(sop, si.role)}."
        )
    if not await _is_for(session, actor, si, rt.clock.now()):
        names = ", ".join(p.name for p in await recipients(session, si, rt.clock.now()))
        if si.claimed_by is not None:
            raise ServiceError(texts.CLAIMED_BY.format(no=si.step_no, names=names))
        raise ServiceError(texts.HANDLED_BY.format(no=si.step_no, names=names or "-"))
    return sop
