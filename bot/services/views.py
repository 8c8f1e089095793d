"""Task cards: what a step's holder reads and the buttons under it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.runtime import Runtime
from bot.services.common import RECORD_PURPOSES, VOICES, Buttons, new_token
from bot.services.outgoing import enqueue, send, send_document
from bot.sop.model import Kind, SopDefinition, Step
from bot.workflow import engine
from bot.workflow.engine import ProcessState
from storage import raw
from storage.models import (
    ActionToken,
    Disposition,
    Document,
    Person,
    Process,
    RevisionNote,
    StepInstance,
)

# Read for every card (each /tugas reads them once per open task): built once.
_NOTES = raw.Sql(
    select(StepInstance.step_no, StepInstance.note, Person.name)
    .join(Person, Person.id == StepInstance.actor_id)
    .where(
        StepInstance.process_id == bindparam("pid"),
        StepInstance.note.is_not(None),
        StepInstance.outcome.in_((engine.DONE, engine.APPROVED)),
    )
    .order_by(StepInstance.id)
)
# The document a card is about: the newest a person sent (not the records the bot made),
# of the whole process or of one step.
_DOC_COLUMNS = tuple(Document.__table__.c)
_DOC_QUERY = (
    select(*_DOC_COLUMNS)
    .where(Document.process_id == bindparam("pid"), Document.purpose.not_in(RECORD_PURPOSES))
    .order_by(Document.id.desc())
    .limit(1)
)
_DOC = raw.Sql(_DOC_QUERY)
_DOC_OF_STEP = raw.Sql(_DOC_QUERY.where(Document.step_no == bindparam("step")))
_DISPOSITION = raw.Sql(  # the newest disposisi of the step before (its instruksi and catatan)
    select(Disposition.instruksi, Disposition.catatan)
    .join(StepInstance, StepInstance.id == Disposition.step_instance_id)
    .where(Disposition.process_id == bindparam("pid"), StepInstance.step_no == bindparam("step"))
    .order_by(Disposition.id.desc())
    .limit(1)
)
_TOKEN_TABLE = tuple(ActionToken.__table__.c)
_TOKENS = raw.Sql(
    select(*_TOKEN_TABLE)
    .where(ActionToken.step_instance_id == bindparam("si"))
    .order_by(ActionToken.created_at, ActionToken.token)
)


async def task_view(
    rt: Runtime, session: AsyncSession, process: Process, si: StepInstance, sop: SopDefinition
) -> tuple[texts.TaskView, Document | None]:
    step = sop.phase(si.step_no, si.role)
    state = ProcessState.from_json(process.state)
    notes_rows = (await raw.run(session, _NOTES, {"pid": process.id})).rows
    notes = [(f"{name} (langkah {no})", note) for no, note, name in notes_rows]
    revision = None
    if si.round and step.kind is Kind.UNGGAH:
        row = await _last_revision(session, process.id, RevisionNote.to_step == step.no)
        if row is not None and row[0].round == si.round:
            revision = (row[0].round, row[1], row[0].note)
    # The document a reviewer or the archivist looks at: the latest of the drafting step.
    source = step.revisi_ke if step.kind.is_review else None
    if source is None:
        found = await raw.run(session, _DOC, {"pid": process.id})
    else:
        found = await raw.run(session, _DOC_OF_STEP, {"pid": process.id, "step": source})
    doc = raw.instance(Document, _DOC_COLUMNS, found.rows[0]) if found.rows else None
    paraf: list[tuple[str, datetime]] = []
    revised_for_me = None
    if step.kind.is_review and doc is not None:
        approvals = (
            await session.execute(
                select(StepInstance.role, StepInstance.finished_at)
                .where(
                    StepInstance.process_id == process.id,
                    StepInstance.outcome.in_((engine.APPROVED, engine.PARAF)),
                    StepInstance.finished_at >= doc.created_at,
                )
                .order_by(StepInstance.finished_at)
            )
        ).all()
        paraf = [(texts.role_short(sop, role), at) for role, at in approvals]
        if si.round:
            mine = await _last_revision(session, process.id, RevisionNote.from_step == step.no)
            if mine is not None and mine[0].round == si.round:
                revised_for_me = mine[0].note
    instruksi: list[str] = []
    catatan = None
    if step.no > 1 and sop.step(step.no - 1).kind is Kind.DISPOSISI:
        params = {"pid": process.id, "step": step.no - 1}
        found = (await raw.run(session, _DISPOSITION, params)).rows
        if found:
            row = found[0]
            instruksi = list(row[0] or [])
            # The Kadis's own catatan is the arahan, shown on its own line already.
            catatan = row[1] if step.no > 2 else None
    claimer = None
    if si.claimed_by is not None:
        claimer = await session.scalar(select(Person.name).where(Person.id == si.claimed_by))
    view = texts.TaskView(
        sop=sop,
        nomor_agenda=process.nomor_agenda,
        sifat=process.sifat or "biasa",
        instruksi=instruksi,
        disposisi_note=catatan,
        claimed_by=claimer,
        process_id=process.id,
        title=process.title,
        step=step,
        deadline=si.deadline_at,
        tz=rt.settings.timezone,
        arahan=process.arahan,
        notes=notes,
        revision=revision,
        document=document_label(sop, doc) if doc else None,
        paraf=paraf,
        revised_for_me=revised_for_me,
        checklist=state.checklist if step.kind is Kind.KUMPUL else None,
        bidang=state.bidang,
    )
    return view, doc


def _about_document(sop: SopDefinition, si: StepInstance) -> bool:
    kind = sop.phase(si.step_no, si.role).kind
    return kind is Kind.DISPOSISI or kind.is_review


async def _last_revision(session: AsyncSession, process_id: int, which):  # type: ignore[no-untyped-def]
    return (
        await session.execute(
            select(RevisionNote, Person.name)
            .join(Person, Person.id == RevisionNote.reviewer_id)
            .where(RevisionNote.process_id == process_id, which)
            .order_by(RevisionNote.id.desc())
            .limit(1)
        )
    ).first()


def document_label(sop: SopDefinition, doc: Document) -> str:
    """'Draf LAKIP ke-2 (draft_lakip_v2.pdf)': numbered per kind, the sender's own name."""
    if doc.purpose == "surat_edaran":
        kind = "Surat Edaran"
    elif doc.purpose == "koreksi":
        kind = "Koreksi"
    elif doc.purpose == "ttd":
        signed = sop.step(doc.step_no)
        source = sop.step(signed.revisi_ke) if signed.revisi_ke else signed
        kind = f"{source.document_kind} bertanda tangan"
    else:
        kind = sop.step(doc.step_no).document_kind
    return f"{kind} ke-{doc.version} ({doc.file_name})"


