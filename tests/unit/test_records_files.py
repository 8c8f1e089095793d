"""The files the records make, opened the way a reader would: PDF text parsed back, the PNG
decoded, the ZIP listed."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta

from PIL import Image
from pypdf import PdfReader

from bot.records import archive, charts, pdf
from bot.records.model import (
    DisposisiEntry,
    DocumentRow,
    EventRow,
    LembarDisposisi,
    ProcessHistory,
    RevisionRow,
    StepRow,
)
from bot.services.record_files import render_riwayat, timeline_bars

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09.00 WITA
TZ = "Asia/Makassar"
HEAD = "ab12" * 16


def step(no: int, label: str, kind: str, hours: float, worked: float, standard: float, **kw):  # type: ignore[no-untyped-def]
    fields = {
        "process_id": 7,
        "sop_number": "000.8.3.3/370/100.14",
        "step_no": no,
        "label": label,
        "role": "Kepala Dinas",
        "kind": kind,
        "round": 0,
        "started_at": T0,
        "finished_at": T0 + timedelta(hours=hours),
        "outcome": "disetujui",
        "actor": "Pak Kadis",
        "note": None,
        "worked_minutes": worked,
        "standard_minutes": standard,
        "waktu": "2 Hari",
    } | kw
    return StepRow(**fields)


def history() -> ProcessHistory:
    steps = [
        step(1, "Disposisi penyusunan LAKIP", "disposisi", 0.05, 3, 5, outcome="selesai"),
        step(
            8,
            "Pemeriksaan dan tanda tangan Kadis",
            "tanda_tangan",
            30,
            1530,
            1020,
            outcome="revisi",
            note="Capaian sasaran strategis 2 belum dianalisis.",
        ),
        step(8, "Pemeriksaan dan tanda tangan Kadis", "tanda_tangan", 2, 120, 1020, round=1),
        step(
            9, "Surat pengantar", "unggah", 1, 60, 510, finished_at=None, outcome=None, actor=None
        ),
    ]
    return ProcessHistory(
        process_id=7,
        title="LAKIP Tahun 2026",
        sop_number="000.8.3.3/370/100.14",
        sop_title="Penyusunan LAKIP",
        status="berjalan",
        starter="Pak Kadis",
        created_at=T0,
        finished_at=None,
        arahan="Mohon segera disusun.",
        steps=steps,
        revisions=[
            RevisionRow(1, 8, 5, "Pak Kadis", "Capaian sasaran strategis 2 belum dianalisis.", T0)
        ],
        documents=[
            DocumentRow(
                5,
                "Draf LAKIP ke-2 (draft_lakip_v2.pdf)",
                "draft_lakip_v2.pdf",
                2,
                "draft",
                "Ani Tim Kerja",
                T0,
                "cd34" * 16,
                9,
                "",
            ),
        ],
        events=[EventRow(41, T0, "Pak Kadis", "revisi", 8, "Capaian sasaran")],
        chain_head=(99, HEAD),
        printed_at=T0 + timedelta(days=2),
        tz=TZ,
        day_minutes=510,
    )


def pdf_text(data: bytes) -> str:
    """The pages' text with line breaks inside table cells undone."""
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def test_riwayat_pdf_reads_back_with_steps_times_revisions_paraf_and_chain_head() -> None:
    data, png = render_riwayat(history())
    text = pdf_text(data)
    assert "RIWAYAT PROSES" in text and "#7 LAKIP Tahun 2026" in text
    assert "Senin, 23 Nov 2026 09.00 WITA" in text  # WITA, Indonesian day names
    assert "3 hari / 2 hari" in text  # 1530 working minutes against 2 Hari
    assert "TERLAMBAT" in text
    assert "Capaian sasaran strategis 2 belum dianalisis." in text  # the revision note
    assert "(revisi ke-1)" in text
    assert "Tanda tangan L8 Pemeriksaan dan tanda tangan Kadis: Pak Kadis" in text  # paraf
    assert "Draf LAKIP ke-2 (draft_lakip_v2.pdf)" in text and "cd34cd34" in text
    assert f"SHA-256 {HEAD}" in text and "baris #99" in text
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_timeline_png_decodes_with_one_bar_per_activation() -> None:
    h = history()
    png = charts.timeline_png("#7", timeline_bars(h))
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    assert image.size == charts.chart_size(len(h.steps)) == (1000, 320)
    # the late round is drawn red, the open step grey: both colours are in the picture
    colours = {c for _, c in image.convert("RGB").getcolors(1_000_000)}
    assert (0xC0, 0x39, 0x2B) in colours and (0x9E, 0x9E, 0x9E) in colours


