"""The dataset intake of finetune jobs, without a server: archives extracted member by member
within their limits (counted on the bytes written, not the headers), names that would leave
the folder refused, junk left out, the door's scan."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from music_gen.errors import InvalidInput
from music_gen.service.core.datasets import (
    DatasetLimits,
    check_dataset,
    extract_archive,
    safe_name,
    write_files,
)

ROOMY = DatasetLimits(max_bytes=1_000_000, max_files=100)


def _zip(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    buffer.seek(0)
    return buffer


def test_safe_names() -> None:
    assert str(safe_name("songs/a.wav")) == "songs/a.wav"
    assert str(safe_name("./songs//b.FLAC")) == "songs/b.FLAC"
    assert str(safe_name("songs\\c.txt")) == "songs/c.txt"
    assert str(safe_name("metadata.jsonl")) == "metadata.jsonl"
    for junk in ("__MACOSX/._a.wav", "songs/._a.wav", ".DS_Store", "cover.jpg", "songs/"):
        assert safe_name(junk) is None, junk
    for bad in ("../a.wav", "songs/../../a.wav", "/etc/a.wav", "C:\\a.wav", "a\x01.wav"):
        with pytest.raises(InvalidInput) as refused:
            safe_name(bad)
        assert refused.value.code == "INVALID_DATASET", bad


def test_a_zip_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    bomb = _zip({"a.wav": bytes(5_000_000)})  # 5 MB of zeros, a few kB compressed
    assert len(bomb.getvalue()) < 50_000
    with pytest.raises(InvalidInput) as refused:
        extract_archive("bomb.zip", bomb, tmp_path, DatasetLimits(1_000_000, 10))
    assert refused.value.code == "INVALID_ARCHIVE" and "over 1000000 bytes" in refused.value.message
    written = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert written <= 1_000_000 + (1 << 20)  # it stopped within one chunk of the limit


def test_too_many_members(tmp_path: Path) -> None:
    many = _zip({f"{i}.txt": b"x" for i in range(11)})
    with pytest.raises(InvalidInput) as refused:
        extract_archive("many.zip", many, tmp_path, DatasetLimits(1_000_000, 10))
    assert refused.value.code == "INVALID_ARCHIVE" and "10 files" in refused.value.message
    with pytest.raises(InvalidInput) as uploads:
        write_files([(f"{i}.txt", io.BytesIO(b"x")) for i in range(11)], tmp_path / "u",
                    DatasetLimits(1_000_000, 10))  # fmt: skip
    assert uploads.value.code == "INVALID_DATASET"


def test_tar_links_devices_and_traversal(tmp_path: Path) -> None:
    def tar(info: tarfile.TarInfo, data: bytes = b"") -> io.BytesIO:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as t:
            info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data else None)
        buffer.seek(0)
        return buffer

    hard = tarfile.TarInfo("a.wav")
    hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/passwd"
    fifo = tarfile.TarInfo("b.wav")
    fifo.type = tarfile.FIFOTYPE
    for member in (hard, fifo, tarfile.TarInfo("../../c.wav")):
        data = b"" if member.type != tarfile.REGTYPE else b"RIFF"
        with pytest.raises(InvalidInput) as refused:
            extract_archive("x.tar.gz", tar(member, data), tmp_path, ROOMY)
        assert refused.value.code == "INVALID_ARCHIVE", member.name
    assert not (tmp_path.parent.parent / "c.wav").exists()


def test_a_zip_with_a_symlink_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        info = zipfile.ZipInfo("link.wav")
        info.external_attr = 0o120777 << 16  # a symbolic link, as zip -y stores one
        z.writestr(info, "/etc/passwd")
    buffer.seek(0)
    with pytest.raises(InvalidInput) as refused:
        extract_archive("l.zip", buffer, tmp_path, ROOMY)
    assert refused.value.code == "INVALID_ARCHIVE" and "symbolic link" in refused.value.message
    assert not (tmp_path / "link.wav").exists()


def test_the_door_scan(tmp_path: Path) -> None:
    kept = extract_archive("d.zip", _zip({
        "set/a.wav": b"RIFF", "set/a.txt": b"funk", "set/b.wav": b"RIFF",
        "__MACOSX/set/._a.wav": b"junk", "set/notes.pdf": b"%PDF",
    }), tmp_path, ROOMY)  # fmt: skip
    assert kept == 3 and not (tmp_path / "__MACOSX").exists()
    summary = check_dataset(tmp_path)
    assert summary["files"] == 1
    assert summary["skipped"] == [{"file": "set/b.wav", "reason": "no caption (b.txt or "
                                   "metadata.jsonl)"}]  # fmt: skip
