"""What each person sees: one complete LAKIP (SOP 370) run, as a Markdown transcript per role.

    .venv/bin/python -m scripts.transcript [--full] > /tmp/transcripts.md

Plays the whole process through the handler test Harness (the real python-telegram-bot
Application, a recording fake Bot API, a FakeClock and a temporary SQLite database): the
Kadis starts it (SOP button, one-tap title, typed arahan, Surat Edaran file), a reminder to
the late Sekretaris, the Sekretaris and the Jafung forward it, Tim Kerja ticks every bidang
and uploads a draft, the next morning's digest, the Jafung and the Sekretaris approve, the
Kadis asks for a revision, Tim Kerja uploads v2, the Kadis signs, the Jafung uploads the
surat pengantar (the Kadis signs it), Tim Kerja sends a photo of the tanda terima and
closes the archive step.

Then, for each role, prints what that person saw in their chat, in order: messages and
document captions ("📄 ..."), edits ("✏️ (pesan diubah) ..."), buttons ("[✅ Setuju] ..."),
the short notifications after a button press ("💬 ..."), and what the person did ("> ...").
Long texts are collapsed to their first lines (--full prints them whole). A button is
pressed on the message that shows it (its real message_id, so edits land there); an edit
that changes nothing (Telegram refuses it: "message is not modified") is counted, not shown.
The periodic job runs once at Monday 07:31, before the process exists, as the running bot
would (else the 09:20 reminder scan would also send Monday's digest, as a late catch-up).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.services import reminders
from handlers.outbox import deliver
from tests.handlers.harness import Call, Harness
from tests.handlers.test_flow import JAFUNG, KADIS, SEKRETARIS, TIM_A, TIM_B, register
from tests.samples import sample

ROLES = [
    (KADIS, "Kadis", "Pak Kadis"),
    (SEKRETARIS, "Sekretaris", "Bu Sekretaris"),
    (JAFUNG, "Jafung Perencana", "Pak Jafung"),
    (TIM_A, "Tim Kerja", "Ani Tim"),
    (TIM_B, "Tim Kerja (anggota kedua, tidak bertindak)", "Budi Tim"),
]
MAX_LINES = 6
FIRST_MESSAGE_ID = 5000  # the recording fake numbers the messages it sends from here
WITA = ZoneInfo("Asia/Makassar")
DAYS = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]


def wita(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026, given in WITA."""
    return datetime(2026, 11, day, hour, minute, tzinfo=WITA)


@dataclass
class Event:
    """Something not sent by the bot, placed before the call with index `at`."""

    at: int
    uid: int | None  # None: shown to everyone (a clock mark)
    text: str
    end: int = -1  # for an action: the calls it caused are [at, end)


@dataclass
class Shown:
    """A message as it currently looks in a chat."""

    chat: int
    text: str
    markup: dict[str, Any] | None


