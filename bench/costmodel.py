#!/usr/bin/env python3
"""Cost model of data-parallel training of the default MLP across nodes: per-link latency plus
bytes over bandwidth for each exchange strategy's messages, compute per layer measured.

    python3 bench/costmodel.py measure [--reps 3] [--shared 2,4]   # compute at one rank -> bench/results/compute-*.json
    python3 bench/costmodel.py predict --compute C.json --runs R1.jsonl [R2.jsonl ...] [--plot docs/img/x.png]

The model (per step, per rank, b = 128 samples per rank, N ranks = nodes, one per node):

  t_step = t_compute + t_exchange (strategies that overlap: a two-stage pipeline of backward
  per layer and communication per bucket, see `pipeline`)

  t_compute  one rank's measured step time (`measure`: nntrain, PyTorch and numpy each alone,
             one BLAS thread, batch 128), split over layers and passes by GEMM flops:
             forward 2·b·in·out, weight gradient 2·b·in·out, input gradient 2·b·in·out (not
             for the first layer). On the measuring machine N hosts share its C cores, so for
             a measured point of N hosts t_compute is timed with N concurrent copies
             (`measure --shared`; compute files without them: the lone figure × max(1, N/C),
             --cores); the 2-64 node predictions assume one core per node (the lone figure).
             DDP's strategies use DDP's own step at world size 1 (its reducer's copies and
             averaging, the bf16 hook's casts: no network), PowerSGD nntrain's step plus its
             compression passes (timed with C in-process workers against the same workers'
             plain allreduce, `measure`), the others their implementation's plain step.
  messages   o per collective (a transport's fixed cost: MPI's from its 16 Ki-float probe, gloo's from its two sizes), α per message (the link probe's 1-byte round trip ÷ 2) and bytes ÷ β, β the
             bandwidth one link carries per direction. The raw collective probes that give o and
             β at a measured point call the collective with a step's compute between the calls
             (bench/netns.py --raw-gap-ms, default 20 ms), as training does; back to back, a call
             meets the previous one's TCP queues and windows (--raw-probes back-to-back uses
             those). Measured points: β is the link probe's
             ring figure (bench/netns_link.py, in the runs' JSONL) times an implementation's
             protocol efficiency η (how much of the TCP probe's bandwidth an MPI or gloo
             allreduce reaches), fitted on ONE measured point (--calibrate, default 2 hosts
             1gbit) and then held fixed: every other point is a prediction. Predictions at
             1/10/100 Gbit/s: β = rate × 0.94 (TCP/IP payload over Ethernet framing) × η.
  CPU-bound  a measured link whose plain TCP probe reaches less than 0.75 of rate × 0.94 (here
             10 Gbit/s veths: about 0.5; 1 Gbit/s: above 0.9) is limited by the CPU that moves
             the bytes, the same core backward runs on: there overlapped communication runs
             after compute, not beside it. The 2-64 node predictions assume links that are not.

  ring allreduce of B bytes:  2(N-1) messages, 2(N-1)/N · B bytes sent per rank
  ring allgather, B per rank: (N-1) messages,  (N-1) · B bytes sent per rank
  strategies (bytes per rank and step for P = 1,863,690 parameters):
    allreduce        one allreduce of the whole fp32 gradient (nntrain today, numpy+mpi4py)
    allreduce-bf16   nntrain's --compress bf16 allreduce: at N = 2 an allgather of both ranks' bf16
                     words (P·2 bytes per rank), from N = 3 an alltoall of bf16 shards (each rank
                     sums its shard in fp32) and an allgather of the bf16 sums (2(N-1)·⌈P/N⌉·2
                     bytes per rank: half a ring allreduce's at any N); the tail in a small allreduce
    overlap          allreduce per layer, each started when its layer's backward is done
    buckets          nntrain's overlapped allreduce (--bucket-mb 1): [W3,b3,W2,b2] after layer 2's
                     weight gradient, then [W1,b1]
    ddp / ddp-bf16   DDP's buckets (1 MB first bucket: W3,b3,b2,W2; then W1,b1), overlapped
    factors(-bf16)   allgather every Linear layer's x and dy rows (b·(in+out) floats per rank),
                     each rank forming dW over the global batch: +(N-1)× the weight-gradient GEMMs
    factors-rows     allgather every Linear layer's factors, each rank forming only its rows of dW
                     over the global batch (one rank's GEMMs), then a ring allgather of the rows
                     ((N-1)/N · (in·out+out) floats per rank): --exchange factors --factor-form rows
    hybrid           per layer the cheapest of allreduce, factors and factor rows (Poseidon's
                     choice, plus rows: nntrain's default across nodes)
    hybrid-bf16      the same with bf16 on the wire
    hybrid-overlap   the same with each factor layer's allgather started during backward
                     (--factor-overlap; nntrain's default where the transfer is >= 5 ms a step)
    powersgd:R       rank-R PowerSGD: allreduce of (in+out)·R floats per weight matrix, biases fp32
"""
import argparse
import glob
import json
import math
import re
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
NN = os.path.abspath(os.environ.get("NN", os.path.join(ROOT, ".build", "release", "nntrain")))   # the runs start in bench/
LAYERS = [(784, 1024), (1024, 1024), (1024, 10)]   # (in, out)
P = sum(i * o + o for i, o in LAYERS)              # 1,863,690
B = 128                                            # samples per rank
METRICS = f"/tmp/costmodel-{os.getpid()}.jsonl"
FRAMING = 0.94                                     # TCP payload ÷ Ethernet line rate at MTU 1500
CPU_BOUND = 0.75                                   # TCP probe below this share of the payload rate: CPU-bound link


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------- compute


class Compute:
    """One rank's step time, split over layers by GEMM flops."""

    def __init__(self, t_step, b=B):
        self.t, self.b = t_step, b
        fl = []
        for k, (i, o) in enumerate(LAYERS):
            g = 2.0 * b * i * o
            fl.append({"fwd": g, "dw": g, "dx": g if k > 0 else 0.0})
        total = sum(sum(d.values()) for d in fl)
        self.layer = [{k: t_step * v / total for k, v in d.items()} for d in fl]

    def scaled(self, f):
        return Compute(self.t * f, self.b)

    @property
    def fwd(self):
        return sum(l["fwd"] for l in self.layer)

    def bwd(self, k):
        return self.layer[k]["dw"] + self.layer[k]["dx"]


# ---------------------------------------------------------------- messages


