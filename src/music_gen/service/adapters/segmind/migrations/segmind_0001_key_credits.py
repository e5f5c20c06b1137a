"""Segmind's credits in a table of its own: ``segmind_key_credits`` (key id -> credits spent).

A database made before the adapters had their own histories keeps spent credits in the core's
``api_keys.credits_used`` (core revision 0002; the core's 0006 drops it only where nothing was
spent): they are copied here, then the old column is dropped. Runs after the core's head.

Revision ID: segmind_0001
Revises:
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "segmind_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "segmind_key_credits",
        sa.Column("key_id", sa.String(40), primary_key=True),
        sa.Column("credits_used", sa.Float(), nullable=False, server_default="0"),
    )
    columns = {c["name"] for c in sa.inspect(bind).get_columns("api_keys")}
    if "credits_used" in columns:
        bind.execute(
            sa.text(
                "INSERT INTO segmind_key_credits (key_id, credits_used) "
                "SELECT id, credits_used FROM api_keys WHERE credits_used <> 0"
            )
        )
        with op.batch_alter_table("api_keys") as batch:
            batch.drop_column("credits_used")


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("credits_used", sa.Float(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE api_keys SET credits_used = COALESCE((SELECT credits_used FROM "
        "segmind_key_credits WHERE segmind_key_credits.key_id = api_keys.id), 0)"
    )
    op.drop_table("segmind_key_credits")
