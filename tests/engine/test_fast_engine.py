"""The fast engine: token-exact with the reference, cached = uncached, static = exact shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from music_gen import MusicGenerator
from music_gen.engine.conditioning import encode_condition
from music_gen.engine.fast_decoder import FastStepDecoder
from music_gen.engine.generate import decode_window
from music_gen.engine.model import MusicGenDecoder
from music_gen.engine.quantize import Int8Linear
from music_gen.engine.sampling import SamplingParams

SR = 32000
VARIANTS = ["mono", "stereo", "melody", "stereo-melody"]


@pytest.fixture(scope="module")
def reference(checkpoints):
    cache: dict[str, MusicGenerator] = {}

    def get(variant: str) -> MusicGenerator:
        if variant not in cache:
            cache[variant] = MusicGenerator(
                str(checkpoints[variant]), device="cpu", engine="reference"
            )
        return cache[variant]

    return get


def test_fast_is_the_default(mono):
    assert mono.family_impl.engine.name == "fast"
    assert mono.generate("x", duration=0.1, seed=0).metadata["engine"] == "fast"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    "sampling",
    [dict(temperature=0.0), dict(temperature=1.0, top_k=250), dict(temperature=0.8, top_p=0.9)],
)
def test_fast_equals_reference(generators, reference, decoded_codes, variant, sampling):
    """Greedy and sampled (same seed, same draw order): the same tokens, the same audio."""
    prompts = ["calm piano melody with soft strings", "rock band"]
    fast = generators(variant).generate_batch(prompts, duration=0.8, seed=5, **sampling)
    ref = reference(variant).generate_batch(prompts, duration=0.8, seed=5, **sampling)
    assert torch.equal(decoded_codes[0], decoded_codes[1])
    for a, b in zip(fast, ref, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)


def test_sampling_matches_transformers_generate_for_one_prompt(generators):
    """One row: our per-request generator draws exactly what transformers draws globally."""
    gen = generators("mono")
    model = gen.family_impl.loaded.model
    tokens = gen.family_impl.loaded.tokenizer(["lofi hip hop beat"], return_tensors="pt")
    torch.manual_seed(1234)
    theirs = model.generate(
        **tokens, do_sample=True, top_k=250, temperature=1.0, guidance_scale=3.0, max_new_tokens=33
    )
    ours = gen.generate("lofi hip hop beat", duration=30 * 640 / SR, seed=1234)
    np.testing.assert_array_equal(ours.samples, theirs[0].numpy())


def _session(gen, prompts, exact=True, grid_len=60):
    tokens = gen.family_impl.loaded.tokenizer(prompts, return_tensors="pt", padding=True)
    cond = encode_condition(
        gen.family_impl.loaded.model, tokens["input_ids"], tokens["attention_mask"], guided=True
    )
    decoder = MusicGenDecoder(gen.family_impl.loaded.model)
    return FastStepDecoder(decoder, gen.family_impl.loaded.model, cond, grid_len, exact=exact), cond


@pytest.mark.parametrize("variant", ["mono", "melody"])
def test_cached_decoding_equals_uncached(generators, variant):
    """Each step's logits from the KV cache equal a fresh full-prefix forward with no cache."""
    gen = generators(variant)
    k = gen.family_impl.loaded.num_codebooks
    torch.manual_seed(0)
    grid = torch.randint(0, 2048, (1, k, 12))
    cached, _ = _session(gen, ["ambient pad"])
    logits = [cached.prefill(grid[:, :, :1])]
    logits += [cached.step(grid[:, :, t : t + 1]) for t in range(1, 12)]
    for t in range(12):
        fresh, _ = _session(gen, ["ambient pad"])
        uncached = fresh.prefill(grid[:, :, : t + 1])
        torch.testing.assert_close(logits[t], uncached, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["mono", "stereo-melody"])
def test_static_shapes_mode_gives_the_same_tokens(generators, variant):
    """The CUDA-graph layout (full cache + masks) decodes what the exact layout decodes."""
    gen = generators(variant)
    pattern = gen.family_impl.pattern
    prompts = ["jazz trio", "epic orchestral soundtrack with choir"]
    out = []
    for exact in (True, False):
        session, _ = _session(gen, prompts, exact=exact, grid_len=pattern.grid_length(40))
        empty = torch.zeros((2, pattern.num_codebooks, 0), dtype=torch.long)
        out.append(decode_window(session, pattern, empty, 40, SamplingParams(0.0), 3.0, None))
    assert torch.equal(out[0], out[1])


def test_int8_linear_is_close_and_generation_runs(checkpoints):
    lin = torch.nn.Linear(64, 96, bias=False)
    q = Int8Linear(lin)
    x = torch.randn(5, 64)
    rel = (q(x) - lin(x)).norm() / lin(x).norm()
    assert rel < 0.01
    gen = MusicGenerator(str(checkpoints["mono"]), device="cpu", quantize="int8")
    fc1 = gen.family_impl.engine.decoder.blocks[0].fc1
    assert type(fc1).__module__.startswith("torch.ao.nn.quantized.dynamic")  # fbgemm int8
    a = gen.generate("piano", duration=0.5, seed=3)
    b = gen.generate("piano", duration=0.5, seed=3)
    assert a.num_samples == 16000 and a.metadata["quantize"] == "int8"
    np.testing.assert_array_equal(a.samples, b.samples)
    # transformers' own weights are untouched: the reference engine still sees float linears
    assert isinstance(
        gen.family_impl.loaded.model.decoder.model.decoder.layers[0].fc1, torch.nn.Linear
    )


def test_weight_only_int8_decoder_logits_stay_close(generators):
    """The weight-only path (used off CPU) on a whole decoder: logits within a few per cent."""
    from music_gen.engine.quantize import quantize_int8

    gen = generators("mono")
    torch.manual_seed(0)
    grid = torch.randint(0, 2048, (1, gen.family_impl.loaded.num_codebooks, 6))
    exact, cond = _session(gen, ["ambient pad"])
    quantized = MusicGenDecoder(gen.family_impl.loaded.model)
    quantize_int8(quantized)  # no device: weight-only Int8Linear everywhere
    assert isinstance(quantized.blocks[0].fc1, Int8Linear)
    session = FastStepDecoder(quantized, gen.family_impl.loaded.model, cond, 60, exact=True)
    want, got = exact.prefill(grid), session.prefill(grid)
    assert ((got - want).norm() / want.norm()).item() < 0.05


def test_bfloat16_fast_engine_agrees_with_float32_mostly(checkpoints, generators, decoded_codes):
    """bf16 is not token-exact; its greedy tokens still mostly agree with fp32's."""
    fp32 = generators("mono")
    bf16 = MusicGenerator(str(checkpoints["mono"]), device="cpu", dtype="bfloat16")
    fp32.generate("piano", duration=0.6, temperature=0.0)
    bf16.generate("piano", duration=0.6, temperature=0.0)
    agree = (decoded_codes[0] == decoded_codes[1]).float().mean().item()
    assert agree > 0.5


def test_bad_engine_options(checkpoints):
    from music_gen import InvalidInput

    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(checkpoints["mono"]), device="cpu", engine="warp")
    assert err.value.code == "INVALID_ENGINE"
    with pytest.raises(InvalidInput) as err:
        MusicGenerator(str(checkpoints["mono"]), device="cpu", quantize="int3")
    assert err.value.code == "INVALID_QUANTIZATION"
