#!/usr/bin/env python3
"""Data parallel across N "hosts" on shaped links: nntrain's exchange strategies vs PyTorch DDP
(gloo) vs numpy+mpi4py, each host a network namespace, one rank per host, interleaved.

    sudo python3 bench/netns.py --hosts 2 --rates 1gbit,10gbit --reps 5
    sudo python3 bench/netns.py --hosts 4 --rates 1gbit --reps 5 --delay 1ms
    python3 bench/netns.py clean          # remove namespaces left by a run that was SIGKILLed

Topology. N = 2: one veth pair between the two hosts. N > 2: a bridge in a namespace of its
own (the "switch"), one veth per host to it. Every link is shaped in both directions, as a
NIC's line rate: the egress of each host's veth and (N > 2) of each bridge port towards its
host gets `tc qdisc … tbf rate RATE burst RATE×1ms latency 100ms` (--tbf-latency), under `netem delay D` when
--delay is given. The interfaces are created inside their namespaces (`ip link add … netns`)
and every address exists only there; the root namespace gets no interface, address or route.
Names carry the driver's pid (nb<pid>h<i>, nb<pid>br, nb<pid>v<i>, 10.201.<pid mod 250 + 1>.0/24)
and everything is removed on every exit (normal end, exception, SIGINT, SIGTERM, SIGHUP).

Contenders (--contenders, space-separated; new strategies need no change here):
  nntrain              nntrain with its defaults (NN=path overrides .build/release/nntrain)
  nntrain+--F1,F2,...  nntrain with extra flags, commas for spaces: nntrain+--exchange,allreduce
  nntrain@PATH[+F,...] another nntrain binary (a build before a change), interleaved with the rest
  ddp | ddp+bf16 | ddp+fp16   PyTorch DDP over gloo (default buckets), optionally with its
                       bf16_compress_hook / fp16_compress_hook; GLOO_SOCKET_IFNAME per namespace
  mpi4py               bench/mlp_mpi4py.py (one flat in-place Allreduce per step)
nntrain and mpi4py run under mpirun (btl tcp,self; an rsh agent, bench/netns-agent.sh, that
enters the namespaces, each under its own hostname so that every host is its own node); DDP
is started as N processes, one per namespace.

Every contender: the default MLP 784-1024-1024-10, 128 samples per rank (global batch 128×N),
constant lr 0.05, momentum 0.9, one BLAS/OpenMP thread per rank, --epochs epochs of the first
--train-subset Fashion-MNIST samples. A run's figure is the median samples/s over epochs 2..E
(the first is warm-up); a contender's is the median over repetitions; the order of contenders
rotates every repetition and the rates alternate within each repetition. Per step split:
nntrain's metrics (compute_seconds, comm_seconds ÷ steps), mpi4py's (time inside Allreduce),
DDP's step time minus the time of the same step under model.no_sync() (the communication DDP
did not hide behind backward). Probes before every repetition's runs at a rate, for
bench/costmodel.py: what the shaped link carries (bench/netns_link.py: ring send/receive over
TCP, 1-byte round trips) and what the trainers' own collectives reach on it (MPI_Allreduce of
nntrain's buffer, bench/allreduce.c, back to back and with --raw-gap-ms of compute between the
calls as in training; gloo all_reduce of the gradient in fp32 and bf16,
bench/netns_gloo.py).

Output: a markdown report on stdout (also in OUT/netns-<stamp>-h<N>.md) and one JSON line per
run and per link probe in OUT/netns-<stamp>-h<N>.jsonl (OUT: --out, default out/netns/).
"""
import argparse
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
AGENT = os.path.join(BENCH, "netns-agent.sh")
NN = os.environ.get("NN", os.path.join(ROOT, ".build", "release", "nntrain"))
PER_RANK = 128


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def run(argv, **kw):
    """Runs a setup command; raises with its stderr when it fails."""
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"netns: {shlex.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def rate_bits(rate):
    """'1gbit' -> 1e9 (tc's rate units: bit, kbit, mbit, gbit; bare numbers are bits/s here)."""
    m = re.fullmatch(r"([0-9.]+)\s*([kmg]?)(bit)?", rate.lower())
    if not m:
        raise SystemExit(f"netns: rate '{rate}' is not like 1gbit, 10gbit, 500mbit")
    return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)]


