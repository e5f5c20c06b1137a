"""Audio files remember the server that stored them (any node can send a client there).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audio_files") as batch:
        batch.add_column(sa.Column("node", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audio_files") as batch:
        batch.drop_column("node")
