"""Loop chunks in WAV files: ``smpl`` (where the loop is) and ``acid`` (its tempo and beats).

soundfile writes the RIFF/WAVE file; ``add_loop_chunks`` appends two chunks to it and fixes the
RIFF size. DAWs that read them (Ableton Live, FL Studio, Reaper, Acid) treat the file as a loop
at its tempo instead of a one-shot to be warped by guesswork.

- ``smpl`` (the Microsoft/IBM RIFF sampler chunk): manufacturer, product, sample period (ns),
  MIDI unity note, pitch fraction, SMPTE format and offset, loop count, sampler data, then per
  loop: cue id, type (0: forward), start and end (sample frames, end inclusive), fraction,
  play count (0: forever). 36 + 24 bytes, all little-endian uint32.
- ``acid`` (Sonic Foundry ACID, 24 bytes, as libsndfile reads it): uint32 flags (0x01 one-shot,
  0x02 root note set, 0x04 stretch, 0x08 disk based, 0x10 high octave), uint16 root note,
  uint16 (0x8000), float32 (0), uint32 beats, uint16 meter denominator, uint16 meter
  numerator, float32 tempo in BPM.
"""

from __future__ import annotations

import struct

__all__ = ["ACID_ROOT_NOTE_SET", "ACID_STRETCH", "acid_chunk", "add_loop_chunks", "smpl_chunk"]

ACID_ONE_SHOT = 0x01
ACID_ROOT_NOTE_SET = 0x02
ACID_STRETCH = 0x04
MIDDLE_C = 60


def _chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def smpl_chunk(num_frames: int, sample_rate: int, root_note: int = MIDDLE_C) -> bytes:
    """One forward loop over every frame of the file, played forever."""
    period_ns = round(1e9 / sample_rate)
    header = struct.pack("<9I", 0, 0, period_ns, root_note, 0, 0, 0, 1, 0)
    loop = struct.pack("<6I", 0, 0, 0, max(0, num_frames - 1), 0, 0)
    return _chunk(b"smpl", header + loop)


def acid_chunk(
    beats: int, bpm: float, meter: tuple[int, int] = (4, 4), root_note: int = MIDDLE_C
) -> bytes:
    """A stretchable loop (not a one-shot) of ``beats`` beats at ``bpm``, in ``meter``
    (numerator, denominator)."""
    flags = ACID_ROOT_NOTE_SET | ACID_STRETCH
    numerator, denominator = meter
    body = struct.pack(
        "<IHHfIHHf", flags, root_note, 0x8000, 0.0, beats, denominator, numerator, bpm
    )
    return _chunk(b"acid", body)


def add_loop_chunks(
    wav: bytes,
    *,
    num_frames: int,
    sample_rate: int,
    beats: int,
    bpm: float,
    meter: tuple[int, int] = (4, 4),
) -> bytes:
    """``wav`` (a RIFF/WAVE file) with ``smpl`` and ``acid`` chunks appended; the RIFF size is
    fixed. Files that are not plain RIFF/WAVE (RF64) come back unchanged."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        return wav
    body = wav + (b"\0" if len(wav) % 2 else b"")  # chunks start on even offsets
    body += smpl_chunk(num_frames, sample_rate) + acid_chunk(beats, bpm, meter)
    return body[:4] + struct.pack("<I", len(body) - 8) + body[8:]
