"""What every handler shares: the typed context, who is acting, and small reply helpers."""

from __future__ import annotations

import contextlib

from telegram import InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, CallbackContext, ExtBot, TypeHandler

from bot import texts
from bot.bounds import MAX_BUTTON, one_line
from bot.people import Actor, add_person, find_actor
from bot.runtime import Runtime
from bot.services.common import Buttons
from handlers import inbox, outage
from storage.models import Person

CALLBACK_PREFIX = "t:"  # callback_data = "t:" + opaque token (<= 64 bytes)


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """The context of one update: the app's services and the person acting."""

    actor: Actor | None = None

    @property
    def rt(self) -> Runtime:
        return self.application.bot_data["rt"]


def markup(buttons: Buttons | None) -> InlineKeyboardMarkup | None:
    """The keyboard as PTB's object (direct replies and edits); built from `markup_dict`."""
    data = markup_dict(buttons)
    return InlineKeyboardMarkup.de_json(data, None) if data else None


def markup_dict(buttons: Buttons | None) -> dict | None:
    """`markup` as the Bot API's JSON, for the outbox's raw sends (no PTB objects built
    only to be turned back into JSON)."""
    if not buttons:
        return None
    keyboard = [
        [
            {"text": one_line(label, MAX_BUTTON), "callback_data": CALLBACK_PREFIX + token}
            for label, token in row
        ]
        for row in buttons
    ]
    return {"inline_keyboard": keyboard}


async def identify(update: object, context: BotContext) -> None:
    """Group -1: find the person; strangers get a polite refusal and nothing is stored.

    `/start <code>` from a stranger is let through: that is how an invitation is accepted.
    """
    if not isinstance(update, Update) or update.effective_user is None:
        return
    rt = context.rt
    now = rt.clock.now()
    user = update.effective_user
    try:
        actor = _preloaded(user.id, rt.settings.admin_ids)
        if actor is inbox.NOT_LOADED:
            actor = await _find(rt, user, now)
    except outage.DATABASE_DOWN as exc:  # not "a stranger": the database is away; later
        inbox.retry_later(exc)
        raise ApplicationHandlerStop from None
    context.actor = actor
    if actor is not None:
        return
    message = update.effective_message
    if update.message and (update.message.text or "").startswith("/start "):
        return
    if update.callback_query is not None:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer(texts.STRANGER, show_alert=True)
    elif message is not None and update.effective_chat and update.effective_chat.type == "private":
        with contextlib.suppress(TelegramError):
            await message.reply_text(texts.STRANGER)
    raise ApplicationHandlerStop


def _preloaded(user_id: int, admin_ids: list[int]):  # type: ignore[no-untyped-def]
    """The sender as read with the inbox claim, unless `_find` has something to write."""
    item = inbox.CURRENT.get()
    actor = inbox.NOT_LOADED if item is None else item.actor
    if actor is None:
        return inbox.NOT_LOADED if user_id in admin_ids else None  # an admin gets a row
    if actor is not inbox.NOT_LOADED and (
        actor.person.telegram_id != user_id
        or actor.person.started_at is None
        or actor.person.unreachable_reason is not None
    ):
        return inbox.NOT_LOADED
    return actor


async def _find(rt: Runtime, user, now):  # type: ignore[no-untyped-def]
    async with rt.sessions.begin() as session:
        actor = await find_actor(session, user.id, now, rt.settings.admin_ids)
        if actor is None and user.id in rt.settings.admin_ids:
            # Admins come from ADMIN_IDS; give them a person row so prompts and logs work.
            await add_person(session, now, user.id, user.full_name, [])
            actor = await find_actor(session, user.id, now, rt.settings.admin_ids)
        if actor is not None and (
            actor.person.started_at is None or actor.person.unreachable_reason is not None
        ):
            # Any message from them means they pressed Start (or unblocked the bot): the bot
            # can write to them again. Only then is this a write; most updates read only.
            person = await session.get(Person, actor.id)
            assert person is not None  # just read, in this transaction
            person.started_at = person.started_at or now
            person.unreachable_reason = None
            actor.person.started_at, actor.person.unreachable_reason = person.started_at, None
    return actor


def register_identify(app: Application) -> None:
    app.add_handler(TypeHandler(Update, identify), group=-1)
