"""Telegram's limits and what people type: fit every text, clean every name and note.

Telegram counts text length in UTF-16 code units (an emoji is 2): 4,096 for a message, 1,024
for a caption. A text over the limit is a permanent 400, so nothing may ever reach the Bot
API unbounded. Pure functions; no Telegram import.
"""

from __future__ import annotations

import re
import unicodedata

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_BUTTON = 64  # Telegram shows ~30 characters; longer labels are noise, not information
MAX_CALLBACK_BYTES = 64
MAX_FILE_NAME = 100
ELLIPSIS = "…"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit(text: str, limit: int = MAX_TEXT, tail: str = "") -> str:
    """`text` if it fits in `limit` UTF-16 units, else cut (at a word when one is near) + `…`
    + `tail` (e.g. where to read the rest)."""
    if utf16_len(text) <= limit:
        return text
    room = limit - utf16_len(ELLIPSIS + tail)
    cut = _cut_utf16(text, max(room, 0))
    space = cut.rfind(" ", max(0, len(cut) - 40))
    if space > 0:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS + tail


def _cut_utf16(text: str, units: int) -> str:
    """The longest prefix of `text` of at most `units` UTF-16 units (never half a pair)."""
    total = 0
    for i, ch in enumerate(text):
        total += 2 if ord(ch) > 0xFFFF else 1
        if total > units:
            return text[:i]
    return text


def _visible(ch: str) -> bool:
    # Cc: control characters; Cf: format characters (zero-width spaces and joiners, bidi
    # overrides such as U+202E that turn "exe.pdf" around, the BOM).
    return unicodedata.category(ch) not in ("Cc", "Cf")


def clean_note(text: str | None) -> str:
    """A note as stored: invisible characters removed, outer whitespace trimmed; '' means
    the person said nothing (a note of zero-width spaces says nothing)."""
    if not text:
        return ""
    kept = "".join(ch for ch in text if _visible(ch) or ch in "\n\t")
    lines = [line.rstrip() for line in kept.strip().splitlines()]
    return "\n".join(lines).strip()


def one_line(text: str, limit: int) -> str:
    """A label or title on one line: whitespace folded, invisible characters gone, bounded."""
    return fit(_fold(text), limit)


def _fold(text: str) -> str:
    return " ".join("".join(ch if _visible(ch) else " " for ch in text).split())


_UNSAFE_IN_NAME = re.compile(r'[\\/:*?"<>|]+')


def clean_file_name(name: str | None, ext: str, fallback: str) -> str:
    """A file name safe to show and store: no control, bidi or zero-width characters, no
    path separators, at most MAX_FILE_NAME characters, and ending in the real extension."""
    base = _fold(_UNSAFE_IN_NAME.sub("_", name or ""))
    stem, dot, _ = base.rpartition(".")
    if not dot:
        stem = base
    stem = stem.strip(" ._") or fallback
    room = MAX_FILE_NAME - len(ext) - 1
    if len(stem) > room:
        stem = stem[: room - 1].rstrip(" ._") + ELLIPSIS
    return f"{stem}.{ext}" if ext else stem
