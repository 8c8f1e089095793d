"""Builds the python-telegram-bot Application: handlers, lifecycle hooks, the periodic tick."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from datetime import timedelta

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes
from telegram.request import BaseRequest

import handlers
from bot import ops, texts
from bot.runtime import Runtime
from bot.services import reminders, standins
from handlers import inbox, outage
from handlers.common import BotContext
from handlers.outbox import deliver
from handlers.pacing import PacedLimiter

log = logging.getLogger(__name__)
PROCESS = f"{socket.gethostname()}:{os.getpid()}"[:100]  # this process's heartbeat row


async def tick(context: BotContext) -> None:
    """Every SCAN_INTERVAL_SECONDS: what is due in the database goes out, and this process
    records that it scanned (`python -m bot health` reads it; every few ticks)."""
    rt = context.rt
    app = context.application
    now = rt.clock.now()
    down = outage.of(app)
    # Plh/Plt starting or ending today hand the open tasks over first: the reminders and
    # the morning digest of the same tick then go to whoever holds the work now.
    try:
        async with rt.sessions.begin() as session:
            await standins.apply(rt, session, now)
    except outage.DATABASE_DOWN as exc:
        down.failed_tick(exc)
        return
    except Exception:  # reminders and the outbox below go on
        log.exception("stand-in scan failed")
    try:
        await reminders.scan(rt, now)
    except outage.DATABASE_DOWN as exc:  # logged once per outage, not every tick
        down.failed_tick(exc)
        return
    except Exception:  # one bad row must not stop the outbox below
        log.exception("reminder scan failed")
    data = app.bot_data
    try:
        await deliver(app)
        if now >= data.get("beat_at", now):  # not every tick: see `ops.heartbeat_every`
            async with rt.sessions.begin() as session:
                await ops.record_scan(session, PROCESS, rt.clock.now())
            data["beat_at"] = now + timedelta(
                seconds=ops.heartbeat_every(rt.settings.scan_interval_seconds)
            )
    except outage.DATABASE_DOWN as exc:
        down.failed_tick(exc)
        return
    down.back()
    if now >= data.get("forget_at", now):
        data["forget_at"] = now + timedelta(hours=1)
        with contextlib.suppress(Exception):  # housekeeping; tried again in an hour
            await inbox.forget_old(rt, now)
            async with rt.sessions.begin() as session:
                await ops.forget_heartbeats(session, now)


async def _post_init(app: Application) -> None:
    rt: Runtime = app.bot_data["rt"]
    try:
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in texts.COMMANDS])
        for admin in rt.settings.admin_ids:
            commands = texts.COMMANDS + texts.ADMIN_COMMANDS
            with contextlib.suppress(TelegramError):  # the admin has not pressed Start yet
                await app.bot.set_my_commands(
                    [BotCommand(c, d) for c, d in commands], scope=BotCommandScopeChat(admin)
                )
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)


def build_app(rt: Runtime, request: BaseRequest | None = None, *, jobs: bool = True) -> Application:
    """`jobs`: run the periodic tick (due reminders, digest, outbox) in this process."""
    s = rt.settings
    assert s.telegram_bot_token is not None
    builder = (
        Application.builder()
        .token(s.telegram_bot_token.get_secret_value())
        .base_url(s.telegram_api_base_url)
        .base_file_url(s.telegram_file_base_url)
        .local_mode(s.telegram_local_mode)
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(False)
        .updater(None)  # updates come through our durable inbox (handlers/inbox.py)
        .post_init(_post_init)
    )
    if s.send_pacing:  # per bot and per chat; 429s are retried by the outbox itself
        builder = builder.rate_limiter(PacedLimiter())
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        builder = builder.media_write_timeout(s.file_upload_timeout_seconds)
    app = builder.build()
    app.bot_data["rt"] = rt
    handlers.register(app)
    if jobs and app.job_queue is not None:
        app.job_queue.run_repeating(
            tick,
            interval=s.scan_interval_seconds,
            first=0.5,
            name="tick",
            job_kwargs={"max_instances": 1, "coalesce": True},
        )
    return app
