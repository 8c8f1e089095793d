"""SIGKILL at the two worst instants: after an update was fetched (and so confirmed to
Telegram by the next poll) but before its action committed, and while Telegram is
accepting a task card the bot has not recorded yet."""

from __future__ import annotations

import asyncio

from tests.dbs import rows
from tests.e2e.conftest import launch
from tests.e2e.test_sop_flows import collect, mulai, step
from tests.fakebotapi import FakeBotApi, FakeUser
from tests.samples import sample


def _live_cards(user: FakeUser, step_no: int) -> list[dict]:
    return [
        m
        for m in user.messages
        if f"Langkah {step_no}:" in (m.get("text") or "")
        and (m.get("reply_markup") or {}).get("inline_keyboard")
    ]


async def test_kill_between_fetch_and_commit_loses_nothing(server: FakeBotApi, tmp_path) -> None:
    bot = await launch(server, tmp_path, INBOX_LEASE_SECONDS="2")
    try:
        kadis, sek, jaf, ani = (server.user(uid) for uid in (101, 102, 103, 104))
        await mulai(kadis, "371", "Laporan Kinerja (crash)")
        await sek.press(await step(sek, 2), "Teruskan")
        await jaf.press(await step(jaf, 3), "Teruskan")
        await collect(ani)
        await step(ani, 5)
        # The draft is fetched, its handler hangs in getFile; a later poll has confirmed it.
        server.stall("getFile", seconds=30)
        await ani.send_document(sample("draf.pdf", "draf crash"), "draf.pdf")
        await server.wait_for_call("getFile")
        await kadis.send("/bantuan")  # the poll after this one confirms the draft's offset
        await kadis.wait_for_text("Perintah")
        assert not server.pending_updates
        bot.kill()
        server.clear_faults()
        bot.start()
        await ani.wait_for_text("diterima untuk Langkah 5", timeout=30)
        await step(jaf, 6)
        uploads = await rows(
            bot.env["DATABASE_URL"], "select count(*) from audit_log where action = 'diunggah'"
        )
        assert uploads == [(1,)]
    finally:
        bot.stop()


async def test_kill_while_a_card_is_accepted_leaves_one_live_card(
    server: FakeBotApi, tmp_path
) -> None:
    bot = await launch(server, tmp_path, OUTBOX_LEASE_SECONDS="2")
    try:
        kadis, sek, jaf = (server.user(uid) for uid in (101, 102, 103))
        await mulai(kadis, "370", "LAKIP (crash)")
        # Telegram takes the Jafung's card but the answer never reaches the bot: killed.
        server.stall("sendMessage", seconds=30, deliver=True)
        await sek.press(await step(sek, 2), "Teruskan")
        await step(jaf, 3)
        bot.kill()
        server.clear_faults()
        bot.start()
        # The card is sent again (at-least-once) and the unrecorded copy loses its buttons.
        cards: list[dict] = []
        for _ in range(60):
            cards = [m for m in jaf.messages if "Langkah 3:" in (m.get("text") or "")]
            if len(cards) == 2 and len(_live_cards(jaf, 3)) == 1:
                break
            await asyncio.sleep(0.5)
        assert len(cards) == 2 and len(_live_cards(jaf, 3)) == 1
        assert _live_cards(jaf, 3)[0]["message_id"] == max(m["message_id"] for m in cards)
        await jaf.press(_live_cards(jaf, 3)[0], "Teruskan")
        await step(server.user(104), 4)
    finally:
        bot.stop()
