"""Transitions: a press or an answer on a step runs the engine, records the outcome and
queues what everyone involved must be told."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.bounds import clean_note
from bot.people import Actor, holders, recipients
from bot.runtime import Runtime
from bot.services import record_files
from bot.services.common import (
    FileIn,
    Reply,
    ServiceError,
    add_document,
    add_token,
    already_done_message,
    audit,
    check_open,
    clear_prompt,
    load_step,
    new_instance,
    set_prompt,
    sop_of,
)
from bot.services.notices import (
    close_cards,
    forward_to_everyone,
    involved,
    notify_finished,
)
from bot.services.outgoing import send
from bot.services.own_words import prepared_note
from bot.services.standins import acting_label
from bot.services.views import (
    card_buttons,
    make_step_tokens,
    notify_task,
    step_tokens,
    task_view,
)
from bot.sop.model import Kind, SopDefinition, Step
from bot.workflow import engine
from bot.workflow.engine import ProcessState, WorkflowError
from bot.workflow.events import (
    Event,
    ProcessCancelled,
    ProcessFinished,
    RevisionRequested,
    StepActivated,
    StepCompleted,
)
from storage.models import (
    ActionToken,
    Document,
    PendingPrompt,
    Process,
    RevisionNote,
    StepInstance,
)


async def apply_events(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor | None,
    process: Process,
    sop: SopDefinition,
    state: ProcessState,
    events: list[Event],
    current_si: StepInstance | None,
    revision_doc: Document | None = None,
) -> None:
    process.state = state.to_json()
    process.current_step = state.current
    actor_id = actor.id if actor else None
    tz = rt.settings.timezone
    for event in events:
        match event:
            case StepCompleted(step_no=no, outcome=outcome, note=note):
                assert current_si is not None and current_si.step_no == no
                current_si.finished_at = now
                current_si.outcome = outcome
                current_si.actor_id = actor_id
                current_si.note = note
                current_si.next_reminder_at = current_si.escalate_at = None
                audit(session, now, actor_id, outcome, process.id, no, note)
                step = sop.phase(no, current_si.role)
                who = acting_label(sop, actor, step.role) if actor else "sistem"
                label = texts.outcome_label(step, outcome, note)
                closed = texts.outcome_text(process.title, step, label, who, now, tz)
                await close_cards(session, now, current_si, closed)
            case RevisionRequested(from_step=frm, to_step=to, note=note, round=round_):
                assert actor_id is not None  # only a person asks for a revision
                session.add(
                    RevisionNote(
                        process_id=process.id,
                        from_step=frm,
                        to_step=to,
                        round=round_,
                        note=note,
                        reviewer_id=actor_id,
                        document_id=revision_doc.id if revision_doc else None,
                        created_at=now,
                    )
                )
            case StepActivated(step_no=no, role=role):
                step = sop.phase(no, role)  # the signer's turn of an upload: a sign step
                si = new_instance(rt, process.id, step, now, state.revision_round)
                # A disposisi named who does this role's work in this process.
                si.assignees = (process.assignments or {}).get(role)
                session.add(si)
                audit(session, now, actor_id, "aktif", process.id, no, event.reason)
                await session.flush()  # the step's id, for its tokens and cards
                made = await make_step_tokens(session, now, si, step, state.bidang, len(sop.steps))
                people = await recipients(session, si, now)
                # Whoever may send the signed scan for the signer (pindai_oleh) is told too.
                scan = await holders(session, step.scanner, now) if step.scanner else []
                await notify_task(
                    rt, session, now, process, si, sop, people, scanners=scan, tokens=made
                )
            case ProcessFinished():
                process.status = engine.FINISHED
                process.finished_at = now
                audit(session, now, actor_id, "proses_selesai", process.id)
                await notify_finished(rt, session, now, process, sop)
            case ProcessCancelled(reason=reason):
                process.status = engine.CANCELLED
                process.finished_at = now
                process.cancelled_reason = reason
                audit(session, now, actor_id, "batal", process.id, event.open_step, reason)
                if current_si is not None:
                    current_si.finished_at = now
                    current_si.outcome = engine.CANCELLED
                    current_si.actor_id = actor_id
                    current_si.next_reminder_at = current_si.escalate_at = None
                    step = sop.phase(current_si.step_no, current_si.role)
                    text = texts.cancelled_card(process.title, step.no, step.short)
                    await close_cards(session, now, current_si, text)
                who = acting_label(sop, actor, "") if actor else "sistem"
                text = texts.cancelled_text(process.id, process.title, who, reason, now, tz)
                for person in await involved(session, process):
                    send(session, now, person.telegram_id, text)
    await record_files.on_events(session, now, actor, process, sop, events)  # lembar, arsip


async def act_on_step(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    si: StepInstance,
    process: Process,
    action: engine.Action,
    revision_doc_file: FileIn | None = None,
    upload_file: FileIn | None = None,
) -> SopDefinition:
    """One transition: check, run the engine, record, queue the messages."""
    sop = await check_open(rt, session, actor, si, process)
    state = ProcessState.from_json(process.state)
    try:
        new_state, events = engine.act(sop, state, action, actor.roles)
    except WorkflowError as exc:
        raise ServiceError(exc.message) from exc
    revision_doc = None
    if upload_file is not None:
        purpose = "draft" if _is_revision_target(sop, si.step_no) else "lampiran"
        await add_document(
            session, now, process.id, si.step_no, si.id, purpose, upload_file, actor.id
        )
    if revision_doc_file is not None:
        revision_doc = await add_document(
            session, now, process.id, si.step_no, si.id, "koreksi", revision_doc_file, actor.id
        )
    await apply_events(rt, session, now, actor, process, sop, new_state, events, si, revision_doc)
    return sop


def _is_revision_target(sop: SopDefinition, step_no: int) -> bool:
    """A draft someone reviews or signs (and may send back), not a plain attachment."""
    return sop.step(step_no).ttd_oleh is not None or any(s.revisi_ke == step_no for s in sop.steps)


async def press_step(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    tok: ActionToken,
    prompt: PendingPrompt | None,
) -> Reply:
    """A button of a task card: decide from the stored token and the state now. `prompt`:
    the presser's pending prompt, read with the token (None: they have none)."""
    assert tok.step_instance_id is not None
    si, process = await load_step(session, tok.step_instance_id)
    sop = await check_open(rt, session, actor, si, process)
    step = sop.phase(si.step_no, si.role)
    state = ProcessState.from_json(process.state)
    prepared = await prepared_note(session, actor, si) if prompt is not None else None
    if prepared and tok.action in ("selesai", "teruskan", "setuju"):
        await clear_prompt(session, now, actor)  # the note goes with this press
    match tok.action:
        case "centang":
            await act_on_step(
                rt, session, now, actor, si, process, engine.TickBidang(si.step_no, tok.arg or "")
            )
            view, _ = await task_view(rt, session, process, si, sop)
            # The same buttons as before the tick: 🙋 while shared, ↩️ for the claimer.
            shared = si.claimed_by is None and len(await recipients(session, si, now)) > 1
            tokens = await step_tokens(session, si.id)
            buttons = card_buttons(tokens, view, shared, si.claimed_by is not None)
            audit(session, now, actor.id, "centang", process.id, si.step_no, tok.arg)
            return Reply(
                f"✅ {tok.arg} ditandai sudah masuk.",
                edit=texts.task_text(view),
                edit_buttons=buttons,
            )
        case "rincian":
            view, _ = await task_view(rt, session, process, si, sop)
            return Reply("", message=texts.details_text(view))
        case "selesai" if step.kind is Kind.KUMPUL and state.missing_bidang:
            await set_prompt(session, now, actor.id, "alasan_kumpul", step_instance_id=si.id)
            missing = state.missing_bidang
            cancel = await add_token(session, now, "batal", person_id=actor.id)
            return Reply(
                "Masih ada bidang yang belum menyerahkan data.",
                message=(
                    "Data dari bidang berikut belum masuk:\n"
                    + "\n".join(f"• {b}" for b in missing)
                    + "\n\nUntuk menutup langkah ini, tulis alasannya dalam satu pesan, "
                    "satu baris per bidang (urutan sama seperti daftar di atas)."
                ),
                message_buttons=[[("✖️ Batal", cancel)]],
            )
        case "teruskan" if si.step_no < len(sop.steps):
            # One tap: to everyone of the next role, no instruksi (the form is 🎯).
            await forward_to_everyone(session, now, process, si, sop, actor.id, prepared)
            await act_on_step(
                rt, session, now, actor, si, process, engine.Complete(si.step_no, prepared)
            )
            return _closed(rt, process, step, engine.DONE, actor, now, prepared, "diteruskan")
        case "selesai":
            action: engine.Action = engine.Complete(si.step_no, note=prepared)
            await act_on_step(rt, session, now, actor, si, process, action)
            return _closed(rt, process, step, engine.DONE, actor, now, prepared, "selesai")
        case "setuju" | "setuju_ttd":
            await act_on_step(
                rt, session, now, actor, si, process, engine.Approve(si.step_no, note=prepared)
            )
            return _closed(rt, process, step, engine.APPROVED, actor, now, prepared, "disetujui")
        case "revisi" if prepared:
            assert prompt is not None
            return await revise(rt, session, now, actor, si, process, prepared, prompt)
        case "catatan" | "setuju_catatan" | "revisi":
            kind, ask = {
                "catatan": ("catatan_disposisi", texts.ASK_CATATAN),
                "setuju_catatan": ("catatan_setuju", texts.ASK_CATATAN_SETUJU),
                "revisi": ("catatan_revisi", texts.ASK_REVISI),
            }[tok.action]
            await set_prompt(session, now, actor.id, kind, step_instance_id=si.id)
            cancel = await add_token(session, now, "batal", person_id=actor.id)
            head = f"Langkah {si.step_no} · #{process.id} {process.title}"
            return Reply(
                "Silakan tulis catatannya.",
                message=f"{head}\n{ask}",
                message_buttons=[[("✖️ Batal", cancel)]],
            )
    raise ServiceError(texts.UNKNOWN_BUTTON)


