"""LoRA adapters through the service: ``/adapters`` (list, get, delete), ``adapter`` and
``adapter_scale`` on ``/generate`` and the WebSocket, equal to the library's merged adapter,
mixed adapters (and none) decoded in one continuous batch, and the errors at the door."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from service_helpers import Server, start_server, wait_for
from websockets.sync.client import connect

import music_gen
from music_gen import MusicGenerator, load_audio
from music_gen.families.adapters import INFO_FILE

#: a tiny training run (as tests/train's): composer clips, a few steps
TRAIN = dict(steps=8, rank=4, alpha=8.0, learning_rate=1e-2, batch_size=2, window_seconds=1.0,
             min_seconds=0.5, checkpoint_every=8, device="cpu")  # fmt: skip
#: a 16-bit WAV of the batcher's output vs the merged model's float output (test_mixed_batch)
ATOL = 1e-4 + 1 / 32767


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("adapter-data")
    for i, prompt in enumerate(["funk groove with slap bass", "jazz trio", "rock band"]):
        out = MusicGenerator("composer").generate(prompt, duration=2.0, seed=i)
        out.save(folder / f"clip{i}.wav")
        (folder / f"clip{i}.txt").write_text(prompt)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, checkpoints, dataset) -> Iterator[Server]:
    """Mono MusicGen by default, a stereo one beside it (and the composer, which takes no
    adapter); a shared adapter ``house`` placed in the store as an operator would, and alice's
    own ``alice-style``."""
    mono = str(checkpoints["mono"])
    srv = start_server(
        tmp_path_factory.mktemp("adapters-srv"),
        model=mono,
        models=[str(checkpoints["stereo"])],
        max_duration=30.0,
    )
    try:
        store = srv.state.adapter_store
        music_gen.train(mono, dataset, store.root / "house", seed=3, **TRAIN)
        alice = srv.state.keys.create_key("alice-key", "alice")[2].id
        music_gen.train(mono, dataset, store.create("alice-style", alice, mono), seed=5, **TRAIN)
        # a copy of house's weights that says it was trained for another served model
        wrong = store.root / "for-stereo"
        shutil.copytree(store.root / "house", wrong)
        info = json.loads((wrong / INFO_FILE).read_text())
        (wrong / INFO_FILE).write_text(
            json.dumps({**info, "base_model": str(checkpoints["stereo"])})
        )
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def alice(server):
    return server.client(server.key("alice-2", "alice"))


@pytest.fixture(scope="module")
def bob(server):
    return server.client(server.key("bob"))


def _samples(client, job) -> np.ndarray:
    return load_audio(client.get(job["audio_url"]).content).samples


def _solo(model: str, folder: Path | None, prompt: str, scale: float = 1.0, **req) -> np.ndarray:
    """The library's own run: the adapter merged into the weights at load."""
    gen = MusicGenerator(model, device="cpu", adapter=folder, adapter_scale=scale)
    return gen.generate(prompt, **req).samples


def test_adapters_are_listed_per_account_and_per_model(server, alice, bob, checkpoints):
    mono, stereo = str(checkpoints["mono"]), str(checkpoints["stereo"])
    mine = {a["name"]: a for a in alice.get("/adapters").json()["adapters"]}
    assert set(mine) == {"alice-style", "for-stereo", "house"}
    own, house = mine["alice-style"], mine["house"]
    assert (own["shared"], own["ready"], own["family"], own["base_model"]) == (
        False, True, "musicgen", mono,
    )  # fmt: skip
    assert (own["rank"], own["steps"]) == (4, 8) and np.isfinite(own["final_loss"])
    assert own["size_bytes"] > 0 and own["models"] == [mono]
    assert house["shared"] and mine["for-stereo"]["models"] == [stereo]
    theirs = {a["name"] for a in bob.get("/adapters").json()["adapters"]}
    assert theirs == {"for-stereo", "house"}  # alice's own is hers alone
    only = alice.get("/adapters", params={"model": stereo}).json()["adapters"]
    assert [a["name"] for a in only] == ["for-stereo"]
    assert alice.get("/adapters", params={"model": "nope"}).json()["error"]["code"] == (
        "UNKNOWN_MODEL"
    )
    assert alice.get("/adapters/alice-style").json()["name"] == "alice-style"
    r = bob.get("/adapters/alice-style")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "ADAPTER_NOT_FOUND")
    r = bob.get("/adapters/..%2Fetc")
    assert r.status_code in (404, 422)
    models = {m["id"]: m for m in alice.get("/models").json()["models"]}
    assert models[mono]["adapters"] == ["alice-style", "house"]
    assert models[stereo]["adapters"] == ["for-stereo"] and models["composer"]["adapters"] == []
    assert "adapter" in models[mono]["capabilities"]
    assert "adapter" not in models["composer"]["capabilities"]
    bobs = {m["id"]: m["adapters"] for m in bob.get("/models").json()["models"]}
    assert bobs[mono] == ["house"]
    usage = alice.get("/account/storage").json()["usage"]
    assert usage["adapters"] == own["size_bytes"]  # shared ones count for nobody


