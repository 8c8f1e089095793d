"""An in-process fake of the Telegram Bot API, served over loopback HTTP with aiohttp.

A real python-telegram-bot ``Bot`` (possibly in another process) is pointed at it via
``base_url=server.base_url`` / ``base_file_url=server.file_base_url``; tests play the
human side through :class:`FakeUser` and inspect what the bot did.

Fidelity notes (things that differ from naive fakes and that bots trip over):

* PTB sends every request as form data (url-encoded, or multipart when uploading) with
  non-string values JSON-encoded, so parameters are decoded the way Telegram does.
* Text with ``parse_mode`` is parsed into plain text + entities; malformed markup is a
  400, exactly like Telegram (see :mod:`.formatting`).
* ``editMessageText`` without ``reply_markup`` removes the inline keyboard, and editing
  to identical content is ``400 message is not modified``.
* Messages only carry ``reply_markup`` for inline keyboards; a reply keyboard becomes
  chat state (:attr:`FakeUser.reply_keyboard`).
* Calls hit by injected faults have no effect, so retries can be asserted precisely.
* ``allowed_updates`` (persisted from getUpdates/setWebhook; unset or ``[]`` = default set
  without chat_member/message_reaction*) hides every other update kind, including
  ``edited_message`` (:meth:`FakeUser.edit`) and ``channel_post``
  (:meth:`FakeBotApi.channel_post`).
* Optional random faults (:meth:`FakeBotApi.fail_randomly`): a seeded fraction of calls
  other than getUpdates answers 500/502/429 or stalls (with or without taking effect);
  off by default.
* Optional flood limits (``flood_limits=True``): chat-posting methods get
  ``429 Too Many Requests: retry after N`` beyond 30 calls/s per bot or a per-chat
  bucket of 3 refilled at 1/s; a limited call has no effect and doesn't use up a slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import math
import mimetypes
import random
import re
import struct
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import formatting

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Handler = Callable[..., Awaitable[Any]]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Form values PTB sends as raw strings; everything else arrives JSON-encoded.
_TEXT_FIELDS = _words(
    """
    text caption parse_mode callback_query_id url file_id action language_code
    secret_token ip_address inline_message_id description short_description name title
    document photo audio video voice animation sticker video_note thumbnail
    business_connection_id message_effect_id emoji certificate
    """
)
# Fields that are JSON objects/arrays even when a JSON body carries them as strings.
_JSON_FIELDS = _words(
    """
    reply_markup allowed_updates commands scope reply_parameters link_preview_options
    entities caption_entities media menu_button rights
    """
)
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Methods that post into a chat and so count against Telegram's flood limits (lowercase).
_FLOOD_LIMITED = frozenset(
    m.lower()
    for m in _words(
        """
        sendMessage sendDocument sendPhoto sendAudio sendVideo sendVoice sendAnimation
        sendSticker sendVideoNote sendMediaGroup sendLocation sendVenue sendContact sendPoll
        sendDice copyMessage copyMessages forwardMessage forwardMessages editMessageText
        editMessageCaption editMessageMedia editMessageReplyMarkup
        """
    )
)
_FLOOD_BOT_PER_SECOND = 30  # per bot, sliding 1 s window
_FLOOD_CHAT_BURST = 3  # per chat token bucket: capacity ...
_FLOOD_CHAT_RATE = 1.0  # ... refilled at this many messages per second
_CHAT_ACTIONS = _words(
    """
    typing upload_photo record_video upload_video record_voice upload_voice
    upload_document choose_sticker find_location record_video_note upload_video_note
    """
)
_INLINE_BUTTON_ACTIONS = _words(
    """
    callback_data url login_url switch_inline_query switch_inline_query_current_chat
    switch_inline_query_chosen_chat callback_game pay web_app copy_text
    """
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_TOKEN_RE = re.compile(r"^\d+:[\w-]+$")

_MAX_UPLOAD = 50 * 1024 * 1024  # Bot API upload limit
_MAX_DOWNLOAD = 20 * 1024 * 1024  # Bot API getFile limit
_MAX_TEXT = 4096
_MAX_CAPTION = 1024

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    403: "Forbidden",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# What fail_randomly() may pick, each equally likely unless narrowed with ``kinds``.
RANDOM_FAULT_KINDS = ("500", "502", "429", "stall", "lost_answer")


@dataclass
class _RandomFaults:
    rate: float
    rng: random.Random
    methods: frozenset[str] | None
    kinds: tuple[str, ...]
    stall_seconds: tuple[float, float]
    lost_answer_seconds: tuple[float, float]
    retry_after: int


class ApiError(Exception):
    """A Telegram-style error reply: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None):
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class WaitTimeout(TimeoutError):
    """Raised by the ``wait_*`` helpers; the message says what was seen instead."""


@dataclass
class UploadedFile:
    """A multipart file part as received (appears in :attr:`FakeBotApi.calls` params)."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:
        return f"UploadedFile({self.field!r}, {self.filename!r}, {len(self.data)} bytes)"


@dataclass
class Fault:
    kind: str  # "fail" | "rate_limit" | "stall"
    method: str  # canonical method name or "*"
    remaining: int
    status: int = 500
    description: str | None = None
    retry_after: int = 0
    seconds: float = 0.0
    deliver: bool = False


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # "document" | "photo"
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0

    def document(self) -> JSONDict:
        doc: JSONDict = {}
        if self.file_name:
            doc["file_name"] = self.file_name
        if self.mime_type:
            doc["mime_type"] = self.mime_type
        doc.update(
            file_id=self.file_id, file_unique_id=self.file_unique_id, file_size=len(self.data)
        )
        return doc

    def photo_sizes(self) -> list[JSONDict]:
        return [
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "file_size": len(self.data),
                "width": self.width,
                "height": self.height,
            }
        ]


@dataclass
class _QueuedUpdate:
    update: JSONDict
    # Redelivered/forwarded-with-old-id updates bypass the offset filter until seen once;
    # otherwise a confirmed update_id could never reach the bot again.
    forced: bool = False
    returned: bool = False

    @property
    def update_id(self) -> int:
        return self.update["update_id"]

    @property
    def kind(self) -> str:
        return next((k for k in self.update if k != "update_id"), "")


def _image_size(data: bytes) -> tuple[int, int]:
    """Best-effort PNG/GIF/JPEG dimensions; tests often upload fake bytes, so fall back."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                break
            marker = data[i + 1]
            seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return w, h
            i += 2 + seg_len
    return 640, 480


