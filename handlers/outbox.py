"""The outbox sender: delivers queued messages after commit and on every tick.

Per chat, messages go out strictly in order (a later one waits while an earlier one is
retried). Rows are claimed with a compare-and-set update, so several bot processes on one
database never send the same row twice. 429 waits `retry_after`; network errors and 5xx
back off; 403 (blocked, never started) marks the person unreachable for the admins; any
other 400 is a bug in the bot, logged and reported to the admins, never blamed on the person
(one attempt at one row, paced and with its claim kept: `handlers/sending.py`; every text is
bounded to Telegram's limits in `handlers/sends.py`, the last gate before the Bot API).

At-least-once: a process killed between Telegram accepting a message and the row being
marked sent sends it again after the lease. For a task card that would leave two live cards,
so a card re-sent after such an uncertain attempt closes the copy nobody recorded (see
`close_orphans`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import bindparam, case, select, update
from telegram.ext import Application

from bot.runtime import Runtime
from bot.services.outgoing import BULK_TAGS, CHANGES_SENT, FILES, READS_SENT, UNORDERED
from handlers import outage, pacing, sending
from handlers.recording import (
    RELEASE,
    Outcome,
    hold_sent,
    not_recorded,
    put_back,
    record_all,
    record_in,
    write_held,
)
from storage import raw
from storage.models import Outbox

log = logging.getLogger(__name__)
BATCH = 200
RUN = 20  # rows of one chat per pass, unpaced (`_run_length`)
RECORD_EVERY = 0.5  # seconds: how long a slow pass keeps the sends that finished unrecorded
BULK_BATCH = 60  # bulk rows per pass: about two seconds at Telegram's 30 messages/s
_bulk = Outbox.tag.in_(BULK_TAGS)

# The statements of every send, built once with bound parameters (issue 12).
_T = Outbox.__table__
_AT = _T.c.claimed_until.type
_COLUMNS = tuple(_T.c)
_PENDING = raw.Sql(  # as values: the rows are what to send, nothing the ORM tracks
    select(*_COLUMNS)
    .where(Outbox.status == "pending")
    .order_by(case((_bulk, 1), else_=0), Outbox.id)
    .limit(BATCH + BULK_BATCH)
)
_TAKE = raw.Sql(  # compare-and-set: only rows nobody holds (or whose holder's lease ran out)
    update(_T)
    .where(
        _T.c.id.in_(bindparam("ids", expanding=True)),
        _T.c.status == "pending",
        _T.c.claimed_until.is_(None) | (_T.c.claimed_until < bindparam("now", type_=_AT)),
    )
    .values(claimed_until=bindparam("until", type_=_AT))
    .returning(_T.c.id)
)


async def deliver(app: Application) -> int:
    """Send everything that is due; returns how many rows went out."""
    lock: asyncio.Lock = app.bot_data.setdefault("outbox_lock", asyncio.Lock())
    if lock.locked():
        app.bot_data["outbox_again"] = True  # the running pass will go round once more
        return 0
    sent = 0
    rt: Runtime = app.bot_data["rt"]
    done: list[tuple[Outbox, Outcome]] = []
    release: list[Outbox] = []
    async with lock:
        while True:
            app.bot_data["outbox_again"] = False
            # The last pass's outcomes and the sends held for recording are written in the
            # claim's transaction, first: one transaction a pass, never a send claimed twice.
            held: list = []
            first = partial(_record_first, app, held, done, release)
            try:
                runs = await _claim(rt, _run_length(app), first)
            except BaseException as exc:
                put_back(app, held)
                not_recorded(app, done, exc)  # sent: recorded by a later transaction
                raise
            if not runs:
                if app.bot_data.get("outbox_again"):
                    done, release = [], []
                    continue
                return sent
            done, release = await _send_pass(app, runs)
            results = [out.error is None for _, out in done]
            sent += sum(results)
            if not any(results) and not app.bot_data.get("outbox_again"):
                await record_all(app, done, release)
                return sent  # everything due failed for now; the next tick retries


async def _record_first(
    app: Application,
    held: list,
    done: list[tuple[Outbox, Outcome]],
    release: list[Outbox],
    session: raw.Where,
    now: datetime,
) -> None:
    held.extend(await write_held(session, app, now))
    await record_in(app.bot_data["rt"], session, now, done, release)


async def _send_pass(
    app: Application, runs: list[list[Outbox]]
) -> tuple[list[tuple[Outbox, Outcome]], list[Outbox]]:
    """Every chat's run at once; what was sent and not recorded yet, and the claimed rows
    handed back. While a pass lasts (a file upload, a stalled answer, a chat waiting its
    turn), the runs that finished are recorded every RECORD_EVERY seconds: a message that
    went out stays unrecorded for that long at most, not until the slowest send ends (a
    process killed meanwhile would have it sent again; its claim could even run out)."""
    if len(runs) == 1:
        return await _send_run(app, runs[0])
    waiting = {asyncio.ensure_future(_send_run(app, run)) for run in runs}
    while True:
        finished, waiting = await asyncio.wait(waiting, timeout=RECORD_EVERY)
        passes = [task.result() for task in finished]
        done = [pair for run_done, _ in passes for pair in run_done]
        release = [row for _, rest in passes for row in rest]
        if not waiting:
            return done, release
        if done or release:
            await _record_quietly(app, done, release)


async def _record_quietly(
    app: Application,
    done: list[tuple[Outbox, Outcome]],
    release: list[Outbox] = (),  # type: ignore[assignment]
    hold: bool = False,
) -> None:
    """Record in the middle of a pass, or after an action's direct sends (`hold`: the
    actor's own, held for the next write); if that fails, what went out stays held for a
    later transaction (`not_recorded`) and the pass, or the action, goes on: its update
    was handled, whatever happens to the record."""
    try:
        await (hold_sent(app, done) if hold else record_all(app, done, release))
    except outage.DATABASE_DOWN:
        pass  # the outage tracker says it once
    except Exception:
        log.exception("outbox: recording %d sends failed; kept for later", len(done))


def _run_length(app: Application) -> int:
    """Rows of one chat sent in one pass, one after the other: RUN unpaced (a chat with a
    queue, the next holder of many hand-offs, is not sent one row per pass, each pass
    reading every pending row again); one when pacing, where a chat's next row may wait a
    second for its turn and the whole pass (every chat's records) would wait with it."""
    if isinstance(app.bot.rate_limiter, pacing.PacedLimiter):
        return 1
    return RUN


async def _send_run(
    app: Application, run: list[Outbox]
) -> tuple[list[tuple[Outbox, Outcome]], list[Outbox]]:
    """A chat's claimed rows in order; after one not sent (failed, or taken over) the rest
    are handed back: nothing goes out ahead of a message still waiting. Before a file
    (rendered, uploaded: it may take longer than the lease) what went out is recorded, so
    its claim cannot run out unrecorded meanwhile (another process would send it again);
    the rows returned as done are those not recorded yet."""
    done: list[tuple[Outbox, Outcome]] = []
    for i, row in enumerate(run):
        if done and row.method in FILES:
            await _record_quietly(app, done)
            done = []
        try:
            outcome = await sending.send(app, row)
        except outage.DATABASE_DOWN:
            # Its claim could not be checked: handed back untried, with the rest; what went
            # out before it is still recorded (the other chats' runs go on).
            return done, run[i:]
        except Exception:  # never lose the records of what this pass sent (a bug of ours)
            log.exception("outbox %s (%s): its send failed", row.id, row.method)
            return done, run[i:]
        if outcome is not None:
            done.append((row, outcome))
        if outcome is None or outcome.error is not None:
            return done, run[i + 1 :]
    return done, []


async def _claim(
    rt: Runtime,
    run_length: int = 1,
    first: Callable[[raw.Tx, datetime], Awaitable[None]] | None = None,
) -> list[list[Outbox]]:
    """Claim what is due: per chat the first rows in order (up to `run_length`, stopping at
    one not due yet), each row of housekeeping on its own. One compare-and-set for all;
    a chat whose first row another process holds (a send under way) is skipped. `first`
    writes in the same transaction, before the claim (the last pass's records)."""
    now = rt.clock.now()
    # A claim is a lease: if this process dies mid-send, another takes the row over when
    # the lease runs out (so keep it longer than the slowest send, shorter than patience).
    lease = timedelta(seconds=rt.settings.outbox_lease_seconds)
    async with raw.transaction(rt.sessions) as tx:
        if first is not None:
            await first(tx, now)
        # Interactive rows first; bulk ones (the digest, reminders) a couple of seconds'
        # worth per pass at Telegram's pace, so what a person's action queued meanwhile goes
        # next. One query: pending rows are few but during a digest.
        # `run`: rows the records just queued (a twin's closing, an alert) go in this pass.
        pending = (await raw.run(tx, _PENDING)).rows
        rows = [raw.instance(Outbox, _COLUMNS, row) for row in pending]
        interactive: list[Outbox] = []
        bulk: list[Outbox] = []
        for row in rows:
            (bulk if row.tag in BULK_TAGS else interactive).append(row)
        pending = sorted([*interactive[:BATCH], *bulk[:BULK_BATCH]], key=lambda row: row.id)
        # Per chat in order, but housekeeping (closing a twin's buttons) never holds up the
        # messages behind it, nor waits behind them.
        runs: list[list[Outbox]] = [
            [row] for row in pending if row.method in UNORDERED and row.next_attempt_at <= now
        ]
        per_chat: dict[int, list[Outbox]] = {}
        for row in pending:
            if row.method not in UNORDERED:
                per_chat.setdefault(row.chat_id, []).append(row)
        for chat_rows in per_chat.values():
            chat_rows = _closings_first(chat_rows)
            run = []
            for row in chat_rows[:run_length]:
                if row.next_attempt_at > now or (run and row.method in READS_SENT):
                    break
                run.append(row)
            runs.append(run)
        wanted = [row for run in runs for row in run]
        if not wanted:
            return []
        params = {"ids": [row.id for row in wanted], "now": now, "until": now + lease}
        taken = set((await raw.run(tx, _TAKE, params)).scalars())
        claimed: list[list[Outbox]] = []
        gaps: list[int] = []
        for run in runs:
            # A run is its rows up to the first one not taken (another process holds it);
            # any taken after that gap go back at once, so the chat's order holds.
            n = next((i for i, row in enumerate(run) if row.id not in taken), len(run))
            gaps += [row.id for row in run[n:] if row.id in taken]
            if n:
                claimed.append(run[:n])
            for row in run[:n]:
                row.lease_until = now + lease  # type: ignore[attr-defined]
                # A lease that ran out without a record, or a time-out: the send may have
                # gone through, so a card sent now may have an unrecorded twin.
                # Remembered until the row is recorded as sent, whatever fails in between.
                row.uncertain = (  # type: ignore[attr-defined]
                    row.claimed_until is not None
                    or bool(row.payload.get("uncertain"))
                    or (row.last_error or "").startswith("TimedOut")
                )
        if gaps:
            await raw.run(tx, RELEASE, {"ids": gaps})
        return claimed


def _closings_first(chat_rows: list[Outbox]) -> list[Outbox]:
    """A chat's rows in order, but a closing or an edit right behind the chat's digest goes
    first: it changes messages already there, not the order of new ones, so a card closed
    meanwhile never stays live while the digest waits its paced turn (or its retry)."""
    lead = next((i for i, row in enumerate(chat_rows) if row.tag != "digest"), len(chat_rows))
    if 0 < lead < len(chat_rows) and chat_rows[lead].method in CHANGES_SENT:
        return [chat_rows[lead], *chat_rows[:lead], *chat_rows[lead + 1 :]]
    return chat_rows


async def deliver_now(app: Application, rows: list[Outbox], actor_chat: int | None) -> None:
    """Send rows this process claimed when it wrote them (what an action queued), right
    after their transaction committed, each chat's in order, the chats side by side; if it
    dies first, the lease hands them over. Recorded together, with other work when they
    are the actor's alone (`hold_sent`). After a failed send the chat's rest are handed to
    the sender, which retries in order: nothing goes out ahead of a message still
    waiting."""
    if not rows:
        return
    runs: dict[int, list[Outbox]] = {}
    for row in rows:
        runs.setdefault(row.chat_id, []).append(row)
    done, rest = await _send_pass(app, list(runs.values()))
    # The actor's own answers may wait a moment for a transaction that comes anyway; sends
    # into other chats are recorded at once, like a pass of the sender: a process killed
    # in between would send the next holder's card again (at-least-once), so keep that
    # window as short as the sender's.
    elsewhere = any(chat != actor_chat for chat in runs)
    mixed = rest or elsewhere or any(out.error is not None for _, out in done)
    await _record_quietly(app, done, rest, hold=not mixed)
