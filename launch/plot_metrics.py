#!/usr/bin/env python3
"""Draws the loss, accuracy and learning-rate curves of one or more nntrain runs.

Usage: python3 launch/plot_metrics.py --out FILE.png METRICS.jsonl [METRICS2.jsonl ...]
(what `nntrain plot` runs). Each METRICS.jsonl is a file written by `nntrain train --metrics`:
one JSON object per line, `"event": "epoch"` lines (train_loss, test_loss, test_accuracy, lr
at the global step `step`), optional `"event": "step"` lines (--log-every-steps) and `done`
lines. One colour per file; three panels against the global optimizer step:

  loss      train (solid) and test (dashed) loss per epoch; step-line train loss (thin)
  accuracy  test accuracy per epoch (or per step line when that is all there is)
  lr        the learning rate (step lines when present, else per epoch; log scale)

A file appended by a resumed run may repeat steps that the interrupted run logged after its
last checkpoint; as in TensorBoard, a step going backwards drops the earlier points from that
step on. Values written as "nan"/"inf" are left out.

Exit status: 0 written; 2 bad input (message on stderr); 3 matplotlib is not importable.
"""
import argparse
import json
import math
import os
import sys


def fail(msg, code=2):
    sys.stderr.write(f"plot_metrics: error: {msg}\n")
    sys.exit(code)


def num(v):
    """A finite float, or None (missing, null, "nan", "inf")."""
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


class Series:
    """(step, value) points in file order; a step going backwards drops points from it on."""

    def __init__(self):
        self.points = []

    def add(self, step, value):
        if self.points and step < self.points[-1][0]:
            self.points = [(s, v) for s, v in self.points if s < step]
        if value is not None:
            self.points.append((step, value))

    def xy(self):
        return [s for s, _ in self.points], [v for _, v in self.points]


def load(path):
    """Series by name from one metrics file."""
    names = ["train_loss", "test_loss", "test_accuracy", "lr",
             "step_train_loss", "step_test_accuracy", "step_lr"]
    series = {n: Series() for n in names}
    seen = 0
    try:
        f = open(path)
    except OSError as e:
        fail(f"{path}: cannot read ({e.strerror})")
    with f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                fail(f"{path}:{i}: not a JSON line (is this a metrics file from --metrics?)")
            ev, step = d.get("event"), d.get("step")
            if not isinstance(step, int):
                continue
            if ev == "epoch":
                seen += 1
                for n in ("train_loss", "test_loss", "test_accuracy", "lr"):
                    series[n].add(step, num(d.get(n)))
            elif ev == "step":
                seen += 1
                series["step_train_loss"].add(step, num(d.get("train_loss")))
                series["step_test_accuracy"].add(step, num(d.get("test_accuracy")))
                series["step_lr"].add(step, num(d.get("lr")))
    if seen == 0:
        fail(f"{path}: no epoch or step lines (is this a metrics file from --metrics?)")
    return series


def labels(paths):
    """The file names without .jsonl; with their directory where two names are the same."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    out = []
    for p, s in zip(paths, stems):
        if stems.count(s) > 1:
            parent = os.path.basename(os.path.dirname(os.path.abspath(p)))
            s = f"{parent}/{s}"
        out.append(s)
    return out


def main():
    ap = argparse.ArgumentParser(description="Loss, accuracy and lr curves of nntrain metrics files.")
    ap.add_argument("--out", required=True, help="the PNG to write")
    ap.add_argument("--title", default=None)
    ap.add_argument("metrics", nargs="+", help="metrics JSONL files (--metrics)")
    args = ap.parse_args()

    runs = [load(p) for p in args.metrics]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.stderr.write("plot_metrics: error: python3 cannot import matplotlib\n")
        sys.exit(3)

    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    any_acc = any_lr = False
    for k, (run, label) in enumerate(zip(runs, labels(args.metrics))):
        c = colours[k % len(colours)]
        x, y = run["step_train_loss"].xy()
        if x:
            ax_loss.plot(x, y, color=c, linewidth=0.7, alpha=0.5, label=f"{label} train (step lines)")
        x, y = run["train_loss"].xy()
        if x:
            ax_loss.plot(x, y, color=c, marker="o", markersize=3, label=f"{label} train")
        x, y = run["test_loss"].xy()
        if x:
            ax_loss.plot(x, y, color=c, linestyle="--", marker="s", markersize=3, label=f"{label} test")
        acc = run["test_accuracy"] if run["test_accuracy"].points else run["step_test_accuracy"]
        x, y = acc.xy()
        if x:
            any_acc = True
            ax_acc.plot(x, y, color=c, marker="o", markersize=3, label=label)
        lr = run["step_lr"] if run["step_lr"].points else run["lr"]
        x, y = lr.xy()
        if x:
            any_lr = True
            ax_lr.plot(x, y, color=c, label=label)

    ax_loss.set_ylabel("loss")
    ax_loss.legend(fontsize="small")
    ax_acc.set_ylabel("test accuracy")
    if any_acc:
        ax_acc.legend(fontsize="small")
    else:
        ax_acc.text(0.5, 0.5, "no accuracy (a regression run?)", ha="center", va="center", transform=ax_acc.transAxes)
    ax_lr.set_ylabel("learning rate")
    if any_lr and all(v > 0 for r in runs for s in ("lr", "step_lr") for _, v in r[s].points):
        ax_lr.set_yscale("log")
    ax_lr.set_xlabel("optimizer step")
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(True, alpha=0.3)
    fig.suptitle(args.title or ", ".join(labels(args.metrics)))
    fig.tight_layout()
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        fail(f"--out {args.out}: the directory {out_dir} does not exist")
    try:
        fig.savefig(args.out, dpi=90)
    except OSError as e:
        fail(f"--out {args.out}: cannot write ({e.strerror})")


if __name__ == "__main__":
    main()
