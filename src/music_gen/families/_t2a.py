"""What each diffusers text-to-audio pipeline takes, and its card from its files alone.

One ``PipelineSpec`` per pipeline ``AutoPipelineForText2Audio`` maps (``model_index.json``'s
``_class_name``): the name of its duration argument, whether it takes a negative prompt, how it
reports progress, its own defaults (steps, guidance: the signature's, checked against the
installed diffusers by the tests), whether it makes instrumental audio (loops), its longest
clip, the edit pipelines built from the same components (Stable Audio 3: inpaint = repaint,
audio-to-audio = cover) and whether it takes LoRA adapters (Stable Audio 3, whose DiT
``music_gen.train`` fine-tunes). ``t2a_card`` reads rate, channels and limits from the components'
configs, with no weights and no torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import Capability, ModelCard

__all__ = ["FAMILY", "SPECS", "PipelineSpec", "card_of", "t2a_card"]

#: the family's registered name (``ModelCard.family``)
FAMILY = "diffusers_audio"


@dataclass(frozen=True)
class PipelineSpec:
    """How the family calls one diffusers text-to-audio pipeline."""

    class_name: str
    label: str  # in messages and metadata
    duration_arg: str  # the call's length argument (seconds)
    steps: int | None  # the call's default num_inference_steps (None: from the scheduler)
    guidance: float  # the call's default guidance_scale
    callback: str = "on_step_end"  # or "legacy": callback(step, t, latents)
    loop: bool = True  # instrumental audio a loop can be cut from
    #: edit task -> the pipeline class run on the same components
    edits: Mapping[str, str] = field(default_factory=dict)
    #: the longest clip where the files do not say (seconds)
    limit: float = 30.0
    #: the call's pipeline cuts to ``int(seconds × rate / hop)`` whole latent frames
    whole_frames: bool = False
    #: takes a LoRA adapter on its DiT, at load and per request (``families.adapters``)
    adapter: bool = False


SPECS: dict[str, PipelineSpec] = {
    spec.class_name: spec
    for spec in (
        PipelineSpec("StableAudioPipeline", "Stable Audio Open", "audio_end_in_s", 100, 7.0,
                     callback="legacy", limit=47.55),
        PipelineSpec("StableAudio3Pipeline", "Stable Audio 3", "duration", None, 1.0,
                     edits={"repaint": "StableAudio3InpaintPipeline",
                            "cover": "StableAudio3AudioToAudioPipeline"}, limit=380.0,
                     adapter=True),
        PipelineSpec("AudioLDM2Pipeline", "AudioLDM2", "audio_length_in_s", 200, 3.5,
                     callback="legacy"),
        # LongCat-Audio-DiT speaks and makes sound effects: no loops; the pipeline caps 30 s
        PipelineSpec("LongCatAudioDiTPipeline", "LongCat-Audio-DiT", "audio_duration_s", 16, 4.0,
                     loop=False, whole_frames=True),
    )
}  # fmt: skip
#: Stable Audio 3 small checkpoints make up to 120 s (medium: 380 s), which their files do
#: not say (both embed durations up to 384 s)
_SA3_SMALL_LIMIT = 120.0


def capabilities(spec: PipelineSpec, channels: int, edits: list[str]) -> frozenset[Capability]:
    caps = {Capability.TEXT, Capability.BATCH, Capability.NEGATIVE_PROMPT, Capability.STEPS,
            Capability.GUIDANCE}  # fmt: skip
    if spec.loop:
        caps.add(Capability.LOOP)
    if channels == 2:
        caps.add(Capability.STEREO)
    if edits:
        caps.add(Capability.EDIT)
    if spec.adapter:
        caps.add(Capability.ADAPTER)
    return frozenset(caps)


def _config(path: Path, part: str, name: str = "config.json") -> dict[str, Any]:
    file = path / part / name
    try:
        return json.loads(file.read_text()) if file.is_file() else {}
    except (OSError, ValueError):
        return {}


def _facts(spec: PipelineSpec, name: str, path: Path) -> dict[str, Any]:
    """Rate, channels, longest clip, default steps and edit tasks from the configs."""
    vae = _config(path, "vae")
    steps, limit, edits = spec.steps, spec.limit, list(spec.edits)
    if spec.class_name == "StableAudioPipeline":
        rate, channels = int(vae.get("sampling_rate", 44100)), int(vae.get("audio_channels", 2))
        hop = math.prod(vae.get("downsampling_ratios", [2, 4, 4, 8, 8]))
        limit = int(_config(path, "transformer").get("sample_size", 1024)) * hop / rate
    elif spec.class_name == "StableAudio3Pipeline":
        rate, channels = int(vae.get("sampling_rate", 44100)), int(vae.get("audio_channels", 2))
        stochastic = _config(path, "scheduler", "scheduler_config.json").get("stochastic_sampling")
        steps = 8 if stochastic else 100  # what the call picks when given none
        limit = float(_config(path, "duration_embedder").get("max_val", 384.0))
        limit = min(limit, _SA3_SMALL_LIMIT if "small" in name.lower() else spec.limit)
        if int(_config(path, "transformer").get("patch_size", 1)) != 1:
            edits.remove("repaint")  # the DiT takes inpaint conditioning at patch size 1 only
    elif spec.class_name == "AudioLDM2Pipeline":
        rate, channels = int(_config(path, "vocoder").get("sampling_rate", 16000)), 1
    else:  # LongCat-Audio-DiT
        rate, channels = int(vae.get("sample_rate", 24000)), int(vae.get("in_channels", 1))
    return {"rate": rate, "channels": channels, "limit": limit, "steps": steps, "edits": edits}


def card_of(
    spec: PipelineSpec,
    name: str,
    rate: int,
    channels: int,
    limit: float,
    steps: int,
    edits: list[str],
    max_duration: float | None = None,
) -> ModelCard:
    """The card: capabilities, and in ``details`` the pipeline, its defaults and edit tasks."""
    longest = limit if max_duration is None else min(float(max_duration), limit)
    details = {
        "pipeline": spec.class_name,
        "defaults": {"steps": steps, "guidance_scale": spec.guidance},
        "edit_tasks": edits,
    }
    return ModelCard(name, FAMILY, capabilities(spec, channels, edits), rate, channels, longest,
                     details=details)  # fmt: skip


def t2a_card(name: str, path: Path, class_name: str) -> ModelCard:
    """The card of a pipeline directory, read from its configs (no weights)."""
    spec = SPECS[class_name]
    facts = _facts(spec, name, path)
    return card_of(spec, name, facts["rate"], facts["channels"], facts["limit"],
                   facts["steps"] or 0, facts["edits"])  # fmt: skip
