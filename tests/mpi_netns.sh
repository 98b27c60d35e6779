#!/usr/bin/env bash
# mpi_netns.sh: runs nntrain under OpenMPI across two "hosts" that share no network stack
# and exchange data only over TCP, to show that nothing in nntrain assumes shared memory.
#
# The two hosts are Linux network namespaces made here (ip netns), joined by a veth pair
# with private addresses that exist only inside them (10.199.<n>.1 and .2). mpirun runs in
# host A; OpenMPI starts its daemon on host B through a tiny rsh agent that does
# `ip netns exec B` instead of ssh (no sshd). OpenMPI is restricted to TCP
# (--mca btl tcp,self) on the veth subnet for both its out-of-band and data channels.
#
# Checks:
#   1. rank 1 really runs in namespace B (it sees B's address, not A's);
#   2. a raw MPI_Allreduce across the two namespaces gives the right sum (bench/allreduce.c
#      is not needed: a python-free C check is built with mpicc if available);
#   3. `nntrain train` on 2 ranks across A and B completes, reports world_size 2;
#   4. with --reduction exact its parameters_sha256 equals a one-process run's, bit for bit;
#   5. the gradients really crossed the veth link (its byte counters grew by megabytes);
#   6. 4 ranks, 2 per host: the default fast exchange works within each host in shared memory
#      and allreduces between the hosts over TCP, with batch factors ("factors 2x2") and with
#      gradients ("shared 2x2", --exchange shared-gradients), each matching one process; and
#      --exchange allreduce --compress bf16 (alltoall of bf16 shards + allgather of the sums)
#      matching it within bf16's rounding;
#   6b. 2 ranks, 1 per host (no shared memory): on a link shaped to 1 Gbit/s (tc tbf) the default
#      exchange allgathers batch factors across the hosts ("factors 2x1 (allgather …)") and
#      matches one process; so does
#      --exchange factors with --compress bf16 within bf16's rounding, and with --factor-form rows
#      (each rank forms its rows of dW, the rows are allgathered) within float rounding; the allgathers in flight
#      during backward (--factor-overlap on) give one after it (off) within float rounding;
#   6c. 2 ranks, 1 per host, --exchange allreduce: the gradient in 2 buckets allreduced during
#      backward gives the bits of one allreduce after it (--bucket-mb 0);
#   7. hosts whose data differ (here: host B given another --train-subset) end the job with
#      the fingerprint message naming rank 1, a non-zero exit and no hang.
# Cleans up the namespaces on any exit. Needs root (ip netns, tc) and OpenMPI.
# Prints `N passed, M failed` last; exits non-zero if any check failed.
#
# Usage: tests/mpi_netns.sh            (NNTRAIN=/path/to/nntrain to pick the binary)
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
bin="${NNTRAIN:-$root/.build/release/nntrain}"
passed=0; failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [[ $failed == 0 ]]; exit $?; }

# Unique names, so that two copies of this test (or two engineers) do not collide.
id="$$"
nsA="nnA$id"; nsB="nnB$id"; vA="vnA$id"; vB="vnB$id"
net="10.199.$(( id % 250 + 1 ))"
ipA="$net.1"; ipB="$net.2"
work="$(mktemp -d /tmp/nntrain-netns.XXXXXX)"

cleanup() {
    # Daemons left in B (after a failed job) die with their namespace's processes.
    for ns in "$nsA" "$nsB"; do
        if ip netns pids "$ns" >/dev/null 2>&1; then
            for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
        fi
        ip netns del "$ns" 2>/dev/null
    done
    ip link del "$vA" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "$(id -u)" != 0 ]]; then bad "needs root to create network namespaces (ip netns add)"; finish; fi
for tool in ip mpirun; do command -v "$tool" >/dev/null || { bad "$tool not found"; finish; }; done
[[ -x "$bin" ]] || { bad "no nntrain binary at $bin: run 'swift build -c release' or set NNTRAIN"; finish; }

