"""Use cases of the workflow. Each takes a session and `now`, changes state, writes the
messages it causes to the outbox in the same transaction, and returns what to tell the
person who acted. Nothing here imports Telegram; the caller commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.people import Actor, holders
from bot.runtime import Runtime
from bot.sop.model import Kind, SopDefinition, Step
from bot.timefmt import when
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
    AuditLog,
    Document,
    Outbox,
    PendingPrompt,
    Person,
    Process,
    RevisionNote,
    StepInstance,
)

Buttons = list[list[tuple[str, str]]]  # rows of (label, token)


class ServiceError(Exception):
    """Refused: nothing changed. `message` is what the person reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Reply:
    """What the handler shows the person who acted (the rest went to the outbox)."""

    text: str  # short answer (callback toast or chat reply)
    edit: str | None = None  # new text for the pressed message (buttons removed)
    edit_buttons: Buttons | None = None  # keep the message interactive with these buttons
    message: str | None = None  # an extra message to send now (e.g. a prompt)
    message_buttons: Buttons | None = None
    refused: bool = False  # set by the handler when a ServiceError stopped the action


@dataclass(frozen=True)
class FileIn:
    """A file already downloaded and stored under FILES_DIR."""

    file_name: str
    mime_type: str | None
    size: int
    sha256: str
    telegram_file_id: str
    path: str


# --- small helpers -----------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(9)  # 12 characters, 72 random bits


async def add_token(
    session: AsyncSession,
    now: datetime,
    action: str,
    *,
    step_instance_id: int | None = None,
    arg: str | None = None,
    person_id: int | None = None,
) -> str:
    token = new_token()
    session.add(
        ActionToken(
            token=token,
            step_instance_id=step_instance_id,
            action=action,
            arg=arg,
            person_id=person_id,
            created_at=now,
        )
    )
    return token


def audit(
    session: AsyncSession,
    now: datetime,
    person_id: int | None,
    action: str,
    process_id: int | None = None,
    step_no: int | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        AuditLog(
            at=now,
            person_id=person_id,
            process_id=process_id,
            step_no=step_no,
            action=action,
            detail=detail,
        )
    )


def enqueue(
    session: AsyncSession,
    now: datetime,
    chat_id: int,
    method: str,
    payload: dict[str, Any],
    step_instance_id: int | None = None,
) -> None:
    """Queue one Bot API call in the current transaction; the outbox sender delivers it."""
    session.add(
        Outbox(
            chat_id=chat_id,
            method=method,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
            step_instance_id=step_instance_id,
        )
    )


def send(
    session: AsyncSession,
    now: datetime,
    chat_id: int,
    text: str,
    buttons: Buttons | None = None,
    step_instance_id: int | None = None,
) -> None:
    payload = {"text": text, "buttons": buttons}
    enqueue(session, now, chat_id, "send_message", payload, step_instance_id)


def send_document(
    session: AsyncSession, now: datetime, chat_id: int, doc: Document, caption: str
) -> None:
    payload = {
        "file_id": doc.telegram_file_id,
        "path": doc.path,
        "file_name": doc.file_name,
        "caption": caption[:1024],
    }
    enqueue(session, now, chat_id, "send_document", payload)


async def set_prompt(
    session: AsyncSession, now: datetime, person_id: int, kind: str, **data: Any
) -> None:
    prompt = await session.get(PendingPrompt, person_id)
    if prompt is None:
        session.add(PendingPrompt(person_id=person_id, kind=kind, data=data, created_at=now))
    else:
        prompt.kind, prompt.data, prompt.created_at = kind, data, now


async def clear_prompt(session: AsyncSession, person_id: int) -> None:
    prompt = await session.get(PendingPrompt, person_id)
    if prompt is not None:
        await session.delete(prompt)


def sop_of(rt: Runtime, process: Process) -> SopDefinition:
    sop = rt.sops.get(process.sop_number)
    if sop is None:
        raise ServiceError(f"Definisi SOP {process.sop_number} tidak ditemukan. Hubungi admin.")
    return sop


async def latest_document(
    session: AsyncSession, process_id: int, purposes: tuple[str, ...] | None = None
) -> Document | None:
    query = select(Document).where(Document.process_id == process_id)
    if purposes:
        query = query.where(Document.purpose.in_(purposes))
    return await session.scalar(query.order_by(Document.id.desc()).limit(1))


