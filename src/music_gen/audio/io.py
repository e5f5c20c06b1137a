"""Reading outside audio (files, encoded bytes, arrays, tensors) into a checked ``AudioOutput``.

``load_audio`` decodes with soundfile (wav, flac, ogg, mp3 and whatever else libsndfile reads),
rejects audio that cannot be used as model input (missing, undecodable, empty, non-finite,
shorter than 20 ms — less than one 640-sample EnCodec frame at 32 kHz — or, on request,
digitally silent), then converts the channel count and the sample rate as asked. Every
rejection is an ``InvalidInput`` with code INVALID_AUDIO whose message names the input
(``name``, e.g. "melody audio").

It does not write audio (see ``AudioOutput.save``) nor compute features such as chroma.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from music_gen.audio.output import AudioOutput, _check_sample_rate
from music_gen.errors import InvalidInput

if TYPE_CHECKING:
    import torch

__all__ = ["MIN_DURATION_S", "load_audio"]

#: The shortest usable audio: one EnCodec frame (640 samples at 32 kHz) = 20 ms.
MIN_DURATION_S = 640 / 32000


def _invalid(name: str, problem: str, **details: Any) -> InvalidInput:
    return InvalidInput(f"{name} {problem}", code="INVALID_AUDIO", details=details)


def _decode(source: Any, name: str, label: str) -> tuple[np.ndarray, int]:
    """Decode a file path or a file-like object into ``([C, N] float32, sample_rate)``."""
    try:
        data, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise _invalid(name, f"{label} could not be decoded as audio: {exc}") from exc
    return np.ascontiguousarray(np.asarray(data).T), int(rate)


def _read_source(
    source: Any, name: str, sample_rate: int | None
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
        samples, rate = _decode(str(path), name, f"file {str(path)!r}")
        return samples, rate, {}
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise _invalid(name, "is empty (0 bytes)")
        samples, rate = _decode(io.BytesIO(bytes(source)), name, "bytes")
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
) -> AudioOutput:
    """Load and check audio, then convert it to ``channels`` and ``target_sample_rate``.

    ``source``: a path to an audio file, the bytes of an encoded file, an ``AudioOutput``, or
    a numpy array / torch tensor shaped ``[N]`` or ``[C, N]`` (floats in [-1, 1] or integer
    PCM) whose rate ``sample_rate`` must then give. For the other kinds, which carry their own
    rate, a ``sample_rate`` that disagrees with it is an error (use ``target_sample_rate``).

    ``channels=1`` averages the channels, ``channels=2`` duplicates mono; any other mismatch
    is an error. ``require_sound=True`` also rejects all-zero audio.
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

    samples, rate, metadata = _read_source(source, name, sample_rate)
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
