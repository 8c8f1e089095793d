"""People, roles and invitations (use cases; no Telegram)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, delete, event, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from storage import raw
from storage.models import Invite, Person, PersonRole, StandIn, StepInstance


@dataclass(frozen=True)
class Actor:
    """The person behind an update, with the roles they hold right now."""

    person: Person
    roles: frozenset[str]
    is_admin: bool
    # Roles held only as a stand-in (Plh/Plt) for someone away: role -> (jenis, holder id).
    standing_in: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Roles this person holds but someone stands in for now (None: not read with the actor).
    away: frozenset[str] | None = None

    @property
    def id(self) -> int:
        return self.person.id

    @property
    def name(self) -> str:
        return self.person.name


# Asked on every update and for every step's holders: built once, with bound parameters.
_NOW = bindparam("now", type_=PersonRole.__table__.c.until.type)
_IN_EFFECT = (StandIn.started_at.is_not(None), StandIn.ended_at.is_(None))
# The person, their roles and the Plh/Plt hand-overs in effect they are part of, in one
# statement (one row per role and stand-in; usually there is no stand-in).
_PERSON = tuple(Person.__table__.c)
_ACTOR = raw.Sql(
    select(
        *_PERSON,
        PersonRole.role,
        StandIn.role,
        StandIn.jenis,
        StandIn.holder_id,
        StandIn.standin_id,
    )
    .outerjoin(
        PersonRole,
        (PersonRole.person_id == Person.id)
        & or_(PersonRole.until.is_(None), PersonRole.until > _NOW),
    )
    .outerjoin(
        StandIn,
        and_(*_IN_EFFECT, or_(StandIn.standin_id == Person.id, StandIn.holder_id == Person.id)),
    )
    .where(Person.telegram_id == bindparam("telegram_id"), Person.active.is_(True))
    .order_by(StandIn.id)
)
_STAND_INS = select(StandIn).where(*_IN_EFFECT).order_by(StandIn.id)
# A role's holders, each with whoever stands in for them now (None: nobody).
_HOLDERS = raw.Sql(
    select(*_PERSON, StandIn.standin_id)
    .join(PersonRole, PersonRole.person_id == Person.id)
    .outerjoin(
        StandIn,
        and_(*_IN_EFFECT, StandIn.holder_id == Person.id, StandIn.role == PersonRole.role),
    )
    .where(
        PersonRole.role == bindparam("role"),
        Person.active.is_(True),
        or_(PersonRole.until.is_(None), PersonRole.until > _NOW),
    )
    .order_by(Person.id, StandIn.id)
)


def _person(values: tuple) -> Person:
    return raw.instance(Person, _PERSON, values)  # type: ignore[no-any-return]


class PeopleError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def find_actor(
    where: raw.Where, telegram_id: int, now: datetime, admin_ids: list[int]
) -> Actor | None:
    """The person (read as values: not an object of the session; `handlers.common._find`
    writes through one) with their roles and stand-ins now; None for a stranger."""
    found = await raw.run(where, _ACTOR, {"telegram_id": telegram_id, "now": now})
    if not found.rows:
        return None
    n = len(_PERSON)
    person = _person(found.rows[0][:n])
    rows = [row[n:] for row in found.rows]
    roles = {row[0] for row in rows if row[0]}
    standing_in: dict[str, tuple[str, int]] = {}
    away: set[str] = set()
    for _, role, jenis, holder_id, standin_id in rows:  # by stand-in id: the latest counts
        if role is not None and holder_id == person.id:
            away.add(role)
        if role is not None and standin_id == person.id and role not in roles:
            standing_in[role] = (jenis, holder_id)
    return Actor(
        person,
        frozenset(roles | set(standing_in)),
        telegram_id in admin_ids,
        standing_in,
        frozenset(away),
    )


async def stand_ins_in_effect(session: AsyncSession) -> list[StandIn]:
    """Plh/Plt hand-overs carried out and not yet ended (the scan starts and ends them on
    their dates, so no time zone is needed here)."""
    cached = _cached(session, "stand_ins")
    if cached is not None:
        return list(cached)
    rows = list((await session.scalars(_STAND_INS)).all())
    _keep(session, "stand_ins", rows)
    return list(rows)


# Who holds what is read many times in one transaction (the actor, each step's holders and
# their stand-ins; a scan tick asks for the same role once per due step), and changes only
# when someone writes people, roles or stand-ins. So it is kept for the transaction, and
# forgotten at its end, at any write to those tables, and while such a write is pending.
_CACHE = "people_cache"
_WATCHED = (Person, PersonRole, StandIn)
_WATCHED_TABLES = frozenset(m.__table__ for m in _WATCHED)


def _pending(session: Session) -> bool:
    return any(isinstance(o, _WATCHED) for o in (*session.new, *session.dirty, *session.deleted))


def _cached(session: AsyncSession, key: object) -> list | None:
    sync = session.sync_session
    cache = sync.info.get(_CACHE)
    if cache is None or key not in cache or _pending(sync):
        return None
    return cache[key]


def _keep(session: AsyncSession, key: object, rows: list) -> None:
    sync = session.sync_session
    if not _pending(sync):
        sync.info.setdefault(_CACHE, {})[key] = rows


@event.listens_for(Session, "do_orm_execute")
def _forget_on_write(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    table = getattr(state.statement, "table", None)
    if table is None or table in _WATCHED_TABLES:
        state.session.info.pop(_CACHE, None)


@event.listens_for(Session, "after_flush")
def _forget_on_flush(session: Session, _context: object) -> None:
    if _pending(session):
        session.info.pop(_CACHE, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None or transaction.nested:
        session.info.pop(_CACHE, None)


async def _substitute(session: AsyncSession, role: str, people: list[Person]) -> list[Person]:
    """Whoever is away in `role` is replaced by their stand-in, in the same place."""
    replaced = {
        s.holder_id: s.standin_id for s in await stand_ins_in_effect(session) if s.role == role
    }
    return await _replace(session, people, replaced)


async def _replace(
    session: AsyncSession, people: list[Person], replaced: dict[int, int]
) -> list[Person]:
    if not replaced or not any(p.id in replaced for p in people):
        return people
    wanted = [replaced.get(p.id, p.id) for p in people]
    found = {
        p.id: p
        for p in await session.scalars(
            select(Person).where(Person.id.in_(wanted), Person.active.is_(True))
        )
    }
    out: list[Person] = []
    for pid in wanted:
        if pid in found and found[pid] not in out:
            out.append(found[pid])
    return out


async def recipients(session: AsyncSession, si: StepInstance, now: datetime) -> list[Person]:
    """Who a step is for right now: its claimer; else the people a disposisi or a move
    named; else everyone holding the role. A holder away on Plh/Plt is replaced."""
    if si.claimed_by is not None:
        ids = [si.claimed_by]
    elif si.assignees:
        ids = list(si.assignees)
    else:
        return await holders(session, si.role, now)
    found = {
        p.id: p
        for p in await session.scalars(
            select(Person).where(Person.id.in_(ids), Person.active.is_(True))
        )
    }
    return await _substitute(session, si.role, [found[i] for i in ids if i in found])


async def holders(session: AsyncSession, role: str, now: datetime) -> list[Person]:
    """Everyone who holds a role now (a Tim Kerja has several people); someone away on
    Plh/Plt is replaced by the stand-in."""
    people, replaced = await _holders(session, role, now)
    return await _replace(session, list(people), replaced)


async def role_holders(session: AsyncSession, role: str, now: datetime) -> list[Person]:
    """The role's own holders, whether or not someone stands in for them."""
    people, _ = await _holders(session, role, now)
    return list(people)


