"""Tamper evidence for the audit log: every row carries the hash of the row before it and
its own, so editing, deleting or slipping in a row breaks the chain where it happened.

The hashes are set when rows are written (a `before_flush` hook, so every `audit()` in
bot/services/common.py is covered without an extra round trip per call; the hook writes
the rows itself, in one statement). Appends are
serialised so the chain never forks: on PostgreSQL with a transaction-scoped advisory lock,
on SQLite by taking the database's write lock before reading the chain head.

What it cannot see: rows cut off the end (nothing follows them). The head (newest id and
hash) is printed on every riwayat PDF and by `audit verify`; a head kept on paper or
elsewhere is checked with `audit verify --kepala HASH`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.orm import Session, SessionTransaction

from storage.models import AuditLog

GENESIS = "0" * 64  # the "previous hash" of the first row
CHAIN_LOCK = 7_203_611  # PostgreSQL advisory lock key for appends (any constant)


def _at(at: datetime) -> str:
    # The database keeps naive UTC with microseconds; hash exactly that, whatever came in.
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


def row_hash(
    prev_hash: str,
    at: datetime,
    person_id: int | None,
    process_id: int | None,
    step_no: int | None,
    action: str,
    detail: str | None,
) -> str:
    """The row's id is left out on purpose: a row slipped in by renumbering the ones after
    it then shows as an insertion (their own hashes still match), not as edits."""
    fields = [prev_hash, _at(at), person_id, process_id, step_no, action, detail]
    canonical = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@event.listens_for(Session, "before_flush")
def _chain_new_rows(session: Session, _context: object, _instances: object) -> None:
    new = [o for o in session.new if isinstance(o, AuditLog) and not o.hash]
    if not new:
        return
    new.sort(key=lambda o: inspect(o).insert_order)  # the order they are inserted (= ids)
    conn = session.connection()
    # The head this transaction wrote last: it holds the append lock since, so nobody else
    # appended after it (an action or a scan writes several rows, in several flushes).
    prev = session.info.get(_HEAD)
    if prev is None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})
        elif conn.dialect.name == "sqlite" and not _writing(conn):
            # A write takes SQLite's single write lock until commit, so no other writer can
            # append between reading the head and inserting after it.
            conn.execute(text("UPDATE audit_log SET id = id WHERE 0"))
        head = conn.execute(text("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")).scalar()
        prev = head or GENESIS
    rows = []
    for obj in new:
        row = {f: getattr(obj, f) for f in _FIELDS}
        row["prev_hash"], row["hash"] = prev, row_hash(prev, *row.values())
        prev = row["hash"]
        rows.append(row)
    # Nothing reads an audit row's id back: all of them go in one INSERT (executemany, in
    # order, so ids follow the chain) instead of one INSERT … RETURNING id per row.
    for obj in new:
        session.expunge(obj)
    conn.execute(_INSERT, rows)
    session.info[_HEAD] = prev


_FIELDS = ("at", "person_id", "process_id", "step_no", "action", "detail")  # as row_hash
_INSERT = AuditLog.__table__.insert()
_HEAD = "audit_chain_head"


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session: Session, transaction: SessionTransaction) -> None:
    """A commit lets others append; a rollback undoes ours: read the head again. (Not
    after a flush's own inner transaction: the head it wrote stays ours.)"""
    if transaction.parent is None or transaction.nested:
        session.info.pop(_HEAD, None)


def _writing(conn: Connection) -> bool:
    """Whether this SQLite transaction already holds the write lock: Python's sqlite3 opens
    a transaction only with a write (an action has marked its update handled by then), so
    the extra statement is needed only when the audit row is the first write."""
    try:
        return bool(conn.connection.dbapi_connection._connection.in_transaction)  # type: ignore[union-attr]
    except AttributeError:  # another driver: take the lock to be sure
        return False


@dataclass(frozen=True)
class ChainRow:
    id: int
    at: datetime
    person_id: int | None
    process_id: int | None
    step_no: int | None
    action: str
    detail: str | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Finding:
    """The first place the chain is broken; `kind` is diubah, dihapus or disisipkan."""

    kind: str
    row_id: int
    message: str


@dataclass(frozen=True)
class Verdict:
    rows: int
    head_id: int | None
    head_hash: str
    finding: Finding | None

    @property
    def ok(self) -> bool:
        return self.finding is None


def verify(rows: Iterable[ChainRow]) -> Verdict:
    """Walk the rows in id order and name the first row that was edited, deleted or slipped
    in. A row whose content no longer gives its hash was edited; a link that points past
    the row before it means that row was slipped in (the link skips it) or rows were
    deleted (ids are missing); a link broken with neither was a row edited with its hash
    recomputed."""
    before: list[ChainRow] = []  # the last two rows seen
    count = 0
    for row in rows:
        count += 1
        own = row_hash(
            row.prev_hash,
            row.at,
            row.person_id,
            row.process_id,
            row.step_no,
            row.action,
            row.detail,
        )
        expected = before[-1].hash if before else GENESIS
        if own != row.hash:
            # Edited in place keeps its link; a row made up outside the bot has neither.
            kind = "diubah" if row.prev_hash == expected else "disisipkan"
            return _broken(count, before, kind, row.id, f"baris #{row.id} {kind}")
        if row.prev_hash != expected:
            prev = before[-1] if before else None
            if prev is not None and row.prev_hash == (
                before[-2].hash if len(before) > 1 else GENESIS
            ):
                return _broken(count, before, "disisipkan", prev.id, f"baris #{prev.id} disisipkan")
            first_missing = prev.id + 1 if prev else 1
            if row.id > first_missing:
                last_missing = row.id - 1
                ids = f"#{first_missing}" + (
                    f"–#{last_missing}" if last_missing > first_missing else ""
                )
                return _broken(count, before, "dihapus", first_missing, f"baris {ids} dihapus")
            if prev is None:
                return _broken(count, before, "dihapus", row.id, f"baris sebelum #{row.id} dihapus")
            return _broken(
                count, before, "diubah", prev.id, f"baris #{prev.id} diubah (hash dihitung ulang)"
            )
        before = [*before[-1:], row]
    head = before[-1] if before else None
    return Verdict(count, head.id if head else None, head.hash if head else GENESIS, None)


def _broken(count: int, before: list[ChainRow], kind: str, row_id: int, message: str) -> Verdict:
    head = before[-1] if before else None
    return Verdict(
        count,
        head.id if head else None,
        head.hash if head else GENESIS,
        Finding(kind, row_id, message),
    )
