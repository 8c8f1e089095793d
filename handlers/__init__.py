"""Everything that imports Telegram. `register` wires the handlers in one place."""

from __future__ import annotations

from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from handlers import admin, chat, commands, files
from handlers import records as record_handlers
from handlers.common import register_identify


def register(app: Application) -> None:
    register_identify(app)
    # New messages in private chats only: edits, channel posts and groups are ignored.
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    named = {
        "start": commands.cmd_start,
        "mulai": commands.cmd_mulai,
        "tugas": commands.cmd_tugas,
        "status": commands.cmd_status,
        "catatan": commands.cmd_catatan,
        "bantuan": commands.cmd_help,
        "help": commands.cmd_help,
        "batal": commands.cmd_batal,
        "batalkan": commands.cmd_batalkan,
        "undang": commands.cmd_undang,
        "orang": commands.cmd_orang,
        "plh": admin.cmd_plh,
    }
    for name, callback in named.items():
        app.add_handler(CommandHandler(name, callback, filters=private))
    for name, callback in record_handlers.COMMANDS.items():  # /riwayat, /rekap, /arsip
        app.add_handler(CommandHandler(name, callback, filters=private))
    app.add_handler(MessageHandler(private & filters.COMMAND, commands.cmd_unknown))
    app.add_handler(CallbackQueryHandler(chat.on_button))
    app.add_handler(MessageHandler(private & (filters.Document.ALL | filters.PHOTO), files.on_file))
    app.add_handler(MessageHandler(private & filters.VOICE, files.on_voice))
    app.add_handler(MessageHandler(private & filters.TEXT, chat.on_text))
    app.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.COMMAND, chat.on_other))
    app.add_error_handler(chat.on_error)
