"""What every training task shares: PEFT LoRA on one module (the MusicGen decoder, a DiT),
its trainable parameters and its adapter files in PEFT's layout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch

from ..errors import InvalidInput
from .config import TrainConfig

__all__ = ["LoraTask"]


class LoraTask:
    """Base of the ``TrainTask`` classes: ``attach_lora`` in ``__init__``, then the loop's
    ``parameters`` / ``save_adapter`` / ``load_adapter`` come from here."""

    peft: Any  # the PEFT-wrapped module
    lora: Any  # its LoraConfig

    def attach_lora(
        self,
        module: torch.nn.Module,
        config: TrainConfig,
        default_targets: Sequence[str],
        model_name: str,
        what: str,
    ) -> None:
        """Wrap ``module`` (``what`` names it in errors) in LoRA adapters as ``config`` says;
        the seed fixes the adapters' random A matrices."""
        from peft import LoraConfig, get_peft_model

        self.lora = LoraConfig(
            r=config.rank,
            lora_alpha=cast(Any, config.alpha),  # PEFT takes a float, though typed int
            target_modules=list(config.target_modules or default_targets),
            lora_dropout=config.lora_dropout,
            bias="none",
        )
        torch.manual_seed(config.seed)
        try:
            self.peft = get_peft_model(module, self.lora)
        except ValueError as exc:  # target modules not found
            raise InvalidInput(
                f"LoRA target modules do not fit {what}: {exc}",
                code="INVALID_TRAINING_CONFIG",
            ) from None
        self.peft.peft_config["default"].base_model_name_or_path = model_name

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.peft.parameters() if p.requires_grad]

    def save_adapter(self, directory: Path) -> None:
        self.peft.save_pretrained(str(directory), save_embedding_layers=False)

    def load_adapter(self, directory: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        state = load_file(str(directory / "adapter_model.safetensors"))
        set_peft_model_state_dict(self.peft, state)
