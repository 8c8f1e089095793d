"""The outbox under a failing Bot API, repeated updates, and permanent errors."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot import texts
from bot.services import record_files
from bot.services.outgoing import enqueue
from handlers import dispatcher, inbox, recording
from handlers.common import markup
from handlers.dispatcher import GIVE_UP_AFTER, Dispatcher
from handlers.outbox import _claim, deliver
from storage.models import Inbox, Outbox, Person, Process
from tests.handlers.harness import Harness
from tests.handlers.test_flow import JAFUNG, KADIS, SEKRETARIS, TIM_A, register, start


@pytest.fixture
async def h(tmp_path):
    async with Harness(tmp_path) as harness:
        await register(harness)
        yield harness


async def test_5xx_is_retried_and_order_per_chat_is_kept(h: Harness) -> None:
    error_500 = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    h.request.fail_next += [("sendDocument", 500, error_500)]
    await start(h, "370")
    # The Surat Edaran (sendDocument) failed: the task message waits behind it.
    assert h.sent(SEKRETARIS) == []
    async with h.rt.sessions() as s:
        first = select(Outbox).where(Outbox.chat_id == SEKRETARIS).order_by(Outbox.id)
        row = await s.scalar(first)
        assert row.status == "pending" and "Internal Server Error" in row.last_error
    h.clock.advance(seconds=3)
    await deliver(h.app)
    texts = h.sent(SEKRETARIS)
    assert len(texts) == 2 and "surat_edaran.pdf" in texts[0] and "Langkah 2" in texts[1]


async def test_a_failed_reply_holds_back_the_messages_after_it(h: Harness) -> None:
    """/tugas answers the header, then the card: if the header fails, the card must not
    arrive alone first (it goes after the header, when the Bot API is back)."""
    await start(h, "370")
    h.request.calls.clear()
    error_500 = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    h.request.fail_next.append(("sendMessage", 500, error_500))
    await h.text(SEKRETARIS, "/tugas")
    assert h.sent(SEKRETARIS) == []
    h.clock.advance(seconds=3)
    await deliver(h.app)
    texts = h.sent(SEKRETARIS)
    assert len(texts) == 2 and "1 tugas terbuka" in texts[0] and "Langkah 2" in texts[1]


async def test_429_waits_its_retry_after(h: Harness) -> None:
    error_429 = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    await h.text(KADIS, "/mulai")
    h.request.fail_next.append(("sendMessage", 429, error_429))
    await h.press(KADIS, "371")
    assert not any("Judul/periode" in t for t in h.sent(KADIS))
    h.clock.advance(seconds=5)
    await deliver(h.app)
    assert not any("Judul/periode" in t for t in h.sent(KADIS))
    h.clock.advance(seconds=3)
    await deliver(h.app)
    assert sum("Judul/periode" in t for t in h.sent(KADIS)) == 1


async def test_same_update_delivered_twice_makes_one_transition(h: Harness) -> None:
    await start(h, "370")
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    update = {
        "update_id": 777,
        "callback_query": {
            "id": "q1",
            "from": {"id": SEKRETARIS, "is_bot": False, "first_name": "S"},
            "chat_instance": "c",
            "data": data,
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "x",
                "chat": {"id": SEKRETARIS, "type": "private", "first_name": "S"},
            },
        },
    }
    h.clear()
    for _ in range(2):
        await h.deliver_update(update)
    assert sum("Langkah 3" in t for t in h.sent(JAFUNG)) == 1
    assert len(h.answers()) == 1  # the repeat is silent: no "already processed", no error
    assert not any("gangguan" in t for t in h.sent(SEKRETARIS))
    async with h.rt.sessions() as s:
        assert (await s.scalar(select(Process))).current_step == 3


async def test_the_action_and_its_update_commit_together(h: Harness, tmp_path) -> None:
    """A crash after the action committed must not run it again; one before, must."""
    await start(h, "370")
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    press = {
        "update_id": 900,
        "callback_query": {
            "id": "q9",
            "from": {"id": SEKRETARIS, "is_bot": False, "first_name": "S"},
            "chat_instance": "c",
            "data": data,
        },
    }
    await inbox.store(h.rt, [press])  # fetched and stored, then the process died
    async with Harness(tmp_path) as again:  # the restart on the same database
        await again.dispatcher.drain()
        await deliver(again.app)
        assert sum("Langkah 3" in t for t in again.sent(JAFUNG)) == 1
        again.clear()
        await again.deliver_update(press)  # Telegram sends it once more
        assert again.request.calls == []
    async with h.rt.sessions() as s:
        row = await s.get(Inbox, 900)
        assert row is not None and row.handled_at is not None


async def test_edits_and_channel_posts_are_ignored_silently(h: Harness) -> None:
    chat = {"id": SEKRETARIS, "type": "private", "first_name": "S"}
    edited = {
        "message_id": 5,
        "date": 0,
        "edit_date": 1,
        "chat": chat,
        "from": {"id": SEKRETARIS, "is_bot": False, "first_name": "S"},
        "text": "/tugas",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    post = {"message_id": 1, "date": 0, "chat": {"id": -1001, "type": "channel"}, "text": "hi"}
    h.clear()
    await h.deliver_update({"update_id": 501, "edited_message": edited})
    await h.deliver_update({"update_id": 502, "channel_post": post})
    assert h.request.calls == []


async def test_blocked_user_is_recorded_and_shown_to_the_admin(h: Harness) -> None:
    forbidden = {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    h.request.fail_next += [("sendDocument", 403, forbidden)]
    await start(h, "370")
    async with h.rt.sessions() as s:
        person = await s.scalar(select(Person).where(Person.telegram_id == SEKRETARIS))
        assert "blocked" in person.unreachable_reason
    await h.text(1, "/orang")
    assert "tidak bisa dihubungi" in h.last(1) and "Bu Sekretaris" in h.last(1)


async def test_restart_delivers_what_was_queued_and_not_sent(h: Harness, tmp_path) -> None:
    error_500 = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    h.request.fail_next += [("sendDocument", 502, error_500)]
    await start(h, "370")
    assert h.sent(SEKRETARIS) == []
    # A new process on the same database picks the queued messages up.
    async with Harness(tmp_path) as again:
        again.clock.set(h.clock.now() + timedelta(seconds=10))
        await deliver(again.app)
        assert len(again.sent(SEKRETARIS)) == 2
    await deliver(h.app)
    assert h.sent(SEKRETARIS) == []  # and the first process does not send them again


async def test_pressed_message_is_closed_even_if_the_bot_api_hiccups(h: Harness) -> None:
    await start(h, "370")
    bad = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    h.request.fail_next += [("answerCallbackQuery", 502, bad), ("editMessageText", 502, bad)]
    await h.press(SEKRETARIS, "Teruskan")
    assert "Langkah 3" in h.last(JAFUNG)
    h.clock.advance(seconds=5)  # the outbox retries the edit after its back-off
    await deliver(h.app)
    edits = [
        c
        for c in h.request.calls
        if c.method == "editMessageText"
        and c.params["chat_id"] == SEKRETARIS
        and c.params["message_id"] == 1  # the pressed message
    ]
    assert len(edits) == 1 and "Diteruskan oleh Bu Sekretaris" in edits[0].params["text"]
    assert "reply_markup" not in edits[0].params  # the buttons are gone


async def test_a_failed_direct_reply_is_delivered_by_the_outbox(h: Harness) -> None:
    bad = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    h.request.fail_next.append(("sendMessage", 500, bad))
    await h.text(SEKRETARIS, "/terbang")
    assert "Perintah tidak dikenal" in h.last(SEKRETARIS)


async def test_an_unexpected_error_gets_a_polite_message(h: Harness, monkeypatch) -> None:
    from bot.services import reports

    async def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(reports, "queue_open_tasks", broken)
    await h.text(SEKRETARIS, "/tugas")
    assert "terjadi gangguan" in h.last(SEKRETARIS)


async def test_status_with_an_absurd_number_is_not_found(h: Harness) -> None:
    await h.text(SEKRETARIS, "/status 99999999999999999999999")
    assert "tidak ditemukan" in h.last(SEKRETARIS)


async def test_a_refused_press_is_handled_once_not_again_after_the_lease(h: Harness) -> None:
    await start(h, "370")
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    press = {
        "update_id": 950,
        "callback_query": {
            "id": "q950",
            "from": {"id": JAFUNG, "is_bot": False, "first_name": "J"},  # not his step
            "chat_instance": "c",
            "data": data,
        },
    }
    await h.deliver_update(press)
    assert "bukan tugas" in h.answers()[-1]
    async with h.rt.sessions() as s:
        assert (await s.get(Inbox, 950)).handled_at is not None  # the refusal rolled back
    h.clear()
    await h.deliver_update(press)
    assert h.answers() == []  # a repeat is silent, refused or not


def _refused() -> Exception:
    from sqlalchemy.exc import OperationalError

    return OperationalError("SELECT 1", {}, OSError("connection refused"))


def _pool_timed_out() -> Exception:
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return PoolTimeout("QueuePool limit of size 20 overflow 20 reached")


@pytest.mark.parametrize("failure", [_refused, _pool_timed_out])
async def test_a_press_while_the_database_is_away_takes_effect_once_it_is_back(
    h: Harness, monkeypatch, failure
) -> None:
    """Nothing said wrong while the database does not answer (a refused connection, or
    every pooled connection stuck waiting for it); the press counts once it is back."""
    import handlers.common

    await start(h, "370")
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    real = handlers.common.find_actor

    async def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise failure()

    monkeypatch.setattr(handlers.common, "find_actor", down)
    monkeypatch.setattr(dispatcher, "PRELOAD", 0)  # the sender is looked up when handled
    h.clear()
    await h.press_data(SEKRETARIS, data)
    assert h.answers() == [] and h.sent(SEKRETARIS) == []  # no wrong alert, no "gangguan"
    monkeypatch.setattr(handlers.common, "find_actor", real)
    h.clock.advance(seconds=h.settings.inbox_lease_seconds + 1)  # its claim runs out
    await h.dispatcher.drain()
    await deliver(h.app)
    assert sum("Langkah 3" in t for t in h.sent(JAFUNG)) == 1
    assert len(h.answers()) == 1


async def test_a_slow_send_is_not_taken_over_by_another_process(tmp_path) -> None:
    """A document that takes longer than the claim to upload: the sending process renews its
    claim, so a second process on the same database never sends it again (the person would
    get the file twice)."""
    async with Harness(tmp_path, outbox_lease_seconds=0.6) as h:
        await register(h)
        async with h.rt.sessions.begin() as s:
            enqueue(s, h.clock.now(), JAFUNG, "send_message", {"text": "Berkas sudah lengkap."})
        real = h.request.do_request
        taken: list[int] = []

        async def slow(url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
            if url.endswith("/sendMessage"):
                for _ in range(6):  # 1.5 s of upload: over twice the claim
                    await asyncio.sleep(0.25)
                    h.clock.advance(seconds=0.25)
                # another process claims meanwhile
                taken.extend(row.id for run in await _claim(h.rt) for row in run)
            return await real(url, *args, **kwargs)

        h.request.do_request = slow  # type: ignore[method-assign]
        await deliver(h.app)
        assert taken == []
        assert h.sent(JAFUNG).count("Berkas sudah lengkap.") == 1


async def test_what_waits_behind_a_card_reads_it_as_sent(h: Harness) -> None:
    """A card, a reminder of it and the closing of its step waiting together in one chat:
    the reminder answers the card just sent and the closing edits it, so no line stands
    alone and no button of the closed step stays live."""
    await start(h, "370")
    async with h.rt.sessions.begin() as s:
        si = await step_2(s)
        now = h.clock.now()
        card = {"text": "📋 Langkah 2 (salinan)", "buttons": [[("✅ Setuju", "x")]]}
        enqueue(s, now, JAFUNG, "send_message", card, si, tag="card")
        line = {"text": "⏰ Langkah 2 terlambat 5 menit", "since": now.isoformat()}
        enqueue(s, now, JAFUNG, "remind", line, si, tag="reminder")
        enqueue(s, now, JAFUNG, "close_task", {"text": "📋 Langkah 2 ✅ Selesai"}, si)
    h.clear()
    await deliver(h.app)
    calls = [c for c in h.request.calls if int(c.params.get("chat_id", 0)) == JAFUNG]
    card_call, reminder, closing = calls
    async with h.rt.sessions() as s:
        card_id = await s.scalar(
            select(Outbox.message_id).where(Outbox.chat_id == JAFUNG, Outbox.tag == "card")
        )
    assert card_call.params["reply_markup"] and card_id
    assert reminder.params["reply_parameters"]["message_id"] == card_id
    assert closing.method == "editMessageText" and closing.params["message_id"] == card_id
    assert "reply_markup" not in closing.params


async def test_a_database_error_in_one_closing_sends_nothing_twice(h: Harness, monkeypatch) -> None:
    """A closing row that cannot read the database is tried again later; the message that
    went out in the same pass is recorded, not sent again when its claim runs out."""
    from sqlalchemy.exc import OperationalError

    from handlers import closing

    await _a_message_and_a_closing(h)
    read, calls = closing._open_messages, []

    async def locked_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return await read(*args, **kwargs)

    monkeypatch.setattr(closing, "_open_messages", locked_once)
    await deliver(h.app)
    h.clock.advance(seconds=h.settings.outbox_lease_seconds + 1)
    await deliver(h.app)
    assert h.sent(SEKRETARIS) and h.sent(JAFUNG).count("Berkas sudah lengkap.") == 1
    assert len(calls) == 2  # the closing was tried again
    async with h.rt.sessions() as s:
        left = await s.scalar(select(Outbox.id).where(Outbox.status == "pending"))
    assert left is None


async def _an_older_message_being_retried(h: Harness, chat: int) -> None:
    """A process started; then a message to `chat` that the Bot API refused (a 500): it
    waits a moment to be sent again."""
    await start(h, "370")
    async with h.rt.sessions.begin() as s:
        enqueue(s, h.clock.now(), chat, "send_message", {"text": "Pesan lebih dulu."})
    error_500 = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    h.request.fail_next.append(("sendMessage", 500, error_500))
    await deliver(h.app)


async def test_a_reply_waits_behind_an_older_message_being_retried(h: Harness) -> None:
    """Per chat, in order: a reply to what the person just did does not overtake a message
    to them that the Bot API refused a moment ago and that is waiting to be sent again."""
    await _an_older_message_being_retried(h, SEKRETARIS)
    h.clear()
    await h.text(SEKRETARIS, "Baik, segera saya teruskan.")  # offered her card's buttons
    assert h.sent(SEKRETARIS) == []  # the reply waits behind it
    h.clock.advance(seconds=3)
    await deliver(h.app)
    texts = h.sent(SEKRETARIS)
    assert texts[0] == "Pesan lebih dulu." and "Pesan Bapak/Ibu" in texts[1]


async def _a_message_and_a_closing(h: Harness) -> None:
    """One pass's worth: a message to the Jafung, and a closing of the Sekretaris's card."""
    await start(h, "370")
    async with h.rt.sessions.begin() as s:
        si = await step_2(s)
        now = h.clock.now()
        enqueue(s, now, JAFUNG, "send_message", {"text": "Berkas sudah lengkap."})
        enqueue(s, now, SEKRETARIS, "close_task", {"text": "📋 Langkah 2 ✅ Selesai"}, si)


async def step_2(s) -> int:  # type: ignore[no-untyped-def]
    """The step the Sekretaris holds once a process started: its card is in her chat."""
    return await s.scalar(
        select(Outbox.step_instance_id).where(Outbox.chat_id == SEKRETARIS, Outbox.tag == "card")
    )


async def test_a_slow_send_does_not_leave_the_others_of_its_pass_unrecorded(
    tmp_path, monkeypatch
) -> None:
    """Another bot process takes over a row whose claim ran out. A message that went out in
    a pass with one slow send (a large file, a paced closing) is recorded while the slow one
    goes on, so its claim never runs out unrecorded and nobody gets it twice."""
    from handlers import sends

    async with Harness(tmp_path, outbox_lease_seconds=1.5) as h:
        await register(h)
        async with h.rt.sessions.begin() as s:
            enqueue(s, h.clock.now(), JAFUNG, "send_message", {"text": "Berkas sudah lengkap."})
            enqueue(s, h.clock.now(), KADIS, "send_message", {"text": "Pesan yang lambat."})
        send_text, taken = sends.send_text, []

        async def slow_to_the_kadis(app, row):  # type: ignore[no-untyped-def]
            if row.chat_id == KADIS:
                await asyncio.sleep(1.0)  # longer than a third of the lease
                h.clock.advance(seconds=2)  # the claims of this pass have run out by now
                taken.extend(row.id for run in await _claim(h.rt) for row in run)
            return await send_text(app, row)

        monkeypatch.setattr(sends, "send_text", slow_to_the_kadis)
        await deliver(h.app)
        async with h.rt.sessions() as s:
            jafung = await s.scalar(select(Outbox.id).where(Outbox.chat_id == JAFUNG))
        assert jafung not in taken
        assert h.sent(JAFUNG).count("Berkas sudah lengkap.") == 1


async def test_what_went_out_before_a_slow_file_is_recorded_before_the_file(
    tmp_path, monkeypatch
) -> None:
    """'Proses selesai', then the final document to the same person: while the file is
    being uploaded (longer than the claim lasts), another bot process looking for work
    does not take the message that already went out, so nobody gets it twice."""
    from handlers import sends

    async with Harness(tmp_path, outbox_lease_seconds=2) as h:
        await register(h)
        async with h.rt.sessions.begin() as s:
            now = h.clock.now()
            enqueue(s, now, JAFUNG, "send_message", {"text": "🎉 Proses selesai."})
            document = {"file_id": "f-final", "caption": "📄 Dokumen final", "path": "x.pdf"}
            enqueue(s, now, JAFUNG, "send_document", document)
        send_document, taken = sends.send_document, []

        async def slow_upload(app, row):  # type: ignore[no-untyped-def]
            h.clock.advance(seconds=3)  # the upload outlasts the claims of this pass
            taken.extend(row.id for run in await _claim(h.rt) for row in run)
            return await send_document(app, row)

        monkeypatch.setattr(sends, "send_document", slow_upload)
        await deliver(h.app)
        async with h.rt.sessions() as s:
            message = await s.scalar(select(Outbox.id).where(Outbox.method == "send_message"))
        assert message not in taken  # (the file itself is kept by its sender meanwhile)
        assert h.sent(JAFUNG).count("🎉 Proses selesai.") == 1


async def test_a_bug_in_one_row_fails_it_alone_and_tells_the_admins(
    h: Harness, monkeypatch
) -> None:
    """A closing that our own code cannot prepare (here: an unexpected KeyError) fails on
    its own and is reported to the admins; the message sent in the same pass is recorded,
    not sent again when its claim runs out, and the bot keeps sending."""
    from handlers import closing

    await _a_message_and_a_closing(h)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("message_id")

    monkeypatch.setattr(closing, "_open_messages", broken)
    await deliver(h.app)
    h.clock.advance(seconds=h.settings.outbox_lease_seconds + 1)
    await deliver(h.app)
    assert h.sent(JAFUNG).count("Berkas sudah lengkap.") == 1
    alert = h.last(1)
    assert "Bot gagal menyiapkan pesan" in alert and str(SEKRETARIS) in alert
    assert "Telegram menolak" not in alert
    async with h.rt.sessions() as s:
        states = dict((await s.execute(select(Outbox.method, Outbox.status))).all())
    assert states["close_task"] == "failed"
    await h.text(JAFUNG, "/tugas")  # the bot goes on as before
    assert h.last(JAFUNG).startswith("Tidak ada tugas terbuka")


async def test_a_closing_does_not_wait_behind_the_digest_of_its_chat(h: Harness) -> None:
    """The morning digest to the Sekretaris is being retried (a 5xx) when her step is
    closed: her card is closed at once, the digest follows when its retry is due."""
    await start(h, "370")
    async with h.rt.sessions.begin() as s:
        si = await step_2(s)
        now = h.clock.now()
        enqueue(s, now, SEKRETARIS, "send_message", {"text": "☀️ Ringkasan pagi"}, tag="digest")
    error_500 = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    h.request.fail_next += [("sendMessage", 500, error_500)]
    await deliver(h.app)
    assert "☀️ Ringkasan pagi" not in h.sent(SEKRETARIS)
    async with h.rt.sessions.begin() as s:
        enqueue(s, h.clock.now(), SEKRETARIS, "close_task", {"text": "📋 Langkah 2 ✅ Selesai"}, si)
    h.clear()
    await deliver(h.app)
    edits = [c for c in h.request.calls if c.method.startswith("editMessage")]
    assert edits and "Langkah 2 ✅ Selesai" in edits[-1].params.get("text", "")
    assert h.sent(SEKRETARIS) == []  # the digest still waits for its retry
    h.clock.advance(seconds=5)
    await deliver(h.app)
    assert h.sent(SEKRETARIS) == ["☀️ Ringkasan pagi"]


async def test_sends_whose_record_failed_unexpectedly_are_not_sent_again(
    h: Harness, monkeypatch
) -> None:
    """The transaction recording a pass fails with something that is not an outage (a bug,
    a pool in trouble): what went out is kept and recorded later, never sent again when
    its claim runs out."""
    import handlers.outbox

    async with h.rt.sessions.begin() as s:
        now = h.clock.now()
        enqueue(s, now, JAFUNG, "send_message", {"text": "Berkas sudah lengkap."})
        enqueue(s, now, SEKRETARIS, "send_message", {"text": "Mohon dicek."})
    real, calls = handlers.outbox.record_in, []

    async def fails_once(rt: Any, session: Any, now: Any, done: list, *rest: Any) -> None:
        if done:
            calls.append(1)
            if len(calls) == 1:  # the pass's records, written with the next claim
                raise RuntimeError("unexpected")
        await real(rt, session, now, done, *rest)

    monkeypatch.setattr(handlers.outbox, "record_in", fails_once)
    with pytest.raises(RuntimeError):
        await deliver(h.app)
    h.clock.advance(seconds=h.settings.outbox_lease_seconds + 1)
    await deliver(h.app)
    assert h.sent(JAFUNG) == ["Berkas sudah lengkap."] and h.sent(SEKRETARIS) == ["Mohon dicek."]
    async with h.rt.sessions() as s:
        left = await s.scalar(select(Outbox.id).where(Outbox.status == "pending"))
    assert left is None


async def _press_and_handle(h: Harness, uid: int, data: str) -> None:
    """A press, stored and handled, and nothing more: no pass of the outbox sender."""
    update = {
        "update_id": next(h._update_ids),
        "callback_query": {
            "id": "press",
            "from": h._user(uid),
            "chat_instance": "c",
            "data": data,
            "message": {"message_id": 1, "date": 0, "chat": {"id": uid, "type": "private"}},
        },
    }
    await inbox.store(h.rt, [update])
    await h.dispatcher.drain()


async def test_the_next_holders_card_goes_out_with_the_press(h: Harness) -> None:
    """What a press sends the next holder (the card of the next step) goes out right after
    the press commits, like the presser's own answer: no outbox pass in between."""
    await start(h, "370")
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    h.clear()
    await _press_and_handle(h, SEKRETARIS, data)
    assert any("Langkah 3" in text for text in h.sent(JAFUNG))
    async with h.rt.sessions() as s:
        unclaimed = await s.scalar(
            select(Outbox.id).where(Outbox.status == "pending", Outbox.claimed_until.is_(None))
        )
    assert unclaimed is None  # nothing left for the sender


