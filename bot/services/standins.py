"""Plh/Plt: someone stands in for a role holder who is away, for a range of local dates.

`bot.people` already routes new tasks and permissions through a stand-in *in effect*
(started_at set, ended_at NULL). This module carries out the lifecycle: `create` (admin),
`apply` (the periodic tick starts and ends rows on their dates), and the hand-over at
each edge — open steps whose recipients change are closed in one chat and sent to the
other, and both people are told."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.people import Actor, recipients, role_holders, stand_ins_in_effect
from bot.runtime import Runtime
from bot.services.common import ServiceError, audit, sop_of
from bot.services.notices import close_in_chat
from bot.services.outgoing import send
from bot.services.views import notify_task
from bot.sop.model import SopDefinition
from bot.texts import standins as tx
from bot.workflow.engine import RUNNING
from storage.models import Person, Process, StandIn, StepInstance

JENIS = ("plh", "plt")


@dataclass(frozen=True)
class Created:
    row: StandIn
    text: str  # the confirmation the admin reads


def local_today(rt: Runtime, now: datetime) -> date:
    return now.astimezone(ZoneInfo(rt.settings.timezone)).date()


def role_label(rt: Runtime, code: str) -> str:
    return rt.sops.role_codes().get(code) or texts.role_name(None, code)


def acting_label(sop: SopDefinition | None, actor: Actor, role: str) -> str:
    """Who did it, as cards and records say it: 'Plh. Sekretaris — Budi' for a stand-in,
    else the actor's name."""
    if role in actor.standing_in:
        jenis, _ = actor.standing_in[role]
        return tx.label(jenis, texts.role_name(sop, role), actor.name)
    return actor.name


async def carried_out(session: AsyncSession) -> list[StandIn]:
    """Every stand-in that has been in effect (for the records, with `label_at`)."""
    query = select(StandIn).where(StandIn.started_at.is_not(None)).order_by(StandIn.id)
    return list((await session.scalars(query)).all())


def label_at(
    periods: Iterable[StandIn],
    sop: SopDefinition | None,
    person_id: int,
    name: str,
    role: str,
    at: datetime,
) -> str:
    """The records' `acting_label`: 'Plh. Sekretaris — Budi' when the person acted in
    `role` at `at` while standing in for its holder, else the name."""
    for s in periods:
        mine = s.standin_id == person_id and s.role == role
        during = s.started_at is not None and s.started_at <= at
        if mine and during and (s.ended_at is None or at < s.ended_at):
            return tx.label(s.jenis, texts.role_name(sop, role), name)
    return name


# --- create --------------------------------------------------------------------------------


