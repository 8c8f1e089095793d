"""Plh/Plt over HTTP: the real bot process, the real CLI, the fake Bot API."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from storage.models import StandIn
from tests.e2e.conftest import launch
from tests.e2e.test_sop_flows import WITA, step
from tests.fakebotapi import FakeBotApi, FakeUser
from tests.samples import sample


async def _prompt(kadis: FakeUser, words: str) -> dict:
    """The next question with live buttons (an earlier /mulai's, closed, has the same words)."""
    seen = kadis.__dict__.get("_prompt_seen", 0)
    found = await kadis.wait_for(
        lambda m: words in (m.get("text") or "") and "reply_markup" in m and m["message_id"] > seen,
        timeout=20,
    )
    kadis.__dict__["_prompt_seen"] = found["message_id"]
    return found


async def mulai(kadis: FakeUser, sop: str, title: str) -> None:
    """/mulai as test_sop_flows.mulai does it, safe to repeat within one test."""
    await kadis.send("/mulai")
    await kadis.press(await _prompt(kadis, "Pilih SOP"), sop)
    await _prompt(kadis, "Judul/periode")
    await kadis.send(title)
    await kadis.press(await _prompt(kadis, "Sifat disposisi"), "Biasa")
    await _prompt(kadis, "Tulis arahan")
    await kadis.send("Mohon segera disusun.")
    await _prompt(kadis, "Surat Edaran")
    await kadis.send_document(sample("se.pdf", "%PDF-1.4 surat edaran"), "se.pdf")
    await kadis.wait_for(
        lambda m: (
            "Disposisi diberikan" in (m.get("text") or "")
            and m["message_id"] > kadis.__dict__["_prompt_seen"]
        ),
        timeout=20,
    )


def _one_tap(card: dict) -> str:
    """The disposisi card's forward-to-everyone button (labelled Teruskan or Selesai)."""
    labels = [b["text"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    return next(x for x in labels if "Teruskan" in x or "Selesai" in x)


async def _forward(user: FakeUser, card: dict) -> None:
    await user.press(card, _one_tap(card))


def _cards_of(user: FakeUser, title: str) -> list[dict]:
    return [m for m in user.messages if title in (m.get("text") or "") and "⏱ Tenggat" in m["text"]]


async def _days_pass(url: str) -> None:
    """The test cannot wait for the next day: the range is moved two days back, which is
    what the running bot sees once the last day has passed (whatever the hour: before
    the office opens it still counts yesterday)."""
    gone = datetime.now(WITA).date() - timedelta(days=2)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(update(StandIn).values(dari=gone, sampai=gone))
    finally:
        await engine.dispose()


async def test_a_plh_receives_the_sekretaris_tasks_during_the_range_and_not_after(
    server: FakeBotApi, tmp_path
) -> None:
    bot = await launch(server, tmp_path)
    try:
        kadis, sek, jaf = (server.user(uid) for uid in (101, 102, 103))
        await mulai(kadis, "370", "LAKIP Plh pertama")
        open_card = await step(sek, 2)

        refused = await asyncio.to_thread(
            bot.cli, "users", "plh", "--role", "bendahara", "--telegram-id", "103",
            "--dari", "2026-01-01", "--sampai", "2026-01-02",
        )  # fmt: skip
        assert refused.returncode == 1 and "tidak dikenal" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        today = datetime.now(WITA).date().isoformat()
        made = await asyncio.to_thread(
            bot.cli, "users", "plh", "--role", "sekretaris", "--telegram-id", "103",
            "--dari", today, "--sampai", today,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert "Plh. Sekretaris — Pak Jafung menggantikan Bu Sekretaris" in made.stdout
        listed = await asyncio.to_thread(bot.cli, "users", "plh", "--list")
        assert "(berlaku)" in listed.stdout

        # The Sekretaris's open card closes and says where it went; she is told why.
        await sek.wait_for(
            lambda m: (
                m["message_id"] == open_card["message_id"]
                and "Dialihkan kepada Plh. Sekretaris — Pak Jafung" in m["text"]
                and "reply_markup" not in m
            ),
            timeout=20,
        )
        await sek.wait_for_text("dikerjakan oleh Plh. Sekretaris — Pak Jafung", timeout=20)
        # The Plh is told, gets that card and can act on it.
        await jaf.wait_for_text("ditunjuk sebagai Plh. Sekretaris", timeout=20)
        await _forward(jaf, await step(jaf, 2))
        await step(jaf, 3)  # the disposisi went on to the Jafung (himself, here)
        # A process started during the range: its Sekretaris step reaches the Plh only.
        await mulai(kadis, "371", "Kinerja Plh kedua")
        during = await step(jaf, 2)
        assert "Kinerja Plh kedua" in during["text"]
        assert _cards_of(sek, "Kinerja Plh kedua") == []

        await _days_pass(bot.env["DATABASE_URL"])
        # The bot ends it by itself: the open card goes back to the Sekretaris.
        await sek.wait_for_text("Tugas Sekretaris kembali kepada Bapak/Ibu", timeout=20)
        await jaf.wait_for_text("telah berakhir", timeout=20)
        await jaf.wait_for(
            lambda m: (
                m["message_id"] == during["message_id"]
                and "Dikembalikan kepada Sekretaris — Bu Sekretaris" in m["text"]
                and "reply_markup" not in m
            ),
            timeout=20,
        )
        back = await step(sek, 2)
        assert "Kinerja Plh kedua" in back["text"]
        await _forward(sek, back)
        await step(jaf, 3)
        # After the range, new Sekretaris tasks go to the Sekretaris and not to the Plh.
        await mulai(kadis, "370", "LAKIP sesudah Plh")
        assert "LAKIP sesudah Plh" in (await step(sek, 2))["text"]
        # /tugas is answered after anything queued for him before it (one chat, in order).
        await jaf.send("/tugas")
        await jaf.wait_for_text("tugas terbuka untuk Bapak/Ibu", timeout=20)
        assert _cards_of(jaf, "LAKIP sesudah Plh") == []
    finally:
        bot.stop()
