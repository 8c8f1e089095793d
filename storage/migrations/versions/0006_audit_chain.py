"""tamper-evident audit chain: each audit row carries the previous row's hash and its own;
rows already there are chained here, oldest first

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from storage.audit_chain import GENESIS, row_hash

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_audit = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("at", sa.DateTime),
    sa.column("person_id", sa.Integer),
    sa.column("process_id", sa.Integer),
    sa.column("step_no", sa.Integer),
    sa.column("action", sa.String),
    sa.column("detail", sa.Text),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as b:
        b.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        b.add_column(sa.Column("hash", sa.String(64), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(_audit).order_by(_audit.c.id)).all()
    prev = GENESIS
    for r in rows:
        own = row_hash(prev, r.at, r.person_id, r.process_id, r.step_no, r.action, r.detail)
        conn.execute(
            _audit.update().where(_audit.c.id == r.id).values(prev_hash=prev, hash=own)
        )
        prev = own
    with op.batch_alter_table("audit_log") as b:
        b.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        b.alter_column("hash", existing_type=sa.String(64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as b:
        b.drop_column("hash")
        b.drop_column("prev_hash")
