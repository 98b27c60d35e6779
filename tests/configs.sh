#!/usr/bin/env bash
# configs.sh: every recipe in configs/*.yaml parses and trains (issue 13). For each file, through
# the binary in $NNTRAIN:
#   1. its header names it (`# configs/NAME.yaml`) and says how to reproduce it with
#      `--config configs/NAME.yaml`;
#   2. `nntrain train --config FILE` with flags that make the run tiny (flags override the file:
#      --steps 3 --epochs 1 --train-subset 512 --test-subset 256, a temporary --checkpoint-dir)
#      exits 0 and its metrics end in a `done` line of status completed (or steps: stopped by
#      --steps) with 1–3 steps and a finite test loss;
#   3. the checkpoint it wrote records every setting the file gives (those not overridden above)
#      with the file's value: the file was read, not ignored.
# A CSV recipe (`dataset: csv`) names files that `python3 bench/tabular.py --csv-only` writes
# (scikit-learn's sets); with scikit-learn installed the test makes them so, into a temporary
# directory. Without it (CI installs no scikit-learn) it writes stand-ins of the same names and
# shape: random rows with the label first, as many features and classes as the recipe's `mlp:`
# model has. Either way --data points at the temporary copies.
# Prints `N passed, M failed` last; exits non-zero if any check failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NNTRAIN=${NNTRAIN:-$root/.build/debug/nntrain}
CONFIGS=${CONFIGS:-$root/configs}
[[ -x "$NNTRAIN" ]] || { echo "configs.sh: $NNTRAIN not found: build it first (swift build)"; exit 1; }
python3 -c "import yaml" 2>/dev/null || { echo "configs.sh: python3 with PyYAML is needed (launch/setup.sh installs it)"; exit 1; }
dir=$(mktemp -d /tmp/nntrain-configs.XXXXXX)
trap 'rm -rf "$dir"' EXIT

passed=0; failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

# yamlget FILE KEY: the value of KEY in FILE as text (lists joined by commas), empty if absent.
yamlget() {
    python3 - "$1" "$2" <<'PY'
import sys, yaml
d = yaml.load(open(sys.argv[1]), Loader=yaml.BaseLoader) or {}
v = d.get(sys.argv[2], "")
print(",".join(v) if isinstance(v, list) else v)
PY
}

