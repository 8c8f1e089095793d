"""What an uploaded file really is, judged by its bytes alone.

A file's name and the mime type Telegram reports are whatever the sender's phone made up:
an HTML login page saved as "surat.pdf" or an installer renamed ".doc" must not close an
unggah step. Pure and stdlib-only so it can be tested without Telegram or a database.
"""

from __future__ import annotations

import io
import zipfile

from bot import texts

# How each type code is shown to the user (jpeg and jpg are one format).
ACCEPTED_NAMES = {
    "pdf": "PDF",
    "doc": "DOC",
    "docx": "DOCX",
    "xls": "XLS",
    "xlsx": "XLSX",
    "odt": "ODT",
    "ods": "ODS",
    "jpg": "JPG",
    "jpeg": "JPG",
    "png": "PNG",
}

_PDF = b"%PDF-"
_PDF_JUNK = 1024  # Acrobat and pdf.js accept a header anywhere in the first KiB
_ZIP = b"PK\x03\x04"  # a real document starts with its first member, not an .exe stub
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_MEMBER_CAP = 1 << 20  # never inflate more than this from one member (zip bombs)
_OLE_SCAN = 64 * 1024
_ODF = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
}
# [Content_Types].xml names the main part even when a producer calls it something else.
_OOXML_MAIN = {
    b"wordprocessingml.document.main+xml": "docx",
    b"spreadsheetml.sheet.main+xml": "xlsx",
}


def _read_capped(zf: zipfile.ZipFile, name: str) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > _MEMBER_CAP:  # declared size; the capped read guards against lies
        return b""
    with zf.open(info) as member:
        return member.read(_MEMBER_CAP)


def _sniff_zip(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())  # central directory only; nothing is inflated
            if "mimetype" in names:
                return _ODF.get(_read_capped(zf, "mimetype"))
            if "[Content_Types].xml" not in names:
                return None
            if "word/document.xml" in names:
                return "docx"
            if "xl/workbook.xml" in names:
                return "xlsx"
            types = _read_capped(zf, "[Content_Types].xml")
            return next((ext for key, ext in _OOXML_MAIN.items() if key in types), None)
    except Exception:
        # A damaged archive raises a zoo of errors (BadZipFile, zlib.error, EOFError,
        # NotImplementedError, RuntimeError for encryption...): all mean "not a document".
        return None


def _ole_directory(data: bytes) -> set[str]:
    """Stream names in the first directory sector of an OLE2 file. Word and Excel write
    their main stream among the first entries, so this is exact where it finds one."""
    shift = int.from_bytes(data[30:32], "little")
    if shift not in (9, 12):  # 512- or 4096-byte sectors; anything else is damaged
        return set()
    size = 1 << shift
    start = (int.from_bytes(data[48:52], "little") + 1) * size  # the header is sector -1
    sector = data[start : start + size]
    names = set()
    for off in range(0, len(sector) - 127, 128):
        length = int.from_bytes(sector[off + 64 : off + 66], "little")  # bytes, with NUL
        if 2 <= length <= 64:
            names.add(sector[off : off + length - 2].decode("utf-16-le", "replace"))
    return names


def _sniff_ole(data: bytes, claimed: str) -> str:
    names = _ole_directory(data)
    if "WordDocument" in names:
        return "doc"
    if names & {"Workbook", "Book"}:
        return "xls"
    if claimed in ("doc", "xls"):  # the container alone cannot tell them apart
        return claimed
    # Last resort: directory entries are NUL-terminated UTF-16LE names.
    head = data[:_OLE_SCAN]
    if "WordDocument\0".encode("utf-16-le") in head:
        return "doc"
    if "Workbook\0".encode("utf-16-le") in head or "Book\0".encode("utf-16-le") in head:
        return "xls"
    return "doc"


def _sniff(data: bytes, claimed: str) -> str | None:
    if data.startswith(_PDF):
        return "pdf"
    if data.startswith(_PNG):
        return "png"
    if data.startswith(_JPEG):
        return "jpg"
    if data.startswith(_OLE2):
        return _sniff_ole(data, claimed)
    if data.startswith(_ZIP):
        return _sniff_zip(data)
    if _PDF in data[: _PDF_JUNK + len(_PDF)]:
        return "pdf"
    return None


def sniff(data: bytes) -> str | None:
    """The real type code of `data`: 'pdf', 'docx', 'xlsx', 'odt', 'ods', 'doc', 'xls',
    'jpg', 'png', or None."""
    return _sniff(data, "")


def _names(types: tuple[str, ...]) -> str:
    shown = dict.fromkeys(ACCEPTED_NAMES.get(t, t.upper()) for t in types)  # keeps order
    return ", ".join(shown)


def check(
    data: bytes, claimed_ext: str, accepted: tuple[str, ...]
) -> tuple[str | None, str | None]:
    """(extension to store the file under, refusal message in Bahasa Indonesia or None)."""
    accepted = tuple(a.lower().lstrip(".") for a in accepted)
    if not data:
        return None, texts.EMPTY_FILE
    real = _sniff(data, claimed_ext.lower().lstrip("."))
    if real is None:
        names = _names(accepted)
        return None, (
            f"Isi file tidak dikenali sebagai {names} — mungkin file rusak atau bukan "
            f"dokumen yang diminta. Mohon Bapak/Ibu kirim ulang sebagai: {names}."
        )
    allowed = {"jpg" if a == "jpeg" else a for a in accepted}
    if real not in allowed:
        return None, (
            f"File ini berisi {ACCEPTED_NAMES[real]}, sedangkan langkah ini menerima: "
            f"{_names(accepted)}. Mohon Bapak/Ibu kirim ulang dengan format yang sesuai."
        )
    return real, None