def _now() -> int:
    return int(time.time())


class FakeUser:
    """A private chat with one human user; created via :meth:`FakeBotApi.user`."""

    def __init__(
        self,
        server: FakeBotApi,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ):
        self.server = server
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.started = False  # bots can't write first
        self.blocked = False
        self.reply_keyboard: JSONDict | None = None  # last ReplyKeyboardMarkup shown
        self.chat_actions: list[str] = []
        self.sent: list[JSONDict] = []  # messages this user sent, as delivered to the bot
        self.chat_instance = str(8_000_000_000_000_000_000 + user_id)
        self._messages: dict[int, JSONDict] = {}  # both directions, by message_id
        self._bot_ids: list[int] = []  # bot messages in delivery order
        self._deleted: set[int] = set()
        self._versions: dict[int, int] = {}  # bumped on every edit
        self._returned_states: set[tuple[int, int]] = set()  # for wait_for_text
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"FakeUser({self.id}, {self.first_name!r})"

    # ----------------------------------------------------------------- JSON shapes

    @property
    def user_dict(self) -> JSONDict:
        user: JSONDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def chat_dict(self) -> JSONDict:
        chat: JSONDict = {"id": self.id, "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        chat["type"] = "private"
        return chat

    # -------------------------------------------------------------- bot's messages

    @property
    def messages(self) -> list[JSONDict]:
        """Current state (edits applied) of the bot's messages here, oldest first."""
        return [copy.deepcopy(self._messages[i]) for i in self._bot_ids if i not in self._deleted]

    @property
    def last(self) -> JSONDict | None:
        msgs = self.messages
        return msgs[-1] if msgs else None

    def message(self, message_id: int) -> JSONDict:
        """Current state of any message in this chat (KeyError if unknown or deleted)."""
        if message_id in self._deleted or message_id not in self._messages:
            raise KeyError(f"message {message_id} not in chat {self.id}")
        return copy.deepcopy(self._messages[message_id])

    def mark_started(self) -> None:
        """Allow the bot to write here without the user sending anything first."""
        self.started = True

    def block(self) -> None:
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False

    # ----------------------------------------------------------------- user input

    def _new_message(self, **content: Any) -> JSONDict:
        msg = {
            "message_id": next(self._message_ids),
            "from": self.user_dict,
            "chat": self.chat_dict,
            "date": self.server.now(),
            **content,
        }
        self._messages[msg["message_id"]] = msg
        return msg

    def _submit(self, msg: JSONDict) -> JSONDict:
        self.started = True
        self.blocked = False  # writing to a bot implies having it unblocked
        self.sent.append(msg)
        self.server._enqueue({"message": copy.deepcopy(msg)})
        return copy.deepcopy(msg)

    def _reply_part(self, reply_to: int | JSONDict | None) -> JSONDict:
        if reply_to is None:
            return {}
        target = self._resolve_id(reply_to)
        replied = copy.deepcopy(self._messages[target])
        replied.pop("reply_to_message", None)  # Telegram never nests replies
        return {"reply_to_message": replied}

    @staticmethod
    def _text_content(text: str) -> JSONDict:
        content: JSONDict = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0] if text.strip() else text
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": formatting.utf16_len(command)}
            ]
        return content

    async def send(self, text: str, *, reply_to: int | JSONDict | None = None) -> JSONDict:
        """The user sends ``text``; returns the Message dict the bot will receive."""
        msg = self._new_message(**self._reply_part(reply_to), **self._text_content(text))
        return self._submit(msg)

    async def edit(self, message: int | JSONDict, new_text: str) -> JSONDict:
        """The user edits one of their own earlier text messages; the bot receives an
        ``edited_message`` update (same message_id, ``edit_date`` set) unless its
        ``allowed_updates`` excludes it.  Returns the edited Message dict."""
        message_id = self._resolve_id(message)
        msg = self._messages[message_id]
        if msg["from"]["id"] != self.id:
            raise LookupError(f"message {message_id} in chat {self.id} was not sent by the user")
        if "text" not in msg:
            raise ValueError(f"message {message_id} has no text to edit")
        if not new_text.strip():
            raise ValueError("message text is empty")  # Telegram clients refuse this
        if new_text == msg["text"]:
            raise ValueError("MESSAGE_NOT_MODIFIED")  # what Telegram answers the client
        msg.pop("entities", None)
        msg.update(self._text_content(new_text))
        msg["edit_date"] = self.server.now()
        self._versions[message_id] = self._versions.get(message_id, 0) + 1
        self.server._enqueue({"edited_message": copy.deepcopy(msg)})
        return copy.deepcopy(msg)

    async def send_document(
        self,
        data: bytes,
        file_name: str = "file.bin",
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> JSONDict:
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self.server._store_file(data, "document", file_name=file_name, mime_type=mime)
        content: JSONDict = {"document": stored.document()}
        if caption is not None:
            content["caption"] = caption
        return self._submit(self._new_message(**content))

    async def send_photo(self, data: bytes, caption: str | None = None) -> JSONDict:
        stored = self.server._store_file(data, "photo")
        content: JSONDict = {"photo": stored.photo_sizes()}
        if caption is not None:
            content["caption"] = caption
        return self._submit(self._new_message(**content))

    def _resolve_id(self, message: int | JSONDict) -> int:
        message_id = message["message_id"] if isinstance(message, dict) else int(message)
        if message_id not in self._messages or message_id in self._deleted:
            raise LookupError(f"message {message_id} does not exist in chat {self.id}")
        return message_id

    @staticmethod
    def _buttons(msg: JSONDict) -> list[JSONDict]:
        markup = msg.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    async def press(self, message: int | JSONDict | None, label: str) -> str:
        """Press the inline button whose text equals (preferred) or contains ``label``.

        ``message`` is a message dict or id (its *current* keyboard is used), or ``None``
        for the newest bot message that has such a button.  Returns the callback query id.
        """
        if message is None:
            candidates = [
                m
                for m in reversed(self.messages)
                if any(label in b.get("text", "") for b in self._buttons(m))
            ]
            if not candidates:
                raise LookupError(f"no bot message in chat {self.id} has a button {label!r}")
            message = candidates[0]
        message_id = self._resolve_id(message)
        button = self._match(self._messages[message_id], label)
        if "callback_data" not in button:
            raise LookupError(f"button {button['text']!r} has no callback_data: {button}")
        return await self.press_data(message_id, button["callback_data"])

    def _match(self, msg: JSONDict, label: str) -> JSONDict:
        buttons = self._buttons(msg)
        exact = [b for b in buttons if b.get("text") == label]
        # An exact match wins so "Setuju" doesn't clash with "Tidak Setuju".
        found = exact or [b for b in buttons if label in b.get("text", "")]
        if len(found) == 1 or exact:
            return found[0]
        texts = [b.get("text") for b in buttons]
        what = "several buttons contain" if found else "no button contains"
        raise LookupError(f"{what} {label!r} in message {msg['message_id']}; buttons: {texts}")

    async def press_data(self, message: int | JSONDict, data: str) -> str:
        """Send a callback_query with arbitrary ``data`` (e.g. forged) for ``message``."""
        message_id = self._resolve_id(message)
        query_id = f"{self.id}{next(self._callback_ids):06d}"
        query = {
            "id": query_id,
            "from": self.user_dict,
            "message": copy.deepcopy(self._messages[message_id]),
            "chat_instance": self.chat_instance,
            "data": data,
        }
        self.server._callbacks[query_id] = {"answered": False, "query": query}
        self.server._enqueue({"callback_query": query})
        return query_id

    # ---------------------------------------------------------------------- waits

    async def wait_for(
        self, predicate: Callable[[JSONDict], bool], timeout: float = 10
    ) -> JSONDict:
        """Newest bot message (current state) satisfying ``predicate``, waiting if needed."""

        def check() -> JSONDict | None:
            return next((m for m in reversed(self.messages) if predicate(m)), None)

        return await self.server._wait(check, timeout, self._describe)

    async def wait_for_text(self, substring: str, timeout: float = 10) -> JSONDict:
        """Oldest bot message whose text/caption contains ``substring`` in a state not yet
        returned by this method, so successive calls advance (an edit is a new state)."""

        def check() -> JSONDict | None:
            for msg in self.messages:
                state = (msg["message_id"], self._versions.get(msg["message_id"], 0))
                body = msg.get("text") or msg.get("caption") or ""
                if substring in body and state not in self._returned_states:
                    self._returned_states.add(state)
                    return msg
            return None

        return await self.server._wait(
            check, timeout, lambda: f"text {substring!r}; " + self._describe()
        )

    def _describe(self) -> str:
        lines = [
            f"#{m['message_id']}: {(m.get('text') or m.get('caption') or '<media>')[:120]!r}"
            for m in self.messages[-10:]
        ]
        return f"bot messages in chat {self.id} (last 10): " + ("; ".join(lines) or "none")


class FakeBotApi:
    """Fake Telegram Bot API server.  See the module docstring and README-style summary
    in ``tests/fakebotapi/__init__.py``."""

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        username: str = "fake_sop_bot",
        first_name: str = "SOP Bot",
        host: str = "127.0.0.1",
        port: int = 0,
        now: Callable[[], int] = _now,
        control_http: bool = False,
        flood_limits: bool = False,
        flood_clock: Callable[[], float] = time.monotonic,
    ):
        if not _TOKEN_RE.match(token):
            raise ValueError(f"token {token!r} is not of the form '<digits>:<secret>'")
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user: JSONDict = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.host = host
        self.port = port
        self.now = now
        self.control_http = control_http

        self.calls: list[tuple[str, JSONDict]] = []
        self.answers: list[JSONDict] = []
        self.internal_errors: list[str] = []  # bugs in the fake itself; should stay empty
        self.webhook_url = ""
        self.allowed_updates: list[str] | None = None
        # Telegram-like flood limits on chat-posting methods (see _flood_check); off by
        # default, may be toggled at any time.  ``now`` ticks in whole seconds, so the
        # limiter has its own float clock.
        self.flood_limits = flood_limits
        self.flood_clock = flood_clock
        self.flood_429s = 0  # calls answered 429 by the flood limiter (not by rate_limit())

        self._users: dict[int, FakeUser] = {}
        self._queue: list[_QueuedUpdate] = []
        self._history: dict[int, JSONDict] = {}  # every update ever enqueued, for redeliver
        self._next_update_id = 100_000_001
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._file_seq = itertools.count(1)
        self._callbacks: dict[str, JSONDict] = {}
        self._channel_message_ids: dict[int, itertools.count] = {}
        self._flood_bot: deque[float] = deque()  # times of recent limited calls
        self._flood_chats: dict[str, tuple[float, float]] = {}  # chat -> (tokens, at)
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._faults: list[Fault] = []
        self._random: _RandomFaults | None = None
        self.random_faults: Counter[str] = Counter()  # kind -> calls fail_randomly() hit
        # (method, kind, stall seconds, params) of each of those calls, in order
        self.random_fault_log: list[tuple[str, str, float, JSONDict]] = []
        self._poll_generation = 0
        self._polls: dict[int, web.Request] = {}  # getUpdates requests currently waiting
        self._changed: asyncio.Event | None = None
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, tuple[str, Handler]] = {}
        self._register_methods()

    # ============================================================= lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def file_base_url(self) -> str:
        return f"{self.url}/file/bot"

    async def start(self) -> FakeBotApi:
        app = web.Application(client_max_size=_MAX_UPLOAD + 1024 * 1024)
        if self.control_http:
            from .control import add_control_routes

            add_control_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # Handlers blocked in long polls/stalls wake on stop(), so cleanup is quick.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._closing = False
        log.info("fake Bot API listening on %s", self.url)
        return self

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ========================================================== control API

    def user(
        self,
        user_id: int,
        first_name: str = "User",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> FakeUser:
        """Get or create a user.  Creating does not start the chat (the bot can't write
        until the user sends something or :meth:`FakeUser.mark_started` is called)."""
        if user_id not in self._users:
            self._users[user_id] = FakeUser(
                self, user_id, first_name, last_name, username, language_code
            )
        return self._users[user_id]

    @property
    def users(self) -> list[FakeUser]:
        return list(self._users.values())

    def delivered(self, chat_id: int) -> list[JSONDict]:
        """Every message the bot successfully sent to ``chat_id``, in order, current state
        (edits applied), including ones deleted later."""
        chat = self._users.get(chat_id)
        if chat is None:
            return []
        return [copy.deepcopy(chat._messages[i]) for i in chat._bot_ids]

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id].data

    def calls_of(self, method: str) -> list[JSONDict]:
        """Params of every call to ``method`` (case-insensitive), including faulted ones."""
        return [p for m, p in self.calls if m.lower() == method.lower()]

    def my_commands(self, scope: JSONDict | None = None, language_code: str = "") -> list:
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by the bot (via a later getUpdates offset)."""
        return [copy.deepcopy(q.update) for q in self._queue]

    def forward_update(self, update: JSONDict) -> int:
        """Enqueue a raw update; assigns ``update_id`` if missing.  An explicit id that was
        already issued is delivered again even if the bot confirmed it (duplicate test)."""
        update = copy.deepcopy(update)
        if "update_id" not in update:
            return self._enqueue(update)
        update_id = update["update_id"]
        forced = update_id < self._next_update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self._history.setdefault(update_id, update)
        self._queue.append(_QueuedUpdate(update, forced=forced))
        self._notify()
        return update_id

    def channel_post(
        self, chat_id: int, text: str, *, title: str = "Channel", username: str | None = None
    ) -> JSONDict:
        """A new post in channel ``chat_id`` (where the bot is an admin); enqueues a
        ``channel_post`` update unless ``allowed_updates`` excludes it.  Returns the
        Message dict the bot will receive."""
        if chat_id > -1_000_000_000_000:
            raise ValueError(f"channel ids look like -100xxxxxxxxxx, got {chat_id}")
        if not text.strip():
            raise ValueError("message text is empty")
        chat: JSONDict = {"id": chat_id, "title": title}
        if username:
            chat["username"] = username
        chat["type"] = "channel"
        ids = self._channel_message_ids.setdefault(chat_id, itertools.count(1))
        msg = {
            "message_id": next(ids),
            "sender_chat": dict(chat),
            "chat": chat,
            "date": self.now(),
            **FakeUser._text_content(text),
        }
        self._enqueue({"channel_post": copy.deepcopy(msg)})
        return msg

    @property
    def last_update_id(self) -> int:
        """The update_id most recently issued (to redeliver the update just sent)."""
        return self._next_update_id - 1

    def redeliver(self, update_id: int) -> None:
        """Deliver an already-issued update again, with the same update_id."""
        update = copy.deepcopy(self._history[update_id])
        self._queue.append(_QueuedUpdate(update, forced=True))
        self._notify()

    def fail(
        self, method: str, status: int = 500, times: int = 1, description: str | None = None
    ) -> Fault:
        """Next ``times`` calls of ``method`` ("*" = any but getUpdates) answer ``status``."""
        return self._add_fault(
            Fault(
                "fail",
                self._fault_method(method),
                times,
                status=status,
                description=description or _DEFAULT_DESCRIPTIONS.get(status, "Error"),
            )
        )

    def rate_limit(self, method: str, retry_after: int = 2, times: int = 1) -> Fault:
        return self._add_fault(
            Fault(
                "rate_limit", self._fault_method(method), times, status=429, retry_after=retry_after
            )
        )

    def stall(
        self, method: str, seconds: float = 10, times: int = 1, deliver: bool = False
    ) -> Fault:
        """Delay the answer by ``seconds``.  The call takes effect only if the client is
        still connected afterwards, or always with ``deliver=True`` (the "Telegram did it
        but the reply got lost" case, which is what produces duplicates)."""
        return self._add_fault(
            Fault("stall", self._fault_method(method), times, seconds=seconds, deliver=deliver)
        )

    def fail_randomly(
        self,
        rate: float,
        seed: int | str | None = None,
        methods: Iterable[str] | None = None,
        kinds: Iterable[str] = RANDOM_FAULT_KINDS,
        stall_seconds: tuple[float, float] = (0.5, 3.0),
        lost_answer_seconds: tuple[float, float] = (6.0, 8.0),
        retry_after: int = 1,
    ) -> None:
        """From now on a fraction ``rate`` of calls (any method but getUpdates, or only
        ``methods``) meets a fault drawn from ``kinds`` by a ``random.Random(seed)``:

        * ``"500"`` / ``"502"``: that status, no effect;
        * ``"429"``: Too Many Requests with ``retry_after``, no effect;
        * ``"stall"``: answered after a delay drawn from ``stall_seconds``; takes effect
          only if the client is still connected then (like :meth:`stall`);
        * ``"lost_answer"``: takes effect at once, answered after a delay drawn from
          ``lost_answer_seconds`` (pick it longer than the client waits: Telegram did it
          but the answer was lost).

        Faults set with :meth:`fail`, :meth:`rate_limit` and :meth:`stall` are used first.
        :attr:`random_faults` counts the faults by kind, :attr:`random_fault_log` lists
        them with the call's parameters. ``rate=0`` turns this off.
        """
        chosen = tuple(kinds)
        unknown = set(chosen) - set(RANDOM_FAULT_KINDS)
        if unknown or not chosen:
            raise ValueError(f"kinds must be some of {RANDOM_FAULT_KINDS}, not {chosen}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        names = None
        if methods is not None:
            names = frozenset(self._fault_method(m) for m in methods)
            for name in names:
                if name not in self._methods or name == "getupdates":
                    raise ValueError(f"cannot fail {name!r} randomly")
        self._random = (
            _RandomFaults(
                rate,
                random.Random(seed),
                names,
                chosen,
                stall_seconds,
                lost_answer_seconds,
                retry_after,
            )
            if rate > 0
            else None
        )

    def clear_faults(self) -> None:
        """Forget pending faults and stop random ones."""
        self._faults.clear()
        self._random = None

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[JSONDict], bool] | None = None,
        timeout: float = 10,
        start: int = 0,
    ) -> JSONDict:
        """Params of the first call to ``method`` at index >= ``start`` in :attr:`calls`
        (pass ``len(server.calls)`` to wait for a new one)."""

        def check() -> JSONDict | None:
            for name, params in self.calls[start:]:
                if name.lower() == method.lower() and (predicate is None or predicate(params)):
                    return params
            return None

        return await self._wait(
            check, timeout, lambda: f"call {method}; calls: {[m for m, _ in self.calls[-20:]]}"
        )

    async def wait_for_answer(self, callback_query_id: str, timeout: float = 10) -> JSONDict:
        def check() -> JSONDict | None:
            return next(
                (a for a in self.answers if a["callback_query_id"] == callback_query_id), None
            )

        return await self._wait(check, timeout, lambda: f"answer to {callback_query_id}")

    async def wait_until_polling(self, timeout: float = 10) -> None:
        """Wait until the bot has a getUpdates long poll in flight."""

        def check() -> bool | None:
            # A killed bot process leaves a dangling poll behind; only live ones count.
            return True if any(not self._client_gone(r) for r in self._polls.values()) else None

        await self._wait(check, timeout, lambda: "an active getUpdates long poll")

    # ============================================================== internals

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        # Waiters re-check their condition on every change; replacing the event avoids
        # clear() races between several waiters.
        if self._changed is not None:
            self._changed.set()
        self._changed = None

    async def _wait(self, check: Callable[[], Any], timeout: float, describe: Callable[[], str]):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise WaitTimeout(f"timed out after {timeout}s waiting for {describe()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event().wait(), remaining)

    def _enqueue(self, payload: JSONDict) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        update = {"update_id": update_id, **payload}
        self._history[update_id] = update
        self._queue.append(_QueuedUpdate(copy.deepcopy(update)))
        self._notify()
        return update_id

    def _store_file(
        self,
        data: bytes,
        kind: str,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> _StoredFile:
        n = next(self._file_seq)
        prefix = "BQACAgUAAxkBAAI" if kind == "document" else "AgACAgUAAxkBAAI"
        if kind == "photo":
            width, height = _image_size(data)
            path = f"photos/file_{n}.jpg"
        else:
            width = height = 0
            ext = file_name.rsplit(".", 1)[-1] if file_name and "." in file_name else ""
            path = f"documents/file_{n}" + (f".{ext}" if ext else "")
        stored = _StoredFile(
            file_id=f"{prefix}{n:06d}{self.bot_id:x}",
            file_unique_id=f"AgAD{n:06d}",
            kind=kind,
            data=data,
            file_path=path,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[path] = stored
        return stored

    @staticmethod
    def _fault_method(method: str) -> str:
        return method if method == "*" else method.lower()

    def _add_fault(self, fault: Fault) -> Fault:
        if fault.method != "*" and fault.method not in self._methods:
            raise ValueError(f"unknown Bot API method {fault.method!r}")
        self._faults.append(fault)
        return fault

    def _take_fault(self, method: str) -> Fault | None:
        key = method.lower()
        specific = [f for f in self._faults if f.method == key]
        wildcard = [f for f in self._faults if f.method == "*" and key != "getupdates"]
        for fault in specific + wildcard:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            return fault
        return None

    def _random_fault(self, name: str, params: JSONDict) -> Fault | None:
        spec = self._random
        key = name.lower()
        if spec is None or key == "getupdates":
            return None
        if spec.methods is not None and key not in spec.methods:
            return None
        if spec.rng.random() >= spec.rate:
            return None
        kind = spec.rng.choice(spec.kinds)
        fault = Fault("stall", key, 1)
        if kind in ("500", "502"):
            status = int(kind)
            fault = Fault("fail", key, 1, status=status, description=_DEFAULT_DESCRIPTIONS[status])
        elif kind == "429":
            fault = Fault("rate_limit", key, 1, status=429, retry_after=spec.retry_after)
        else:
            low, high = spec.stall_seconds if kind == "stall" else spec.lost_answer_seconds
            fault.seconds = spec.rng.uniform(low, high)
            fault.deliver = kind == "lost_answer"
        self.random_faults[kind] += 1
        self.random_fault_log.append((name, kind, fault.seconds, params))
        return fault

    # ------------------------------------------------------------- HTTP layer

    @staticmethod
    def _reply(body: JSONDict, status: int = 200) -> web.Response:
        return web.json_response(body, status=status)

    def _error(self, err: ApiError) -> web.Response:
        return self._reply(err.body(), err.code)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/file/bot"):
            return self._download(path[len("/file/bot") :])
        m = re.match(r"^/bot([^/]*)/([^/]*)$", path)
        if m is None:
            return self._error(ApiError(404, "Not Found"))
        token, method = m.groups()
        if token != self.token:
            # Telegram: well-formed but wrong token -> 401, malformed -> 404
            code = 401 if _TOKEN_RE.match(token) else 404
            return self._error(ApiError(code, "Unauthorized" if code == 401 else "Not Found"))
        try:
            params = await self._read_params(request)
        except web.HTTPRequestEntityTooLarge:
            return self._error(ApiError(413, "Request Entity Too Large"))
        except ApiError as err:
            return self._error(err)
        entry = self._methods.get(method.lower())
        name = entry[0] if entry else method
        self.calls.append((name, params))
        log.debug("call %s %s", name, params)
        self._notify()
        if entry is None:
            return self._error(ApiError(404, "Not Found"))
        try:
            return await self._run(request, name, entry[1], params)
        except Exception as exc:
            # A bug in the fake must not look like a flaky network to the bot under test.
            log.exception("fake Bot API crashed handling %s", name)
            self.internal_errors.append(f"{name}: {exc!r}")
            return self._error(ApiError(500, "Internal Server Error"))

    async def _run(
        self, request: web.Request, name: str, handler: Handler, params: JSONDict
    ) -> web.Response:
        fault = self._take_fault(name) or self._random_fault(name, params)
        if fault is not None and fault.kind == "fail":
            return self._error(ApiError(fault.status, fault.description or "Error"))
        if fault is not None and fault.kind == "rate_limit":
            err = ApiError(
                429,
                f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after},
            )
            return self._error(err)
        if fault is not None and fault.kind == "stall" and fault.deliver:
            response = await self._call(name, handler, params, request)
            await self._sleep(fault.seconds)
            return response
        if fault is not None and fault.kind == "stall":
            await self._sleep(fault.seconds)
            if self._client_gone(request):
                log.debug("dropping stalled %s: client went away", name)
                return self._error(ApiError(504, "Gateway Timeout"))
        return await self._call(name, handler, params, request)

    async def _call(self, name: str, handler: Handler, params: JSONDict, request: web.Request):
        limited = self.flood_limits and name.lower() in _FLOOD_LIMITED
        try:
            if limited:
                self._flood_check(params)
            if handler == self._get_updates:  # the only handler that needs the request
                result = await self._get_updates(params, request)
            else:
                result = await handler(params)
        except ApiError as err:
            return self._error(err)
        if limited:
            self._flood_take(params)  # only calls that took effect use up the limits
        if isinstance(result, web.Response):
            return result
        return self._reply({"ok": True, "result": result})

    def _flood_state(self, params: JSONDict) -> tuple[float, str, float]:
        now = self.flood_clock()
        while self._flood_bot and self._flood_bot[0] <= now - 1.0:
            self._flood_bot.popleft()
        chat = str(params.get("chat_id"))
        tokens, at = self._flood_chats.get(chat, (float(_FLOOD_CHAT_BURST), now))
        tokens = min(float(_FLOOD_CHAT_BURST), tokens + (now - at) * _FLOOD_CHAT_RATE)
        return now, chat, tokens

    def _flood_check(self, params: JSONDict) -> None:
        """429 if the call would exceed 30/s per bot or the per-chat bucket (burst 3,
        then 1/s); ``retry_after`` is whole seconds (>= 1) until both have a slot."""
        now, _, tokens = self._flood_state(params)
        waits = [0.0]
        if len(self._flood_bot) >= _FLOOD_BOT_PER_SECOND:
            # A slot frees when enough of the window's calls are older than 1 s.
            waits.append(self._flood_bot[-_FLOOD_BOT_PER_SECOND] + 1.0 - now)
        if tokens < 1.0:
            waits.append((1.0 - tokens) / _FLOOD_CHAT_RATE)
        if len(waits) == 1:
            return
        retry_after = max(1, math.ceil(max(waits)))
        self.flood_429s += 1
        raise ApiError(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )

    def _flood_take(self, params: JSONDict) -> None:
        now, chat, tokens = self._flood_state(params)
        self._flood_bot.append(now)
        self._flood_chats[chat] = (tokens - 1.0, now)

    async def _sleep(self, seconds: float) -> None:
        # Sleep, but wake immediately on stop() so shutdown isn't held up.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._closing and loop.time() < deadline:
            try:
                await asyncio.wait_for(self._event().wait(), deadline - loop.time())
            except TimeoutError:
                return

    @staticmethod
    def _client_gone(request: web.Request) -> bool:
        transport = request.transport
        return transport is None or transport.is_closing()

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {}
        from_form: set[str] = set()
        for key, value in request.query.items():
            params[key] = value
            from_form.add(key)
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        params[key] = UploadedFile(
                            key, value.filename, value.content_type, value.file.read()
                        )
                    else:
                        params[key] = value
                        from_form.add(key)
            else:
                raw = await request.read()
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except ValueError as exc:
                        raise ApiError(400, "Bad Request: can't parse JSON object") from exc
                    if not isinstance(body, dict):
                        raise ApiError(400, "Bad Request: JSON object expected")
                    params.update(body)
                    from_form.difference_update(body)
        for key in list(params):
            value = params[key]
            if not isinstance(value, str):
                continue
            if (key in from_form and key not in _TEXT_FIELDS) or key in _JSON_FIELDS:
                params[key] = self._decode_form_value(key, value)
        # Resolve "attach://name" references to the uploaded part of that name.
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                part = params.get(value[len("attach://") :])
                if isinstance(part, UploadedFile):
                    params[key] = part
        return params

    @staticmethod
    def _decode_form_value(key: str, value: str) -> Any:
        try:
            return json.loads(value)
        except ValueError as exc:
            if key == "reply_markup":
                raise ApiError(
                    400, "Bad Request: can't parse reply keyboard markup JSON object"
                ) from exc
            if key in _JSON_FIELDS:
                raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from exc
            return value  # e.g. chat_id="@channel"

    def _download(self, rest: str) -> web.Response:
        token, _, file_path = rest.partition("/")
        stored = self._files_by_path.get(file_path) if token == self.token else None
        if stored is None:
            return self._error(ApiError(404, "Not Found"))
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # ------------------------------------------------------------- helpers

    def _register_methods(self) -> None:
        table: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "getFile": self._get_file,
            "sendChatAction": self._send_chat_action,
            "getChat": self._get_chat,
            "close": self._true,
            "logOut": self._true,
            "setMyDescription": self._true,
            "setMyShortDescription": self._true,
            "setMyName": self._true,
            "setChatMenuButton": self._true,
        }
        self._methods = {name.lower(): (name, handler) for name, handler in table.items()}

    def _chat(self, params: JSONDict, *, sending: bool = True) -> FakeUser:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(chat_id)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id == self.bot_id:
            raise ApiError(403, "Forbidden: bot can't send messages to bots")
        chat = self._users.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if sending and chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if sending and not chat.started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    @staticmethod
    def _format(
        text: Any, parse_mode: str | None, entities: Any, *, caption: bool
    ) -> tuple[str, list[JSONDict]]:
        text = "" if text is None else str(text)
        if parse_mode and not entities:
            try:
                text, entities = formatting.parse(text, parse_mode)
            except formatting.EntityParseError as exc:
                raise ApiError(400, f"Bad Request: {exc}") from None
            except ValueError:
                raise ApiError(400, "Bad Request: unsupported parse_mode") from None
        entities = list(entities or [])
        text, entities = formatting.strip_text(text, entities)
        if caption:
            if formatting.utf16_len(text) > _MAX_CAPTION:
                raise ApiError(400, "Bad Request: message caption is too long")
        else:
            if not text:
                raise ApiError(400, "Bad Request: message text is empty")
            if formatting.utf16_len(text) > _MAX_TEXT:
                raise ApiError(400, "Bad Request: message is too long")
        return text, entities

    @staticmethod
    def _check_markup(markup: Any, *, inline_only: bool = False) -> JSONDict | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            if inline_only:
                raise ApiError(400, "Bad Request: inline keyboard expected")
            if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
                raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
            return markup
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ApiError(400, "Bad Request: can't parse inline keyboard JSON object")
        for button in (b for row in rows for b in row):
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    'Field "text" must be of type String',
                )
            if not _INLINE_BUTTON_ACTIONS & button.keys():
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard",
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not re.match(r"^(https?|tg)://", str(url)):
                raise ApiError(
                    400,
                    f"Bad Request: inline keyboard button URL '{url}' is invalid: Wrong HTTP URL",
                )
        return markup

    def _reply_target(self, chat: FakeUser, params: JSONDict) -> JSONDict:
        reply = params.get("reply_parameters") or {}
        if not isinstance(reply, dict):
            raise ApiError(400, "Bad Request: can't parse reply parameters JSON object")
        target = reply.get("message_id", params.get("reply_to_message_id"))
        if target is None:
            return {}
        original = chat._messages.get(int(target))
        if original is None or int(target) in chat._deleted:
            allow = reply.get(
                "allow_sending_without_reply", params.get("allow_sending_without_reply")
            )
            if allow:
                return {}
            raise ApiError(400, "Bad Request: message to be replied not found")
        replied = copy.deepcopy(original)
        replied.pop("reply_to_message", None)
        return {"reply_to_message": replied}

    def _deliver(self, chat: FakeUser, params: JSONDict, content: JSONDict) -> JSONDict:
        """Create a bot message; every validation must have happened before this."""
        markup = params.get("reply_markup")
        reply_part = self._reply_target(chat, params)
        msg: JSONDict = {
            "message_id": next(chat._message_ids),
            "from": dict(self.bot_user),
            "chat": chat.chat_dict,
            "date": self.now(),
            **reply_part,
            **content,
        }
        if markup and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        elif markup and "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup and markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        chat._messages[msg["message_id"]] = msg
        chat._bot_ids.append(msg["message_id"])
        self._notify()
        return copy.deepcopy(msg)

    def _editable(self, params: JSONDict) -> tuple[FakeUser, JSONDict]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat = self._chat(params, sending=False)
        message_id = self._int(params, "message_id", 0)
        if not message_id:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        msg = chat._messages.get(message_id)
        if msg is None or message_id in chat._deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if msg["from"]["id"] != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, msg

    def _apply_edit(self, chat: FakeUser, msg: JSONDict, changes: JSONDict) -> JSONDict:
        for key, value in changes.items():
            if value in (None, []):
                msg.pop(key, None)
            else:
                msg[key] = value
        msg["edit_date"] = self.now()
        chat._versions[msg["message_id"]] = chat._versions.get(msg["message_id"], 0) + 1
        self._notify()
        return copy.deepcopy(msg)

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    @staticmethod
    def _int(params: JSONDict, key: str, default: int) -> int:
        value = params.get(key)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"Bad Request: wrong parameter {key} in request") from None

    # ======================================================== method handlers

    async def _true(self, params: JSONDict) -> bool:
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _allowed(self, queued: _QueuedUpdate) -> bool:
        if self.allowed_updates:
            return queued.kind in self.allowed_updates
        return queued.kind not in _DEFAULT_EXCLUDED_UPDATES

    async def _get_updates(self, params: JSONDict, request: web.Request) -> Any:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = self._int(params, "offset", 0)
        limit = min(max(self._int(params, "limit", 100), 1), 100)
        timeout = max(self._int(params, "timeout", 0), 0)
        if "allowed_updates" in params:
            # Telegram persists allowed_updates across calls; [] means "default set".
            self.allowed_updates = list(params["allowed_updates"] or []) or None

        # Confirm: updates below the offset are forgotten for good.
        if offset < 0:
            self._queue = self._queue[offset:]
        elif offset:
            self._queue = [
                q for q in self._queue if q.update_id >= offset or (q.forced and not q.returned)
            ]

        # A newer getUpdates terminates an older one still waiting (one poller only).
        self._poll_generation += 1
        generation = self._poll_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._polls[id(request)] = request
        self._notify()
        try:
            while True:
                # Sorted so PTB's next offset (last id + 1) also confirms redeliveries.
                visible = [q for q in self._queue if self._allowed(q)]
                batch = sorted(visible, key=lambda q: q.update_id)[:limit]
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or self._closing:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event().wait(), remaining)
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that "
                        "only one bot instance is running",
                    )
        finally:
            self._polls.pop(id(request), None)
        if self._client_gone(request):
            return []  # nobody to hand them to; keep them queued unmarked
        for q in batch:
            q.returned = True
        return [copy.deepcopy(q.update) for q in batch]

    async def _set_webhook(self, params: JSONDict) -> web.Response:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        self.webhook_url = url
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"] or []) or None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        description = "Webhook was set" if url else "Webhook was deleted"
        return self._reply({"ok": True, "result": True, "description": description})

    async def _delete_webhook(self, params: JSONDict) -> web.Response:
        had = bool(self.webhook_url)
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._queue.clear()
        description = "Webhook was deleted" if had else "Webhook is already deleted"
        return self._reply({"ok": True, "result": True, "description": description})

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook_url and self.allowed_updates:
            info["allowed_updates"] = self.allowed_updates
        return info

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for cmd in commands:
            if not isinstance(cmd, dict) or not _COMMAND_RE.match(str(cmd.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(self, params: JSONDict) -> list:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return copy.deepcopy(self._commands.get(key, []))

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self._commands.pop(
            self._commands_key(params.get("scope"), params.get("language_code")), None
        )
        return True

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat(params)
        text, entities = self._format(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        self._check_markup(params.get("reply_markup"))
        self._reply_target(chat, params)
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        return self._deliver(chat, params, content)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict:
        chat, msg = self._editable(params)
        if "text" not in msg:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities = self._format(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        # Omitting reply_markup removes the keyboard, exactly like Telegram.
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if (text, entities, markup) == (
            msg["text"],
            msg.get("entities", []),
            msg.get("reply_markup"),
        ):
            raise ApiError(400, _NOT_MODIFIED)
        return self._apply_edit(
            chat, msg, {"text": text, "entities": entities, "reply_markup": markup}
        )

    async def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        chat, msg = self._editable(params)
        if "text" in msg:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption, entities = self._format(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if (caption, entities, markup) == (
            msg.get("caption", ""),
            msg.get("caption_entities", []),
            msg.get("reply_markup"),
        ):
            raise ApiError(400, _NOT_MODIFIED)
        return self._apply_edit(
            chat,
            msg,
            {"caption": caption or None, "caption_entities": entities, "reply_markup": markup},
        )

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        chat, msg = self._editable(params)
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if markup == msg.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        return self._apply_edit(chat, msg, {"reply_markup": markup})

    async def _delete_message(self, params: JSONDict) -> bool:
        chat = self._chat(params, sending=False)
        message_id = self._int(params, "message_id", 0)
        if message_id not in chat._messages or message_id in chat._deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        chat._deleted.add(message_id)
        self._notify()
        return True

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        record = self._callbacks.get(query_id)
        if record is None or record["answered"]:
            raise ApiError(400, _QUERY_INVALID)
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        record["answered"] = True
        answer: JSONDict = {
            "callback_query_id": query_id,
            "text": text,
            "show_alert": bool(params.get("show_alert", False)),
        }
        if params.get("url"):
            answer["url"] = params["url"]
        self.answers.append(answer)
        self._notify()
        return True

    def _input_file(self, params: JSONDict, field: str) -> _StoredFile | UploadedFile:
        value = params.get(field)
        if value in (None, ""):
            raise ApiError(400, f"Bad Request: there is no {field} in the request")
        if isinstance(value, UploadedFile):
            if not value.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            return value
        value = str(value)
        if value.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: failed to get HTTP URL content")
        stored = self._files.get(value)
        if stored is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if field == "photo" and stored.kind != "photo":
            raise ApiError(400, "Bad Request: can't use file of type Document as Photo")
        return stored

    def _caption_content(self, params: JSONDict) -> JSONDict:
        caption, entities = self._format(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            caption=True,
        )
        content: JSONDict = {}
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        return content

    async def _send_document(self, params: JSONDict) -> JSONDict:
        chat = self._chat(params)
        source = self._input_file(params, "document")
        caption = self._caption_content(params)
        self._check_markup(params.get("reply_markup"))
        self._reply_target(chat, params)
        if isinstance(source, UploadedFile):
            name = source.filename or "document"
            mime = source.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            source = self._store_file(source.data, "document", file_name=name, mime_type=mime)
        content = {
            "document": source.document()
            if source.kind == "document"
            else self._photo_as_document(source)
        }
        return self._deliver(chat, params, {**content, **caption})

    @staticmethod
    def _photo_as_document(stored: _StoredFile) -> JSONDict:
        return {
            "file_name": stored.file_path.rsplit("/", 1)[-1],
            "mime_type": "image/jpeg",
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        chat = self._chat(params)
        source = self._input_file(params, "photo")
        caption = self._caption_content(params)
        self._check_markup(params.get("reply_markup"))
        self._reply_target(chat, params)
        if isinstance(source, UploadedFile):
            source = self._store_file(source.data, "photo")
        return self._deliver(chat, params, {"photo": source.photo_sizes(), **caption})

    async def _get_file(self, params: JSONDict) -> JSONDict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.data) > _MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def _send_chat_action(self, params: JSONDict) -> bool:
        chat = self._chat(params)
        action = params.get("action")
        if action not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        chat.chat_actions.append(action)
        return True

    async def _get_chat(self, params: JSONDict) -> JSONDict:
        chat = self._chat(params, sending=False)
        if not chat.started:
            raise ApiError(400, "Bad Request: chat not found")
        return {
            **chat.chat_dict,
            "accent_color_id": chat.id % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
