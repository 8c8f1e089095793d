"""How each kind of outbox row goes out to Telegram (documents, voice notes, reminders):
called by the outbox (`handlers/outbox.py`), which claims, paces and records the rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import bindparam, select, update
from telegram import ReplyParameters
from telegram.error import BadRequest
from telegram.ext import Application

from bot.bounds import MAX_CAPTION, MAX_TEXT, fit
from bot.runtime import Runtime
from handlers.closing import edit
from handlers.common import markup, markup_dict
from storage.models import Outbox, StepInstance


async def send_text(app: Application, row: Outbox) -> int:
    """sendMessage, returning the new message's id. Through the bot's `_post` (PTB's own
    path, rate limiter included) rather than `send_message`: that parses the answer into a
    Message object (a tenth of an update's CPU) of which the outbox keeps only the id."""
    data = {
        "chat_id": row.chat_id,
        "text": fit(row.payload["text"], MAX_TEXT),
        "reply_markup": markup_dict(row.payload.get("buttons")),
    }
    result = await app.bot._post("sendMessage", data)
    return int(result["message_id"])


async def send_document(app: Application, row: Outbox) -> int:
    """sendDocument by Telegram's file id (through `_post`, as `send_text`), or our stored
    copy; returns the new message's id."""
    payload = row.payload
    caption = fit(payload.get("caption") or "", MAX_CAPTION) or None
    try:
        if not payload.get("file_id"):  # made by the bot, never uploaded: send our copy
            raise BadRequest("no file id")
        data = {"chat_id": row.chat_id, "document": payload["file_id"], "caption": caption}
        result = await app.bot._post("sendDocument", data, read_timeout=file_wait(app))
        return int(result["message_id"])
    except BadRequest:
        # The file id may not be valid for this bot/server any more: send our stored copy.
        path = Path(payload["path"])
        with path.open("rb") as fh:
            msg = await app.bot.send_document(
                row.chat_id,
                fh,
                filename=payload.get("file_name"),
                caption=caption,
                read_timeout=file_wait(app),
            )
        return msg.message_id


def file_wait(app: Application) -> float:
    """How long a file send waits for Telegram's answer: longer than a text's 5 s, since a
    file that timed out is sent again and the person then has it twice."""
    return app.bot_data["rt"].settings.file_read_timeout_seconds


async def send_voice(app: Application, row: Outbox):  # type: ignore[no-untyped-def]
    payload = row.payload
    try:
        return await app.bot.send_voice(
            row.chat_id, payload["file_id"], caption=payload["caption"], read_timeout=file_wait(app)
        )
    except BadRequest:
        with Path(payload["path"]).open("rb") as fh:
            return await app.bot.send_voice(
                row.chat_id, fh, caption=payload["caption"], read_timeout=file_wait(app)
            )


async def remind(app: Application, row: Outbox) -> int | None:
    """One short line that replies to the live card; later reminders the same day edit it
    instead of piling up. Without a live card to reply to, the card itself goes out again."""
    rt: Runtime = app.bot_data["rt"]
    payload = row.payload
    since = datetime.fromisoformat(payload["since"])
    async with rt.sessions() as session:
        # The card first, then the step: a card closed in between (its step done) is then
        # seen as done, never as a card gone with the step still open (a line alone).
        card = await newest_sent(session, row, Outbox.tag == "card", Outbox.closed_at.is_(None))
        done = await session.scalar(_FINISHED, {"si": row.step_instance_id})
        today = await newest_sent(session, row, Outbox.tag == "reminder", Outbox.sent_at >= since)
        # A step done while the reminder waited its turn (it was being sent, so its step's
        # closing could not drop it) gets no reminder. Unless an attempt before may have
        # gone through (a process killed mid-send, a time-out) as the card again, with
        # buttons, and nobody recorded it: the step's closing goes out instead, and its
        # send closes that twin (`close_orphans`).
        twin = done is not None and getattr(row, "uncertain", False) and "card" in payload
        params = {"si": row.step_instance_id, "chat": row.chat_id}
        closing = await session.scalar(_CLOSING, params) if twin else None
    if done is not None:
        if closing is None:
            return None
        msg = await app.bot.send_message(row.chat_id, fit(closing["text"], MAX_TEXT))
        await retag(app, row.id, "card")
        row.tag = "card"
        return msg.message_id
    if card is None and "card" not in payload:
        # The card it was to reply to was live when the reminder was written and has been
        # closed since (its step moved on): the line alone, not a reply.
        msg = await app.bot.send_message(row.chat_id, fit(payload["text"], MAX_TEXT))
        return msg.message_id
    if card is None:
        card_payload = payload["card"]
        msg = await app.bot.send_message(
            row.chat_id,
            fit(card_payload["text"], MAX_TEXT),
            reply_markup=markup(card_payload.get("buttons")),
        )
        await retag(app, row.id, "card")
        row.tag = "card"  # recorded as the card it now is (an uncertain one closes its twin)
        return msg.message_id
    if today is not None and not payload.get("asked"):
        await edit(app, row.chat_id, today, payload["text"], None)
        return today
    msg = await app.bot.send_message(
        row.chat_id,
        fit(payload["text"], MAX_TEXT),
        reply_parameters=ReplyParameters(card, allow_sending_without_reply=True),
    )
    return msg.message_id


_FINISHED = select(StepInstance.finished_at).where(StepInstance.id == bindparam("si"))
_CLOSING = (  # the closing a step's end queued for this chat (`notices.close_cards`)
    select(Outbox.payload)
    .where(
        Outbox.step_instance_id == bindparam("si"),
        Outbox.chat_id == bindparam("chat"),
        Outbox.method == "close_task",
    )
    .order_by(Outbox.id.desc())
    .limit(1)
)


async def newest_sent(session, row: Outbox, *which) -> int | None:  # type: ignore[no-untyped-def]
    """The newest message sent to this chat for this row's step that matches `which`."""
    return await session.scalar(
        select(Outbox.message_id)
        .where(
            Outbox.step_instance_id == row.step_instance_id,
            Outbox.chat_id == row.chat_id,
            Outbox.status == "sent",
            Outbox.message_id.is_not(None),
            *which,
        )
        .order_by(Outbox.id.desc())
        .limit(1)
    )


async def retag(app: Application, outbox_id: int, tag: str) -> None:
    rt: Runtime = app.bot_data["rt"]
    async with rt.sessions.begin() as session:
        await session.execute(update(Outbox).where(Outbox.id == outbox_id).values(tag=tag))