async def test_the_next_holders_card_waits_behind_an_older_message_to_him(h: Harness) -> None:
    """Per chat, in order: the card a press sends the Jafung does not overtake a message to
    him that the Bot API refused a moment ago and that waits to be sent again."""
    await _an_older_message_being_retried(h, JAFUNG)
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    h.clear()
    await _press_and_handle(h, SEKRETARIS, data)
    assert h.sent(JAFUNG) == []  # the card waits behind it
    h.clock.advance(seconds=3)
    await deliver(h.app)
    texts = h.sent(JAFUNG)
    assert texts[0] == "Pesan lebih dulu." and any("Langkah 3" in t for t in texts[1:])


async def test_the_pressed_cards_outcome_is_not_undone_by_an_older_edit_being_retried(
    h: Harness,
) -> None:
    """An older edit of the same card (its send refused a moment ago, waiting to be sent
    again) never lands after the edit that shows the press: the card ends as pressed."""
    await start(h, "370")
    async with h.rt.sessions.begin() as s:
        older = {"message_id": 1, "text": "📋 Langkah 2 (keadaan lama)", "buttons": None}
        enqueue(s, h.clock.now(), SEKRETARIS, "edit_message", older)
    error_500 = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    h.request.fail_next.append(("editMessageText", 500, error_500))
    await deliver(h.app)
    await h.press(SEKRETARIS, "Teruskan")  # the pressed message is message 1
    h.clock.advance(seconds=3)
    await deliver(h.app)
    edits = [
        c.params["text"]
        for c in h.request.calls
        if c.method == "editMessageText" and int(c.params["chat_id"]) == SEKRETARIS
    ]
    assert edits[0] == "📋 Langkah 2 (keadaan lama)" and "keadaan lama" not in edits[-1]


