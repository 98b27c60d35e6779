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
swift test 2>&1 | tee /tmp/nntrain-swift-test.log | grep -E "✘|error:|Test run|passed after [0-9.]+ seconds\.$" | grep -v "^✔ Test [a-z]" || true
grep -q "Test run with .* passed" /tmp/nntrain-swift-test.log || status=1

passed=0; failed=0
for t in tests/*.sh; do
    [ -e "$t" ] || continue
    echo "== $t"
    if NNTRAIN="$PWD/.build/debug/nntrain" NNTRAIN_BIN="$PWD/.build/debug/nntrain" bash "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
done
echo "script tests: $passed passed, $failed failed"
exit $status
