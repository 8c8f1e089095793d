"""index on step_instances.finished_at (open steps are found by it)

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_step_instances_finished_at", "step_instances", ["finished_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_step_instances_finished_at", table_name="step_instances")