async def create(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    admin_telegram_id: int,
    role: str,
    standin_telegram_id: int,
    dari: date,
    sampai: date,
    jenis: str = "plh",
    holder_telegram_id: int | None = None,
) -> Created:
    """Name a stand-in (checked first; a refusal changes nothing). A range that includes
    today starts at once, in this transaction."""
    codes = rt.sops.role_codes()
    if role not in codes:
        raise ServiceError(tx.unknown_role(role, list(codes)))
    if jenis not in JENIS:
        raise ServiceError(tx.unknown_jenis(jenis))
    name = codes[role]
    standin = await session.scalar(
        select(Person).where(Person.telegram_id == standin_telegram_id, Person.active.is_(True))
    )
    if standin is None:
        raise ServiceError(tx.unknown_person(standin_telegram_id))
    holder = _pick_holder(await role_holders(session, role, now), name, holder_telegram_id)
    if holder.id == standin.id:
        raise ServiceError(tx.self_standin())
    if dari > sampai:
        raise ServiceError(tx.bad_range())
    today = local_today(rt, now)
    if sampai < today:
        raise ServiceError(tx.past_range(sampai))
    clash = await _overlapping(session, role, dari, sampai, holder.id, standin.id)
    if clash is not None:
        other = await session.get(Person, clash.standin_id)
        if clash.holder_id == standin.id:
            raise ServiceError(tx.standin_away(standin.name, name))
        raise ServiceError(
            tx.overlap(holder.name, name, other.name if other else "-", clash.dari, clash.sampai)
        )
    row = StandIn(
        role=role,
        holder_id=holder.id,
        standin_id=standin.id,
        jenis=jenis,
        dari=dari,
        sampai=sampai,
        created_by=admin_telegram_id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    admin = await session.scalar(select(Person.id).where(Person.telegram_id == admin_telegram_id))
    label = tx.label(jenis, name, standin.name)
    audit(session, now, admin, "plh_dibuat", detail=_detail(row, label, holder.name))
    started = dari <= today and await _edge(rt, session, now, row, start=True)
    return Created(row, tx.created(label, holder.name, dari, sampai, started))


def _pick_holder(people: list[Person], role: str, wanted: int | None) -> Person:
    if wanted is not None:
        for person in people:
            if person.telegram_id == wanted:
                return person
        raise ServiceError(tx.not_holder(wanted, role))
    if not people:
        raise ServiceError(tx.no_holder(role))
    if len(people) > 1:
        raise ServiceError(tx.several_holders(role, [(p.name, p.telegram_id) for p in people]))
    return people[0]


async def _overlapping(
    session: AsyncSession, role: str, dari: date, sampai: date, holder_id: int, standin_id: int
) -> StandIn | None:
    """A stand-in not ended for this holder in this role over some of the same days — or
    one for the would-be stand-in, who is then away too."""
    return await session.scalar(
        select(StandIn)
        .where(
            StandIn.ended_at.is_(None),
            StandIn.role == role,
            StandIn.dari <= sampai,
            StandIn.sampai >= dari,
            or_(StandIn.holder_id == holder_id, StandIn.holder_id == standin_id),
        )
        .order_by(StandIn.id)
        .limit(1)
    )


def _detail(row: StandIn, label: str, holder: str) -> str:
    return f"{label} menggantikan {holder}, {row.dari.isoformat()} s.d. {row.sampai.isoformat()}"


async def end_early(
    rt: Runtime, session: AsyncSession, now: datetime, admin_telegram_id: int, number: int
) -> str:
    """The official is back before `sampai` (or the stand-in is not needed after all): a
    stand-in in effect ends now with the same hand-over as on its last day; one that has
    not started is dropped without a word to anyone."""
    row = await session.get(StandIn, number)
    if row is None or row.ended_at is not None:
        raise ServiceError(tx.not_open(number))
    holder, standin = await _people(session, row)
    label = tx.label(row.jenis, role_label(rt, row.role), standin.name)
    started = row.started_at is not None
    done = (
        await _edge(rt, session, now, row, False)
        if started
        else await _mark(session, row, now, False)
    )
    if not done:  # the tick or another admin got there first
        raise ServiceError(tx.not_open(number))
    admin = await session.scalar(select(Person.id).where(Person.telegram_id == admin_telegram_id))
    audit(session, now, admin, "plh_diakhiri", detail=_detail(row, label, holder.name))
    return tx.ended_early(label, holder.name, started)


# --- apply: the tick ---------------------------------------------------------------------------


# Asked every tick, usually to find nothing: built once (ix_stand_ins_open (ended_at, dari)).
_OPEN = (
    select(StandIn)
    .where(StandIn.ended_at.is_(None), StandIn.dari <= bindparam("today", type_=StandIn.dari.type))
    .order_by(StandIn.id)
)


async def apply(rt: Runtime, session: AsyncSession, now: datetime) -> int:
    """Start the stand-ins whose first day has come and end those whose last day has passed.
    Idempotent and safe with several processes: each edge is a compare-and-set update, so
    it is carried out (and its messages queued) once. Returns how many edges were done.

    A day's hand-over happens when the office opens, not at midnight: nobody works in
    between, and nobody is woken by it."""
    local = now.astimezone(ZoneInfo(rt.settings.timezone))
    today = local.date()
    if local.time() < rt.settings.office_opens:
        today -= timedelta(days=1)  # still yesterday's arrangement
    rows = (await session.scalars(_OPEN, {"today": today})).all()
    done = 0
    # Ends before starts: a holder whose next stand-in starts the day another ends gets
    # the work back first, then hands it on.
    for row in sorted(rows, key=lambda r: (r.started_at is None, r.id)):
        if row.sampai < today and row.started_at is None:
            # The whole range passed while no bot process ran: nothing to hand back.
            if await _mark(session, row, now, start=False):
                audit(session, now, None, "plh_terlewat", detail=row.role)
                done += 1
        elif row.sampai < today:
            done += await _edge(rt, session, now, row, start=False)
        elif row.started_at is None:
            done += await _edge(rt, session, now, row, start=True)
    return done


async def _mark(session: AsyncSession, row: StandIn, now: datetime, start: bool) -> bool:
    """Carry out one edge unless another process did it first (compare-and-set)."""
    query = update(StandIn).where(StandIn.id == row.id, StandIn.ended_at.is_(None))
    if start:
        query = query.where(StandIn.started_at.is_(None)).values(started_at=now)
    else:
        query = query.values(ended_at=now)
    result = await session.execute(query)
    return result.rowcount == 1


async def _edge(
    rt: Runtime, session: AsyncSession, now: datetime, row: StandIn, start: bool
) -> bool:
    """Start (or end) a stand-in: hand the open steps over, tell both people, then send
    the cards to whoever gained them. False when another process had done it already."""
    holder, standin = await _people(session, row)
    role = role_label(rt, row.role)
    label, title = tx.label(row.jenis, role, standin.name), tx.title(row.jenis, role)
    moved = await _hand_over(rt, session, now, row, start, label, holder)
    if moved is None:
        return False
    of_holder, of_standin = moved.get(holder.id, []), moved.get(standin.id, [])
    if start:
        to_holder = tx.to_holder_start(label, role, row.dari, row.sampai, len(of_holder))
        to_standin = tx.to_standin_start(title, holder.name, row.dari, row.sampai, len(of_standin))
    else:
        to_holder = tx.to_holder_end(label, role, len(of_holder))
        to_standin = tx.to_standin_end(title, holder.name, len(of_standin))
    send(session, now, holder.telegram_id, to_holder)
    send(session, now, standin.telegram_id, to_standin)
    gainer, gained = (standin, of_standin) if start else (holder, of_holder)
    for si, process in gained:
        await notify_task(rt, session, now, process, si, sop_of(rt, process), [gainer])
    action = "plh_mulai" if start else "plh_selesai"
    audit(session, now, None, action, detail=_detail(row, label, holder.name))
    return True


async def _people(session: AsyncSession, row: StandIn) -> tuple[Person, Person]:
    found = {
        p.id: p
        for p in await session.scalars(
            select(Person).where(Person.id.in_((row.holder_id, row.standin_id)))
        )
    }
    return found[row.holder_id], found[row.standin_id]


Moved = dict[int, list[tuple[StepInstance, Process]]]  # person id -> steps gained or lost


async def _hand_over(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    row: StandIn,
    start: bool,
    label: str,
    holder: Person,
) -> Moved | None:
    """Mark the edge, then move every open step of the role whose recipients changed:
    the copies of its card in the chat of whoever lost it are closed with a line saying
    where it went. Returns who lost and who gained which steps (the cards for those who
    gained are sent by the caller, after the line that explains them), or None when
    another process had already done it."""
    steps = (
        await session.execute(
            select(StepInstance, Process)
            .join(Process, Process.id == StepInstance.process_id)
            .where(
                StepInstance.finished_at.is_(None),
                StepInstance.role == row.role,
                Process.status == RUNNING,
            )
            .order_by(StepInstance.id)
            .with_for_update(read=True, of=StepInstance)  # see `common.open_steps`
        )
    ).all()
    before = {si.id: await recipients(session, si, now) for si, _ in steps}
    if not await _mark(session, row, now, start):
        return None
    moved: Moved = {}
    for si, process in steps:
        sop = rt.sops.get(process.sop_number)
        if sop is None:  # its SOP file was removed: leave it, do not block every hand-over
            continue
        was = {p.id: p for p in before[si.id]}
        now_for = {p.id: p for p in await recipients(session, si, now)}
        step = sop.phase(si.step_no, si.role)
        for pid in was.keys() - now_for.keys():
            if start:
                text = tx.moved_card(process.title, step.no, step.short, label, row.sampai)
            else:
                role = texts.role_name(sop, row.role)
                text = tx.returned_card(process.title, step.no, step.short, role, holder.name)
            await close_in_chat(session, now, si, was[pid].telegram_id, text)
            moved.setdefault(pid, []).append((si, process))
        for pid in now_for.keys() - was.keys():
            moved.setdefault(pid, []).append((si, process))
    return moved


# --- reading ------------------------------------------------------------------------------------


async def current_and_upcoming(rt: Runtime, session: AsyncSession) -> list[str]:
    """/plh and `users plh --list`: one line per stand-in in effect or still to come."""
    rows = (
        await session.scalars(
            select(StandIn).where(StandIn.ended_at.is_(None)).order_by(StandIn.dari, StandIn.id)
        )
    ).all()
    lines = []
    for row in rows:
        holder, standin = await _people(session, row)
        label = tx.label(row.jenis, role_label(rt, row.role), standin.name)
        running = row.started_at is not None
        lines.append(tx.list_line(row.id, label, holder.name, row.dari, row.sampai, running))
    return lines


async def people_lines(rt: Runtime, session: AsyncSession) -> list[str]:
    """/orang: who stands in for whom right now."""
    lines = []
    for row in await stand_ins_in_effect(session):
        holder, standin = await _people(session, row)
        label = tx.label(row.jenis, role_label(rt, row.role), standin.name)
        lines.append(tx.people_line(label, holder.name, row.sampai))
    return lines
