"""Handlers through the real python-telegram-bot Application, with a recording fake request.

The fake answers like Telegram (so PTB parses real objects) and records every call, so a
test reads what the bot sent. No network, no server: `app.process_update` is the real path.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from bot.app import build_app
from bot.clock import FakeClock
from bot.config import Settings
from bot.runtime import Runtime
from handlers import inbox
from handlers.dispatcher import Dispatcher
from handlers.outbox import deliver
from storage.db import make_engine, make_sessions
from storage.models import Base
from tests.dbs import database_url_for, ensure_database
from tests.samples import sample

BOT_ID = 999000
TOKEN = f"{BOT_ID}:TEST-token"


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class RecordingRequest(BaseRequest):
    calls: list[Call] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    fail_next: list[tuple[str, int, dict]] = field(default_factory=list)
    # Methods whose next call reaches Telegram but whose answer never comes back (TimedOut).
    lost_answers: list[str] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(5000))

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:
            return 200, self.files[url.rsplit("/", 1)[-1]]
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        for key, value in list(params.items()):
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        for i, (fail_method, status, body) in enumerate(self.fail_next):
            if fail_method == name:
                del self.fail_next[i]
                return status, json.dumps(body).encode()
        self.calls.append(Call(name, params))
        result = self._result(name, params)
        if name in self.lost_answers:
            self.lost_answers.remove(name)
            raise TimedOut("the answer was lost on the way back")
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _result(self, name: str, p: dict[str, Any]) -> Any:
        now = int(datetime.now(UTC).timestamp())
        bot_user = {"id": BOT_ID, "is_bot": True, "first_name": "SOP", "username": "sop_bot"}
        if name == "getMe":
            return {
                **bot_user,
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if name in ("sendMessage", "sendDocument", "sendVoice", "editMessageText"):
            chat = int(p.get("chat_id", 0))
            msg = {
                "message_id": int(p.get("message_id") or next(self._ids)),
                "date": now,
                "chat": {"id": chat, "type": "private", "first_name": "X"},
                "from": bot_user,
            }
            if name == "sendVoice":
                msg["voice"] = {
                    "file_id": str(p.get("voice", "v")),
                    "file_unique_id": "v",
                    "duration": 3,
                }
            elif name == "sendDocument":
                msg["document"] = {"file_id": str(p.get("document", "f")), "file_unique_id": "u"}
                if p.get("caption"):
                    msg["caption"] = p["caption"]
            else:
                msg["text"] = p.get("text", "")
            if p.get("reply_markup"):
                msg["reply_markup"] = p["reply_markup"]
            return msg
        if name == "getFile":
            fid = p["file_id"]
            return {
                "file_id": fid,
                "file_unique_id": "u" + fid,
                "file_size": 10,
                "file_path": f"documents/{fid}",
            }
        return True


class Harness:
    """A bot wired to the recording request, a temp SQLite database and a fake clock."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.request = RecordingRequest()
        self.clock = FakeClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))  # Mon 09:00 WITA
        values = {
            "telegram_bot_token": TOKEN,
            "database_url": database_url_for(tmp_path),
            "files_dir": tmp_path / "files",
            "admin_ids": [1],
            "send_pacing": False,  # no flood limits here; tests/handlers/test_pacing.py
            "_env_file": None,
        } | settings
        self.settings = Settings(**values)
        self.engine = make_engine(self.settings.database_url)
        self.rt = Runtime.build(self.settings, make_sessions(self.engine), self.clock)
        self.app = build_app(self.rt, request=self.request)
        self.app.bot_data["kick"] = False  # tests deliver the outbox explicitly
        self.dispatcher = Dispatcher(self.app)
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)

    async def __aenter__(self) -> Harness:
        await ensure_database(self.settings.database_url)
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await self.app.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.shutdown()
        await self.engine.dispose()

    # --- sending updates as a user ---------------------------------------------------------

    def _user(self, uid: int) -> dict[str, Any]:
        return {"id": uid, "is_bot": False, "first_name": f"User{uid}"}

    async def _process(self, data: dict[str, Any]) -> None:
        """The production path: stored in the inbox, then handled from it."""
        data["update_id"] = next(self._update_ids)
        await self.deliver_update(data)

    async def deliver_update(self, data: dict[str, Any]) -> None:
        """Hand one raw update to the bot (again, for a redelivery) and let it finish."""
        await inbox.store(self.rt, [data])
        await self.dispatcher.drain()
        await deliver(self.app)

    def _message(self, uid: int, **fields: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(self.clock.now().timestamp()),
            "chat": {"id": uid, "type": "private", "first_name": f"User{uid}"},
            "from": self._user(uid),
            **fields,
        }

    async def text(self, uid: int, text: str) -> None:
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            fields["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        await self._process({"message": self._message(uid, **fields)})

    async def document(
        self,
        uid: int,
        name: str,
        content: bytes | None = None,
        mime: str | None = None,
        size: int | None = None,
        caption: str | None = None,
    ) -> None:
        file_id = f"file{next(self._message_ids)}"
        if content is None:
            content = sample(name, file_id)
        self.request.files[file_id] = content
        doc = {
            "file_id": file_id,
            "file_unique_id": "u" + file_id,
            "file_name": name,
            "file_size": size if size is not None else len(content),
        }
        if mime:
            doc["mime_type"] = mime
        fields: dict[str, Any] = {"document": doc}
        if caption:
            fields["caption"] = caption
        await self._process({"message": self._message(uid, **fields)})

    async def photo(self, uid: int) -> None:
        file_id = f"photo{next(self._message_ids)}"
        self.request.files[file_id] = b"\xff\xd8\xff\xe0 jpeg"
        size = {
            "file_id": file_id,
            "file_unique_id": "u" + file_id,
            "width": 10,
            "height": 10,
            "file_size": 6,
        }
        await self._process({"message": self._message(uid, photo=[size])})

    async def voice(self, uid: int, content: bytes = b"OggS\x00 opus", seconds: int = 7) -> None:
        file_id = f"voice{next(self._message_ids)}"
        self.request.files[file_id] = content
        voice = {
            "file_id": file_id,
            "file_unique_id": "u" + file_id,
            "duration": seconds,
            "file_size": len(content),
        }
        await self._process({"message": self._message(uid, voice=voice)})

    async def press_data(self, uid: int, data: str, message: dict | None = None) -> None:
        message = message or {
            "message_id": 1,
            "date": 0,
            "chat": {"id": uid, "type": "private", "first_name": "X"},
            "text": "x",
        }
        await self._process(
            {
                "callback_query": {
                    "id": str(next(self._update_ids)),
                    "from": self._user(uid),
                    "chat_instance": "c",
                    "data": data,
                    "message": message,
                }
            }
        )

    def button_data(self, uid: int, label: str) -> str:
        """callback_data of the newest button labelled exactly `label` sent to uid."""
        for call in reversed(self.request.calls):
            if call.method == "sendMessage" and int(call.params.get("chat_id", 0)) == uid:
                markup = call.params.get("reply_markup") or {}
                for row in markup.get("inline_keyboard", []):
                    for button in row:
                        if button["text"] == label:
                            return button["callback_data"]
        raise AssertionError(f"no button {label!r} in messages to {uid}")

    async def press(self, uid: int, label: str) -> Call:
        """Press the newest button whose label contains `label` in a message sent to uid."""
        for call in reversed(self.request.calls):
            if call.method != "sendMessage" or int(call.params.get("chat_id", 0)) != uid:
                continue
            markup = call.params.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if label in button["text"]:
                        message = {
                            "message_id": 1,
                            "date": 0,
                            "text": call.params["text"],
                            "chat": {"id": uid, "type": "private", "first_name": "X"},
                        }
                        await self.press_data(uid, button["callback_data"], message)
                        return call
        raise AssertionError(f"no button {label!r} in messages to {uid}")

    # --- reading what the bot did ------------------------------------------------------------

    def sent(self, uid: int) -> list[str]:
        return [
            c.params.get("text") or c.params.get("caption") or ""
            for c in self.request.calls
            if c.method in ("sendMessage", "sendDocument")
            and int(c.params.get("chat_id", 0)) == uid
        ]

    def last(self, uid: int) -> str:
        texts = self.sent(uid)
        return texts[-1] if texts else ""

    def answers(self) -> list[str]:
        return [
            c.params.get("text", "")
            for c in self.request.calls
            if c.method == "answerCallbackQuery"
        ]

    def edits(self) -> list[str]:
        return [
            c.params.get("text", "") for c in self.request.calls if c.method == "editMessageText"
        ]

    def clear(self) -> None:
        self.request.calls.clear()
