"""Inputs a request brings in: their length is read from the header before anything is decoded."""

from __future__ import annotations

import base64
import contextlib
import io
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

import music_gen.service.core.inputs as inputs
from music_gen import InvalidInput


def _mp3(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format="MP3")
    return buf.getvalue()


def test_a_long_low_bitrate_file_is_refused_from_its_header(monkeypatch):
    data = _mp3(11 * 60)  # 11 minutes: over the 10-minute limit

    def never(*args, **kwargs):
        raise AssertionError("decoded a file its header already refuses")

    monkeypatch.setattr(inputs, "load_audio", never)
    with pytest.raises(InvalidInput) as err:
        inputs.checked_audio(data, "upload", 600.0)
    assert err.value.code == "INVALID_AUDIO"
    assert err.value.details["duration"] == pytest.approx(660.0, abs=1.0)


def test_files_within_bounds_are_decoded_and_short_ones_refused():
    audio = inputs.checked_audio(_mp3(12.0), "upload", 600.0, 10.0)
    assert audio.duration == pytest.approx(12.0, abs=0.1)
    with pytest.raises(InvalidInput) as err:
        inputs.checked_audio(_mp3(3.0), "the audio", 600.0, 10.0)
    assert "10 s to 600 s" in err.value.message
    with pytest.raises(InvalidInput):
        inputs.checked_audio(b"not audio at all", "upload", 600.0)


def test_music01_uploads_check_the_length_before_decoding(monkeypatch):
    """Hostile finding 9: a 50 MB 8 kbps MP3 was decoded whole (1.8 GB) before the check."""
    from music_gen.service.adapters.aimlapi import references

    def never(*args, **kwargs):
        raise AssertionError("decoded a file its header already refuses")

    monkeypatch.setattr(inputs, "load_audio", never)
    monkeypatch.setattr(references, "load_audio", never)
    with pytest.raises(InvalidInput) as err:
        references.upload(None, "acct", _mp3(11 * 60), "voice")  # type: ignore[arg-type]
    assert err.value.code == "INVALID_AUDIO"


# ------------------------------------------------- hostile findings 1 and 12: decoding bounded
def _flac(rate: int, channels: int, seconds: float) -> bytes:
    """A FLAC of silence written block by block (tiny, whatever it declares)."""
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", rate, channels, format="FLAC") as f:
        left = int(rate * seconds)
        while left:
            n = min(left, 1 << 16)
            f.write(np.zeros((n, channels), np.float32))
            left -= n
    return buf.getvalue()


def _traced_peak(fn) -> int:
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        with contextlib.suppress(InvalidInput):
            fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_decompression_bomb_within_the_length_limit_is_refused_from_its_header():
    """Finding 1: a 2 MB FLAC of 600 s at 384 kHz, 8 channels passed the length check and was
    decoded whole (7 GB). Here 4 s at 192 kHz, 8 channels (within a 10 s limit): 6.1 M
    samples, 25 MB as float32, over what 10 s may decode to (10 s of 48 kHz stereo: 0.96 M);
    refused from the header, holding a few MB at most. 384 kHz is refused for its rate."""
    bomb = _flac(192_000, 8, 4.0)
    assert len(bomb) < 100_000
    for name in ("checked_audio", "checked_file"):  # decoded and kept; checked, kept as sent
        check = getattr(inputs, name)
        peak = _traced_peak(lambda check=check: check(bomb, "melody audio", 10.0))
        assert peak < 5_000_000, f"{name} held {peak} bytes"
        with pytest.raises(InvalidInput) as err:
            check(bomb, "melody audio", 10.0)
        assert err.value.code == "INVALID_AUDIO" and "too large to decode" in err.value.message
        with pytest.raises(InvalidInput) as err:
            check(_flac(384_000, 8, 0.5), "melody audio", 10.0)
        assert "384000 Hz" in err.value.message


def test_a_long_upload_is_checked_block_by_block_not_held():
    """An upload is checked whole but never held whole: 60 s of 48 kHz stereo (23 MB as
    float32) is scanned holding under 3 MB."""
    data = _flac(48_000, 2, 60.0)
    peak = _traced_peak(lambda: inputs.checked_file(data, "upload", 600.0))
    assert peak < 3_000_000, peak
    info = inputs.checked_file(data, "upload", 600.0)
    assert (info.container, info.frames, info.channels) == ("flac", 48_000 * 60, 2)


