#!/usr/bin/env bash
# One node, two builds of nntrain: does a change cost single-node speed?
#   bench/onenode_regression.sh OLD_BINARY NEW_BINARY [REPS] [SUBSET]
# Runs the default MLP (batch 256, constant lr) in three layouts — one process with 2 BLAS
# threads, --workers 2, mpirun -np 2 — each build in turn, interleaved, REPS times (default 5),
# and prints every run's samples/s (the last epoch's; the first is warm-up), then medians and
# NEW/OLD ratios. Release builds: e.g. `git worktree add /tmp/old <commit> && (cd /tmp/old &&
# swift build -c release)`.
set -uo pipefail
OLD=${1:?old binary}; NEW=${2:?new binary}; REPS=${3:-5}; SUBSET=${4:-12800}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
args="--train-subset $SUBSET --test-subset 1000 --epochs 3 --eval-every 0 --batch-size 256 --schedule constant --quiet"
sps() { python3 -c "import json,sys; v=[json.loads(l) for l in open(sys.argv[1])]; v=[x['samples_per_second'] for x in v if x.get('event')=='epoch']; print(round(v[-1]) if v else 0)" "$1" 2>/dev/null || echo 0; }
run() {  # $1 binary, $2 layout
    rm -f "$tmp/m.jsonl"
    case $2 in
        single) "$1" train $args --blas-threads 2 --metrics "$tmp/m.jsonl" ;;
        workers2) "$1" train $args --workers 2 --metrics "$tmp/m.jsonl" ;;
        mpirun2) mpirun --oversubscribe --bind-to none -np 2 "$1" train $args --metrics "$tmp/m.jsonl" ;;
    esac >/dev/null 2>&1
    sps "$tmp/m.jsonl"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A all
for rep in $(seq 1 "$REPS"); do
    for layout in single workers2 mpirun2; do
        for who in old new; do
            b=$OLD; [ $who = new ] && b=$NEW
            v=$(run "$b" $layout)
            echo "$layout $who $rep $v"
            all[$layout.$who]+="$v "
        done
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for layout in single workers2 mpirun2; do
    python3 - "$layout" ${all[$layout.old]} -- ${all[$layout.new]} <<'PY'
import sys, statistics
name = sys.argv[1]; rest = sys.argv[2:]; i = rest.index("--")
old = [float(x) for x in rest[:i]]; new = [float(x) for x in rest[i+1:]]
mo, mn = statistics.median(old), statistics.median(new)
print(f"{name}: old median {mo:.0f}, new median {mn:.0f} samples/s, new/old {mn/mo:.3f}")
PY
done
