"""``AudioOutput``: a clip of audio samples with its sample rate, and what can be done to it.

It holds float32 samples shaped ``[channels, samples]`` and can encode them (WAV, FLAC, OGG
Vorbis, MP3 through soundfile/libsndfile: to a file, to bytes or to base64), resample them
(soxr, "HQ"), normalise them (Replicate MusicGen's ``normalization_strategy`` choices with
audiocraft's ``normalize_audio`` semantics) and downmix them to mono. Every operation returns a
new ``AudioOutput``; none mutates the one it is called on.

It does not read or validate audio from outside (see ``music_gen.audio.io.load_audio``), it
stores no metadata inside the encoded files but a loop's (``metadata["loop"]``, written by
``music_gen.audio.loop.make_loop``: WAV files get ``smpl`` and ``acid`` chunks, see
``audio.wavchunks``), and it never clips samples except while encoding to a format that cannot
hold values beyond full scale.
"""

from __future__ import annotations

import base64
import io
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from music_gen.errors import InvalidInput

if TYPE_CHECKING:
    from typing import Self

__all__ = ["AUDIO_FORMATS", "MAX_SAMPLE_RATE", "NORMALIZATION_STRATEGIES", "AudioOutput"]

#: The container/codec names ``save``/``to_bytes`` accept (also the file extensions).
AUDIO_FORMATS: tuple[str, ...] = ("wav", "flac", "ogg", "mp3")
#: Replicate MusicGen's ``normalization_strategy`` choices.
NORMALIZATION_STRATEGIES: tuple[str, ...] = ("loudness", "clip", "peak", "rms")
#: The highest sample rate accepted anywhere (anything above is a mistake, not audio).
MAX_SAMPLE_RATE = 384_000

# format -> (libsndfile major format, default subtype). PCM_16 for the lossless formats is what
# every player expects (and what audiocraft writes); the lossy codecs have one subtype each.
_ENCODINGS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
_MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# Subtypes that hold values beyond full scale; everything else is clipped to [-1, 1] on encoding.
_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
# audiocraft's ``normalize_loudness`` leaves audio below this RMS alone (silence stays silence,
# near-silence is not amplified into noise).
_LOUDNESS_ENERGY_FLOOR = 2e-3
_DEFAULT_HEADROOM_DB = {"loudness": 0.0, "clip": 0.0, "peak": 1.0, "rms": 18.0}

FloatArray = npt.NDArray[np.float32]


def _check_sample_rate(sample_rate: object, what: str = "sample rate") -> int:
    """Return ``sample_rate`` as an int, or raise INVALID_SAMPLE_RATE."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise InvalidInput(
            f"{what} must be an integer number of Hz, got {sample_rate!r}",
            code="INVALID_SAMPLE_RATE",
            details={"sample_rate": repr(sample_rate)},
        )
    rate = int(sample_rate)
    if not 0 < rate <= MAX_SAMPLE_RATE:
        raise InvalidInput(
            f"{what} must be between 1 and {MAX_SAMPLE_RATE} Hz, got {rate}",
            code="INVALID_SAMPLE_RATE",
            details={"sample_rate": rate},
        )
    return rate


def _as_float32(samples: Any) -> FloatArray:
    """Coerce an array-like (numpy, torch, nested lists) to a finite float32 ``[C, N]`` array.

    Integer arrays are read as PCM at the full scale of their width (int16 32767 -> ~1.0; for
    unsigned types the midpoint is zero), as soundfile and scipy read integer WAVs.
    """
    if hasattr(samples, "detach") and hasattr(samples, "cpu"):  # a torch.Tensor
        samples = samples.detach().cpu().float().numpy()
    array = np.asarray(samples)
    kind = array.dtype.kind
    if kind == "f":
        with np.errstate(over="ignore"):  # float64 beyond float32's range -> inf, caught below
            array = array.astype(np.float32, copy=False)
    elif kind in "iu":
        bits = array.dtype.itemsize * 8
        offset = 2.0 ** (bits - 1) if kind == "u" else 0.0
        array = ((array.astype(np.float64) - offset) / 2.0 ** (bits - 1)).astype(np.float32)
    else:
        raise InvalidInput(
            f"audio samples must be a float or integer array, got dtype {array.dtype}",
            code="INVALID_AUDIO",
            details={"dtype": str(array.dtype)},
        )
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2 or array.shape[0] == 0:
        raise InvalidInput(
            f"audio samples must be shaped [samples] or [channels, samples], got {array.shape}",
            code="INVALID_AUDIO",
            details={"shape": list(array.shape)},
        )
    if array.shape[0] > 16 and array.shape[0] > array.shape[1]:
        raise InvalidInput(
            f"audio samples shaped {array.shape} look like [samples, channels]; "
            "expected [channels, samples] (transpose the array)",
            code="INVALID_AUDIO",
            details={"shape": list(array.shape)},
        )
    if not np.isfinite(array).all():
        raise InvalidInput(
            "audio samples contain NaN or infinite values",
            code="INVALID_AUDIO",
            details={"non_finite": int((~np.isfinite(array)).sum())},
        )
    return np.ascontiguousarray(array)


def _resolve_format(format: str | None, path: Path | None = None) -> str:
    """The format name from ``format`` or, failing that, the path's extension."""
    raw = format if format is not None else (path.suffix if path is not None else "")
    name = raw.lower().lstrip(".")
    if name not in _ENCODINGS:
        source = f"format {format!r}" if format is not None else f"extension of {str(path)!r}"
        raise InvalidInput(
            f"unsupported audio {source}; choose one of {', '.join(AUDIO_FORMATS)}",
            code="INVALID_FORMAT",
            details={"format": raw, "allowed": list(AUDIO_FORMATS)},
        )
    return name


