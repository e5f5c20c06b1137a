"""What every model family is: ``MusicFamily``, the base class, and what it can do.

A *family* is one kind of model behind ``MusicGenerator``: MusicGen checkpoints
(``families.musicgen``), the offline composer (``families.composer``), ACE-Step song pipelines
(``families.acestep``), or one from another installed package (entry-point group
``music_gen.families``, see ``families.registry``). Callers (the facade, the CLI, the service,
``MultiInstrumentGenerator``) ask a family's ``capabilities``, never its name.

Like audiocraft's ``BaseGenModel``, the base class holds the shared paths, concrete:
``generate`` / ``generate_batch`` / ``generate_stream`` / ``edit`` take keyword arguments,
build one typed ``params.Request``, validate it once (``check_inputs``) and hand it to the
model-specific step, ``_generate`` (abstract) or ``_edit``; streaming a whole output in chunks
and the facts about the model (rate, channels, limits) are shared too. At class level a family
says which checkpoints it takes (``claims``: a ``model_index.json`` ``_class_name``, a
``config.json`` ``model_type`` or a name), gives its ``ModelCard`` without loading weights
(``inspect``) and loads (``load``).

``ModelCard`` is what can be known of a model without loading its weights: enough to list it
and to validate a request for it (``check_request``, which the service calls).
"""

from __future__ import annotations

import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..audio import AudioOutput
from ..composition import CompositionPlan
from ..errors import InvalidInput, UnsupportedFeature
from ..params import DEFAULT_DURATION, Edit, Request
from .plans import chain, extend_audio, plan_metadata, replace_in
from .runner import Runner, WholeRunner

if TYPE_CHECKING:  # no torch, no composer engine at import time
    import torch

    from ..compose.plan import MusicPlan

__all__ = [
    "ADAPTER_OPTIONS",
    "FEATURE_CAPABILITIES",
    "Cancelled",
    "Capability",
    "CheckpointFiles",
    "GeneratorFamily",
    "ModelCard",
    "MusicFamily",
    "Progress",
    "require",
    "unsupported",
]

#: load options of a family that takes a LoRA adapter (``music_gen.train``), with their defaults:
#: the adapter folder (or name) merged at load and its strength (``families.adapters``)
ADAPTER_OPTIONS: Mapping[str, Any] = {"adapter": None, "adapter_scale": 1.0}

#: ``progress(steps_done, steps_total)``, called as a generation goes
Progress = Callable[[int, int], None]
#: ``cancelled()`` is True when the caller wants the generation stopped (between steps)
Cancelled = Callable[[], bool]


class Capability(StrEnum):
    TEXT = "text"  # a text prompt
    SAMPLING = "sampling"  # temperature / top_k / top_p change the output
    MELODY = "melody"  # conditioning on a melody's chroma
    CONTINUATION = "continuation"  # continue an audio prompt
    STEREO = "stereo"
    LYRICS = "lyrics"  # sung lyrics
    BPM = "bpm"
    KEY = "key"
    TIME_SIGNATURE = "time_signature"
    LANGUAGE = "language"  # the lyrics' language
    REFERENCE_AUDIO = "reference_audio"  # a reference voice / style
    EDIT = "edit"  # repaint, cover, extract, lego, complete of an input song
    STEMS = "stems"  # separate parts (composer stems, ACE-Step extract)
    MIDI = "midi"
    MULTITRACK = "multitrack"  # MultiInstrumentGenerator
    STREAM = "stream"  # generate_stream yields audio while it is made
    BATCH = "batch"  # generate_batch decodes several prompts together
    LOOP = "loop"  # instrumental audio cut into seamless loops (generate(loop=True, bpm, bars))
    PLAN = "plan"  # generate(plan=CompositionPlan), section by section
    ADAPTER = "adapter"  # a LoRA adapter per request (``params.Adapter``; ADAPTER_OPTIONS at load)
    NEGATIVE_PROMPT = "negative_prompt"  # what to steer away from (classifier-free guidance)
    STEPS = "steps"  # the number of denoising steps (diffusion models)
    GUIDANCE = "guidance"  # guidance_scale changes the output


