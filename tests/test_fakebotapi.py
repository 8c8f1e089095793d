"""The fake Bot API must be indistinguishable from Telegram for a real PTB ``Bot``."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fakebotapi import FakeBotApi, WaitTimeout, formatting

TOKEN = "123456:TEST-token_abc"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def server():
    srv = FakeBotApi(token=TOKEN)
    await srv.start()
    yield srv
    await srv.stop()
    assert srv.internal_errors == []


@pytest.fixture
async def bot(server):
    async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.file_base_url) as b:
        yield b


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(lbl, callback_data=f"cb:{lbl}")] for lbl in labels]
    )


async def test_get_me(bot, server):
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "fake_sop_bot"
    assert me.can_join_groups is True
    assert ("getMe", {}) in server.calls


async def test_send_message_with_keyboard_and_edits(bot, server):
    budi = server.user(1001, "Budi")
    await budi.send("/start")
    sent = await bot.send_message(1001, "Pilih aksi", reply_markup=keyboard("Setuju", "Tolak"))
    assert sent.chat.id == 1001 and sent.chat.type == "private"
    assert sent.from_user.is_bot and sent.from_user.id == 123456
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "cb:Setuju"
    assert budi.last["text"] == "Pilih aksi"
    assert budi.last["reply_markup"]["inline_keyboard"][1][0]["text"] == "Tolak"
    # message ids are per chat and follow the user's own message
    assert sent.message_id == 2

    edited = await bot.edit_message_text(
        "Pilih lagi", chat_id=1001, message_id=sent.message_id, reply_markup=keyboard("Setuju")
    )
    assert edited.text == "Pilih lagi" and edited.edit_date is not None
    assert len(budi.last["reply_markup"]["inline_keyboard"]) == 1

    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text(
            "Pilih lagi", chat_id=1001, message_id=sent.message_id, reply_markup=keyboard("Setuju")
        )
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_reply_markup(1001, sent.message_id, reply_markup=keyboard("Setuju"))

    # Like Telegram, editing the text without reply_markup drops the keyboard.
    await bot.edit_message_text("Selesai", chat_id=1001, message_id=sent.message_id)
    assert "reply_markup" not in budi.last
    assert [m["text"] for m in server.delivered(1001)] == ["Selesai"]

    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=1001, message_id=999)


async def test_press_produces_callback_query_parsed_by_ptb(bot, server):
    budi = server.user(1001, "Budi", username="budi")
    await budi.send("/start")
    sent = await bot.send_message(
        1001, "Setujui draft?", reply_markup=keyboard("Setuju", "Tidak Setuju")
    )

    query_id = await budi.press(sent.message_id, "Setuju")  # exact match beats "Tidak Setuju"
    updates = await bot.get_updates(timeout=0)
    cq = updates[-1].callback_query
    assert cq.id == query_id
    assert cq.data == "cb:Setuju"
    assert cq.from_user.id == 1001 and cq.from_user.username == "budi"
    assert cq.message.message_id == sent.message_id and cq.message.text == "Setujui draft?"

    assert await bot.answer_callback_query(cq.id, text="Tercatat", show_alert=True)
    assert server.answers == [
        {"callback_query_id": query_id, "text": "Tercatat", "show_alert": True}
    ]
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(cq.id)

    await budi.press(sent.message_id, "Tidak")  # substring match
    await budi.press_data(sent.message_id, "forged")
    updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    assert [u.callback_query.data for u in updates] == ["cb:Tidak Setuju", "forged"]

    with pytest.raises(LookupError):
        await budi.press(sent.message_id, "Hapus")


async def test_user_messages_parse_as_commands(bot, server):
    budi = server.user(1001, "Budi")
    await budi.send("/start abc")
    await budi.send("halo")
    first, second = await bot.get_updates(timeout=0)
    assert first.update_id < second.update_id
    assert first.message.text == "/start abc"
    assert first.message.parse_entities() and first.message.entities[0].type == "bot_command"
    assert first.message.entities[0].length == len("/start")
    assert second.message.entities == ()
    assert second.message.chat.id == 1001 and not second.message.from_user.is_bot


async def test_real_application_roundtrip(server):
    """A PTB Application polling the fake: command -> keyboard -> press -> edit."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(
            f"Halo! arg={context.args}", reply_markup=keyboard("Setuju", "Tolak")
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text(f"Dipilih: {update.callback_query.data}")

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(server.base_url)
        .base_file_url(server.file_base_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    budi = server.user(1001, "Budi")
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=5)
        await budi.send("/start abc")
        menu = await budi.wait_for_text("Halo! arg=['abc']", timeout=5)
        query_id = await budi.press(menu, "Tolak")
        done = await budi.wait_for_text("Dipilih: cb:Tolak", timeout=5)
        assert done["message_id"] == menu["message_id"]
        assert (await server.wait_for_answer(query_id))["text"] == "ok"
        await app.updater.stop()
        await app.stop()


