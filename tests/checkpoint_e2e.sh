#!/usr/bin/env bash
# End-to-end tests of checkpoints, resume, preemption and launcher restarts, run against the
# built nntrain (NNTRAIN=path, else .build/release or .build/debug). Needs Fashion-MNIST in
# /usr/share/datasets/fashion-mnist, mpirun, and python3 with numpy, safetensors (and torch).
#
#   tests/checkpoint_e2e.sh [FILTER]      # FILTER: run only tests whose name contains it
#
# Prints one line per test and finally `N passed, M failed`; exits non-zero on any failure.
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="${NNTRAIN:-}"
if [ -z "$B" ]; then
    for c in "$root/.build/release/nntrain" "$root/.build/debug/nntrain"; do [ -x "$c" ] && { B="$c"; break; }; done
fi
[ -x "$B" ] || { echo "checkpoint_e2e: build nntrain first (swift build) or set NNTRAIN"; exit 2; }
filter="${1:-}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
MPIRUN=(mpirun --oversubscribe --bind-to none)
W="$(mktemp -d /tmp/nntrain-e2e.XXXXXX)"
trap 'rm -rf "$W"' EXIT
passed=0; failed=0; failures=()

# A Fashion-MNIST job of 2 epochs × 94 steps that takes a few seconds.
FM=(--train-subset 6000 --test-subset 1000 --model mlp:784-128-10 --batch-size 64 --epochs 2 --quiet)
# The same with world-size-invariant reduction. One BLAS thread per rank in every run: OpenBLAS
# with 2 threads gives other bits than with 1 (measured), whatever the reduction.
FMX=("${FM[@]}" --reduction exact --shards 4 --blas-threads 1)

