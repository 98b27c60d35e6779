#!/usr/bin/env bash
# lost_host.sh: a job on two hosts loses one mid-run; `nntrain-run --min-np 1` drops it and
# finishes on the other with the bits of the uninterrupted run (--reduction exact).
#
# The two hosts are network namespaces joined by a veth pair, with addresses that exist only
# inside them (as in tests/mpi_netns.sh); mpirun runs in host A and starts host B's daemon
# through an rsh agent that does `ip netns exec B` instead of ssh. The test
#   1. runs the job uninterrupted in one process (exact mode: the same bits on any world size);
#   2. starts nntrain-run --min-np 1 --hostfile (A slots=1, B slots=1) -np 2 with a checkpoint
#      every 4 steps, waits for the one of step 8 (of 64), then "loses" host B: kills every process in B's
#      namespace and makes the agent fail for B (as ssh fails for a host that is down);
#   3. checks: nntrain-run exits 0, said B was not answering, restarted with 1 rank, the job's
#      first part ran on 2 ranks and its last on 1, resuming at step ≥ 8 (metrics), and the
#      final parameters_sha256 equals the uninterrupted run's;
#   4. with --min-np 2 instead, the same loss ends with the "fewer than --min-np" message and a
#      non-zero exit.
# Needs root (ip netns) and OpenMPI. Removes the namespaces on every exit.
# Prints `N passed, M failed` last; exits non-zero if any check failed.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
bin="${NNTRAIN:-$root/.build/release/nntrain}"
passed=0; failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [[ $failed == 0 ]]; exit $?; }

id="$$"
nsA="nlA$id"; nsB="nlB$id"; vA="vlA$id"; vB="vlB$id"
net="10.198.$(( id % 250 + 1 ))"
ipA="$net.1"; ipB="$net.2"
work="$(mktemp -d /tmp/nntrain-lost.XXXXXX)"

cleanup() {
    for ns in "$nsA" "$nsB"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    ip link del "$vA" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "$(id -u)" != 0 ]]; then bad "needs root to create network namespaces (ip netns add)"; finish; fi
for tool in ip mpirun setsid; do command -v "$tool" >/dev/null || { bad "$tool not found"; finish; }; done
[[ -x "$bin" ]] || { bad "no nntrain binary at $bin: run 'swift build -c release' or set NNTRAIN"; finish; }

setup() {
    ip netns add "$nsA" && ip netns add "$nsB" &&
    ip link add "$vA" type veth peer name "$vB" &&
    ip link set "$vA" netns "$nsA" && ip link set "$vB" netns "$nsB" &&
    ip -n "$nsA" addr add "$ipA/24" dev "$vA" && ip -n "$nsB" addr add "$ipB/24" dev "$vB" &&
    ip -n "$nsA" link set lo up && ip -n "$nsB" link set lo up &&
    ip -n "$nsA" link set "$vA" up && ip -n "$nsB" link set "$vB" up
}
if ! err="$(setup 2>&1)"; then bad "could not create namespaces/veth: $err"; finish; fi
echo "hosts: $nsA ($ipA) and $nsB ($ipB)"

# The rsh agent (mpirun's and nntrain-run's probe): [ssh-like options] HOST COMMAND...
# A host whose marker file $work/down-HOST exists is down: the agent fails as ssh would (255).
agent="$work/netns-agent"
cat > "$agent" <<AGENT
#!/usr/bin/env bash
while [[ "\$1" == -* ]]; do shift; done
host="\$1"; shift
if [[ -e "$work/down-\$host" ]]; then echo "ssh: connect to host \$host port 22: No route to host" >&2; exit 255; fi
case "\$host" in
    $ipA) ns="$nsA" ;;
    $ipB) ns="$nsB" ;;
    *) echo "netns-agent: unknown host \$host" >&2; exit 255 ;;
esac
echo "\$(date +%T) \$host: \$*" >> "$work/agent.log"
# A hostname of its own (a UTS namespace): OpenMPI tells nodes apart by name.
exec ip netns exec "\$ns" unshare --uts /bin/sh -c "hostname \$ns && \$*"
AGENT
chmod +x "$agent"
printf '%s slots=1\n%s slots=1\n' "$ipA" "$ipB" > "$work/hostfile"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpiopt="--mca plm_rsh_agent $agent --mca btl tcp,self --mca oob_tcp_if_include $net.0/24 --mca btl_tcp_if_include $net.0/24"
# 2 epochs × 32 steps; one BLAS thread everywhere (2 threads round differently from 1).
job=(--train-subset 2048 --test-subset 500 --model mlp:784-64-10 --batch-size 64 --epochs 2
     --reduction exact --blas-threads 1 --log-every-steps 2 --quiet)
sha() { grep '"event":"done"' "$1" 2>/dev/null | tail -1 | grep -o '"parameters_sha256":"[0-9a-f]*"' | cut -d'"' -f4; }
world_sizes() { grep -o '"world_size":[0-9]*' "$1" 2>/dev/null | cut -d: -f2 | uniq | tr '\n' ' '; }

