"""What happened, for others to be told. Small, past tense, no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessStarted:
    sop_number: str


@dataclass(frozen=True)
class StepActivated:
    step_no: int
    role: str
    reason: str  # "mulai", "lanjut", "revisi" (sent back), "kembali" (revised, back to reviewer)


@dataclass(frozen=True)
class StepCompleted:
    step_no: int
    role: str
    outcome: str
    note: str | None


@dataclass(frozen=True)
class RevisionRequested:
    from_step: int
    to_step: int
    note: str
    round: int


@dataclass(frozen=True)
class ProcessFinished:
    sop_number: str


@dataclass(frozen=True)
class ProcessCancelled:
    sop_number: str
    open_step: int | None
    reason: str


Event = (
    ProcessStarted
    | StepActivated
    | StepCompleted
    | RevisionRequested
    | ProcessFinished
    | ProcessCancelled
)
