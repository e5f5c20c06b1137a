"""A job's ``kind`` (which meant three things) becomes where it came from (``origin`` plus that
origin's ``options``) and what it is (``type``); adapter keys leave the stored spec.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: kinds that named an adapter (the origin) rather than what the job was
ADAPTERS = ("segmind", "modelslab", "leap", "aimlapi")
TYPES = {"generate": "batch", "stream": "stream", "multitrack": "multitrack", "edit": "edit"}
#: keys the adapters kept inside the job's parameters: now the origin's options
OPTION_KEYS = ("api", "segmind", "modelslab", "aimlapi", "audio_setting", "mode")

jobs = sa.table(
    "jobs",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("origin", sa.String),
    sa.column("type", sa.String),
    sa.column("params", sa.JSON),
    sa.column("options", sa.JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("origin", sa.String(40), nullable=False, server_default="api"))
        batch.add_column(sa.Column("type", sa.String(20), nullable=False, server_default="batch"))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(jobs.c.id, jobs.c.kind, jobs.c.params)).all()
    for job_id, kind, params in rows:
        if isinstance(params, str):  # some drivers hand JSON back as text
            params = json.loads(params)
        params = dict(params or {})
        options = {k: params.pop(k) for k in OPTION_KEYS if k in params}
        origin = kind if kind in ADAPTERS else "api"
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(
                origin=origin, type=TYPES.get(kind, "batch"), params=params, options=options or None
            )
        )
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("kind")
        batch.create_index("ix_jobs_origin", ["origin"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False,
                                   server_default="generate"))  # fmt: skip
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(jobs.c.id, jobs.c.origin, jobs.c.type, jobs.c.params, jobs.c.options)
    ).all()
    back = {v: k for k, v in TYPES.items()}
    for job_id, origin, type_, params, options in rows:
        if isinstance(params, str):
            params = json.loads(params)
        if isinstance(options, str):
            options = json.loads(options)
        kind = origin if origin in ADAPTERS else back.get(type_, "generate")
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(kind=kind, params={**(params or {}), **(options or {})})
        )
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_origin")
        batch.drop_column("options")
        batch.drop_column("type")
        batch.drop_column("origin")
