"""``music_gen.train(...)``: fine-tune a model on a dataset folder and write its adapter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UnsupportedFeature
from .config import TrainConfig
from .dataset import Dataset, load_dataset

if TYPE_CHECKING:
    import torch

    from ..families.base import ModelCard
    from .loop import TrainProgress, TrainResult, TrainTask

__all__ = ["TRAINABLE", "evaluate_loss", "train", "trainable"]


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
    """Fine-tune ``model`` (a MusicGen checkpoint, an ACE-Step or a Stable Audio 3 pipeline:
    a model with the ``adapter`` capability) with LoRA on the
    dataset folder ``data``; write the adapter to ``output`` (PEFT's ``adapter_config.json`` +
    ``adapter_model.safetensors``; for ACE-Step also diffusers' ``pytorch_lora_weights
    .safetensors``; our ``music_gen_adapter.json`` and ``training_log.jsonl``).

    ``settings`` are ``TrainConfig`` fields (``steps``, ``rank``, ``alpha``,
    ``target_modules``, ``learning_rate``, ``batch_size``, ``gradient_accumulation``, ``seed``,
    ``checkpoint_every``, ``text_dropout``, ``window_seconds`` ...), over ``config`` if given.
    A run stopped part-way resumes from its last checkpoint in ``output`` (``resume=True``).
    ``dtype`` defaults to bfloat16 on CUDA, float32 on CPU. ``progress(step, steps, loss)``
    is called after every step. Bad settings raise
    INVALID_TRAINING_CONFIG before any weights load; a dataset with nothing usable raises
    INVALID_DATASET.
    """
    from ..families.adapters import require_peft
    from ..families.loader import inspect_model

    cfg = _config(config, settings)
    require_peft()
    card = inspect_model(model, cache_dir)
    if not trainable(card):
        raise UnsupportedFeature(
            f"{card.family} model {model!r} cannot be fine-tuned (models with the 'adapter' "
            "capability can: MusicGen, ACE-Step and Stable Audio 3)",
            details={"model": model, "family": card.family},
        )
    from .loop import run_training

    task = _TASKS[card.family](model, data, cfg, device, dtype, cache_dir)
    return run_training(task, cfg, output, resume=resume, progress=progress)


def _dataset(data: str | Path, cfg: TrainConfig, sample_rate: int, channels: int) -> Dataset:
    return load_dataset(
        data,
        sample_rate=sample_rate,
        channels=channels,
        window_seconds=cfg.window_seconds,
        min_seconds=cfg.min_seconds,
    )


def _musicgen_task(model, data, cfg, device, dtype, cache_dir):
    from ..engine.loading import load_model
    from .musicgen import MusicGenTask

    loaded = load_model(model, device, dtype, cache_dir)
    dataset = _dataset(data, cfg, loaded.sample_rate, loaded.audio_channels)
    return MusicGenTask(loaded, dataset, cfg, model)


def _acestep_task(model, data, cfg, device, dtype, cache_dir):
    from ..families.acestep import AceStepFamily
    from .acestep import AceStepTask

    pipe = AceStepFamily(
        model, device, dtype, cache_dir, fast_cpu=False
    ).pipe  # trains float weights
    dataset = _dataset(data, cfg, int(pipe.sample_rate), int(pipe.vae.config.audio_channels))
    return AceStepTask(pipe, dataset, cfg, model)


def _stable_audio_task(model, data, cfg, device, dtype, cache_dir):
    from ..families.diffusers_audio import DiffusersAudioFamily
    from .stable_audio import StableAudioTask

    pipe = DiffusersAudioFamily(model, device, dtype, cache_dir).pipe
    rate, channels = int(pipe.vae.config.sampling_rate), int(pipe.vae.config.audio_channels)
    return StableAudioTask(pipe, _dataset(data, cfg, rate, channels), cfg, model)


#: family -> how its training task is built (model, data, config, device, dtype, cache_dir);
#: of a family's models, those with the ``adapter`` capability train (``trainable``)
_TASKS: dict[str, Callable[..., TrainTask]] = {
    "musicgen": _musicgen_task,
    "acestep": _acestep_task,
    "diffusers_audio": _stable_audio_task,
}
TRAINABLE = frozenset(_TASKS)


def trainable(card: ModelCard) -> bool:
    """Whether ``music_gen.train`` fine-tunes the model of ``card``: one that takes adapters
    (the ``adapter`` capability), of a family with a trainer."""
    return card.can("adapter") and card.family in _TASKS


def evaluate_loss(
    model: str,
    data: str | Path,
    *,
    adapter: str | Path | None = None,
    window_seconds: float = 30.0,
    min_seconds: float = 1.0,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
) -> float:
    """The training objective of ``model`` (with ``adapter`` merged) on the dataset ``data``,
    averaged over its windows, with nothing random: a held-out loss. MusicGen: the
    per-codebook cross entropy without text dropout; ACE-Step and Stable Audio 3: the
    flow-matching error at ``t = 0.25, 0.5, 0.75`` with noise drawn from seed 0."""
    from ..families.loader import load_family

    options: dict[str, Any] = {} if adapter is None else {"adapter": adapter}
    impl = load_family(model, device, dtype, **options)
    evaluate = _EVALUATE.get(impl.card.family)
    if evaluate is None or not trainable(impl.card):
        raise UnsupportedFeature(f"{impl.card.family} models have no training loss")
    cfg = TrainConfig(window_seconds=window_seconds, min_seconds=min_seconds)
    dataset = load_dataset(
        data,
        sample_rate=impl.sample_rate,
        channels=impl.channels,
        window_seconds=cfg.window_seconds,
        min_seconds=cfg.min_seconds,
        estimate=False,
    )
    return float(evaluate(impl, dataset))


def _musicgen_eval(impl: Any, dataset: Dataset) -> float:
    import torch

    from .musicgen import codes_for, musicgen_loss

    loaded = impl.loaded
    with torch.no_grad():
        losses = [
            float(musicgen_loss(loaded, [c], [w.clip.caption])[0])
            for c, w in zip(codes_for(loaded, dataset), dataset.windows, strict=True)
        ]
    return sum(losses) / len(losses)


def _acestep_eval(impl: Any, dataset: Dataset) -> float:
    from .acestep import acestep_eval_loss, acestep_examples

    return acestep_eval_loss(impl.pipe, acestep_examples(impl.pipe, dataset))


def _stable_audio_eval(impl: Any, dataset: Dataset) -> float:
    from .stable_audio import sa3_eval_loss, sa3_examples

    return sa3_eval_loss(impl.pipe, sa3_examples(impl.pipe, dataset))


_EVALUATE: dict[str, Callable[[Any, Dataset], float]] = {
    "musicgen": _musicgen_eval,
    "acestep": _acestep_eval,
    "diffusers_audio": _stable_audio_eval,
}
