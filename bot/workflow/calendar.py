"""Working-time arithmetic for SOP step deadlines.

A step's standard time ("5 Menit", "1 Jam", "2 Hari") counts only office working time:
Monday–Friday, inside office hours, skipping Indonesian public holidays, cuti bersama and
closures the admin configures. Everything here is pure (no I/O, no clock reads); callers pass
timezone-aware datetimes and always get UTC back.

Semantics shared by both calendars:

* ``add_working(start, m)`` is the *earliest* instant ``t >= start`` with
  ``working_minutes_between(start, t) == m``. Hence, when working time runs out exactly at
  closing, the deadline is that closing time (16:00), not the next morning's opening; and
  ``add_working(start, 0) == start``.
* Office hours are the half-open interval ``[opens, closes)``: ``is_open`` is false at exactly
  closing time, so continuing from a deadline that fell on closing time resumes at the next
  opening. That makes ``add_working(add_working(s, a), b) == add_working(s, a + b)`` hold
  exactly (minutes are rounded to whole microseconds, as ``timedelta`` does).
* "N hari" is N × the length of an office day of working time, not "same clock time N days
  later", so a day started at 15:00 ends at 15:00 on the Nth working day.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Literal, Protocol, cast, runtime_checkable
from zoneinfo import ZoneInfo

import holidays

Unit = Literal["menit", "jam", "hari"]
_UNITS: tuple[Unit, ...] = ("menit", "jam", "hari")

_ONE_DAY = timedelta(days=1)
_CONTOH = 'gunakan misalnya "5 Menit", "1 Jam" atau "2 Hari"'
# ASCII digits only: \d would also accept e.g. Arabic-Indic digits, which int() silently converts.
_WAKTU_RE = re.compile(r"\s*([0-9]+)\s*(menit|jam|hari)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Waktu:
    """A step's standard time as written in the SOP document."""

    amount: int
    unit: Unit
    text: str

    def __post_init__(self) -> None:
        if self.unit not in _UNITS:
            raise ValueError(f'Satuan waktu "{self.unit}" tidak dikenali; {_CONTOH}')
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise ValueError(f'Jumlah waktu "{self.text}" harus bilangan bulat lebih dari 0')


def parse_waktu(text: str) -> Waktu:
    """Parse "5 Menit", "1 jam", " 2  HARI " …; raise ValueError (in Indonesian) otherwise."""
    match = _WAKTU_RE.fullmatch(text)
    if match is None:
        raise ValueError(f'Waktu "{text.strip()}" tidak dikenali; {_CONTOH}')
    amount = int(match.group(1))
    unit = cast(Unit, match.group(2).lower())
    written = " ".join(text.split())
    if amount < 1:
        raise ValueError(f'Waktu "{written}" harus lebih dari 0; {_CONTOH}')
    return Waktu(amount=amount, unit=unit, text=written)


@runtime_checkable
class WorkCalendar(Protocol):
    def add(self, start: datetime, waktu: Waktu) -> datetime: ...

    def add_working(self, start: datetime, minutes: float) -> datetime: ...

    def is_open(self, at: datetime) -> bool: ...

    def next_open(self, at: datetime) -> datetime: ...

    def is_working_day(self, day: date) -> bool: ...

    def working_minutes_between(self, start: datetime, end: datetime) -> float: ...

    def waktu_minutes(self, waktu: Waktu) -> float: ...


def _utc(at: datetime, name: str = "waktu") -> datetime:
    # A naive datetime would silently be read as the server's local time; refuse it instead.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} harus timezone-aware, bukan naive datetime: {at!r}")
    return at.astimezone(UTC)


def _duration(minutes: float) -> timedelta:
    if isinstance(minutes, bool) or not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"Jumlah menit kerja harus angka terhingga >= 0, bukan {minutes!r}")
    return timedelta(minutes=minutes)


def _minutes(delta: timedelta) -> float:
    return delta / timedelta(minutes=1)


@lru_cache(maxsize=256)
def _holidays_for_year(country: str, categories: tuple[str, ...], year: int) -> Mapping[date, str]:
    # Building a holidays object runs the package's whole rule engine (lunar calendars, decree
    # tables); deadlines are computed on every scan, so build each year once per process.
    # language is explicit because with None the package guesses from LANG/LC_* env vars.
    table = holidays.country_holidays(country, years=year, categories=categories, language="id")
    return MappingProxyType(dict(table))