# --- the two hosts -----------------------------------------------------------------------
setup() {
    ip netns add "$nsA" && ip netns add "$nsB" &&
    ip link add "$vA" type veth peer name "$vB" &&
    ip link set "$vA" netns "$nsA" && ip link set "$vB" netns "$nsB" &&
    ip -n "$nsA" addr add "$ipA/24" dev "$vA" && ip -n "$nsB" addr add "$ipB/24" dev "$vB" &&
    ip -n "$nsA" link set lo up && ip -n "$nsB" link set lo up &&
    ip -n "$nsA" link set "$vA" up && ip -n "$nsB" link set "$vB" up
}
if ! err="$(setup 2>&1)"; then bad "could not create namespaces/veth: $err"; finish; fi
echo "hosts: $nsA ($ipA) and $nsB ($ipB), veth $vA <-> $vB"

# The rsh agent: mpirun calls `agent [options] HOST COMMAND...`; we run COMMAND in HOST's namespace.
agent="$work/netns-agent"
cat > "$agent" <<AGENT
#!/usr/bin/env bash
# Called by mpirun instead of ssh: [ssh-like options] HOST COMMAND...
while [[ "\$1" == -* ]]; do shift; done
host="\$1"; shift
case "\$host" in
    $ipA) ns="$nsA" ;;
    $ipB) ns="$nsB" ;;
    *) echo "netns-agent: unknown host \$host" >&2; exit 1 ;;
esac
echo "\$(date +%T) \$host -> \$ns: \$*" >> "$work/agent.log"
# Its own hostname too (a UTS namespace): OpenMPI tells nodes apart by name, and two "hosts"
# both called $(hostname) crash OpenMPI 4.1 in MPI_Comm_split_type (a real cluster's nodes
# have distinct names).
exec ip netns exec "\$ns" unshare --uts /bin/sh -c "hostname \$ns && \$*"
AGENT
chmod +x "$agent"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mca=(--bind-to none --mca plm_rsh_agent "$agent" --mca btl tcp,self
     --mca oob_tcp_if_include "$net.0/24" --mca btl_tcp_if_include "$net.0/24")
mpi=(mpirun -np 2 --host "$ipA:1,$ipB:1" "${mca[@]}")
inA() { ip netns exec "$nsA" "$@"; }
run_mpi() { timeout 180 ip netns exec "$nsA" "${mpi[@]}" "$@"; }

# --- 1. where each rank runs ----------------------------------------------------------------
out="$(run_mpi /bin/sh -c 'echo "rank $OMPI_COMM_WORLD_RANK addrs $(ip -o -4 addr show | grep -o "10\.199\.[0-9]*\.[0-9]*" | tr "\n" " ")"' 2>&1)"
echo "$out" | sed 's/^/  /'
if echo "$out" | grep -q "rank 0 addrs $ipA" && echo "$out" | grep -q "rank 1 addrs $ipB"; then
    ok "rank 0 runs in $nsA ($ipA), rank 1 in $nsB ($ipB), started by the netns agent"
else
    bad "ranks did not start one per namespace (see output above; agent log: $(cat "$work/agent.log" 2>/dev/null))"
fi

# --- 2. a raw MPI_Allreduce over TCP between the namespaces ---------------------------------
if command -v mpicc >/dev/null; then
    cat > "$work/sum.c" <<'C'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size; MPI_Comm_rank(MPI_COMM_WORLD, &rank); MPI_Comm_size(MPI_COMM_WORLD, &size);
    enum { N = 1 << 20 };  /* 4 MiB of floats: well past any eager/inline limit */
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)(rank + 1);
    int rc = MPI_Allreduce(MPI_IN_PLACE, x, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    int good = rc == MPI_SUCCESS;
    for (int i = 0; i < N; i++) if (x[i] != (float)(size * (size + 1) / 2)) { good = 0; break; }
    printf("rank %d allreduce %s\n", rank, good ? "ok" : "WRONG");
    MPI_Finalize();
    return good ? 0 : 1;
}
C
    if mpicc -O2 -o "$work/sum" "$work/sum.c" 2>"$work/mpicc.err"; then
        out="$(run_mpi "$work/sum" 2>&1)"; rc=$?
        echo "$out" | sed 's/^/  /'
        if [[ $rc == 0 && $(echo "$out" | grep -c "allreduce ok") == 2 ]]; then ok "raw MPI_Allreduce of 4 MiB over TCP (btl tcp,self) across namespaces"
        else bad "raw MPI_Allreduce across namespaces (exit $rc)"; fi
    else
        bad "mpicc failed: $(cat "$work/mpicc.err")"
    fi
