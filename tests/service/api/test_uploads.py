"""``/uploads`` under hostile use (issue 20, findings 1-4 and 12): kept as sent and counted
toward the account's storage quota, refused with a code when the quota or the disk is full
(nothing half-written left), checked off the event loop, no heap addresses in messages."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from service_helpers import Server, start_server, wait_for

from music_gen.service.core.infra.storage import LocalStorage

QUOTA = 300_000  # bytes per account


@pytest.fixture(scope="module")
def srv(tmp_path_factory, checkpoints) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("uploads"),
        model=str(checkpoints["mono"]),
        max_duration=30.0,
        storage_quota_mb=QUOTA / 1e6,
    )
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        yield server


def _client(srv: Server):
    return srv.client(srv.key())  # a fresh account each: its own usage


def _audio(seconds: float, fmt: str = "WAV", rate: int = 8000, noise: bool = True) -> bytes:
    rng = np.random.default_rng(1)
    n = int(seconds * rate)
    samples = rng.uniform(-0.3, 0.3, n) if noise else np.zeros(n)
    buf = io.BytesIO()
    sf.write(buf, samples.astype(np.float32), rate, format=fmt)
    return buf.getvalue()


def _upload(client, data: bytes, name: str = "clip.wav"):
    return client.post("/uploads", files={"file": (name, data, "application/octet-stream")})


def _stored(srv: Server) -> set[str]:
    return {p.name for p in srv.state.storage.root.iterdir()}


def test_uploads_are_kept_as_sent_and_listed_with_the_usage(srv):
    """Finding 3: a 110 KB FLAC was stored as 110 MB of WAV. Now each format is kept as sent
    (FLAC, OGG, MP3, WAV: by its bytes, whatever its name), and GET /uploads lists them with
    the account's usage and quota."""
    client = _client(srv)
    sent = {
        "flac": _audio(600.0, "FLAC", noise=False),  # 10 minutes of silence: a few KB
        "ogg": _audio(2.0, "OGG"),
        "mp3": _audio(2.0, "MP3"),
        "wav": _audio(1.0, "WAV"),
    }
    ids = {}
    for fmt, data in sent.items():
        r = _upload(client, data, "not-its-format.txt")
        assert r.status_code == 201, r.text
        body = r.json()
        assert (body["format"], body["size"]) == (fmt, len(data))
        ids[fmt] = body["upload_id"]
        key = (
            f"upload-{srv.state.keys.authenticate(client.headers['Authorization'][7:]).account_id}"
        )
        path = srv.state.storage.root / f"{key}-{body['upload_id']}.{fmt}"
        assert path.read_bytes() == data  # as sent, not expanded
    assert _upload(client, b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + sent["flac"]
                   ).json()["format"] == "flac"  # an ID3 tag before a FLAC: a FLAC  # fmt: skip
    listing = client.get("/uploads").json()
    assert {u["upload_id"] for u in listing["uploads"]} >= set(ids.values())
    total = sum(u["size"] for u in listing["uploads"])
    assert listing["storage"]["usage"]["uploads"] == total
    assert listing["storage"]["quota"] == QUOTA
    assert client.get("/account/storage").json() == listing["storage"]
    page = client.get("/uploads", params={"limit": 2, "offset": 1}).json()["uploads"]
    assert [u["upload_id"] for u in page] == [u["upload_id"] for u in listing["uploads"][1:3]]
    for upload_id in ids.values():
        assert client.delete(f"/uploads/{upload_id}").status_code == 204
    assert client.get("/account/storage").json()["usage"]["uploads"] < total


def test_the_storage_quota_covers_uploads_and_results(srv):
    """Finding 3: one key could write ~11 GB a minute. An upload that would pass the quota is
    413 STORAGE_QUOTA_EXCEEDED (nothing stored); a job is refused once the account's uploads
    and results fill it; deleting makes room again."""
    client = _client(srv)
    big = _audio(18.0)  # 288 044 bytes of WAV: under the quota alone
    first = _upload(client, big)
    assert first.status_code == 201, first.text
    before = _stored(srv)
    refused = _upload(client, _audio(1.0))  # 16 044 more: past it
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "STORAGE_QUOTA_EXCEEDED"
    assert error["details"]["quota"] == QUOTA and error["details"]["usage"]["uploads"] == len(big)
    assert _stored(srv) == before  # nothing written
    job = client.post("/generate", json={"prompt": "drums", "duration": 1.0})
    assert job.status_code == 202, job.text  # 288 044 < 300 000: room left
    assert wait_for(client, job.json()["task_id"])["status"] == "succeeded"
    usage = client.get("/account/storage").json()["usage"]
    assert usage["results"] > 0 and usage["total"] >= QUOTA
    full = client.post("/generate", json={"prompt": "drums", "duration": 1.0})
    assert full.status_code == 413 and full.json()["error"]["code"] == "STORAGE_QUOTA_EXCEEDED"
    base = srv.url.removesuffix("/api/v1") + "/v2/generate/audio/minimax"
    music01 = client.post(f"{base}/upload", files={"file": ("v.wav", _audio(12.0))},
                          data={"purpose": "voice"}).json()["base_resp"]  # fmt: skip
    assert music01["status_code"] == 1000 and "STORAGE_QUOTA_EXCEEDED" in music01["status_msg"]
    assert client.delete(f"/uploads/{first.json()['upload_id']}").status_code == 204
    assert client.post("/generate", json={"prompt": "drums", "duration": 1.0}).status_code == 202


