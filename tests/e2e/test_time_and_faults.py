"""Reminders and escalation arriving in the chat (TIME_SCALE), a SIGKILL mid-flow, and a
Bot API that fails for a while: nothing lost, nothing duplicated, order kept per chat."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.dbs import rows
from tests.e2e.conftest import BotProcess, launch
from tests.e2e.test_sop_flows import collect, live_buttons_anywhere, mulai, step
from tests.fakebotapi import FakeBotApi
from tests.samples import sample


async def test_late_step_reminds_actor_then_superior(server: FakeBotApi, tmp_path) -> None:
    # One SOP minute per real second: a 5-minute step is late after 5 s, escalated after 10 s.
    bot = await launch(server, tmp_path, TIME_SCALE="60")
    try:
        kadis, sek, jaf = (server.user(uid) for uid in (101, 102, 103))
        await mulai(kadis, "370", "LAKIP Tahun 2026 (pengingat)")
        await sek.press(await step(sek, 2), "Teruskan")
        card = await step(jaf, 3)
        # A reminder is one short line replying to the live card, not the card again.
        reminder = await jaf.wait_for_text("⏰ Langkah 3 terlambat", timeout=30)
        assert reminder["reply_to_message"]["message_id"] == card["message_id"]
        assert "reply_markup" not in reminder and "\n" not in reminder["text"]
        escalation = await sek.wait_for_text("Eskalasi", timeout=30)
        assert "Langkah 3" in escalation["text"] and "Pak Jafung" in escalation["text"]
        await sek.press(escalation, "Ingatkan")  # the superior can act on it: a new line
        await jaf.wait_for(
            lambda m: (
                (m.get("text") or "").startswith("⏰ Langkah 3")
                and m["message_id"] != reminder["message_id"]
            )
        )
        await jaf.press(card, "Teruskan")
        await server.user(104).wait_for_text("Langkah 4:", timeout=20)
        # The step is closed: the escalation about it keeps its text and loses its buttons.
        await sek.wait_for(
            lambda m: m["message_id"] == escalation["message_id"] and "reply_markup" not in m
        )
        # One new reminder message per late step per person per day (later ones edit it),
        # and one for the superior's 🔔 Ingatkan (an edit would make no sound).
        lines = [m for m in jaf.messages if (m.get("text") or "").startswith("⏰ Langkah 3")]
        assert len(lines) == 2
    finally:
        bot.stop()


def _task_messages(server: FakeBotApi, uid: int) -> list[str]:
    """The task messages delivered to a chat (each kept once, whatever edits followed)."""
    out = []
    for msg in server.delivered(uid):
        text = msg.get("text") or ""
        if "⏱ Tenggat" in text and not msg.get("reply_markup"):
            # A twin sent twice across a SIGKILL (at-least-once); the copy nobody recorded
            # lost its buttons when the card went out again, so it cannot be acted on.
            continue
        if text.startswith("📋"):
            out += [line for line in text.split("\n") if line.startswith("Langkah ")][:1]
    return out


async def test_sigkill_and_a_flaky_bot_api_lose_and_duplicate_nothing(
    server: FakeBotApi, tmp_path
) -> None:
    bot = await launch(server, tmp_path)
    try:
        kadis, sek, jaf, ani, budi = (server.user(uid) for uid in (101, 102, 103, 104, 105))
        await mulai(kadis, "370", "LAKIP Tahun 2026 (gangguan)")
        server.fail("sendMessage", status=502, times=3)
        server.rate_limit("sendMessage", retry_after=1, times=1)
        await sek.press(await step(sek, 2), "Teruskan")
        await jaf.press(await step(jaf, 3), "Teruskan")
        await collect(ani)
        await step(budi, 5)

        bot.kill()  # SIGKILL mid-flow, then a restart on the same database
        await ani.send_document(
            sample("draft_v1.pdf", "draft v1"), "draft_v1.pdf"
        )  # arrives while the bot is down
        bot.start()
        await ani.wait_for_text("diterima untuk Langkah 5", timeout=30)
        server.stall("sendMessage", seconds=0.5, times=2)
        server.fail("*", status=500, times=2)
        await jaf.press(await step(jaf, 6), "Setuju")
        await sek.press(await step(sek, 7), "Revisi")
        await sek.wait_for_text("catatan revisi", timeout=20)
        await sek.send("Lengkapi lampiran")
        await ani.wait_for_text("REVISI ke-1", timeout=20)
        # Kill between actions. (Killed in the instant between Telegram accepting a message
        # and the row being marked sent, that one message is sent again after restart:
        # at-least-once delivery, the documented limit of any outbox.)
        await asyncio.sleep(0.5)
        bot.kill()
        bot.start()
        await ani.send_document(sample("draft_v2.pdf", "draft v2"), "draft_v2.pdf")
        await ani.wait_for_text("draft_v2.pdf diterima", timeout=30)
        await jaf.press(await step(jaf, 6), "Setuju")  # the new version's paraf, again
        await sek.press(await step(sek, 7), "Setuju")
        await step(kadis, 8)
        await step(jaf, 8)  # the scanner's copy (pindai_oleh), before the Kadis closes it
        await kadis.send_document(sample("lakip_ttd.pdf", "ttd"), "lakip_ttd.pdf")
        await step(jaf, 9)
        await jaf.send_document(sample("pengantar.pdf", "pengantar"), "pengantar.pdf")
        await step(kadis, 9)  # the Kadis signs the surat pengantar: the signed PDF closes it
        await kadis.send_document(sample("pengantar_ttd.pdf", "ttd"), "pengantar_ttd.pdf")
        await step(ani, 10)
        await ani.send_document(sample("tanda_terima.pdf", "tanda terima"), "tanda_terima.pdf")
        await budi.press(await step(budi, 11), "Selesai")
        for user in (kadis, sek, jaf, ani, budi):
            await user.wait_for_text("Proses selesai", timeout=30)
        await asyncio.sleep(1)
        assert live_buttons_anywhere(server) == []  # no twin, no stale card, no prompt

        # Every task message arrived exactly once, in the SOP's order, for each person.
        expected = {
            102: ["Langkah 2", "Langkah 7", "Langkah 7"],
            # Langkah 8: the scanner's copy of the Kadis's sign card (pindai_oleh: jafung).
            103: ["Langkah 3", "Langkah 6", "Langkah 6", "Langkah 8", "Langkah 9"],
            101: ["Langkah 8", "Langkah 9"],
            104: ["Langkah 4", "Langkah 5", "Langkah 5", "Langkah 10", "Langkah 11"],
        }
        for uid, steps in expected.items():
            got = [t.split(":")[0] for t in _task_messages(server, uid)]
            assert got == steps, (uid, got)
        finished = Counter(
            uid
            for uid in (101, 102, 103, 104, 105)
            for m in server.delivered(uid)
            if "Proses selesai" in (m.get("text") or "")
        )
        assert set(finished.values()) == {1}
        # The audit log is complete: every step's outcome is recorded once per activation.
        url = bot.env["DATABASE_URL"]
        actions = [
            r[0]
            for r in await rows(
                url,
                "select step_no from audit_log where action in "
                "('selesai','diunggah','disetujui','paraf','ditandatangani','revisi') order by id",
            )
        ]
        # Step 9 twice: the Jafung's upload, then the Kadis's signature on it.
        assert actions == [1, 2, 3, 4, 5, 6, 7, 5, 6, 7, 8, 9, 9, 10, 11]
        # Every row went out, or was dropped because its step closed before it could (the
        # archive and riwayat files are rendered when they are sent: give them the time).
        query = "select method, status from outbox where status not in ('sent', 'batal')"
        for _ in range(60):
            pending = await rows(url, query)
            if not pending or any(status != "pending" for _, status in pending):
                break
            await asyncio.sleep(0.5)
        assert pending == []
    finally:
        bot.stop()


async def test_a_receiver_and_a_worker_share_one_database(server: FakeBotApi, tmp_path) -> None:
    """`run --peran penerima` polls and handles; `run --peran pekerja` handles stored updates
    and runs the jobs (here: the reminder), without a second getUpdates poller."""
    receiver = await launch(server, tmp_path, TIME_SCALE="60")
    receiver.stop()  # launch() started an all-in-one process; split it in two roles
    receiver.proc = None
    receiver.log = tmp_path / "penerima.log"
    worker = BotProcess(server, tmp_path, TIME_SCALE="60")
    worker.log = tmp_path / "pekerja.log"
    receiver.start("--peran", "penerima")
    worker.start("--peran", "pekerja")
    try:
        await server.wait_until_polling(timeout=30)
        kadis, sek, jaf = (server.user(uid) for uid in (101, 102, 103))
        await mulai(kadis, "370", "LAKIP Tahun 2026 (dua peran)")
        await sek.press(await step(sek, 2), "Teruskan")
        await step(jaf, 3)
        await jaf.wait_for_text("⏰ Langkah 3 terlambat", timeout=30)  # from the worker
        assert "bot berjalan (pekerja)" in worker.output()
        assert "getUpdates" not in worker.output()  # no second poller, no 409
    finally:
        receiver.stop()
        worker.stop()
