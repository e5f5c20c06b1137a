"""Loops from the composer: exact length, the wrap's jump against the music's own steps, and
what a plain cut of the same music would jump (docs/benchmarks.md, "Loops").

    PYTHONPATH=src python benchmarks/bench_loops.py
"""

from __future__ import annotations

import time

from music_gen import MusicGenerator
from music_gen.audio.loop import wrap_jump

PROMPTS = [
    "funk drums and bass",
    "rock band",
    "lofi piano",
    "edm",
    "jazz trio",
    "cinematic strings",
]


def main() -> None:
    gen = MusicGenerator("composer")
    print("| prompt | seed | samples | seconds | start (s) | wrap jump | music p99 step "
          "| plain cut jump | time (s) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for prompt in PROMPTS:
        for seed in (1, 2):
            started = time.perf_counter()
            loop = gen.generate(prompt, loop=True, bpm=120, bars=4, seed=seed)
            seconds = time.perf_counter() - started
            whole = gen.generate(f"{prompt}, 120 bpm", duration=10.0, seed=seed)
            plain = whole.samples[:, : loop.num_samples]  # the same music cut without a fade
            info = loop.metadata["loop"]
            print(
                f"| {prompt} | {seed} | {loop.num_samples} | {loop.duration:.3f} | "
                f"{info['start_s']:.4f} | {info['wrap_jump']:.4f} | "
                f"{info['music_step_p99']:.4f} | {wrap_jump(plain):.4f} | {seconds:.2f} |"
            )


if __name__ == "__main__":
    main()
