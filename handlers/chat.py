"""Buttons, text answers and everything else a person sends. Thin: build the input, call a
use case through `act`, which commits and answers."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import TelegramError

from bot import texts
from bot.services import routing
from handlers import inbox, outage
from handlers.common import CALLBACK_PREFIX, BotContext
from handlers.respond import act, say

log = logging.getLogger(__name__)


async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    actor = context.actor
    data = query.data or ""
    if actor is None or not data.startswith(CALLBACK_PREFIX) or len(data.encode()) > 64:
        with contextlib.suppress(TelegramError):
            await query.answer(texts.UNKNOWN_BUTTON, show_alert=True)
        return
    token = data[len(CALLBACK_PREFIX) :]
    await act(update, context, lambda s, now: routing.press(context.rt, s, now, actor, token))


async def on_text(update: Update, context: BotContext) -> None:
    actor = context.actor
    message = update.effective_message
    assert actor is not None and message is not None
    text = message.text or ""
    await act(update, context, lambda s, now: routing.answer_text(context.rt, s, now, actor, text))


async def on_other(update: Update, context: BotContext) -> None:
    """Stickers, voice notes, locations...: say what the bot understands."""
    await say(update, context, texts.NOT_UNDERSTOOD)


async def on_error(update: object, context: BotContext) -> None:
    """Anything unexpected: log it (the token is redacted) and tell the person, politely.
    A database outage is not told as an error: the update is handled again once it is back."""
    if isinstance(context.error, outage.DATABASE_DOWN):  # logged once per outage
        inbox.retry_later(context.error)
        return
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(update.effective_chat.id, texts.UNEXPECTED)
