"""``jobs.report``: what a running job reports beside its progress, kept with the job (a
fine-tuning job: its step, total steps and loss history), so every API node shows it and a
restarted run carries on from it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("report", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "report")
