"""Migrations carry old data over: a database made by the old schema (jobs with a ``kind``
and adapter keys inside their parameters) upgrades to origin + type + options, on SQLite and
PostgreSQL, and every job loads back as a ``JobSpec``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from service_helpers import postgres_database

from music_gen.service.core.db import Job, open_database
from music_gen.service.core.spec import JobSpec


def _upgrade(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    import music_gen.service.core.db as db_module

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
