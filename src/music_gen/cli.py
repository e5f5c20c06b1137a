"""The ``music-gen`` command line.

    music-gen generate "calm piano melody" --duration 10 --seed 7 --output calm.wav
    music-gen generate "synth pop" --model ./acestep --lyrics song.txt --bpm 120 --key "A minor"
    music-gen train --model ./tiny --data ./my-songs --output ./my-adapter --steps 500
    music-gen generate "my style" --model ./tiny --adapter ./my-adapter
    music-gen generate "funk drums and bass" --model composer --loop --bpm 120 --bars 4
    music-gen edit repaint song.wav --model ./acestep --start 10 --end 20 --prompt "guitar solo"
    music-gen edit replace song.wav --model composer --plan plan.json --section Chorus --seed 9
    music-gen edit extend song.wav --model composer --plan outro.json   # or --duration 8 --prompt
    music-gen models list [MODEL ...]
    music-gen models pull musicgen-small
    music-gen models make-tiny ./tiny-musicgen --variant mono
    music-gen keys create --name alice
    music-gen serve --host 127.0.0.1 --port 8000 --model facebook/musicgen-small

Errors print one line, ``error: CODE: message``, and exit with status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import (
    InvalidInput,
    ModelNotAvailable,
    MusicGenError,
    UnknownModel,
    UnsupportedFeature,
)
from .params import DEFAULT_DURATION, Sampling

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
            **_adapter_options(args),
        )
    except ModelNotAvailable as exc:
        if args.model is not None or args.adapter or isinstance(exc, UnknownModel):
            raise  # a model asked for by name never falls back
        print(
            f"notice: {model} is not available here ({exc.code}); using the offline composer "
            "engine instead (no weights needed; --model composer)",
            file=sys.stderr,
        )
        gen = MusicGenerator(model="composer")
    loop: dict[str, Any] = {}
    if args.loop:  # the loop's tempo is the loop's, whatever the family does with a bpm
        if args.bpm is None or args.bars is None:
            raise InvalidInput("--loop needs --bpm and --bars", code="INVALID_LOOP")
        loop = {"loop": True, "bpm": args.bpm, "bars": args.bars,
                "beats_per_bar": args.beats_per_bar}  # fmt: skip
        args.bpm = None
    elif args.bars is not None:
        raise InvalidInput("--bars makes a loop: add --loop", code="INVALID_LOOP")
    kwargs = _generation_kwargs(args, gen)
    if args.plan is not None:
        kwargs["plan"] = _read_plan(args.plan)
    with _progress_bar(args.quiet) as progress:
        audio = gen.generate(args.prompt, progress=progress, **loop, **kwargs)
    return _write(audio, output, args)


def _adapter_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.adapter is None:
        return {}
    return {"adapter": args.adapter, "adapter_scale": args.adapter_scale}


def _read_plan(path: str) -> Any:
    """``--plan FILE`` (``-``: standard input): a composition plan in JSON, either shape."""
    from .composition import CompositionPlan

    if path == "-":
        return CompositionPlan.from_json(sys.stdin.read())
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the plan {path!r}: {exc}", code="INVALID_PLAN") from None
    return CompositionPlan.from_json(text)


def _cmd_plan(args: argparse.Namespace) -> int:
    """Draft a plan offline and print it as JSON (edit it, then ``generate --plan``)."""
    from .composition import plan_from_prompt

    plan = plan_from_prompt(args.prompt, args.duration, args.seed)
    print(plan.to_json(shape=args.shape))
    return 0


def _write(audio: Any, output: Path, args: argparse.Namespace) -> int:
    if args.normalize:
        audio = audio.normalize(args.normalize)
    path = audio.save(output)
    midi = audio.save_midi(args.midi) if getattr(args, "midi", None) else None
    meta = audio.metadata
    print(
        f"wrote {path} ({audio.duration:.2f} s, {audio.sample_rate} Hz, {audio.channels} ch, "
        f"seed {meta['seed']}, {meta['timings']['total_s']:.1f} s, "
        f"real-time factor {meta['real_time_factor']:.2f})"
    )
    if midi is not None:
        print(f"wrote {midi} (MIDI: one track per instrument)")
    if "loop" in meta:
        loop = meta["loop"]
        print(
            f"loop: {loop['bars']} bars of {loop['beats_per_bar']} beats at {loop['bpm']:g} BPM "
            f"({loop['beats']} beats, seamless; WAV files carry smpl/acid loop chunks)"
        )
    return 0


@contextmanager
def _progress_bar(quiet: bool) -> Iterator[Callable[[int, int], None]]:
    from tqdm import tqdm

    bar = tqdm(total=None, unit="step", desc="generating", disable=quiet, leave=False)

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.update(done - bar.n)  # tqdm rate-limits its redraws

    try:
        yield progress
    finally:
        bar.close()


def _lyrics(value: str | None) -> str | None:
    """``--lyrics`` is a file when one exists at that path, else the lyrics themselves."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if len(value) < 4096 and "\n" not in value and path.is_file():
        return path.read_text(encoding="utf-8")
    return value


