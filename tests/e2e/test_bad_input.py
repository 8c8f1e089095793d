"""What people really send, over HTTP against the fake Bot API: notes and file names longer
than Telegram allows, files that are not what they claim, invisible notes, edits, repeated
updates, a slow download, a broken disk, a blocked chat that comes back."""

from __future__ import annotations

import asyncio
import shutil
import time

from tests.e2e.conftest import launch
from tests.e2e.test_sop_flows import collect, step
from tests.fakebotapi import FakeBotApi, FakeUser
from tests.samples import sample

ADMIN = 900
LONG = ("Mohon perhatikan capaian kinerja setiap bidang dengan saksama. " * 70)[:4096]


def _text(m: dict) -> str:
    return m.get("text") or m.get("caption") or ""


async def _quiet(user: FakeUser, seconds: float = 1.5) -> list[str]:
    """What the bot says to `user` in the next `seconds` (for "says nothing" checks)."""
    before = len(user.messages)
    await asyncio.sleep(seconds)
    return [_text(m) for m in user.messages[before:]]


async def start_371(kadis: FakeUser, title: str, arahan: str) -> dict:
    """/mulai for Pelaporan Kinerja up to the last question; returns the arahan message."""
    await kadis.send("/mulai")
    await kadis.wait_for_text("Pilih SOP")
    await kadis.press(None, "371")
    await kadis.wait_for_text("Judul/periode")
    await kadis.send(title)
    await kadis.press(await kadis.wait_for_text("Sifat disposisi"), "Biasa")
    await kadis.wait_for_text("Tulis arahan")
    sent = await kadis.send(arahan)
    await kadis.wait_for_text("Surat Edaran")
    return sent


async def test_long_notes_long_and_rtl_names_and_false_files(server: FakeBotApi, tmp_path) -> None:
    bot = await launch(server, tmp_path)
    try:
        kadis, sek, jaf, ani = (server.user(uid) for uid in (101, 102, 103, 104))
        admin = server.user(ADMIN, "Admin")
        await admin.send("/start")
        await admin.wait_for_text("Peran:")
        await start_371(kadis, "Laporan Kinerja Tahunan", LONG)
        await kadis.press(None, "Mulai tanpa lampiran")
        await kadis.wait_for_text("Disposisi diberikan")
        card = await step(sek, 2)
        assert len(_text(card)) <= 4096 and "selengkapnya: /catatan 1" in _text(card)
        # A 4,096-character catatan on top of a 4,096-character arahan still reaches the Jafung.
        await sek.press(card, "catatan")
        await sek.wait_for_text("Tulis catatan")
        await sek.send(LONG)
        card = await step(jaf, 3)
        assert "selengkapnya: /catatan 1" in _text(card)
        await jaf.send("/catatan 1")
        full = await jaf.wait_for(lambda m: "document" in m)
        notes = server.file_bytes(full["document"]["file_id"]).decode()
        assert notes.count(LONG.strip()) == 2  # the arahan and the catatan, whole
        await jaf.press(card, "Teruskan")
        await collect(ani)
        await step(ani, 5)

        # Files that are not what they claim change nothing and say what is accepted.
        for content, name in (
            (b"MZ\x90\x00" + bytes(200), "laporan.pdf"),
            (b"<!DOCTYPE html><html><body>Laporan</body></html>", "laporan.pdf"),
        ):
            await ani.send_document(content, name, mime_type="application/pdf")
            refusal = await ani.wait_for_text("tidak dikenali")
            assert "PDF" in _text(refusal)
        await ani.send_document(b"", "kosong.pdf")
        await ani.wait_for_text("0 byte")

        # A 1,000-character name: the reviewer gets the document and the task.
        await ani.send_document(sample("x.pdf", "draf 1"), "L" * 996 + ".pdf")
        await ani.wait_for_text("diterima untuk Langkah 5")
        doc = await jaf.wait_for(lambda m: "document" in m and "LLLL" in _text(m))
        assert len(_text(doc)) <= 1024 and doc["document"]["file_name"].endswith(".pdf")
        # A revision note of zero-width characters says nothing.
        await jaf.press(await step(jaf, 6), "Revisi")
        await jaf.wait_for_text("catatan revisi")
        await jaf.send("\u200b\u200c\u200d\ufeff")
        await jaf.wait_for_text("tidak boleh kosong")
        await jaf.send("Tabel 3 belum lengkap.")
        await ani.wait_for_text("REVISI ke-1")
        # Right-to-left override in the name: shown without it, stored under the real type.
        await ani.send_document(sample("x.pdf", "draf 2"), "draf\u202efdp.exe")
        await ani.wait_for_text("diterima untuk Langkah 5")
        doc = await jaf.wait_for(lambda m: "document" in m and "draf" in _text(m))
        assert "\u202e" not in _text(doc) and "fdp.pdf" in _text(doc)

        await admin.send("/orang")
        people = await admin.wait_for_text("Orang terdaftar")
        assert "tidak bisa dihubungi" not in _text(people)  # Telegram's 400s blame nobody
    finally:
        bot.stop()


