"""Running the bot: start-up with retries, then updates into the inbox (long polling or a
webhook) and out of it to the handlers, until SIGTERM/SIGINT.

We do not use PTB's Updater: it confirms an update to Telegram (the next getUpdates offset)
as soon as it has fetched it, before any handler ran, so a crash in between lost the press.
Here the offset moves only past updates committed to the inbox table.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import signal
import sys
from typing import Any

from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.ext import Application

from bot.runtime import Runtime
from handlers import inbox, outage, recording
from handlers.dispatcher import Dispatcher

log = logging.getLogger(__name__)

LONG_POLL = 25  # seconds Telegram may hold a getUpdates open
ALLOWED_UPDATES = list(inbox.HANDLED_KINDS)


async def _retry(what: str, call: Any, stop: asyncio.Event) -> bool:
    """Call until it works (Bot API or database hiccups at start must not stop the bot)."""
    delay = 1.0
    while not stop.is_set():
        try:
            await call()
            return True
        except InvalidToken:
            raise
        except Exception as exc:
            log.warning("%s gagal, dicoba lagi dalam %.0f detik: %s", what, delay, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)
    return False


async def poll(app: Application, dispatcher: Dispatcher, stop: asyncio.Event) -> None:
    rt: Runtime = app.bot_data["rt"]
    offset = await inbox.next_offset(rt)
    delay = 1.0
    while not stop.is_set():
        try:
            updates = await _get_updates(app, offset)
            delay = 1.0
        except InvalidToken:
            raise
        except (Conflict, TelegramError) as exc:  # 409: another poller; 5xx, time-outs
            log.warning("getUpdates gagal: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)
            continue
        if not updates:
            continue
        # Not past this line until stored: the next offset is what tells Telegram "received".
        if not await _store(app, dispatcher, updates, stop):
            return
        offset = int(updates[-1]["update_id"]) + 1


async def _get_updates(app: Application, offset: int | None) -> list[dict[str, Any]]:
    """getUpdates, kept as Telegram's JSON: that is what the inbox stores, and the
    dispatcher parses each update once when it handles it (`Bot.get_updates` parsed the
    batch into PTB objects only for us to turn them back into dicts)."""
    data = {"timeout": LONG_POLL, "offset": offset, "allowed_updates": ALLOWED_UPDATES}
    result = await app.bot._post("getUpdates", data, read_timeout=2 * LONG_POLL + 10)
    return [u for u in (result or []) if isinstance(u, dict) and "update_id" in u]


async def _store(
    app: Application, dispatcher: Dispatcher, batch: list[dict[str, Any]], stop: asyncio.Event
) -> bool:
    """Store a fetched batch, waiting for the database as long as it takes (Telegram keeps
    the updates meanwhile); the outage tracker logs it once, not every try."""
    rt: Runtime = app.bot_data["rt"]
    down = outage.of(app)
    delay = 0.5
    while not stop.is_set():
        try:
            await inbox.store(rt, batch, dispatcher)  # stored, claimed and handed out
            return True
        except Exception as exc:
            for data in batch:
                down.held_update(int(data["update_id"]), exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 5.0)
    return False


def webhook_app(app: Application, dispatcher: Dispatcher, secret: str | None, path: str):  # type: ignore[no-untyped-def]
    """A tornado app that answers 200 only once the update is stored (else Telegram retries)."""
    import tornado.web

    rt: Runtime = app.bot_data["rt"]

    class UpdateHandler(tornado.web.RequestHandler):
        async def post(self) -> None:
            given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token")
            if secret and given != secret:
                self.set_status(403)
                return
            try:
                data = json.loads(self.request.body)
                assert isinstance(data, dict) and isinstance(data.get("update_id"), int)
            except (ValueError, AssertionError):
                self.set_status(400)
                return
            try:
                await inbox.store(rt, [data], dispatcher)
            except Exception as exc:  # logged once per outage by the tracker
                outage.of(app).held_update(data["update_id"], exc)
                self.set_status(503)  # not stored: Telegram delivers it again later
                return
            self.set_status(200)

    return tornado.web.Application([(f"/{path.lstrip('/')}", UpdateHandler)])


def _no_sniffio() -> None:
    """httpcore imports `sniffio` on every Bot API request to learn the async library; not
    installed, each try searched sys.path again (2-3% of the CPU of an update in a py-spy
    profile). Its answer without sniffio is "asyncio" (anyio's too): say so once."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]  # import fails at once


def _where(task: asyncio.Task) -> str:
    frames = task.get_stack(limit=30)
    return " <- ".join(f"{f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno}" for f in frames)


async def serve(app: Application, *, receive: bool = True) -> None:
    """The whole life of `python -m bot run`. `receive=False` (a worker): no polling or
    webhook; it handles what the receiving process stored, and runs the jobs."""
    rt: Runtime = app.bot_data["rt"]
    s = rt.settings
    _no_sniffio()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not await _retry("menghubungi Bot API (getMe)", app.initialize, stop):
        return
    if app.post_init:
        await app.post_init(app)
    await app.start()
    dispatcher = Dispatcher(app)
    app.bot_data["inbox"] = dispatcher
    tasks = [asyncio.create_task(dispatcher.run(), name="inbox")]
    server = None
    if receive and s.webhook_url:
        secret = s.webhook_secret.get_secret_value() if s.webhook_secret else None
        path = s.webhook_url.rsplit("/", 1)[-1]
        server = webhook_app(app, dispatcher, secret, path).listen(
            s.webhook_port, address=s.webhook_listen
        )
        await _retry(
            "setWebhook",
            lambda: app.bot.set_webhook(
                s.webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
            ),
            stop,
        )
    elif receive:
        await _retry("deleteWebhook", app.bot.delete_webhook, stop)
        tasks.append(asyncio.create_task(poll(app, dispatcher, stop), name="poll"))
    mode = "pekerja" if not receive else "webhook" if s.webhook_url else "long polling"
    log.info("bot berjalan (%s)", mode)
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not stopped and task.exception() is not None:
            log.error("bot berhenti: %s", task.exception())
    for task in [stopped, *tasks]:
        task.cancel()
    for task in dispatcher.in_flight():  # say what was still being handled, and where
        log.warning("berhenti saat update masih ditangani: %s", _where(task))
    if server is not None:
        server.stop()
    await app.stop()
    with contextlib.suppress(Exception):  # replies sent and held for recording: record them
        await recording.record_unrecorded(app)  # (else sent again after the restart)
    await app.shutdown()