def _closed(
    rt: Runtime,
    process: Process,
    step: Step,
    outcome: str,
    actor: Actor,
    now: datetime,
    note: str | None,
    toast: str,
) -> Reply:
    """The pressed card shows what every other copy of it now shows (see `close_cards`)."""
    label = texts.outcome_label(step, outcome, note)
    text = texts.outcome_text(process.title, step, label, actor.name, now, rt.settings.timezone)
    return Reply(f"Tercatat: {toast}.", edit=text)


async def answer_step_prompt(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    prompt: PendingPrompt,
    text: str,
) -> Reply:
    """A text that answers a prompt about a step (revision note, catatan, reasons)."""
    si, process = await load_step(session, prompt.data["step_instance_id"])
    if si.finished_at is not None:
        await clear_prompt(session, now, actor)
        raise ServiceError(await already_done_message(session, si, rt.settings.timezone))
    text = clean_note(text)  # zero-width characters alone say nothing
    match prompt.kind:
        case "catatan_revisi":
            if not text:
                raise ServiceError(texts.EMPTY_NOTE)
            kept = prompt.data.get("file")
            file = FileIn(**kept) if kept else None
            return await revise(rt, session, now, actor, si, process, text, prompt, file)
        case "catatan_setuju" | "catatan_disposisi":
            if not text:
                raise ServiceError(texts.EMPTY_CATATAN)
            approve = prompt.kind == "catatan_setuju"
            action = (engine.Approve if approve else engine.Complete)(si.step_no, note=text)
            if not approve:  # a disposisi to everyone, with the catatan
                sop = sop_of(rt, process)
                await forward_to_everyone(session, now, process, si, sop, actor.id, text)
            await act_on_step(rt, session, now, actor, si, process, action)
            await clear_prompt(session, now, actor)
            done = "disetujui" if approve else "selesai"
            return Reply(f"✅ Langkah {si.step_no} {done}, catatan diteruskan.")
        case "alasan_kumpul":
            state = ProcessState.from_json(process.state)
            missing = state.missing_bidang
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if len(lines) < len(missing):
                raise ServiceError(
                    f"Perlu {len(missing)} alasan (satu baris per bidang), baru ada {len(lines)}."
                )
            reasons = dict(zip(missing, lines, strict=False))
            await act_on_step(
                rt, session, now, actor, si, process, engine.Complete(si.step_no, reasons=reasons)
            )
            await clear_prompt(session, now, actor)
            return Reply(f"✅ Langkah {si.step_no} ditutup dengan alasan untuk bidang yang kosong.")
    await clear_prompt(session, now, actor)
    raise ServiceError(texts.NO_PROMPT_TEXT)


async def revise(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    si: StepInstance,
    process: Process,
    note: str,
    prompt: PendingPrompt,
    file: FileIn | None = None,
) -> Reply:
    sop = await act_on_step(
        rt,
        session,
        now,
        actor,
        si,
        process,
        engine.RequestRevision(si.step_no, note),
        revision_doc_file=file,
    )
    await clear_prompt(session, now, actor)
    step = sop.phase(si.step_no, si.role)
    between = [
        texts.role_short(sop, s.role)
        for s in sop.steps[(step.revisi_ke or step.no) : step.no - 1]
        if step.paraf_ulang and s.kind.is_review and s.revisi_ke == step.revisi_ke
    ]
    return Reply(texts.revision_sent(step.revisi_ke or step.no, between))


async def cancel_prompt(session: AsyncSession, now: datetime, actor: Actor) -> Reply:
    await clear_prompt(session, now, actor)
    return Reply(texts.CANCELLED, edit=texts.CANCELLED)
