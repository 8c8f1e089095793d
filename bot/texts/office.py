"""Copy of the office's own practice (issue 9): disposisi form, sifat and nomor agenda,
claims, signing, cancelling and moving a step. Re-exported by `bot.texts`."""

from __future__ import annotations

from datetime import datetime

from bot.bounds import fit
from bot.timefmt import when

SIFAT = {"biasa": "Biasa", "segera": "🟠 Segera", "sangat_segera": "🔴 Sangat Segera"}
ASK_SIFAT = "Sifat disposisi ini?"


def agenda_line(nomor_agenda: str | None, sifat: str) -> str:
    """Shown on every card: the office finds a process by its agenda number."""
    parts = [f"No. Agenda {nomor_agenda}"] if nomor_agenda else []
    parts.append(f"Sifat: {SIFAT.get(sifat, sifat)}")
    return " · ".join(parts)


DISPOSISI_FORM_HINT = "Pilih penerima dan instruksi, lalu tekan 📨 Kirim disposisi."
DISPOSISI_NO_ONE = "Pilih sedikitnya satu penerima disposisi."
ASK_DISPOSISI_CATATAN = "Tulis catatan disposisi dalam satu pesan; catatan ikut tercatat."


def disposisi_form(
    head: str, role: str, names: list[str], instruksi: list[str], catatan: str | None
) -> str:
    lines = [f"📨 Disposisi · {head}", f"Kepada {role}: {', '.join(names) or '—'}"]
    lines.append(f"Instruksi: {'; '.join(instruksi) if instruksi else '—'}")
    if catatan:
        lines.append(f"Catatan: {fit(catatan, 200, '')}")
    lines.append(DISPOSISI_FORM_HINT)
    return "\n".join(lines)


def disposisi_sent(no: int, role: str, names: list[str], instruksi: list[str]) -> str:
    what = f" ({'; '.join(instruksi)})" if instruksi else ""
    return f"📨 Disposisi Langkah {no} dikirim kepada {role}: {', '.join(names)}{what}."


CLAIMED_YOU = "🙋 Bapak/Ibu mengerjakan langkah ini; rekan lain sudah diberi tahu."
RELEASED = "↩️ Langkah dilepas; kartu dikirim lagi kepada semua pelaksana."


def closed_card(title: str, no: int, short: str, what: str) -> str:
    """A copy of a card that is no longer this person's to act on (same shape as the
    outcome of a closed step)."""
    return f"📋 {fit(title, 60)}\nLangkah {no}: {short}\n{what}"


def claimed_card(no: int, short: str, title: str, name: str) -> str:
    return closed_card(title, no, short, f"🙋 Dikerjakan oleh {name}.")


ASK_SIGNED = (
    "🖋 Kirim PDF naskah yang sudah ditandatangani (TTE dari SRIKANDI atau hasil pindai) "
    "di chat ini. Bila ada, tulis nomor naskah sebagai keterangan (caption) berkas."
)


SCAN_BUTTON = "🖨️ Kirim hasil pindai"


def scan_hint(signer: str) -> str:
    return (
        f"🖨️ Bila {signer} menandatangani di kertas, Bapak/Ibu dapat mengirim hasil "
        "pindaiannya (PDF) di chat ini; langkah ini pun selesai."
    )


def to_signer(role: str) -> str:
    return f"Diteruskan kepada {role} untuk ditandatangani."


SIGNED_ONLY_PDF = "Dokumen bertanda tangan harus berupa PDF."


def signed_received(no: int, nomor: str | None) -> str:
    tail = f" Nomor naskah: {nomor}." if nomor else ""
    return f"🖋 Dokumen bertanda tangan diterima untuk Langkah {no}.{tail}"


ASK_CANCEL_REASON = "Tulis alasan pembatalan proses #{id} {title} dalam satu pesan."
CANCEL_WHO = "Maaf, proses hanya dapat dibatalkan oleh pemulainya, Kepala Dinas, atau admin."
CANCEL_USAGE = "Tulis nomor prosesnya, mis. /batalkan 12. Nomor proses ada di /status."


def revision_sent(target: int, paraf_by: list[str]) -> str:
    again = f" diparaf ulang oleh {', '.join(paraf_by)}, lalu" if paraf_by else ""
    return (
        f"✏️ Revisi dikirim. Langkah {target} dikerjakan ulang; versi barunya{again} "
        "kembali kepada Bapak/Ibu."
    )


def cancelled_card(title: str, no: int, short: str) -> str:
    return closed_card(title, no, short, "⛔ Proses dibatalkan.")


def cancelled_text(pid: int, title: str, who: str, reason: str, at: datetime, tz: str) -> str:
    return (
        f"⛔ Proses #{pid} {fit(title, 80)} dibatalkan oleh {who}, {when(at, tz)}.\n"
        f"Alasan: {fit(reason, 300, '')}"
    )


MOVE_WHO = "Maaf, langkah hanya dapat dialihkan oleh atasan pelaksana atau admin."
MOVE_NO_ONE = "Tidak ada orang lain dengan peran ini untuk menerima langkah tersebut."


def move_ask(no: int, role: str) -> str:
    return f"👤 Alihkan Langkah {no} kepada siapa ({role})?"


def moved_card(title: str, no: int, short: str, name: str) -> str:
    return closed_card(title, no, short, f"👤 Dialihkan kepada {name}.")


def moved_done(no: int, name: str) -> str:
    return f"👤 Langkah {no} dialihkan kepada {name}."
