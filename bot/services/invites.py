"""The admins hear when an invitation is accepted (issue 9 item 7)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import Runtime
from bot.services.outgoing import send
from bot.services.standins import role_label
from bot.texts import standins as tx
from storage.models import Invite, Person


async def tell_admins(
    rt: Runtime, session: AsyncSession, now: datetime, code: str, person: Person, role: str
) -> None:
    """In the transaction that accepted the invite: the admin who made it first, then the
    other admins, each once (not the new person, should an admin have invited themself)."""
    invite = await session.get(Invite, code)
    first = [invite.created_by] if invite is not None else []
    text = tx.invite_accepted(
        person.name, role_label(rt, role), now, rt.settings.timezone, person.telegram_id
    )
    for chat in dict.fromkeys(first + list(rt.settings.admin_ids)):
        if chat != person.telegram_id:
            send(session, now, chat, text)