async def test_a_press_never_waits_for_another_persons_paced_chat(tmp_path) -> None:
    """With Telegram's limits kept: the next holder's chat has used its allowance (a 429 a
    moment ago holds it for a minute). The press is answered at once and the presser's
    next update is not held up; the card waits its turn with the outbox sender."""
    async with Harness(tmp_path, send_pacing=True) as h:
        await register(h)
        await start(h, "370")
        limiter = h.app.bot.rate_limiter
        now = limiter._now()
        limiter.pacer.hold(str(JAFUNG), now + 60, now)
        data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
        h.clear()
        await asyncio.wait_for(_press_and_handle(h, SEKRETARIS, data), timeout=10)
        assert h.answers() and h.sent(JAFUNG) == []
        async with h.rt.sessions() as s:
            waiting = await s.scalar(
                select(Outbox.id).where(
                    Outbox.chat_id == JAFUNG,
                    Outbox.status == "pending",
                    Outbox.claimed_until.is_(None),
                )
            )
        assert waiting is not None  # the sender's, in the Jafung's turn


async def test_a_press_does_not_wait_while_someone_elses_record_is_made(
    h: Harness, monkeypatch
) -> None:
    """The Jafung's press that ends the disposisi asks for the Kadis's lembar disposisi, a
    PDF the bot renders (seconds on an office server). The press is answered and the Tim
    Kerja get their cards while it is still being made; the Kadis gets it from the outbox
    sender right after."""
    await start(h, "370")
    await h.press(SEKRETARIS, "Teruskan")
    rendering = asyncio.Event()
    make = record_files.make

    async def slow_make(rt: Any, payload: dict[str, Any]) -> Any:
        await rendering.wait()
        return await make(rt, payload)

    monkeypatch.setattr(record_files, "make", slow_make)
    data = h.button_data(JAFUNG, "📨 Teruskan ke semua")
    h.clear()
    await asyncio.wait_for(_press_and_handle(h, JAFUNG, data), timeout=10)
    assert h.answers() and any("Langkah 4" in text for text in h.sent(TIM_A))
    lembar = "Lembar disposisi proses"
    assert not any(lembar in text for text in h.sent(KADIS))
    rendering.set()
    await deliver(h.app)
    assert any(lembar in text for text in h.sent(KADIS))