def test_generate_with_an_adapter_equals_the_library_merged(server, alice, checkpoints):
    mono = str(checkpoints["mono"])
    req = dict(prompt="funk groove", duration=0.6, seed=9)
    r = alice.post("/generate", json={**req, "adapter": "alice-style", "adapter_scale": 0.5})
    assert r.status_code == 202, r.text
    done = wait_for(alice, r.json()["task_id"])
    assert done["status"] == "succeeded", done
    assert done["metadata"]["adapter"] == {"adapter": "alice-style", "adapter_scale": 0.5}
    assert done["params"]["adapter"] == "alice-style" and done["params"]["adapter_scale"] == 0.5
    folder = server.state.adapter_store.folder("alice-style")
    lib = {k: v for k, v in req.items() if k != "prompt"}
    expected = _solo(mono, folder, "funk groove", 0.5, **lib)
    got = _samples(alice, done)
    np.testing.assert_allclose(got, expected, atol=ATOL)
    plain = _solo(mono, None, "funk groove", **lib)
    assert not np.allclose(got, plain, atol=1e-3)  # the adapter changed the output


def test_mixed_adapters_decode_in_one_batch(server, alice, checkpoints):
    mono = str(checkpoints["mono"])
    backend = server.state.backend
    seen: list[set[str]] = []
    original = backend.step

    def spy():  # the requests the continuous batcher decodes together, at every step
        for runner in backend.runners.values():
            batcher = getattr(runner, "batcher", None)
            if batcher is not None:
                seen.append({act.request_id for act in batcher.active.values()})
        return original()

    plan = [("funk groove", "alice-style", 1.0), ("jazz trio", None, None),
            ("rock band", "house", 1.5)]  # fmt: skip
    requests = []
    for prompt, adapter, scale in plan:
        body = {"prompt": prompt, "duration": 2.0, "seed": 4}
        if adapter is not None:
            body.update(adapter=adapter, adapter_scale=scale)
        requests.append(body)
    backend.step = spy
    try:
        r = alice.post("/generate/batch", json={"requests": requests})
        assert r.status_code == 202, r.text
        jobs = [wait_for(alice, t["task_id"]) for t in r.json()["tasks"]]
    finally:
        del backend.step
    ids = {job["task_id"] for job in jobs}
    assert any(ids <= step for step in seen), "the three jobs never decoded in one batch"
    store = server.state.adapter_store
    for job, (prompt, adapter, scale) in zip(jobs, plan, strict=True):
        assert job["status"] == "succeeded", job
        assert job["metadata"]["batching"] == "continuous"
        folder = None if adapter is None else store.folder(adapter)
        expected = _solo(mono, folder, prompt, scale or 1.0, duration=2.0, seed=4)
        np.testing.assert_allclose(_samples(alice, job), expected, atol=ATOL)


def test_websocket_streams_with_an_adapter(server, alice, checkpoints):
    key = server.key("alice-ws", "alice")
    url = server.url.replace("http://", "ws://") + f"/ws/stream?api_key={key}"
    with connect(url) as ws:
        ws.send(json.dumps({"type": "generate", "prompt": "jazz trio", "duration": 1.0,
                            "seed": 2, "adapter": "house", "stream": True}))  # fmt: skip
        assert json.loads(ws.recv())["type"] == "started"
        chunks, final = [], None
        while final is None:
            msg = json.loads(ws.recv())
            if msg["type"] == "audio_chunk":
                chunks.append(load_audio(base64.b64decode(msg["data"])).samples)
            else:
                final = msg
        assert final["type"] == "complete", final
        ws.send(json.dumps({"type": "generate", "prompt": "x", "adapter": "alice-style",
                            "model": "composer"}))  # fmt: skip
        error = json.loads(ws.recv())["error"]
        assert (error["code"], error["details"]["capability"]) == ("UNSUPPORTED_FEATURE", "adapter")
    folder = server.state.adapter_store.folder("house")
    expected = _solo(str(checkpoints["mono"]), folder, "jazz trio", duration=1.0, seed=2)
    # a stream's chunked codec decode differs from the whole decode by a little (engine.streaming)
    streamed = np.concatenate(chunks, axis=-1)
    np.testing.assert_allclose(streamed, expected, atol=2e-3)
    plain = _solo(str(checkpoints["mono"]), None, "jazz trio", duration=1.0, seed=2)
    assert np.abs(streamed - plain).max() > 1e-2  # the adapter changed the stream


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"adapter": "nope"}, 404, "ADAPTER_NOT_FOUND"),
        ({"adapter": "../house"}, 422, "INVALID_ADAPTER"),
        ({"adapter": "house", "adapter_scale": 0}, 422, "INVALID_ADAPTER_SCALE"),
        ({"adapter": "house", "adapter_scale": 2.5}, 422, "INVALID_ADAPTER_SCALE"),
        ({"adapter_scale": 1.5}, 422, "INVALID_ADAPTER_SCALE"),
        ({"adapter": "house", "model": "composer"}, 422, "UNSUPPORTED_FEATURE"),
        ({"adapter": "for-stereo"}, 422, "ADAPTER_MISMATCH"),
        ({"adapter": "house", "loop": True, "bpm": 120, "bars": 1}, 422, "UNSUPPORTED_FEATURE"),
    ],
)
def test_bad_adapter_requests_are_refused_at_the_door(alice, body, status, code):
    r = alice.post("/generate", json={"prompt": "x", "duration": 0.5, **body})
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