@dataclass(eq=False, repr=False)
class AudioOutput:
    """Float32 audio ``[channels, samples]`` at ``sample_rate`` Hz, with free-form metadata.

    ``samples`` is coerced on construction: a 1-D array becomes ``[1, N]``, any float dtype
    becomes float32, integer PCM is scaled to [-1, 1], torch tensors are copied to numpy.
    Non-finite values or a wrong shape raise ``InvalidInput`` (INVALID_AUDIO).
    """

    samples: npt.NDArray[Any]  # float32 [channels, samples] once constructed
    sample_rate: int
    metadata: dict[str, Any] = field(default_factory=dict)
    #: A Standard MIDI File of the same music, when the engine wrote one (the composer does).
    midi: bytes | None = None

    def __post_init__(self) -> None:
        self.samples = _as_float32(self.samples)
        self.sample_rate = _check_sample_rate(self.sample_rate)
        self.metadata = dict(self.metadata or {})

    # -- shape ---------------------------------------------------------------------------------

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    def __repr__(self) -> str:
        keys = ", ".join(sorted(map(str, self.metadata))) or "-"
        return (
            f"AudioOutput(channels={self.channels}, sample_rate={self.sample_rate}, "
            f"duration={self.duration:.3f}s, metadata=[{keys}])"
        )

    def _derive(self, samples: npt.NDArray[Any], sample_rate: int | None = None) -> Self:
        return type(self)(samples, sample_rate or self.sample_rate, dict(self.metadata), self.midi)

    # -- encoding ------------------------------------------------------------------------------

    def to_bytes(self, format: str = "wav", *, subtype: str | None = None) -> bytes:
        """Encode to an in-memory file: wav/flac (PCM_16 unless ``subtype``), ogg (Vorbis), mp3.

        Samples are clipped to [-1, 1] for every subtype but WAV FLOAT/DOUBLE. A loop
        (``metadata["loop"]`` with ``bpm`` and ``beats``) encoded as WAV carries ``smpl`` (the
        whole file loops) and ``acid`` (tempo, beats, meter) chunks.
        """
        name = _resolve_format(format)
        major, default_subtype = _ENCODINGS[name]
        sub = (subtype or default_subtype).upper()
        if not sf.check_format(major, sub):
            raise InvalidInput(
                f"subtype {sub!r} is not available for {name}; choose one of "
                f"{', '.join(sorted(sf.available_subtypes(major)))}",
                code="INVALID_FORMAT",
                details={"format": name, "subtype": sub},
            )
        if name == "mp3" and self.sample_rate not in _MP3_SAMPLE_RATES:
            raise InvalidInput(
                f"mp3 cannot encode {self.sample_rate} Hz; resample to one of "
                f"{', '.join(map(str, _MP3_SAMPLE_RATES))}",
                code="INVALID_SAMPLE_RATE",
                details={"sample_rate": self.sample_rate, "format": name},
            )
        if name == "mp3" and self.channels > 2:
            raise InvalidInput(
                f"mp3 holds at most 2 channels, this audio has {self.channels}",
                code="INVALID_FORMAT",
                details={"format": name, "channels": self.channels},
            )
        data = self.samples.T
        if sub not in _FLOAT_SUBTYPES:
            data = np.clip(data, -1.0, 1.0)  # a new array: self.samples is left as it is
        buffer = io.BytesIO()
        try:
            sf.write(buffer, data, self.sample_rate, format=major, subtype=sub)
        except (sf.SoundFileError, RuntimeError, ValueError) as exc:
            raise InvalidInput(
                f"cannot encode this audio as {name}/{sub}: {exc}",
                code="INVALID_FORMAT",
                details={"format": name, "subtype": sub},
            ) from exc
        data_bytes = buffer.getvalue()
        loop = self.metadata.get("loop")
        if name == "wav" and isinstance(loop, dict) and {"bpm", "beats"} <= loop.keys():
            from .wavchunks import add_loop_chunks

            data_bytes = add_loop_chunks(
                data_bytes,
                num_frames=self.num_samples,
                sample_rate=self.sample_rate,
                beats=int(loop["beats"]),
                bpm=float(loop["bpm"]),
                meter=(int(loop.get("beats_per_bar", 4)), 4),
            )
        return data_bytes

    def to_base64(self, format: str = "wav", *, subtype: str | None = None) -> str:
        """``to_bytes`` as standard base64 text (no ``data:`` prefix)."""
        return base64.b64encode(self.to_bytes(format, subtype=subtype)).decode("ascii")

    def save_midi(self, path: str | os.PathLike[str]) -> Path:
        """Write ``midi`` (a Standard MIDI File) to ``path``; UNSUPPORTED_FEATURE without one."""
        from music_gen.errors import UnsupportedFeature

        if self.midi is None:
            raise UnsupportedFeature(
                "this audio has no MIDI: only the composer engine writes MIDI "
                "(MusicGenerator(model='composer'))",
                code="NO_MIDI",
            )
        target = Path(path).expanduser()
        if not target.parent.is_dir():
            raise InvalidInput(
                f"output directory {str(target.parent)!r} does not exist",
                code="INVALID_OUTPUT_PATH",
                details={"path": str(target)},
            )
        target.write_bytes(self.midi)
        return target

    def save(
        self, path: str | os.PathLike[str], format: str | None = None, *, subtype: str | None = None
    ) -> Path:
        """Write the encoded audio to ``path`` and return it.

        The format is ``format`` if given, else the file extension (wav, flac, ogg, mp3); an
        unknown one raises INVALID_FORMAT. A missing or unwritable parent directory, or a path
        that is a directory, raises INVALID_OUTPUT_PATH. An existing file is overwritten.
        """
        target = Path(path).expanduser()
        name = _resolve_format(format, target)
        if target.is_dir():
            raise InvalidInput(
                f"output path {str(target)!r} is a directory, not a file",
                code="INVALID_OUTPUT_PATH",
                details={"path": str(target)},
            )
        parent = target.parent
        if not parent.is_dir():
            raise InvalidInput(
                f"output directory {str(parent)!r} does not exist",
                code="INVALID_OUTPUT_PATH",
                details={"path": str(target)},
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InvalidInput(
                f"output directory {str(parent)!r} is not writable",
                code="INVALID_OUTPUT_PATH",
                details={"path": str(target)},
            )
        data = self.to_bytes(name, subtype=subtype)  # encode first: no half-written files
        try:
            target.write_bytes(data)
        except OSError as exc:
            raise InvalidInput(
                f"cannot write {str(target)!r}: {exc.strerror or exc}",
                code="INVALID_OUTPUT_PATH",
                details={"path": str(target)},
            ) from exc
        return target

    # -- transforms ----------------------------------------------------------------------------

    def resample(self, sample_rate: int) -> Self:
        """Resample with soxr ("HQ"), each channel independently.

        The result has exactly ``round(num_samples * sample_rate / self.sample_rate)`` samples.
        """
        import soxr

        rate = _check_sample_rate(sample_rate, "target sample rate")
        if rate == self.sample_rate:
            return self._derive(self.samples.copy())
        length = round(self.num_samples * rate / self.sample_rate)
        if self.num_samples == 0:
            return self._derive(np.zeros((self.channels, 0), np.float32), rate)
        # soxr takes [frames, channels] and resamples the channels independently.
        out = soxr.resample(
            np.ascontiguousarray(self.samples.T), self.sample_rate, rate, quality="HQ"
        )
        out = np.asarray(out, dtype=np.float32).reshape(-1, self.channels).T
        if out.shape[1] > length:
            out = out[:, :length]
        elif out.shape[1] < length:
            out = np.pad(out, ((0, 0), (0, length - out.shape[1])))
        return self._derive(out, rate)

    def to_mono(self) -> Self:
        """Average the channels into one."""
        return self._derive(self.samples.mean(axis=0, keepdims=True))

    def normalize(
        self,
        strategy: str = "loudness",
        *,
        target_lufs: float = -14.0,
        headroom_db: float | None = None,
    ) -> Self:
        """Return a normalised copy; ``metadata["normalization"]`` records the strategy.

        - ``"loudness"``: gain to ``target_lufs`` integrated loudness (ITU-R BS.1770 via
          pyloudnorm; clips shorter than its 400 ms block, or with more than 5 channels, use an
          RMS estimate). Audio quieter than audiocraft's energy floor (RMS 2e-3) is left as it is.
          Then, if a peak exceeds ``-headroom_db`` dBFS (default 0), the whole clip is scaled
          down to it: loudness may end below target, nothing is clipped.
        - ``"peak"``: scale so the peak sits at ``-headroom_db`` dBFS (default 1 dB).
        - ``"rms"``: scale so the RMS of the mono mix is ``-headroom_db`` dBFS (default 18 dB),
          then scale down if a peak would exceed full scale.
        - ``"clip"``: clamp to ±``10**(-headroom_db/20)`` (default 0 dB: [-1, 1]).

        Silent audio comes back silent. The result never exceeds full scale.
        """
        if strategy not in NORMALIZATION_STRATEGIES:
            raise InvalidInput(
                f"unknown normalization strategy {strategy!r}; choose one of "
                f"{', '.join(NORMALIZATION_STRATEGIES)}",
                code="INVALID_NORMALIZATION",
                details={"strategy": strategy, "allowed": list(NORMALIZATION_STRATEGIES)},
            )
        headroom = _DEFAULT_HEADROOM_DB[strategy] if headroom_db is None else headroom_db
        if not (math.isfinite(headroom) and headroom >= 0):
            raise InvalidInput(
                f"headroom_db must be a finite number >= 0, got {headroom_db!r}",
                code="INVALID_NORMALIZATION",
                details={"headroom_db": headroom_db},
            )
        if not (math.isfinite(target_lufs) and target_lufs <= 0):
            raise InvalidInput(
                f"target_lufs must be a finite number <= 0, got {target_lufs!r}",
                code="INVALID_NORMALIZATION",
                details={"target_lufs": target_lufs},
            )
        wav = self.samples.astype(np.float64)
        level = 10.0 ** (-headroom / 20.0)
        if wav.size == 0:
            out = wav
        elif strategy == "clip":
            out = np.clip(wav, -level, level)
        elif strategy == "peak":
            out = _scale_to_peak(wav, level)
        elif strategy == "rms":
            rms = math.sqrt(float(np.mean(wav.mean(axis=0) ** 2)))
            out = wav * (level / rms) if rms > 0 else wav
            out = _limit_peak(out, 1.0)
        else:  # loudness
            rms = math.sqrt(float(np.mean(wav**2)))
            if rms < _LOUDNESS_ENERGY_FLOOR:
                out = wav
            else:
                gain_db = target_lufs - _integrated_loudness(wav, self.sample_rate)
                out = _limit_peak(wav * 10.0 ** (gain_db / 20.0), level)
        result = self._derive(out)
        result.metadata["normalization"] = strategy
        return result


def _scale_to_peak(wav: npt.NDArray[np.float64], level: float) -> npt.NDArray[np.float64]:
    peak = float(np.abs(wav).max())
    if peak == 0:
        return wav
    return np.clip(wav * (level / peak), -level, level)  # the clip only absorbs rounding


def _limit_peak(wav: npt.NDArray[np.float64], ceiling: float) -> npt.NDArray[np.float64]:
    """Scale the whole clip down (never up) so that no sample exceeds ``ceiling``."""
    peak = float(np.abs(wav).max())
    return _scale_to_peak(wav, ceiling) if peak > ceiling else wav


def _integrated_loudness(wav: npt.NDArray[np.float64], sample_rate: int) -> float:
    """BS.1770 integrated loudness in LUFS of ``[C, N]`` audio (non-silent)."""
    import pyloudnorm

    meter = pyloudnorm.Meter(sample_rate)
    loudness = -math.inf
    if wav.shape[1] >= meter.block_size * sample_rate and wav.shape[0] <= 5:
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")
            loudness = float(meter.integrated_loudness(wav.T))
    if not math.isfinite(loudness):
        # Too short (or every block gated away): unweighted mean power summed over the
        # channels, as BS.1770 sums them, with its -0.691 dB offset.
        power = float(np.sum(np.mean(wav**2, axis=1)))
        loudness = -0.691 + 10.0 * math.log10(power)
    return loudness
