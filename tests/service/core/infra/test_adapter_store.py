"""The server's adapter store: names, owners, shared adapters, records, delete, resolve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from music_gen.errors import Conflict, InvalidInput, NotFound
from music_gen.families.adapters import ACESTEP_LORA_FILE, INFO_FILE
from music_gen.service.core.infra.adapter_store import (
    OWNER_FILE,
    AdapterStore,
    adapters_root,
)
from music_gen.service.core.infra.settings import Settings


def _train_files(folder: Path, rank: int = 4) -> None:
    """What a finished ``music_gen.train`` leaves (contents are not read by the store)."""
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "lora_alpha": 8}))
    (folder / "adapter_model.safetensors").write_bytes(b"x" * 100)
    info = {
        "family": "musicgen",
        "base_model": "tiny",
        "config": {"rank": rank},
        "steps": 12,
        "final_loss": 3.5,
    }
    (folder / INFO_FILE).write_text(json.dumps(info))


@pytest.fixture
def store(tmp_path: Path) -> AdapterStore:
    return AdapterStore(tmp_path / "adapters")


def test_root_is_the_setting_or_under_the_data_dir(tmp_path):
    assert adapters_root(Settings(data_dir=tmp_path)) == tmp_path / "adapters"
    assert adapters_root(Settings(data_dir=tmp_path, adapters_dir=tmp_path / "x")) == tmp_path / "x"


@pytest.mark.parametrize("name", ["", ".hidden", "-x", "a/b", "..", "a b", "é", "x" * 101, None])
def test_bad_names_are_invalid_adapter(store, name):
    with pytest.raises(InvalidInput) as info:
        store.folder(name)
    assert info.value.code == "INVALID_ADAPTER"


def test_create_records_owner_and_refuses_a_taken_name(store):
    folder = store.create("mine", "acct-a", "tiny")
    assert folder == store.root / "mine" and folder.is_dir()
    owner = json.loads((folder / OWNER_FILE).read_text())
    assert owner["account"] == "acct-a" and owner["base_model"] == "tiny"
    with pytest.raises(Conflict) as info:
        store.create("mine", "acct-b", "tiny")
    assert (info.value.code, info.value.http_status) == ("ADAPTER_EXISTS", 409)


def test_records_before_and_after_training(store):
    folder = store.create("mine", "acct-a", "tiny")
    before = store.get("mine", "acct-a")
    assert (before.ready, before.family, before.rank, before.steps) == (False, None, None, None)
    assert before.owner == "acct-a" and before.base_model == "tiny" and not before.shared
    _train_files(folder)
    after = store.get("mine", "acct-a")
    assert after.ready and after.family == "musicgen"
    assert (after.rank, after.steps, after.final_loss) == (4, 12, 3.5)
    assert after.size_bytes == sum(p.stat().st_size for p in folder.iterdir())
    assert after.created_at == before.created_at
    assert after.to_dict()["shared"] is False


def test_each_account_sees_its_own_and_the_shared_ones(store):
    _train_files(store.create("a1", "acct-a", "tiny"))
    store.create("b1", "acct-b", "tiny")
    shared = store.root / "house"
    shared.mkdir()
    _train_files(shared)
    (store.root / "not a name").mkdir()  # folders that are no adapter name are not listed
    (store.root / "file.txt").write_text("x")
    assert [r.name for r in store.list("acct-a")] == ["a1", "house"]
    assert [r.name for r in store.list("acct-b")] == ["b1", "house"]
    house = store.get("house", "acct-b")
    assert house.shared and house.owner is None and house.base_model == "tiny"
    for name, account in [("b1", "acct-a"), ("a1", "acct-b"), ("nope", "acct-a")]:
        with pytest.raises(NotFound) as info:
            store.get(name, account)
        assert info.value.code == "ADAPTER_NOT_FOUND"
    assert AdapterStore(store.root / "absent").list("acct-a") == []


def test_an_acestep_lora_file_alone_is_a_ready_acestep_adapter(store):
    folder = store.root / "song-style"
    folder.mkdir(parents=True)
    (folder / ACESTEP_LORA_FILE).write_bytes(b"y" * 10)
    record = store.get("song-style", "anyone")
    assert (record.ready, record.family, record.base_model, record.rank) == (
        True,
        "acestep",
        None,
        None,
    )


def test_delete_own_only_and_never_shared(store):
    _train_files(store.create("a1", "acct-a", "tiny"))
    (store.root / "house").mkdir()
    with pytest.raises(NotFound):
        store.delete("a1", "acct-b")
    with pytest.raises(Conflict) as info:
        store.delete("house", "acct-a")
    assert info.value.code == "ADAPTER_SHARED"
    store.delete("a1", "acct-a")
    assert [r.name for r in store.list("acct-a")] == ["house"]
    assert sorted(p.name for p in store.root.iterdir()) == ["house"]  # no leftovers
    store.create("a1", "acct-b", "tiny")  # the name is free again


def test_resolve_and_usage(store):
    assert store.resolve(None, "acct-a") is None
    folder = store.create("a1", "acct-a", "tiny")
    with pytest.raises(Conflict) as info:
        store.resolve("a1", "acct-a")
    assert info.value.code == "ADAPTER_NOT_READY"
    _train_files(folder)
    assert store.resolve("a1", "acct-a") == folder
    with pytest.raises(NotFound):
        store.resolve("a1", "acct-b")
    shared = store.root / "house"
    shared.mkdir()
    _train_files(shared)
    assert store.usage("acct-a") == store.get("a1", "acct-a").size_bytes  # shared: nobody's
    assert store.usage("acct-b") == 0