class Hosts:
    """N namespace hosts joined by veths (N = 2) or through a bridge namespace (N > 2)."""

    def __init__(self, n):
        self.n = n
        tag = f"nb{os.getpid()}"
        self.tag = tag
        self.ns = [f"{tag}h{i}" for i in range(n)]
        self.br = f"{tag}br" if n > 2 else None
        self.dev = [f"{tag}v{i}" for i in range(n)]    # each host's interface, inside ns[i]
        self.port = [f"{tag}p{i}" for i in range(n)]   # the bridge's port to host i, inside br
        self.net = f"10.201.{os.getpid() % 250 + 1}"
        self.ip = [f"{self.net}.{i + 1}" for i in range(n)]
        self.made = []

    def namespaces(self):
        return self.ns + ([self.br] if self.br else [])

    def up(self):
        for ns in self.namespaces():
            run(["ip", "netns", "add", ns])
            self.made.append(ns)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        if self.n == 2:
            run(["ip", "link", "add", self.dev[0], "netns", self.ns[0], "type", "veth",
                 "peer", "name", self.dev[1], "netns", self.ns[1]])
        else:
            bridge = f"{self.tag}b"
            run(["ip", "-n", self.br, "link", "add", "name", bridge, "type", "bridge"])
            run(["ip", "-n", self.br, "link", "set", bridge, "up"])
            for i in range(self.n):
                run(["ip", "link", "add", self.dev[i], "netns", self.ns[i], "type", "veth",
                     "peer", "name", self.port[i], "netns", self.br])
                run(["ip", "-n", self.br, "link", "set", self.port[i], "master", bridge])
                run(["ip", "-n", self.br, "link", "set", self.port[i], "up"])
        for i in range(self.n):
            run(["ip", "-n", self.ns[i], "addr", "add", f"{self.ip[i]}/24", "dev", self.dev[i]])
            run(["ip", "-n", self.ns[i], "link", "set", self.dev[i], "up"])

    def shaped(self):
        """(namespace, device) of every egress that is shaped: both directions of every link."""
        out = [(self.ns[i], self.dev[i]) for i in range(self.n)]
        if self.br:
            out += [(self.br, self.port[i]) for i in range(self.n)]
        return out

    def shape(self, rate, delay, latency="100ms"):
        """Replaces every link's qdisc: tbf at RATE (none: unshaped), under netem DELAY if given."""
        cmds = []
        for ns, dev in self.shaped():
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root"],
                           capture_output=True)
            tc = ["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev]
            tbf = []
            if rate != "none":
                burst = max(int(rate_bits(rate) / 8 * 1e-3), 16 * 1514)
                tbf = ["tbf", "rate", rate, "burst", str(burst), "latency", latency]
            if delay:
                cmds.append(tc + ["root", "handle", "1:", "netem", "delay", delay, "limit", "100000"])
                if tbf:
                    cmds.append(tc + ["parent", "1:1", "handle", "10:"] + tbf)
            elif tbf:
                cmds.append(tc + ["root"] + tbf)
        for c in cmds:
            try:
                run(c)
            except RuntimeError as e:
                if "netem" in c and "unknown" in str(e):
                    raise SystemExit("netns: this kernel has no netem qdisc (sch_netem); --delay is not available here")
                raise
        return [c[3:] for c in cmds[:2]]   # the first link's tc commands, for the report

    def down(self):
        for ns in reversed(self.made):
            pids = lambda: subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGKILL):
                left = pids()
                for p in left:
                    try:
                        os.kill(int(p), sig)
                    except (ProcessLookupError, ValueError):
                        pass
                if not left:
                    break
                time.sleep(0.5)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made = []


