"""Working-time calendar: hand-computed deadlines plus property tests.

All hand-computed cases are in WITA (Asia/Makassar, UTC+8), office hours 07:30–16:00
(510 working minutes a day, so "1 Hari" = 510 minutes).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.workflow.calendar import (
    AlwaysCalendar,
    OfficeCalendar,
    Waktu,
    WorkCalendar,
    make_calendar,
    parse_waktu,
)

WITA = ZoneInfo("Asia/Makassar")
OFFICE = OfficeCalendar()
CLOSED_11_MARCH = OfficeCalendar(extra_closures=[date(2026, 3, 11)])
ALWAYS = AlwaysCalendar()


def wita(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=WITA)


# (id, calendar, start, waktu, expected deadline) — dates checked against a 2026 calendar:
# 2026-03-13 and 2026-08-14 are Fridays, 2026-03-17 a Tuesday, 2026-08-17 a Monday.
CASES = [
    ("within a day", OFFICE, wita(2026, 3, 10, 9), "30 Menit", wita(2026, 3, 10, 9, 30)),
    ("within a day, jam", OFFICE, wita(2026, 3, 10, 9), "1 jam", wita(2026, 3, 10, 10)),
    ("past closing", OFFICE, wita(2026, 3, 10, 15, 30), "1 Jam", wita(2026, 3, 11, 8)),
    ("friday pm to monday", OFFICE, wita(2026, 3, 13, 15), "2 Jam", wita(2026, 3, 16, 8, 30)),
    ("before opening", OFFICE, wita(2026, 3, 10, 6), "5 Menit", wita(2026, 3, 10, 7, 35)),
    ("after closing", OFFICE, wita(2026, 3, 10, 17), "1 Jam", wita(2026, 3, 11, 8, 30)),
    ("late night", OFFICE, wita(2026, 3, 10, 23, 59), "5 Menit", wita(2026, 3, 11, 7, 35)),
    ("saturday", OFFICE, wita(2026, 3, 14, 10), "1 Jam", wita(2026, 3, 16, 8, 30)),
    ("ends exactly at closing", OFFICE, wita(2026, 3, 10, 15), "1 Jam", wita(2026, 3, 10, 16)),
    ("starts at closing", OFFICE, wita(2026, 3, 10, 16), "5 Menit", wita(2026, 3, 11, 7, 35)),
    ("1 hari from opening", OFFICE, wita(2026, 3, 10, 7, 30), "1 hari", wita(2026, 3, 10, 16)),
    ("2 hari midweek", OFFICE, wita(2026, 3, 9, 10), "2 Hari", wita(2026, 3, 11, 10)),
    ("3 hari over weekend", OFFICE, wita(2026, 3, 5, 12), "3 Hari", wita(2026, 3, 10, 12)),
    ("5 hari", OFFICE, wita(2026, 3, 2, 9), "5 Hari", wita(2026, 3, 9, 9)),
    # The brief's example: 18 cuti bersama, 19 Nyepi, 20 cuti bersama Idul Fitri, 21–22 Idul
    # Fitri (weekend), 23–24 cuti bersama; 1 h on the 17th + 8.5 h on the 25th + 7.5 h on the 26th.
    ("lebaran 2 hari", OFFICE, wita(2026, 3, 17, 15), "2 Hari", wita(2026, 3, 26, 15)),
    ("lebaran 5 hari", OFFICE, wita(2026, 3, 16, 7, 30), "5 Hari", wita(2026, 3, 27, 16)),
    ("start on nyepi", OFFICE, wita(2026, 3, 19, 9), "5 Menit", wita(2026, 3, 25, 7, 35)),
    ("independence day", OFFICE, wita(2026, 8, 14, 15), "2 Jam", wita(2026, 8, 18, 8, 30)),
    ("start on 17 aug", OFFICE, wita(2026, 8, 17, 10), "30 Menit", wita(2026, 8, 18, 8)),
    # 24 Dec cuti bersama Natal, 25 Dec Natal, then the weekend.
    ("cuti bersama natal", OFFICE, wita(2026, 12, 23, 15, 30), "1 Jam", wita(2026, 12, 28, 8)),
    # 14 May Kenaikan, 15 May cuti bersama, then the weekend: 1 h on the 13th, 7.5 h on the 18th.
    ("cuti bersama kenaikan", OFFICE, wita(2026, 5, 13, 15), "1 Hari", wita(2026, 5, 18, 15)),
    # 16 Feb cuti bersama Imlek, 17 Feb Imlek.
    ("cuti bersama imlek", OFFICE, wita(2026, 2, 13, 15, 30), "1 Jam", wita(2026, 2, 18, 8)),
    ("extra closure", CLOSED_11_MARCH, wita(2026, 3, 10, 15, 30), "1 Jam", wita(2026, 3, 12, 8)),
    ("extra closure start", CLOSED_11_MARCH, wita(2026, 3, 11, 9), "1 Hari", wita(2026, 3, 12, 16)),
    ("always 1 hari", ALWAYS, wita(2026, 3, 14, 10), "1 Hari", wita(2026, 3, 15, 10)),
    ("always 1 jam", ALWAYS, wita(2026, 3, 14, 23, 30), "1 Jam", wita(2026, 3, 15, 0, 30)),
    ("always holidays", ALWAYS, wita(2026, 3, 17, 15), "2 Hari", wita(2026, 3, 19, 15)),
    ("always 5 menit", ALWAYS, wita(2026, 8, 17, 23, 58), "5 Menit", wita(2026, 8, 18, 0, 3)),
]


@pytest.mark.parametrize(
    ("calendar", "start", "text", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_hand_computed_deadlines(
    calendar: WorkCalendar, start: datetime, text: str, expected: datetime
) -> None:
    deadline = calendar.add(start, parse_waktu(text))
    assert deadline == expected
    assert deadline.tzinfo is UTC


def test_brief_example_iso() -> None:
    deadline = OFFICE.add(wita(2026, 3, 17, 15), parse_waktu("2 Hari"))
    assert deadline.astimezone(WITA).isoformat() == "2026-03-26T15:00:00+08:00"


def test_start_given_in_utc() -> None:
    start = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # 09:00 WITA
    assert OFFICE.add(start, parse_waktu("30 Menit")) == wita(2026, 3, 10, 9, 30)


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.add(datetime(2026, 3, 10, 9), parse_waktu("5 Menit"))
    with pytest.raises(ValueError, match="timezone-aware"):
        ALWAYS.is_open(datetime(2026, 3, 10, 9))


def test_add_working_rejects_negative_and_nan() -> None:
    for bad in (-1, math.nan, math.inf):
        with pytest.raises(ValueError):
            OFFICE.add_working(wita(2026, 3, 10, 9), bad)


def test_add_working_zero_is_start() -> None:
    saturday = wita(2026, 3, 14, 10)
    assert OFFICE.add_working(saturday, 0) == saturday


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 3, 18),  # cuti bersama Nyepi
        date(2026, 3, 19),  # Nyepi
        date(2026, 3, 20),  # cuti bersama Idul Fitri
        date(2026, 3, 23),  # cuti bersama Idul Fitri
        date(2026, 3, 24),  # cuti bersama Idul Fitri
        date(2026, 8, 17),  # Hari Kemerdekaan
        date(2026, 12, 24),  # cuti bersama Natal
        date(2025, 8, 18),  # cuti bersama HUT RI 2025
        date(2026, 3, 14),  # Saturday
        date(2026, 3, 15),  # Sunday
    ],
)
def test_non_working_days(day: date) -> None:
    assert not OFFICE.is_working_day(day)
    assert ALWAYS.is_working_day(day)


@pytest.mark.parametrize("day", [date(2026, 3, 17), date(2026, 3, 25), date(2026, 8, 18)])
def test_working_days(day: date) -> None:
    assert OFFICE.is_working_day(day)


def test_cuti_bersama_needs_government_category() -> None:
    public_only = OfficeCalendar(holiday_categories=("public",))
    assert public_only.is_working_day(date(2026, 3, 18))
    assert not public_only.is_working_day(date(2026, 3, 19))


def test_holiday_name() -> None:
    assert OFFICE.holiday_name(date(2026, 8, 17)) == "Hari Kemerdekaan Republik Indonesia"
    assert OFFICE.holiday_name(date(2026, 3, 18)) == "Cuti Bersama Hari Suci Nyepi"
    assert OFFICE.holiday_name(date(2026, 3, 10)) is None
    assert OFFICE.holiday_name(date(2026, 3, 14)) is None  # plain Saturday
    assert CLOSED_11_MARCH.holiday_name(date(2026, 3, 11)) == "Libur kantor (ditetapkan admin)"


def test_is_open_and_next_open() -> None:
    assert OFFICE.is_open(wita(2026, 3, 10, 7, 30))
    assert OFFICE.is_open(wita(2026, 3, 10, 15, 59))
    assert not OFFICE.is_open(wita(2026, 3, 10, 16))
    assert not OFFICE.is_open(wita(2026, 3, 10, 7, 29))
    assert not OFFICE.is_open(wita(2026, 8, 17, 10))
    open_at = wita(2026, 3, 10, 10)
    assert OFFICE.next_open(open_at) == open_at
    assert OFFICE.next_open(wita(2026, 3, 10, 16)) == wita(2026, 3, 11, 7, 30)
    assert OFFICE.next_open(wita(2026, 3, 10, 5)) == wita(2026, 3, 10, 7, 30)
    assert OFFICE.next_open(wita(2026, 3, 13, 17)) == wita(2026, 3, 16, 7, 30)
    assert OFFICE.next_open(wita(2026, 3, 17, 16)) == wita(2026, 3, 25, 7, 30)
    assert ALWAYS.is_open(wita(2026, 8, 17, 3))
    assert ALWAYS.next_open(wita(2026, 8, 17, 3)) == wita(2026, 8, 17, 3)


def test_working_minutes_between() -> None:
    assert OFFICE.working_minutes_between(wita(2026, 3, 13, 15), wita(2026, 3, 16, 8, 30)) == 120
    assert OFFICE.working_minutes_between(wita(2026, 3, 17, 15), wita(2026, 3, 26, 15)) == 1020
    assert OFFICE.working_minutes_between(wita(2026, 3, 14), wita(2026, 3, 15, 23)) == 0
    assert OFFICE.working_minutes_between(wita(2026, 3, 10, 12), wita(2026, 3, 10, 9)) == 0
    assert ALWAYS.working_minutes_between(wita(2026, 3, 14), wita(2026, 3, 15)) == 24 * 60


def test_waktu_minutes() -> None:
    assert OFFICE.waktu_minutes(parse_waktu("2 Hari")) == 1020
    assert OFFICE.waktu_minutes(parse_waktu("1 Jam")) == 60
    assert OFFICE.waktu_minutes(parse_waktu("5 Menit")) == 5
    assert ALWAYS.waktu_minutes(parse_waktu("1 hari")) == 1440
    short_day = OfficeCalendar(opens=time(8), closes=time(12))
    assert short_day.waktu_minutes(parse_waktu("1 Hari")) == 240


def test_dst_zone_uses_real_instants() -> None:
    # Berlin switches to summer time on 2026-03-29: Friday 15:00 CET + 2 h → Monday 08:30 CEST.
    berlin = ZoneInfo("Europe/Berlin")
    cal = OfficeCalendar(tz="Europe/Berlin", holiday_country="DE", holiday_categories=("public",))
    start = datetime(2026, 3, 27, 15, tzinfo=berlin)
    assert cal.add(start, parse_waktu("2 Jam")) == datetime(2026, 3, 30, 6, 30, tzinfo=UTC)


def test_make_calendar() -> None:
    office = make_calendar("office", "Asia/Makassar", time(8), time(15), [date(2026, 3, 11)])
    assert isinstance(office, OfficeCalendar)
    assert not office.is_working_day(date(2026, 3, 11))
    assert office.add(wita(2026, 3, 10, 14), parse_waktu("1 Hari")) == wita(2026, 3, 12, 14)
    assert isinstance(
        make_calendar("always", "Asia/Makassar", time(8), time(15), ()), AlwaysCalendar
    )
    with pytest.raises(ValueError, match="tidak dikenal"):
        make_calendar("weekdays", "Asia/Makassar", time(8), time(15), ())


def test_office_calendar_config_errors() -> None:
    with pytest.raises(ValueError):
        OfficeCalendar(opens=time(16), closes=time(7, 30))
    with pytest.raises(TypeError):
        OfficeCalendar(extra_closures=[datetime(2026, 3, 11, tzinfo=WITA)])
    with pytest.raises(ValueError):
        OfficeCalendar(holiday_categories=("public", "no-such-category"))
    with pytest.raises(Exception):  # noqa: B017 - zoneinfo raises its own ZoneInfoNotFoundError
        OfficeCalendar(tz="Asia/Nowhere")


def test_protocol_conformance() -> None:
    assert isinstance(OFFICE, WorkCalendar)
    assert isinstance(ALWAYS, WorkCalendar)


# -- parse_waktu ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount", "unit", "written"),
    [
        ("5 Menit", 5, "menit", "5 Menit"),
        ("30 Menit", 30, "menit", "30 Menit"),
        ("1 Jam", 1, "jam", "1 Jam"),
        ("1 jam", 1, "jam", "1 jam"),
        ("1 hari", 1, "hari", "1 hari"),
        ("2 Hari", 2, "hari", "2 Hari"),
        ("5 HARI", 5, "hari", "5 HARI"),
        ("  2   Hari \n", 2, "hari", "2 Hari"),
        ("10menit", 10, "menit", "10menit"),
    ],
)
def test_parse_waktu(text: str, amount: int, unit: str, written: str) -> None:
    assert parse_waktu(text) == Waktu(amount=amount, unit=unit, text=written)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "2 Bulan",
        "1 Minggu",
        "",
        "Hari",
        "2",
        "-1 Hari",
        "1.5 Jam",
        "satu jam",
        "2 Hari kerja",
        "0 Menit",
        "٣ Hari",
        "2 jam 30 menit",
    ],
)
def test_parse_waktu_errors(text: str) -> None:
    with pytest.raises(ValueError, match="Waktu"):
        parse_waktu(text)


def test_parse_waktu_error_message() -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_waktu("2 Bulan")
    assert str(excinfo.value) == (
        'Waktu "2 Bulan" tidak dikenali; gunakan misalnya "5 Menit", "1 Jam" atau "2 Hari"'
    )


def test_waktu_validates_direct_construction() -> None:
    with pytest.raises(ValueError):
        Waktu(amount=0, unit="jam", text="0 Jam")
    with pytest.raises(ValueError):
        Waktu(amount=1, unit="minggu", text="1 Minggu")  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------------

ZONES = [WITA, UTC, ZoneInfo("Asia/Jakarta")]
starts = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.sampled_from(ZONES),
)
# Whole seconds so that a + b is exact after timedelta's rounding to microseconds; up to ~1.5
# months of office working time.
work_minutes = st.integers(min_value=1, max_value=30 * 510 * 60).map(lambda s: s / 60)
waktus = st.builds(
    lambda amount, unit: parse_waktu(f"{amount} {unit}"),
    st.integers(min_value=1, max_value=10),
    st.sampled_from(["Menit", "Jam", "Hari"]),
)
calendars = st.sampled_from([OFFICE, CLOSED_11_MARCH, ALWAYS])
PROPS = settings(max_examples=200, deadline=None)


@PROPS
@given(calendars, starts, waktus)
def test_deadline_never_before_start(cal: WorkCalendar, start: datetime, waktu: Waktu) -> None:
    assert cal.add(start, waktu) > start


@PROPS
@given(starts, waktus)
def test_office_deadline_inside_office_hours(start: datetime, waktu: Waktu) -> None:
    # Deadlines land in (opens, closes] of a working day: exactly 16:00 is allowed, 07:30 is
    # not, since positive work ending at an opening would have ended at the previous closing.
    local = OFFICE.add(start, waktu).astimezone(WITA)
    assert OFFICE.is_working_day(local.date())
    assert time(7, 30) < local.time() <= time(16)


@PROPS
@given(calendars, starts, work_minutes, work_minutes)
def test_add_working_is_additive(cal: WorkCalendar, start: datetime, a: float, b: float) -> None:
    # Exact equality: a deadline at closing time is "closed", so continuing from it resumes at
    # the next opening, just as one uninterrupted a + b would.
    assert cal.add_working(start, a + b) == cal.add_working(cal.add_working(start, a), b)


@PROPS
@given(calendars, starts, st.floats(min_value=0, max_value=30 * 510, allow_nan=False))
def test_working_minutes_round_trip(cal: WorkCalendar, start: datetime, minutes: float) -> None:
    end = cal.add_working(start, minutes)
    assert math.isclose(cal.working_minutes_between(start, end), minutes, abs_tol=1e-6)


@PROPS
@given(starts)
def test_next_open_is_open_and_not_before(start: datetime) -> None:
    opened = OFFICE.next_open(start)
    assert opened >= start
    assert OFFICE.is_open(opened)
    assert OFFICE.working_minutes_between(start, opened) == 0


@PROPS
@given(starts, st.integers(min_value=1, max_value=7 * 24 * 60))
def test_working_minutes_never_exceed_elapsed(start: datetime, elapsed: int) -> None:
    end = start + timedelta(minutes=elapsed)
    assert 0 <= OFFICE.working_minutes_between(start, end) <= elapsed


def test_additivity_across_exact_closing() -> None:
    # The boundary the additivity property relies on, pinned explicitly: 15:00 + 60 min ends at
    # 16:00 (closing), and continuing from 16:00 resumes at the next opening.
    start = wita(2026, 3, 10, 15)
    at_closing = OFFICE.add_working(start, 60)
    assert at_closing == wita(2026, 3, 10, 16)
    assert OFFICE.add_working(at_closing, 30) == OFFICE.add_working(start, 90)
    assert OFFICE.add_working(start, 90) == wita(2026, 3, 11, 8)


def test_long_waktu_is_fast() -> None:
    # ~4 years of working time still only walks ~1,500 days.
    start = wita(2026, 1, 5, 9)
    deadline = OFFICE.add_working(start, 1000 * 510)
    assert OFFICE.working_minutes_between(start, deadline) == 1000 * 510
