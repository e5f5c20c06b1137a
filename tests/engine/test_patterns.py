"""The delay pattern: the docstring's worked example, round trips, and transformers' layout."""

from __future__ import annotations

import pytest
import torch

from music_gen.engine.patterns import UNKNOWN, DelayPattern

P = 2048


def test_worked_example_from_docstring() -> None:
    pattern = DelayPattern(num_codebooks=4)
    codes = torch.tensor([[[10, 11], [20, 21], [30, 31], [40, 41]]])  # [1, 4, 2]
    grid = pattern.build(codes, total_frames=5)
    U = UNKNOWN
    expected = torch.tensor(
        [
            [P, 10, 11, U, U, U, P, P, P],
            [P, P, 20, 21, U, U, U, P, P],
            [P, P, P, 30, 31, U, U, U, P],
            [P, P, P, P, 40, 41, U, U, U],
        ]
    )
    assert torch.equal(grid[0], expected)
    assert pattern.prefill_length(grid) == 3
    assert pattern.steps(prompt_frames=2, total_frames=5) == 6


@pytest.mark.parametrize(("k", "channels"), [(4, 1), (8, 2)])
def test_build_then_revert_gives_the_codes_back(k: int, channels: int) -> None:
    pattern = DelayPattern(num_codebooks=k, audio_channels=channels)
    codes = torch.randint(0, 2048, (3, k, 17))
    grid = pattern.build(codes, total_frames=17)
    assert grid.shape == (3, k, 1 + 17 + pattern.max_delay)
    assert not (grid == UNKNOWN).any()
    assert torch.equal(pattern.revert(grid), codes)


def test_stereo_delays_pair_left_and_right() -> None:
    assert DelayPattern(8, audio_channels=2).delays == [0, 0, 1, 1, 2, 2, 3, 3]
    assert DelayPattern(4).delays == [0, 1, 2, 3]


@pytest.mark.parametrize(("variant", "k"), [("mono", 4), ("stereo", 8)])
def test_layout_matches_transformers(checkpoints, variant: str, k: int) -> None:
    """Our grid equals transformers' ``build_delay_pattern_mask`` with a bos column prepended."""
    from transformers import MusicgenForConditionalGeneration

    model = MusicgenForConditionalGeneration.from_pretrained(checkpoints[variant])
    prompt = torch.randint(0, 2048, (2, k, 5))
    total = 12
    bos = torch.full((2, k, 1), P)
    ids = torch.cat([bos, prompt], dim=-1).reshape(2 * k, -1)
    _, mask = model.decoder.build_delay_pattern_mask(ids, P, max_length=1 + total + 3)
    ours = DelayPattern(k, audio_channels=k // 4).build(prompt, total_frames=total)
    # transformers marks the bos column of the prompt as a prompt token; both say "pad" there
    assert torch.equal(ours.reshape(2 * k, -1), mask)
