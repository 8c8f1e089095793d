"""The dispatcher: stored updates claimed with a lease and handed to the Application, per
chat in order, chats in parallel (the inbox itself, storing and marking, is handlers/inbox.py).
Several processes may share the table: a chat another live process is working on is left to
it, and a process that dies leaves its updates to whoever claims them after the lease."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot import texts
from bot.people import find_actor
from bot.runtime import Runtime
from handlers import outage, recording
from handlers.inbox import (
    _MARK,
    _ME,
    _NOW,
    _T,
    _TAKEN,
    _UNTIL,
    BATCH,
    CURRENT,
    NOT_LOADED,
    Item,
    chat_key,
    sender,
)
from storage import raw

log = logging.getLogger("handlers.inbox")  # one logger name for the inbox's lines

GIVE_UP_AFTER = 3  # failures of one update in the database, the database answering
PRELOAD = 20  # senders looked up per claim, at most (the claim holds the write lock)

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
_CLAIM = raw.Sql(
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
_RENEW = raw.Sql(
    update(_T)
    .where(_T.c.update_id.in_(_TAKEN), _T.c.handled_at.is_(None))
    .values(claimed_until=_UNTIL)
)
_RELEASE = raw.Sql(
    update(_T)
    .where(_T.c.claimed_by == _ME, _T.c.handled_at.is_(None), _T.c.update_id.not_in(_TAKEN))
    .values(claimed_until=None)
)


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
        self._failures: dict[int, int] = {}  # update id: database failures (`_given_up`)
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
            async with raw.transaction(self.rt.sessions) as tx:
                held = await recording.write_held(tx, self.app, now)
                await self._renew(tx, now, release)
                return await self.claim_in(tx, now)
        except BaseException:
            recording.put_back(self.app, held)
            raise

    async def _renew(self, tx: raw.Tx, now: datetime, release: bool) -> None:
        until = now + timedelta(seconds=self.rt.settings.inbox_lease_seconds)
        if self._taken:  # still working on these: keep the lease
            await tx.execute(_RENEW, {"taken": list(self._taken), "until": until})
        if release:
            # The database is back: updates we let go of when it failed are due now,
            # not when their claims run out.
            await tx.execute(_RELEASE, {"me": self.me, "taken": list(self._taken)})

    async def claim_in(
        self, where: raw.Where, now: datetime
    ) -> list[tuple[int, int, dict[str, Any]]]:
        """Claim what is due, inside the caller's transaction; oldest first."""
        until = now + timedelta(seconds=self.rt.settings.inbox_lease_seconds)
        params = {"now": now, "until": until, "me": self.me, "taken": list(self._taken)}
        rows = (await raw.run(where, _CLAIM, params)).rows
        claimed = sorted((int(u), int(c), p) for u, c, p in rows)
        await self._preload(where, now, claimed)
        return claimed

    async def _preload(
        self, where: raw.Where, now: datetime, claimed: list[tuple[int, int, dict[str, Any]]]
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
                actor = await find_actor(where, user, now, self.rt.settings.admin_ids)
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
                if failed is None:
                    self._failures.pop(update_id, None)
                elif await self._given_up(update_id, payload, failed):
                    failed = None  # told and marked handled: the chat's next updates go on
                if failed is not None:  # held, and the chat's later updates with it (order)
                    held = [update_id]
                    while queue:
                        held.append(queue.popleft()[0])
                        self._taken.discard(held[-1])
                    self._hold(held, failed)
        finally:
            del self._workers[chat]
            if not queue:
                self._queues.pop(chat, None)

    def _hold(self, update_ids: list[int], error: BaseException) -> None:
        """An outage is logged once, by the tracker; an error that may come back every time
        (`_given_up` counts its tries) is not an outage: logged per try instead."""
        if outage.maybe_permanent(error):
            log.warning("updates %s wait: the database refused one: %s", update_ids, error)
            return
        for update_id in update_ids:
            self.outage.held_update(update_id, error)

    async def _given_up(
        self, update_id: int, payload: dict[str, Any], error: BaseException
    ) -> bool:
        """An update that fails in the database the same way each time, while the database
        answers, would be tried forever and hold its chat's later updates behind it. After
        GIVE_UP_AFTER such failures the person is told, politely, that nothing changed
        (true: each attempt rolled back) and it is marked handled; the log has the error."""
        if not outage.maybe_permanent(error):
            return False
        failures = self._failures[update_id] = self._failures.get(update_id, 0) + 1
        if failures < GIVE_UP_AFTER:
            return False
        try:
            async with raw.transaction(self.rt.sessions) as tx:
                await tx.execute(_MARK, {"uid": update_id, "at": self.rt.clock.now()})
        except Exception:
            return False  # the database is away after all: wait for it, as for an outage
        del self._failures[update_id]
        log.error(
            "update %s failed %d times in the database; given up",
            update_id,
            failures,
            exc_info=error,
        )
        chat = chat_key(payload)
        if chat:  # 0: no chat to tell (a kind of update nobody is answered for)
            with contextlib.suppress(TelegramError):
                await self.app.bot.send_message(chat, texts.UNEXPECTED)
        return True

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
                async with raw.transaction(self.rt.sessions) as tx:
                    await tx.execute(_MARK, {"uid": update_id, "at": self.rt.clock.now()})
        finally:
            self._taken.discard(update_id)
        return None
