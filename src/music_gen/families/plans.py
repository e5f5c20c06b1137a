"""How families make a ``CompositionPlan``, extend audio and replace one section of it.

The shared mechanics behind ``MusicFamily.generate_plan`` / ``extend`` / ``replace_section``:

- ``chain``: a plan window by window on a model that continues audio (``continuation``
  capability, MusicGen): each section is generated with its own prompt, continued from the last
  ``family.context_seconds`` of the audio so far; boundaries lie on the model's frame grid
  (``family.frame_seconds``), so every section's new audio is whole frames.
- ``extend``: the source, then ``duration`` seconds more: continued from the source's tail
  where the family continues audio, else generated alone and joined (a 10 ms fade-in on the new
  part only). The output's first samples are the source's, exactly.
- ``replace_section``: the source with one plan section made again: continued from the audio
  before it where the family continues audio, repainted over the source where it edits songs,
  else cut out of a whole new rendering of the plan (``seed``); every sample outside the
  section is the source's, exactly.

Functions take the family as ``Any`` (this module is below ``base``, which calls it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..audio import AudioOutput, load_audio
from ..composition import CompositionPlan
from ..errors import GenerationFailed, InvalidInput
from ..params import MAX_SEED

__all__ = [
    "PlanProgress",
    "chain",
    "differing_sections",
    "extend_audio",
    "plan_metadata",
    "replace_in",
    "sample_bounds",
]

FADE_S = 0.01
#: thousandths of a part: the units ``PlanProgress`` reports its overall progress in
UNITS = 1000


class PlanProgress:
    """Where a plan's generation is: part ``i`` of ``n`` (a section; for a family that makes the
    whole song first and then repaints sections, the whole and then each repaint) and the step
    within it. ``callback(done, total)`` (the library's ``progress``) gets the overall progress
    in thousandths of a part, each part weighing the same; a callback with a ``detail``
    attribute is also handed ``{"section", "sections", "name", "step", "steps", "stage"}``
    (1-based section; stage ``"section"``, ``"whole"`` or ``"repaint"``) at every step."""

    def __init__(self, callback: Any, parts: int) -> None:
        self.callback = callback
        self.parts = max(1, parts)

    def part(self, index: int, name: str, stage: str = "section", section: int | None = None,
             sections: int | None = None) -> Any:  # fmt: skip
        """The step callback ``(step, steps)`` of part ``index`` (reported at once as step 0)."""

        def report(step: int, steps: int) -> None:
            if self.callback is None:
                return
            done = index * UNITS + round(UNITS * min(step, steps) / max(steps, 1))
            detail = getattr(self.callback, "detail", None)
            if detail is not None:
                detail({
                    "section": (index if section is None else section) + 1,
                    "sections": self.parts if sections is None else sections,
                    "name": name, "step": step, "steps": steps, "stage": stage,
                })  # fmt: skip
            self.callback(done, self.parts * UNITS)

        report(0, 1)
        return report


def differing_sections(plan: CompositionPlan) -> list[int]:
    """The sections whose styles differ from the whole piece's: those with styles of their own
    beyond the plan's global ones (a section without styles follows the whole)."""
    whole = set(plan.global_styles)
    return [i for i, s in enumerate(plan.sections) if set(s.styles) - whole]


def sample_bounds(plan: CompositionPlan, family: Any) -> list[tuple[int, int]]:
    """Each section's ``[start, end)`` in samples, on the family's frame grid."""
    rate = family.sample_rate
    return [(round(a * rate), round(b * rate)) for a, b in plan.bounds(family.frame_seconds)]


def plan_metadata(
    plan: CompositionPlan,
    bounds: list[tuple[int, int]],
    rate: int,
    prompts: list[str],
    honoured: Mapping[str, str],
) -> dict[str, Any]:
    """``metadata["plan"]``: the plan, each section's ``start``/``end`` in seconds as made and
    the prompt it was made with, and what the family honoured (``exact`` / ``approximate`` /
    ``ignored`` per feature)."""
    sections = []
    for s, (a, b), prompt in zip(plan.sections, bounds, prompts, strict=True):
        sections.append({**s.to_dict(), "start": a / rate, "end": b / rate, "prompt": prompt})
    return {
        "global_styles": list(plan.global_styles),
        "negative_styles": list(plan.negative_styles),
        "bpm": plan.bpm,
        "key": plan.key,
        "sections": sections,
        "honoured": dict(honoured),
    }


def _continue(
    family: Any,
    prompt: str,
    before: np.ndarray | None,
    count: int,
    seed: int,
    params: Mapping[str, Any],
    cancelled: Any = None,
    progress: Any = None,
) -> np.ndarray:
    """``count`` new samples ``[C, count]`` after ``before`` (``[C, N]`` or None), prompted by
    ``prompt``: ``before``'s last whole frames (at most ``context_seconds``) are the
    continuation prompt."""
    rate = family.sample_rate
    hop = max(1, round(family.frame_seconds * rate))
    frames = 0 if before is None else before.shape[1] // hop
    frames = min(frames, int(family.context_seconds * rate) // hop)
    ctx = frames * hop
    cond: dict[str, Any] = {}
    if ctx:
        assert before is not None
        cond["continuation"] = AudioOutput(before[:, before.shape[1] - ctx :], rate)
    out = family.generate(
        prompt, duration=(ctx + count) / rate, seed=seed, cancelled=cancelled,
        progress=progress, **cond, **params,
    )  # fmt: skip
    new = out.samples[:, ctx : ctx + count]
    if new.shape[1] != count:
        raise GenerationFailed(f"expected {count} samples, the model made {new.shape[1]}")
    return new


def chain(
    family: Any,
    plan: CompositionPlan,
    seed: int,
    params: Mapping[str, Any],
    progress: Any = None,
    cancelled: Any = None,
    before: np.ndarray | None = None,
) -> tuple[np.ndarray, list[tuple[int, int]], list[str]]:
    """The plan's audio ``[C, N]`` made section by section, each continued from the audio
    before it (``before``: audio the plan continues, not part of the result); the sections'
    sample bounds; the prompt of each."""
    bounds = sample_bounds(plan, family)
    pieces: list[np.ndarray] = []
    prompts = []
    so_far = before
    tracker = PlanProgress(progress, len(bounds))
    for i, (a, b) in enumerate(bounds):
        prompt = plan.prompt(i)
        section_seed = (seed + i) % (MAX_SEED + 1)  # each section its own draw
        step = tracker.part(i, plan.sections[i].name)
        new = _continue(family, prompt, so_far, b - a, section_seed, params, cancelled, step)
        pieces.append(new)
        prompts.append(prompt)
        so_far = new if so_far is None else np.concatenate([so_far, new], axis=1)
        step(1, 1)
    return np.concatenate(pieces, axis=1), bounds, prompts


def _source(family: Any, source: Any) -> AudioOutput:
    return load_audio(
        source,
        sample_rate=getattr(source, "sample_rate", None) or family.sample_rate,
        target_sample_rate=family.sample_rate,
        channels=family.channels,
        name="source",
    )


def extend_audio(
    family: Any,
    source: Any,
    prompt_or_plan: Any,
    duration: float | None,
    seed: int,
    params: Mapping[str, Any],
) -> AudioOutput:
    """``source`` followed by ``duration`` seconds more (a plan: its own duration)."""
    src = _source(family, source)
    rate = family.sample_rate
    continues = family.can("continuation")
    if isinstance(prompt_or_plan, str):
        if duration is None:
            raise InvalidInput("extend needs the seconds to add: duration", code="INVALID_DURATION")
        count = round(float(duration) * rate)
        if count <= 0:
            raise InvalidInput("duration must be > 0 seconds", code="INVALID_DURATION")
        before = src.samples if continues else None
        new = _continue(family, prompt_or_plan, before, count, seed, params)
        meta: dict[str, Any] = {"prompt": prompt_or_plan}
    else:
        plan = CompositionPlan.coerce(prompt_or_plan).checked(family.max_duration)
        if duration is not None and abs(duration - plan.duration) > 1e-6:
            raise InvalidInput(
                f"the plan adds {plan.duration:g} s, not {duration:g} s: give one or the other",
                code="INVALID_PLAN",
            )
        if continues:
            new, bounds, prompts = chain(family, plan, seed, params, before=src.samples)
            honoured = {"sections": "exact", "styles": "approximate"}
            meta = {"plan": plan_metadata(plan, bounds, rate, prompts, honoured)}
        else:
            made = family.generate_plan(plan, seed=seed, **params)
            new, meta = made.samples, {"plan": made.metadata.get("plan")}
        offset = src.num_samples / rate
        for s in (meta["plan"] or {}).get("sections", []):  # times in the output
            s["start"], s["end"] = s["start"] + offset, s["end"] + offset
    if not continues:  # joined, not continued: fade the new part in (the source is untouched)
        fade = min(new.shape[1], round(FADE_S * rate))
        new = new.copy()
        new[:, :fade] *= np.linspace(0.0, 1.0, fade, dtype=np.float32)
    audio = np.concatenate([src.samples, new], axis=1)
    meta.update(extended_from_s=src.duration, added_s=new.shape[1] / rate, seed=seed)
    return AudioOutput(audio, rate, meta)


def replace_in(
    family: Any,
    source: Any,
    plan: Any,
    section: int | str,
    seed: int,
    params: Mapping[str, Any],
) -> AudioOutput:
    """``source`` with plan section ``section`` (its index or name) made again."""
    checked = CompositionPlan.coerce(plan).checked(family.max_duration)
    names = [s.name for s in checked.sections]
    if isinstance(section, str):
        if section not in names:
            raise InvalidInput(
                f"no section named {section!r}; the plan has {', '.join(names)}",
                code="INVALID_PLAN",
                details={"section": section, "sections": names},
            )
        index = names.index(section)
    elif isinstance(section, int) and not isinstance(section, bool) and 0 <= section < len(names):
        index = section
    else:
        raise InvalidInput(
            f"section must be a name or an index in 0..{len(names) - 1}, got {section!r}",
            code="INVALID_PLAN",
        )
    src = _source(family, source)
    rate = family.sample_rate
    bounds = sample_bounds(checked, family)
    a, b = bounds[index]
    if b > src.num_samples:
        raise InvalidInput(
            f"section {names[index]!r} ends at {b / rate:g} s, after the source's "
            f"{src.duration:g} s",
            code="INVALID_RANGE",
            details={"end": b / rate, "source_seconds": src.duration},
        )
    prompt = checked.prompt(index)
    if family.can("continuation"):
        new = _continue(family, prompt, src.samples[:, :a] if a else None, b - a, seed, params)
    elif family.can("edit"):  # a song: repaint the section over the source
        edited = family.edit("repaint", src, prompt, start=a / rate, end=b / rate, seed=seed,
                             **params)  # fmt: skip
        new = edited.samples[:, a:b]
    else:
        whole = family.generate_plan(checked, seed=seed, **params)
        new = whole.samples[:, a:b]
    audio = src.samples.copy()
    audio[:, a:b] = new
    prompts = [checked.prompt(i) for i in range(len(names))]
    meta = {
        "plan": plan_metadata(checked, bounds, rate, prompts, {}),
        "replaced_section": {
            "index": index,
            "name": names[index],
            "start": a / rate,
            "end": b / rate,
            "prompt": prompt,
        },
        "seed": seed,
    }
    return AudioOutput(audio, rate, meta)
