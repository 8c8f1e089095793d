"""partial indexes of open steps for a flat digest (by role, by deadline, named ones)
instead of the indexes of 0004 and 0008

PostgreSQL did not read the order by deadline out of the 0008 indexes (their first key
column, finished_at, is matched by IS NULL, not by equality) and sorted every open step.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OPEN = "finished_at IS NULL"
NAMED = (
    "finished_at IS NULL AND "
    "(claimed_by IS NOT NULL OR "
    "CAST(assignees AS TEXT) LIKE '[%' AND CAST(assignees AS TEXT) != '[]')"
)


def _partial(name: str, columns: list[str], where: str) -> None:
    op.create_index(
        name,
        "step_instances",
        columns,
        unique=False,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    # All three cover `finished_at IS NULL`; without statistics SQLite chose this one and
    # walked every open step.
    op.drop_index("ix_step_instances_finished_at", table_name="step_instances")
    op.drop_index("ix_step_instances_open_deadline", table_name="step_instances")
    op.drop_index("ix_step_instances_open_role", table_name="step_instances")
    _partial("ix_step_instances_open_by_role", ["role", "deadline_at"], OPEN)
    _partial("ix_step_instances_open_by_deadline", ["deadline_at"], OPEN)
    # finished_at leads so SQLite, without statistics, picks it for the named steps.
    _partial("ix_step_instances_open_named", ["finished_at", "role", "deadline_at"], NAMED)


def downgrade() -> None:
    op.drop_index("ix_step_instances_open_named", table_name="step_instances")
    op.drop_index("ix_step_instances_open_by_deadline", table_name="step_instances")
    op.drop_index("ix_step_instances_open_by_role", table_name="step_instances")
    op.create_index(
        "ix_step_instances_finished_at", "step_instances", ["finished_at"], unique=False
    )
    op.create_index(
        "ix_step_instances_open_role",
        "step_instances",
        ["role", "finished_at", "deadline_at"],
        unique=False,
    )
    op.create_index(
        "ix_step_instances_open_deadline",
        "step_instances",
        ["finished_at", "deadline_at"],
        unique=False,
    )
