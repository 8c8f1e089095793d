"""Webhook mode: an update is answered 200 only once stored; a repeat is handled once."""

from __future__ import annotations

import asyncio
import socket

import aiohttp

from tests.e2e.conftest import launch_webhook
from tests.fakebotapi import FakeBotApi

SECRET = "rahasia-webhook-123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(update_id: int, uid: int, text: str) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": uid, "type": "private", "first_name": "Kadis"},
            "from": {"id": uid, "is_bot": False, "first_name": "Kadis"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def test_webhook_stores_before_200_and_handles_a_repeat_once(
    server: FakeBotApi, tmp_path
) -> None:
    port = _free_port()
    public = "https://bot.disperindag.example/hook"  # TLS ends at the office's proxy
    url = f"http://127.0.0.1:{port}/hook"
    bot = await launch_webhook(server, tmp_path, public, port, SECRET)
    try:
        kadis = server.user(101, "Pak Kadis")
        kadis.mark_started()
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with aiohttp.ClientSession() as http:
            for _ in range(60):  # the bot sets its webhook once it is up
                if server.webhook_url == public:
                    break
                await asyncio.sleep(0.5)
            assert server.webhook_url == public
            wrong = await http.post(url, json=_command(1, 101, "/bantuan"))
            assert wrong.status == 403
            for _ in range(2):  # Telegram retries when it did not see the 200 in time
                answer = await http.post(url, json=_command(2, 101, "/bantuan"), headers=headers)
                assert answer.status == 200
            await kadis.wait_for_text("Perintah", timeout=15)
            await asyncio.sleep(1.0)
            assert sum("Perintah" in (m.get("text") or "") for m in kadis.messages) == 1
            bad = await http.post(url, data=b"bukan json", headers=headers)
            assert bad.status == 400
    finally:
        bot.stop()
