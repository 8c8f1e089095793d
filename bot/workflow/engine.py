"""The pure workflow engine: one process of one SOP, moved by people's actions.

Knows nothing of Telegram, SQL or the clock. Every function takes the current state and
returns a new state plus the events others must be told of; a refused action raises
`WorkflowError` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bot.sop.model import Kind, SopDefinition, Step
from bot.workflow.events import (
    Event,
    ProcessCancelled,
    ProcessFinished,
    ProcessStarted,
    RevisionRequested,
    StepActivated,
    StepCompleted,
)

RUNNING = "berjalan"
FINISHED = "selesai"
CANCELLED = "dibatalkan"

# Outcomes recorded for a finished step.
DONE = "selesai"
UPLOADED = "diunggah"
APPROVED = "disetujui"
PARAF = "paraf"  # approval on a review step before the signature: the version is initialled
SIGNED = "ditandatangani"  # a sign step closes with the signed document
REVISION = "revisi"


class WorkflowError(Exception):
    """An action that is not allowed now. `code` is for programs, `message` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ProcessState:
    sop_number: str
    status: str
    current: int | None  # number of the step someone must act on; None when finished
    outcomes: dict[int, str] = field(default_factory=dict)  # last outcome of each step
    return_to: int | None = None  # after a revised upload, go back to this reviewer
    revision_round: int = 0  # how many revisions this process has had
    bidang: tuple[str, ...] = ()  # kumpul checklist rows, fixed when the process starts
    checklist: dict[str, str] = field(default_factory=dict)  # bidang -> "ada" or a reason
    signing: bool = False  # an upload waits for its signature (`Step.ttd_oleh`)

    def to_json(self) -> dict[str, Any]:
        return {
            "sop_number": self.sop_number,
            "status": self.status,
            "current": self.current,
            "outcomes": {str(k): v for k, v in self.outcomes.items()},
            "return_to": self.return_to,
            "revision_round": self.revision_round,
            "bidang": list(self.bidang),
            "checklist": dict(self.checklist),
            "signing": self.signing,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessState:
        return cls(
            sop_number=data["sop_number"],
            status=data["status"],
            current=data["current"],
            outcomes={int(k): v for k, v in data["outcomes"].items()},
            return_to=data["return_to"],
            revision_round=data["revision_round"],
            bidang=tuple(data["bidang"]),
            checklist=dict(data["checklist"]),
            signing=data.get("signing", False),  # absent in states saved before it existed
        )

    @property
    def missing_bidang(self) -> list[str]:
        return [b for b in self.bidang if b not in self.checklist]


# --- actions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Complete:
    """Selesai on a disposisi, tugas or kumpul step (kumpul: reasons for missing bidang)."""

    step_no: int
    note: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Upload:
    step_no: int
    document_id: int | None = None


@dataclass(frozen=True)
class Approve:
    step_no: int
    note: str | None = None


@dataclass(frozen=True)
class Sign:
    """The signed document (TTE from SRIKANDI or a scan) closes a sign step."""

    step_no: int
    document_id: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class RequestRevision:
    step_no: int
    note: str


@dataclass(frozen=True)
class TickBidang:
    step_no: int
    bidang: str


Action = Complete | Upload | Approve | Sign | RequestRevision | TickBidang

_ALLOWED: dict[type, tuple[Kind, ...]] = {
    Complete: (Kind.DISPOSISI, Kind.TUGAS, Kind.KUMPUL),
    Upload: (Kind.UNGGAH,),
    Approve: (Kind.PERIKSA,),
    Sign: (Kind.TANDA_TANGAN,),
    RequestRevision: (Kind.PERIKSA, Kind.TANDA_TANGAN),
    TickBidang: (Kind.KUMPUL,),
}


def start(sop: SopDefinition, bidang: tuple[str, ...] = ()) -> tuple[ProcessState, list[Event]]:
    state = ProcessState(sop.number, RUNNING, current=None, bidang=tuple(bidang))
    state, events = _activate(sop, state, 1, reason="mulai")
    return state, [ProcessStarted(sop.number), *events]


def act(
    sop: SopDefinition, state: ProcessState, action: Action, roles: frozenset[str]
) -> tuple[ProcessState, list[Event]]:
    """Apply one person's action; `roles` are the role codes that person holds."""
    if state.status != RUNNING:
        raise WorkflowError("finished", "Proses ini sudah selesai.")
    if action.step_no != state.current:
        raise WorkflowError(
            "not_current", f"Langkah {action.step_no} sedang tidak menunggu tindakan."
        )
    step = current_step(sop, state)
    # A signature may also be sent by the step's scanner (`pindai_oleh`), nothing else.
    scanner = step.scanner if isinstance(action, Sign) else None
    if step.role not in roles and (scanner is None or scanner not in roles):
        raise WorkflowError(
            "wrong_role", f"Langkah {step.no} adalah tugas {sop.role(step.role).name}."
        )
    if step.kind not in _ALLOWED[type(action)]:
        raise WorkflowError("wrong_kind", f"Tindakan ini tidak berlaku untuk langkah {step.no}.")

    match action:
        case TickBidang(bidang=bidang):
            if bidang not in state.bidang:
                raise WorkflowError("unknown_bidang", f"Bidang '{bidang}' tidak ada di daftar.")
            return replace(state, checklist={**state.checklist, bidang: "ada"}), []
        case Complete(note=note, reasons=reasons) if step.kind is Kind.KUMPUL:
            missing = state.missing_bidang
            unexplained = [b for b in missing if not reasons.get(b, "").strip()]
            if unexplained:
                raise WorkflowError(
                    "missing_bidang",
                    "Data belum lengkap. Beri alasan untuk: " + ", ".join(unexplained) + ".",
                )
            checklist = {**state.checklist, **{b: reasons[b].strip() for b in missing}}
            return _finish(sop, replace(state, checklist=checklist), step, DONE, note)
        case Complete(note=note):
            return _finish(sop, state, step, DONE, note)
        case Upload() if step.ttd_oleh is not None:
            # Uploaded, now the signer's turn on the same step.
            state = replace(state, outcomes={**state.outcomes, step.no: UPLOADED}, signing=True)
            return state, [
                StepCompleted(step.no, step.role, UPLOADED, None),
                StepActivated(step.no, step.ttd_oleh, "ttd"),
            ]
        case Upload():
            return _finish(sop, state, step, UPLOADED, None)
        case Approve(note=note):
            return _finish(sop, state, step, PARAF if sop.is_paraf(step.no) else APPROVED, note)
        case Sign(note=note):
            return _finish(sop, replace(state, signing=False), step, SIGNED, note)
        case RequestRevision(note=note):
            if not note.strip():
                raise WorkflowError("empty_note", "Catatan revisi tidak boleh kosong.")
            if state.signing:  # the signer sends the upload back to the uploader
                round_ = state.revision_round + 1
                state = replace(
                    state,
                    outcomes={**state.outcomes, step.no: REVISION},
                    revision_round=round_,
                    signing=False,
                )
                uploader = sop.step(step.no).role
                return state, [
                    StepCompleted(step.no, step.role, REVISION, note.strip()),
                    RevisionRequested(step.no, step.no, note.strip(), round_),
                    StepActivated(step.no, uploader, "revisi"),
                ]
            target = step.revisi_ke
            assert target is not None  # guaranteed by SopDefinition validation
            round_ = state.revision_round + 1
            state = replace(
                state,
                outcomes={**state.outcomes, step.no: REVISION},
                return_to=step.no,
                revision_round=round_,
            )
            events: list[Event] = [
                StepCompleted(step.no, step.role, REVISION, note.strip()),
                RevisionRequested(step.no, target, note.strip(), round_),
            ]
            state, more = _activate(sop, state, target, reason="revisi")
            return state, events + more
    raise AssertionError(f"unhandled action {action!r}")  # pragma: no cover


def cancel(state: ProcessState, reason: str) -> tuple[ProcessState, list[Event]]:
    """The starter, the Kadis or an admin stops a running process (who may is the caller's
    rule); the open step ends with it."""
    if state.status != RUNNING:
        raise WorkflowError("finished", "Proses ini sudah tidak berjalan.")
    if not reason.strip():
        raise WorkflowError("empty_reason", "Alasan pembatalan tidak boleh kosong.")
    open_step = state.current
    state = replace(state, status=CANCELLED, current=None, return_to=None)
    return state, [ProcessCancelled(state.sop_number, open_step, reason.strip())]


def _finish(
    sop: SopDefinition, state: ProcessState, step: Step, outcome: str, note: str | None
) -> tuple[ProcessState, list[Event]]:
    """`step` as its holder saw it (the signer's turn of an upload: the signer's role)."""
    step_no = step.no
    state = replace(state, outcomes={**state.outcomes, step_no: outcome})
    events: list[Event] = [StepCompleted(step_no, step.role, outcome, note)]
    if state.return_to is not None and step_no < state.return_to:
        # A revised version on its way back to the reviewer who asked for it: through the
        # paraf steps in between (they initial the new version), nothing else.
        nxt = _next_on_return(sop, step_no, state.return_to)
        if nxt == state.return_to:
            state = replace(state, return_to=None)
        reason = "kembali"
    else:
        nxt, reason = step_no + 1, "lanjut"
    if nxt > len(sop.steps):
        state = replace(state, status=FINISHED, current=None)
        return state, [*events, ProcessFinished(sop.number)]
    state, more = _activate(sop, state, nxt, reason)
    return state, events + more


def _next_on_return(sop: SopDefinition, done: int, reviser: int) -> int:
    """After step `done`, on the way back to `reviser`: the next review of the same
    document, so the version that is signed is the version that was initialled; straight
    to the reviser when the SOP says so (`paraf_ulang: false`)."""
    target = sop.step(reviser)
    if target.paraf_ulang:
        for no in range(done + 1, reviser):
            s = sop.step(no)
            if s.kind.is_review and s.revisi_ke == target.revisi_ke:
                return no
    return reviser


def current_step(sop: SopDefinition, state: ProcessState) -> Step:
    """The current step as its holder sees it: the signer's turn of an upload that needs
    a signature is a sign step (`SopDefinition.phase`)."""
    assert state.current is not None
    step = sop.step(state.current)
    return sop.phase(step.no, step.ttd_oleh) if state.signing else step


def _activate(
    sop: SopDefinition, state: ProcessState, step_no: int, reason: str
) -> tuple[ProcessState, list[Event]]:
    step = sop.step(step_no)
    if step.kind is Kind.KUMPUL:
        state = replace(state, checklist={})
    state = replace(state, current=step_no)
    return state, [StepActivated(step_no, step.role, reason)]


def allowed_buttons(sop: SopDefinition, step_no: int) -> tuple[str, ...]:
    """Which actions a person may take on a step of this kind (for rendering)."""
    kind = sop.step(step_no).kind
    return tuple(t.__name__ for t, kinds in _ALLOWED.items() if kind in kinds)
