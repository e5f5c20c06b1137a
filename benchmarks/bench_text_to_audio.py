"""Text-to-audio benchmark: Stable Audio 3 small with random weights of the real architecture
(``music_gen.testing.SA3_SMALL``: SAME-S autoencoder with its real 4096-sample hop, T5Gemma b-b
encoder, the 1024-wide, 20-deep DiT; configs in code, no download), our call against the plain
diffusers call in the same process.

Ours is ``MusicGenerator.generate`` over the pipeline (``DiffusersAudioFamily``); the baseline
is ``StableAudio3Pipeline.__call__`` with the same prompt, duration and seed, which is what our
call runs, so the two must give the same samples (checked: ``equal``). Each is warmed up once
(1 s, 1 step), then timed in turn ``--repeats`` times (round-robin); medians. Prints one JSON
line per row and a table: wall time, real-time factor, peak resident memory.

    python benchmarks/bench_text_to_audio.py                 # 30 s of audio, the call's 8 steps
    python benchmarks/bench_text_to_audio.py --seconds 10 --steps 4 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time


def run(seconds: float, steps: int | None, repeats: int, threads: int | None) -> list[dict]:
    import numpy as np
    import torch

    from music_gen import MusicGenerator
    from music_gen.families.diffusers_audio import DiffusersAudioFamily
    from music_gen.testing import SA3_SMALL, make_sa3_pipeline

    if threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    pipe = make_sa3_pipeline(SA3_SMALL)
    pipe.set_progress_bar_config(disable=True)
    build_s = time.perf_counter() - started
    params = {name: sum(p.numel() for p in getattr(pipe, name).parameters())
              for name in ("transformer", "vae", "text_encoder")}  # fmt: skip
    gen = MusicGenerator.from_family(DiffusersAudioFamily.from_pipeline(pipe, "sa3-small-random"))
    prompt = "warm analog synth pads with a slow arpeggio, 100 bpm"
    given = {} if steps is None else {"steps": steps}
    call = {} if steps is None else {"num_inference_steps": steps}
    results: dict[str, np.ndarray] = {}

    def ours() -> None:
        results["ours"] = gen.generate(prompt, duration=seconds, seed=0, **given).samples

    def plain() -> None:  # what a diffusers user writes
        out = pipe(prompt, duration=seconds, generator=torch.Generator("cpu").manual_seed(0),
                   **call).audios  # fmt: skip
        results["plain"] = out[0].float().numpy()

    gen.generate(prompt, duration=1.0, seed=0, steps=1)  # warm-up
    pipe(prompt, duration=1.0, num_inference_steps=1, generator=torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {"ours": [], "plain": []}
    for _ in range(repeats):
        for name, fn in (("ours", ours), ("plain", plain)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    equal = bool(np.array_equal(results["ours"], results["plain"]))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = []
    for name, walls in times.items():
        wall = statistics.median(walls)
        rows.append({
            "call": name, "seconds": seconds, "steps": steps or gen.family_impl.default_steps,
            "wall_s": round(wall, 2), "rtf": round(wall / seconds, 3), "repeats": repeats,
            "equal": equal, "peak_rss_mb": round(peak_mb), "build_s": round(build_s, 1),
            "params_m": {k: round(v / 1e6, 1) for k, v in params.items()},
            "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(),
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--steps", type=int, default=None, help="default: the call's own (8)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    rows = run(args.seconds, args.steps, args.repeats, args.threads)
    for row in rows:
        print(json.dumps(row))
    print(f"\n{'call':<6} {'audio s':>7} {'steps':>5} {'wall s':>7} {'RTF':>6} {'equal':>5}")
    for r in rows:
        print(f"{r['call']:<6} {r['seconds']:>7g} {r['steps']:>5} {r['wall_s']:>7} {r['rtf']:>6} "
              f"{r['equal']!s:>5}")  # fmt: skip


if __name__ == "__main__":
    main()
