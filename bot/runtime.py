"""Everything a handler or job needs, built once at start-up and passed around explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.config import Settings
from bot.sop.loader import SopRegistry
from bot.workflow.calendar import WorkCalendar, make_calendar
from storage.db import SessionFactory


@dataclass
class Runtime:
    settings: Settings
    sops: SopRegistry
    calendar: WorkCalendar
    clock: Clock
    sessions: SessionFactory

    @classmethod
    def build(cls, settings: Settings, sessions: SessionFactory, clock: Clock) -> Runtime:
        sops = SopRegistry.load(settings.sop_dir)
        calendar = make_calendar(
            settings.work_calendar,
            settings.timezone,
            settings.office_opens,
            settings.office_closes,
            settings.extra_closures,
        )
        return cls(settings, sops, calendar, clock, sessions)

    def scaled(self, start: datetime, end: datetime) -> datetime:
        """TIME_SCALE=60 makes an SOP minute pass in a real second: shrink the wait."""
        return start + (end - start) / self.settings.time_scale

    def every(self, minutes: float) -> timedelta:
        return timedelta(minutes=minutes) / self.settings.time_scale
