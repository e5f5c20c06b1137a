"""Vendor adapters' data leaves the core's tables: ``api_keys.credits_used`` (0002) and
``reference_tracks`` (0003) now belong to the adapters that use them, each in its own history.

What is empty is dropped here (a fresh database ends with the core's tables only). What holds
data is left in place for the owning adapter's first migration, which copies it into its own
table and then drops the old one: nothing is lost whatever order the pieces arrive in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    tables = sa.inspect(bind).get_table_names()
    empty = "SELECT COUNT(*) FROM reference_tracks"
    if "reference_tracks" in tables and not bind.execute(sa.text(empty)).scalar():
        op.drop_table("reference_tracks")
    columns = {c["name"] for c in sa.inspect(bind).get_columns("api_keys")}
    if "credits_used" in columns:
        spent = "SELECT COUNT(*) FROM api_keys WHERE credits_used <> 0"
        if not bind.execute(sa.text(spent)).scalar():
            with op.batch_alter_table("api_keys") as batch:
                batch.drop_column("credits_used")


def downgrade() -> None:
    """Put back (empty) what 0002 and 0003 made, where an adapter's downgrade has not already
    put it back with its rows."""
    bind = op.get_bind()
    if "reference_tracks" not in sa.inspect(bind).get_table_names():
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
    if "credits_used" not in {c["name"] for c in sa.inspect(bind).get_columns("api_keys")}:
        with op.batch_alter_table("api_keys") as batch:
            batch.add_column(
                sa.Column("credits_used", sa.Float(), nullable=False, server_default="0")
            )
