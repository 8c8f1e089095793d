"""Database tables (SQLAlchemy 2 declarative). All times are UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """SQLite forgets time zones; store naive UTC and hand back aware UTC everywhere."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # How the bot addresses them, e.g. "Bapak Kepala Dinas" (admin sets it; default from role).
    sapaan: Mapped[str | None] = mapped_column(String(100))
    nip: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    # The bot can only write to people who pressed Start; admins see who has not.
    started_at: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class PersonRole(Base):
    __tablename__ = "person_roles"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    # Plt/Plh: a stand-in holds the role until this time (None = permanent).
    until: Mapped[datetime | None]


class Invite(Base):
    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[int] = mapped_column(BigInteger)  # telegram id of the admin
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class Process(Base):
    __tablename__ = "processes"

    id: Mapped[int] = mapped_column(primary_key=True)
    sop_number: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    arahan: Mapped[str | None] = mapped_column(Text)
    starter_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    current_step: Mapped[int | None]
    state: Mapped[dict[str, Any]]  # the engine's ProcessState, as JSON
    # Optimistic lock: two presses at the same instant, only one transition wins.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # The office's own record of the process (issue 9): agenda number, urgency, the
    # SRIKANDI number of the signed naskah, why it was cancelled.
    nomor_agenda: Mapped[str | None] = mapped_column(String(64), unique=True)
    sifat: Mapped[str] = mapped_column(String(16), default="biasa")
    nomor_naskah: Mapped[str | None] = mapped_column(String(100))
    cancelled_reason: Mapped[str | None] = mapped_column(Text)
    # Who a disposisi named for each role ({"jafung": [person ids]}); a role not named here
    # goes to everyone who holds it.
    assignments: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __mapper_args__ = {"version_id_col": version}


# Partial index predicates (storage/migrations 0009 writes the same text). JSON 'null' and
# '[]' are a disposisi that named nobody: not named.
OPEN_STEP = text("finished_at IS NULL")
NAMED_OPEN_STEP = text(
    "finished_at IS NULL AND "
    "(claimed_by IS NOT NULL OR "
    "CAST(assignees AS TEXT) LIKE '[%' AND CAST(assignees AS TEXT) != '[]')"
)


class StepInstance(Base):
    """One activation of a step (a step sent back for revision gets a new row)."""

    __tablename__ = "step_instances"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id"), index=True)
    step_no: Mapped[int]
    role: Mapped[str] = mapped_column(String(32))
    round: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]  # open steps: NULL (the partial indexes below)
    outcome: Mapped[str | None] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    note: Mapped[str | None] = mapped_column(Text)
    # The due-scan reads only these two columns (NULL once done), so it stays flat.
    next_reminder_at: Mapped[datetime | None] = mapped_column(index=True)
    escalate_at: Mapped[datetime | None] = mapped_column(index=True)
    reminders_sent: Mapped[int] = mapped_column(default=0)
    # The people this step is for (None: every holder of the role); set by a disposisi or
    # a move ("Alihkan").
    assignees: Mapped[list[int] | None] = mapped_column(JSON)
    # "🙋 Saya kerjakan" on a shared step: only the claimer acts and is reminded.
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    # The digest reads the first few open steps by deadline (per role, and late ones for
    # the Kadis) and counts up to a cap over these, never every open step. Partial: with
    # `finished_at` as a key column PostgreSQL did not see the order by deadline and sorted
    # every open step. The named ones (claimed or assigned) are read whole over the third.
    __table_args__ = (
        Index(
            "ix_step_instances_open_by_role",
            "role",
            "deadline_at",
            sqlite_where=OPEN_STEP,
            postgresql_where=OPEN_STEP,
        ),
        Index(
            "ix_step_instances_open_by_deadline",
            "deadline_at",
            sqlite_where=OPEN_STEP,
            postgresql_where=OPEN_STEP,
        ),
        Index(  # finished_at first: SQLite, without statistics, picks it by that key
            "ix_step_instances_open_named",
            "finished_at",
            "role",
            "deadline_at",
            sqlite_where=NAMED_OPEN_STEP,
            postgresql_where=NAMED_OPEN_STEP,
        ),
    )


