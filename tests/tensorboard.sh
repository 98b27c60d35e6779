#!/bin/bash
# tests/tensorboard.sh — `--tensorboard DIR` read back by TensorBoard's own reader
# (EventAccumulator). A tiny run stopped after 2 of 4 steps, its resumption, and a second
# resumption from the step-2 checkpoint (as after a crash) write event files into one
# directory; what TensorBoard reads must be the metrics JSONL of the same runs: the same
# tags, step numbers continuing across the resumption, the same values (as float32), and no
# doubled steps after the second resumption (its SessionLog START drops the stale ones).
# Under mpirun (when available) only rank 0 writes a file.
# Installs tensorboard with pip if it is missing, and fails if it cannot.
#   usage: tests/tensorboard.sh [path/to/nntrain]   (default $NNTRAIN, else .build/debug/nntrain)
set -u
cd "$(dirname "$0")/.."
NNTRAIN=${1:-${NNTRAIN:-.build/debug/nntrain}}
[ -x "$NNTRAIN" ] || { echo "tensorboard.sh: no nntrain at $NNTRAIN (build first or set NNTRAIN)"; exit 1; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

if ! python3 -c "import tensorboard" 2>/dev/null; then
  echo "installing tensorboard with pip"
  python3 -m pip install -q tensorboard >/dev/null 2>&1 || python3 -m pip install -q --break-system-packages tensorboard >/dev/null 2>&1
  python3 -c "import tensorboard" 2>/dev/null || { echo "FAIL: tensorboard is not importable and pip could not install it"; exit 1; }
fi

RUN=(--dataset xor --model mlp:2-4-2 --epochs 4 --log-every-steps 1 --quiet
     --tensorboard "$W/tb" --metrics "$W/m.jsonl" --checkpoint-dir "$W/ck")
# The event file's name carries the second it was made; a second between runs keeps the
# files in run order for the reader, as they are for a user.
"$NNTRAIN" train "${RUN[@]}" --steps 2 || { echo "FAIL: first run"; exit 1; }
sleep 1
"$NNTRAIN" train "${RUN[@]}" --resume auto || { echo "FAIL: resumed run"; exit 1; }
cp "$W/m.jsonl" "$W/m-two-runs.jsonl"
cp -r "$W/tb" "$W/tb-two-runs"
sleep 1
"$NNTRAIN" train "${RUN[@]}" --resume "$W/ck/step-000000002.safetensors" || { echo "FAIL: resume from step 2"; exit 1; }

python3 - "$W" <<'PY' || exit 1
import json, math, os, struct, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

w = sys.argv[1]
EPOCH = {"train/loss": "train_loss", "test/loss": "test_loss", "test/accuracy": "test_accuracy",
         "train/lr": "lr", "perf/samples_per_second": "samples_per_second",
         "perf/epoch_seconds": "epoch_seconds", "perf/compute_seconds": "compute_seconds",
         "perf/comm_seconds": "comm_seconds", "perf/comm_wait_seconds": "comm_wait_seconds"}
STEP = {"step/train_loss": "train_loss", "step/batch_loss": "batch_loss", "step/test_loss": "test_loss",
        "step/test_accuracy": "test_accuracy", "step/lr": "lr"}

def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]

def runs(path):
    """The metrics JSONL split into runs (each ends with its done line)."""
    out, cur = [], []
    for line in open(path):
        d = json.loads(line)
        cur.append(d)
        if d["event"] == "done":
            out.append(cur); cur = []
    assert not cur, "a run without a done line"
    return out

def expected(path, purge_at):
    """tag -> [(step, value)] in file order; purge_at[i]: run i resumed at that step (or None)."""
    tags = {}
    for i, run in enumerate(runs(path)):
        if purge_at[i] is not None:   # what a SessionLog START at that step drops
            for t in tags:
                tags[t] = [(s, v) for s, v in tags[t] if s < purge_at[i]]
        for d in run:
            table = EPOCH if d["event"] == "epoch" else STEP if d["event"] == "step" else {}
            for tag, key in table.items():
                if d.get(key) is not None:
                    tags.setdefault(tag, []).append((d["step"], f32(float(d[key]))))
    return tags

def read(dir):
    ea = EventAccumulator(dir)
    ea.Reload()
    return {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]}

def compare(dir, jsonl, purge_at, nfiles):
    files = sorted(f for f in os.listdir(dir) if f.startswith("events.out.tfevents."))
    assert len(files) == nfiles, f"{dir}: {len(files)} event files, want {nfiles}: {files}"
    want, got = expected(jsonl, purge_at), read(dir)
    assert set(got) == set(want), f"tags: TensorBoard {sorted(got)} vs JSONL {sorted(want)}"
    assert set(EPOCH) <= set(got), f"missing epoch tags: {set(EPOCH) - set(got)}"
    for tag in want:
        g, e = got[tag], want[tag]
        assert [s for s, _ in g] == [s for s, _ in e], f"{tag}: steps {[s for s, _ in g]} vs JSONL {[s for s, _ in e]}"
        for (s, a), (_, b) in zip(g, e):
            assert a == b or (math.isnan(a) and math.isnan(b)), f"{tag} step {s}: {a} vs JSONL {b}"
    return got

# Stopped at step 2, resumed to step 4: one curve, steps continuing.
got = compare(w + "/tb-two-runs", w + "/m-two-runs.jsonl", [None, 3], 2)
assert [s for s, _ in got["train/loss"]] == [1, 2, 3, 4], got["train/loss"]
# Resumed again from the step-2 checkpoint: steps 3 and 4 once each, not twice.
got = compare(w + "/tb", w + "/m.jsonl", [None, 3, 3], 3)
assert [s for s, _ in got["train/loss"]] == [1, 2, 3, 4], got["train/loss"]
print(f"  ok: {len(got)} tags; train/loss at steps {[s for s, _ in got['train/loss']]} matches the metrics JSONL")
PY

if command -v mpirun >/dev/null; then
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none \
    mpirun --oversubscribe --bind-to none -np 2 "$NNTRAIN" train --dataset xor --model mlp:2-4-2 --epochs 2 --quiet \
    --tensorboard "$W/tb-mpi" || { echo "FAIL: mpirun -np 2 run"; exit 1; }
  n=$(ls "$W/tb-mpi" | grep -c '^events\.out\.tfevents\.')
  [ "$n" = 1 ] || { echo "FAIL: mpirun -np 2 wrote $n event files, want 1 (rank 0 only)"; exit 1; }
  echo "  ok: mpirun -np 2 wrote one event file"
else
  echo "  note: no mpirun, the rank-0-only check did not run"
fi
echo "tensorboard: passed"
