"""The yardstick: a bare python-telegram-bot bot that makes the same Bot API calls as ours.

No database, no pacing, PTB's own Updater (long polling). For each load it answers with the
calls the project makes, so the ratio measures only what the project adds:

* `/tugas` -> two messages (the header and a card with buttons), like /tugas with one task;
* `/satu`  -> one message (the one-message reply);
* `/kartu N` -> N cards with a ✅ Selesai button (set-up of the hand-off load);
* a press -> answer the callback, edit the pressed card without buttons, and send the next
  person (HANDOFF_TO) a card: a hand-off.

Run by bench/stack.py with TELEGRAM_BOT_TOKEN, TELEGRAM_API_BASE_URL, TELEGRAM_FILE_BASE_URL.
"""

from __future__ import annotations

import os

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

CARD = (
    "📋 #1 Bench · SOP 370\nLangkah 2: Disposisi kepada Jafung\n"
    "⏱ Tenggat 23 Nov 09.05 WITA (5 menit)\n➡️ Tekan ✅ Selesai untuk meneruskan."
)
BUTTONS = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("✅ Selesai", callback_data="t:selesai00000"),
            InlineKeyboardButton("📝 Tambah catatan", callback_data="t:catatan00000"),
        ],
        [InlineKeyboardButton("ℹ️ Rincian", callback_data="t:rincian00000")],
    ]
)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None or not message.text:
        return
    command, *args = message.text.split()
    if command == "/tugas":
        await message.reply_text("Ada 1 tugas terbuka untuk Bapak/Ibu:")
        await message.reply_text(CARD, reply_markup=BUTTONS)
    elif command == "/satu":
        await message.reply_text("Tidak ada tugas terbuka untuk Bapak/Ibu saat ini. 👍")
    elif command == "/kartu":
        for _ in range(int(args[0]) if args else 1):
            await message.reply_text(CARD, reply_markup=BUTTONS)


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.message is not None
    await query.answer("✅ Diteruskan.")
    await query.edit_message_text("✅ Diteruskan oleh Bu Sekretaris.")
    await context.bot.send_message(int(os.environ["HANDOFF_TO"]), CARD, reply_markup=BUTTONS)


def main() -> None:
    app = (
        Application.builder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ["TELEGRAM_API_BASE_URL"])
        .base_file_url(os.environ["TELEGRAM_FILE_BASE_URL"])
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, on_text))
    app.add_handler(CallbackQueryHandler(on_press))
    app.run_polling(poll_interval=0.0, timeout=25, allowed_updates=["message", "callback_query"])


if __name__ == "__main__":
    main()