#: keyword argument of ``generate`` -> the capability it needs
FEATURE_CAPABILITIES: Mapping[str, Capability] = {
    "melody": Capability.MELODY,
    "continuation": Capability.CONTINUATION,
    "lyrics": Capability.LYRICS,
    "bpm": Capability.BPM,
    "key": Capability.KEY,
    "time_signature": Capability.TIME_SIGNATURE,
    "vocal_language": Capability.LANGUAGE,
    "reference": Capability.REFERENCE_AUDIO,
    "plan": Capability.PLAN,
    "negative_prompt": Capability.NEGATIVE_PROMPT,
}


@dataclass(frozen=True)
class ModelCard:
    """A model as known from its files, before (or without) loading weights."""

    name: str
    family: str  # the family's registered name: "musicgen", "composer", "acestep", ...
    capabilities: frozenset[Capability]
    sample_rate: int
    channels: int
    max_duration: float
    size: str = "unknown"
    details: dict[str, Any] = field(default_factory=dict)
    license: str = "unknown"  # the weights' licence as the checkpoint declares it (licenses.py)
    #: whether it has files to fetch (False: built in or weightless, always available)
    downloads: bool = True

    def can(self, capability: Capability | str) -> bool:
        return Capability(capability) in self.capabilities


@dataclass(frozen=True)
class CheckpointFiles:
    """What a model's files say about it: its name, and (where it has them) its diffusers
    ``model_index.json`` (or ``modular_model_index.json``) and transformers ``config.json``,
    read, from ``path``."""

    model: str
    path: Path | None = None
    index: Mapping[str, Any] | None = None
    config: Mapping[str, Any] | None = None

    @property
    def class_name(self) -> str | None:
        return None if self.index is None else self.index.get("_class_name")

    @property
    def model_type(self) -> str | None:
        return None if self.config is None else self.config.get("model_type")


def unsupported(
    model: str, family: str, feature: str, capability: Capability
) -> UnsupportedFeature:
    return UnsupportedFeature(
        f"model {model!r} ({family}) cannot take {feature!r}: it lacks the "
        f"{capability.value!r} capability",
        details={"model": model, "family": family, "capability": capability.value},
    )


def require(card: ModelCard, features: Mapping[str, Any]) -> None:
    """Raise ``UnsupportedFeature`` naming the capability for the first feature given (not
    None) that the model lacks."""
    for feature, value in features.items():
        cap = FEATURE_CAPABILITIES.get(feature)
        if cap is not None and value is not None and not card.can(cap):
            raise unsupported(card.name, card.family, feature, cap)