async def test_a_copy_of_the_card_still_on_its_way_is_closed_by_the_press(h: Harness) -> None:
    """The Sekretaris has a second copy of her card on its way (another process took it
    to send it) and presses the first one. The closing of her other copies waits behind
    it, so that copy, once it arrives, is closed too: no live button on a finished step."""
    await start(h, "370")
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    async with h.rt.sessions.begin() as s:
        si = await step_2(s)
        copy = {"text": "📋 Langkah 2 (salinan)", "buttons": [[("📨 Teruskan ke semua", data)]]}
        taken = h.clock.now() + timedelta(seconds=30)  # another process's claim
        enqueue(s, h.clock.now(), SEKRETARIS, "send_message", copy, si, taken, tag="card")
    h.clear()
    await _press_and_handle(h, SEKRETARIS, data)
    h.clock.advance(seconds=31)  # that process died; this one takes the copy over
    await deliver(h.app)
    async with h.rt.sessions() as s:
        copy_id = await s.scalar(
            select(Outbox.message_id)
            .where(Outbox.chat_id == SEKRETARIS, Outbox.tag == "card", Outbox.status == "sent")
            .order_by(Outbox.id.desc())
        )
    sent = [c for c in h.request.calls if c.params.get("text") == "📋 Langkah 2 (salinan)"]
    assert sent and copy_id is not None  # the copy did arrive, after the press
    closings = [
        c
        for c in h.request.calls
        if c.method == "editMessageText"
        and int(c.params["chat_id"]) == SEKRETARIS
        and int(c.params["message_id"]) == copy_id
    ]
    assert closings and "reply_markup" not in closings[-1].params
    assert h.request.calls.index(closings[-1]) > h.request.calls.index(sent[0])


