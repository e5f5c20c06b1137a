"""The server's LoRA adapters: one folder per adapter under one root, named as the adapter.

The root is ``Settings.adapters_dir``, else ``<data_dir>/adapters`` (``adapters_root``). With
``serve --ray`` every replica reads the same root: replicas on this machine, or a data
directory shared by every node (the same path everywhere).

An adapter folder holds what ``music_gen.train`` writes (PEFT's ``adapter_config.json`` and
``adapter_model.safetensors``, ACE-Step's diffusers LoRA file, ``music_gen_adapter.json`` —
``families.adapters.INFO_FILE`` — with the family, the base model and the training summary)
and, for adapters an account made through the service, ``music_gen_owner.json``
(``OWNER_FILE``): ``{"account", "base_model", "created_at"}``, written once by ``create``
before anything else is in the folder. The training writes ``INFO_FILE`` over and over and
never touches ``OWNER_FILE``: who owns an adapter can not change with what it was trained on.

Folders without ``OWNER_FILE`` are *shared*: the operator copied them in (a ``music-gen
train --output`` folder), and every account may use them; no account may delete them.
Another account's adapters are invisible: asking for one is ADAPTER_NOT_FOUND, as for a name
that does not exist.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ....errors import Conflict, InvalidInput, NotFound
from ....families.adapters import ACESTEP_LORA_FILE, INFO_FILE
from .settings import Settings

__all__ = [
    "OWNER_FILE",
    "AdapterRecord",
    "AdapterStore",
    "adapters_root",
]

#: who made an adapter through the service, and for which base model
OWNER_FILE = "music_gen_owner.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapters_root(settings: Settings) -> Path:
    """Where the server keeps adapters: ``adapters_dir``, else ``<data_dir>/adapters``."""
    return settings.adapters_dir or settings.data_dir / "adapters"


@dataclass(frozen=True)
class AdapterRecord:
    """What the service says about one adapter (``GET /api/v1/adapters``)."""

    name: str
    owner: str | None  # the account that made it; None: shared (placed by the operator)
    base_model: str | None  # the model it was trained on (None: unknown, trained elsewhere)
    family: str | None  # musicgen, acestep, … (None: not trained yet, or unknown)
    created_at: float  # unix seconds
    size_bytes: int  # every file in its folder (checkpoints included)
    ready: bool  # its weights are there (False while its training runs)
    rank: int | None = None  # the training summary, where music-gen trained it
    steps: int | None = None
    final_loss: float | None = None

    @property
    def shared(self) -> bool:
        return self.owner is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "shared": self.shared}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):  # a file replaced while a training writes
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)


class AdapterStore:
    """The adapters under ``root`` and who may see them (see the module's doc)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, name: str) -> Path:
        """The folder of adapter ``name`` (INVALID_ADAPTER for a name that is no folder name)."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInput(
                f"adapter name {name!r} must be 1-100 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
                code="INVALID_ADAPTER",
                details={"adapter": name if isinstance(name, str) else repr(name)},
            )
        return self.root / name

    def create(self, name: str, account: str, base_model: str) -> Path:
        """A new, empty adapter folder owned by ``account`` (ADAPTER_EXISTS where the name is
        taken, by any account or the operator)."""
        folder = self.folder(name)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
        except FileExistsError:
            raise Conflict(
                f"an adapter named {name!r} exists already; choose another name",
                code="ADAPTER_EXISTS",
                details={"adapter": name},
            ) from None
        owner = {"account": account, "base_model": base_model, "created_at": time.time()}
        tmp = folder / f".{OWNER_FILE}.tmp"
        tmp.write_text(json.dumps(owner))
        os.replace(tmp, folder / OWNER_FILE)
        return folder

    def _record(self, folder: Path) -> AdapterRecord:
        owner = _read_json(folder / OWNER_FILE) if (folder / OWNER_FILE).exists() else None
        info = _read_json(folder / INFO_FILE)
        config = info.get("config")
        config = config if isinstance(config, dict) else {}
        peft = _read_json(folder / "adapter_config.json")
        family = info.get("family")
        if family is None and (folder / ACESTEP_LORA_FILE).is_file():
            family = "acestep"
        created = (owner or {}).get("created_at")
        if not isinstance(created, int | float):
            created = folder.stat().st_mtime
        ready = (
            all((folder / f).is_file() for f in _PEFT_FILES)
            or (folder / ACESTEP_LORA_FILE).is_file()
        )
        base = (owner or {}).get("base_model") or info.get("base_model")
        return AdapterRecord(
            name=folder.name,
            # an owner file that is not ours to read still marks the adapter as someone's
            owner=None if owner is None else str(owner.get("account", "")),
            base_model=str(base) if base else None,
            family=str(family) if family else None,
            created_at=float(created),
            size_bytes=_size(folder),
            ready=ready,
            rank=_number(config.get("rank", peft.get("r")), int),
            steps=_number(info.get("steps"), int),
            final_loss=_number(info.get("final_loss"), float),
        )

    def _visible(self, folder: Path, account: str) -> bool:
        if not (folder / OWNER_FILE).exists():
            return True
        return _read_json(folder / OWNER_FILE).get("account") == account

    def list(self, account: str) -> builtins.list[AdapterRecord]:
        """The account's own adapters and the shared ones, by name."""
        if not self.root.is_dir():
            return []
        folders = sorted(p for p in self.root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name))
        return [self._record(f) for f in folders if self._visible(f, account)]

    def get(self, name: str, account: str) -> AdapterRecord:
        """Adapter ``name`` as ``account`` sees it (ADAPTER_NOT_FOUND: no such adapter, or
        another account's)."""
        folder = self.folder(name)
        if not folder.is_dir() or not self._visible(folder, account):
            raise NotFound(
                f"no adapter named {name!r} (GET /api/v1/adapters lists yours and the shared ones)",
                code="ADAPTER_NOT_FOUND",
                details={"adapter": name},
            )
        return self._record(folder)

    def delete(self, name: str, account: str) -> None:
        """Delete one of the account's own adapters with its files (ADAPTER_SHARED for a
        shared one: only the operator removes those, from the disk)."""
        record = self.get(name, account)
        if record.shared:
            raise Conflict(
                f"adapter {name!r} is shared by the server's operator; it can not be deleted "
                "through the API",
                code="ADAPTER_SHARED",
                details={"adapter": name},
            )
        folder = self.folder(name)
        # renamed first: no request finds it half deleted, and a new one may take the name
        trash = self.root / f".deleted-{name}-{time.time_ns()}"
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def resolve(self, name: str | None, account: str) -> Path | None:
        """The folder a request's ``adapter`` names (None: no adapter), as ``account`` may
        use it: visible to it (ADAPTER_NOT_FOUND) and trained (ADAPTER_NOT_READY)."""
        if name is None:
            return None
        record = self.get(name, account)
        if not record.ready:
            raise Conflict(
                f"adapter {name!r} has no weights yet (its training has not finished)",
                code="ADAPTER_NOT_READY",
                details={"adapter": name},
            )
        return self.folder(name)

    def usage(self, account: str) -> int:
        """Bytes of the account's own adapters (shared ones count for no account)."""
        return sum(r.size_bytes for r in self.list(account) if r.owner == account)
