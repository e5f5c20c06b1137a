"""``music_gen.train(...)``: fine-tune a model on a dataset folder and write its adapter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UnsupportedFeature
from .config import TrainConfig
from .dataset import Dataset, load_dataset

if TYPE_CHECKING:
    import torch

    from .loop import TrainProgress, TrainResult

__all__ = ["TRAINABLE", "evaluate_loss", "train"]

#: the families that can be fine-tuned here
TRAINABLE = frozenset({"musicgen"})


def _config(config: TrainConfig | None, settings: dict[str, Any]) -> TrainConfig:
    if config is None:
        return TrainConfig.from_dict(settings)
    return TrainConfig.from_dict({**config.to_dict(), **settings})


def train(
    model: str,
    data: str | Path,
    output: str | Path,
    *,
    config: TrainConfig | None = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = True,
    progress: TrainProgress | None = None,
    **settings: Any,
) -> TrainResult:
    """Fine-tune ``model`` with LoRA on the dataset folder ``data``; write the adapter to
    ``output`` (PEFT's ``adapter_config.json`` + ``adapter_model.safetensors``, our
    ``music_gen_adapter.json`` and ``training_log.jsonl``).

    ``settings`` are ``TrainConfig`` fields (``steps``, ``rank``, ``alpha``,
    ``target_modules``, ``learning_rate``, ``batch_size``, ``gradient_accumulation``, ``seed``,
    ``checkpoint_every``, ``text_dropout``, ``window_seconds`` ...), over ``config`` if given.
    A run stopped part-way resumes from its last checkpoint in ``output`` (``resume=True``).
    ``dtype`` defaults to bfloat16 on CUDA, float32 on CPU. Bad settings raise
    INVALID_TRAINING_CONFIG before any weights load; a dataset with nothing usable raises
    INVALID_DATASET.
    """
    from ..families.loader import detect_family

    cfg = _config(config, settings)
    family = detect_family(model, cache_dir)
    if family not in TRAINABLE:
        raise UnsupportedFeature(
            f"fine-tuning {family} models is not supported yet (MusicGen checkpoints are)",
            details={"model": model, "family": family},
        )
    from ..engine.loading import load_model
    from .loop import run_training
    from .musicgen import MusicGenTask

    loaded = load_model(model, device, dtype, cache_dir)
    dataset = load_dataset(
        data,
        sample_rate=loaded.sample_rate,
        channels=loaded.audio_channels,
        window_seconds=cfg.window_seconds,
        min_seconds=cfg.min_seconds,
    )
    task = MusicGenTask(loaded, dataset, cfg, model)
    return run_training(task, cfg, output, resume=resume, progress=progress)


def evaluate_loss(
    model: str,
    data: str | Path | Dataset,
    *,
    adapter: str | Path | None = None,
    window_seconds: float = 30.0,
    min_seconds: float = 1.0,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
) -> float:
    """The training objective (no text dropout) of ``model`` (with ``adapter`` merged) on the
    dataset ``data``, averaged over its windows: a held-out loss."""
    import torch

    from ..engine.loading import load_model
    from ..families.adapters import merge_musicgen_adapter
    from .musicgen import codes_for, musicgen_loss

    loaded = load_model(model, device, dtype)
    if adapter is not None:
        merge_musicgen_adapter(loaded.model, adapter, model_name=model)
    dataset = (
        data
        if isinstance(data, Dataset)
        else load_dataset(
            data,
            sample_rate=loaded.sample_rate,
            channels=loaded.audio_channels,
            window_seconds=window_seconds,
            min_seconds=min_seconds,
            estimate=False,
        )
    )
    codes = codes_for(loaded, dataset)
    with torch.no_grad():
        losses = [
            float(musicgen_loss(loaded, [c], [w.clip.caption])[0])
            for c, w in zip(codes, dataset.windows, strict=True)
        ]
    return sum(losses) / len(losses)
