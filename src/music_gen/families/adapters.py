"""LoRA adapters at inference: check one fits the base model, then merge it into the weights.

An adapter folder holds PEFT's own files (``adapter_config.json``,
``adapter_model.safetensors``) for the MusicGen *decoder* (``MusicgenForCausalLM``; keys as
``PeftModel.from_pretrained(model.decoder, folder)`` reads them) and our
``music_gen_adapter.json``: the family, the base model's name and its *fingerprint* — the
decoder's architecture plus a probe of 16 weights of the first codebook head. A fingerprint that
differs from the loaded model's (another architecture, or the same one with other weights) is
refused with code ADAPTER_MISMATCH. Adapters trained elsewhere (no info file) are accepted when
PEFT can load them onto the decoder.

``merge_musicgen_adapter`` loads the adapter with PEFT, scales it (``adapter_scale`` multiplies
the LoRA update ``alpha / r · B A``) and merges it into the decoder's linears
(``merge_and_unload``), before any engine is built on them: the reference engine runs
transformers' modules and the fast engine shares their weights, so both decode the adapted model.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..errors import InvalidInput, ModelNotAvailable

__all__ = [
    "ACESTEP_LORA_FILE",
    "INFO_FILE",
    "acestep_fingerprint",
    "acestep_request_adapter",
    "adapter_info",
    "adapters_dir",
    "check_adapter",
    "load_row_adapter",
    "merge_acestep_adapter",
    "merge_musicgen_adapter",
    "merge_stable_audio_adapter",
    "musicgen_fingerprint",
    "require_peft",
    "resolve_adapter",
    "stable_audio_fingerprint",
    "stable_audio_request_adapter",
]

_PROBE = 16
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: what we know of an adapter beyond PEFT's files: family, base model and its fingerprint,
#: the training settings and dataset
INFO_FILE = "music_gen_adapter.json"
#: the diffusers LoRA file of an ACE-Step adapter (``AceStepPipeline.load_lora_weights``)
ACESTEP_LORA_FILE = "pytorch_lora_weights.safetensors"


def _err(message: str, code: str = "INVALID_ADAPTER", **details: Any) -> InvalidInput:
    return InvalidInput(message, code=code, details=details)


def musicgen_fingerprint(model: Any) -> dict[str, Any]:
    """What identifies a MusicGen base model: its decoder architecture and a weight probe."""
    dec = model.config.decoder
    arch = {
        "model_type": model.config.model_type,
        "hidden_size": int(dec.hidden_size),
        "num_hidden_layers": int(dec.num_hidden_layers),
        "num_attention_heads": int(dec.num_attention_heads),
        "ffn_dim": int(dec.ffn_dim),
        "num_codebooks": int(dec.num_codebooks),
        "audio_channels": int(dec.audio_channels),
    }
    return {"architecture": arch, "probe": _probe(model.decoder.lm_heads[0].weight)}


def _probe(weight: torch.Tensor) -> list[float]:
    return [round(float(v), 6) for v in weight.detach().flatten()[:_PROBE].float().cpu()]


def acestep_fingerprint(pipe: Any) -> dict[str, Any]:
    """What identifies an ACE-Step base: its DiT's architecture and a weight probe."""
    config = pipe.transformer.config
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "audio_acoustic_hidden_dim", "in_channels", "patch_size", "model_version")  # fmt: skip
    arch = {k: config.get(k) for k in keys if k in config}
    name, weight = next((n, p) for n, p in pipe.transformer.named_parameters() if "lora_" not in n)
    return {"architecture": arch, "probe": _probe(weight), "probe_of": name}


def stable_audio_fingerprint(pipe: Any) -> dict[str, Any]:
    """What identifies a Stable Audio 3 base: its DiT's class and architecture and a probe of
    its first weight matrix."""
    config = pipe.transformer.config
    keys = ("io_channels", "embed_dim", "depth", "num_heads", "cond_token_dim", "patch_size",
            "global_cond_dim", "num_memory_tokens", "use_differential_attention")  # fmt: skip
    arch = {"class": type(pipe.transformer).__name__, **{k: config.get(k) for k in keys}}
    name, weight = next(  # a matrix: the first vector (the padding embedding) may be zeros
        (n, p) for n, p in pipe.transformer.named_parameters() if "lora_" not in n and p.dim() > 1
    )
    return {"architecture": arch, "probe": _probe(weight), "probe_of": name}


