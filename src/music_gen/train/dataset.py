"""Training datasets: a folder of audio files with a caption per file, cut into windows.

Layout (either or both):

- ``NAME.wav`` (or ``.flac``, ``.ogg``, ``.mp3``) with ``NAME.txt`` beside it holding the caption;
- one ``metadata.jsonl``, one JSON object per line: ``{"file": "NAME.wav", "caption": "...",
  "lyrics": "...", "bpm": 120, "key": "A minor"}`` (``file`` relative to the folder; ``lyrics``,
  ``bpm`` and ``key`` optional, for song models). A metadata line wins over a ``.txt`` caption.

Every file is decoded, mixed or duplicated to the model's channels and resampled to its rate.
A file that cannot be decoded, has no caption, is shorter than ``min_seconds`` or is silent
(peak under -80 dBFS) is skipped and reported by name in ``Dataset.skipped``; a dataset with no
usable file is an ``InvalidInput`` with code INVALID_DATASET. A missing ``bpm`` / ``key`` is
estimated from the audio (``train.estimate``) when ``estimate=True``; ``Clip.estimated`` names
what was estimated.

Clips longer than ``window_seconds`` are cut into consecutive windows of that length; a tail of
at least ``min_seconds`` becomes one more window ending at the file's end (it overlaps the one
before). Shorter clips are one window each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.io import load_audio
from ..errors import InvalidInput
from .estimate import estimate_bpm, estimate_key

__all__ = [
    "AUDIO_SUFFIXES",
    "METADATA",
    "Clip",
    "Dataset",
    "Skipped",
    "Window",
    "load_dataset",
    "scan_dataset",
]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
METADATA = "metadata.jsonl"
#: a peak under -80 dBFS is silence
SILENCE_PEAK = 1e-4


def _invalid(message: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, code="INVALID_DATASET", details=details)


@dataclass(frozen=True)
class Skipped:
    name: str  # the file, relative to the dataset folder
    reason: str


@dataclass
class Clip:
    name: str
    caption: str
    audio: np.ndarray  # [C, N] float32 at Dataset.sample_rate
    lyrics: str = ""
    bpm: float | None = None
    key: str | None = None
    estimated: tuple[str, ...] = ()  # which of "bpm", "key" were estimated


@dataclass(frozen=True)
class Window:
    """One training example: a stretch of one clip."""

    clip: Clip
    start: int  # samples
    end: int

    @property
    def audio(self) -> np.ndarray:  # [C, end - start]
        return self.clip.audio[:, self.start : self.end]


@dataclass
class Dataset:
    root: Path
    sample_rate: int
    channels: int
    clips: list[Clip]
    windows: list[Window]
    skipped: list[Skipped] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "clips": len(self.clips),
            "windows": len(self.windows),
            "seconds": round(sum(c.audio.shape[-1] for c in self.clips) / self.sample_rate, 2),
            "skipped": [{"file": s.name, "reason": s.reason} for s in self.skipped],
        }


def _read_metadata(root: Path) -> dict[str, dict[str, Any]]:
    path = root / METADATA
    if not path.is_file():
        return {}
    entries: dict[str, dict[str, Any]] = {}
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _invalid(
                f"{METADATA} line {number} is not JSON ({exc.msg})", line=number
            ) from None
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise _invalid(f'{METADATA} line {number} needs a "file" string', line=number)
        for name, kind in (("caption", str), ("lyrics", str), ("key", str)):
            if entry.get(name) is not None and not isinstance(entry[name], kind):
                raise _invalid(f"{METADATA} line {number}: {name} must be a string", line=number)
        bpm = entry.get("bpm")
        if bpm is not None and (
            isinstance(bpm, bool) or not isinstance(bpm, int | float) or not 20 <= bpm <= 400
        ):
            raise _invalid(f"{METADATA} line {number}: bpm must be 20-400", line=number)
        entries[Path(entry["file"]).as_posix()] = entry
    return entries


def _audio_files(root: Path, metadata: dict[str, dict[str, Any]]) -> list[str]:
    names = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    }
    names.update(metadata)  # listed files that are missing are reported, not ignored
    return sorted(names)


def _caption(root: Path, name: str, entry: dict[str, Any]) -> str:
    file = root / name
    caption = entry.get("caption")
    if caption is None and file.with_suffix(".txt").is_file():
        caption = file.with_suffix(".txt").read_text(encoding="utf-8", errors="replace")
    return (caption or "").strip()


def _no_caption(name: str) -> Skipped:
    return Skipped(name, f"no caption ({Path(name).stem}.txt or {METADATA})")


def scan_dataset(path: str | Path) -> tuple[list[str], list[Skipped]]:
    """What can be told of the dataset folder at ``path`` without decoding any audio: its
    audio files that exist and have a caption, and the others (skipped, with the reason).
    Raises INVALID_DATASET where ``metadata.jsonl`` is malformed or no file is usable."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise _invalid(f"dataset folder {str(root)!r} does not exist", path=str(root))
    metadata = _read_metadata(root)
    usable: list[str] = []
    skipped: list[Skipped] = []
    for name in _audio_files(root, metadata):
        if not (root / name).is_file():
            skipped.append(Skipped(name, "listed in metadata.jsonl but missing"))
        elif not _caption(root, name, metadata.get(name, {})):
            skipped.append(_no_caption(name))
        else:
            usable.append(name)
    if not usable:
        listing = "; ".join(f"{s.name}: {s.reason}" for s in skipped) or "no audio files"
        raise _invalid(
            f"no usable audio in the dataset ({listing}); it needs audio files "
            f"({', '.join(AUDIO_SUFFIXES)}) with a caption each (NAME.txt or {METADATA})",
            skipped=[{"file": s.name, "reason": s.reason} for s in skipped],
        )
    return usable, skipped


