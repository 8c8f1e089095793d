"""Everything people read, in Bahasa Indonesia. Pure functions: data in, text out.

Glossary — one word per thing, everywhere:
* Kepala Dinas (Kadis), Sekretaris, Jafung Perencana (the SOP's own text says "Pejabat
  Fungsional Perencana"; cards say Jafung), Tim Kerja Perencanaan Program (Tim Kerja).
* proses (one run of an SOP, #N), langkah (a step, "Langkah N"), kartu tugas (a task card),
  tenggat (deadline), terlambat (late, in working time), waktu standar (the SOP's Waktu).
* disposisi, arahan (the Kadis's direction), catatan (a note), revisi (sent back with a
  note), paraf (a reviewer's approval), tanda tangan (the Kadis's signature).
* People are addressed as "Bapak/Ibu" (+ jabatan, or the sapaan the admin set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.bounds import fit
from bot.sop.model import Kind, SopDefinition, Step
from bot.texts import standins as standins_copy
from bot.texts.office import *  # noqa: F403 (issue 9 copy; callers read texts.X)
from bot.texts.office import agenda_line
from bot.timefmt import short_time, short_when, when

ROLE_LABELS = {
    "kadis": "Kepala Dinas",
    "sekretaris": "Sekretaris",
    "jafung": "Jafung Perencana",
    "tim_kerja": "Tim Kerja Perencanaan Program",
}

ACCEPTED_HINT = "PDF, DOC/DOCX, XLS/XLSX, ODT/ODS"

STRANGER = (
    "Maaf, akun Telegram Bapak/Ibu belum terdaftar di Bot Disposisi SOP. "
    "Silakan hubungi admin (Tim Kerja Perencanaan Program) untuk mendapatkan tautan undangan."
)
UNKNOWN_BUTTON = (
    "Tombol ini tidak dikenal atau sudah kedaluwarsa. Ketik /tugas untuk melihat tugas Bapak/Ibu."
)
NOT_YOURS = "Maaf, langkah ini bukan tugas Bapak/Ibu."
CLAIMED_BY = "Langkah {no} sedang dikerjakan oleh {names}."
HANDLED_BY = "Maaf, Langkah {no} saat ini ditangani oleh {names}."
UNKNOWN_COMMAND = "Perintah tidak dikenal. Ketik /bantuan untuk melihat perintah yang tersedia."
NO_PROMPT_TEXT = (
    "Pesan ini tidak sedang ditunggu oleh bot. Ketik /tugas untuk melihat tugas Bapak/Ibu "
    "atau /bantuan untuk bantuan."
)
EMPTY_NOTE = "Catatan revisi tidak boleh kosong. Tulis apa yang perlu diperbaiki."
ASK_CATATAN = "Tulis catatan Bapak/Ibu; catatan diteruskan bersama disposisi."
ASK_CATATAN_SETUJU = "Tulis catatan persetujuan Bapak/Ibu; catatan ikut tercatat dan diteruskan."
ASK_REVISI = (
    "✏️ Tulis catatan revisi: apa yang perlu diperbaiki. Bapak/Ibu juga dapat mengirim file "
    "koreksi, dengan catatan sebagai keterangan (caption)."
)
VOICE_WHERE = (
    "Pesan suara diterima sebagai catatan setelah Bapak/Ibu menekan ✏️ Revisi, "
    "📝 Tambah catatan, atau 📝 Terima dengan catatan pada kartu tugas."
)
EMPTY_CATATAN = "Catatan tidak boleh kosong. Silakan tulis catatannya."
ALREADY = (
    "Tombol ini sudah diproses oleh orang lain sesaat yang lalu. "
    "Ketik /tugas untuk melihat tugas Bapak/Ibu."
)
PROCESS_NOT_FOUND = (
    "Proses dengan nomor tersebut tidak ditemukan. Ketik /status untuk melihat proses yang "
    "berjalan, atau /status NOMOR (mis. /status 12)."
)
CATATAN_USAGE = (
    "Tulis nomor prosesnya, mis. /catatan 12. Nomor proses ada pada /status dan pada kartu tugas."
)
PHOTO_NOT_DOCUMENT = "Langkah ini memerlukan dokumen, bukan foto. Kirim sebagai file (📎 → File)."
NOT_UNDERSTOOD = (
    "Maaf, bot hanya memahami perintah, tombol, teks jawaban, dan dokumen "
    f"({ACCEPTED_HINT}). Ketik /bantuan."
)
UNEXPECTED = (
    "Maaf, terjadi gangguan saat memproses pesan Bapak/Ibu; tidak ada yang berubah. "
    "Silakan coba lagi sebentar lagi."
)
CANCELLED = "Dibatalkan. Tidak ada yang diubah."
DISK_ERROR = (
    "Maaf, penyimpanan berkas di server bermasalah; admin sudah diberi tahu. "
    "Tidak ada yang berubah. Silakan kirim ulang nanti."
)
DOWNLOAD_FAILED = (
    "Maaf, file gagal diunduh dari Telegram (jaringan lambat atau terputus). "
    "Tidak ada yang berubah. Silakan kirim ulang sebentar lagi."
)
EMPTY_FILE = "File kosong (0 byte). Periksa file tersebut lalu kirim ulang."
NOTE_PREVIEW = 300  # characters of a note shown on a card; the rest via /catatan


def voice_note(seconds: int) -> str:
    return f"🎤 Pesan suara ({seconds} detik), diteruskan bersama kartu tugas."


def welcome(name: str, role: str) -> str:
    return (
        f"Selamat datang, {name}! Bapak/Ibu terdaftar sebagai {role}. Tugas akan datang di "
        "chat ini. Ketik /bantuan untuk melihat perintah."
    )


def invite_text(role: str, ttl_hours: float, link: str) -> str:
    return (
        f"Tautan undangan untuk {role} (sekali pakai, berlaku {ttl_hours:g} jam):\n{link}\n\n"
        "Kirimkan kepada yang bersangkutan; cukup buka tautan dan tekan Start."
    )


def too_big(size: int, limit_mb: int) -> str:
    return (
        f"Ukuran file {size / 1048576:.1f} MB melebihi batas {limit_mb} MB yang dapat diunduh "
        "bot dari Telegram. Perkecil/kompres file lalu kirim lagi "
        "(admin dapat menaikkan batas dengan server Bot API sendiri)."
    )


def more_notes(process_id: int) -> str:
    return f" (selengkapnya: /catatan {process_id})"


def disk_alert(error: str) -> str:
    return (
        "⚠️ Penyimpanan berkas di server bermasalah; file dari pengguna tidak dapat disimpan.\n"
        f"Rincian: {error}\nMohon periksa ruang disk dan izin folder FILES_DIR."
    )


def send_refused(chat_id: int, error: str) -> str:
    return (
        f"⚠️ Telegram menolak pesan bot ke chat {chat_id}: {error}\n"
        "Ini kesalahan pada bot, bukan pada penerima. Penerima tetap dapat membuka tugasnya "
        "dengan /tugas. Mohon teruskan pesan ini kepada tim IT."
    )


def send_failed(chat_id: int, error: str) -> str:
    return (
        f"⚠️ Bot gagal menyiapkan pesan ke chat {chat_id}: {error}\n"
        "Ini kesalahan pada bot, bukan pada penerima. Pesan lain tetap terkirim, dan penerima "
        "tetap dapat membuka tugasnya dengan /tugas. Mohon teruskan pesan ini kepada tim IT."
    )


COMMANDS = [
    ("tugas", "Tugas saya yang masih terbuka"),
    ("status", "Status proses SOP"),
    ("mulai", "Mulai proses SOP baru (Kadis/admin)"),
    ("batalkan", "Batalkan proses: /batalkan NOMOR (pemulai, Kadis, admin)"),
    ("riwayat", "Riwayat proses (PDF dan grafik): /riwayat NOMOR"),
    ("arsip", "Daftar tanda terima arsip"),
    ("rekap", "Rekap evaluasi SOP (Kadis, Sekretaris, admin)"),
    ("bantuan", "Bantuan dan daftar perintah"),
]
ADMIN_COMMANDS = [
    ("undang", "Buat tautan undangan: /undang PERAN"),
    ("orang", "Daftar orang, peran, dan yang belum bisa dihubungi"),
    standins_copy.COMMAND,
]


def role_name(sop: SopDefinition | None, code: str) -> str:
    if sop is not None:
        for role in sop.roles:
            if role.code == code:
                return role.name
    return ROLE_LABELS.get(code, code)


ROLE_SHORT = {
    "kadis": "Kadis",
    "sekretaris": "Sekretaris",
    "jafung": "Jafung",
    "tim_kerja": "Tim Kerja",
}


def role_short(sop: SopDefinition | None, code: str) -> str:
    return ROLE_SHORT.get(code) or role_name(sop, code)


@dataclass
class TaskView:
    """Everything a task card shows; built by the services from the database."""

    sop: SopDefinition
    process_id: int
    title: str
    step: Step
    deadline: datetime
    tz: str
    arahan: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)  # (who, note) disposisi chain
    revision: tuple[int, str, str] | None = None  # unggah sent back: (round, reviewer, note)
    document: str | None = None  # "Draf LAKIP ke-2 (draft_v2.pdf)"
    paraf: list[tuple[str, datetime]] = field(default_factory=list)  # current version's
    revised_for_me: str | None = None  # review card: the note this version answers
    checklist: dict[str, str] | None = None  # kumpul: bidang -> "ada"/reason; missing absent
    bidang: tuple[str, ...] = ()
    late_by: str | None = None
    nomor_agenda: str | None = None
    sifat: str = "biasa"
    instruksi: list[str] = field(default_factory=list)  # of the disposisi that sent it here
    disposisi_note: str | None = None  # its catatan
    claimed_by: str | None = None  # "🙋 Saya kerjakan" pressed by this person


def task_text(view: TaskView) -> str:
    """The card: one phone screen above its buttons (≤ 8 lines, ≤ 500 characters); the rest
    is behind ℹ️ Rincian (`details_text`)."""
    step, sop = view.step, view.sop
    lines = [
        f"📋 #{view.process_id} {fit(view.title, 60)} · SOP {sop.short}",
        agenda_line(view.nomor_agenda, view.sifat),
        f"Langkah {step.no}: {step.short}",
    ]
    if view.instruksi or view.disposisi_note:
        said = "; ".join(view.instruksi)
        if view.disposisi_note:
            said = f"{said} · «{view.disposisi_note}»" if said else f"«{view.disposisi_note}»"
        more = more_notes(view.process_id) if view.disposisi_note else ""
        lines.append(f"📌 Instruksi: {fit(said, 140, more)}")
    if step.kind is Kind.DISPOSISI and view.arahan:
        lines.append(f"🗒 Arahan: {fit(view.arahan, 110, more_notes(view.process_id))}")
    if view.revision:
        round_, reviewer, note = view.revision
        lines.append(f"✏️ REVISI ke-{round_} dari {reviewer}: {fit(note, 120, '')}")
    if view.document and (step.kind.is_review or step.kind is Kind.TUGAS):
        lines.append(f"📄 {fit(view.document, 80)}")
    if view.paraf:
        chain = " · ".join(f"{who} ✓ {short_time(at, view.tz)}" for who, at in view.paraf)
        lines.append(f"Paraf: {fit(chain, 120, '')}")
    if view.revised_for_me:
        lines.append(f"✏️ Sudah diperbaiki atas catatan: «{fit(view.revised_for_me, 70)}»")
    if step.kind is Kind.KUMPUL:
        got = view.checklist or {}
        lines.append(f"📥 Data masuk: {len(got)} dari {len(view.bidang)} bidang")
    if view.claimed_by:
        lines.append(f"🙋 Dikerjakan oleh {view.claimed_by}")
    late = f" · ⏰ terlambat {view.late_by}" if view.late_by else ""
    lines.append(f"⏱ Tenggat {short_when(view.deadline, view.tz)} ({step.waktu.lower()}){late}")
    if len(lines) < 8:  # one phone screen: the buttons say it too when the card is full
        lines.append(_instruction(step))
    return "\n".join(lines)


def _instruction(step: Step) -> str:
    match step.kind:
        case Kind.DISPOSISI:
            return "➡️ 📨 Teruskan ke semua, atau 🎯 pilih penerima dan instruksi."
        case Kind.TUGAS:
            return "➡️ Tekan ✅ Selesai bila sudah dikerjakan."
        case Kind.UNGGAH:
            return f"➡️ Kirim {step.document_kind} di chat ini ({accepted_label(step)})."
        case Kind.KUMPUL:
            return "➡️ Tandai bidang yang datanya sudah masuk, lalu tekan ✅ Selesai."
        case Kind.TANDA_TANGAN:
            return "➡️ Periksa, lalu 🖋 Tanda tangani (kirim PDF bertanda tangan) atau ✏️ Revisi."
        case _:
            return "➡️ Periksa dokumen di atas, lalu pilih."


def details_text(view: TaskView) -> str:
    """ℹ️ Rincian: the SOP's own words for the step, the arahan and notes, dasar hukum."""
    step, sop = view.step, view.sop
    more = more_notes(view.process_id)
    lines = [
        f"ℹ️ Rincian Langkah {step.no} · #{view.process_id} {view.title}",
        f"SOP {sop.title} ({sop.number})",
        "",
        f"Kegiatan: {step.kegiatan}",
        f"Pelaksana: {role_name(sop, step.role)}",
    ]
    if step.kelengkapan:
        lines.append(f"Kelengkapan: {step.kelengkapan}")
    if step.output:
        lines.append(f"Output: {step.output}")
    lines.append(f"Waktu standar: {step.waktu} · Tenggat: {when(view.deadline, view.tz)}")
    if view.arahan:
        lines += ["", f"🗒 Arahan: {fit(view.arahan, NOTE_PREVIEW, more)}"]
    for who, note in view.notes[-3:]:  # the latest; /catatan has them all
        lines.append(f"💬 Catatan {who}: {fit(note, NOTE_PREVIEW, more)}")
    if view.revision:
        round_, reviewer, note = view.revision
        lines += ["", f"✏️ REVISI ke-{round_} dari {reviewer}:", fit(note, 2 * NOTE_PREVIEW, more)]
    if step.kind is Kind.KUMPUL:
        got = view.checklist or {}
        lines += [""] + [f"{'✅' if b in got else '⬜'} {b}" for b in view.bidang]
    if sop.dasar_hukum:
        lines += ["", "Dasar hukum:"] + [f"• {fit(d, 160)}" for d in sop.dasar_hukum]
    return "\n".join(lines)


