"""Records over HTTP: a LAKIP run to its end with the real bot process; whoever archives
receives the archive ZIP and the riwayat PDF in the chat, the Kadis the lembar disposisi;
/riwayat, the 📄 Riwayat button, /rekap and /arsip answer with what they promise."""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import datetime

from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from tests.e2e.conftest import launch
from tests.e2e.test_sop_flows import WITA, _labels, collect, step
from tests.fakebotapi import FakeBotApi, FakeUser
from tests.samples import sample

# Files are named by process number and nomor agenda (the first LAKIP of the year).
STEM = f"1_370-001-{datetime.now(WITA).year}"


def pdf_text(data: bytes) -> str:
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


async def document(server: FakeBotApi, user: FakeUser, name: str, after: int = 0) -> bytes:
    """The bytes of the newest file called `name` the bot sent this person."""
    msg = await user.wait_for(
        lambda m: (m.get("document") or {}).get("file_name") == name and m["message_id"] > after,
        timeout=60,
    )
    return server.file_bytes(msg["document"]["file_id"])


async def mulai(kadis: FakeUser, title: str) -> None:
    await kadis.send("/mulai")
    await kadis.wait_for_text("Pilih SOP")
    await kadis.press(None, "370")
    await kadis.wait_for_text("Judul/periode")
    await kadis.send(title)
    asked = await kadis.wait_for(
        lambda m: any(w in (m.get("text") or "") for w in ("Tulis arahan", "Sifat")), timeout=20
    )
    if "Tulis arahan" not in asked["text"]:  # the sifat of the disposisi, when it is asked
        await kadis.press(asked, "Biasa")
        await kadis.wait_for_text("Tulis arahan")
    await kadis.send("Mohon segera disusun sesuai Surat Edaran Sekda.")
    await kadis.wait_for_text("Surat Edaran")
    await kadis.send_document(
        sample("surat_edaran_sekda.pdf", "%PDF-1.4 surat edaran"), "surat_edaran_sekda.pdf"
    )
    await kadis.wait_for_text("Disposisi diberikan", timeout=20)


async def forward(user: FakeUser, n: int) -> None:
    """The disposisi card's one-tap forward (Teruskan, or Selesai on older cards)."""
    card = await step(user, n)
    await user.press(card, "Teruskan" if any("Teruskan" in b for b in _labels(card)) else "Selesai")


async def first_card(cards: list[tuple[FakeUser, int]], timeout: float = 30) -> int:
    """Which of these steps' cards arrives first (the draft goes back to the reviewer who
    asked for the revision, or through every paraf again)."""
    for _ in range(int(timeout / 0.2)):
        for user, n in cards:
            seen = user.__dict__.get("_cards_seen", {}).get(n, 0)
            if any(
                f"Langkah {n}:" in (m.get("text") or "") and _labels(m) and m["message_id"] > seen
                for m in user.messages
            ):
                return n
        await asyncio.sleep(0.2)
    raise AssertionError(f"none of the cards {[n for _, n in cards]} came")


async def sign(server: FakeBotApi, kadis: FakeUser, jaf: FakeUser) -> None:
    """Step 8: approve and sign; where the bot asks for the signed PDF, send it."""
    card = await step(kadis, 8)
    signs = [b for b in _labels(card) if "Tanda tangani" in b or "Setuju" in b]
    await kadis.press(card, signs[0])
    for _ in range(150):
        if any("bertanda tangan" in (m.get("text") or "") for m in kadis.messages[-3:]):
            await kadis.send_document(sample("lakip_ttd.pdf", "%PDF signed"), "lakip_ttd.pdf")
            return
        if any("Langkah 9:" in (m.get("text") or "") for m in jaf.messages):
            return
        await asyncio.sleep(0.2)


