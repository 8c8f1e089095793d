"""storage/raw.py: the hot statements straight to the driver must behave exactly as through
SQLAlchemy: same transaction, same stored values, same errors (the outage handling and the
inbox's duplicate check read them). Runs on PostgreSQL too when TEST_DATABASE_URL is set."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from handlers import outage
from storage import raw
from storage.db import make_engine, make_sessions
from storage.models import Base, Inbox
from tests.dbs import database_url_for, ensure_database

T = Inbox.__table__
AT = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
_INSERT = raw.Sql(
    T.insert().values(
        update_id=bindparam("u"),
        chat_id=bindparam("c"),
        payload=bindparam("p", type_=T.c.payload.type),
        received_at=bindparam("at", type_=T.c.received_at.type),
    )
)
_PICK = raw.Sql(
    select(T.c.update_id, T.c.payload, T.c.received_at)
    .where(T.c.update_id.in_(bindparam("ids", expanding=True)))
    .order_by(T.c.update_id)
)
_CLAIM = raw.Sql(
    update(T)
    .where(T.c.update_id.not_in(bindparam("skip", expanding=True)), T.c.claimed_by.is_(None))
    .values(claimed_by=bindparam("me"))
)


@pytest.fixture
async def sessions(tmp_path):
    url = database_url_for(tmp_path)
    await ensure_database(url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    yield make_sessions(engine)
    await engine.dispose()


async def _add(session, uid: int) -> None:  # type: ignore[no-untyped-def]
    await raw.run(session, _INSERT, {"u": uid, "c": 7, "p": {"teks": "Assalamualaikum"}, "at": AT})


async def test_values_read_back_through_the_orm_as_written(sessions) -> None:
    async with sessions.begin() as session:
        await _add(session, 1)
    async with sessions() as session:
        row = await session.get(Inbox, 1)
        assert row is not None
        assert row.payload == {"teks": "Assalamualaikum"} and row.received_at == AT
        picked = await raw.run(session, _PICK, {"ids": [1, 2]})
        assert picked.rows == [(1, {"teks": "Assalamualaikum"}, AT)]
        assert (await raw.run(session, _PICK, {"ids": []})).rows == []


async def test_a_write_is_part_of_the_session_and_rolls_back_with_it(sessions) -> None:
    with pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            await _add(session, 1)
            raise RuntimeError("the action failed after its first write")
    async with sessions() as session:
        assert (await raw.run(session, _PICK, {"ids": [1]})).rows == []


async def test_counts_and_expanding_lists_of_any_length(sessions) -> None:
    async with sessions.begin() as session:
        for uid in (1, 2, 3):
            await _add(session, uid)
        assert (await raw.run(session, _CLAIM, {"skip": [2], "me": "a"})).rowcount == 2
        assert (await raw.run(session, _CLAIM, {"skip": [], "me": "b"})).rowcount == 1
        assert (await raw.run(session, _CLAIM, {"skip": [], "me": "c"})).rowcount == 0


async def test_driver_errors_are_sqlalchemys(sessions) -> None:
    async with sessions.begin() as session:
        await _add(session, 1)
    with pytest.raises(IntegrityError) as caught:  # what inbox.store reads as "stored already"
        async with sessions.begin() as session:
            await _add(session, 1)
    # A refused value is no outage, and not a lost connection.
    assert outage.maybe_permanent(caught.value) and not caught.value.connection_invalidated
    async with sessions() as session:
        assert len((await raw.run(session, _PICK, {"ids": [1]})).rows) == 1


async def test_an_unreachable_database_is_an_outage_not_a_bug(tmp_path) -> None:
    """What the inbox, the dispatcher and the outbox catch as "the database is away"."""
    (tmp_path / "folder.db").mkdir()  # not a file SQLite can open
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'folder.db'}")
    with pytest.raises(outage.DATABASE_DOWN):
        async with raw.transaction(make_sessions(engine)) as tx:
            await tx.execute(_PICK, {"ids": [1]})
    await engine.dispose()


async def test_lists_as_long_as_a_backlog_need_only_a_few_forms(sessions) -> None:
    """The dispatcher claims with the list of what is in flight, as long as a backlog."""
    pick = raw.Sql(_PICK.stmt)
    async with sessions.begin() as session:
        for uid in range(1, 301):
            await _add(session, uid)
        for n in range(301):
            picked = await raw.run(session, pick, {"ids": list(range(1, n + 1))})
            assert [row[0] for row in picked.rows] == list(range(1, n + 1))
    assert len(pick._forms) == 11  # lengths padded to powers of two: 0, 1, 2, 4 … 512