async def test_repeats_edits_odd_arguments_slow_downloads_and_blocked_chats(
    server: FakeBotApi, tmp_path
) -> None:
    bot = await launch(server, tmp_path, DOWNLOAD_TIMEOUT_SECONDS="3")
    try:
        kadis, sek, jaf, ani = (server.user(uid) for uid in (101, 102, 103, 104))
        admin = server.user(ADMIN, "Admin")
        await admin.send("/start")
        await admin.wait_for_text("Peran:")
        # Every argument gets an answer.
        for arg in ("²", "٣", "9" * 30, "x" * 4080):
            await sek.send(f"/status {arg}")
            await sek.wait_for_text("tidak ditemukan")

        # An edited message is not new input: no second answer.
        sent = await start_371(kadis, "Laporan Kinerja Ulang", "Arahan pertama.")
        await kadis.edit(sent, "Arahan yang diubah.")
        assert await _quiet(kadis) == []

        await kadis.press(None, "Mulai tanpa lampiran")
        card = await step(sek, 2)
        # The same press delivered twice (Telegram redelivers): one transition, no message.
        await sek.press(card, "Teruskan")
        card = await step(jaf, 3)
        server.redeliver(server.last_update_id)
        assert not [t for t in await _quiet(sek) if "gangguan" in t or "sudah" in t]
        assert sum("Langkah 3:" in _text(m) for m in jaf.messages) == 1

        await jaf.press(card, "Teruskan")
        await collect(ani)
        await step(ani, 5)
        # A hanging download does not make anyone else wait, and ends with a clear answer.
        server.stall("getFile", seconds=20)
        await ani.send_document(sample("x.pdf", "lambat"), "draf.pdf")
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await kadis.send("/bantuan")
        await kadis.wait_for_text("Perintah", timeout=5)
        assert time.monotonic() - started < 1.0
        await ani.wait_for_text("gagal diunduh", timeout=15)

        # The disk under FILES_DIR breaks: an honest answer, the admins told, nothing left over.
        files = tmp_path / "files"
        shutil.rmtree(files, ignore_errors=True)
        files.write_text("bukan folder")
        await ani.send_document(sample("x.pdf", "disk"), "draf.pdf")
        await ani.wait_for_text("penyimpanan berkas di server bermasalah; admin sudah diberi tahu")
        await admin.wait_for_text("FILES_DIR")
        files.unlink()
        # A blocked chat is unreachable until its owner writes again: the Jafung blocks the
        # bot before the draft that brings him the step 6 card (refused with 403).
        jaf.block()
        await ani.send_document(sample("x.pdf", "disk"), "draf.pdf")
        await ani.wait_for_text("diterima untuk Langkah 5")
        assert not list(files.rglob("*.tmp"))

        seen = {m["message_id"] for m in admin.messages if "Orang terdaftar" in _text(m)}
        for _ in range(12):  # the refusal is recorded by the outbox, soon
            await asyncio.sleep(1.0)
            await admin.send("/orang")
            people = await admin.wait_for(
                lambda m: "Orang terdaftar" in _text(m) and m["message_id"] not in seen
            )
            seen.add(people["message_id"])
            if "tidak bisa dihubungi" in _text(people):
                break
        assert "Pak Jafung" in _text(people) and "tidak bisa dihubungi" in _text(people)
        await jaf.send("/tugas")
        await jaf.wait_for_text("Langkah 6:")
        await admin.send("/orang")
        first = people["message_id"]
        people = await admin.wait_for(
            lambda m: "Orang terdaftar" in _text(m) and m["message_id"] != first, timeout=10
        )
        assert "tidak bisa dihubungi" not in _text(people)
    finally:
        bot.stop()
