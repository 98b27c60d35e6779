#!/usr/bin/env bash
# mpi_shm_space.sh: the shared gradient exchange lives in a file of OpenMPI's osc/sm backing
# directory (/dev/shm). A tmpfs too small for it would kill ranks with SIGBUS when the pages are
# first written (the "bus error" of containers with a 64 MB /dev/shm), so nntrain checks the free
# space first and falls back to one allreduce per step, saying so.
#
# Checks, with the backing directory on a 24 MiB tmpfs mounted here (the window needs ~28 MiB
# plus a margin):
#   1. mpirun -np 2 nntrain train completes (exit 0), prints the note naming the directory;
#   2. the done line says "exchange":"allreduce…" and training went on (8 steps);
#   3. with a roomy directory (/dev/shm) the same run with --exchange shared-gradients uses
#      "shared 1x2" and gives the same parameters_sha256 (2 ranks: the sum a + b is the same
#      bits either way; the default would share batch factors, which rounds differently).
# Needs root (mount) and OpenMPI. Prints `N passed, M failed` last.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${NNTRAIN:-$(dirname "$here")/.build/release/nntrain}"
passed=0; failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [[ $failed == 0 ]]; exit $?; }
[[ -x "$bin" ]] || { bad "no nntrain binary at $bin"; finish; }
[[ "$(id -u)" == 0 ]] || { bad "needs root to mount a small tmpfs"; finish; }
work="$(mktemp -d /tmp/nntrain-shm.XXXXXX)"
small="$work/small"
mkdir -p "$small"
cleanup() { umount "$small" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mount -t tmpfs -o size=24m tmpfs "$small" || { bad "could not mount a tmpfs at $small"; finish; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# --exchange shared-gradients: without shared memory it falls back to the allreduce (the default
# `shared` would allgather the MLP's batch factors instead; tests/mpi_netns.sh checks that).
args=(train --train-subset 512 --test-subset 200 --epochs 1 --batch-size 64 --quiet --exchange shared-gradients)
field() { grep '"event":"done"' "$1" 2>/dev/null | grep -oE "\"$2\":(\"[^\"]*\"|[^,}]*)" | cut -d: -f2- | tr -d '"'; }   # a quoted value may hold commas

out="$(OMPI_MCA_osc_sm_backing_directory="$small" timeout 120 mpirun -np 2 --oversubscribe --bind-to none \
        -x OMPI_MCA_osc_sm_backing_directory "$bin" "${args[@]}" --metrics "$work/small.jsonl" 2>&1)"; rc=$?
if [[ $rc == 0 ]] && echo "$out" | grep -q "$small has too little free space for the shared gradient exchange"; then
    ok "small backing directory: the run completes and says why it falls back ($(echo "$out" | grep -o '[0-9]* MiB + margin needed, [0-9]* MiB free'))"
else
    bad "small backing directory: exit $rc, output: $(echo "$out" | tail -3)"
fi
# "allreduce", or (fast mode, a model of ≥ 2 buckets) "allreduce (2 buckets, overlapped with backward)".
if [[ "$(field "$work/small.jsonl" exchange)" == allreduce* && "$(field "$work/small.jsonl" steps)" == 8 ]]; then
    ok "it trained with the allreduce: exchange '$(field "$work/small.jsonl" exchange)', $(field "$work/small.jsonl" steps) steps"
else
    bad "done line of the small-directory run: $(grep '"event":"done"' "$work/small.jsonl" 2>/dev/null)"
fi
timeout 120 mpirun -np 2 --oversubscribe --bind-to none "$bin" "${args[@]}" --metrics "$work/roomy.jsonl" >/dev/null 2>&1
a="$(field "$work/small.jsonl" parameters_sha256)"; b="$(field "$work/roomy.jsonl" parameters_sha256)"
if [[ "$(field "$work/roomy.jsonl" exchange)" == "shared 1x2" && -n "$a" && "$a" == "$b" ]]; then
    ok "/dev/shm: shared exchange, same parameters_sha256 as the allreduce run ($b)"
else
    bad "roomy run: exchange '$(field "$work/roomy.jsonl" exchange)', sha '$b' vs allreduce '$a'"
fi
finish