# --- 1. the uninterrupted run -------------------------------------------------------------
"$bin" train "${job[@]}" --metrics "$work/ref.jsonl" >/dev/null 2>&1
want="$(sha "$work/ref.jsonl")"
[[ -n "$want" ]] || { bad "the uninterrupted run failed"; finish; }
echo "uninterrupted: $want"

# lose_b_when_checkpointed DIR: wait for the checkpoint of step 8 in DIR (of 64 steps; runs keep
# every checkpoint, --keep 0, or a fast machine prunes step 8 between two polls), then
# kill every process of host B and mark it down.
lose_b_when_checkpointed() {
    local d="$1" i
    for ((i = 0; i < 1800; i++)); do
        [[ -e "$d/step-000000008.safetensors" ]] && break
        sleep 0.1
    done
    [[ -e "$d/step-000000008.safetensors" ]] || return 1
    touch "$work/down-$ipB"
    local pids; pids="$(ip netns pids "$nsB" 2>/dev/null | tr '\n' ' ')"
    echo "  host B lost after $(ls "$d" | grep -c '^step-') checkpoint(s): kill -9 $pids"
    # shellcheck disable=SC2086
    [[ -n "$pids" ]] && kill -9 $pids
    return 0
}

# --- 2 and 3. lose host B, go on with host A ---------------------------------------------------
d="$work/ck"
timeout 600 ip netns exec "$nsA" env NNTRAIN="$bin" NNTRAIN_RUN_RESTART_DELAY=0 \
    "$root/launch/nntrain-run" --min-np 1 --max-restarts 2 --probe-timeout 5 --hostfile "$work/hostfile" -np 2 --mpi "$mpiopt" \
    -- train "${job[@]}" --checkpoint-dir "$d" --checkpoint-every 4 --keep 0 --metrics "$work/run.jsonl" >"$work/run.out" 2>&1 &
p=$!
if lose_b_when_checkpointed "$d"; then :; else bad "no checkpoint appeared"; fi
wait $p; st=$?
sed 's/^/  | /' "$work/run.out" | grep -v '^  | *$' | grep -vE "^  \| (-{10,}|\[warn\])" | head -30
[[ $st == 0 ]] && ok "nntrain-run exit status 0 after losing host B" || bad "nntrain-run exit status $st (0 expected)"
grep -q "not answering.*$ipB" "$work/run.out" && ok "nntrain-run found $ipB not answering" || bad "no 'not answering … $ipB' message"
grep -q "restart 1 of 2: .*-np 1 " "$work/run.out" && ok "restarted with -np 1" || bad "no restart with -np 1"
ws="$(world_sizes "$work/run.jsonl")"
[[ "$ws" == "2 1 " ]] && ok "metrics: the job ran on 2 ranks, then on 1 (world_size $ws)" || bad "metrics world_size sequence '$ws' (want '2 1 ')"
# The 1-rank part resumed from a checkpoint (step 8 or later), not from scratch (in exact mode a
# rerun from scratch would end with the same bits, too).
first1="$(python3 -c 'import json,sys
steps=[json.loads(l) for l in open(sys.argv[1]) if "\"event\":\"step\"" in l]
print(next((m["step"] for m in steps if m.get("world_size") == 1), -1))' "$work/run.jsonl" 2>/dev/null)"
(( ${first1:--1} >= 8 )) && ok "the 1-rank part resumed at step $first1 (a checkpoint of the 2-rank part)" \
    || bad "the 1-rank part starts at step '${first1}' (want ≥ 8: resumed, not restarted from scratch)"
got="$(sha "$work/run.jsonl")"
[[ -n "$got" && "$got" == "$want" ]] && ok "final parameters_sha256 $got = the uninterrupted run's" \
    || bad "final parameters_sha256 '$got' != uninterrupted '$want'"

# --- 4. --min-np 2: the same loss ends the job ---------------------------------------------------
rm -f "$work/down-$ipB"
d="$work/ck2"
timeout 600 ip netns exec "$nsA" env NNTRAIN="$bin" NNTRAIN_RUN_RESTART_DELAY=0 \
    "$root/launch/nntrain-run" --min-np 2 --max-restarts 2 --probe-timeout 5 --hostfile "$work/hostfile" --mpi "$mpiopt" \
    -- train "${job[@]}" --checkpoint-dir "$d" --checkpoint-every 4 --keep 0 --metrics "$work/run2.jsonl" >"$work/run2.out" 2>&1 &
p=$!
lose_b_when_checkpointed "$d" || bad "no checkpoint appeared (--min-np 2)"
wait $p; st=$?
grep "nntrain-run:" "$work/run2.out" | sed 's/^/  | /'
if [[ $st != 0 && $st != 124 ]] && grep -q "fewer than --min-np 2; giving up" "$work/run2.out"; then
    ok "--min-np 2 with one host left: gives up with a message (exit $st)"
else
    bad "--min-np 2 with one host left: exit $st (124 = hung), no 'giving up' message"
fi

finish
