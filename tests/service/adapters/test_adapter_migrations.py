"""The adapters' tables and their migrations: a database made by the old (pre-adapter-package)
schema upgrades without losing Segmind credits or AI/ML API references, a fresh one ends on the
same schema, each adapter's tables match its models, and the core alone still opens a database
the adapters have migrated (their histories are in version tables of their own). SQLite and
PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from adapter_helpers import start_with_env
from service_helpers import postgres_database

from music_gen.service.adapters.common import AdapterBase
from music_gen.service.app import default_adapters
from music_gen.service.core.infra.auth import hash_key
from music_gen.service.core.infra.db import Database, open_database, upgrade
from music_gen.service.core.plugins import migrations_of

KEY = "mgk_" + "o" * 43  # an old key, inserted by its hash
NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            yield stack.enter_context(postgres_database())
        else:
            yield f"sqlite:///{tmp_path / 'data' / 'music-gen.db'}"


def _old_database(url: str) -> None:
    """The schema the core's migrations made up to 0004 (credits in ``api_keys``, references in
    ``reference_tracks``), with a spent key, an unspent one and a reference."""
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    db = Database(url)
    upgrade(db, "0004")
    with db.engine.begin() as c:
        c.execute(sa.text("INSERT INTO accounts (id, name, webhook_secret, created_at) "
                          "VALUES ('acct_old', 'old', 'whsec_x', :t)"), {"t": NOW})  # fmt: skip
        for key_id, key, spent in (("key_old", KEY, 2.5), ("key_new", "mgk_unused", 0.0)):
            c.execute(
                sa.text("INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at,"
                        " credits_used) VALUES (:id, 'acct_old', 'old', :p, :h, :t, :spent)"),
                {"id": key_id, "p": key[:12], "h": hash_key(key), "t": NOW, "spent": spent},
            )  # fmt: skip
        c.execute(
            sa.text("INSERT INTO reference_tracks (id, account_id, kind, purpose, key, duration, "
                    "separation, created_at) VALUES ('instrumental-old', 'acct_old', "
                    "'instrumental', 'song', 'ref-old.wav', 12.5, 'repet-sim', :t)"),
            {"t": NOW},
        )  # fmt: skip
    db.dispose()


def _schema(url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {
            t: sorted(c["name"] for c in inspector.get_columns(t))
            + sorted(str(i["name"]) for i in inspector.get_indexes(t))
            for t in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()


def _rows(url: str, query: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(sa.text(query))]
    finally:
        engine.dispose()


def test_an_old_database_upgrades_without_losing_credits_or_references(
    database_url, tmp_path, checkpoints
):
    _old_database(database_url)
    env = {"MUSIC_GEN_KEY_CREDITS": "10", "MUSIC_GEN_CREDITS_PER_SECOND": "1"}
    server = start_with_env(tmp_path / "data", env, model=str(checkpoints["mono"]),
                            database_url=database_url)  # fmt: skip
    try:
        base = server.settings.base_url
        answer = httpx.post(f"{base}/v1/meta-musicgen-medium", headers={"x-api-key": KEY}, json={})
        assert answer.status_code == 400  # no prompt; the balance is still on the answer
        assert answer.headers["x-remaining-credits"] == "7.5"  # 10 - the 2.5 spent before
        refs = httpx.get(f"{base}/v2/generate/audio/minimax/references",
                         headers={"Authorization": f"Bearer {KEY}"}).json()  # fmt: skip
        assert [(r["id"], r["duration"], r["separation"]) for r in refs["references"]] == [
            ("instrumental-old", 12.5, "repet-sim")
        ]
    finally:
        server.stop()
    assert _rows(database_url, "SELECT key_id, credits_used FROM segmind_key_credits") == [
        ("key_old", 2.5)
    ]
    tables = _schema(database_url)
    assert "reference_tracks" not in tables and "credits_used" not in tables["api_keys"]


def test_fresh_and_upgraded_databases_end_on_one_schema(tmp_path):
    old, fresh = (f"sqlite:///{tmp_path / name}.db" for name in ("old", "fresh"))
    extra = migrations_of(default_adapters())
    _old_database(old)
    open_database(old, extra).dispose()
    open_database(fresh, extra).dispose()
    assert _schema(old) == _schema(fresh)
    assert {"segmind_key_credits", "aimlapi_reference_tracks"} <= set(_schema(fresh))


def test_adapter_tables_match_their_models_and_the_core_alone_still_opens(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    extra = migrations_of(default_adapters())
    db = open_database(database_url, extra)
    mine = set(AdapterBase.metadata.tables)
    assert {"segmind_key_credits", "aimlapi_reference_tracks"} <= mine
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_name": lambda name, kind, _: kind != "table" or name in mine},
        )
        assert compare_metadata(context, AdapterBase.metadata) == []
    db.dispose()
    open_database(database_url).dispose()  # the core's history alone: the adapters' are apart
    open_database(database_url, extra).dispose()  # and again with them: nothing left to do
