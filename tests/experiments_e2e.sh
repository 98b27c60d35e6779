#!/bin/bash
# tests/experiments_e2e.sh — runs a tiny version of every `nntrain experiment` through the built
# binary (and one through mpirun when available), plus a two-run sweep, and checks each tidy
# CSV: the documented columns, examples_processed non-decreasing per arm, no NaN/inf outside
# arms marked diverged. Exit status 1 on any failure.
#   usage: tests/experiments_e2e.sh [path/to/nntrain]   (default .build/release/nntrain)
set -u
cd "$(dirname "$0")/.."
NNTRAIN=${1:-${NNTRAIN:-.build/release/nntrain}}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
fail=0
TINY="--train-subset 300 --test-subset 200 --epochs 1 --points 4 --train-eval-subset 200 --no-plot --quiet"

check() {  # check DIR
  python3 - "$1" <<'PY'
import csv, math, sys
cols = ["arm", "step", "epoch", "examples_processed", "updates", "wall_seconds", "train_loss", "test_loss",
        "test_accuracy", "lr", "diverged", "group", "world_size", "suboptimality"]
rows = list(csv.DictReader(open(sys.argv[1] + "/results.csv")))
hdr = open(sys.argv[1] + "/results.csv").readline().strip().split(",")
assert hdr == cols, f"columns {hdr}"
assert rows, "no rows"
by = {}
for r in rows:
    by.setdefault(r["arm"], []).append(r)
for arm, rs in by.items():
    ex = [int(r["examples_processed"]) for r in rs]
    assert all(a <= b for a, b in zip(ex, ex[1:])), f"{arm}: examples_processed decreases: {ex}"
    if rs[0]["diverged"] != "1":
        for r in rs:
            for k in ("train_loss", "test_loss", "test_accuracy", "wall_seconds", "lr"):
                if r[k] != "":
                    assert math.isfinite(float(r[k])), f"{arm} step {r['step']}: {k}={r[k]} but not marked diverged"
print(f"  ok: {len(by)} arms, {len(rows)} rows")
PY
}

for e in batch-vs-stochastic learning-rate linear-limits nonlinearities depth-vs-width; do
  echo "experiment $e"
  if "$NNTRAIN" experiment "$e" --out "$OUT/$e" $TINY && check "$OUT/$e"; then :; else echo "FAIL: $e"; fail=1; fi
done
echo "experiment scaling (workers 1,2)"
if "$NNTRAIN" experiment scaling --scaling-workers 1,2 --out "$OUT/scaling" $TINY && check "$OUT/scaling"; then :; else echo "FAIL: scaling"; fail=1; fi
if command -v mpirun >/dev/null; then
  echo "experiment linear-limits under mpirun -np 2"
  if OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe --bind-to none -np 2 \
       "$NNTRAIN" experiment linear-limits --out "$OUT/mpi" --no-plot --quiet && check "$OUT/mpi"; then :; else echo "FAIL: mpirun"; fail=1; fi
fi
echo "sweep (2 runs, workers)"
cat > "$OUT/spec.yaml" <<YAML
name: tiny
base: {dataset: blobs, model: linear, epochs: 2, log-every-steps: 2}
grid: {np: [1, 2]}
launcher: workers
YAML
if launch/sweep "$OUT/spec.yaml" --out "$OUT/sweep" --nntrain "$NNTRAIN" --no-plot >/dev/null && check "$OUT/sweep" \
   && launch/sweep "$OUT/spec.yaml" --out "$OUT/sweep" --nntrain "$NNTRAIN" --no-plot | grep "done already, skipped" >/dev/null; then :
else echo "FAIL: sweep"; fail=1; fi
[ $fail = 0 ] && echo "all experiment checks passed" || echo "SOME EXPERIMENT CHECKS FAILED"
exit $fail
