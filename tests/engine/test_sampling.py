"""Guidance and token selection."""

from __future__ import annotations

import torch

from music_gen.engine.sampling import SamplingParams, apply_cfg, select_next


def test_cfg_is_the_formula() -> None:
    torch.manual_seed(0)  # (the global generator's state depends on the tests run before)
    cond, uncond = torch.randn(2, 4, 16), torch.randn(2, 4, 16)
    mixed = apply_cfg(torch.cat([cond, uncond]), 3.0)
    assert torch.allclose(mixed, uncond + 3.0 * (cond - uncond))
    assert torch.allclose(apply_cfg(torch.cat([cond, uncond]), 1.0), cond)


def test_greedy_is_argmax() -> None:
    logits = torch.randn(3, 4, 50)
    assert torch.equal(
        select_next(logits, SamplingParams(temperature=0.0), None), logits.argmax(-1)
    )


def test_top_k_only_draws_from_the_k_best() -> None:
    logits = torch.randn(1, 4, 100)
    best = set(torch.topk(logits[0, 0], 3).indices.tolist())
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        tok = select_next(logits, SamplingParams(1.0, top_k=3), [gen])
        assert int(tok[0, 0]) in best


def test_top_p_keeps_the_nucleus_and_overrides_top_k() -> None:
    # one token holds 90 % of the mass: top_p=0.5 must always pick it, whatever top_k says
    logits = torch.full((1, 1, 10), -10.0)
    logits[0, 0, 7] = 10.0
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        assert int(select_next(logits, SamplingParams(1.0, top_k=10, top_p=0.5), [gen])) == 7


def test_each_row_draws_from_its_own_generator() -> None:
    logits = torch.randn(1, 4, 2048)
    alone = select_next(logits, SamplingParams(1.0, 250), [torch.Generator().manual_seed(5)])
    batch = select_next(
        logits.expand(3, -1, -1).contiguous(),
        SamplingParams(1.0, 250),
        [torch.Generator().manual_seed(s) for s in (9, 5, 11)],
    )
    assert torch.equal(batch[1], alone[0])
    assert not torch.equal(batch[0], batch[2])


def test_single_row_draw_is_torch_multinomial_on_the_seeded_generator() -> None:
    """What transformers does on the global generator, we do on the row's own."""
    logits = torch.randn(1, 4, 2048)
    ours = select_next(logits, SamplingParams(0.7, top_k=0), [torch.Generator().manual_seed(3)])
    torch.manual_seed(3)
    theirs = torch.multinomial((logits[0] / 0.7).softmax(-1), 1).squeeze(-1)
    assert torch.equal(ours[0], theirs)
