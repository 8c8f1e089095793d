"""Copy of the stand-ins (Plh/Plt, issue 9 item 5) and of the invitation notice (item 7).

Plh (pelaksana harian) stands in for an official away for a short time (cuti, dinas luar);
Plt (pelaksana tugas) for a longer absence. Both are written with a full stop: «Plh.
Sekretaris — Budi»."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date

from bot.bounds import fit
from bot.timefmt import when

JENIS = {"plh": "Plh.", "plt": "Plt."}

COMMAND = ("plh", "Plh/Plt: pengganti pejabat yang berhalangan")

USAGE = (
    "Cara menunjuk Plh/Plt:\n"
    "/plh PERAN ID_TELEGRAM_PENGGANTI DARI SAMPAI [plh|plt] [ID_YANG_DIGANTIKAN]\n"
    "mis. /plh sekretaris 123456789 2026-11-23 2026-11-27\n"
    "Tanggal ditulis TAHUN-BULAN-TANGGAL dan termasuk kedua ujungnya. Jenis bawaan: Plh. "
    "ID yang digantikan hanya perlu bila peran itu dipegang beberapa orang.\n"
    "Mengakhiri lebih cepat (pejabat sudah kembali): /plh akhiri NOMOR"
)
NOT_ADMIN = "Maaf, /plh hanya untuk admin."
NONE = "Belum ada Plh/Plt yang berlaku atau terjadwal."


def label(jenis: str, role: str, name: str) -> str:
    """'Plh. Sekretaris — Budi'."""
    return f"{JENIS.get(jenis, 'Plh.')} {role} — {name}"


def title(jenis: str, role: str) -> str:
    """'Plh. Sekretaris'."""
    return f"{JENIS.get(jenis, 'Plh.')} {role}"


def day(d: date) -> str:
    """'Jumat, 27 November 2026'."""
    return format_date(d, "EEEE, d MMMM y", locale="id")


def span(dari: date, sampai: date) -> str:
    """'23–27 November 2026', '30 November – 2 Desember 2026', or one day."""
    last = format_date(sampai, "d MMMM y", locale="id")
    if dari == sampai:
        return last
    if (dari.year, dari.month) == (sampai.year, sampai.month):
        return f"{dari.day}–{last}"
    first = format_date(dari, "d MMMM" if dari.year == sampai.year else "d MMMM y", locale="id")
    return f"{first} – {last}"


# --- refusals (nothing changed) ------------------------------------------------------------


def unknown_role(role: str, codes: list[str]) -> str:
    return f"Peran «{fit(role, 32)}» tidak dikenal. Pilihan: {', '.join(codes)}."


def unknown_jenis(jenis: str) -> str:
    return f"Jenis «{fit(jenis, 16)}» tidak dikenal. Pilihan: plh, plt."


def unknown_person(telegram_id: int) -> str:
    return (
        f"Orang dengan id Telegram {telegram_id} belum terdaftar atau sudah dinonaktifkan. "
        "Daftarkan dulu (/undang atau users add), lalu tunjuk sebagai Plh/Plt."
    )


def no_holder(role: str) -> str:
    return f"Belum ada pemegang peran {role}; tidak ada yang perlu digantikan."


def several_holders(role: str, people: list[tuple[str, int]]) -> str:
    names = ", ".join(f"{name} (id {tid})" for name, tid in people)
    return (
        f"Peran {role} dipegang beberapa orang: {names}. Sebutkan id Telegram orang yang "
        "digantikan (di chat: angka terakhir pada /plh; di baris perintah: --untuk ID)."
    )


def not_holder(telegram_id: int, role: str) -> str:
    return f"Orang dengan id Telegram {telegram_id} tidak memegang peran {role}."


def self_standin() -> str:
    return "Pengganti tidak boleh orang yang digantikan sendiri."


def bad_range() -> str:
    return "Tanggal «dari» harus sama dengan atau sebelum tanggal «sampai»."


def past_range(sampai: date) -> str:
    return f"Tanggal «sampai» ({span(sampai, sampai)}) sudah lewat."


def bad_date(text: str) -> str:
    return (
        f"Tanggal «{fit(text, 20)}» tidak dapat dibaca. Tulis TAHUN-BULAN-TANGGAL, mis. 2026-11-23."
    )


def overlap(holder: str, role: str, other: str, dari: date, sampai: date) -> str:
    return (
        f"{holder} sudah digantikan sebagai {role} oleh {other} pada {span(dari, sampai)}. "
        "Rentang tanggal tidak boleh bertumpuk."
    )


def standin_away(name: str, role: str) -> str:
    return (
        f"{name} sendiri digantikan sebagai {role} pada rentang itu; tunjuk orang lain "
        "sebagai pengganti."
    )


# --- what people read -----------------------------------------------------------------------


def created(label_: str, holder: str, dari: date, sampai: date, started: bool) -> str:
    then = (
        "Berlaku mulai sekarang; tugas terbuka sudah dialihkan."
        if started
        else f"Mulai berlaku {day(dari)} pagi (otomatis)."
    )
    return f"✅ {label_} menggantikan {holder}, {span(dari, sampai)}. {then}"


def moved_card(title_: str, step_no: int, short: str, label_: str, sampai: date) -> str:
    """The holder's card once the step went to the stand-in (no buttons)."""
    return (
        f"📋 {fit(title_, 60)}\nLangkah {step_no}: {short}\n"
        f"↪️ Dialihkan kepada {label_} sampai {day(sampai)}."
    )


