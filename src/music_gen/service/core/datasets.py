"""A fine-tuning dataset as it arrives over HTTP: uploaded files, or one archive, written
into a fresh folder on this server and checked as far as the door can check it.

- **Files** (multipart ``files``): audio (``.wav .flac .ogg .mp3``), captions (``NAME.txt``)
  and ``metadata.jsonl``. A file's name may hold folders (a browser's folder upload sends
  ``songs/a.wav``); each part must be a plain name (no ``..``, no absolute path, no drive,
  no control characters), else INVALID_DATASET names it.
- **Archive** (multipart ``archive``: ``.zip``, ``.tar.gz`` / ``.tgz``, ``.tar``): extracted
  member by member, never with the library's own extract-all. Refused with
  INVALID_ARCHIVE: a member whose path leaves the folder (``../x``, ``/etc/x``, ``C:\\x``),
  a symbolic or hard link, a device or FIFO, an encrypted zip member, an archive that is
  not one, more than ``max_files`` members, or more than ``max_bytes`` once extracted —
  counted on the bytes actually written, not on what the headers claim (zip bombs).
  Other files (``__MACOSX/``, ``._*``, ``.DS_Store``, anything not audio, text or the
  metadata file) are left out.

Then ``train.dataset.scan_dataset``: a malformed ``metadata.jsonl`` or no audio file with a
caption is INVALID_DATASET now; what needs decoding (unreadable, too short, silent files)
is found by the training, which skips such files by name and fails the job with
INVALID_DATASET when none is left.
"""

from __future__ import annotations

import gzip
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ...errors import InvalidInput
from ...train.dataset import AUDIO_SUFFIXES, METADATA, scan_dataset

__all__ = ["DatasetLimits", "check_dataset", "extract_archive", "write_files"]

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
_KEPT = (*AUDIO_SUFFIXES, ".txt")
_CHUNK = 1 << 20
#: what reading a broken archive raises (compression methods zipfile lacks included)
_UNREADABLE = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile,
               NotImplementedError)  # fmt: skip


@dataclass(frozen=True)
class DatasetLimits:
    max_bytes: int  # the whole dataset, as written
    max_files: int  # files uploaded, or members of an archive


def _invalid(message: str, code: str = "INVALID_DATASET", **details: Any) -> InvalidInput:
    return InvalidInput(message, code=code, details=details)


def safe_name(name: str, code: str = "INVALID_DATASET") -> PurePosixPath | None:
    """``name`` as a relative path inside the dataset, or None for a file to leave out
    (folders, OS junk, kinds the training does not read). A name that would leave the
    folder raises ``code``."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":") or "\x00" in raw:
        raise _invalid(f"{name!r}: absolute paths are refused", code, file=name)
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise _invalid(f"{name!r}: '..' would leave the dataset folder", code, file=name)
    if any(ord(c) < 32 for c in raw):
        raise _invalid(f"{name!r}: control characters in a file name", code, file=name)
    if not parts or raw.endswith("/"):
        return None
    if parts[0] == "__MACOSX" or any(p.startswith("._") or p == ".DS_Store" for p in parts):
        return None
    path = PurePosixPath(*parts)
    if path.name != METADATA and not path.name.lower().endswith(_KEPT):
        return None
    if len(str(path)) > 500 or any(len(p.encode()) > 255 for p in parts):
        raise _invalid(f"{name[:80]!r}…: file name too long", code, file=name[:200])
    return path


class _Budget:
    """Bytes and files written so far, against the limits."""

    def __init__(self, limits: DatasetLimits, code: str) -> None:
        self.limits, self.code = limits, code
        self.bytes = 0
        self.files = 0

    def file(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise _invalid(
                f"more than {self.limits.max_files} files in the dataset", self.code,
                max_files=self.limits.max_files,
            )  # fmt: skip

    def copy(self, source: IO[bytes], target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise _invalid(f"{target.name!r} is in the dataset twice", self.code, file=target.name)
        with target.open("xb") as out:
            while chunk := source.read(_CHUNK):
                self.bytes += len(chunk)
                if self.bytes > self.limits.max_bytes:
                    raise _invalid(
                        f"the dataset is over {self.limits.max_bytes} bytes", self.code,
                        max_bytes=self.limits.max_bytes,
                    )  # fmt: skip
                out.write(chunk)


def write_files(files: Iterable[tuple[str, IO[bytes]]], folder: Path, limits: DatasetLimits) -> int:
    """Write uploaded ``(name, stream)`` pairs under ``folder``; returns how many were kept."""
    budget = _Budget(limits, "INVALID_DATASET")
    kept = 0
    for name, stream in files:
        budget.file()
        path = safe_name(name or "")
        if path is None:
            continue
        budget.copy(stream, folder / path)
        kept += 1
    return kept


def extract_archive(name: str, stream: IO[bytes], folder: Path, limits: DatasetLimits) -> int:
    """Extract the uploaded archive ``name`` (its bytes in ``stream``) under ``folder``
    safely (see the module's doc); returns how many files were kept."""
    lower = (name or "").lower()
    budget = _Budget(limits, "INVALID_ARCHIVE")
    try:
        if lower.endswith(".zip"):
            return _unzip(stream, folder, budget)
        if lower.endswith((".tar.gz", ".tgz", ".tar")):
            return _untar(stream, folder, budget)
    except _UNREADABLE as exc:
        raise _invalid(f"{name!r} is not a readable archive ({exc})", "INVALID_ARCHIVE") from None
    raise _invalid(
        f"archive {name!r} must be one of {', '.join(ARCHIVE_SUFFIXES)}", "INVALID_ARCHIVE",
        file=name,
    )  # fmt: skip


def _unzip(stream: IO[bytes], folder: Path, budget: _Budget) -> int:
    kept = 0
    with zipfile.ZipFile(stream) as archive:
        members = archive.infolist()
        if len(members) > budget.limits.max_files:
            budget.files = len(members) - 1
            budget.file()
        for info in members:
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise _invalid(f"{info.filename!r} is a symbolic link", "INVALID_ARCHIVE",
                               file=info.filename)  # fmt: skip
            if info.flag_bits & 0x1:
                raise _invalid(f"{info.filename!r} is encrypted", "INVALID_ARCHIVE",
                               file=info.filename)  # fmt: skip
            path = safe_name(info.filename, "INVALID_ARCHIVE")
            if path is None or info.is_dir():
                continue
            with archive.open(info) as source:
                budget.copy(source, folder / path)
            kept += 1
    return kept


def _untar(stream: IO[bytes], folder: Path, budget: _Budget) -> int:
    kept = 0
    with tarfile.open(fileobj=stream, mode="r:*") as archive:
        for member in archive:
            budget.file()
            if member.issym() or member.islnk():
                raise _invalid(f"{member.name!r} is a link", "INVALID_ARCHIVE", file=member.name)
            path = safe_name(member.name, "INVALID_ARCHIVE")
            if member.isdir() or path is None:
                continue
            if not member.isfile():
                raise _invalid(f"{member.name!r} is not a regular file", "INVALID_ARCHIVE",
                               file=member.name)  # fmt: skip
            source = archive.extractfile(member)
            if source is None:
                continue
            with source:
                budget.copy(source, folder / path)
            kept += 1
    return kept


def check_dataset(folder: Path) -> dict[str, Any]:
    """What the door can tell of the dataset in ``folder`` (INVALID_DATASET where nothing is
    usable): its usable files and those that will be skipped, with the reason."""
    usable, skipped = scan_dataset(folder)
    return {
        "files": len(usable),
        "skipped": [{"file": s.name, "reason": s.reason} for s in skipped],
    }


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