_LABELS = {
    "teruskan": "📨 Teruskan ke semua",
    "disposisi": "🎯 Pilih penerima",
    "setuju": "✅ Setuju",
    "ttd": "🖋 Tanda tangani",
    "revisi": "✏️ Revisi",
    "selesai": "✅ Selesai",
    "ambil": "🙋 Saya kerjakan",
    "lepas": "↩️ Lepaskan",
    "catatan": "📝 Tambah catatan",
    "setuju_catatan": "📝 Terima dengan catatan",
    "rincian": "ℹ️ Rincian",
}
_FIRST_ROW = 2  # the main choices side by side; the rest below


def buttons_for(
    tokens: list[ActionToken],
    checklist: dict[str, str] | None,
    bidang: tuple[str, ...] = (),
    hide: tuple[str, ...] = ("ambil", "lepas"),
) -> Buttons:
    """Rows of buttons in a fixed order: checklist rows (in bidang order), then the actions.
    `hide`: actions not offered on this copy (claiming only where several people share it)."""
    tokens = [t for t in tokens if t.action not in hide]
    order = {b: i for i, b in enumerate(bidang)}
    ticks = sorted((t for t in tokens if t.action == "centang"), key=lambda t: order.get(t.arg, 0))
    rows: Buttons = []
    for t in ticks:
        mark = "✅" if checklist is not None and t.arg in checklist else "⬜"
        rows.append([(f"{mark} {t.arg}", t.token)])
    by_action = {t.action: t.token for t in tokens}
    main = [(label, by_action[a]) for a, label in _LABELS.items() if a in by_action]
    if main:
        rows.append(main[:_FIRST_ROW])
    if main[_FIRST_ROW:]:
        rows.append(main[_FIRST_ROW:])
    return rows


