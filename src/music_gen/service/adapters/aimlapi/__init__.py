"""The AI/ML API adapter (seed 003), music-01: reference uploads, then generation conditioned on
them. ``adapter()`` is what ``service/app.py`` wires in. ``routes``: the endpoints;
``schemas``: bodies and ``base_resp``; ``references``: uploads stored and looked up; ``music``:
generation and its answer; ``tables``: ``aimlapi_reference_tracks`` (its own migration). No
settings of its own.

- ``POST /v2/generate/audio/minimax/upload`` (multipart ``file`` + ``purpose``):
  ``song`` → separated into vocals and accompaniment (``voice_id`` + ``instrumental_id``),
  ``voice`` → ``voice_id``, ``instrumental`` → ``instrumental_id``. The file must be WAV
  or MP3 by its real container (its bytes and what it decodes as, whatever its name says) and
  last 10 s … 10 min; references are stored as FLAC and count toward the storage quota.
  Separation: a neural separator when one is installed (none is, here), else REPET-SIM
  (``audio.separate``), named in ``separation``. References are per account:
  ``GET …/minimax/references`` lists them, ``DELETE …/minimax/references/{id}`` deletes one.
- ``POST /v2/generate/audio/minimax/generate`` ``{model: "music-01", lyrics, refer_voice,
  refer_instrumental, audio_setting: {sample_rate, bitrate, format}}`` (+ our optional
  ``prompt`` and ``duration``, default 30 s) → ``{id, generation_id, status, base_resp}``;
  ``GET`` (or ``POST``) ``…/minimax/generate?generation_id=`` → ``{id, generation_id, status,
  data: {status, audio (hex)}, extra_info: {audio_length (ms), audio_size, audio_bitrate,
  audio_sample_rate}, trace_id, base_resp}``; ``data.status`` 1 = in progress, 2 = done, 3 =
  failed; the top-level ``status`` (``queued`` → ``generating`` → ``completed`` | ``error``) is
  what the AI/ML API SDK's generic polling helper reads.
- ``refer_instrumental`` conditions the music: chroma for melody checkpoints, continuation for
  text-only ones, and for the composer (the default where no weights are cached) the reference's
  tempo and key as words in its prompt, so the composer's music follows them.
  Lyrics are sung when the server has a song model (``MUSIC_GEN_SONG_MODEL``, or a served model
  with the ``lyrics`` capability): the job runs on it with the lyrics (``##…##`` accompaniment
  becomes an ``[instrumental]`` section) and the references as its reference audio (voice,
  instrumental, or both mixed back into one song); with a song model references are optional,
  and one without the ``reference_audio`` capability (MiniMax Music 3) refuses a request that
  carries one (2013, UNSUPPORTED_FEATURE naming the capability). Without one, lyrics that must
  be sung fail
  with base_resp 2060 and a message saying so (``VocalEngine`` is the interface for another
  singing engine; ``##…##`` markers and blank lines need no voice).

base_resp codes: 0 success, 1004 authentication, 2013 invalid parameters, 2060 no vocal
engine, 1000 other (message says why); HTTP status 200 except for authentication (401).
"""

from __future__ import annotations

from ..common import VendorAdapter, migrations_dir
from .references import stored_bytes
from .routes import NAME, router

__all__ = ["adapter"]


def adapter() -> VendorAdapter:
    """AI/ML API music-01 (no settings of its own)."""
    return VendorAdapter(
        name=NAME,
        router=router,
        migrations=migrations_dir(__file__, NAME),
        storage_usage=stored_bytes,  # its references count toward the storage quota
    )
