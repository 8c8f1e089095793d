"""Outbox rows are written with one Core INSERT per batch, not by the ORM's unit of work.

An action queues a few messages; flushing them as ORM objects (state tracking, a
unit-of-work pass, an INSERT each) cost more than the rest of a /tugas. Here `add` keeps the
row in the session's info, and the rows are written in one INSERT … RETURNING id right
before the session's next statement or its commit: what a later statement of the same
transaction reads (closing a step's cards, the older-pending check) sees them, as with
autoflush. The rows stay plain transient objects: set what they carry before the next
statement (`enqueue` takes everything as arguments).
"""

from __future__ import annotations

from sqlalchemy import bindparam, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from storage import raw
from storage.models import Outbox

_KEY = "outbox_unwritten"
_T = Outbox.__table__
_COLUMNS = [c.key for c in _T.columns if c.key != "id"]
# One multi-row INSERT: the ids come back in any order, but are given out in the order of
# the rows (SQLite's rowid, PostgreSQL's sequence within one statement), so sorted they
# match. (`sort_by_parameter_order` made SQLAlchemy insert one row per statement.)
_INSERT = insert(_T).returning(_T.c.id)
# The same for one row, straight to the driver (storage/raw.py): the id left to the database.
_INSERT_ONE = raw.Sql(insert(_T).values({k: bindparam(k) for k in _COLUMNS}).returning(_T.c.id))


def add(session: AsyncSession | Session, row: Outbox) -> None:
    session.info.setdefault(_KEY, []).append(row)


def _write(session: Session) -> None:
    rows = session.info.pop(_KEY, None)
    if not rows:
        return
    params = [{key: getattr(row, key) for key in _COLUMNS} for row in rows]
    ids = sorted(session.connection().execute(_INSERT, params).scalars().all())
    for row, row_id in zip(rows, ids, strict=True):
        row.id = row_id


async def write(where: AsyncSession | raw.Tx) -> None:
    """Write the queued rows now (their ids are needed); before what a session holds
    unwritten, as before any other statement."""
    rows = where.info.pop(_KEY, None)
    if not rows:
        return
    try:
        for row in rows:
            params = {key: getattr(row, key) for key in _COLUMNS}
            row.id = (await raw.execute(where, _INSERT_ONE, params)).rows[0][0]
    except BaseException:
        for row in rows:
            row.id = None
        raise


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    _write(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _write(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)  # never written: the transaction they belonged to is gone