async def test_a_reminder_card_sent_by_a_killed_process_is_closed_with_its_step(
    h: Harness,
) -> None:
    """A process sent the Sekretaris a reminder with her card again (buttons) and was killed
    before recording it. She finishes the step on her first card meanwhile. The process
    that takes the reminder over finds the step done: it sends the step's closing instead,
    and that send removes the buttons of the copy nobody recorded."""
    await start(h, "370")
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    card = {"text": "📋 Langkah 2 (kartu lagi)", "buttons": [[("📨 Teruskan ke semua", data)]]}
    now = h.clock.now()
    async with h.rt.sessions.begin() as s:
        si = await step_2(s)
        payload = {"text": "⏰ Pengingat", "since": now.isoformat(), "card": card}
        lease = now + timedelta(seconds=30)  # the killed process's claim
        enqueue(s, now, SEKRETARIS, "remind", payload, si, lease, tag="reminder")
    orphan = await h.app.bot.send_message(  # what it sent before it was killed
        SEKRETARIS, card["text"], reply_markup=markup(card["buttons"])
    )
    await _press_and_handle(h, SEKRETARIS, data)
    h.clock.advance(seconds=31)  # the lease runs out: this process takes the reminder over
    await deliver(h.app)
    await deliver(h.app)
    stripped = [
        c
        for c in h.request.calls
        if c.method == "editMessageReplyMarkup"
        and int(c.params["chat_id"]) == SEKRETARIS
        and int(c.params["message_id"]) == orphan.message_id
    ]
    assert stripped and not stripped[-1].params.get("reply_markup")
    assert "Teruskan" not in h.last(SEKRETARIS)  # the closing went out, without buttons


