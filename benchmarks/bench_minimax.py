"""MiniMax Music 3 benchmark: our call (``MusicGenerator.generate``) against the plain modular
pipeline call (``pipe(prompt=..., lyrics=..., audio_duration=..., generator=...)``) in the same
process, on random weights (configs in code, no download: ``testing.minimax_configs``).

``--arch music3`` is the released geometry (a Qwen3-8B-shaped language model with a 200k
vocabulary, the 4-layer RVQ depth decoder, the 36-layer flow-matching transformer, the vocoder):
its parameters are counted on the meta device first, and where they do not fit in the memory
that is free (bfloat16 weights + 15 %), the benchmark says so with the count instead of
swapping. ``--arch tiny`` is the test fixture (what our wrapper costs over the bare call: the
models are toys). Both runs share the seed and must give the same samples (checked).

    python benchmarks/bench_minimax.py --arch tiny --seconds 10 --steps 30 --repeats 3
    python benchmarks/bench_minimax.py --arch music3 --device cuda --seconds 20 --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any

LYRICS = "[verse]\nwalking down the empty street\nneon lights beneath my feet\n[chorus]\nla la"
CAPTION = "Genre: synth pop. Mood: bright, hopeful. Vocals: warm female lead. Tempo: 120 bpm."


def count_parameters(arch: str | None) -> dict[str, int]:
    """Each component's parameter count, built on the meta device (no memory)."""
    import torch
    from diffusers import (
        MiniMaxMusic3ConditionEncoder,
        MiniMaxMusic3RVQDepthDecoder,
        MiniMaxMusic3Transformer1DModel,
        MiniMaxMusic3Vocoder,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from music_gen.testing import minimax_configs

    cfg = minimax_configs(arch)
    with torch.device("meta"):
        parts = {
            "language_model": Qwen3ForCausalLM(Qwen3Config(**cfg["language_model"])),
            "rvq_depth_decoder": MiniMaxMusic3RVQDepthDecoder(**cfg["rvq_depth_decoder"]),
            "condition_encoder": MiniMaxMusic3ConditionEncoder(**cfg["condition_encoder"]),
            "transformer": MiniMaxMusic3Transformer1DModel(**cfg["transformer"]),
            "vocoder": MiniMaxMusic3Vocoder(**cfg["vocoder"]),
        }
    return {name: sum(p.numel() for p in m.parameters()) for name, m in parts.items()}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else platform.machine()} x {os.cpu_count()}"


def free_bytes(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.mem_get_info()[0])
    with open("/proc/meminfo") as f:
        info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
    return info["MemAvailable"]


def run(arch: str, device: str, seconds: float, steps: int, repeats: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from music_gen import MusicGenerator
    from music_gen.families.minimax import MiniMaxMusic3Family
    from music_gen.testing import make_minimax_pipeline

    real = None if arch == "tiny" else arch
    counts = count_parameters(real)
    total = sum(counts.values())
    row: dict[str, Any] = {"arch": arch, "device": device, "seconds": seconds, "steps": steps,
                           "params": counts, "params_total": total,
                           "cpu": cpu_model(),
                           "load_average": os.getloadavg()[0],
                           "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    need = int(total * (2 if real else 4) * 1.15)
    have = free_bytes(device)
    row.update(need_gb=need / 1e9, free_gb=have / 1e9)
    if need > have:
        row["result"] = "does not fit"
        return row

    pipe = make_minimax_pipeline(real, device=device)
    if real is None:
        pipe.to(device)
    gen = MusicGenerator.from_family(MiniMaxMusic3Family.from_pipeline(pipe, arch))

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def ours() -> Any:
        return gen.generate(CAPTION, lyrics=LYRICS, duration=seconds, steps=steps, seed=0).samples

    def plain() -> Any:  # what a diffusers user writes
        generator = torch.Generator(device).manual_seed(0)
        return pipe(prompt=CAPTION, lyrics=LYRICS, audio_duration=seconds, generator=generator,
                    num_inference_steps=steps, output="audios")[0]  # fmt: skip

    gen.generate(CAPTION, lyrics=LYRICS, duration=1.0, steps=1, seed=1)  # warm-up
    walls: dict[str, list[float]] = {"music-gen": [], "diffusers pipeline": []}
    audio: dict[str, Any] = {}
    for _ in range(repeats):
        for name, call in (("music-gen", ours), ("diffusers pipeline", plain)):
            sync()
            started = time.perf_counter()
            audio[name] = call()
            sync()
            walls[name].append(time.perf_counter() - started)
    n = audio["music-gen"].shape[-1]  # ours is the pipeline's audio cut to the duration asked
    same = bool(np.array_equal(audio["music-gen"], audio["diffusers pipeline"][..., :n]))
    made = n / 44100
    row["pipeline_audio_s"] = audio["diffusers pipeline"].shape[-1] / 44100
    row.update(result="ran", equal=same, audio_s=made, threads=torch.get_num_threads(),
               walls=walls, load_average_after=os.getloadavg()[0])  # fmt: skip
    for name, values in walls.items():
        row[f"{name} wall_s"] = statistics.median(values)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="music3", choices=("tiny", "music3"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", default=None, help="append the row as one JSON line to this file")
    args = ap.parse_args()
    row = run(args.arch, args.device, args.seconds, args.steps, args.repeats)
    print(json.dumps(row, indent=1))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