async def test_a_finished_lakip_leaves_its_records_in_the_chat(
    server: FakeBotApi, tmp_path
) -> None:
    bot = await launch(server, tmp_path)
    try:
        kadis, sek, jaf, ani, budi = (server.user(uid) for uid in (101, 102, 103, 104, 105))
        await mulai(kadis, "LAKIP Tahun 2026 (arsip)")
        await forward(sek, 2)
        await forward(jaf, 3)
        await collect(ani)
        # The disposisi has reached the Tim Kerja: the Kadis gets the lembar disposisi.
        lembar = pdf_text(await document(server, kadis, f"lembar_disposisi_{STEM}.pdf"))
        assert "LEMBAR DISPOSISI" in lembar and "Bu Sekretaris" in lembar
        assert "Pak Jafung" in lembar and "Mohon segera disusun" in lembar

        await step(budi, 5)
        await budi.send_document(sample("draft_lakip_v1.docx", "draft v1"), "draft_lakip_v1.docx")
        await jaf.press(await step(jaf, 6), "Setuju")
        await sek.press(await step(sek, 7), "Setuju")
        await kadis.press(await step(kadis, 8), "Revisi")
        await kadis.wait_for_text("catatan revisi")
        await kadis.send("Capaian sasaran strategis 2 belum dianalisis.")
        await ani.wait_for_text("REVISI ke-1", timeout=20)
        await ani.send_document(sample("draft_lakip_v2.pdf", "draft v2"), "draft_lakip_v2.pdf")
        if await first_card([(kadis, 8), (jaf, 6)]) == 6:
            await jaf.press(await step(jaf, 6), "Setuju")
            await sek.press(await step(sek, 7), "Setuju")
        await sign(server, kadis, jaf)
        await step(jaf, 9)
        await jaf.send_document(sample("surat_pengantar.pdf", "pengantar"), "surat_pengantar.pdf")
        await kadis.press(await step(kadis, 9), "Tanda tangani")  # the surat pengantar
        await kadis.wait_for_text("PDF naskah yang sudah ditandatangani")
        await kadis.send_document(sample("pengantar_ttd.pdf", "%PDF ttd"), "pengantar_ttd.pdf")
        await step(ani, 10)
        await ani.send_photo(b"\xff\xd8\xff\xe0 receipt")
        await budi.press(await step(budi, 11), "Selesai")

        # Whoever archived gets the archive and the riwayat.
        zipped = await document(server, budi, f"arsip_proses_{STEM}.zip")
        with zipfile.ZipFile(io.BytesIO(zipped)) as zf:
            names = zf.namelist()
            versions = [n for n in names if n.startswith("dokumen/L05_")]
            assert len(versions) == 2 and zf.read(versions[1]) == sample(
                "draft_lakip_v2.pdf", "draft v2"
            )
            assert any(n.startswith("dokumen/L10_v1_Tanda_Terima") for n in names)
            assert {"riwayat_proses.pdf", "lembar_disposisi.pdf", "peristiwa.csv"} <= set(names)
            assert "proses_selesai" not in zf.read("peristiwa.csv").decode("utf-8-sig")
            assert "Proses selesai" in zf.read("peristiwa.csv").decode("utf-8-sig")
        riwayat = pdf_text(await document(server, budi, f"riwayat_proses_{STEM}.pdf"))
        assert "RIWAYAT PROSES" in riwayat and "LAKIP Tahun 2026 (arsip)" in riwayat
        assert "Capaian sasaran strategis 2 belum dianalisis." in riwayat
        assert "Draf LAKIP ke-2 (draft_lakip_v2.pdf)" in riwayat and "WITA" in riwayat
        assert "Kepala rantai log audit" in riwayat
        assert "RIWAYAT PROSES" in pdf_text(
            await document(server, kadis, f"riwayat_proses_{STEM}.pdf")
        )

        # /riwayat N: the PDF and the chart, for anyone registered.
        seen = max(m["message_id"] for m in sek.messages)
        await sek.send("/riwayat 1")
        assert "Pengumpulan data bidang" in pdf_text(
            await document(server, sek, f"riwayat_proses_{STEM}.pdf", seen)
        )
        photo = await sek.wait_for(lambda m: bool(m.get("photo")), timeout=60)
        png = server.file_bytes(photo["photo"][-1]["file_id"])
        assert Image.open(io.BytesIO(png)).size[0] == 1000

        # 📄 Riwayat under the /status card does the same.
        seen = max(m["message_id"] for m in jaf.messages)
        await jaf.send("/status 1")
        card = await jaf.wait_for(lambda m: "📄 Riwayat" in _labels(m), timeout=20)
        await jaf.press(card, "📄 Riwayat")
        assert "RIWAYAT PROSES" in pdf_text(
            await document(server, jaf, f"riwayat_proses_{STEM}.pdf", seen)
        )

        # /rekap: a summary, the spreadsheet, the chart; not for the Tim Kerja.
        await budi.send("/rekap")
        await budi.wait_for_text("hanya untuk Kepala Dinas")
        await kadis.send("/rekap 370")
        summary = await kadis.wait_for_text("Rekap evaluasi SOP", timeout=60)
        assert "1 proses (1 selesai)" in summary["text"]
        book = await kadis.wait_for(
            lambda m: (m.get("document") or {}).get("file_name", "").endswith(".xlsx"), timeout=60
        )
        wb = load_workbook(io.BytesIO(server.file_bytes(book["document"]["file_id"])))
        assert "SOP 370" in wb.sheetnames and wb["Peristiwa"].max_row > 11

        # /arsip: the register of tanda terima.
        await ani.send("/arsip")
        register = await ani.wait_for_text("Register tanda terima")
        assert "#1 LAKIP Tahun 2026 (arsip)" in register["text"]
        assert "Tanda Terima ke-1" in register["text"]
    finally:
        bot.stop()
