"""Slash commands. Every argument parse is total: any input gets an answer, never a trace."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InputFile, Update

from bot import texts
from bot.people import accept_invite, create_invite
from bot.services import acting, cancelling, reports, starting
from bot.services.common import Reply, audit
from bot.services.invites import tell_admins
from handlers.common import BotContext
from handlers.records import say_status
from handlers.respond import act, say
from storage.models import Process

_PROCESS_NO = re.compile(r"#?([0-9]{1,9})")  # ASCII digits only: "²".isdigit() is True


async def _named_process(session: AsyncSession, context: BotContext) -> Process | None:
    """The process `/perintah N` names, or None for no, a malformed or an unknown number."""
    args = context.args or []
    match = _PROCESS_NO.fullmatch(args[0]) if args else None
    return await session.get(Process, int(match.group(1))) if match else None


async def cmd_start(update: Update, context: BotContext) -> None:
    args = context.args or []
    user = update.effective_user
    assert user is not None
    if args:  # an invitation (also how someone gets an extra role or a Plt/Plh stand-in)
        code = args[0][:64]

        async def work(session, now):  # type: ignore[no-untyped-def]
            person, role = await accept_invite(session, now, code, user.id, user.full_name)
            audit(session, now, person.id, "undangan_diterima", detail=role)
            await tell_admins(context.rt, session, now, code, person, role)
            return Reply(texts.welcome(person.name, texts.role_name(None, role)))

        await act(update, context, work)
        return
    if context.actor is None:
        await say(update, context, texts.STRANGER)
        return
    await say(update, context, reports.help_text(context.rt, context.actor))


async def cmd_help(update: Update, context: BotContext) -> None:
    assert context.actor is not None
    await say(update, context, reports.help_text(context.rt, context.actor))


async def cmd_mulai(update: Update, context: BotContext) -> None:
    actor = context.actor
    assert actor is not None
    await act(update, context, lambda s, now: starting.begin(context.rt, s, now, actor))


async def cmd_batalkan(update: Update, context: BotContext) -> None:
    """/batalkan N: asks the reason, then stops process N (starter, Kadis or admin)."""
    actor = context.actor
    assert actor is not None
    args = context.args or []
    match = _PROCESS_NO.fullmatch(args[0]) if args else None
    number = int(match.group(1)) if match else None
    await act(update, context, lambda s, now: cancelling.ask(context.rt, s, now, actor, number))


async def cmd_tugas(update: Update, context: BotContext) -> None:
    actor = context.actor
    assert actor is not None
    await act(update, context, lambda s, now: reports.queue_open_tasks(context.rt, s, now, actor))


async def cmd_status(update: Update, context: BotContext) -> None:
    rt = context.rt
    if context.args:
        async with rt.sessions() as session:
            process = await _named_process(session, context)
            if process is None:
                await say(update, context, texts.PROCESS_NOT_FOUND)
                return
            text = await reports.status_text(rt, session, process)
            await say_status(update, context, process.id, text)
        return
    async with rt.sessions() as session:
        running = await reports.running_processes(session)
        if not running:
            await say(update, context, "Tidak ada proses yang sedang berjalan.")
            return
        for process in running[:5]:
            text = await reports.status_text(rt, session, process)
            await say_status(update, context, process.id, text)
    if len(running) > 5:
        rest = ", ".join(f"#{p.id} {p.title}" for p in running[5:])
        await say(update, context, f"Proses lain: {rest}. Ketik /status NOMOR untuk rinciannya.")


async def cmd_catatan(update: Update, context: BotContext) -> None:
    """Every note of a process in full (cards show them shortened)."""
    rt = context.rt
    async with rt.sessions() as session:
        process = await _named_process(session, context)
        if process is None:
            await say(update, context, texts.CATATAN_USAGE)
            return
        text = await reports.notes_text(rt, session, process)
    message = update.effective_message
    assert message is not None
    if len(text) <= 3500:
        await say(update, context, text)
        return
    data = io.BytesIO(text.encode("utf-8"))
    await message.reply_document(
        InputFile(data, filename=f"catatan_proses_{process.id}.txt"),
        caption=f"Catatan lengkap proses #{process.id}",
    )


async def cmd_batal(update: Update, context: BotContext) -> None:
    actor = context.actor
    assert actor is not None
    await act(update, context, lambda s, now: acting.cancel_prompt(s, now, actor))


async def cmd_undang(update: Update, context: BotContext) -> None:
    actor, rt = context.actor, context.rt
    if actor is None or not actor.is_admin:
        await say(update, context, "Maaf, /undang hanya untuk admin.")
        return
    codes = rt.sops.role_codes()
    role = (context.args or [""])[0].strip().lower()
    if role not in codes:
        await say(
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
        audit(session, now, actor.id, "undangan_dibuat", detail=role)
    link = f"https://t.me/{context.bot.username}?start={invite.code}"
    await say(update, context, texts.invite_text(codes[role], rt.settings.invite_ttl_hours, link))


async def cmd_orang(update: Update, context: BotContext) -> None:
    actor, rt = context.actor, context.rt
    if actor is None or not actor.is_admin:
        await say(update, context, "Maaf, /orang hanya untuk admin.")
        return
    async with rt.sessions() as session:
        await say(update, context, await reports.people_text(rt, session))


async def cmd_unknown(update: Update, context: BotContext) -> None:
    await say(update, context, texts.UNKNOWN_COMMAND)
