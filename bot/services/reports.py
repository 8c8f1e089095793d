"""Read-only views: my open tasks, the status of a process, people for the admin."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.people import Actor, list_people
from bot.runtime import Runtime
from bot.services import common as svc
from bot.services import views
from bot.timefmt import short_when, span
from storage.models import Person, Process, RevisionNote, StepInstance


async def queue_open_tasks(
    rt: Runtime, session: AsyncSession, now: datetime, actor: Actor
) -> svc.Reply:
    """/tugas: send every open task of this person again, with its buttons."""
    rows = await svc.open_steps(session, actor)
    if not rows:
        return svc.Reply("Tidak ada tugas terbuka untuk Anda saat ini. 👍")
    chat = actor.person.telegram_id
    svc.send(session, now, chat, f"Anda punya {len(rows)} tugas terbuka:")
    for si, process in rows:
        sop = svc.sop_of(rt, process)
        view, _ = await views.task_view(rt, session, process, si, sop)
        if si.deadline_at < now:
            view.late_by = span(now - si.deadline_at)
        buttons = views.buttons_for(
            await views.step_tokens(session, si.id), view.checklist, view.bidang
        )
        svc.send(session, now, chat, texts.task_text(view), buttons, si.id)
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
    sop = svc.sop_of(rt, process)
    tz = rt.settings.timezone
    rows = (
        await session.execute(
            select(StepInstance, Person.name)
            .outerjoin(Person, Person.id == StepInstance.actor_id)
            .where(StepInstance.process_id == process.id)
            .order_by(StepInstance.id)
        )
    ).all()
    latest: dict[int, tuple[StepInstance, str | None]] = {}
    for si, name in rows:
        latest[si.step_no] = (si, name)
    state = "✅ selesai" if process.status == "selesai" else "▶️ berjalan"
    lines = [
        f"📋 #{process.id} {process.title} ({state})",
        f"SOP {sop.title} ({sop.short})",
        "",
    ]
    for step in sop.steps:
        who = texts.role_name(sop, step.role)
        entry = latest.get(step.no)
        if entry is None:
            lines.append(f"⏳ Langkah {step.no}: {step.kegiatan[:60]} — menunggu ({who})")
            continue
        si, name = entry
        if si.finished_at is not None:
            outcome = {"revisi": "revisi diminta"}.get(si.outcome or "", si.outcome)
            lines.append(
                f"✅ Langkah {step.no}: {step.kegiatan[:60]} — {outcome} oleh {name}, "
                f"{short_when(si.finished_at, tz)}"
            )
        else:
            late = ""
            now = rt.clock.now()
            if si.deadline_at < now:
                late = f", TERLAMBAT {span(now - si.deadline_at)}"
            lines.append(
                f"▶️ Langkah {step.no}: {step.kegiatan[:60]} — sekarang di {who}, tenggat "
                f"{short_when(si.deadline_at, tz)}{late}"
            )
    return "\n".join(lines)


def help_text(rt: Runtime, actor: Actor) -> str:
    roles = ", ".join(texts.role_name(None, r) for r in sorted(actor.roles)) or "belum ada peran"
    lines = [
        f"Halo {actor.name}. Peran Anda: {roles}.",
        "",
        "Perintah:",
        "/tugas — tugas Anda yang masih terbuka (dengan tombolnya)",
        "/status — proses yang sedang berjalan; /status NOMOR untuk rinciannya",
    ]
    if actor.is_admin or any(s.step(1).role in actor.roles for s in rt.sops.all()):
        lines.append("/mulai — mulai proses SOP baru (disposisi)")
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
    return "\n".join(lines)
