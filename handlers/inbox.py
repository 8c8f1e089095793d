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

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application

from bot.people import find_actor
from bot.runtime import Runtime
from handlers import outage, recording
from storage.models import Inbox

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
_MARK = (
    update(_T)
    .where(_T.c.update_id == bindparam("uid"), _T.c.handled_at.is_(None))
    .values(handled_at=bindparam("at", type_=_T.c.handled_at.type))
)
# Due: unhandled and unclaimed (or its claim ran out), oldest first, except chats another
# live process is working on (per-chat order), and chats whose update this process let go
# of after a database failure (held until the pump releases it, so nothing newer in that
# chat overtakes it).
_BUSY = select(_T.c.chat_id).where(
    _T.c.handled_at.is_(None),
    _T.c.claimed_until >= _NOW,
    or_(_T.c.claimed_by != _ME, _T.c.update_id.not_in(_TAKEN)),
)
_DUE = (
    select(_T.c.update_id)
    .where(
        _T.c.handled_at.is_(None),
        or_(_T.c.claimed_until.is_(None), _T.c.claimed_until < _NOW),
        _T.c.chat_id.not_in(_BUSY),
    )
    .order_by(_T.c.update_id)
    .limit(BATCH)
)
_CLAIM = (
    update(_T)
    # Due again on the row itself: on PostgreSQL a claim that waited for another
    # process's claim of the same rows re-checks only these, not the subquery's, once that
    # one commits (READ COMMITTED), so it takes none of them instead of all of them again.
    .where(
        _T.c.update_id.in_(_DUE),
        _T.c.handled_at.is_(None),
        or_(_T.c.claimed_until.is_(None), _T.c.claimed_until < _NOW),
    )
    .values(claimed_by=_ME, claimed_until=_UNTIL)
    .returning(_T.c.update_id, _T.c.chat_id, _T.c.payload)
)
_INSERTS: dict[str, Any] = {}


NOT_LOADED = object()  # `Item.actor` when the sender was not looked up with the claim
PRELOAD = 20  # senders looked up per claim, at most (the claim holds the write lock)


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
        async with rt.sessions.begin() as session:
            # A redelivered update (same update_id) is skipped by the database itself.
            new = await session.execute(_insert_for(session), rows)
            count = len(new.all())
            if dispatcher is not None:
                held = await recording.write_held(session, dispatcher.app, now)
                claimed = await dispatcher.claim_in(session, now)
    except BaseException as exc:
        if dispatcher is not None:
            recording.put_back(dispatcher.app, held)  # recorded by a later transaction
        if isinstance(exc, IntegrityError):
            return 0  # another process stored the same update a moment ago
        raise
    if dispatcher is not None:
        dispatcher.take(claimed)
    return count


