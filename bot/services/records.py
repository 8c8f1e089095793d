"""Records from the database: the queries that build the plain dataclasses bot/records
renders (riwayat, recap, the tanda terima register; the lembar is in lembar.py). Read-only,
a few queries each, no lazy loading; the caller owns the session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.records.model import (
    DocumentRow,
    EventRow,
    ProcessHistory,
    RevisionRow,
    StepRow,
)
from bot.records.recap import ProcessRow, worked_minutes
from bot.runtime import Runtime
from bot.services.common import RECORD_PURPOSES
from bot.services.views import document_label
from bot.sop.model import Kind, SopDefinition
from bot.workflow.calendar import parse_waktu
from storage.models import (
    AuditLog,
    Document,
    Person,
    Process,
    RevisionNote,
    StepInstance,
)

GENERATED = RECORD_PURPOSES  # documents the bot made itself (not part of the riwayat)


def day_minutes(rt: Runtime) -> float:
    return rt.calendar.waktu_minutes(parse_waktu("1 Hari"))


@dataclass(frozen=True)
class _StepFacts:
    label: str
    role: str
    kind: str
    standard: float
    waktu: str


_facts: dict[tuple[int, str, int], _StepFacts] = {}


def _step_facts(rt: Runtime, sop: SopDefinition, no: int, role: str) -> _StepFacts:
    """What a step's rows share (parsed once per step, not once per activation)."""
    key = (id(rt.calendar), sop.number, no, role)
    facts = _facts.get(key)
    if facts is None or len(_facts) > 10_000:
        step = sop.phase(no, role)  # the signer's turn of an upload reads as the signing
        facts = _facts[key] = _StepFacts(
            step.short,
            texts.role_name(sop, step.role),
            step.kind.value,
            rt.calendar.waktu_minutes(step.waktu_parsed),
            step.waktu,
        )
    return facts


def step_row(rt: Runtime, sop: SopDefinition, si: Any, actor: str | None, now: datetime) -> StepRow:
    """One activation as a record row; `si` is a StepInstance or a row with its columns."""
    facts = _step_facts(rt, sop, si.step_no, si.role)
    return StepRow(
        process_id=si.process_id,
        sop_number=sop.number,
        step_no=si.step_no,
        label=facts.label,
        role=facts.role,
        kind=facts.kind,
        round=si.round,
        started_at=si.started_at,
        finished_at=si.finished_at,
        outcome=si.outcome,
        actor=actor,
        note=si.note,
        worked_minutes=worked_minutes(
            rt.calendar, si.started_at, si.finished_at or now, rt.settings.time_scale
        ),
        standard_minutes=facts.standard,
        waktu=facts.waktu,
    )


async def chain_head(session: AsyncSession) -> tuple[int | None, str]:
    row = (
        await session.execute(select(AuditLog.id, AuditLog.hash).order_by(AuditLog.id.desc()))
    ).first()
    return (row[0], row[1]) if row else (None, "0" * 64)


async def history(
    rt: Runtime, session: AsyncSession, process: Process, sop: SopDefinition, now: datetime
) -> ProcessHistory:
    """Everything the riwayat shows, in five queries."""
    pid = process.id
    steps = (
        await session.execute(
            select(StepInstance, Person.name)
            .outerjoin(Person, Person.id == StepInstance.actor_id)
            .where(StepInstance.process_id == pid)
            .order_by(StepInstance.id)
        )
    ).all()
    revisions = (
        await session.execute(
            select(RevisionNote, Person.name)
            .join(Person, Person.id == RevisionNote.reviewer_id)
            .where(RevisionNote.process_id == pid)
            .order_by(RevisionNote.id)
        )
    ).all()
    documents = (
        await session.execute(
            select(Document, Person.name)
            .join(Person, Person.id == Document.uploaded_by)
            .where(Document.process_id == pid, Document.purpose.not_in(GENERATED))
            .order_by(Document.id)
        )
    ).all()
    events = (
        await session.execute(
            select(AuditLog, Person.name)
            .outerjoin(Person, Person.id == AuditLog.person_id)
            .where(AuditLog.process_id == pid)
            .order_by(AuditLog.id)
        )
    ).all()
    starter = await session.scalar(select(Person.name).where(Person.id == process.starter_id))
    return ProcessHistory(
        process_id=pid,
        title=process.title,
        sop_number=sop.number,
        sop_title=sop.title,
        status=process.status,
        starter=starter or "-",
        created_at=process.created_at,
        finished_at=process.finished_at,
        arahan=process.arahan,
        steps=[step_row(rt, sop, si, name, now) for si, name in steps],
        revisions=[
            RevisionRow(r.round, r.from_step, r.to_step, name, r.note, r.created_at)
            for r, name in revisions
        ],
        documents=[
            DocumentRow(
                step_no=d.step_no,
                label=document_label(sop, d),
                file_name=d.file_name,
                version=d.version,
                purpose=d.purpose,
                uploaded_by=name,
                at=d.created_at,
                sha256=d.sha256,
                size=d.size,
                path=d.path,
            )
            for d, name in documents
        ],
        events=[
            EventRow(a.id, a.at, name or "sistem", a.action, a.step_no, a.detail)
            for a, name in events
        ],
        chain_head=await chain_head(session),
        printed_at=now,
        tz=rt.settings.timezone,
        day_minutes=day_minutes(rt),
    )


