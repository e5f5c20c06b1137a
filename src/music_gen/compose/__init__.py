"""The composer engine (no weights): prompt → ``MusicPlan`` → parts → MIDI + audio."""

from .composer import Composer
from .plan import MusicPlan, plan_music

__all__ = ["Composer", "MusicPlan", "plan_music"]
