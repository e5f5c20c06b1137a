"""The licence of a model's weights, as the checkpoint declares it.

Read from the checkpoint's model card (the ``license:`` key of ``README.md``'s YAML front
matter, the Hugging Face convention, with ``license_name:`` for ``license: other``), else from
the licences of the published names we know, else ``"unknown"``. ``allows_commercial`` says
whether a licence allows commercial use (False for the non-commercial families of licences,
None where we cannot tell), which ``MUSIC_GEN_COMMERCIAL_ONLY`` acts on.

Known names:

- ``facebook/musicgen-*``: CC-BY-NC 4.0 (the weights; audiocraft's code is MIT).
- ACE-Step 1.5 (``ACE-Step/Ace-Step1.5``, ``ACE-Step/acestep-v15-*``): MIT, as its project's
  README declares ("This project is licensed under MIT"); ACE-Step v1 3.5B: Apache 2.0.
- MiniMax Music 3 (``MiniMaxAI/MiniMax-Music3``): the custom MiniMax-Music3 Community License
  (its repo's LICENSE): commercial use is free for companies under USD 20M of yearly revenue and
  needs MiniMax's authorisation above that, so ``allows_commercial`` cannot tell (None).
- ``composer``: no weights; our own MIT code. Its audio is rendered with a General MIDI
  SoundFont: Debian's FluidR3_GM (MIT) when installed, else the TimGM6mb bundled with
  pretty_midi (GPL-2.0), or ``$MUSIC_GEN_SOUNDFONT`` (whatever its licence is).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["KNOWN_LICENSES", "UNKNOWN", "allows_commercial", "license_of", "read_card_license"]

UNKNOWN = "unknown"
#: published names (hub ids and short names) -> their weights' licence (SPDX-style, lower case)
KNOWN_LICENSES: dict[str, str] = {
    "composer": "mit",
    "ace-step/ace-step1.5": "mit",
    "ace-step/ace-step-v1-3.5b": "apache-2.0",
    "minimaxai/minimax-music3": "minimax-music3-community-license",
}
_NAME_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(facebook/)?musicgen(-[a-z0-9-]+)?$"), "cc-by-nc-4.0"),
    (re.compile(r"^ace-step/acestep-v15-[a-z0-9-]+$"), "mit"),
)
#: licences that forbid commercial use of the weights (or of what they make)
_NON_COMMERCIAL = re.compile(r"(^|[-_.])(nc|noncommercial|non-commercial|research)([-_.]|$)")
_COMMERCIAL = frozenset(
    {"mit", "apache-2.0", "bsd-2-clause", "bsd-3-clause", "cc0-1.0", "cc-by-4.0",
     "cc-by-sa-4.0", "openrail", "openrail++", "creativeml-openrail-m", "gpl-2.0", "gpl-3.0",
     "lgpl-2.1", "lgpl-3.0", "mpl-2.0", "unlicense", "artistic-2.0", "bigscience-openrail-m"}
)  # fmt: skip


def _front_matter(text: str) -> str | None:
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            return "\n".join(lines[1:end])
    return None


def read_card_license(readme: Path) -> str | None:
    """The ``license:`` of a model card's YAML front matter (``license_name:`` when the licence
    is ``other``), lower case; None when the card declares none."""
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    header = _front_matter(text)
    if header is None:
        return None
    import yaml

    try:
        meta = yaml.safe_load(header)
    except yaml.YAMLError:
        return None
    if not isinstance(meta, dict):
        return None
    value = meta.get("license")
    if isinstance(value, list):  # several licences: list them all
        value = ", ".join(str(v) for v in value)
    if value == "other" and isinstance(meta.get("license_name"), str):
        value = meta["license_name"]
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower()


def license_of(model: str, directory: Path | None = None) -> str:
    """``model``'s weights' licence: its card's (``directory/README.md``), else a published
    name's, else ``"unknown"``."""
    if directory is not None:
        declared = read_card_license(directory / "README.md")
        if declared is not None:
            return declared
    name = model.strip().lower()
    if name in KNOWN_LICENSES:
        return KNOWN_LICENSES[name]
    for pattern, licence in _NAME_PATTERNS:
        if pattern.match(name):
            return licence
    return UNKNOWN


def allows_commercial(licence: str) -> bool | None:
    """False for a non-commercial licence (cc-by-nc-*, *-nc, research-only ...), True for the
    permissive and copyleft ones we know, None otherwise ("unknown", "other", custom names)."""
    parts = [p.strip() for p in licence.lower().split(",") if p.strip()]
    if any(_NON_COMMERCIAL.search(p) for p in parts):
        return False
    if parts and all(p in _COMMERCIAL for p in parts):
        return True
    return None