def _generation_kwargs(args: argparse.Namespace, gen: Any) -> dict[str, Any]:
    """The options given on the command line, as the model's ``generate`` takes them. An
    option the model cannot use is refused, naming the capability it lacks."""
    from .families import require

    values = {
        "duration": args.duration,
        "seed": args.seed,
        "guidance_scale": args.guidance,
        "melody": args.melody,
        "continuation": args.continuation,
        "lyrics": _lyrics(args.lyrics),
        "bpm": args.bpm,
        "key": args.key,
        "time_signature": args.time_signature,
        "vocal_language": args.language,
        "reference": args.reference,
        "steps": args.steps,
        "negative_prompt": args.negative_prompt,
    }
    values.update(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    kwargs = {k: v for k, v in values.items() if v is not None}
    require(gen.card, kwargs)  # UNSUPPORTED_FEATURE naming the capability
    for name in kwargs:
        if not gen.takes(name):
            flag = {"guidance_scale": "guidance", "vocal_language": "language"}.get(name, name)
            raise UnsupportedFeature(
                f"--{flag.replace('_', '-')} does not apply to {gen.family} models "
                f"({gen.model_name})",
                code="UNSUPPORTED_FEATURE",
                details={"option": flag, "family": gen.family},
            )
    return kwargs


def _cmd_edit(args: argparse.Namespace) -> int:
    from .generator import MusicGenerator

    output = _output_path(args.output, args.format)
    gen = MusicGenerator(model=args.model, device=args.device, dtype=args.dtype,
                         cache_dir=args.cache_dir)  # fmt: skip
    if args.task in ("extend", "replace"):
        return _write(_rework(gen, args), output, args)
    options = {
        "start": args.start, "end": args.end, "strength": args.strength, "track": args.track,
        "tracks": args.tracks.split(",") if args.tracks else None, "seed": args.seed,
        "steps": args.steps, "lyrics": _lyrics(args.lyrics), "reference": args.reference,
    }  # fmt: skip
    with _progress_bar(args.quiet) as progress:
        audio = gen.edit(
            args.task, args.source, args.prompt or "", progress=progress,
            **{k: v for k, v in options.items() if v is not None},
        )  # fmt: skip
    return _write(audio, output, args)


def _rework(gen: Any, args: argparse.Namespace) -> Any:
    """``edit extend`` (``--duration`` seconds after ``--prompt``, or ``--plan``'s sections)
    and ``edit replace`` (``--plan``'s ``--section`` made again, every other sample kept)."""
    import time

    started = time.perf_counter()
    plan = _read_plan(args.plan) if args.plan is not None else None
    if args.task == "replace":
        if plan is None or args.section is None:
            raise InvalidInput("replace needs --plan and --section", code="INVALID_PLAN")
        section: int | str = int(args.section) if args.section.isdigit() else args.section
        audio = gen.replace_section(args.source, plan, section, seed=args.seed)
    else:
        if (plan is None) == (args.duration is None):
            raise InvalidInput("extend by --duration seconds or by --plan: one",
                               code="INVALID_PLAN")  # fmt: skip
        if plan is None and not args.prompt.strip():
            raise InvalidInput("extend --duration needs --prompt", code="INVALID_PROMPT")
        audio = gen.extend(args.source, plan or args.prompt, args.duration, seed=args.seed)
    total = time.perf_counter() - started
    audio.metadata.setdefault("timings", {"total_s": total})
    audio.metadata.setdefault("real_time_factor", total / max(audio.duration, 1e-9))
    return audio


def _cmd_models_list(args: argparse.Namespace) -> int:
    from .engine.hub import KNOWN_MODELS, is_cached
    from .families import describe_capabilities, inspect_model

    names = args.models or [*KNOWN_MODELS, "composer"]
    rows = []
    for name in names:
        card = inspect_model(name, args.cache_dir)
        info = KNOWN_MODELS.get(name)
        cached = not card.downloads or is_cached(info.hub_id if info else name, args.cache_dir)
        shown = Path(name).name if Path(name).is_dir() else name
        rows.append((shown, card, cached))
    # the family, size and licence columns as wide as their longest entry
    fam = max([9, *(len(card.family) for _, card, _ in rows)])
    size = max([6, *(len(card.size) for _, card, _ in rows)])
    lic = max([13, *(len(card.license) for _, card, _ in rows)])
    header = (
        f"{'name':<30} {'family':<{fam}} {'params':>{size}} {'rate':>6} {'ch':>3} {'cached':>6}  "
        f"{'licence':<{lic}} capabilities"
    )
    print(header)
    print("-" * len(header))
    for shown, card, cached in rows:
        print(
            f"{shown:<30} {card.family:<{fam}} "
            f"{card.size:>{size}} {card.sample_rate:>6} {card.channels:>3} "
            f"{'yes' if cached else 'no':>6}  {card.license:<{lic}} "
            f"{', '.join(describe_capabilities(card))}"
        )
    return 0


def _cmd_models_pull(args: argparse.Namespace) -> int:
    from .engine.hub import resolve_checkpoint

    path = resolve_checkpoint(args.name, args.cache_dir)
    print(f"{args.name} is ready at {path}")
    return 0


def _cmd_models_make_tiny(args: argparse.Namespace) -> int:
    from .testing import make_tiny_checkpoint, make_tiny_song_pipeline

    if args.variant == "song":
        path = make_tiny_song_pipeline(args.directory, seed=args.seed)
        kind = "ACE-Step song pipeline"
    else:
        path = make_tiny_checkpoint(args.directory, args.variant, seed=args.seed)
        kind = f"{args.variant} MusicGen checkpoint"
    print(
        f"wrote a tiny random {kind} to {path} "
        "(random weights: it makes noise, not music; for trying the pipeline offline)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="music-gen", description="Text-to-music with MusicGen")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate audio from a text prompt or a plan")
    gen.add_argument("prompt", nargs="?", default="", help="optional with --plan")
    gen.add_argument(
        "--plan", metavar="FILE", default=None,
        help="a composition plan (JSON; '-' reads stdin): the piece section by section",
    )  # fmt: skip
    gen.add_argument(
        "--duration",
        type=float,
        default=None,
        help=f"seconds (default: {DEFAULT_DURATION:g}; songs 30)",
    )
    gen.add_argument(
        "--model",
        default=None,
        help=f"hub id, directory, or 'composer' (default {DEFAULT_MODEL}; when that is not "
        "available offline, the composer is used with a notice)",
    )
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument(
        "--temperature",
        type=float,
        default=None,
        help=f"MusicGen (default {Sampling.temperature:g})",
    )
    gen.add_argument("--top-k", type=int, default=None, help=f"MusicGen (default {Sampling.top_k})")
    gen.add_argument(
        "--top-p", type=float, default=None, help=f"MusicGen (default {Sampling.top_p:g})"
    )
    gen.add_argument(
        "--guidance", type=float, default=None,
        help=f"classifier-free guidance (default: MusicGen {Sampling.guidance_scale:g}; diffusion "
        "models the checkpoint's own)",
    )  # fmt: skip
    gen.add_argument(
        "--negative-prompt", metavar="TEXT", default=None,
        help="what to steer away from (models with the negative_prompt capability)",
    )  # fmt: skip
    gen.add_argument("--melody", metavar="FILE", help="condition on this audio's melody")
    gen.add_argument(
        "--continue",
        dest="continuation",
        metavar="FILE",
        help="continue this audio (the output starts with it)",
    )
    _song_options(gen)
    gen.add_argument("--reference", metavar="FILE", help="songs: a reference voice or style")
    gen.add_argument("--midi", metavar="FILE", help="also write the MIDI (composer engine)")
    loops = gen.add_argument_group("loops (models with the loop capability)")
    loops.add_argument(
        "--loop", action="store_true",
        help="a seamless loop of exactly --bars bars at --bpm (WAV: smpl/acid loop chunks)",
    )  # fmt: skip
    loops.add_argument("--bars", type=int, help="the loop's length in bars (1..64)")
    loops.add_argument("--beats-per-bar", type=int, default=4, help="beats in a bar (default 4)")
    _output_options(gen)
    gen.add_argument("--engine", choices=("fast", "onnxruntime", "reference"), default="fast")
    gen.add_argument(
        "--quantize", choices=("int8", "int4"), default=None, help="int8 or int4 decoder weights"
    )
    gen.add_argument("--adapter", metavar="DIR", help="a LoRA adapter (music-gen train)")
    gen.add_argument("--adapter-scale", type=float, default=1.0, help="its strength (default 1)")
    gen.set_defaults(func=_cmd_generate)

    from .train.cli import add_train_parser

    add_train_parser(sub)
    plan = sub.add_parser("plan", help="draft a composition plan (JSON on stdout), offline")
    plan.add_argument("prompt")
    plan.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    plan.add_argument("--seed", type=int, default=0)
    plan.add_argument("--shape", choices=("music-gen", "elevenlabs"), default="music-gen")
    plan.set_defaults(func=_cmd_plan)

    edit = sub.add_parser(
        "edit", help="edit a song: repaint, cover, extract, lego, complete, extend, replace"
    )
    edit.add_argument(
        "task", choices=("repaint", "cover", "extract", "lego", "complete", "extend", "replace")
    )
    edit.add_argument("source", metavar="SOURCE", help="the song to edit (an audio file)")
    edit.add_argument(
        "--model",
        required=True,
        help="a model with the edit capability (ACE-Step, Stable Audio 3); extend and replace: "
        "one with plan (composer, MusicGen, ACE-Step)",
    )
    edit.add_argument("--prompt", default="", help="what the edited part should sound like")
    edit.add_argument("--start", type=float, help="repaint/lego: from this second")
    edit.add_argument("--end", type=float, help="repaint/lego: to this second")
    edit.add_argument("--strength", type=float, help="cover: 0..1, how closely to follow")
    edit.add_argument("--track", help="extract/lego: vocals, drums, bass, guitar, ...")
    edit.add_argument("--tracks", help="complete: tracks to add, comma-separated")
    edit.add_argument("--plan", metavar="FILE", help="replace: the source's plan; extend: "
                      "the sections to add (JSON, '-' reads stdin)")  # fmt: skip
    edit.add_argument("--section", help="replace: the section's name or index")
    edit.add_argument("--duration", type=float, help="extend: the seconds to add")
    edit.add_argument("--lyrics", metavar="FILE_OR_TEXT")
    edit.add_argument("--reference", metavar="FILE")
    edit.add_argument("--seed", type=int, default=None)
    edit.add_argument("--steps", type=int, default=None)
    _output_options(edit)
    edit.set_defaults(func=_cmd_edit)

    models = sub.add_parser("models", help="list, fetch or build checkpoints")
    msub = models.add_subparsers(dest="models_command", required=True)
    lst = msub.add_parser(
        "list", help="models with their family, capabilities and whether they are cached"
    )
    lst.add_argument("models", nargs="*", help="hub ids or directories (default: known ones)")
    lst.add_argument("--cache-dir", default=None)
    lst.set_defaults(func=_cmd_models_list)
    pull = msub.add_parser("pull", help="download a checkpoint into the local cache")
    pull.add_argument("name")
    pull.add_argument("--cache-dir", default=None)
    pull.set_defaults(func=_cmd_models_pull)
    tiny = msub.add_parser("make-tiny", help="build a tiny random checkpoint (offline testing)")
    tiny.add_argument("directory")
    tiny.add_argument(
        "--variant", choices=("mono", "stereo", "melody", "stereo-melody", "song"), default="mono"
    )
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(func=_cmd_models_make_tiny)

    from .service.cli import add_commands

    add_commands(sub)
    return parser


def _song_options(parser: argparse.ArgumentParser) -> None:
    song = parser.add_argument_group("songs (models with the lyrics capability, e.g. ACE-Step)")
    song.add_argument("--lyrics", metavar="FILE_OR_TEXT", help="[verse]/[chorus] tagged lyrics")
    song.add_argument("--bpm", type=int, help="tempo, 30..300 (songs and --loop)")
    song.add_argument("--key", help="e.g. 'A minor', 'F# major', 'Bbm'")
    song.add_argument("--time-signature", help="2/4, 3/4, 4/4 or 6/8")
    song.add_argument("--language", help="the lyrics' language (en, zh, ja, es, ...)")
    song.add_argument("--steps", type=int, help="denoising steps (default: the checkpoint's)")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", default="output.wav", metavar="FILE")
    parser.add_argument("--format", choices=_FORMATS, default=None)
    parser.add_argument("--normalize", choices=("loudness", "peak", "rms", "clip"), default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16 or float16")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


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