def accepted_label(step: Step) -> str:
    return ", ".join(ext.upper() for ext in step.berkas)


OUTCOME_LABELS = {
    ("disposisi", "selesai"): "📨 Diteruskan",
    ("periksa", "disetujui"): "✅ Disetujui",
    ("periksa", "paraf"): "✍️ Diparaf",
    ("tanda_tangan", "ditandatangani"): "🖋 Ditandatangani",
    ("unggah", "diunggah"): "📤 Dokumen diterima",
}


def outcome_label(step: Step, outcome: str, note: str | None = None) -> str:
    if outcome == "revisi":
        return "✏️ Revisi diminta"
    if outcome == "ditandatangani":  # its note is the nomor naskah
        return f"🖋 Ditandatangani, nomor naskah {note}," if note else "🖋 Ditandatangani"
    label = OUTCOME_LABELS.get((step.kind.value, outcome), "✅ Selesai")
    return f"{label} dengan catatan" if note else label


def outcome_text(title: str, step: Step, label: str, who: str, at: datetime, tz: str) -> str:
    """What a card turns into once its step is closed (no buttons)."""
    return (
        f"📋 {fit(title, 60)}\nLangkah {step.no}: {step.short}\n{label} oleh {who}, {when(at, tz)}."
    )


def finished_text(title: str, sop: SopDefinition, at: datetime, tz: str) -> str:
    return (
        f"🎉 Proses selesai: {title}\nSeluruh langkah SOP {sop.short} ({sop.title}) telah "
        f"selesai pada {when(at, tz)}. Terima kasih atas kerja sama Bapak/Ibu."
    )