class OfficeCalendar:
    """Mon–Fri office hours, minus national holidays, cuti bersama and extra closures."""

    def __init__(
        self,
        tz: str = "Asia/Makassar",
        opens: time = time(7, 30),
        closes: time = time(16, 0),
        extra_closures: Iterable[date] = (),
        holiday_country: str = "ID",
        holiday_categories: tuple[str, ...] = ("public", "government"),
    ) -> None:
        if opens.tzinfo is not None or closes.tzinfo is not None:
            raise ValueError("Jam buka/tutup kantor harus tanpa zona waktu (jam lokal kantor)")
        if not opens < closes:
            raise ValueError(f"Jam buka ({opens}) harus sebelum jam tutup ({closes})")
        closures = tuple(extra_closures)
        for day in closures:
            # datetime is a subclass of date but never equals one, so it would never match.
            if isinstance(day, datetime) or not isinstance(day, date):
                raise TypeError(f"Tanggal libur tambahan harus date, bukan {day!r}")
        self.tz = ZoneInfo(tz)
        self.opens = opens
        self.closes = closes
        self.extra_closures: frozenset[date] = frozenset(closures)
        self.holiday_country = holiday_country
        self.holiday_categories = tuple(holiday_categories)
        ref = date(2000, 1, 1)
        self.day_length = datetime.combine(ref, closes) - datetime.combine(ref, opens)
        # Fail at configuration time (unknown country/category) rather than mid-scan.
        holidays.country_holidays(holiday_country, categories=self.holiday_categories)

    def __repr__(self) -> str:
        return (
            f"OfficeCalendar(tz={self.tz.key!r}, opens={self.opens}, closes={self.closes}, "
            f"extra_closures={len(self.extra_closures)}, holiday_country="
            f"{self.holiday_country!r}, holiday_categories={self.holiday_categories!r})"
        )

    # -- days ---------------------------------------------------------------------------------

    def holiday_name(self, day: date) -> str | None:
        """Why a (week)day is closed: the holiday's Indonesian name, or None if not a holiday.

        Plain weekends return None; a holiday falling on a weekend still returns its name.
        """
        names = []
        name = _holidays_for_year(self.holiday_country, self.holiday_categories, day.year).get(day)
        if name:
            names.append(name)
        if day in self.extra_closures:
            names.append("Libur kantor (ditetapkan admin)")
        return "; ".join(names) or None

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            day = day.date()
        if day.weekday() >= 5 or day in self.extra_closures:
            return False
        table = _holidays_for_year(self.holiday_country, self.holiday_categories, day.year)
        return day not in table

    def _window(self, day: date) -> tuple[datetime, datetime]:
        # Built via the local zone and converted to UTC so that a zone with DST still gets the
        # right instants; all arithmetic below is on UTC, where timedelta math is exact.
        return (
            datetime.combine(day, self.opens, tzinfo=self.tz).astimezone(UTC),
            datetime.combine(day, self.closes, tzinfo=self.tz).astimezone(UTC),
        )

    def _local_date(self, at_utc: datetime) -> date:
        return at_utc.astimezone(self.tz).date()

    # -- instants ------------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        at = _utc(at)
        day = self._local_date(at)
        if not self.is_working_day(day):
            return False
        opens, closes = self._window(day)
        return opens <= at < closes

    def next_open(self, at: datetime) -> datetime:
        at = _utc(at)
        day = self._local_date(at)
        while True:
            if self.is_working_day(day):
                opens, closes = self._window(day)
                if at < closes:
                    return max(at, opens)
            day += _ONE_DAY

    def add_working(self, start: datetime, minutes: float) -> datetime:
        remaining = _duration(minutes)
        at = _utc(start, "start")
        if not remaining:
            return at
        # Walk whole days, not minutes: each working day costs one window computation, so even
        # "5 Hari" across a long Lebaran break is a few dozen cheap steps.
        day = self._local_date(at)
        while True:
            if self.is_working_day(day):
                opens, closes = self._window(day)
                if at < closes:
                    begin = max(at, opens)
                    available = closes - begin
                    if remaining <= available:
                        return begin + remaining
                    remaining -= available
            day += _ONE_DAY

    def add(self, start: datetime, waktu: Waktu) -> datetime:
        return self.add_working(start, self.waktu_minutes(waktu))

    def working_minutes_between(self, start: datetime, end: datetime) -> float:
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            return 0.0
        total = timedelta()
        day, last = self._local_date(start), self._local_date(end)
        while day <= last:
            if self.is_working_day(day):
                opens, closes = self._window(day)
                overlap = min(end, closes) - max(start, opens)
                if overlap > timedelta():
                    total += overlap
            day += _ONE_DAY
        return _minutes(total)

    def waktu_minutes(self, waktu: Waktu) -> float:
        if waktu.unit == "hari":
            return waktu.amount * _minutes(self.day_length)
        return waktu.amount * (60 if waktu.unit == "jam" else 1)


class AlwaysCalendar:
    """24/7 with no holidays: 1 hari = 24 h, 1 jam = 60 min. For testing and demos."""

    def __repr__(self) -> str:
        return "AlwaysCalendar()"

    def is_working_day(self, day: date) -> bool:
        return True

    def is_open(self, at: datetime) -> bool:
        _utc(at)
        return True

    def next_open(self, at: datetime) -> datetime:
        return _utc(at)

    def add_working(self, start: datetime, minutes: float) -> datetime:
        return _utc(start, "start") + _duration(minutes)

    def add(self, start: datetime, waktu: Waktu) -> datetime:
        return self.add_working(start, self.waktu_minutes(waktu))

    def working_minutes_between(self, start: datetime, end: datetime) -> float:
        start, end = _utc(start, "start"), _utc(end, "end")
        return _minutes(end - start) if end > start else 0.0

    def waktu_minutes(self, waktu: Waktu) -> float:
        return waktu.amount * {"menit": 1, "jam": 60, "hari": 24 * 60}[waktu.unit]


def make_calendar(
    kind: str,
    tz: str = "Asia/Makassar",
    opens: time = time(7, 30),
    closes: time = time(16, 0),
    extra_closures: Iterable[date] = (),
) -> WorkCalendar:
    """Build the calendar named by the WORK_CALENDAR setting ("office" or "always")."""
    if kind == "office":
        return OfficeCalendar(tz=tz, opens=opens, closes=closes, extra_closures=extra_closures)
    if kind == "always":
        ZoneInfo(tz)  # still reject a mistyped TIMEZONE, even though 24/7 ignores it
        return AlwaysCalendar()
    raise ValueError(f"Jenis kalender kerja {kind!r} tidak dikenal; gunakan 'office' atau 'always'")
