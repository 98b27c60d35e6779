#!/usr/bin/env bash
# CI's short fuzzing pass: every libFuzzer harness (idx, csv, safetensors, config) for 30 s,
# two at a time (launch/fuzz.sh; the long runs are in docs/reliability.md). A toolchain that
# cannot build the fuzzers is a failure, not a skip: launch/fuzz.sh exits 1 when a build fails.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_BRIEF_SECONDS:-30}
if FUZZ_JOBS=2 bash launch/fuzz.sh "$seconds" idx csv safetensors config; then
    echo "fuzz_brief.sh: no crash in ${seconds} s per fuzzer"
else
    echo "fuzz_brief.sh: a fuzzer failed to build or found a crash (see above)"
    exit 1
fi
