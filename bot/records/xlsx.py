"""The SOP evaluation recap as a spreadsheet (openpyxl): a summary sheet, one sheet per SOP
(per step, per pelaksana, the longest waits) and the raw events, one row per activation."""

from __future__ import annotations

import re
from datetime import datetime
from io import BytesIO
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from bot.records.recap import Recap
from bot.texts import records as t

_BOLD = Font(bold=True)


def _local(at: datetime | None, tz: str) -> str | None:
    """WITA wall-clock time as text that sorts ('2026-08-14 15:00'): Excel has no time
    zones, and a date cell costs openpyxl twice a text one on a 10k-row sheet."""
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if at else None


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _bold(ws: WriteOnlyWorksheet, values: list[object] | tuple[str, ...]) -> None:
    row = []
    for value in values:
        cell = WriteOnlyCell(ws, value=value)
        cell.font = _BOLD
        row.append(cell)
    ws.append(row)


def recap_xlsx(
    recap: Recap,
    period: str,
    titles: dict[str, tuple[str, str]],  # sop number -> (short, title)
    tz: str,
    day_minutes: float,
) -> bytes:
    # Write-only: rows stream out without a cell object each (the raw sheet has 10k+ rows).
    wb = Workbook(write_only=True)
    summary = wb.create_sheet("Ringkasan")
    _bold(summary, [t.rekap_head(period, recap.processes, recap.finished).replace("📊 ", "")])
    summary.append([])
    _bold(summary, ["SOP", "Judul", "Proses", "Selesai", "% langkah tepat waktu"])
    for s in recap.sops:
        short, title = titles.get(s.sop_number, (s.sop_number, ""))
        summary.append([s.sop_number, title, s.processes, s.finished, _num(s.on_time_pct)])

    for s in recap.sops:
        short, title = titles.get(s.sop_number, (s.sop_number, ""))
        ws = wb.create_sheet(re.sub(r"[\[\]:*?/\\]", "-", f"SOP {short}")[:31])
        ws.column_dimensions["A"].width = 40
        _bold(ws, [f"{title} ({s.sop_number})"])
        ws.append([period])
        ws.append([])
        _bold(ws, t.REKAP_STEP_HEAD)
        for st in s.steps:
            ws.append(
                [
                    f"L{st.step_no} {st.label}",
                    st.role,
                    st.count,
                    t.working(st.median, day_minutes) if st.median is not None else "-",
                    t.working(st.maximum, day_minutes) if st.maximum is not None else "-",
                    t.working(st.standard, day_minutes),
                    _num(st.median),
                    _num(st.maximum),
                    _num(st.standard),
                    _num(st.on_time_pct),
                    st.revisions if st.kind in ("periksa", "tanda_tangan") else None,
                    _num(st.revisions_per_process),
                ]
            )
        ws.append([])
        _bold(ws, t.REKAP_PERSON_HEAD)
        for p in s.people:
            ws.append([p.name, p.count, _num(p.median), _num(p.maximum), _num(p.on_time_pct)])
        ws.append([])
        _bold(ws, t.REKAP_WAIT_HEAD)
        for r in [r for r in recap.longest if r.sop_number == s.sop_number]:
            ws.append(
                [
                    f"#{r.process_id}",
                    f"L{r.step_no} {r.label}",
                    r.actor or r.role,
                    t.working(r.worked_minutes, day_minutes),
                    t.working(r.standard_minutes, day_minutes),
                    t.CHART_OPEN if r.open else t.outcome(r.outcome),
                ]
            )

    raw = wb.create_sheet(t.RAW_SHEET)
    _bold(raw, t.REKAP_RAW_HEAD)
    for r in recap.rows:
        raw.append(
            [
                r.process_id,
                r.sop_number,
                r.step_no,
                r.label,
                r.role,
                r.round,
                _local(r.started_at, tz),
                _local(r.finished_at, tz),
                t.outcome(r.outcome) if r.outcome else t.CHART_OPEN,
                r.actor or "",
                _num(r.worked_minutes),
                _num(r.standard_minutes),
                t.YES if r.late and not r.open else t.NO,
            ]
        )
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
