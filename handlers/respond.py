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

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from telegram import Update
from telegram.error import NetworkError, RetryAfter, TelegramError

from bot import texts
from bot.bounds import MAX_TEXT, fit
from bot.people import PeopleError
from bot.services.common import Reply, ServiceError
from bot.services.outgoing import CHANGES_SENT, enqueue
from handlers import inbox, outage, recording
from handlers.common import BotContext
from handlers.outbox import deliver, deliver_now
from handlers.pacing import PacedLimiter
from storage import queued, raw
from storage.models import Outbox

log = logging.getLogger(__name__)

DATABASE_DOWN = outage.DATABASE_DOWN  # wait and handle the update again, say nothing wrong

# Per chat, the oldest message still waiting, and the oldest edit or closing still waiting
# (built once: every action that sends asks).
_OLDER_PENDING = raw.Sql(
    select(
        Outbox.chat_id,
        func.min(Outbox.id),
        func.min(case((Outbox.method.in_(CHANGES_SENT), Outbox.id))),
    )
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
            rows, for_sender = await _own_rows(session, rows, _waits(context, chat))
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
    await deliver_now(context.application, rows, chat.id if chat is not None else None)
    if for_sender:
        kick_outbox(context)
    return reply


def _waits(context: BotContext, actor_chat: Any) -> Callable[[int], bool]:
    """Chats not worth a direct send now: another person's chat that has used its share of
    Telegram's per-chat limit (the send would hold up the presser's next update while it
    waits its turn; the sender waits it in the background instead)."""
    limiter = context.application.bot.rate_limiter
    if not isinstance(limiter, PacedLimiter):
        return lambda chat: False
    me = actor_chat.id if actor_chat is not None else None
    return lambda chat: chat != me and limiter.would_wait(chat)


async def _own_rows(
    session: AsyncSession, replies: list[Outbox], waits: Callable[[int], bool]
) -> tuple[list[Outbox], bool]:
    """What the action queued and claimed as written (`outgoing.enqueue`) goes out right
    after commit, with no claim round trip and no wait for the sender: the replies first,
    then the rest, each chat in the order written. Where an older row of the chat still
    waits (a send being retried, another process's), a row that could be overtaken goes to
    the sender instead, which delivers them all in order: a new message waits behind any
    older one; an edit (the pressed card showing its outcome) only behind an older edit or
    closing, which may change the same message (the older would land last and undo it).
    Says whether the sender has rows of this action to deliver (then it is kicked)."""
    written = session.info.pop("queued", [])
    mine = [*replies, *(r for r in written if r.claimed_until is not None and r not in replies)]
    for_sender = len(mine) < len(written)
    if not mine:
        return mine, for_sender
    await queued.write(session)
    params = {
        "chats": list({row.chat_id for row in mine}),
        "below": max(row.id for row in mine),
        "mine": [row.id for row in mine],
    }
    older = {
        chat: (low, low_edit)
        for chat, low, low_edit in (await raw.run(session, _OLDER_PENDING, params)).rows
    }
    held_back = [
        row
        for row in mine
        if waits(row.chat_id) or (row.chat_id in older and _overtakes(row, *older[row.chat_id]))
    ]
    if not held_back:
        return mine, for_sender
    await raw.run(session, recording.RELEASE, {"ids": [row.id for row in held_back]})
    return [row for row in mine if row not in held_back], True


def _overtakes(row: Outbox, oldest: int, oldest_edit: int | None) -> bool:
    """An edit of one message waits only behind an older edit or closing; everything else
    (a closing too: it reads which copies were sent) behind any older row."""
    if row.method == "edit_message":
        return oldest_edit is not None and oldest_edit < row.id
    return oldest < row.id


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