def _windows(clip: Clip, window: int, min_length: int) -> list[Window]:
    n = clip.audio.shape[-1]
    if n <= window:
        return [Window(clip, 0, n)]
    out = [Window(clip, s, s + window) for s in range(0, n - window + 1, window)]
    if n - out[-1].end >= min_length:
        out.append(Window(clip, n - window, n))
    return out


def load_dataset(
    path: str | Path,
    *,
    sample_rate: int,
    channels: int,
    window_seconds: float = 30.0,
    min_seconds: float = 1.0,
    estimate: bool = True,
) -> Dataset:
    """Read the dataset folder at ``path`` for a model of ``sample_rate`` and ``channels``."""
    if not window_seconds > 0 or not 0 < min_seconds <= window_seconds:
        raise InvalidInput(
            "need 0 < min_seconds <= window_seconds", code="INVALID_TRAINING_CONFIG",
            details={"window_seconds": window_seconds, "min_seconds": min_seconds},
        )  # fmt: skip
    root = Path(path).expanduser()
    if not root.is_dir():
        raise _invalid(f"dataset folder {str(root)!r} does not exist", path=str(root))
    metadata = _read_metadata(root)
    names = _audio_files(root, metadata)
    if not names:
        raise _invalid(
            f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {str(root)!r}", path=str(root)
        )
    clips: list[Clip] = []
    skipped: list[Skipped] = []
    min_length = round(min_seconds * sample_rate)
    for name in names:
        file = root / name
        entry = metadata.get(name, {})
        caption = _caption(root, name, entry)
        if not caption:
            skipped.append(_no_caption(name))
            continue
        try:
            audio = load_audio(file, target_sample_rate=sample_rate, channels=channels, name=name)
        except InvalidInput as exc:
            skipped.append(Skipped(name, f"unreadable: {exc.message}"))
            continue
        samples = np.ascontiguousarray(audio.samples, dtype=np.float32)
        if samples.shape[-1] < min_length:
            seconds = samples.shape[-1] / sample_rate
            skipped.append(Skipped(name, f"too short: {seconds:.2f} s < {min_seconds:g} s"))
            continue
        if float(np.abs(samples).max()) < SILENCE_PEAK:
            skipped.append(Skipped(name, "silent (peak under -80 dBFS)"))
            continue
        bpm, key = entry.get("bpm"), entry.get("key")
        estimated: list[str] = []
        if estimate and bpm is None:
            bpm = estimate_bpm(samples, sample_rate)
            estimated.append("bpm")
        if estimate and key is None:
            key = estimate_key(samples, sample_rate)
            estimated.append("key")
        clips.append(
            Clip(
                name, caption.strip(), samples, (entry.get("lyrics") or "").strip(),
                None if bpm is None else float(bpm), key, tuple(estimated),
            )
        )  # fmt: skip
    if not clips:
        listing = "; ".join(f"{s.name}: {s.reason}" for s in skipped)
        raise _invalid(
            f"no usable audio in {str(root)!r} ({listing})",
            path=str(root),
            skipped=[{"file": s.name, "reason": s.reason} for s in skipped],
        )
    window = max(1, round(window_seconds * sample_rate))
    windows = [w for clip in clips for w in _windows(clip, window, min_length)]
    return Dataset(root, sample_rate, channels, clips, windows, skipped)
