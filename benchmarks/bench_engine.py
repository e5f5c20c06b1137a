"""Engine benchmark: ours vs transformers' ``generate``, interleaved in one process and run.

Builds random-weight checkpoints of the *real* MusicGen architectures (T5-base, EnCodec 32 kHz,
the small/medium/large decoders) from configs in code — no download; speed does not depend on
weight values. The baseline is ``MusicgenForConditionalGeneration.generate`` loaded and called
the way a user calls it (``from_pretrained`` + the processor, ``do_sample=True``,
``guidance_scale=3``, the checkpoint's top-k 250, ``max_new_tokens`` = our step count); ours are
``MusicGenerator(model=<dir>, quantize=...)``. Every configuration is loaded once, warmed up
once, then all are timed round-robin ``--repeats`` times, so a burst of load from other
processes on a shared machine hits every row alike; the table prints medians and every ratio is
taken from the same run.

    python benchmarks/bench_engine.py --arch small --seconds 5 --repeats 3
    python benchmarks/bench_engine.py --arch medium --seconds 1 --configs transformers,int4
    python benchmarks/bench_engine.py --arch small --quality      # logits error on this arch
    python benchmarks/bench_engine.py --arch small --profile int4 # where a step's time goes
    python benchmarks/bench_engine.py --device cuda --arch small --seconds 30 --batch 16 \
        --configs bf16 --json results.jsonl     # throughput (audio s per GPU s); benchmarks/gpu.sh

Columns: wall seconds and real-time factor (wall / audio seconds, T5 and EnCodec included),
the process's CPU seconds for the call (all threads; for a 1-thread row on a busy machine this
is what the wall time would be with a core to itself, memory stalls included),
ms per decoder step (ours: token time / steps; transformers: (wall - a separately timed EnCodec
decode of the same length) / steps), EnCodec seconds, time to the first streamed chunk, and
the speed-up over transformers (median wall / median wall). Also prints the machine's load
average before and after, since this box is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

PROMPT = "80s pop track with bassy drums"
SETTINGS = {  # name -> (dtype, quantize, threads or None for the default[, engine])
    "fp32": ("float32", None, None),
    "bf16": ("bfloat16", None, None),
    "int8": ("float32", "int8", None),
    "int4": ("float32", "int4", None),
    "int4-bf16": ("bfloat16", "int4", None),
    "int4-1t": ("float32", "int4", 1),
    "int4-bf16-1t": ("bfloat16", "int4", 1),
    "int8-1t": ("float32", "int8", 1),
    # the decoder step on ONNX Runtime (engine="onnxruntime"; the cpu extra)
    "ort": ("float32", None, None, "onnxruntime"),
    "ort-int8": ("float32", "int8", None, "onnxruntime"),
    "ort-int4": ("float32", "int4", None, "onnxruntime"),
}


def _setting(name: str) -> tuple[str, str | None, int | None, str]:
    dtype, quantize, threads, *engine = SETTINGS[name]
    return dtype, quantize, threads, engine[0] if engine else "fast"


@dataclass
class Row:
    name: str
    run: object  # callable() -> (wall, tokens_s, codec_s)
    threads: int | None = None
    stream: object | None = None  # callable() -> first chunk seconds
    walls: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    steps_s: list[float] = field(default_factory=list)
    codec: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


DEVICE = "cpu"  # --device


def _sync() -> None:
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


#: (dtype, quantize, engine) -> MusicGenerator
_GENERATORS: dict[tuple[str, str | None, str], object] = {}


def _generator(path: Path, dtype: str, quantize: str | None, engine: str = "fast"):
    """One generator per (dtype, quantize, engine): rows differing only in threads share it."""
    from music_gen import MusicGenerator

    key = (dtype, quantize, engine)
    if key not in _GENERATORS:
        _GENERATORS[key] = MusicGenerator(
            str(path), device=DEVICE, dtype=dtype, quantize=quantize, engine=engine
        )
    return _GENERATORS[key]


def _prompts(batch: int) -> list[str]:
    return [PROMPT] if batch == 1 else [f"{PROMPT} {i}" for i in range(batch)]


def _transformers_row(
    path: Path, seconds: float, steps: int, share: str | None, batch: int = 1
) -> Row:
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    processor = AutoProcessor.from_pretrained(path)
    if share is not None:  # a float32 generator's transformers model, which ours never alter:
        # ``from_pretrained(path, dtype=float32).eval()``, what a user loads (saves memory)
        _, quantize, _, engine = _setting(share)
        model = _generator(path, "float32", quantize, engine).family_impl.loaded.model
    else:
        model = MusicgenForConditionalGeneration.from_pretrained(path)
        model = model.to(torch.device(DEVICE))  # type: ignore[arg-type]
    inputs = processor(text=_prompts(batch), padding=True, return_tensors="pt").to(DEVICE)
    frames = steps - model.decoder.config.num_codebooks + 1

    def run() -> tuple[float, float, float]:
        t0 = time.perf_counter()
        model.generate(**inputs, do_sample=True, guidance_scale=3.0, max_new_tokens=steps)
        _sync()
        wall = time.perf_counter() - t0
        codes = torch.randint(0, 2048, (1, batch, model.decoder.config.num_codebooks, frames))
        t1 = time.perf_counter()
        with torch.no_grad():
            model.audio_encoder.decode(codes.to(DEVICE), [None])
        _sync()
        codec = time.perf_counter() - t1
        return wall, wall - codec, codec

    model.generate(**inputs, do_sample=True, guidance_scale=3.0, max_new_tokens=16)  # warm-up
    return Row("transformers float32 `generate`", run)


def _our_row(path: Path, setting: str, seconds: float, stream: bool, batch: int = 1) -> Row:
    dtype, quantize, threads, engine = _setting(setting)
    t0 = time.perf_counter()
    gen = _generator(path, dtype, quantize, engine)
    print(f"  {setting} loaded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    def run() -> tuple[float, float, float]:
        t0 = time.perf_counter()
        if batch == 1:
            out = gen.generate(PROMPT, duration=seconds, seed=0)
        else:
            out = gen.generate_batch(_prompts(batch), duration=seconds, seed=0)[0]
        _sync()
        wall = time.perf_counter() - t0
        timings = out.metadata["timings"]
        return wall, timings["tokens_s"], timings["codec_s"]

    def first_chunk() -> float:
        t0 = time.perf_counter()
        for _chunk in gen.generate_stream(PROMPT, duration=seconds, seed=0):
            return time.perf_counter() - t0
        raise RuntimeError("no chunk")

    label = f"music-gen {dtype}" + (f" + {quantize}" if quantize else "")
    label += " (ONNX Runtime step)" if engine == "onnxruntime" else ""
    label += f", {threads} thread" if threads else ""
    gen.generate(PROMPT, duration=0.3, seed=0)  # warm-up
    return Row(label, run, threads, first_chunk if stream else None)


def bench(args: argparse.Namespace, path: Path) -> None:
    steps = round(args.seconds * 50) + 3
    default_threads = torch.get_num_threads()
    rows: list[Row] = []
    for name in args.configs.split(","):
        print(f"loading {name} …", file=sys.stderr)
        if name == "transformers":
            fp32 = [c for c in args.configs.split(",") if c in SETTINGS]
            share = next((c for c in fp32 if SETTINGS[c][0] == "float32"), None)
            rows.append(_transformers_row(path, args.seconds, steps, share, args.batch))
        else:
            stream = args.batch == 1 and name in args.stream.split(",")
            rows.append(_our_row(path, name, args.seconds, stream, args.batch))
    print(f"load average before: {_load()}", file=sys.stderr)
    before = _load()
    for rep in range(args.repeats):
        for row in rows:
            torch.set_num_threads(row.threads or default_threads)
            cpu0 = time.process_time()
            wall, tokens_s, codec_s = row.run()  # type: ignore[operator]
            row.cpu.append(time.process_time() - cpu0)
            row.walls.append(wall)
            row.steps_s.append(tokens_s)
            row.codec.append(codec_s)
            if row.stream is not None:
                row.first.append(row.stream())  # type: ignore[operator]
            print(f"  rep {rep} {row.name}: {wall:.2f} s (load {_load()})", file=sys.stderr)
    torch.set_num_threads(default_threads)
    after = _load()
    med = statistics.median
    base = next((med(r.walls) for r in rows if r.name.startswith("transformers")), None)
    print(
        f"\narch {args.arch}, {args.seconds:g} s of audio ({steps} steps), guidance 3, top-k 250, "
        f"batch {args.batch}, device {DEVICE}, CPU threads {default_threads} unless stated; "
        f"medians of {args.repeats} "
        f"interleaved runs; load average before {before}, after {after}"
    )
    print(
        "| configuration | wall s | RTF | audio s / s | CPU s | ms/step | EnCodec s | "
        "first chunk s | vs transformers |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        wall = med(r.walls)
        first = f"{med(r.first):.2f}" if r.first else "-"
        ratio = f"{base / wall:.2f}×" if base else "-"
        print(
            f"| {r.name} | {wall:.2f} | {wall / args.seconds:.2f} | "
            f"{args.batch * args.seconds / wall:.2f} | {med(r.cpu):.2f} | "
            f"{1000 * med(r.steps_s) / steps:.1f} | {med(r.codec):.2f} | {first} | {ratio} |"
        )
        if args.json:  # one line per row, for benchmarks/gpu_table.py
            record = {
                "bench": "engine", "arch": args.arch, "device": DEVICE, "batch": args.batch,
                "seconds": args.seconds, "steps": steps, "configuration": r.name,
                "wall_s": wall, "audio_s_per_s": args.batch * args.seconds / wall,
                "first_chunk_s": med(r.first) if r.first else None,
                "baseline_wall_s": base, "speedup": base / wall if base else None,
                "repeats": args.repeats,
            }  # fmt: skip
            with open(args.json, "a") as f:
                f.write(json.dumps(record) + "\n")
    print(
        "\nall walls (s): " + "; ".join(f"{r.name}: {[round(w, 2) for w in r.walls]}" for r in rows)
    )


def quality(args: argparse.Namespace, path: Path) -> None:
    """Teacher-forced logits of each quantized setting against fp32 on this architecture."""
    from music_gen.engine.conditioning import encode_condition
    from music_gen.engine.engine import Engine
    from music_gen.engine.loading import load_model

    loaded = load_model(str(path), "cpu", "float32", None)
    tokens = loaded.tokenizer([PROMPT], return_tensors="pt")
    cond = encode_condition(
        loaded.model, tokens["input_ids"], tokens["attention_mask"], guided=True
    )
    torch.manual_seed(0)
    columns = torch.randint(0, 2048, (args.quality_steps, 1, loaded.num_codebooks, 1))

    def logits(engine: Engine) -> torch.Tensor:
        session = engine.session(cond, args.quality_steps + 2)
        out = [session.prefill(columns[0])] + [session.step(c) for c in columns[1:]]
        return torch.stack(out)

    want = logits(Engine(loaded, "fast"))
    print(f"\narch {args.arch}: logits vs float32, {args.quality_steps} teacher-forced steps")
    print("| setting | max rel. error | mean rel. error | greedy tokens equal |")
    print("|---|---|---|---|")
    for name in args.quality_settings.split(","):
        _, quantize, _, engine_name = _setting(name)
        got = logits(Engine(loaded, engine_name, quantize))
        rel = (got - want).flatten(1).norm(dim=1) / want.flatten(1).norm(dim=1)
        agree = (got.argmax(-1) == want.argmax(-1)).float().mean().item()
        print(f"| {name} | {rel.max():.3f} | {rel.mean():.3f} | {100 * agree:.1f} % |")


def profile(args: argparse.Namespace, path: Path) -> None:
    """torch.profiler over one generation with a setting: the top operators by self time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    row = _our_row(path, args.profile, args.seconds, False)
    torch.set_num_threads(row.threads or torch.get_num_threads())
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        wall, tokens_s, codec_s = row.run()  # type: ignore[operator]
    print(
        f"\n{row.name}: wall {wall:.2f} s, tokens {tokens_s:.2f} s, EnCodec {codec_s:.2f} s "
        f"(under the profiler), load average {_load()}"
    )
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="small", choices=("tiny", "small", "medium", "large"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (untested here: no GPU)")
    parser.add_argument(
        "--configs",
        default="transformers,fp32,int8,int4,int4-1t",
        help=f"comma-separated: transformers and any of {', '.join(SETTINGS)}",
    )
    parser.add_argument("--stream", default="int4,int4-1t,ort-int4", help="settings also streamed")
    parser.add_argument("--quality", action="store_true", help="logits error vs fp32 only")
    parser.add_argument("--quality-steps", type=int, default=32)
    parser.add_argument(
        "--quality-settings", default="int8,int4", help="float32 settings --quality compares"
    )
    parser.add_argument("--profile", choices=sorted(SETTINGS), help="profile one setting only")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--workdir", default=None, help="keep checkpoints here between runs")
    parser.add_argument("--batch", type=int, default=1, help="prompts per call (throughput)")
    parser.add_argument("--json", default=None, help="append one JSON line per row to this file")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    warnings.simplefilter("ignore")
    global DEVICE
    DEVICE = args.device
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from music_gen.testing import make_checkpoint

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="musicgen-bench-"))
    path = workdir / f"musicgen-{args.arch}"
    if not (path / "config.json").is_file():
        print(f"building random {args.arch} checkpoint in {path} …", file=sys.stderr)
        make_checkpoint(path, "mono", arch=args.arch)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {_load()}")
    if args.quality:
        quality(args, path)
    elif args.profile:
        profile(args, path)
    else:
        bench(args, path)


if __name__ == "__main__":
    main()