async def test_closings_with_nothing_to_close_do_not_use_up_the_bots_pace(tmp_path) -> None:
    """With Telegram's limits kept: a closing that finds nothing left to change (a question
    already closed) makes no Bot API call. Forty of them, and messages still go out: the
    turns they took are given back. (Each used to keep one of the bot's 30 a second for
    good; from the 30th on, every send of the process waited forever.)"""
    async with Harness(tmp_path, send_pacing=True) as h:
        await register(h)
        async with h.rt.sessions.begin() as s:
            for chat in range(1000, 1040):
                enqueue(s, h.clock.now(), chat, "close_prompts", {})
        await asyncio.wait_for(deliver(h.app), timeout=20)
        async with h.rt.sessions.begin() as s:
            enqueue(s, h.clock.now(), SEKRETARIS, "send_message", {"text": "Masih terkirim."})
        await asyncio.wait_for(deliver(h.app), timeout=20)
        assert h.sent(SEKRETARIS) == ["Masih terkirim."]


async def test_held_records_survive_a_failed_write_and_nothing_is_sent_twice(
    h: Harness, monkeypatch
) -> None:
    """The answer to the Sekretaris's message went out and waits a moment to be recorded
    with the next write. That write fails (the database drops for an instant). The record
    is kept and written once the database answers: the answer is not sent again after its
    lease."""
    await start(h, "370")
    h.clear()

    async def database_gone(*args: Any) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(recording, "_write_sent", database_gone)
    # Held for the next write, not for the 0.2 s timer: on a loaded machine the timer's own
    # attempt could be in flight when that write looks for it (it puts it back all the same).
    monkeypatch.setattr(recording, "FLUSH_AFTER", 60.0)
    said = h._message(SEKRETARIS, text="Baik, segera saya teruskan.")
    await inbox.store(h.rt, [{"update_id": 9001, "message": said}])
    with pytest.raises(OSError):
        await h.dispatcher.drain()  # answered; the next claim writes its record: it fails
    monkeypatch.undo()
    assert any("Pesan Bapak/Ibu" in t for t in h.sent(SEKRETARIS))
    h.clock.advance(seconds=h.settings.outbox_lease_seconds + 1)
    await deliver(h.app)
    assert len([t for t in h.sent(SEKRETARIS) if "Pesan Bapak/Ibu" in t]) == 1
    async with h.rt.sessions() as s:
        pending = await s.scalar(select(Outbox.id).where(Outbox.status == "pending"))
    assert pending is None