def _insert_for(session: AsyncSession):  # type: ignore[no-untyped-def]
    """INSERT … ON CONFLICT DO NOTHING RETURNING for the database in use."""
    name = session.bind.dialect.name if session.bind is not None else "sqlite"
    if name not in _INSERTS:
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        _INSERTS[name] = (
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
    result = await session.execute(_MARK, {"uid": item.update_id, "at": now})
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


class Dispatcher:
    """Hands stored updates to the Application: per chat in order, chats in parallel."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.rt: Runtime = app.bot_data["rt"]
        self.me = secrets.token_hex(8)
        self._queues: dict[int, deque[tuple[int, dict[str, Any], Any]]] = {}
        # Senders looked up with the claim (see `_preload`): update id -> (the chat's
        # takes when read, the actor); `_takes` counts the updates taken per chat.
        self._preloaded: dict[int, tuple[int, Any]] = {}
        self._takes: dict[int, int] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._taken: set[int] = set()
        self._wake = asyncio.Event()
        self.outage = outage.of(app)
        self._claim_failed = False

    def in_flight(self) -> list[asyncio.Task[None]]:
        return [task for task in self._workers.values() if not task.done()]

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Forever: take what is due, then sleep until woken (new update) or a second."""
        while True:
            try:
                await self.pump()
                self.outage.back()
            except Exception as exc:  # one line per outage (the tracker), not one per second
                self.outage.failed("inbox", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            self._wake.clear()

    async def drain(self) -> None:
        """Handle everything stored, and wait for it (tests, shutdown)."""
        while True:
            await self.pump()
            if not self._workers:
                return
            await asyncio.gather(*list(self._workers.values()))

    async def pump(self) -> None:
        try:
            claimed = await self._claim(release=self._claim_failed)
        except Exception:
            self._claim_failed = True  # the database is away; say so when it is back
            raise
        self._claim_failed = False
        self.take(claimed)

    def take(self, claimed: list[tuple[int, int, dict[str, Any]]]) -> None:
        """Queue claimed updates per chat and start a worker for each chat not running."""
        for update_id, chat, payload in claimed:
            preloaded = self._preloaded.pop(update_id, None)
            if update_id in self._taken:
                continue
            self._taken.add(update_id)
            actor = NOT_LOADED
            takes = self._takes.get(chat, 0)
            if preloaded is not None and preloaded[0] == takes and chat not in self._queues:
                actor = preloaded[1]  # nothing of this chat ran here since it was read
            self._takes[chat] = takes + 1
            self._queues.setdefault(chat, deque()).append((update_id, payload, actor))
            if chat not in self._workers:
                self._workers[chat] = asyncio.create_task(self._work(chat))

    async def _claim(self, release: bool) -> list[tuple[int, int, dict[str, Any]]]:
        now = self.rt.clock.now()
        held: list = []
        try:
            async with self.rt.sessions.begin() as session:
                held = await recording.write_held(session, self.app, now)
                await self._renew(session, now, release)
                return await self.claim_in(session, now)
        except BaseException:
            recording.put_back(self.app, held)
            raise

    async def _renew(self, session: AsyncSession, now: datetime, release: bool) -> None:
        until = now + timedelta(seconds=self.rt.settings.inbox_lease_seconds)
        if self._taken:  # still working on these: keep the lease
            await session.execute(
                update(Inbox)
                .where(Inbox.update_id.in_(self._taken), Inbox.handled_at.is_(None))
                .values(claimed_until=until)
                .execution_options(synchronize_session=False)
            )
        if release:
            # The database is back: updates we let go of when it failed are due now,
            # not when their claims run out.
            await session.execute(
                update(Inbox)
                .where(
                    Inbox.claimed_by == self.me,
                    Inbox.handled_at.is_(None),
                    Inbox.update_id.not_in(self._taken),
                )
                .values(claimed_until=None)
                .execution_options(synchronize_session=False)
            )

    async def claim_in(
        self, session: AsyncSession, now: datetime
    ) -> list[tuple[int, int, dict[str, Any]]]:
        """Claim what is due, inside the caller's transaction; oldest first."""
        until = now + timedelta(seconds=self.rt.settings.inbox_lease_seconds)
        params = {"now": now, "until": until, "me": self.me, "taken": list(self._taken)}
        rows = (await session.execute(_CLAIM, params)).all()
        claimed = sorted((int(u), int(c), p) for u, c, p in rows)
        await self._preload(session, now, claimed)
        return claimed

    async def _preload(
        self, session: AsyncSession, now: datetime, claimed: list[tuple[int, int, dict[str, Any]]]
    ) -> None:
        """Who sent each update, read in the claim's transaction: `identify` then needs no
        transaction of its own. Only for an update that will be handled at once (the first
        of its chat, with nothing of that chat running here); `take` drops the reading if
        anything of the chat was taken in between (it may have changed the person)."""
        seen: set[int] = set()
        for update_id, chat, payload in claimed:
            if chat in seen or chat in self._queues or len(seen) >= PRELOAD:
                continue
            seen.add(chat)
            user = sender(payload)
            if user is not None:
                actor = await find_actor(session, user, now, self.rt.settings.admin_ids)
                self._preloaded[update_id] = (self._takes.get(chat, 0), actor)

    async def _work(self, chat: int) -> None:
        queue = self._queues[chat]
        try:
            while queue:
                update_id, payload, actor = queue.popleft()
                try:
                    failed = await self._handle(update_id, payload, actor)
                except outage.DATABASE_DOWN as exc:  # marking failed: handled again later
                    failed = exc
                except Exception:  # never leave this chat's later updates stranded
                    log.exception("update %s: marking it handled failed", update_id)
                    failed = None
                if failed is not None:  # held, and the chat's later updates with it (order)
                    self.outage.held_update(update_id, failed)
                    while queue:
                        later = queue.popleft()[0]
                        self._taken.discard(later)
                        self.outage.held_update(later, failed)
        finally:
            del self._workers[chat]
            if not queue:
                self._queues.pop(chat, None)

    async def _handle(
        self, update_id: int, payload: dict[str, Any], actor: Any = NOT_LOADED
    ) -> BaseException | None:
        """Returns what failed when the database did: the update waits to be handled again."""
        item = Item(update_id, actor=actor)
        token = CURRENT.set(item)
        try:
            await self.app.process_update(Update.de_json(payload, self.app.bot))
        except Exception:  # PTB sends handler errors to the error handler; this is the rest
            log.exception("update %s could not be handled", update_id)
        finally:
            CURRENT.reset(token)
        if item.retry:
            self._taken.discard(update_id)
            return item.error or RuntimeError("database")
        try:
            if not item.marked:
                async with self.rt.sessions.begin() as session:
                    params = {"uid": update_id, "at": self.rt.clock.now()}
                    await session.execute(_MARK, params)
        finally:
            self._taken.discard(update_id)
        return None


async def forget_old(rt: Runtime, now: datetime) -> None:
    """Handled updates are kept a while (for an audit of what arrived), then deleted."""
    cutoff = now - timedelta(days=rt.settings.inbox_keep_days)
    async with rt.sessions.begin() as session:
        await session.execute(
            delete(Inbox).where(Inbox.handled_at.is_not(None), Inbox.handled_at < cutoff)
        )
