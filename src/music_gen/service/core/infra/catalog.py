"""The models this server serves, and what each can do.

``ModelCatalog`` knows the configured names (the default model, the extra ones, the song model,
and the composer, which runs anywhere), resolves what a client asks for to one of them, and
holds each one's ``ModelCard`` (family and capabilities, read from the model's own files with
no weights loaded). Request validation asks the card for capabilities, never a model's name.
"""

from __future__ import annotations

from ....errors import LicenseRefused, UnknownModel
from ....families import ModelCard, MusicFamily, family_named, inspect_model
from ....families.base import Capability
from ....families.licenses import allows_commercial
from .settings import Settings

__all__ = ["TEST_TONE_CARD", "ModelCatalog"]

TEST_TONE_CARD = ModelCard(
    "test-tone", "test-tone", frozenset({Capability.TEXT, Capability.STREAM}), 32000, 1, 3600.0,
    size="0", license="mit", downloads=False,
)  # fmt: skip


class ModelCatalog:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cards: dict[str, ModelCard] = {}

    @property
    def default(self) -> str:
        return self.settings.model or "composer"  # resolved by ServiceState.build

    def names(self) -> list[str]:
        """The default model first, then the extra ones, the song model and the composer."""
        s = self.settings
        if s.engine == "test-tone":
            return ["test-tone"]
        extra = [m for m in [*s.models, s.song_model, "composer"] if m and m != self.default]
        return [self.default, *dict.fromkeys(extra)]

    def resolve(self, requested: str | None) -> str:
        """The served model ``requested`` names (None: the default); LICENSE_NOT_COMMERCIAL on
        a commercial-only server for a model whose licence forbids it."""
        if not requested:
            return self.check_license(self.names()[0])
        for name in self.names():
            short = name.removeprefix("facebook/")
            if requested in (name, short, f"facebook/{requested}"):
                return self.check_license(name)
        raise UnknownModel(
            f"model {requested!r} is not served here; GET /api/v1/models lists the ones that are",
            details={"model": requested, "available": self.names()},
        )

    def check_license(self, name: str) -> str:
        """``name``, unless this server is commercial-only and ``name``'s weights' licence
        forbids commercial use."""
        if self.settings.commercial_only and name != "test-tone":
            licence = self.card(name).license
            if allows_commercial(licence) is False:
                raise LicenseRefused(
                    f"model {name!r} is licensed {licence}, which forbids commercial use; this "
                    "server is commercial-only (MUSIC_GEN_COMMERCIAL_ONLY=true)",
                    details={"model": name, "license": licence},
                )
        return name

    def card(self, name: str) -> ModelCard:
        """``name``'s card, read once from its files."""
        if name == "test-tone":
            return TEST_TONE_CARD
        if name not in self._cards:
            self._cards[name] = inspect_model(name, self.settings.cache_dir)
        return self._cards[name]

    def family(self, name: str) -> type[MusicFamily]:
        """The family that builds and validates ``name``'s requests (its card's; the test
        tone, which no family runs, is checked as the base class checks a sampled model)."""
        if name == "test-tone":
            return MusicFamily
        return family_named(self.card(name).family)

    def needs_weights(self, name: str) -> bool:
        """Whether ``name`` runs on downloaded weights (its card says when it has none)."""
        return self.card(name).downloads

    def song_model(self) -> str | None:
        """The model that sings: the configured song model, else the first served model with
        the lyrics capability."""
        if self.settings.song_model:
            return self.settings.song_model
        for name in self.names():
            if self.card(name).can(Capability.LYRICS):
                return name
        return None
