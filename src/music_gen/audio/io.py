"""Reading outside audio (files, encoded bytes, arrays, tensors) into a checked ``AudioOutput``.

``load_audio`` decodes with soundfile (wav, flac, ogg, mp3 and whatever else libsndfile reads),
rejects audio that cannot be used as model input (missing, undecodable, empty, non-finite,
shorter than 20 ms — less than one 640-sample EnCodec frame at 32 kHz — or, on request,
digitally silent), then converts the channel count and the sample rate as asked. Every
rejection is an ``InvalidInput`` with code INVALID_AUDIO whose message names the input
(``name``, e.g. "melody audio"); messages never carry an object's repr (no heap addresses).

Encoded audio is decoded in blocks of 64k frames. ``DecodeLimits`` bound what a file may decode
to — frames × channels, the sample rate, the channel count, the container — and are checked
from the header before anything is decoded, then again while decoding (a header may lie): a
2 MB FLAC declaring 10 minutes of 8-channel 384 kHz audio (7 GB as float32) is refused at its
header. ``probe_audio`` reads only the header; ``scan_audio`` decodes block by block without
keeping the samples (memory: one block), to check a whole file that is stored as sent.

A file's container is what its bytes say (RIFF/WAVE, fLaC, OggS, an MPEG frame, after an
optional ID3v2 tag) and must be what libsndfile reads it as: an ID3 tag before a FLAC is a FLAC.

It does not write audio (see ``AudioOutput.save``) nor compute features such as chroma.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from music_gen.audio.output import MAX_SAMPLE_RATE, AudioOutput, _check_sample_rate
from music_gen.errors import InvalidInput

if TYPE_CHECKING:
    import torch

__all__ = [
    "CONTAINERS",
    "MIN_DURATION_S",
    "AudioInfo",
    "DecodeLimits",
    "load_audio",
    "probe_audio",
    "scan_audio",
]

#: The shortest usable audio: one EnCodec frame (640 samples at 32 kHz) = 20 ms.
MIN_DURATION_S = 640 / 32000


#: The containers a service accepts, each recognised by its own bytes (never by a name).
CONTAINERS = ("wav", "flac", "ogg", "mp3")
# libsndfile's major format for each container: a file is what its bytes say AND what
# libsndfile reads it as, never only one of the two.
_MAJOR = {"wav": {"WAV", "WAVEX"}, "flac": {"FLAC"}, "ogg": {"OGG"}, "mp3": {"MP3", "MPEG"}}
_BLOCK = 65536  # frames decoded at a time
# Unbounded decodes (no max_samples) allocate what the header declares up to _TRUSTED_SAMPLES
# (1 GB as float32), and only _INITIAL_SAMPLES for a header declaring more (then grow).
_TRUSTED_SAMPLES, _INITIAL_SAMPLES = 1 << 28, 1 << 24
_HEAP_ADDRESS = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
_DECODE_ERRORS = (sf.SoundFileError, RuntimeError, OSError, ValueError, TypeError)


@dataclass(frozen=True)
class AudioInfo:
    """What a header declares (``probe_audio``) or what decoding found (``scan_audio``)."""

    container: str  # wav | flac | ogg | mp3, or another libsndfile format in lower case
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def samples(self) -> int:
        """Decoded samples: frames × channels (4 bytes each as float32)."""
        return self.frames * self.channels


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds on what encoded audio may decode to; ``max_samples`` counts frames × channels.
    ``containers``: the accepted containers (None: any format libsndfile reads)."""

    max_samples: int | None = None
    max_sample_rate: int = MAX_SAMPLE_RATE
    max_channels: int | None = None
    containers: tuple[str, ...] | None = None


def _invalid(name: str, problem: str, **details: Any) -> InvalidInput:
    return InvalidInput(f"{name} {problem}", code="INVALID_AUDIO", details=details)


def _clean(exc: BaseException) -> str:
    """An exception's text without object reprs (``<_io.BytesIO object at 0x…>``)."""
    return _HEAP_ADDRESS.sub("the data", str(exc))


def _id3_end(head: bytes) -> int:
    """Where the audio starts after an ID3v2 tag (0 without one)."""
    if len(head) >= 10 and head[:3] == b"ID3" and all(b < 0x80 for b in head[6:10]):
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        return 10 + size + (10 if head[5] & 0x10 else 0)
    return 0


