"""Where result audio lives: a ``Storage`` interface and the local-directory implementation.

Keys are opaque strings chosen by the caller (the service uses unguessable ids). Object storage
(S3 and friends) fits the same four methods; ``local_path`` lets the HTTP layer serve files with
Range support and may return None for stores that have no local file.

A failed write raises ``OSError`` and leaves nothing; ``storage_failure`` turns it into the
error a job fails with, or an upload is answered with (503: STORAGE_FULL when the disk or the
file system's quota is full, STORAGE_UNAVAILABLE otherwise, e.g. read-only). An account's own
storage quota is ``quota``'s.
``probe`` tells readiness whether a write of a given size would fit now.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx

from ....errors import ServiceUnavailable

__all__ = [
    "CACHED_RATES",
    "LocalStorage",
    "NodeStorage",
    "Storage",
    "conversion_key",
    "remove_conversions",
    "storage_failure",
]

# Conversions of a result (``GET /audio/{id}?format=&sample_rate=``) are cached beside it only
# for these common rates, so one result has at most len(CACHED_RATES) * formats of them; they
# are deleted with the result (retention included). Other rates are converted per request.
CACHED_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 192000)
CONVERTED_FORMATS = ("wav", "mp3", "flac", "ogg")


def conversion_key(audio_id: str, sample_rate: int, format: str) -> str | None:
    """The storage key of a cached conversion, or None for a rate that is not cached."""
    if sample_rate not in CACHED_RATES or format not in CONVERTED_FORMATS:
        return None
    return f"{audio_id}.{sample_rate}.{format}"


def remove_conversions(storage: Storage, audio_id: str) -> None:
    for rate in CACHED_RATES:
        for fmt in CONVERTED_FORMATS:
            storage.delete(f"{audio_id}.{rate}.{fmt}")


_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def storage_failure(exc: OSError, what: str = "the result") -> ServiceUnavailable:
    """The error for a failed storage write of ``what``, naming the true cause."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in _FULL:
        return ServiceUnavailable(
            f"{what} could not be stored: storage is full ({reason})",
            code="STORAGE_FULL",
            details={"errno": exc.errno},
        )
    return ServiceUnavailable(
        f"{what} could not be stored: storage cannot be written ({reason})",
        code="STORAGE_UNAVAILABLE",
        details={"errno": exc.errno},
    )


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def local_path(self, key: str) -> Path | None: ...


class LocalStorage:
    """Files under one directory; writes are atomic (temporary file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise ValueError(f"bad storage key {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def probe(self, size: int = 0) -> None:
        """Raise ``OSError`` unless a small file can be written and ``size`` bytes are free."""
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".probe-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(b"probe")
        finally:
            Path(tmp).unlink(missing_ok=True)
        free = shutil.disk_usage(self.root).free
        if free < size:
            raise OSError(errno.ENOSPC, f"{free} bytes free, {size} needed", str(self.root))


class NodeStorage:
    """Local storage for one server of several that share a database but not a data
    directory: ``get`` of a result another server stored fetches it from that server (the
    ``node`` its audio row names), so every route and adapter reading results works on any
    node. Everything else is the local directory's. Node URLs come from the servers' own
    settings, never from a client."""

    def __init__(self, local: LocalStorage, node_of: Callable[[str], str | None], here: str,
                 timeout: float = 30.0) -> None:  # fmt: skip
        self.local = local
        self.node_of = node_of  # storage key -> base URL of the server that stored it
        self.here = here.rstrip("/")
        self.timeout = timeout

    @property
    def root(self) -> Path:
        return self.local.root

    def put(self, key: str, data: bytes) -> None:
        self.local.put(key, data)

    def get(self, key: str) -> bytes:
        try:
            return self.local.get(key)
        except FileNotFoundError:
            node = (self.node_of(key) or "").rstrip("/")
            if not node or node == self.here:
                raise
        audio_id = key.split(".", 1)[0]
        try:
            response = httpx.get(f"{node}/api/v1/audio/{audio_id}", params={"node": "1"},
                                 timeout=self.timeout, follow_redirects=False)  # fmt: skip
        except httpx.HTTPError as exc:
            raise FileNotFoundError(errno.ENOENT, f"{key} (on {node}: {exc})") from exc
        if response.status_code != 200:
            raise FileNotFoundError(errno.ENOENT, f"{key} (on {node}: {response.status_code})")
        return response.content

    def delete(self, key: str) -> None:
        self.local.delete(key)

    def exists(self, key: str) -> bool:
        return self.local.exists(key)

    def local_path(self, key: str) -> Path | None:
        return self.local.local_path(key)

    def probe(self, size: int = 0) -> None:
        self.local.probe(size)
