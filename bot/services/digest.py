"""The morning digest: once per working day and person, inside the window after DIGEST_TIME.

A person's list is what /tugas shows them (`common.open_steps`): a claim, a disposisi or a
move to named people, and a Plh/Plt hand-over narrow it the same way. The tick that writes it
stays flat in the number of open steps: per role, the first `SHOWN` steps by deadline and a
count that stops at `CAP` (99+), over a partial index of open steps; the steps named for someone
(claimed or assigned, a partial index of their own) are read whole, as they are few.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, cast, func, literal, literal_column, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.people import holders, recipients, stand_ins_in_effect
from bot.runtime import Runtime
from bot.services import common as svc
from bot.services import outgoing
from bot.texts import digest as tx
from bot.timefmt import span
from bot.workflow.engine import RUNNING
from storage.models import DigestRun, Person, PersonRole, Process, StepInstance

SHOWN = 8  # lines per list in the digest
CHUNK = 100  # people per transaction
CAP = 99  # counts stop here and read «99+»: counting further would cost O(open steps)

_OPEN = StepInstance.finished_at.is_(None)
# JSON 'null' and '[]' are stored too (a disposisi that named nobody): not named. Literals,
# not parameters, so SQLite matches the partial index `ix_step_instances_open_named`; LIKE,
# not NOT IN, so PostgreSQL (no statistics on the cast) guesses few rows and uses it.
_EMPTY = [literal_column("'null'"), literal_column("'[]'")]
_LIST = cast(StepInstance.assignees, Text)
NAMED = or_(
    StepInstance.claimed_by.is_not(None),
    and_(_LIST.like(literal_column("'[%'")), _LIST.op("!=")(literal_column("'[]'"))),
)
_PLAIN = and_(
    StepInstance.claimed_by.is_(None),
    or_(StepInstance.assignees.is_(None), _LIST.in_(_EMPTY)),
)


def late_by(rt: Runtime, si: StepInstance, now: datetime) -> str:
    """Lateness in working time (nights, weekends and holidays do not count)."""
    minutes = rt.calendar.working_minutes_between(si.deadline_at, now) * rt.settings.time_scale
    return span(timedelta(minutes=minutes))


@dataclass
class Reader:
    """Someone the digest is for, with the roles /tugas would give them (`find_actor`)."""

    person: Person
    own: set[str] = field(default_factory=set)
    standing_in: set[str] = field(default_factory=set)  # held only as Plh/Plt
    away: set[str] = field(default_factory=set)  # someone stands in for them here
    plain_roles: set[str] = field(default_factory=set)  # unnamed steps of these are theirs

    @property
    def roles(self) -> set[str]:
        return self.own | self.standing_in


@dataclass
class Step:
    """An open step, narrow: enough to choose and order the lines."""

    id: int
    role: str
    deadline_at: datetime
    for_ids: frozenset[int] = frozenset()  # a named step's recipients


def window_open(rt: Runtime, now: datetime) -> bool:
    """Today is a working day and its digest window is open now."""
    local = now.astimezone(ZoneInfo(rt.settings.timezone))
    opens = local.replace(
        hour=rt.settings.digest_time.hour,
        minute=rt.settings.digest_time.minute,
        second=0,
        microsecond=0,
    )
    closes = opens + timedelta(minutes=rt.settings.digest_window_minutes)
    return opens <= local < closes and rt.calendar.is_working_day(local.date())


async def digest(rt: Runtime, session: AsyncSession, now: datetime) -> tuple[int, bool]:
    """Writes up to `CHUNK` people's digests (someone who presses Start later in the window
    gets theirs then); returns how many messages it queued and whether people are left.
    Everyone read is marked, so a task that arrives later today triggers nothing."""
    if not window_open(rt, now):
        return 0, False
    day = now.astimezone(ZoneInfo(rt.settings.timezone)).date().isoformat()
    readers, more = await readers_of(session, now, day)
    if not readers:
        return 0, False
    top_roles = {r.code for sop in rt.sops.all() for r in sop.roles if r.superior is None}
    with_overview = any(w.roles & top_roles for w in readers)
    roles = {r for w in readers for r in w.plain_roles}
    counts, lists = await _read(session, now, roles, with_overview)
    named = await _named(session)
    mine = {w.person.id: _mine(w, counts, lists, named) for w in readers}
    loaded = {si.id: (si, p) for rows in lists.values() for si, p in rows}
    missing = {s.id for rows, _, _ in mine.values() for s in rows} - set(loaded)
    if missing:  # named steps on someone's list
        loaded |= await _load(session, missing)
    first: dict[int, tuple[StepInstance, Process]] = {}  # each process by its earliest step
    for si, p in lists.get(FIRST, []):
        first.setdefault(p.id, (si, p))
    lists[FIRST] = list(first.values())[:5]
    names: dict[int, str] = {}
    for si, _ in lists.get(LATE, []) + lists[FIRST]:  # who has it, as the step's card says
        names[si.id] = ", ".join(p.name for p in await recipients(session, si, now)) or "-"
    queued, written = 0, {}
    for w in readers:
        session.add(DigestRun(day=day, person_id=w.person.id, created_at=now))
        rows, count, capped = mine[w.person.id]
        is_top = bool(w.roles & top_roles)  # the Kadis also sees who is late everywhere
        if not count and not (is_top and counts.get(RUNNING_COUNT)):
            continue
        sapaan = texts.salutation(w.person, w.own)  # a Plh is not called by the held role
        lines = [texts.digest_greeting(now, rt.settings.timezone, sapaan)]
        if count:
            lines += ["", tx.waiting(tx.count(count, capped))]
            for s in rows:  # people sharing a role share lines: each is written once
                if s.id not in written:
                    written[s.id] = _mine_line(rt, now, *loaded[s.id])
                lines.append(written[s.id])
        if is_top:
            lines += _overview_lines(rt, now, counts, lists, names)
        buttons = None
        if count:
            token = await svc.add_token(session, now, "tugas", person_id=w.person.id)
            buttons = [[("📋 Buka tugas saya", token)]]
        outgoing.send(session, now, w.person.telegram_id, "\n".join(lines), buttons, tag="digest")
        queued += 1
    return queued, more


async def readers_of(
    session: AsyncSession, now: datetime, day: str | None = None
) -> tuple[list[Reader], bool]:
    """The next `CHUNK` people without today's digest who hold a role now or stand in for
    someone, each with their roles as `find_actor` gives them; and whether more are left."""
    in_effect = await stand_ins_in_effect(session)
    standins = {s.standin_id for s in in_effect}
    valid = or_(PersonRole.until.is_(None), PersonRole.until > now)
    query = (
        select(Person, PersonRole.role)
        .outerjoin(PersonRole, (PersonRole.person_id == Person.id) & valid)
        .where(
            Person.active.is_(True),
            Person.started_at.is_not(None),
            or_(PersonRole.role.is_not(None), Person.id.in_(sorted(standins))),
        )
        .order_by(Person.id)
    )
    if day is not None:  # today's written already (by us or another process)
        query = query.where(
            Person.id.not_in(select(DigestRun.person_id).where(DigestRun.day == day))
        )
    found: dict[int, Reader] = {}
    for person, role in await session.execute(query):
        reader = found.setdefault(person.id, Reader(person))
        if role:
            reader.own.add(role)
    more = len(found) > CHUNK
    readers = list(found.values())[:CHUNK]
    for w in readers:
        pid = w.person.id
        w.standing_in = {s.role for s in in_effect if s.standin_id == pid} - w.own
        w.away = {s.role for s in in_effect if s.holder_id == pid}
        # As `common._is_for`: an unnamed step of an own role is theirs unless they are
        # away; of a role held as Plh/Plt, if the holders' list names them.
        w.plain_roles = w.own - w.away
        for role in w.standing_in:
            if any(p.id == pid for p in await holders(session, role, now)):
                w.plain_roles.add(role)
    return readers, more


LATE, RUNNING_COUNT, FIRST = "~late", "~running", "~first"  # not role codes


def _inline(n: int):  # type: ignore[no-untyped-def]
    """LIMIT 8, not LIMIT $1: PostgreSQL's generic plan of a statement asyncpg prepared
    guesses a LIMIT parameter at a tenth of the rows, and sorted every open step."""
    return literal_column(str(int(n)))


async def _read(session: AsyncSession, now: datetime, roles: set[str], overview: bool):  # type: ignore[no-untyped-def]
    """Two statements: every count (unnamed open steps per role; for the top of the chain
    late steps and running processes), each stopping at CAP + 1, and every list (per role
    the first unnamed open steps by deadline; the first late steps, the first open steps)
    with its rows. Returns {tag: count} and {tag: [(StepInstance, Process)]} by deadline."""
    by_deadline = StepInstance.deadline_at
    counted, listed = [], []
    for role in sorted(roles):
        q = select(StepInstance.id).where(_OPEN, StepInstance.role == role, _PLAIN)
        counted.append((role, q))
        listed.append((role, q.order_by(by_deadline).limit(_inline(SHOWN))))
    if overview:
        # In deadline order even to count: a generic plan, not knowing `now`, then walks
        # the index from the oldest and stops, rather than scanning for CAP + 1 late rows.
        late = select(StepInstance.id).where(_OPEN, by_deadline < now).order_by(by_deadline)
        counted.append((LATE, late))
        counted.append((RUNNING_COUNT, select(Process.id).where(Process.status == RUNNING)))
        listed.append((LATE, late.limit(_inline(SHOWN))))
        first = select(StepInstance.id).where(_OPEN).order_by(by_deadline)
        listed.append((FIRST, first.limit(_inline(4 * 5))))
    if not counted:
        return {}, {}
    counts = union_all(
        *(
            select(literal(tag).label("tag"), func.count().label("n")).select_from(
                q.limit(_inline(CAP + 1)).subquery()
            )
            for tag, q in counted
        )
    )
    subqueries = [(tag, q.subquery()) for tag, q in listed]
    ids = union_all(*(select(literal(tag).label("tag"), sub.c.id) for tag, sub in subqueries))
    ids = ids.subquery()
    rows = await session.execute(
        select(ids.c.tag, StepInstance, Process)
        .join(StepInstance, StepInstance.id == ids.c.id)
        .join(Process, Process.id == StepInstance.process_id)
        .order_by(StepInstance.deadline_at)
    )
    lists: dict[str, list[tuple[StepInstance, Process]]] = {tag: [] for tag, _ in listed}
    for tag, si, process in rows:
        lists[tag].append((si, process))
    return dict((await session.execute(counts)).all()), lists


async def _named(session: AsyncSession) -> list[Step]:
    """Open steps for named people (a claim, a disposisi, a move), with who they are for
    now: `people.recipients` for many steps at once (a holder away is replaced by the
    Plh/Plt; people no longer active drop out)."""
    rows = (
        await session.execute(
            select(
                StepInstance.id,
                StepInstance.role,
                StepInstance.deadline_at,
                StepInstance.claimed_by,
                StepInstance.assignees,
            ).where(_OPEN, NAMED)
        )
    ).all()
    if not rows:
        return []
    replaced = {(s.role, s.holder_id): s.standin_id for s in await stand_ins_in_effect(session)}
    ids = {i for r in rows for i in ([r.claimed_by] if r.claimed_by else r.assignees or [])}
    ids |= set(replaced.values())
    active = set(
        await session.scalars(select(Person.id).where(Person.id.in_(ids), Person.active.is_(True)))
    )
    out = []
    for r in rows:
        named = [r.claimed_by] if r.claimed_by is not None else list(r.assignees or [])
        wanted = {replaced.get((r.role, i), i) for i in named if i in active}
        out.append(Step(r.id, r.role, r.deadline_at, for_ids=frozenset(wanted & active)))
    return out


def _mine(w: Reader, counts: dict, lists: dict, named: list[Step]) -> tuple[list[Step], int, bool]:  # type: ignore[type-arg]
    """This person's first open steps by deadline, how many, and whether a count was capped."""
    theirs = [s for s in named if s.role in w.roles and w.person.id in s.for_ids]
    rows = [Step(si.id, si.role, si.deadline_at) for r in w.plain_roles for si, _ in lists[r]]
    found = [counts.get(r, 0) for r in w.plain_roles]
    count = sum(min(n, CAP) for n in found) + len(theirs)
    rows = sorted(rows + theirs, key=lambda s: s.deadline_at)[:SHOWN]
    return rows, count, any(n > CAP for n in found)