def adapters_dir() -> Path:
    """Where adapters named without a path live: ``$MUSIC_GEN_ADAPTERS``, else
    ``~/.cache/music-gen/adapters`` (one folder per adapter, named as the adapter)."""
    env = os.environ.get("MUSIC_GEN_ADAPTERS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "music-gen" / "adapters"


def require_peft() -> None:
    """A clear error, not an ImportError, where PEFT is not installed."""
    if importlib.util.find_spec("peft") is None:
        raise ModelNotAvailable(
            'LoRA adapters and fine-tuning need PEFT: pip install "music-gen[train]"',
            details={"missing": ["peft"]},
        )


def resolve_adapter(adapter: str | Path, files: tuple[str, ...] | None = None) -> Path:
    """An adapter folder with ``files`` (default: PEFT's) in it: a path, or the name of a
    folder in ``adapters_dir()``."""
    path = Path(adapter).expanduser()
    if not path.is_dir() and _NAME.fullmatch(str(adapter)):
        path = adapters_dir() / str(adapter)
    if not path.is_dir():
        raise _err(
            f"adapter {str(adapter)!r} is neither a folder nor an adapter in "
            f"{str(adapters_dir())!r}",
            adapter=str(adapter),
        )
    if files is None:
        files = ("adapter_config.json", "adapter_model.safetensors")
    missing = [f for f in files if not (path / f).is_file()]
    if missing:
        raise _err(
            f"adapter {str(path)!r} lacks {', '.join(missing)}",
            adapter=str(path),
            missing=missing,
        )
    return path


def adapter_info(path: Path) -> dict[str, Any]:
    """``music_gen_adapter.json`` of an adapter folder ({} for adapters made elsewhere)."""
    file = path / INFO_FILE
    if not file.is_file():
        return {}
    try:
        info = json.loads(file.read_text())
    except json.JSONDecodeError:
        raise _err(f"{str(file)!r} is not JSON", adapter=str(path)) from None
    return info if isinstance(info, dict) else {}


def _same_probe(a: list[float], b: list[float]) -> bool:
    # loose enough for a bf16/fp16 load of the same weights, far tighter than two random inits
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=2e-2, abs_tol=2e-3) for x, y in zip(a, b, strict=True)
    )


def check_adapter(path: Path, family: str, fingerprint: dict[str, Any], model_name: str) -> None:
    """Raise ADAPTER_MISMATCH when the adapter at ``path`` was trained for another base."""
    info = adapter_info(path)
    if not info:
        return
    details = {"adapter": str(path), "model": model_name, "trained_on": info.get("base_model")}
    if info.get("family") != family:
        raise _err(
            f"adapter {str(path)!r} is for a {info.get('family')} model, not {family} "
            f"({model_name})",
            "ADAPTER_MISMATCH",
            **details,
        )
    base = info.get("base") or {}
    if base.get("architecture") != fingerprint["architecture"]:
        raise _err(
            f"adapter {str(path)!r} was trained for {info.get('base_model')!r}, whose "
            f"architecture differs from {model_name!r}",
            "ADAPTER_MISMATCH",
            **details,
        )
    if not _same_probe(base.get("probe") or [], fingerprint["probe"]):
        raise _err(
            f"adapter {str(path)!r} was trained for {info.get('base_model')!r}, not for "
            f"{model_name!r} (same architecture, other weights)",
            "ADAPTER_MISMATCH",
            **details,
        )


def _check_scale(scale: Any) -> float:
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale):
        raise _err("adapter_scale must be a number", "INVALID_ADAPTER_SCALE")
    if not -4.0 <= scale <= 4.0:
        raise _err("adapter_scale must be within [-4, 4]", "INVALID_ADAPTER_SCALE")
    return float(scale)


