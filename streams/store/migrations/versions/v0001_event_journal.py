"""The event journal: every accepted agency event, recorded once.

There is no downgrade: the journal is the only durable record of the accepted events,
so a bad migration is followed by a fixing one rather than undone.

Revision ID: 0001
Revises: none
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_journal",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("record", sa.String(), nullable=False),
        sa.Column("agency", sa.String(), nullable=False),
        sa.Column("local_id", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("source_topic", sa.String(), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_event_journal")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_journal_event_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_journal_kind_position", "event_journal", ["kind", "position"])
    op.create_index("ix_event_journal_agency_local_id", "event_journal", ["agency", "local_id"])
