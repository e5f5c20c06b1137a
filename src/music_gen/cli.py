"""The ``music-gen`` command line.

    music-gen generate "calm piano melody" --duration 10 --seed 7 --output calm.wav
    music-gen models list
    music-gen models pull musicgen-small
    music-gen models make-tiny ./tiny-musicgen --variant mono
    music-gen keys create --name alice
    music-gen serve --host 127.0.0.1 --port 8000 --model facebook/musicgen-small

Errors print one line, ``error: CODE: message``, and exit with status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import InvalidInput, ModelNotAvailable, MusicGenError, UnknownModel

__all__ = ["main"]

_FORMATS = ("wav", "flac", "ogg", "mp3")
DEFAULT_MODEL = "facebook/musicgen-small"


def _output_path(output: str, fmt: str | None) -> Path:
    path = Path(output)
    ext = path.suffix.lower().lstrip(".")
    if fmt is None:
        if not ext:
            return path.with_suffix(".wav")
        return path
    if not ext:
        return path.with_suffix(f".{fmt}")
    if ext != fmt:
        raise InvalidInput(f"--output ends in .{ext} but --format is {fmt}", code="INVALID_FORMAT")
    return path


def _cmd_generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .generator import MusicGenerator

    output = _output_path(args.output, args.format)
    if not output.parent.exists() or not output.parent.is_dir():
        raise InvalidInput(
            f"output folder {str(output.parent)!r} does not exist", code="INVALID_OUTPUT_PATH"
        )
    model = args.model or DEFAULT_MODEL
    print(f"loading {model} …", file=sys.stderr)
    try:
        gen = MusicGenerator(
            model=model,
            device=args.device,
            dtype=args.dtype,
            cache_dir=args.cache_dir,
            engine=args.engine,
            quantize=args.quantize,
        )
    except ModelNotAvailable as exc:
        if args.model is not None or isinstance(exc, UnknownModel):
            raise  # a model asked for by name never falls back
        print(
            f"notice: {model} is not available here ({exc.code}); using the offline composer "
            "engine instead (no weights needed; --model composer)",
            file=sys.stderr,
        )
        gen = MusicGenerator(model="composer")
    bar = tqdm(total=None, unit="step", desc="generating", disable=args.quiet, leave=False)

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.update(done - bar.n)  # tqdm rate-limits its redraws

    try:
        audio = gen.generate(
            args.prompt,
            duration=args.duration,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=args.seed,
            guidance_scale=args.guidance,
            melody=args.melody,
            continuation=args.continuation,
            progress=progress,
        )
    finally:
        bar.close()
    if args.normalize:
        audio = audio.normalize(args.normalize)
    path = audio.save(output)
    midi = audio.save_midi(args.midi) if args.midi else None
    meta = audio.metadata
    print(
        f"wrote {path} ({audio.duration:.2f} s, {audio.sample_rate} Hz, {audio.channels} ch, "
        f"seed {meta['seed']}, {meta['timings']['total_s']:.1f} s, "
        f"real-time factor {meta['real_time_factor']:.2f})"
    )
    if midi is not None:
        print(f"wrote {midi} (MIDI: one track per instrument)")
    return 0


def _cmd_models_list(args: argparse.Namespace) -> int:
    from .engine.loading import KNOWN_MODELS, is_cached

    header = f"{'name':<30} {'params':>6} {'rate':>6} {'ch':>3} {'melody':>6} {'cached':>6}"
    print(header)
    print("-" * len(header))
    for info in KNOWN_MODELS.values():
        cached = is_cached(info.hub_id, args.cache_dir)
        print(
            f"{info.name:<30} {info.parameters:>6} {info.sample_rate:>6} {info.channels:>3} "
            f"{'yes' if info.melody else 'no':>6} {'yes' if cached else 'no':>6}"
        )
    return 0


def _cmd_models_pull(args: argparse.Namespace) -> int:
    from .engine.loading import resolve_checkpoint

    path = resolve_checkpoint(args.name, args.cache_dir)
    print(f"{args.name} is ready at {path}")
    return 0


def _cmd_models_make_tiny(args: argparse.Namespace) -> int:
    from .testing import make_tiny_checkpoint

    path = make_tiny_checkpoint(args.directory, args.variant, seed=args.seed)
    print(
        f"wrote a tiny random {args.variant} MusicGen checkpoint to {path} "
        "(random weights: it makes noise, not music; for trying the pipeline offline)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="music-gen", description="Text-to-music with MusicGen")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate audio from a text prompt")
    gen.add_argument("prompt")
    gen.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    gen.add_argument(
        "--model",
        default=None,
        help=f"hub id, directory, or 'composer' (default {DEFAULT_MODEL}; when that is not "
        "available offline, the composer is used with a notice)",
    )
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=250)
    gen.add_argument("--top-p", type=float, default=0.0)
    gen.add_argument("--guidance", type=float, default=3.0, help="classifier-free guidance")
    gen.add_argument("--melody", metavar="FILE", help="condition on this audio's melody")
    gen.add_argument(
        "--continue",
        dest="continuation",
        metavar="FILE",
        help="continue this audio (the output starts with it)",
    )
    gen.add_argument("--output", "-o", default="output.wav", metavar="FILE")
    gen.add_argument("--midi", metavar="FILE", help="also write the MIDI (composer engine)")
    gen.add_argument("--format", choices=_FORMATS, default=None)
    gen.add_argument("--normalize", choices=("loudness", "peak", "rms", "clip"), default=None)
    gen.add_argument("--device", default="auto")
    gen.add_argument("--dtype", default=None, help="float32, bfloat16 or float16")
    gen.add_argument("--engine", choices=("fast", "reference"), default="fast")
    gen.add_argument("--quantize", choices=("int8",), default=None, help="int8 decoder weights")
    gen.add_argument("--cache-dir", default=None)
    gen.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    gen.set_defaults(func=_cmd_generate)

    models = sub.add_parser("models", help="list, fetch or build checkpoints")
    msub = models.add_subparsers(dest="models_command", required=True)
    lst = msub.add_parser("list", help="known checkpoints and whether they are cached")
    lst.add_argument("--cache-dir", default=None)
    lst.set_defaults(func=_cmd_models_list)
    pull = msub.add_parser("pull", help="download a checkpoint into the local cache")
    pull.add_argument("name")
    pull.add_argument("--cache-dir", default=None)
    pull.set_defaults(func=_cmd_models_pull)
    tiny = msub.add_parser("make-tiny", help="build a tiny random checkpoint (offline testing)")
    tiny.add_argument("directory")
    tiny.add_argument(
        "--variant", choices=("mono", "stereo", "melody", "stereo-melody"), default="mono"
    )
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(func=_cmd_models_make_tiny)

    from .service.cli import add_commands

    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MusicGenError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
