"""Dates and durations the way people here read them (Babel, Indonesian, local time)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

_ZONE_NAMES = {"Asia/Makassar": "WITA", "Asia/Jakarta": "WIB", "Asia/Jayapura": "WIT"}


def when(at: datetime, tz: str) -> str:
    """'Senin, 23 Nov 2026 14.05 WITA'."""
    local = at.astimezone(ZoneInfo(tz))
    text = format_datetime(local, "EEEE, d MMM y HH.mm", locale="id")
    return f"{text} {_ZONE_NAMES.get(tz, local.strftime('%Z'))}"


def short_when(at: datetime, tz: str) -> str:
    """'23 Nov 14.05 WITA'."""
    local = at.astimezone(ZoneInfo(tz))
    zone = _ZONE_NAMES.get(tz, local.strftime("%Z"))
    return f"{format_datetime(local, 'd MMM HH.mm', locale='id')} {zone}"


def short_time(at: datetime, tz: str) -> str:
    """'23/11 14.05' (inside a line that already says the zone)."""
    return at.astimezone(ZoneInfo(tz)).strftime("%d/%m %H.%M")


def span(delta: timedelta) -> str:
    """'2 hari 3 jam', '15 menit' — coarse, for 'terlambat ...'."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} hari")
    if hours:
        parts.append(f"{hours} jam")
    if mins and not days:
        parts.append(f"{mins} menit")
    return " ".join(parts) or "kurang dari 1 menit"