class MusicFamily(ABC):
    """One model family behind ``MusicGenerator``: subclass it, set the class attributes,
    implement ``inspect`` and ``_generate`` (and ``_edit`` for the ``edit`` capability)."""

    # ------------------------------------------------------------------ what the registry asks
    #: the family's name (``ModelCard.family``, GET /models' ``family``)
    name: ClassVar[str] = ""
    #: model names it takes without reading files (``"composer"``)
    names: ClassVar[tuple[str, ...]] = ()
    #: diffusers pipelines it takes (``model_index.json``'s or a modular pipeline's
    #: ``modular_model_index.json``'s ``_class_name``)
    class_names: ClassVar[tuple[str, ...]] = ()
    #: transformers checkpoints it takes (``config.json``'s ``model_type``)
    model_types: ClassVar[tuple[str, ...]] = ()
    #: the family a name no family claims goes to (its loader says what is wrong with it)
    fallback: ClassVar[bool] = False
    #: modules it needs beside the library (a clear ``MODEL_NOT_AVAILABLE`` when missing)
    packages: ClassVar[tuple[str, ...]] = ()
    #: load options beside ``max_duration``, with their defaults
    options: ClassVar[Mapping[str, Any]] = {}
    #: the optional parts of a ``Request`` it takes (``params.PARTS``)
    parts: ClassVar[tuple[str, ...]] = ("sampling",)
    #: the duration of a request that names none
    default_duration: ClassVar[float] = DEFAULT_DURATION

    card: ModelCard
    model_name: str
    load_seconds: float = 0.0

    @classmethod
    def claims(cls, files: CheckpointFiles) -> bool:
        """Whether this family runs the model ``files`` describe."""
        return (
            files.model in cls.names
            or (files.class_name is not None and files.class_name in cls.class_names)
            or (files.model_type is not None and files.model_type in cls.model_types)
        )

    @classmethod
    @abstractmethod
    def inspect(cls, files: CheckpointFiles) -> ModelCard:
        """The model's card from its files alone (no weights loaded)."""

    @classmethod
    def load(
        cls,
        model: str,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        cache_dir: str | Path | None = None,
        **options: Any,
    ) -> MusicFamily:
        """The model, loaded (``options``: ``max_duration`` and the family's ``options``)."""
        return cls(model, device, dtype, cache_dir, **options)  # type: ignore[call-arg]

    @classmethod
    def check_request(cls, card: ModelCard, request: Request) -> Request:
        """``request`` validated for the model ``card`` describes, from the card alone (no
        weights: the service validates jobs with this): every value checked once, features
        the model lacks refused naming the capability. Returns it normalised."""
        require(card, request.features())
        if request.adapter is not None and not card.can(Capability.ADAPTER):
            raise unsupported(card.name, card.family, "adapter", Capability.ADAPTER)
        if request.edit is not None and not card.can(Capability.EDIT):
            raise unsupported(card.name, card.family, f"edit:{request.edit.task}", Capability.EDIT)
        given = [p for p in ("sampling", "conditioning", "song")
                 if getattr(request, p) is not None and p not in cls.parts]  # fmt: skip
        if given:
            raise UnsupportedFeature(
                f"{given[0]} parameters do not apply to {card.name} ({card.family})",
                details={"model": card.name, "family": card.family, "part": given[0]},
            )
        return request.checked(card.max_duration, cls.default_duration)

    # ------------------------------------------------------------------ facts
    @property
    def family(self) -> str:
        return self.card.family

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.card.capabilities

    def can(self, capability: Capability | str) -> bool:
        return self.card.can(capability)

    @property
    def sample_rate(self) -> int:
        return self.card.sample_rate

    @property
    def channels(self) -> int:
        return self.card.channels

    @property
    def max_duration(self) -> float:
        return self.card.max_duration

    @property
    def device(self) -> Any:
        """Where the model runs (``"cpu"`` for families with no weights)."""
        return "cpu"

    @property
    def frame_seconds(self) -> float:
        """The model's time grid: plan boundaries fall on it (a codec frame; else a sample)."""
        return 1.0 / self.sample_rate

    @property
    def context_seconds(self) -> float:
        """How much audio before a section a continuing family is prompted with."""
        return 0.0

    def __repr__(self) -> str:
        return f"MusicGenerator(model={self.model_name!r}, family={self.family!r})"

    # ------------------------------------------------------------------ requests
    def takes(self, keyword: str) -> bool:
        """Whether ``generate`` takes ``keyword`` for this model."""
        if keyword in ("duration", "seed", "progress", "cancelled"):
            return True
        if keyword == "plan":
            return self.can(Capability.PLAN)
        try:
            Request.from_keywords(["x"], self.parts, self.family, **{keyword: None})
        except (TypeError, UnsupportedFeature):
            return False
        return True

    def request(self, prompts: Sequence[str], **params: Any) -> Request:
        """The typed request ``generate_batch(prompts, **params)`` makes (not validated)."""
        return self.build_request(self.card, prompts, **params)

    @classmethod
    def build_request(cls, card: ModelCard, prompts: Sequence[str], **params: Any) -> Request:
        """The typed request of keyword arguments for the model ``card`` describes (not
        validated): a keyword only other families take is refused, naming the capability
        where one stands for it."""
        try:
            return Request.from_keywords(prompts, cls.parts, card.family, **params)
        except UnsupportedFeature as exc:
            option = str(exc.details.get("option"))
            cap = FEATURE_CAPABILITIES.get(option)
            if cap is not None and not card.can(cap):
                raise unsupported(card.name, card.family, option, cap) from None
            raise

    def check_inputs(self, request: Request) -> Request:
        """``request`` validated for this model: the card's checks (``check_request``) and
        those that need the loaded model (``check_loaded``)."""
        return self.check_loaded(self.check_request(self.card, request))

    def check_loaded(self, request: Request) -> Request:
        """Checks that need the loaded model (a tokenizer's length limit, say), on a request
        ``check_request`` passed already: the service's jobs run through this only."""
        return request

    # ------------------------------------------------------------------ the shared paths
    def generate(
        self,
        prompt: str = "",
        *,
        plan: Any = None,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
        **params: Any,
    ) -> AudioOutput:
        """One output for ``prompt``; ``params`` are keyword arguments (``duration``, ``seed``
        and those of the parts the family takes: ``params.Sampling``, ``Conditioning``,
        ``Song``). ``progress(steps_done, steps_total)`` is called as it goes. ``plan`` (a
        ``CompositionPlan``, its dict or JSON): the piece section by section (``generate_plan``;
        ``prompt``, if given, is one more global style)."""
        if plan is not None:
            plan = CompositionPlan.coerce(plan)
            if prompt.strip():
                plan = replace(plan, global_styles=(prompt.strip(), *plan.global_styles))
            return self.generate_plan(plan, progress=progress, cancelled=cancelled, **params)
        return self.generate_batch([prompt], progress=progress, cancelled=cancelled, **params)[0]

    def generate_plan(
        self,
        plan: Any,
        *,
        seed: int | None = None,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
        **params: Any,
    ) -> AudioOutput:
        """The piece a ``CompositionPlan`` lays out (``plan`` capability): as long as the
        plan, its ``metadata["plan"]["sections"]`` with each section's ``start``/``end``."""
        if not self.can(Capability.PLAN):
            raise unsupported(self.model_name, self.family, "plan", Capability.PLAN)
        if "duration" in params:
            raise InvalidInput("a plan sets its own duration", code="INVALID_PLAN")
        checked = CompositionPlan.coerce(plan).checked(self.max_duration)
        started = time.perf_counter()
        request = self.check_inputs(
            self.request([checked.prompt()], duration=checked.duration, seed=seed, **params)
        )
        [used] = request.seeds()
        out = self._generate_plan(checked, used, params, progress, cancelled)
        out.metadata.update(prompt=checked.prompt(), seed=used)
        return self._finish(request, [out], started)[0]

    def extend(
        self, source: Any, prompt_or_plan: Any, duration: float | None = None, *,
        seed: int | None = None, **params: Any,
    ) -> AudioOutput:  # fmt: skip
        """``source`` then ``duration`` more seconds (a prompt) or a plan's sections: the
        output starts with exactly the source's samples (at the model's rate and channels)."""
        [used] = self.request(["x"], seed=seed).seeds()
        return extend_audio(self, source, prompt_or_plan, duration, used, params)

    def replace_section(
        self, source: Any, plan: Any, section: int | str, *, seed: int | None = None,
        **params: Any,
    ) -> AudioOutput:  # fmt: skip
        """``source`` (made from ``plan``) with one section (index or name) made again with
        ``seed``; every sample outside the section stays the source's."""
        if not self.can(Capability.PLAN):
            raise unsupported(self.model_name, self.family, "plan", Capability.PLAN)
        [used] = self.request(["x"], seed=seed).seeds()
        return replace_in(self, source, plan, section, used, params)

    def generate_batch(
        self,
        prompts: Sequence[str],
        *,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
        **params: Any,
    ) -> list[AudioOutput]:
        """One output per prompt; ``seed`` may be one int (each output depends only on its
        prompt and seed, never on its batch) or one per prompt."""
        started = time.perf_counter()
        request = self.check_inputs(self.request(prompts, **params))
        return self._finish(request, self._generate(request, progress, cancelled), started)

    def run(
        self,
        request: Request,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
    ) -> list[AudioOutput]:
        """Run a request ``check_request`` validated already (a job's): one output per
        prompt."""
        started = time.perf_counter()
        request = self.check_loaded(request)
        return self._finish(request, self._generate(request, progress, cancelled), started)

    def generate_stream(
        self,
        prompt: str,
        *,
        chunk_seconds: float = 1.0,
        first_chunk_seconds: float = 0.25,
        **params: Any,
    ) -> Iterator[AudioOutput]:
        """The audio in chunks: ``first_chunk_seconds`` long first (latency), then
        ``chunk_seconds`` each; every chunk's metadata has ``chunk_index``, ``start_s`` and
        ``final``, the last one's carries the whole generation's metadata too. Families with
        the ``stream`` capability yield while they generate (or chunk a whole render); the
        others yield the whole output as one final chunk."""
        if not (first_chunk_seconds > 0 and chunk_seconds > 0):
            raise InvalidInput("chunk sizes must be > 0 seconds")
        request = self.check_inputs(self.request([prompt], **params))
        yield from self._stream(request, chunk_seconds, first_chunk_seconds)

    def stream_request(
        self, request: Request, chunk_seconds: float = 1.0, first_chunk_seconds: float = 0.25
    ) -> Iterator[AudioOutput]:
        """``generate_stream`` of a request ``check_request`` validated already."""
        yield from self._stream(self.check_loaded(request), chunk_seconds, first_chunk_seconds)

    def edit(
        self,
        task: str,
        source: Any,
        prompt: str = "",
        *,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
        **params: Any,
    ) -> AudioOutput:
        """Edit ``source`` (families with the ``edit`` capability): ``task`` is one of
        ``params.EDIT_TASKS``; ``start``, ``end``, ``strength``, ``track``, ``tracks`` are the
        edit's (``params.Edit``), the rest as for ``generate``."""
        if not self.can(Capability.EDIT):
            raise unsupported(self.model_name, self.family, f"edit:{task}", Capability.EDIT)
        edit_keys = {"start", "end", "strength", "track", "tracks"}
        own = {k: params.pop(k) for k in list(params) if k in edit_keys}
        if own.get("tracks") is not None:
            own["tracks"] = tuple(own["tracks"])
        edit = Edit(task, source, **{k: v for k, v in own.items() if v is not None})
        request = replace(self.request([prompt], **params), edit=edit)
        return self.edit_request(self.check_inputs(request), progress, cancelled)

    def edit_request(
        self,
        request: Request,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
    ) -> AudioOutput:
        """Run a validated edit request."""
        return self._edit(self.check_loaded(request), progress, cancelled)

    def _finish(
        self, request: Request, outputs: list[AudioOutput], started: float
    ) -> list[AudioOutput]:
        """What every output's metadata tells, whatever the family wrote: the model, family,
        prompt, seed, duration, sampling, and the time it took (``timings.total_s``,
        ``real_time_factor``)."""
        total = time.perf_counter() - started
        sampling = {} if request.sampling is None else asdict(request.sampling)
        for i, out in enumerate(outputs):
            meta = out.metadata
            meta.setdefault("model", self.model_name)
            meta.setdefault("family", self.family)
            meta.setdefault("prompt", request.prompts[i])
            meta.setdefault("seed", request.seeds()[i])
            meta.setdefault("duration", out.duration)
            meta.setdefault("batch_index", i)
            for key, value in sampling.items():
                meta.setdefault(key, value)
            timings = meta.setdefault("timings", {})
            timings.setdefault("total_s", total)
            meta.setdefault("real_time_factor", timings["total_s"] / max(out.duration, 1e-9))
        return outputs

    # ------------------------------------------------------------------ model-specific steps
    @abstractmethod
    def _generate(
        self, request: Request, progress: Progress | None, cancelled: Cancelled | None
    ) -> list[AudioOutput]:
        """One output per prompt of a validated request."""

    def _stream(
        self, request: Request, chunk_seconds: float, first_chunk_seconds: float
    ) -> Iterator[AudioOutput]:
        """The whole output, then chunked (``stream`` capability) or as one final chunk."""
        [whole] = self._generate(request, None, None)
        if not self.can(Capability.STREAM):
            whole.metadata.update(chunk_index=0, start_s=0.0, final=True)
            yield whole
            return
        yield from chunk_output(whole, chunk_seconds, first_chunk_seconds)

    def _edit(
        self, request: Request, progress: Progress | None, cancelled: Cancelled | None
    ) -> AudioOutput:
        raise unsupported(self.model_name, self.family, "edit", Capability.EDIT)

    def _generate_plan(
        self,
        plan: CompositionPlan,
        seed: int,
        params: Mapping[str, Any],
        progress: Progress | None,
        cancelled: Cancelled | None,
    ) -> AudioOutput:
        """A checked plan's audio; by default (families that continue audio) section by
        section, each prompted with its styles and continued from the audio before it."""
        if not self.can(Capability.CONTINUATION):
            raise unsupported(self.model_name, self.family, "plan", Capability.PLAN)
        audio, bounds, prompts = chain(self, plan, seed, params, progress, cancelled)
        honoured = {"sections": "exact (frame grid)", "styles": "approximate (text prompt)",
                    "negative_styles": "ignored", "lines": "ignored", "bpm": "approximate (text)",
                    "key": "approximate (text)"}  # fmt: skip
        meta = {"plan": plan_metadata(plan, bounds, self.sample_rate, prompts, honoured)}
        return AudioOutput(audio, self.sample_rate, meta)

    # ------------------------------------------------------------------ hooks
    def runner(self, capacity: int = 4) -> Runner:
        """What runs many requests of this model at once, holding at most ``capacity``
        (``families.runner``): by default each whole, one per step, streams beside them."""
        return WholeRunner(self, capacity)

    def batcher(self, max_requests: int = 4) -> Any:
        """A continuous batcher over the model (jobs join and leave between steps), or None
        where the family has none."""
        return None

    def score(
        self, plan: MusicPlan, mix_settings: Mapping[str, Any] | None
    ) -> tuple[dict[str, AudioOutput], AudioOutput, bytes] | None:
        """Stems arranged from one score for ``plan``, their mix and the MIDI (families that
        write scores); None: ``MultiInstrumentGenerator`` generates each stem from its
        prompt."""
        return None


#: the protocol's old name: a family is a ``MusicFamily``
GeneratorFamily = MusicFamily


def chunk_output(
    whole: AudioOutput, chunk_seconds: float, first_chunk_seconds: float
) -> Iterator[AudioOutput]:
    """``whole`` as stream chunks: ``first_chunk_seconds``, then ``chunk_seconds`` each."""
    rate = whole.sample_rate
    bounds = [0, max(1, round(first_chunk_seconds * rate))]
    while bounds[-1] < whole.num_samples:
        bounds.append(bounds[-1] + max(1, round(chunk_seconds * rate)))
    bounds[-1] = whole.num_samples
    for index, (a, b) in enumerate(itertools.pairwise(bounds)):
        final = b >= whole.num_samples
        meta: dict[str, Any] = {"chunk_index": index, "start_s": a / rate, "final": final}
        if final:
            meta.update(whole.metadata)
            meta.update(chunk_index=index, start_s=a / rate, final=True)
        yield AudioOutput(whole.samples[:, a:b], rate, meta, whole.midi if final else None)
