"""The durable inbox: an update is stored before Telegram is told it arrived, then handled.

* Polling asks for the next offset only after the batch is committed; the webhook answers 200
  only after storing. A crash at any instant therefore loses nothing a person sent.
* A redelivered update (same update_id) is a no-op: the row exists already.
* `handled_at` is set inside the transaction of the action the update caused (`mark_handled`
  from `handlers.chat._run`), so a crash after that commit never runs the action twice, and a
  crash before it runs the update again from scratch.
* Updates of different chats are handled concurrently; one chat's updates strictly in order,
  so a slow download never makes someone else wait and nobody's own messages overtake.
* Rows are claimed with a lease, like the outbox, so several processes can share the table.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import Runtime
from handlers import recording
from storage import raw
from storage.models import Inbox

if TYPE_CHECKING:  # the dispatcher imports this module
    from handlers.dispatcher import Dispatcher

log = logging.getLogger(__name__)

HANDLED_KINDS = ("message", "callback_query")  # edits, channel posts...: stored, ignored
BATCH = 200

# The statements of every update, built once on the table with bound parameters: building
# and keying an ORM statement per call cost more than running it (issue 12).
_T = Inbox.__table__
_NOW = bindparam("now", type_=_T.c.claimed_until.type)
_UNTIL = bindparam("until", type_=_T.c.claimed_until.type)
_ME = bindparam("me", type_=_T.c.claimed_by.type)
_TAKEN = bindparam("taken", expanding=True, type_=_T.c.update_id.type)
_MARK = raw.Sql(
    update(_T)
    .where(_T.c.update_id == bindparam("uid"), _T.c.handled_at.is_(None))
    .values(handled_at=bindparam("at", type_=_T.c.handled_at.type))
)
_INSERTS: dict[str, raw.Sql] = {}


NOT_LOADED = object()  # `Item.actor` when the sender was not looked up with the claim


@dataclass
class Item:
    update_id: int
    marked: bool = False  # handled_at already set in the action's own transaction
    retry: bool = False  # the database failed mid-way: handle it again once it is back
    error: BaseException | None = None  # what failed (for the outage log)
    actor: Any = NOT_LOADED  # who sent it (an Actor or None), read with the claim


CURRENT: ContextVar[Item | None] = ContextVar("inbox_item", default=None)


class AlreadyHandled(Exception):
    """This update's action committed before (a redelivery after a crash): do nothing."""


def chat_key(data: dict[str, Any]) -> int:
    """What orders updates: one person's chat (a button press belongs to its presser)."""
    for kind in ("message", "edited_message", "channel_post"):
        if kind in data:
            return int(data[kind].get("chat", {}).get("id", 0))
    if "callback_query" in data:
        return int(data["callback_query"].get("from", {}).get("id", 0))
    return 0


def sender(data: dict[str, Any]) -> int | None:
    """The Telegram user an update comes from (PTB's `effective_user` of the kinds we
    handle)."""
    for kind in HANDLED_KINDS:
        if kind in data:
            user = data[kind].get("from")
            return int(user["id"]) if isinstance(user, dict) and "id" in user else None
    return None


async def store(
    rt: Runtime, updates: list[dict[str, Any]], dispatcher: Dispatcher | None = None
) -> int:
    """Keep the updates not seen before; returns how many are new. Raises if the database
    cannot take them (the caller must then not confirm them to Telegram).

    With the `dispatcher` of this process, what is due is claimed for it in the same
    transaction and handed to it at once (one transaction and no wake-up per batch)."""
    if not updates:
        return 0
    now = rt.clock.now()
    rows = [
        {
            "update_id": int(u["update_id"]),
            "chat_id": chat_key(u),
            "payload": u,
            "received_at": now,
            "handled_at": None if any(kind in u for kind in HANDLED_KINDS) else now,
        }
        for u in updates
    ]
    claimed: list[tuple[int, int, dict[str, Any]]] = []
    held: list = []
    try:
        async with raw.transaction(rt.sessions) as tx:
            # A redelivered update (same update_id) is skipped by the database itself.
            insert = _insert_for(tx.dialect.name)
            count = 0
            for row in rows:
                count += len((await tx.execute(insert, row)).rows)
            if dispatcher is not None:
                held = await recording.write_held(tx, dispatcher.app, now)
                claimed = await dispatcher.claim_in(tx, now)
    except BaseException as exc:
        if dispatcher is not None:
            recording.put_back(dispatcher.app, held)  # recorded by a later transaction
        if isinstance(exc, IntegrityError):
            return 0  # another process stored the same update a moment ago
        raise
    if dispatcher is not None:
        dispatcher.take(claimed)
    return count


def _insert_for(name: str) -> raw.Sql:
    """INSERT … ON CONFLICT DO NOTHING RETURNING for the database in use."""
    if name not in _INSERTS:
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        _INSERTS[name] = raw.Sql(
            insert(_T)
            .on_conflict_do_nothing(index_elements=["update_id"])
            .returning(_T.c.update_id)
        )
    return _INSERTS[name]


async def next_offset(rt: Runtime) -> int | None:
    async with rt.sessions() as session:
        last = await session.scalar(select(func.max(Inbox.update_id)))
    return None if last is None else last + 1


async def mark_handled(session: AsyncSession, now: datetime) -> None:
    """Inside an action's transaction: claim the current update for good, or refuse."""
    item = CURRENT.get()
    if item is None:
        return  # not from the inbox (a job, a test calling the handler directly)
    result = await raw.run(session, _MARK, {"uid": item.update_id, "at": now})
    if result.rowcount != 1:
        raise AlreadyHandled


def retry_later(exc: BaseException) -> None:
    """The database is unreachable: leave the update stored and unhandled; this process
    takes it up again once the database answers (nobody is told anything wrong meanwhile).
    Not logged here: the process's outage tracker says it once per outage."""
    item = CURRENT.get()
    if item is not None:
        item.retry, item.error = True, exc


def committed() -> None:
    """The action's transaction (with its `mark_handled`) committed: nothing left to mark.
    Not set before: a refused action rolls the mark back with everything else."""
    item = CURRENT.get()
    if item is not None:
        item.marked = True


async def forget_old(rt: Runtime, now: datetime) -> None:
    """Handled updates are kept a while (for an audit of what arrived), then deleted."""
    cutoff = now - timedelta(days=rt.settings.inbox_keep_days)
    async with rt.sessions.begin() as session:
        await session.execute(
            delete(Inbox).where(Inbox.handled_at.is_not(None), Inbox.handled_at < cutoff)
        )
