"""The phone, over HTTP: Pelaporan Kinerja with a revision, a late data collection, an
escalation and the digest, at TIME_SCALE=3600 (an SOP hour passes in a second). What a
person sees must stay short, quiet and current."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.e2e.conftest import launch
from tests.e2e.test_sop_flows import _labels, live_buttons_anywhere, mulai, step
from tests.fakebotapi import FakeBotApi
from tests.samples import sample

WITA = ZoneInfo("Asia/Makassar")


def _text(m: dict) -> str:
    return m.get("text") or ""


def _short(card: dict) -> None:
    """A review or sign card fits one phone screen above its buttons."""
    text = _text(card)
    assert len(text) <= 500 and text.count("\n") < 8, text


async def test_a_run_on_the_phone_is_short_quiet_and_current(server: FakeBotApi, tmp_path) -> None:
    # At least a minute ahead (the seconds are dropped): the first process must exist by
    # then, however long the bot takes to start, or the digest has nothing to say.
    digest_at = (datetime.now(WITA) + timedelta(minutes=2)).strftime("%H:%M")
    bot = await launch(
        server,
        tmp_path,
        TIME_SCALE="3600",
        DIGEST_TIME=digest_at,
        DIGEST_WINDOW_MINUTES="30",
    )
    try:
        kadis, sek, jaf, ani, budi = (server.user(uid) for uid in (101, 102, 103, 104, 105))
        # A second process stays open all along, so the digest has something to say
        # whenever its window opens during the run.
        await mulai(kadis, "370", "LAKIP Tahun 2026 (tetap terbuka)")
        await step(sek, 2)

        def asks(label: str):  # the live question with this button
            return lambda m: label in " ".join(_labels(m))

        await kadis.send("/mulai")
        await kadis.press(await kadis.wait_for(asks("371")), "371")
        await kadis.wait_for(asks("Tahun"))
        await kadis.send("Laporan Kinerja Triwulan IV")
        await kadis.press(await kadis.wait_for(asks("Sangat Segera")), "Sangat Segera")
        await kadis.wait_for(asks("Tanpa arahan"))
        await kadis.send("Segera disusun sesuai Surat Edaran Sekda.")
        await kadis.press(await kadis.wait_for(asks("Mulai tanpa lampiran")), "Mulai tanpa")
        await sek.press(await step(sek, 2), "Teruskan")

        # The Jafung is late: the Sekretaris is told, with something to do about it.
        card = await step(jaf, 3)
        escalation = await sek.wait_for_text("Eskalasi", timeout=30)
        assert "Pak Jafung" in _text(escalation)
        assert {"🔔 Ingatkan", "📋 Status"} <= set(_labels(escalation))
        # Said in his own words, with one open task: its buttons come back.
        await jaf.send("Baik, segera saya koordinasikan dengan Tim Kerja.")
        offer = await jaf.wait_for_text("Pesan Bapak/Ibu")
        assert "📨 Teruskan ke semua" in _labels(offer) and "📝 Jadikan catatan" in _labels(offer)
        await jaf.press(offer, "Jadikan catatan")
        await jaf.wait_for_text("Catatan disiapkan")
        await jaf.press(offer, "Teruskan")
        collecting = await step(ani, 4)
        await sek.wait_for(lambda m: m["message_id"] == escalation["message_id"] and not _labels(m))
        await jaf.wait_for(  # his first card closed too
            lambda m: m["message_id"] == card["message_id"] and not _labels(m)
        )

        # A late data collection: one short line replying to the card, naming what is missing.
        for bidang in ("Sekretariat", "Bidang Koperasi", "Bidang Usaha Kecil dan Menengah"):
            await ani.press(collecting, bidang)
            await ani.wait_for(
                lambda m, b=bidang: (
                    m["message_id"] == collecting["message_id"] and f"✅ {b}" in _labels(m)
                )
            )
        late = await ani.wait_for_text("⏰ Langkah 4 terlambat", timeout=40)
        assert late["reply_to_message"]["message_id"] == collecting["message_id"]
        assert "belum masuk: Bidang Perindustrian, UPTD" in _text(late)
        await ani.press(collecting, "Selesai")
        await ani.wait_for_text("tulis alasannya")
        await ani.send("Belum ada kegiatan industri triwulan ini\nLaporan UPTD menyusul")

        await ani.send_document(sample("draf.pdf", "draf 1"), "draf_lkj.pdf")
        review = await step(jaf, 6)
        _short(review)
        await jaf.press(review, "Revisi")
        await jaf.wait_for_text("catatan revisi")
        await jaf.send("Tabel capaian IKU belum lengkap.")
        await ani.wait_for_text("REVISI ke-1")
        await ani.send_document(sample("draf.pdf", "draf 2"), "draf_lkj_v2.pdf")
        review = await step(jaf, 6)
        _short(review)
        assert "Draf Laporan Kinerja ke-2 (draf_lkj_v2.pdf)" in _text(review)
        assert "Sudah diperbaiki atas catatan" in _text(review)
        await jaf.send("Setuju, silakan dilanjutkan.")
        offer = await jaf.wait_for_text("Pesan Bapak/Ibu")
        assert "✅ Setuju" in _labels(offer)
        await jaf.press(offer, "✅ Setuju")

        review = await step(sek, 7)
        _short(review)
        assert "Paraf: Jafung ✓" in _text(review)
        await sek.press(review, "✅ Setuju")
        await step(budi, 8)
        await budi.send_document(sample("final.pdf", "final"), "lkj_final.pdf")
        await sek.press(await step(sek, 9), "✅ Setuju")
        sign = await step(kadis, 10)
        _short(sign)
        await kadis.send_document(sample("lkj_ttd.pdf", "ttd"), "lkj_ttd.pdf")
        await ani.press(await step(ani, 11), "Selesai")
        await kadis.wait_for_text("Proses selesai", timeout=20)

        # The digest came once, inside its window, to the Kadis at least.
        await kadis.wait_for_text("Ringkasan tugas", timeout=130)
        await asyncio.sleep(1.0)
        for user in (kadis, sek, jaf, ani, budi):
            assert sum("Ringkasan tugas" in _text(m) for m in user.messages) <= 1
        # Quiet: at most one new reminder message per step and person today.
        for user in (kadis, sek, jaf, ani, budi):
            lines = Counter(
                m["reply_to_message"]["message_id"]  # one line per card, edited after
                for m in user.messages
                if _text(m).startswith("⏰ Langkah")
            )
            assert all(n == 1 for n in lines.values()), (user.id, lines)

        # And current: no button of a closed step is left in any chat, once what waits its
        # turn behind each person's digest is out (paced: about a message a second a chat).
        def live() -> list[tuple[int, str]]:
            return [m for m in live_buttons_anywhere(server) if "tetap terbuka" not in m[1]]

        await server._wait(lambda: True if not live() else None, 15, lambda: f"{live()}")
    finally:
        bot.stop()
