"""Every route of ``/api/v1`` through the SDK, sync and async (``connect``), against a real
server on loopback: typed requests in, typed answers out, the server's errors as the library's.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import soundfile as sf

import music_gen
from music_gen import APIClient, load_audio
from music_gen.client import (
    Batch,
    EditRequest,
    GenerationRequest,
    MultitrackRequest,
    Task,
    TaskList,
    Upload,
)
from music_gen.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnknownModel,
    UnsupportedFeature,
)

LYRICS = "[verse]\nwalking down the street\n\n[chorus]\nsing it loud"


def _wav(seconds: float = 1.0, rate: int = 48000) -> bytes:
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(round(seconds * rate)) / rate)
    out = io.BytesIO()
    sf.write(out, np.stack([tone, tone], axis=1).astype(np.float32), rate, format="WAV")
    return out.getvalue()


def test_health_readiness_and_models(client):
    health = client.health()
    assert (health.status, health.version) == ("ok", music_gen.__version__)
    ready = client.ready()
    assert ready.ready and ready.worker_alive and ready.detail == "ok"
    models = {m.family: m for m in client.models()}
    assert set(models) == {"musicgen", "acestep", "composer"}
    assert models["musicgen"].default and not models["acestep"].default
    assert models["acestep"].can("lyrics") and models["acestep"].can("edit")
    assert not models["musicgen"].can("lyrics")
    assert (models["acestep"].sample_rate, models["acestep"].channels) == (48000, 2)


def test_generate_then_get_list_and_download_converted(client, tmp_path):
    seen: list[Task] = []
    result = client.generate("Jazz piano", 0.5, seed=9, progress=seen.append, poll=0.05)
    assert result.task.status == "succeeded" and seen[-1].status == "succeeded"
    assert result.format == "wav" and result.audio().duration == pytest.approx(0.5)
    assert result.save(tmp_path / "jazz.wav").read_bytes() == result.data
    task = client.get(result.task.task_id)
    assert (task.type, task.origin, task.seed, task.prompt) == ("batch", "api", 9, "Jazz piano")
    assert task.audio_url == result.task.audio_url and task.finished_at is not None
    page = client.list(status="succeeded", limit=5)
    assert isinstance(page, TaskList) and page.total >= 1 and page.limit == 5
    assert task.task_id in [t.task_id for t in page]
    flac = load_audio(client.download(task, format="flac", sample_rate=16000))
    assert flac.sample_rate == 16000 and flac.duration == pytest.approx(0.5, abs=0.01)
    # a typed request, its format carried to the result
    typed = GenerationRequest(prompt="Lo-fi", duration=0.4, seed=3, format="flac")
    again = client.generate(typed, poll=0.05)
    assert again.format == "flac" and again.data[:4] == b"fLaC"
    assert again.task.params["seed"] == 3


def test_batch_submits_all_and_reads_them_back(client):
    requests = [
        GenerationRequest(prompt="a", duration=0.3, seed=1),
        {"prompt": "b", "duration": 0.3},
    ]
    batch = client.submit_batch(requests, idempotency_key="batch-1")
    assert isinstance(batch, Batch) and len(batch.tasks) == 2
    assert batch.batch_id.startswith("batch_") and all(t.eta is not None for t in batch.tasks)
    done = [client.wait(t.task_id, poll=0.05) for t in batch.tasks]
    assert [t.prompt for t in done] == ["a", "b"] and {t.batch_id for t in done} == {batch.batch_id}
    listed = client.batch(batch.batch_id)
    assert {t.task_id for t in listed} == {t.task_id for t in batch.tasks}
    # the same key again: the same tasks, nothing new queued
    replay = client.submit_batch(requests, idempotency_key="batch-1")
    assert [t.task_id for t in replay.tasks] == [t.task_id for t in batch.tasks]
    with pytest.raises(InvalidInput) as err:  # all checked before any is queued
        client.submit_batch([{"prompt": "ok", "duration": 0.3}, {"prompt": "", "duration": 0.3}])
    assert err.value.code == "INVALID_PROMPT"
    with pytest.raises(NotFound):
        client.batch("batch_nope")


def test_cancel_delete_and_idempotency(client):
    long = client.submit("to cancel", 20, idempotency_key="k1")
    assert client.submit("to cancel", 20, idempotency_key="k1").task_id == long.task_id
    with pytest.raises(Conflict) as err:
        client.submit("something else", 20, idempotency_key="k1")
    assert err.value.code == "IDEMPOTENCY_KEY_REUSED"
    with pytest.raises(Conflict) as err:
        client.delete(long.task_id)  # still queued or running
    assert err.value.code == "NOT_DELETABLE"
    assert client.cancel(long.task_id).status == "cancelled"
    with pytest.raises(Conflict) as err:
        client.cancel(long.task_id)
    assert err.value.code == "NOT_CANCELLABLE"
    with pytest.raises(music_gen.GenerationFailed) as failed:  # waiting on it: why it ended
        client.wait(long.task_id)
    assert failed.value.code == "CANCELLED"
    client.delete(long.task_id)
    with pytest.raises(NotFound) as err:
        client.get(long.task_id)
    assert err.value.code == "TASK_NOT_FOUND"


def test_stream_sends_chunks_then_ends(client):
    chunks = list(client.stream("Ambient", 0.8, seed=2))
    assert len(chunks) > 1 and [c.index for c in chunks] == list(range(len(chunks)))
    assert sum(c.audio.duration for c in chunks) == pytest.approx(0.8, abs=1e-3)
    assert len({c.task_id for c in chunks}) == 1
    assert client.get(chunks[0].task_id).type == "stream"
    with pytest.raises(InvalidInput) as err:  # the error message of the socket, raised
        list(client.stream(GenerationRequest(prompt="", duration=1)))
    assert err.value.code == "INVALID_PROMPT"


def test_uploads_a_song_with_lyrics_then_an_edit(client, server, tmp_path):
    song = next(m for m in client.models() if m.can("lyrics")).id
    (tmp_path / "voice.wav").write_bytes(_wav())
    upload = client.upload(tmp_path / "voice.wav")
    assert isinstance(upload, Upload) and upload.upload_id.startswith("up_")
    assert (upload.duration, upload.sample_rate, upload.channels) == (1.0, 48000, 2)
    if "get" in server.app.openapi()["paths"]["/api/v1/uploads"]:  # GET /uploads (newer servers)
        assert upload.upload_id in [u.upload_id for u in client.uploads().items]
    request = GenerationRequest(
        prompt="synth pop", model=song, lyrics=LYRICS, bpm=120, key="A minor",
        time_signature="4/4", vocal_language="en", duration=2.0, seed=5, steps=2,
    )  # fmt: skip
    result = client.generate(request, poll=0.1)
    task = result.task
    assert task.params["lyrics"] == LYRICS and task.params["key"] == "A minor"
    assert task.params["bpm"] == 120 and task.metadata["family"] == "acestep"
    request = dataclasses.replace(request, reference_upload_id=upload.upload_id)
    audio = result.audio()
    assert (audio.sample_rate, audio.channels, audio.duration) == (48000, 2, 2.0)
    # an edit of that song: repaint the middle, the outside kept
    edit = EditRequest(task="repaint", source_job_id=task.task_id, start=0.5, end=1.5,
                       prompt="guitar solo", steps=2)  # fmt: skip
    edited = client.edit(edit, poll=0.1)
    assert edited.task.type == "edit" and edited.task.params["source_job_id"] == task.task_id
    before, after = audio.samples, edited.audio().samples  # [C, N]
    lo, hi = 24000, 72000
    np.testing.assert_array_equal(after[..., :lo], before[..., :lo])
    np.testing.assert_array_equal(after[..., hi:], before[..., hi:])
    assert not np.allclose(after[..., lo:hi], before[..., lo:hi])
    # the upload deleted: naming it is a NotFound, deleting it again too
    client.delete_upload(upload.upload_id)
    with pytest.raises(NotFound) as err:
        client.submit(request)
    assert err.value.code == "UPLOAD_NOT_FOUND"
    with pytest.raises(NotFound):
        client.delete_upload(upload.upload_id)
    with pytest.raises(InvalidInput) as err:
        client.upload(io.BytesIO(b"not audio at all"), "x.wav")
    assert err.value.code == "INVALID_AUDIO"
    with pytest.raises(InvalidInput) as err:  # a local path that is not there: never sent
        client.upload(server.settings.data_dir / "nope.wav")
    assert err.value.code == "INVALID_AUDIO" and "nope.wav" in err.value.message
    with pytest.raises(InvalidInput) as err:
        client.submit_edit(EditRequest(task="cover", prompt="x"))  # no source
    assert err.value.code == "INVALID_SOURCE"


def test_an_uploaded_reference_conditions_a_song(server):
    """Sync client only: the pipeline encodes 30 s of any reference (tens of seconds on a tiny
    model's CPU run); the async client sends the same body (``GenerationRequest.to_json``)."""
    with APIClient(server.key(), server.url) as client:
        song = next(m for m in client.models() if m.can("lyrics")).id
        upload = client.upload(io.BytesIO(_wav()), "voice.wav")
        request = GenerationRequest(
            prompt="ballad", model=song, lyrics=LYRICS, duration=1.0, seed=1, steps=2,
            reference_upload_id=upload.upload_id,
        )  # fmt: skip
        task = client.generate(request, poll=0.1).task
    assert task.params["reference"] == upload.upload_id  # named by its upload
    assert task.metadata["reference"] is True


def test_multitrack_gives_the_mix_stems_and_midi(client):
    request = MultitrackRequest(
        instruments={"piano": "jazz piano", "drums": "brush drums"}, duration=2.0, seed=1,
        mix_preset="jazz_club",
    )  # fmt: skip
    result = client.multitrack(request, poll=0.1)
    task = result.task
    assert task.type == "multitrack" and set(task.stems) == {"piano", "drums"}
    mix = result.audio()
    assert mix.duration == pytest.approx(2.0, abs=0.05)
    piano = load_audio(client.download(task.stems["piano"]))
    assert piano.duration == pytest.approx(mix.duration, abs=0.05)
    assert task.midi_url and client.download(task.midi_url)[:4] == b"MThd"
    with pytest.raises(InvalidInput) as err:
        client.submit_multitrack(MultitrackRequest(instruments={"piano": "x"}, mix_preset="polka"))
    assert err.value.code == "INVALID_MIX"


def test_typed_requests_refuse_unknown_fields_before_sending(client):
    with pytest.raises(TypeError):
        client.submit("jazz", 1.0, temprature=0.5)  # misspelt: never sent
    with pytest.raises(TypeError):
        client.submit_batch([{"prompt": "x", "lenght": 2}])


def test_a_bad_key_is_authentication_failed(connect, server):
    bad = connect(server.url, "mgk_wrong")
    with pytest.raises(AuthenticationFailed) as err:
        bad.list()
    assert err.value.code == "UNAUTHORIZED"
    with pytest.raises(AuthenticationFailed):
        list(bad.stream("x", 0.5))
    assert connect(server.url).health().status == "ok"  # no key needed to ask after health


@pytest.mark.parametrize(
    ("request_fields", "error", "code"),
    [
        ({"prompt": "jazz", "duration": "long"}, InvalidInput, "VALIDATION_ERROR"),
        ({"prompt": "jazz", "duration": 999}, InvalidInput, "INVALID_DURATION"),
        ({"prompt": "jazz", "model": "nope"}, UnknownModel, "UNKNOWN_MODEL"),
        ({"prompt": "jazz", "lyrics": "la la"}, UnsupportedFeature, "UNSUPPORTED_FEATURE"),
        ({"prompt": "x" * 25_000}, PayloadTooLarge, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_each_family_of_refusals_is_its_library_class(client, request_fields, error, code):
    with pytest.raises(error) as err:
        client.submit(GenerationRequest(**request_fields))
    assert type(err.value) is error and err.value.code == code
    assert err.value.message and isinstance(err.value.details, dict)
