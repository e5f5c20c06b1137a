"""What a job is: the caller's request, and the typed spec the worker runs.

- ``JobRequest``: the caller's words, before validation. Routes and adapters build one (the
  API's ``JobCreate`` is one).
- ``JobSpec``: the job after ``core.submit`` validated it once, against the served model's
  capabilities and limits derived from ``Settings``: seed drawn, model resolved, input audio
  fetched into server files. It holds the typed request (``params.Request``: the prompt,
  duration and seed, and its ``Sampling`` / ``Conditioning`` / ``Song`` / ``Edit`` parts, input
  audio as server file paths; ``Adapter``: a LoRA adapter by its name in the server's adapter
  store) and ``params.Output``; the family runs ``spec.request`` as it
  is. It is stored as the same flat JSON as ever (``jobs.params``; old rows load as they are),
  loaded back by the worker and handed to the backend as this type; nothing downstream
  validates it again.
- ``JobType``: what the job is (a whole result, a stream of chunks, a multitrack mix with
  stems, an edit of a song). Where it came from is the job's ``origin`` (``"api"`` or an
  adapter's name) with that adapter's own ``options``, kept beside the spec, never inside it.

This module knows no database, no HTTP and no adapter.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ....audio.loop import LoopSpec
from ....params import DEFAULT_DURATION, Conditioning, Edit, Output, Request, Sampling, Song

__all__ = ["INPUT_FILES", "AudioFormat", "JobRequest", "JobSpec", "JobType", "Rework"]

AudioFormat = Literal["wav", "mp3", "flac", "ogg"]

#: spec fields naming a server file the job reads (input audio); shown by upload id, never path
INPUT_FILES = ("reference", "melody", "continuation", "source")

#: the flat (stored) names of each typed part's fields
_SAMPLING = tuple(f.name for f in fields(Sampling))
_CONDITIONING = tuple(f.name for f in fields(Conditioning))
_SONG = tuple(f.name for f in fields(Song))
_EDIT = tuple(f.name for f in fields(Edit))
_OUTPUT = tuple(f.name for f in fields(Output))
#: what the sampling of a generation takes (``generate``'s keyword arguments)
SAMPLING = ("duration", *_SAMPLING, "seed")
#: what a song generation takes beside the prompt
SONG = ("lyrics", "duration", "seed", *(n for n in _SONG if n != "lyrics"))
#: what an edit task takes beside ``task``, ``source`` and the prompt
EDIT = (
    "lyrics", "seed", *(n for n in _SONG if n != "lyrics"),
    *(n for n in _EDIT if n not in ("task", "source")),
)  # fmt: skip
#: the ids of the uploads (and the job) the input files came from: what a client is shown
_ORIGINS = (
    "reference_upload_id", "melody_upload_id", "continuation_upload_id", "source_upload_id",
    "source_job_id",
)  # fmt: skip


class JobType(enum.StrEnum):
    """What a job is; the worker and the backends ask this, never where the job came from."""

    BATCH = "batch"  # one whole result
    STREAM = "stream"  # chunks as they are made, then the whole result
    MULTITRACK = "multitrack"  # one model call per instrument, mixed, with every stem
    EDIT = "edit"  # a song edit (repaint, cover, extract, lego, complete) of a source
    FINETUNE = "finetune"  # LoRA training on an uploaded dataset (``jobs.finetune``)


class _Flat:
    """A field of the flat (stored) form, read from the typed part that holds it."""

    def __init__(self, part: str | None) -> None:
        self.part = part

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, spec: Any, owner: type | None = None) -> Any:
        if spec is None:
            return self
        if self.part is None:  # the request itself: prompt, duration, seed
            return getattr(spec.request, self.name)
        if self.part == "output":
            return getattr(spec.output, self.name)
        holder = getattr(spec.request, self.part)
        return None if holder is None else getattr(holder, self.name)


def _plain(value: Any) -> Any:
    """A typed part as the dict pydantic validates (and coerces) into it again."""
    if value is None or isinstance(value, dict):
        return value
    return {f.name: _plain(getattr(value, f.name)) if f.name in _PARTS else getattr(value, f.name)
            for f in fields(value)}  # fmt: skip


_PARTS = ("sampling", "conditioning", "song", "edit", "adapter")


def _fold(data: dict[str, Any]) -> dict[str, Any]:
    """The flat form (as stored, and as the service's code writes it) as typed parts."""
    flat = dict(data)
    if flat.get("loop") is True:  # stored flat: a loop's bpm is the loop's, not a song's
        flat["loop"] = {"bpm": flat.pop("bpm", None), "bars": flat.pop("bars", None),
                        "beats_per_bar": flat.pop("beats_per_bar", None) or 4}  # fmt: skip
    elif not flat.get("loop"):
        for unused in ("loop", "bars", "beats_per_bar"):
            flat.pop(unused, None)
    if isinstance(flat.get("rework"), dict) and "source" not in flat["rework"]:
        flat["rework"] = {**flat["rework"], "source": flat.pop("source", None)}
    request = _plain(flat.pop("request", None))
    output = _plain(flat.pop("output", None)) or {}
    parts: dict[str, Any] = {}
    pick = {n: flat.pop(n) for n in (*_SAMPLING, *_CONDITIONING, *_SONG, *_EDIT) if n in flat}
    guidance = pick.pop("guidance_scale", None)
    sampled = any(pick.get(n) is not None for n in _SAMPLING)
    for part, names in (("sampling", _SAMPLING), ("song", _SONG),
                        ("conditioning", _CONDITIONING)):  # fmt: skip
        values = {n: pick[n] for n in names if pick.get(n) is not None}
        # guidance is the sampling's where sampling values are stored (a sampled model's job
        # always stores them), else the song's (a diffusion model's, even with no other field)
        wanted = (part == "song") == (not sampled)
        if guidance is not None and "guidance_scale" in names and wanted:
            values["guidance_scale"] = guidance
        if values:
            parts[part] = values
    if pick.get("task") is not None:
        parts["edit"] = {n: pick[n] for n in _EDIT if pick.get(n) is not None}
    elif any(pick.get(n) is not None for n in _EDIT):
        raise ValueError("edit fields need a task")
    adapter, scale = flat.pop("adapter", None), flat.pop("adapter_scale", None)
    if adapter is not None:  # stored flat: the adapter's name and its scale
        parts["adapter"] = {"name": adapter, **({} if scale is None else {"scale": scale})}
    top = {n: flat.pop(n) for n in ("prompt", "duration", "seed") if n in flat}
    if request is None:
        for name in ("duration", "seed"):
            if top.get(name) is None:
                raise ValueError(f"{name} is required")
        request = {"prompts": (top.get("prompt") or "",), "duration": top["duration"],
                   "seed": top["seed"]}  # fmt: skip
    request = {**request, **parts}
    output.update({n: flat.pop(n) for n in _OUTPUT if flat.get(n) is not None})
    for n in _OUTPUT:
        flat.pop(n, None)
    return {**flat, "request": request, "output": output}


class Rework(BaseModel):
    """An extend or a section replacement of a source song (``MusicGenerator.extend`` /
    ``replace_section``): ``source`` (a server file), ``section`` (replace: a name or index of
    the spec's ``plan``), ``added`` (extend by a prompt: the seconds added; by a plan: None)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Literal["extend", "replace"]
    source: str
    section: int | str | None = None
    added: float | None = None


class JobSpec(BaseModel):
    """A validated job, as the backend runs it: the typed ``request`` and ``output`` (parts and
    fields ``None``: the model's own default). The flat names of the stored form (``prompt``,
    ``duration``, ``temperature``, ``lyrics``, ``melody``, ``task`` ...) read the part that
    holds them, and build one: ``JobSpec(model=..., prompt=..., duration=..., seed=...)``."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(_Flat,))

    model: str
    request: Request
    output: Output = Output()
    # the uploads / job the input files came from (what a client is shown instead of a path)
    reference_upload_id: str | None = None
    melody_upload_id: str | None = None
    continuation_upload_id: str | None = None
    source_upload_id: str | None = None
    source_job_id: str | None = None
    # multitrack
    instruments: dict[str, str] | None = None
    mix_settings: dict[str, Any] | None = None
    # a seamless loop of ``bars`` bars at ``bpm`` (models with the "loop" capability); the
    # request's duration is the loop's length
    loop: LoopSpec | None = None
    # a composition plan (``music_gen.composition``, checked, our JSON shape): the piece
    # section by section; the request's duration is the plan's
    plan: dict[str, Any] | None = None
    # an extend or a section replacement of a source (stored flat: its source as ``source``)
    rework: Rework | None = None

    prompt = _Flat(None)
    duration = _Flat(None)
    seed = _Flat(None)
    temperature = _Flat("sampling")
    top_k = _Flat("sampling")
    top_p = _Flat("sampling")
    melody = _Flat("conditioning")
    continuation = _Flat("conditioning")
    lyrics = _Flat("song")
    steps = _Flat("song")
    bpm = _Flat("song")
    key = _Flat("song")
    time_signature = _Flat("song")
    vocal_language = _Flat("song")
    reference = _Flat("song")
    negative_prompt = _Flat("song")
    task = _Flat("edit")
    start = _Flat("edit")
    end = _Flat("edit")
    strength = _Flat("edit")
    track = _Flat("edit")
    tracks = _Flat("edit")
    format = _Flat("output")
    sample_rate = _Flat("output")

    @model_validator(mode="before")
    @classmethod
    def _typed(cls, data: Any) -> Any:
        return _fold(data) if isinstance(data, dict) else data

    @property
    def source(self) -> Any:
        """The source audio of an edit or a rework (a server file)."""
        if self.rework is not None:
            return self.rework.source
        return None if self.request.edit is None else self.request.edit.source

    @property
    def guidance_scale(self) -> float | None:
        part = self.request.sampling or self.request.song
        return None if part is None else part.guidance_scale

    def flat(self) -> dict[str, Any]:
        """Every field by its flat name (``None`` where not set)."""
        r = self.request
        out: dict[str, Any] = {"model": self.model, "prompt": r.prompt, "duration": r.duration,
                               "seed": r.seed}  # fmt: skip
        for part in (r.sampling, r.song, r.conditioning, r.edit):
            if part is not None:
                out.update({f.name: getattr(part, f.name) for f in fields(part)})
        if r.adapter is not None:
            out.update(adapter=r.adapter.name, adapter_scale=r.adapter.scale)
        out.update(format=self.output.format, sample_rate=self.output.sample_rate)
        out.update({n: getattr(self, n) for n in _ORIGINS})
        out.update(instruments=self.instruments, mix_settings=self.mix_settings, plan=self.plan)
        if self.rework is not None:  # its source where every input file is: at the top
            out.update(rework=self.rework.model_dump(exclude={"source"}), source=self.source)
        if self.loop is not None:  # flat, as the caller asked for it
            out.update(loop=True, **asdict(self.loop))
        if isinstance(out.get("tracks"), tuple):
            out["tracks"] = list(out["tracks"])
        return out

    def stored(self) -> dict[str, Any]:
        """The JSON stored with the job (``jobs.params``): the flat form, as ever."""
        return {k: v for k, v in self.flat().items() if v is not None}

    @classmethod
    def from_stored(cls, params: dict[str, Any], model: str) -> JobSpec:
        """A stored spec loaded back (``model`` from its column where the JSON lacks it)."""
        return cls.model_validate({"model": model, **params})

    def sampling(self) -> dict[str, Any]:
        return self._given(SAMPLING)

    def conditioning(self) -> dict[str, Any]:
        """MusicGen's audio conditioning: the tune to follow, the audio to continue."""
        return self._given(("melody", "continuation"))

    def song(self) -> dict[str, Any]:
        return self._given(SONG)

    def edit(self) -> dict[str, Any]:
        return self._given(EDIT)

    def loop_options(self) -> dict[str, Any]:
        """``generate``'s loop arguments (empty for a job that is not a loop)."""
        if self.loop is None:
            return {}
        return {"loop": True, **asdict(self.loop)}

    def input_files(self) -> list[str]:
        """The server files this job reads (deleted when it ends, where they are scratch)."""
        return [v for v in (getattr(self, name) for name in INPUT_FILES) if v]

    def _given(self, names: tuple[str, ...]) -> dict[str, Any]:
        flat = self.flat()
        values = {name: flat.get(name) for name in names}
        return {k: v for k, v in values.items() if v is not None}


class JobRequest(BaseModel):
    """What a caller asks for, before validation: every route and adapter builds one."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="What the music should sound like.")
    duration: float = Field(default=DEFAULT_DURATION, description="Seconds of audio.")
    temperature: float = Sampling.temperature
    top_k: int = Sampling.top_k
    top_p: float = Sampling.top_p
    seed: int | None = Field(
        default=None, description="Same seed, same audio. Omitted: a random one."
    )
    guidance_scale: float | None = Field(
        default=None,
        description="Classifier-free guidance; default: MusicGen 3, diffusion models the "
        "model's own.",
    )
    negative_prompt: str | None = Field(
        default=None,
        description="What to steer away from (models with the negative_prompt capability; "
        "needs guidance on).",
    )
    model: str | None = Field(
        default=None, description="A model from GET /models; default: the server's."
    )
    format: AudioFormat = "wav"
    sample_rate: int | None = Field(default=None, description="Resample the result (Hz).")
    webhook_url: str | None = Field(
        default=None, description="POSTed a signed event when the job ends."
    )
    track_id: str | None = Field(default=None, max_length=200, description="Echoed in the webhook.")
    # models with the "plan" capability (GET /models): the piece section by section
    plan: dict[str, Any] | None = Field(
        default=None,
        description="A composition plan (POST /plans; ours or ElevenLabs' composition_plan): "
        "its sections set the duration; the prompt is one more global style.",
    )
    # LoRA adapters: models with the "adapter" capability (GET /models, GET /adapters)
    adapter: str | None = Field(
        default=None,
        max_length=100,
        description="A LoRA adapter from GET /api/v1/adapters (yours or a shared one), for "
        "this request only; one trained for another base model is refused.",
    )
    adapter_scale: float | None = Field(
        default=None,
        description="The adapter's strength, 0 < adapter_scale <= 2 (default 1: as trained).",
    )
    # songs: models with the "lyrics" capability (GET /models)
    lyrics: str | None = Field(default=None, description="Sung lyrics, [verse]/[chorus] tagged.")
    bpm: float | None = Field(
        default=None, description=f"Tempo, {Song.MIN_BPM}..{Song.MAX_BPM} (songs)."
    )
    key: str | None = Field(default=None, max_length=40, description="e.g. 'A minor' (songs).")
    time_signature: str | None = Field(default=None, max_length=8, description="2/4 .. 6/8.")
    vocal_language: str | None = Field(default=None, max_length=16, description="e.g. 'en'.")
    steps: int | None = Field(
        default=None, description="Denoising steps (models with the steps capability)."
    )
    # loops: models with the "loop" capability (GET /models)
    loop: bool = Field(
        default=False,
        description="A seamless loop of exactly bars × beats_per_bar × 60 / bpm seconds (needs "
        "bpm and bars; duration is ignored). WAV results carry smpl/acid loop chunks.",
    )
    bars: int | None = Field(default=None, description="The loop's length in bars (1..64).")
    beats_per_bar: int | None = Field(default=None, description="Beats in a bar (default 4).")
    reference_upload_id: str | None = Field(
        default=None, max_length=64, description="A reference voice/style from POST /uploads."
    )
    reference_url: str | None = Field(
        default=None, max_length=2000, description="A reference voice/style to fetch (http[s])."
    )
    # MusicGen: models with the "melody" / "continuation" capability (GET /models)
    melody_upload_id: str | None = Field(
        default=None, max_length=64, description="A tune to follow (POST /uploads)."
    )
    continuation_upload_id: str | None = Field(
        default=None,
        max_length=64,
        description="Audio the result starts with and continues (POST /uploads); shorter "
        "than duration.",
    )
