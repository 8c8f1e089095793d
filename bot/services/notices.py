"""What a transition leaves behind besides the new state: closed cards, the notices to
everyone involved, the disposisi record, and how the actor is named (Plh/Plt)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import texts
from bot.people import holders
from bot.runtime import Runtime
from bot.services.common import audit, latest_document, locks_rows
from bot.services.outgoing import enqueue, send, send_document
from bot.services.views import document_label
from bot.sop.model import Kind, SopDefinition
from storage import raw
from storage.models import Disposition, Outbox, Person, Process, StepInstance

CLOSABLE = ("card", "reminder", "escalation")


class _Copy(NamedTuple):
    """A copy of a step's card in the outbox (`_COPIES`)."""

    id: int
    chat_id: int
    tag: str
    status: str
    claimed_until: datetime | None
    message_id: int | None
    closed_at: datetime | None
    uncertain: bool | None


async def close_cards(session: AsyncSession, now: datetime, si: StepInstance, text: str) -> None:
    """The step is closed: every copy of its card in every chat (the actor's own, /tugas
    re-sends, reminder copies, escalations) becomes `text` with no buttons."""
    # One read of the step's copies; usually all were sent and nothing else is written.
    # What the action changed besides the outbox cannot change this read: it is written
    # with the next flush (one flush fewer per transition).
    if any(isinstance(o, Outbox) for o in (*session.new, *session.dirty)):
        await session.flush()
    if locks_rows(session):  # whoever is queueing a copy of it now goes first
        await raw.run(session, _LOCK_STEP, {"si": si.id}, flush=False)
    found = await raw.run(session, _COPIES, {"si": si.id}, flush=False)
    rows = [_Copy(*r) for r in found.rows]
    waiting = [r for r in rows if r.status == "pending" and r.claimed_until is None]
    if waiting:
        await session.flush()  # the action's own writes (and their locks) come first, as ever
    dropped = await settle_unsent(session, waiting, text)
    pressed = session.info.get("pressed")  # (chat, message id) of the card pressed now
    for chat in sorted({r.chat_id for r in rows if _may_show_buttons(r, dropped)}):
        if pressed is not None and chat == pressed[0]:
            # The action's answer edits the pressed copy (`pressed_closed`): closed here, so
            # no closing row edits it again; none at all if it was the only open copy.
            mine = [r for r in rows if r.chat_id == chat and _may_show_buttons(r, dropped)]
            ids = [r.id for r in mine if r.status == "sent" and r.message_id == pressed[1]]
            if ids:
                session.info["pressed_closed"] = text
                # Not worth a flush of the action's changes of its own (that comes with the
                # new step's, or the commit): the pressed copy is the presser's alone.
                await raw.run(session, _CLOSED, {"ids": ids, "at": now}, flush=False)
                if all(_closed_with(r, pressed[1], dropped) for r in mine):
                    continue
        enqueue(session, now, chat, "close_task", {"text": text}, si.id)


async def settle_unsent(session: AsyncSession, waiting: list, text: str) -> set[int]:  # type: ignore[type-arg]
    """Copies of a closed step not sent yet (pending, unclaimed) will never be needed and
    are dropped; returns their ids. But one whose last attempt timed out may have reached
    the person all the same, with buttons (a card, an escalation, a reminder that sends
    the card again): it goes out instead as `text` (an escalation keeps its own) without
    buttons, and that send closes the twin (`close_orphans`). The conditions are checked
    again as each is written: the sender may have taken one since the read (one on its
    way is closed by the chat's closing row, which waits behind it)."""
    drop = [r.id for r in waiting if not (r.uncertain and r.tag in CLOSABLE)]
    for r in waiting:
        if r.id in drop:
            continue
        payload = await session.scalar(select(Outbox.payload).where(Outbox.id == r.id))
        values: dict = {"payload": {**payload, "buttons": None}}
        if r.tag == "card":
            values["payload"]["text"] = text
        elif r.tag == "reminder":
            if "card" not in payload:
                drop.append(r.id)  # a line replying to the card: no buttons to close
                continue
            values = {"method": "send_message", "tag": "card"}
            values["payload"] = {"text": text, "buttons": None, "uncertain": True}
        await session.execute(_REWRITE.values(**values), {"row_id": r.id})
    if not drop:
        return set()
    return set((await session.execute(_DROP, {"ids": drop})).scalars())


async def close_in_chat(
    session: AsyncSession, now: datetime, si: StepInstance, chat: int, text: str
) -> None:
    """Like closing a step, but in one chat only (its holder there changed): copies not
    sent yet are settled (`settle_unsent`), sent ones become `text` without buttons (the
    outbox's close_task)."""
    rows = (await session.execute(_COPIES_IN_CHAT, {"si": si.id, "chat": chat})).all()
    waiting = [r for r in rows if r.status == "pending" and r.claimed_until is None]
    await settle_unsent(session, waiting, text)
    enqueue(session, now, chat, "close_task", {"text": text}, si.id)


def _may_show_buttons(row, dropped: set[int]) -> bool:  # type: ignore[no-untyped-def]
    """A copy whose chat needs the closing: a card or an escalation, or a reminder on its
    way, which sends the card again if the person has no live copy (`sends.remind`). The
    closing row waits behind it in the chat's order."""
    if row.tag == "reminder":
        return row.status == "pending" and row.id not in dropped
    return row.tag in ("card", "escalation")


