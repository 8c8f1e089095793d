"""Copy of the morning digest (see `bot.services.digest`)."""

from __future__ import annotations


def count(n: int, more: bool) -> str:
    """A count that stopped at its cap reads «99+» (the digest does not count further)."""
    return f"{n}+" if more else str(n)


def waiting(n: str) -> str:
    return f"Menunggu Bapak/Ibu ({n}):"


def late(n: str) -> str:
    return f"Terlambat ({n}):"


def running(processes: str, late_steps: str) -> str:
    return f"Berjalan: {processes} proses · {late_steps} langkah terlambat"


def mine_line(pid: int, title: str, step_no: int, label: str, when: str) -> str:
    return f"• #{pid} {title} · L{step_no} {label} — {when}"


def late_line(pid: int, title: str, step_no: int, who: str, late_by: str) -> str:
    return f"• #{pid} {title} · Langkah {step_no} di {who} — {late_by}"


def running_line(pid: int, title: str, step_no: int, who: str) -> str:
    return f"• #{pid} {title} · Langkah {step_no} di {who}"


def late_by(span: str) -> str:
    return f"⏰ terlambat {span}"


def deadline(when: str) -> str:
    return f"tenggat {when}"
