"""benchmarks/gpu.sh (issue 24): its dry run lists every step of the GPU run, times nothing,
and every command it lists parses with the benchmark script's own argument parser; the one
table renders what the scripts write."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def _dry_run(tmp_path: Path) -> list[tuple[int, str, list[str]]]:
    out = tmp_path / "out"
    done = subprocess.run(
        ["bash", "benchmarks/gpu.sh", "--dry-run", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not out.exists()  # nothing ran: no results, no checkpoints
    steps = []
    for line in done.stdout.splitlines():
        match = re.fullmatch(r"step (\d+): (.+?): (.+)", line.strip())
        assert match, f"not a step line: {line!r}"
        steps.append((int(match[1]), match[2], shlex.split(match[3])))
    return steps


def test_the_dry_run_lists_every_step_of_the_gpu_run(tmp_path):
    steps = _dry_run(tmp_path)
    assert [n for n, _, _ in steps] == list(range(1, len(steps) + 1))
    names = [name for _, name, _ in steps]
    assert names[0] == "CUDA tests" and names[-1] == "one table"
    for arch in ("small", "medium", "large"):
        assert any(
            f"musicgen-{arch} 30 s, batch 1, vs transformers generate, first streamed chunk" == n
            for n in names
        ), names
    for batch in (16, 64):
        assert f"musicgen-small 30 s, throughput at batch {batch} (audio s per GPU s)" in names
    for arch in ("turbo", "xl-turbo"):
        assert f"ACE-Step {arch} 60 s song vs the plain diffusers pipeline" in names
    assert len(steps) == 9


def test_every_listed_command_parses_with_its_scripts_own_arguments(tmp_path):
    parsers: dict[str, Any] = {
        name: _script(name).build_parser() for name in ("bench_engine.py", "bench_songs.py")
    }
    seen: dict[str, list[Any]] = {"bench_engine.py": [], "bench_songs.py": []}
    for _, name, argv in _dry_run(tmp_path):
        assert argv[0] == sys.executable
        if argv[1:3] == ["-m", "pytest"]:
            assert all((ROOT / a).is_file() for a in argv[3:] if not a.startswith("-"))
            continue
        script = Path(argv[1])
        assert (ROOT / script).is_file(), script
        if script.name == "gpu_table.py":
            assert argv[2].endswith("results.jsonl") and argv[3] == "--out"
            continue
        args = parsers[script.name].parse_args(argv[2:])  # unknown flags exit here
        assert args.device == "cuda" and args.json.endswith("results.jsonl"), name
        seen[script.name].append(args)
    engine, songs = seen["bench_engine.py"], seen["bench_songs.py"]
    single = [a for a in engine if a.batch == 1]
    assert sorted(a.arch for a in single) == ["large", "medium", "small"]
    assert all("transformers" in a.configs.split(",") and a.seconds == 30 for a in single)
    assert all(set(a.stream.split(",")) <= set(a.configs.split(",")) for a in single)
    assert sorted(a.batch for a in engine if a.batch > 1) == [16, 64]
    assert sorted(a.arch for a in songs) == ["turbo", "xl-turbo"]
    assert all(a.baseline and a.seconds == [60] for a in songs)


def test_the_table_has_a_row_per_result_with_its_ratio():
    table = _script("gpu_table.py")
    rows = [
        {"bench": "engine", "arch": "small", "device": "cuda", "batch": 1, "seconds": 30.0,
         "configuration": "transformers float32 `generate`", "wall_s": 12.0,
         "audio_s_per_s": 2.5, "first_chunk_s": None, "speedup": 1.0},
        {"bench": "engine", "arch": "small", "device": "cuda", "batch": 64, "seconds": 30.0,
         "configuration": "music-gen bfloat16", "wall_s": 24.0, "audio_s_per_s": 80.0,
         "first_chunk_s": 0.25, "speedup": None},
        {"bench": "songs", "arch": "turbo", "dtype": "bfloat16", "steps": 8, "device": "cuda",
         "batch": 1, "seconds": 60.0, "configuration": "music-gen", "wall_s": 3.0,
         "audio_s_per_s": 20.0, "speedup": 1.02},
    ]  # fmt: skip
    text = table.render(rows, "h100: NVIDIA H100")
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[0] == table.HEADER and len(lines) == 4
    assert lines[1].startswith("| musicgen-small | transformers float32 `generate` | cuda | 1 |")
    assert "| 24.00 | 0.80 | 80.00 | 0.25 | - |" in lines[2]
    assert lines[3].startswith("| ACE-Step turbo (bfloat16, 8 steps) | music-gen |")
    assert lines[3].endswith("| 1.02× |") and text.startswith("Machine: h100: NVIDIA H100")
