"""disposisi recipients and instruksi, nomor agenda and sifat, signed naskah, claims,
stand-ins (Plh/Plt), cancellation

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processes") as b:
        b.add_column(sa.Column("nomor_agenda", sa.String(64), nullable=True))
        b.add_column(sa.Column("sifat", sa.String(16), nullable=False, server_default="biasa"))
        b.add_column(sa.Column("nomor_naskah", sa.String(100), nullable=True))
        b.add_column(sa.Column("cancelled_reason", sa.Text(), nullable=True))
        b.add_column(sa.Column("assignments", sa.JSON(), nullable=True))
        b.create_unique_constraint("uq_processes_nomor_agenda", ["nomor_agenda"])
    with op.batch_alter_table("processes") as b:
        b.alter_column("sifat", server_default=None)
    with op.batch_alter_table("step_instances") as b:
        b.add_column(sa.Column("assignees", sa.JSON(), nullable=True))
        b.add_column(sa.Column("claimed_by", sa.Integer(), nullable=True))
        b.create_foreign_key(
            "fk_step_instances_claimed_by_people", "people", ["claimed_by"], ["id"]
        )
    op.create_table(
        "dispositions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("process_id", sa.Integer(), sa.ForeignKey("processes.id"), nullable=False),
        sa.Column(
            "step_instance_id", sa.Integer(), sa.ForeignKey("step_instances.id"), nullable=True
        ),
        sa.Column("from_person_id", sa.Integer(), sa.ForeignKey("people.id"), nullable=False),
        sa.Column("to_role", sa.String(32), nullable=False),
        sa.Column("to_person_ids", sa.JSON(), nullable=False),
        sa.Column("instruksi", sa.JSON(), nullable=False),
        sa.Column("catatan", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_dispositions_process_id", "dispositions", ["process_id"])
    op.create_table(
        "stand_ins",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("holder_id", sa.Integer(), sa.ForeignKey("people.id"), nullable=False),
        sa.Column("standin_id", sa.Integer(), sa.ForeignKey("people.id"), nullable=False),
        sa.Column("jenis", sa.String(8), nullable=False),
        sa.Column("dari", sa.Date(), nullable=False),
        sa.Column("sampai", sa.Date(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_stand_ins_open", "stand_ins", ["ended_at", "dari"])


def downgrade() -> None:
    op.drop_index("ix_stand_ins_open", table_name="stand_ins")
    op.drop_table("stand_ins")
    op.drop_index("ix_dispositions_process_id", table_name="dispositions")
    op.drop_table("dispositions")
    with op.batch_alter_table("step_instances") as b:
        b.drop_constraint("fk_step_instances_claimed_by_people", type_="foreignkey")
        b.drop_column("claimed_by")
        b.drop_column("assignees")
    with op.batch_alter_table("processes") as b:
        b.drop_constraint("uq_processes_nomor_agenda", type_="unique")
        for col in ("assignments", "cancelled_reason", "nomor_naskah", "sifat", "nomor_agenda"):
            b.drop_column(col)
