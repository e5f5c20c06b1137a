"""``JobStore`` without a server: queue positions follow the order ``claim`` takes jobs in, and
deleting an ended job removes exactly that account's job and its audio rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from music_gen.errors import Conflict, NotFound
from music_gen.service.core.infra.auth import KeyStore
from music_gen.service.core.infra.db import AudioFile, open_database
from music_gen.service.core.jobs.jobs import JobStore, NewJob
from music_gen.service.core.jobs.spec import JobSpec


def _spec(prompt: str, duration: float = 1.0, model: str = "m") -> JobSpec:
    return JobSpec(model=model, prompt=prompt, duration=duration, seed=1)


@pytest.fixture
def store(tmp_path) -> JobStore:
    return JobStore(open_database(f"sqlite:///{tmp_path / 'jobs.db'}"))


def _account(store: JobStore, name: str) -> str:
    return KeyStore(store.db).account(name).id


def test_queue_positions_are_the_order_jobs_are_claimed_in(store):
    a, b = _account(store, "a"), _account(store, "b")

    def submit() -> list[str]:
        # a's backlog first, then b's: fairness puts b's oldest second
        return [store.create(NewJob(w, _spec("x")))[0].id for w in (a, a, a, b, b)]

    ids = submit()
    a1, a2, a3, b1, b2 = ids
    assert store.queue_positions(ids) == {a1: 1, b1: 2, a2: 3, b2: 4, a3: 5}
    assert store.queue_positions([b2]) == {b2: 4}
    assert store.queue_positions([]) == {}
    # one claim of many takes them in exactly that order
    claimed = store.claim("w", 5, per_account=10)
    assert [job.id for job in claimed] == [a1, b1, a2, b2, a3]
    assert store.queue_positions(ids) == {}  # running: no position
    # claimed one at a time, position 1 is always the next one, and the rest move up
    ids = submit()
    while positions := store.queue_positions(ids):
        assert sorted(positions.values()) == list(range(1, len(positions) + 1))
        [job] = store.claim("w", 1, per_account=10)
        assert positions[job.id] == 1


def test_delete_ended_removes_only_that_accounts_job_and_audio(store):
    a, b = _account(store, "a"), _account(store, "b")
    mine, _ = store.create(NewJob(a, _spec("mine")))
    other, _ = store.create(NewJob(a, _spec("other")))
    with store.db.session.begin() as s:
        for job, audio_id in [(mine, "au1"), (mine, "au2"), (other, "au3")]:
            s.add(AudioFile(id=audio_id, job_id=job.id, account_id=a, key=f"{audio_id}.wav",
                            format="wav", sample_rate=32000, channels=1, duration=1.0,
                            size=10))  # fmt: skip
    with pytest.raises(Conflict) as queued:  # not ended: cancel first
        store.delete_ended(mine.id, a)
    assert queued.value.code == "NOT_DELETABLE"
    [running] = store.claim("w", 1, per_account=1)
    assert running.id == mine.id
    with pytest.raises(Conflict):
        store.delete_ended(mine.id, a)
    assert store.finish(running, {}, "au1")
    with pytest.raises(NotFound):  # another account's job is not there for b
        store.delete_ended(mine.id, b)
    assert sorted(store.delete_ended(mine.id, a)) == [("au1", "au1.wav"), ("au2", "au2.wav")]
    with pytest.raises(NotFound):
        store.get(mine.id)
    with pytest.raises(NotFound):  # deleted once
        store.delete_ended(mine.id, a)
    with store.db.session() as s:
        assert list(s.scalars(select(AudioFile.id))) == ["au3"]
    assert store.get(other.id).status == "queued"


def test_claim_passes_over_jobs_whose_runner_is_full_and_stays_fair(store):
    """A job that does not fit (its runner is full) is skipped, not waited on: the same
    account's jobs for another model behind a long backlog, and other accounts' jobs, are
    claimed; fairness across accounts holds among the jobs that fit."""
    a, b = _account(store, "a"), _account(store, "b")
    songs = [store.create(NewJob(a, _spec(f"s{i}", model="song")))[0].id for i in range(6)]
    a_tune = store.create(NewJob(a, _spec("a tune")))[0].id  # behind a's six songs
    b_tunes = [store.create(NewJob(b, _spec(f"b{i}")))[0].id for i in range(2)]
    asked: list[str] = []

    def fits(model: str, params: dict) -> bool:
        asked.append(model)
        return model != "song"  # the song runner is full

    claimed = store.claim("w", 3, per_account=10, fits=fits)
    assert [job.id for job in claimed] == [a_tune, b_tunes[0], b_tunes[1]]
    assert "song" in asked and all(store.get(i).status == "queued" for i in songs)
    # once the song runner has room, the songs are claimed in their order
    claimed = store.claim("w", 2, per_account=10, fits=lambda model, params: True)
    assert [job.id for job in claimed] == songs[:2]
