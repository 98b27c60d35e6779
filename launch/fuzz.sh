#!/usr/bin/env bash
# Builds and runs nntrain's libFuzzer harnesses (Sources/Fuzz*/, docs/reliability.md).
#
#   launch/fuzz.sh [SECONDS] [NAMES…]     NAMES: idx csv safetensors config (default: all)
#
# Each harness is built with -sanitize=fuzzer,address in its own scratch folder
# (.build-fuzz), then run for SECONDS (default 60) on a working copy of its seed corpus
# (fuzz/corpus/NAME, which is left as committed; new inputs go to .build-fuzz/corpus/NAME).
# Crash inputs land in .build-fuzz/artifacts/NAME/, logs in .build-fuzz/logs/NAME.log; the
# last lines of each log (executions, cov, ft) are printed. Exits 1 when a build fails or a
# fuzzer reports a crash, a leak, a timeout or an out-of-memory; 0 otherwise.
#
# Environment: FUZZ_JOBS=N runs N harnesses at once (default 1); FUZZ_FLAGS adds libFuzzer flags.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(idx csv safetensors config)
scratch=.build-fuzz

product() {
    case "$1" in
        idx) echo FuzzIDX ;; csv) echo FuzzCSV ;; safetensors) echo FuzzSafetensors ;; config) echo FuzzConfig ;;
        *) echo "fuzz.sh: unknown fuzzer '$1' (idx, csv, safetensors, config)" >&2; return 1 ;;
    esac
}

# SwiftPM links executables with main aliased to the module's entry point (FuzzDriver.swift
# hands control to libFuzzer from there); gold cannot link libFuzzer's archive next to that
# alias, lld can.
flags=(-Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld)
mkdir -p "$scratch/logs"
for n in "${names[@]}"; do
    p=$(product "$n") || exit 1
    echo "fuzz.sh: building $p"
    if ! swift build --scratch-path "$scratch" -c debug --product "$p" "${flags[@]}" > "$scratch/logs/build-$n.log" 2>&1; then
        echo "fuzz.sh: FAILED to build $p with -sanitize=fuzzer,address (log: $scratch/logs/build-$n.log):" >&2
        grep -E "error" "$scratch/logs/build-$n.log" | head -5 >&2
        exit 1
    fi
done

run_one() {
    local n=$1 p bin corpus artifacts log
    p=$(product "$n")
    bin="$scratch/debug/$p"
    corpus="$scratch/corpus/$n"; artifacts="$scratch/artifacts/$n"; log="$scratch/logs/$n.log"
    mkdir -p "$corpus" "$artifacts"
    cp -n fuzz/corpus/"$n"/* "$corpus"/ 2>/dev/null || true
    # -timeout: an input taking 20 s is a hang worth reporting; -rss_limit_mb: 2 GB per harness.
    "$bin" "$corpus" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" ${FUZZ_FLAGS:-} > "$log" 2>&1
    local rc=$?
    local last
    last=$(grep -E "^#[0-9]+" "$log" | tail -1)
    local execs
    execs=$(grep -E "stat::number_of_executed_units" "$log" | grep -oE "[0-9]+$")
    if [ $rc -eq 0 ]; then
        echo "fuzz.sh: $n: ok, ${execs:-?} executions in ${seconds} s; last status: $last"
    else
        echo "fuzz.sh: $n: FAILED (exit $rc) after ${execs:-?} executions; see $log and $artifacts/" >&2
        grep -E "ERROR: |SUMMARY: |Fatal error|Test unit written" "$log" | head -6 >&2
    fi
    return $rc
}

status=0
jobs_max=${FUZZ_JOBS:-1}
pids=()
for n in "${names[@]}"; do
    run_one "$n" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs_max" ]; then
        wait "${pids[0]}" || status=1
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