async def add_document(
    session: AsyncSession,
    now: datetime,
    process_id: int,
    step_no: int,
    step_instance_id: int | None,
    purpose: str,
    file: FileIn,
    uploader_id: int,
) -> Document:
    count = await session.scalar(
        select(func.count(Document.id)).where(Document.process_id == process_id)
    )
    doc = Document(
        process_id=process_id,
        step_instance_id=step_instance_id,
        step_no=step_no,
        version=(count or 0) + 1,
        purpose=purpose,
        file_name=file.file_name,
        mime_type=file.mime_type,
        size=file.size,
        sha256=file.sha256,
        telegram_file_id=file.telegram_file_id,
        path=file.path,
        uploaded_by=uploader_id,
        created_at=now,
    )
    session.add(doc)
    await session.flush()
    return doc


# --- task messages -----------------------------------------------------------------------


async def task_view(
    rt: Runtime, session: AsyncSession, process: Process, si: StepInstance, sop: SopDefinition
) -> tuple[texts.TaskView, Document | None]:
    step = sop.step(si.step_no)
    state = ProcessState.from_json(process.state)
    notes_rows = (
        await session.execute(
            select(StepInstance.step_no, StepInstance.note, Person.name)
            .join(Person, Person.id == StepInstance.actor_id)
            .where(
                StepInstance.process_id == process.id,
                StepInstance.note.is_not(None),
                StepInstance.outcome == engine.DONE,
            )
            .order_by(StepInstance.id)
        )
    ).all()
    notes = [(f"{name} (langkah {no})", note) for no, note, name in notes_rows]
    revision = None
    if si.round and step.kind is Kind.UNGGAH:
        row = (
            await session.execute(
                select(RevisionNote, Person.name)
                .join(Person, Person.id == RevisionNote.reviewer_id)
                .where(RevisionNote.process_id == process.id, RevisionNote.to_step == step.no)
                .order_by(RevisionNote.id.desc())
                .limit(1)
            )
        ).first()
        if row is not None and row[0].round == si.round:
            revision = (row[0].round, row[1], row[0].note)
    doc = await latest_document(session, process.id)
    view = texts.TaskView(
        sop=sop,
        process_id=process.id,
        title=process.title,
        step=step,
        deadline=si.deadline_at,
        tz=rt.settings.timezone,
        arahan=process.arahan,
        notes=notes,
        revision=revision,
        document_name=f"{doc.file_name} (versi {doc.version})" if doc else None,
        checklist=state.checklist if step.kind is Kind.KUMPUL else None,
        bidang=state.bidang,
    )
    return view, doc


async def task_buttons(session: AsyncSession, si: StepInstance) -> Buttons:
    """The buttons of a task, from the tokens stored when the step was activated."""
    tokens = (
        await session.scalars(
            select(ActionToken)
            .where(ActionToken.step_instance_id == si.id)
            .order_by(ActionToken.created_at, ActionToken.token)
        )
    ).all()
    return buttons_for(tokens, None)


_LABELS = {
    "setuju": "✅ Setuju",
    "setuju_ttd": "✅ Setuju & Tanda tangani",
    "revisi": "✏️ Revisi",
    "selesai": "✅ Selesai",
    "catatan": "📝 Teruskan dengan catatan",
}


def buttons_for(
    tokens: list[ActionToken], checklist: dict[str, str] | None, bidang: tuple[str, ...] = ()
) -> Buttons:
    """Rows of buttons in a fixed order: checklist rows (in bidang order), then the actions."""
    order = {b: i for i, b in enumerate(bidang)}
    ticks = sorted((t for t in tokens if t.action == "centang"), key=lambda t: order.get(t.arg, 0))
    rows: Buttons = []
    for t in ticks:
        mark = "✅" if checklist is not None and t.arg in checklist else "⬜"
        rows.append([(f"{mark} {t.arg}", t.token)])
    by_action = {t.action: t.token for t in tokens}
    main = [(label, by_action[a]) for a, label in _LABELS.items() if a in by_action]
    if main:
        rows.append(main)
    return rows


_TOKENS_BY_KIND: dict[Kind, tuple[str, ...]] = {
    Kind.DISPOSISI: ("selesai", "catatan"),
    Kind.TUGAS: ("selesai",),
    Kind.UNGGAH: (),
    Kind.KUMPUL: ("selesai",),
    Kind.PERIKSA: ("setuju", "revisi"),
    Kind.TANDA_TANGAN: ("setuju_ttd", "revisi"),
}


