#!/bin/bash
# tests/plot.sh — `nntrain plot` on the metrics of two tiny runs (one with step lines) writes a
# PNG (PNG signature, a real width and height, not a few bytes), at --out or beside the first
# file; and its errors are clear: a missing file, no python3, a python3 without matplotlib.
# Runs from a scratch directory, so the plot script is found from the executable, not the
# working directory. Installs matplotlib with pip if it is missing, and fails if it cannot.
#   usage: tests/plot.sh [path/to/nntrain]   (default $NNTRAIN, else .build/debug/nntrain)
set -u
cd "$(dirname "$0")/.."
NNTRAIN=$(realpath "${1:-${NNTRAIN:-.build/debug/nntrain}}")
[ -x "$NNTRAIN" ] || { echo "plot.sh: no nntrain at $NNTRAIN (build first or set NNTRAIN)"; exit 1; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"

if ! python3 -c "import matplotlib" 2>/dev/null; then
  echo "installing matplotlib with pip"
  python3 -m pip install -q matplotlib >/dev/null 2>&1 || python3 -m pip install -q --break-system-packages matplotlib >/dev/null 2>&1
  python3 -c "import matplotlib" 2>/dev/null || { echo "FAIL: matplotlib is not importable and pip could not install it"; exit 1; }
fi

fail=0
bad() { echo "FAIL: $*"; fail=1; }

png_ok() {  # png_ok FILE: PNG signature, IHDR width and height > 0, more than 2 kB
  python3 - "$1" <<'PY'
import os, struct, sys
p = sys.argv[1]
b = open(p, "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
assert b[12:16] == b"IHDR", "no IHDR chunk"
w, h = struct.unpack(">II", b[16:24])
assert w > 100 and h > 100, f"{w}x{h}"
assert len(b) > 2000, f"only {len(b)} bytes"
print(f"  ok: {p} {w}x{h}, {len(b)} bytes")
PY
}

"$NNTRAIN" train --dataset xor --model mlp:2-4-2 --epochs 5 --metrics a.jsonl --quiet || { echo "FAIL: run a"; exit 1; }
"$NNTRAIN" train --dataset xor --model mlp:2-8-2 --epochs 5 --log-every-steps 1 --metrics b.jsonl --quiet || { echo "FAIL: run b"; exit 1; }

"$NNTRAIN" plot a.jsonl b.jsonl --out both.png >out.txt 2>err.txt || bad "plot of two runs exited $? ($(cat err.txt))"
[ -s both.png ] && { png_ok both.png || bad "both.png is not a real PNG"; } || bad "no both.png"
"$NNTRAIN" plot a.jsonl >/dev/null 2>err.txt || bad "plot with the default --out exited $? ($(cat err.txt))"
[ -s a.png ] && { png_ok a.png || bad "a.png is not a real PNG"; } || bad "no a.png beside a.jsonl"

# Errors: exit 2 with a message that says what is wrong.
"$NNTRAIN" plot a.jsonl missing.jsonl --out x.png >/dev/null 2>err.txt; st=$?
{ [ $st = 2 ] && grep -q "missing.jsonl: no such metrics file" err.txt; } || bad "missing file: exit $st, $(cat err.txt)"
env PATH=/nonexistent "$NNTRAIN" plot a.jsonl --out x.png >/dev/null 2>err.txt; st=$?
{ [ $st = 2 ] && grep -q "python3 not found" err.txt; } || bad "no python3: exit $st, $(cat err.txt)"
# A python3 that cannot see site-packages (-S), so matplotlib is not importable.
mkdir fakebin
printf '#!/bin/sh\nexec %s -S "$@"\n' "$(command -v python3)" >fakebin/python3
chmod +x fakebin/python3
PATH="$W/fakebin:$PATH" "$NNTRAIN" plot a.jsonl --out x.png >/dev/null 2>err.txt; st=$?
{ [ $st = 2 ] && grep -q "cannot import matplotlib" err.txt; } || bad "no matplotlib: exit $st, $(cat err.txt)"
[ ! -e x.png ] || bad "x.png written although every run failed"
[ $fail = 0 ] && echo "  ok: missing file, no python3, no matplotlib: exit 2 with a message"

[ $fail = 0 ] && echo "plot: passed"
exit $fail
