"""Closing what is no longer live: a closed step's card copies, answered questions, and the
unrecorded twin of a card re-sent after an uncertain attempt. Run by the outbox
(`handlers/outbox.py`) as rows of their own, so a failure is retried like any send."""

from __future__ import annotations

import logging

from sqlalchemy import Row, Select, bindparam, select, update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.bounds import MAX_TEXT, fit
from bot.runtime import Runtime
from handlers.common import markup_dict
from handlers.recording import unrecorded
from storage.models import Inbox, Outbox

log = logging.getLogger(__name__)

ORPHAN_SCAN = 20  # message ids below a re-sent card that may hold its unrecorded twin


async def close_task(app: Application, row: Outbox) -> None:
    """Every copy of a closed step's card in this chat shows the outcome, without buttons;
    an escalation about it keeps its text and loses its buttons."""
    closed: list[int] = []
    try:
        for copy_id, message_id, tag in await _open_messages(
            app, _OPEN_CARDS, {"chat": row.chat_id, "si": row.step_instance_id}
        ):
            if tag == "card":
                await edit(app, row.chat_id, message_id, row.payload["text"], None)
            else:
                await drop_buttons(app, row.chat_id, message_id)
            closed.append(copy_id)
    finally:  # what was closed stays closed when a later edit fails
        await _mark_closed(app, closed)


async def close_prompts(app: Application, row: Outbox) -> None:
    """The question was answered or replaced: its ✖️ Batal and choices go away."""
    closed: list[int] = []
    try:
        params = {"chat": row.chat_id, "before": row.id}
        for copy_id, message_id, _ in await _open_messages(app, _OPEN_PROMPTS, params):
            await drop_buttons(app, row.chat_id, message_id)
            closed.append(copy_id)
    finally:
        await _mark_closed(app, closed)


# A closing row reads a chat's open copies and marks what it closed: built once, and on
# the outbox table (no ORM objects are involved).
_OUTBOX = Outbox.__table__
_OPEN = select(_OUTBOX.c.id, _OUTBOX.c.message_id, _OUTBOX.c.tag).where(
    _OUTBOX.c.chat_id == bindparam("chat"),
    _OUTBOX.c.status == "sent",
    _OUTBOX.c.message_id.is_not(None),
    _OUTBOX.c.closed_at.is_(None),
)
_OPEN_CARDS = _OPEN.where(
    _OUTBOX.c.step_instance_id == bindparam("si"), _OUTBOX.c.tag.in_(("card", "escalation"))
)
_OPEN_PROMPTS = _OPEN.where(_OUTBOX.c.id < bindparam("before"), _OUTBOX.c.tag == "prompt")
_CLOSED = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(closed_at=bindparam("at"))
)


async def _open_messages(app: Application, query: Select, params: dict) -> list[Row]:
    rt: Runtime = app.bot_data["rt"]
    async with rt.sessions() as session:
        return list((await session.execute(query, params)).all())


async def _mark_closed(app: Application, outbox_ids: list[int]) -> None:
    """One write for all the copies closed (the edits are done outside any transaction)."""
    if not outbox_ids:
        return
    rt: Runtime = app.bot_data["rt"]
    async with rt.sessions.begin() as session:
        await session.execute(_CLOSED, {"ids": outbox_ids, "at": rt.clock.now()})


async def drop_buttons(app: Application, chat_id: int, message_id: int) -> None:
    try:  # no reply_markup: the buttons go (the answer, a Message, is not parsed)
        data = {"chat_id": chat_id, "message_id": message_id}
        await app.bot._post("editMessageReplyMarkup", data)
    except BadRequest as exc:
        if not nothing_to_change(exc):
            raise


def nothing_to_change(exc: BadRequest) -> bool:
    """Already edited, or deleted by the person: nothing left to change."""
    return any(m in exc.message for m in ("not modified", "not found", "can't be edited"))


async def close_orphans(app: Application, chat_id: int, sent_id: int) -> None:
    """Remove the buttons of unrecorded bot messages just below the card just sent. Every
    message with buttons goes through this outbox and is recorded, so one with buttons that
    no row knows is a twin a killed process sent and never recorded. (Telegram numbers a
    private chat's messages in order; the person's own messages and ours without buttons
    are refused harmlessly.)"""
    rt: Runtime = app.bot_data["rt"]
    low = max(sent_id - ORPHAN_SCAN, 1)
    async with rt.sessions() as session:
        known = set(
            await session.scalars(
                select(Outbox.message_id).where(
                    Outbox.chat_id == chat_id, Outbox.message_id.between(low, sent_id)
                )
            )
        )
        known |= set(await session.scalars(_their_messages(chat_id, low, sent_id)))
    # Sent and not recorded yet (replies held a moment to be recorded with other work).
    known |= {message_id for row, message_id in unrecorded(app).values() if row.chat_id == chat_id}
    failed: TelegramError | None = None
    for message_id in range(sent_id - 1, low - 1, -1):
        if message_id in known:
            continue
        try:
            await app.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
            log.warning("closed an unrecorded copy %s in chat %s", message_id, chat_id)
        except BadRequest:
            continue  # not ours, no buttons, or gone
        except TelegramError as exc:  # try the others; the row is retried for the rest
            failed = exc
    if failed is not None:
        raise failed


def _their_messages(chat_id: int, low: int, high: int):  # type: ignore[no-untyped-def]
    """The person's own message ids in a range (from the inbox): never ours to close."""
    message_id = Inbox.payload["message"]["message_id"].as_integer()
    return select(message_id).where(Inbox.chat_id == chat_id, message_id.between(low, high))


async def edit(app: Application, chat_id: int, message_id: int, text: str, buttons) -> None:  # type: ignore[no-untyped-def]
    """editMessageText through `_post`, like `sends.send_text`: the edited Message that
    Telegram answers is not needed, so it is not parsed into PTB objects."""
    data = {
        "chat_id": chat_id,
        "message_id": message_id,
        "text": fit(text, MAX_TEXT),
        "reply_markup": markup_dict(buttons),  # none: the buttons go
    }
    try:
        await app.bot._post("editMessageText", data)
    except BadRequest as exc:
        if not nothing_to_change(exc):
            raise
