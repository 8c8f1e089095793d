"""One attempt at one outbox row: its turn at Telegram's pace, its claim kept while the send
lasts, the Bot API call, and what it came to (`Outcome`). The outbox (`handlers/outbox.py`)
decides which rows go and records the outcomes."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import bindparam, update
from sqlalchemy.exc import SQLAlchemyError
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.runtime import Runtime
from bot.services.outgoing import BULK_TAGS
from handlers import outage, pacing, sends
from handlers.closing import close_orphans, close_prompts, close_task, edit
from handlers.record_delivery import send_made
from handlers.recording import INTERNAL, Outcome
from storage.models import Outbox

log = logging.getLogger("handlers.outbox")

_T = Outbox.__table__
_AT = _T.c.claimed_until.type
_RENEW = (  # compare-and-set: only while the claim is still ours
    update(_T)
    .where(
        _T.c.id == bindparam("row_id"),
        _T.c.status == "pending",
        _T.c.claimed_until == bindparam("ours", type_=_AT),
    )
    .values(claimed_until=bindparam("until", type_=_AT))
)


async def send(app: Application, row: Outbox) -> Outcome | None:
    """One attempt, paced; None if the row was taken over meanwhile (not ours to record)."""
    bulk = row.tag in BULK_TAGS
    limiter = app.bot.rate_limiter
    paced = isinstance(limiter, pacing.PacedLimiter)
    tokens = pacing.BULK.set(bulk), pacing.PACED.set(False)
    try:
        if paced:
            # Wait for Telegram's pace first, then make sure the claim did not run out
            # meanwhile (another process would send the row too), then send at once.
            await limiter.turn(str(row.chat_id), bulk=bulk)
            pacing.PACED.set(True)  # the row's first Bot API call uses this turn
            if not await _still_claimed(app.bot_data["rt"], row):
                return None
        elif not await _still_claimed(app.bot_data["rt"], row):
            # Rows claimed when they were written wait behind the chat's earlier sends
            # (a record being made): the claim may be near its end; renewed or given up.
            return None
        keeper = _Keeper(app.bot_data["rt"], row)
        try:
            return await _attempt(app, row)
        finally:
            await keeper.stop()
    finally:
        if paced and pacing.PACED.get():
            # The turn was taken and no call made (a closing with nothing left to change,
            # a reminder of finished work, the claim lost, an error first): given back, or
            # the bot's 30 a second would shrink by one for good.
            limiter.release(str(row.chat_id))
        pacing.BULK.reset(tokens[0])
        pacing.PACED.reset(tokens[1])


class _Keeper:
    """Starts `_keep_claim` only if the send is still going on after a third of the lease:
    most sends take milliseconds, and need no task, event and timer of their own."""

    def __init__(self, rt: Runtime, row: Outbox) -> None:
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        first = max(rt.settings.outbox_lease_seconds / 3, 0.2)
        self.timer = asyncio.get_running_loop().call_later(first, self._start, rt, row)

    def _start(self, rt: Runtime, row: Outbox) -> None:
        self.task = asyncio.create_task(_keep_claim(rt, row, self.done, started=True))

    async def stop(self) -> None:
        self.timer.cancel()
        self.done.set()  # not cancelled: a renewal under way finishes its transaction
        if self.task is not None:
            try:
                await self.task
            except Exception:  # the send's outcome stands: a row that went out is recorded
                log.exception("outbox: keeping a claim failed")


async def _keep_claim(rt: Runtime, row: Outbox, done: asyncio.Event, started: bool = False) -> None:
    """While a send is going on (a record rendered, a file uploaded), renew the claim
    before it runs out: only a dead process's rows are taken over, never a slow one's."""
    lease = rt.settings.outbox_lease_seconds
    while True:
        if not started:
            try:
                await asyncio.wait_for(done.wait(), timeout=max(lease / 3, 0.2))
                return
            except TimeoutError:
                pass
        started = False  # `_Keeper` waited the first third already
        if done.is_set():
            return
        try:
            if not await _still_claimed(rt, row, renew_within=lease / 2):
                return  # taken over already: nothing to keep
        except outage.DATABASE_DOWN:
            return  # the send's own record will meet the outage


async def _still_claimed(rt: Runtime, row: Outbox, renew_within: float = 1.0) -> bool:
    """Our claim on the row has more than `renew_within` seconds left, or is extended now
    (compare-and-set); False if it ran out and another process took the row over."""
    now = rt.clock.now()
    until = getattr(row, "lease_until", None) or row.claimed_until
    if until is None or until - now > timedelta(seconds=renew_within):
        return True
    longer = now + timedelta(seconds=rt.settings.outbox_lease_seconds)
    async with rt.sessions.begin() as session:
        params = {"row_id": row.id, "ours": until, "until": longer}
        result = await session.execute(_RENEW, params)
    if result.rowcount != 1:
        log.info("outbox %s was taken over while it waited its turn", row.id)
        return False
    row.lease_until = longer  # type: ignore[attr-defined]
    return True


async def _attempt(app: Application, row: Outbox) -> Outcome:
    message_id: int | None = None
    error: str | None = None
    retry_in: float | None = None
    permanent = bug = False
    try:
        if row.method == "send_message":
            message_id = await sends.send_text(app, row)
        elif row.method == "send_document":
            message_id = await sends.send_document(app, row)
        elif row.method in ("send_photo", "send_record"):  # files the bot made (records)
            msg = await send_made(app, row)
            message_id = msg.message_id
        elif row.method == "send_voice":
            msg = await sends.send_voice(app, row)
            message_id = msg.message_id
        elif row.method == "edit_message":
            await edit(
                app,
                row.chat_id,
                row.payload["message_id"],
                row.payload["text"],
                row.payload.get("buttons"),
            )
        elif row.method == "close_orphans":
            await close_orphans(app, row.chat_id, row.payload["sent_id"])
        elif row.method == "close_task":
            await close_task(app, row)
        elif row.method == "close_prompts":
            await close_prompts(app, row)
        elif row.method == "remind":
            message_id = await sends.remind(app, row)
        else:
            raise ValueError(f"unknown outbox method {row.method}")
    except RetryAfter as exc:
        retry_in, error = _seconds(exc.retry_after), f"429: {exc}"
    except Forbidden as exc:
        permanent, error = True, f"Forbidden: {exc.message}"
    except BadRequest as exc:
        permanent, error = True, f"BadRequest: {exc.message}"
        if "chat not found" not in exc.message.lower():
            bug = True
    except NetworkError as exc:  # includes TimedOut and 5xx answers
        retry_in, error = min(2.0 ** (row.attempts + 1), 300.0), f"{type(exc).__name__}: {exc}"
    except TelegramError as exc:
        retry_in, error = min(2.0 ** (row.attempts + 1), 300.0), f"{type(exc).__name__}: {exc}"
    except SQLAlchemyError as exc:  # a closing or a reminder reads the database: again
        retry_in, error = min(2.0 ** (row.attempts + 1), 300.0), f"database: {exc}"
    except (OSError, ValueError) as exc:
        permanent, error = True, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # our own bug in preparing this row: it alone fails, reported
        log.exception("outbox %s (%s): could not be prepared", row.id, row.method)
        permanent, bug, error = True, True, f"{INTERNAL}{type(exc).__name__}: {exc}"
    return Outcome(message_id, error, retry_in, permanent, bug)


def _seconds(value: object) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)  # type: ignore[arg-type]
