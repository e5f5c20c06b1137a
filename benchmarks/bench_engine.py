"""Engine benchmark: ours vs transformers' ``generate``, measured in the same run.

Builds random-weight checkpoints of the *real* MusicGen architectures (T5-base, EnCodec 32 kHz,
the small/medium/large decoders) from configs in code — no download; speed does not depend on
weight values — and loads them through the public path (``MusicGenerator(model=<dir>)``).
Each configuration runs in its own process so that peak memory is its own. Prints one table.

    python benchmarks/bench_engine.py --arch small --seconds 5
    python benchmarks/bench_engine.py --arch small --device cuda --seconds 30 --batches 1,4,16,64

Columns: ms per decoder step, real-time factor (wall / audio seconds, T5 and EnCodec included),
time to first streamed chunk, peak memory (RSS on CPU, allocated on CUDA), whether the greedy
tokens equal transformers', and batched throughput (audio seconds per wall second).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SR = 32000


def _peak_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _codes_capture():
    import music_gen.generator as module

    captured: list = []
    decode = module.decode_audio

    def capture(codec, codes, channels):
        captured.append(codes.clone())
        return decode(codec, codes, channels)

    module.decode_audio = capture
    return captured


def run_one(cfg: dict) -> dict:
    """One configuration, in this process: returns its measurements."""
    import torch

    from music_gen import MusicGenerator

    device, seconds, prompt = cfg["device"], cfg["seconds"], "80s pop track with bassy drums"
    frames = round(seconds * 50)
    steps = frames + 3
    result: dict = {"name": cfg["name"]}
    if cfg["engine"] == "transformers":
        gen = MusicGenerator(cfg["path"], device=device, dtype=cfg["dtype"], engine="reference")
        model, tok = gen.loaded.model, gen.loaded.tokenizer
        inputs = tok([prompt] * cfg["batch"], return_tensors="pt").to(device)
        kwargs = dict(do_sample=True, top_k=250, guidance_scale=3.0, max_new_tokens=steps)
        model.generate(**inputs, **{**kwargs, "max_new_tokens": 8})  # warm-up
        _sync(device)
        t0 = time.perf_counter()
        model.generate(**inputs, **kwargs)
        _sync(device)
        wall = time.perf_counter() - t0
        codes = torch.randint(0, 2048, (1, cfg["batch"], 4, frames), device=device)
        t1 = time.perf_counter()
        model.audio_encoder.decode(codes, [None])
        _sync(device)
        codec = time.perf_counter() - t1
        result.update(wall=wall, ms_per_step=1000 * (wall - codec) / steps)
    else:
        gen = MusicGenerator(
            cfg["path"], device=device, dtype=cfg["dtype"], quantize=cfg.get("quantize")
        )
        gen.generate_batch([prompt] * cfg["batch"], duration=0.2, seed=0)  # warm-up / capture
        _sync(device)
        t0 = time.perf_counter()
        outs = gen.generate_batch([prompt] * cfg["batch"], duration=seconds, seed=0)
        _sync(device)
        wall = time.perf_counter() - t0
        timings = outs[0].metadata["timings"]
        result.update(wall=wall, ms_per_step=1000 * timings["tokens_s"] / steps)
        if cfg.get("stream") and hasattr(gen, "generate_stream"):
            t2 = time.perf_counter()
            for _chunk in gen.generate_stream(prompt, duration=seconds, seed=0):
                result["first_chunk_s"] = time.perf_counter() - t2
                break
    result["rtf"] = result["wall"] / seconds
    result["throughput"] = cfg["batch"] * seconds / result["wall"]
    result["peak_mb"] = _peak_mb(device)
    if cfg.get("check_tokens"):
        result["tokens_identical"] = _tokens_identical(cfg)
    return result


def _tokens_identical(cfg: dict) -> bool:
    """Greedy, 1 s: do our tokens equal transformers' ``generate``'s?"""
    from music_gen import MusicGenerator

    gen = MusicGenerator(
        cfg["path"], device=cfg["device"], dtype=cfg["dtype"], quantize=cfg.get("quantize")
    )
    model, tok = gen.loaded.model, gen.loaded.tokenizer
    captured = _codes_capture()
    gen.generate("ambient", duration=1.0, temperature=0.0)
    ours = captured[-1]
    decode = model.audio_encoder.decode
    theirs: list = []
    model.audio_encoder.decode = lambda codes, *a, **k: (
        theirs.append(codes[0]),
        decode(codes, *a, **k),
    )[1]
    model.generate(
        **tok(["ambient"], return_tensors="pt").to(cfg["device"]),
        do_sample=False,
        guidance_scale=3.0,
        max_new_tokens=53,
    )
    return bool((theirs[0] == ours).all())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="small", choices=("small", "medium", "large"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batches", default="1,4", help="batch sizes for throughput")
    parser.add_argument("--throughput-seconds", type=float, default=2.0)
    parser.add_argument("--dtypes", default="float32,bfloat16", help="our engine's dtypes")
    parser.add_argument("--int8", action="store_true", help="also quantize='int8'")
    parser.add_argument(
        "--throughput-only", action="store_true", help="only the batched throughput rows"
    )
    parser.add_argument("--workdir", default=None, help="keep checkpoints here between runs")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return

    from music_gen.testing import make_checkpoint

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="musicgen-bench-"))
    path = workdir / f"musicgen-{args.arch}"
    if not (path / "config.json").is_file():
        print(f"building random {args.arch} checkpoint in {path} …", file=sys.stderr)
        make_checkpoint(path, "mono", arch=args.arch)
    ref_dtype = "float32" if args.device == "cpu" else "bfloat16"
    base = {"path": str(path), "device": args.device, "seconds": args.seconds, "batch": 1}
    configs = [
        {**base, "name": f"transformers {ref_dtype}", "engine": "transformers", "dtype": ref_dtype}
    ]
    for dtype in args.dtypes.split(","):
        configs.append(
            {
                **base,
                "name": f"music-gen {dtype}",
                "engine": "fast",
                "dtype": dtype,
                "stream": True,
                "check_tokens": dtype == "float32",
            }
        )
    if args.int8:
        for name, dtype in (
            ("int8 (fbgemm)+fp32", "float32"),
            ("int8 weight-only+bf16", "bfloat16"),
        ):
            configs.append(
                {
                    **base,
                    "name": f"music-gen {name}",
                    "engine": "fast",
                    "dtype": dtype,
                    "quantize": "int8",
                    "stream": True,
                }
            )
    if args.throughput_only:
        configs = []
    for b in [int(x) for x in args.batches.split(",") if x]:
        rows = [("transformers", ref_dtype, None), ("fast", args.dtypes.split(",")[-1], None)]
        if args.int8:
            rows.append(("fast", "float32" if args.device == "cpu" else "bfloat16", "int8"))
        for engine, dtype, quantize in rows:
            configs.append(
                {
                    **base,
                    "name": f"{engine} {dtype}{'+' + quantize if quantize else ''} batch {b}",
                    "engine": engine,
                    "dtype": dtype,
                    "quantize": quantize,
                    "batch": b,
                    "seconds": args.throughput_seconds,
                }
            )
    rows = []
    for cfg in configs:
        print(f"running {cfg['name']} …", file=sys.stderr)
        proc = subprocess.run(
            [sys.executable, __file__, "--one", json.dumps(cfg)],
            capture_output=True,
            text=True,
            env={**os.environ},
        )
        if proc.returncode != 0:
            rows.append({"name": cfg["name"], "error": proc.stderr.strip().splitlines()[-1]})
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(
        f"\narch {args.arch}, device {args.device}, {args.seconds:g} s of audio, guidance 3, "
        f"top-k 250; throughput rows: {args.throughput_seconds:g} s each"
    )
    print(
        f"| {'configuration':<32} | ms/step | RTF | first chunk s | peak MB | tokens = ref | "
        "audio s/s |"
    )
    print("|" + "---|" * 7)
    for r in rows:
        if "error" in r:
            print(f"| {r['name']:<32} | error: {r['error']} |")
            continue
        first = f"{r['first_chunk_s']:.2f}" if "first_chunk_s" in r else "-"
        same = {True: "yes", False: "no"}.get(r.get("tokens_identical"), "-")
        print(
            f"| {r['name']:<32} | {r['ms_per_step']:.1f} | {r['rtf']:.2f} | {first} | "
            f"{r['peak_mb']:.0f} | {same} | {r['throughput']:.2f} |"
        )


if __name__ == "__main__":
    main()
