"""Migrations carry old data over: a database made by the old schema (jobs with a ``kind``
and adapter keys inside their parameters) upgrades to origin + type + options, on SQLite and
PostgreSQL, and every job loads back as a ``JobSpec``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from service_helpers import postgres_database

from music_gen.service.core.infra.db import Job, Migrations, open_database
from music_gen.service.core.jobs.spec import JobSpec
from music_gen.service.core.plugins import migrations_of


def _upgrade(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    import music_gen.service.core.infra.db as db_module

    config = Config()
    config.set_main_option("script_location", str(Path(db_module.__file__).with_name("migrations")))
    config.set_main_option("sqlalchemy.url", url)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


OLD_JOBS = [  # (id, kind, params) as the old schema stored them
    ("j-api", "generate", {"prompt": "a", "duration": 1.0, "seed": 1, "format": "wav"}),
    ("j-stream", "stream", {"prompt": "b", "duration": 1.0, "seed": 2, "format": "wav"}),
    ("j-multi", "multitrack", {"prompt": "c", "duration": 2.0, "seed": 3, "format": "wav",
                               "instruments": {"bass": "funky"}, "mix_settings": None}),
    ("j-seg", "segmind", {"prompt": "d", "duration": 1.0, "seed": 4, "format": "wav",
                          "segmind": {"key_id": "k1", "cost": 2.0}}),
    ("j-ml", "modelslab", {"prompt": "e", "duration": 1.0, "seed": 5, "format": "wav",
                           "api": "modelslab", "modelslab": {"output_format": "mp3"}}),
    ("j-leap", "leap", {"prompt": "f", "duration": 1.0, "seed": 6, "format": "wav",
                        "mode": "melody"}),
]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request, tmp_path):
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            url = stack.enter_context(postgres_database())
        else:
            url = f"sqlite:///{tmp_path / 'old.db'}"
        _upgrade(url, "0004")
        engine = sa.create_engine(url)
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO accounts (id, name, webhook_secret, created_at) "
                              "VALUES ('acc', 'a', 's', CURRENT_TIMESTAMP)"))  # fmt: skip
            for job_id, kind, params in OLD_JOBS:
                c.execute(
                    sa.text("INSERT INTO jobs (id, account_id, kind, status, progress, params, "
                            "model, attempts, created_at) VALUES (:id, 'acc', :kind, 'queued', "
                            "0, :params, 'm', 0, CURRENT_TIMESTAMP)"),
                    {"id": job_id, "kind": kind, "params": json.dumps(params)},
                )  # fmt: skip
        engine.dispose()
        yield url


def test_old_jobs_become_origin_type_and_options(old_database):
    db = open_database(old_database)
    with db.session() as s:
        jobs = {job.id: job for job in s.scalars(sa.select(Job))}
    got = {job_id: (job.origin, job.type) for job_id, job in jobs.items()}
    assert got == {
        "j-api": ("api", "batch"),
        "j-stream": ("api", "stream"),
        "j-multi": ("api", "multitrack"),
        "j-seg": ("segmind", "batch"),
        "j-ml": ("modelslab", "batch"),
        "j-leap": ("leap", "batch"),
    }
    assert jobs["j-seg"].options == {"segmind": {"key_id": "k1", "cost": 2.0}}
    assert jobs["j-ml"].options == {"api": "modelslab", "modelslab": {"output_format": "mp3"}}
    assert jobs["j-leap"].options == {"mode": "melody"} and jobs["j-api"].options is None
    for job in jobs.values():  # adapter keys left the spec: every job loads as one
        spec = JobSpec.from_stored(job.params, job.model)
        assert spec.seed == job.params["seed"]
    assert JobSpec.from_stored(jobs["j-multi"].params, "m").instruments == {"bass": "funky"}
    db.dispose()


def _adapter_migrations() -> list[Migrations]:
    """The histories a node migrates at startup after the core's: its vendor adapters'."""
    from music_gen.service.adapters import aimlapi, leap, modelslab, segmind

    return migrations_of(
        [leap.adapter(), segmind.adapter(), modelslab.adapter(), aimlapi.adapter()]
    )


def _migrate_at_startup(url: str, barrier: Any) -> None:
    """One node's startup migration (the core's history, then the adapters'), begun together
    with the other nodes'."""
    extra = _adapter_migrations()
    barrier.wait(timeout=300)
    open_database(url, extra).dispose()


def _schema(url: str) -> dict[str, Any]:
    """Every table with its columns, and every Alembic version table's rows."""
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    tables = {
        t: sorted(c["name"] for c in inspector.get_columns(t)) for t in inspector.get_table_names()
    }
    with engine.connect() as c:
        versions = {
            t: sorted(c.execute(sa.text(f"SELECT version_num FROM {t}")).scalars())
            for t in tables
            if t.startswith("alembic_version")
        }
    engine.dispose()
    return {"tables": tables, "versions": versions}


def test_nodes_started_together_on_an_empty_postgresql_database_all_migrate_it():
    """Four nodes migrate one empty PostgreSQL database at once (processes, released together
    by a barrier): every one starts, and the schema is the one a lone node makes."""
    import multiprocessing

    nodes = 4
    with postgres_database() as alone, postgres_database() as shared:
        open_database(alone, _adapter_migrations()).dispose()
        spawn = multiprocessing.get_context("spawn")
        barrier = spawn.Barrier(nodes)
        procs = [
            spawn.Process(target=_migrate_at_startup, args=(shared, barrier)) for _ in range(nodes)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=600)
        assert [p.exitcode for p in procs] == [0] * nodes
        expected = _schema(alone)
        assert len(expected["versions"]) == 3  # the core's history and two adapters'
        assert _schema(shared) == expected