async def _load(session: AsyncSession, ids: set[int]) -> dict[int, tuple[StepInstance, Process]]:
    rows = await session.execute(
        select(StepInstance, Process)
        .join(Process, Process.id == StepInstance.process_id)
        .where(StepInstance.id.in_(ids))
    )
    return {si.id: (si, p) for si, p in rows}


def _mine_line(rt: Runtime, now: datetime, si: StepInstance, p: Process) -> str:
    sop = rt.sops.get(p.sop_number)
    label = sop.phase(si.step_no, si.role).short if sop else f"Langkah {si.step_no}"
    when = (
        tx.late_by(late_by(rt, si, now))
        if si.deadline_at < now
        else tx.deadline(texts.short_when(si.deadline_at, rt.settings.timezone))
    )
    return tx.mine_line(p.id, texts.fit(p.title, 40), si.step_no, label, when)


def _overview_lines(rt, now, counts, lists, names) -> list[str]:  # type: ignore[no-untyped-def]
    """For the top of the chain: who is late, and how much runs (counts stop at CAP)."""
    late_n, running_n = counts.get(LATE, 0), counts.get(RUNNING_COUNT, 0)
    late_count = tx.count(min(late_n, CAP), late_n > CAP)
    lines = []
    if lists.get(LATE):
        lines += ["", tx.late(late_count)]
        for si, p in lists[LATE]:
            title = texts.fit(p.title, 40)
            lines.append(tx.late_line(p.id, title, si.step_no, names[si.id], late_by(rt, si, now)))
    if running_n:
        lines += ["", tx.running(tx.count(min(running_n, CAP), running_n > CAP), late_count)]
        for si, p in lists[FIRST]:
            lines.append(tx.running_line(p.id, texts.fit(p.title, 40), si.step_no, names[si.id]))
    return lines
