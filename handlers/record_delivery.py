"""Sending the files the bot makes itself (records): called by the outbox for its
`send_record` and `send_photo` rows. Kept apart from handlers/records.py so the outbox
does not import the command handlers (which import the outbox)."""

from __future__ import annotations

import logging

from telegram import Message
from telegram.ext import Application

from bot.bounds import MAX_CAPTION, MAX_TEXT, fit
from bot.runtime import Runtime
from bot.services import record_files
from bot.services.common import ServiceError
from bot.texts import records as t
from storage.models import Outbox

log = logging.getLogger(__name__)


async def send_made(app: Application, row: Outbox) -> Message:
    rt: Runtime = app.bot_data["rt"]
    payload = row.payload
    if row.method == "send_photo":
        made = record_files.Made(payload["path"], "grafik.png", payload.get("caption", ""), True)
    else:
        try:
            made = await record_files.make(rt, payload)
        except ServiceError as exc:
            return await app.bot.send_message(row.chat_id, fit(exc.message, MAX_TEXT))
        except Exception:  # a bug in a record must not hold up the chat's other messages
            log.exception(
                "record %s of process %s failed", payload.get("record"), payload.get("process_id")
            )
            return await app.bot.send_message(row.chat_id, t.RECORD_FAILED)
    caption = fit(made.caption, MAX_CAPTION) or None
    with open(made.path, "rb") as fh:
        if made.photo:
            return await app.bot.send_photo(row.chat_id, fh, caption=caption)
        return await app.bot.send_document(
            row.chat_id, fh, filename=made.file_name, caption=caption
        )
