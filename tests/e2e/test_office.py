"""The office's own practice over real HTTP: a disposisi to a named person with instruksi,
a claimed shared step reminding only the claimer, a cancelled process closing everything."""

from __future__ import annotations

import asyncio

from tests.dbs import rows
from tests.e2e.conftest import launch
from tests.e2e.test_sop_flows import _labels, live_buttons_anywhere, mulai, step
from tests.fakebotapi import FakeBotApi


async def test_disposisi_to_one_named_jafung_reaches_only_her(server: FakeBotApi, tmp_path) -> None:
    bot = await launch(server, tmp_path)
    try:
        # A second Jafung: the Sekretaris chooses which of the two gets the work.
        added = await asyncio.to_thread(
            bot.cli, "users", "add", "--telegram-id", "106", "--name", "Bu Rina", "--role", "jafung"
        )
        assert added.returncode == 0, added.stderr
        kadis, sek, jaf, rina = (server.user(uid) for uid in (101, 102, 103, 106))
        await rina.send("/start")
        await rina.wait_for_text("Peran:", timeout=15)

        await mulai(kadis, "370", "LAKIP Tahun 2026 (disposisi)", sifat="Sangat Segera")
        card = await step(sek, 2)
        assert "Sangat Segera" in card["text"] and "No. Agenda 370/001/" in card["text"]
        await sek.press(card, "Pilih penerima")
        form = await sek.wait_for_text("📨 Disposisi")
        assert "Pak Jafung" in form["text"] and "Bu Rina" in form["text"]  # all, by default

        def same_form(expect: str):
            return lambda m: m["message_id"] == form["message_id"] and expect in m["text"]

        await sek.press(form, "Pak Jafung")  # untick him: only Bu Rina remains
        form = await sek.wait_for(same_form("Kepada Jafung Perencana: Bu Rina\n"))
        await sek.press(form, "Untuk ditindaklanjuti")
        form = await sek.wait_for(same_form("Instruksi: Untuk ditindaklanjuti"))
        await sek.press(form, "Siapkan bahan")
        form = await sek.wait_for(same_form("Untuk ditindaklanjuti; Siapkan bahan"))
        await sek.press(form, "Kirim disposisi")
        await sek.wait_for_text("Disposisi Langkah 2 dikirim kepada Jafung Perencana: Bu Rina")

        mine = await step(rina, 3)
        assert "📌 Instruksi: Untuk ditindaklanjuti; Siapkan bahan" in mine["text"]
        assert "Sangat Segera" in mine["text"]
        await asyncio.sleep(1.0)  # anything for the other Jafung would have arrived by now
        assert not any("Langkah 3" in (m.get("text") or "") for m in jaf.messages)
        # He cannot act on it either: a forged press by him would be refused (he has no card).
        await rina.press(mine, "Teruskan")
        await server.user(104).wait_for_text("Langkah 4:", timeout=20)

        recorded = await rows(
            bot.env["DATABASE_URL"],
            "select to_role, instruksi from dispositions order by id",
        )
        assert [r[0] for r in recorded] == ["sekretaris", "jafung", "tim_kerja"]
        assert "Siapkan bahan" in str(recorded[1][1])
    finally:
        bot.stop()


async def test_a_claimed_shared_step_reminds_only_the_claimer(server: FakeBotApi, tmp_path) -> None:
    # Time runs fast: the 2-day collection step is late within seconds.
    bot = await launch(server, tmp_path, TIME_SCALE="20000")
    try:
        kadis, sek, jaf, ani, budi = (server.user(uid) for uid in (101, 102, 103, 104, 105))
        await mulai(kadis, "370", "LAKIP Tahun 2026 (klaim)")
        await sek.press(await step(sek, 2), "Teruskan")
        await jaf.press(await step(jaf, 3), "Teruskan")
        ani_card = await step(ani, 4)
        budi_card = await step(budi, 4)
        assert "🙋 Saya kerjakan" in _labels(budi_card)
        await budi.press(budi_card, "Saya kerjakan")
        await budi.wait_for(
            lambda m: m["message_id"] == budi_card["message_id"] and "Dikerjakan oleh" in m["text"]
        )
        # Ani's copy now says who took it and has no buttons.
        await ani.wait_for(
            lambda m: (
                m["message_id"] == ani_card["message_id"]
                and "Dikerjakan oleh Budi" in m["text"]
                and not _labels(m)
            )
        )
        await budi.wait_for_text("⏰ Langkah 4 terlambat", timeout=40)
        await asyncio.sleep(2.0)
        assert not any((m.get("text") or "").startswith("⏰ Langkah 4") for m in ani.messages)
    finally:
        bot.stop()


async def test_a_cancelled_process_leaves_no_live_button(server: FakeBotApi, tmp_path) -> None:
    bot = await launch(server, tmp_path)
    try:
        kadis, sek, jaf = (server.user(uid) for uid in (101, 102, 103))
        await mulai(kadis, "371", "Pelaporan Kinerja Tahun")
        await sek.press(await step(sek, 2), "Teruskan")
        await step(jaf, 3)
        await jaf.send("/batalkan 1")  # not his to cancel
        await jaf.wait_for_text("hanya dapat dibatalkan")
        await kadis.send("/batalkan 1")
        await kadis.wait_for_text("alasan pembatalan")
        await kadis.send("Salah memilih SOP; yang dimaksud LAKIP.")
        await kadis.wait_for_text("dibatalkan.")
        for user in (kadis, sek, jaf):
            told = await user.wait_for_text("⛔ Proses #1", timeout=20)
            assert "Salah memilih SOP" in told["text"]
        await jaf.wait_for(lambda m: "⛔ Proses dibatalkan." in (m.get("text") or ""))
        for _ in range(40):  # the last closing edits, paced at ~1 message/s per chat
            if not live_buttons_anywhere(server):
                break
            await asyncio.sleep(0.25)
        assert live_buttons_anywhere(server) == []
        status = await rows(
            bot.env["DATABASE_URL"], "select status, cancelled_reason from processes"
        )
        assert status == [("dibatalkan", "Salah memilih SOP; yang dimaksud LAKIP.")]
    finally:
        bot.stop()