def test_fetched_audio_is_checked_and_kept_as_sent(tmp_path):
    """URL / base64 inputs (melody, continuation, reference, source) get the same bounds and
    are kept as sent, not expanded to WAV."""
    from types import SimpleNamespace

    from music_gen.service.core.infra.settings import Settings

    state = SimpleNamespace(settings=Settings(data_dir=tmp_path, max_input_audio_bytes=10_000_000))
    bomb = base64.b64encode(_flac(192_000, 8, 4.0)).decode()
    with pytest.raises(InvalidInput) as err:
        inputs.fetch_input_audio(state, bomb, True, max_seconds=10.0)  # type: ignore[arg-type]
    assert "too large to decode" in err.value.message
    assert not list(tmp_path.glob("inputs/*"))
    clip = _flac(32_000, 1, 2.0)
    path = inputs.fetch_input_audio(state, base64.b64encode(clip).decode(), True)  # type: ignore[arg-type]
    assert path.suffix == ".flac" and path.read_bytes() == clip


def _id3(size: int) -> bytes:
    body = size - 10
    syncsafe = bytes([(body >> 21) & 127, (body >> 14) & 127, (body >> 7) & 127, body & 127])
    return b"ID3\x03\x00\x00" + syncsafe + b"\x00" * body


def test_music01_takes_wav_or_mp3_by_the_real_container():
    """Finding 1: an ID3 tag before a FLAC passed music-01's "MP3" sniff and was stored as a
    voice; a FLAC is refused whatever tag precedes it, before anything is stored."""
    from music_gen.service.adapters.aimlapi import references

    buf = io.BytesIO()
    sf.write(buf, np.zeros(8000 * 12, np.float32), 8000, format="FLAC")
    for data in (_id3(10 + 64) + buf.getvalue(), _id3(10) + b"just text" * 200):
        with pytest.raises(InvalidInput) as err:
            references.upload(None, "acct", data, "voice")  # type: ignore[arg-type]
        assert err.value.code == "INVALID_AUDIO"
        assert " at 0x" not in err.value.message


_FULL_DISK = """
import base64, io, resource, signal, sys
from pathlib import Path
from types import SimpleNamespace
import numpy as np, soundfile as sf
from music_gen.errors import ServiceUnavailable
from music_gen.service.core import inputs
from music_gen.service.core.infra.auth import Caller
from music_gen.service.core.infra.settings import Settings
from music_gen.service.core.infra.storage import LocalStorage

root = Path(sys.argv[1])
buf = io.BytesIO()
sf.write(buf, np.random.default_rng(0).uniform(-0.3, 0.3, 64000).astype(np.float32), 32000,
         format="FLAC")
data = buf.getvalue()  # about 100 KB
state = SimpleNamespace(settings=Settings(data_dir=root, storage_quota_mb=0),
                        storage=LocalStorage(root / "audio"))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))  # a file stops at 20 KB: EFBIG
for name, call in [
    ("upload", lambda: inputs.store_upload(state, Caller("acct", "key"), data)),
    ("fetched", lambda: inputs.fetch_input_audio(state, base64.b64encode(data).decode(), True)),
    ("decoded", lambda: inputs.scratch_file(state, inputs.checked_audio(data, "x", 10.0))),
]:
    try:
        call()
        print(name, "stored")
    except ServiceUnavailable as exc:
        print(name, exc.code, exc.http_status)
print("left", sorted(p.name for p in root.rglob("*") if p.is_file()))
"""


def test_a_full_disk_is_storage_full_and_leaves_nothing_half_written(tmp_path):
    """Finding 4: an upload on a full disk answered 500 INTERNAL_ERROR. A real failed write
    (a file-size limit stops it part way, EFBIG) is 503 STORAGE_FULL for an upload and for a
    job's scratch inputs, and no partial file stays."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path)], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == ["upload STORAGE_FULL 503", "fetched STORAGE_FULL 503",
                         "decoded STORAGE_FULL 503"], out.stdout  # fmt: skip
    assert lines[3] == "left []"