def ring_allreduce(nbytes, n, link):
    if n == 1:
        return 0.0
    return link.get("o", 0.0) + 2 * (n - 1) * link["alpha"] + 2 * (n - 1) / n * nbytes / link["beta"]


def ring_allgather(nbytes_per_rank, n, link):
    if n == 1:
        return 0.0
    # MPI's allgather ran at the link's TCP rate here, its allreduce far below it: beta_ag.
    return (n - 1) * link["alpha"] + (n - 1) * nbytes_per_rank / link.get("beta_ag", link["beta"])


def bucket_bytes(bucket, wire):
    """Bytes of the weights and biases of the layers in `bucket`, `wire` bytes per value."""
    return sum(LAYERS[k][0] * LAYERS[k][1] + LAYERS[k][1] for k in bucket) * wire


def pipeline(comp, buckets, n, link, wire=4):
    """Step time when bucket k's allreduce starts as soon as its layers' backward is done and
    the previous bucket's allreduce has finished. buckets: lists of layer indices in the
    order their backward completes (last layer first). On a CPU-bound link (link["serial"]) the
    communication cannot run beside backward on the same core: compute, then every bucket."""
    if link.get("serial"):
        return comp.t + sum(ring_allreduce(bucket_bytes(bucket, wire), n, link) for bucket in buckets)
    t = comp.fwd
    comm_free = 0.0
    done = t
    for bucket in buckets:
        for k in bucket:
            done += comp.bwd(k)
        nbytes = bucket_bytes(bucket, wire)
        start = max(done, comm_free)
        comm_free = start + ring_allreduce(nbytes, n, link)
    return max(done, comm_free)


def pack_in_gather(n, pack_floats):
    """Whether the gradient layers' pack (and the tail) rides in the factor allgather, as
    AllgatherFactorExchange decides: 2 ranks (an allgather moves what a ring allreduce does), or
    a pack of at most 2^16 floats; else it is allreduced on its own."""
    return n == 2 or pack_floats + 4 <= 1 << 16


def factor_exchange(sel, n, link, comp, w=4, overlap=False, rows_sel=frozenset()):
    """nntrain's factor exchange (AllgatherFactorExchange) for the layers in sel, each rank
    forming their dW over the global batch (N× their weight-gradient GEMMs, N-1 more than one
    rank's own), or for the layers in rows_sel (a subset of sel) only its rows of dW (one
    rank's GEMMs), whose allgather (1/N of the gradient per rank) starts as soon as they are
    formed; the other layers' gradients (the pack) ride in the last allgather, or go in
    one allreduce of their own (pack_in_gather). Rows per rank and layer: dy, and x except for
    the first layer (its input is the data, which every rank has). (step seconds, bytes per rank)

    Not overlapped: one allgather of every factor layer's rows and the pack after backward.
    Overlapped (--factor-overlap): each factor layer but the lowest in its own allgather, started
    when backward has its dy and crossing while the layers below compute their dx; the lowest
    one's rows with the pack after backward; then, top first, each layer's dW over the global
    batch once its allgather is in (the later allgathers cross during the earlier dW GEMMs).
    On a CPU-bound link (link["serial"]) nothing hides: the bytes take the core backward runs
    on, so the overlapped exchange is charged as the one after backward."""
    rows = {k: comp.b * ((i if k > 0 else 0) + o) * w for k, (i, o) in enumerate(LAYERS) if k in sel}
    pack = sum(i * o + o for k, (i, o) in enumerate(LAYERS) if k not in sel)
    in_gather = pack_in_gather(n, pack)
    pack_bytes = (pack + 4) * 4
    per_rank = sum(rows.values()) + (pack_bytes if in_gather and sel else 0)
    nbytes = (n - 1) * per_rank + (0 if in_gather and sel else 2 * (n - 1) / n * pack_bytes)
    row_bytes = {k: math.ceil(o / n) * (i + 1) * 4 for k, (i, o) in enumerate(LAYERS) if k in rows_sel}
    nbytes += (n - 1) * sum(row_bytes.values())
    if not sel:
        return comp.t + ring_allreduce(pack_bytes, n, link), nbytes
    groups = sorted(sel, reverse=True)                 # top first
    lowest = groups[-1]
    t, comm_free, arrived = comp.fwd, 0.0, {}
    if overlap and not link.get("serial"):
        for k in reversed(range(len(LAYERS))):        # backward: dy of k is ready at t
            if k in sel and k != lowest:
                comm_free = max(t, comm_free) + ring_allgather(rows[k], n, link)
                arrived[k] = comm_free
            t += comp.layer[k]["dx"]
        t += sum(comp.layer[k]["dw"] for k in range(len(LAYERS)) if k not in sel)
        last = rows[lowest] + (pack_bytes if in_gather else 0)
        arrived[lowest] = max(t, comm_free) + ring_allgather(last, n, link)
    else:
        t += sum(comp.layer[k]["dx"] for k in range(len(LAYERS))) + sum(comp.layer[k]["dw"] for k in range(len(LAYERS)) if k not in sel)
        t += ring_allgather(per_rank, n, link)
        arrived = {k: t for k in sel}
    rows_done = t
    for k in groups:                                   # reduce: top first, each once its rows are in
        t = max(t, arrived[k]) + (1 if k in rows_sel else n) * comp.layer[k]["dw"]
        if k in rows_sel:                              # its rows' allgather: during the layers below when overlapped
            start = max(t, rows_done) if overlap and not link.get("serial") else t
            rows_done = start + ring_allgather(row_bytes[k], n, link)
            if not (overlap and not link.get("serial")):
                t = rows_done
    t = max(t, rows_done)
    if not in_gather:
        t += ring_allreduce(pack_bytes, n, link)
    return t, nbytes


def factor_layers_by_merit(count, n, w=4):
    """The `count` layers nntrain's own cost model sends by factors (AllgatherFactorExchange.
    choose): a layer goes by factors when the bytes it saves over its allreduce, divided by the
    flops of its N-1 extra weight-gradient GEMMs, exceed the link's bytes per flop; so whatever
    the probed link and GEMM rate, the layers chosen are the `count` with the most bytes saved
    per extra flop."""
    def merit(k):
        i, o = LAYERS[k]
        saved = 2 * (n - 1) / n * (i * o + o) * 4 - (n - 1) * B * ((i if k > 0 else 0) + o) * w
        return saved / (2 * (n - 1) * B * i * o)
    return set(sorted(range(len(LAYERS)), key=merit, reverse=True)[:count])