async def test_document_upload_get_file_and_download(bot, server):
    budi = server.user(1001, "Budi")
    await budi.send("/start")
    payload = b"%PDF-1.4 draft surat\n" * 100
    msg = await bot.send_document(
        1001, payload, filename="draft.pdf", caption="Draft", reply_markup=keyboard("Setuju")
    )
    assert msg.document.file_name == "draft.pdf"
    assert msg.document.mime_type == "application/pdf"
    assert msg.document.file_size == len(payload)
    assert msg.caption == "Draft"
    assert msg.reply_markup.inline_keyboard[0][0].text == "Setuju"  # JSON string in form data
    assert server.file_bytes(msg.document.file_id) == payload

    tg_file = await bot.get_file(msg.document.file_id)
    assert tg_file.file_path.startswith(server.file_base_url)
    assert bytes(await tg_file.download_as_bytearray()) == payload

    # Re-sending by file_id reuses the stored file.
    again = await bot.send_document(1001, msg.document.file_id)
    assert again.document.file_unique_id == msg.document.file_unique_id
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(1001, "no-such-file-id")

    # Files the user uploads are downloadable by the bot too.
    await budi.send_document(b"isi laporan", file_name="laporan.docx", caption="revisi")
    update = (await bot.get_updates(timeout=0))[-1]
    doc = update.message.document
    assert update.message.caption == "revisi" and doc.file_name == "laporan.docx"
    out = io.BytesIO()
    await (await bot.get_file(doc.file_id)).download_to_memory(out)
    assert out.getvalue() == b"isi laporan"


async def test_photo_roundtrip(bot, server):
    budi = server.user(1001, "Budi")
    await budi.send_photo(
        b"\x89PNG\r\n\x1a\n"
        + b"\x00" * 8
        + (300).to_bytes(4, "big")
        + (200).to_bytes(4, "big")
        + b"rest",
        caption="foto",
    )
    update = (await bot.get_updates(timeout=0))[-1]
    size = update.message.photo[-1]
    assert (size.width, size.height) == (300, 200)
    out = io.BytesIO()
    await (await bot.get_file(size.file_id)).download_to_memory(out)
    assert out.getvalue() == server.file_bytes(size.file_id)

    photo = await bot.send_photo(1001, out.getvalue(), caption="<b>balik</b>", parse_mode="HTML")
    assert photo.caption == "balik" and photo.caption_entities[0].type == "bold"
    assert budi.last["photo"][0]["width"] == 300


async def test_bot_cannot_write_first_and_unknown_chat(bot, server):
    server.user(2002, "Siti")  # exists but never wrote to the bot
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(2002, "halo")
    with pytest.raises(Forbidden):
        await bot.send_document(2002, b"x", filename="a.txt")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999_999, "halo")
    assert server.delivered(2002) == []

    siti = server.user(2002)
    siti.block()
    await siti.send("hai")  # writing again unblocks
    assert (await bot.send_message(2002, "halo")).text == "halo"
    siti.block()
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(2002, "lagi")


