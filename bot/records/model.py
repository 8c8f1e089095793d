"""What the records are made of: plain data, built from the database by the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

APPROVED = ("disetujui", "paraf")  # outcomes of a review step that passed it on


@dataclass(frozen=True)
class StepRow:
    """One activation of a step (a step sent back for revision has one row per round)."""

    process_id: int
    sop_number: str
    step_no: int
    label: str  # the step's short name, e.g. "Pemeriksaan dan paraf Jafung"
    role: str  # the pelaksana as the SOP names it
    kind: str  # disposisi, tugas, unggah, kumpul, periksa, tanda_tangan
    round: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None  # selesai, disetujui, diunggah, revisi; None while open
    actor: str | None  # who closed it
    note: str | None
    worked_minutes: float  # working time in the office calendar (to now while open)
    standard_minutes: float  # the SOP's Waktu in the same calendar
    waktu: str  # the Waktu as the SOP writes it, e.g. "2 Hari"

    @property
    def late(self) -> bool:
        return self.worked_minutes > self.standard_minutes + 1e-9

    @property
    def open(self) -> bool:
        return self.finished_at is None


@dataclass(frozen=True)
class RevisionRow:
    round: int
    from_step: int
    to_step: int
    reviewer: str
    note: str
    at: datetime


@dataclass(frozen=True)
class DocumentRow:
    step_no: int
    label: str  # "Draf LAKIP ke-2 (draft_lakip_v2.pdf)"
    file_name: str
    version: int
    purpose: str
    uploaded_by: str
    at: datetime
    sha256: str
    size: int
    path: str = ""  # our stored copy under FILES_DIR (for the archive)


@dataclass(frozen=True)
class EventRow:
    """One audit-log row of the process."""

    id: int
    at: datetime
    who: str
    action: str
    step_no: int | None
    detail: str | None


@dataclass(frozen=True)
class ProcessHistory:
    process_id: int
    title: str
    sop_number: str
    sop_title: str
    status: str  # berjalan, selesai, ...
    starter: str
    created_at: datetime
    finished_at: datetime | None
    arahan: str | None
    steps: list[StepRow]
    revisions: list[RevisionRow]
    documents: list[DocumentRow]
    events: list[EventRow]
    chain_head: tuple[int | None, str]  # newest audit row id and its hash
    printed_at: datetime
    tz: str
    day_minutes: float  # one "hari" of working time (office day length)
    unit: str = "DINAS KOPERASI, USAHA KECIL MENENGAH DAN PERINDUSTRIAN KOTA SAMARINDA"

    @property
    def paraf(self) -> list[StepRow]:
        """Approvals of review steps (paraf and signature), in order."""
        return [
            s for s in self.steps if s.kind in ("periksa", "tanda_tangan") and s.outcome in APPROVED
        ]


@dataclass(frozen=True)
class DisposisiEntry:
    """One hop of the disposisi: from whom to whom, what to do, when."""

    from_name: str
    from_role: str
    to_names: list[str]
    to_role: str
    at: datetime
    instruksi: list[str] = field(default_factory=list)
    catatan: str | None = None


@dataclass(frozen=True)
class LembarDisposisi:
    """The classic one-page form. Fields the office fills by hand stay blank when unknown."""

    process_id: int
    title: str  # perihal
    sop_number: str
    sop_title: str
    tanggal: datetime  # when the disposisi was given
    entries: list[DisposisiEntry]
    paraf: list[tuple[str, str, datetime]]  # (name, role, at) of everyone who initialled
    tz: str
    nomor_agenda: str | None = None
    sifat: str = "biasa"  # biasa, segera, sangat_segera
    nomor_naskah: str | None = None  # the surat the disposisi is about (Surat Edaran...)
    surat_dari: str | None = None
    lampiran: str | None = None  # e.g. the Surat Edaran's file name
    unit: str = "DINAS KOPERASI, USAHA KECIL MENENGAH DAN PERINDUSTRIAN KOTA SAMARINDA"
