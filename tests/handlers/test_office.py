"""Office practice through the real Application: the disposisi form, claims, moving a step,
cancelling a process, and who may act when a step is named, claimed or moved."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.people import add_person
from handlers.common import CALLBACK_PREFIX
from storage.models import Disposition, Outbox, Process, StepInstance
from tests.handlers.harness import Harness
from tests.handlers.test_flow import (
    JAFUNG,
    KADIS,
    SEKRETARIS,
    TIM_A,
    TIM_B,
    draft_uploaded,
    register,
    start,
)

RINA = 31  # a second Jafung


@pytest.fixture
async def h(tmp_path):
    async with Harness(tmp_path) as harness:
        await register(harness)
        async with harness.rt.sessions.begin() as s:
            rina = await add_person(s, harness.clock.now(), RINA, "Bu Rina", ["jafung"])
            rina.started_at = harness.clock.now()
        yield harness


def buttons(h: Harness, uid: int) -> list[str]:
    """Labels of the newest message with buttons sent to uid."""
    for call in reversed(h.request.calls):
        if call.method == "sendMessage" and int(call.params.get("chat_id", 0)) == uid:
            rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
            if rows:
                return [b["text"] for row in rows for b in row]
    return []


async def press_edited(h: Harness, uid: int, label: str) -> None:
    """Press a button that came with an edit of a message (the pressed card, the form)."""
    for call in reversed(h.request.calls):
        if call.method == "editMessageText" and int(call.params.get("chat_id", 0)) == uid:
            rows = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in (b for row in rows for b in row):
                if label in b["text"]:
                    await h.press_data(uid, b["callback_data"])
                    return
    raise AssertionError(f"no edited button {label!r} for {uid}")


async def test_the_form_sends_the_disposisi_to_the_chosen_jafung_only(h: Harness) -> None:
    await start(h, "370")
    await h.press(SEKRETARIS, "Pilih penerima")
    form = h.last(SEKRETARIS)
    assert "Pak Jafung" in form and "Bu Rina" in form
    await h.press(SEKRETARIS, "Pak Jafung")  # untick him
    assert "Kepada Jafung Perencana: Bu Rina\n" in h.edits()[-1]
    await h.text(SEKRETARIS, "Mohon dikoordinasikan dengan bidang.")  # the catatan
    assert "Catatan: Mohon dikoordinasikan" in h.last(SEKRETARIS)
    await h.press(SEKRETARIS, "Untuk dikoordinasikan")
    await h.press(SEKRETARIS, "Kirim disposisi")
    assert "Langkah 3" in h.last(RINA) and "📌 Instruksi: Untuk dikoordinasikan" in h.last(RINA)
    assert "Mohon dikoordinasikan" in h.last(RINA)
    assert not any("Langkah 3" in t for t in h.sent(JAFUNG))
    # The other Jafung cannot act on it: the step is hers.
    async with h.rt.sessions() as s:
        si = await s.scalar(select(StepInstance).where(StepInstance.step_no == 3))
        assert si.assignees is not None and len(si.assignees) == 1
        d = (await s.scalars(select(Disposition).order_by(Disposition.id))).all()
        assert [x.to_role for x in d] == ["sekretaris", "jafung"]
        assert d[1].instruksi == ["Untuk dikoordinasikan"]
    h.clear()
    await h.text(JAFUNG, "/tugas")
    assert "tidak ada tugas" in h.last(JAFUNG).lower() or "Langkah 3" not in h.last(JAFUNG)


async def test_a_form_with_nobody_ticked_is_refused_and_changes_nothing(h: Harness) -> None:
    await start(h, "370")
    await h.press(SEKRETARIS, "Pilih penerima")
    await h.press(SEKRETARIS, "Pak Jafung")
    await h.press(SEKRETARIS, "Bu Rina")
    await h.press(SEKRETARIS, "Kirim disposisi")
    assert any("sedikitnya satu penerima" in a for a in h.answers())
    async with h.rt.sessions() as s:
        assert (await s.scalar(select(Process))).current_step == 2


async def test_claim_closes_the_others_copies_and_release_sends_them_again(h: Harness) -> None:
    await start(h, "370")
    await h.press(SEKRETARIS, "Teruskan")
    await h.press(JAFUNG, "Teruskan")
    assert "🙋 Saya kerjakan" in buttons(h, TIM_A) and "🙋 Saya kerjakan" in buttons(h, TIM_B)
    await h.press(TIM_B, "Saya kerjakan")
    assert any("Dikerjakan oleh Budi Tim" in e for e in h.edits())
    # Ani can no longer act on it.
    await h.press(TIM_A, "Sekretariat")
    assert any("sedang dikerjakan oleh Budi Tim" in a for a in h.answers())
    await press_edited(h, TIM_B, "Lepaskan")
    assert "Langkah 4" in h.last(TIM_A) and "🙋 Saya kerjakan" in buttons(h, TIM_A)


async def test_a_superior_moves_a_step_to_another_person_of_the_role(h: Harness) -> None:
    await start(h, "370")
    await h.press(SEKRETARIS, "Pilih penerima")
    await h.press(SEKRETARIS, "Pak Jafung")  # to Bu Rina only
    await h.press(SEKRETARIS, "Kirim disposisi")
    async with h.rt.sessions() as s:
        si = await s.scalar(select(StepInstance).where(StepInstance.step_no == 3))
    await h.press_data(TIM_A, await _token(h, "alihkan", str(si.id), TIM_A))
    assert "hanya dapat dialihkan" in h.answers()[-1]  # not her superior
    await h.press_data(SEKRETARIS, await _token(h, "alihkan", str(si.id), SEKRETARIS))
    assert "Alihkan Langkah 3 kepada siapa" in h.last(SEKRETARIS)
    await h.press(SEKRETARIS, "Pak Jafung")
    assert any("Dialihkan kepada Pak Jafung" in e for e in h.edits())  # Rina's copy
    assert "Langkah 3" in h.last(JAFUNG)
    await h.press(RINA, "Teruskan")  # her old card: no longer hers
    assert any("ditangani oleh Pak Jafung" in a for a in h.answers())
    await h.press(JAFUNG, "Teruskan")
    assert "Langkah 4" in h.last(TIM_A)


async def _token(h: Harness, action: str, arg: str, uid: int) -> str:
    from bot.services.common import add_token
    from storage.models import Person

    async with h.rt.sessions.begin() as s:
        person = await s.scalar(select(Person).where(Person.telegram_id == uid))
        token = await add_token(s, h.clock.now(), action, arg=arg, person_id=person.id)
    return CALLBACK_PREFIX + token


async def test_cancel_asks_a_reason_then_closes_every_card_and_tells_everyone(
    h: Harness,
) -> None:
    await start(h, "371")
    await h.press(SEKRETARIS, "Teruskan")
    await h.text(JAFUNG, "/batalkan 1")
    assert "hanya dapat dibatalkan" in h.last(JAFUNG)
    await h.text(KADIS, "/batalkan 1")
    assert "alasan pembatalan" in h.last(KADIS)
    await h.text(KADIS, "Salah memilih SOP.")
    for uid in (KADIS, SEKRETARIS, JAFUNG):
        assert any("⛔ Proses #1" in t and "Salah memilih SOP." in t for t in h.sent(uid)), uid
    async with h.rt.sessions() as s:
        process = await s.scalar(select(Process))
        assert process.status == "dibatalkan" and process.cancelled_reason == "Salah memilih SOP."
        open_ = await s.scalars(select(StepInstance).where(StepInstance.finished_at.is_(None)))
        assert open_.all() == []
        live = await s.scalars(
            select(Outbox).where(
                Outbox.tag.in_(("card", "prompt")),
                Outbox.closed_at.is_(None),
                Outbox.message_id.is_not(None),
            )
        )
        assert [(r.chat_id, r.payload["text"][:40]) for r in live.all()] == []
    await h.text(KADIS, "/batalkan 1")
    assert "sudah tidak berjalan" in h.last(KADIS)


async def test_sangat_segera_doubles_the_reminder_cadence(h: Harness) -> None:
    from datetime import timedelta

    from bot.services.reminders import next_reminder

    await start(h, "370")
    async with h.rt.sessions() as s:
        process = await s.scalar(select(Process))
        si = await s.scalar(select(StepInstance).where(StepInstance.finished_at.is_(None)))
    at = si.deadline_at + timedelta(minutes=1)  # late, in office hours (a Monday morning)
    every = timedelta(minutes=h.settings.reminder_interval_minutes)
    assert process.sifat == "biasa"
    assert next_reminder(h.rt, process, si, at) == at + every
    process.sifat = "sangat_segera"
    assert next_reminder(h.rt, process, si, at) == at + every / 2


async def test_a_card_that_arrived_unconfirmed_is_closed_when_its_step_closes(
    h: Harness,
) -> None:
    from handlers.outbox import deliver

    await start(h, "370")
    # The card to the first Jafung reaches him, but Telegram's answer is lost: the row stays
    # pending (uncertain). Bu Rina, the other Jafung, acts first.
    h.request.lost_answers.append("sendMessage")
    await h.press(SEKRETARIS, "Teruskan")
    twin = next(
        c
        for c in h.request.calls
        if c.method == "sendMessage"
        and int(c.params["chat_id"]) == JAFUNG
        and "Langkah 3" in c.params["text"]
    )
    assert twin.params.get("reply_markup")  # his copy arrived with live buttons
    await h.press(RINA, "Teruskan")
    h.clock.advance(seconds=10)
    await deliver(h.app)
    await deliver(h.app)
    # He gets the outcome instead of the card again, and his unrecorded copy loses its
    # buttons: no live button for a closed step.
    assert "Diteruskan oleh Bu Rina" in h.last(JAFUNG)
    closed = [
        c
        for c in h.request.calls
        if c.method == "editMessageReplyMarkup" and int(c.params["chat_id"]) == JAFUNG
    ]
    assert closed, "the twin kept its buttons"
    assert not [
        c
        for c in h.request.calls[h.request.calls.index(twin) + 1 :]
        if c.method == "sendMessage"
        and int(c.params["chat_id"]) == JAFUNG
        and c.params.get("reply_markup")
    ]


async def test_the_jafung_sends_the_scan_of_what_the_kadis_signed_on_paper(h: Harness) -> None:
    await draft_uploaded(h, "370")
    await h.press(JAFUNG, "Setuju")
    await h.press(SEKRETARIS, "Setuju")
    assert "Langkah 8" in h.last(KADIS) and "✏️ Revisi" in buttons(h, KADIS)
    # The scanner (pindai_oleh: jafung) gets a copy that only sends the scan.
    for jafung in (JAFUNG, RINA):
        assert "Langkah 8" in h.last(jafung) and "hasil pindaiannya" in h.last(jafung)
        assert buttons(h, jafung) == ["🖨️ Kirim hasil pindai", "ℹ️ Rincian"]
    await h.press(JAFUNG, "Kirim hasil pindai")
    assert "PDF naskah yang sudah ditandatangani" in h.last(JAFUNG)
    await h.document(JAFUNG, "lakip_ttd_pindai.pdf", caption="000.8.3.3/125/100.14")
    assert any("Nomor naskah: 000.8.3.3/125/100.14" in t for t in h.sent(JAFUNG))
    assert "Langkah 9" in h.last(JAFUNG)
    # Every copy of step 8 is closed: the Kadis's too, with who sent the signature.
    assert any("Ditandatangani" in e and "Pak Jafung" in e for e in h.edits())
    await h.press(KADIS, "Revisi")  # his old card's button
    assert "Langkah 8" in h.answers()[-1] and "Revisi" not in h.last(JAFUNG)
    async with h.rt.sessions() as s:
        process = await s.scalar(select(Process))
        assert process.nomor_naskah == "000.8.3.3/125/100.14" and process.current_step == 9


async def test_the_scanner_cannot_ask_for_a_revision(h: Harness) -> None:
    await draft_uploaded(h, "370")
    await h.press(JAFUNG, "Setuju")
    await h.press(SEKRETARIS, "Setuju")
    revisi = h.button_data(KADIS, "✏️ Revisi")
    await h.press_data(JAFUNG, revisi)  # the Kadis's button, forged by the Jafung
    await h.text(JAFUNG, "Saya minta revisi")
    async with h.rt.sessions() as s:
        assert (await s.scalar(select(Process))).current_step == 8
    assert "Langkah 8" in h.last(KADIS)
