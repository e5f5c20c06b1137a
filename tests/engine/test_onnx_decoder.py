"""``engine="onnxruntime"``: the decode step on ONNX Runtime, against our float32 step.

Teacher-forced as in ``test_quantize``: the same columns go into both sessions step by step and
every step's logits are compared. Float32 must equal ours to float rounding; int8 and int4 stay
within the quantized paths' quality guard (relative L2 error per step, greedy agreement).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
import torch

from music_gen import InvalidInput, MusicGenerator
from music_gen.engine.engine import Engine

pytest.importorskip("onnxruntime")

from music_gen.engine.conditioning import encode_condition
from music_gen.engine.onnx_graph import int4_blocks

STEPS = 24
#: setting -> (max relative L2 error of a step's logits, min share of equal greedy tokens): the
#: bounds of the torch quantized paths (``test_quantize.BOUNDS``). Measured on the tiny
#: checkpoints: int8 0.7 %, int4 (blocks of 32 at their width, int8 heads) 0.8-0.9 %; 98-100 %
#: equal tokens.
BOUNDS = {"int8": (0.03, 0.90), "int4": (0.03, 0.90)}


def _condition(gen, prompts):
    tokens = gen.family_impl.loaded.tokenizer(prompts, return_tensors="pt", padding=True)
    return encode_condition(
        gen.family_impl.loaded.model, tokens["input_ids"], tokens["attention_mask"], guided=True
    )


def _logits(engine: Engine, gen, columns: torch.Tensor, prompts: list[str]) -> torch.Tensor:
    session = engine.session(_condition(gen, prompts), STEPS + 2)
    out = [session.prefill(columns[0][..., None])]
    out += [session.step(col[..., None]) for col in columns[1:]]
    return torch.stack(out)


def _compare(gen, quantize: str | None, prompts: list[str]) -> tuple[torch.Tensor, float]:
    torch.manual_seed(0)
    loaded = gen.family_impl.loaded
    columns = torch.randint(0, 2048, (STEPS, len(prompts), loaded.num_codebooks))
    want = _logits(Engine(loaded, "fast"), gen, columns, prompts)
    got = _logits(Engine(loaded, "onnxruntime", quantize), gen, columns, prompts)
    rel = (got - want).flatten(1).norm(dim=1) / want.flatten(1).norm(dim=1)
    agree = (got.argmax(-1) == want.argmax(-1)).float().mean().item()
    return rel, agree


#: one prompt, and two of different lengths (padded text: the masks are exercised)
PROMPTS = [["calm piano"], ["calm piano", "drum and bass with warm strings"]]


@pytest.mark.parametrize("prompts", PROMPTS, ids=["one", "padded"])
@pytest.mark.parametrize("variant", ["mono", "melody", "stereo"])
def test_float32_step_equals_ours(generators, variant, prompts):
    rel, agree = _compare(generators(variant), None, prompts)
    assert rel.max().item() < 1e-5, rel.tolist()
    assert agree == 1.0


@pytest.mark.parametrize("variant", ["mono", "melody"])
@pytest.mark.parametrize("quantize", ["int8", "int4"])
def test_quantized_step_keeps_the_quality_guard(generators, variant, quantize):
    rel, agree = _compare(generators(variant), quantize, PROMPTS[1])
    max_rel, min_agree = BOUNDS[quantize]
    assert rel.max().item() < max_rel, f"{quantize}: step errors {rel.tolist()}"
    assert agree >= min_agree, f"{quantize}: greedy agreement {agree:.2f}"


def test_int4_blocks_pack_what_matmul_nbits_multiplies():
    """The packing (two codes a byte, low nibble first; 4-bit zero points) against a
    dequantization written out here, and ONNX Runtime's kernel against that."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    torch.manual_seed(0)
    n, k, block = 48, 96, 32
    w = torch.randn(n, k)
    packed, scales, zeros = int4_blocks(w, block)
    low, high = packed & 15, packed >> 4
    codes = np.stack([low, high], axis=-1).reshape(n, k // block, block).astype(np.float32)
    z = np.stack([zeros & 15, zeros >> 4], axis=-1).reshape(n, -1)[:, : k // block]
    deq = ((codes - z[..., None]) * scales[..., None]).reshape(n, k)
    assert np.linalg.norm(deq - w.numpy()) / np.linalg.norm(w.numpy()) < 0.12
    node = helper.make_node(
        "MatMulNBits", ["x", "b", "s", "z"], ["y"], domain="com.microsoft",
        K=k, N=n, bits=4, block_size=block, accuracy_level=0,
    )  # fmt: skip
    inits = [numpy_helper.from_array(a, name) for a, name in ((packed, "b"), (scales, "s"))]
    inits.append(numpy_helper.from_array(zeros, "z"))
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, n])], inits,
    )  # fmt: skip
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        ir_version=9,
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((3, k)).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {"x": x})[0], x @ deq.T, rtol=1e-4, atol=1e-4)


