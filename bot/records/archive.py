"""The archive of a finished process: one ZIP with every document version, the lembar
disposisi, the riwayat (PDF and chart), and the events and steps as CSV."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.records.model import ProcessHistory
from bot.texts import records as t


@dataclass(frozen=True)
class StoredFile:
    name: str  # the name inside the ZIP
    data: bytes


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "berkas"


def _csv(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def _local(at: datetime | None, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds") if at else ""


def archive_zip(
    h: ProcessHistory,
    documents: list[tuple[str, bytes]],  # (label-derived name, content) of every version
    riwayat_pdf: bytes,
    riwayat_png: bytes,
    lembar_pdf: bytes | None,
) -> bytes:
    tz = h.tz
    events = [["id", "waktu (WITA)", "oleh", "tindakan", "langkah", "keterangan"]]
    events += [
        [e.id, _local(e.at, tz), e.who, t.action(e.action), e.step_no or "", e.detail or ""]
        for e in h.events
    ]
    steps = [list(t.REKAP_RAW_HEAD)]
    steps += [
        [
            s.process_id,
            s.sop_number,
            s.step_no,
            s.label,
            s.role,
            s.round,
            _local(s.started_at, tz),
            _local(s.finished_at, tz),
            t.outcome(s.outcome),
            s.actor or "",
            round(s.worked_minutes, 1),
            round(s.standard_minutes, 1),
            t.YES if s.late and not s.open else t.NO,
        ]
        for s in h.steps
    ]
    files = [
        StoredFile("BACA_SAYA.txt", t.ARSIP_README.encode("utf-8")),
        StoredFile("riwayat_proses.pdf", riwayat_pdf),
        StoredFile("riwayat_proses.png", riwayat_png),
        StoredFile("peristiwa.csv", _csv(events)),
        StoredFile("langkah.csv", _csv(steps)),
    ]
    if lembar_pdf is not None:
        files.append(StoredFile("lembar_disposisi.pdf", lembar_pdf))
    seen: set[str] = set()
    for name, data in documents:
        path = f"dokumen/{_safe(name)}"
        while path in seen:  # two versions sent under one name keep both
            path = path.replace("dokumen/", "dokumen/_", 1)
        seen.add(path)
        files.append(StoredFile(path, data))
    out = io.BytesIO()
    # A fixed timestamp per entry (the process's end) keeps the archive reproducible.
    stamp = (h.finished_at or h.printed_at).astimezone(ZoneInfo(tz)).timetuple()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.writestr(zipfile.ZipInfo(f.name, date_time=stamp), f.data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def document_name(step_no: int, version: int, kind: str, file_name: str) -> str:
    """'L05_v2_Draf_LAKIP_draft_lakip_v2.pdf': sorted by step, then version."""
    return f"L{step_no:02d}_v{version}_{_safe(kind)}_{_safe(file_name)}"
