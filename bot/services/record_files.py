"""Record files: asked for in an action's transaction (a `send_record` outbox row), made
when the outbox delivers them — rendering never holds a transaction open — and kept under
FILES_DIR content-addressed like every other file. The archive ZIP and the lembar
disposisi are kept with the process as documents (made once, sent again from the copy)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import logging
import re
import secrets
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.people import Actor
from bot.records import archive
from bot.records.model import ProcessHistory
from bot.runtime import Runtime
from bot.services import lembar, records
from bot.services.common import Reply, ServiceError, audit, sop_of
from bot.services.outgoing import enqueue
from bot.sop.model import Kind, SopDefinition
from bot.texts import PROCESS_NOT_FOUND

if TYPE_CHECKING:  # matplotlib, fpdf2 (~100 MB) load on the first record, not at start-up
    from bot.records import charts
from bot.texts import records as t
from bot.workflow.events import Event, ProcessFinished, StepActivated
from storage.models import Document, Person, Process

log = logging.getLogger(__name__)

MIME = {
    "pdf": "application/pdf",
    "png": "image/png",
    "zip": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Made:
    """A file ready to send: our stored copy, its name in the chat, its caption."""

    path: str
    file_name: str
    caption: str
    photo: bool = False


def keep(files_dir: Path, data: bytes, ext: str) -> tuple[str, str]:
    """(sha256, path): stored once by content; a half-written file never stays behind."""
    digest = hashlib.sha256(data).hexdigest()
    path = files_dir / digest[:2] / f"{digest}.{ext}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return digest, str(path)


def timeline_bars(h: ProcessHistory) -> list[charts.Bar]:
    from bot.records import charts

    return [
        charts.Bar(
            label=f"L{s.step_no} {s.label}" + (f" (r{s.round})" if s.round else ""),
            value=s.worked_minutes,
            standard=s.standard_minutes,
            late=s.late,
            open=s.open,
        )
        for s in h.steps
    ]


def render_riwayat(h: ProcessHistory) -> tuple[bytes, bytes]:
    from bot.records import charts, pdf

    """(PDF, PNG); the PDF carries the chart too."""
    png = charts.timeline_png(t.chart_title(h.process_id, h.title), timeline_bars(h))
    return pdf.riwayat_pdf(h, png), png


def render_archive(h: ProcessHistory, lembar_pdf: bytes | None) -> bytes:
    riwayat_pdf, png = render_riwayat(h)
    documents = []
    for d in h.documents:
        try:
            data = Path(d.path).read_bytes()
        except OSError as exc:  # listed in the riwayat even so, with its sha256
            log.warning("archive of #%s: %s missing: %s", h.process_id, d.path, exc)
            continue
        kind = re.sub(r" ke-[0-9]+$", "", d.label.split(" (")[0])  # "Draf LAKIP"
        documents.append((archive.document_name(d.step_no, d.version, kind, d.file_name), data))
    return archive.archive_zip(h, documents, riwayat_pdf, png, lembar_pdf)


# --- asking for records (inside an action's transaction) -----------------------------------


def ask(
    session: AsyncSession,
    now: datetime,
    chat_id: int,
    record: str,
    process_id: int,
    person_id: int | None,
) -> None:
    payload = {"record": record, "process_id": process_id, "person_id": person_id}
    enqueue(session, now, chat_id, "send_record", payload)


async def request_riwayat(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor, process_id: int
) -> Reply:
    """/riwayat N and the 📄 Riwayat button: the PDF and the chart come to this chat."""
    process = await session.get(Process, process_id)
    if process is None:
        raise ServiceError(PROCESS_NOT_FOUND)
    sop_of(rt, process)
    chat = actor.person.telegram_id
    ask(session, now, chat, "riwayat_pdf", process.id, actor.id)
    ask(session, now, chat, "riwayat_png", process.id, actor.id)
    audit(session, now, actor.id, "riwayat", process.id)
    return Reply(t.RIWAYAT_SENT)


async def on_events(
    session: AsyncSession,
    now: datetime,
    actor: Actor | None,
    process: Process,
    sop: SopDefinition,
    events: list[Event],
) -> None:
    """After a transition: the lembar disposisi goes to the starter once the disposisi has
    reached the first step that is not a disposisi; at the end, whoever archives gets the
    archive ZIP and the riwayat, and the starter the riwayat."""
    lembar = any(isinstance(e, StepActivated) and _ends_disposisi(sop, e.step_no) for e in events)
    finished = any(isinstance(e, ProcessFinished) for e in events)
    if not (lembar or finished):
        return  # most transitions: no query at all
    starter = await session.scalar(
        select(Person.telegram_id).where(Person.id == process.starter_id)
    )
    for event in events:
        ends = isinstance(event, StepActivated) and _ends_disposisi(sop, event.step_no)
        if ends and starter is not None:
            ask(session, now, starter, "lembar", process.id, process.starter_id)
        if isinstance(event, ProcessFinished):
            archiver = actor.person.telegram_id if actor else starter
            person = actor.id if actor else process.starter_id
            if archiver is not None:
                ask(session, now, archiver, "arsip", process.id, person)
                ask(session, now, archiver, "riwayat_pdf", process.id, person)
            if starter is not None and starter != archiver:
                ask(session, now, starter, "riwayat_pdf", process.id, process.starter_id)
            audit(session, now, person, "arsip", process.id)


def _ends_disposisi(sop: SopDefinition, step_no: int) -> bool:
    """The first non-disposisi step after the disposisi chain (a revision never goes back
    there, so this happens once per process)."""
    before = [s for s in sop.steps if s.no < step_no]
    return (
        sop.step(step_no).kind is not Kind.DISPOSISI
        and bool(before)
        and all(s.kind is Kind.DISPOSISI for s in before)
    )


# --- making records (in the outbox, outside any transaction) --------------------------------


async def make(rt: Runtime, payload: dict[str, Any]) -> Made:
    """Build, render and keep the file a `send_record` row asks for."""
    # matplotlib and fpdf2 load in a worker thread: the first record of a process's life
    # must not freeze every chat for the second their import takes.
    pdf = await asyncio.to_thread(importlib.import_module, "bot.records.pdf")
    record, process_id = payload["record"], int(payload["process_id"])
    files_dir = rt.settings.files_dir
    async with rt.sessions() as session:
        process = await session.get(Process, process_id)
        if process is None:
            raise ServiceError(PROCESS_NOT_FOUND)
        sop = sop_of(rt, process)
        if record in ("arsip", "lembar"):
            kept = await _kept(session, process_id, record)
            if kept is not None:
                return _made(record, process, kept.path)
        now = rt.clock.now()
        history = await records.history(rt, session, process, sop, now)
        form = await lembar.build(rt, session, process, sop)
    if record in ("riwayat_pdf", "riwayat_png"):
        pdf_data, png = await asyncio.to_thread(render_riwayat, history)
        data, ext = (png, "png") if record == "riwayat_png" else (pdf_data, "pdf")
        _, path = await asyncio.to_thread(keep, files_dir, data, ext)
    elif record == "lembar":
        data = await asyncio.to_thread(pdf.lembar_pdf, form)
        path = await _keep_with_process(rt, process, sop, record, data, "pdf", payload)
    elif record == "arsip":
        lembar_pdf = await asyncio.to_thread(pdf.lembar_pdf, form) if form.entries else None
        zipped = await asyncio.to_thread(render_archive, history, lembar_pdf)
        path = await _keep_with_process(rt, process, sop, record, zipped, "zip", payload)
    else:
        raise ValueError(f"unknown record {record}")
    return _made(record, process, path)


def stem(process: Process) -> str:
    """The process in a file name: its number and, when it has one, its nomor agenda
    (370/004/2026 → 1_370-004-2026), so a printed or archived file says which it is."""
    agenda = re.sub(r"[^0-9A-Za-z.-]+", "-", process.nomor_agenda or "").strip("-")
    return f"{process.id}_{agenda}" if agenda else str(process.id)


def _made(record: str, process: Process, path: str) -> Made:
    pid, title, name = process.id, process.title, stem(process)
    match record:
        case "riwayat_png":
            return Made(path, f"riwayat_proses_{name}.png", t.chart_caption(pid), photo=True)
        case "riwayat_pdf":
            return Made(path, f"riwayat_proses_{name}.pdf", t.riwayat_caption(pid, title))
        case "lembar":
            return Made(path, f"lembar_disposisi_{name}.pdf", t.lembar_caption(pid, title))
    return Made(path, f"arsip_proses_{name}.zip", t.arsip_caption(pid, title, _count(path)))


def _count(path: str) -> int:
    with zipfile.ZipFile(path) as zf:
        return len(zf.namelist())


async def _kept(session: AsyncSession, process_id: int, purpose: str) -> Document | None:
    doc = await session.scalar(
        select(Document)
        .where(Document.process_id == process_id, Document.purpose == purpose)
        .order_by(Document.id.desc())
        .limit(1)
    )
    return doc if doc is not None and Path(doc.path).exists() else None


async def _keep_with_process(
    rt: Runtime,
    process: Process,
    sop: SopDefinition,
    purpose: str,
    data: bytes,
    ext: str,
    payload: dict[str, Any],
) -> str:
    digest, path = await asyncio.to_thread(keep, rt.settings.files_dir, data, ext)
    name = f"{'arsip_proses' if purpose == 'arsip' else 'lembar_disposisi'}_{stem(process)}.{ext}"
    step_no = sop.steps[-1].no
    async with rt.sessions.begin() as session:
        if await _kept(session, process.id, purpose) is None:
            session.add(
                Document(
                    process_id=process.id,
                    step_no=step_no,
                    version=1,
                    purpose=purpose,
                    file_name=name,
                    mime_type=MIME[ext],
                    size=len(data),
                    sha256=digest,
                    telegram_file_id="",
                    path=path,
                    uploaded_by=int(payload.get("person_id") or process.starter_id),
                    created_at=rt.clock.now(),
                )
            )
    return path
