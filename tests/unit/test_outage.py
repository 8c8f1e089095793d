"""The outage tracker: one log line when the database goes away, one summary when it is back."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from handlers.outage import Outage

REFUSED = OperationalError("SELECT 1", {}, OSError("connection refused"))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_one_line_when_it_starts_and_one_summary_when_it_is_back(caplog) -> None:
    clock = Clock()
    outage = Outage(clock=clock)
    with caplog.at_level(logging.INFO, logger="bot.outage"):
        first = outage.held_update(7, REFUSED)
        # Every process meets it many times a second: updates, sends, scan ticks.
        for _ in range(40):
            clock.t += 0.5
            assert outage.failed_tick(REFUSED) is None
            assert outage.held_update(7, REFUSED) is None  # the same update, tried again
        assert outage.held_update(8, REFUSED) is None
        assert outage.held_send(31, REFUSED) is None
        assert outage.failed("inbox", REFUSED) is None
        summary = outage.back()
    assert first is not None and "database tidak dapat dihubungi (update)" in first
    assert "connection refused" in first
    assert summary == (
        "database pulih setelah 20 detik; selama gangguan 2 update ditahan (ditangani ulang"
        " sekarang), 1 pengiriman tertunda, 40 pemindaian terlewat"
    )
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]


def test_back_without_an_outage_says_nothing_and_a_second_outage_is_counted_afresh() -> None:
    clock = Clock()
    outage = Outage(clock=clock)
    assert outage.back() is None and not outage.down
    outage.held_update(1, REFUSED)
    outage.back()
    clock.t += 100  # quiet between the two outages
    assert outage.failed_tick(REFUSED) is not None  # a new outage gets its own first line
    clock.t += 3
    assert outage.back() == (
        "database pulih setelah 3 detik; selama gangguan 0 update ditahan (ditangani ulang"
        " sekarang), 0 pengiriman tertunda, 1 pemindaian terlewat"
    )
