"""Commands, buttons, text answers and files. Thin: build input, call a service, commit,
answer the person; everything others must be told goes through the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from telegram import Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError

from bot import texts
from bot.people import PeopleError, accept_invite, create_invite
from bot.services import acting, reports, routing, starting, uploads
from bot.services import common as svc
from bot.services.common import Reply, ServiceError
from bot.sop.model import IMAGE_TYPES, KNOWN_TYPES
from handlers.common import CALLBACK_PREFIX, BotContext, kick_outbox, markup
from storage.models import Outbox, Process

log = logging.getLogger(__name__)

MIME_EXT = {
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "image/jpeg": "jpg",
    "image/png": "png",
}
ALREADY = (
    "Tombol ini sudah diproses oleh orang lain barusan. Ketik /tugas untuk melihat tugas Anda."
)


async def _reply(update: Update, context: BotContext, text: str) -> None:
    """Answer now; if the Bot API hiccups, the outbox delivers it (nothing said is lost)."""
    message = update.effective_message
    if message is None:
        return
    try:
        await message.reply_text(text)
    except (NetworkError, RetryAfter) as exc:
        log.info("direct reply failed, queued instead: %s", exc)
        await _queue(context, message.chat_id, "send_message", {"text": text})


async def _queue(context: BotContext, chat_id: int, method: str, payload: dict) -> None:
    rt = context.rt
    async with rt.sessions.begin() as session:
        svc.enqueue(session, rt.clock.now(), chat_id, method, payload)


async def _run(update: Update, context: BotContext, work) -> Reply | None:  # type: ignore[no-untyped-def]
    """One short transaction; refusals become a clear message and change nothing."""
    rt = context.rt
    now = rt.clock.now()
    try:
        async with rt.sessions.begin() as session:
            reply = await work(session, now)
            if reply is not None and reply.message and update.effective_chat:
                svc.send(
                    session, now, update.effective_chat.id, reply.message, reply.message_buttons
                )
    except ServiceError as exc:
        return _refused(exc.message)
    except PeopleError as exc:
        return _refused(exc.message)
    except StaleDataError:
        return _refused(ALREADY)
    kick_outbox(context)
    return reply


def _refused(message: str) -> Reply:
    return Reply(message, refused=True)


def _is_refused(reply: Reply | None) -> bool:
    return reply is not None and reply.refused


# --- commands ------------------------------------------------------------------------------


async def cmd_start(update: Update, context: BotContext) -> None:
    args = context.args or []
    user = update.effective_user
    assert user is not None
    if args:  # an invitation (also how someone gets an extra role or a Plt/Plh stand-in)
        code = args[0]

        async def work(session, now):  # type: ignore[no-untyped-def]
            person, role = await accept_invite(session, now, code, user.id, user.full_name)
            svc.audit(session, now, person.id, "undangan_diterima", detail=role)
            return Reply(
                f"Selamat datang, {person.name}! Anda terdaftar sebagai "
                f"{texts.role_name(None, role)}. Tugas Anda akan datang di chat ini. "
                "Ketik /bantuan untuk melihat perintah."
            )

        reply = await _run(update, context, work)
        if reply is not None:
            await _reply(update, context, reply.text)
        return
    if context.actor is None:
        await _reply(update, context, texts.STRANGER)
        return
    await _reply(update, context, reports.help_text(context.rt, context.actor))


async def cmd_help(update: Update, context: BotContext) -> None:
    assert context.actor is not None
    await _reply(update, context, reports.help_text(context.rt, context.actor))


async def cmd_mulai(update: Update, context: BotContext) -> None:
    actor = context.actor
    assert actor is not None
    reply = await _run(update, context, lambda s, now: starting.begin(context.rt, s, now, actor))
    if _is_refused(reply):
        await _reply(update, context, reply.text)  # type: ignore[union-attr]


async def cmd_tugas(update: Update, context: BotContext) -> None:
    actor = context.actor
    assert actor is not None
    count = 0

    async def work(session, now):  # type: ignore[no-untyped-def]
        nonlocal count
        count = await reports.queue_open_tasks(context.rt, session, now, actor)
        return None

    await _run(update, context, work)
    if count == 0:
        await _reply(update, context, "Tidak ada tugas terbuka untuk Anda saat ini. 👍")
    else:
        await _reply(update, context, f"Anda punya {count} tugas terbuka:")


async def cmd_status(update: Update, context: BotContext) -> None:
    rt = context.rt
    args = context.args or []
    async with rt.sessions() as session:
        if args:
            key = args[0].lstrip("#")
            process = (
                await session.get(Process, int(key)) if key.isdigit() and len(key) < 10 else None
            )
            if process is None:
                await _reply(update, context, f"Proses #{key} tidak ditemukan. Ketik /status.")
                return
            await _reply(update, context, await reports.status_text(rt, session, process))
            return
        running = await reports.running_processes(session)
        if not running:
            await _reply(update, context, "Tidak ada proses yang sedang berjalan.")
            return
        for process in running[:5]:
            await _reply(update, context, await reports.status_text(rt, session, process))
        if len(running) > 5:
            rest = ", ".join(f"#{p.id} {p.title}" for p in running[5:])
            await _reply(
                update, context, f"Proses lain: {rest}. Ketik /status NOMOR untuk rinciannya."
            )


async def cmd_batal(update: Update, context: BotContext) -> None:
    actor = context.actor
    assert actor is not None
    reply = await _run(update, context, lambda s, now: acting.cancel_prompt(s, actor))
    if reply is not None:
        await _reply(update, context, reply.text)


async def cmd_undang(update: Update, context: BotContext) -> None:
    actor, rt = context.actor, context.rt
    if actor is None or not actor.is_admin:
        await _reply(update, context, "Maaf, /undang hanya untuk admin.")
        return
    codes = rt.sops.role_codes()
    role = (context.args or [""])[0].strip().lower()
    if role not in codes:
        await _reply(
            update, context, f"Tulis perannya: /undang PERAN. Peran yang ada: {', '.join(codes)}."
        )
        return
    user = update.effective_user
    assert user is not None
    async with rt.sessions.begin() as session:
        now = rt.clock.now()
        invite = await create_invite(
            session, now, user.id, role, timedelta(hours=rt.settings.invite_ttl_hours)
        )
        svc.audit(session, now, actor.id, "undangan_dibuat", detail=role)
    link = f"https://t.me/{context.bot.username}?start={invite.code}"
    await _reply(
        update,
        context,
        f"Tautan undangan untuk {codes[role]} (sekali pakai, berlaku "
        f"{rt.settings.invite_ttl_hours:g} jam):\n{link}\n\n"
        "Kirimkan kepada orangnya; ia cukup membuka tautan dan menekan Start.",
    )


async def cmd_orang(update: Update, context: BotContext) -> None:
    actor, rt = context.actor, context.rt
    if actor is None or not actor.is_admin:
        await _reply(update, context, "Maaf, /orang hanya untuk admin.")
        return
    async with rt.sessions() as session:
        await _reply(update, context, await reports.people_text(rt, session))


async def cmd_unknown(update: Update, context: BotContext) -> None:
    await _reply(update, context, texts.UNKNOWN_COMMAND)


# --- buttons -------------------------------------------------------------------------------


async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    actor = context.actor
    data = query.data or ""
    if actor is None or not data.startswith(CALLBACK_PREFIX) or len(data) > 64:
        await query.answer(texts.UNKNOWN_BUTTON, show_alert=True)
        return
    token = data[len(CALLBACK_PREFIX) :]
    reply = await _run(
        update, context, lambda s, now: routing.press(context.rt, s, now, actor, token)
    )
    assert reply is not None
    if _is_refused(reply):
        await query.answer(reply.text, show_alert=True)
        return
    try:
        await query.answer(reply.text)
    except TelegramError as exc:  # the toast is a courtesy; the outcome is saved
        log.info("could not answer callback: %s", exc)
    if reply.edit and query.message is not None:
        try:
            await query.edit_message_text(reply.edit, reply_markup=markup(reply.edit_buttons))
        except (NetworkError, RetryAfter) as exc:
            # Let the outbox finish the edit, so the pressed buttons still go away.
            log.info("edit of pressed message queued: %s", exc)
            await _queue(
                context,
                query.message.chat.id,
                "edit_message",
                {
                    "message_id": query.message.message_id,
                    "text": reply.edit,
                    "buttons": reply.edit_buttons,
                },
            )
        except TelegramError as exc:  # e.g. the message is too old to edit
            log.info("could not edit pressed message: %s", exc)


# --- text answers ----------------------------------------------------------------------------


async def on_text(update: Update, context: BotContext) -> None:
    actor = context.actor
    message = update.effective_message
    assert actor is not None and message is not None
    text = message.text or ""
    reply = await _run(
        update, context, lambda s, now: routing.answer_text(context.rt, s, now, actor, text)
    )
    if reply is not None and reply.text:
        await _reply(update, context, reply.text)


# --- files ---------------------------------------------------------------------------------


def _extension(name: str | None, mime: str | None) -> str:
    suffix = Path(name or "").suffix.lower().lstrip(".")
    if suffix in KNOWN_TYPES:
        return "jpg" if suffix == "jpeg" else suffix
    return MIME_EXT.get(mime or "", suffix)


async def on_file(update: Update, context: BotContext) -> None:
    rt, actor = context.rt, context.actor
    message = update.effective_message
    assert actor is not None and message is not None
    is_photo = bool(message.photo)
    if is_photo:
        photo = message.photo[-1]
        file_id, size, name, mime = photo.file_id, photo.file_size or 0, None, "image/jpeg"
        ext = "jpg"
        name = f"foto_{message.message_id}.jpg"
    elif message.document is not None:
        doc = message.document
        file_id, size, name, mime = doc.file_id, doc.file_size or 0, doc.file_name, doc.mime_type
        ext = _extension(name, mime)
        name = name or f"dokumen_{message.message_id}.{ext}"
    else:
        await _reply(
            update,
            context,
            "Kirim dokumen sebagai file (📎 → File). Format: " + texts.ACCEPTED_HINT,
        )
        return
    if size > rt.settings.max_download_bytes:
        await _reply(
            update,
            context,
            f"Ukuran file {size / 1048576:.1f} MB melebihi batas "
            f"{rt.settings.telegram_max_download_mb} MB yang dapat diunduh bot dari Telegram. "
            "Perkecil/kompres file lalu kirim lagi "
            "(admin dapat menaikkan batas dengan server Bot API sendiri).",
        )
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
        await _reply(update, context, exc.message)
        return
    accepted = target.accepted or KNOWN_TYPES
    if target.kind in ("mulai", "revisi"):
        accepted = KNOWN_TYPES
    if is_photo and not any(a in IMAGE_TYPES for a in accepted):
        await _reply(
            update,
            context,
            "Langkah ini memerlukan dokumen, bukan foto. Kirim sebagai file (📎 → File).",
        )
        return
    if ext not in accepted:
        names = ", ".join(a.upper() for a in accepted)
        await _reply(
            update,
            context,
            f"Jenis file .{ext or '?'} tidak diterima di sini. Kirim sebagai: {names}.",
        )
        return
    try:
        stored = await _download(context, file_id, name, mime, ext)
    except (TelegramError, OSError) as exc:
        log.warning("download failed: %s", exc)
        await _reply(
            update, context, "File gagal diunduh dari Telegram. Silakan kirim ulang sebentar lagi."
        )
        return

    async def work(session, now):  # type: ignore[no-untyped-def]
        match target.kind:
            case "mulai":
                return await starting.attach_surat_edaran(rt, session, now, actor, stored)
            case "revisi":
                return await uploads.receive_revision_file(
                    rt, session, now, actor, target.step_instance_id or 0, stored, message.caption
                )
            case "ask":
                return await uploads.ask_upload_step(session, now, actor, target, stored)
        return await uploads.receive_upload(
            rt, session, now, actor, target.step_instance_id or 0, stored
        )

    reply = await _run(update, context, work)
    # A reply that queued its own message (e.g. "which task is this for?") says nothing more.
    if reply is not None and reply.text and (reply.refused or not reply.message):
        await _reply(update, context, reply.text)


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


async def _download(
    context: BotContext, file_id: str, name: str, mime: str | None, ext: str
) -> svc.FileIn:
    """Keep our own copy, content-addressed by sha256: a new version never overwrites."""
    data = await _fetch(context, file_id)
    digest = hashlib.sha256(data).hexdigest()
    folder = context.rt.settings.files_dir / digest[:2]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.{ext}"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return svc.FileIn(name, mime, len(data), digest, file_id, str(path))


async def on_other(update: Update, context: BotContext) -> None:
    """Stickers, voice notes, locations...: say what the bot understands."""
    await _reply(
        update,
        context,
        "Maaf, bot hanya memahami perintah, tombol, teks jawaban, dan dokumen "
        f"({texts.ACCEPTED_HINT}). Ketik /bantuan.",
    )


async def on_error(update: object, context: BotContext) -> None:
    """Anything unexpected: log it (the token is redacted) and tell the person, politely."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                update.effective_chat.id,
                "Maaf, terjadi gangguan saat memproses pesan Anda; tidak ada yang berubah. "
                "Silakan coba lagi sebentar lagi.",
            )
