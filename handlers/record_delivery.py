"""Sending the files the bot makes itself (records): called by the outbox for its
`send_record` and `send_photo` rows. Kept apart from handlers/records.py so the outbox
does not import the command handlers (which import the outbox)."""

from __future__ import annotations

import logging
import os

from telegram import Message
from telegram.ext import Application

from bot.bounds import MAX_CAPTION, MAX_TEXT, fit
from bot.runtime import Runtime
from bot.services import record_files
from bot.services.common import ServiceError
from bot.texts import records as t
from handlers.sends import file_wait
from storage.models import Outbox

log = logging.getLogger(__name__)
UPLOAD_CLOUD = 50 * 1024 * 1024  # what a bot may upload through the cloud Bot API
UPLOAD_LOCAL = 2000 * 1024 * 1024  # through a self-hosted server in --local mode


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
    size = os.path.getsize(made.path)
    if size > (UPLOAD_LOCAL if rt.settings.telegram_local_mode else UPLOAD_CLOUD):
        # Telegram would refuse it; it stays kept under FILES_DIR for the admin.
        text = t.too_big_to_send(made.file_name, size, made.path)
        return await app.bot.send_message(row.chat_id, fit(text, MAX_TEXT))
    caption = fit(made.caption, MAX_CAPTION) or None
    wait = file_wait(app)
    with open(made.path, "rb") as fh:
        if made.photo:
            return await app.bot.send_photo(row.chat_id, fh, caption=caption, read_timeout=wait)
        return await app.bot.send_document(
            row.chat_id, fh, filename=made.file_name, caption=caption, read_timeout=wait
        )
