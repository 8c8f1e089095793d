"""Fake Telegram Bot API server for end-to-end tests of the bot.

Quick reference::

    server = FakeBotApi(token="123:ABC")
    await server.start()                       # random port on 127.0.0.1
    bot = Bot("123:ABC", base_url=server.base_url, base_file_url=server.file_base_url)
    budi = server.user(1001, "Budi")           # chat not started yet -> bot gets 403
    await budi.send("/start")                  # update for the bot
    msg = await budi.wait_for_text("Selamat datang")
    await budi.press(msg, "Setuju")            # callback_query update
    await budi.edit(msg_from_budi, "new text")   # edited_message update
    server.channel_post(-1001234567890, "news")  # channel_post update
    server.fail("sendMessage", status=502, times=2)
    server.flood_limits = True                 # Telegram-like 429s; see server.flood_429s
    await server.stop()

See :mod:`tests.fakebotapi.server` for details.
"""

from .server import ApiError, FakeBotApi, FakeUser, Fault, UploadedFile, WaitTimeout

__all__ = ["ApiError", "FakeBotApi", "FakeUser", "Fault", "UploadedFile", "WaitTimeout"]