else
    echo "(mpicc not found: raw allreduce check skipped)"
fi

# --- 3 and 4. nntrain across the namespaces ------------------------------------------------
txbytes() { ip -n "$nsA" -s -j link show "$vA" 2>/dev/null | grep -o '"tx":{"bytes":[0-9]*' | grep -o '[0-9]*$'; }
tx0="$(txbytes)"
# One BLAS thread on both sides: OpenBLAS with 2 threads can round differently from 1 thread,
# which would make exact mode differ for a reason that has nothing to do with TCP.
args=(train --train-subset 512 --test-subset 200 --epochs 1 --batch-size 64 --reduction exact --blas-threads 1 --quiet)
out="$(run_mpi "$bin" "${args[@]}" --metrics "$work/mpi.jsonl" 2>&1)"; rc=$?
[[ -n "$out" ]] && echo "$out" | sed 's/^/  /'
if [[ $rc == 0 ]] && grep -q '"world_size":2' "$work/mpi.jsonl" 2>/dev/null; then
    ok "nntrain train on 2 ranks across $nsA and $nsB over TCP (world_size 2)"
else
    bad "nntrain across namespaces: exit $rc, metrics: $(cat "$work/mpi.jsonl" 2>/dev/null | tail -1)"
fi
tx1="$(txbytes)"
"$bin" "${args[@]}" --metrics "$work/one.jsonl" >/dev/null 2>&1
sha() { grep -o '"parameters_sha256":"[0-9a-f]*"' "$1" 2>/dev/null | cut -d'"' -f4; }
s2="$(sha "$work/mpi.jsonl")"; s1="$(sha "$work/one.jsonl")"
if [[ -n "$s1" && "$s1" == "$s2" ]]; then
    ok "exact mode: parameters_sha256 across namespaces equals one process ($s1)"
else
    bad "exact mode: parameters_sha256 differs: 2 ranks over TCP '$s2', one process '$s1'"
fi

# --- 5. the traffic went over the veth ---------------------------------------------------
# 8 steps of an exact-mode allreduce of 1,863,694 Int64 values: well over 8 MB each way.
if [[ -n "$tx0" && -n "$tx1" ]] && (( tx1 - tx0 > 8000000 )); then
    ok "nntrain's allreduces crossed the veth: $(( (tx1 - tx0) / 1000000 )) MB sent by $nsA"
else
    bad "veth byte counter of $nsA grew by $(( ${tx1:-0} - ${tx0:-0} )) bytes during the nntrain run (expected > 8 MB)"
fi

# --- 6. two ranks per host: shared memory inside each host, MPI_Allreduce between hosts ------
# Fast mode's default exchange: the ranks of a host share an MPI-3 window; the ranks with the
# same local rank then allreduce their share across the hosts (TCP). The default MLP shares
# batch factors inside a host ("factors 2x2"); --exchange shared-gradients sums gradients there.
fargs=(train --train-subset 512 --test-subset 200 --epochs 1 --batch-size 64 --blas-threads 1 --quiet)
"$bin" "${fargs[@]}" --metrics "$work/h1.jsonl" >/dev/null 2>&1
field() { grep '"event":"done"' "$1" 2>/dev/null | grep -o "\"$2\":[^,}]*" | cut -d: -f2 | tr -d '"'; }
exchange() { grep '"event":"done"' "$1" 2>/dev/null | grep -o '"exchange":"[^"]*"' | cut -d'"' -f4; }   # the label has a comma
# The third variant is --compress bf16 on the allreduce path: from 3 ranks an MPI_Alltoall of bf16
# shards (each rank summing its shard in Float32) and an allgather of the bf16 sums.
for variant in "factors 2x2:1e-5:" "shared 2x2:1e-5:--exchange shared-gradients" \
               "allreduce (bf16 on the wire):2e-2:--exchange allreduce --compress bf16 --bucket-mb 0"; do
    want="${variant%%:*}"; rest="${variant#*:}"; tol="${rest%%:*}"; extra="${rest#*:}"
    out="$(timeout 180 ip netns exec "$nsA" mpirun -np 4 --host "$ipA:2,$ipB:2" "${mca[@]}" "$bin" "${fargs[@]}" $extra --metrics "$work/h.jsonl" 2>&1)"; rc=$?
    [[ -n "$out" ]] && echo "$out" | sed 's/^/  /'
    ex="$(exchange "$work/h.jsonl")"
    agree="$(python3 -c "import sys; a, b, t = map(float, sys.argv[1:]); print('yes' if abs(a - b) <= t * abs(b) else 'no')" \
             "$(field "$work/h.jsonl" test_loss)" "$(field "$work/h1.jsonl" test_loss)" "$tol" 2>/dev/null)"
    if [[ $rc == 0 && "$ex" == "$want" && "$agree" == yes ]]; then
        ok "4 ranks, 2 per host: shared memory within each host or a collective across all, MPI across hosts (exchange '$ex'); test loss $(field "$work/h.jsonl" test_loss) = one process $(field "$work/h1.jsonl" test_loss) within $tol"
    else
        bad "hierarchical exchange across hosts ($want expected): exit $rc, exchange '$ex', test loss $(field "$work/h.jsonl" test_loss) vs one process $(field "$work/h1.jsonl" test_loss)"
    fi
    rm -f "$work/h.jsonl"
