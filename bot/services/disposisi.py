"""📨 Disposisikan: the holder of a disposisi step chooses who gets it (named people of the
next role; everyone is the default, so sending to all is one tap), ticks instruksi and may
add a catatan. The form is one message whose buttons toggle; its state is the person's
pending prompt, so a restart loses nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.bounds import clean_note
from bot.people import Actor, holders
from bot.runtime import Runtime
from bot.services.acting import act_on_step
from bot.services.common import (
    Buttons,
    Reply,
    ServiceError,
    add_token,
    check_open,
    clear_prompt,
    load_step,
    set_prompt,
)
from bot.services.notices import record_disposition
from bot.sop.model import SopDefinition
from bot.workflow import engine
from storage.models import ActionToken, PendingPrompt, Process, StepInstance

FORM = "disposisi"
ASKING_NOTE = "disposisi_catatan"


async def open_form(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    si: StepInstance,
    process: Process,
    sop: SopDefinition,
) -> Reply:
    nxt = sop.step(si.step_no + 1)
    people = await holders(session, nxt.role, now)
    if not people:
        raise ServiceError(
            f"Belum ada {texts.role_name(sop, nxt.role)} yang terdaftar. Mohon hubungi admin."
        )
    tokens: dict[str, str] = {}
    for p in people:
        tokens[f"p{p.id}"] = await add_token(
            session, now, "dispo_orang", arg=str(p.id), person_id=actor.id
        )
    for i, _ in enumerate(rt.settings.instruksi_disposisi):
        tokens[f"i{i}"] = await add_token(
            session, now, "dispo_instruksi", arg=str(i), person_id=actor.id
        )
    for action in ("dispo_catatan", "dispo_kirim", "batal"):
        tokens[action] = await add_token(session, now, action, person_id=actor.id)
    data: dict[str, Any] = {
        "step_instance_id": si.id,
        "people": [[p.id, p.name] for p in people],
        "to": [p.id for p in people],
        "instruksi": [],
        "catatan": None,
        "tokens": tokens,
    }
    await set_prompt(session, now, actor.id, FORM, **data)
    text, buttons = _form(rt, sop, process, si, data)
    return Reply("", message=text, message_buttons=buttons)


def _form(
    rt: Runtime, sop: SopDefinition, process: Process, si: StepInstance, data: dict[str, Any]
) -> tuple[str, Buttons]:
    presets = rt.settings.instruksi_disposisi
    tokens = data["tokens"]
    chosen = set(data["to"])
    rows: Buttons = [
        [(f"{'☑️' if pid in chosen else '⬜'} {name}", tokens[f"p{pid}"])]
        for pid, name in data["people"]
    ]
    ticked = set(data["instruksi"])
    pairs = [
        (f"{'☑️' if i in ticked else '⬜'} {label}", tokens[f"i{i}"])
        for i, label in enumerate(presets)
    ]
    rows += [pairs[i : i + 2] for i in range(0, len(pairs), 2)]
    rows.append([("📝 Catatan", tokens["dispo_catatan"]), ("✖️ Batal", tokens["batal"])])
    rows.append([("📨 Kirim disposisi", tokens["dispo_kirim"])])
    names = [name for pid, name in data["people"] if pid in chosen]
    role = texts.role_name(sop, sop.step(si.step_no + 1).role)
    head = f"Langkah {si.step_no} · #{process.id} {process.title}"
    instruksi = [presets[i] for i in data["instruksi"] if i < len(presets)]
    return texts.disposisi_form(head, role, names, instruksi, data["catatan"]), rows


async def _current(
    rt: Runtime, session: AsyncSession, actor: Actor, prompt: PendingPrompt | None
) -> tuple[PendingPrompt, StepInstance, Process, SopDefinition]:
    if prompt is None or prompt.kind not in (FORM, ASKING_NOTE):
        raise ServiceError("Formulir disposisi ini sudah tidak berlaku. Ketik /tugas.")
    si, process = await load_step(session, prompt.data["step_instance_id"])
    sop = await check_open(rt, session, actor, si, process)
    return prompt, si, process, sop


async def press(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    tok: ActionToken,
    prompt: PendingPrompt | None,
) -> Reply:
    prompt, si, process, sop = await _current(rt, session, actor, prompt)
    data = dict(prompt.data)
    match tok.action:
        case "dispo_orang":
            pid = int(tok.arg or 0)
            to = [p for p in data["to"] if p != pid]
            data["to"] = to if len(to) < len(data["to"]) else [*data["to"], pid]
        case "dispo_instruksi":
            i = int(tok.arg or 0)
            ticks = data["instruksi"]
            data["instruksi"] = sorted(set(ticks) ^ {i})
        case "dispo_catatan":
            prompt.kind = ASKING_NOTE
            return Reply("Silakan tulis catatannya.", message=texts.ASK_DISPOSISI_CATATAN)
        case "dispo_kirim":
            return await send(rt, session, now, actor, prompt, si, process, sop)
    prompt.data = data  # a new dict, so the JSON column is written
    text, buttons = _form(rt, sop, process, si, data)
    return Reply("", edit=text, edit_buttons=buttons)


async def answer_text(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    prompt: PendingPrompt,
    text: str,
) -> Reply:
    """The catatan of the disposisi; the form comes again below it with the note in it."""
    prompt, si, process, sop = await _current(rt, session, actor, prompt)
    note = clean_note(text)
    if not note:
        raise ServiceError(texts.EMPTY_CATATAN)
    data = {**prompt.data, "catatan": note}
    await set_prompt(session, now, actor.id, FORM, **data)  # the old form's buttons go
    form, buttons = _form(rt, sop, process, si, data)
    return Reply("Catatan dicatat.", message=form, message_buttons=buttons)


async def send(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    prompt: PendingPrompt,
    si: StepInstance,
    process: Process,
    sop: SopDefinition,
) -> Reply:
    data = prompt.data
    if not data["to"]:
        raise ServiceError(texts.DISPOSISI_NO_ONE)
    nxt = sop.step(si.step_no + 1)
    presets = rt.settings.instruksi_disposisi
    instruksi = [presets[i] for i in data["instruksi"] if i < len(presets)]
    to = [pid for pid, _ in data["people"] if pid in set(data["to"])]
    everyone = len(to) == len(data["people"])
    record_disposition(
        session, now, process, si, actor.id, nxt.role, to, instruksi, data["catatan"], everyone
    )
    await act_on_step(
        rt, session, now, actor, si, process, engine.Complete(si.step_no, note=data["catatan"])
    )
    await clear_prompt(session, now, actor)
    names = [name for pid, name in data["people"] if pid in set(to)]
    done = texts.disposisi_sent(si.step_no, texts.role_name(sop, nxt.role), names, instruksi)
    return Reply(done, edit=done)
