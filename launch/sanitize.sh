#!/usr/bin/env bash
# Runs the unit and data-parallel test suites under ThreadSanitizer and AddressSanitizer, each
# built in its own scratch folder (.build-tsan, .build-asan), and fails on any sanitizer
# report or test failure (docs/reliability.md, "Sanitizers"). Called by launch/test.sh.
#
#   launch/sanitize.sh [thread|address]...     # default: both
#
# TSan: CollectivesTests, DataParallelTests, ResumeTests, AllgatherFactorTests, CompressionTests and OverlapTests
# (the code where threads meet: the
# in-process communicator, the exchange strategies, stall watch, checkpoints across workers).
# ASan: every test target except EndToEndTests (which runs the CLI binary and mpirun as
# subprocesses, not instrumented code, and is the slow part of the suite).
# Prints one line per sanitizer: tests, reports, minutes. Logs stay in .build-*/sanitize.log.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Reports go to the log and the run goes on, so that one run lists them all.
export TSAN_OPTIONS="halt_on_error=0 ${TSAN_OPTIONS:-}"
export ASAN_OPTIONS="halt_on_error=0:detect_leaks=1 ${ASAN_OPTIONS:-}"
# Leaks in XCTest's own runner objects are not ours (launch/lsan.supp); every other leak is a report.
export LSAN_OPTIONS="suppressions=$PWD/launch/lsan.supp:print_suppressions=0 ${LSAN_OPTIONS:-}"
which=("$@"); [ ${#which[@]} -eq 0 ] && which=(thread address)
status=0

for s in "${which[@]}"; do
    case "$s" in
        thread)  scratch=.build-tsan; select=(--filter 'CollectivesTests|DataParallelTests|ResumeTests|AllgatherFactorTests|CompressionTests|OverlapTests') ;;
        address) scratch=.build-asan; select=(--skip EndToEndTests) ;;
        *) echo "sanitize: unknown sanitizer '$s' (thread or address)"; exit 2 ;;
    esac
    mkdir -p "$scratch"
    log="$scratch/sanitize.log"
    start=$SECONDS
    if ! swift build --build-tests --sanitize="$s" --scratch-path "$scratch" >"$log" 2>&1; then
        grep -E "error:" "$log" | head -20
        echo "sanitize: $s: build FAILED ($(( (SECONDS - start) / 60 )) min; $log)"
        status=1; continue
    fi
    built=$SECONDS
    swift test --skip-build --sanitize="$s" --scratch-path "$scratch" "${select[@]}" >>"$log" 2>&1
    rc=$?
    reports=$(grep -cE "WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$log")
    tests=$(grep -oE "Test run with [0-9]+ tests" "$log" | grep -oE "[0-9]+" | tail -1)
    grep -E "^✘|SUMMARY: .*Sanitizer" "$log" | head -20
    if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ] || ! grep -q "Test run with .* passed" "$log"; then status=1; verdict=FAILED; else verdict=ok; fi
    # A report's first frames on the console: CI keeps only what is printed, not the log.
    [ "$reports" -ne 0 ] && grep -A14 -E "WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$log" | head -60
    echo "sanitize: $s: $verdict: ${tests:-0} tests, $reports reports, build $(( (built - start) / 60 )) min, run $(( (SECONDS - built) / 60 )) min ($log)"
done
exit $status