def greeting(at: datetime, tz: str) -> str:
    hour = at.astimezone(ZoneInfo(tz)).hour
    if hour < 11:
        return "Selamat pagi"
    if hour < 15:
        return "Selamat siang"
    return "Selamat sore" if hour < 18 else "Selamat malam"


def salutation(person: Any, roles: set[str] | frozenset[str] = frozenset()) -> str:
    """How the bot addresses someone: the sapaan the admin set, else 'Bapak/Ibu' + jabatan."""
    if getattr(person, "sapaan", None):
        return str(person.sapaan)
    for code in ("kadis", "sekretaris", "jafung"):
        if code in roles:
            return f"Bapak/Ibu {ROLE_LABELS[code]}"
    return "Bapak/Ibu"


def digest_greeting(at: datetime, tz: str, sapaan: str) -> str:
    day = format_date(at.astimezone(ZoneInfo(tz)).date(), "EEEE, d MMMM y", locale="id")
    return f"☀️ {greeting(at, tz)}, {sapaan}. Ringkasan tugas {day}."


def reminder_line(step: Step, late_by: str, missing: list[str]) -> str:
    """A reminder is one short line that replies to the live card."""
    line = f"⏰ Langkah {step.no} terlambat {late_by}"
    if missing:
        line += " · belum masuk: " + ", ".join(missing)
    return fit(line, 300)


def escalation_text(
    title: str,
    process_id: int,
    step: Step,
    sop: SopDefinition,
    holders: str,
    late: str,
    missing: list[str],
) -> str:
    lines = [
        f"⚠️ Eskalasi: #{process_id} {fit(title, 60)}",
        f"Langkah {step.no}: {step.short} — {role_name(sop, step.role)} ({holders})",
        f"Terlambat {late} (waktu kerja) dari standar {step.waktu.lower()}.",
    ]
    if missing:
        lines.append("Belum masuk: " + ", ".join(missing))
    lines.append("Tekan 🔔 Ingatkan untuk mengirim pengingat sekarang.")
    return "\n".join(lines)
