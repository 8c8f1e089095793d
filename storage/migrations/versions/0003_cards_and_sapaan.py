"""closable messages (tag, closed_at), their indexes, and how people are addressed

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("tag", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("closed_at", storage.models.UTCDateTime(), nullable=True))
    op.create_index("ix_outbox_step_instance_id", "outbox", ["step_instance_id"])
    op.create_index("ix_outbox_chat_message", "outbox", ["chat_id", "message_id"])
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("sapaan", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("sapaan")
    op.drop_index("ix_outbox_chat_message", table_name="outbox")
    op.drop_index("ix_outbox_step_instance_id", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("closed_at")
        batch.drop_column("tag")
