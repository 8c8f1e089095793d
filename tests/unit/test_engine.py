"""The pure workflow engine, driven through both real SOPs and one made-up SOP.

The plain tests read like a session in the office: who presses what on which step and
where the process goes next. The property tests throw arbitrary presses by arbitrary
people at the engine and check the rules that must hold whatever happens.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bot.sop.loader import SopRegistry
from bot.sop.model import Kind, SopDefinition
from bot.workflow.engine import (
    APPROVED,
    CANCELLED,
    DONE,
    FINISHED,
    PARAF,
    REVISION,
    RUNNING,
    SIGNED,
    UPLOADED,
    Action,
    Approve,
    Complete,
    ProcessState,
    RequestRevision,
    Sign,
    TickBidang,
    Upload,
    WorkflowError,
    act,
    allowed_buttons,
    cancel,
    start,
)
from bot.workflow.events import (
    Event,
    ProcessCancelled,
    ProcessFinished,
    ProcessStarted,
    RevisionRequested,
    StepActivated,
    StepCompleted,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REGISTRY = SopRegistry.load(extra_dir=FIXTURES)


def _sop(key: str) -> SopDefinition:
    sop = REGISTRY.get(key)
    assert sop is not None, f"SOP {key} not loaded"
    return sop


LAKIP = _sop("370")
KINERJA = _sop("371")
PENGADAAN = _sop("999")  # tests/fixtures/sop_999_pengadaan.yaml
ALL_SOPS = (LAKIP, KINERJA, PENGADAAN)

BIDANG = ("Sekretariat", "Koperasi", "Usaha Kecil Menengah", "Perindustrian")


# --- helpers -----------------------------------------------------------------------------


def _roles(by: str | set[str] | frozenset[str]) -> frozenset[str]:
    return frozenset({by}) if isinstance(by, str) else frozenset(by)


class Process:
    """One process of one SOP; `act` applies a press and keeps the events it caused."""

    def __init__(self, sop: SopDefinition, bidang: tuple[str, ...] = BIDANG) -> None:
        self.sop = sop
        self.state, self.events = start(sop, bidang)

    def act(self, action: Action, by: str | set[str]) -> list[Event]:
        self.state, self.events = act(self.sop, self.state, action, _roles(by))
        return self.events

    @property
    def current(self) -> int | None:
        return self.state.current

    def refused(self, action: Action, by: str | set[str], code: str) -> WorkflowError:
        """The press is refused with `code` and the process is exactly as it was."""
        before = copy.deepcopy(self.state)
        before_json = json.dumps(self.state.to_json(), sort_keys=True)
        with pytest.raises(WorkflowError) as caught:
            act(self.sop, self.state, action, _roles(by))
        assert caught.value.code == code, caught.value.message
        assert self.state == before
        assert json.dumps(self.state.to_json(), sort_keys=True) == before_json
        return caught.value


def happy_press(sop: SopDefinition, state: ProcessState) -> tuple[Action, str]:
    """The press the right person makes to move the current step forward."""
    assert state.current is not None
    step = sop.step(state.current)
    if step.ttd_oleh is not None and state.signing:  # the upload waits for its signer
        return Sign(step.no), step.ttd_oleh
    if step.kind is Kind.UNGGAH:
        return Upload(step.no), step.role
    if step.kind is Kind.TANDA_TANGAN:
        return Sign(step.no), step.role
    if step.kind.is_review:
        return Approve(step.no), step.role
    if step.kind is Kind.KUMPUL:
        reasons = {b: "Belum mengirim data" for b in state.missing_bidang}
        return Complete(step.no, reasons=reasons), step.role
    return Complete(step.no), step.role


def advance_to(process: Process, step_no: int) -> None:
    while process.current != step_no:
        action, role = happy_press(process.sop, process.state)
        process.act(action, by=role)


# --- walking the real SOPs from start to finish ------------------------------------------


def test_starting_a_process_activates_step_one_for_the_kadis() -> None:
    state, events = start(KINERJA, BIDANG)

    assert events == [ProcessStarted(KINERJA.number), StepActivated(1, "kadis", "mulai")]
    assert state.status == RUNNING
    assert state.current == 1
    assert state.sop_number == "000.8.3.3/371/100.14"
    assert state.bidang == BIDANG
    assert state.outcomes == {}
    assert state.revision_round == 0


def test_pelaporan_kinerja_runs_from_start_to_finish() -> None:
    p = Process(KINERJA)

    assert p.act(Complete(1, note="Segera disusun"), by="kadis") == [
        StepCompleted(1, "kadis", DONE, "Segera disusun"),
        StepActivated(2, "sekretaris", "lanjut"),
    ]
    p.act(Complete(2), by="sekretaris")
    assert p.events[-1] == StepActivated(3, "jafung", "lanjut")
    p.act(Complete(3), by="jafung")
    assert p.events[-1] == StepActivated(4, "tim_kerja", "lanjut")

    # Step 4 (kumpul): Tim Kerja ticks every bidang as its data arrives, then closes it.
    for bidang in BIDANG:
        assert p.act(TickBidang(4, bidang), by="tim_kerja") == []
        assert p.current == 4
    assert p.state.missing_bidang == []
    p.act(Complete(4), by="tim_kerja")
    assert p.state.checklist == dict.fromkeys(BIDANG, "ada")
    assert p.events[-1] == StepActivated(5, "tim_kerja", "lanjut")

    p.act(Upload(5), by="tim_kerja")
    assert p.events == [
        StepCompleted(5, "tim_kerja", UPLOADED, None),
        StepActivated(6, "jafung", "lanjut"),
    ]
    p.act(Approve(6), by="jafung")
    assert p.events[-1] == StepActivated(7, "sekretaris", "lanjut")
    p.act(Approve(7), by="sekretaris")
    assert p.events[-1] == StepActivated(8, "tim_kerja", "lanjut")
    p.act(Upload(8), by="tim_kerja")
    assert p.events[-1] == StepActivated(9, "sekretaris", "lanjut")
    p.act(Approve(9), by="sekretaris")
    assert p.events == [
        StepCompleted(9, "sekretaris", PARAF, None),  # the final document is initialled
        StepActivated(10, "kadis", "lanjut"),
    ]
    p.refused(Approve(10), by="kadis", code="wrong_kind")  # a signature needs the document
    p.act(Sign(10, document_id=7, note="Nomor 000.8/12/100.14"), by="kadis")
    assert p.events == [
        StepCompleted(10, "kadis", SIGNED, "Nomor 000.8/12/100.14"),
        StepActivated(11, "tim_kerja", "lanjut"),
    ]

    assert p.act(Complete(11), by="tim_kerja") == [
        StepCompleted(11, "tim_kerja", DONE, None),
        ProcessFinished(KINERJA.number),
    ]
    assert p.state.status == FINISHED
    assert p.current is None
    assert p.state.outcomes == {
        1: DONE, 2: DONE, 3: DONE, 4: DONE, 5: UPLOADED, 6: APPROVED,
        7: APPROVED, 8: UPLOADED, 9: PARAF, 10: SIGNED, 11: DONE,
    }  # fmt: skip
    assert p.state.revision_round == 0


def test_lakip_runs_from_start_to_finish_with_reasons_for_missing_bidang() -> None:
    p = Process(LAKIP)
    p.act(Complete(1), by="kadis")
    p.act(Complete(2), by="sekretaris")
    p.act(Complete(3), by="jafung")

    # Step 4 (kumpul): two bidang sent their data, two did not and get a reason.
    p.act(TickBidang(4, "Sekretariat"), by="tim_kerja")
    p.act(TickBidang(4, "Koperasi"), by="tim_kerja")
    assert p.state.missing_bidang == ["Usaha Kecil Menengah", "Perindustrian"]
    reasons = {"Usaha Kecil Menengah": "  Kepala bidang cuti  ", "Perindustrian": "Tidak ada"}
    p.act(Complete(4, reasons=reasons), by="tim_kerja")
    assert p.state.checklist == {
        "Sekretariat": "ada",
        "Koperasi": "ada",
        "Usaha Kecil Menengah": "Kepala bidang cuti",
        "Perindustrian": "Tidak ada",
    }
    assert p.current == 5

    p.act(Upload(5), by="tim_kerja")
    p.act(Approve(6), by="jafung")
    p.act(Approve(7), by="sekretaris")
    p.act(Sign(8), by="kadis")
    assert p.events[-1] == StepActivated(9, "jafung", "lanjut")
    # The surat pengantar: uploaded by the Jafung, then signed by the Kadis (kelengkapan).
    assert p.act(Upload(9), by="jafung") == [
        StepCompleted(9, "jafung", UPLOADED, None),
        StepActivated(9, "kadis", "ttd"),
    ]
    p.refused(Upload(9), by="jafung", code="wrong_role")  # the signer's turn now
    p.refused(Approve(9), by="kadis", code="wrong_kind")  # a signature needs the document
    assert p.act(Sign(9, document_id=12), by="kadis") == [
        StepCompleted(9, "kadis", SIGNED, None),
        StepActivated(10, "tim_kerja", "lanjut"),
    ]
    p.act(Upload(10), by="tim_kerja")  # tanda terima from Bagian Organisasi
    assert p.events[-1] == StepActivated(11, "tim_kerja", "lanjut")
    p.act(Complete(11), by="tim_kerja")

    assert p.events[-1] == ProcessFinished(LAKIP.number)
    assert p.state.status == FINISHED
    assert p.state.outcomes == {
        1: DONE, 2: DONE, 3: DONE, 4: DONE, 5: UPLOADED, 6: PARAF,
        7: PARAF, 8: SIGNED, 9: SIGNED, 10: UPLOADED, 11: DONE,
    }  # fmt: skip


def test_the_signer_of_an_upload_sends_it_back_to_the_uploader_and_signs_the_new_one() -> None:
    p = Process(LAKIP)
    advance_to(p, 9)
    p.act(Upload(9), by="jafung")
    assert p.act(RequestRevision(9, "Alamat tujuan salah"), by="kadis") == [
        StepCompleted(9, "kadis", REVISION, "Alamat tujuan salah"),
        RevisionRequested(9, 9, "Alamat tujuan salah", 1),
        StepActivated(9, "jafung", "revisi"),
    ]
    assert p.current == 9 and not p.state.signing and p.state.revision_round == 1
    p.refused(Sign(9), by="kadis", code="wrong_role")  # nothing to sign until it is back
    p.act(Upload(9), by="jafung")
    assert p.events[-1] == StepActivated(9, "kadis", "ttd")
    p.act(Sign(9), by="kadis")
    assert p.current == 10 and p.state.outcomes[9] == SIGNED and p.state.return_to is None


def test_the_scanner_may_send_the_signature_but_not_ask_for_a_revision() -> None:
    p = Process(LAKIP)
    advance_to(p, 8)
    p.refused(RequestRevision(8, "Bukan wewenang"), by="jafung", code="wrong_role")
    p.refused(Approve(8), by="jafung", code="wrong_role")
    assert p.act(Sign(8, document_id=3), by="jafung")[0] == StepCompleted(8, "kadis", SIGNED, None)
    assert p.current == 9


def test_a_scanner_of_a_signed_upload_helps_with_the_signature_not_the_upload() -> None:
    steps = [
        s.model_copy(update={"pindai_oleh": "tim_kerja"}) if s.no == 9 else s for s in LAKIP.steps
    ]
    p = Process(LAKIP.model_copy(update={"steps": steps}))
    advance_to(p, 9)
    assert p.sop.phase(9, "jafung").scanner is None
    p.refused(Upload(9), by="tim_kerja", code="wrong_role")
    p.refused(Sign(9), by="tim_kerja", code="wrong_role")  # nothing uploaded to sign yet
    p.act(Upload(9), by="jafung")
    assert p.sop.phase(9, "kadis").scanner == "tim_kerja"
    assert p.act(Sign(9), by="tim_kerja")[0] == StepCompleted(9, "kadis", SIGNED, None)


def test_a_state_saved_before_signing_existed_still_loads() -> None:
    saved = Process(LAKIP).state.to_json()
    del saved["signing"]
    assert ProcessState.from_json(saved).signing is False


def test_kumpul_with_no_bidang_list_closes_with_selesai() -> None:
    p = Process(LAKIP, bidang=())
    advance_to(p, 4)
    p.act(Complete(4), by="tim_kerja")
    assert p.current == 5
    assert p.state.checklist == {}


def test_a_person_holding_two_roles_can_act_on_both_steps() -> None:
    # e.g. the Sekretaris is also Plt Jafung this month.
    p = Process(KINERJA)
    p.act(Complete(1), by="kadis")
    p.act(Complete(2), by={"sekretaris", "jafung"})
    p.act(Complete(3), by={"sekretaris", "jafung"})
    assert p.current == 4


def test_buttons_offered_follow_the_step_kind() -> None:
    assert allowed_buttons(KINERJA, 1) == ("Complete",)
    assert set(allowed_buttons(KINERJA, 4)) == {"Complete", "TickBidang"}
    assert allowed_buttons(KINERJA, 5) == ("Upload",)
    assert set(allowed_buttons(KINERJA, 6)) == {"Approve", "RequestRevision"}
    assert set(allowed_buttons(KINERJA, 10)) == {"Sign", "RequestRevision"}
    assert allowed_buttons(KINERJA, 11) == ("Complete",)


# --- revisions ---------------------------------------------------------------------------


def test_revision_goes_back_to_the_draft_and_the_new_version_is_reviewed_again() -> None:
    p = Process(KINERJA)
    advance_to(p, 7)

    events = p.act(RequestRevision(7, "  Tabel capaian belum lengkap "), by="sekretaris")

    assert events == [
        StepCompleted(7, "sekretaris", REVISION, "Tabel capaian belum lengkap"),
        RevisionRequested(7, 5, "Tabel capaian belum lengkap", 1),
        StepActivated(5, "tim_kerja", "revisi"),
    ]
    assert p.current == 5
    assert p.state.outcomes[7] == REVISION
    assert p.state.revision_round == 1

    # The new version passes the Jafung's review (step 6) again on its way to the Sekretaris.
    assert p.act(Upload(5), by="tim_kerja") == [
        StepCompleted(5, "tim_kerja", UPLOADED, None),
        StepActivated(6, "jafung", "kembali"),
    ]
    assert p.act(Approve(6), by="jafung")[-1] == StepActivated(7, "sekretaris", "kembali")
    p.act(Approve(7), by="sekretaris")
    assert p.current == 8
    assert p.state.outcomes[7] == APPROVED
    assert p.state.return_to is None


def test_signature_step_revision_goes_to_the_final_document_and_through_its_paraf() -> None:
    p = Process(KINERJA)
    advance_to(p, 10)
    p.act(RequestRevision(10, "Nomor surat salah"), by="kadis")
    assert p.current == 8  # revisi_ke of step 10 is the final document, not the draft
    assert p.events[-1] == StepActivated(8, "tim_kerja", "revisi")

    p.act(Upload(8), by="tim_kerja")
    assert p.current == 9  # the Sekretaris initials the new version before the Kadis signs
    assert p.act(Approve(9), by="sekretaris")[0] == StepCompleted(9, "sekretaris", PARAF, None)
    assert p.current == 10
    p.act(Sign(10), by="kadis")
    assert p.current == 11


def test_lakip_kadis_revision_brings_the_new_draft_through_both_paraf_steps() -> None:
    p = Process(LAKIP)
    advance_to(p, 8)
    p.act(RequestRevision(8, "Perbaiki bab III"), by="kadis")
    assert p.current == 5
    p.act(Upload(5), by="tim_kerja")
    assert p.events[-1] == StepActivated(6, "jafung", "kembali")
    p.act(Approve(6), by="jafung")
    assert p.events[-1] == StepActivated(7, "sekretaris", "kembali")
    p.act(Approve(7), by="sekretaris")
    assert p.events[-1] == StepActivated(8, "kadis", "kembali")
    assert p.state.outcomes[6] == p.state.outcomes[7] == PARAF


def test_a_reviewer_marked_paraf_ulang_false_gets_the_new_version_straight_back() -> None:
    steps = [s.model_copy(update={"paraf_ulang": False}) if s.no == 8 else s for s in LAKIP.steps]
    sop = LAKIP.model_copy(update={"steps": steps})
    p = Process(sop)
    advance_to(p, 8)
    p.act(RequestRevision(8, "Perbaiki bab III"), by="kadis")
    p.act(Upload(5), by="tim_kerja")
    assert p.events[-1] == StepActivated(8, "kadis", "kembali")


def test_a_paraf_step_asking_for_a_revision_on_the_way_back_takes_over_the_return() -> None:
    p = Process(LAKIP)
    advance_to(p, 8)
    p.act(RequestRevision(8, "Perbaiki bab III"), by="kadis")
    p.act(Upload(5), by="tim_kerja")
    p.act(RequestRevision(6, "Tabel 2 keliru"), by="jafung")
    p.act(Upload(5), by="tim_kerja")
    assert p.current == 6
    p.act(Approve(6), by="jafung")
    p.act(Approve(7), by="sekretaris")
    assert p.current == 8 and p.state.return_to is None


def test_a_running_process_is_cancelled_with_a_reason_and_then_refuses_everything() -> None:
    p = Process(LAKIP)
    advance_to(p, 5)
    with pytest.raises(WorkflowError) as caught:
        cancel(p.state, "   ")
    assert caught.value.code == "empty_reason"
    state, events = cancel(p.state, " Salah memilih SOP ")
    assert events == [ProcessCancelled(LAKIP.number, 5, "Salah memilih SOP")]
    assert state.status == CANCELLED and state.current is None
    with pytest.raises(WorkflowError):
        act(LAKIP, state, Upload(5), frozenset({"tim_kerja"}))
    with pytest.raises(WorkflowError):
        cancel(state, "lagi")


def test_every_revision_increments_the_round() -> None:
    p = Process(KINERJA)
    advance_to(p, 6)

    p.act(RequestRevision(6, "Revisi pertama"), by="jafung")
    assert p.state.revision_round == 1
    p.act(Upload(5), by="tim_kerja")
    p.act(RequestRevision(6, "Revisi kedua"), by="jafung")
    assert p.state.revision_round == 2
    assert p.events[1] == RevisionRequested(6, 5, "Revisi kedua", 2)
    p.act(Upload(5), by="tim_kerja")
    p.act(Approve(6), by="jafung")
    p.act(RequestRevision(7, "Revisi ketiga"), by="sekretaris")
    assert p.state.revision_round == 3
    assert p.events[1] == RevisionRequested(7, 5, "Revisi ketiga", 3)

    # After the revised upload it passes step 6 again, then runs on normally.
    p.act(Upload(5), by="tim_kerja")
    p.act(Approve(6), by="jafung")
    p.act(Approve(7), by="sekretaris")
    p.act(Upload(8), by="tim_kerja")
    assert p.current == 9
    assert p.state.revision_round == 3


# --- refusals ----------------------------------------------------------------------------


def test_wrong_role_is_refused_and_names_whose_step_it_is() -> None:
    p = Process(KINERJA)
    err = p.refused(Complete(1), by="sekretaris", code="wrong_role")
    assert "Langkah 1" in err.message
    assert "Kepala Dinas" in err.message

    advance_to(p, 6)
    # Tim Kerja cannot approve its own draft.
    p.refused(Approve(6), by="tim_kerja", code="wrong_role")
    p.refused(Approve(6), by=set(), code="wrong_role")


def test_pressing_a_step_that_is_not_current_is_refused() -> None:
    p = Process(KINERJA)
    err = p.refused(Approve(10), by="kadis", code="not_current")
    assert "Langkah 10" in err.message
    p.refused(Complete(0), by="kadis", code="not_current")
    p.refused(Complete(12), by="kadis", code="not_current")

    # A second press of the same button (Telegram delivers updates at least once).
    p.act(Complete(1), by="kadis")
    p.refused(Complete(1), by="kadis", code="not_current")
    assert p.current == 2


def test_an_action_of_the_wrong_kind_is_refused() -> None:
    p = Process(KINERJA)
    advance_to(p, 4)
    p.refused(Upload(4), by="tim_kerja", code="wrong_kind")
    p.act(Complete(4, reasons=dict.fromkeys(BIDANG, "belum")), by="tim_kerja")

    assert p.current == 5  # unggah: only a document closes it
    p.refused(Approve(5), by="tim_kerja", code="wrong_kind")
    p.refused(Complete(5), by="tim_kerja", code="wrong_kind")
    p.refused(TickBidang(5, "Koperasi"), by="tim_kerja", code="wrong_kind")
    p.act(Upload(5), by="tim_kerja")

    assert p.current == 6  # periksa: Setuju or Revisi only
    p.refused(Upload(6), by="jafung", code="wrong_kind")
    p.refused(Complete(6), by="jafung", code="wrong_kind")


def test_a_revision_without_a_note_is_refused() -> None:
    p = Process(KINERJA)
    advance_to(p, 6)
    err = p.refused(RequestRevision(6, ""), by="jafung", code="empty_note")
    assert "Catatan revisi" in err.message
    p.refused(RequestRevision(6, "   \n\t"), by="jafung", code="empty_note")
    assert p.state.revision_round == 0


def test_closing_kumpul_with_a_missing_bidang_and_no_reason_is_refused() -> None:
    p = Process(LAKIP)
    advance_to(p, 4)
    p.act(TickBidang(4, "Sekretariat"), by="tim_kerja")

    err = p.refused(Complete(4), by="tim_kerja", code="missing_bidang")
    assert "Koperasi" in err.message and "Perindustrian" in err.message

    # A blank reason is no reason; only the unexplained bidang are named.
    partial = {"Koperasi": "Data menyusul", "Usaha Kecil Menengah": "  ", "Sekretariat": "x"}
    err = p.refused(Complete(4, reasons=partial), by="tim_kerja", code="missing_bidang")
    assert "Usaha Kecil Menengah" in err.message and "Perindustrian" in err.message
    assert "Koperasi" not in err.message
    assert p.state.checklist == {"Sekretariat": "ada"}


def test_ticking_a_bidang_that_is_not_on_the_list_is_refused() -> None:
    p = Process(LAKIP)
    advance_to(p, 4)
    err = p.refused(TickBidang(4, "Bidang Pariwisata"), by="tim_kerja", code="unknown_bidang")
    assert "Bidang Pariwisata" in err.message


def test_any_action_after_the_process_finished_is_refused() -> None:
    p = Process(KINERJA)
    while p.state.status == RUNNING:
        action, role = happy_press(p.sop, p.state)
        p.act(action, by=role)

    err = p.refused(Complete(11), by="tim_kerja", code="finished")
    assert "sudah selesai" in err.message
    p.refused(Approve(10), by="kadis", code="finished")
    p.refused(Complete(1), by="kadis", code="finished")


# --- persistence -------------------------------------------------------------------------


def test_process_state_survives_a_json_round_trip_and_runs_on() -> None:
    p = Process(LAKIP)
    advance_to(p, 4)
    p.act(TickBidang(4, "Koperasi"), by="tim_kerja")
    p.act(Complete(4, reasons={b: "menyusul" for b in p.state.missing_bidang}), by="tim_kerja")
    p.act(Upload(5), by="tim_kerja")
    p.act(Approve(6), by="jafung")
    p.act(RequestRevision(7, "Lampiran kurang"), by="sekretaris")
    saved = p.state

    stored = json.dumps(saved.to_json())  # what the database keeps
    restored = ProcessState.from_json(json.loads(stored))

    assert restored == saved
    assert restored.to_json() == saved.to_json()
    assert restored.outcomes[7] == REVISION
    # The restored process still remembers who asked for the revision.
    after, _ = act(LAKIP, restored, Upload(5), frozenset({"tim_kerja"}))
    after, _ = act(LAKIP, after, Approve(6), frozenset({"jafung"}))
    assert after.current == 7 and after.return_to is None


def test_a_finished_state_round_trips_too() -> None:
    state, _ = start(PENGADAAN, ())
    while state.status == RUNNING:
        action, role = happy_press(PENGADAAN, state)
        state, _ = act(PENGADAAN, state, action, frozenset({role}))
    assert ProcessState.from_json(json.loads(json.dumps(state.to_json()))) == state


# --- a third, made-up SOP runs with no code change ---------------------------------------


def test_made_up_pengadaan_sop_runs_start_to_finish_with_a_revision() -> None:
    bidang = ("Koperasi", "Perindustrian")
    p = Process(PENGADAAN, bidang=bidang)
    assert p.events == [ProcessStarted("000.3.2/999/100.14"), StepActivated(1, "staf", "mulai")]

    p.refused(Complete(1), by="kadis", code="wrong_role")  # no kadis in this SOP
    p.act(Complete(1), by="staf")  # tugas
    p.act(Upload(2), by="staf")  # unggah
    assert p.events[-1] == StepActivated(3, "pptk", "lanjut")
    p.act(Approve(3), by="pptk")  # periksa
    assert p.events[-1] == StepActivated(4, "bendahara", "lanjut")
    p.act(TickBidang(4, "Koperasi"), by="bendahara")  # kumpul
    p.act(Complete(4, reasons={"Perindustrian": "DPA belum disahkan"}), by="bendahara")
    assert p.events[-1] == StepActivated(5, "kpa", "lanjut")

    err = p.refused(Approve(5), by="bendahara", code="wrong_role")
    assert "Kuasa Pengguna Anggaran" in err.message
    p.act(RequestRevision(5, "HPS terlalu tinggi"), by="kpa")  # tanda_tangan, revisi ke 2
    assert p.current == 2
    assert p.events[-1] == StepActivated(2, "staf", "revisi")
    p.act(Upload(2), by="staf")
    assert p.current == 3  # the PPTK initials the new HPS; the kumpul step is not repeated
    p.act(Approve(3), by="pptk")
    assert p.current == 5
    assert p.state.checklist == {"Koperasi": "ada", "Perindustrian": "DPA belum disahkan"}
    p.act(Sign(5), by="kpa")
    assert p.events[-1] == StepActivated(6, "pptk", "lanjut")
    p.act(Complete(6), by="pptk")  # disposisi, the last step

    assert p.events[-1] == ProcessFinished("000.3.2/999/100.14")
    assert p.state.outcomes == {
        1: DONE, 2: UPLOADED, 3: PARAF, 4: DONE, 5: SIGNED, 6: DONE,
    }  # fmt: skip
    assert p.state.revision_round == 1


# --- properties: arbitrary presses by arbitrary people -----------------------------------

# What each kind of step accepts, written independently of the engine's own table.
ACTIONS_FOR_KIND: dict[Kind, tuple[type, ...]] = {
    Kind.DISPOSISI: (Complete,),
    Kind.TUGAS: (Complete,),
    Kind.KUMPUL: (TickBidang, Complete),
    Kind.UNGGAH: (Upload,),
    Kind.PERIKSA: (Approve, RequestRevision),
    Kind.TANDA_TANGAN: (Sign, RequestRevision),
}
ALL_ACTIONS = (Complete, Upload, Approve, Sign, RequestRevision, TickBidang)
BIDANG_GUESSES = (*BIDANG, "Bidang Fiktif")
SOP_DUMPS = {sop.number: sop.model_dump() for sop in ALL_SOPS}

# Strategies are built once: building them inside every draw makes the run several times slower.
ONE_IN_FIVE = st.integers(0, 4)  # 0 = anything goes; otherwise mostly a sensible press
STEP_NOS = {sop.number: st.integers(0, len(sop.steps) + 1) for sop in ALL_SOPS}
ROLE_SETS = {
    sop.number: st.frozensets(st.sampled_from([r.code for r in sop.roles] + ["orang_lain"]))
    for sop in ALL_SOPS
}
ACTION_TYPES = {kind: st.sampled_from(types) for kind, types in ACTIONS_FOR_KIND.items()}
ANY_ACTION_TYPE = st.sampled_from(ALL_ACTIONS)
REVISION_NOTES = st.sampled_from(("", "   ", "Perbaiki tabel capaian", " Lampiran kurang "))
OTHER_NOTES = st.sampled_from((None, "Siap", ""))
BIDANG_PICKS = st.sampled_from(BIDANG_GUESSES)
REASON_MAPS = st.dictionaries(BIDANG_PICKS, st.sampled_from(("", "  ", "Data belum dikirim")))


@st.composite
def presses(draw: st.DrawFn, sop: SopDefinition, state: ProcessState) -> tuple[Action, frozenset]:
    """A press by someone, biased towards plausible ones so processes get somewhere."""
    step = sop.step(state.current) if state.current is not None else sop.steps[-1]

    plausible = draw(ONE_IN_FIVE)
    on_current = plausible and draw(ONE_IN_FIVE)
    step_no = step.no if on_current else draw(STEP_NOS[sop.number])
    roles = draw(ROLE_SETS[sop.number])
    if plausible and draw(ONE_IN_FIVE):
        roles |= {step.role}
    fitting = plausible and draw(ONE_IN_FIVE)
    kind = draw(ACTION_TYPES[step.kind] if fitting else ANY_ACTION_TYPE)

    if kind is Complete:
        reasons = draw(REASON_MAPS) if step.kind is Kind.KUMPUL else {}
        return Complete(step_no, draw(OTHER_NOTES), reasons), roles
    if kind is Upload:
        return Upload(step_no), roles
    if kind is Approve:
        return Approve(step_no, draw(OTHER_NOTES)), roles
    if kind is Sign:
        return Sign(step_no, None, draw(OTHER_NOTES)), roles
    if kind is RequestRevision:
        return RequestRevision(step_no, draw(REVISION_NOTES)), roles
    return TickBidang(step_no, draw(BIDANG_PICKS)), roles


def refusal_reasons(
    sop: SopDefinition, state: ProcessState, action: Action, roles: frozenset, ticked: set[str]
) -> set[str]:
    """Every reason the office rules give to refuse this press (empty: it must be accepted)."""
    if state.current is None:
        return {"finished"}
    if action.step_no != state.current:
        return {"not_current"}
    step = sop.step(state.current)
    # An upload that needs a signature: after the upload it is the signer's sign step.
    role, kind = (step.ttd_oleh, Kind.TANDA_TANGAN) if state.signing else (step.role, step.kind)
    # The scanner (pindai_oleh) may send the signed document for the signer, nothing else.
    scans = isinstance(action, Sign) and kind is Kind.TANDA_TANGAN and step.pindai_oleh in roles
    reasons = set()
    if role not in roles and not scans:
        reasons.add("wrong_role")
    if not isinstance(action, ACTIONS_FOR_KIND[kind]):
        reasons.add("wrong_kind")
    elif isinstance(action, RequestRevision) and not action.note.strip():
        reasons.add("empty_note")
    elif isinstance(action, TickBidang) and action.bidang not in state.bidang:
        reasons.add("unknown_bidang")
    elif isinstance(action, Complete) and step.kind is Kind.KUMPUL:
        unexplained = [
            b for b in state.bidang if b not in ticked and not action.reasons.get(b, "").strip()
        ]
        if unexplained:
            reasons.add("missing_bidang")
    return reasons


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    sop=st.sampled_from(ALL_SOPS),
    bidang=st.lists(st.sampled_from(BIDANG), unique=True, max_size=3).map(tuple),
    attempts=st.integers(1, 100),
)
def test_arbitrary_presses_never_break_the_office_rules(
    data: st.DataObject,
    sop: SopDefinition,
    bidang: tuple[str, ...],
    attempts: int,
) -> None:
    n = len(sop.steps)
    state, _ = start(sop, bidang)
    visited = {1}
    asked_by: int | None = None  # our own record of the reviewer waiting for a new version
    ticked: set[str] = set()
    revisions = 0

    for _ in range(attempts):
        action, roles = data.draw(presses(sop, state))
        snapshot = copy.deepcopy(state)
        snapshot_json = json.dumps(state.to_json(), sort_keys=True)
        action_copy = copy.deepcopy(action)
        expected_refusals = refusal_reasons(sop, state, action, roles, ticked)

        try:
            new, events = act(sop, state, action, roles)
        except WorkflowError as err:
            # (d) a refusal is a WorkflowError for a real reason and changes nothing
            assert expected_refusals, f"valid press {action} by {set(roles)} refused: {err.code}"
            assert err.code in expected_refusals, (err.code, expected_refusals)
            assert err.message
            assert state == snapshot
            assert json.dumps(state.to_json(), sort_keys=True) == snapshot_json
            assert action == action_copy
            continue

        assert not expected_refusals, f"{action} by {set(roles)} accepted: {expected_refusals}"
        # The old state is never modified; the engine returns a new one.
        assert state == snapshot and action == action_copy
        old = state.current
        assert old is not None
        step = sop.step(old)
        signing = state.signing  # the signer's turn of an upload that needs a signature

        # (c) an accepted press came from someone holding the step's role, on the current step
        signer = step.ttd_oleh if signing else step.role
        assert signer in roles or (isinstance(action, Sign) and step.pindai_oleh in roles)
        assert action.step_no == old

        # (a) the process moves only one step on, to the revision target of this review step,
        # or back to the reviewer who asked for the new version; it never skips a step.
        if isinstance(action, TickBidang):
            expected = old
            ticked.add(action.bidang)
            assert new.checklist.get(action.bidang) == "ada"
        elif isinstance(action, Upload) and step.ttd_oleh is not None:
            expected = old  # now the signer's turn on the same step
            assert new.signing and events[-1] == StepActivated(old, step.ttd_oleh, "ttd")
        elif isinstance(action, RequestRevision) and signing:
            expected = old  # back to the uploader; whoever asked before still waits
            assert not new.signing and events[-1] == StepActivated(old, step.role, "revisi")
            revisions += 1
        elif isinstance(action, RequestRevision):
            assert step.kind.is_review
            expected = step.revisi_ke
            asked_by = old
            revisions += 1
        elif asked_by is not None and old < asked_by:
            # On the way back: the next review of the same document, then the reviser.
            target = sop.step(asked_by)
            between = [
                s.no
                for s in sop.steps[old : asked_by - 1]
                if s.kind.is_review and s.revisi_ke == target.revisi_ke
            ]
            expected = between[0] if between and target.paraf_ulang else asked_by
            if expected == asked_by:
                asked_by = None
        else:
            expected = old + 1 if old < n else None
        assert new.current == expected, (old, action, new.current)

        if new.current is None:
            assert new.status == FINISHED
            assert events[-1] == ProcessFinished(sop.number)
        else:
            assert new.status == RUNNING
            if new.current != old and not new.signing:
                activated = events[-1]
                assert isinstance(activated, StepActivated)
                assert activated.step_no == new.current
                assert activated.role == sop.step(new.current).role
                visited.add(new.current)
                if sop.step(new.current).kind is Kind.KUMPUL:
                    ticked = set()
        assert new.revision_round == revisions
        assert ProcessState.from_json(json.loads(json.dumps(new.to_json()))) == new
        state = new

    # (b) a finished process went through every step and every review ended in approval
    if state.status == FINISHED:
        event("finished")
        assert visited == set(range(1, n + 1))
        assert set(state.outcomes) == set(range(1, n + 1))
        for s in sop.steps:
            if s.kind.is_review:
                assert state.outcomes[s.no] == review_outcome(sop, s.no), (s.no, state.outcomes)
            if s.ttd_oleh is not None:
                assert state.outcomes[s.no] == SIGNED
        if revisions:
            event("finished after a revision")
    assert sop.model_dump() == SOP_DUMPS[sop.number]  # the definition itself is untouched


@settings(max_examples=100, deadline=None)
@given(
    sop=st.sampled_from(ALL_SOPS),
    revise=st.lists(st.booleans(), max_size=30),
    bidang=st.lists(st.sampled_from(BIDANG), unique=True).map(tuple),
)
def test_right_people_always_finish_whatever_the_revisions(
    sop: SopDefinition, revise: list[bool], bidang: tuple[str, ...]
) -> None:
    """Reviewers answering Setuju/Revisi in any order; the process ends once they all agree."""
    state, _ = start(sop, bidang)
    choices = iter(revise)
    presses_made = revisions = 0
    while state.status == RUNNING:
        action, role = happy_press(sop, state)
        if isinstance(action, Approve | Sign) and next(choices, False):
            action = RequestRevision(action.step_no, "Perbaiki")
            revisions += 1
        state, _ = act(sop, state, action, frozenset({role}))
        presses_made += 1
        signatures = sum(s.ttd_oleh is not None for s in sop.steps)  # one more press each
        assert presses_made <= len(sop.steps) + signatures + 2 * len(revise)
    assert state.revision_round == revisions
    assert all(
        state.outcomes[s.no] == review_outcome(sop, s.no) for s in sop.steps if s.kind.is_review
    )


def review_outcome(sop: SopDefinition, no: int) -> str:
    """How an agreed review is recorded: a signature, a paraf before one, or an approval."""
    step = sop.step(no)
    if step.kind is Kind.TANDA_TANGAN:
        return SIGNED
    signed_later = any(
        s.kind is Kind.TANDA_TANGAN and s.revisi_ke == step.revisi_ke for s in sop.steps[no:]
    )
    return PARAF if signed_later else APPROVED