def test_generation_through_the_public_path(checkpoints):
    gen = MusicGenerator(str(checkpoints["mono"]), device="cpu", engine="onnxruntime")
    ours = MusicGenerator(str(checkpoints["mono"]), device="cpu")
    a = gen.generate("piano", duration=0.5, seed=3)
    assert a.metadata["engine"] == "onnxruntime" and a.num_samples == 16000
    # float32: the same tokens as ours, so the same audio
    np.testing.assert_allclose(a.samples, ours.generate("piano", duration=0.5, seed=3).samples)
    assert gen.family_impl.batcher() is None  # the continuous batcher runs our decoder only
    options = gen.family_impl.engine.ort.session.get_session_options()
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    q = MusicGenerator(
        str(checkpoints["melody"]), device="cpu", engine="onnxruntime", quantize="int4"
    )
    b = q.generate("piano", duration=0.5, seed=3)
    c = q.generate("piano", duration=0.5, seed=3)
    assert b.metadata["quantize"] == "int4"
    np.testing.assert_array_equal(b.samples, c.samples)


def test_stream_on_the_onnx_step_joins_to_its_one_shot_output(checkpoints):
    gen = MusicGenerator(
        str(checkpoints["mono"]), device="cpu", engine="onnxruntime", quantize="int8"
    )
    whole = gen.generate("lofi hip hop beat", duration=1.5, seed=9)
    chunks = list(gen.generate_stream("lofi hip hop beat", duration=1.5, seed=9))
    joined = np.concatenate([c.samples for c in chunks], axis=-1)
    assert len(chunks) > 1 and joined.shape == whole.samples.shape
    assert np.abs(joined - whole.samples).max() / np.abs(whole.samples).max() < 1e-3


def test_bad_names_and_loads_are_refused(generators, monkeypatch):
    loaded = generators("mono").family_impl.loaded
    for kwargs, code in [
        ({"name": "onnx"}, "INVALID_ENGINE"),
        ({"name": "onnxruntime", "quantize": "int2"}, "INVALID_QUANTIZATION"),
        ({"name": "reference", "quantize": "int8"}, "INVALID_QUANTIZATION"),
    ]:
        with pytest.raises(InvalidInput) as err:
            Engine(loaded, **kwargs)
        assert err.value.code == code
    bf16 = dataclasses.replace(loaded, dtype=torch.bfloat16)
    with pytest.raises(InvalidInput, match="float32") as err:
        Engine(bf16, "onnxruntime")
    assert err.value.code == "INVALID_ENGINE"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # not installed
    monkeypatch.delitem(sys.modules, "music_gen.engine.onnx_decoder", raising=False)
    with pytest.raises(InvalidInput, match=r"music-gen\[cpu\]") as err:
        Engine(loaded, "onnxruntime")
    assert err.value.code == "INVALID_ENGINE"
    assert err.value.details["missing"] == "onnxruntime"


def test_int4_blocks_of_64_or_32_where_the_width_needs(generators):
    from music_gen.engine.model import MusicGenDecoder
    from music_gen.engine.onnx_graph import build_step_graph

    decoder = MusicGenDecoder(generators("mono").family_impl.loaded.model)  # width 32, ffn 64
    graph = build_step_graph(decoder, "int4").graph
    blocks = {}
    for node in graph.node:
        if node.op_type == "MatMulNBits":
            attrs = {a.name: a.i for a in node.attribute}
            blocks[attrs["K"]] = attrs["block_size"]
    assert blocks == {32: 32, 64: 64}
    ops = {node.op_type for node in graph.node}
    assert "DynamicQuantizeMatMul" in ops and "MatMul" not in ops  # the heads in int8
