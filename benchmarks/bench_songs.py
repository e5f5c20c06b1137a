"""Song benchmark: ACE-Step 1.5 architectures with random weights (configs in code, no download).

Each configuration runs in a fresh process (so peak memory is its own) and is timed the way a
user calls it: ``MusicGenerator.generate_batch`` over the pipeline (the pipeline call is the
whole cost). One warm-up call of 2 s with 1 step comes first (first-call allocations). Prints
one table: wall time, real-time factor (wall / audio seconds per song), audio seconds made per
wall second, and peak resident memory (on CUDA: peak GPU memory allocated, both runs together
with ``--baseline``, which also times the plain diffusers pipeline call in the same process).

    python benchmarks/bench_songs.py                       # xl-turbo, 30 s, 8 steps, fp32+bf16
    python benchmarks/bench_songs.py --arch turbo --batch 1 4 --seconds 30 --dtype float32
    python benchmarks/bench_songs.py --arch tiny --seconds 30   # the tiny test pipeline
    python benchmarks/bench_songs.py --device cuda --arch turbo --dtype bfloat16 --seconds 60 \
        --baseline --json results.jsonl    # against the plain diffusers pipeline (gpu.sh)
    python benchmarks/bench_songs.py --arch turbo --seconds 10 30 --dtype float32 --cpu-setting \
        --baseline --repeats 2   # ours = the CPU default (families.acestep_cpu) vs plain fp32

With ``--cpu-setting`` ours runs the CPU default (``families.acestep_cpu``: int8 DiT, text and
lyric encoder linears, the compiled bf16 VAE decoder, timbre and cross-attention kept) on its
own copies of the parts it changes (the rest shares the plain float32 pipeline's weights, the
baseline), and each row also gives the SNR (dB) of our first timed song against the baseline's,
same weights and seed; ``--no-compile``: the setting without ``torch.compile``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any


def _one(arch: str, dtype: str, batch: int, seconds: float, steps: int, device: str = "cpu",
         baseline: bool = False, repeats: int = 1,
         cpu_setting: bool = False, saved: str | None = None,
         compile: bool = True) -> list[dict]:  # fmt: skip
    """Ours (``MusicGenerator.generate_batch``) and, with ``baseline``, the plain diffusers
    pipeline called directly with the same arguments, each warmed up once, then timed in turn
    ``repeats`` times (round-robin: a burst of load hits both alike); medians."""
    import torch

    from music_gen import MusicGenerator
    from music_gen.families.acestep import AceStepFamily
    from music_gen.testing import make_song_pipeline

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    if saved:  # random weights saved once (--save): loading keeps them file-backed
        from diffusers import AceStepPipeline

        pipe = AceStepPipeline.from_pretrained(saved, dtype=getattr(torch, dtype))
    else:
        pipe = make_song_pipeline(None if arch == "tiny" else arch, dtype=getattr(torch, dtype))
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    ours_pipe = pipe
    if cpu_setting:  # the parts the setting changes are our own copies (bench_songs_cpu)
        from bench_songs_cpu import cpu_setting_copy

        ours_pipe = cpu_setting_copy(pipe, compile)
    family = AceStepFamily.from_pipeline(ours_pipe, arch, fast_cpu=cpu_setting,
                                         cpu_compile=compile)  # fmt: skip
    gen = MusicGenerator.from_family(family)
    params = sum(p.numel() for p in pipe.transformer.parameters())
    prompts = [f"upbeat synth pop song {i}" for i in range(batch)]
    lyrics = "[verse]\nwalking down the empty street\n[chorus]\nsing it loud sing it high"

    made: dict[str, Any] = {}

    def ours() -> None:
        outs = gen.generate_batch(prompts, lyrics=lyrics, duration=seconds,
                                  seed=list(range(batch)), steps=steps)  # fmt: skip
        made.setdefault("music-gen", outs[0].samples)

    def plain() -> None:  # what a diffusers user writes
        out = pipe(prompt=prompts if batch > 1 else prompts[0],
             lyrics=[lyrics] * batch if batch > 1 else lyrics, audio_duration=seconds,
             num_inference_steps=steps, guidance_scale=gen.family_impl.default_guidance,
             generator=[torch.Generator(device).manual_seed(i) for i in range(batch)])  # fmt: skip
        made.setdefault("diffusers pipeline", out.audios[0, :, : round(seconds * 48000)].numpy())

    started = time.perf_counter()  # warm-up (with the CPU setting: torch.compile's first call)
    gen.generate_batch(prompts[:1], lyrics=lyrics, duration=2.0, seed=0, steps=1)
    warmup_s = time.perf_counter() - started
    runs = [("music-gen", ours)]
    if baseline:
        pipe(prompt=prompts[0], lyrics=lyrics, audio_duration=2.0, num_inference_steps=1)
        runs.append(("diffusers pipeline", plain))
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    walls: dict[str, list[float]] = {name: [] for name, _ in runs}
    for _ in range(repeats):
        for name, call in runs:
            sync()
            started = time.perf_counter()
            call()
            sync()
            walls[name].append(time.perf_counter() - started)
    rows = []
    for name, _ in runs:
        wall = statistics.median(walls[name])
        if device.startswith("cuda"):
            peak_mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append({"bench": "songs", "arch": arch, "dtype": dtype, "batch": batch,
                     "seconds": seconds, "steps": steps, "device": device, "configuration": name,
                     "wall_s": wall, "rtf": wall / seconds, "audio_s_per_s": batch * seconds / wall,
                     "peak_mb": peak_mb, "dit_params_m": params / 1e6,
                     "repeats": repeats, "walls": walls[name], "min_wall_s": min(walls[name]),
                     "setting": (family.cpu_setting if name == "music-gen" else None) or dtype,
                     "load": os.getloadavg()[0],
                     "warmup_s": warmup_s if name == "music-gen" else None})  # fmt: skip
    if baseline:
        for row in rows:
            row["baseline_wall_s"] = rows[-1]["wall_s"]
            row["speedup"] = rows[-1]["wall_s"] / row["wall_s"]
            row["speedup_min"] = rows[-1]["min_wall_s"] / row["min_wall_s"]
        ref, ours_audio = made["diffusers pipeline"], made["music-gen"]
        noise = float(((ref - ours_audio) ** 2).sum())
        rows[0]["snr_db"] = 10 * math.log10(float((ref**2).sum()) / max(noise, 1e-30))
    return rows


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="xl-turbo", choices=("tiny", "turbo", "xl-turbo"))
    ap.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--batch", nargs="+", type=int, default=[1])
    ap.add_argument("--seconds", type=float, nargs="+", default=[30.0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (benchmarks/gpu.sh)")
    ap.add_argument("--baseline", action="store_true",
                    help="also time the plain diffusers pipeline call, same arguments")  # fmt: skip
    ap.add_argument("--repeats", type=int, default=1, help="timed runs of each (medians)")
    ap.add_argument("--cpu-setting", action="store_true",
                    help="ours: the CPU default (int8 DiT, bf16 VAE decoder); float32")  # fmt: skip
    ap.add_argument("--no-compile", action="store_true",
                    help="--cpu-setting without torch.compile (cpu_compile=False)")  # fmt: skip
    ap.add_argument("--json", default=None, help="append one JSON line per row to this file")
    ap.add_argument("--save", default=None, help="save --arch's random pipeline here, then exit")
    ap.add_argument("--pipeline", default=None,
                    help="load the pipeline --save wrote (file-backed weights)")  # fmt: skip
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    return ap


def main() -> None:
    args = build_parser().parse_args()
    if args.one:
        print(json.dumps(_one(args.arch, args.dtype[0], args.batch[0], args.seconds[0],
                              args.steps, args.device, args.baseline, args.repeats,
                              args.cpu_setting, args.pipeline,
                              not args.no_compile)))  # fmt: skip
        return
    if args.save:
        from music_gen.testing import make_song_pipeline

        make_song_pipeline(args.arch).save_pretrained(args.save)
        print(f"saved {args.arch} (random weights) to {args.save}")
        return
    rows = []
    for dtype, batch, seconds in itertools.product(args.dtype, args.batch, args.seconds):
        cmd = [sys.executable, __file__, "--one", "--arch", args.arch, "--dtype", dtype,
               "--batch", str(batch), "--seconds", str(seconds), "--steps",
               str(args.steps), "--device", args.device,
               "--repeats", str(args.repeats)]  # fmt: skip
        cmd += ["--baseline"] if args.baseline else []
        # the CPU setting applies to a float32 pipeline: other dtypes run as named
        cmd += ["--cpu-setting"] if args.cpu_setting and dtype == "float32" else []
        cmd += ["--pipeline", args.pipeline] if args.pipeline else []
        cmd += ["--no-compile"] if args.no_compile else []
        out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        if out.returncode != 0:
            print(f"{dtype} batch {batch}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows += json.loads(out.stdout.strip().splitlines()[-1])
    load = os.getloadavg()[0]
    threads = __import__("torch").get_num_threads()
    print(f"\n{platform.machine()}, {os.cpu_count()} CPUs, torch threads {threads}, "
          f"load average {load:.1f}")  # fmt: skip
    print("| arch | run | device | setting | batch | song s | steps | wall s (min) | RTF | "
          "audio s / s | vs baseline | SNR dB | peak MB | load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    warmups: list[str] = []
    for r in rows:
        versus = f"{r['speedup']:.2f}x ({r['speedup_min']:.2f}x)" if "speedup" in r else ""
        quality = f"{r['snr_db']:.1f}" if "snr_db" in r else ""
        print(f"| {r['arch']} ({r['dit_params_m']:.0f}M DiT) | {r['configuration']} | "
              f"{r['device']} | {r['setting']} | {r['batch']} | {r['seconds']:g} | "
              f"{r['steps']} | {r['wall_s']:.1f} ({r['min_wall_s']:.1f}) | {r['rtf']:.2f} | "
              f"{r['audio_s_per_s']:.2f} | {versus} | {quality} | {r['peak_mb']:.0f} | "
              f"{r['load']:.1f} |")  # fmt: skip
        if r.get("warmup_s") is not None:
            warmups.append(f"{r['seconds']:g} s: {r['warmup_s']:.1f} s")
        if args.json:  # for benchmarks/gpu_table.py
            with open(args.json, "a") as f:
                f.write(json.dumps(r) + "\n")
    if warmups:  # with the CPU setting it includes torch.compile's first call
        print("music-gen's warm-up call (2 s song, 1 step), by song length: " + ", ".join(warmups))


if __name__ == "__main__":
    main()
