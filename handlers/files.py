"""Files: checked by content (not by the name or type the sender claims), kept under
FILES_DIR content-addressed by sha256, then handed to the use case the file is for."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import mimetypes
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from telegram import Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError

from bot import filecheck, texts
from bot.bounds import clean_file_name, clean_note
from bot.services import starting, uploads
from bot.services.common import FileIn, ServiceError
from bot.services.outgoing import enqueue
from bot.sop.model import IMAGE_TYPES, KNOWN_TYPES
from handlers.common import BotContext
from handlers.respond import act, say
from storage.models import Outbox

log = logging.getLogger(__name__)
DISK_ALERT_EVERY = 3600.0  # seconds: admins hear of a disk fault once, not per file


class DiskError(Exception):
    pass


async def on_file(update: Update, context: BotContext) -> None:
    rt, actor = context.rt, context.actor
    message = update.effective_message
    assert actor is not None and message is not None
    if message.photo:
        photo = message.photo[-1]
        file_id, size, claimed = photo.file_id, photo.file_size, "foto.jpg"
    else:
        assert message.document is not None
        doc = message.document
        file_id, size, claimed = doc.file_id, doc.file_size, doc.file_name or ""
    if size == 0:
        await say(update, context, texts.EMPTY_FILE)
        return
    if (size or 0) > rt.settings.max_download_bytes:
        await say(update, context, texts.too_big(size or 0, rt.settings.telegram_max_download_mb))
        return
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    try:
        async with rt.sessions() as session:
            task_si = None
            if reply_to is not None:
                task_si = await session.scalar(
                    select(Outbox.step_instance_id).where(
                        Outbox.chat_id == message.chat_id, Outbox.message_id == reply_to
                    )
                )
            target = await uploads.upload_target(rt, session, actor, task_si)
    except ServiceError as exc:
        await say(update, context, exc.message)
        return
    accepted = KNOWN_TYPES if target.kind in ("mulai", "revisi") else target.accepted
    if message.photo and not any(a in IMAGE_TYPES for a in accepted):
        await say(update, context, texts.PHOTO_NOT_DOCUMENT)
        return
    data = await _download(update, context, file_id)
    if data is None:
        return
    claimed_ext = Path(claimed).suffix.lower().lstrip(".")
    ext, refusal = filecheck.check(data, claimed_ext, tuple(accepted))
    if refusal is not None or ext is None:
        await say(update, context, refusal or texts.EMPTY_FILE)
        return
    if message.photo:  # a photo has no name: call it what it is, and when
        day = rt.clock.now().astimezone(ZoneInfo(rt.settings.timezone)).date().isoformat()
        claimed = f"{target.label} {day}.jpg"
    name = clean_file_name(claimed, ext, fallback=f"dokumen_{message.message_id}")
    stored = await _store(update, context, data, name, ext, file_id)
    if stored is None:
        return
    caption = clean_note(message.caption)

    async def work(session, now):  # type: ignore[no-untyped-def]
        match target.kind:
            case "mulai":
                return await starting.attach_surat_edaran(rt, session, now, actor, stored)
            case "revisi":
                si_id = target.step_instance_id or 0
                return await uploads.receive_revision_file(
                    rt, session, now, actor, si_id, stored, caption
                )
            case "ask":
                return await uploads.ask_upload_step(session, now, actor, target, stored)
        si_id = target.step_instance_id or 0
        return await uploads.receive_upload(rt, session, now, actor, si_id, stored, caption)

    await act(update, context, work)


async def _fetch(context: BotContext, file_id: str, attempts: int = 4) -> bytes:
    """A short outage of the Bot API should not make people send their file again."""
    for attempt in range(attempts):
        try:
            tg_file = await context.bot.get_file(file_id)
            return bytes(await tg_file.download_as_bytearray())
        except (NetworkError, RetryAfter) as exc:
            if attempt == attempts - 1 or isinstance(exc, BadRequest):
                raise
            await asyncio.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def _keep(files_dir: Path, data: bytes, name: str, ext: str, file_id: str) -> FileIn:
    """Our own copy, content-addressed: a new version never overwrites, a half-written file
    never stays behind."""
    digest = hashlib.sha256(data).hexdigest()
    path = files_dir / digest[:2] / f"{digest}.{ext}"
    tmp = path.with_name(f".{digest}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp.write_bytes(data)
            tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise DiskError(f"{type(exc).__name__}: {exc}") from exc
    mime = mimetypes.guess_type(f"x.{ext}")[0]
    return FileIn(name, mime, len(data), digest, file_id, str(path))


async def _disk_fault(context: BotContext, error: str) -> None:
    log.error("files could not be stored under FILES_DIR: %s", error)
    rt = context.rt
    loop = asyncio.get_running_loop()
    last = context.application.bot_data.get("disk_alert_at")
    if last is not None and loop.time() - last < DISK_ALERT_EVERY:
        return
    context.application.bot_data["disk_alert_at"] = loop.time()
    async with rt.sessions.begin() as session:
        for admin in rt.settings.admin_ids:
            enqueue(
                session, rt.clock.now(), admin, "send_message", {"text": texts.disk_alert(error)}
            )


async def on_voice(update: Update, context: BotContext) -> None:
    """A voice note, wherever a note is asked for: kept (OGG, checked by content) and sent on."""
    rt, actor = context.rt, context.actor
    message = update.effective_message
    assert actor is not None and message is not None and message.voice is not None
    voice = message.voice
    if (voice.file_size or 0) > rt.settings.max_download_bytes:
        limit = rt.settings.telegram_max_download_mb
        await say(update, context, texts.too_big(voice.file_size or 0, limit))
        return
    data = await _download(update, context, voice.file_id)
    if data is None:
        return
    if not data.startswith(b"OggS"):  # Telegram's voice notes are OGG/Opus
        await say(update, context, texts.VOICE_WHERE)
        return
    name = f"pesan_suara_{message.message_id}.ogg"
    stored = await _store(update, context, data, name, "ogg", voice.file_id)
    if stored is None:
        return
    duration = voice.duration
    seconds = int(duration.total_seconds() if hasattr(duration, "total_seconds") else duration)
    await act(
        update, context, lambda s, now: uploads.receive_voice(rt, s, now, actor, stored, seconds)
    )


async def _download(update: Update, context: BotContext, file_id: str) -> bytes | None:
    """The file's bytes, or None after telling the person it failed (never hangs)."""
    try:
        return await asyncio.wait_for(
            _fetch(context, file_id), timeout=context.rt.settings.download_timeout_seconds
        )
    except (TelegramError, TimeoutError, OSError) as exc:
        log.warning("download failed: %r", exc)
        await say(update, context, texts.DOWNLOAD_FAILED)
        return None


async def _store(
    update: Update, context: BotContext, data: bytes, name: str, ext: str, file_id: str
) -> FileIn | None:
    """Our copy under FILES_DIR, or None after telling the person and the admins."""
    try:
        return await asyncio.to_thread(
            _keep, context.rt.settings.files_dir, data, name, ext, file_id
        )
    except DiskError as exc:
        await _disk_fault(context, str(exc))
        await say(update, context, texts.DISK_ERROR)
        return None