class _FullDisk(LocalStorage):
    """The data directory's disk, full: a write fails part way, as ENOSPC does."""

    def put(self, key: str, data: bytes) -> None:
        partial = self.root / f".tmp-{key}"
        partial.write_bytes(data[: len(data) // 2])
        partial.unlink()  # LocalStorage.put removes its temporary file on failure
        raise OSError(errno.ENOSPC, "No space left on device", key)


def test_an_upload_on_a_full_disk_is_503_storage_full_and_leaves_nothing(srv, monkeypatch):
    """Finding 4: it answered 500 INTERNAL_ERROR."""
    client = _client(srv)
    before = _stored(srv)
    monkeypatch.setattr(srv.state.storage, "local", _FullDisk(srv.state.storage.root))
    r = _upload(client, _audio(1.0))
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "STORAGE_FULL"
    assert _stored(srv) == before
    assert client.get("/uploads").json()["uploads"] == []


def test_health_answers_while_an_upload_is_checked(srv, monkeypatch):
    """Finding 2: checking an upload ran on the event loop, so GET /health waited for it. The
    check is held here until /health has answered (at most 20 s): on the event loop it could
    never answer first."""
    import music_gen.service.api.routes.songs as songs

    started, release = threading.Event(), threading.Event()
    order: list[str] = []
    real = songs.store_upload

    def held(*args, **kwargs):
        started.set()
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(songs, "store_upload", held)
    client = _client(srv)

    def upload() -> None:
        _upload(client, _audio(1.0))
        order.append("upload")

    thread = threading.Thread(target=upload)
    thread.start()
    assert started.wait(20)
    health = srv.client(None).get("/health", timeout=30)
    order.append("health")
    release.set()
    thread.join(30)
    assert health.status_code == 200
    assert order == ["health", "upload"]


@pytest.mark.parametrize(
    "data",
    [b"just some text, not audio" * 40, b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 300],
)
def test_bad_uploads_say_why_without_heap_addresses(srv, data):
    """Finding 12: messages carried ``<_io.BytesIO object at 0x7f6a…>``."""
    r = _upload(_client(srv), data)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "INVALID_AUDIO"
    assert " at 0x" not in error["message"] and "BytesIO" not in error["message"]


def test_music01_refuses_an_id3_tagged_flac_and_counts_its_references(srv):
    """Finding 1 (music-01): an ID3+FLAC was stored as a voice. References count toward the
    quota (as FLAC)."""
    client = _client(srv)
    base = srv.url.removesuffix("/api/v1") + "/v2/generate/audio/minimax"
    flac = _audio(12.0, "FLAC")
    tagged = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + flac
    r = client.post(f"{base}/upload", files={"file": ("v.mp3", tagged)}, data={"purpose": "voice"})
    assert r.json()["base_resp"]["status_code"] == 2013, r.text
    assert "INVALID_AUDIO" in r.json()["base_resp"]["status_msg"]
    ok = client.post(f"{base}/upload", files={"file": ("v.wav", _audio(12.0))},
                     data={"purpose": "voice"})  # fmt: skip
    assert ok.json()["base_resp"]["status_code"] == 0, ok.text
    usage = client.get("/account/storage").json()["usage"]
    assert 0 < usage["aimlapi"] < len(_audio(12.0))  # FLAC, smaller than the WAV sent


def test_the_quota_is_a_setting_and_zero_means_none(tmp_path):
    from music_gen.service.core.infra.settings import Settings

    assert Settings(data_dir=tmp_path).storage_quota_mb == 2048.0
    assert Settings(data_dir=tmp_path, storage_quota_mb=0).storage_quota_mb == 0


def test_an_upload_a_job_names_is_linked_not_decoded(srv):
    """Uploads named by a job are hard links (no bytes copied, nothing decoded), fresh ones."""
    client = _client(srv)
    up = _upload(client, _audio(1.0)).json()["upload_id"]
    scratch = Path(srv.settings.data_dir) / "inputs"
    before = set(scratch.glob("*")) if scratch.is_dir() else set()
    from music_gen.service.core.inputs import upload_input

    caller = srv.state.keys.authenticate(client.headers["Authorization"][7:])
    stored = next(srv.state.storage.root.glob(f"*{up}.wav"))
    os.utime(stored, (time.time() - 3 * 86400,) * 2)  # uploaded three days ago
    path = upload_input(srv.state, caller, up)
    try:
        assert path.suffix == ".wav" and path.stat().st_nlink == 2
        assert set(scratch.glob("*")) - before == {path}
        srv.state.worker._sweep_scratch()  # old scratch is swept by mtime: not this one
        assert path.is_file()
    finally:
        path.unlink()


def test_the_sdk_raises_storage_quota_exceeded():
    from music_gen.errors import PayloadTooLarge, StorageQuotaExceeded, error_for

    err = error_for("STORAGE_QUOTA_EXCEEDED", "full", status=413, details={"quota": 1})
    assert isinstance(err, StorageQuotaExceeded) and isinstance(err, PayloadTooLarge)
    assert (err.code, err.http_status) == ("STORAGE_QUOTA_EXCEEDED", 413)
