"""The SOP evaluation recap (/rekap, `python -m bot rekap`, bench/rekap.py): which SOPs and
period, the figures, the chat summary and the files. Computing and rendering happen outside
any transaction; `queue` is the one short transaction that sends the result."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.people import Actor
from bot.records import recap as figures
from bot.runtime import Runtime
from bot.services import records
from bot.services.common import Reply, ServiceError, audit
from bot.services.outgoing import enqueue, send
from bot.services.record_files import keep
from bot.sop.model import SopDefinition
from bot.texts import records as t

if TYPE_CHECKING:  # matplotlib and openpyxl load on the first recap, not at start-up
    from bot.records import charts

ROLES = ("kadis", "sekretaris")
_YEAR = re.compile(r"([0-9]{4})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_RANGE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\.\.([0-9]{4}-[0-9]{2}-[0-9]{2})")


def allowed(actor: Actor | None) -> bool:
    return actor is not None and (actor.is_admin or bool(set(ROLES) & set(actor.roles)))


def parse_args(
    rt: Runtime, args: list[str], now: datetime
) -> tuple[list[SopDefinition], records.Period]:
    """`/rekap [SOP] [periode]`: SOP as 370 or its full number (default: all); periode as
    2026, 2026-03 or 2026-01-01..2026-06-30 (default: this year)."""
    sops = rt.sops.all()
    today = now.astimezone(ZoneInfo(rt.settings.timezone)).date()
    period = records.Period(date(today.year, 1, 1), date(today.year, 12, 31))
    for arg in args:
        sop = rt.sops.get(arg)
        try:
            if sop is not None:
                sops = [sop]
            elif m := _RANGE.fullmatch(arg):
                period = records.Period(date.fromisoformat(m[1]), date.fromisoformat(m[2]))
            elif m := _MONTH.fullmatch(arg):
                year, month = int(m[1]), int(m[2])
                end = date(year + (month == 12), month % 12 + 1, 1)
                period = records.Period(date(year, month, 1), date.fromordinal(end.toordinal() - 1))
            elif m := _YEAR.fullmatch(arg):
                period = records.Period(date(int(m[1]), 1, 1), date(int(m[1]), 12, 31))
            else:
                raise ValueError(arg)
        except ValueError:
            raise ServiceError(t.REKAP_USAGE) from None
    if period.end < period.start:
        raise ServiceError(t.REKAP_USAGE)
    return sops, period


async def compute(
    rt: Runtime,
    session: AsyncSession,
    sops: list[SopDefinition],
    period: records.Period,
    now: datetime,
) -> figures.Recap:
    processes, rows = await records.recap_data(rt, session, period, sops, now)
    return figures.build(
        processes, rows, rt.calendar, [s.number for s in sops], rt.settings.time_scale
    )


def period_text(rt: Runtime, period: records.Period) -> str:
    return t.rekap_period(period.start, period.end, rt.settings.timezone)


def summary(rt: Runtime, result: figures.Recap, period: records.Period) -> str:
    """The chat answer: per SOP the share on time and the slowest step; the longest waits."""
    day = records.day_minutes(rt)
    lines = [t.rekap_head(period_text(rt, period), result.processes, result.finished)]
    for s in result.sops:
        sop = rt.sops.get(s.sop_number)
        title = (sop.nama_singkat or sop.title) if sop else ""
        total = t.working(s.median_process_minutes, day) if s.median_process_minutes else None
        lines.append(
            t.rekap_sop_line(
                sop.short if sop else s.sop_number, title, s.processes, s.on_time_pct, total
            )
        )
        slow = s.slowest()
        if slow is not None and slow.median is not None and slow.median_pct is not None:
            lines.append(
                t.rekap_worst_line(
                    slow.step_no,
                    slow.label,
                    t.working(slow.median, day),
                    t.working(slow.standard, day),
                    slow.median_pct,
                )
            )
    if result.longest:
        lines += ["", t.REKAP_WAITS]
        for r in result.longest[:5]:
            who = r.actor or f"{r.role} ({t.CHART_OPEN.lower()})"
            lines.append(
                t.rekap_wait_line(
                    r.process_id, r.step_no, r.label, who, t.working(r.worked_minutes, day)
                )
            )
    return "\n".join(lines)


def chart_bars(rt: Runtime, result: figures.Recap) -> list[charts.Bar]:
    from bot.records import charts

    bars = []
    for s in result.sops:
        sop = rt.sops.get(s.sop_number)
        short = sop.short if sop else s.sop_number
        for st in s.steps:
            if st.median_pct is None:
                continue
            bars.append(
                charts.Bar(
                    f"{short} L{st.step_no} {st.label}", st.median_pct, None, st.median_pct > 100
                )
            )
    return bars


@dataclass(frozen=True)
class RekapFiles:
    summary: str
    xlsx_path: str
    png_path: str
    period: str


def render(rt: Runtime, result: figures.Recap, period: records.Period) -> tuple[bytes, bytes]:
    from bot.records import charts, xlsx

    """(XLSX, PNG) — CPU only; run it in a thread."""
    text = period_text(rt, period)
    titles = {s.number: (s.short, s.title) for s in rt.sops.all()}
    book = xlsx.recap_xlsx(result, text, titles, rt.settings.timezone, records.day_minutes(rt))
    png = charts.recap_png(t.rekap_chart_title(text), chart_bars(rt, result))
    return book, png


def make_files(rt: Runtime, result: figures.Recap, period: records.Period) -> RekapFiles:
    book, png = render(rt, result, period)
    _, book_path = keep(rt.settings.files_dir, book, "xlsx")
    _, png_path = keep(rt.settings.files_dir, png, "png")
    return RekapFiles(summary(rt, result, period), book_path, png_path, period_text(rt, period))


def file_name(period: records.Period) -> str:
    return f"rekap_sop_{period.start.isoformat()}_{period.end.isoformat()}.xlsx"


def queue(
    session: AsyncSession,
    now: datetime,
    actor: Actor,
    files: RekapFiles,
    period: records.Period,
) -> Reply:
    """The summary, the spreadsheet and the chart, in that order, to the one who asked."""
    chat = actor.person.telegram_id
    send(session, now, chat, files.summary)
    document = {
        "file_id": None,
        "path": files.xlsx_path,
        "file_name": file_name(period),
        "caption": t.rekap_caption(files.period),
    }
    enqueue(session, now, chat, "send_document", document)
    photo = {"path": files.png_path, "caption": t.rekap_chart_caption(files.period)}
    enqueue(session, now, chat, "send_photo", photo)
    audit(session, now, actor.id, "rekap", None, None, files.period)
    return Reply("")
