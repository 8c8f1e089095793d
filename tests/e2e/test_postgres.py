"""PostgreSQL with real bot processes (only with TEST_DATABASE_URL): the database gone for 20 s
while people press buttons, and the same webhook update delivered to two processes."""

from __future__ import annotations

import asyncio
import os
import socket
from collections import Counter

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from tests.dbs import database_url_for, ensure_database, rows
from tests.e2e.conftest import PEOPLE, BotProcess, launch
from tests.e2e.test_sop_flows import live_buttons_anywhere, mulai, step
from tests.fakebotapi import FakeBotApi

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="needs a PostgreSQL server: set TEST_DATABASE_URL (make test does on CI)",
)

OUTAGE_SECONDS = 20
WRONG = ("Maaf, terjadi gangguan", "tidak dikenal", "kedaluwarsa", "sudah diproses")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CuttableProxy:
    """A TCP proxy between the bot and PostgreSQL. `cut()` closes every connection and
    refuses new ones, which is what a database restart looks like to the bot."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = _free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(
            self._client, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()  # new connections: refused
        for writer in list(self._writers):  # open ones: reset
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.transport.abort()


# (step, activations, closed): steps 1-3 closed once each, step 4 open once.
ONCE = [(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 1, 0)]


async def _transitions(url: str) -> list[tuple]:
    return await rows(
        url,
        "select step_no, count(*), count(finished_at) from step_instances "
        "group by step_no order by step_no",
    )


async def _forward(user, card: dict) -> None:  # type: ignore[no-untyped-def]
    """The disposisi card's one-tap forward (labelled Teruskan or Selesai)."""
    labels = [b["text"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    await user.press(card, next(x for x in labels if "Teruskan" in x or "Selesai" in x))


def _snapshot(server: FakeBotApi, uids: list[int]) -> set[tuple[int, int]]:
    return {(uid, m["message_id"]) for uid in uids for m in server.delivered(uid)}


def _repeated(
    server: FakeBotApi, uids: list[int], before: set[tuple[int, int]]
) -> list[tuple[int, str]]:
    """Messages since `before` that reached the same chat twice, same text and same file (a
    send done twice; a document made again with new content is not a repeat)."""

    def key(m: dict) -> tuple[str, bytes]:
        doc = m.get("document")
        body = server.file_bytes(doc["file_id"]) if doc else b""
        return (m.get("text") or m.get("caption") or "", body)

    seen = Counter((uid, key(m)) for uid in uids for m in server.delivered(uid))
    return [
        (uid, key(m)[0][:60])
        for uid in uids
        for m in server.delivered(uid)
        if (uid, m["message_id"]) not in before and seen[(uid, key(m))] > 1
    ]


def _wrong_words(server: FakeBotApi, uids: list[int]) -> list[str]:
    texts = [m.get("text") or "" for uid in uids for m in server.delivered(uid)]
    texts += [a.get("text") or "" for a in server.calls_of("answerCallbackQuery")]
    return [t[:80] for t in texts if any(w in t for w in WRONG)]


async def test_database_gone_for_20_seconds_while_people_press(
    server: FakeBotApi, tmp_path
) -> None:
    direct = database_url_for(tmp_path)
    await ensure_database(direct)
    parsed = make_url(direct)
    proxy = CuttableProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    await proxy.open()
    via_proxy = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    # The default outbox lease (the e2e's 3 s is shorter than a slow PDF upload).
    bot = await launch(server, tmp_path, DATABASE_URL=via_proxy, OUTBOX_LEASE_SECONDS="30")
    people = [101, 102, 103, 104, 105]
    try:
        kadis, sek, jaf, ani, budi = (server.user(uid) for uid in people)
        await mulai(kadis, "370", "LAKIP Tahun")
        await _forward(sek, await step(sek, 2))
        card = await step(jaf, 3)
        await asyncio.sleep(1)  # let the tick and the outbox go quiet before the cut

        before = _snapshot(server, people)
        await proxy.cut()
        down = await asyncio.to_thread(bot.cli, "health")
        assert down.returncode == 1 and "database tidak dapat dipakai" in down.stdout
        await _forward(jaf, card)  # a press while the database is away
        await kadis.send("/tugas")
        await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself (not a wait for an answer)
        answered_during = len(server.calls_of("answerCallbackQuery"))
        await proxy.open()

        # Once it is back, each press takes effect once and everyone hears it once.
        for tim in (ani, budi):
            await tim.wait_for_text("Langkah 4:", timeout=60)
        await kadis.wait_for_text("Tidak ada tugas terbuka", timeout=60)  # his /tugas
        await jaf.wait_for(
            lambda m: m["message_id"] == card["message_id"] and "reply_markup" not in m,
            timeout=30,
        )
        await asyncio.sleep(2)  # anything sent twice would arrive now
        assert await _transitions(direct) == ONCE
        assert _repeated(server, people, before) == []  # no message sent twice
        assert _wrong_words(server, people) == []  # no wrong alert, no "gangguan"
        assert len(server.calls_of("answerCallbackQuery")) == answered_during + 1
        assert [(u, t) for u, t in live_buttons_anywhere(server) if "Langkah 3" in t] == []

        # The log: one line when it went, one summary when it came back.
        log = bot.output()
        assert log.count("database tidak dapat dihubungi") == 1, log[-3000:]
        assert log.count("database pulih setelah") == 1
        assert "Traceback" not in log
        healthy = await asyncio.to_thread(bot.cli, "health")
        assert healthy.returncode == 0, healthy.stdout
        assert "OK    pemindaian terakhir:" in healthy.stdout
    finally:
        bot.stop()


async def test_one_update_at_two_webhook_processes_is_handled_once(
    server: FakeBotApi, tmp_path
) -> None:
    """Telegram may deliver an update again to another process behind the load balancer:
    one transition, one reply, and no error to the person."""
    public, secret = "https://bot.disperindag.example/hook", "rahasia-webhook-123"
    ports = [_free_port(), _free_port()]
    await ensure_database(database_url_for(tmp_path))
    # The default outbox lease: with the e2e's 3 s, a slow PDF upload by one process is
    # taken over by the other while it is still going (a lease must outlast a send).
    first, second = (
        BotProcess(
            server,
            tmp_path,
            WEBHOOK_URL=public,
            WEBHOOK_SECRET=secret,
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(port),
            OUTBOX_LEASE_SECONDS="30",
        )
        for port in ports
    )
    second.log = tmp_path / "bot2.log"
    for uid, (name, role) in PEOPLE.items():
        added = await asyncio.to_thread(
            first.cli, "users", "add", "--telegram-id", str(uid), "--name", name, "--role", role
        )
        assert added.returncode == 0, added.stderr
    first.start()
    second.start()
    people = [101, 102, 103, 104, 105]
    posted: set[int] = set()
    statuses: list[int] = []
    stop = asyncio.Event()

    async def forward(http: aiohttp.ClientSession) -> None:
        """Every update goes to both processes at the same instant."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        while not stop.is_set():
            for update in server.pending_updates:
                if update["update_id"] in posted:
                    continue
                posted.add(update["update_id"])
                answers = await asyncio.gather(
                    *(
                        http.post(f"http://127.0.0.1:{port}/hook", json=update, headers=headers)
                        for port in ports
                    )
                )
                statuses.extend(a.status for a in answers)
            await asyncio.sleep(0.05)

    async with aiohttp.ClientSession() as http:
        for port in ports:  # both listening
            for _ in range(120):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/hook") as probe:
                        if probe.status:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.5)
        forwarder = asyncio.create_task(forward(http))
        try:
            for uid in people:  # each /start reaches both processes too
                await server.user(uid).send("/start")
                await server.user(uid).wait_for_text("Peran:", timeout=15)
            kadis, sek, jaf = (server.user(uid) for uid in (101, 102, 103))
            await mulai(kadis, "370", "LAKIP Tahun")
            before = _snapshot(server, people)  # the presses below are the subject
            await _forward(sek, await step(sek, 2))
            await _forward(jaf, await step(jaf, 3))
            for tim in (104, 105):
                await server.user(tim).wait_for_text("Langkah 4:", timeout=20)
            await asyncio.sleep(2)  # a second handling would show now
        finally:
            stop.set()
            await forwarder
            first.stop()
            second.stop()

    assert statuses and set(statuses) == {200}  # both stored-or-seen, both said 200
    url = database_url_for(tmp_path)
    assert await _transitions(url) == ONCE  # one transition per press
    assert _repeated(server, people, before) == []  # one reply
    given = [m for m in server.delivered(101) if "Disposisi diberikan" in (m.get("text") or "")]
    assert len(given) == 1  # /mulai's answers once too
    assert _wrong_words(server, people) == []  # no error message
    presses = server.calls_of("answerCallbackQuery")
    assert len({p["callback_query_id"] for p in presses}) == len(presses)  # answered once each
    both = first.output() + second.output()
    assert "error while handling an update" not in both
    assert all("bot berjalan (webhook)" in b.output() for b in (first, second))
