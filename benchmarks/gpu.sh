#!/usr/bin/env bash
# The GPU run (issue 24), meant to take under 8 minutes on one GPU (never yet run on one):
#   1. the CUDA tests (tests/engine/test_cuda.py);
#   2. MusicGen small, medium and large, 30 s at batch 1, against transformers' `generate` in
#      the same process (benchmarks/bench_engine.py), with the time to the first streamed chunk;
#   3. throughput at batch 16 and 64 (musicgen-small, 30 s) in audio seconds per GPU second;
#   4. ACE-Step turbo and XL-turbo, 60 s songs, against the plain diffusers pipeline
#      (benchmarks/bench_songs.py);
#   5. one table of all of it (benchmarks/gpu_table.py) in OUT/gpu-table.md.
# Random weights of the real architectures, built from configs in code: no download.
#
#   bash benchmarks/gpu.sh                  # on the GPU machine, from the repository root
#   bash benchmarks/gpu.sh --dry-run        # list every step and its command, time nothing
#   bash benchmarks/gpu.sh --smoke          # every step on the CPU with tiny models (a check)
#   options: --out DIR (default gpu-results), --device DEV (default cuda)
set -euo pipefail

DRY=0
SMOKE=0
OUT=gpu-results
DEVICE=cuda
PYTHON=${PYTHON:-python}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --smoke) SMOKE=1; DEVICE=cpu ;;
    --out) OUT=$2; shift ;;
    --device) DEVICE=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

RESULTS="$OUT/results.jsonl"
WORK="$OUT/checkpoints"  # the random checkpoints, kept between runs
if [ "$SMOKE" = 1 ]; then  # the same steps, tiny: the scripts work end to end (no timing worth keeping)
  MUSICGEN=(tiny tiny tiny); SONGS=(tiny tiny); CLIP=0.5; SONG=2; BATCHES=(2 3); REPEATS=1; STEPS=1
else
  MUSICGEN=(small medium large); SONGS=(turbo xl-turbo); CLIP=30; SONG=60; BATCHES=(16 64)
  REPEATS=2; STEPS=8
fi

N=0
FAILED=()
# step NAME COMMAND...: listed with --dry-run, else run (a failed step is reported, the rest run)
step() {
  local name=$1
  shift
  N=$((N + 1))
  if [ "$DRY" = 1 ]; then
    printf 'step %d: %s: ' "$N" "$name"
    printf '%q ' "$@"
    printf '\n'
    return 0
  fi
  echo "=== step $N: $name ($(date -u +%H:%M:%S))"
  local started=$SECONDS
  if "$@"; then
    echo "=== step $N done in $((SECONDS - started)) s"
  else
    echo "=== step $N FAILED after $((SECONDS - started)) s" >&2
    FAILED+=("$N: $name")
  fi
}

if [ "$DRY" = 0 ]; then
  mkdir -p "$OUT" "$WORK"
  : >"$RESULTS"
  "$PYTHON" - <<'EOF' | tee "$OUT/machine.txt"
import platform, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"{platform.node()}: {gpu}; torch {torch.__version__}, CUDA {torch.version.cuda}")
EOF
fi

step "CUDA tests" \
  "$PYTHON" -m pytest -q tests/engine/test_cuda.py

labels=(small medium large)
for i in 0 1 2; do
  step "musicgen-${labels[$i]} ${CLIP} s, batch 1, vs transformers generate, first streamed chunk" \
    "$PYTHON" benchmarks/bench_engine.py --device "$DEVICE" --arch "${MUSICGEN[$i]}" \
    --seconds "$CLIP" --repeats "$REPEATS" --configs transformers,fp32,bf16 --stream bf16 \
    --workdir "$WORK" --json "$RESULTS"
done

for batch in "${BATCHES[@]}"; do
  step "musicgen-small ${CLIP} s, throughput at batch $batch (audio s per GPU s)" \
    "$PYTHON" benchmarks/bench_engine.py --device "$DEVICE" --arch "${MUSICGEN[0]}" \
    --seconds "$CLIP" --repeats 1 --configs bf16 --batch "$batch" \
    --workdir "$WORK" --json "$RESULTS"
done

labels=(turbo xl-turbo)
for i in 0 1; do
  step "ACE-Step ${labels[$i]} ${SONG} s song vs the plain diffusers pipeline" \
    "$PYTHON" benchmarks/bench_songs.py --device "$DEVICE" --arch "${SONGS[$i]}" \
    --dtype bfloat16 --seconds "$SONG" --steps "$STEPS" --repeats "$REPEATS" --baseline \
    --json "$RESULTS"
done

step "one table" \
  "$PYTHON" benchmarks/gpu_table.py "$RESULTS" --out "$OUT/gpu-table.md"

if [ "$DRY" = 0 ]; then
  if [ "$SMOKE" = 0 ]; then cat "$OUT/gpu-table.md"; fi
  if [ ${#FAILED[@]} -gt 0 ]; then
    printf 'failed step %s\n' "${FAILED[@]}" >&2
    exit 1
  fi
fi