# Constructing RetryAfter inside PTB touches its deprecated int-valued retry_after.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_fault_injection_maps_to_ptb_errors(bot, server):
    budi = server.user(1001, "Budi")
    await budi.send("/start")

    server.fail("sendMessage", status=500, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(1001, "a")
    assert server.delivered(1001) == []  # faulted calls have no effect
    await bot.send_message(1001, "a")
    assert [m["text"] for m in budi.messages] == ["a"]
    assert len(server.calls_of("sendMessage")) == 3

    server.fail("*", status=502)
    await bot.get_updates(timeout=0)  # "*" spares getUpdates
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_chat_action(1001, "typing")

    server.rate_limit("sendMessage", retry_after=2)
    with pytest.raises(RetryAfter) as exc_info:
        await bot.send_message(1001, "b")
    assert "Retry in 2" in str(exc_info.value)
    assert len(budi.messages) == 1

    # Stall: the client gives up, so the call must not take effect.
    server.stall("sendMessage", seconds=0.6)
    with pytest.raises(TimedOut):
        await bot.send_message(1001, "c", read_timeout=0.2)
    await asyncio.sleep(0.8)
    assert [m["text"] for m in budi.messages] == ["a"]

    # deliver=True: Telegram did it but the reply was lost (the duplicate-producing case).
    server.stall("sendMessage", seconds=0.6, deliver=True)
    with pytest.raises(TimedOut):
        await bot.send_message(1001, "d", read_timeout=0.2)
    assert [m["text"] for m in budi.messages] == ["a", "d"]

    # A stall shorter than the client's timeout is just a slow success.
    server.stall("sendMessage", seconds=0.2)
    await bot.send_message(1001, "e")
    assert budi.last["text"] == "e"


async def _outcomes(bot, chat_id: int, n: int) -> list[str]:
    out = []
    for i in range(n):
        try:
            await bot.send_message(chat_id, f"m{i}", read_timeout=0.3)
            out.append("ok")
        except RetryAfter:
            out.append("429")
        except TimedOut:
            out.append("timeout")
        except NetworkError as exc:
            out.append("502" if "Bad Gateway" in str(exc) else "500")
    return out


async def test_random_faults(bot, server):
    budi = server.user(1001, "Budi")
    await budi.send("/start")
    assert server.random_faults == {}  # off by default
    assert await _outcomes(bot, 1001, 5) == ["ok"] * 5

    server.fail_randomly(1.0, seed=3, kinds=["500", "502", "429"])
    await bot.get_updates(timeout=0)  # getUpdates is never failed
    first = await _outcomes(bot, 1001, 30)
    assert set(first) == {"500", "502", "429"}
    assert sum(server.random_faults.values()) == 30
    assert [(m, k) for m, k, _, _ in server.random_fault_log[:1]] == [("sendMessage", first[0])]
    assert server.random_fault_log[0][3]["text"] == "m0"
    assert len(budi.messages) == 5  # failed calls have no effect

    server.fail_randomly(1.0, seed=3, kinds=["500", "502", "429"])
    assert await _outcomes(bot, 1001, 30) == first  # a seed replays the same faults

    # A lost answer takes effect; a stall past the client's patience does not.
    server.fail_randomly(1.0, seed=1, kinds=["lost_answer"], lost_answer_seconds=(0.5, 0.5))
    assert await _outcomes(bot, 1001, 1) == ["timeout"]
    assert budi.last["text"] == "m0" and len(budi.messages) == 6
    server.fail_randomly(1.0, seed=1, kinds=["stall"], stall_seconds=(0.5, 0.5))
    assert await _outcomes(bot, 1001, 1) == ["timeout"]
    await asyncio.sleep(0.4)
    assert len(budi.messages) == 6

    # Only the named methods; a fraction of them; rate 0 or clear_faults() turns it off.
    server.fail_randomly(1.0, seed=1, methods=["sendChatAction"])
    assert await _outcomes(bot, 1001, 3) == ["ok"] * 3
    server.fail_randomly(0.3, seed=5, kinds=["500"])
    share = (await _outcomes(bot, 1001, 200)).count("500") / 200
    assert 0.2 < share < 0.4
    server.clear_faults()
    assert await _outcomes(bot, 1001, 5) == ["ok"] * 5
    server.fail_randomly(0.0)
    assert await _outcomes(bot, 1001, 5) == ["ok"] * 5
    with pytest.raises(ValueError):
        server.fail_randomly(0.5, methods=["getUpdates"])
    with pytest.raises(ValueError):
        server.fail_randomly(0.5, kinds=["404"])


async def test_get_updates_long_poll_returns_promptly(bot, server):
    budi = server.user(1001, "Budi")
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await server.wait_until_polling()
    await asyncio.sleep(0.2)
    assert not poll.done()
    await budi.send("halo")
    updates = await asyncio.wait_for(poll, 2)
    assert [u.message.text for u in updates] == ["halo"]
    assert time.monotonic() - started < 2

    # An empty long poll waits for the whole timeout.
    started = time.monotonic()
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1) == ()
    assert time.monotonic() - started >= 0.9