@dataclass
class Run:
    h: Harness
    events: list[Event] = field(default_factory=list)

    # --- the people's side -------------------------------------------------------------------

    def _start(self, uid: int | None, text: str) -> Event:
        event = Event(len(self.h.request.calls), uid, text)
        self.events.append(event)
        return event

    def _end(self, event: Event) -> None:
        event.end = len(self.h.request.calls)

    def mark(self, at: datetime) -> None:
        """Set the clock and note the time in every transcript."""
        self.h.clock.set(at)
        local = at.astimezone(WITA)
        self._start(None, f"🕘 {DAYS[local.weekday()]}, {local:%d-%m-%Y %H:%M} WITA")

    async def text(self, uid: int, text: str) -> None:
        event = self._start(uid, f"> mengetik: {one_line(text)}")
        await self.h.text(uid, text)
        self._end(event)

    async def document(self, uid: int, name: str, caption: str | None = None) -> None:
        said = f" dengan keterangan «{caption}»" if caption else ""
        event = self._start(uid, f"> mengirim file {name}{said}")
        data = sample(name, f"{name}-{len(self.events)}")
        await self.h.document(uid, name, data, caption=caption)
        self._end(event)

    async def photo(self, uid: int) -> None:
        event = self._start(uid, "> mengirim foto")
        await self.h.photo(uid)
        self._end(event)

    async def press(self, uid: int, label: str) -> None:
        """Press the newest button in uid's chat whose label is `label` (or contains it)."""
        shown = screen(self.h.request.calls)
        for exact in (True, False):
            for message_id in sorted(shown, reverse=True):
                message = shown[message_id]
                if message.chat != uid or not message.markup:
                    continue
                for button in itertools.chain(*message.markup.get("inline_keyboard", [])):
                    text = button["text"]
                    if "callback_data" in button and (text == label if exact else label in text):
                        event = self._start(uid, f"> menekan {text}")
                        await self.h.press_data(
                            uid,
                            button["callback_data"],
                            {
                                "message_id": message_id,
                                "date": 0,
                                "chat": {"id": uid, "type": "private", "first_name": "X"},
                                "text": message.text,
                            },
                        )
                        self._end(event)
                        return
        raise AssertionError(f"no button {label!r} in the chat of {uid}")

    async def scan(self, at: datetime) -> None:
        """The periodic job: reminders, escalations and the digest, then the outbox."""
        self.mark(at)
        await reminders.scan(self.h.rt, at)
        await deliver(self.h.app)

    # --- the bot's side ------------------------------------------------------------------------

    def transcript(self, uid: int, full: bool) -> list[str]:
        calls = self.h.request.calls
        ids = message_ids(calls)
        presses = [
            (e.at, e.end) for e in self.events if e.uid == uid and e.text.startswith("> menekan")
        ]
        events = iter(sorted(self.events, key=lambda e: e.at))
        pending = next(events, None)
        chat: dict[int, Shown] = {}  # this chat's messages as they look now
        out: list[str] = []
        mark: str | None = None  # a clock mark, shown only if something follows it
        unchanged = 0

        def add(*lines: str, gap: bool = True) -> None:
            nonlocal mark
            if mark is not None:
                out.extend(["", mark])
                mark = None
            out.extend(["", *lines] if gap else lines)

        for index, call in enumerate([*calls, None]):
            while pending is not None and pending.at <= index:
                if pending.uid is None:
                    mark = pending.text
                elif pending.uid == uid:
                    add(pending.text)
                pending = next(events, None)
            if call is None:
                break
            p = call.params
            if call.method == "answerCallbackQuery":
                if p.get("text") and any(a <= index < b for a, b in presses):
                    kind = "⚠️ (peringatan)" if p.get("show_alert") else "💬 (notifikasi)"
                    add(f"{kind} {one_line(p['text'], 200)}", gap=False)
                continue
            if chat_of(call) != uid:
                continue
            markup = p.get("reply_markup")
            if call.method == "sendMessage":
                chat[ids[index]] = Shown(uid, p.get("text", ""), markup)
                prefix = "↪️ (membalas pesan) " if p.get("reply_parameters") else ""
                add(*collapse(prefix + p.get("text", ""), full), *buttons(markup))
            elif call.method == "sendDocument":
                caption = p.get("caption") or "(tanpa keterangan)"
                chat[ids[index]] = Shown(uid, caption, markup)
                shown = caption if caption.startswith("📄") else f"📄 {caption}"
                add(*collapse(shown, full))
            elif call.method == "editMessageText":
                message = chat.get(int(p["message_id"]))
                if message is None:
                    add(f"({call.method} pada pesan yang tidak ada di chat ini)")
                    continue
                if message.text == p.get("text", "") and message.markup == markup:
                    unchanged += 1  # Telegram refuses it: "message is not modified"
                    continue
                message.text, message.markup = p.get("text", ""), markup
                add(*collapse(f"✏️ (pesan diubah) {message.text}", full), *buttons(markup))
            elif call.method == "editMessageReplyMarkup":
                message = chat.get(int(p["message_id"]))
                # Only a message of this chat that has buttons (the fake accepts any id).
                if message is not None and buttons(message.markup):
                    message.markup = markup
                    add(f"✏️ (tombol dihapus dari «{first_line(message.text)}»)", gap=False)
            else:
                add(f"({call.method})")
        if unchanged:
            out += ["", f"_({unchanged} suntingan identik yang tidak mengubah apa pun dilewati)_"]
        return out


def message_ids(calls: list[Call]) -> dict[int, int]:
    """Call index -> message_id, for the messages the fake numbered (sends, in order)."""
    counter = itertools.count(FIRST_MESSAGE_ID)
    return {
        i: next(counter)
        for i, call in enumerate(calls)
        if call.method in ("sendMessage", "sendDocument")
    }


def chat_of(call: Call) -> int:
    try:
        return int(call.params.get("chat_id", 0))
    except (TypeError, ValueError):
        return 0


def screen(calls: list[Call]) -> dict[int, Shown]:
    """Every message the bot sent, as it looks after `calls` (edits applied)."""
    shown: dict[int, Shown] = {}
    ids = message_ids(calls)
    for i, call in enumerate(calls):
        p = call.params
        if call.method == "sendMessage":
            shown[ids[i]] = Shown(chat_of(call), p.get("text", ""), p.get("reply_markup"))
        elif call.method == "sendDocument":
            shown[ids[i]] = Shown(chat_of(call), p.get("caption") or "", p.get("reply_markup"))
        elif call.method in ("editMessageText", "editMessageReplyMarkup"):
            message = shown.get(int(p.get("message_id", 0)))
            if message is None or message.chat != chat_of(call):
                continue
            if call.method == "editMessageText":
                message.text = p.get("text", "")
            message.markup = p.get("reply_markup")
    return shown


