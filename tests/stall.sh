#!/usr/bin/env bash
# Stalled ranks (docs/reliability.md, "Stalled ranks"): under `mpirun -np 2`, SIGSTOP one rank
# mid-run with --stall-timeout 15. The job must end within 30 s of the stop, with a non-zero
# exit status, a message naming the stopped rank and the step, and its last checkpoint must
# still load (`nntrain inspect`). Run against NNTRAIN=path (else .build/release or .build/debug).
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="${NNTRAIN:-}"
if [ -z "$B" ]; then
    for c in "$root/.build/release/nntrain" "$root/.build/debug/nntrain"; do [ -x "$c" ] && { B="$c"; break; }; done
fi
[ -x "$B" ] || { echo "stall: build nntrain first (swift build) or set NNTRAIN"; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
W="$(mktemp -d /tmp/nntrain-stall.XXXXXX)"
job=""
cleanup() {
    # Never leave a stopped rank behind, whatever happened.
    if [ -n "$job" ]; then
        for p in $(pgrep -P "$job" 2>/dev/null); do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
        kill -KILL "$job" 2>/dev/null
    fi
    rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL stall$label: $*"; echo "--- job output:"; cat "$W/out" 2>/dev/null | tail -20; exit 1; }

victim=1
label=""
# One case: start the job with the extra flags "$@", stop rank $victim, check the ending.
stall_case() {
    rm -rf "$W/ck" "$W/out"
    mpirun --oversubscribe --bind-to none -np 2 "$B" train --train-subset 6000 --test-subset 500 --model mlp:784-64-10 \
        --batch-size 64 --epochs 1000 --quiet --checkpoint-dir "$W/ck" --checkpoint-every 20 --stall-timeout 15 "$@" \
        >"$W/out" 2>&1 &
    job=$!

    # Wait for a checkpoint (training is under way), then for a second one (mid-run, not at start).
    for _ in $(seq 1 1200); do
        [ "$(ls "$W/ck" 2>/dev/null | grep -c '^step-.*\.safetensors$')" -ge 2 ] && break
        kill -0 "$job" 2>/dev/null || fail "the job ended before it wrote two checkpoints"
        sleep 0.1
    done
    [ "$(ls "$W/ck" 2>/dev/null | grep -c '^step-.*\.safetensors$')" -ge 2 ] || fail "no checkpoints after 120 s"

    pid=""
    for p in $(pgrep -P "$job"); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$victim"; then pid=$p; fi
    done
    [ -n "$pid" ] || fail "rank $victim's process not found among mpirun's children"
    kill -STOP "$pid"
    stopped=$SECONDS
    echo "stall: SIGSTOP rank $victim (pid $pid)"

    ended=""
    while [ $((SECONDS - stopped)) -le 45 ]; do
        if ! kill -0 "$job" 2>/dev/null; then ended=$SECONDS; break; fi
        sleep 0.2
    done
    [ -n "$ended" ] || fail "the job was still running $((SECONDS - stopped)) s after the stop"
    wait "$job"; status=$?
    job=""
    took=$((ended - stopped))
    echo "stall: job ended $took s after the stop, exit status $status"
    [ "$took" -le 30 ] || fail "the job took $took s (> 30 s) to end"
    [ "$status" -ne 0 ] || fail "exit status 0 after a stall"
    grep -E "rank $victim never arrived at collective [0-9]+ \(step [0-9]+\)" "$W/out" || fail "no message naming rank $victim and the step"

    newest="$(ls "$W/ck" | grep -E '^step-[0-9]+\.safetensors$' | sort | tail -1)"
    "$B" inspect "$W/ck/$newest" >"$W/inspect" 2>&1 || { cat "$W/inspect"; fail "the last checkpoint $newest does not load"; }
    echo "ok stall$label ($newest loads)"
}

stall_case
# The allreduce in buckets: rank 0's collective thread is the one left waiting in MPI_Allreduce
# while its main thread waits for it; the watchdog must still end the job.
label=" (--exchange allreduce, 2 buckets overlapped with backward)"
stall_case --exchange allreduce --bucket-mb 0.001
# The factor allgathers in flight during backward: rank 0 tests its MPI_Iallgather between GEMM
# blocks and then waits in it; the watchdog must still end the job.
label=" (--exchange factors, allgathers overlapped with backward)"
stall_case --exchange factors --factor-overlap on
