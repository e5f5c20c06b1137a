#!/usr/bin/env bash
# Generate $OUTPUT from $PROMPT. With no $MODEL the CLI uses facebook/musicgen-small and, when
# its weights are neither cached nor downloadable (an offline machine), says so in one line and
# makes the music with the offline composer engine instead. A $MODEL named here never falls back.
set -euo pipefail
: "${PROMPT:?}" "${DURATION:?}" "${OUTPUT:?}" "${BIN:?}"
args=(generate "$PROMPT" --duration "$DURATION" --output "$OUTPUT")
if [ -n "${MODEL:-}" ]; then
  args+=(--model "$MODEL")
fi
if [ -n "${MIDI:-}" ]; then
  args+=(--midi "$MIDI")
fi
exec "$BIN/music-gen" "${args[@]}"