log() { echo "    $*"; }
check() { # check DESCRIPTION CONDITION...
    local what="$1"; shift
    if "$@"; then return 0; fi
    log "FAILED: $what"; return 1
}
sha() { # parameters_sha256 of the last done line of a metrics file
    python3 -c 'import json,sys
lines=[json.loads(l) for l in open(sys.argv[1]) if "\"event\":\"done\"" in l]
print(lines[-1]["parameters_sha256"] if lines else "none")' "$1" 2>/dev/null || echo none
}
field() { python3 -c 'import json,sys
lines=[json.loads(l) for l in open(sys.argv[1]) if "\"event\":\"done\"" in l]
print(lines[-1][sys.argv[2]])' "$1" "$2"; }
wait_for_file() { # wait_for_file GLOB SECONDS
    local i=0
    while [ $i -lt $(($2 * 10)) ]; do
        compgen -G "$1" >/dev/null && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
newest_step() { ls "$1" | grep -E '^step-[0-9]+\.safetensors$' | sort | tail -1 | sed 's/step-0*\([0-9]*\)\.safetensors/\1/'; }
run() { # run NAME FUNCTION
    [ -n "$filter" ] && [[ "$1" != *"$filter"* ]] && return
    local start=$SECONDS
    echo "--- $1"
    if ( set +e; "$2" ); then
        passed=$((passed + 1)); echo "ok  $1 ($((SECONDS - start))s)"
    else
        failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1 ($((SECONDS - start))s)"
    fi
}

# Reference runs, computed once.
ref() { # ref NAME ARGS... → metrics file $W/ref-NAME.jsonl
    local name="$1"; shift
    [ -f "$W/ref-$name.jsonl" ] || "$@" --metrics "$W/ref-$name.jsonl" >/dev/null 2>&1
    sha "$W/ref-$name.jsonl"
}

test_sigterm_resume_exact() {
    local want; want="$(ref fm "$B" train "${FM[@]}")"
    local d="$W/sigterm"
    "$B" train "${FM[@]}" --checkpoint-dir "$d" --checkpoint-every 10 --metrics "$d.jsonl" >"$d.out" 2>&1 &
    local p=$!
    wait_for_file "$d/step-000000010.safetensors" 120 || { log "no first checkpoint"; kill -9 $p; return 1; }
    kill -TERM $p; wait $p; local st=$?
    check "exit status 3 after SIGTERM (got $st)" [ $st -eq 3 ] || return 1
    local step; step="$(newest_step "$d")"
    log "stopped after step $step of 188"
    check "stop message says how to resume" grep -q -- "--resume auto" "$d.out" || return 1
    check "status stopped in the done line" [ "$(field "$d.jsonl" status)" = stopped ] || return 1
    "$B" train "${FM[@]}" --checkpoint-dir "$d" --resume auto --metrics "$d.jsonl" >/dev/null 2>&1 || { log "resume failed"; return 1; }
    check "resumed parameters_sha256 $(sha "$d.jsonl") = straight $want" [ "$(sha "$d.jsonl")" = "$want" ]
}

test_steps_stop_resume_mid_epoch() {
    local A=(--dataset blobs --model mlp:2-16-3 --batch-size 32 --epochs 3 --schedule plateau --plateau-patience 0 --plateau-threshold 0.5 --quiet)
    local want; want="$(ref blobs "$B" train "${A[@]}")"
    for k in 1 23 38; do
        local d="$W/steps-$k"
        "$B" train "${A[@]}" --steps $k --checkpoint-dir "$d" >/dev/null 2>&1 || return 1
        "$B" train "${A[@]}" --checkpoint-dir "$d" --resume auto --metrics "$d.jsonl" >/dev/null 2>&1 || return 1
        check "stop after $k, resume: $(sha "$d.jsonl") = $want" [ "$(sha "$d.jsonl")" = "$want" ] || return 1
    done
}

test_mpi_exact_world_size_change() {
    local want; want="$(ref fmx-np4 "${MPIRUN[@]}" -np 4 "$B" train "${FMX[@]}")"
    local want1; want1="$(ref fmx-1 "$B" train "${FMX[@]}")"
    check "exact: -np 4 ($want) = one process ($want1)" [ "$want" = "$want1" ] || return 1
    local d="$W/mpi-exact"
    # The first part stops with --steps, which would shorten a cosine schedule: use a constant one.
    local C=(--schedule constant --lr 0.05)
    local wantc; wantc="$(ref fmx-c-np4 "${MPIRUN[@]}" -np 4 "$B" train "${FMX[@]}" "${C[@]}")"
    "${MPIRUN[@]}" -np 4 "$B" train "${FMX[@]}" "${C[@]}" --steps 117 --checkpoint-dir "$d" >/dev/null 2>&1 || { log "-np 4 part failed"; return 1; }
    cp -r "$d" "$d-copy"
    "${MPIRUN[@]}" -np 2 "$B" train "${FMX[@]}" "${C[@]}" --checkpoint-dir "$d" --resume auto --metrics "$d.jsonl" >/dev/null 2>&1 || { log "-np 2 resume failed"; return 1; }
    check "-np 4 → -np 2: $(sha "$d.jsonl") = $wantc" [ "$(sha "$d.jsonl")" = "$wantc" ] || return 1
    "$B" train "${FMX[@]}" "${C[@]}" --workers 3 --checkpoint-dir "$d-copy" --resume auto --metrics "$d-copy.jsonl" >/dev/null 2>&1 || { log "fallback resume failed"; return 1; }
    check "-np 4 → --workers 3: $(sha "$d-copy.jsonl") = $wantc" [ "$(sha "$d-copy.jsonl")" = "$wantc" ]
}

test_mpi_sigterm_one_rank() {
    local want; want="$(ref fmx-np2 "${MPIRUN[@]}" -np 2 "$B" train "${FMX[@]}")"
    local d="$W/mpi-term"
    "${MPIRUN[@]}" -np 2 "$B" train "${FMX[@]}" --checkpoint-dir "$d" --checkpoint-every 10 >"$d.out" 2>&1 &
    local p=$!
    wait_for_file "$d/step-000000010.safetensors" 120 || { log "no first checkpoint"; kill -9 $p; return 1; }
    local rank; rank="$(pgrep -P $p | tail -1)"
    log "SIGTERM to rank process $rank only"
    kill -TERM "$rank"; wait $p
    check "stop message" grep -q -- "--resume auto" "$d.out" || return 1
    log "stopped after step $(newest_step "$d")"
    "$B" train "${FMX[@]}" --checkpoint-dir "$d" --resume auto --metrics "$d.jsonl" >/dev/null 2>&1 || { log "resume failed"; return 1; }
    check "resume on 1 process: $(sha "$d.jsonl") = $want" [ "$(sha "$d.jsonl")" = "$want" ]
}

test_kill9_during_checkpoint_write() {
    local want; want="$(ref fm "$B" train "${FM[@]}")"
    local d="$W/kill9"
    # 1. Killed during the very first write: no checkpoint, only a partial temporary file.
    NNTRAIN_TEST_CHECKPOINT_WRITE_PAUSE=30 "$B" train "${FM[@]}" --checkpoint-dir "$d" --checkpoint-every 10 >/dev/null 2>&1 &
    local p=$!
    wait_for_file "$d/.step-000000010.safetensors.tmp.*" 120 || { log "no temporary file"; kill -9 $p; return 1; }
    kill -9 $p; wait $p 2>/dev/null
    check "no checkpoint, only the temporary file" [ -z "$(newest_step "$d")" ] || return 1
    # 2. A complete checkpoint (graceful stop), then killed while writing the next one.
    # --keep 0: with the default 3, a quiet machine writes steps 20–40 and prunes step 10's file
    # between two polls (as in lost_host.sh), and the wait below never sees it.
    "$B" train "${FM[@]}" --checkpoint-dir "$d" --checkpoint-every 10 --keep 0 >/dev/null 2>&1 &
    p=$!
    wait_for_file "$d/step-000000010.safetensors" 120 || { log "no checkpoint"; kill -9 $p; return 1; }
    kill -TERM $p; wait $p
    local good; good="$(newest_step "$d")"
    NNTRAIN_TEST_CHECKPOINT_WRITE_PAUSE=30 "$B" train "${FM[@]}" --checkpoint-dir "$d" --checkpoint-every 10 --resume auto >/dev/null 2>&1 &
    p=$!
    wait_for_file "$d/.step-*.safetensors.tmp.*" 120 || { log "no temporary file"; kill -9 $p; return 1; }
    kill -9 $p; wait $p 2>/dev/null
    log "good checkpoint at step $good; killed during a later write: $(ls -a "$d" | grep -v '^\.\.\?$' | tr '\n' ' ')"
    check "the previous checkpoint still verifies" "$B" inspect "$d/step-$(printf %09d "$good").safetensors" >/dev/null || return 1
    check "it is still the newest" [ "$(newest_step "$d")" = "$good" ] || return 1
    "$B" train "${FM[@]}" --checkpoint-dir "$d" --resume auto --metrics "$d.jsonl" >"$d.out" 2>&1 || { log "resume failed"; return 1; }
    check "no temporary file left" [ -z "$(ls -a "$d" | grep '\.tmp\.')" ] || return 1
    check "result $(sha "$d.jsonl") = straight $want" [ "$(sha "$d.jsonl")" = "$want" ]
}

test_launcher_restart_after_killed_rank() {
    local want; want="$(ref fm-np2 "${MPIRUN[@]}" -np 2 "$B" train "${FM[@]}")"
    local d="$W/restart"
    NNTRAIN="$B" NNTRAIN_RUN_RESTART_DELAY=0 "$root/launch/nntrain-run" --max-restarts 2 -np 2 -- train "${FM[@]}" \
        --checkpoint-dir "$d" --checkpoint-every 20 --metrics "$d.jsonl" >"$d.out" 2>&1 &
    local p=$!
    wait_for_file "$d/step-000000040.safetensors" 120 || { log "no checkpoint"; kill -TERM $p; wait $p; return 1; }
    # launcher → (nntrain-mpi →) mpirun → ranks: kill -9 a leaf process.
    local leaf=$p
    while [ -n "$(pgrep -P "$leaf" | head -1)" ]; do leaf="$(pgrep -P "$leaf" | tail -1)"; done
    log "kill -9 rank process $leaf ($(tr '\0' ' ' < /proc/$leaf/cmdline | cut -c1-60)…)"
    kill -9 "$leaf"
    wait $p; local st=$?
    check "launcher exit status 0 (got $st)" [ $st -eq 0 ] || { tail -5 "$d.out"; return 1; }
    check "launcher restarted" grep -q "restart 1 of 2" "$d.out" || return 1
    check "finished: $(sha "$d.jsonl") = straight -np 2 $want" [ "$(sha "$d.jsonl")" = "$want" ]
}

test_launcher_no_restart_on_user_error() {
    local d="$W/usererr"
    # A job that always fails at start with a user error (a directory where the metrics file should be).
    mkdir -p "$d/m.jsonl"
    NNTRAIN="$B" NNTRAIN_RUN_RESTART_DELAY=0 "$root/launch/nntrain-run" --max-restarts 1 -- train --dataset blobs --model mlp:2-4-3 --quiet --checkpoint-dir "$d/ck" --metrics "$d/m.jsonl" >"$d.out" 2>&1
    local st=$?
    check "exit status 2 (got $st)" [ $st -eq 2 ] || return 1
    check "user errors are not restarted" grep -q "not restarting" "$d.out"
}

test_launcher_gives_up_after_max_restarts() {
    local d="$W/giveup"; mkdir -p "$d"
    # A stand-in for nntrain that records its arguments and crashes.
    printf '#!/bin/sh\necho "$@" >> "%s/calls"\nexit 9\n' "$d" > "$d/fake"; chmod +x "$d/fake"
    NNTRAIN_RUN_RESTART_DELAY=0 "$root/launch/nntrain-run" --max-restarts 2 --nntrain "$d/fake" -- --checkpoint-dir "$d/ck" >"$d.out" 2>&1
    local st=$?
    check "exit status of the job, 9 (got $st)" [ $st -eq 9 ] || return 1
    check "three attempts" [ "$(wc -l < "$d/calls")" -eq 3 ] || return 1
    check "the first without --resume" [ "$(sed -n 1p "$d/calls")" = "train --checkpoint-dir $d/ck" ] || return 1
    check "restarts with --resume auto" [ "$(sed -n 3p "$d/calls")" = "train --checkpoint-dir $d/ck --resume auto" ] || return 1
    check "says the restarts are used up" grep -q "2 restart(s) are used up" "$d.out"
}

test_numpy_torch_load() {
    local d="$W/py"
    "$B" train "${FM[@]}" --model mlp:784-64-32-10 --epochs 1 --checkpoint-dir "$d" --metrics "$d.jsonl" >/dev/null 2>&1 || return 1
    local f="$d/step-$(printf %09d "$(newest_step "$d")").safetensors"
    python3 "$root/tests/checkpoint_pytorch.py" "$f" "$d.jsonl" 1000 | sed 's/^/    /'
    [ "${PIPESTATUS[0]}" -eq 0 ]
}

test_dropout_checkpoint_loads_as_nn_dropout() {
    local d="$W/pydrop"
    "$B" train "${FM[@]}" --model mlp:784-64-32-10,dropout:0.3 --epochs 1 --checkpoint-dir "$d" --metrics "$d.jsonl" >/dev/null 2>&1 || return 1
    local f="$d/step-$(printf %09d "$(newest_step "$d")").safetensors"
    python3 "$root/tests/checkpoint_pytorch.py" "$f" "$d.jsonl" 1000 >"$d.out" 2>&1; local st=$?
    sed 's/^/    /' "$d.out"
    check "numpy and torch reproduce the accuracy" [ $st -eq 0 ] || return 1
    if python3 -c "import torch" 2>/dev/null; then
        check "torch module has nn.Dropout(p=0.3)" grep -q "Dropout(p=0.3" "$d.out"
    fi
}

test_inspect_evaluate_and_rejections() {
    local d="$W/insp"
    "$B" train "${FM[@]}" --epochs 1 --checkpoint-dir "$d" --metrics "$d.jsonl" >/dev/null 2>&1 || return 1
    local f="$d/step-000000094.safetensors"
    "$B" inspect "$f" >"$d.inspect" || { log "inspect failed"; return 1; }
    check "inspect lists 0.weight [128, 784]" grep -q "0.weight .*\[128, 784\]" "$d.inspect" || return 1
    check "inspect verifies" grep -q "checksums: ok" "$d.inspect" || return 1
    local acc; acc="$(field "$d.jsonl" test_accuracy)"
    "$B" evaluate --checkpoint "$f" >"$d.eval" 2>&1 || { cat "$d.eval"; return 1; }
    log "evaluate: $(cat "$d.eval"); train reported $acc"
    check "evaluate --checkpoint gives the reported accuracy" grep -q "test_accuracy $(printf %.4f "$acc")" "$d.eval" || return 1
    # Damaged copies.
    python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[-7]^=4; open(sys.argv[2],"wb").write(b)' "$f" "$d/flipped.safetensors"
    head -c 100000 "$f" > "$d/truncated.safetensors"
    "$B" inspect "$d/flipped.safetensors" >/dev/null 2>"$d.err"; local st=$?
    check "inspect of a flipped bit fails (status $st)" [ $st -ne 0 ] || return 1
    check "…saying corrupt" grep -q "corrupt" "$d.err" || return 1
    "$B" train "${FM[@]}" --resume "$d/truncated.safetensors" 2>"$d.err" >/dev/null; st=$?
    check "resume from a truncated file: exit 2 (got $st)" [ $st -eq 2 ] || return 1
    check "…saying truncated: $(cat "$d.err")" grep -q "truncated" "$d.err" || return 1
    "$B" train "${FM[@]}" --model mlp:784-64-10 --resume "$f" 2>"$d.err" >/dev/null; st=$?
    check "resume into another model: exit 2" [ $st -eq 2 ] || return 1
    check "…saying another model shape" grep -q "another model shape" "$d.err" || return 1
    # --resume auto skips the damaged newest one.
    mkdir -p "$d/auto"; cp "$f" "$d/auto/step-000000094.safetensors"; cp "$d/flipped.safetensors" "$d/auto/step-000000100.safetensors"
    "$B" train "${FM[@]}" --epochs 1 --checkpoint-dir "$d/auto" --resume auto >"$d.auto" 2>&1 || { cat "$d.auto"; return 1; }
    check "auto warns and skips the corrupt one" grep -q "warning: skipping checkpoint: .*step-000000100.*corrupt" "$d.auto" || return 1
    # --init from the checkpoint's weights.
    "$B" train --train-subset 6000 --test-subset 1000 --model mlp:784-128-10 --epochs 1 --init "$f" >"$d.init" 2>&1 || { cat "$d.init"; return 1; }
    check "--init FILE" grep -q "initialized weights from" "$d.init"
}

test_second_sigint_exits_at_once() {
    local d="$W/sigint"
    # Full-batch steps of a wide model: slow enough to signal twice within one step.
    "$B" train "${FM[@]}" --model mlp:784-1024-1024-10 --batch-size full --epochs 50 --checkpoint-dir "$d" --checkpoint-every 1 >"$d.out" 2>&1 &
    local p=$!
    wait_for_file "$d/step-000000001.safetensors" 120 || { kill -9 $p; return 1; }
    kill -INT $p; sleep 0.2; kill -INT $p; wait $p; local st=$?
    check "exit status 130 (got $st)" [ $st -eq 130 ] || return 1
    check "says so" grep -q "second interrupt" "$d.out"
}

run sigterm_resume_exact test_sigterm_resume_exact
run steps_stop_resume_mid_epoch test_steps_stop_resume_mid_epoch
run mpi_exact_world_size_change test_mpi_exact_world_size_change
run mpi_sigterm_one_rank test_mpi_sigterm_one_rank
run kill9_during_checkpoint_write test_kill9_during_checkpoint_write
run launcher_restart_after_killed_rank test_launcher_restart_after_killed_rank
run launcher_no_restart_on_user_error test_launcher_no_restart_on_user_error
run launcher_gives_up_after_max_restarts test_launcher_gives_up_after_max_restarts
run numpy_torch_load test_numpy_torch_load
run dropout_checkpoint_loads_as_nn_dropout test_dropout_checkpoint_loads_as_nn_dropout
run inspect_evaluate_and_rejections test_inspect_evaluate_and_rejections
run second_sigint_exits_at_once test_second_sigint_exits_at_once

[ $failed -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
