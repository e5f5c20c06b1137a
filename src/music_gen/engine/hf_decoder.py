"""Step-wise decoding through transformers' own MusicGen decoder modules.

This is the decoder behind ``engine="reference"``: transformers' layers and its dynamic KV
cache, driven one step at a time by our loop (``engine.generate``) so that we own the delay
pattern, guidance, sampling and progress. It computes exactly what
``MusicgenForConditionalGeneration.generate`` computes (the equivalence tests hold it to that).

It knows the two conditioning styles (cross-attention for ``musicgen``, a self-attended prefix
for ``musicgen_melody``) and nothing about sampling or audio.
"""

from __future__ import annotations

import torch

from .conditioning import Condition

__all__ = ["HFStepDecoder"]


class HFStepDecoder:
    """One decoding session: ``prefill`` once, then ``step`` per new grid column."""

    def __init__(self, model, condition: Condition) -> None:
        self.model = model
        self.condition = condition
        self.num_codebooks: int = model.decoder.config.num_codebooks
        self.melody = model.config.model_type == "musicgen_melody"
        self.cache = None
        self._seen = 0  # decoder positions already in the cache

    def _ids(self, grid: torch.Tensor) -> torch.Tensor:
        """``[B, K, T]`` -> ``[B*K, T]`` (doubled for guidance: conditional rows first)."""
        if self.condition.guided:
            grid = torch.cat([grid, grid], dim=0)
        return grid.reshape(-1, grid.shape[-1])

    def _logits(self, out_logits: torch.Tensor) -> torch.Tensor:
        """Last position's logits ``[B*K, T, V]`` -> ``[B, K, V]`` in float32."""
        last = out_logits[:, -1, :].float()
        return last.reshape(-1, self.num_codebooks, last.shape[-1])

    @torch.no_grad()
    def prefill(self, grid: torch.Tensor) -> torch.Tensor:
        """Run the known columns ``[B, K, T0]``; return the next position's logits."""
        return self._forward(grid, first=True)

    @torch.no_grad()
    def step(self, column: torch.Tensor) -> torch.Tensor:
        """Feed one column ``[B, K, 1]``; return the next position's logits."""
        return self._forward(column, first=False)

    def _forward(self, grid: torch.Tensor, first: bool) -> torch.Tensor:
        ids = self._ids(grid)
        cond = self.condition
        if not self.melody:
            out = self.model(
                encoder_outputs=(cond.hidden,),
                attention_mask=cond.mask,
                decoder_input_ids=ids,
                past_key_values=self.cache,
                use_cache=True,
            )
        elif not cond.padded:
            out = self.model.decoder(
                input_ids=ids,
                encoder_hidden_states=cond.hidden if first else None,
                past_key_values=self.cache,
                use_cache=True,
            )
        else:
            # mask padded prompt positions of the prefix: [prefix mask, ones for audio steps]
            steps = torch.ones(
                (cond.mask.shape[0], self._seen + grid.shape[-1]),
                dtype=cond.mask.dtype,
                device=cond.mask.device,
            )
            if first:
                out = self.model.decoder(
                    input_ids=ids,
                    attention_mask=steps,
                    encoder_hidden_states=cond.hidden,
                    encoder_attention_mask=cond.mask,
                    past_key_values=self.cache,
                    use_cache=True,
                )
            else:
                out = self.model.decoder(
                    input_ids=ids,
                    attention_mask=torch.cat([cond.mask, steps], dim=1),
                    past_key_values=self.cache,
                    use_cache=True,
                )
        self.cache = out.past_key_values
        self._seen += grid.shape[-1]
        return self._logits(out.logits)