def rows_layers(sel, count):
    """The `count` layers of sel nntrain forms by rows: its cost model prefers rows over whole
    dW where the extra GEMMs cost more than the rows' bytes, i.e. for the widest layers."""
    return frozenset(sorted(sel, key=lambda k: LAYERS[k][0] * LAYERS[k][1], reverse=True)[:count])


def strategy_time(name, n, link, comp, factor_count=None, rows_count=None):
    """(step seconds, bytes sent per rank per step). factor_count, rows_count: for the hybrid
    strategies, how many layers a measured run sent by factors and how many of them it formed
    by rows (its label's "allgather k/L layers, r by rows"), else the model picks the cheapest
    way for each layer."""
    if name == "allreduce":
        return comp.t + ring_allreduce(P * 4, n, link), 2 * (n - 1) / n * P * 4
    if name == "allreduce-bf16":
        # nntrain's compressed allreduce (CompressedSum, WireCodec.swift): MPI cannot sum 16-bit
        # words. 2 ranks: both ranks' words are allgathered and each sums them in fp32. From 3:
        # an alltoall of bf16 shards (N-1 messages of a shard, as a ring allgather's), each rank
        # sums its shard in fp32, and an allgather of the bf16 sums. The tail (loss, count) goes
        # in a small allreduce of its own.
        tail = ring_allreduce(16, n, link), 2 * (n - 1) / n * 16
        if n == 2:
            return comp.t + ring_allgather(P * 2, n, link) + tail[0], P * 2 + tail[1]
        shard = math.ceil(P / n) * 2
        return comp.t + 2 * ring_allgather(shard, n, link) + tail[0], 2 * (n - 1) * shard + tail[1]
    if name == "overlap":
        return pipeline(comp, [[2], [1], [0]], n, link), 2 * (n - 1) / n * P * 4
    if name == "buckets":   # nntrain's overlapped allreduce at --bucket-mb 1: [W3,b3,W2,b2], then [W1,b1]
        return pipeline(comp, [[2, 1], [0]], n, link), 2 * (n - 1) / n * P * 4
    if name in ("ddp", "ddp-bf16"):
        w = 2 if name.endswith("bf16") else 4
        return pipeline(comp, [[2, 1], [0]], n, link, w), 2 * (n - 1) / n * P * w
    if name.startswith(("factors", "hybrid")):
        # factors[-rows][-overlap][-bf16]: every layer by factors (whole dW, or rows); hybrid...:
        # each layer the cheapest way (rows only from Float factors, as nntrain).
        w, overlap = (2 if name.endswith("bf16") else 4), "-overlap" in name
        every = set(range(len(LAYERS)))
        if name.startswith("factors"):
            return factor_exchange(every, n, link, comp, w, overlap, frozenset(every) if "-rows" in name else frozenset())
        if factor_count is not None:
            sel = factor_layers_by_merit(factor_count, n, w)
            return factor_exchange(sel, n, link, comp, w, overlap, rows_layers(sel, rows_count or 0))
        ways = (0, 1, 2) if w == 4 else (0, 1)        # gradient, whole, rows
        best = None
        for m in range(len(ways) ** len(LAYERS)):
            way = [ways[m // len(ways) ** k % len(ways)] for k in range(len(LAYERS))]
            sel = {k for k in every if way[k]}
            r = factor_exchange(sel, n, link, comp, w, overlap, frozenset(k for k in every if way[k] == 2))
            best = r if best is None or r < best else best
        return best
    if name.startswith("powersgd:"):
        r = int(name.split(":")[1])
        floats = sum((i + o) * r + o for i, o in LAYERS)
        # two allreduces per step (P then Q), each of half the floats; orthogonalization ignored
        t = comp.t + 2 * ring_allreduce(floats * 4 / 2, n, link)
        return t, 2 * (n - 1) / n * floats * 4
    raise SystemExit(f"costmodel: unknown strategy {name}")


STRATEGIES = ["allreduce", "allreduce-bf16", "overlap", "buckets", "ddp", "ddp-bf16", "factors", "factors-bf16", "factors-rows", "hybrid", "hybrid-bf16",
              "hybrid-overlap", "powersgd:4"]
# Which implementation's compute and protocol efficiency a strategy uses in the predictions.
IMPL = {"ddp": "torch", "ddp-bf16": "torch"}
# Strategies whose compute `measure` times on their own (DDP's reducer and hook at world size 1;
# PowerSGD's compression passes); the others use their implementation's plain step.
OWN_COMPUTE = ("ddp", "ddp-bf16", "powersgd:4")


def compute_of(comp1, strategy, impl):
    """One rank's step seconds for a strategy: its own measurement where `measure` made one
    (compute files before it did fall back to the implementation's plain step)."""
    return comp1[strategy] if strategy in OWN_COMPUTE and strategy in comp1 else comp1[impl]


# Measured contenders (bench/netns.py specs) -> (strategy, implementation). Extend with --map.
# nntrain runs map by the exchange their metrics report and their --compress flag (nntrain_strategy).
MEASURED = {"mpi4py": ("allreduce", "numpy"), "ddp": ("ddp", "torch"), "ddp+bf16": ("ddp-bf16", "torch"),
            "ddp+fp16": ("ddp-bf16", "torch")}
PROTOCOL = {"nntrain": "mpi", "numpy": "mpi", "torch": "gloo"}


# ---------------------------------------------------------------- measure


def measure(a):
    """Times nntrain, PyTorch, numpy and DDP at world size 1 (one BLAS thread, batch 128): one
    process alone, and C independent copies at once for each C of --shared (C hosts sharing
    this machine's cores, as the netns points do: cache, memory bandwidth and cores shared,
    no network). Every repetition runs every (contender, C) once, interleaved."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    penv = dict(env)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        penv.pop(k, None)
    if os.geteuid() == 0:
        for e in (env, penv):
            e.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    common = ["--train-subset", str(a.train_subset), "--epochs", str(a.epochs), "--batch-size", str(B)]

    def argv(k, copy):
        """The command of contender k's copy `copy` (its own metrics file and loopback port)."""
        metrics = f"{METRICS}.{copy}"
        port = str(a.port + copy)
        if k == "nntrain":
            return ([NN, "train", "--blas-threads", "1", "--test-subset", "1000", "--eval-every", "0", "--schedule", "constant",
                     "--lr", "0.05", "--momentum", "0.9", "--quiet", "--metrics", metrics] + common, env, metrics)
        if k == "torch":
            return [sys.executable, os.path.join(BENCH, "mlp_torch.py"), "--threads", "1"] + common, penv, None
        if k == "numpy":
            return [sys.executable, os.path.join(BENCH, "mlp_mpi4py.py")] + common, penv, None
        # DDP alone (world size 1, gloo on loopback): its reducer's per-step work (copies into the
        # bucket buffers, the averaging, with a hook its casts) without any network.
        hook = "none" if k == "ddp" else "bf16"
        return ([sys.executable, os.path.join(BENCH, "mlp_ddp.py"), "--threads", "1", "--hook", hook, "--port", port] + common,
                dict(penv, WORLD_SIZE="1", RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=port), None)

    def workers_compute(flags, c):
        """Compute seconds per step (metrics' compute_seconds ÷ steps, median over epochs 2..) of
        nntrain with C in-process workers, 128 samples each, one BLAS thread each: the exchange's
        own compute (PowerSGD's passes, say) with C ranks sharing the cores, no network."""
        metrics = f"{METRICS}.w"
        cmd = [NN, "train", "--workers", str(c), "--blas-threads", "1", "--test-subset", "1000", "--eval-every", "0",
               "--schedule", "constant", "--lr", "0.05", "--momentum", "0.9", "--quiet", "--metrics", metrics,
               "--train-subset", str(a.train_subset), "--epochs", str(a.epochs), "--batch-size", str(B * c)] + flags
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=BENCH)
        ep = [json.loads(l) for l in open(metrics)] if p.returncode == 0 and os.path.exists(metrics) else []
        ep = [x for x in ep if x.get("event") == "epoch"]
        if os.path.exists(metrics):
            os.remove(metrics)
        if len(ep) < 2:
            raise SystemExit(f"costmodel: {' '.join(cmd)} failed: {p.stderr[-2000:]}")
        steps = [e["step"] - (ep[i - 1]["step"] if i else 0) for i, e in enumerate(ep)]
        return median([e["compute_seconds"] / k for e, k in zip(ep[1:], steps[1:])]), " ".join(cmd).replace(metrics, "$TMP/metrics.jsonl")

    # Compute an exchange adds that no lone process shows, timed with C in-process workers (C
    # ranks sharing the cores, no network) against a baseline of the same workers, name ->
    # (flags, baseline flags). PowerSGD's passes (M = g + e, P = MQ, orthogonalization,
    # M̃ = P̂Qᵀ, and the error update) exist only with 2 or more ranks: against the plain allreduce, added to
    # the plain copies' figure of C (and, for one rank alone, at the smallest C). (Tried and
    # left out: the factor overlap's GEMMs cut into blocks, --factor-overlap on against off;
    # 3 repetitions swung from -2 to +6 ms at 2 workers and to +19 ms at 4, where 4 threads on
    # 2 cores wait for each other in the in-process collectives: not a measurement.)
    extras = {"powersgd:4": (["--compress", "powersgd:4"], ["--exchange", "allreduce", "--bucket-mb", "0"])}
    peers = ["nntrain", "torch", "numpy", "ddp", "ddp-bf16"]
    names = [] if a.extras_only else peers
    levels = [1] + [c for c in a.shared if c > 1]
    runs = {c: {k: [] for k in names} for c in levels}
    extra = {c: {k: [] for k in extras} for c in levels if c > 1}
    extra_cmds = {}
    for rep in range(a.reps):
        for c in levels:
            if c > 1:
                for k, (flags, base) in extras.items():
                    t_k, extra_cmds[k] = workers_compute(flags, c)
                    t_base, extra_cmds[f"{k} baseline"] = workers_compute(base, c)
                    extra[c][k].append(t_k - t_base)
                    print(f"  [{rep + 1}/{a.reps}] {k} x{c} workers: {t_k * 1e3:.2f} ms compute/step, baseline {t_base * 1e3:.2f}",
                          file=sys.stderr, flush=True)
            for k in names:
                procs = []
                for copy in range(c):
                    cmd, e, metrics = argv(k, copy)
                    if metrics and os.path.exists(metrics):
                        os.remove(metrics)
                    procs.append((subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                   cwd=BENCH), metrics))
                ts = []
                for p, metrics in procs:
                    out, err = p.communicate()
                    text = open(metrics).read() if metrics and os.path.exists(metrics) else out
                    ep = [json.loads(l) for l in text.splitlines() if l.startswith("{") and '"epoch"' in l]
                    ep = [x for x in ep if x.get("event") == "epoch"][1:]
                    if p.returncode != 0 or not ep:
                        for q, _ in procs:
                            q.kill()
                        raise SystemExit(f"costmodel: {k} (copy of {c}) failed: {err[-2000:]}")
                    ts.append(median([B / x["samples_per_second"] for x in ep]))
                    if metrics:
                        os.remove(metrics)
                t = median(ts)
                runs[c][k].append(t)
                print(f"  [{rep + 1}/{a.reps}] {k:8s} x{c} {t * 1e3:.2f} ms/step", file=sys.stderr, flush=True)
    if a.extras_only:   # the peers' figures from an earlier measurement, the extras anew
        before = json.load(open(a.extras_only))
        alone, shared = before["step_seconds"], before["step_seconds_shared"]
        runs = {int(c): r for c, r in before["runs"].items()}
    else:
        alone = {k: median(v) for k, v in runs[1].items()}
        shared = {str(c): {k: median(v) for k, v in runs[c].items()} for c in levels if c > 1}
    extra_seconds = {str(c): {k: median(v) for k, v in extra[c].items()} for c in extra}
    if extra:
        extra_seconds["1"] = extra_seconds[str(min(extra))]
    for c, d in extra_seconds.items():
        (alone if c == "1" else shared[c])["powersgd:4"] = (alone if c == "1" else shared[c])["nntrain"] + d["powersgd:4"]
    out = {"batch": B, "threads": 1, "step_seconds": alone,
           "step_seconds_shared": shared,
           "extra_seconds": extra_seconds,
           "runs": {str(c): r for c, r in runs.items()},
           "extra_compute_runs": {str(c): r for c, r in extra.items()},
           "commands": dict({k: " ".join(argv(k, 0)[0]).replace(f"{METRICS}.0", "$TMP/metrics.jsonl") for k in peers},
                            **{f"{k} (C workers)": v for k, v in extra_cmds.items()}),
           "load_average": os.getloadavg()[0], "stamp": time.strftime("%Y%m%dT%H%MZ", time.gmtime())}
    if a.extras_only:
        out["peers_from"] = a.extras_only
    path = a.out or os.path.join(BENCH, "results", f"compute-{out['stamp']}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({"alone": out["step_seconds"], **out["step_seconds_shared"]}))
    print(f"wrote {path}")


# ---------------------------------------------------------------- predict


def load_runs(paths):
    runs, links, raws = [], [], []
    for p in paths:
        for l in open(p):
            j = json.loads(l)
            ev = j.get("event")
            (runs if ev == "run" else links if ev == "link" else raws).append(j)
    return runs, links, raws


def wire(pt):
    """Which raw collective a measured point's exchange is: MPI's, gloo's fp32 or gloo's bf16."""
    if pt["impl"] == "torch":
        return "gloo-bf16" if pt["strategy"] == "ddp-bf16" else "gloo"
    return "mpi"


def raw_link(raws, hosts, rate, kind, alpha, gapped=True):
    """A transport's cost at a measured point, from its raw collective probes: (overhead per
    collective o, bytes/s per link and direction β) such that a ring allreduce of B bytes
    takes o + 2(N-1)·α + 2(N-1)/N·B/β, α the link's latency. Both were probed at two sizes
    (the gradient and a third of it; gloo in runs before 2026-12-06 at the gradient's only):
    o ≥ 0 and β are fitted to both, with one size o = 0 and β from it. `gapped`: the probes
    with a step's compute between the calls (as in training) where the run has them, else the
    back-to-back ones. None without probes."""
    n = hosts
    ring = 2 * (n - 1) / n
    if kind == "mpi":
        mine = [r for r in raws if r["event"] == "raw-mpi" and r["hosts"] == hosts and r["rate"] == rate]
        with_gap = [r for r in mine if r.get("gap_ms", 0) > 0]
        mine = with_gap if gapped and with_gap else [r for r in mine if not r.get("gap_ms", 0)]
        by = {}
        for r in mine:
            by.setdefault(r["bytes"], []).append(r["median_seconds"])
        pts = sorted((b, median(t)) for b, t in by.items())
    else:
        # gloo: the gradient (key) and, in runs that probed it, a third of it (key with _third).
        w = 2 if kind == "gloo-bf16" else 4
        key = "bf16" if kind == "gloo-bf16" else "fp32"
        mine = [r for r in raws if r["event"] == "raw-gloo" and r["hosts"] == hosts and r["rate"] == rate]
        gap = "_gap" if gapped and mine and all(f"{key}_gap_median_seconds" in r for r in mine) else ""
        pts = []
        for part, floats in (("_third", P // 3), ("", P)):
            ts = [r[f"{key}{part}{gap}_median_seconds"] for r in mine if f"{key}{part}{gap}_median_seconds" in r]
            if ts and len(ts) == len(mine):
                pts.append((floats * w, median(ts)))
    if not pts:
        return None
    fixed = 2 * (n - 1) * alpha
    if len(pts) >= 2:
        # β from the two largest sizes; o from the smallest where a third, small size was
        # probed (there the fixed cost per call dominates: on 2 shared cores it holds the wait
        # for the other ranks to be scheduled, which the link's round trip does not), else
        # from the larger of the two.
        (b0, t0), (b1, t1) = pts[-2], pts[-1]
        slope = (t1 - t0) / (ring * (b1 - b0))            # seconds per byte on the wire
        bs, ts = pts[0] if len(pts) >= 3 else pts[-1]
        o = ts - fixed - ring * bs * slope
        if slope > 0 and o >= 0:
            return o, 1 / slope
    b, t = pts[-1]
    return 0.0, ring * b / max(1e-6, t - fixed)


def nntrain_strategy(spec, exchange):
    """The model strategy of an nntrain run: from the exchange its metrics report ("allreduce",
    "factors NxL (allgather k/L layers)") and its --compress flag."""
    _, sep, rest = spec.partition("+--")   # as netns.py's split_flags: a path may hold a "+"
    flags = ("--" + rest).split(",") if sep else []
    comp = flags[flags.index("--compress") + 1] if "--compress" in flags[:-1] else ""
    if comp.startswith("powersgd:"):
        return comp
    m = re.search(r"allgather (\d+)/(\d+)", exchange or "")
    if exchange and exchange.startswith("factors"):
        base = "factors" if (m is None or m.group(1) == m.group(2)) else "hybrid"
        r = re.search(r"(\d+) by rows", exchange)
        base += "-rows" if base == "factors" and r and m and r.group(1) == m.group(1) else ""
        base += "-overlap" if "overlapped" in exchange else ""
    elif exchange == "allreduce" or (exchange or "").startswith("allreduce (") and "on the wire" in exchange:
        base = "allreduce"   # "allreduce (bf16 on the wire)": the compressed one, suffixed below
    elif exchange and exchange.startswith("allreduce (") and "overlapped" in exchange:
        base = "buckets"
    else:
        return None
    return base + ("-bf16" if comp in ("bf16", "fp16") else "")


def points(runs, links, raws, extra_map, gapped=True):
    """Measured points: (hosts, rate, contender) -> dict with medians and the link figures."""
    mp = dict(MEASURED, **extra_map)
    out = {}
    for r in runs:
        # nntrain's exchange is chosen at start by its own probe, so one contender's runs can
        # differ in it (10 Gbit/s: the bucketed allreduce in some, the factors in others): a
        # point per (contender, exchange), each run predicted with what it ran.
        ex = r.get("exchange", "") if r["contender"].startswith("nntrain") and r["contender"] not in extra_map else ""
        out.setdefault((r["hosts"], r["rate"], r["contender"], ex), []).append(r)
    several = {k[:3] for k in out if sum(1 for j in out if j[:3] == k[:3]) > 1}
    pts = []
    for (h, rate, spec, ex), rs in sorted(out.items()):
        st = None
        if spec.startswith("nntrain") and spec not in extra_map:
            st = nntrain_strategy(spec, ex)
            if st is None:
                continue
        elif spec not in mp:
            continue
        lk = [l for l in links if l["hosts"] == h and l["rate"] == rate]
        if not lk:
            continue
        strategy, impl = (st, "nntrain") if st else mp[spec]
        m = re.search(r"allgather (\d+)/\d+", ex)
        name = rs[0]["name"] + (f" [{ex}]" if (h, rate, spec) in several else "")
        pt = {"hosts": h, "rate": rate, "spec": spec, "name": name, "strategy": strategy, "impl": impl,
              "factor_count": int(m.group(1)) if m else None,
              "rows_count": int(r.group(1)) if (r := re.search(r"(\d+) by rows", ex)) else None,
              "sps": median([r["sps"] for r in rs]), "reps": len(rs),
              "compute_measured": median([r["compute_per_step"] for r in rs if "compute_per_step" in r]),
              "beta_probe": median([l["bytes_per_second"] for l in lk]),
              "alpha": median([l["rtt_median_seconds"] for l in lk]) / 2}
        # A link whose plain TCP probe stays far below the shaped rate is limited by the CPU that
        # moves its bytes, and that CPU is the rank's only core here: what an exchange overlaps
        # with backward takes the core from backward, so overlapped parts run one after the other.
        pt["cpu_bound"] = pt["beta_probe"] < CPU_BOUND * rate_bps(rate) / 8 * FRAMING
        rl = raw_link(raws, h, rate, wire(pt), pt["alpha"], gapped)
        pt["beta_raw"], pt["overhead"] = (rl[1], rl[0]) if rl else (None, 0.0)
        pts.append(pt)
    return pts


def point_compute(pt, comp1, impl_only=False):
    """One rank's step seconds at a measured point: timed with as many concurrent copies as the
    point has hosts when `measure` did (--shared), else the lone figure scaled by hosts ÷ cores;
    the overlapped factor exchange's GEMMs cut into blocks are not charged (about +6% on those
    GEMMs in a C loop here, not measured by `measure`)."""
    src, f = (pt["comp_shared"], 1.0) if pt.get("comp_shared") else (comp1, max(1.0, pt["hosts"] / pt["cores"]))
    return f * (src[pt["impl"]] if impl_only else compute_of(src, pt["strategy"], pt["impl"]))


def predict_point(pt, comp1, eta):
    n = pt["hosts"]
    comp = Compute(point_compute(pt, comp1))
    link = {"alpha": pt["alpha"], "beta": pt["beta_probe"] * eta, "o": pt.get("overhead", 0.0), "beta_ag": pt["beta_probe"],
            "serial": pt["cpu_bound"]}
    t, nb = strategy_time(pt["strategy"], n, link, comp, pt.get("factor_count"), pt.get("rows_count"))
    return B * n / t, nb


def predict_own_compute(pt, comp1, eta):
    """The same with the run's own measured compute per step (nntrain's minus the model's added
    weight-gradient GEMMs, which the strategy adds back; DDP's no-sync step plus its reducer's
    work): the communication model alone."""
    n = pt["hosts"]
    t = pt["compute_measured"]
    if not t == t:
        return float("nan")
    if pt["strategy"].startswith(("factors", "hybrid")):
        # nntrain's factor layers: its measured compute holds (N-1) more weight-gradient GEMMs
        # of theirs, which strategy_time adds back as shares of the compute it is given:
        # t = t' (1 + (N-1) f), f their share of one step's flops.
        sel = factor_layers_by_merit(pt.get("factor_count") or len(LAYERS), n)
        sel = sel - rows_layers(sel, pt.get("rows_count") or 0)   # rows layers: one rank's GEMMs
        f = sum(Compute(1.0).layer[k]["dw"] for k in sel)
        t /= 1 + (n - 1) * f
    if pt["strategy"] in ("ddp", "ddp-bf16") and pt["strategy"] in comp1:
        # DDP's own compute is its no_sync() step, which skips the reducer: add the reducer's
        # (and hook's) work as `measure` timed it at world size 1, scaled like the compute.
        t += max(0.0, point_compute(pt, comp1) - point_compute(pt, comp1, impl_only=True))
    link = {"alpha": pt["alpha"], "beta": pt["beta_probe"] * eta, "o": pt.get("overhead", 0.0), "beta_ag": pt["beta_probe"],
            "serial": pt["cpu_bound"]}
    st, _ = strategy_time(pt["strategy"], n, link, Compute(max(t, 1e-4)), pt.get("factor_count"), pt.get("rows_count"))
    return B * n / st


def fit_eta(pt, comp1):
    lo, hi = 0.02, 1.5
    for _ in range(60):   # predicted samples/s grows with eta: bisection
        mid = (lo + hi) / 2
        if predict_point(pt, comp1, mid)[0] < pt["sps"]:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def rate_bps(rate):
    return float(rate.lower().replace("gbit", "")) * 1e9 if rate.lower().endswith("gbit") else float(rate)


def predict(a):
    comp_j = json.load(open(a.compute))
    comp1 = comp_j["step_seconds"]
    extra = {}
    for m in a.map:
        spec, rhs = m.split("=")
        strat, impl = (rhs.split(":", 1) + ["nntrain"])[:2] if not rhs.startswith("powersgd") else (rhs, "nntrain")
        extra[spec] = (strat, impl)
    runs, links, raws = load_runs(a.runs)
    gapped = a.raw_probes == "gapped"
    pts = points(runs, links, raws, extra, gapped)
    if any(r.get("gap_ms", 0) > 0 for r in raws):
        print(f"Transports (MPI_Allreduce, gloo all_reduce) from their raw probes "
              f"{'with a step of compute between calls' if gapped else 'back to back'} (--raw-probes {a.raw_probes}).")
    else:
        print("Transports from their raw probes back to back (these runs have no probes with compute between calls).")
    shared = comp_j.get("step_seconds_shared", {})
    for pt in pts:
        pt["comp_shared"], pt["cores"] = shared.get(str(pt["hosts"])), a.cores
    ch, cr = a.calibrate.split(":")
    eta, lat = {}, {}
    if a.eta == "raw":
        # Every point predicted from its own probes: the link's latency and the raw collective's
        # bandwidth (η = raw collective ÷ TCP link probe). For the 2-64 node predictions each
        # implementation's η against the line rate at the --calibrate point.
        for pt in pts:
            pt["fitted"] = False
            if pt["beta_raw"] is None:
                raise SystemExit(f"costmodel: no raw collective probe for {pt['hosts']} hosts {pt['rate']}; use --eta fit")
            pt["eta"] = pt["beta_raw"] / pt["beta_probe"]
        for kind, impl in (("mpi", "nntrain"), ("gloo", "torch")):
            lk = [l for l in links if l["hosts"] == int(ch) and l["rate"] == cr]
            al = median([l["rtt_median_seconds"] for l in lk]) / 2 if lk else a.alpha
            rl = raw_link(raws, int(ch), cr, kind, al, gapped)
            if rl is not None:
                eta[impl] = rl[1] / (rate_bps(cr) / 8 * FRAMING)
                lat[impl] = rl[0]
        eta["numpy"], lat["numpy"] = eta.get("nntrain", 1.0), lat.get("nntrain", 0.0)
        print(f"Transport efficiency η against the line rate × {FRAMING} and overhead per collective (raw collectives at {a.calibrate}), "
              f"used for the 2-64 node predictions: " + ", ".join(f"{k} η {v:.3f}, overhead {lat.get(k, 0) * 1e3:.1f} ms per collective" for k, v in eta.items()))
    else:
        # η per implementation: fitted on the calibration point's uncompressed contenders of that
        # implementation (median when several); those rows are marked and not counted as predictions.
        fits = {}
        for pt in pts:
            pt["fitted"] = pt["hosts"] == int(ch) and pt["rate"] == cr and pt["strategy"] in ("allreduce", "ddp") \
                and (pt["spec"] in MEASURED or pt["spec"] in ("nntrain", "nntrain+--exchange,allreduce"))
            if pt["fitted"]:
                fits.setdefault(pt["impl"], []).append(fit_eta(pt, comp1))
        eta = {k: median(v) for k, v in fits.items()}
        for impl in ("nntrain", "numpy", "torch"):   # an implementation without a fit borrows MPI's
            eta.setdefault(impl, eta.get("nntrain", eta.get("numpy", 1.0)))
        for pt in pts:
            pt["eta"], pt["overhead"] = eta[pt["impl"]], 0.0
        print(f"Protocol efficiency η (fitted at {a.calibrate}, one per implementation): "
              + ", ".join(f"{k} {v:.3f}" for k, v in eta.items()))
    print(f"Compute at one rank (ms/step, batch {B}, 1 thread; {a.compute}): "
          + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in comp1.items())
          + "".join(f"; {c} concurrent copies: " + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in d.items()) for c, d in shared.items()))
    print()
    print("| hosts | link | contender | model strategy | link probe Gbit/s | its collective Gbit/s | measured samples/s | predicted | error | | with the run's own compute | error |")
    print("|---:|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|")
    worst, worst_own, ok, ok_own, counted = 0.0, 0.0, 0, 0, 0
    for pt in pts:
        p, _ = predict_point(pt, comp1, pt["eta"])
        pt["predicted"] = p
        q = predict_own_compute(pt, comp1, pt["eta"])
        err = p / pt["sps"] - 1
        tag = "η fitted here" if pt["fitted"] else ("**> 15%**" if abs(err) > 0.15 else "ok")
        if not pt["fitted"]:
            worst = max(worst, abs(err))
            counted += 1
            ok += abs(err) <= 0.15
            if q == q:
                worst_own = max(worst_own, abs(q / pt["sps"] - 1))
                ok_own += abs(q / pt["sps"] - 1) <= 0.15
        print(f"| {pt['hosts']} | {pt['rate']} | {pt['name']} | {pt['strategy']} | {pt['beta_probe'] * 8 / 1e9:.2f} | "
              f"{pt['beta_probe'] * pt['eta'] * 8 / 1e9:.2f} | "
              f"{pt['sps']:.0f} | {p:.0f} | {100 * err:+.0f}% | {tag} | {q:.0f} | {100 * (q / pt['sps'] - 1):+.0f}% |")
    print(f"\nLargest error over the predicted (not fitted) points: {100 * worst:.0f}% (target ≤ 15%); "
          f"within 15%: {ok} of {counted}. With each run's own compute: largest {100 * worst_own:.0f}%, within 15%: {ok_own} of {counted}.\n")

    lk = [l for l in links if l["hosts"] == int(ch) and l["rate"] == cr]
    eta_tcp = median([l["bytes_per_second"] for l in lk]) / (rate_bps(cr) / 8 * FRAMING) if lk else 1.0
    print(f"Plain TCP (link probe) at {a.calibrate}: η {eta_tcp:.3f} of the line rate × {FRAMING}; MPI's allgather is modelled at it.\n")
    # Predictions for 2..64 real nodes (one core each) at 1, 10, 100 Gbit/s.
    alpha = a.alpha
    nodes = [1, 2, 4, 8, 16, 32, 64]
    table = {}
    for rate in (1e9, 10e9, 100e9):
        for s in STRATEGIES:
            impl = IMPL.get(s, "nntrain")
            comp = Compute(compute_of(comp1, s, impl))
            link = {"alpha": alpha, "beta": rate / 8 * FRAMING * eta[impl], "o": lat.get(impl, 0.0), "beta_ag": rate / 8 * FRAMING * eta_tcp}
            for n in nodes:
                t, nb = strategy_time(s, n, link, comp)
                table[(rate, s, n)] = (B * n / t, nb)
    one = {impl: B / comp1[impl] for impl in comp1}
    for rate in (1e9, 10e9, 100e9):
        print(f"Predicted samples/s (scaling efficiency = samples/s ÷ (N × one rank's)), {rate / 1e9:.0f} Gbit/s:\n")
        print("| strategy | " + " | ".join(f"N={n}" for n in nodes[1:]) + " |")
        print("|---|" + "---:|" * (len(nodes) - 1))
        for s in STRATEGIES:
            o = one[IMPL.get(s, "nntrain")]
            print(f"| {s} | " + " | ".join(f"{table[(rate, s, n)][0]:.0f} ({table[(rate, s, n)][0] / (n * o):.2f})" for n in nodes[1:]) + " |")
        print()

    # What 2x DDP at 1 Gbit/s, 2 nodes, takes: nntrain's strategies on MPI as measured, and on
    # a transport as good as gloo's (its η, no fixed overhead per collective).
    rate = 1e9
    ddp_sps = table[(rate, "ddp", 2)][0]
    target = 2 * ddp_sps
    t_target = 2 * B / target
    tc = comp1["nntrain"]
    comp = Compute(tc)
    tail = comp.fwd + comp.bwd(len(LAYERS) - 1)
    transports = {"MPI as measured": {"alpha": alpha, "beta": rate / 8 * FRAMING * eta["nntrain"], "o": lat.get("nntrain", 0.0),
                                      "beta_ag": rate / 8 * FRAMING * eta_tcp},
                  "gloo-class allreduce": {"alpha": alpha, "beta": rate / 8 * FRAMING * eta["torch"], "o": 0.0,
                                           "beta_ag": rate / 8 * FRAMING * eta_tcp}}
    print(f"2 nodes, 1 Gbit/s: DDP (model) {ddp_sps:.0f} samples/s; 2× DDP = {target:.0f} samples/s = a step of "
          f"{t_target * 1e3:.1f} ms; nntrain's compute is {tc * 1e3:.1f} ms. Bytes an exchange may send per rank and step "
          f"(today: {P * 4 / 1e6:.2f} MB, one allreduce):\n")
    print("| transport | β effective | overhead per collective | not overlapped, no added compute | hidden behind backward from the last layer's on |")
    print("|---|---:|---:|---:|---:|")
    for tn, lk in transports.items():
        f = lambda t: max(0.0, t - lk["o"] - 2 * lk["alpha"]) * lk["beta"] / 1e6
        print(f"| {tn} | {lk['beta'] * 8 / 1e9:.2f} Gbit/s | {lk['o'] * 1e3:.1f} ms | {f(t_target - tc):.2f} MB | {f(t_target - tail):.2f} MB |")
    print()
    print("| strategy (2 nodes, 1 Gbit/s) | " + " | ".join(f"{tn}: MB sent per rank and step | samples/s | × DDP" for tn in transports) + " |")
    print("|---|" + "---:|---:|---:|" * len(transports))
    for s in STRATEGIES:
        if s.startswith("ddp"):
            continue
        cells = []
        for tn, lk in transports.items():
            t, nb = strategy_time(s, 2, lk, comp)
            cells.append(f"{nb / 1e6:.2f} | {2 * B / t:.0f} | {2 * B / t / ddp_sps:.2f}")
        print(f"| {s} | " + " | ".join(cells) + " |")
    if a.plot:
        plot(a.plot, table, nodes, one, pts, comp1, eta, a)


def plot(path, table, nodes, one, pts, comp1, eta, a):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rates = (1e9, 10e9, 100e9)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), sharex=True)
    styles = {"allreduce": "-", "allreduce-bf16": "--", "overlap": "-.", "buckets": (0, (3, 1, 1, 1)), "ddp": "-", "ddp-bf16": "--",
              "factors": ":", "factors-bf16": (0, (1, 3)), "factors-rows": (0, (5, 2)), "hybrid": "-", "hybrid-bf16": "--", "hybrid-overlap": "-.",
              "powersgd:4": ":"}
    colors = {"allreduce": "C0", "allreduce-bf16": "C0", "overlap": "C4", "buckets": "C6", "ddp": "C3", "ddp-bf16": "C3",
              "factors": "C2", "factors-bf16": "C1", "factors-rows": "C9", "hybrid": "C2", "hybrid-bf16": "C1", "hybrid-overlap": "C8", "powersgd:4": "C5"}
    ns = nodes[1:]
    for j, rate in enumerate(rates):
        ax, ax2 = axes[0][j], axes[1][j]
        for s in STRATEGIES:
            ys = [table[(rate, s, n)][0] for n in ns]
            ax.plot(ns, ys, linestyle=styles[s], color=colors[s], label=s, marker=".")
            o = one[IMPL.get(s, "nntrain")]
            ax2.plot(ns, [y / (n * o) for y, n in zip(ys, ns)], linestyle=styles[s], color=colors[s], label=s, marker=".")
        ax.set_xscale("log", base=2); ax.set_yscale("log")
        ax.set_title(f"{rate / 1e9:.0f} Gbit/s per link, one core per node")
        ax.set_ylabel("samples/s (128 per node)")
        ax2.set_ylabel("scaling efficiency"); ax2.set_xlabel("nodes"); ax2.set_ylim(0, 1.05)
        ax2.set_xscale("log", base=2); ax2.set_xticks(ns); ax2.set_xticklabels([str(n) for n in ns])
        ax.grid(alpha=0.3); ax2.grid(alpha=0.3)
    # Measured points (this machine) and their predictions, on the 1 and 10 Gbit/s panels.
    for pt in pts:
        j = {1e9: 0, 10e9: 1}.get(rate_bps(pt["rate"]))
        if j is None:
            continue
        c = colors.get(pt["strategy"], "k")
        axes[0][j].scatter([pt["hosts"]], [pt["sps"]], marker="x", color=c, s=60, zorder=5)
        axes[0][j].scatter([pt["hosts"]], [pt["predicted"]], marker="o", facecolors="none", edgecolors=c, s=60, zorder=5)
    axes[0][0].legend(fontsize=8, loc="upper left")
    how = "timed as that many concurrent copies" if all(pt.get("comp_shared") for pt in pts) else "scaled by hosts ÷ cores"
    fig.suptitle("Cost model: default MLP 784-1024-1024-10, 128 samples per node \n"
                 f"× measured on netns hosts sharing a 2-core machine, ○ the model for those runs (compute {how})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nwrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--reps", type=int, default=3)
    m.add_argument("--epochs", type=int, default=3)
    m.add_argument("--train-subset", type=int, default=6400)
    m.add_argument("--out", default="")
    m.add_argument("--port", type=int, default=29641, help="first loopback port of the world-size-1 DDP runs (one per copy)")
    m.add_argument("--extras-only", default="", metavar="COMPUTE.json",
                   help="time only the exchanges' extra compute (PowerSGD, factor overlap) and take the rest from this earlier file")
    m.add_argument("--shared", type=lambda v: [int(x) for x in v.split(",")], default=[2, 4],
                   help="also time C concurrent copies for each C (the netns points' hosts per machine)")
    p = sub.add_parser("predict")
    p.add_argument("--compute", required=True, help="JSON written by `measure`")
    p.add_argument("--runs", nargs="+", required=True, help="JSONL written by bench/netns.py")
    p.add_argument("--eta", choices=["raw", "fit"], default="raw",
                   help="raw: each point's bandwidth from its raw collective probe (nothing fitted); fit: one η per implementation fitted at --calibrate")
    p.add_argument("--calibrate", default="2:1gbit", help="HOSTS:RATE of the η for the 2-64 node predictions (raw) or of the fit (fit)")
    p.add_argument("--cores", type=float, default=os.cpu_count() or 2, help="cores the measured hosts shared")
    p.add_argument("--alpha", type=float, default=25e-6, help="per-message latency for the predictions (s)")
    p.add_argument("--map", action="append", default=[], help="SPEC=STRATEGY[:IMPL] for contenders beyond the built-in ones")
    p.add_argument("--plot", default="")
    p.add_argument("--raw-probes", choices=["gapped", "back-to-back"], default="gapped",
                   help="which raw collective probes give a transport's cost: with a step's compute between calls (as in training; "
                        "runs without them fall back) or back to back")
    a = ap.parse_args()
    measure(a) if a.cmd == "measure" else predict(a)


if __name__ == "__main__":
    main()