done

# --- 6b. one rank per host: sufficient factors allgathered across the hosts -----------------
# The default's choice weighs the probed link against the extra dW GEMMs. On an unshaped veth
# (13-18 Gbit/s here) the factors win by only about 1.5x, so a machine with a faster loopback
# or slower GEMMs may rightly choose the allreduce. The default variant therefore runs on a link
# shaped like a real one between hosts (tc tbf 1gbit on both ends, removed after it), where
# the factors win by 20x and the choice cannot depend on the machine.
shape() { ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate 1gbit burst 256kb latency 50ms; }
unshape() { ip netns exec "$nsA" tc qdisc del dev "$vA" root 2>/dev/null; ip netns exec "$nsB" tc qdisc del dev "$vB" root 2>/dev/null; true; }
for variant in "factors 2x1 (allgather:1e-5:" "factors 2x1 bf16 (allgather 3/3 layers):2e-2:--exchange factors --compress bf16 --factor-overlap off" \
               "factors 2x1 (allgather 3/3 layers, 3 by rows, overlapped):1e-5:--exchange factors --factor-form rows --factor-overlap on"; do
    want="${variant%%:*}"; rest="${variant#*:}"; tol="${rest%%:*}"; extra="${rest#*:}"
    link=""
    if [[ -z "$extra" ]]; then
        link=" (veth shaped to 1 Gbit/s)"
        err="$(shape "$nsA" "$vA" 2>&1 && shape "$nsB" "$vB" 2>&1)" || { bad "tc could not shape the veth for the default's choice: $err"; unshape; continue; }
    fi
    out="$(timeout 180 ip netns exec "$nsA" mpirun -np 2 --host "$ipA:1,$ipB:1" "${mca[@]}" "$bin" "${fargs[@]}" $extra --metrics "$work/h.jsonl" 2>&1)"; rc=$?
    [[ -n "$out" ]] && echo "$out" | grep -v "^\s*$" | sed 's/^/  /'
    unshape
    ex="$(exchange "$work/h.jsonl")"
    agree="$(python3 -c "import sys; a, b, t = map(float, sys.argv[1:]); print('yes' if abs(a - b) <= t * abs(b) else 'no')" \
             "$(field "$work/h.jsonl" test_loss)" "$(field "$work/h1.jsonl" test_loss)" "$tol" 2>/dev/null)"
    if [[ $rc == 0 && "$ex" == "$want"* && "$agree" == yes ]]; then
        ok "2 ranks, 1 per host: exchange '$ex' across the hosts$link; test loss $(field "$work/h.jsonl" test_loss) = one process $(field "$work/h1.jsonl" test_loss) within $tol"
    else
        bad "factor allgather across hosts ('$want…' expected): exit $rc, exchange '$ex', test loss $(field "$work/h.jsonl" test_loss) vs one process $(field "$work/h1.jsonl" test_loss)"
    fi
    rm -f "$work/h.jsonl"
done

