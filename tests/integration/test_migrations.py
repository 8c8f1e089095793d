"""Alembic builds the same schema as the models, from an empty database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from storage.db import upgrade
from storage.models import Base


def test_upgrade_from_empty_matches_the_models(tmp_path) -> None:
    path = tmp_path / "fresh" / "bot.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    assert diff == []
    assert {"processes", "step_instances", "outbox", "audit_log", "documents"} <= tables
    upgrade(f"sqlite+aiosqlite:///{path}")  # a second start is a no-op


async def test_four_processes_starting_at_once_all_come_up(tmp_path) -> None:
    """The schema is created once while the others wait (a file lock; on PostgreSQL —
    with TEST_DATABASE_URL — an advisory lock), instead of racing to create the tables."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.dbs import database_url_for, ensure_database

    root = Path(__file__).resolve().parents[2]
    url = database_url_for(tmp_path)
    await ensure_database(url)  # empty
    env = {**os.environ, "DATABASE_URL": url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "db", "upgrade"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], results
