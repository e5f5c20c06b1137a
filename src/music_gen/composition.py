"""``CompositionPlan``: a piece laid out section by section, before any audio is made.

A plan has global styles (what the whole piece is: "lofi hip hop", "mellow"), negative styles
(what it must not be), and sections in order, each with a name, its own styles and negative
styles, a length in seconds, the lyrics lines sung in it and optionally its own BPM and key.
``MusicGenerator.generate(plan=plan)`` makes it (families with the ``plan`` capability; what
each honours exactly and what approximately: README, "Composition plans"); ``plan_from_prompt``
drafts one offline from a prompt with the composer's planner.

JSON: ``to_json`` writes our shape (``global_styles``, ``negative_styles``, ``sections`` with
``name``, ``styles``, ``negative_styles``, ``duration`` in seconds, ``lines``, ``bpm``,
``key``); ``from_json`` reads it, and ElevenLabs' ``composition_plan`` shape too
(``positive_global_styles``, ``negative_global_styles``, ``sections`` with ``section_name``,
``positive_local_styles``, ``negative_local_styles``, ``duration_ms``, ``lines``).

Every limit is an ``InvalidInput`` with code ``INVALID_PLAN`` and ``details`` naming what broke
(at most ``MAX_SECTIONS`` sections, each ``MIN_SECTION_S``..``MAX_SECTION_S`` seconds, the total
within the model's limit, the lyrics within ``params.MAX_LYRICS_CHARS``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInput
from .params import MAX_LYRICS_CHARS, MAX_PROMPT_CHARS, Song, validate_key

__all__ = [
    "MAX_SECTIONS",
    "MAX_SECTION_S",
    "MIN_SECTION_S",
    "CompositionPlan",
    "Section",
    "plan_from_prompt",
]

MAX_SECTIONS = 30
MIN_SECTION_S = 3.0
MAX_SECTION_S = 120.0
MAX_STYLES = 50
MAX_STYLE_CHARS = 200
CODE = "INVALID_PLAN"


def _bad(message: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, code=CODE, details=details)


def _styles(value: Any, where: str, limited: bool = True) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or any(not isinstance(s, str) for s in value):
        raise _bad(f"{where} must be a list of strings", field=where)
    out = tuple(s.strip() for s in value if s.strip())
    if limited and (len(out) > MAX_STYLES or any(len(s) > MAX_STYLE_CHARS for s in out)):
        raise _bad(
            f"{where}: at most {MAX_STYLES} styles of at most {MAX_STYLE_CHARS} characters",
            field=where,
        )
    return out


@dataclass(frozen=True)
class Section:
    """One section: ``duration`` seconds of ``styles`` (beside the plan's global ones), with
    ``lines`` of lyrics; ``bpm`` / ``key`` override the piece's."""

    name: str
    duration: float
    styles: tuple[str, ...] = ()
    negative_styles: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    bpm: int | None = None
    key: str | None = None

    def checked(self, index: int) -> Section:
        where = f"sections[{index}]"
        if not isinstance(self.name, str) or not self.name.strip():
            raise _bad(f"{where} needs a name", section=index)
        d = self.duration
        if isinstance(d, bool) or not isinstance(d, int | float) or not math.isfinite(d):
            raise _bad(f"{where}: duration must be a number of seconds", section=index)
        if not MIN_SECTION_S <= d <= MAX_SECTION_S:
            raise _bad(
                f"{where} ({self.name}) lasts {d:g} s; a section lasts "
                f"{MIN_SECTION_S:g} to {MAX_SECTION_S:g} s",
                section=index, duration=d, min=MIN_SECTION_S, max=MAX_SECTION_S,
            )  # fmt: skip
        lines = _styles(self.lines, f"{where}.lines", limited=False)
        bpm = None
        if self.bpm is not None:
            try:
                bpm = Song(bpm=self.bpm).checked().bpm
            except InvalidInput as exc:
                raise _bad(f"{where}: {exc.message}", section=index) from None
        try:
            key = None if self.key is None else validate_key(self.key)
        except InvalidInput as exc:
            raise _bad(f"{where}: {exc.message}", section=index) from None
        return Section(
            self.name.strip(), float(d), _styles(self.styles, f"{where}.styles"),
            _styles(self.negative_styles, f"{where}.negative_styles"), lines,
            None if bpm is None else int(bpm), key,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "styles": list(self.styles),
            "negative_styles": list(self.negative_styles),
            "duration": self.duration,
            "lines": list(self.lines),
        }
        if self.bpm is not None:
            out["bpm"] = self.bpm
        if self.key is not None:
            out["key"] = self.key
        return out


@dataclass(frozen=True)
class CompositionPlan:
    """A piece as sections in order (see the module's docstring)."""

    sections: tuple[Section, ...]
    global_styles: tuple[str, ...] = ()
    negative_styles: tuple[str, ...] = ()
    bpm: int | None = None
    key: str | None = None
    #: what the plan was drafted from, if anything (``plan_from_prompt``)
    notes: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ facts
    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.sections)

    @property
    def lyrics(self) -> str:
        """Every section's lines with a ``[name]`` tag before them (ACE-Step's structure)."""
        blocks = [f"[{s.name.lower()}]\n" + "\n".join(s.lines) for s in self.sections if s.lines]
        return "\n\n".join(blocks)

    def prompt(self, index: int | None = None) -> str:
        """The text prompt of section ``index`` (global styles, then its own), or of the whole
        piece (global styles, then every section's in order, once each)."""
        styles = list(self.global_styles)
        chosen = self.sections if index is None else [self.sections[index]]
        for s in chosen:
            styles += [x for x in s.styles if x not in styles]
        first = chosen[0] if chosen else None
        bpm = first.bpm if first is not None and first.bpm is not None else self.bpm
        key = first.key if first is not None and first.key is not None else self.key
        for extra in (None if bpm is None else f"{bpm} bpm", key):
            if extra is not None and extra not in styles:
                styles.append(extra)
        text = ", ".join(styles) or (self.sections[0].name if self.sections else "music")
        return text[:MAX_PROMPT_CHARS]

    def bounds(self, grid: float = 0.0) -> list[tuple[float, float]]:
        """Each section's ``(start, end)`` in seconds, ends rounded to multiples of ``grid``
        seconds (a model's frame) where given: boundaries fall where the plan says, within
        half a frame."""
        out, start, total = [], 0.0, 0.0
        for s in self.sections:
            total += s.duration
            end = round(total / grid) * grid if grid > 0 else total
            out.append((start, end))
            start = end
        return out

    # ------------------------------------------------------------------ checks
    def checked(
        self, max_duration: float | None = None, max_lyrics_chars: int = MAX_LYRICS_CHARS
    ) -> CompositionPlan:
        """Every limit checked (``max_duration``: the model's, for the total)."""
        if not isinstance(self.sections, Sequence) or not self.sections:
            raise _bad("a plan needs at least one section")
        if len(self.sections) > MAX_SECTIONS:
            raise _bad(
                f"a plan has at most {MAX_SECTIONS} sections, this one {len(self.sections)}",
                sections=len(self.sections), max_sections=MAX_SECTIONS,
            )  # fmt: skip
        sections = tuple(
            (s if isinstance(s, Section) else _section(s, i)).checked(i)
            for i, s in enumerate(self.sections)
        )
        plan = CompositionPlan(
            sections,
            _styles(self.global_styles, "global_styles"),
            _styles(self.negative_styles, "negative_styles"),
            Section("x", MIN_SECTION_S, bpm=self.bpm).checked(0).bpm,
            None if self.key is None else validate_key(self.key),
            dict(self.notes),
        )
        if max_duration is not None and plan.duration > max_duration + 1e-9:
            raise _bad(
                f"the plan lasts {plan.duration:g} s; this model makes at most {max_duration:g} s",
                duration=plan.duration, max_duration=max_duration,
            )  # fmt: skip
        chars = len(plan.lyrics)
        if chars > max_lyrics_chars:
            raise _bad(
                f"the plan's lyrics are {chars} characters; the limit is {max_lyrics_chars}",
                lyrics_chars=chars, max_lyrics_chars=max_lyrics_chars,
            )  # fmt: skip
        return plan

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "global_styles": list(self.global_styles),
            "negative_styles": list(self.negative_styles),
            "sections": [s.to_dict() for s in self.sections],
        }
        if self.bpm is not None:
            out["bpm"] = self.bpm
        if self.key is not None:
            out["key"] = self.key
        if self.notes:
            out["notes"] = dict(self.notes)
        return out

    def to_elevenlabs(self) -> dict[str, Any]:
        """ElevenLabs' ``composition_plan`` shape (BPM, key and notes have no place in it)."""
        return {
            "positive_global_styles": list(self.global_styles),
            "negative_global_styles": list(self.negative_styles),
            "sections": [
                {
                    "section_name": s.name,
                    "positive_local_styles": list(s.styles),
                    "negative_local_styles": list(s.negative_styles),
                    "duration_ms": round(s.duration * 1000),
                    "lines": list(s.lines),
                }
                for s in self.sections
            ],
        }

    def to_json(self, shape: str = "music-gen", indent: int | None = 2) -> str:
        """JSON text: ``shape="music-gen"`` (ours) or ``"elevenlabs"``."""
        data = self.to_elevenlabs() if shape == "elevenlabs" else self.to_dict()
        return json.dumps(data, indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> CompositionPlan:
        """A plan from our shape or ElevenLabs' (also wrapped as ``{"composition_plan": ...}``),
        checked against every limit but the model's total."""
        if isinstance(data, Mapping) and isinstance(data.get("composition_plan"), Mapping):
            data = data["composition_plan"]
        if not isinstance(data, Mapping):
            raise _bad("a plan is a JSON object with 'sections'")
        sections = data.get("sections")
        if not isinstance(sections, list):
            raise _bad("a plan needs a list of 'sections'", field="sections")
        eleven = "positive_global_styles" in data or "negative_global_styles" in data
        g: Any = data.get("positive_global_styles" if eleven else "global_styles")
        n: Any = data.get("negative_global_styles" if eleven else "negative_styles")
        notes = data.get("notes") or {}
        plan = cls(
            tuple(_section(s, i) for i, s in enumerate(sections)),
            g, n, data.get("bpm"), data.get("key"),
            notes if isinstance(notes, Mapping) else {},
        )  # fmt: skip
        return plan.checked()

    @classmethod
    def from_json(cls, text: str | bytes) -> CompositionPlan:
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise _bad(f"the plan is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def coerce(cls, plan: Any) -> CompositionPlan:
        """A ``CompositionPlan``, a dict of either shape, or JSON text."""
        if isinstance(plan, CompositionPlan):
            return plan.checked()
        if isinstance(plan, str | bytes):
            return cls.from_json(plan)
        return cls.from_dict(plan)


_OURS = {"name", "styles", "negative_styles", "duration", "lines", "bpm", "key"}
_ELEVEN = {"section_name", "positive_local_styles", "negative_local_styles", "duration_ms"}


def _section(data: Any, index: int) -> Section:
    """One section of either JSON shape (not yet checked)."""
    if isinstance(data, Section):
        return data
    if not isinstance(data, Mapping):
        raise _bad(f"sections[{index}] must be an object", section=index)
    unknown = set(data) - _OURS - _ELEVEN
    if unknown:
        raise _bad(f"sections[{index}] has unknown fields: {', '.join(sorted(unknown))}",
                   section=index, fields=sorted(unknown))  # fmt: skip
    if "duration_ms" in data:
        ms = data["duration_ms"]
        if isinstance(ms, bool) or not isinstance(ms, int | float):
            raise _bad(f"sections[{index}].duration_ms must be a number", section=index)
        duration: Any = ms / 1000.0
    else:
        duration = data.get("duration")
    return Section(
        data.get("section_name", data.get("name", "")),
        duration,
        data.get("positive_local_styles", data.get("styles")),
        data.get("negative_local_styles", data.get("negative_styles")),
        data.get("lines") or (),
        data.get("bpm"),
        data.get("key"),
    )


# section names by the composer planner's form (intro / A / B / A' / outro)
_NAMES = {"intro": "Intro", "A": "Verse", "B": "Chorus", "A'": "Verse 2", "outro": "Outro"}


def plan_from_prompt(prompt: str, duration: float = 60.0, seed: int = 0) -> CompositionPlan:
    """A plan drafted offline from ``prompt``: the composer's planner chooses the form, tempo
    and key from its words (``compose.plan.plan_music``); sections shorter than
    ``MIN_SECTION_S`` are merged into their neighbours."""
    from .compose.plan import plan_music
    from .params import check_duration, validate_prompt

    text = validate_prompt(prompt)
    # the form has at most 5 parts, each split into pieces of at most MAX_SECTION_S
    total = check_duration(duration, (MAX_SECTIONS - 5) * MAX_SECTION_S)
    if total < MIN_SECTION_S:
        raise _bad(f"a plan lasts at least {MIN_SECTION_S:g} s", duration=total)
    music = plan_music(text, total, seed)
    bar = music.bar_seconds
    scale = total / (music.bars * bar)  # the planner rounds to whole bars; the plan is exact
    spans: list[tuple[str, float]] = []
    short = MIN_SECTION_S + 0.05  # margin: the sections are rounded to milliseconds
    for name, bars in music.sections:
        seconds = bars * bar * scale
        if spans and (spans[-1][1] < short or seconds < short):
            keep = spans[-1][0] if spans[-1][1] >= seconds else name  # the longer one's name
            spans[-1] = (keep, spans[-1][1] + seconds)  # too short: one section
        else:
            spans.append((name, seconds))
    if len(spans) > 1 and spans[-1][1] < short:
        last = spans.pop()
        spans[-1] = (spans[-1][0], spans[-1][1] + last[1])
    # split what is too long (long pieces), evenly
    sections: list[Section] = []
    words = {"intro": "sparse intro", "A": "main theme", "B": "contrasting, fuller",
             "A'": "main theme returns", "outro": "fading outro"}  # fmt: skip
    for name, seconds in spans:
        pieces = max(1, math.ceil(seconds / MAX_SECTION_S - 1e-9))
        for p in range(pieces):
            label = _NAMES.get(name, name) + (f" {p + 1}" if pieces > 1 else "")
            ms = round(seconds / pieces * 1000) / 1000  # whole milliseconds (ElevenLabs' unit)
            sections.append(Section(label, ms, (words.get(name, name),)))
    final = sections[-1]  # the total stays exactly ``duration``
    rest = total - sum(s.duration for s in sections[:-1])
    sections[-1] = Section(final.name, rest, final.styles)
    key = f"{music.key} {'minor' if music.mode in ('minor', 'dorian') else 'major'}"
    styles = (text, music.genre, f"{music.tempo:g} bpm", key)
    notes = {"drafted_from": text, "genre": music.genre, "reasons": list(music.reasons)}
    return CompositionPlan(tuple(sections), styles, (), round(music.tempo), key,
                           notes).checked()  # fmt: skip
