"""The lembar disposisi from the database: the disposisi steps (who forwarded to whom —
the people who got the next step's card —, when, with which note) and, where issue 9's
office fields are filled, the nomor agenda, sifat, nomor naskah and each hop's named
recipients and instruksi (`office_fields`, the one place that reads them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.records.model import DisposisiEntry, LembarDisposisi
from bot.runtime import Runtime
from bot.sop.model import Kind, SopDefinition
from storage.models import Disposition, Document, Outbox, Person, Process, StepInstance


async def build(
    rt: Runtime, session: AsyncSession, process: Process, sop: SopDefinition
) -> LembarDisposisi:
    """The lembar disposisi from the disposisi steps: who forwarded to whom (the people who
    got the next step's card), when, with which note; paraf are the forwarders'."""
    rows = (
        await session.execute(
            select(StepInstance, Person)
            .outerjoin(Person, Person.id == StepInstance.actor_id)
            .where(StepInstance.process_id == process.id)
            .order_by(StepInstance.id)
        )
    ).all()
    recipients = await _card_recipients(session, [si.id for si, _ in rows])
    dispositions = (
        await session.scalars(select(Disposition).where(Disposition.process_id == process.id))
    ).all()
    names = {p.id: p.name for _, p in rows if p is not None}
    extra_ids = {i for d in dispositions for i in [d.from_person_id, *d.to_person_ids]} - set(names)
    if extra_ids:
        found = await session.execute(
            select(Person.id, Person.name).where(Person.id.in_(extra_ids))
        )
        names |= {pid: name for pid, name in found.all()}
    entries: list[DisposisiEntry] = []
    entry_steps: list[int] = []  # the step activation of each entry
    paraf: list[tuple[str, str, datetime]] = []
    for i, (si, person) in enumerate(rows):
        if sop.step(si.step_no).kind is not Kind.DISPOSISI or si.finished_at is None:
            continue
        nxt = rows[i + 1][0] if i + 1 < len(rows) else None
        to_role = texts.role_name(sop, nxt.role) if nxt else "-"
        who = person.name if person else "-"
        role = texts.role_name(sop, si.role)
        entries.append(
            DisposisiEntry(
                from_name=who,
                from_role=role,
                to_names=recipients.get(nxt.id, []) if nxt else [],
                to_role=to_role,
                at=si.finished_at,
                catatan=(process.arahan if si.step_no == 1 else None) or si.note,
            )
        )
        entry_steps.append(si.id)
        paraf.append((who, role, si.finished_at))
    first = rows[0][0].finished_at if rows and rows[0][0].finished_at else process.created_at
    surat = await session.scalar(
        select(Document.file_name).where(
            Document.process_id == process.id, Document.purpose == "surat_edaran"
        )
    )
    form = LembarDisposisi(
        process_id=process.id,
        title=process.title,
        sop_number=sop.number,
        sop_title=sop.title,
        tanggal=first,
        entries=entries,
        paraf=paraf,
        tz=rt.settings.timezone,
        lampiran=surat,
    )
    return office_fields(form, process, dispositions, names, entry_steps)


def office_fields(
    form: LembarDisposisi,
    process: Process,
    dispositions: Sequence[Disposition],
    names: dict[int, str],
    entry_steps: list[int],
) -> LembarDisposisi:
    """ISSUE 9 PLUGS IN HERE: the office's own fields of the lembar disposisi — nomor agenda,
    sifat, nomor naskah, and per hop the named recipients, instruksi and catatan from the
    `dispositions` table. Everything else on the form is filled from the steps above; this
    is the one place that reads issue 9's columns, and it keeps the step-based values where
    they are empty."""
    by_step = {d.step_instance_id: d for d in dispositions}
    entries = []
    for i, (entry, si_id) in enumerate(zip(form.entries, entry_steps, strict=True)):
        # The first disposisi, given with /mulai, is recorded before its step exists.
        d = by_step.get(si_id) or (by_step.get(None) if i == 0 else None)
        if d is None:
            entries.append(entry)
            continue
        entries.append(
            replace(
                entry,
                from_name=names.get(d.from_person_id, entry.from_name),
                to_names=[names.get(i, "-") for i in d.to_person_ids] or entry.to_names,
                instruksi=list(d.instruksi or []),
                catatan=d.catatan or entry.catatan,
            )
        )
    return replace(
        form,
        entries=entries,
        nomor_agenda=process.nomor_agenda,
        sifat=process.sifat or "biasa",
        nomor_naskah=process.nomor_naskah,
    )


async def _card_recipients(session: AsyncSession, si_ids: list[int]) -> dict[int, list[str]]:
    """Per step activation, the people its card was sent to."""
    if not si_ids:
        return {}
    rows = (
        await session.execute(
            select(Outbox.step_instance_id, Person.name)
            .join(Person, Person.telegram_id == Outbox.chat_id)
            .where(Outbox.step_instance_id.in_(si_ids), Outbox.tag == "card")
            .distinct()
        )
    ).all()
    out: dict[int, list[str]] = {}
    for si_id, name in rows:
        if name not in out.setdefault(si_id, []):
            out[si_id].append(name)
    return {k: sorted(v) for k, v in out.items()}