@dataclass(frozen=True)
class Period:
    start: date  # local dates, inclusive
    end: date

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        zone = ZoneInfo(tz)
        return (
            datetime.combine(self.start, time(0), tzinfo=zone),
            datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=zone),
        )


_STEP_COLUMNS = (
    StepInstance.process_id,
    StepInstance.step_no,
    StepInstance.role,
    StepInstance.round,
    StepInstance.started_at,
    StepInstance.finished_at,
    StepInstance.outcome,
    StepInstance.note,
)


async def recap_data(
    rt: Runtime,
    session: AsyncSession,
    period: Period,
    sops: list[SopDefinition],
    now: datetime,
) -> tuple[list[ProcessRow], list[StepRow]]:
    """Processes started in the period and every activation of their steps: two queries."""
    start, end = period.bounds(rt.settings.timezone)
    numbers = [s.number for s in sops]
    by_number = {s.number: s for s in sops}
    procs = (
        await session.execute(
            select(
                Process.id,
                Process.sop_number,
                Process.title,
                Process.status,
                Process.created_at,
                Process.finished_at,
            )
            .where(
                Process.created_at >= start,
                Process.created_at < end,
                Process.sop_number.in_(numbers),
            )
            .order_by(Process.id)
        )
    ).all()
    processes = [ProcessRow(*p) for p in procs]
    sop_of = {p.process_id: by_number[p.sop_number] for p in processes}
    rows = (
        await session.execute(
            select(*_STEP_COLUMNS, Person.name)  # columns, not entities: 10k rows load fast
            .join(Process, Process.id == StepInstance.process_id)
            .outerjoin(Person, Person.id == StepInstance.actor_id)
            .where(
                Process.created_at >= start,
                Process.created_at < end,
                Process.sop_number.in_(numbers),
            )
            .order_by(StepInstance.process_id, StepInstance.id)
        )
    ).all()
    steps = [step_row(rt, sop_of[r.process_id], r, r.name, now) for r in rows]
    return processes, steps


@dataclass(frozen=True)
class TandaTerima:
    process_id: int
    title: str
    sop_short: str
    label: str
    uploaded_by: str
    at: datetime
    nomor_agenda: str | None


def receipt_steps(sop: SopDefinition) -> list[int]:
    """The steps whose document is a tanda terima (the SOP's pencatatan)."""
    return [
        s.no
        for s in sop.steps
        if "tanda terima" in f"{s.dokumen} {s.output}".lower() and s.kind is Kind.UNGGAH
    ]


async def tanda_terima(
    rt: Runtime, session: AsyncSession, limit: int | None = None
) -> list[TandaTerima]:
    """The register of tanda terima, newest first: every receipt uploaded on a receipt step."""
    out: list[TandaTerima] = []
    which = [
        and_(Process.sop_number == sop.number, Document.step_no.in_(receipt_steps(sop)))
        for sop in rt.sops.all()
        if receipt_steps(sop)
    ]
    if not which:
        return out
    query = (
        select(Document, Process, Person.name)
        .join(Process, Process.id == Document.process_id)
        .join(Person, Person.id == Document.uploaded_by)
        .where(Document.purpose.not_in(GENERATED), or_(*which))
        .order_by(Document.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    for doc, process, name in (await session.execute(query)).all():
        sop = rt.sops.get(process.sop_number)
        assert sop is not None
        out.append(
            TandaTerima(
                process.id,
                process.title,
                sop.short,
                document_label(sop, doc),
                name,
                doc.created_at,
                process.nomor_agenda,
            )
        )
    return out
