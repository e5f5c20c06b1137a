"""One table from the JSON lines that ``bench_engine.py --json`` and ``bench_songs.py --json``
append (``benchmarks/gpu.sh`` runs them): a row per configuration timed, with its baseline
(transformers' ``generate``, or the plain diffusers pipeline) and the ratio to it.

    python benchmarks/gpu_table.py gpu-results/results.jsonl --out gpu-results/gpu-table.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HEADER = (
    "| benchmark | run | device | batch | audio s | wall s | RTF | audio s per GPU s | "
    "first chunk s | vs baseline |"
)


def _benchmark(row: dict[str, Any]) -> str:
    if row["bench"] == "engine":
        return f"musicgen-{row['arch']}"
    return f"ACE-Step {row['arch']} ({row['dtype']}, {row['steps']} steps)"


def _number(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def render(rows: list[dict[str, Any]], machine: str = "") -> str:
    """The markdown table (a row per line read, in the order read)."""
    lines = [f"Machine: {machine}" if machine else "Machine: not recorded", "", HEADER]
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        wall = row["wall_s"]
        lines.append(
            f"| {_benchmark(row)} | {row['configuration']} | {row['device']} | {row['batch']} | "
            f"{row['seconds']:g} | {wall:.2f} | {wall / row['seconds']:.2f} | "
            f"{_number(row['audio_s_per_s'])} | {_number(row.get('first_chunk_s'))} | "
            f"{_number(row.get('speedup'), suffix='×')} |"
        )
    lines += [
        "",
        "RTF: wall seconds per second of audio (one output). Audio s per GPU s: the batch's "
        "seconds of audio per wall second on the one GPU. vs baseline: the baseline's wall over "
        "this row's, from the same process (musicgen: transformers' `generate`; ACE-Step: the "
        "plain diffusers pipeline).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the JSON lines file")
    parser.add_argument("--out", type=Path, default=None, help="write the table here too")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    machine_file = args.results.with_name("machine.txt")
    machine = machine_file.read_text().strip() if machine_file.is_file() else ""
    table = render(rows, machine)
    print(table, end="")
    if args.out is not None:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
