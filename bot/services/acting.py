"""Transitions: a press or an answer on a step runs the engine, records the outcome and
queues what everyone involved must be told."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.bounds import clean_note
from bot.people import Actor, holders
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
    enqueue,
    latest_document,
    load_step,
    new_instance,
    send,
    send_document,
    set_prompt,
)
from bot.services.own_words import prepared_note
from bot.services.views import (
    buttons_for,
    document_label,
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
    ProcessFinished,
    RevisionRequested,
    StepActivated,
    StepCompleted,
)
from storage.models import (
    ActionToken,
    Document,
    Outbox,
    PendingPrompt,
    Person,
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
                step = sop.step(no)
                who = actor.name if actor else "sistem"
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
                step = sop.step(no)
                si = new_instance(rt, process.id, step, now, state.revision_round)
                session.add(si)
                await session.flush()
                await make_step_tokens(session, now, si, step, state.bidang)
                audit(session, now, actor_id, "aktif", process.id, no, event.reason)
                people = await holders(session, role, now)
                await notify_task(rt, session, now, process, si, sop, people)
            case ProcessFinished():
                process.status = engine.FINISHED
                process.finished_at = now
                audit(session, now, actor_id, "proses_selesai", process.id)
                await _notify_finished(rt, session, now, process, sop)
    await record_files.on_events(session, now, actor, process, sop, events)  # lembar, arsip


CLOSABLE = ("card", "reminder", "escalation")


async def close_cards(session: AsyncSession, now: datetime, si: StepInstance, text: str) -> None:
    """The step is closed: every copy of its card in every chat (the actor's own, /tugas
    re-sends, reminder copies, escalations) becomes `text` with no buttons."""
    # A copy not sent yet will never be needed (one being sent right now is closed below).
    await session.execute(
        update(Outbox)
        .where(
            Outbox.step_instance_id == si.id,
            Outbox.status == "pending",
            Outbox.tag.in_(CLOSABLE),
            Outbox.claimed_until.is_(None),
        )
        .values(status="batal")
        .execution_options(synchronize_session=False)
    )
    chats = (
        await session.scalars(
            select(Outbox.chat_id)
            .where(Outbox.step_instance_id == si.id, Outbox.tag.in_(("card", "escalation")))
            .distinct()
        )
    ).all()
    for chat in sorted(chats):
        enqueue(session, now, chat, "close_task", {"text": text}, si.id)


async def _notify_finished(
    rt: Runtime, session: AsyncSession, now: datetime, process: Process, sop: SopDefinition
) -> None:
    people_ids = set(
        (
            await session.scalars(
                select(StepInstance.actor_id).where(
                    StepInstance.process_id == process.id, StepInstance.actor_id.is_not(None)
                )
            )
        ).all()
    )
    people_ids.add(process.starter_id)
    # Everyone who was sent a card of this process hears that it ended, not only the actors.
    carded = (
        select(Outbox.chat_id)
        .join(StepInstance, StepInstance.id == Outbox.step_instance_id)
        .where(StepInstance.process_id == process.id, Outbox.tag == "card")
    )
    people = (
        await session.scalars(
            select(Person).where(
                or_(Person.id.in_(people_ids), Person.telegram_id.in_(carded)), Person.active
            )
        )
    ).all()
    final = await latest_document(session, process.id, ("draft",))
    text = texts.finished_text(process.title, sop, now, rt.settings.timezone)
    for person in sorted(people, key=lambda p: p.id):
        send(session, now, person.telegram_id, text)
        if final is not None:
            send_document(
                session,
                now,
                person.telegram_id,
                final,
                f"📄 Dokumen final: {document_label(sop, final)}",
            )


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
    return any(s.revisi_ke == step_no for s in sop.steps)


async def press_step(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, tok: ActionToken
) -> Reply:
    """A button of a task card: decide from the stored token and the state now."""
    assert tok.step_instance_id is not None
    si, process = await load_step(session, tok.step_instance_id)
    sop = await check_open(rt, session, actor, si, process)
    step = sop.step(si.step_no)
    state = ProcessState.from_json(process.state)
    prepared = await prepared_note(session, actor, si)
    if prepared and tok.action in ("selesai", "setuju", "setuju_ttd"):
        await clear_prompt(session, now, actor)  # the note goes with this press
    match tok.action:
        case "centang":
            await act_on_step(
                rt, session, now, actor, si, process, engine.TickBidang(si.step_no, tok.arg or "")
            )
            view, _ = await task_view(rt, session, process, si, sop)
            buttons = buttons_for(await step_tokens(session, si.id), view.checklist, view.bidang)
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
            prompt = await session.get(PendingPrompt, actor.id)
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
    target = sop.step(si.step_no).revisi_ke
    return Reply(
        f"✏️ Revisi dikirim. Langkah {target} dikerjakan ulang; setelah versi baru diunggah, "
        f"dokumen kembali kepada Bapak/Ibu."
    )


async def cancel_prompt(session: AsyncSession, now: datetime, actor: Actor) -> Reply:
    await clear_prompt(session, now, actor)
    return Reply(texts.CANCELLED, edit=texts.CANCELLED)
