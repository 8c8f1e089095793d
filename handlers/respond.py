"""Acting and answering: one short transaction per action, and the answer to the person.

`act` is the one path from an update to a state change. In one transaction it marks the
update handled (a redelivery then does nothing), runs the use case, and writes the replies
to the outbox, claimed by this process; after commit it answers the button press, sends
those replies at once, then what the action queued for everyone else (a chat to which older
messages still wait is left to the outbox sender, which keeps its order). A crash after the
commit loses no reply (the outbox takes the rows over when the claim runs out); a refusal
changes nothing and is answered directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from telegram import Update
from telegram.error import NetworkError, RetryAfter, TelegramError

from bot import texts
from bot.bounds import MAX_TEXT, fit
from bot.people import PeopleError
from bot.services.common import Reply, ServiceError
from bot.services.outgoing import UNORDERED, enqueue
from handlers import inbox, recording
from handlers.common import BotContext
from handlers.outbox import deliver, deliver_now
from storage import queued
from storage.models import Outbox

log = logging.getLogger(__name__)

DATABASE_DOWN = (DBAPIError, OSError)  # wait and handle the update again, say nothing wrong

# The chats to which other messages still wait (built once: every action asks).
_WAITING = (
    select(Outbox.chat_id)
    .where(
        Outbox.chat_id.in_(bindparam("chats", expanding=True)),
        Outbox.status == "pending",
        Outbox.id.not_in(bindparam("ours", expanding=True)),
    )
    .distinct()
)

_UNCLAIM = (
    sql_update(Outbox.__table__)
    .where(Outbox.__table__.c.id.in_(bindparam("ids", expanding=True)))
    .values(claimed_until=None)
)

Work = Callable[[AsyncSession, datetime], Awaitable[Reply | None]]


async def act(update: Update, context: BotContext, work: Work) -> Reply | None:
    """Run `work` in one transaction and answer. Returns the reply (refused or not), or
    None when the update had been handled before (then nothing is said at all)."""
    rt = context.rt
    now = rt.clock.now()
    query = update.callback_query
    rows: list[Outbox] = []
    held: list = []
    try:
        async with rt.sessions.begin() as session:
            chat = update.effective_chat
            info = session.info
            # What the action queues is sent by this process right after commit (enqueue
            # claims it as written; `_claimed_rows` lets go of what must wait its turn).
            info["claim"] = now + timedelta(seconds=rt.settings.outbox_lease_seconds)
            if chat is not None and query is not None and query.message is not None:
                info["pressed"] = (chat.id, query.message.message_id)  # see close_cards
            await inbox.mark_handled(session, now)
            reply = await work(session, now)
            if reply is not None and info.get("pressed_closed") is not None:
                # The pressed card's step closed: its answer is the closing edit, no buttons.
                reply.edit, reply.edit_buttons = reply.edit or info["pressed_closed"], None
            if reply is not None:
                rows = _queue_replies(session, now, update, context, reply)
            # Replies this process sent and holds for recording are recorded here: this is
            # a write anyway, and the next check must not take them for messages waiting.
            held = await recording.write_held(session, context.application, now)
            rows, elsewhere, kick = await _claimed_rows(session, update, rows)
    except BaseException as exc:
        recording.put_back(context.application, held)  # recorded by a later transaction
        if isinstance(exc, inbox.AlreadyHandled):
            return None
        if isinstance(exc, ServiceError | PeopleError):
            return await _refuse(update, context, exc.message)
        if isinstance(exc, StaleDataError):
            return await _refuse(update, context, texts.ALREADY)
        if isinstance(exc, DATABASE_DOWN):  # kept for later; logged once per outage
            inbox.retry_later(exc)
            return None
        raise
    inbox.committed()
    if query is not None:
        try:
            await query.answer(fit(reply.text, 200) if reply else None)
        except TelegramError as exc:  # the toast is a courtesy; the outcome is saved
            log.info("could not answer callback: %s", exc)
    app = context.application
    await deliver_now(app, rows)  # the person who acted first
    if elsewhere:  # then everyone else the action concerns, each chat in its order
        others = asyncio.gather(*(deliver_now(app, chat_rows) for chat_rows in elsewhere))
        if app.bot_data.get("kick", True):
            app.create_task(others, update="outbox")  # not holding up this chat's next update
        else:
            await others  # handler tests: deterministic order
    if kick:
        kick_outbox(context)
    return reply


async def _claimed_rows(
    session: AsyncSession, update: Update, replies: list[Outbox]
) -> tuple[list[Outbox], list[list[Outbox]], bool]:
    """Everything the action queued goes out from here right after commit, claimed as
    written (no claim round trip, no wait for the sender's tick): to the person who acted
    (with the replies), and per other chat. A chat to which other messages still wait is
    left to the sender, which keeps each chat's order. Returns those rows, the other chats'
    rows, and whether the sender must be kicked."""
    chat = update.effective_chat
    written = session.info.pop("queued", [])
    rest = [row for row in written if row.method not in UNORDERED and row not in replies]
    kick = len(rest) + len(replies) < len(written)  # housekeeping rows: the sender's
    if not rest:
        return list(replies), [], kick
    await queued.write(session)
    params = {"chats": sorted({row.chat_id for row in rest}), "ours": [r.id for r in written]}
    busy = set((await session.scalars(_WAITING, params)).all())
    if busy:
        waits = [row.id for row in rest if row.chat_id in busy]
        await session.execute(_UNCLAIM, {"ids": waits})
        kick = True
    mine = [row for row in rest if chat is not None and row.chat_id == chat.id]
    elsewhere: dict[int, list[Outbox]] = {}
    for row in rest:
        if row.chat_id not in busy and row not in mine:
            elsewhere.setdefault(row.chat_id, []).append(row)
    if chat is not None and chat.id in busy:
        mine = []
    return [*replies, *mine], list(elsewhere.values()), kick


def _queue_replies(
    session: AsyncSession, now: datetime, update: Update, context: BotContext, reply: Reply
) -> list[Outbox]:
    chat = update.effective_chat
    if chat is None:
        return []
    until = now + timedelta(seconds=context.rt.settings.outbox_lease_seconds)

    def queue(method: str, payload: dict[str, Any]) -> Outbox:
        return enqueue(session, now, chat.id, method, payload, claimed_until=until)

    rows = []
    query = update.callback_query
    if query is not None:  # the toast says reply.text; the pressed message becomes reply.edit
        if reply.edit and query.message is not None:
            payload = {
                "message_id": query.message.message_id,
                "text": reply.edit,
                "buttons": reply.edit_buttons,
            }
            rows.append(queue("edit_message", payload))
    elif reply.text:
        rows.append(queue("send_message", {"text": reply.text}))
    if reply.message:
        payload = {"text": reply.message, "buttons": reply.message_buttons}
        row = queue("send_message", payload)
        if reply.message_card is not None:  # closed with its step, like every card
            row.step_instance_id, row.tag = reply.message_card, "card"
        elif reply.message_buttons:
            row.tag = "prompt"  # closed once answered
        rows.append(row)
    return rows


async def _refuse(update: Update, context: BotContext, message: str) -> Reply:
    if update.callback_query is not None:
        try:
            await update.callback_query.answer(fit(message, 200), show_alert=True)
        except TelegramError as exc:
            log.info("could not answer callback: %s", exc)
    else:
        await say(update, context, message)
    return Reply(message, refused=True)


async def say(update: Update, context: BotContext, text: str) -> None:
    """Answer now (read-only answers and refusals); if the Bot API hiccups, the outbox
    delivers it, so nothing said is lost."""
    message = update.effective_message
    if message is None:
        return
    try:
        await message.reply_text(fit(text, MAX_TEXT))
    except (NetworkError, RetryAfter) as exc:
        log.info("direct reply failed, queued instead: %s", exc)
        rt = context.rt
        async with rt.sessions.begin() as session:
            enqueue(session, rt.clock.now(), message.chat_id, "send_message", {"text": text})


def kick_outbox(context: BotContext) -> None:
    """Deliver what the last transaction queued, without waiting for the next tick."""
    if not context.application.bot_data.get("kick", True):
        return  # handler tests deliver explicitly, for deterministic order
    context.application.create_task(deliver(context.application), update="outbox")
