"""The SOP evaluation recap as figures (pure): per SOP, per step and per pelaksana — count,
median and maximum working time against the SOP's standard, share on time, revision rounds
of each review step, and the longest waits. Working time is the office calendar's
(bot/workflow/calendar.py): weekends, holidays and nights do not count."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from bot.records.model import StepRow
from bot.workflow.calendar import WorkCalendar


def worked_minutes(
    calendar: WorkCalendar, started: datetime, finished: datetime, time_scale: float = 1.0
) -> float:
    """Working time of one activation, in SOP minutes (TIME_SCALE=60 runs SOP minutes in
    real seconds, so one real minute counts as sixty)."""
    return calendar.working_minutes_between(started, finished) * time_scale


@dataclass(frozen=True)
class ProcessRow:
    process_id: int
    sop_number: str
    title: str
    status: str
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class StepStat:
    step_no: int
    label: str
    role: str
    kind: str
    count: int  # finished activations
    median: float | None  # working minutes
    maximum: float | None
    standard: float
    on_time_pct: float | None
    revisions: int  # review steps: activations that sent the draft back
    revisions_per_process: float | None

    @property
    def median_pct(self) -> float | None:
        return None if self.median is None else 100.0 * self.median / self.standard


@dataclass(frozen=True)
class PersonStat:
    name: str
    count: int
    median: float
    maximum: float
    on_time_pct: float


@dataclass(frozen=True)
class SopRecap:
    sop_number: str
    processes: int
    finished: int
    median_process_minutes: float | None  # working time from start to finish
    on_time_pct: float | None  # of all finished activations
    steps: list[StepStat]
    people: list[PersonStat]

    def slowest(self) -> StepStat | None:
        """The step whose median is furthest over (or least under) its standard."""
        measured = [s for s in self.steps if s.median_pct is not None]
        return max(measured, key=lambda s: s.median_pct or 0.0) if measured else None


@dataclass(frozen=True)
class Recap:
    sops: list[SopRecap]
    longest: list[StepRow]  # the longest waits, finished or still open
    rows: list[StepRow]  # the raw events

    @property
    def processes(self) -> int:
        return sum(s.processes for s in self.sops)

    @property
    def finished(self) -> int:
        return sum(s.finished for s in self.sops)


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def build(
    processes: list[ProcessRow],
    rows: list[StepRow],
    calendar: WorkCalendar,
    sop_order: list[str],
    time_scale: float = 1.0,
    longest: int = 10,
) -> Recap:
    by_sop: dict[str, list[StepRow]] = defaultdict(list)
    for row in rows:
        by_sop[row.sop_number].append(row)
    procs: dict[str, list[ProcessRow]] = defaultdict(list)
    for p in processes:
        procs[p.sop_number].append(p)
    sops = []
    for number in [n for n in sop_order if n in procs]:
        sop_rows, sop_procs = by_sop[number], procs[number]
        done = [p for p in sop_procs if p.finished_at is not None]
        totals = [
            worked_minutes(calendar, p.created_at, p.finished_at, time_scale)
            for p in done
            if p.finished_at is not None
        ]
        finished_rows = [r for r in sop_rows if not r.open]
        sops.append(
            SopRecap(
                sop_number=number,
                processes=len(sop_procs),
                finished=len(done),
                median_process_minutes=median(totals) if totals else None,
                on_time_pct=_pct(sum(not r.late for r in finished_rows), len(finished_rows)),
                steps=_steps(sop_rows),
                people=_people(finished_rows),
            )
        )
    waits = sorted(rows, key=lambda r: r.worked_minutes, reverse=True)[:longest]
    return Recap(sops, waits, rows)


def _steps(rows: list[StepRow]) -> list[StepStat]:
    by_step: dict[int, list[StepRow]] = defaultdict(list)
    for row in rows:
        by_step[row.step_no].append(row)
    stats = []
    for no in sorted(by_step):
        group = by_step[no]
        first = group[0]
        done = [r.worked_minutes for r in group if not r.open]
        on_time = sum(1 for r in group if not r.open and not r.late)
        revisions = sum(1 for r in group if r.outcome == "revisi")
        review = first.kind in ("periksa", "tanda_tangan")
        reached = len({r.process_id for r in group})
        stats.append(
            StepStat(
                step_no=no,
                label=first.label,
                role=first.role,
                kind=first.kind,
                count=len(done),
                median=median(done) if done else None,
                maximum=max(done) if done else None,
                standard=first.standard_minutes,
                on_time_pct=_pct(on_time, len(done)),
                revisions=revisions,
                revisions_per_process=revisions / reached if review and reached else None,
            )
        )
    return stats


def _people(rows: list[StepRow]) -> list[PersonStat]:
    by_person: dict[str, list[StepRow]] = defaultdict(list)
    for row in rows:
        by_person[row.actor or "-"].append(row)
    return [
        PersonStat(
            name=name,
            count=len(group),
            median=median(r.worked_minutes for r in group),
            maximum=max(r.worked_minutes for r in group),
            on_time_pct=100.0 * sum(not r.late for r in group) / len(group),
        )
        for name, group in sorted(by_person.items())
    ]
