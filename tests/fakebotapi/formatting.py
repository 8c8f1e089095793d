"""Parse-mode handling for the fake Bot API.

Telegram does not store markup: it parses ``parse_mode`` text into plain text plus
``MessageEntity`` objects (offsets in UTF-16 code units) and rejects malformed markup
with ``400 Bad Request: can't parse entities: ...``.  Bots commonly break on exactly
that (an unescaped ``.`` in MarkdownV2, a stray ``<`` in HTML), so the fake reproduces
it rather than echoing raw markup back.
"""

from __future__ import annotations

import html
import re
from typing import Any

Entity = dict[str, Any]


class EntityParseError(ValueError):
    """Raised with Telegram's wording (without the ``Bad Request: `` prefix)."""

    def __init__(self, detail: str):
        super().__init__(f"can't parse entities: {detail}")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def parse(text: str, parse_mode: str | None) -> tuple[str, list[Entity]]:
    """Return ``(plain_text, entities)`` for ``text`` sent with ``parse_mode``."""
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return _HtmlParser(text).run()
    if mode == "markdownv2":
        return _MarkdownV2Parser(text).run()
    if mode == "markdown":
        return _parse_legacy_markdown(text)
    raise ValueError("unsupported parse_mode")


def strip_text(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim surrounding whitespace like Telegram does, shifting/clipping entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    result = []
    for ent in entities:
        start = max(ent["offset"] - lead, 0)
        end = min(ent["offset"] + ent["length"] - lead, total)
        if end > start:
            result.append({**ent, "offset": start, "length": end - start})
    return stripped, result


def _sorted(entities: list[Entity]) -> list[Entity]:
    kept = [e for e in entities if e["length"] > 0]
    return sorted(kept, key=lambda e: (e["offset"], -e["length"]))


# --------------------------------------------------------------------------- HTML

_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "span": "spoiler",
    "tg-emoji": "custom_emoji",
}
_ATTR_RE = re.compile(r"""([A-Za-z][\w-]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class _HtmlParser:
    def __init__(self, source: str):
        self.src = source
        self.out: list[str] = []
        self.out_len = 0  # UTF-16 length of the text emitted so far
        self.stack: list[tuple[str, int, Entity]] = []  # (tag, src index, entity)
        self.entities: list[Entity] = []

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.out_len += utf16_len(chunk)

    def run(self) -> tuple[str, list[Entity]]:
        src, i = self.src, 0
        while i < len(src):
            ch = src[i]
            if ch == "<":
                i = self._tag(i)
            elif ch == "&":
                i = self._entity(i)
            else:
                j = i
                while j < len(src) and src[j] not in "<&":
                    j += 1
                self.emit(src[i:j])
                i = j
        if self.stack:
            tag = self.stack[-1][0]
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{tag}"')
        return "".join(self.out), _sorted(self.entities)

    def _entity(self, i: int) -> int:
        m = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);").match(self.src, i)
        if m is None:
            self.emit("&")  # Telegram tolerates a bare ampersand
            return i + 1
        body = m.group(1)
        if body.startswith("#"):
            self.emit(html.unescape(m.group(0)))
        elif body in _NAMED_ENTITIES:
            self.emit(_NAMED_ENTITIES[body])
        else:
            self.emit(m.group(0))
        return m.end()

    def _tag(self, i: int) -> int:
        end = self.src.find(">", i)
        if end == -1:
            offset = _byte_offset(self.src, i)
            raise EntityParseError(f"Can't find end of the tag starting at byte offset {offset}")
        body = self.src[i + 1 : end].strip()
        offset = _byte_offset(self.src, i)
        if body.startswith("/"):
            self._close(body[1:].strip().lower(), offset)
            return end + 1
        m = re.match(r"[A-Za-z][\w-]*", body)
        if m is None:
            raise EntityParseError(f'Unsupported start tag "{body}" at byte offset {offset}')
        tag = m.group(0).lower()
        attrs = {
            a.group(1).lower(): html.unescape((a.group(2) or "").strip("\"'"))
            for a in _ATTR_RE.finditer(body, m.end())
        }
        if tag not in _HTML_SIMPLE or (tag == "span" and attrs.get("class") != "tg-spoiler"):
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {offset}')
        entity: Entity = {"type": _HTML_SIMPLE[tag], "offset": self.out_len, "length": 0}
        if tag == "a":
            entity["url"] = attrs.get("href", "")
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = attrs.get("emoji-id", "")
        elif tag == "blockquote" and "expandable" in attrs:
            entity["type"] = "expandable_blockquote"
        elif tag == "code" and self.stack and self.stack[-1][0] == "pre":
            lang = attrs.get("class", "")
            if lang.startswith("language-"):
                # <pre><code class="language-x"> collapses into one pre entity
                self.stack[-1][2]["language"] = lang[len("language-") :]
        self.stack.append((tag, i, entity))
        return end + 1

    def _close(self, tag: str, offset: int) -> None:
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {offset}")
        open_tag, _, entity = self.stack.pop()
        if open_tag != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {offset}, expected "</{open_tag}>", '
                f'found "</{tag}>"'
            )
        entity["length"] = self.out_len - entity["offset"]
        parent = self.stack[-1][2] if self.stack else None
        if tag == "code" and parent is not None and "language" in parent:
            return  # already represented by the enclosing pre entity
        if entity["type"] == "text_link" and entity["url"].startswith("tg://user?id="):
            user_id = int(entity.pop("url").split("=", 1)[1])
            entity.update(
                type="text_mention", user={"id": user_id, "is_bot": False, "first_name": ""}
            )
        self.entities.append(entity)


# ----------------------------------------------------------------------- MarkdownV2

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


class _MarkdownV2Parser:
    def __init__(self, source: str):
        self.src = source
        self.out: list[str] = []
        self.out_len = 0
        self.stack: list[tuple[str, int, int]] = []  # (type, src index, out offset)
        self.entities: list[Entity] = []

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.out_len += utf16_len(chunk)

    def run(self) -> tuple[str, list[Entity]]:
        src, i = self.src, 0
        quote_start: int | None = None
        while i < len(src):
            ch = src[i]
            at_line_start = i == 0 or src[i - 1] == "\n"
            if at_line_start and ch == ">":
                # consecutive ">" lines form one blockquote entity
                if quote_start is None:
                    quote_start = self.out_len
                i += 1
                continue
            if at_line_start and ch != ">" and quote_start is not None:
                self._add("blockquote", quote_start, self.out_len - 1)  # excl. the "\n"
                quote_start = None
            if ch == "\\":
                if i + 1 < len(src) and 1 <= ord(src[i + 1]) <= 126:
                    self.emit(src[i + 1])
                    i += 2
                    continue
                self.emit(ch)
                i += 1
            elif ch == "`":
                i = self._code(i)
            elif ch == "*":
                self._toggle("bold", i)
                i += 1
            elif ch == "_" and src.startswith("__", i):
                self._toggle("underline", i)
                i += 2
            elif ch == "_":
                self._toggle("italic", i)
                i += 1
            elif ch == "~":
                self._toggle("strikethrough", i)
                i += 1
            elif ch == "|" and src.startswith("||", i):
                self._toggle("spoiler", i)
                i += 2
            elif ch == "[" or (ch == "!" and src.startswith("![", i)):
                self.stack.append(("text_link", i, self.out_len))
                i += 2 if ch == "!" else 1
            elif ch == "]" and self.stack and self.stack[-1][0] == "text_link":
                i = self._link_end(i)
            elif ch in _MDV2_RESERVED:
                raise EntityParseError(
                    f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
                )
            else:
                self.emit(ch)
                i += 1
        if quote_start is not None:
            self._add("blockquote", quote_start, self.out_len)
        if self.stack:
            kind, idx, _ = self.stack[-1]
            raise EntityParseError(
                f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset "
                f"{_byte_offset(src, idx)}"
            )
        return "".join(self.out), _sorted(self.entities)

    def _add(self, kind: str, start: int, end: int, **extra: Any) -> None:
        self.entities.append({"type": kind, "offset": start, "length": end - start, **extra})

    def _toggle(self, kind: str, i: int) -> None:
        for pos in range(len(self.stack) - 1, -1, -1):
            if self.stack[pos][0] == kind:
                _, _, start = self.stack.pop(pos)
                self._add(kind, start, self.out_len)
                return
        self.stack.append((kind, i, self.out_len))

    def _code(self, i: int) -> int:
        src = self.src
        fence = "```" if src.startswith("```", i) else "`"
        j = i + len(fence)
        language = None
        if fence == "```":
            nl = src.find("\n", j)
            first_line = src[j:nl] if nl != -1 else ""
            if nl != -1 and first_line and " " not in first_line:
                language, j = first_line, nl + 1
        start = self.out_len
        while j < len(src):
            if src[j] == "\\" and j + 1 < len(src) and src[j + 1] in "`\\":
                self.emit(src[j + 1])
                j += 2
            elif src.startswith(fence, j):
                extra = {"language": language} if language else {}
                self._add("pre" if fence == "```" else "code", start, self.out_len, **extra)
                return j + len(fence)
            else:
                self.emit(src[j])
                j += 1
        kind = "Pre" if fence == "```" else "Code"
        raise EntityParseError(
            f"Can't find end of {kind} entity at byte offset {_byte_offset(src, i)}"
        )

    def _link_end(self, i: int) -> int:
        src = self.src
        _, _, start = self.stack.pop()
        if not src.startswith("(", i + 1):
            raise EntityParseError(
                "Character ']' is reserved and must be escaped with the preceding '\\'"
            )
        j, url = i + 2, []
        while j < len(src) and src[j] != ")":
            if src[j] == "\\" and j + 1 < len(src):
                j += 1
            url.append(src[j])
            j += 1
        if j >= len(src):
            raise EntityParseError(
                f"Can't find end of a URL at byte offset {_byte_offset(src, i + 1)}"
            )
        target = "".join(url)
        if target.startswith("tg://emoji?id="):
            self._add("custom_emoji", start, self.out_len, custom_emoji_id=target.split("=", 1)[1])
        else:
            self._add("text_link", start, self.out_len, url=target)
        return j + 1


# ------------------------------------------------------------------ legacy Markdown

_LEGACY = {"*": "bold", "_": "italic", "`": "code"}


def _parse_legacy_markdown(src: str) -> tuple[str, list[Entity]]:
    out: list[str] = []
    out_len = 0
    entities: list[Entity] = []
    i = 0

    def fail(at: int) -> EntityParseError:
        return EntityParseError(
            f"Can't find end of the entity starting at byte offset {_byte_offset(src, at)}"
        )

    while i < len(src):
        ch = src[i]
        if ch == "\\" and i + 1 < len(src) and src[i + 1] in "_*`[":
            out.append(src[i + 1])
            out_len += 1
            i += 2
        elif src.startswith("```", i):
            end = src.find("```", i + 3)
            if end == -1:
                raise fail(i)
            body = src[i + 3 : end]
            language = None
            if "\n" in body and " " not in body.split("\n", 1)[0] and body.split("\n", 1)[0]:
                language, body = body.split("\n", 1)
            ent: Entity = {"type": "pre", "offset": out_len, "length": utf16_len(body)}
            if language:
                ent["language"] = language
            entities.append(ent)
            out.append(body)
            out_len += utf16_len(body)
            i = end + 3
        elif ch in _LEGACY:
            # legacy entities cannot nest: everything up to the closing char is literal
            end = src.find(ch, i + 1)
            if end == -1:
                raise fail(i)
            body = src[i + 1 : end]
            entities.append({"type": _LEGACY[ch], "offset": out_len, "length": utf16_len(body)})
            out.append(body)
            out_len += utf16_len(body)
            i = end + 1
        elif ch == "[":
            m = re.compile(r"\[([^\]]*)\]\(([^)]*)\)").match(src, i)
            if m is None:
                raise fail(i)
            body = m.group(1)
            entities.append(
                {
                    "type": "text_link",
                    "offset": out_len,
                    "length": utf16_len(body),
                    "url": m.group(2),
                }
            )
            out.append(body)
            out_len += utf16_len(body)
            i = m.end()
        else:
            out.append(ch)
            out_len += utf16_len(ch)
            i += 1
    return "".join(out), _sorted(entities)
