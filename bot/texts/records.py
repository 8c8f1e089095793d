"""Copy of the records (issue 11): riwayat, lembar disposisi, rekap, arsip, audit verify.
Everything a person reads in those files, captions and answers, in Bahasa Indonesia."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.timefmt import short_when, when

KOP = "PEMERINTAH KOTA SAMARINDA"

OUTCOMES = {
    "selesai": "Selesai",
    "disetujui": "Disetujui",
    "paraf": "Diparaf",
    "diunggah": "Dokumen diunggah",
    "revisi": "Revisi diminta",
    "batal": "Dibatalkan",
}
ACTIONS = {  # audit actions as an auditor reads them
    "mulai": "Proses dimulai",
    "aktif": "Langkah aktif",
    "disposisi": "Disposisi diberikan",
    "selesai": "Langkah selesai",
    "disetujui": "Disetujui",
    "diunggah": "Dokumen diunggah",
    "revisi": "Revisi diminta",
    "paraf": "Diparaf",
    "batal": "Proses dibatalkan",
    "centang": "Data bidang masuk",
    "pengingat": "Pengingat terkirim",
    "eskalasi": "Eskalasi ke atasan",
    "ingatkan": "Diingatkan atasan",
    "proses_selesai": "Proses selesai",
    "riwayat": "Riwayat dicetak",
    "rekap": "Rekap dicetak",
    "arsip": "Arsip dibuat",
}
SIFAT = {"biasa": "Biasa", "segera": "Segera", "sangat_segera": "Sangat Segera"}
STATUS = {"berjalan": "berjalan", "selesai": "selesai", "batal": "dibatalkan"}


def working(minutes: float, day_minutes: float) -> str:
    """Working time as the SOP counts it: '2 hari 1 jam 5 menit' (a hari is one office day
    of working time, not 24 hours)."""
    total = max(round(minutes), 0)
    day = max(round(day_minutes), 1)
    days, rest = divmod(total, day)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} hari"] if days else []
    if hours:
        parts.append(f"{hours} jam")
    if mins:
        parts.append(f"{mins} menit")
    return " ".join(parts) or "0 menit"


def local_day(at: date | datetime, tz: str) -> str:
    """'23 November 2026'."""
    if isinstance(at, datetime):
        at = at.astimezone(ZoneInfo(tz)).date()
    return format_date(at, "d MMMM y", locale="id")


def stamp(at: datetime | None, tz: str) -> str:
    return short_when(at, tz) if at else "-"


def full_stamp(at: datetime | None, tz: str) -> str:
    return when(at, tz) if at else "-"


def outcome(value: str | None) -> str:
    return OUTCOMES.get(value or "", value or "berjalan")


def action(value: str) -> str:
    return ACTIONS.get(value, value)


# --- riwayat ------------------------------------------------------------------------------

RIWAYAT_TITLE = "RIWAYAT PROSES"
RIWAYAT_STEPS = "Langkah dan waktu kerja"
RIWAYAT_STEP_HEAD = (
    "No",
    "Langkah",
    "Pelaksana",
    "Mulai",
    "Selesai",
    "Waktu kerja / standar",
    "Hasil",
)
RIWAYAT_REVISIONS = "Putaran revisi"
RIWAYAT_REVISION_HEAD = ("Ke-", "Dari", "Kembali ke", "Pemeriksa", "Waktu", "Catatan")
RIWAYAT_PARAF = "Paraf dan tanda tangan"
RIWAYAT_DOCS = "Dokumen (setiap versi)"
RIWAYAT_DOC_HEAD = ("Langkah", "Dokumen", "Pengirim", "Waktu", "SHA-256")
RIWAYAT_EVENTS = "Log audit proses"
RIWAYAT_EVENT_HEAD = ("#", "Waktu", "Oleh", "Tindakan", "Langkah", "Keterangan")
RIWAYAT_CHART = "Grafik waktu kerja per langkah"
NONE_YET = "Belum ada."
LATE_MARK = "TERLAMBAT"


def riwayat_subtitle(process_id: int, title: str) -> str:
    return f"#{process_id} {title}"


def riwayat_facts(
    sop_number: str, sop_title: str, starter: str, created: str, finished: str, status: str
) -> list[tuple[str, str]]:
    return [
        ("SOP", f"{sop_title} ({sop_number})"),
        ("Dimulai oleh", starter),
        ("Dimulai", created),
        ("Selesai", finished),
        ("Status", STATUS.get(status, status)),
    ]


def chain_head(head_id: int | None, head_hash: str, printed: str) -> str:
    where = f"baris #{head_id}" if head_id is not None else "belum ada baris"
    return (
        f"Kepala rantai log audit saat dicetak ({printed}): {where}, SHA-256 {head_hash}. "
        "Periksa dengan: python -m bot audit verify --kepala " + head_hash[:16]
    )


def printed_on(at: datetime, tz: str) -> str:
    return f"Dicetak oleh Bot Disposisi SOP pada {when(at, tz)}"


def page_footer(page: int) -> str:
    return f"Halaman {page}/{{nb}}"


CHART_X = "Waktu kerja (jam, skala logaritmik)"
CHART_STANDARD = "Waktu standar SOP"
CHART_LATE = "Melebihi standar"
CHART_ON_TIME = "Sesuai standar"
CHART_OPEN = "Masih berjalan"


def chart_title(process_id: int, title: str) -> str:
    return f"#{process_id} {title}: waktu kerja per langkah"


def riwayat_caption(process_id: int, title: str) -> str:
    return f"📄 Riwayat proses #{process_id} {title} (PDF, untuk dicetak)"


def chart_caption(process_id: int) -> str:
    return (
        f"📊 Waktu kerja tiap langkah proses #{process_id} dibanding waktu standar SOP "
        "(merah: melebihi standar)."
    )


RIWAYAT_USAGE = (
    "Tulis nomor prosesnya, mis. /riwayat 12. Nomor proses ada pada /status dan pada kartu tugas."
)
RIWAYAT_SENT = "📄 Riwayat sedang dikirim."
RIWAYAT_BUTTON = "📄 Riwayat"

# --- lembar disposisi -----------------------------------------------------------------------

LEMBAR_TITLE = "LEMBAR DISPOSISI"
LEMBAR_FIELDS = ("Nomor Agenda", "Tanggal", "SOP", "Perihal", "Nomor Naskah", "Lampiran", "Sifat")
LEMBAR_HEAD = ("Dari", "Kepada", "Instruksi / Catatan", "Waktu")
LEMBAR_PARAF = "Paraf"
LEMBAR_PARAF_HEAD = ("Nama", "Jabatan", "Waktu")
LEMBAR_BLANK = "........................"


def lembar_caption(process_id: int, title: str) -> str:
    return f"📝 Lembar disposisi proses #{process_id} {title} (PDF, untuk dicetak dan diarsipkan)"


# --- rekap ----------------------------------------------------------------------------------

REKAP_ROLES = "Maaf, /rekap hanya untuk Kepala Dinas, Sekretaris, dan admin."
REKAP_USAGE = (
    "Tulis /rekap [SOP] [periode], mis. /rekap, /rekap 370, /rekap 370 2026, /rekap 2026-03, "
    "atau /rekap 2026-01-01..2026-06-30."
)
REKAP_EMPTY = "Tidak ada proses pada periode tersebut."
REKAP_WORKING = "⏳ Rekap sedang disiapkan; berkasnya menyusul dalam beberapa detik."
REKAP_SUMMARY = "Ringkasan per SOP"
REKAP_STEP_HEAD = (
    "Langkah",
    "Pelaksana",
    "Jumlah",
    "Median",
    "Maksimum",
    "Standar",
    "Median (menit)",
    "Maksimum (menit)",
    "Standar (menit)",
    "% tepat waktu",
    "Revisi",
    "Revisi per proses",
)
REKAP_PERSON_HEAD = ("Pelaksana", "Jumlah", "Median (menit)", "Maksimum (menit)", "% tepat waktu")
REKAP_WAIT_HEAD = ("Proses", "Langkah", "Pelaksana", "Waktu kerja", "Standar", "Status")
REKAP_RAW_HEAD = (
    "Proses",
    "SOP",
    "Langkah",
    "Nama langkah",
    "Peran",
    "Putaran",
    "Mulai (WITA)",
    "Selesai (WITA)",
    "Hasil",
    "Pelaksana",
    "Waktu kerja (menit)",
    "Standar (menit)",
    "Terlambat",
)
RAW_SHEET = "Peristiwa"
YES, NO = "ya", "tidak"


def rekap_period(start: date, end: date, tz: str) -> str:
    return f"{local_day(start, tz)} – {local_day(end, tz)}"


def rekap_caption(period: str) -> str:
    return f"📊 Rekap evaluasi SOP {period} (XLSX: satu lembar per SOP dan data mentah)"


def rekap_chart_title(period: str) -> str:
    return f"Median waktu kerja per langkah terhadap standar SOP ({period})"


REKAP_CHART_X = "Median waktu kerja (% dari waktu standar)"


def rekap_chart_caption(period: str) -> str:
    return f"📊 Median waktu kerja tiap langkah dibanding standar, {period} (merah: > 100%)."


def rekap_head(period: str, processes: int, finished: int) -> str:
    return f"📊 Rekap evaluasi SOP, {period}\n{processes} proses ({finished} selesai)."


def rekap_sop_line(
    short: str, title: str, processes: int, on_time: float | None, median_total: str | None
) -> str:
    pct = f"{on_time:.0f}% langkah tepat waktu" if on_time is not None else "belum ada langkah"
    total = f", median waktu kerja proses {median_total}" if median_total else ""
    return f"• SOP {short} {title}: {processes} proses, {pct}{total}."


def rekap_worst_line(step_no: int, label: str, median: str, standard: str, pct: float) -> str:
    return f"  ↳ terlama: L{step_no} {label}, median {median} (standar {standard}, {pct:.0f}%)"


def rekap_wait_line(process_id: int, step_no: int, label: str, who: str, worked: str) -> str:
    return f"• #{process_id} L{step_no} {label} — {who}: {worked}"


REKAP_WAITS = "Penantian terlama:"

# --- arsip ----------------------------------------------------------------------------------

ARSIP_EMPTY = "Belum ada tanda terima yang tercatat."
ARSIP_HEAD = "🗂 Register tanda terima (terbaru dahulu):"
ARSIP_ROLES = "Maaf, /arsip hanya untuk Kepala Dinas, Sekretaris, Tim Kerja, dan admin."
ARSIP_README = (
    "Arsip proses ini dibuat oleh Bot Disposisi SOP saat langkah terakhir diselesaikan.\n"
    "Isi: riwayat_proses.pdf (riwayat dan kepala rantai log audit), riwayat_proses.png "
    "(grafik), lembar_disposisi.pdf, peristiwa.csv (log audit proses), langkah.csv (setiap "
    "langkah dan waktu kerjanya), dan folder dokumen/ (setiap versi setiap dokumen, termasuk "
    "tanda terima).\n"
)


def arsip_line(
    process_id: int, title: str, sop_short: str, label: str, who: str, at: datetime, tz: str
) -> str:
    return f"• #{process_id} {title} (SOP {sop_short}) — {label}, diunggah {who}, {stamp(at, tz)}"


def arsip_caption(process_id: int, title: str, files: int) -> str:
    return (
        f"🗂 Arsip proses #{process_id} {title}: {files} berkas (dokumen setiap versi, "
        "lembar disposisi, riwayat, log). Simpan sesuai pencatatan SOP."
    )


# --- audit verify ---------------------------------------------------------------------------


def verify_ok(rows: int, head_id: int | None, head_hash: str) -> str:
    if head_id is None:
        return "OK: log audit masih kosong."
    return f"OK: {rows} baris log audit utuh. Kepala rantai: baris #{head_id}, {head_hash}"


def verify_broken(message: str, rows_before: int) -> str:
    return f"RUSAK: {message} (rantai utuh sampai baris ke-{rows_before} yang diperiksa)."


def verify_head_missing(prefix: str) -> str:
    return f"RUSAK: kepala rantai {prefix}… tidak ditemukan; baris setelahnya mungkin dihapus."


RECORD_FAILED = (
    "Maaf, berkas rekaman proses gagal dibuat; admin sudah dapat melihatnya di log. "
    "Silakan coba lagi nanti."
)


def help_lines(may_rekap: bool) -> list[str]:
    """The records' lines of /bantuan."""
    lines = [
        "/riwayat NOMOR — riwayat proses sebagai PDF dan grafik waktu kerja",
        "/arsip — register tanda terima",
    ]
    if may_rekap:
        lines.append("/rekap [SOP] [periode] — rekap evaluasi SOP (XLSX dan grafik)")
    return lines


def too_big_to_send(name: str, size: int, path: str) -> str:
    return (
        f"🗂 {name} ({size / 1048576:.0f} MB) melebihi batas unggah Telegram untuk bot. "
        f"Berkas tersimpan di server ({path}); mohon minta admin menyalinnya."
    )
