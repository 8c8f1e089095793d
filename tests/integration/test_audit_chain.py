"""The audit log is a hash chain: rows written at once never fork it, rows already there
are chained by the migration, and `python -m bot audit verify` names the first row that was
edited, deleted or slipped in (exit 1)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from bot.services.common import audit
from bot.services.outgoing import enqueue
from storage.audit_chain import GENESIS, row_hash
from storage.db import alembic_config, make_engine, make_sessions, upgrade
from tests.dbs import database_url_for, ensure_database, rows

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def verify(url: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": "1:x"}
    return subprocess.run(
        [sys.executable, "-m", "bot", "audit", "verify", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def execute(url: str, *statements: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for sql in statements:
                await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture
async def chained(tmp_path) -> str:
    """A database whose log was written by four writers at once, 24 rows in all."""
    url = database_url_for(tmp_path)
    await ensure_database(url)
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    sessions = make_sessions(engine)

    async def writer(n: int) -> None:
        for i in range(3):
            async with sessions.begin() as session:
                now = T0 + timedelta(minutes=10 * i + n)
                if n % 2:  # the audit row is not the transaction's first write
                    enqueue(session, now, n, "send_message", {"text": "x"})
                    await session.flush()
                audit(session, now, None, "aktif", None, n, f"penulis {n} ronde {i}")
                audit(session, now, None, "selesai", None, n, None)

    try:
        await asyncio.gather(*(writer(n) for n in range(4)))
    finally:
        await engine.dispose()
    return url


async def test_writers_at_once_leave_one_unbroken_chain(chained: str) -> None:
    found = await rows(chained, "select id, prev_hash, hash from audit_log order by id")
    assert len(found) == 24
    assert found[0][1] == GENESIS
    assert all(row[1] == before[2] for before, row in itertools.pairwise(found))
    assert len({row[1] for row in found}) == 24  # no two rows claim the same predecessor
    result = verify(chained)
    assert result.returncode == 0, result.stderr
    assert "OK: 24 baris" in result.stdout and found[-1][2] in result.stdout
    assert verify(chained, "--kepala", found[10][2][:16]).returncode == 0  # a printed head


async def test_an_edited_row_is_named(chained: str) -> None:
    await execute(chained, "update audit_log set detail = 'disetujui' where id = 5")
    result = verify(chained)
    assert result.returncode == 1
    assert "baris #5 diubah" in result.stderr


async def test_a_row_edited_with_its_hash_recomputed_is_named_too(chained: str) -> None:
    (row,) = await rows(
        chained, "select prev_hash, at, step_no, action from audit_log where id = 5"
    )
    at = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(str(row[1]))
    forged = row_hash(row[0], at, None, None, row[2], row[3], "dipalsukan")
    await execute(
        chained, f"update audit_log set detail = 'dipalsukan', hash = '{forged}' where id = 5"
    )
    result = verify(chained)
    assert result.returncode == 1 and "baris #5 diubah" in result.stderr


async def test_a_deleted_row_is_named(chained: str) -> None:
    await execute(chained, "delete from audit_log where id = 7")
    result = verify(chained)
    assert result.returncode == 1
    assert "baris #7 dihapus" in result.stderr


async def test_the_last_rows_cut_off_are_caught_by_a_printed_head(chained: str) -> None:
    (head,) = await rows(chained, "select hash from audit_log order by id desc limit 1")
    await execute(chained, "delete from audit_log where id > 20")
    assert verify(chained).returncode == 0  # nothing follows them: the chain alone can't tell
    result = verify(chained, "--kepala", head[0][:16])
    assert result.returncode == 1 and "tidak ditemukan" in result.stderr


async def test_an_inserted_row_is_named(chained: str) -> None:
    """Slipped in between #3 and #4 by renumbering the rows after it, with a hash computed
    the bot's own way: the next row still points past it."""
    (prev,) = await rows(chained, "select hash from audit_log where id = 3")
    forged = row_hash(prev[0], T0, None, None, 8, "disetujui", "palsu")
    at = T0.replace(tzinfo=None).isoformat(sep=" ")
    await execute(
        chained,
        "update audit_log set id = id + 1000 where id >= 4",
        "update audit_log set id = id - 999 where id >= 1000",
        "insert into audit_log (id, at, step_no, action, detail, prev_hash, hash) values "
        f"(4, '{at}', 8, 'disetujui', 'palsu', '{prev[0]}', '{forged}')",
    )
    result = verify(chained)
    assert result.returncode == 1
    assert "baris #4 disisipkan" in result.stderr


async def test_a_row_made_up_outside_the_bot_is_named(chained: str) -> None:
    at = T0.replace(tzinfo=None).isoformat(sep=" ")
    await execute(
        chained,
        "insert into audit_log (id, at, step_no, action, prev_hash, hash) values "
        f"(25, '{at}', 8, 'disetujui', '{'0' * 64}', '{'1' * 64}')",
    )
    result = verify(chained)
    assert result.returncode == 1 and "baris #25 disisipkan" in result.stderr


async def test_rows_written_before_the_upgrade_are_chained_by_it(tmp_path) -> None:
    url = database_url_for(tmp_path)
    await ensure_database(url)
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0005")
    await execute(
        url,
        *(
            "insert into audit_log (at, action, detail) values "
            f"('2026-11-2{i} 01:00:00.000000', 'mulai', 'lama {i}')"
            for i in range(3)
        ),
    )
    await asyncio.to_thread(upgrade, url)
    result = verify(url)
    assert result.returncode == 0, result.stderr
    assert "OK: 3 baris" in result.stdout