def clean_leftovers():
    """Deletes nb<pid>* namespaces whose driver process is gone."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    for name in names:
        m = re.fullmatch(r"nb(\d+)(h\d+|br)", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            print(f"netns: removed {name}")


def peer_env():
    """A Python peer's environment: one BLAS/OpenMP thread, OPENBLAS_CORETYPE/L2_SIZE unset
    (as bench.py does; see bench/README.md)."""
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = "1"
    return env


def split_flags(spec):
    """'nntrain[@PATH][+--FLAG,VALUE,...]' -> (head, [flags]): the flags start at the first "+--",
    so a PATH may hold a "+" (a mirror's owner+name folder)."""
    head, sep, rest = spec.partition("+--")
    return head, ("--" + rest).split(",") if sep else []


class Contender:
    def __init__(self, spec, hosts, a):
        self.spec, self.h, self.a = spec, hosts, a
        self.runs = []
        self.batch = PER_RANK * hosts.n
        if spec == "nntrain" or spec.startswith("nntrain+") or spec.startswith("nntrain@"):
            head, flags = split_flags(spec)
            self.kind, self.flags = "nntrain", flags
            self.binary = head[len("nntrain@"):] if head.startswith("nntrain@") else NN
            if not os.access(self.binary, os.X_OK):
                raise SystemExit(f"netns: {self.binary} (contender '{spec}') is not an executable")
            self.name = " ".join([head] + self.flags)
        elif spec == "ddp" or spec.startswith("ddp+"):
            self.kind, self.hook = "ddp", spec[4:] if "+" in spec else "none"
            if self.hook not in ("none", "fp16", "bf16"):
                raise SystemExit(f"netns: unknown DDP hook in '{spec}' (none, fp16, bf16)")
            self.name = "PyTorch DDP" + ("" if self.hook == "none" else f" {self.hook}_compress_hook")
        elif spec == "mpi4py":
            self.kind, self.name = "mpi4py", "numpy + mpi4py"
        else:
            raise SystemExit(f"netns: unknown contender '{spec}' (nntrain[+FLAGS], ddp[+bf16|+fp16], mpi4py)")

    def mpirun(self):
        h = self.h
        return (["ip", "netns", "exec", h.ns[0], "unshare", "--uts", "/bin/sh", "-c", 'hostname "$0" && exec "$@"', h.ns[0],
                 "mpirun", "-np", str(h.n), "--host", ",".join(f"{ip}:1" for ip in h.ip), "--bind-to", "none",
                 "--mca", "plm_rsh_agent", AGENT, "--mca", "btl", "tcp,self",
                 "--mca", "oob_tcp_if_include", f"{h.net}.0/24", "--mca", "btl_tcp_if_include", f"{h.net}.0/24",
                 "-x", "OPENBLAS_NUM_THREADS=1", "-x", "OMP_NUM_THREADS=1"])

    def argv(self, metrics):
        a = self.a
        common = ["--train-subset", str(a.train_subset), "--epochs", str(a.epochs), "--batch-size", str(self.batch)]
        if self.kind == "nntrain":
            return self.mpirun() + [self.binary, "train", "--test-subset", "1000", "--eval-every", "0", "--schedule", "constant",
                                    "--lr", "0.05", "--momentum", "0.9", "--metrics", metrics, "--quiet"] + common + self.flags
        if self.kind == "mpi4py":
            return self.mpirun() + [sys.executable, os.path.join(BENCH, "mlp_mpi4py.py")] + common
        return [sys.executable, os.path.join(BENCH, "mlp_ddp.py"), "--threads", "1", "--hook", self.hook,
                "--nosync-steps", str(a.nosync_steps), "--port", str(a.port)] + common

    def display(self):
        """The command as one would type it (namespace names as in this run)."""
        if self.kind != "ddp":
            return shlex.join(self.argv("$TMP/metrics.jsonl"))
        h = self.h
        return (f"for i in 0..{h.n - 1}: RANK=$i WORLD_SIZE={h.n} MASTER_ADDR={h.ip[0]} MASTER_PORT={self.a.port} "
                f"GLOO_SOCKET_IFNAME={h.tag}v$i OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "
                f"ip netns exec {h.tag}h$i " + shlex.join(self.argv("")))

    def once(self, tmp):
        metrics = os.path.join(tmp, "metrics.jsonl")
        t0 = time.time()
        if self.kind == "ddp":
            procs = []
            for i in reversed(range(self.h.n)):
                env = peer_env()
                env.update(RANK=str(i), WORLD_SIZE=str(self.h.n), MASTER_ADDR=self.h.ip[0], MASTER_PORT=str(self.a.port),
                           GLOO_SOCKET_IFNAME=self.h.dev[i])
                out = open(os.path.join(tmp, f"ddp{i}.out"), "w")
                err = open(os.path.join(tmp, f"ddp{i}.err"), "w")
                procs.append((i, subprocess.Popen(["ip", "netns", "exec", self.h.ns[i]] + self.argv(""), env=env,
                                                  stdout=out, stderr=err, cwd=BENCH)))
            rc = 0
            for i, p in procs:
                try:
                    rc |= p.wait(timeout=self.a.timeout)
                except subprocess.TimeoutExpired:
                    p.kill(); rc = 124
            text = open(os.path.join(tmp, "ddp0.out")).read()
            errs = "".join(open(os.path.join(tmp, f"ddp{i}.err")).read()[-2000:] for i in range(self.h.n))
        else:
            env = dict(os.environ) if self.kind == "nntrain" else peer_env()
            env["NETNS_HOSTS"] = " ".join(f"{ip}={ns}" for ip, ns in zip(self.h.ip, self.h.ns))
            if os.geteuid() == 0:
                env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
            try:
                p = subprocess.run(self.argv(metrics), env=env, capture_output=True, text=True, cwd=BENCH,
                                   timeout=self.a.timeout)
                rc, text, errs = p.returncode, p.stdout, p.stderr[-3000:]
            except subprocess.TimeoutExpired:
                rc, text, errs = 124, "", "timeout"
            if self.kind == "nntrain" and os.path.exists(metrics):
                text = open(metrics).read()
        wall = time.time() - t0
        lines = [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]
        epochs = [l for l in lines if l.get("event") == "epoch"]
        if rc != 0 or not epochs:
            raise RuntimeError(f"netns: {self.name} failed (exit {rc}):\n{errs}")
        steady = epochs[1:] or epochs
        steps = [e["step"] - (epochs[i - 1]["step"] if i else 0) for i, e in enumerate(epochs)][len(epochs) - len(steady):]
        r = {"sps": median([e["samples_per_second"] for e in steady]), "wall": wall,
             "steps_per_epoch": steps[-1], "epochs": epochs}
        step_s = median([e["epoch_seconds"] / s for e, s in zip(steady, steps)])
        r["step_seconds"] = step_s
        if "comm_seconds" in epochs[0]:
            r["comm_per_step"] = median([e["comm_seconds"] / s for e, s in zip(steady, steps)])
            r["compute_per_step"] = median([e["compute_seconds"] / s for e, s in zip(steady, steps)])
        ns = [l for l in lines if l.get("event") == "nosync"]
        if ns:
            r["compute_per_step"] = ns[-1]["median_step_seconds"]
            r["comm_per_step"] = step_s - r["compute_per_step"]
        done = [l for l in lines if l.get("event") == "done"]
        if done and "exchange" in done[-1]:
            r["exchange"] = done[-1]["exchange"]
        return r


def probe(h, rate, a, log, label):
    """Runs bench/netns_link.py on every host at once; returns its JSON (or None)."""
    mb = max(16.0, rate_bits(rate) / 8 * 0.25 / 1e6) if rate != "none" else 64.0
    procs = []
    for i in reversed(range(h.n)):
        procs.append(subprocess.Popen(["ip", "netns", "exec", h.ns[i], sys.executable, os.path.join(BENCH, "netns_link.py"),
                                       "--rank", str(i), "--hosts", ",".join(h.ip), "--port", str(a.port + 1),
                                       "--mbytes", f"{mb:.1f}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    out = ""
    for p in procs:
        o, _ = p.communicate(timeout=120)
        out += o
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    if not lines:
        return None
    j = dict(lines[-1], rate=rate, delay=a.delay, label=label)
    log.write(json.dumps(j) + "\n"); log.flush()
    return j


def build_allreduce(out):
    os.makedirs(out, exist_ok=True)
    exe = os.path.join(out, "allreduce")
    src = os.path.join(BENCH, "allreduce.c")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        run(["mpicc", "-O2", "-o", exe, src])
    return exe


def raw_collectives(h, rate, a, log, label, exe):
    """The raw collectives the trainers use, on this link: MPI_Allreduce of nntrain's buffer
    and of a third of it (bench/allreduce.c under the same mpirun as nntrain, buffer on huge pages) and gloo all_reduce of the gradient
    in fp32 and bf16 (bench/netns_gloo.py). One JSON line each; returns them."""
    out = []
    c = Contender("nntrain", h, a)
    env = dict(os.environ, NETNS_HOSTS=" ".join(f"{ip}={ns}" for ip, ns in zip(h.ip, h.ns)))
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    gaps = [0.0] + ([a.raw_gap_ms] if a.raw_gap_ms > 0 else [])
    # The gradient; a third of it (the size of 2 hosts' factors); 16 Ki floats, the size of
    # PowerSGD's and the factor exchange's small collectives, where the fixed cost per call shows.
    for count in ("1863694", "625000", "16384"):
        for gap in gaps:
            # "huge": the buffer on transparent huge pages, as nntrain's Buffer and numpy's large
            # arrays are (measured 2026-12-03: the same 123 ms at 1 Gbit/s as with 4 KiB pages).
            # gap: back to back (0), and with a step's compute between the calls, as in training.
            p = subprocess.run(c.mpirun() + [exe, count, str(a.raw_iters), "3", "huge", f"{gap:g}"], env=env, capture_output=True,
                               text=True, timeout=a.timeout)
            js = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
            if js:
                out.append(dict(js[-1], event="raw-mpi"))
    procs = []
    for i in reversed(range(h.n)):
        e = peer_env()
        e.update(RANK=str(i), WORLD_SIZE=str(h.n), MASTER_ADDR=h.ip[0], MASTER_PORT=str(a.port + 2),
                 GLOO_SOCKET_IFNAME=h.dev[i])
        procs.append(subprocess.Popen(["ip", "netns", "exec", h.ns[i], sys.executable, os.path.join(BENCH, "netns_gloo.py"),
                                       "--iters", str(a.raw_iters), "--gap-ms", f"{a.raw_gap_ms:g}"], env=e, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True))
    text = ""
    for pr in procs:
        o, _ = pr.communicate(timeout=a.timeout)
        text += o
    js = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
    if js:
        out.append(dict(js[-1], event="raw-gloo"))
    for j in out:
        j.update(hosts=h.n, rate=rate, delay=a.delay, label=label)
        log.write(json.dumps(j) + "\n")
    log.flush()
    return out


def report(h, rates, conts, links, a, tc_cmds, raws):
    out = []
    for rate in rates:
        cs = conts[rate]
        base = next((c for c in cs if c.spec == "ddp"), None)
        lk = links.get(rate, [])
        bw = median([l["bytes_per_second"] for l in lk]) * 8 / 1e9 if lk else float("nan")
        rtt = median([l["rtt_median_seconds"] for l in lk]) * 1e6 if lk else float("nan")
        out += [f"### {h.n} hosts, {rate}" + (f", netem delay {a.delay}" if a.delay else "")
                + f" ({len(cs[0].runs)} repetitions, {a.epochs} epochs of {a.train_subset} samples, first skipped; global batch {PER_RANK * h.n})", "",
                f"Link probe (ring, TCP, median of {len(lk)}): {bw:.3f} Gbit/s per link and direction, 1-byte round trip {rtt:.0f} µs. "
                f"Shaping (the first two link ends; all alike): `{' ; '.join(' '.join(c) for c in tc_cmds.get(rate, [])) or 'none'}`."]
        rw = raws.get(rate, [])
        mpi = [r["median_seconds"] for r in rw if r["event"] == "raw-mpi" and r["count"] == 1863694 and not r.get("gap_ms")]
        mpi_gap = [r["median_seconds"] for r in rw if r["event"] == "raw-mpi" and r["count"] == 1863694 and r.get("gap_ms")]
        gl = [r for r in rw if r["event"] == "raw-gloo"]
        if mpi or gl:
            out[-1] += (f" Raw collectives of the 7.45 MB gradient (medians over probes): MPI_Allreduce {median(mpi) * 1e3:.1f} ms"
                        + (f" back to back, {median(mpi_gap) * 1e3:.1f} ms with {a.raw_gap_ms:g} ms of compute between calls" if mpi_gap else "")
                        + f", gloo all_reduce fp32 {median([g['fp32_median_seconds'] for g in gl]) * 1e3:.1f} ms"
                        f", bf16 {median([g['bf16_median_seconds'] for g in gl]) * 1e3:.1f} ms"
                        + (f" (with the gap: {median([g['fp32_gap_median_seconds'] for g in gl]) * 1e3:.1f} and "
                           f"{median([g['bf16_gap_median_seconds'] for g in gl]) * 1e3:.1f} ms)" if gl and all("fp32_gap_median_seconds" in g for g in gl) else "")
                        + ".")
        out += ["",
                "| contender | samples/s (median) | per run | × DDP | step ms | compute ms/step | comm ms/step | exchange |",
                "|---|---:|---|---:|---:|---:|---:|---|"]
        for c in cs:
            sps = median([r["sps"] for r in c.runs])
            per = ", ".join(f"{r['sps']:.0f}" for r in c.runs)
            rel = f"{sps / median([r['sps'] for r in base.runs]):.2f}" if base else "–"
            if base and base.runs and len(base.runs) == len(c.runs) and c is not base:
                pr = sorted(x["sps"] / y["sps"] for x, y in zip(c.runs, base.runs))
                rel += f" ({pr[0]:.2f}–{pr[-1]:.2f})"
            f = lambda k: f"{median([r[k] for r in c.runs]) * 1e3:.1f}" if all(k in r for r in c.runs) else "–"
            ex = ",".join(sorted({r.get("exchange", "") for r in c.runs})) or "–"
            out.append(f"| {c.name} | {sps:.0f} | {per} | {rel} | {f('step_seconds')} | {f('compute_per_step')} | {f('comm_per_step')} | {ex} |")
        out.append("")
    out += ["Commands (namespaces of this run; `$TMP` a scratch directory):", "", "```"]
    out += [c.display() for c in conts[rates[0]]]
    out += ["```", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", nargs="?", default="run", choices=["run", "clean"])
    ap.add_argument("--hosts", type=int, default=2, help="number of hosts = ranks (default 2)")
    ap.add_argument("--rates", default="1gbit", help="comma-separated tc rates, e.g. 1gbit,10gbit (none: unshaped)")
    ap.add_argument("--delay", default="", help="netem delay on every link end, e.g. 1ms (default none)")
    ap.add_argument("--tbf-latency", default="100ms",
                    help="tbf's queue limit as time at RATE (default 100ms, as ../shared/netshape; a switch port buffers less)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up (default 3)")
    ap.add_argument("--train-subset", type=int, default=6400)
    ap.add_argument("--contenders", default="nntrain nntrain+--exchange,allreduce ddp ddp+bf16 mpi4py")
    ap.add_argument("--nosync-steps", type=int, default=20, help="DDP steps under no_sync() for its compute time")
    ap.add_argument("--port", type=int, default=29600 + os.getpid() % 200 * 2)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per run")
    ap.add_argument("--raw-iters", type=int, default=10, help="calls per raw collective probe (0: no raw probes)")
    ap.add_argument("--raw-gap-ms", type=float, default=20.0,
                    help="the raw MPI and gloo probes again with this much compute between calls, as a step's (0: back to back only)")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "netns"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("netns: needs root (ip netns, tc)")
    if a.action == "clean":
        clean_leftovers()
        return
    if not os.access(NN, os.X_OK):
        raise SystemExit(f"netns: {NN} not found; run `swift build -c release` (or set NN=path)")
    rates = a.rates.split(",")
    os.makedirs(a.out, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime())
    base = os.path.join(a.out, f"netns-{stamp}-h{a.hosts}")

    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    h = Hosts(a.hosts)
    header = (f"<!-- netns.py {' '.join(sys.argv[1:])} at {stamp}; nntrain {NN}; load average before: "
              f"{os.getloadavg()[0]:.1f} -->")
    print(header, flush=True)
    try:
        h.up()
        conts = {rate: [Contender(s, h, a) for s in a.contenders.split()] for rate in rates}
        links, tc_cmds, raws = {}, {}, {}
        exe = build_allreduce(os.path.join(ROOT, "out")) if a.raw_iters > 0 else None
        with open(base + ".jsonl", "w") as log, tempfile.TemporaryDirectory(prefix="netns-") as tmp:
            for rep in range(a.reps):
                for rate in (rates if rep % 2 == 0 else rates[::-1]):
                    tc_cmds[rate] = h.shape(rate, a.delay, a.tbf_latency)
                    lk = probe(h, rate, a, log, f"rep {rep + 1}")
                    if lk:
                        links.setdefault(rate, []).append(lk)
                    if exe:
                        raws.setdefault(rate, []).extend(raw_collectives(h, rate, a, log, f"rep {rep + 1}", exe))
                    cs = conts[rate]
                    k = rep % len(cs)
                    for c in cs[k:] + cs[:k]:
                        try:
                            r = c.once(tmp)
                        except RuntimeError as e:   # one retry, then the repetition goes without it
                            print(f"  [h{h.n} {rate} rep {rep + 1}] {c.name} failed, retrying: {str(e)[-500:]}", file=sys.stderr, flush=True)
                            try:
                                r = c.once(tmp)
                            except RuntimeError as e2:
                                log.write(json.dumps({"event": "failed", "hosts": h.n, "rate": rate, "rep": rep + 1,
                                                      "contender": c.spec, "error": str(e2)[-2000:]}) + "\n")
                                continue
                        c.runs.append(r)
                        log.write(json.dumps({"event": "run", "hosts": h.n, "rate": rate, "delay": a.delay, "rep": rep + 1,
                                              "contender": c.spec, "name": c.name, "command": c.display(),
                                              **{k2: v for k2, v in r.items() if k2 != "epochs"}, "epoch_lines": r["epochs"]}) + "\n")
                        log.flush()
                        split = (f"  compute {r['compute_per_step'] * 1e3:.1f} + comm {r['comm_per_step'] * 1e3:.1f} ms/step"
                                 if "comm_per_step" in r else "")
                        print(f"  [h{h.n} {rate} rep {rep + 1}/{a.reps}] {c.name:40s} {r['sps']:7.0f} samples/s{split}",
                              file=sys.stderr, flush=True)
        md = report(h, rates, conts, links, a, tc_cmds, raws) + f"\n<!-- load average after: {os.getloadavg()[0]:.1f} -->\n"
        print(md, flush=True)
        with open(base + ".md", "w") as f:
            f.write(header + "\n\n" + md)
    finally:
        h.down()


if __name__ == "__main__":
    main()