async def _holders(
    session: AsyncSession, role: str, now: datetime
) -> tuple[list[Person], dict[int, int]]:
    """The role's holders and who stands in for which of them (one statement)."""
    cached = _cached(session, ("holders", role, now))
    if cached is not None:
        return cached[0], cached[1]
    people: list[Person] = []
    replaced: dict[int, int] = {}
    n = len(_PERSON)
    for row in (await raw.run(session, _HOLDERS, {"role": role, "now": now})).rows:
        if not people or people[-1].id != row[0]:  # one row per stand-in of the same holder
            people.append(_person(row[:n]))
        if row[n] is not None:
            replaced[row[0]] = row[n]  # by stand-in id: the latest counts
    _keep(session, ("holders", role, now), [people, replaced])
    return people, replaced


async def add_person(
    session: AsyncSession,
    now: datetime,
    telegram_id: int,
    name: str,
    roles: list[str],
    nip: str | None = None,
    until: datetime | None = None,
    sapaan: str | None = None,
) -> Person:
    """Register someone (or give an existing person more roles). `sapaan`: how the bot
    addresses them, e.g. "Bapak Kepala Dinas" (default: Bapak/Ibu + jabatan or name)."""
    person = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
    if person is None:
        person = Person(
            telegram_id=telegram_id, name=name, nip=nip, sapaan=sapaan, created_at=now, active=True
        )
        session.add(person)
        await session.flush()
    else:
        person.active = True
        person.name = name or person.name
        person.nip = nip or person.nip
        person.sapaan = sapaan or person.sapaan
    existing = set(
        await session.scalars(select(PersonRole.role).where(PersonRole.person_id == person.id))
    )
    for role in roles:
        if role not in existing:
            session.add(PersonRole(person_id=person.id, role=role, until=until))
    return person


