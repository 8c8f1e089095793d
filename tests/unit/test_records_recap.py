"""Recap figures against a history whose working times are worked out by hand: across a
weekend and Hari Kemerdekaan (Monday 17 August 2026), office hours 07.30–16.00 WITA."""

from __future__ import annotations

from datetime import datetime
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.records import recap, xlsx
from bot.records.model import StepRow
from bot.workflow.calendar import OfficeCalendar

WITA = ZoneInfo("Asia/Makassar")
CAL = OfficeCalendar()
LAKIP = "000.8.3.3/370/100.14"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 8, day, hour, minute, tzinfo=WITA)


def row(pid, no, kind, start, end, outcome, actor, standard, round_=0) -> StepRow:  # type: ignore[no-untyped-def]
    return StepRow(
        process_id=pid,
        sop_number=LAKIP,
        step_no=no,
        label={3: "Koordinasi", 6: "Pemeriksaan Jafung"}[no],
        role="Jafung Perencana",
        kind=kind,
        round=round_,
        started_at=start,
        finished_at=end,
        outcome=outcome,
        actor=actor,
        note=None,
        worked_minutes=recap.worked_minutes(CAL, start, end),
        standard_minutes=standard,
        waktu="x",
    )


TWO_DAYS, FIVE_MINUTES = 2 * 510.0, 5.0
ROWS = [
    # Fri 10.00 → Tue 10.00: 6 h Friday + 2.5 h Tuesday = 510 min (weekend, holiday skipped)
    row(1, 6, "periksa", at(14, 10), at(18, 10), "revisi", "Pak Jafung", TWO_DAYS),
    # Wed 09.00 → 11.00: 120 min
    row(1, 6, "periksa", at(19, 9), at(19, 11), "disetujui", "Pak Jafung", TWO_DAYS, 1),
    # Thu 08.00 → next Wed 08.00: 480 + 510 + 0 + 0 + 0 + 510 + 30 = 1530 min (late)
    row(2, 6, "periksa", at(13, 8), at(19, 8), "disetujui", "Bu Jafung", TWO_DAYS),
    # Fri 15.58 → Tue 07.33: 2 + 3 = 5 min: exactly the standard, on time
    row(1, 3, "disposisi", at(14, 15, 58), at(18, 7, 33), "selesai", "Pak Jafung", FIVE_MINUTES),
    # Fri 15.58 → 16.30: only 2 min before closing count
    row(2, 3, "disposisi", at(14, 15, 58), at(14, 16, 30), "selesai", "Bu Jafung", FIVE_MINUTES),
    # still open since Tue 07.30, measured to Wed 07.30: one office day
    StepRow(
        2,
        LAKIP,
        7,
        "Pemeriksaan Sekretaris",
        "Sekretaris",
        "periksa",
        0,
        at(18, 7, 30),
        None,
        None,
        None,
        None,
        recap.worked_minutes(CAL, at(18, 7, 30), at(19, 7, 30)),
        TWO_DAYS,
        "2 Hari",
    ),
]
PROCESSES = [
    # Wed 12 Aug 09.00 → Wed 19 Aug 11.00: 420 + 510*3 (Thu, Fri, Tue) + 210 = 2160 min
    recap.ProcessRow(1, LAKIP, "LAKIP 2026", "selesai", at(12, 9), at(19, 11)),
    recap.ProcessRow(2, LAKIP, "LAKIP 2026 (2)", "berjalan", at(13, 8), None),
]


def test_working_times_skip_the_weekend_the_holiday_and_the_night() -> None:
    assert [r.worked_minutes for r in ROWS] == [510, 120, 1530, 5, 2, 510]
    assert [r.late for r in ROWS[:5]] == [False, False, True, False, False]


def test_figures_per_step_against_the_standard() -> None:
    result = recap.build(PROCESSES, ROWS, CAL, [LAKIP])
    (sop,) = result.sops
    assert (sop.processes, sop.finished) == (2, 1)
    assert sop.median_process_minutes == 2160
    review = next(s for s in sop.steps if s.step_no == 6)
    assert (review.count, review.median, review.maximum) == (3, 510, 1530)
    assert review.on_time_pct == pytest.approx(200 / 3)
    assert review.revisions == 1 and review.revisions_per_process == 0.5  # 1 round, 2 processes
    assert review.median_pct == pytest.approx(50.0)
    disposisi = next(s for s in sop.steps if s.step_no == 3)
    assert (disposisi.count, disposisi.median, disposisi.on_time_pct) == (2, 3.5, 100.0)
    assert disposisi.revisions_per_process is None  # not a review step
    assert sop.slowest().step_no == 3  # 70% of its standard beats 50%
    # 5 finished activations, the late review is the only one over
    assert sop.on_time_pct == pytest.approx(80.0)


def test_per_pelaksana_and_longest_waits() -> None:
    result = recap.build(PROCESSES, ROWS, CAL, [LAKIP], longest=3)
    people = {p.name: p for p in result.sops[0].people}
    assert people["Pak Jafung"].count == 3 and people["Pak Jafung"].maximum == 510
    assert people["Bu Jafung"].on_time_pct == 50.0  # 1530 late, 2 on time
    assert [(r.process_id, r.step_no, r.worked_minutes) for r in result.longest] == [
        (2, 6, 1530),
        (1, 6, 510),
        (2, 7, 510),  # the open one counts too
    ]


def test_the_spreadsheet_has_a_sheet_per_sop_and_the_raw_events() -> None:
    result = recap.build(PROCESSES, ROWS, CAL, [LAKIP])
    data = xlsx.recap_xlsx(result, "Agustus 2026", {LAKIP: ("370", "LAKIP")}, "Asia/Makassar", 510)
    wb = load_workbook(BytesIO(data))
    assert wb.sheetnames == ["Ringkasan", "SOP 370", "Peristiwa"]
    sheet = wb["SOP 370"]
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    head = rows.index(next(r for r in rows if r[0] == "Langkah"))
    review = next(r for r in rows[head:] if str(r[0]).startswith("L6 "))
    as_dict = dict(zip(rows[head], review, strict=False))
    assert as_dict["Jumlah"] == 3 and as_dict["Median (menit)"] == 510
    assert as_dict["Maksimum"] == "3 hari"  # 1530 min = three office days
    assert as_dict["% tepat waktu"] == pytest.approx(66.7)
    assert as_dict["Revisi"] == 1 and as_dict["Revisi per proses"] == 0.5
    raw = [[c.value for c in r] for r in wb["Peristiwa"].iter_rows()]
    assert len(raw) == 1 + len(ROWS)
    first = dict(zip(raw[0], raw[1], strict=True))
    assert first["Mulai (WITA)"] == "2026-08-14 10:00"  # wall clock in WITA
    assert first["Waktu kerja (menit)"] == 510 and first["Hasil"] == "Revisi diminta"
    late = [dict(zip(raw[0], r, strict=True)) for r in raw[1:]]
    assert [r["Terlambat"] for r in late] == ["tidak", "tidak", "ya", "tidak", "tidak", "tidak"]
