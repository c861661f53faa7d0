"""The identity store: observations, retired keys, learnt counts and reviews.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_observations",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("person_key", sa.String(), nullable=False),
        sa.Column("agency", sa.String(), nullable=False),
        sa.Column("local_id", sa.String(), nullable=False),
        sa.Column("given_name", sa.String(), nullable=True),
        sa.Column("family_name", sa.String(), nullable=True),
        sa.Column("birth_date", sa.String(), nullable=True),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("postcode", sa.String(), nullable=True),
        sa.Column("nhs_number", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_identity_observations")),
        sa.UniqueConstraint("record_hash", name=op.f("uq_identity_observations_record_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_identity_observations_person_key"), "identity_observations", ["person_key"]
    )
    op.create_table(
        "identity_retired_keys",
        sa.Column("person_key", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("person_key", name=op.f("pk_identity_retired_keys")),
    )
    op.create_table(
        "identity_learned",
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("field", name=op.f("pk_identity_learned")),
    )
    op.create_table(
        "identity_reviews",
        sa.Column("person_key", sa.String(), nullable=False),
        sa.Column("candidates", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("person_key", name=op.f("pk_identity_reviews")),
    )
