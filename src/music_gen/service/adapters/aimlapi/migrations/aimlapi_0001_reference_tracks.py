"""AI/ML API's uploaded references in a table of its own: ``aimlapi_reference_tracks``.

A database made before the adapters had their own histories keeps them in the core's
``reference_tracks`` (core revision 0003; the core's 0006 drops it only where it is empty):
its rows are copied here, then it is dropped. Runs after the core's head.

Revision ID: aimlapi_0001
Revises:
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "aimlapi_0001"
down_revision = None
branch_labels = None
depends_on = None

COLUMNS = "id, account_id, kind, purpose, key, duration, separation, created_at"


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "aimlapi_reference_tracks",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("separation", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_aimlapi_reference_tracks_account_id", "aimlapi_reference_tracks", ["account_id"]
    )
    if "reference_tracks" in sa.inspect(bind).get_table_names():
        bind.execute(
            sa.text(
                f"INSERT INTO aimlapi_reference_tracks ({COLUMNS}) "
                f"SELECT {COLUMNS} FROM reference_tracks"
            )
        )
        op.drop_table("reference_tracks")


def downgrade() -> None:
    """Back into the core's ``reference_tracks`` (as core revision 0003 made it)."""
    op.create_table(
        "reference_tracks",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("separation", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reference_tracks_account_id", "reference_tracks", ["account_id"])
    op.execute(
        f"INSERT INTO reference_tracks ({COLUMNS}) SELECT {COLUMNS} FROM aimlapi_reference_tracks"
    )
    op.drop_table("aimlapi_reference_tracks")
