"""What a send came to, recorded: one transaction for the outcomes of a pass of the outbox
(or of the replies sent right after an action), so each message costs no transaction of its
own. Sent rows are marked sent; failures wait and are retried, fail for good (403: the
person is marked unreachable) or, when Telegram refused what the bot wrote, are reported to
the admins."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, update
from telegram.ext import Application

from bot import texts
from bot.runtime import Runtime
from bot.services.outgoing import enqueue
from handlers import outage
from storage import raw
from storage.models import Outbox, Person

log = logging.getLogger(__name__)
FLUSH_AFTER = 0.2  # seconds a sent reply waits at most to be recorded with other work
INTERNAL = "internal: "  # an error of ours in preparing a row (not Telegram's refusal)
HOLD_MARGIN = 2.0  # seconds of claim a held record keeps at least (the pump writes it in 1 s)

_T = Outbox.__table__
RELEASE = raw.Sql(  # claimed rows not sent after all: the sender takes them, in order
    update(_T).where(_T.c.id.in_(bindparam("ids", expanding=True))).values(claimed_until=None)
)


def _attempt_of(**values: Any) -> raw.Sql:
    """What an attempt to send one row came to: its count, its claim given up, `values`."""
    return raw.Sql(
        update(_T)
        .where(_T.c.id == bindparam("row_id"))
        .values(attempts=bindparam("n"), claimed_until=None, **values)
    )


_SENT = _attempt_of(
    status="sent",
    sent_at=bindparam("at", type_=_T.c.sent_at.type),
    message_id=bindparam("mid"),
)
_FAILED = _attempt_of(status="failed", last_error=bindparam("error"))
_RETRY = _attempt_of(
    last_error=bindparam("error"),
    next_attempt_at=bindparam("at", type_=_T.c.next_attempt_at.type),
    payload=bindparam("payload", type_=_T.c.payload.type),
)
_UNREACHABLE = raw.Sql(
    update(Person.__table__)
    .where(Person.__table__.c.telegram_id == bindparam("chat"))
    .values(unreachable_reason=bindparam("error"))
)


@dataclass
class Outcome:
    """What one attempt to send a row came to (recorded by `record_all`)."""

    message_id: int | None = None
    error: str | None = None
    retry_in: float | None = None
    permanent: bool = False
    bug: bool = False


async def record_all(
    app: Application,
    done: list[tuple[Outbox, Outcome]],
    release: list[Outbox] = (),  # type: ignore[assignment]
) -> None:
    """Record the outcomes of a pass in one transaction; `release`: claimed rows not tried
    (the sender takes them, in order)."""
    if not done and not release:
        return
    rt: Runtime = app.bot_data["rt"]
    try:
        async with raw.transaction(rt.sessions) as tx:
            await record_in(rt, tx, rt.clock.now(), done, release)
    except BaseException as exc:  # whatever failed, what went out is recorded later
        not_recorded(app, done, exc)
        raise


async def record_in(
    rt: Runtime,
    session: raw.Where,
    now: datetime,
    done: list[tuple[Outbox, Outcome]],
    release: list[Outbox] = (),  # type: ignore[assignment]
) -> None:
    """`record_all` in the caller's transaction (the outbox's next claim)."""
    await _write_sent(session, now, [(r, o.message_id) for r, o in done if not o.error])
    for row, out in done:
        if out.error is not None:
            await _record_failure(rt, session, now, row, out)
    if release:
        await raw.run(session, RELEASE, {"ids": [row.id for row in release]})


def not_recorded(app: Application, done: list[tuple[Outbox, Outcome]], exc: BaseException) -> None:
    """The transaction that was to record `done` failed (the database away, mostly)."""
    for row, out in done:
        if out.error is None:  # Telegram took it: record it once the database is back
            unrecorded(app)[row.id] = (row, out.message_id)
        if isinstance(exc, outage.DATABASE_DOWN):
            outage.of(app).held_send(row.id, exc)


async def _write_sent(
    session: raw.Where, now: datetime, sent: list[tuple[Outbox, int | None]]
) -> None:
    if not sent:
        return
    for row, message_id in sent:
        params = {"row_id": row.id, "n": row.attempts + 1, "at": now, "mid": message_id}
        await raw.run(session, _SENT, params)
    for row, message_id in sent:
        closes = row.payload.get("buttons") or row.tag in ("card", "escalation")  # settle_unsent
        if getattr(row, "uncertain", False) and closes and message_id:
            # Sent again after an attempt that may have gone through: close its twin
            # (its own row, so a failure there is retried and never resends this one).
            enqueue(session, now, row.chat_id, "close_orphans", {"sent_id": message_id})


def unrecorded(app: Application) -> dict[int, tuple[Outbox, int | None]]:
    """Sends Telegram accepted whose row is not marked sent yet: held a moment to be
    recorded with other work (`hold_sent`), or because the database went away. Recorded
    before this process claims anything again, so its lease running out never makes it
    send them twice."""
    return app.bot_data.setdefault("outbox_unrecorded", {})


async def hold_sent(app: Application, done: list[tuple[Outbox, Outcome]]) -> None:
    """Replies sent right after an action are recorded by the next transaction this
    process writes anyway (the next batch of updates stored, `write_held`), or after
    FLUSH_AFTER on their own: a transaction per action saved. A crash in between sends
    them again after the lease, which `close_orphans` makes safe for cards (at-least-once,
    as for a crash between a send and its record)."""
    rt: Runtime = app.bot_data["rt"]
    margin = rt.clock.now() + timedelta(seconds=HOLD_MARGIN)
    if any(_claim_end(row) < margin for row, _ in done):
        # A claim near its end (a slow send before it): recorded now, so the sender never
        # takes over a row that was sent (it would send it again).
        await record_all(app, done)
        return
    waiting = unrecorded(app)
    for row, out in done:
        waiting[row.id] = (row, out.message_id)
    if waiting and app.bot_data.get("record_timer") is None:
        loop = asyncio.get_running_loop()
        app.bot_data["record_timer"] = loop.call_later(FLUSH_AFTER, _flush_soon, app)


_NEVER = datetime.min.replace(tzinfo=UTC)


def _claim_end(row: Outbox) -> datetime:
    return getattr(row, "lease_until", None) or row.claimed_until or _NEVER


def _flush_soon(app: Application) -> None:
    app.bot_data["record_timer"] = None
    app.bot_data["record_task"] = asyncio.ensure_future(_flush(app))  # kept: not collected


async def _flush(app: Application) -> None:
    try:
        await record_unrecorded(app)
    except outage.DATABASE_DOWN:
        pass  # held on; the next tick records them
    except Exception:  # held on too (`record_all`): a bug must not end the recording
        log.exception("recording the held sends failed; kept for the next transaction")


async def write_held(session: raw.Where, app: Application, now: datetime) -> list:
    """In the caller's transaction: record the held sends. Returns them, for `put_back`
    if that transaction fails."""
    waiting = unrecorded(app)
    if not waiting:
        return []
    held = list(waiting.values())
    waiting.clear()
    try:
        await _write_sent(session, now, held)
    except BaseException:
        put_back(app, held)  # the caller gets nothing back to put back
        raise
    return held


def put_back(app: Application, held: list) -> None:
    waiting = unrecorded(app)
    for row, message_id in held:
        waiting.setdefault(row.id, (row, message_id))


async def record_unrecorded(app: Application) -> None:
    waiting = unrecorded(app)
    if waiting:
        held = list(waiting.values())
        waiting.clear()  # `record_all` puts them back if the database is still away
        await record_all(app, [(row, Outcome(message_id)) for row, message_id in held])


async def _record_failure(
    rt: Runtime, session: raw.Where, now: datetime, row: Outbox, out: Outcome
) -> None:
    error = out.error
    assert error is not None
    values: dict = {"row_id": row.id, "n": row.attempts + 1, "error": error}
    if out.bug:
        # Telegram refused what the bot wrote: our fault, not the person's.
        await raw.run(session, _FAILED, values)
        log.error("outbox %s (%s) to %s refused: %s", row.id, row.method, row.chat_id, error)
        if not row.payload.get("alert"):
            said = texts.send_failed if error.startswith(INTERNAL) else texts.send_refused
            alert = {"text": said(row.chat_id, error.removeprefix(INTERNAL)), "alert": True}
            for admin in rt.settings.admin_ids:
                enqueue(session, now, admin, "send_message", alert)
    elif out.permanent:
        log.warning("outbox %s to %s failed for good: %s", row.id, row.chat_id, error)
        await raw.run(session, _UNREACHABLE, {"chat": row.chat_id, "error": error})
        await raw.run(session, _FAILED, values)
    else:
        values["at"] = now + timedelta(seconds=out.retry_in or 1.0)
        values["payload"] = row.payload
        if getattr(row, "uncertain", False) or error.startswith("TimedOut"):
            values["payload"] = {**row.payload, "uncertain": True}
        log.info("outbox %s to %s will be retried: %s", row.id, row.chat_id, error)
        await raw.run(session, _RETRY, values)
