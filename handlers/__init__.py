"""Everything that imports Telegram. `register` wires the handlers in one place."""

from __future__ import annotations

from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from handlers import chat
from handlers.common import register_identify


def register(app: Application) -> None:
    register_identify(app)
    private = filters.ChatType.PRIVATE
    commands = {
        "start": chat.cmd_start,
        "mulai": chat.cmd_mulai,
        "tugas": chat.cmd_tugas,
        "status": chat.cmd_status,
        "bantuan": chat.cmd_help,
        "help": chat.cmd_help,
        "batal": chat.cmd_batal,
        "undang": chat.cmd_undang,
        "orang": chat.cmd_orang,
    }
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback, filters=private))
    app.add_handler(MessageHandler(private & filters.COMMAND, chat.cmd_unknown))
    app.add_handler(CallbackQueryHandler(chat.on_button))
    app.add_handler(MessageHandler(private & (filters.Document.ALL | filters.PHOTO), chat.on_file))
    app.add_handler(MessageHandler(private & filters.TEXT, chat.on_text))
    app.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.COMMAND, chat.on_other))
    app.add_error_handler(chat.on_error)
