#!/usr/bin/env bash
# Generate $OUTPUT from $PROMPT with $MODEL. When the model's weights are neither cached nor
# downloadable (an offline machine), say so in one line and run the same pipeline on a tiny
# random checkpoint instead, so the set-up is proven end to end (that audio is noise, not music).
set -uo pipefail
: "${PROMPT:?}" "${MODEL:?}" "${DURATION:?}" "${OUTPUT:?}" "${BIN:?}"
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"$BIN/music-gen" generate "$PROMPT" --model "$MODEL" --duration "$DURATION" --output "$OUTPUT" 2> >(tee "$err" >&2)
status=$?
wait
if [ $status -ne 0 ] && grep -q "MODEL_NOT_AVAILABLE" "$err"; then
  tiny=".cache/tiny-musicgen"
  echo "notice: $MODEL is not available offline; running the pipeline on a tiny random checkpoint ($tiny) - its output is noise, not music" >&2
  [ -f "$tiny/config.json" ] || "$BIN/music-gen" models make-tiny "$tiny" >/dev/null || exit 1
  "$BIN/music-gen" generate "$PROMPT" --model "$tiny" --duration "$DURATION" --output "$OUTPUT"
  exit $?
fi
exit $status