async def test_offsets_redelivery_and_conflict(bot, server):
    budi = server.user(1001, "Budi")
    await budi.send("satu")
    await budi.send("dua")
    first = await bot.get_updates(timeout=0, limit=1)
    assert [u.message.text for u in first] == ["satu"]
    # Unconfirmed updates are delivered again; offset confirms them.
    assert len(await bot.get_updates(timeout=0)) == 2
    rest = await bot.get_updates(offset=first[0].update_id + 1, timeout=0)
    assert [u.message.text for u in rest] == ["dua"]
    assert await bot.get_updates(offset=rest[0].update_id + 1, timeout=0) == ()

    # Redelivery of an already-confirmed update, with the same update_id.
    server.redeliver(first[0].update_id)
    again = await bot.get_updates(offset=rest[0].update_id + 1, timeout=0)
    assert [(u.update_id, u.message.text) for u in again] == [(first[0].update_id, "satu")]
    assert await bot.get_updates(offset=rest[0].update_id + 1, timeout=0) == ()

    raw_id = server.forward_update({"message": budi.sent[0]})
    assert raw_id > rest[0].update_id
    assert server.pending_updates[-1]["update_id"] == raw_id

    # allowed_updates filters (and persists, like Telegram).
    await budi.press_data(await _bot_message(bot, budi), "x")
    only_msgs = await bot.get_updates(offset=raw_id + 1, timeout=0, allowed_updates=["message"])
    assert only_msgs == ()
    assert server.allowed_updates == ["message"]

    # A second poller (another bot instance) terminates the first one, like Telegram.
    first_poll = asyncio.create_task(bot.get_updates(offset=raw_id + 1, timeout=5))
    await server.wait_until_polling()
    async with Bot(TOKEN, base_url=server.base_url) as other:
        await other.get_updates(offset=raw_id + 1, timeout=0)
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await first_poll


async def _bot_message(bot: Bot, user) -> int:
    return (await bot.send_message(user.id, "pesan")).message_id


