"""Said in their own words: text (or a voice note) nobody asked for. With exactly one open
task the card and its buttons come back, plus 📝 Jadikan catatan, which keeps the words as
the note of the next press on that step."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.bounds import clean_note, fit
from bot.people import Actor
from bot.runtime import Runtime
from bot.services.common import (
    Reply,
    ServiceError,
    add_token,
    check_open,
    load_step,
    open_steps,
    set_prompt,
    sop_of,
)
from bot.services.views import buttons_for, step_tokens, task_view
from storage.models import PendingPrompt, StepInstance

FREE_TEXT_KINDS = ("teks_bebas", "catatan_siap")  # a kept text does not block a new one


async def free_text(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, text: str
) -> Reply:
    """A text nobody asked for. With exactly one open task, answer with that task's card
    and buttons plus 📝 Jadikan catatan (keep the words as the note of the next press)."""
    text = clean_note(text)
    steps = await open_steps(session, actor, for_cards=True)
    if len(steps) != 1 or not text:
        raise ServiceError(texts.NO_PROMPT_TEXT)
    si, process = steps[0]
    sop = sop_of(rt, process)
    view, _ = await task_view(rt, session, process, si, sop)
    buttons = buttons_for(await step_tokens(session, si.id), view.checklist, view.bidang)
    keep = await add_token(session, now, "jadikan_catatan", arg=str(si.id), person_id=actor.id)
    buttons.append([("📝 Jadikan catatan", keep)])
    await set_prompt(session, now, actor.id, "teks_bebas", step_instance_id=si.id, text=text)
    said = f"💬 Pesan Bapak/Ibu: «{fit(text, 120)}»"
    card = f"{texts.task_text(view)}\n\n{said}"
    return Reply("", message=card, message_buttons=buttons, message_card=si.id)


async def keep_note(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, si_id: int
) -> Reply:
    """📝 Jadikan catatan: the words typed before become the note of the next press."""
    prompt = await session.get(PendingPrompt, actor.id)
    if prompt is None or prompt.kind != "teks_bebas" or prompt.data["step_instance_id"] != si_id:
        raise ServiceError(texts.UNKNOWN_BUTTON)
    si, process = await load_step(session, si_id)
    await check_open(rt, session, actor, si, process)
    text = prompt.data["text"]
    prompt.kind = "catatan_siap"
    view, _ = await task_view(rt, session, process, si, sop_of(rt, process))
    buttons = buttons_for(await step_tokens(session, si.id), view.checklist, view.bidang)
    kept = f"📝 Catatan disiapkan: «{fit(text, 120)}». Tekan tombol langkah ini; catatan ikut."
    return Reply(
        "Catatan disiapkan.", edit=f"{texts.task_text(view)}\n\n{kept}", edit_buttons=buttons
    )


async def prepared_note(session: AsyncSession, actor: Actor, si: StepInstance) -> str | None:
    """A note the person typed first and kept with 📝 Jadikan catatan, for this step."""
    prompt = await session.get(PendingPrompt, actor.id)
    if prompt is None or prompt.kind != "catatan_siap":
        return None
    return str(prompt.data["text"]) if prompt.data.get("step_instance_id") == si.id else None
