#!/usr/bin/env bash
# Bad inputs end in one `nntrain: error:` naming the file, key or value, exit 1 or 2, no trap,
# never exit 0 (issue 12). Each case is a tiny crafted file in a temporary directory, run
# through the binary in $NNTRAIN; the MPMD case needs mpirun (skipped with a note without it).
set -uo pipefail
NNTRAIN=${NNTRAIN:-$(dirname "$0")/../.build/debug/nntrain}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

python3 - <<'PY'
import struct, os, json, random
random.seed(1)
def idx(path, dims, data):
    with open(path, 'wb') as f:
        f.write(bytes([0, 0, 8, len(dims)]) + b''.join(struct.pack('>I', d) for d in dims) + bytes(data))
def mnist(d, rows=28, trows=28, tlabel=None):
    os.makedirs(d, exist_ok=True)
    idx(f'{d}/train-images-idx3-ubyte', [20, rows, rows], [random.randrange(256) for _ in range(20 * rows * rows)])
    idx(f'{d}/train-labels-idx1-ubyte', [20], [i % 10 for i in range(20)])
    idx(f'{d}/t10k-images-idx3-ubyte', [10, trows, trows], [random.randrange(256) for _ in range(10 * trows * trows)])
    labels = [i % 10 for i in range(10)]
    if tlabel is not None: labels[3] = tlabel
    idx(f'{d}/t10k-labels-idx1-ubyte', [10], labels)
mnist('ok'); mnist('label200', tlabel=200); mnist('small20', trows=20)
mnist('ffff'); idx('ffff/train-images-idx3-ubyte', [0xFFFFFFFF] * 3, [0] * 64)
mnist('zero'); idx('zero/train-images-idx3-ubyte', [20, 0, 0], [])
mnist('huge'); idx('huge/train-images-idx3-ubyte', [2**31, 28, 28], [0] * 1000)
def csv(p, rows): open(p, 'w').write('\n'.join(','.join(map(str, r)) for r in rows) + '\n')
train = [[i % 3, i * 0.1, i * 0.2] for i in range(30)]
csv('train.csv', train)
csv('label7.csv', [[0, 1, 2], [1, 1, 2], [7, 1, 1]])
csv('more.csv', [r + [1.0] for r in train[:10]])
csv('fewer.csv', [r[:2] for r in train[:10]])
def st(path, shape):
    h = json.dumps({"0.weight": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}}).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(h)) + h)
st('huge.safetensors', [2**62, 2**62])
st('overflow.safetensors', [2**31, 2**31, 2**31])
PY
[ -d ok ] || { echo "bad_input.sh: could not make the test files (python3?)"; exit 1; }

