#!/usr/bin/env python3
"""Seconds to a test accuracy on Fashion-MNIST: `nntrain train` with no flags against PyTorch
with the same recipe (bench/tta_torch.py), interleaved, medians of --reps, release build.

Each run is timed from process start (data loading and, for PyTorch, `import torch` included) to
the end of the first epoch whose test accuracy reaches --threshold, read off the epoch lines as
they are printed; the run is then stopped. Also given: the training seconds of those epochs
alone (nntrain's epoch_seconds, PyTorch's train_seconds), which leave start-up and evaluation out.

    python3 bench/time_to_accuracy.py [--nntrain .build/release/nntrain] [--reps 5] [--threshold 0.88]
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile, time

BENCH = os.path.dirname(os.path.abspath(__file__))


def run_until(cmd, parse, threshold, env=None):
    """Starts cmd; returns (wall seconds to the first epoch ≥ threshold, epoch, training seconds, accuracies)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    accs, train = [], 0.0
    try:
        for line in p.stdout:
            got = parse(line)
            if got is None:
                continue
            acc, seconds = got
            accs.append(acc)
            train += seconds
            if acc >= threshold:
                return time.perf_counter() - t0, len(accs), train, accs
    finally:
        p.kill()
        p.wait()
    return None, None, train, accs


NN_EPOCH = re.compile(r"^epoch (\d+)/\d+ .*test_acc ([0-9.]+) .* ([0-9.]+)s$")


def parse_nntrain(line):
    m = NN_EPOCH.match(line.strip())
    return (float(m.group(2)), float(m.group(3))) if m else None


def parse_torch(line):
    if not line.startswith("{"):
        return None
    d = json.loads(line)
    return d["test_accuracy"], d["train_seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nntrain", default=os.path.join(BENCH, "..", ".build", "release", "nntrain"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threshold", type=float, default=0.88)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="write the table (markdown) here too")
    a = ap.parse_args()
    contenders = {
        "nntrain": ([a.nntrain, "train", "--blas-threads", str(a.threads)], parse_nntrain),
        "pytorch": ([sys.executable, os.path.join(BENCH, "tta_torch.py"), "--threads", str(a.threads),
                     "--stop-at", str(a.threshold)], parse_torch),
    }
    results = {k: [] for k in contenders}
    for rep in range(a.reps):
        order = list(contenders) if rep % 2 == 0 else list(reversed(contenders))
        for name in order:
            cmd, parse = contenders[name]
            wall, epoch, train, accs = run_until(cmd, parse, a.threshold)
            results[name].append((wall, epoch, train, accs))
            print(f"rep {rep + 1} {name}: {wall if wall is None else round(wall, 2)} s to {a.threshold} "
                  f"(epoch {epoch}, training {train:.2f} s; accuracies {', '.join(f'{x:.4f}' for x in accs)})", flush=True)
    lines = [f"Time to test accuracy {a.threshold} on Fashion-MNIST, {a.threads} threads, medians of {a.reps} interleaved runs",
             "", "| | wall s from start (median, range) | epoch reached | training s of those epochs | accuracy of that epoch |",
             "|---|---:|---:|---:|---:|"]
    med = {}
    for name, rs in results.items():
        ok = [r for r in rs if r[0] is not None]
        if not ok:
            lines.append(f"| {name} | not reached | | | |")
            continue
        walls = [r[0] for r in ok]
        med[name] = statistics.median(walls)
        lines.append(f"| {name} | {med[name]:.1f} ({min(walls):.1f}–{max(walls):.1f}) | {statistics.median([r[1] for r in ok]):g} | "
                     f"{statistics.median([r[2] for r in ok]):.1f} | {statistics.median([r[3][-1] for r in ok]):.4f} |")
    if "nntrain" in med and "pytorch" in med:
        lines += ["", f"PyTorch ÷ nntrain (wall): {med['pytorch'] / med['nntrain']:.2f}×"]
    lines += ["", "Commands: " + " ; ".join(" ".join(c) for c, _ in contenders.values())]
    text = "\n".join(lines)
    print("\n" + text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