async def test_parse_modes_and_validation(bot, server):
    budi = server.user(1001, "Budi")
    await budi.send("/start")
    msg = await bot.send_message(
        1001, "<b>Langkah 5</b> &amp; <a href='https://x.id'>tautan</a>", parse_mode=ParseMode.HTML
    )
    assert msg.text == "Langkah 5 & tautan"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [
        ("bold", 0, 9),
        ("text_link", 12, 6),
    ]
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities.*unsupported start tag"):
        await bot.send_message(1001, "a <foo> b", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities.*reserved"):
        await bot.send_message(1001, "Langkah 5.", parse_mode=ParseMode.MARKDOWN_V2)
    md = await bot.send_message(1001, r"*Langkah 5\.* _ok_", parse_mode=ParseMode.MARKDOWN_V2)
    assert md.text == "Langkah 5. ok"
    assert [e.type for e in md.entities] == ["bold", "italic"]
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        await bot.send_message(1001, "   ")
    with pytest.raises(BadRequest, match=r"(?i)too long"):
        await bot.send_message(1001, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(1001, "x", reply_markup=keyboard("y" * 70))

    # A reply keyboard is chat state, not part of the returned message.
    kb = await bot.send_message(1001, "pilih", reply_markup=ReplyKeyboardMarkup([["Ya", "Tidak"]]))
    assert kb.reply_markup is None
    assert budi.reply_keyboard["keyboard"][0][0]["text"] == "Ya"

    reply = await bot.send_message(1001, "balasan", reply_to_message_id=1)
    assert reply.reply_to_message.text == "/start"


@pytest.mark.parametrize(
    ("mode", "source", "text", "entities"),
    [
        (
            "HTML",
            "<b>a <i>b</i></b> 👍 <code>c</code>",
            "a b 👍 c",
            [("bold", 0, 3), ("italic", 2, 1), ("code", 7, 1)],
        ),  # offsets in UTF-16 units
        ("HTML", '<pre><code class="language-py">x</code></pre>', "x", [("pre", 0, 1)]),
        ("HTML", "1 &lt; 2 &amp;&amp; A & B", "1 < 2 && A & B", []),
        (
            "MarkdownV2",
            r"__u__ ~s~ ||p|| [l](https://x.id) `c\`d`",
            "u s p l c`d",
            [
                ("underline", 0, 1),
                ("strikethrough", 2, 1),
                ("spoiler", 4, 1),
                ("text_link", 6, 1),
                ("code", 8, 3),
            ],
        ),
        ("Markdown", r"*b* _i_ user\_name", "b i user_name", [("bold", 0, 1), ("italic", 2, 1)]),
    ],
)
def test_formatting_entities(mode, source, text, entities):
    plain, ents = formatting.parse(source, mode)
    assert plain == text
    assert [(e["type"], e["offset"], e["length"]) for e in ents] == entities


@pytest.mark.parametrize(
    ("mode", "source", "error"),
    [
        ("HTML", "<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("HTML", "<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("HTML", "a <br> b", 'Unsupported start tag "br" at byte offset 2'),
        ("MarkdownV2", "*x", "Can't find end of Bold entity at byte offset 0"),
        ("MarkdownV2", "1+1", "Character '+' is reserved"),
        ("Markdown", "user_name", "Can't find end of the entity starting at byte offset 4"),
    ],
)
def test_formatting_errors(mode, source, error):
    with pytest.raises(formatting.EntityParseError) as exc_info:
        formatting.parse(source, mode)
    assert error in str(exc_info.value)


async def test_wait_helpers(bot, server):
    budi = server.user(1001, "Budi")
    await budi.send("/start")

    async def later():
        await asyncio.sleep(0.1)
        m = await bot.send_message(1001, "Langkah 4")
        await bot.send_message(1001, "Langkah 4 (lagi)")
        await asyncio.sleep(0.1)
        await bot.edit_message_text("Langkah 5", chat_id=1001, message_id=m.message_id)

    task = asyncio.create_task(later())
    a = await budi.wait_for_text("Langkah 4", timeout=5)
    b = await budi.wait_for_text("Langkah 4", timeout=5)
    assert (a["text"], b["text"]) == ("Langkah 4", "Langkah 4 (lagi)")
    c = await budi.wait_for_text("Langkah 5", timeout=5)  # the edit is a new state
    assert c["message_id"] == a["message_id"]
    await task
    assert (await budi.wait_for(lambda m: "lagi" in m["text"]))["message_id"] == b["message_id"]
    with pytest.raises(WaitTimeout, match="Langkah 9"):
        await budi.wait_for_text("Langkah 9", timeout=0.2)
    params = await server.wait_for_call("editMessageText")
    assert params["text"] == "Langkah 5" and params["chat_id"] == 1001


async def test_tokens_methods_commands_webhook(bot, server):
    wrong = Bot("123456:WRONG", base_url=server.base_url, base_file_url=server.file_base_url)
    with pytest.raises(InvalidToken):
        await wrong.get_me()
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendFancyThing", api_kwargs={"chat_id": 1})
    assert server.calls[-1][0] == "sendFancyThing"  # unknown calls are recorded too

    cmds = [BotCommand("start", "Mulai"), BotCommand("disposisi", "Buat disposisi")]
    assert await bot.set_my_commands(cmds)
    assert [c.command for c in await bot.get_my_commands()] == ["start", "disposisi"]
    assert server.my_commands()[1]["description"] == "Buat disposisi"
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Command", "x")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()

    assert await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""

    budi = server.user(1001, "Budi")
    await budi.send("/start")
    chat = await bot.get_chat(1001)
    assert chat.first_name == "Budi" and chat.type == "private"
    assert await bot.send_chat_action(1001, "typing")
    assert budi.chat_actions == ["typing"]
    assert await bot.delete_message(1001, (await _bot_message(bot, budi)))
    assert budi.messages == [] and len(server.delivered(1001)) == 1
    assert await bot.close() and await bot.log_out()


async def test_json_body_requests_are_accepted(server):
    """Non-PTB clients may post JSON; JSON-encoded fields inside it are still decoded."""
    import aiohttp

    server.user(1001, "Budi").mark_started()
    markup = json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    async with aiohttp.ClientSession() as session:
        url = f"{server.base_url}{TOKEN}/SENDMESSAGE"  # method names are case-insensitive
        async with session.post(
            url, json={"chat_id": "1001", "text": "hi", "reply_markup": markup}
        ) as resp:
            body = await resp.json()
        assert body["ok"] is True
        assert body["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"
        async with session.post(f"{server.base_url}{TOKEN}/nope") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_user_edit_respects_allowed_updates(bot, server):
    budi = server.user(1001, "Budi")
    original = await budi.send("halo")
    first = await bot.get_updates(timeout=0, allowed_updates=[])  # [] = the default set
    assert server.allowed_updates is None
    edited = await budi.edit(original, "/start revisi")
    assert edited["message_id"] == original["message_id"]
    assert edited["date"] == original["date"] and edited["edit_date"] >= edited["date"]
    (update,) = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert update.message is None
    msg = update.edited_message
    assert msg.message_id == original["message_id"] and msg.edit_date is not None
    assert msg.text == "/start revisi" and msg.entities[0].type == "bot_command"
    assert msg.chat.id == msg.from_user.id == 1001
    assert budi.message(original["message_id"])["text"] == "/start revisi"

    # Only the user's own, existing, text messages, and only real changes.
    with pytest.raises(ValueError, match="NOT_MODIFIED"):
        await budi.edit(original["message_id"], "/start revisi")
    with pytest.raises(LookupError, match="not sent by the user"):
        await budi.edit(await _bot_message(bot, budi), "x")
    with pytest.raises(LookupError):
        await budi.edit(999, "x")

    # A bot that asked for messages and callback queries only never sees edits.
    offset = update.update_id + 1
    only = ["message", "callback_query"]
    assert await bot.get_updates(offset=offset, timeout=0, allowed_updates=only) == ()
    await budi.edit(original, "halo lagi")
    await budi.send("baru")
    got = await bot.get_updates(offset=offset, timeout=0)
    assert [(u.message.text, u.edited_message) for u in got] == [("baru", None)]


async def test_channel_post_respects_allowed_updates(bot, server):
    post = server.channel_post(-1001234567890, "Pengumuman", title="Info SOP")
    (update,) = await bot.get_updates(timeout=0)
    cp = update.channel_post
    assert cp.message_id == post["message_id"] == 1 and cp.text == "Pengumuman"
    assert (cp.chat.id, cp.chat.type, cp.chat.title) == (-1001234567890, "channel", "Info SOP")
    assert cp.from_user is None and cp.sender_chat.id == cp.chat.id
    assert server.channel_post(-1001234567890, "kedua")["message_id"] == 2
    assert [u.channel_post.text for u in await bot.get_updates(timeout=0)][-1] == "kedua"
    with pytest.raises(ValueError, match="channel ids"):
        server.channel_post(1001, "bukan kanal")

    offset = server.pending_updates[-1]["update_id"] + 1
    only = ["message", "callback_query"]
    assert await bot.get_updates(offset=offset, timeout=0, allowed_updates=only) == ()
    server.channel_post(-1001234567890, "ketiga")
    assert await bot.get_updates(offset=offset, timeout=0) == ()


async def _raw_sends(server, chat_ids) -> list[tuple[int, dict]]:
    import aiohttp

    async def one(session, chat_id, i):
        data = {"chat_id": str(chat_id), "text": f"m{i}"}
        async with session.post(f"{server.base_url}{TOKEN}/sendMessage", data=data) as resp:
            return resp.status, await resp.json()

    async with aiohttp.ClientSession() as session:
        return [await one(session, c, i) for i, c in enumerate(chat_ids)]


def _assert_flood_reply(body: dict) -> int:
    retry_after = body["parameters"]["retry_after"]
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }
    assert isinstance(retry_after, int) and retry_after >= 1
    return retry_after


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_flood_limits_per_chat(bot, server):
    budi = server.user(1001, "Budi")
    await budi.send("/start")
    sent = await bot.send_message(1001, "pilih", reply_markup=keyboard("A"))
    server.flood_limits = True
    replies = await _raw_sends(server, [1001] * 5)
    statuses = [status for status, _ in replies]
    assert statuses[:3] == [200, 200, 200]  # the burst ("pilih" was sent with limits off)
    assert 429 in statuses[3:]
    for status, body in replies:
        if status == 429:
            _assert_flood_reply(body)
    ok_texts = [b["result"]["text"] for st, b in replies if st == 200]
    assert [m["text"] for m in budi.messages] == ["pilih", *ok_texts]  # 429s had no effect
    assert server.flood_429s == statuses.count(429) >= 1
    with pytest.raises(RetryAfter, match="Retry in"):
        await bot.send_message(1001, "lagi")
    with pytest.raises(RetryAfter):
        await bot.edit_message_text("ubah", chat_id=1001, message_id=sent.message_id)
    assert budi.message(sent.message_id)["text"] == "pilih"

    # Other chats, callback answers and getUpdates are not affected.
    server.user(1002, "Siti").mark_started()
    assert (await bot.send_message(1002, "halo")).text == "halo"
    query_id = await budi.press(sent.message_id, "A")
    assert len(await bot.get_updates(timeout=0)) == 2
    assert await bot.answer_callback_query(query_id)


async def test_flood_limits_per_bot_window(server):
    for chat_id in range(2000, 2040):
        server.user(chat_id).mark_started()
    server.flood_limits = True
    replies = await _raw_sends(server, range(2000, 2040))  # one per chat, well within 1 s
    statuses = [status for status, _ in replies]
    assert statuses.count(429) >= 1 and statuses.count(200) <= 30
    assert statuses.count(200) + statuses.count(429) == 40
    assert server.flood_429s == statuses.count(429)
    for (status, body), chat_id in zip(replies, range(2000, 2040), strict=True):
        assert len(server.delivered(chat_id)) == (status == 200)
        if status == 429:
            _assert_flood_reply(body)


async def test_flood_limits_timing_with_manual_clock(server):
    clock = [1000.0]
    server.flood_clock = lambda: clock[0]
    server.flood_limits = True
    for chat_id in range(2000, 2040):
        server.user(chat_id).mark_started()

    async def status(chat_id: int) -> tuple[int, int | None]:
        ((code, body),) = await _raw_sends(server, [chat_id])
        return code, (_assert_flood_reply(body) if code == 429 else None)

    # Per chat: a burst of 3, then one per second.
    assert [await status(2000) for _ in range(4)] == [(200, None)] * 3 + [(429, 1)]
    clock[0] += 0.5
    assert await status(2000) == (429, 1)
    clock[0] += 0.5
    assert await status(2000) == (200, None)
    assert await status(2000) == (429, 1)
    clock[0] += 10  # the bucket refills to 3, not more
    assert [await status(2000) for _ in range(4)] == [(200, None)] * 3 + [(429, 1)]

    # Per bot: 30 calls in any 1 s window, across chats.
    clock[0] += 10
    for chat_id in range(2001, 2031):
        assert await status(chat_id) == (200, None)
    assert await status(2031) == (429, 1)
    clock[0] += 0.999
    assert await status(2032) == (429, 1)
    clock[0] += 0.002
    assert await status(2032) == (200, None)
    assert server.flood_429s == 6


async def test_flood_limits_off_by_default(bot, server):
    assert server.flood_limits is False
    budi = server.user(1001, "Budi")
    await budi.send("/start")
    for i in range(10):
        await bot.send_message(1001, f"cepat {i}")
    assert len(budi.messages) == 10 and server.flood_429s == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_standalone_entry_point():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakebotapi", "--port", str(port), "--token", TOKEN],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/bot{TOKEN}/getMe", timeout=1
                ) as resp:
                    body = json.load(resp)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert body["ok"] and body["result"]["is_bot"]
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/_fake/send",
            data=json.dumps({"user_id": 7, "text": "/start"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=2) as resp:
            assert json.load(resp)["text"] == "/start"
    finally:
        proc.terminate()
        proc.wait(timeout=5)