async def step_tokens(session: AsyncSession, si_id: int) -> list[ActionToken]:
    return list(
        (
            await session.scalars(
                select(ActionToken)
                .where(ActionToken.step_instance_id == si_id)
                .order_by(ActionToken.created_at, ActionToken.token)
            )
        ).all()
    )


async def _make_step_tokens(
    session: AsyncSession, now: datetime, si: StepInstance, step: Step, bidang: tuple[str, ...]
) -> list[ActionToken]:
    made = []
    if step.kind is Kind.KUMPUL:
        for b in bidang:
            made.append(
                ActionToken(
                    token=new_token(),
                    step_instance_id=si.id,
                    action="centang",
                    arg=b,
                    created_at=now,
                )
            )
    for action in _TOKENS_BY_KIND[step.kind]:
        made.append(
            ActionToken(token=new_token(), step_instance_id=si.id, action=action, created_at=now)
        )
    session.add_all(made)
    return made


async def notify_task(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    process: Process,
    si: StepInstance,
    sop: SopDefinition,
    people: list[Person],
    late_by: str | None = None,
) -> None:
    view, doc = await task_view(rt, session, process, si, sop)
    view.late_by = late_by
    tokens = await step_tokens(session, si.id)
    buttons = buttons_for(tokens, view.checklist, view.bidang)
    for person in people:
        if doc is not None and late_by is None:
            send_document(
                session,
                now,
                person.telegram_id,
                doc,
                f"📄 {process.title} — {doc.file_name} (versi {doc.version})",
            )
        send(session, now, person.telegram_id, texts.task_text(view), buttons, si.id)


# --- applying engine events ----------------------------------------------------------------


def deadline_for(rt: Runtime, step: Step, start: datetime) -> datetime:
    return rt.scaled(start, rt.calendar.add(start, step.waktu_parsed))


def escalation_for(rt: Runtime, step: Step, start: datetime) -> datetime:
    """The superior hears of it after a multiple of the standard time (in working time)."""
    minutes = rt.calendar.waktu_minutes(step.waktu_parsed) * rt.settings.escalation_multiple
    return rt.scaled(start, rt.calendar.add_working(start, minutes))