failures=0
# expect_error PATTERN ARGS…: exit 1 or 2, stderr has `nntrain: error:` and PATTERN, no trap.
expect_error() {
    local pattern=$1; shift
    local err rc
    err=$(timeout 120 "$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then
        echo "FAIL (exit $rc, want 1 or 2): $*"; echo "$err" | tail -3; failures=$((failures + 1)); return
    fi
    if ! grep -q "nntrain: error" <<<"$err" || ! grep -qF -- "$pattern" <<<"$err"; then
        echo "FAIL (message lacks '$pattern'): $*"; echo "$err" | tail -3; failures=$((failures + 1)); return
    fi
    if grep -qE "Fatal error|Stack dump|Illegal instruction|double free|free\(\)|Segmentation" <<<"$err"; then
        echo "FAIL (trapped): $*"; echo "$err" | tail -3; failures=$((failures + 1)); return
    fi
    echo "ok: $pattern"
}

T=(--epochs 1 --batch-size 10 --quiet)
I=(train --dataset idx --model mlp:784-16-10 "${T[@]}")
C=(train --dataset csv --model mlp:2-4-3 "${T[@]}")
expect_error "label200/t10k-labels-idx1-ubyte: test label 200 at index 3" "$NNTRAIN" "${I[@]}" --data label200
expect_error "small20/t10k-images-idx3-ubyte: test samples are 1×20×20" "$NNTRAIN" "${I[@]}" --data small20
expect_error "label7.csv: test label 7 at index 2" "$NNTRAIN" "${C[@]}" --data train.csv,label7.csv
expect_error "more.csv: test samples are 3 features" "$NNTRAIN" "${C[@]}" --data train.csv,more.csv
expect_error "fewer.csv: test samples are 1 feature" "$NNTRAIN" "${C[@]}" --data train.csv,fewer.csv
expect_error "ffff/train-images-idx3-ubyte: header dimensions 4294967295×4294967295×4294967295 overflow" "$NNTRAIN" "${I[@]}" --data ffff
expect_error "zero/train-images-idx3-ubyte: header dimensions 20×0×0" "$NNTRAIN" "${I[@]}" --data zero
expect_error "huge/train-images-idx3-ubyte: truncated: header promises 2147483648×28×28" "$NNTRAIN" "${I[@]}" --data huge
expect_error "model 'mlp:784-99999999999-10': width 99999999999" "$NNTRAIN" train --dataset idx --data ok --model mlp:784-99999999999-10 "${T[@]}"
expect_error "more than this machine's memory" "$NNTRAIN" train --dataset idx --data ok --model mlp:784-1000000000-1000000-10 "${T[@]}"
for cmd in "inspect huge.safetensors" "evaluate --dataset idx --data ok --model mlp:784-16-10 --checkpoint huge.safetensors" \
           "${I[*]} --data ok --init huge.safetensors" "${I[*]} --data ok --resume huge.safetensors"; do
    # shellcheck disable=SC2086
    expect_error "huge.safetensors: not a valid safetensors file" "$NNTRAIN" $cmd
done
expect_error "overflow.safetensors: not a valid safetensors file: tensor '0.weight' has shape [2147483648, 2147483648, 2147483648], whose size overflows" "$NNTRAIN" inspect overflow.safetensors
# Files read whole are held to the memory budget (NNTRAIN_MEMORY_BUDGET stands in for a small machine).
expect_error "train.csv (" env NNTRAIN_MEMORY_BUDGET=100 "$NNTRAIN" "${C[@]}" --data train.csv
expect_error "huge.safetensors (" env NNTRAIN_MEMORY_BUDGET=10 "$NNTRAIN" inspect huge.safetensors
expect_error "--dataset csv takes one file (FILE.csv) or two" "$NNTRAIN" "${C[@]}" --data train.csv,train.csv,train.csv
# /proc exists and refuses new files even to root; a path under a regular file cannot be created.
expect_error "--checkpoint-dir /proc: the directory is not writable" "$NNTRAIN" "${I[@]}" --data ok --checkpoint-dir /proc
expect_error "--checkpoint-dir $dir/train.csv/sub: cannot create the directory" "$NNTRAIN" "${I[@]}" --data ok --checkpoint-dir "$dir/train.csv/sub"
err=$("$NNTRAIN" "${I[@]}" --data ok --checkpoint-dir "$dir/train.csv/sub" 2>&1)
if grep -q "NSCocoaErrorDomain" <<<"$err"; then echo "FAIL: raw Foundation error: $err"; failures=$((failures + 1)); else echo "ok: no NSCocoaErrorDomain"; fi
# The good directory trains (the cases above fail for their own reason, not the data's).
if "$NNTRAIN" "${I[@]}" --data ok >/dev/null 2>&1; then echo "ok: the good set trains"; else echo "FAIL: the good set does not train"; failures=$((failures + 1)); fi

# MPMD: a rank with a smaller model is named by the fingerprint check, before any model exists.
if command -v mpirun >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    expect_error "rank(s) 1 differ from rank 0" mpirun --oversubscribe --bind-to none \
        -np 1 "$NNTRAIN" "${I[@]}" --data ok : -np 1 "$NNTRAIN" train --dataset idx --model mlp:784-32-10 "${T[@]}" --data ok
else
    echo "note: mpirun not found; MPMD case not run"
fi

if [ $failures -gt 0 ]; then echo "bad_input.sh: $failures case(s) failed"; exit 1; fi
echo "bad_input.sh: all cases end in a clear error"