def test_lembar_disposisi_has_the_form_fields_hops_and_paraf() -> None:
    form = LembarDisposisi(
        process_id=7,
        title="LAKIP Tahun 2026",
        sop_number="000.8.3.3/370/100.14",
        sop_title="Penyusunan LAKIP",
        tanggal=T0,
        entries=[
            DisposisiEntry(
                "Pak Kadis",
                "Kepala Dinas",
                ["Bu Sekretaris"],
                "Sekretaris",
                T0,
                ["Tindak lanjuti", "Koordinasikan"],
                "Segera disusun.",
            ),
            DisposisiEntry(
                "Bu Sekretaris",
                "Sekretaris",
                ["Pak Jafung"],
                "Jafung Perencana",
                T0 + timedelta(minutes=20),
            ),
        ],
        paraf=[("Pak Kadis", "Kepala Dinas", T0), ("Bu Sekretaris", "Sekretaris", T0)],
        tz=TZ,
        nomor_agenda="045/112/2026",
        sifat="segera",
        lampiran="surat_edaran.pdf",
    )
    reader = PdfReader(io.BytesIO(pdf.lembar_pdf(form)))
    assert len(reader.pages) == 1  # one printable page
    text = pdf_text(pdf.lembar_pdf(form))
    assert "LEMBAR DISPOSISI" in text and "045/112/2026" in text
    assert "[X] Segera" in text and "[ ] Biasa" in text
    assert "• Tindak lanjuti" in text and "Segera disusun." in text
    assert "Pak Jafung" in text and "23 Nov 09.20 WITA" in text
    assert "surat_edaran.pdf" in text


def test_archive_zip_lists_every_part_and_the_events_csv() -> None:
    h = history()
    riwayat, png = render_riwayat(h)
    docs = [
        (archive.document_name(5, 1, "Draf LAKIP", "draft v1.docx"), b"v1"),
        (archive.document_name(5, 2, "Draf LAKIP", "draft_lakip_v2.pdf"), b"%PDF v2"),
        (archive.document_name(10, 1, "Tanda Terima", "Tanda Terima 2026-11-25.jpg"), b"\xff"),
    ]
    data = archive.archive_zip(h, docs, riwayat, png, b"%PDF lembar")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert names == [
            "BACA_SAYA.txt",
            "riwayat_proses.pdf",
            "riwayat_proses.png",
            "peristiwa.csv",
            "langkah.csv",
            "lembar_disposisi.pdf",
            "dokumen/L05_v1_Draf_LAKIP_draft_v1.docx",
            "dokumen/L05_v2_Draf_LAKIP_draft_lakip_v2.pdf",
            "dokumen/L10_v1_Tanda_Terima_Tanda_Terima_2026-11-25.jpg",
        ]
        assert zf.read("dokumen/L05_v2_Draf_LAKIP_draft_lakip_v2.pdf") == b"%PDF v2"
        assert zf.read("riwayat_proses.pdf") == riwayat
        events = list(csv.reader(io.StringIO(zf.read("peristiwa.csv").decode("utf-8-sig"))))
        assert events[1] == [
            "41",
            "2026-11-23T09:00:00+08:00",
            "Pak Kadis",
            "Revisi diminta",
            "8",
            "Capaian sasaran",
        ]
        steps = list(csv.reader(io.StringIO(zf.read("langkah.csv").decode("utf-8-sig"))))
        assert len(steps) == 1 + len(h.steps) and steps[2][-1] == "ya"  # the late round


def test_recap_png_has_one_bar_per_step_and_marks_those_over_the_standard() -> None:
    bars = [charts.Bar(f"370 L{n} Langkah {n}", 40.0 * n, None, 40.0 * n > 100) for n in (1, 2, 3)]
    png = charts.recap_png("Rekap 2026", bars)
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.size == charts.chart_size(3) == (1000, 280)
    colours = {c for _, c in image.convert("RGB").getcolors(1_000_000)}
    assert (0xC0, 0x39, 0x2B) in colours and (0x2E, 0x8B, 0x57) in colours  # 120% and 40%
