"""Read-only views: my open tasks, the status of a process, people for the admin."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.bounds import fit
from bot.people import Actor, list_people
from bot.runtime import Runtime
from bot.services import common as svc
from bot.services import outgoing, standins, views
from bot.services.rekap import allowed as rekap_allowed
from bot.sop.model import Step
from bot.texts import records as record_texts
from bot.timefmt import short_when, span
from storage.models import Person, Process, RevisionNote, StepInstance


async def queue_open_tasks(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor
) -> svc.Reply:
    """/tugas: send every open task of this person again, with its buttons."""
    rows = await svc.open_steps(session, actor, for_cards=True)
    if not rows:
        return svc.Reply("Tidak ada tugas terbuka untuk Bapak/Ibu saat ini. 👍")
    chat = actor.person.telegram_id
    # Read-only but for the messages queued here: they are written once, at the end (an
    # autoflush before each card's reads cost a unit-of-work pass per card).
    with session.no_autoflush:
        outgoing.send(session, now, chat, f"Ada {len(rows)} tugas terbuka untuk Bapak/Ibu:")
        for si, process in rows:
            sop = svc.sop_of(rt, process)
            view, _ = await views.task_view(rt, session, process, si, sop)
            if si.deadline_at < now:
                view.late_by = span(now - si.deadline_at)
            buttons = views.buttons_for(
                await views.step_tokens(session, si.id), view.checklist, view.bidang
            )
            outgoing.send(session, now, chat, texts.task_text(view), buttons, si.id, tag="card")
    return svc.Reply("")


async def notes_text(rt: Runtime, session: AsyncSession, process: Process) -> str:
    """/catatan N: the arahan and every note of a process, in full, oldest first."""
    tz = rt.settings.timezone
    lines = [f"🗒 Catatan proses #{process.id} {process.title}"]
    if process.arahan:
        lines += ["", f"Arahan: {process.arahan}"]
    steps = (
        await session.execute(
            select(StepInstance.step_no, StepInstance.note, StepInstance.finished_at, Person.name)
            .join(Person, Person.id == StepInstance.actor_id)
            .where(StepInstance.process_id == process.id, StepInstance.note.is_not(None))
        )
    ).all()
    revisions = (
        await session.execute(
            select(RevisionNote.from_step, RevisionNote.note, RevisionNote.created_at, Person.name)
            .join(Person, Person.id == RevisionNote.reviewer_id)
            .where(RevisionNote.process_id == process.id)
        )
    ).all()
    entries = [(at, f"Langkah {no}, catatan {name}", note) for no, note, at, name in steps]
    entries += [(at, f"Langkah {no}, revisi dari {name}", note) for no, note, at, name in revisions]
    for at, label, note in sorted(entries, key=lambda e: e[0]):
        lines += ["", f"{label} ({short_when(at, tz)}):", note]
    if len(lines) == 1 or (len(lines) == 3 and process.arahan):
        lines += ["", "Belum ada catatan lain pada proses ini."]
    return "\n".join(lines)


async def running_processes(session: AsyncSession) -> list[Process]:
    return list(
        (
            await session.scalars(
                select(Process).where(Process.status == "berjalan").order_by(Process.id)
            )
        ).all()
    )


async def status_text(rt: Runtime, session: AsyncSession, process: Process) -> str:
    """At a glance: the running step on top, then every activation in order (so revision
    rounds show), each with who, when and its working time against the standard."""
    sop = svc.sop_of(rt, process)
    tz = rt.settings.timezone
    now = rt.clock.now()
    rows = (
        await session.execute(
            select(StepInstance, Person.name)
            .outerjoin(Person, Person.id == StepInstance.actor_id)
            .where(StepInstance.process_id == process.id)
            .order_by(StepInstance.id)
        )
    ).all()
    state = "✅ selesai" if process.status == "selesai" else "▶️ berjalan"
    lines = [f"📋 #{process.id} {fit(process.title, 60)} · {state} · SOP {sop.short}"]
    running = [(si, name) for si, name in rows if si.finished_at is None]
    for si, _ in running:
        step = sop.phase(si.step_no, si.role)
        late = " 🔴 terlambat" if si.deadline_at < now else ""
        lines.append(
            f"▶️ Langkah {step.no} {step.short} — {texts.role_short(sop, step.role)} · sejak "
            f"{short_when(si.started_at, tz)} · {_worked(rt, si, now, step)}{late}"
        )
    if running:
        lines.append("")
    for si, name in rows:
        if si.finished_at is None:
            continue
        step = sop.phase(si.step_no, si.role)
        mark, outcome = _OUTCOMES.get(si.outcome or "", ("✅", si.outcome or "selesai"))
        round_ = f" (ronde {si.round})" if si.round else ""
        lines.append(
            f"{mark} L{step.no} {step.short} — {outcome} oleh {name or '-'}, "
            f"{short_when(si.finished_at, tz)} · {_worked(rt, si, now, step)}{round_}"
        )
    reached = {si.step_no for si, _ in rows}
    waiting = [s for s in sop.steps if s.no not in reached]
    if waiting and process.status != "selesai":
        lines.append("⏳ Berikutnya: " + ", ".join(f"L{s.no} {s.short}" for s in waiting[:4]))
    return fit("\n".join(lines), 4000)


_OUTCOMES = {
    "revisi": ("✏️", "revisi diminta"),
    "disetujui": ("✅", "disetujui"),
    "diunggah": ("📤", "diunggah"),
    "selesai": ("✅", "selesai"),
}


def _worked(rt: Runtime, si: StepInstance, now: datetime, step: Step) -> str:
    """'1 jam 5 menit / 1 jam' (working time taken / the SOP's standard), 🔴 when over."""
    end = si.finished_at or now
    minutes = rt.calendar.working_minutes_between(si.started_at, end) * rt.settings.time_scale
    standard = rt.calendar.waktu_minutes(step.waktu_parsed)
    over = " 🔴" if si.finished_at and minutes > standard else ""
    return f"{span(timedelta(minutes=minutes))} / {step.waktu.lower()}{over}"


def help_text(rt: Runtime, actor: Actor) -> str:
    roles = ", ".join(texts.role_name(None, r) for r in sorted(actor.roles)) or "belum ada peran"
    lines = [
        f"{texts.greeting(rt.clock.now(), rt.settings.timezone)}, "
        f"{texts.salutation(actor.person, actor.roles)}. Peran: {roles}.",
        "",
        "Perintah:",
        "/tugas — tugas yang masih terbuka (dengan tombolnya)",
        "/status — proses yang sedang berjalan; /status NOMOR untuk rinciannya",
    ]
    if actor.is_admin or any(s.step(1).role in actor.roles for s in rt.sops.all()):
        lines.append("/mulai — mulai proses SOP baru (disposisi)")
    lines += record_texts.help_lines(rekap_allowed(actor))
    lines += [
        "/batal — batalkan isian yang sedang ditunggu bot",
        "/bantuan — pesan ini",
        "",
        "Cara kerja: setiap tugas datang sebagai pesan berisi Langkah, kelengkapan, dan tenggat.",
        "• Disposisi/tugas: tekan ✅ Selesai.",
        "• Pemeriksaan: tekan ✅ Setuju, atau ✏️ Revisi lalu tulis catatannya.",
        "• Unggah: kirim dokumennya di chat ini sebagai file (PDF, DOC/DOCX, XLS/XLSX, ODT/ODS).",
    ]
    if actor.is_admin:
        codes = ", ".join(rt.sops.role_codes())
        lines += [
            "",
            "Admin:",
            f"/undang PERAN — tautan undangan sekali pakai (peran: {codes})",
            "/orang — daftar orang, peran, dan siapa yang belum bisa dihubungi",
            "/plh — Plh/Plt: pengganti pejabat yang berhalangan (/plh untuk caranya)",
        ]
    return "\n".join(lines)


async def people_text(rt: Runtime, session: AsyncSession) -> str:
    rows = await list_people(session)
    if not rows:
        return "Belum ada orang terdaftar."
    lines = ["👥 Orang terdaftar:"]
    for person, roles in rows:
        if not person.active:
            continue
        names = ", ".join(texts.role_name(None, r) for r in roles) or "tanpa peran"
        if person.unreachable_reason:
            reach = f" ⚠️ tidak bisa dihubungi ({person.unreachable_reason})"
        elif person.started_at is None:
            reach = " ⚠️ belum menekan Start — bot belum bisa mengirim pesan"
        else:
            reach = ""
        lines.append(f"• {person.name} (id {person.telegram_id}) — {names}{reach}")
    standing = await standins.people_lines(rt, session)
    if standing:
        lines += ["", "🔁 Plh/Plt yang berlaku:", *standing]
    return "\n".join(lines)
