"""Segmind credits in the adapter's own table: concurrent spends add up (the first spend of a
key creates its row, racing others), a refund gives back, balances are per key. SQLite and
PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from service_helpers import postgres_database

from music_gen.service.adapters import segmind
from music_gen.service.adapters.segmind.credits import remaining, spend, spent
from music_gen.service.adapters.segmind.settings import SegmindSettings
from music_gen.service.core.infra.auth import Caller
from music_gen.service.core.infra.db import Database, open_database
from music_gen.service.core.plugins import migrations_of


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Iterator[Database]:
    with contextlib.ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'credits.db'}"
        if request.param == "postgresql":
            url = stack.enter_context(postgres_database())
        database = open_database(url, migrations_of([segmind.adapter(SegmindSettings())]))
        stack.callback(database.dispose)
        yield database


def test_concurrent_spends_add_up_and_refunds_give_back(db):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: spend(db, "key_a", 1.5), range(24)))
    assert spent(db, "key_a") == pytest.approx(36.0)
    spend(db, "key_a", -6.0)
    assert spent(db, "key_a") == pytest.approx(30.0) and spent(db, "key_b") == 0.0
    settings = SegmindSettings(key_credits=40.0)
    assert remaining(db, settings, Caller("acct", "key_a")) == "10"
    assert remaining(db, settings, Caller("acct", "key_b")) == "40"
    assert remaining(db, settings, None) == "0"
    assert remaining(db, SegmindSettings(key_credits=None), None) == "unlimited"