async def _apply(
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
                await _close_other_copies(session, now, current_si, actor, sop, process, rt)
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
                await _make_step_tokens(session, now, si, step, state.bidang)
                audit(session, now, actor_id, "aktif", process.id, no, event.reason)
                people = await holders(session, role, now)
                await notify_task(rt, session, now, process, si, sop, people)
            case ProcessFinished():
                process.status = engine.FINISHED
                process.finished_at = now
                audit(session, now, actor_id, "proses_selesai", process.id)
                await _notify_finished(rt, session, now, process, sop)


async def _close_other_copies(
    session: AsyncSession,
    now: datetime,
    si: StepInstance,
    actor: Actor | None,
    sop: SopDefinition,
    process: Process,
    rt: Runtime,
) -> None:
    """Everyone else who holds the role sees the task is done (their buttons go away)."""
    chats = set(
        (
            await session.scalars(
                select(Outbox.chat_id).where(
                    Outbox.step_instance_id == si.id, Outbox.method == "send_message"
                )
            )
        ).all()
    )
    if actor is not None:
        chats.discard(actor.person.telegram_id)
    if not chats:
        return
    step = sop.step(si.step_no)
    who = actor.name if actor else "sistem"
    text = texts.outcome_text(
        process.title, step, "✅ Sudah diproses", who, now, rt.settings.timezone
    )
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
    people = (
        await session.scalars(select(Person).where(Person.id.in_(people_ids), Person.active))
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
                f"📄 Dokumen final: {final.file_name} (versi {final.version})",
            )


# --- use cases -----------------------------------------------------------------------------


async def start_process(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    sop: SopDefinition,
    title: str,
    arahan: str | None,
    surat_edaran: FileIn | None,
) -> Process:
    first = sop.step(1)
    if first.role not in actor.roles and not actor.is_admin:
        raise ServiceError(
            f"Proses {sop.nama_singkat or sop.title} dimulai oleh "
            f"{texts.role_name(sop, first.role)}."
        )
    state, events = engine.start(sop, tuple(rt.settings.bidang))
    process = Process(
        sop_number=sop.number,
        title=title.strip()[:300],
        arahan=(arahan or "").strip() or None,
        starter_id=actor.id,
        status=engine.RUNNING,
        current_step=state.current,
        state=state.to_json(),
        created_at=now,
    )
    session.add(process)
    await session.flush()
    audit(session, now, actor.id, "mulai", process.id, None, f"{sop.number}: {title}")
    if surat_edaran is not None:
        await add_document(
            session, now, process.id, 1, None, "surat_edaran", surat_edaran, actor.id
        )
    if first.role in actor.roles:
        # The starter gives the disposisi with the same taps: step 1 is done at once.
        si = new_instance(rt, process.id, first, now, state.revision_round)
        session.add(si)
        await session.flush()
        audit(session, now, actor.id, "aktif", process.id, 1, "mulai")
        state, events = engine.act(sop, state, engine.Complete(1, note=None), actor.roles)
        await _apply(rt, session, now, actor, process, sop, state, events, si)
    else:
        await _apply(rt, session, now, actor, process, sop, state, events[1:], None)
    return process


def new_instance(
    rt: Runtime, process_id: int, step: Step, now: datetime, round_: int
) -> StepInstance:
    """A step becomes someone's task: its deadline and reminder times are fixed now."""
    deadline = deadline_for(rt, step, now)
    return StepInstance(
        process_id=process_id,
        step_no=step.no,
        role=step.role,
        round=round_,
        started_at=now,
        deadline_at=deadline,
        next_reminder_at=deadline,
        escalate_at=escalation_for(rt, step, now),
    )


async def load_step(session: AsyncSession, step_instance_id: int) -> tuple[StepInstance, Process]:
    row = (
        await session.execute(
            select(StepInstance, Process)
            .join(Process, Process.id == StepInstance.process_id)
            .where(StepInstance.id == step_instance_id)
        )
    ).first()
    if row is None:
        raise ServiceError(texts.UNKNOWN_BUTTON)
    return row[0], row[1]


async def already_done_message(session: AsyncSession, si: StepInstance, tz: str) -> str:
    name = await session.scalar(select(Person.name).where(Person.id == si.actor_id))
    when_text = when(si.finished_at, tz) if si.finished_at else ""
    return f"Langkah {si.step_no} sudah diproses oleh {name or 'orang lain'}, {when_text}."


async def _check_open(
    rt: Runtime, session: AsyncSession, actor: Actor, si: StepInstance, process: Process
) -> SopDefinition:
    sop = sop_of(rt, process)
    if si.finished_at is not None:
        raise ServiceError(await already_done_message(session, si, rt.settings.timezone))
    if si.role not in actor.roles:
        raise ServiceError(
            f"{texts.NOT_YOURS} Langkah {si.step_no} adalah tugas {texts.role_name(sop, si.role)}."
        )
    return sop


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
    sop = await _check_open(rt, session, actor, si, process)
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
    await _apply(rt, session, now, actor, process, sop, new_state, events, si, revision_doc)
    return sop


def _is_revision_target(sop: SopDefinition, step_no: int) -> bool:
    return any(s.revisi_ke == step_no for s in sop.steps)


async def press(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, token: str
) -> Reply:
    """A button was pressed: decide from the stored token and the state now."""
    tok = await session.get(ActionToken, token)
    if tok is None:
        raise ServiceError(texts.UNKNOWN_BUTTON)
    if tok.person_id is not None and tok.person_id != actor.id:
        raise ServiceError(texts.NOT_YOURS)
    if tok.step_instance_id is None:
        return await _press_personal(rt, session, now, actor, tok)
    si, process = await load_step(session, tok.step_instance_id)
    sop = await _check_open(rt, session, actor, si, process)
    tz = rt.settings.timezone
    step = sop.step(si.step_no)
    state = ProcessState.from_json(process.state)
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
            await act_on_step(rt, session, now, actor, si, process, engine.Complete(si.step_no))
            return Reply(
                "Tercatat: selesai.",
                edit=texts.outcome_text(process.title, step, "✅ Selesai", actor.name, now, tz),
            )
        case "setuju" | "setuju_ttd":
            await act_on_step(rt, session, now, actor, si, process, engine.Approve(si.step_no))
            label = (
                "✅ Disetujui dan ditandatangani" if tok.action == "setuju_ttd" else "✅ Disetujui"
            )
            return Reply(
                "Tercatat: disetujui.",
                edit=texts.outcome_text(process.title, step, label, actor.name, now, tz),
            )
        case "catatan":
            await set_prompt(session, now, actor.id, "catatan_disposisi", step_instance_id=si.id)
            cancel = await add_token(session, now, "batal", person_id=actor.id)
            return Reply(
                "Silakan tulis catatan.",
                message=(
                    f"Tulis catatan untuk Langkah {si.step_no} ({process.title}). "
                    "Catatan ini diteruskan bersama disposisi."
                ),
                message_buttons=[[("✖️ Batal", cancel)]],
            )
        case "revisi":
            await set_prompt(session, now, actor.id, "catatan_revisi", step_instance_id=si.id)
            cancel = await add_token(session, now, "batal", person_id=actor.id)
            return Reply(
                "Silakan tulis catatan revisi.",
                message=(
                    f"✏️ Revisi Langkah {si.step_no} ({process.title}).\n"
                    "Tulis catatan revisi: apa yang perlu diperbaiki. Anda juga boleh "
                    "mengirim file koreksi (dengan catatan sebagai keterangan/caption)."
                ),
                message_buttons=[[("✖️ Batal", cancel)]],
            )
    raise ServiceError(texts.UNKNOWN_BUTTON)


async def _press_personal(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, tok: ActionToken
) -> Reply:
    """Buttons of a conversation with one person (cancel, choose a task, /mulai)."""
    if tok.action == "batal":
        return await cancel_prompt(session, actor)
    prompt = await session.get(PendingPrompt, actor.id)
    if tok.action == "pilih_unggah":
        if prompt is None or prompt.kind != "pilih_unggah":
            raise ServiceError(texts.UNKNOWN_BUTTON)
        file = FileIn(**prompt.data["file"])
        reply = await receive_upload(rt, session, now, actor, int(tok.arg or 0), file)
        reply.edit = reply.text
        return reply
    from bot import starting  # the /mulai conversation

    return await starting.press(rt, session, now, actor, tok, prompt)


async def answer_text(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, text: str
) -> Reply:
    """A text message: it answers whatever the bot asked this person for."""
    prompt = await session.get(PendingPrompt, actor.id)
    if prompt is None:
        raise ServiceError(texts.NO_PROMPT_TEXT)
    if prompt.kind.startswith("mulai_"):
        from bot import starting

        return await starting.answer_text(rt, session, now, actor, prompt, text)
    if prompt.kind == "pilih_unggah":
        raise ServiceError("Pilih dulu langkah untuk dokumen tadi dengan tombol di atas.")
    si, process = await load_step(session, prompt.data["step_instance_id"])
    if si.finished_at is not None:
        await clear_prompt(session, actor.id)
        raise ServiceError(await already_done_message(session, si, rt.settings.timezone))
    text = text.strip()
    match prompt.kind:
        case "catatan_revisi":
            if not text:
                raise ServiceError(texts.EMPTY_NOTE)
            kept = prompt.data.get("file")
            file = FileIn(**kept) if kept else None
            return await _revise(rt, session, now, actor, si, process, text, prompt, file)
        case "catatan_disposisi":
            if not text:
                raise ServiceError("Catatan tidak boleh kosong.")
            await act_on_step(
                rt, session, now, actor, si, process, engine.Complete(si.step_no, note=text)
            )
            await clear_prompt(session, actor.id)
            return Reply(f"✅ Langkah {si.step_no} selesai, catatan diteruskan.")
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
            await clear_prompt(session, actor.id)
            return Reply(f"✅ Langkah {si.step_no} ditutup dengan alasan untuk bidang yang kosong.")
    await clear_prompt(session, actor.id)
    raise ServiceError(texts.NO_PROMPT_TEXT)


async def _revise(
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
    await clear_prompt(session, actor.id)
    target = sop.step(si.step_no).revisi_ke
    return Reply(
        f"✏️ Revisi dikirim. Langkah {target} dikerjakan ulang; setelah versi baru diunggah, "
        f"dokumen kembali kepada Anda."
    )


async def cancel_prompt(session: AsyncSession, actor: Actor) -> Reply:
    await clear_prompt(session, actor.id)
    return Reply(texts.CANCELLED, edit=texts.CANCELLED)


# --- files ---------------------------------------------------------------------------------


@dataclass
class UploadTarget:
    """Where an incoming file goes, decided before it is downloaded."""

    kind: str  # "step", "revisi", "mulai", "ask"
    step_instance_id: int | None = None
    steps: list[tuple[int, str]] = field(default_factory=list)  # (si id, label) to choose from
    accepted: tuple[str, ...] = ()


async def open_steps(session: AsyncSession, actor: Actor) -> list[tuple[StepInstance, Process]]:
    rows = (
        await session.execute(
            select(StepInstance, Process)
            .join(Process, Process.id == StepInstance.process_id)
            .where(StepInstance.finished_at.is_(None), StepInstance.role.in_(actor.roles))
            .order_by(StepInstance.id)
        )
    ).all()
    return [(si, p) for si, p in rows]


async def upload_target(
    rt: Runtime, session: AsyncSession, actor: Actor, task_step_instance_id: int | None
) -> UploadTarget:
    """Decide what a file is for. `task_step_instance_id`: the task message it replies to."""
    prompt = await session.get(PendingPrompt, actor.id)
    if prompt is not None and prompt.kind == "mulai_lampiran":
        return UploadTarget("mulai")
    if prompt is not None and prompt.kind == "catatan_revisi":
        return UploadTarget("revisi", prompt.data["step_instance_id"])
    candidates, collecting = [], []
    for si, process in await open_steps(session, actor):
        sop = rt.sops.get(process.sop_number)
        step = sop.step(si.step_no) if sop is not None else None
        if step is not None and step.kind is Kind.UNGGAH:
            candidates.append((si, process, step))
        elif step is not None and step.kind is Kind.KUMPUL:
            collecting.append(step.no)
    if task_step_instance_id is not None:
        chosen = [c for c in candidates if c[0].id == task_step_instance_id]
        if chosen:
            candidates = chosen
    if not candidates and collecting:
        raise ServiceError(
            f"Langkah {collecting[0]} adalah pengumpulan data: file data bidang disimpan di "
            "luar bot. Tandai bidang yang datanya sudah masuk dengan tombolnya pada pesan "
            "tugas, lalu tekan ✅ Selesai."
        )
    if not candidates:
        raise ServiceError(
            "Saat ini tidak ada langkah yang menunggu dokumen dari Anda. "
            "Ketik /tugas untuk melihat tugas Anda."
        )
    if len(candidates) == 1:
        si, _, step = candidates[0]
        return UploadTarget("step", si.id, accepted=step.berkas)
    accepted = tuple(sorted({t for c in candidates for t in c[2].berkas}))
    return UploadTarget(
        "ask",
        steps=[(si.id, f"{p.title} · Langkah {si.step_no}") for si, p, _ in candidates],
        accepted=accepted,
    )


async def receive_upload(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, si_id: int, file: FileIn
) -> Reply:
    si, process = await load_step(session, si_id)
    sop = await act_on_step(
        rt, session, now, actor, si, process, engine.Upload(si.step_no), upload_file=file
    )
    await clear_prompt(session, actor.id)
    state = ProcessState.from_json(process.state)
    nxt = (
        f" Diteruskan ke Langkah {state.current} "
        f"({texts.role_name(sop, sop.step(state.current).role)})."
        if state.current
        else ""
    )
    return Reply(f"✅ Dokumen {file.file_name} diterima untuk Langkah {si.step_no}.{nxt}")


async def receive_revision_file(
    rt: Runtime,
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    si_id: int,
    file: FileIn,
    caption: str | None,
) -> Reply:
    si, process = await load_step(session, si_id)
    prompt = await session.get(PendingPrompt, actor.id)
    if si.finished_at is not None or prompt is None:
        await clear_prompt(session, actor.id)
        raise ServiceError(await already_done_message(session, si, rt.settings.timezone))
    if caption and caption.strip():
        return await _revise(rt, session, now, actor, si, process, caption.strip(), prompt, file)
    # Keep the file with the prompt and wait for the note.
    prompt.data = {**prompt.data, "file": file.__dict__}
    return Reply("📎 File koreksi diterima. Sekarang tulis catatan revisinya.")


async def ask_upload_step(
    session: AsyncSession, now: datetime, actor: Actor, target: UploadTarget, file: FileIn
) -> Reply:
    await set_prompt(session, now, actor.id, "pilih_unggah", file=file.__dict__)
    buttons: Buttons = []
    for si_id, label in target.steps:
        token = await add_token(
            session, now, "pilih_unggah", step_instance_id=None, arg=str(si_id), person_id=actor.id
        )
        buttons.append([(label, token)])
    cancel = await add_token(session, now, "batal", person_id=actor.id)
    buttons.append([("✖️ Batal", cancel)])
    return Reply(
        "Dokumen diterima.",
        message="Dokumen ini untuk tugas yang mana?",
        message_buttons=buttons,
    )
