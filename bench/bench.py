#!/usr/bin/env python3
"""nntrain against its peers, each measured IN THE SAME RUN, interleaved, repeated.

    python3 bench/bench.py single     # nntrain (1 process, 2 BLAS threads) vs PyTorch CPU (2 threads), batch 128
    python3 bench/bench.py dp         # mpirun -np 2: nntrain vs numpy+mpi4py vs PyTorch DDP (gloo), global batch 256
    python3 bench/bench.py allreduce  # nntrain's per-step allreduce time vs raw MPI_Allreduce of the same buffer
    python3 bench/bench.py exact      # --reduction exact vs fast, mpirun -np 2 and one process
    python3 bench/bench.py memory     # peak RSS on the full data set (nntrain)
    python3 bench/bench.py all        # all five

Every contender trains the same MLP 784-1024-1024-10 (ReLU, softmax cross-entropy, SGD
momentum 0.9, constant lr 0.05) on the first --train-subset Fashion-MNIST samples for
--epochs epochs. Throughput is samples/s over an epoch's optimizer steps (batch gather,
forward, backward, allreduce, update), without data loading or evaluation, and the first
epoch is warm-up: a run's figure is the median over epochs 2..E. A contender's figure is the
median over --reps runs; the order of contenders rotates every repetition. Peak RSS is
/usr/bin/time's maximum resident set size of each process (each rank under mpirun).

Build first: swift build -c release. Results: a markdown report on stdout and JSON in
--out (default out/bench/).
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
NNTRAIN = os.environ.get("NNTRAIN", os.path.join(ROOT, ".build", "release", "nntrain"))
PARAMS = 1863690
TAIL = 4


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def base_env():
    env = dict(os.environ)
    if os.geteuid() == 0:
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def peer_env(threads):
    """Environment of a Python peer: N BLAS/OpenMP threads, and OPENBLAS_CORETYPE/L2_SIZE
    unset (they pin an older kernel that slows a current numpy; see bench/README.md)."""
    env = base_env()
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    return env


def mpirun(np_):
    return ["mpirun", "-np", str(np_), "--bind-to", "none"]


def rss_wrap(prefix):
    """A command prefix that records each process's (each rank's) peak RSS in prefix.RANK."""
    return ["sh", "-c", 'exec /usr/bin/time -f %M -o "$0.${OMPI_COMM_WORLD_RANK:-0}" "$@"', prefix]


class Contender:
    def __init__(self, name, argv_fn, env, mpi_np=None):
        self.name, self.argv_fn, self.env, self.mpi_np = name, argv_fn, env, mpi_np
        self.runs = []   # dicts: sps, epochs, rss_kb (list per rank), comm/compute per step

    def command(self, tmp):
        metrics = os.path.join(tmp, "metrics.jsonl")
        inner = self.argv_fn(metrics)
        argv = rss_wrap(os.path.join(tmp, "rss")) + inner
        if self.mpi_np:
            argv = mpirun(self.mpi_np) + argv
        return argv, metrics, inner

    def run(self, a, log):
        with tempfile.TemporaryDirectory(prefix="nnbench-") as tmp:
            argv, metrics, inner = self.command(tmp)
            t0 = time.time()
            p = subprocess.run(argv, env=self.env, cwd=BENCH, capture_output=True, text=True)
            wall = time.time() - t0
            if p.returncode != 0:
                sys.stderr.write(p.stdout + p.stderr)
                raise SystemExit(f"bench: {self.name} failed ({p.returncode}): {shlex.join(argv)}")
            lines = []
            if os.path.exists(metrics):
                lines = [json.loads(l) for l in open(metrics) if l.strip()]
            else:
                lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
            epochs = [l for l in lines if l.get("event") == "epoch"]
            rss = []
            for f in sorted(os.listdir(tmp)):
                if f.startswith("rss."):
                    txt = open(os.path.join(tmp, f)).read().split()
                    rss.append(int(txt[-1]))
            steady = epochs[1:] if len(epochs) > 1 else epochs
            done = [l for l in lines if l.get("event") == "done"]
            if not steady and done:   # a --steps run that ended mid-epoch: whole-run figure
                steady = done[-1:]
            r = {"sps": median([e["samples_per_second"] for e in steady]),
                 "epochs": epochs, "rss_kb": rss, "wall": wall}
            if epochs and "comm_seconds" in epochs[0]:
                steps = [e["step"] - (epochs[i - 1]["step"] if i else 0) for i, e in enumerate(epochs)]
                per = [(e["comm_seconds"] / s, e["compute_seconds"] / s) for e, s in zip(epochs, steps)][1:] or [(0, 0)]
                r["comm_per_step"] = median([c for c, _ in per])
                r["compute_per_step"] = median([c for _, c in per])
                waits = [e.get("comm_wait_seconds", 0) / s for e, s in zip(epochs, steps)][1:] or [0]
                r["wait_per_step"] = median(waits)
            extra = {k: v for k, v in (epochs or [{}])[0].items() if k in ("blas_core", "threads", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS")}
            r.update(extra)
            self.runs.append(r)
            log.write(json.dumps({"contender": self.name, "command": shlex.join(argv), **r}) + "\n")
            log.flush()
            return r

    @property
    def sps(self):
        return median([r["sps"] for r in self.runs])

    @property
    def rss_mb(self):
        return max((max(r["rss_kb"]) for r in self.runs if r["rss_kb"]), default=0) / 1024

    def display_command(self):
        argv, _, _ = self.command("$TMP")
        env = []
        for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            if self.env.get(k) != os.environ.get(k):
                env.append(f"{k}={self.env[k]}")
        unset = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ and k not in self.env]
        prefix = (f"env {' '.join('-u ' + u for u in unset)} " if unset else "") + (" ".join(env) + " " if env else "")
        inner = self.argv_fn("$TMP/metrics.jsonl")
        if self.mpi_np:
            return prefix + shlex.join(mpirun(self.mpi_np) + inner)
        return prefix + shlex.join(inner)


def nntrain_argv(a, batch, extra):
    def f(metrics):
        return [NNTRAIN, "train", "--train-subset", str(a.train_subset), "--test-subset", "1000",
                "--epochs", str(a.epochs), "--eval-every", "0", "--batch-size", str(batch),
                "--schedule", "constant", "--lr", "0.05", "--momentum", "0.9",
                "--metrics", metrics, "--quiet"] + extra
    return f


def py_argv(script, a, batch, extra=()):
    def f(metrics):
        return [sys.executable, os.path.join(BENCH, script), "--train-subset", str(a.train_subset),
                "--epochs", str(a.epochs), "--batch-size", str(batch)] + list(extra)
    return f


def rounds(contenders, a, log, label):
    for rep in range(a.reps):
        order = contenders[rep % len(contenders):] + contenders[:rep % len(contenders)]
        for c in order:
            r = c.run(a, log)
            rss = "/".join(f"{x / 1024:.0f}" for x in r["rss_kb"])
            comm = f"  comm/step {r['comm_per_step'] * 1e3:.2f} ms" if "comm_per_step" in r else ""
            print(f"  [{label} rep {rep + 1}/{a.reps}] {c.name:28s} {r['sps']:8.0f} samples/s  rss {rss} MB{comm}",
                  file=sys.stderr, flush=True)


def ratio_line(a_, b_):
    per_rep = [x["sps"] / y["sps"] for x, y in zip(a_.runs, b_.runs)]
    return a_.sps / b_.sps, median(per_rep), min(per_rep), max(per_rep)


def table(contenders, base):
    out = ["| contender | samples/s (median) | per-run medians | × vs " + base.name + " | peak RSS per process (MB, max over runs) |",
           "|---|---:|---|---:|---:|"]
    for c in contenders:
        runs = ", ".join(f"{r['sps']:.0f}" for r in c.runs)
        rel = "1.00" if c is base else f"{base.sps / c.sps:.2f}"
        out.append(f"| {c.name} | {c.sps:.0f} | {runs} | {rel} | {c.rss_mb:.0f} |")
    return "\n".join(out)


def suite_single(a, log):
    nn = Contender("nntrain (2 BLAS threads)", nntrain_argv(a, 128, ["--blas-threads", "2"]), base_env())
    pt = Contender("PyTorch CPU (2 threads)", py_argv("mlp_torch.py", a, 128, ["--threads", "2"]), peer_env(2))
    # PyTorch's OpenMP threads spin while they wait; on a loaded machine that costs it dearly,
    # so it also runs with passive waiting, and nntrain is held to the better of the two.
    penv = peer_env(2)
    penv["OMP_WAIT_POLICY"] = "PASSIVE"
    pp = Contender("PyTorch CPU (2 threads, OMP_WAIT_POLICY=PASSIVE)", py_argv("mlp_torch.py", a, 128, ["--threads", "2"]), penv)
    rounds([nn, pt, pp], a, log, "single")
    best = max((pt, pp), key=lambda c: c.sps)
    r, rp = ratio_line(nn, pt), ratio_line(nn, best)
    return {"contenders": [nn, pt, pp], "md": "\n".join([
        "Commands (run by `python3 bench/bench.py single`):", "",
        "```", nn.display_command(), pt.display_command(), "OMP_WAIT_POLICY=PASSIVE " + pp.display_command(), "```", "",
        table([nn, pt, pp], nn), "",
        f"- nntrain ÷ PyTorch (default OpenMP waiting): **{r[0]:.2f}×** (ratio of medians); per-repetition ratios median {r[1]:.2f}, range {r[2]:.2f}–{r[3]:.2f}.",
        f"- nntrain ÷ the faster PyTorch configuration ({best.name}): **{rp[0]:.2f}×** (per-repetition range {rp[2]:.2f}–{rp[3]:.2f}). "
        f"Target ≥ 1.05×: **{'met' if rp[0] >= 1.05 else 'missed'}**.",
    ])}


def suite_dp(a, log):
    nn = Contender("nntrain, mpirun -np 2", nntrain_argv(a, 256, []), base_env(), mpi_np=2)
    ng = Contender("nntrain --exchange shared-gradients, mpirun -np 2", nntrain_argv(a, 256, ["--exchange", "shared-gradients"]), base_env(), mpi_np=2)
    na = Contender("nntrain --exchange allreduce, mpirun -np 2", nntrain_argv(a, 256, ["--exchange", "allreduce"]), base_env(), mpi_np=2)
    mp = Contender("numpy + mpi4py, mpirun -np 2", py_argv("mlp_mpi4py.py", a, 256), peer_env(1), mpi_np=2)
    dd = Contender("PyTorch DDP gloo, 2 × 1 thread", py_argv("mlp_ddp.py", a, 256, ["--threads", "1"]), peer_env(1), mpi_np=2)
    everyone = [nn, ng, na, mp, dd]
    rounds(everyone, a, log, "dp")
    r1, r2 = ratio_line(nn, mp), ratio_line(nn, dd)
    q1, q2 = ratio_line(na, mp), ratio_line(na, dd)
    g1, g0 = ratio_line(ng, mp), ratio_line(nn, ng)
    core = {r.get("blas_core") for r in mp.runs}
    per = lambda c, k: median([r[k] for r in c.runs]) * 1e3
    return {"contenders": everyone, "md": "\n".join([
        "Commands (run by `python3 bench/bench.py dp`):", "",
        "```"] + [c.display_command() for c in everyone] + ["```", "",
        table(everyone, nn), "",
        f"numpy's OpenBLAS kernel in the mpi4py peer: {', '.join(sorted(map(str, core)))}. nntrain per step (medians): "
        f"default exchange (factors) {per(nn, 'compute_per_step'):.2f} ms compute (with the weight-gradient GEMMs it runs between its barriers) + {per(nn, 'comm_per_step'):.2f} ms exchange; "
        f"shared gradients {per(ng, 'compute_per_step'):.2f} ms compute + {per(ng, 'comm_per_step'):.2f} ms exchange; "
        f"allreduce {per(na, 'compute_per_step'):.2f} ms compute + {per(na, 'comm_per_step'):.2f} ms allreduce.", "",
        f"- nntrain ÷ mpi4py: **{r1[0]:.2f}×** (per-repetition median {r1[1]:.2f}, range {r1[2]:.2f}–{r1[3]:.2f}). Target ≥ 1.2×: **{'met' if r1[0] >= 1.2 else 'missed'}**.",
        f"- nntrain ÷ DDP: **{r2[0]:.2f}×** (per-repetition median {r2[1]:.2f}, range {r2[2]:.2f}–{r2[3]:.2f}). Target ≥ 1.5×: **{'met' if r2[0] >= 1.5 else 'missed'}**.",
        f"- default (sufficient factors) ÷ `--exchange shared-gradients`: {g0[0]:.2f}× (per-repetition median {g0[1]:.2f}, range {g0[2]:.2f}–{g0[3]:.2f}); "
        f"shared-gradients ÷ mpi4py {g1[0]:.2f}× (range {g1[2]:.2f}–{g1[3]:.2f}).",
        f"- with `--exchange allreduce` (the same algorithm as the peers' exchange): ÷ mpi4py {q1[0]:.2f}× (range {q1[2]:.2f}–{q1[3]:.2f}), ÷ DDP {q2[0]:.2f}× (range {q2[2]:.2f}–{q2[3]:.2f}).",
        f"- Peak RSS per nntrain rank: {max(max(r['rss_kb']) for r in nn.runs) / 1024:.0f} MB (target ≤ 150 MB); with allreduce {max(max(r['rss_kb']) for r in na.runs) / 1024:.0f} MB.",
    ])}


def build_allreduce(out):
    exe = os.path.join(out, "allreduce")
    src = os.path.join(BENCH, "allreduce.c")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        subprocess.run(["mpicc", "-O2", "-o", exe, src], check=True)
    return exe


def suite_allreduce(a, log):
    exe = build_allreduce(a.out)
    count = PARAMS + TAIL
    # A barrier before nntrain's allreduce (NNTRAIN_SYNC_BEFORE_ALLREDUCE=1) splits its per-step
    # communication time into waiting for the slower rank and the allreduce itself.
    senv = base_env()
    senv["NNTRAIN_SYNC_BEFORE_ALLREDUCE"] = "1"
    nn = Contender("nntrain --exchange allreduce, mpirun -np 2", nntrain_argv(a, 256, ["--exchange", "allreduce"]), senv, mpi_np=2)
    # The gradient exchange in node memory. (The default for this MLP shares batch factors
    # instead, which exchanges no gradient at all; the dp suite compares the two end to end.)
    sh = Contender("nntrain --exchange shared-gradients, mpirun -np 2", nntrain_argv(a, 256, ["--exchange", "shared-gradients"]), base_env(), mpi_np=2)
    raw_runs, huge_runs = [], []
    for rep in range(a.reps):
        for which in (("raw", "huge", "nn", "sh") if rep % 2 else ("nn", "sh", "huge", "raw")):
            if which in ("nn", "sh"):
                c = nn if which == "nn" else sh
                r = c.run(a, log)
                print(f"  [allreduce rep {rep + 1}] {c.name} comm/step {r['comm_per_step'] * 1e3:.2f} ms, of which waiting {r['wait_per_step'] * 1e3:.2f} ms", file=sys.stderr, flush=True)
            else:
                argv = mpirun(2) + [exe, str(count), str(a.iters), "10"] + (["huge"] if which == "huge" else [])
                p = subprocess.run(argv, env=base_env(), capture_output=True, text=True, check=True)
                j = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
                (huge_runs if which == "huge" else raw_runs).append(j)
                log.write(json.dumps({"contender": "raw MPI_Allreduce" + (" (huge pages)" if which == "huge" else ""), "command": shlex.join(argv), **j}) + "\n")
                print(f"  [allreduce rep {rep + 1}] raw{' (huge pages)' if which == 'huge' else ''} median {j['median_seconds'] * 1e3:.2f} ms, mean {j['mean_seconds'] * 1e3:.2f} ms, min {j['min_seconds'] * 1e3:.2f} ms", file=sys.stderr, flush=True)
    nn_total = median([r["comm_per_step"] for r in nn.runs])
    nn_wait = median([r["wait_per_step"] for r in nn.runs])
    nn_comm = median([r["comm_per_step"] - r["wait_per_step"] for r in nn.runs])
    sh_wait = median([r["wait_per_step"] for r in sh.runs])
    raw_med = median([j["median_seconds"] for j in raw_runs])
    raw_mean = median([j["mean_seconds"] for j in raw_runs])
    raw_min = min(j["min_seconds"] for j in raw_runs)
    huge_mean = median([j["mean_seconds"] for j in huge_runs])
    sh_comm = median([r["comm_per_step"] for r in sh.runs])
    ratio = nn_comm / raw_mean
    return {"contenders": [nn, sh], "raw": raw_runs, "md": "\n".join([
        "Commands (run by `python3 bench/bench.py allreduce`):", "",
        "```", nn.display_command(), sh.display_command(), shlex.join(mpirun(2) + ["out/bench/allreduce", str(count), str(a.iters), "10"]),
        shlex.join(mpirun(2) + ["out/bench/allreduce", str(count), str(a.iters), "10", "huge"]),
        "# out/bench/allreduce is bench/allreduce.c built with: mpicc -O2 -o out/bench/allreduce bench/allreduce.c", "```", "",
        "| measurement | ms per step / call |", "|---|---:|",
        f"| nntrain `--exchange allreduce`: `comm_seconds` ÷ steps (median over epochs 2..{a.epochs} and {a.reps} runs) | {nn_total * 1e3:.2f} |",
        f"| … of which waiting for the slower rank (barrier before the allreduce, `comm_wait_seconds`) | {nn_wait * 1e3:.2f} |",
        f"| … the allreduce itself (comm − wait, median over runs) | {nn_comm * 1e3:.2f} |",
        f"| raw MPI_Allreduce, {count} floats in place: mean per call (median over {a.reps} runs of {a.iters} calls) | {raw_mean * 1e3:.2f} |",
        f"| raw MPI_Allreduce: median per call | {raw_med * 1e3:.2f} |",
        f"| raw MPI_Allreduce: fastest call | {raw_min * 1e3:.2f} |",
        f"| raw MPI_Allreduce of a buffer on transparent huge pages (as nntrain's and numpy's large buffers): mean per call | {huge_mean * 1e3:.2f} |",
        f"| nntrain `--exchange shared-gradients` (gradients summed in node memory): `comm_seconds` ÷ steps (barriers, the sum of its share, the wait for the other rank) | {sh_comm * 1e3:.2f} |",
        f"| … of which waiting for the slower rank (first barrier) | {sh_wait * 1e3:.2f} |",
        f"| … the exchange itself (comm − wait) | {(sh_comm - sh_wait) * 1e3:.2f} |", "",
        f"nntrain's allreduce (without the wait) ÷ raw (mean to mean): **{ratio:.2f}×**; ÷ raw median: {nn_comm / raw_med:.2f}×. Target ≤ 1.2×: **{'met' if ratio <= 1.2 else 'missed'}**. "
        f"Against the raw loop on huge pages: {nn_comm / huge_mean:.2f}×. "
        f"With the wait: {nn_total / raw_mean:.2f}×. The shared-memory gradient exchange without its wait ÷ raw allreduce: {(sh_comm - sh_wait) / raw_mean:.2f}×.",
        "Per-run nntrain allreduce comm/step − wait (ms): " + ", ".join(f"{(r['comm_per_step'] - r['wait_per_step']) * 1e3:.2f}" for r in nn.runs)
        + "; raw means (ms): " + ", ".join(f"{j['mean_seconds'] * 1e3:.2f}" for j in raw_runs)
        + "; raw on huge pages (ms): " + ", ".join(f"{j['mean_seconds'] * 1e3:.2f}" for j in huge_runs) + ".",
    ])}


def suite_exact(a, log):
    fast2 = Contender("fast, mpirun -np 2", nntrain_argv(a, 256, ["--reduction", "fast"]), base_env(), mpi_np=2)
    exact2 = Contender("exact, mpirun -np 2", nntrain_argv(a, 256, ["--reduction", "exact"]), base_env(), mpi_np=2)
    fast1 = Contender("fast, 1 process", nntrain_argv(a, 128, ["--reduction", "fast", "--blas-threads", "2"]), base_env())
    exact1 = Contender("exact, 1 process", nntrain_argv(a, 128, ["--reduction", "exact", "--blas-threads", "2"]), base_env())
    rounds([fast2, exact2, fast1, exact1], a, log, "exact")
    r2, r1 = ratio_line(exact2, fast2), ratio_line(exact1, fast1)
    cps = lambda c: median([r["comm_per_step"] for r in c.runs]) * 1e3
    kps = lambda c: median([r["compute_per_step"] for r in c.runs]) * 1e3
    lines = ["Commands (run by `python3 bench/bench.py exact`):", "", "```"]
    lines += [c.display_command() for c in (fast2, exact2, fast1, exact1)]
    lines += ["```", "", "| run | samples/s (median) | per-run | compute ms/step | comm ms/step | peak RSS per process (MB) |", "|---|---:|---|---:|---:|---:|"]
    for c in (fast2, exact2, fast1, exact1):
        per = ", ".join("%.0f" % r["sps"] for r in c.runs)
        lines.append(f"| {c.name} | {c.sps:.0f} | {per} | {kps(c):.2f} | {cps(c):.2f} | {c.rss_mb:.0f} |")
    lines += ["", f"- mpirun -np 2, batch 256: exact runs at **{r2[0]:.2f}×** fast's throughput (overhead {100 * (1 / r2[0] - 1):.0f}% more time per sample; per-repetition ratios {r2[2]:.2f}–{r2[3]:.2f}).",
              f"- one process, batch 128: exact runs at **{r1[0]:.2f}×** fast's throughput (overhead {100 * (1 / r1[0] - 1):.0f}%; per-repetition ratios {r1[2]:.2f}–{r1[3]:.2f})."]
    return {"contenders": [fast2, exact2, fast1, exact1], "md": "\n".join(lines)}


def suite_memory(a, log):
    """Peak RSS on the full data set (60,000 training and 10,000 test images, evaluation included)."""
    def full(extra, batch=256):
        def f(metrics):
            return [NNTRAIN, "train", "--steps", "100", "--batch-size", str(batch), "--schedule", "constant",
                    "--metrics", metrics, "--quiet"] + extra
        return f
    np2 = Contender("nntrain, mpirun -np 2, batch 256", full([]), base_env(), mpi_np=2)
    one = Contender("nntrain, 1 process, batch 128", full(["--blas-threads", "2"], batch=128), base_env())
    ex2 = Contender("nntrain, mpirun -np 2, batch 256, exact", full(["--reduction", "exact"]), base_env(), mpi_np=2)
    rounds([np2, one, ex2], a, log, "memory")
    lines = ["Commands (run by `python3 bench/bench.py memory`; full Fashion-MNIST, 100 steps, then evaluation on the 10,000 test images):", "",
             "```"] + [c.display_command() for c in (np2, one, ex2)] + ["```", "",
             "| run | peak RSS per process, MB (every rank of every run) | max |", "|---|---|---:|"]
    for c in (np2, one, ex2):
        allr = [x / 1024 for r in c.runs for x in r["rss_kb"]]
        lines.append(f"| {c.name} | {', '.join(f'{x:.0f}' for x in allr)} | {max(allr):.0f} |")
    m = max(max(r["rss_kb"]) for r in np2.runs) / 1024
    lines += ["", f"Target ≤ 150 MB per rank for mpirun -np 2: **{'met' if m <= 150 else 'missed'}** ({m:.0f} MB)."]
    return {"contenders": [np2, one, ex2], "md": "\n".join(lines)}


SUITES = {"single": suite_single, "dp": suite_dp, "allreduce": suite_allreduce, "exact": suite_exact,
          "memory": suite_memory}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite", choices=list(SUITES) + ["all"])
    ap.add_argument("--reps", type=int, default=3, help="repetitions of every contender (default 3)")
    ap.add_argument("--train-subset", type=int, default=12800, help="training samples per epoch (default 12800)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up (default 3)")
    ap.add_argument("--iters", type=int, default=100, help="timed raw MPI_Allreduce calls per run (default 100)")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench"))
    a = ap.parse_args()
    if not os.access(NNTRAIN, os.X_OK):
        raise SystemExit(f"bench: {NNTRAIN} not found; run `swift build -c release` first (or set NNTRAIN)")
    os.makedirs(a.out, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    names = list(SUITES) if a.suite == "all" else [a.suite]
    with open(os.path.join(a.out, f"runs-{stamp}.jsonl"), "w") as log:
        print(f"<!-- bench.py {' '.join(sys.argv[1:])} at {stamp}; load average before: {os.getloadavg()[0]:.1f}; "
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')} -->")
        for name in names:
            res = SUITES[name](a, log)
            print(f"\n### {name} ({a.reps} repetitions, {a.train_subset} samples × {a.epochs} epochs, first epoch skipped)\n")
            print(res["md"], flush=True)
        print(f"\n<!-- load average after: {os.getloadavg()[0]:.1f} -->")


if __name__ == "__main__":
    main()
