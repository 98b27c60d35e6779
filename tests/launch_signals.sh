#!/usr/bin/env bash
# launch_signals.sh: a deliberate stop under MPI reports exit status 3 through the launchers.
#
# mpirun aborts the job on its own SIGTERM/SIGINT (exit 1, SIGKILL to the ranks after
# odls_base_sigkill_timeout); launch/nntrain-mpi therefore keeps mpirun out of the signal's way
# and hands it to the ranks. Checks:
#   1. kill -TERM of nntrain-mpi -np 2: exit status 3; the newest checkpoint says reason
#      "stopped" and verifies; resuming it gives the bits of the straight run;
#   2. kill -INT of nntrain-mpi (a Ctrl-C): exit status 3 as well;
#   3. kill -TERM of nntrain-run --max-restarts 2 -np 2: exit status 3, no restart;
#   4. a rank killed with -9 is still a failure: nntrain-mpi exits neither 0 nor 3.
# Needs mpirun. Prints `N passed, M failed` last; exits non-zero if any check failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${NNTRAIN:-$root/.build/release/nntrain}"
passed=0; failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [[ $failed == 0 ]]; exit $?; }
[[ -x "$bin" ]] || { bad "no nntrain binary at $bin: build it or set NNTRAIN"; finish; }
command -v mpirun >/dev/null || { bad "mpirun not found"; finish; }

W="$(mktemp -d /tmp/nntrain-signals.XXXXXX)"
trap 'rm -rf "$W"' EXIT
export NNTRAIN="$bin" NNTRAIN_RUN_RESTART_DELAY=0
# 3 epochs × 94 steps of a small MLP: long enough to stop in the middle.
job=(train --train-subset 6000 --test-subset 500 --model mlp:784-64-10 --batch-size 64 --epochs 3
     --blas-threads 1 --quiet)
sha() { grep '"event":"done"' "$1" 2>/dev/null | tail -1 | grep -o '"parameters_sha256":"[0-9a-f]*"' | cut -d'"' -f4; }
newest() { ls "$1" 2>/dev/null | grep -E '^step-[0-9]+\.safetensors$' | sort | tail -1; }
wait_ckpt() { # wait_ckpt DIR: until a step checkpoint exists
    local i
    # Any step checkpoint: with --keep 3 the one of step 10 is pruned as soon as step 40 is
    # written, which a fast machine does between two polls.
    for ((i = 0; i < 1800; i++)); do [[ -n "$(newest "$1")" ]] && return 0; sleep 0.1; done
    return 1
}

# stop_with SIGNAL NAME LAUNCHER...: start the job, signal the launcher after a checkpoint.
stop_with() {
    local sig="$1" name="$2"; shift 2
    local d="$W/$name"
    # Job control on while starting it: a script's background job otherwise starts with SIGINT
    # ignored, and a signal ignored on entry cannot be trapped (the Ctrl-C case would not be tested).
    set -m
    "$@" "${job[@]}" --checkpoint-dir "$d" --checkpoint-every 10 --metrics "$d.jsonl" >"$d.out" 2>&1 &
    local p=$!
    set +m
    if ! wait_ckpt "$d"; then kill -9 $p; wait $p; echo "  no checkpoint: $(tail -3 "$d.out")"; return 99; fi
    kill -s "$sig" $p
    wait $p
}

# --- 1. SIGTERM to nntrain-mpi ------------------------------------------------------------------
"$root/launch/nntrain-mpi" -np 2 "${job[@]}" --metrics "$W/straight.jsonl" >/dev/null 2>&1
want="$(sha "$W/straight.jsonl")"
[[ -n "$want" ]] || { bad "the straight -np 2 run failed"; finish; }
stop_with TERM term "$root/launch/nntrain-mpi" -np 2; st=$?
[[ $st == 3 ]] && ok "kill -TERM nntrain-mpi -np 2: exit status 3" || { bad "kill -TERM nntrain-mpi: exit status $st (3 expected)"; tail -5 "$W/term.out"; }
f="$W/term/$(newest "$W/term")"
"$bin" inspect "$f" >"$W/inspect" 2>&1 && grep -q "reason: stopped" "$W/inspect" \
    && ok "the newest checkpoint ($(basename "$f")) verifies and says reason: stopped" \
    || bad "the newest checkpoint $f: $(grep -E 'reason|error' "$W/inspect")"
"$root/launch/nntrain-mpi" -np 2 "${job[@]}" --checkpoint-dir "$W/term" --resume auto --metrics "$W/term.jsonl" >/dev/null 2>&1
got="$(sha "$W/term.jsonl")"
[[ -n "$got" && "$got" == "$want" ]] && ok "resumed after the stop: parameters_sha256 = the straight run's" \
    || bad "resumed: '$got' != straight '$want'"

# --- 2. SIGINT (Ctrl-C) to nntrain-mpi ----------------------------------------------------------
stop_with INT int "$root/launch/nntrain-mpi" -np 2; st=$?
[[ $st == 3 ]] && ok "kill -INT nntrain-mpi -np 2: exit status 3" || { bad "kill -INT nntrain-mpi: exit status $st (3 expected)"; tail -5 "$W/int.out"; }

# --- 3. SIGTERM to nntrain-run ------------------------------------------------------------------
stop_with TERM run "$root/launch/nntrain-run" --max-restarts 2 -np 2 --; st=$?
if [[ $st == 3 ]] && ! grep -q "restart 1" "$W/run.out"; then
    ok "kill -TERM nntrain-run -np 2: exit status 3, not restarted"
else
    bad "kill -TERM nntrain-run: exit status $st (3 expected); $(grep nntrain-run: "$W/run.out")"
fi

# --- 4. a rank killed: a failure, not a stop ------------------------------------------------------
d="$W/kill9"
# 30 epochs: long enough that the rank is still running when the first checkpoint appears.
"$root/launch/nntrain-mpi" -np 2 "${job[@]}" --epochs 30 --checkpoint-dir "$d" --checkpoint-every 10 >"$d.out" 2>&1 &
p=$!
if wait_ckpt "$d"; then
    rank="$(pgrep -f -- "--checkpoint-dir $d " | while read -r q; do [[ "$(readlink -f /proc/$q/exe)" == "$(readlink -f "$bin")" ]] && echo "$q"; done | tail -1)"
    kill -9 "$rank"; wait $p; st=$?
    [[ $st != 0 && $st != 3 ]] && ok "kill -9 of a rank: nntrain-mpi exit status $st (a failure, not 0 or 3)" \
        || bad "kill -9 of a rank: nntrain-mpi exit status $st"
else
    kill -9 $p; bad "no checkpoint in the kill -9 run"
fi

finish
