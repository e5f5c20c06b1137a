"""ACE-Step's CPU setting (``families.acestep_cpu``) on the tiny pipeline: what it changes, and
how far its songs are from the float32 pipeline's (SNR bounds; docs/benchmarks.md states the
real architecture's numbers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from music_gen import MusicGenerator
from music_gen.families.acestep_cpu import (
    CpuDecoder,
    RowInt8Linear,
    apply_cpu_setting,
    bf16_supported,
    cache_timbre,
    compile_blocks,
    cxx_compiler,
    float_linears,
    fold_weight_norm,
    keep_cross_attention,
    quantize_rows,
)

LYRICS = "[verse]\nwalking down the empty street\n\n[chorus]\nsing it loud"
#: bounds on the tiny pipeline's SNR against float32 (measured with int8 DiT, text and lyric
#: encoders and the bf16 CPU decoder: audio 38.5-40.5 dB, where another seed gives ~31 dB after
#: the tiny VAE; the DiT's latents 48.6-50.8 dB, another seed about -2 dB)
MIN_SNR_DB = 35.0
MIN_LATENT_SNR_DB = 45.0


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    noise = float(np.sum((reference - other) ** 2))
    return 10.0 * np.log10(float(np.sum(reference**2)) / max(noise, 1e-30))


@pytest.fixture(scope="module")
def fast(song_pipeline):  # the CPU default, its VAE decoder eager (compiling takes ~20 s)
    return MusicGenerator(model=str(song_pipeline), device="cpu", cpu_compile=False)


@pytest.fixture(scope="module")
def plain(song_pipeline):
    return MusicGenerator(model=str(song_pipeline), device="cpu", dtype="float32")


def test_the_cpu_default_is_int8_linears_and_a_cpu_vae_decoder(fast):
    pipe = fast.family_impl.pipe
    dynamic = torch.ao.nn.quantized.dynamic.Linear
    for part in (pipe.transformer, pipe.text_encoder, pipe.condition_encoder.lyric_encoder):
        assert not any(isinstance(m, torch.nn.Linear) for m in part.modules())
        assert sum(isinstance(m, dynamic) for m in part.modules()) > 0
    timbre = pipe.condition_encoder.timbre_encoder  # float32, its output kept
    assert any(isinstance(m, torch.nn.Linear) for m in timbre.modules())
    decoder, encoder = pipe.vae.decoder, pipe.vae.encoder
    assert isinstance(decoder, CpuDecoder) and not decoder.compiled  # cpu_compile=False
    wanted = torch.bfloat16 if bf16_supported() else torch.float32
    assert {b.dtype for b in decoder.buffers()} == {wanted}
    assert {p.dtype for p in encoder.parameters()} == {torch.float32}  # edits encode in fp32
    setting = fast.card.details["cpu_setting"]
    assert setting.startswith("int8 DiT") and "cpu_setting" in repr(fast.family_impl)
    assert "compiled" not in setting
    out = fast.generate("lofi beat", duration=0.5, seed=1, steps=2)
    assert out.metadata["cpu_setting"] == setting and out.samples.dtype == np.float32


def test_its_songs_stay_close_to_the_float32_pipeline(fast, plain):
    for duration, seed, steps in ((1.0, 11, 4), (1.7, 12, 8)):
        args = dict(lyrics=LYRICS, duration=duration, seed=seed, steps=steps)
        ours = fast.generate("lofi hip hop beat", **args).samples
        reference = plain.generate("lofi hip hop beat", **args).samples
        assert ours.shape == reference.shape and np.isfinite(ours).all()
        assert snr_db(reference, ours) >= MIN_SNR_DB, snr_db(reference, ours)
        call = dict(prompt="lofi hip hop beat", lyrics=LYRICS, audio_duration=duration,
                    num_inference_steps=steps, output_type="latent")  # fmt: skip
        latents = [
            g.family_impl.pipe(**call, generator=torch.Generator().manual_seed(seed)).audios
            for g in (plain, fast)
        ]
        assert snr_db(latents[0].numpy(), latents[1].numpy()) >= MIN_LATENT_SNR_DB


def test_a_batch_stays_close_to_each_single_run(fast):
    prompts = ["upbeat pop song", "upbeat pop song"]  # equal token lengths: one call
    batch = fast.generate_batch(prompts, lyrics=[LYRICS, LYRICS], duration=1.0, seed=[5, 6],
                                steps=2)  # fmt: skip
    for i, out in enumerate(batch):
        alone = fast.generate(prompts[i], lyrics=LYRICS, duration=1.0, seed=5 + i, steps=2)
        assert snr_db(alone.samples, out.samples) >= MIN_SNR_DB


def test_fast_cpu_false_gives_the_plain_pipeline(song_pipeline, plain):
    off = MusicGenerator(model=str(song_pipeline), device="cpu", fast_cpu=False)
    assert "cpu_setting" not in off.card.details
    args = dict(duration=1.0, seed=2, steps=2)
    np.testing.assert_array_equal(
        off.generate("ambient", **args).samples, plain.generate("ambient", **args).samples
    )


def test_folding_weight_norm_computes_the_same_decoder(song_pipeline):
    from diffusers import AceStepPipeline

    vae = AceStepPipeline.from_pretrained(str(song_pipeline)).vae
    z = torch.randn(
        1, vae.config.decoder_input_channels, 30, generator=torch.Generator().manual_seed(0)
    )
    with torch.inference_mode():
        before = vae.decode(z).sample
        assert fold_weight_norm(vae.decoder) > 0
        torch.testing.assert_close(vae.decode(z).sample, before, rtol=1e-5, atol=1e-6)


def test_edits_run_under_the_cpu_setting(fast):
    source = fast.generate("drum loop", duration=1.0, seed=4, steps=2)
    out = fast.edit("repaint", source, "piano", start=0.25, end=0.75, seed=1, steps=2)
    assert out.num_samples == source.num_samples and np.isfinite(out.samples).all()
    np.testing.assert_array_equal(out.samples[:, :9000], source.samples[:, :9000])


def test_the_setting_wants_a_float32_pipeline_on_the_cpu():
    from music_gen.testing import make_song_pipeline

    with pytest.raises(ValueError, match="float32 pipeline on the CPU"):
        apply_cpu_setting(make_song_pipeline(None, dtype=torch.bfloat16))


def test_a_requests_adapter_runs_on_dequantized_linears_then_int8_again(
    fast, plain, song_pipeline, tmp_path
):
    from dataclasses import replace

    from diffusers import AceStepPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from music_gen.params import Adapter

    pipe = AceStepPipeline.from_pretrained(str(song_pipeline))
    torch.manual_seed(0)
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["to_q", "to_v"], init_lora_weights=False)
    pipe.transformer.add_adapter(config)
    AceStepPipeline.save_lora_weights(
        tmp_path, transformer_lora_layers=get_peft_model_state_dict(pipe.transformer),
        transformer_lora_adapter_metadata=config.to_dict(),
    )  # fmt: skip
    args = dict(duration=1.0, seed=3, steps=4)

    def run(gen):
        family = gen.family_impl
        request = replace(family.request(["jazz"], **args), adapter=Adapter(str(tmp_path)))
        return family.run(family.check_request(family.card, request))[0].samples

    ours, reference = run(fast), run(plain)
    assert snr_db(reference, ours) >= MIN_SNR_DB
    dynamic = torch.ao.nn.quantized.dynamic.Linear
    dit = fast.family_impl.pipe.transformer
    assert not any(type(m) is torch.nn.Linear for m in dit.modules())  # int8 again
    assert sum(isinstance(m, dynamic) for m in dit.modules()) > 0


def test_the_cpu_decoder_computes_what_diffusers_decoder_does(song_pipeline):
    from diffusers import AceStepPipeline

    vae = AceStepPipeline.from_pretrained(str(song_pipeline)).vae
    z = torch.randn(
        1, vae.config.decoder_input_channels, 30, generator=torch.Generator().manual_seed(0)
    )
    with torch.inference_mode():
        before = vae.decode(z).sample
        ours32 = CpuDecoder(vae.decoder, torch.float32)(z.transpose(1, 2).contiguous().mT)
        ours16 = CpuDecoder(vae.decoder, torch.bfloat16)(z)
    torch.testing.assert_close(ours32, before, rtol=1e-4, atol=1e-5)
    assert ours16.dtype == torch.float32 and ours16.shape == before.shape
    assert snr_db(before.numpy(), ours16.numpy()) >= MIN_SNR_DB


def test_the_cpu_decoder_runs_eager_if_compiling_fails(song_pipeline, caplog):
    from diffusers import AceStepPipeline

    vae = AceStepPipeline.from_pretrained(str(song_pipeline)).vae
    decoder = CpuDecoder(vae.decoder, torch.float32, compile=True)  # compiles on first call
    assert decoder.compiled

    def broken(z):
        raise RuntimeError("no C++ compiler")

    decoder._compiled = broken
    z = torch.randn(1, vae.config.decoder_input_channels, 12)
    with torch.inference_mode():
        out = decoder(z)
        torch.testing.assert_close(out, decoder._eager(z))
    assert not decoder.compiled and "running eager" in caplog.text


def test_without_a_cxx_compiler_the_setting_is_not_compiled(monkeypatch):
    from music_gen.testing import make_song_pipeline

    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CXX", raising=False)
    assert cxx_compiler() is None
    pipe = make_song_pipeline(None)
    setting = apply_cpu_setting(pipe)
    assert "compiled" not in setting and not pipe.vae.decoder.compiled


def test_the_kept_timbre_is_exactly_the_computed_one(song_pipeline):
    from diffusers import AceStepPipeline

    pipe = AceStepPipeline.from_pretrained(str(song_pipeline))
    encoder = pipe.condition_encoder.timbre_encoder
    silence = pipe.condition_encoder.silence_latent[:, :40].contiguous()
    order = torch.arange(1)
    with torch.inference_mode():
        computed = encoder(silence, order)
        cache_timbre(encoder)
        first, again = encoder(silence, order), encoder(silence.clone(), order)
        other = encoder(silence + 1.0, order)
    for out in (first, again):
        for a, b in zip(out, computed, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(other[0], computed[0])  # other inputs: computed, not kept


def test_the_kept_cross_attention_is_exactly_the_computed_one(song_pipeline):
    import copy

    from diffusers import AceStepPipeline

    dit = AceStepPipeline.from_pretrained(str(song_pipeline)).transformer
    kept = copy.deepcopy(dit)
    assert keep_cross_attention(kept) == 1 + 2 * len(dit.layers)
    g = torch.Generator().manual_seed(0)
    frames, width = 8, dit.config.audio_acoustic_hidden_dim
    condition = torch.randn(1, 5, dit.condition_embedder.in_features, generator=g)
    with torch.inference_mode():
        for t in (0.9, 0.5, 0.2):  # steps over the same condition tensor
            args = dict(
                hidden_states=torch.randn(1, frames, width, generator=g),
                timestep=torch.full((1,), t), timestep_r=torch.full((1,), t),
                encoder_hidden_states=condition,
                context_latents=torch.randn(1, frames, 2 * width, generator=g),
                return_dict=False,
            )  # fmt: skip
            torch.testing.assert_close(kept(**args)[0], dit(**args)[0], rtol=0, atol=0)
        other = condition * 2  # a new condition: computed again
        args["encoder_hidden_states"] = other
        torch.testing.assert_close(kept(**args)[0], dit(**args)[0], rtol=0, atol=0)


def test_a_row_int8_linear_is_close_to_its_float_linear():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 24)
    x = torch.randn(3, 5, 64)
    row = RowInt8Linear(linear)
    with torch.inference_mode():
        ours, reference = row(x), linear(x)
        dense = row.dequantized()(x)
    assert ours.shape == reference.shape
    assert float((ours - reference).norm() / reference.norm()) < 0.02
    assert float((dense - reference).norm() / reference.norm()) < 0.01


def test_the_compiled_settings_dit_eager_stays_close_to_the_float32_pipeline(song_pipeline, plain):
    """The compiled setting's math (row-int8 DiT linears) without compiling: the same SNR
    bounds as the fbgemm DiT."""
    from diffusers import AceStepPipeline

    from music_gen.families.acestep import AceStepFamily

    pipe = AceStepPipeline.from_pretrained(str(song_pipeline))
    assert quantize_rows(pipe.transformer) > 0
    apply_cpu_setting(pipe, compile=False)  # the rest of the setting; the DiT stays row-int8
    assert not any(type(m) is torch.nn.Linear for m in pipe.transformer.modules())
    ours = MusicGenerator.from_family(AceStepFamily.from_pipeline(pipe))
    args = dict(lyrics=LYRICS, duration=1.0, seed=11, steps=4)
    out = ours.generate("lofi hip hop beat", **args).samples
    reference = plain.generate("lofi hip hop beat", **args).samples
    assert snr_db(reference, out) >= MIN_SNR_DB, snr_db(reference, out)


def test_compiled_blocks_run_eager_if_compiling_fails_and_inside_float_linears(
    song_pipeline, caplog
):
    from diffusers import AceStepPipeline

    dit = AceStepPipeline.from_pretrained(str(song_pipeline)).transformer
    g = torch.Generator().manual_seed(0)
    width = dit.config.audio_acoustic_hidden_dim
    args = dict(
        hidden_states=torch.randn(1, 8, width, generator=g),
        timestep=torch.full((1,), 0.5), timestep_r=torch.full((1,), 0.5),
        encoder_hidden_states=torch.randn(1, 5, dit.condition_embedder.in_features, generator=g),
        context_latents=torch.randn(1, 8, 2 * width, generator=g), return_dict=False,
    )  # fmt: skip
    with torch.inference_mode():
        reference = dit(**args)[0]
    quantize_rows(dit)
    assert compile_blocks(dit) == len(dit.layers)
    compiled = [b._cpu_compiled for b in dit.layers]
    with float_linears(dit) as replaced:
        assert replaced > 0 and all(b._cpu_compiled is None for b in dit.layers)
    assert [b._cpu_compiled for b in dit.layers] == compiled  # back after

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    for block in dit.layers:
        block._cpu_compiled = broken
    with torch.inference_mode():
        out = dit(**args)[0]
    assert "running eager" in caplog.text and all(b._cpu_compiled is None for b in dit.layers)
    assert snr_db(reference.numpy(), out.numpy()) >= MIN_LATENT_SNR_DB