def buttons(markup: dict[str, Any] | None) -> list[str]:
    rows = (markup or {}).get("inline_keyboard", [])
    return [" ".join(f"[{b['text']}]" for b in row) for row in rows if row]


def first_line(text: str) -> str:
    return one_line(text.strip().splitlines()[0] if text.strip() else "", 60)


def one_line(text: str, width: int = 100) -> str:
    flat = " ⏎ ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def collapse(text: str, full: bool) -> list[str]:
    lines = text.rstrip().splitlines() or [""]
    if full or len(lines) <= MAX_LINES:
        return lines
    hidden = len(lines) - MAX_LINES
    return [*lines[:MAX_LINES], f"… (+{hidden} baris lagi, {len(text)} karakter)"]


async def play(h: Harness) -> Run:
    run = Run(h)
    # Monday: the periodic job already ran this morning (nothing to report yet), so the
    # day's digest is done; then the Kadis starts LAKIP and the Sekretaris is late.
    await run.scan(wita(23, 7, 31))
    run.mark(wita(23, 9))
    await run.text(KADIS, "/mulai")
    await run.press(KADIS, "LAKIP")
    await run.press(KADIS, "Tahun 2026")
    await run.press(KADIS, "Segera")
    await run.text(KADIS, "Segera disusun sesuai Surat Edaran Sekda, paling lambat akhir bulan.")
    await run.document(KADIS, "surat_edaran_lakip.pdf")
    await run.scan(wita(23, 9, 20))  # step 2 (5 Menit) was due 09:05
    run.mark(wita(23, 9, 25))
    await run.press(SEKRETARIS, "Pilih penerima")
    await run.press(SEKRETARIS, "Untuk ditindaklanjuti")
    await run.press(SEKRETARIS, "Kirim disposisi")
    run.mark(wita(23, 9, 40))
    await run.press(JAFUNG, "Teruskan ke semua")
    run.mark(wita(23, 11))
    await run.press(TIM_A, "Saya kerjakan")
    for bidang in h.settings.bidang:
        await run.press(TIM_A, bidang)
    await run.press(TIM_A, "Selesai")
    run.mark(wita(23, 15))
    await run.document(TIM_A, "draft_lakip_v1.pdf")
    # Tuesday: the morning digest, then the reviews and the Kadis's revision.
    await run.scan(wita(24, 7, 35))
    run.mark(wita(24, 9))
    await run.press(JAFUNG, "Setuju")
    run.mark(wita(24, 10))
    await run.press(SEKRETARIS, "Setuju")
    run.mark(wita(24, 11))
    await run.press(KADIS, "Revisi")
    await run.text(KADIS, "Mohon lengkapi tabel capaian kinerja dan analisis efisiensi anggaran.")
    run.mark(wita(24, 14))
    await run.document(TIM_A, "draft_lakip_v2.pdf")
    run.mark(wita(24, 14, 30))
    await run.press(JAFUNG, "Setuju")  # the new version is initialled again
    run.mark(wita(24, 14, 45))
    await run.press(SEKRETARIS, "Setuju")
    run.mark(wita(24, 15))
    await run.press(KADIS, "Tanda tangani")
    await run.document(KADIS, "lakip_2026_ttd.pdf", caption="000.8.3.3/125/100.14")
    # Wednesday: the surat pengantar, the tanda terima and the archive.
    run.mark(wita(25, 9))
    await run.document(JAFUNG, "surat_pengantar_lakip.pdf")
    run.mark(wita(25, 10))  # the Kadis signs the surat pengantar
    await run.press(KADIS, "Tanda tangani")
    await run.document(KADIS, "surat_pengantar_ttd.pdf", caption="000.8.3.3/126/100.14")
    run.mark(wita(25, 11))
    await run.photo(TIM_A)
    await run.press(TIM_A, "Selesai")
    return run


async def main(full: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with Harness(Path(tmp)) as h:
            await register(h)
            run = await play(h)
            print("# Transkrip per peran: satu proses LAKIP (SOP 370)")
            for uid, role, name in ROLES:
                print(f"\n## {role}: {name}")
                lines = run.transcript(uid, full)
                print("\n".join(squeeze(lines)))


def squeeze(lines: list[str]) -> list[str]:
    """No leading, trailing or doubled blank lines."""
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="print long texts whole")
    asyncio.run(main(parser.parse_args().full))