async def test_a_record_failing_after_a_press_tells_nobody_nothing_changed(
    h: Harness, monkeypatch
) -> None:
    """The press took effect and its messages went out; only writing down that they went
    out fails (a bug there, once). The Sekretaris is not told "tidak ada yang berubah"
    (it did change), and the Jafung's card is recorded later, not sent twice."""
    await start(h, "370")
    data = h.button_data(SEKRETARIS, "📨 Teruskan ke semua")
    h.clear()
    write_sent = recording._write_sent
    calls = []

    async def fails_once(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("a bug in recording")
        await write_sent(*args)

    monkeypatch.setattr(recording, "_write_sent", fails_once)
    await _press_and_handle(h, SEKRETARIS, data)
    assert calls and texts.UNEXPECTED not in h.sent(SEKRETARIS)
    h.clock.advance(seconds=h.settings.outbox_lease_seconds + 1)
    await deliver(h.app)
    assert len([t for t in h.sent(JAFUNG) if "Langkah 3" in t]) == 1


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="PostgreSQL only: SQLite has one writer at a time, so two claims never overlap",
)
async def test_two_processes_never_take_the_same_update(h: Harness) -> None:
    """Two bot processes on one PostgreSQL database claim at the same instant: the update
    goes to one of them (answered once), never to both."""
    said = h._message(SEKRETARIS, text="/bantuan")
    await inbox.store(h.rt, [{"update_id": 9001, "message": said}])
    other = Dispatcher(h.app)  # a second process, with an id of its own
    now = h.clock.now()

    async def their_claim() -> list:  # type: ignore[type-arg]
        async with h.rt.sessions.begin() as s:
            return await other.claim_in(s, now)

    first = h.rt.sessions()
    await first.begin()
    mine = await h.dispatcher.claim_in(first, now)  # not committed yet
    theirs = asyncio.create_task(their_claim())
    await asyncio.wait({theirs}, timeout=1.0)  # it waits for our claim to commit
    await first.commit()
    await first.close()
    assert [update_id for update_id, _, _ in mine] == [9001]
    assert await theirs == []


