"""Erasure: the record of erasure requests carried out, and when rows were scrubbed.

The journal and the accepted-events ledger gain ``erased_at``, set when erasure blanks a
row's identifiers; the ledger gains an index on ``key``, by which erasure finds a person's
messages.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_erasures",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("person_key", sa.String(), nullable=True),
        sa.Column(
            "erased_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_person_erasures")),
    )
    for table in ("event_journal", "accepted_events"):
        # A nullable column without a default: SQLite adds it in place, without a rebuild.
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_accepted_events_key", "accepted_events", ["key"])
