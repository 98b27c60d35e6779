#!/usr/bin/env bash
# LeNet-5 training throughput: nntrain against PyTorch CPU on the same model, data, batch,
# optimizer and thread count, interleaved in one run (the machine is shared and noisy, so
# each repetition runs both back to back and we compare medians).
#
#   bench/lenet5.sh [repetitions=5] [train-subset=12800]
#
# Env: NNTRAIN (default .build/release/nntrain), THREADS (2), BATCH (128),
#      NNTRAIN_ARGS (extra flags for nntrain, e.g. "--workers 2 --blas-threads 1").
# Prints one line per run and a summary: median samples/s of each and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-5}
SUBSET=${2:-12800}
NNTRAIN=${NNTRAIN:-.build/release/nntrain}
THREADS=${THREADS:-2}
BATCH=${BATCH:-128}
NNTRAIN_ARGS=${NNTRAIN_ARGS:-}
[ -x "$NNTRAIN" ] || { echo "bench/lenet5.sh: $NNTRAIN not found; run: swift build -c release" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/nntrain.txt"; : > "$tmp/torch.txt"
echo "LeNet-5, batch $BATCH, SGD lr 0.05 momentum 0.9, $SUBSET training samples per run, $THREADS threads, $REPS repetitions"
for r in $(seq 1 "$REPS"); do
    # nntrain: one epoch over the subset; samples/s of the epoch (training only, evaluation excluded).
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=$THREADS "$NNTRAIN" train --model lenet5 --batch-size "$BATCH" --lr 0.05 --momentum 0.9 \
        --schedule constant --epochs 1 --train-subset "$SUBSET" --test-subset 1000 --seed "$r" \
        --metrics "$tmp/m.jsonl" --quiet $NNTRAIN_ARGS
    n=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"epoch\"" in l][0]["samples_per_second"])' "$tmp/m.jsonl")
    echo "$n" >> "$tmp/nntrain.txt"
    # PyTorch: the same epoch, after 5 untimed warm-up steps.
    t=$(python3 bench/lenet5_torch.py --threads "$THREADS" --batch-size "$BATCH" --lr 0.05 --momentum 0.9 \
        --train-subset "$SUBSET" --seed "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])')
    echo "$t" >> "$tmp/torch.txt"
    printf 'run %d: nntrain %8.1f samples/s   pytorch %8.1f samples/s\n' "$r" "$n" "$t"
done
python3 - "$tmp/nntrain.txt" "$tmp/torch.txt" <<'PY'
import statistics, sys
n = [float(x) for x in open(sys.argv[1])]
t = [float(x) for x in open(sys.argv[2])]
mn, mt = statistics.median(n), statistics.median(t)
print(f"median: nntrain {mn:.1f} samples/s, pytorch {mt:.1f} samples/s, ratio nntrain/pytorch {mn / mt:.2f}x")
print(f"per-run ratios: {', '.join(f'{a / b:.2f}' for a, b in zip(n, t))}")
PY
