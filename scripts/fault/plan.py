"""The two SOPs as the script expects them, and a seeded plan for each process it runs."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from scripts.fault.common import ANI, BUDI, HOLDERS, TIM


@dataclass(frozen=True)
class SopPlan:
    number: str  # the button /mulai presses
    name: str
    steps: dict[int, tuple[str, str]]  # no -> (role, kind); step 1 is done by /mulai
    revisi: dict[int, int]  # reviewer step -> the step that is redone
    drafts: tuple[int, ...]  # uploads stored as "draft" (the signed PDF is the final document)
    # Uploads another role signs before the step is done (`ttd_oleh` in the YAML): a
    # signing turn on the same step follows each upload.
    signs: dict[int, str] | None = None
    # Signatures whose signed scan another role may send (`pindai_oleh`): that role's
    # holders get a copy of each sign card too.
    scans: dict[int, str] | None = None

    def scanners(self, no: int, kind: str) -> list[int]:
        role = (self.scans or {}).get(no) if kind == "tanda_tangan" else None
        return list(HOLDERS[role]) if role else []

    def is_paraf(self, no: int) -> bool:
        """A review of a document that a later step signs: approving it is a paraf."""
        return self.steps[no][1] == "periksa" and any(
            kind == "tanda_tangan" and self.revisi.get(later) == self.revisi.get(no)
            for later, (_, kind) in self.steps.items()
            if later > no
        )


LAKIP = SopPlan(
    "370",
    "LAKIP",
    {
        2: ("sekretaris", "disposisi"),
        3: ("jafung", "disposisi"),
        4: ("tim_kerja", "kumpul"),
        5: ("tim_kerja", "unggah"),
        6: ("jafung", "periksa"),
        7: ("sekretaris", "periksa"),
        8: ("kadis", "tanda_tangan"),
        9: ("jafung", "unggah"),
        10: ("tim_kerja", "unggah"),
        11: ("tim_kerja", "tugas"),
    },
    {6: 5, 7: 5, 8: 5},
    (5,),
    {9: "kadis"},  # the Kadis signs the surat pengantar
    {8: "jafung"},  # the Jafung may send the scan of the LAKIP the Kadis signed
)
KINERJA = SopPlan(
    "371",
    "Pelaporan Kinerja",
    {
        2: ("sekretaris", "disposisi"),
        3: ("jafung", "disposisi"),
        4: ("tim_kerja", "kumpul"),
        5: ("tim_kerja", "unggah"),
        6: ("jafung", "periksa"),
        7: ("sekretaris", "periksa"),
        8: ("tim_kerja", "unggah"),
        9: ("sekretaris", "periksa"),
        10: ("kadis", "tanda_tangan"),
        11: ("tim_kerja", "tugas"),
    },
    {6: 5, 7: 5, 9: 8, 10: 8},
    (5, 8),
)


@dataclass
class Visit:
    """One activation of a step, and what its actor does with it."""

    no: int
    occurrence: int  # 0, or 1 when the step comes round again after the revision (per role)
    role: str
    kind: str
    actor: int
    outcome: str


@dataclass
class ProcessRun:
    sop: SopPlan
    title: str
    revision_at: int
    note_as_file: bool
    receipt_photo: bool  # LAKIP Langkah 10 accepts a photo of the receipt
    visits: list[Visit]
    final: bytes = b""  # the last draft uploaded: what everyone gets at the end
    process_id: int | None = None


def plan_process(rng: random.Random, sop: SopPlan, title: str) -> ProcessRun:
    at = rng.choice(sorted(sop.revisi))
    back = sop.revisi[at]
    # The new version goes back to the reviewer who asked through the reviews of the same
    # document in between (they initial it again), so what is signed is what was initialled.
    again = [no for no in range(back + 1, at) if sop.revisi.get(no) == back]
    order = [*range(2, at + 1), back, *again, *range(at, len(sop.steps) + 2)]
    seen: Counter[tuple[int, str]] = Counter()
    visits = []
    turns = []
    for no in order:
        turns.append((no, *sop.steps[no]))
        if no in (sop.signs or {}):
            turns.append((no, (sop.signs or {})[no], "tanda_tangan"))
    for no, role, kind in turns:
        if kind in ("periksa", "tanda_tangan") and no == at and not seen[no, role]:
            outcome = "revisi"
        elif kind == "tanda_tangan":
            outcome = "ditandatangani"  # closed by sending the signed PDF
        elif kind == "periksa":
            outcome = "paraf" if sop.is_paraf(no) else "disetujui"
        else:
            outcome = "diunggah" if kind == "unggah" else "selesai"
        actor = rng.choice(TIM) if role == "tim_kerja" else HOLDERS[role][0]
        visits.append(Visit(no, seen[no, role], role, kind, actor, outcome))
        seen[no, role] += 1
    tim = [v for v in visits if v.role == "tim_kerja"]
    if len({v.actor for v in tim}) < 2:  # both must act, so both are told at the end
        other = rng.choice(tim)
        other.actor = BUDI if other.actor == ANI else ANI
    return ProcessRun(sop, title, at, rng.random() < 0.5, rng.random() < 0.5, visits)