# csvdata FILE OUTDIR: writes the CSV files FILE's `data:` names into OUTDIR (same base names)
# and prints the --data value for them; fails when they cannot be made.
csvdata() {
    python3 - "$1" "$2" "$root" <<'PY'
import os, random, re, subprocess, sys, yaml
cfg, out, root = sys.argv[1:]
d = yaml.load(open(cfg), Loader=yaml.BaseLoader)
paths = d.get("data", "").split(",")
if not paths[0]:
    sys.exit(f"{cfg}: dataset csv without a data: path")
names = [os.path.basename(p) for p in paths]
os.makedirs(out, exist_ok=True)
try:
    import sklearn  # noqa: F401
    sets = sorted({re.sub(r"-(train|test)\.csv$", "", n) for n in names})
    r = subprocess.run([sys.executable, os.path.join(root, "bench/tabular.py"), "--csv-only", "--sets", ",".join(sets),
                        "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"{cfg}: bench/tabular.py --csv-only --sets {','.join(sets)} failed: {r.stderr.strip().splitlines()[-1:]}")
    how = "bench/tabular.py --csv-only"
except ImportError:
    m = re.fullmatch(r"mlp:(\d+)(-\d+)*-(\d+)", d.get("model", ""))
    if not m:
        sys.exit(f"{cfg}: cannot make stand-in data for model '{d.get('model')}' (only mlp:IN-...-OUT)")
    features, classes = int(m.group(1)), int(m.group(3))
    rng = random.Random(0)
    for n, rows in zip(names, [300, 100]):
        with open(os.path.join(out, n), "w") as f:
            for i in range(rows):
                f.write(",".join([str(i % classes)] + [str(rng.randint(0, 16)) for _ in range(features)]) + "\n")
    how = f"stand-ins ({features} features, {classes} classes; no scikit-learn)"
missing = [n for n in names if not os.path.exists(os.path.join(out, n))]
if missing:
    sys.exit(f"{cfg}: data names {', '.join(missing)}, which {how} did not write")
print(",".join(os.path.join(out, n) for n in names))
print(how, file=sys.stderr)
PY
}

# saved_mismatch FILE CHECKPOINT OVERRIDDEN: the settings of FILE that the checkpoint's `config`
# metadata records with another value (numbers compared as numbers), one per line.
saved_mismatch() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, struct, sys, yaml
cfg, ckpt, overridden = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
d = yaml.load(open(cfg), Loader=yaml.BaseLoader)
with open(ckpt, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    saved = json.loads(json.loads(f.read(n))["__metadata__"]["config"])
def same(a, b):
    a, b = a.strip().lower(), b.strip().lower()
    if a == b: return True
    try: return [float(x) for x in a.split(",")] == [float(x) for x in b.split(",")]
    except ValueError: return False
for k, v in d.items():
    v = ",".join(v) if isinstance(v, list) else v
    if k in overridden or k not in saved: continue
    if not same(v, saved[k]): print(f"{k}: file {v!r}, run {saved[k]!r}")
if not any(k in saved for k in d if k not in overridden):
    print("no setting of the file is in the checkpoint's config")
PY
}

files=("$CONFIGS"/*.yaml)
[[ -e "${files[0]}" ]] || { bad "no $CONFIGS/*.yaml"; echo "$passed passed, $failed failed"; exit 1; }
echo "${#files[@]} recipe(s) in $CONFIGS"

tiny=(--steps 3 --epochs 1 --train-subset 512 --test-subset 256 --blas-threads 1 --quiet)
for f in "${files[@]}"; do
    name=$(basename "$f" .yaml)

    # 1. the header.
    if [[ "$(head -1 "$f")" == "# configs/$name.yaml"* ]] && grep -q "^# Reproduce:.*--config configs/$name.yaml" "$f"; then
        ok "$name: header names the file and the command"
    else
        bad "$name: the first line must start '# configs/$name.yaml' and a '# Reproduce:' line give --config configs/$name.yaml"
    fi

    # 2. a tiny run.
    extra=(); overridden="steps,epochs,train-subset,test-subset,blas-threads,quiet,checkpoint-dir,metrics"
    if [[ "$(yamlget "$f" dataset)" == csv ]]; then
        if data=$(csvdata "$f" "$dir/data-$name" 2>"$dir/$name.csv.log"); then
            extra=(--data "$data"); overridden+=",data"
            echo "  $name: CSV data from $(tail -1 "$dir/$name.csv.log")"
        else
            bad "$name: no data to train on: $(tail -2 "$dir/$name.csv.log")"; continue
        fi
    fi
    ckpt="$dir/ckpt-$name"; metrics="$dir/$name.jsonl"
    if out=$(timeout 600 "$NNTRAIN" train --config "$f" "${tiny[@]}" "${extra[@]}" --checkpoint-dir "$ckpt" --metrics "$metrics" 2>&1); then
        verdict=$(python3 - "$metrics" <<'PY'
import json, math, sys
done = [json.loads(l) for l in open(sys.argv[1]) if '"done"' in l]
if not done: print("no done line"); sys.exit()
d = done[-1]
if d.get("status") not in ("completed", "steps"): print(f"status {d.get('status')}")
elif not 1 <= d.get("steps", 0) <= 3: print(f"{d.get('steps')} steps, want 1-3")
elif not math.isfinite(d.get("test_loss", float("nan"))): print(f"test loss {d.get('test_loss')}")
else: print(f"ok {d['steps']} steps, test loss {d['test_loss']:.4g}")
PY
)
        [[ "$verdict" == ok* ]] && ok "$name: trains (${verdict#ok })" || bad "$name: trained, but $verdict"
    else
        bad "$name: nntrain train --config $f failed: $(echo "$out" | tail -3)"; continue
    fi

    # 3. the checkpoint records the file's settings.
    last=$(ls "$ckpt"/*.safetensors 2>/dev/null | sort | tail -1)
    if [[ -z "$last" ]]; then
        bad "$name: no checkpoint in $ckpt"
    elif diff=$(saved_mismatch "$f" "$last" "$overridden" 2>&1) && [[ -z "$diff" ]]; then
        ok "$name: the run used every setting of the file"
    else
        bad "$name: the run's settings differ from the file's: $diff"
    fi
done

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
