"""Datasets for the finetune tests: composer clips with captions, as files or archives."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path
from typing import Any

#: tiny runs: 1 s windows of the tiny MusicGen, a large learning rate, checkpoints every 2 steps
TRAIN = {"rank": "4", "alpha": "8", "lr": "0.01", "batch_size": "2", "window_seconds": "1.0",
         "min_seconds": "0.5", "checkpoint_every": "2", "seed": "3"}  # fmt: skip
PROMPTS = ("funk groove with slap bass", "rock band with distorted guitars")


def clips(folder: Path, seconds: float = 2.0) -> dict[str, bytes]:
    """Two composer clips and their captions: name -> bytes."""
    from music_gen import MusicGenerator

    gen = MusicGenerator("composer")
    out: dict[str, bytes] = {}
    for i, prompt in enumerate(PROMPTS):
        audio = gen.generate(prompt, duration=seconds, seed=i)
        out[f"clip{i}.wav"] = audio.to_bytes("wav")
        out[f"clip{i}.txt"] = prompt.encode()
    return out


def as_files(files: dict[str, bytes]) -> list[tuple[str, Any]]:
    return [("files", (name, data, "application/octet-stream")) for name, data in files.items()]


def as_zip(files: dict[str, bytes], extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in {**files, **(extra or {})}.items():
            z.writestr(name, data)
    return buffer.getvalue()


def as_tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            t.addfile(info)
    return buffer.getvalue()


def form(name: str, steps: int, **more: Any) -> dict[str, str]:
    return {"name": name, "steps": str(steps), **TRAIN, **{k: str(v) for k, v in more.items()}}
