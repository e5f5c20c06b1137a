"""``music-gen train``: fine-tune a model on a dataset folder from the command line.

    music-gen train --model ./tiny-musicgen --data ./my-songs --output ./my-adapter \\
        --steps 500 --rank 16 --lr 1e-4 --batch-size 2
    music-gen generate "my style, calm" --model ./tiny-musicgen --adapter ./my-adapter
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_train_parser"]


def _cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .api import train

    settings: dict[str, Any] = {
        name: getattr(args, name)
        for name in (
            "steps", "rank", "alpha", "batch_size", "gradient_accumulation", "seed",
            "checkpoint_every", "text_dropout", "window_seconds", "min_seconds",
        )
        if getattr(args, name) is not None
    }  # fmt: skip
    if args.lr is not None:
        settings["learning_rate"] = args.lr
    if args.target_modules:
        settings["target_modules"] = tuple(m.strip() for m in args.target_modules.split(",") if m)
    bar = tqdm(total=None, unit="step", desc="training", disable=args.quiet)

    def progress(step: int, total: int, loss: float) -> None:
        if bar.total != total:
            bar.reset(total=total)
            bar.update(step - 1)
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{loss:.4f}")

    print(f"loading {args.model} and {args.data} …", file=sys.stderr)
    try:
        result = train(
            args.model, args.data, args.output, device=args.device, dtype=args.dtype,
            cache_dir=args.cache_dir, resume=not args.no_resume, progress=progress, **settings,
        )  # fmt: skip
    finally:
        bar.close()
    if result.resumed_from:
        print(f"resumed from step {result.resumed_from}", file=sys.stderr)
    print(
        f"wrote adapter to {result.output} ({result.steps} steps, final loss {result.loss:.4f}; "
        f"log: {result.output / 'training_log.jsonl'})"
    )
    return 0


def add_train_parser(sub: Any) -> None:
    """Add the ``train`` command to the CLI's subparsers."""
    p = sub.add_parser("train", help="fine-tune a model (LoRA) on a folder of your own music")
    p.add_argument("--model", required=True, help="a MusicGen checkpoint or ACE-Step pipeline")
    p.add_argument(
        "--data", required=True, metavar="DIR",
        help="audio files with NAME.txt captions, or a metadata.jsonl",
    )  # fmt: skip
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="the adapter's folder")
    p.add_argument("--steps", type=int)
    p.add_argument("--rank", type=int, help="LoRA rank (default 16)")
    p.add_argument("--alpha", type=float, help="LoRA alpha (default 32)")
    p.add_argument("--target-modules", help="comma-separated module names (default: attention "
                   "and feed-forward linears)")  # fmt: skip
    p.add_argument("--lr", type=float, help="learning rate (default 1e-4)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--gradient-accumulation", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--checkpoint-every", type=int, metavar="N")
    p.add_argument("--text-dropout", type=float, help="caption dropout for guidance (0.2)")
    p.add_argument("--window-seconds", type=float, help="training window (default 30)")
    p.add_argument("--min-seconds", type=float, help="shorter files are skipped (default 1)")
    p.add_argument("--no-resume", action="store_true", help="ignore checkpoints in --output")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default=None, help="default: bfloat16 on CUDA, float32 on CPU")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)