@torch.no_grad()
def merge_musicgen_adapter(
    model: Any, adapter: str | Path, scale: float = 1.0, model_name: str = ""
) -> dict[str, Any]:
    """Merge the adapter at ``adapter`` into ``model.decoder`` (a transformers MusicGen model),
    scaled by ``scale``. Returns what output metadata records about it."""
    require_peft()
    from peft import PeftModel

    scale = _check_scale(scale)
    path = resolve_adapter(adapter, ())
    check_adapter(path, "musicgen", musicgen_fingerprint(model), model_name)
    resolve_adapter(path)
    try:
        with warnings.catch_warnings():  # PEFT's own deprecation notices about transformers
            warnings.simplefilter("ignore", FutureWarning)
            peft_model = PeftModel.from_pretrained(model.decoder, str(path))
    except Exception as exc:  # PEFT raises many kinds for a foreign or damaged adapter
        raise _err(
            f"adapter {str(path)!r} does not load on this MusicGen decoder: "
            f"{type(exc).__name__}: {exc}",
            "ADAPTER_MISMATCH",
            adapter=str(path),
        ) from None
    if scale != 1.0:
        from peft.tuners.lora import LoraLayer

        for module in peft_model.modules():
            if isinstance(module, LoraLayer):
                module.scale_layer(scale)
    model.decoder = peft_model.merge_and_unload()
    return {"adapter": str(path), "adapter_scale": scale}


def merge_acestep_adapter(
    pipe: Any, adapter: str | Path, scale: float = 1.0, model_name: str = ""
) -> dict[str, Any]:
    """Load the diffusers LoRA file of ``adapter`` into the pipeline's DiT
    (``load_lora_weights``: ours, or one trained elsewhere) and fuse it, scaled by ``scale``."""
    require_peft()
    scale = _check_scale(scale)
    path = _load_acestep_lora(pipe, adapter, model_name, "music_gen")
    pipe.fuse_lora(components=["transformer"], lora_scale=scale, adapter_names=["music_gen"])
    pipe.unload_lora_weights()  # the fused weights stay; the LoRA layers go
    return {"adapter": str(path), "adapter_scale": scale}


def _load_acestep_lora(pipe: Any, adapter: str | Path, model_name: str, name: str) -> Path:
    """The diffusers LoRA file of ``adapter`` (a folder, or a bare ``.safetensors`` file)
    checked against the pipeline's DiT and loaded unfused as adapter ``name``."""
    path = Path(adapter).expanduser()
    weight = ACESTEP_LORA_FILE
    if path.is_file() and path.suffix == ".safetensors":  # a bare diffusers LoRA file
        path, weight = path.parent, path.name
    path = resolve_adapter(path, ())
    check_adapter(path, "acestep", acestep_fingerprint(pipe), model_name)
    resolve_adapter(path, (weight,))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            pipe.load_lora_weights(str(path), weight_name=weight, adapter_name=name)
    except Exception as exc:  # diffusers/PEFT raise many kinds for a foreign or damaged file
        with contextlib.suppress(Exception):  # whatever half of it did load goes again
            pipe.delete_adapters([name])
        raise _err(
            f"adapter {str(path)!r} does not load on this ACE-Step DiT: "
            f"{type(exc).__name__}: {exc}",
            "ADAPTER_MISMATCH",
            adapter=str(path),
        ) from None
    return path


@contextlib.contextmanager
def acestep_request_adapter(
    pipe: Any, adapter: str | Path, scale: float = 1.0, model_name: str = ""
) -> Iterator[dict[str, Any]]:
    """``adapter`` on the pipeline's DiT for the calls inside only (one request's), unfused
    at ``scale`` (``set_adapters``), then unloaded: the DiT is the base model again (with
    any adapter fused at load). Calls inside must not overlap others on the same pipeline:
    ACE-Step's runner makes one call at a time. Yields what output metadata records."""
    require_peft()
    scale = _check_scale(scale)
    path = _load_acestep_lora(pipe, adapter, model_name, "music_gen_request")
    try:
        pipe.set_adapters(["music_gen_request"], [scale])
        yield {"adapter": str(path), "adapter_scale": scale}
    finally:
        pipe.delete_adapters(["music_gen_request"])


