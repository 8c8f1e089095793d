"""Pacing through python-telegram-bot against the fake Bot API with Telegram's flood limits
on: nothing is refused, one person is not held up, interactive replies overtake bulk."""

from __future__ import annotations

import asyncio

from telegram.ext import ExtBot

from handlers.pacing import BULK, PacedLimiter
from tests.fakebotapi import FakeBotApi

TOKEN = "777:PACING-token"


async def _bot(server: FakeBotApi, limiter: PacedLimiter) -> ExtBot:
    bot = ExtBot(TOKEN, base_url=server.base_url, rate_limiter=limiter)
    await bot.initialize()
    return bot


async def _bulk_send(bot: ExtBot, chat: int) -> None:
    BULK.set(True)  # this task only (gather copies the context)
    await bot.send_message(chat, "ringkasan")


async def test_bulk_and_bursts_get_no_429_and_replies_go_first() -> None:
    async with FakeBotApi(token=TOKEN, flood_limits=True) as server:
        chats = list(range(1000, 1050))
        for chat in [*chats, 1]:
            server.user(chat).mark_started()
        bot = await _bot(server, PacedLimiter())
        bulk = [asyncio.create_task(_bulk_send(bot, c)) for c in chats]
        await asyncio.sleep(0.2)
        for i in range(5):  # one person, five messages in a row, while the bulk runs
            await bot.send_message(1, f"balasan {i}")
        await asyncio.gather(*bulk)
        await bot.shutdown()
        assert server.flood_429s == 0
        order = [p["chat_id"] for m, p in server.calls if m.lower() == "sendmessage"]
        first_reply = order.index(1)
        assert first_reply < 31  # not behind the 50 bulk messages
        assert len(order) == 55


async def test_a_reply_on_an_idle_bot_goes_at_once() -> None:
    frozen = PacedLimiter(clock=lambda: 100.0)  # time never passes: any wait would hang
    for chat in ("a", "a", "a", *(str(i) for i in range(27))):
        await asyncio.wait_for(frozen.turn(chat), timeout=1)