async def remove_person(session: AsyncSession, telegram_id: int) -> bool:
    person = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
    if person is None:
        return False
    # Deactivate rather than delete: the audit log keeps pointing at them.
    person.active = False
    await session.execute(delete(PersonRole).where(PersonRole.person_id == person.id))
    return True


async def list_people(session: AsyncSession) -> list[tuple[Person, list[str]]]:
    people = (await session.scalars(select(Person).order_by(Person.name))).all()
    roles = (await session.execute(select(PersonRole.person_id, PersonRole.role))).all()
    by_person: dict[int, list[str]] = {}
    for pid, role in roles:
        by_person.setdefault(pid, []).append(role)
    return [(p, sorted(by_person.get(p.id, []))) for p in people]


async def create_invite(
    session: AsyncSession, now: datetime, admin_telegram_id: int, role: str, ttl: timedelta
) -> Invite:
    # 128 random bits in the deep-link alphabet (A-Za-z0-9_-): cannot be guessed.
    invite = Invite(
        code=secrets.token_urlsafe(16),
        role=role,
        created_by=admin_telegram_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invite)
    return invite


async def accept_invite(
    session: AsyncSession, now: datetime, code: str, telegram_id: int, name: str
) -> tuple[Person, str]:
    invite = await session.get(Invite, code)
    if invite is None:
        raise PeopleError("Tautan undangan tidak dikenal. Minta tautan baru kepada admin.")
    if invite.used_at is not None:
        raise PeopleError("Tautan undangan ini sudah dipakai. Minta tautan baru kepada admin.")
    if invite.expires_at <= now:
        raise PeopleError("Tautan undangan ini sudah kedaluwarsa. Minta tautan baru kepada admin.")
    # Claim the code atomically so two people opening one link cannot both get in.
    claimed = await session.execute(
        update(Invite).where(Invite.code == code, Invite.used_at.is_(None)).values(used_at=now)
    )
    if claimed.rowcount != 1:
        raise PeopleError("Tautan undangan ini sudah dipakai. Minta tautan baru kepada admin.")
    person = await add_person(session, now, telegram_id, name, [invite.role])
    person.started_at = person.started_at or now
    person.unreachable_reason = None
    invite.used_by = person.id
    return person, invite.role