def _peft_on_dit(pipe: Any, adapter: str | Path, model_name: str, name: str) -> tuple[Any, Path]:
    """PEFT's adapter at ``adapter`` injected (unmerged, as ``name``) into the pipeline's
    Stable Audio 3 DiT, after checking it was trained for this base."""
    from peft import PeftModel

    path = resolve_adapter(adapter, ())
    check_adapter(path, "diffusers_audio", stable_audio_fingerprint(pipe), model_name)
    resolve_adapter(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            peft_model = PeftModel.from_pretrained(pipe.transformer, str(path), adapter_name=name)
    except Exception as exc:  # PEFT raises many kinds for a foreign or damaged adapter
        raise _err(
            f"adapter {str(path)!r} does not load on this Stable Audio 3 DiT: "
            f"{type(exc).__name__}: {exc}",
            "ADAPTER_MISMATCH",
            adapter=str(path),
        ) from None
    return peft_model, path


def _scale_lora(peft_model: Any, scale: float) -> None:
    if scale != 1.0:
        from peft.tuners.lora import LoraLayer

        for module in peft_model.modules():
            if isinstance(module, LoraLayer):
                module.scale_layer(scale)


@torch.no_grad()
def merge_stable_audio_adapter(
    pipe: Any, adapter: str | Path, scale: float = 1.0, model_name: str = ""
) -> dict[str, Any]:
    """Merge PEFT's adapter at ``adapter`` into a Stable Audio 3 pipeline's DiT, scaled by
    ``scale`` (``merge_and_unload``: the DiT keeps its class, with adapted weights)."""
    require_peft()
    scale = _check_scale(scale)
    peft_model, path = _peft_on_dit(pipe, adapter, model_name, "music_gen")
    _scale_lora(peft_model, scale)
    pipe.transformer = peft_model.merge_and_unload()
    return {"adapter": str(path), "adapter_scale": scale}


@contextlib.contextmanager
def stable_audio_request_adapter(
    pipe: Any, adapter: str | Path, scale: float = 1.0, model_name: str = ""
) -> Iterator[dict[str, Any]]:
    """``adapter`` on a Stable Audio 3 pipeline's DiT, unmerged at ``scale``, for the calls
    inside only (one request's), then unloaded: the DiT's own layers and weights come back
    untouched. Calls on the same pipeline must not overlap (the model lock). Yields what
    output metadata records."""
    require_peft()
    scale = _check_scale(scale)
    peft_model, path = _peft_on_dit(pipe, adapter, model_name, "music_gen_request")
    try:
        _scale_lora(peft_model, scale)
        yield {"adapter": str(path), "adapter_scale": scale}
    finally:
        peft_model.unload()


def load_row_adapter(
    engine: Any,
    adapter: str | Path,
    scale: float = 1.0,
    model_name: str = "",
    in_use: set[str] | None = None,
) -> str:
    """Make ``adapter`` (scaled) available unmerged on the fast decoder, for requests that
    name it in a batch of mixed adapters (``engine.lora``). Loaded on first use; the least
    recently used adapters not ``in_use`` are evicted beyond the bank's memory budget; one
    whose files changed since (deleted and trained again under its name) is loaded again.
    Returns the name the request carries (``PreparedRequest.adapter``)."""
    from safetensors.torch import load_file

    from ..engine.lora import AdapterBank, LoRAWeights, install_row_lora

    scale = _check_scale(scale)
    # CUDA graphs are fine: the batcher runs none, and a request alone with its own adapter
    # decodes outside the graph (``Runtime.code_stream``)
    if engine.decoder is None or engine.quantize is not None:
        raise _err(
            "per-request adapters need engine='fast' without quantize; load the model with "
            "adapter=... to merge one instead",
            "UNSUPPORTED_FEATURE",
        )
    model = engine.loaded.model
    path = resolve_adapter(adapter, ())
    check_adapter(path, "musicgen", musicgen_fingerprint(model), model_name)
    resolve_adapter(path)
    name = f"{path.resolve()}@{scale:g}"
    _, wrappers = install_row_lora(engine.decoder)
    bank: AdapterBank | None = getattr(engine.decoder, "adapter_bank", None)
    if bank is None:
        bank = AdapterBank(wrappers)
        engine.decoder.adapter_bank = bank
    files = [path / "adapter_config.json", path / "adapter_model.safetensors"]
    source = [(f.stat().st_mtime_ns, f.stat().st_size) for f in files]
    if name in bank and bank.sources.get(name) != source:  # the folder's files were replaced
        if name in (in_use or set()):
            raise _err(
                f"adapter {str(path)!r} changed while requests use it; retry when they end",
                adapter=str(path),
            )
        bank.remove(name)
    if name in bank:
        bank.touch(name)
        return name
    config = json.loads((path / "adapter_config.json").read_text())
    r, alpha = int(config["r"]), float(config["lora_alpha"])
    factor = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
    weights = LoRAWeights.from_peft_state(
        load_file(str(path / "adapter_model.safetensors")),
        factor * scale,
        engine.loaded.device,
        engine.loaded.dtype,
    )
    try:
        bank.add(name, weights, in_use or set())
    except ValueError as exc:
        raise _err(f"adapter {str(path)!r}: {exc}", "ADAPTER_MISMATCH") from None
    bank.sources[name] = source
    return name
