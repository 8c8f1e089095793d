"""Both SOPs through the real Application: disposisi, kumpul, upload, review, revision."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.people import add_person
from handlers import inbox
from handlers.outbox import deliver
from storage.models import AuditLog, Document, Outbox, Process
from tests.handlers.harness import Harness

KADIS, SEKRETARIS, JAFUNG, TIM_A, TIM_B, STRANGER = 10, 20, 30, 40, 41, 66


async def register(h: Harness) -> None:
    now = h.clock.now()
    async with h.rt.sessions.begin() as s:
        for uid, name, role in [
            (KADIS, "Pak Kadis", "kadis"),
            (SEKRETARIS, "Bu Sekretaris", "sekretaris"),
            (JAFUNG, "Pak Jafung", "jafung"),
            (TIM_A, "Ani Tim", "tim_kerja"),
            (TIM_B, "Budi Tim", "tim_kerja"),
        ]:
            person = await add_person(s, now, uid, name, [role])
            person.started_at = now


@pytest.fixture
async def h(tmp_path):
    async with Harness(tmp_path) as harness:
        await register(harness)
        yield harness


async def start(h: Harness, sop_label: str, title: str = "Tahun 2026") -> None:
    await h.text(KADIS, "/mulai")
    await h.press(KADIS, sop_label)
    await h.press(KADIS, title)
    await h.press(KADIS, "Biasa")
    await h.text(KADIS, "Segera disusun sesuai Surat Edaran Sekda.")
    await h.document(KADIS, "surat_edaran.pdf")


async def draft_uploaded(h: Harness, sop: str) -> None:
    """Start a process and run it to the first review: disposisi, all bidang, a draft."""
    await start(h, sop)
    await h.press(SEKRETARIS, "Teruskan")
    await h.press(JAFUNG, "Teruskan")
    for bidang in h.settings.bidang:
        await h.press(TIM_A, bidang)
    await h.press(TIM_A, "Selesai")
    await h.document(TIM_A, "draft.pdf")


async def test_lakip_runs_end_to_end_with_a_revision(h: Harness) -> None:
    await start(h, "370")
    assert "Disposisi diberikan" in h.last(KADIS)
    assert "Langkah 2" in h.last(SEKRETARIS)
    assert "Segera disusun" in h.last(SEKRETARIS)  # the arahan travels with the disposisi
    await h.press(SEKRETARIS, "Teruskan")
    assert "Langkah 3" in h.last(JAFUNG)
    await h.press(JAFUNG, "Teruskan")
    # Both Tim Kerja members get the data-collection checklist.
    assert "Langkah 4" in h.last(TIM_A) and "Langkah 4" in h.last(TIM_B)
    for bidang in h.settings.bidang:
        await h.press(TIM_A, bidang)
    await h.press(TIM_A, "Selesai")
    assert "Langkah 5" in h.last(TIM_B)
    # Budi's copy of step 4 was closed for him, with no buttons left.
    closed = [
        c
        for c in h.request.calls
        if c.method == "editMessageText"
        and c.params["chat_id"] == TIM_B
        and "Selesai oleh Ani Tim" in c.params["text"]
    ]
    assert closed and all("reply_markup" not in c.params for c in closed)

    await h.document(TIM_B, "draft_lakip_v1.docx")
    assert "Langkah 6" in h.last(JAFUNG)
    await h.press(JAFUNG, "Setuju")
    assert "Langkah 7" in h.last(SEKRETARIS)
    await h.press(SEKRETARIS, "Revisi")
    assert "catatan revisi" in h.last(SEKRETARIS)
    await h.text(SEKRETARIS, "Tabel capaian kinerja belum lengkap")
    note = h.last(TIM_A)
    assert "Langkah 5" in note and "REVISI ke-1" in note and "Bu Sekretaris" in note
    assert "Tabel capaian kinerja belum lengkap" in note

    await h.document(TIM_A, "draft_lakip_v2.pdf")
    # The new version is initialled again: the Jafung (step 6), then the Sekretaris who asked.
    assert "Langkah 6" in h.last(JAFUNG)
    await h.press(JAFUNG, "Setuju")
    assert "Langkah 7" in h.last(SEKRETARIS)
    await h.press(SEKRETARIS, "Setuju")
    assert "Langkah 8" in h.last(KADIS)
    await h.press(KADIS, "Tanda tangani")
    assert "PDF naskah yang sudah ditandatangani" in h.last(KADIS)
    await h.document(KADIS, "lakip_ttd.pdf", caption="000.8.3.3/125/100.14")
    assert "Nomor naskah: 000.8.3.3/125/100.14" in h.last(KADIS)
    assert "Langkah 9" in h.last(JAFUNG)
    # The surat pengantar goes to the Kadis with it, for his signature (kelengkapan step 9).
    await h.document(JAFUNG, "surat_pengantar.pdf")
    assert "Diteruskan kepada Kepala Dinas untuk ditandatangani" in h.last(JAFUNG)
    card = h.last(KADIS)
    assert "Tanda tangan surat pengantar" in card and "Surat Pengantar LAKIP ke-1" in card
    assert any("surat_pengantar.pdf" in t for t in h.sent(KADIS))  # the draft comes along
    await h.press(KADIS, "Revisi")
    await h.text(KADIS, "Tujuan surat: Kepala Bagian Organisasi")
    assert "Langkah 9" in h.last(JAFUNG) and "Kepala Bagian Organisasi" in h.last(JAFUNG)
    await h.document(JAFUNG, "surat_pengantar_v2.pdf")
    await h.press(KADIS, "Tanda tangani")
    await h.document(KADIS, "surat_pengantar_ttd.pdf", caption="000.8.3.3/126/100.14")
    assert "Langkah 10" in h.last(TIM_A)
    await h.photo(TIM_A)  # step 10 accepts a photo of the receipt
    assert "Langkah 11" in h.last(TIM_A)
    await h.press(TIM_A, "Selesai")

    for uid in (KADIS, SEKRETARIS, JAFUNG, TIM_A, TIM_B):
        assert any("Proses selesai" in t for t in h.sent(uid)), uid
    final = "Dokumen final: Draf LAKIP bertanda tangan ke-1 (lakip_ttd.pdf)"
    assert any(final in t for t in h.sent(KADIS))
    assert any("Nomor naskah: 000.8.3.3/125/100.14" in t for t in h.sent(TIM_B))
    async with h.rt.sessions() as s:
        process = await s.scalar(select(Process))
        assert process.status == "selesai"
        sent_in = ("surat_edaran", "draft", "ttd", "lampiran")  # what people sent, in order
        docs = (
            await s.scalars(
                select(Document.file_name)
                .where(Document.purpose.in_(sent_in))
                .order_by(Document.id)
            )
        ).all()
        assert docs == [
            "surat_edaran.pdf",
            "draft_lakip_v1.docx",
            "draft_lakip_v2.pdf",
            "lakip_ttd.pdf",
            "surat_pengantar.pdf",
            "surat_pengantar_v2.pdf",
            "surat_pengantar_ttd.pdf",
            docs[7],
        ]
        # The LAKIP's nomor naskah stays; the surat pengantar's is kept with its step.
        assert process.nomor_naskah == "000.8.3.3/125/100.14"
        actions = await s.scalar(select(func.count(AuditLog.id)))
        assert actions >= 25


async def test_pelaporan_kinerja_revision_at_paraf_goes_back_to_step_8(h: Harness) -> None:
    await draft_uploaded(h, "371")
    await h.press(JAFUNG, "Setuju")
    await h.press(SEKRETARIS, "Setuju")
    await h.document(TIM_A, "final.pdf")
    assert "Langkah 9" in h.last(SEKRETARIS)
    await h.press(SEKRETARIS, "Revisi")
    await h.text(SEKRETARIS, "Nomor halaman salah")
    assert "Langkah 8" in h.last(TIM_A)
    await h.document(TIM_A, "final_v2.pdf")
    assert "Langkah 9" in h.last(SEKRETARIS)
    await h.press(SEKRETARIS, "Setuju")
    await h.document(KADIS, "laporan_kinerja_ttd.pdf")
    await h.press(TIM_B, "Selesai")
    assert any("Proses selesai" in t for t in h.sent(KADIS))


async def test_stranger_is_refused_and_nothing_is_stored(h: Harness) -> None:
    await h.text(STRANGER, "/start")
    await h.text(STRANGER, "halo")
    assert all("belum terdaftar" in t for t in h.sent(STRANGER))
    assert len(h.sent(STRANGER)) == 2
    from storage.models import Person

    async with h.rt.sessions() as s:
        assert await s.scalar(select(Person).where(Person.telegram_id == STRANGER)) is None


async def test_wrong_role_forged_and_stale_buttons_change_nothing(h: Harness) -> None:
    await start(h, "370")
    # The Sekretaris's task forwarded to the Jafung: pressing it is refused.
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    await h.press_data(JAFUNG, data)
    assert "bukan tugas Bapak/Ibu" in h.answers()[-1]
    await h.press_data(SEKRETARIS, "t:forged-token-xyz")
    assert "tidak dikenal" in h.answers()[-1]
    await h.press_data(SEKRETARIS, "langkah=2&role=kadis")
    assert "tidak dikenal" in h.answers()[-1]
    # Now the real press; a second press of the same button is stale.
    await h.press_data(SEKRETARIS, data)
    await h.press_data(SEKRETARIS, data)
    assert "sudah diproses oleh Bu Sekretaris" in h.answers()[-1]
    async with h.rt.sessions() as s:
        process = await s.scalar(select(Process))
        assert process.current_step == 3


async def test_bad_files_and_text_where_a_file_is_expected(h: Harness) -> None:
    await start(h, "370")
    await h.press(SEKRETARIS, "Teruskan")
    await h.press(JAFUNG, "Teruskan")
    await h.press(TIM_A, "Selesai")
    assert "alasan" in h.last(TIM_A)
    await h.text(TIM_A, "tidak ada data\nbelum kirim")
    assert "Perlu 5 alasan" in h.last(TIM_A)
    await h.text(TIM_A, "\n".join(f"alasan {i}" for i in range(5)))
    assert "Langkah 5" in h.last(TIM_A)
    await h.document(TIM_A, "virus.exe", b"MZ\x90\x00" + bytes(60), mime="application/pdf")
    assert "tidak dikenali" in h.last(TIM_A)
    await h.document(TIM_A, "laporan.pdf", b"<!DOCTYPE html><html>bukan pdf</html>")
    assert "tidak dikenali" in h.last(TIM_A)
    await h.document(TIM_A, "kosong.pdf", b"")
    assert "0 byte" in h.last(TIM_A)
    await h.document(TIM_A, "besar.pdf", size=25 * 1024 * 1024)
    assert "melebihi batas 20 MB" in h.last(TIM_A)
    await h.photo(TIM_A)
    assert "bukan foto" in h.last(TIM_A)
    await h.text(TIM_A, "ini drafnya ya")  # one open task: its card comes back, to act on
    assert "Pesan Bapak/Ibu: «ini drafnya ya»" in h.last(TIM_A)
    async with h.rt.sessions() as s:
        assert (await s.scalar(select(Process))).current_step == 5
        sent = select(func.count(Document.id)).where(Document.purpose != "lembar")
        assert await s.scalar(sent) == 1  # of what people sent: only the Surat Edaran


async def test_empty_revision_note_is_refused(h: Harness) -> None:
    await draft_uploaded(h, "371")
    await h.press(JAFUNG, "Revisi")
    await h.text(JAFUNG, "   ")
    assert "tidak boleh kosong" in h.last(JAFUNG)
    async with h.rt.sessions() as s:
        assert (await s.scalar(select(Process))).current_step == 6


async def test_unknown_command_and_help(h: Harness) -> None:
    await h.text(SEKRETARIS, "/terbang")
    assert "Perintah tidak dikenal" in h.last(SEKRETARIS)
    await h.text(SEKRETARIS, "/bantuan")
    assert "/tugas" in h.last(SEKRETARIS) and "/mulai" not in h.last(SEKRETARIS)
    await h.text(SEKRETARIS, "/mulai")
    assert "hanya Kepala Dinas" in h.last(SEKRETARIS)


async def test_invite_link_is_single_use(h: Harness) -> None:
    await h.text(1, "/undang jafung")
    link = h.last(1)
    code = link.split("start=")[1].split()[0]
    await h.text(77, f"/start {code}")
    assert "terdaftar sebagai Jafung Perencana" in h.last(77)
    await h.text(78, f"/start {code}")
    assert "sudah dipakai" in h.last(78)
    await h.text(78, "/tugas")
    assert "belum terdaftar" in h.last(78)


async def test_a_message_right_after_accepting_an_invitation_is_from_a_registered_person(
    h: Harness,
) -> None:
    """Both arrive in one getUpdates batch: the /tugas after /start <code> must not be
    answered with what the bot knew of the sender before the first was handled."""
    await h.text(1, "/undang jafung")
    code = h.last(1).split("start=")[1].split()[0]

    def command(update_id: int, text: str) -> dict:
        entity = {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
        message = h._message(79, text=text, entities=[entity])
        return {"update_id": 9000 + update_id, "message": message}

    await inbox.store(h.rt, [command(1, f"/start {code}"), command(2, "/tugas")])
    await h.dispatcher.drain()
    await deliver(h.app)
    answers = h.sent(79)
    assert "terdaftar sebagai Jafung Perencana" in answers[0]
    assert "belum terdaftar" not in answers[-1] and "Tidak ada tugas" in answers[-1]


async def test_a_file_during_data_collection_says_how_to_tick_bidang(h: Harness) -> None:
    await start(h, "370")
    await h.press(SEKRETARIS, "Teruskan")
    await h.press(JAFUNG, "Teruskan")
    await h.document(TIM_A, "data_koperasi.xlsx")
    assert "Langkah 4 adalah pengumpulan data" in h.last(TIM_A)
    async with h.rt.sessions() as s:
        assert (await s.scalar(select(Process))).current_step == 4


async def test_a_voice_note_is_a_revision_note_and_travels_with_the_card(h: Harness) -> None:
    await draft_uploaded(h, "371")
    await h.voice(JAFUNG)  # not asked for a note: says where a voice note fits
    assert "Pesan suara diterima sebagai catatan" in h.last(JAFUNG)
    await h.press(JAFUNG, "Revisi")
    await h.voice(JAFUNG, seconds=12)
    async with h.rt.sessions() as s:
        process = await s.scalar(select(Process))
        assert process.current_step == 5
        kinds = (await s.scalars(select(Document.purpose))).all()
        assert "suara" in kinds
    to_tim = [c for c in h.request.calls if c.params.get("chat_id") in (TIM_A, str(TIM_A))]
    voice_at = next(i for i, c in enumerate(to_tim) if c.method == "sendVoice")
    card_at = next(i for i, c in enumerate(to_tim) if "REVISI ke-1" in c.params.get("text", ""))
    assert voice_at < card_at and "Pesan suara (12 detik)" in to_tim[card_at].params["text"]
    await h.voice(JAFUNG, content=b"MZ not a voice")  # content is checked
    assert "Pesan suara diterima sebagai catatan" in h.last(JAFUNG)


async def _card_message(h: Harness, uid: int) -> dict:
    """The newest task card sent to uid, as the message a press comes from."""
    async with h.rt.sessions() as s:
        mid = await s.scalar(
            select(Outbox.message_id)
            .where(Outbox.chat_id == uid, Outbox.tag == "card", Outbox.status == "sent")
            .order_by(Outbox.id.desc())
        )
    return {"message_id": mid, "date": 0, "text": "x", "chat": {"id": uid, "type": "private"}}


def _edits(h: Harness, uid: int) -> list:
    return [
        c.params
        for c in h.request.calls
        if c.method == "editMessageText" and int(c.params.get("chat_id", 0)) == uid
    ]


async def test_the_pressed_card_is_edited_once_and_its_other_copies_are_closed(
    h: Harness,
) -> None:
    await start(h, "370")
    first = await _card_message(h, SEKRETARIS)
    await h.text(SEKRETARIS, "/tugas")  # a second copy of the same card
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    await h.press_data(SEKRETARIS, data, first)
    edits = _edits(h, SEKRETARIS)
    assert sorted(e["message_id"] for e in edits) == sorted(
        {first["message_id"], (await _card_message(h, SEKRETARIS))["message_id"]}
    )
    assert all("reply_markup" not in e for e in edits)  # no live buttons on either copy


async def test_a_card_that_is_the_only_copy_gets_one_edit(h: Harness) -> None:
    await start(h, "370")
    card = await _card_message(h, SEKRETARIS)
    await h.press_data(SEKRETARIS, h.button_data(SEKRETARIS, "📨 Teruskan ke semua"), card)
    edits = _edits(h, SEKRETARIS)
    assert len(edits) == 1 and edits[0]["message_id"] == card["message_id"]
    assert "Diteruskan" in edits[0]["text"] and "reply_markup" not in edits[0]
    await h.press_data(SEKRETARIS, h.button_data(SEKRETARIS, "📨 Teruskan ke semua"), card)
    assert len(_edits(h, SEKRETARIS)) == 1  # a second press changes nothing
