"""Small real files for tests: the bot checks content, so a "PDF" must start like one."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

_OOXML_MAIN = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml"}
_ODF_MIME = {
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
}


def sample(name: str, tag: str = "") -> bytes:
    """Valid bytes for the type `name` ends with; `tag` makes the content (and sha256) unique."""
    ext = Path(name).suffix.lower().lstrip(".")
    body = (tag or name).encode()
    if ext == "pdf":
        return b"%PDF-1.4\n% " + body + b"\n%%EOF\n"
    if ext in ("jpg", "jpeg"):
        return b"\xff\xd8\xff\xe0" + body
    if ext == "png":
        return b"\x89PNG\r\n\x1a\n" + body
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        if ext in _ODF_MIME:
            zf.writestr("mimetype", _ODF_MIME[ext])
            zf.writestr("content.xml", body)
        else:
            zf.writestr("[Content_Types].xml", "<Types/>")
            zf.writestr(_OOXML_MAIN[ext], body)
    return buf.getvalue()
