"""Acting and answering: one short transaction per action, and the answer to the person.

`act` is the one path from an update to a state change. In one transaction it marks the
update handled (a redelivery then does nothing), runs the use case, and writes the replies
to the outbox, claimed by this process; after commit it answers the button press, sends
those replies at once and kicks the outbox for everyone else. A crash after the commit
loses no reply (the outbox takes the rows over when the claim runs out); a refusal changes
nothing and is answered directly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from telegram import Update
from telegram.error import NetworkError, RetryAfter, TelegramError

from bot import texts
from bot.bounds import MAX_TEXT, fit
from bot.people import PeopleError
from bot.services.common import Reply, ServiceError
from bot.services.outgoing import enqueue
from handlers import inbox, outage, recording
from handlers.common import BotContext
from handlers.outbox import deliver, deliver_now
from storage import queued
from storage.models import Outbox

log = logging.getLogger(__name__)

DATABASE_DOWN = outage.DATABASE_DOWN  # wait and handle the update again, say nothing wrong

# Is an older message still waiting in these chats? (built once: every action asks)
_OLDER_PENDING = (
    select(Outbox.chat_id, func.min(Outbox.id))
    .where(
        Outbox.chat_id.in_(bindparam("chats", expanding=True)),
        Outbox.status == "pending",
        Outbox.id < bindparam("below"),
        Outbox.id.not_in(bindparam("mine", expanding=True)),
    )
    .group_by(Outbox.chat_id)
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
            if chat is not None:  # what the action queues for this person is sent by us
                until = now + timedelta(seconds=rt.settings.outbox_lease_seconds)
                info["claim"] = (chat.id, until)
                if query is not None and query.message is not None:
                    info["pressed"] = (chat.id, query.message.message_id)  # see close_cards
            await inbox.mark_handled(session, now)
            reply = await work(session, now)
            if reply is not None and info.get("pressed_closed") is not None:
                # The pressed card's step closed: it reads like every other closed copy.
                reply.edit, reply.edit_buttons = info["pressed_closed"], None
            if reply is not None:
                rows = _queue_replies(session, now, update, context, reply)
            # Replies this process sent and holds for recording are recorded here: this is
            # a write anyway, and the next check must not take them for messages waiting.
            held = await recording.write_held(session, context.application, now)
            rows, for_sender = await _own_rows(session, rows)
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
    await deliver_now(context.application, rows)
    if for_sender:
        kick_outbox(context)
    return reply


async def _own_rows(session: AsyncSession, replies: list[Outbox]) -> tuple[list[Outbox], bool]:
    """What the action queued and claimed as written (`outgoing.enqueue`) goes out right
    after commit, with no claim round trip and no wait for the sender: the replies first,
    then the rest, each chat in the order written. In a chat where an older message still
    waits (a send being retried, another process's), new messages are handed to the
    sender instead, which delivers them all in order. Says whether the sender has rows of
    this action to deliver (then it is kicked)."""
    written = session.info.pop("queued", [])
    mine = [*replies, *(r for r in written if r.claimed_until is not None and r not in replies)]
    for_sender = len(mine) < len(written)
    # Edits change messages already there (the pressed card shows its outcome at once);
    # only new messages keep their place in the chat behind an older one still waiting.
    new = [row for row in mine if row.method != "edit_message"]
    if not new:
        return mine, for_sender
    await queued.write(session)
    first: dict[int, int] = {}
    for row in new:
        first[row.chat_id] = min(first.get(row.chat_id, row.id), row.id)
    params = {"chats": list(first), "below": max(first.values()), "mine": [r.id for r in mine]}
    older = await session.execute(_OLDER_PENDING, params)
    waiting = {chat for chat, low in older if low < first[chat]}
    if not waiting:
        return mine, for_sender
    held_back = [row for row in new if row.chat_id in waiting]
    await session.execute(recording.RELEASE, {"ids": [row.id for row in held_back]})
    return [row for row in mine if row not in held_back], True


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
