"""Fine-tuning: LoRA adapters trained on your own music.

``music_gen.train(model, data, output, steps=..., rank=...)`` trains (this package is callable:
calling it calls ``train.api.train``); ``MusicGenerator(model, adapter=output)`` uses the result.

- ``dataset``: a folder of audio files with captions -> windows (bad files reported, skipped);
- ``estimate``: offline tempo and key estimation for clips that do not state them;
- ``config``: ``TrainConfig``, the settings of one run;
- ``loop``: the shared loop (batches, optimiser, log, checkpoints, resume);
- ``musicgen``: MusicGen's objective (delay pattern, per-codebook cross entropy, text dropout);
- ``acestep``, ``stable_audio``: the DiT's flow-matching objective of each pipeline;
(checking and merging an adapter into a loaded model is ``families.adapters``)

Importing this package loads no torch; training does.
"""

import sys
import types
from typing import Any

from .api import evaluate_loss, train
from .config import TrainConfig
from .dataset import Dataset, load_dataset

__all__ = ["Dataset", "TrainConfig", "evaluate_loss", "load_dataset", "train"]


class _CallablePackage(types.ModuleType):
    """``music_gen.train`` is both this package and the function that trains."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
