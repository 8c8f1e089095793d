"""Queueing what the bot must send: a row in the outbox, written in the same transaction as
its cause (the outbox sender, handlers/outbox.py, delivers it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage import queued
from storage.models import Document, Outbox

Buttons = list[list[tuple[str, str]]]  # rows of (label, token)

UNORDERED = ("close_orphans",)  # housekeeping rows, sent apart from a chat's order
# Rows that read what was sent before them (the card a reminder replies to, the copies a
# closing edits): the outbox starts a run with them, so the rows ahead are recorded by then.
READS_SENT = ("remind", "close_task", "close_prompts")
CHANGES_SENT = ("close_task", "close_prompts", "edit_message")  # no new message in the chat
BULK_TAGS = ("digest", "reminder", "escalation")  # paced after anything interactive
FILES = ("send_document", "send_record", "send_photo", "send_voice")  # sends that may be slow


def enqueue(
    session: AsyncSession,
    now: datetime,
    chat_id: int,
    method: str,
    payload: dict[str, Any],
    step_instance_id: int | None = None,
    claimed_until: datetime | None = None,
    tag: str | None = None,
) -> Outbox:
    """Queue one Bot API call in the current transaction; the outbox sender delivers it.
    `claimed_until`: the caller sends it itself right after commit (a reply to the person
    who acted); if it dies first, the outbox takes the row over when that time has passed.
    So are the rows an action queues (`session.info["claim"]`: the actor's chat, until, set
    by the action's handler): all of them for the actor, and what simply goes out for
    anyone else (a card, a document, a notice; not a closing that reads what was sent, not
    a bulk row, not a file that takes seconds to make or upload). `session.info["queued"]`
    lists every row queued."""
    claim = session.info.get("claim")
    if (
        claim is not None
        and method not in UNORDERED
        and _sent_directly(claim[0], chat_id, method, tag, payload)
    ):
        claimed_until = claimed_until or claim[1]
    row = Outbox(
        chat_id=chat_id,
        method=method,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        step_instance_id=step_instance_id,
        claimed_until=claimed_until,
        tag=tag,
    )
    queued.add(session, row)  # written with the next statement or the commit
    session.info.setdefault("queued", []).append(row)
    return row


def _sent_directly(
    actor_chat: int, chat_id: int, method: str, tag: str | None, payload: dict[str, Any]
) -> bool:
    if chat_id == actor_chat:
        return True
    return method not in READS_SENT and tag not in BULK_TAGS and not _slow(method, payload)


def _slow(method: str, payload: dict[str, Any]) -> bool:
    """A file the bot renders (a record) or uploads from its own copy (no Telegram file id):
    seconds, not milliseconds. For someone else it goes by the sender in the background:
    the actor's next update must not wait for another person's file."""
    return method in FILES and not payload.get("file_id")  # a record never has one


def send(
    session: AsyncSession,
    now: datetime,
    chat_id: int,
    text: str,
    buttons: Buttons | None = None,
    step_instance_id: int | None = None,
    tag: str | None = None,
) -> Outbox:
    """A message; `tag` says what closes it later (card, prompt, reminder, escalation)."""
    payload = {"text": text, "buttons": buttons}
    return enqueue(session, now, chat_id, "send_message", payload, step_instance_id, tag=tag)


def send_document(
    session: AsyncSession, now: datetime, chat_id: int, doc: Document, caption: str
) -> None:
    payload = {
        "file_id": doc.telegram_file_id,
        "path": doc.path,
        "file_name": doc.file_name,
        "caption": caption,
    }
    enqueue(session, now, chat_id, "send_document", payload)