# --- 6b'. the factor allgathers in flight during backward (MPI_Iallgather, tested between GEMM
# blocks; --factor-overlap on) give one allgather after backward's result (off) within float
# rounding: the same sums in the same order, but the GEMMs cut into blocks, which some
# OpenBLAS kernels round differently (Zen: 2-11% of a GEMM's elements, in the last bit; SkylakeX: none seen).
for o in on off; do
    timeout 180 ip netns exec "$nsA" mpirun -np 2 --host "$ipA:1,$ipB:1" "${mca[@]}" "$bin" "${fargs[@]}" --exchange factors \
        --factor-overlap $o --metrics "$work/o$o.jsonl" > "$work/o$o.log" 2>&1 || sed 's/^/  /' "$work/o$o.log"
done
lon="$(field "$work/oon.jsonl" test_loss)"; loff="$(field "$work/ooff.jsonl" test_loss)"
exon="$(grep -o '"exchange":"[^"]*"' "$work/oon.jsonl" | tail -1 | cut -d'"' -f4)"; exoff="$(grep -o '"exchange":"[^"]*"' "$work/ooff.jsonl" | tail -1 | cut -d'"' -f4)"
agree="$(python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('yes' if abs(a - b) <= 1e-5 * abs(b) else 'no')" "$lon" "$loff" 2>/dev/null)"
if [[ "$agree" == yes && "$exon" == *", overlapped)" && "$exoff" != *overlapped* ]]; then
    ok "2 ranks, 1 per host: '$exon' gives the test loss of '$exoff' within 1e-5 ($lon, $loff)"
else
    bad "factor overlap across hosts: '$exon' vs '$exoff', test loss '$lon' vs '$loff'"
fi

# --- 6c. one rank per host, --exchange allreduce: buckets overlapped with backward -----------
# The default MLP's gradient goes in 2 buckets (layers 2-4, then layer 0), each allreduced by
# the collective thread while backward computes the layers below. Two ranks: a + b is the same
# bits whoever adds, so the parameters must equal one allreduce after backward (--bucket-mb 0).
for cap in 1 0; do
    out="$(timeout 180 ip netns exec "$nsA" mpirun -np 2 --host "$ipA:1,$ipB:1" "${mca[@]}" "$bin" "${fargs[@]}" --exchange allreduce --bucket-mb $cap --metrics "$work/b$cap.jsonl" 2>&1)"; rc=$?
    [[ -n "$out" ]] && echo "$out" | grep -v "^\s*$" | sed 's/^/  /'
    [[ $rc == 0 ]] || bad "--exchange allreduce --bucket-mb $cap across hosts: exit $rc"
done
ex1="$(exchange "$work/b1.jsonl")"; ex0="$(exchange "$work/b0.jsonl")"
sb1="$(sha "$work/b1.jsonl")"; sb0="$(sha "$work/b0.jsonl")"
if [[ "$ex1" == "allreduce (2 buckets, overlapped with backward)" && "$ex0" == "allreduce" && -n "$sb0" && "$sb1" == "$sb0" ]]; then
    ok "2 ranks, 1 per host: '$ex1' gives the bits of one allreduce after backward ($sb1)"
else
    bad "overlapped buckets across hosts: exchange '$ex1' vs '$ex0', parameters_sha256 '$sb1' vs '$sb0'"
fi

# --- 7. a host with different data: fingerprint mismatch ends the job -----------------------
start=$(date +%s)
out="$(timeout 180 ip netns exec "$nsA" mpirun "${mca[@]}" \
        -np 1 --host "$ipA:1" "$bin" train --train-subset 512 --test-subset 200 --epochs 1 --quiet : \
        -np 1 --host "$ipB:1" "$bin" train --train-subset 256 --test-subset 200 --epochs 1 --quiet 2>&1)"; rc=$?
echo "$out" | grep -i "error" | head -2 | sed 's/^/  /'
if [[ $rc != 0 && $rc != 124 ]] && echo "$out" | grep -q "rank(s) 1 differ from rank 0"; then
    ok "fingerprint mismatch across hosts ends the job naming rank 1 (exit $rc, $(( $(date +%s) - start )) s)"
else
    bad "fingerprint mismatch across hosts: exit $rc (124 = hung until timeout), output: $(echo "$out" | tail -3)"
fi

finish