def _closed_with(row, pressed_message: int, dropped: set[int]) -> bool:  # type: ignore[no-untyped-def]
    """A copy that needs no closing edit when the pressed card is edited."""
    if row.status == "sent":
        return row.message_id == pressed_message or row.closed_at is not None
    return row.status != "pending" or row.id in dropped


# Built once, on the outbox table (every closed step reads it; no ORM objects involved).
_OUTBOX = Outbox.__table__
_COPIES = raw.Sql(
    select(
        _OUTBOX.c.id,
        _OUTBOX.c.chat_id,
        _OUTBOX.c.tag,
        _OUTBOX.c.status,
        _OUTBOX.c.claimed_until,
        _OUTBOX.c.message_id,
        _OUTBOX.c.closed_at,
        _OUTBOX.c.payload["uncertain"].as_boolean().label("uncertain"),
    ).where(_OUTBOX.c.step_instance_id == bindparam("si"), _OUTBOX.c.tag.in_(CLOSABLE))
)
_LOCK_STEP = raw.Sql(
    select(StepInstance.id).where(StepInstance.id == bindparam("si")).with_for_update()
)
_COPIES_IN_CHAT = _COPIES.stmt.where(_OUTBOX.c.chat_id == bindparam("chat"))
_CLOSED = raw.Sql(
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(closed_at=bindparam("at", type_=_OUTBOX.c.closed_at.type))
)
_UNSENT = (  # still nobody's to send
    _OUTBOX.c.status == "pending",
    _OUTBOX.c.claimed_until.is_(None),
)
_REWRITE = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"), *_UNSENT)
    .execution_options(synchronize_session=False)
)
_DROP = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)), *_UNSENT)
    .values(status="batal")
    .returning(_OUTBOX.c.id)
)


async def involved(session: AsyncSession, process: Process) -> list[Person]:
    """The starter, everyone who acted, and everyone who was sent a card of it."""
    people_ids = set(
        (
            await session.scalars(
                select(StepInstance.actor_id).where(
                    StepInstance.process_id == process.id, StepInstance.actor_id.is_not(None)
                )
            )
        ).all()
    )
    people_ids.add(process.starter_id)
    carded = (
        select(Outbox.chat_id)
        .join(StepInstance, StepInstance.id == Outbox.step_instance_id)
        .where(StepInstance.process_id == process.id, Outbox.tag == "card")
    )
    people = (
        await session.scalars(
            select(Person).where(
                or_(Person.id.in_(people_ids), Person.telegram_id.in_(carded)), Person.active
            )
        )
    ).all()
    return sorted(people, key=lambda p: p.id)


async def notify_finished(
    rt: Runtime, session: AsyncSession, now: datetime, process: Process, sop: SopDefinition
) -> None:
    # The final document is the one the SOP's sign step signed (not a signed surat
    # pengantar that goes with it); with no sign step, the latest draft.
    signs = [s.no for s in sop.steps if s.kind is Kind.TANDA_TANGAN]
    final = None
    if signs:
        final = await latest_document(session, process.id, ("ttd",), step_no=signs[-1])
    final = final or await latest_document(session, process.id, ("draft",))
    text = texts.finished_text(process.title, sop, now, rt.settings.timezone)
    if process.nomor_naskah:
        text += f"\nNomor naskah: {process.nomor_naskah}"
    for person in await involved(session, process):
        send(session, now, person.telegram_id, text)
        if final is not None:
            send_document(
                session,
                now,
                person.telegram_id,
                final,
                f"📄 Dokumen final: {document_label(sop, final)}",
            )


def record_disposition(
    session: AsyncSession,
    now: datetime,
    process: Process,
    si: StepInstance | None,
    from_id: int,
    role: str,
    to: list[int],
    instruksi: list[str],
    catatan: str | None,
    everyone: bool = False,
) -> None:
    """Kept for the lembar disposisi; the named people do this role's work from now on
    (sent to everyone: the role stays shared, so a holder added later gets it too)."""
    assignments = {k: v for k, v in (process.assignments or {}).items() if k != role}
    process.assignments = assignments if everyone else {**assignments, role: to}
    session.add(
        Disposition(
            process_id=process.id,
            step_instance_id=si.id if si else None,
            from_person_id=from_id,
            to_role=role,
            to_person_ids=to,
            instruksi=instruksi,
            catatan=catatan,
            created_at=now,
        )
    )
    audit(session, now, from_id, "disposisi", process.id, si.step_no if si else 1, role)


async def forward_to_everyone(
    session: AsyncSession,
    now: datetime,
    process: Process,
    si: StepInstance,
    sop: SopDefinition,
    from_id: int,
    catatan: str | None,
) -> None:
    """A disposisi without the form (one tap, a typed catatan, /mulai): to every holder of
    the next role, recorded for the lembar disposisi like one from the form."""
    if si.step_no >= len(sop.steps):
        return  # nobody after it to send it to
    role = sop.step(si.step_no + 1).role
    to = [p.id for p in await holders(session, role, now)]
    record_disposition(session, now, process, si, from_id, role, to, [], catatan, True)
