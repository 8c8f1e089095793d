"""indexes for a flat digest: open steps by role and deadline, open steps by deadline

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_index("ix_step_instances_open_deadline", table_name="step_instances")
    op.drop_index("ix_step_instances_open_role", table_name="step_instances")
