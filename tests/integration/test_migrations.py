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
