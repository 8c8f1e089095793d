"""Admin commands of issue 9: /plh names a stand-in (Plh/Plt) for a role holder who is away.
Every argument parse is total: any input gets an answer, never a trace."""

from __future__ import annotations

import re
from datetime import date

from telegram import Update

from bot.services import standins
from bot.services.common import Reply, ServiceError
from bot.texts import standins as tx
from handlers.common import BotContext
from handlers.respond import act, say

_ID = re.compile(r"[0-9]{1,15}")  # ASCII digits only: "²".isdigit() is True
_NUMBER = re.compile(r"[0-9]{1,9}")  # a row's number (the database's 32-bit integers)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ServiceError(tx.bad_date(text)) from None


def _telegram_id(text: str) -> int:
    if not _ID.fullmatch(text):
        raise ServiceError(tx.USAGE)
    return int(text)


async def cmd_plh(update: Update, context: BotContext) -> None:
    """/plh: the stand-ins in effect and to come, and how to name one;
    /plh PERAN ID DARI SAMPAI [plh|plt] [ID_YANG_DIGANTIKAN]: name one;
    /plh akhiri N: end one early."""
    actor, rt = context.actor, context.rt
    if actor is None or not actor.is_admin:
        await say(update, context, tx.NOT_ADMIN)
        return
    args = context.args or []
    if not args:
        async with rt.sessions() as session:
            lines = await standins.current_and_upcoming(rt, session)
        await say(update, context, "\n".join([*(lines or [tx.NONE]), "", tx.USAGE]))
        return
    admin = actor.person.telegram_id
    if args[0].lower() == "akhiri":
        number = args[1].lstrip("#") if len(args) == 2 else ""

        async def end(session, now):  # type: ignore[no-untyped-def]
            if not _NUMBER.fullmatch(number):
                raise ServiceError(tx.USAGE)
            return Reply(await standins.end_early(rt, session, now, admin, int(number)))

        await act(update, context, end)
        return

    async def work(session, now):  # type: ignore[no-untyped-def]
        if len(args) < 4 or len(args) > 6:
            raise ServiceError(tx.USAGE)
        role, who, dari, sampai, *rest = args
        jenis, holder = "plh", None
        for extra in rest:
            if extra.lower() in standins.JENIS:
                jenis = extra.lower()
            else:
                holder = _telegram_id(extra)
        created = await standins.create(
            rt,
            session,
            now,
            admin,
            role.strip().lower(),
            _telegram_id(who),
            _day(dari),
            _day(sampai),
            jenis,
            holder,
        )
        return Reply(created.text)

    await act(update, context, work)
