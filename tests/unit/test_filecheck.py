"""Content sniffing of uploads: real samples built in memory, impostors, damaged files."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.filecheck import check, sniff
from bot.sop.model import DOCUMENT_TYPES, IMAGE_TYPES, KNOWN_TYPES

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32
EXE = b"MZ\x90\x00" + b"\x00" * 512
HTML = b"<!DOCTYPE html><html><head><title>Login</title></head><body>Sesi habis</body></html>"


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


def _ooxml(main: str) -> bytes:
    return _zip(
        {"[Content_Types].xml": b"<Types/>", "_rels/.rels": b"<Relationships/>", main: b"<x/>"}
    )


def _odf(kind: str) -> bytes:
    # ODF wants "mimetype" first and stored; the rest is deflated.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", f"application/vnd.oasis.opendocument.{kind}")
        zf.writestr("content.xml", b"<office:document-content/>", zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _ole(*streams: str) -> bytes:
    """An OLE2 header (512-byte sectors, directory in sector 0) and that directory sector."""
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    header[26:28] = (3).to_bytes(2, "little")  # major version 3
    header[28:30] = b"\xfe\xff"  # byte order
    header[30:32] = (9).to_bytes(2, "little")  # 2**9 = 512-byte sectors
    header[48:52] = (0).to_bytes(4, "little")  # first directory sector
    directory = bytearray(512)
    for i, name in enumerate(("Root Entry", *streams)):
        encoded = (name + "\0").encode("utf-16-le")
        directory[i * 128 : i * 128 + len(encoded)] = encoded
        directory[i * 128 + 64 : i * 128 + 66] = len(encoded).to_bytes(2, "little")
    return bytes(header + directory)


DOCX = _ooxml("word/document.xml")
XLSX = _ooxml("xl/workbook.xml")
ODT = _odf("text")
ODS = _odf("spreadsheet")
DOC = _ole("1Table", "WordDocument")
XLS = _ole("Workbook")

SAMPLES = {
    "pdf": PDF,
    "docx": DOCX,
    "xlsx": XLSX,
    "odt": ODT,
    "ods": ODS,
    "doc": DOC,
    "xls": XLS,
    "jpg": JPEG,
    "png": PNG,
}


@pytest.mark.parametrize("ext", SAMPLES)
def test_real_files_are_recognised(ext: str) -> None:
    assert sniff(SAMPLES[ext]) == ext
    assert check(SAMPLES[ext], ext, KNOWN_TYPES) == (ext, None)


def test_stored_extension_is_the_sniffed_one_not_the_claimed_one() -> None:
    assert check(DOCX, "pdf", DOCUMENT_TYPES) == ("docx", None)
    assert check(JPEG, "jpeg", IMAGE_TYPES) == ("jpg", None)


def test_jpeg_and_jpg_are_the_same_accepted_type() -> None:
    assert check(JPEG, "jpg", ("jpeg",)) == ("jpg", None)


def test_exe_named_pdf_is_refused() -> None:
    ext, refusal = check(EXE, "pdf", ("pdf",))
    assert ext is None
    assert refusal is not None and "tidak dikenali sebagai PDF" in refusal


def test_html_page_named_pdf_is_refused() -> None:
    assert sniff(HTML) is None
    ext, refusal = check(HTML, "pdf", DOCUMENT_TYPES)
    assert ext is None
    assert refusal is not None
    assert "PDF, DOC, DOCX, XLS, XLSX, ODT, ODS" in refusal and "Bapak/Ibu" in refusal


def test_empty_file_is_refused_with_the_zero_byte_message() -> None:
    assert check(b"", "pdf", DOCUMENT_TYPES) == (
        None,
        "File kosong (0 byte). Periksa file tersebut lalu kirim ulang.",
    )


def test_docx_where_only_pdf_is_accepted_names_both() -> None:
    ext, refusal = check(DOCX, "docx", ("pdf",))
    assert ext is None
    assert refusal is not None
    assert refusal.startswith("File ini berisi DOCX, sedangkan langkah ini menerima: PDF.")


def test_png_where_only_documents_are_accepted_is_refused() -> None:
    ext, refusal = check(PNG, "png", DOCUMENT_TYPES)
    assert ext is None
    assert refusal is not None and "berisi PNG" in refusal


def test_image_list_shows_jpg_once() -> None:
    _, refusal = check(PDF, "pdf", IMAGE_TYPES)
    assert refusal is not None and "menerima: JPG, PNG." in refusal


def test_a_random_zip_is_not_docx() -> None:
    plain = _zip({"a.txt": b"halo"})
    assert sniff(plain) is None
    assert check(plain, "docx", DOCUMENT_TYPES)[0] is None


def test_corrupted_zip_does_not_raise() -> None:
    assert sniff(b"PK\x03\x04" + b"\x13\x37" * 300) is None
    assert sniff(DOCX[: len(DOCX) // 2]) is None  # truncated download
    assert check(b"PK\x03\x04garbage", "docx", DOCUMENT_TYPES)[0] is None


def test_zip_appended_to_an_exe_is_not_a_document() -> None:
    # zipfile happily opens an archive glued to any prefix; a real .docx starts with PK.
    assert sniff(EXE + DOCX) is None


def test_ooxml_main_part_found_through_content_types() -> None:
    types = b'<Types><Override ContentType="application/vnd.openxmlformats-officedocument.'
    types += b'wordprocessingml.document.main+xml" PartName="/word/document2.xml"/></Types>'
    assert sniff(_zip({"[Content_Types].xml": types, "word/document2.xml": b"<x/>"})) == "docx"


def test_odf_of_another_kind_is_not_odt() -> None:
    assert sniff(_odf("presentation")) is None


def test_oversized_member_is_not_inflated() -> None:
    bomb = _zip({"mimetype": b"application/vnd.oasis.opendocument.text" + b"\0" * (2 << 20)})
    assert len(bomb) < 10_000
    assert sniff(bomb) is None


def test_pdf_header_after_some_junk_is_accepted_but_not_far_in() -> None:
    assert sniff(b"\r\n" * 100 + PDF) == "pdf"
    assert sniff(b" " * 2000 + PDF) is None


def test_ole2_directory_beats_the_claimed_extension() -> None:
    assert check(XLS, "doc", DOCUMENT_TYPES) == ("xls", None)
    assert check(DOC, "xls", DOCUMENT_TYPES) == ("doc", None)


def test_ole2_without_readable_directory_trusts_claimed_then_scans() -> None:
    bare = _ole()[:512]  # header only: the directory sector is missing
    assert check(bare, "xls", DOCUMENT_TYPES) == ("xls", None)
    assert check(bare, "pdf", DOCUMENT_TYPES) == ("doc", None)  # the default
    later = bare + b"\0" * 4096 + "Workbook\0".encode("utf-16-le")
    assert sniff(later) == "xls"


@settings(max_examples=300)
@given(
    data=st.binary(max_size=4096),
    claimed=st.text(max_size=8),
    accepted=st.lists(st.sampled_from(KNOWN_TYPES), max_size=4).map(tuple),
)
def test_sniff_and_check_never_raise(data: bytes, claimed: str, accepted: tuple) -> None:
    assert sniff(data) in (None, *SAMPLES)
    ext, refusal = check(data, claimed, accepted)
    assert (ext is None) != (refusal is None)


@settings(max_examples=300)
@given(
    sample=st.sampled_from([DOCX, XLSX, ODT, ODS, DOC, XLS]),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
)
def test_damaged_real_files_never_raise(sample: bytes, edits: list[tuple[int, int]]) -> None:
    damaged = bytearray(sample)
    for pos, value in edits:
        damaged[pos % len(damaged)] = value
    assert sniff(bytes(damaged)) in (None, *SAMPLES)