async def test_an_update_the_database_refuses_each_time_is_given_up_politely(
    h: Harness, monkeypatch
) -> None:
    """A message whose handling the database refuses every time (here a unique constraint a
    setting breaks), while the database itself answers, is not retried forever holding
    the person's next messages behind it: after a few tries she is told that nothing
    changed, and her next message is answered."""
    from sqlalchemy.exc import IntegrityError

    from bot.services import own_words

    async def refused(*args: Any) -> None:
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(own_words, "free_text", refused)
    h.clear()
    said = h._message(SEKRETARIS, text="Baik, segera saya teruskan.")
    command = [{"type": "bot_command", "offset": 0, "length": 8}]
    then = h._message(SEKRETARIS, text="/bantuan", entities=command)
    await inbox.store(h.rt, [{"update_id": 9001, "message": said}])
    await inbox.store(h.rt, [{"update_id": 9002, "message": then}])
    for _ in range(GIVE_UP_AFTER):
        await h.dispatcher.drain()
        h.clock.advance(seconds=h.settings.inbox_lease_seconds + 1)
    await h.dispatcher.drain()
    assert h.sent(SEKRETARIS).count(texts.UNEXPECTED) == 1
    assert any("/tugas" in t for t in h.sent(SEKRETARIS))  # /bantuan was answered
    async with h.rt.sessions() as s:
        waiting = await s.scalar(select(Inbox.update_id).where(Inbox.handled_at.is_(None)))
    assert waiting is None


async def test_what_the_records_queue_goes_out_in_the_same_pass(h: Harness) -> None:
    """A twin's closing (or an alert to the admins) queued while a pass's sends are
    recorded is claimed by that pass, not left for the next tick."""

    async def records(where, now) -> None:  # type: ignore[no-untyped-def]
        enqueue(where, now, KADIS, "close_orphans", {"sent_id": 7})

    runs = await _claim(h.rt, 1, records)
    assert [[(row.chat_id, row.method) for row in run] for run in runs] == [
        [(KADIS, "close_orphans")]
    ]