_TOKENS_BY_KIND: dict[Kind, tuple[str, ...]] = {
    Kind.DISPOSISI: ("teruskan", "disposisi", "catatan", "rincian"),
    Kind.TUGAS: ("selesai", "ambil", "lepas", "rincian"),
    Kind.UNGGAH: ("ambil", "lepas", "rincian"),
    Kind.KUMPUL: ("selesai", "ambil", "lepas", "rincian"),
    Kind.PERIKSA: ("setuju", "revisi", "setuju_catatan", "rincian"),
    Kind.TANDA_TANGAN: ("ttd", "revisi", "rincian"),
}
SHARED_WORK = (Kind.TUGAS, Kind.UNGGAH, Kind.KUMPUL)  # where "🙋 Saya kerjakan" makes sense


def card_buttons(
    tokens: list[ActionToken], view: texts.TaskView, shared: bool, claimed: bool
) -> Buttons:
    """The card's buttons for one copy: 🙋 while several people share an unclaimed step,
    ↩️ Lepaskan for the claimer."""
    hide = ("lepas",) if shared and not claimed else ("ambil",) if claimed else ("ambil", "lepas")
    return buttons_for(tokens, view.checklist, view.bidang, hide)


_TOKEN_COLUMNS = [c.key for c in _TOKEN_TABLE]
_ADD_TOKEN = raw.Sql(
    insert(ActionToken.__table__).values({c: bindparam(c) for c in _TOKEN_COLUMNS})
)


async def step_tokens(session: AsyncSession, si_id: int) -> list[ActionToken]:
    rows = (await raw.run(session, _TOKENS, {"si": si_id})).rows
    return [raw.instance(ActionToken, _TOKEN_TABLE, row) for row in rows]


async def make_step_tokens(
    session: AsyncSession,
    now: datetime,
    si: StepInstance,
    step: Step,
    bidang: tuple[str, ...],
    len_steps: int = 0,
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
    actions = _TOKENS_BY_KIND[step.kind]
    if step.kind is Kind.DISPOSISI and si.step_no == len_steps:
        actions = ("selesai", "catatan", "rincian")  # nobody after it to send it to
    for action in actions:
        made.append(
            ActionToken(token=new_token(), step_instance_id=si.id, action=action, created_at=now)
        )
    # One Core executemany: the ORM's unit of work for these plain rows cost more (issue 12).
    for t in made:  # as a Core insert: the ORM's pending changes stay for the next flush
        await raw.run(session, _ADD_TOKEN, {c: getattr(t, c) for c in _TOKEN_COLUMNS}, False)
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
    scanners: list[Person] | None = None,
    tokens: list[ActionToken] | None = None,
) -> None:
    """The card to each of `people`; `scanners` (the step's `pindai_oleh`) get a copy that
    only sends the signed scan. `tokens`: the step's, when the caller has just made them."""
    view, doc = await task_view(rt, session, process, si, sop)
    view.late_by = late_by
    if tokens is None:
        tokens = await step_tokens(session, si.id)
    shared = sop.phase(si.step_no, si.role).kind in SHARED_WORK and len(people) > 1
    buttons = card_buttons(tokens, view, shared, si.claimed_by is not None)
    text = texts.task_text(view)
    copies = [(p, text, buttons) for p in people]
    if scanners:
        by_action = {t.action: t.token for t in tokens}
        scan_text = f"{text}\n{texts.scan_hint(texts.role_name(sop, si.role))}"
        scan_buttons: Buttons = [[(texts.SCAN_BUTTON, by_action["ttd"])]]
        scan_buttons.append([(_LABELS["rincian"], by_action["rincian"])])
        ids = {p.id for p in people}
        copies += [(p, scan_text, scan_buttons) for p in scanners if p.id not in ids]
    # A voice note recorded by the action that activated this step (in this transaction:
    # `add_document` lists it) goes with the card.
    voices = [d for d in session.info.get(VOICES, ()) if d.process_id == process.id]
    for person, card, card_buttons_ in copies:
        for voice in voices:
            payload = {"file_id": voice.telegram_file_id, "path": voice.path, "caption": "🎤"}
            enqueue(session, now, person.telegram_id, "send_voice", payload)
        # The document goes with the cards that are about it: the disposisi (its Surat
        # Edaran) and the reviews; drafting and collecting steps do not need it again.
        if doc is not None and late_by is None and _about_document(sop, si):
            caption = f"📄 {document_label(sop, doc)} — #{process.id} {process.title}"
            send_document(session, now, person.telegram_id, doc, caption)
        send(session, now, person.telegram_id, card, card_buttons_, si.id, tag="card")
