#!/usr/bin/env bash
# Sets up (Debian packages, build) and runs every test of nntrain: the Swift test suite
# (unit, data-parallel, end-to-end CLI and mpirun tests) and the script tests in tests/.
set -uo pipefail
cd "$(dirname "$0")/.."
NNTRAIN_BUILD=debug bash launch/setup.sh || { echo "setup failed"; exit 1; }

# Python packages for the cross-checks against numpy/PyTorch readers of our files.
python3 -c "import numpy, safetensors" 2>/dev/null || pip install -q numpy safetensors >/dev/null 2>&1 || true

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0
log=$(mktemp)
swift test 2>&1 | tee "$log" | grep -E "✘|error:|^✔ Suite" || true
grep -E "Test run with" "$log" || true
grep -q "Test run with .* passed" "$log" || status=1
swift_total=$(grep -oE "Test run with [0-9]+ tests" "$log" | grep -oE "[0-9]+" | tail -1)
swift_failed=$(grep -cE "^✘ Test .*(failed|with [0-9]+ test cases failed)" "$log" || true)
swift_passed=$(( ${swift_total:-0} - ${swift_failed:-0} ))

passed=0; failed=0
for t in tests/*.sh; do
    [ -e "$t" ] || continue
    echo "== $t"
    if NNTRAIN="$PWD/.build/debug/nntrain" NNTRAIN_BIN="$PWD/.build/debug/nntrain" bash "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
done
echo "script tests: $passed passed, $failed failed"
bash launch/sanitize.sh || status=1   # unit + data-parallel suites under TSan and ASan (docs/reliability.md)
echo "all: $((swift_passed + passed)) passed, $((swift_failed + failed)) failed"
exit $status
