"""Everything people read, in Bahasa Indonesia. Pure functions: data in, text out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.bounds import fit
from bot.sop.model import Kind, SopDefinition, Step
from bot.timefmt import when

ROLE_LABELS = {
    "kadis": "Kepala Dinas",
    "sekretaris": "Sekretaris",
    "jafung": "Jafung Perencana",
    "tim_kerja": "Tim Kerja Perencanaan Program",
}

ACCEPTED_HINT = "PDF, DOC/DOCX, XLS/XLSX, ODT/ODS"

STRANGER = (
    "Maaf, akun Telegram Anda belum terdaftar di Bot Disposisi SOP. "
    "Silakan hubungi admin (Tim Kerja Perencanaan Program) untuk mendapatkan tautan undangan."
)
UNKNOWN_BUTTON = (
    "Tombol ini tidak dikenal atau sudah kedaluwarsa. Ketik /tugas untuk melihat tugas Anda."
)
NOT_YOURS = "Maaf, langkah ini bukan tugas Anda."
UNKNOWN_COMMAND = "Perintah tidak dikenal. Ketik /bantuan untuk melihat perintah yang tersedia."
NO_PROMPT_TEXT = (
    "Pesan Anda tidak sedang ditunggu oleh bot. Ketik /tugas untuk melihat tugas Anda "
    "atau /bantuan untuk bantuan."
)
EMPTY_NOTE = "Catatan revisi tidak boleh kosong. Tulis apa yang perlu diperbaiki."
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
EMPTY_FILE = "File kosong (0 byte). Periksa file Anda lalu kirim ulang."
NOTE_PREVIEW = 300  # characters of a note shown on a card; the rest via /catatan


def welcome(name: str, role: str) -> str:
    return (
        f"Selamat datang, {name}! Anda terdaftar sebagai {role}. Tugas Anda akan datang di "
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


COMMANDS = [
    ("tugas", "Tugas saya yang masih terbuka"),
    ("status", "Status proses SOP"),
    ("mulai", "Mulai proses SOP baru (Kadis/admin)"),
    ("bantuan", "Bantuan dan daftar perintah"),
]
ADMIN_COMMANDS = [
    ("undang", "Buat tautan undangan: /undang PERAN"),
    ("orang", "Daftar orang, peran, dan yang belum bisa dihubungi"),
]


def role_name(sop: SopDefinition | None, code: str) -> str:
    if sop is not None:
        for role in sop.roles:
            if role.code == code:
                return role.name
    return ROLE_LABELS.get(code, code)


@dataclass
class TaskView:
    """Everything a task message shows; built by the services from the database."""

    sop: SopDefinition
    process_id: int
    title: str
    step: Step
    deadline: datetime
    tz: str
    arahan: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)  # (who, note) disposisi chain
    revision: tuple[int, str, str] | None = None  # (round, reviewer name, note)
    document_name: str | None = None
    checklist: dict[str, str] | None = None  # kumpul: bidang -> "ada"/reason; missing absent
    bidang: tuple[str, ...] = ()
    late_by: str | None = None


def step_line(step: Step, total: int) -> str:
    return f"Langkah {step.no} dari {total}: {step.kegiatan}"


def task_text(view: TaskView) -> str:
    step, sop = view.step, view.sop
    lines = []
    if view.late_by:
        lines.append(f"⏰ PENGINGAT — terlambat {view.late_by}")
    lines += [
        f"📋 {view.title}",
        f"SOP {sop.title} ({sop.short})",
        "",
        f"Langkah {step.no}: {step.kegiatan}",
        f"👤 Pelaksana: {role_name(sop, step.role)}",
    ]
    if step.kelengkapan:
        lines.append(f"📎 Kelengkapan: {step.kelengkapan}")
    if step.output:
        lines.append(f"📤 Output: {step.output}")
    lines.append(f"⏱ Waktu standar: {step.waktu} · Tenggat: {when(view.deadline, view.tz)}")
    more = more_notes(view.process_id)
    if view.arahan:
        lines += ["", f"🗒 Arahan: {fit(view.arahan, NOTE_PREVIEW, more)}"]
    for who, note in view.notes[-3:]:  # the latest; /catatan has them all
        lines.append(f"💬 Catatan {who}: {fit(note, NOTE_PREVIEW, more)}")
    if view.revision:
        round_, reviewer, note = view.revision
        lines += ["", f"✏️ REVISI ke-{round_} dari {reviewer}:", fit(note, 2 * NOTE_PREVIEW, more)]
    if view.document_name:
        lines.append(f"📄 Dokumen terkini: {view.document_name} (terlampir di atas)")
    lines.append("")
    lines.append(_instruction(step, view))
    return "\n".join(lines)


def _instruction(step: Step, view: TaskView) -> str:
    match step.kind:
        case Kind.DISPOSISI:
            return "Tekan ✅ Selesai untuk meneruskan disposisi, atau tambahkan catatan."
        case Kind.TUGAS:
            return "Tekan ✅ Selesai bila tugas ini sudah dikerjakan."
        case Kind.UNGGAH:
            hint = f" ({step.keterangan})" if step.keterangan else ""
            return (
                f"➡️ Kirim dokumennya di chat ini sebagai file{hint}. "
                f"Format: {accepted_label(step)}."
            )
        case Kind.KUMPUL:
            got = view.checklist or {}
            rows = [f"{'✅' if b in got else '⬜'} {b}" for b in view.bidang]
            return (
                "Tandai bidang yang datanya sudah masuk dengan tombolnya, "
                "lalu tekan ✅ Selesai.\n" + "\n".join(rows)
            )
        case _:
            return "Periksa dokumen terlampir, lalu tekan ✅ Setuju atau ✏️ Revisi."


def accepted_label(step: Step) -> str:
    return ", ".join(ext.upper() for ext in step.berkas)


def outcome_text(title: str, step: Step, label: str, who: str, at: datetime, tz: str) -> str:
    """What a task message turns into once someone acted on it (buttons gone)."""
    return f"📋 {title}\nLangkah {step.no}: {step.kegiatan}\n\n{label} oleh {who}, {when(at, tz)}."


def finished_text(title: str, sop: SopDefinition, at: datetime, tz: str) -> str:
    return (
        f"🎉 Proses selesai: {title}\nSOP {sop.title} ({sop.short}) selesai seluruhnya "
        f"pada {when(at, tz)}. Terima kasih."
    )


def escalation_text(
    title: str, step: Step, sop: SopDefinition, holders: str, late: str, deadline: datetime, tz: str
) -> str:
    return (
        f"⚠️ Eskalasi: {title}\nLangkah {step.no}: {step.kegiatan}\n"
        f"Pelaksana: {role_name(sop, step.role)} ({holders})\n"
        f"Tenggat {when(deadline, tz)} — terlambat {late}. Mohon ditindaklanjuti."
    )