def _mpeg_frame(h: bytes) -> bool:
    """An MPEG audio frame header: sync, and no reserved version, layer, bitrate or rate."""
    if len(h) < 4 or h[0] != 0xFF or h[1] & 0xE0 != 0xE0:
        return False
    version, layer, bitrate, rate = (h[1] >> 3) & 3, (h[1] >> 1) & 3, h[2] >> 4, (h[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def _sniff(read: Callable[[int, int], bytes]) -> str | None:
    """The container by its first bytes (``read(offset, size)``), or None."""
    head = read(0, 12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] in (b"fLaC", b"OggS"):
        return "flac" if head[:4] == b"fLaC" else "ogg"
    start = _id3_end(head)
    if start:
        after = read(start, 4096).lstrip(b"\0")  # the tag's padding may run on
        if after[:4] == b"fLaC":
            return "flac"
        return "mp3" if _mpeg_frame(after[:4]) else None
    return "mp3" if _mpeg_frame(head[:4]) else None


@contextlib.contextmanager
def _opened(
    source: Any, label: str, *, name: str, limits: DecodeLimits
) -> Iterator[tuple[sf.SoundFile, AudioInfo]]:
    """``source`` (a path or encoded bytes) opened, its header checked against ``limits``."""
    if isinstance(source, bytes):
        data = source

        def read(offset: int, size: int) -> bytes:
            return data[offset : offset + size]

        file: Any = io.BytesIO(data)
    else:
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed below, after libsndfile's use
        except OSError as exc:
            raise _invalid(name, f"{label} could not be read: {exc.strerror}") from exc

        def read(offset: int, size: int) -> bytes:
            handle.seek(offset)
            return handle.read(size)

        file = handle
    try:
        sniffed = _sniff(read)
        file.seek(0)
        try:
            f = sf.SoundFile(file)
        except _DECODE_ERRORS as exc:
            raise _invalid(name, f"{label} could not be decoded as audio: {_clean(exc)}") from exc
        with f:
            major = str(f.format)
            if sniffed is not None and major not in _MAJOR[sniffed]:
                raise _invalid(
                    name,
                    f"{label} looks like {sniffed} but decodes as {major}: refused",
                    container=sniffed, format=major,
                )  # fmt: skip
            info = AudioInfo(sniffed or major.lower(), int(f.samplerate), int(f.channels),
                             int(f.frames))  # fmt: skip
            _check_header(info, name, limits)
            yield f, info
    finally:
        file.close()


def _check_header(info: AudioInfo, name: str, limits: DecodeLimits) -> None:
    allowed = limits.containers
    if allowed is not None and info.container not in allowed:
        raise _invalid(
            name,
            f"is not a {', '.join(allowed[:-1])} or {allowed[-1]} file",
            container=info.container, allowed=list(allowed),
        )  # fmt: skip
    if not 0 < info.sample_rate <= limits.max_sample_rate:
        raise _invalid(
            name,
            f"is sampled at {info.sample_rate} Hz; at most {limits.max_sample_rate} Hz is read",
            sample_rate=info.sample_rate, max_sample_rate=limits.max_sample_rate,
        )  # fmt: skip
    if limits.max_channels is not None and info.channels > limits.max_channels:
        raise _invalid(
            name,
            f"has {info.channels} channels; at most {limits.max_channels} are read",
            channels=info.channels, max_channels=limits.max_channels,
        )  # fmt: skip
    if limits.max_samples is not None and not 0 <= info.samples <= limits.max_samples:
        raise _too_big(name, info.samples, limits.max_samples, "its header declares")


def _too_big(name: str, samples: int, limit: int, how: str) -> InvalidInput:
    return _invalid(
        name,
        f"is too large to decode: {how} {samples} samples (frames × channels), "
        f"the limit is {limit}",
        samples=samples, max_samples=limit,
    )  # fmt: skip


def _blocks(
    f: sf.SoundFile, info: AudioInfo, name: str, label: str, limits: DecodeLimits
) -> Iterator[np.ndarray]:
    """The file's frames in blocks of at most ``_BLOCK`` (``[n, C]`` float32, a reused
    buffer), refused as soon as they exceed ``limits.max_samples``."""
    buffer = np.empty((_BLOCK, info.channels), np.float32)
    seen = 0
    while True:
        try:
            block = f.read(_BLOCK, out=buffer)
        except _DECODE_ERRORS as exc:
            raise _invalid(name, f"{label} is truncated or corrupt: {_clean(exc)}") from exc
        if len(block) == 0:
            return
        seen += len(block) * info.channels
        if limits.max_samples is not None and seen > limits.max_samples:
            raise _too_big(name, seen, limits.max_samples, "it decodes to more than")
        yield block


def _decode(source: Any, name: str, label: str, limits: DecodeLimits) -> tuple[np.ndarray, int]:
    """Decode a file path or encoded bytes into ``([C, N] float32, sample_rate)`` in blocks,
    within ``limits``."""
    with _opened(source, label, name=name, limits=limits) as (f, info):
        # [C, N]: what the header declares, at most the bound; grown if it declared too little
        trusted = info.samples <= _TRUSTED_SAMPLES
        size = info.frames if trusted else _INITIAL_SAMPLES // max(1, info.channels)
        if limits.max_samples is not None:
            size = min(info.frames, limits.max_samples // max(1, info.channels))
        cap = None if limits.max_samples is None else limits.max_samples // max(1, info.channels)
        out = np.empty((info.channels, size), np.float32)
        n = 0
        for block in _blocks(f, info, name, label, limits):
            if n + len(block) > out.shape[1]:
                wanted = max(2 * out.shape[1], n + _BLOCK)
                grown = np.empty((info.channels, wanted if cap is None else min(wanted, cap)),
                                 np.float32)  # fmt: skip
                grown[:, :n] = out[:, :n]
                out = grown
            out[:, n : n + len(block)] = block.T
            n += len(block)
    return (out if n == out.shape[1] else np.ascontiguousarray(out[:, :n])), info.sample_rate


def _as_file(source: Any) -> tuple[Any, str]:
    """Encoded bytes as ``bytes`` (a path stays as it is), and how messages name it."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "bytes"
    return source, f"file {str(source)!r}"


def probe_audio(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    limits: DecodeLimits | None = None,
    name: str = "audio",
) -> AudioInfo:
    """The header of an encoded file (path or bytes), checked against ``limits``; decodes
    nothing."""
    with _opened(*_as_file(source), name=name, limits=limits or DecodeLimits()) as (_, info):
        return info


def scan_audio(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    limits: DecodeLimits | None = None,
    name: str = "audio",
) -> AudioInfo:
    """Decode a whole encoded file block by block, keeping none of it (memory: one block),
    and return what it holds: the frames decoded, not the ones declared. Refuses what
    ``load_audio`` would refuse as undecodable, too large or non-finite."""
    limits = limits or DecodeLimits()
    frames = 0
    file, label = _as_file(source)
    with _opened(file, label, name=name, limits=limits) as (f, info):
        for block in _blocks(f, info, name, label, limits):
            if not np.isfinite(block).all():
                raise _invalid(name, "contains NaN or infinite samples")
            frames += len(block)
    if frames == 0:
        raise _invalid(name, "has no samples")
    return AudioInfo(info.container, info.sample_rate, info.channels, frames)


def _read_source(
    source: Any, name: str, sample_rate: int | None, limits: DecodeLimits
) -> tuple[Any, int, dict[str, Any]]:
    """Return ``(samples, sample_rate, metadata)`` for any accepted source kind."""
    if isinstance(source, AudioOutput):
        return source.samples.copy(), source.sample_rate, dict(source.metadata)
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        if not path.exists():
            raise _invalid(name, f"file not found: {str(path)!r}", path=str(path))
        if not path.is_file():
            raise _invalid(name, f"path is not a file: {str(path)!r}", path=str(path))
        samples, rate = _decode(str(path), name, f"file {str(path)!r}", limits)
        return samples, rate, {}
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise _invalid(name, "is empty (0 bytes)")
        samples, rate = _decode(bytes(source), name, "bytes", limits)
        return samples, rate, {}
    if isinstance(source, np.ndarray) or (hasattr(source, "detach") and hasattr(source, "cpu")):
        if sample_rate is None:
            raise InvalidInput(
                f"{name} given as an array needs its sample_rate",
                code="INVALID_SAMPLE_RATE",
                details={"input": name},
            )
        if source.ndim not in (1, 2):
            raise _invalid(
                name,
                f"must be shaped [samples] or [channels, samples], got {tuple(source.shape)}",
                shape=list(source.shape),
            )
        if isinstance(source, np.ndarray):
            return source.copy(), sample_rate, {}
        # A torch tensor: a float32 copy on the CPU (bfloat16 has no numpy dtype).
        return source.detach().to("cpu", copy=True).float().numpy(), sample_rate, {}
    raise InvalidInput(
        f"{name} must be a file path, encoded bytes, a numpy array, a torch tensor or an "
        f"AudioOutput, got {type(source).__name__}",
        code="INVALID_AUDIO",
        details={"type": type(source).__name__},
    )


def load_audio(
    source: str
    | os.PathLike[str]
    | bytes
    | bytearray
    | memoryview
    | np.ndarray
    | torch.Tensor
    | AudioOutput,
    *,
    sample_rate: int | None = None,
    target_sample_rate: int | None = None,
    channels: int | None = None,
    require_sound: bool = False,
    name: str = "audio",
    limits: DecodeLimits | None = None,
) -> AudioOutput:
    """Load and check audio, then convert it to ``channels`` and ``target_sample_rate``.

    ``source``: a path to an audio file, the bytes of an encoded file, an ``AudioOutput``, or
    a numpy array / torch tensor shaped ``[N]`` or ``[C, N]`` (floats in [-1, 1] or integer
    PCM) whose rate ``sample_rate`` must then give. For the other kinds, which carry their own
    rate, a ``sample_rate`` that disagrees with it is an error (use ``target_sample_rate``).

    ``channels=1`` averages the channels, ``channels=2`` duplicates mono; any other mismatch
    is an error. ``require_sound=True`` also rejects all-zero audio. ``limits`` bound what
    encoded audio may decode to (checked from its header first); by default only the sample
    rate is bounded.
    """
    if sample_rate is not None:
        sample_rate = _check_sample_rate(sample_rate, f"{name} sample rate")
    if target_sample_rate is not None:
        target_sample_rate = _check_sample_rate(target_sample_rate, "target sample rate")
    if channels is not None and (
        isinstance(channels, bool) or not isinstance(channels, int) or channels < 1
    ):
        raise InvalidInput(
            f"channels must be a positive integer, got {channels!r}",
            code="INVALID_INPUT",
            details={"channels": repr(channels)},
        )

    samples, rate, metadata = _read_source(source, name, sample_rate, limits or DecodeLimits())
    if sample_rate is not None and sample_rate != rate:
        raise InvalidInput(
            f"{name} is sampled at {rate} Hz, not the given sample_rate {sample_rate} Hz "
            "(use target_sample_rate to resample)",
            code="INVALID_SAMPLE_RATE",
            details={"sample_rate": rate, "given": sample_rate},
        )
    try:
        audio = AudioOutput(samples, rate, metadata)
    except InvalidInput as exc:
        raise InvalidInput(f"{name}: {exc.message}", code=exc.code, details=exc.details) from exc

    if audio.num_samples == 0:
        raise _invalid(name, "has no samples")
    if audio.num_samples * 32000 < 640 * audio.sample_rate:
        raise _invalid(
            name,
            f"is too short to encode: {audio.duration * 1000:.1f} ms "
            f"({audio.num_samples} samples at {audio.sample_rate} Hz), "
            f"the minimum is {MIN_DURATION_S * 1000:.0f} ms",
            num_samples=audio.num_samples,
            sample_rate=audio.sample_rate,
        )
    if require_sound and not np.any(audio.samples):
        raise _invalid(name, "is digitally silent (every sample is zero)")

    if channels is not None and channels != audio.channels:
        if channels == 1:
            audio = audio.to_mono()
        elif not (channels == 2 and audio.channels == 1):
            raise _invalid(
                name,
                f"has {audio.channels} channels and cannot be converted to {channels}",
                channels=audio.channels,
                requested=channels,
            )
    if target_sample_rate is not None and target_sample_rate != audio.sample_rate:
        audio = audio.resample(target_sample_rate)
    if channels == 2 and audio.channels == 1:
        audio = AudioOutput(np.repeat(audio.samples, 2, axis=0), audio.sample_rate, audio.metadata)
    return audio
