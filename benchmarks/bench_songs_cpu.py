"""ACE-Step's parts on the CPU, each setting beside float32 in one process (ratios).

Random weights of the real turbo architecture (``music_gen.testing.make_song_pipeline``). Times,
round-robin and ``--repeats`` times (minimum kept): one DiT step over a song's latents (float32,
bfloat16, int8 dynamic linears: ``families.acestep_cpu``) and the VAE decode of the song's
latents (float32 as diffusers has it, weight norm folded, folded + bfloat16); the text and
condition encoders are in ``bench_songs.py``'s whole calls. Prints one table with each part's
ratio to its float32 row and each setting's
SNR (dB) against the float32 output of the same part; ``--profile`` adds torch.profiler's top
operators of the int8 DiT step and the bf16 VAE decode.

    python benchmarks/bench_songs_cpu.py --seconds 10 --repeats 2
    OMP_NUM_THREADS=1 python benchmarks/bench_songs_cpu.py --seconds 10 --profile
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import torch


def snr(ref: torch.Tensor, out: torch.Tensor) -> float:
    noise = (ref.float() - out.float()).pow(2).sum().clamp(min=1e-30)
    return float(10 * torch.log10(ref.float().pow(2).sum() / noise))


def int8_copy(module: torch.nn.Module, share: bool = False, rows: bool = False) -> torch.nn.Module:
    """``module`` with every ``nn.Linear`` int8 (as ``quantize_int8`` on the CPU makes them;
    ``rows``: ``acestep_cpu.RowInt8Linear``, the compiled setting's), without a float copy of
    the linears' weights in between; ``share``: the other parameters are the original's."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from torch.ao.quantization import per_channel_dynamic_qconfig

    from music_gen.families.acestep_cpu import RowInt8Linear

    memo: dict[int, Any] = {id(p): p for p in module.parameters()} if share else {}
    for m in module.modules():
        if type(m) is torch.nn.Linear and rows:
            memo[id(m)] = RowInt8Linear(m)
        elif type(m) is torch.nn.Linear:
            m.qconfig = per_channel_dynamic_qconfig  # type: ignore[assignment]
            memo[id(m)] = DynamicLinear.from_float(m)
            del m.qconfig
    return copy.deepcopy(module, memo)


def cpu_setting_copy(pipe: Any, compile: bool = True) -> Any:
    """A pipeline of its own for the CPU setting beside ``pipe`` (the float32 baseline): the
    parts the setting changes in place are copies (the DiT, text encoder and lyric encoder with
    int8 linears, the VAE), the rest of the condition encoder shares ``pipe``'s weights;
    ``compile``: the DiT's linears as the compiled setting has them."""
    cond = pipe.condition_encoder
    memo: dict[int, Any] = {id(p): p for p in cond.parameters()}
    memo[id(cond.lyric_encoder)] = int8_copy(cond.lyric_encoder, share=True)
    from music_gen.families.acestep_cpu import cxx_compiler

    rows = compile and cxx_compiler() is not None  # as apply_cpu_setting decides
    parts = {"transformer": int8_copy(pipe.transformer, rows=rows), "vae": fresh_vae(pipe.vae),
             "text_encoder": int8_copy(pipe.text_encoder, share=True),
             "condition_encoder": copy.deepcopy(cond, memo)}  # fmt: skip
    return type(pipe)(**{**pipe.components, **parts})


def fresh_vae(vae: Any) -> Any:
    """A copy of an Oobleck VAE (weight norm's hooks refuse ``deepcopy``)."""
    other = type(vae)(**vae.config)
    other.load_state_dict(vae.state_dict())
    return other.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--pipeline", default=None,
                    help="a turbo pipeline saved by bench_songs.py --save")  # fmt: skip
    args = ap.parse_args()
    import warnings

    warnings.filterwarnings("ignore")
    from diffusers import AceStepTransformer1DModel, AutoencoderOobleck

    from music_gen.families.acestep_cpu import fold_weight_norm
    from music_gen.testing import acestep_configs

    load_before = os.getloadavg()
    if args.pipeline:  # saved by bench_songs.py --save: weights stay file-backed (memory)
        dit32 = AceStepTransformer1DModel.from_pretrained(args.pipeline, subfolder="transformer")
        vae32 = AutoencoderOobleck.from_pretrained(args.pipeline, subfolder="vae")
    else:
        cfg = acestep_configs("turbo", 151669)
        torch.manual_seed(0)
        dit32 = AceStepTransformer1DModel(**cfg["transformer"])
        vae32 = AutoencoderOobleck(**cfg["vae"])
    dit32.eval()
    vae32.eval()
    frames = round(args.seconds * 25)  # 25 latent frames a second
    g = torch.Generator().manual_seed(0)
    dit_in = {
        "hidden_states": torch.randn(1, frames, 64, generator=g),
        "timestep": torch.full((1,), 0.5),
        "timestep_r": torch.full((1,), 0.5),
        "encoder_hidden_states": torch.randn(1, 160, 2048, generator=g),
        "context_latents": torch.randn(1, frames, 128, generator=g),
    }
    z = torch.randn(1, 64, frames, generator=g)
    memo: dict[int, Any] = {id(p): torch.nn.Parameter(p.detach().to(torch.bfloat16), False)
                            for p in dit32.parameters()}  # fmt: skip
    dit16 = copy.deepcopy(dit32, memo)  # without a float32 copy in between
    dit8 = int8_copy(dit32)
    vae_folded = fresh_vae(vae32)
    fold_weight_norm(vae_folded.decoder)
    vae16 = fresh_vae(vae32)
    fold_weight_norm(vae16.decoder)
    vae16.to(torch.bfloat16)
    in16 = {k: v.to(torch.bfloat16) for k, v in dit_in.items()}

    runs: list[tuple[str, str, Callable[[], torch.Tensor]]] = [
        ("DiT step", "float32", lambda: dit32(**dit_in, return_dict=False)[0]),
        ("DiT step", "bfloat16", lambda: dit16(**in16, return_dict=False)[0]),
        ("DiT step", "int8 linears", lambda: dit8(**dit_in, return_dict=False)[0]),
        ("VAE decode", "float32", lambda: vae32.decode(z).sample),
        ("VAE decode", "weight norm folded", lambda: vae_folded.decode(z).sample),
        ("VAE decode", "folded + bfloat16", lambda: vae16.decode(z.bfloat16()).sample),
    ]
    walls: dict[int, list[float]] = {i: [] for i in range(len(runs))}
    outs: dict[int, torch.Tensor] = {}
    with torch.inference_mode():
        for _ in range(args.repeats):  # no warm-up: the minimum of the repeats is kept
            for i, (_, _, call) in enumerate(runs):
                started = time.perf_counter()
                out = call()
                walls[i].append(time.perf_counter() - started)
                outs.setdefault(i, out.float())
    load_after = os.getloadavg()
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, {args.seconds:g} s song ({frames} latent frames), load "
          f"average {load_before[0]:.1f} before, {load_after[0]:.1f} after")  # fmt: skip
    print("| part | setting | min s | vs float32 | SNR dB vs float32 |")
    print("|---|---|---|---|---|")
    base: dict[str, tuple[float, torch.Tensor]] = {}
    rows = []
    for i, (part, setting, _) in enumerate(runs):
        wall = min(walls[i])
        base.setdefault(part, (wall, outs[i]))
        ratio = base[part][0] / wall
        quality = snr(base[part][1], outs[i]) if setting != "float32" else float("inf")
        rows.append({"part": part, "setting": setting, "wall_s": wall, "speedup": ratio,
                     "snr_db": quality, "walls": walls[i], "seconds": args.seconds,
                     "threads": torch.get_num_threads(),
                     "load": [load_before[0], load_after[0]]})  # fmt: skip
        print(f"| {part} | {setting} | {wall:.2f} | {ratio:.2f}x | {quality:.1f} |")
    if args.json:
        with open(args.json, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    if args.profile:
        from torch.profiler import profile

        for name, call in (("int8 DiT step", runs[2][2]), ("bf16 VAE decode", runs[5][2])):
            with torch.inference_mode(), profile() as prof:
                call()
            print(f"\n{name}:\n" + prof.key_averages().table(sort_by="self_cpu_time_total",
                                                              row_limit=12))  # fmt: skip


if __name__ == "__main__":
    main()
