"""Records in the chat (issue 11): /riwayat N, /rekap [SOP] [periode], /arsip, and the
📄 Riwayat button under a /status card. Thin: parse, call the service, answer. Files go out
through the outbox like every other message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from telegram import Update
from telegram.error import NetworkError, RetryAfter

from bot.bounds import MAX_TEXT, fit
from bot.services import record_files, records, rekap
from bot.services.common import ServiceError, add_token
from bot.services.outgoing import enqueue
from bot.texts import records as t
from handlers import outage
from handlers.common import BotContext, markup
from handlers.respond import act, say

log = logging.getLogger(__name__)
_PROCESS_NO = re.compile(r"#?([0-9]{1,9})")  # ASCII digits only
ARSIP_SHOWN = 30


async def cmd_riwayat(update: Update, context: BotContext) -> None:
    """/riwayat N: the riwayat PDF and the timeline chart of process N."""
    actor = context.actor
    assert actor is not None
    args = context.args or []
    match = _PROCESS_NO.fullmatch(args[0]) if args else None
    if match is None:
        await say(update, context, t.RIWAYAT_USAGE)
        return
    number = int(match.group(1))
    await act(
        update,
        context,
        lambda s, now: record_files.request_riwayat(context.rt, s, now, actor, number),
    )


async def cmd_rekap(update: Update, context: BotContext) -> None:
    """/rekap [SOP] [periode]: a short summary, the XLSX and the chart. The figures and the
    files are made before the (short) transaction that queues them."""
    actor, rt = context.actor, context.rt
    if not rekap.allowed(actor):
        await say(update, context, t.REKAP_ROLES)
        return
    assert actor is not None
    now = rt.clock.now()
    try:
        sops, period = rekap.parse_args(rt, context.args or [], now)
    except ServiceError as exc:
        await say(update, context, exc.message)
        return
    await say(update, context, t.REKAP_WORKING)  # the files take a few seconds
    async with rt.sessions() as session:
        result = await rekap.compute(rt, session, sops, period, now)
    if not result.processes:
        await say(update, context, t.REKAP_EMPTY)
        return
    files = await asyncio.to_thread(rekap.make_files, rt, result, period)
    await act(update, context, lambda s, now: _queue_rekap(s, now, actor, files, period))


async def _queue_rekap(session, now, actor, files, period):  # type: ignore[no-untyped-def]
    return rekap.queue(session, now, actor, files, period)


async def cmd_arsip(update: Update, context: BotContext) -> None:
    """/arsip: the register of tanda terima, newest first."""
    rt = context.rt
    async with rt.sessions() as session:
        rows = await records.tanda_terima(rt, session, ARSIP_SHOWN)
    if not rows:
        await say(update, context, t.ARSIP_EMPTY)
        return
    tz = rt.settings.timezone
    lines = [t.ARSIP_HEAD]
    lines += [
        t.arsip_line(r.process_id, r.title, r.sop_short, r.label, r.uploaded_by, r.at, tz)
        for r in rows
    ]
    await say(update, context, "\n".join(lines))


async def say_status(update: Update, context: BotContext, process_id: int, text: str) -> None:
    """A /status card with its 📄 Riwayat button (a stored token, like every button)."""
    rt = context.rt
    message = update.effective_message
    if message is None:
        return
    async with rt.sessions.begin() as session:
        token = await add_token(session, rt.clock.now(), "riwayat", arg=str(process_id))
    buttons = [[(t.RIWAYAT_BUTTON, token)]]
    payload = {"text": text, "buttons": buttons}
    try:
        sent = await message.reply_text(fit(text, MAX_TEXT), reply_markup=markup(buttons))
    except (NetworkError, RetryAfter) as exc:  # as `say`: the outbox delivers it
        log.info("direct reply failed, queued instead: %s", exc)
        async with rt.sessions.begin() as session:
            enqueue(session, rt.clock.now(), message.chat_id, "send_message", payload)
        return
    # Recorded like every message with buttons, or the search for a re-sent card's twin
    # (`close_orphans`) would take it for one and remove its button.
    with contextlib.suppress(*outage.DATABASE_DOWN):  # the button itself works either way
        async with rt.sessions.begin() as session:
            now = rt.clock.now()
            row = enqueue(session, now, message.chat_id, "send_message", payload)
            row.status, row.sent_at, row.message_id = "sent", now, sent.message_id


COMMANDS = {"riwayat": cmd_riwayat, "rekap": cmd_rekap, "arsip": cmd_arsip}
