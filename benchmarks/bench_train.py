"""Fine-tuning benchmark: training step time and peak memory, adapter cost, BPM/key accuracy.

    python benchmarks/bench_train.py step --window 5 --batch 1     # musicgen-small, random weights
    python benchmarks/bench_train.py adapter --batch 1 4           # unmerged LoRA vs merged
    python benchmarks/bench_train.py estimate --seeds 3            # tempo/key on composer output

``step``: the real musicgen-small architecture (T5-base, EnCodec 32 kHz, 24-layer decoder) with
random weights, built in memory (no download), LoRA rank 16 on the decoder's attention and
feed-forward linears, trained through ``train.loop.run_training`` on composer clips. Each
configuration runs in a fresh process, so its peak resident memory is its own. The first step
is a warm-up; the table gives the median of the others.

``adapter``: one step of our fast decoder (one new token per codebook, guidance doubling the
rows, KV cache) with a rank-16 adapter unmerged on every row or on half of them (what a batch
mixing adapters runs, ``engine.lora``) vs none (a merged adapter costs what the base model
costs). One thread; modes interleaved; the minimum of ``--reps`` steps.

``estimate``: ``train.estimate`` on the offline composer's renders, whose plans record the true
tempo and key.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = [
    "upbeat funk with slap bass", "calm piano ballad", "lofi hip hop beat",
    "rock band with distorted guitars", "jazz trio with walking bass", "edm dance track",
    "sad folk song with acoustic guitar", "happy pop song", "ambient pad drone",
    "epic orchestral soundtrack",
]  # fmt: skip


def _small_model():  # -> LoadedModel of musicgen-small with random weights
    import torch
    from transformers import MusicgenConfig, MusicgenDecoderConfig, MusicgenForConditionalGeneration

    from music_gen.engine.loading import LoadedModel
    from music_gen.testing.musicgen import _real_configs, build_tokenizer

    tokenizer = build_tokenizer()
    text, audio, decoder = _real_configs("small", "mono", len(tokenizer))
    config = MusicgenConfig(
        text_encoder=text.to_dict(), audio_encoder=audio.to_dict(),
        decoder=MusicgenDecoderConfig(**decoder).to_dict(),
    )  # fmt: skip
    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(config).eval()
    return LoadedModel("musicgen-small (random)", Path("."), model, tokenizer,
                       torch.device("cpu"), torch.float32)  # fmt: skip


def _step(window: float, batch: int, steps: int, rank: int) -> dict:
    from music_gen import MusicGenerator
    from music_gen.train.config import TrainConfig
    from music_gen.train.dataset import load_dataset
    from music_gen.train.loop import run_training
    from music_gen.train.musicgen import MusicGenTask

    loaded = _small_model()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        composer = MusicGenerator("composer")
        for i in range(max(2, batch)):
            composer.generate(PROMPTS[i], duration=window, seed=i).save(data / f"c{i}.wav")
            (data / f"c{i}.txt").write_text(PROMPTS[i])
        cfg = TrainConfig(steps=steps, rank=rank, alpha=2.0 * rank, batch_size=batch,
                          window_seconds=window, checkpoint_every=10_000)  # fmt: skip
        dataset = load_dataset(data, sample_rate=32000, channels=1, window_seconds=window)
        task = MusicGenTask(loaded, dataset, cfg, "musicgen-small")
        trainable = sum(p.numel() for p in task.parameters())
        result = run_training(task, cfg, Path(tmp) / "out")
    marks = [0.0] + [e["elapsed_s"] for e in result.log]
    per_step = [b - a for a, b in itertools.pairwise(marks)][1:]  # warm-up dropped
    return {
        "window_s": window, "batch": batch, "rank": rank, "steps_timed": len(per_step),
        "step_s": statistics.median(per_step), "peak_mb": _peak_mb(),
        "lora_params_m": trainable / 1e6, "loss_first": result.log[0]["loss"],
        "loss_last": result.log[-1]["loss"],
    }  # fmt: skip


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _adapter(batches: list[int], rank: int, reps: int) -> list[dict]:
    import torch

    from music_gen.engine.conditioning import encode_condition
    from music_gen.engine.fast_decoder import FastStepDecoder
    from music_gen.engine.lora import AdapterBank, LoRAWeights, install_row_lora
    from music_gen.engine.model import MusicGenDecoder

    torch.set_num_threads(1)  # steadier on a shared machine; the ratio is what matters
    loaded = _small_model()
    model, k = loaded.model, loaded.num_codebooks
    decoder = MusicGenDecoder(model)
    state, wrappers = install_row_lora(decoder)
    torch.manual_seed(1)
    modules = {
        name: (
            0.01 * torch.randn(rank, w.in_features),
            0.01 * torch.randn(w.out_features, rank),
            1.0,
        )
        for name, w in wrappers.items()
    }
    AdapterBank(wrappers).add("a", LoRAWeights(modules))
    rows = []
    for b in batches:
        text = loaded.tokenizer(["calm piano"] * b, return_tensors="pt")
        with torch.no_grad():
            cond = encode_condition(model, text["input_ids"], text["attention_mask"], guided=True)
            session = FastStepDecoder(decoder, model, cond, 8 + 3 * reps, exact=True)
            session.prefill(torch.full((b, k, 1), 2048))
            modes = {"none": [None] * (2 * b), "all": ["a"] * (2 * b),
                     "half": ["a"] * b + [None] * b}  # fmt: skip
            times: dict[str, list[float]] = {m: [] for m in modes}
            column = torch.full((b, k, 1), 7)
            for _ in range(reps):  # interleaved, so that load changes hit every mode alike
                for mode, per_row in modes.items():
                    state.use_rows(per_row)
                    t = time.perf_counter()
                    session.step(column)
                    times[mode].append(time.perf_counter() - t)
            state.use(None)
        base = min(times["none"])
        rows.append({"batch": b, "rank": rank, "merged_ms": 1e3 * base,
                     "all_ms": 1e3 * min(times["all"]), "half_ms": 1e3 * min(times["half"]),
                     "overhead_pct": 100 * (min(times["all"]) / base - 1)})  # fmt: skip
    return rows


def _estimate(seeds: int, seconds: float) -> dict:
    from music_gen import MusicGenerator
    from music_gen.train.estimate import estimate_bpm, estimate_key, parse_key

    composer = MusicGenerator("composer")
    n = tempo_ok = tempo_octave = key_ok = key_close = modal = 0
    for seed in range(10, 10 + seeds):  # seeds 0-3 chose the estimator's settings
        for prompt in PROMPTS:
            audio = composer.generate(prompt, duration=seconds, seed=seed)
            plan = audio.metadata["plan"]
            tempo = plan["tempo"]
            bpm = estimate_bpm(audio.samples, audio.sample_rate) or 0.0
            n += 1
            tempo_ok += abs(bpm - tempo) / tempo < 0.04
            tempo_octave += any(
                abs(bpm * m - tempo) / tempo < 0.04 for m in (0.5, 1, 2, 2 / 3, 1.5)
            )
            truth = parse_key(f"{plan['key']} {plan['mode']}")
            if truth is None:  # modal plans (dorian, mixolydian ...): not scored as keys
                modal += 1
                continue
            guess = parse_key(estimate_key(audio.samples, audio.sample_rate) or "")
            key_ok += guess == truth
            if guess is not None:
                (pa, ma), (pb, mb) = guess, truth
                relative = {ma, mb} == {"major", "minor"} and (
                    (pa - pb) % 12 == (3 if ma == "major" else 9)
                )
                fifth = ma == mb and (pa - pb) % 12 in (5, 7)
                key_close += guess == truth or relative or fifth
    keyed = n - modal
    return {"clips": n, "seconds": seconds, "tempo_within_4pct": tempo_ok / n,
            "tempo_up_to_octave_or_2to3": tempo_octave / n, "keyed_clips": keyed,
            "key_exact": key_ok / max(1, keyed),
            "key_exact_relative_or_fifth": key_close / max(1, keyed)}  # fmt: skip


def _header() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {cpu} ({os.cpu_count()} cores), load average {os.getloadavg()[0]:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("step")
    s.add_argument("--window", type=float, nargs="+", default=[5.0])
    s.add_argument("--batch", type=int, nargs="+", default=[1])
    s.add_argument("--steps", type=int, default=4)
    s.add_argument("--rank", type=int, default=16)
    s.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = sub.add_parser("adapter")
    a.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    a.add_argument("--rank", type=int, default=16)
    a.add_argument("--reps", type=int, default=15)
    e = sub.add_parser("estimate")
    e.add_argument("--seeds", type=int, default=3)
    e.add_argument("--seconds", type=float, default=12.0)
    args = ap.parse_args()
    if args.what == "step" and args.one:
        print(json.dumps(_step(args.window[0], args.batch[0], args.steps, args.rank)))
        return
    print(_header())
    if args.what == "estimate":
        print(json.dumps(_estimate(args.seeds, args.seconds), indent=1))
    elif args.what == "adapter":
        print("| batch | rank | merged (= base) ms/step | every row unmerged | half the rows "
              "| overhead, every row |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for r in _adapter(args.batch, args.rank, args.reps):
            print(f"| {r['batch']} | {r['rank']} | {r['merged_ms']:.1f} | {r['all_ms']:.1f} | "
                  f"{r['half_ms']:.1f} | {r['overhead_pct']:+.0f} % |")  # fmt: skip
    else:
        print("| window s | batch | rank | LoRA params M | step s (median) | peak RSS MB | loss |")
        print("|---|---|---|---|---|---|---|")
        for window in args.window:
            for batch in args.batch:
                out = subprocess.run(
                    [sys.executable, __file__, "step", "--one", "--window", str(window),
                     "--batch", str(batch), "--steps", str(args.steps), "--rank", str(args.rank)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"| {window:g} | {batch} | {r['rank']} | {r['lora_params_m']:.2f} | "
                      f"{r['step_s']:.2f} | {r['peak_mb']:.0f} | "
                      f"{r['loss_first']:.3f} → {r['loss_last']:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
