"""A database outage in the log: one line when it starts, one summary line when it is back.

While the database is unreachable every stored update, every send and every scan tick fails,
several times a second in each process. Nothing is lost (updates stay in the inbox, messages
in the outbox), so the operator needs to know when it started, that the bot noticed it is
back, and what waited meanwhile — not one traceback per attempt. One tracker per process
(`of(app)`); every place that meets the outage reports to it. Pure apart from the logger;
time comes from an injected monotonic clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# What an unreachable (or restarting) database raises: refused or cut connections, time-outs
# (the pool's too: every connection busy waiting for a database that does not answer).
DATABASE_DOWN = (DBAPIError, OSError, PoolTimeout)


def maybe_permanent(exc: BaseException) -> bool:
    """A database error that may come back every time the same update is handled (a value
    it refuses, a constraint a setting breaks), not a lost or refused connection nor a
    lock: the dispatcher gives such an update up once it has failed a few times with the
    database answering (`dispatcher.Dispatcher._given_up`)."""
    return (
        isinstance(exc, DBAPIError)
        and not exc.connection_invalidated
        and not isinstance(exc, OperationalError)
    )


log = logging.getLogger("bot.outage")


@dataclass
class Outage:
    clock: Callable[[], float] = time.monotonic
    logger: logging.Logger = log
    since: float | None = None
    updates: set[int] = field(default_factory=set)
    sends: set[int] = field(default_factory=set)
    ticks: int = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, where: str, exc: BaseException) -> str | None:
        """The database could not be used. Logs (and returns) a line only when this starts
        an outage; later failures are counted for the summary."""
        if self.since is not None:
            return None
        self.since = self.clock()
        first = (str(exc).splitlines() or [""])[0][:200]
        line = (
            f"database tidak dapat dihubungi ({where}): {type(exc).__name__}: {first}. "
            "Update dan pesan disimpan dan dicoba lagi; ringkasan menyusul saat pulih."
        )
        self.logger.error(line)
        return line

    def held_update(self, update_id: int, exc: BaseException) -> str | None:
        """An update that will be handled again once the database is back."""
        self.updates.add(update_id)
        return self.failed("update", exc)

    def held_send(self, outbox_id: int, exc: BaseException) -> str | None:
        """A message whose send or record waits for the database."""
        self.sends.add(outbox_id)
        return self.failed("pengiriman", exc)

    def failed_tick(self, exc: BaseException) -> str | None:
        """A scan tick (reminders, outbox) that could not run."""
        self.ticks += 1
        return self.failed("pemindaian", exc)

    def back(self) -> str | None:
        """The database answered again: the summary line, once per outage."""
        if self.since is None:
            return None
        seconds = self.clock() - self.since
        line = (
            f"database pulih setelah {seconds:.0f} detik; selama gangguan "
            f"{len(self.updates)} update ditahan (ditangani ulang sekarang), "
            f"{len(self.sends)} pengiriman tertunda, {self.ticks} pemindaian terlewat"
        )
        self.logger.warning(line)
        self.since, self.updates, self.sends, self.ticks = None, set(), set(), 0
        return line


def of(app: Any) -> Outage:
    """This process's tracker (kept with the Application)."""
    return app.bot_data.setdefault("outage", Outage())
