"""The shared view: person and place views, the events folded into them, and the read audit.

The read audit is append-only, and triggers make the database refuse changing or deleting
its rows, whoever asks.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_APPEND_ONLY = "read_audit is append-only"

_SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER read_audit_no_{action} BEFORE {action.upper()} ON read_audit
    BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END
    """
    for action in ("update", "delete")
]

_POSTGRESQL_TRIGGERS = [
    f"""
    CREATE FUNCTION read_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$
    """,
    """
    CREATE TRIGGER read_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON read_audit
    FOR EACH STATEMENT EXECUTE FUNCTION read_audit_append_only()
    """,
]


def upgrade() -> None:
    op.create_table(
        "person_views",
        sa.Column("person_key", sa.String(), nullable=False),
        sa.Column("view", sa.Text(), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("person_key", name=op.f("pk_person_views")),
    )
    op.create_index("ix_person_views_last_event_at", "person_views", ["last_event_at"])
    op.create_table(
        "place_views",
        sa.Column("place_id", sa.String(), nullable=False),
        sa.Column("view", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("place_id", name=op.f("pk_place_views")),
    )
    op.create_table(
        "view_events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("person_key", sa.String(), nullable=False),
        sa.Column(
            "applied_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_view_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_view_events_event_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_view_events_person_key", "view_events", ["person_key"])
    op.create_table(
        "read_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column(
            "at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("person_key", sa.String(), nullable=False),
        sa.Column("what", sa.String(), nullable=False),
        sa.Column("basis", sa.String(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_audit")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_read_audit_person_key_id", "read_audit", ["person_key", "id"])
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_TRIGGERS if dialect == "sqlite" else _POSTGRESQL_TRIGGERS:
        op.execute(statement)
