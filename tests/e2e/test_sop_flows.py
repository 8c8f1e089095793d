"""Both SOPs from /mulai to the archive as five different people, each with a revision."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.e2e.conftest import TOKEN, launch
from tests.fakebotapi import FakeBotApi, FakeUser
from tests.samples import sample

WITA = ZoneInfo("Asia/Makassar")
BIDANG = [
    "Sekretariat",
    "Bidang Koperasi",
    "Bidang Usaha Kecil dan Menengah",
    "Bidang Perindustrian",
    "UPTD",
]


async def step(user: FakeUser, n: int) -> dict:
    """The next live card of step n: newer than the one returned before for this person and
    step (a closed copy, edited to its outcome, has no buttons)."""
    seen: dict[int, int] = user.__dict__.setdefault("_cards_seen", {})
    card = await user.wait_for(
        lambda m: (
            f"Langkah {n}:" in (m.get("text") or "")
            and bool(_labels(m))
            and m["message_id"] > seen.get(n, 0)
        ),
        timeout=20,
    )
    seen[n] = card["message_id"]
    return card


async def mulai(kadis: FakeUser, sop: str, title_button: str, sifat: str = "Biasa") -> None:
    await kadis.send("/mulai")
    await kadis.wait_for_text("Pilih SOP")
    await kadis.press(None, sop)
    await kadis.wait_for_text("Judul/periode")
    if title_button.endswith("Tahun"):
        await kadis.press(None, f"{title_button} {datetime.now(WITA).year}")  # one tap
    else:
        await kadis.send(title_button)  # or typed
    # The live question: an earlier /mulai's one has lost its buttons.
    ask = await kadis.wait_for(lambda m: "Sifat disposisi" in (m.get("text") or "") and _labels(m))
    await kadis.press(ask, sifat)
    await kadis.wait_for_text("Tulis arahan")
    await kadis.send("Mohon segera disusun sesuai Surat Edaran Sekda.")
    await kadis.wait_for_text("Surat Edaran")
    await kadis.send_document(
        sample("surat_edaran_sekda.pdf", "%PDF-1.4 surat edaran"), "surat_edaran_sekda.pdf"
    )
    await kadis.wait_for_text("Disposisi diberikan", timeout=20)


VIEW_ONLY = {"📋 Buka tugas saya", "📄 Riwayat"}  # open what is there then; never an action


def live_buttons_anywhere(server: FakeBotApi) -> list[tuple[int, str]]:
    """Messages in any chat that still have buttons (after a finished run: none may, but
    views such as the digest's 📋 Buka tugas saya or /status's 📄 Riwayat)."""
    return [
        (user.id, (m.get("text") or "")[:60])
        for user in server.users
        for m in server.delivered(user.id)
        if _labels(m) and not set(_labels(m)) <= VIEW_ONLY
    ]


def _labels(message: dict) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


async def collect(tim: FakeUser) -> None:
    msg = await step(tim, 4)
    for bidang in BIDANG:
        await tim.press(msg, bidang)
        await tim.wait_for(
            lambda m, b=bidang: m["message_id"] == msg["message_id"] and f"✅ {b}" in _labels(m)
        )
    await tim.press(msg, "Selesai")


async def test_lakip_from_mulai_to_archive(server: FakeBotApi, tmp_path) -> None:
    bot = await launch(server, tmp_path)
    try:
        kadis, sek, jaf, ani, budi = (server.user(uid) for uid in (101, 102, 103, 104, 105))
        await mulai(kadis, "370", "LAKIP Tahun 2026 (uji)")
        msg = await step(sek, 2)
        assert "Mohon segera disusun" in msg["text"]
        await sek.press(msg, "Teruskan")
        await jaf.press(await step(jaf, 3), "Teruskan")
        await step(budi, 4)  # every Tim Kerja member gets the task
        await collect(ani)

        await step(budi, 5)
        await budi.send_document(sample("draft_lakip_v1.docx", "draft v1"), "draft_lakip_v1.docx")
        await budi.wait_for_text("diterima untuk Langkah 5")
        await jaf.press(await step(jaf, 6), "Setuju")
        await sek.press(await step(sek, 7), "Setuju")
        await kadis.press(await step(kadis, 8), "Revisi")
        await kadis.wait_for_text("catatan revisi")
        await kadis.send("Capaian sasaran strategis 2 belum dianalisis.")
        revisi = await ani.wait_for_text("REVISI ke-1", timeout=20)
        assert "Langkah 5" in revisi["text"] and "Pak Kadis" in revisi["text"]
        await ani.send_document(sample("draft_lakip_v2.pdf", "draft v2"), "draft_lakip_v2.pdf")
        # The new draft is initialled again by the Jafung and the Sekretaris before the Kadis
        # sees it: the version he signs is the version they initialled.
        paraf6 = await step(jaf, 6)
        assert "Draf LAKIP ke-2" in paraf6["text"]
        await jaf.press(paraf6, "Setuju")
        await sek.press(await step(sek, 7), "Setuju")
        sign = await step(kadis, 8)
        assert "Paraf: Jafung ✓" in sign["text"] and "Sekretaris ✓" in sign["text"]
        await kadis.press(sign, "Tanda tangani")
        await kadis.wait_for_text("PDF naskah yang sudah ditandatangani")
        await kadis.send_document(
            sample("lakip_ttd.pdf", "signed"), "lakip_ttd.pdf", caption="000.8.3.3/125/100.14"
        )
        await kadis.wait_for_text("Nomor naskah: 000.8.3.3/125/100.14")
        await step(jaf, 9)
        await jaf.send_document(
            sample("surat_pengantar.pdf", "surat pengantar"), "surat_pengantar.pdf"
        )
        # The surat pengantar comes to the Kadis for his signature before it is sent.
        pengantar = await step(kadis, 9)
        assert "Tanda tangan surat pengantar" in pengantar["text"]
        await kadis.press(pengantar, "Tanda tangani")
        await kadis.wait_for_text("PDF naskah yang sudah ditandatangani")
        await kadis.send_document(
            sample("pengantar_ttd.pdf", "pengantar signed"),
            "pengantar_ttd.pdf",
            caption="000.8.3.3/126/100.14",
        )
        await step(ani, 10)
        await ani.send_photo(b"\xff\xd8\xff\xe0 receipt")
        await budi.press(await step(budi, 11), "Selesai")

        for user in (kadis, sek, jaf, ani, budi):
            done = await user.wait_for_text("Proses selesai", timeout=20)
            assert "Nomor naskah: 000.8.3.3/125/100.14" in done["text"]
        await asyncio.sleep(1.0)  # the last closing edits
        assert live_buttons_anywhere(server) == []
        # The final document sent at the end is the signed one, not the draft.
        final = await kadis.wait_for(lambda m: "Dokumen final" in (m.get("caption") or ""))
        assert "bertanda tangan" in final["caption"]
        assert server.file_bytes(final["document"]["file_id"]) == sample("lakip_ttd.pdf", "signed")
        # The status view shows every step done.
        await kadis.send("/status 1")
        status = await kadis.wait_for_text("L11 Pengarsipan")
        lines = status["text"].split("\n")
        assert "✅ selesai" in lines[0] and "WITA" in status["text"]
        assert any(line.startswith("✏️ L8") for line in lines)  # the revision shows
        assert sum(" L5 " in f" {line}" for line in lines) == 2  # drafted twice, round 1 too
        assert "ronde 1" in status["text"]
        # The menu is in Indonesian and the token never reached the log.
        assert any(c["command"] == "tugas" for c in server.my_commands())
        assert TOKEN not in bot.output()
    finally:
        bot.stop()


async def test_pelaporan_kinerja_with_revision_at_paraf(server: FakeBotApi, tmp_path) -> None:
    bot = await launch(server, tmp_path)
    try:
        kadis, sek, jaf, ani, budi = (server.user(uid) for uid in (101, 102, 103, 104, 105))
        await mulai(kadis, "371", "Pelaporan Kinerja Tahun")
        await sek.press(await step(sek, 2), "Teruskan")
        await jaf.press(await step(jaf, 3), "Teruskan")
        await collect(budi)
        await step(ani, 5)
        await ani.send_document(sample("draft_lkj.xlsx", "draft"), "draft_lkj.xlsx")
        await jaf.press(await step(jaf, 6), "Revisi")
        await jaf.wait_for_text("catatan revisi")
        await jaf.send_document(
            sample("koreksi_jafung.pdf", "coretan"),
            "koreksi_jafung.pdf",
            caption="Perbaiki tabel 3",
        )
        await ani.wait_for_text("Perbaiki tabel 3", timeout=20)
        await ani.send_document(sample("draft_lkj_v2.xlsx", "draft 2"), "draft_lkj_v2.xlsx")
        await jaf.press(await step(jaf, 6), "Setuju")
        await sek.press(await step(sek, 7), "Setuju")
        await step(budi, 8)
        await budi.send_document(sample("lkj_final.pdf", "final"), "lkj_final.pdf")
        await sek.press(await step(sek, 9), "Setuju")
        await step(kadis, 10)
        await kadis.send_document(sample("lkj_ttd.pdf", "ttd"), "lkj_ttd.pdf")
        await ani.press(await step(ani, 11), "Selesai")
        await kadis.wait_for_text("Proses selesai", timeout=20)
        await asyncio.sleep(1.0)
        assert live_buttons_anywhere(server) == []
    finally:
        bot.stop()


async def test_cli_contract(server: FakeBotApi, tmp_path) -> None:
    from tests.e2e.conftest import BotProcess

    bot = BotProcess(server, tmp_path)
    shown = json.loads(bot.cli("sop", "show", "000.8.3.3/370/100.14", "--json").stdout)
    assert shown["number"] == "000.8.3.3/370/100.14" and len(shown["steps"]) == 11
    first = shown["steps"][0]
    assert {"no", "kegiatan", "role", "kelengkapan", "waktu", "output", "kind"} <= set(first)
    assert shown["steps"][3]["waktu"] == "2 Hari"
    env_office = {"WORK_CALENDAR": "office"}
    bot.env.update(env_office)
    out = bot.cli("tenggat", "--mulai", "2026-03-17T15:00", "--waktu", "2 Hari")
    assert out.stdout.strip() == "2026-03-26T15:00:00+08:00"
    listed = bot.cli("sop", "list").stdout
    assert "370" in listed and "371" in listed and "11 langkah" in listed
    bot.env["DATABASE_URL"] = "postgresql+asyncpg://bot:x@127.0.0.1:9/none"
    unreachable = bot.cli("users", "list")  # a command: one line and exit 1
    assert unreachable.returncode == 1 and "database tidak dapat dipakai" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr and "bot:x" not in unreachable.stderr
    bot.start()  # the bot itself waits for its database, saying so
    try:
        for _ in range(40):
            if "dicoba lagi" in bot.output():
                break
            await asyncio.sleep(0.25)
        assert "database tidak dapat dipakai" in bot.output() and bot.proc.poll() is None
        assert "bot:x" not in bot.output()
    finally:
        bot.kill()
    bot.env["TELEGRAM_BOT_TOKEN"] = ""
    missing = bot.cli("run")
    assert missing.returncode != 0 and "TELEGRAM_BOT_TOKEN" in missing.stderr
    broken = tmp_path / "rusak.yaml"
    broken.write_text(
        "number: '1/2/3'\ntitle: X\nroles: [{code: staf, name: Staf}]\nsteps:\n"
        "  - {no: 1, kegiatan: K, role: staf, waktu: 2 Bulan, kind: tugas}\n"
    )
    result = bot.cli("sop", "validate", str(broken))
    assert result.returncode == 1 and "rusak.yaml:5" in result.stderr and "waktu" in result.stderr