def test_another_accounts_adapter_is_not_found(bob):
    r = bob.post("/generate", json={"prompt": "x", "duration": 0.5, "adapter": "alice-style"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "ADAPTER_NOT_FOUND")


def test_an_adapter_the_record_can_not_tell_fails_its_job(server, alice, checkpoints):
    """Trained for a model this server does not serve (so the door can not tell), run on the
    stereo model: the worker's fingerprint check fails the job with the reason."""
    store = server.state.adapter_store
    odd = store.root / "elsewhere"
    shutil.copytree(store.root / "house", odd)
    info = json.loads((odd / INFO_FILE).read_text())
    (odd / INFO_FILE).write_text(json.dumps({**info, "base_model": "someone/else"}))
    stereo = str(checkpoints["stereo"])
    r = alice.post("/generate", json={"prompt": "x", "duration": 0.5, "model": stereo,
                                      "adapter": "elsewhere"})  # fmt: skip
    assert r.status_code == 202, r.text
    done = wait_for(alice, r.json()["task_id"])
    assert done["status"] == "failed" and done["error"]["code"] == "ADAPTER_MISMATCH", done


def test_delete_own_adapters_only(server, alice, bob):
    store = server.state.adapter_store
    r = alice.delete("/adapters/house")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "ADAPTER_SHARED")
    r = bob.delete("/adapters/alice-style")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "ADAPTER_NOT_FOUND")
    account = server.state.keys.account("alice").id
    doomed = store.create("doomed", account, "x")
    shutil.copytree(store.root / "house", doomed, dirs_exist_ok=True)
    assert alice.delete("/adapters/doomed").status_code == 204
    assert not doomed.exists()
    assert alice.get("/adapters/doomed").json()["error"]["code"] == "ADAPTER_NOT_FOUND"
    r = alice.post("/generate", json={"prompt": "x", "duration": 0.5, "adapter": "doomed"})
    assert r.json()["error"]["code"] == "ADAPTER_NOT_FOUND"


def test_the_sdk_lists_gets_uses_and_deletes_adapters(server):
    import asyncio

    from music_gen.client import APIClient, AsyncAPIClient, GenerationRequest
    from music_gen.errors import Conflict, NotFound

    key = server.key("alice-sdk", "alice")
    with APIClient(api_key=key, base_url=server.url) as client:
        names = [a.name for a in client.list_adapters()]
        assert {"alice-style", "house"} <= set(names)
        own = client.get_adapter("alice-style")
        assert (own.shared, own.ready, own.rank, own.family) == (False, True, 4, "musicgen")
        assert own.created_at is not None and own.models
        assert [a.name for a in client.list_adapters(model="composer")] == []
        model = next(m for m in client.models() if m.default)
        assert "alice-style" in model.adapters and model.can("adapter")
        task = client.submit(GenerationRequest(prompt="x", duration=0.4, seed=1,
                                               adapter="house", adapter_scale=0.8))  # fmt: skip
        done = client.wait(task.task_id, timeout=60, poll=0.1)
        assert done.status == "succeeded" and done.raw["params"]["adapter"] == "house"
        with pytest.raises(Conflict) as shared:
            client.delete_adapter("house")
        assert shared.value.code == "ADAPTER_SHARED"
        with pytest.raises(NotFound) as missing:
            client.get_adapter("nope/../x")
        assert missing.value.code in ("ADAPTER_NOT_FOUND", "NOT_FOUND")

    account = server.state.keys.account("alice").id
    scratch = server.state.adapter_store.create("scratch", account, "x")

    async def run() -> None:
        async with AsyncAPIClient(api_key=key, base_url=server.url) as client:
            assert (await client.get_adapter("scratch")).ready is False  # no weights yet
            assert "scratch" in [a.name for a in await client.list_adapters()]
            await client.delete_adapter("scratch")
            with pytest.raises(NotFound):
                await client.get_adapter("scratch")

    asyncio.run(run())
    assert not scratch.exists()


def test_a_quantized_server_refuses_per_request_adapters_at_the_door(tmp_path, checkpoints):
    srv = start_server(tmp_path, model=str(checkpoints["mono"]), quantize="int8")
    try:
        client = srv.client(srv.key("q"))
        r = client.post("/generate", json={"prompt": "x", "duration": 0.5, "adapter": "any"})
        error = r.json()["error"]
        assert (r.status_code, error["code"]) == (422, "UNSUPPORTED_FEATURE"), r.text
        assert error["details"]["quantize"] == "int8"
    finally:
        srv.stop()