def returned_card(title_: str, step_no: int, short: str, role: str, holder: str) -> str:
    """The stand-in's card once the step went back to the holder (no buttons)."""
    return (
        f"📋 {fit(title_, 60)}\nLangkah {step_no}: {short}\n"
        f"↩️ Dikembalikan kepada {role} — {holder}; masa Plh/Plt berakhir."
    )


def _tasks(count: int, where: str) -> str:
    return f" {count} tugas terbuka {where}." if count else ""


def to_holder_start(label_: str, role: str, dari: date, sampai: date, moved: int) -> str:
    return (
        f"ℹ️ Selama {span(dari, sampai)}, tugas Bapak/Ibu sebagai {role} dikerjakan oleh "
        f"{label_}."
        + _tasks(moved, "sudah dialihkan kepadanya")
        + " Tugas kembali kepada Bapak/Ibu setelah masa itu berakhir."
    )


def to_standin_start(title_: str, holder: str, dari: date, sampai: date, moved: int) -> str:
    return (
        f"ℹ️ Bapak/Ibu ditunjuk sebagai {title_} menggantikan {holder}, {span(dari, sampai)}. "
        "Tugas peran tersebut datang ke chat ini selama masa itu."
        + _tasks(moved, "dikirim di bawah ini")
    )


def to_holder_end(label_: str, role: str, moved: int) -> str:
    return f"ℹ️ Masa {label_} telah berakhir. Tugas {role} kembali kepada Bapak/Ibu." + _tasks(
        moved, "dikirim di bawah ini"
    )


def to_standin_end(title_: str, holder: str, moved: int) -> str:
    return (
        f"ℹ️ Masa tugas Bapak/Ibu sebagai {title_} (menggantikan {holder}) telah berakhir. "
        "Terima kasih." + _tasks(moved, f"dikembalikan kepada {holder}")
    )


def list_line(
    number: int, label_: str, holder: str, dari: date, sampai: date, running: bool
) -> str:
    state = "berlaku" if running else "terjadwal"
    return f"• #{number} {label_} menggantikan {holder}, {span(dari, sampai)} ({state})"


def not_open(number: int) -> str:
    return (
        f"Plh/Plt #{number} tidak ditemukan atau sudah berakhir. "
        "Daftarnya: /plh atau users plh --list."
    )


def ended_early(label_: str, holder: str, started: bool) -> str:
    if started:
        return f"✅ {label_} diakhiri sekarang; tugas terbuka kembali kepada {holder}."
    return f"✅ {label_} (menggantikan {holder}) dibatalkan sebelum mulai berlaku."


def people_line(label_: str, holder: str, sampai: date) -> str:
    """/orang: who stands in for whom right now."""
    return f"• {label_} menggantikan {holder} sampai {day(sampai)}"


# --- item 7: an invitation was accepted ------------------------------------------------------


def invite_accepted(name: str, role: str, at: datetime, tz: str, telegram_id: int) -> str:
    return (
        f"✅ Undangan diterima: {name} (id {telegram_id}) kini terdaftar sebagai {role}, "
        f"{when(at, tz)}."
    )