class Document(Base):
    """A version of a document; a new version is a new row and a new file, never an overwrite."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id"), index=True)
    step_instance_id: Mapped[int | None] = mapped_column(ForeignKey("step_instances.id"))
    step_no: Mapped[int]
    version: Mapped[int]
    purpose: Mapped[str] = mapped_column(String(16))  # surat_edaran, draft, revisi, data
    file_name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    telegram_file_id: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(500))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime]


class RevisionNote(Base):
    __tablename__ = "revision_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id"), index=True)
    from_step: Mapped[int]
    to_step: Mapped[int]
    round: Mapped[int]
    note: Mapped[str] = mapped_column(Text)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    created_at: Mapped[datetime]


class AuditLog(Base):
    """Append-only: every action, who, what, when, which step."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    process_id: Mapped[int | None] = mapped_column(ForeignKey("processes.id"), index=True)
    step_no: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    # Tamper evidence: the previous row's hash and this row's (storage/audit_chain.py), set
    # when the row is written; `python -m bot audit verify` walks the chain.
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ActionToken(Base):
    """What a button means. Callback data carries only the token; the server decides."""

    __tablename__ = "action_tokens"

    token: Mapped[str] = mapped_column(String(24), primary_key=True)
    step_instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("step_instances.id"), index=True
    )
    action: Mapped[str] = mapped_column(String(24))
    arg: Mapped[str | None] = mapped_column(String(200))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))  # prompt buttons
    created_at: Mapped[datetime]


class PendingPrompt(Base):
    """The bot asked this person for something (a revision note, a title...) and waits."""

    __tablename__ = "pending_prompts"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Outbox(Base):
    """Every message the bot must send, written in the same transaction as its cause."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(32))  # send_message, send_document, edit
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # Set for task messages so a later action can edit the copies sent to the others.
    step_instance_id: Mapped[int | None] = mapped_column(ForeignKey("step_instances.id"))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    # What the message is, so it can be closed later: card, prompt, reminder, escalation.
    tag: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[datetime | None]  # its buttons were removed (step closed, prompt answered)

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_step_instance_id", "step_instance_id"),
        Index("ix_outbox_chat_message", "chat_id", "message_id"),
    )


class Inbox(Base):
    """Every update, stored before Telegram is told it arrived, then handled from here.

    A crash at any instant loses nothing (polling confirms the offset only past stored rows;
    the webhook answers 200 only after storing) and handles nothing twice (`handled_at` is set
    in the same transaction as the action it caused). Claims are leases, like the outbox.
    """

    __tablename__ = "inbox"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger)  # per-chat order key
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(16))
    claimed_until: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_inbox_pending", "handled_at", "update_id"),)


class Disposition(Base):
    """A disposisi as the office writes it on the lembar disposisi: from, to, instruksi."""

    __tablename__ = "dispositions"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id"), index=True)
    step_instance_id: Mapped[int | None] = mapped_column(ForeignKey("step_instances.id"))
    from_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    to_role: Mapped[str] = mapped_column(String(32))
    to_person_ids: Mapped[list[int]] = mapped_column(JSON)
    instruksi: Mapped[list[str]] = mapped_column(JSON)
    catatan: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class StandIn(Base):
    """Plh/Plt: `standin` does `holder`'s work in `role` from `dari` to `sampai` (local
    dates, inclusive). `started_at`/`ended_at`: when the hand-over was carried out."""

    __tablename__ = "stand_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    holder_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    standin_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    jenis: Mapped[str] = mapped_column(String(8), default="plh")
    dari: Mapped[date] = mapped_column(Date)
    sampai: Mapped[date] = mapped_column(Date)
    created_by: Mapped[int] = mapped_column(BigInteger)  # telegram id of the admin
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_stand_ins_open", "ended_at", "dari"),)


class DigestRun(Base):
    """One row per person per day: the morning digest goes out once, whatever the restarts."""

    __tablename__ = "digest_runs"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    created_at: Mapped[datetime]


class Heartbeat(Base):
    """One row per bot process: when it last finished a scan tick (reminders + outbox).
    `python -m bot health` fails when the newest row is too old: nobody is scanning."""

    __tablename__ = "heartbeats"

    process: Mapped[str] = mapped_column(String(100), primary_key=True)  # host:pid
    scanned_at: Mapped[datetime]


__all__ = [
    "ActionToken",
    "AuditLog",
    "Base",
    "DigestRun",
    "Disposition",
    "Document",
    "Heartbeat",
    "Inbox",
    "Invite",
    "Outbox",
    "PendingPrompt",
    "Person",
    "PersonRole",
    "Process",
    "RevisionNote",
    "StandIn",
    "StepInstance",
]
