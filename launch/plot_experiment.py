#!/usr/bin/env python3
"""Draws the PNG plots of an `nntrain experiment` (or `launch/sweep`) output directory.

Usage: python3 launch/plot_experiment.py DIR

Reads DIR/results.csv (tidy: one row per logged step per arm), DIR/experiment.json (arm
labels, groups, closed-form optima, targets) and, for linear-limits, DIR/grid.csv; writes
DIR/<experiment>-*.png. Needs matplotlib and numpy.
"""
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 90


def num(s):
    if s in ("", None):
        return math.nan
    try:
        return float(s)
    except ValueError:
        return math.nan


def load(dir_):
    with open(os.path.join(dir_, "experiment.json")) as f:
        info = json.load(f)
    rows = {}
    with open(os.path.join(dir_, "results.csv"), newline="") as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["arm"], []).append(r)
    arms = []
    for a in info["arms"]:
        rs = rows.get(a["name"], [])
        d = {k: np.array([num(r[k]) for r in rs]) for k in
             ("step", "epoch", "examples_processed", "updates", "wall_seconds", "train_loss", "test_loss",
              "test_accuracy", "lr", "suboptimality", "world_size")}
        d.update(a)
        d["diverged"] = a.get("status") == "diverged"
        arms.append(d)
    return info, arms


def label(a):
    return a.get("label", a["name"]) + (" (diverged)" if a["diverged"] else "")


def curve(ax, a, x, y, logy=False, **kw):
    xs, ys = a[x], a[y]
    ok = np.isfinite(xs) & np.isfinite(ys)
    if logy:
        ok &= ys > 0
    if x in ("examples_processed", "updates", "step"):
        ok &= xs > 0  # log x axes
    if not ok.any():
        return
    line, = ax.plot(xs[ok], ys[ok], label=label(a), **kw)
    if a["diverged"]:
        ax.plot(xs[ok][-1], ys[ok][-1], "x", color=line.get_color(), markersize=9, mew=2)


XLABEL = {"examples_processed": "examples processed (gradient evaluations)", "updates": "parameter updates",
          "wall_seconds": "wall-clock seconds (training only)", "epoch": "epochs", "step": "steps"}


def grid_of_curves(arms, ys, xs, title, path, logx=(), logy=(), target=None, ylabels=None):
    fig, axes = plt.subplots(len(ys), len(xs), figsize=(4.2 * len(xs), 3.2 * len(ys)), squeeze=False)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            ax = axes[i][j]
            for a in arms:
                curve(ax, a, x, y, logy=y in logy)
            if x in logx:
                ax.set_xscale("log")
            if y in logy:
                ax.set_yscale("log")
            if target and y in target:
                ax.axhline(target[y], color="grey", ls=":", lw=1)
            ax.set_xlabel(XLABEL.get(x, x))
            ax.set_ylabel((ylabels or {}).get(y, y))
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print("wrote", path)


def batch_vs_stochastic(info, arms, out):
    lin = [a for a in arms if a["group"] == "linear"]
    if lin:
        grid_of_curves(lin, ["suboptimality"], ["examples_processed", "updates", "wall_seconds"],
                       "Regularized least squares: J(θ_t) − J(θ*)", os.path.join(out, "batch-vs-stochastic-linear.png"),
                       logx=("examples_processed", "updates", "wall_seconds"), logy=("suboptimality",),
                       ylabels={"suboptimality": "J(θ) − J(θ*)"})
    mlp = [a for a in arms if a["group"] == "mlp"]
    if mlp:
        grid_of_curves(mlp, ["train_loss", "test_accuracy"], ["examples_processed", "updates", "wall_seconds"],
                       "Fashion-MNIST MLP: full batch vs minibatches, same examples budget",
                       os.path.join(out, "batch-vs-stochastic-mlp.png"),
                       logx=("examples_processed", "updates", "wall_seconds"), logy=("train_loss",),
                       ylabels={"train_loss": "training loss"})


def learning_rate(info, arms, out):
    cmap = plt.get_cmap("viridis")
    lin = [a for a in arms if a["group"] == "linear-gd"]
    if lin:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
        for k, a in enumerate(lin):
            c = cmap(k / max(1, len(lin) - 1))
            curve(ax[0], a, "updates", "suboptimality", logy=True, color=c)
        ax[0].set_xscale("log"); ax[0].set_yscale("log")
        ax[0].set_xlabel("GD steps"); ax[0].set_ylabel("J(θ) − J(θ*)"); ax[0].grid(alpha=0.3); ax[0].legend(fontsize=7)
        lrs = [a["lr"][0] for a in lin]
        final = [a["suboptimality"][np.isfinite(a["suboptimality"])][-1] if np.isfinite(a["suboptimality"]).any() else np.nan
                 for a in lin]
        ax[1].plot(lrs, final, "o-")
        for a, lr_, f in zip(lin, lrs, final):
            if a["diverged"]:
                ax[1].annotate("diverged", (lr_, f), fontsize=7, color="red")
        ax[1].set_xscale("log"); ax[1].set_yscale("log")
        ax[1].set_xlabel("η"); ax[1].set_ylabel("last finite J − J*"); ax[1].grid(alpha=0.3)
        fig.suptitle("Full-batch GD on regularized least squares, by learning rate")
        fig.tight_layout(); p = os.path.join(out, "learning-rate-linear.png"); fig.savefig(p, dpi=DPI); plt.close(fig)
        print("wrote", p)
    mlp = [a for a in arms if a["group"] == "mlp"]
    if mlp:
        fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
        for k, a in enumerate(mlp):
            c = cmap(k / max(1, len(mlp) - 1))
            curve(ax[0], a, "epoch", "train_loss", logy=True, color=c)
            curve(ax[1], a, "epoch", "test_accuracy", color=c)
        ax[0].set_yscale("log"); ax[0].set_ylabel("training loss"); ax[1].set_ylabel("test accuracy")
        for x in ax[:2]:
            x.set_xlabel("epochs"); x.grid(alpha=0.3)
        ax[0].legend(fontsize=7)
        lrs = [a["lr"][0] for a in mlp]
        fin = []
        for a in mlp:
            t = a["train_loss"][np.isfinite(a["train_loss"])]
            fin.append(t[-1] if len(t) and not a["diverged"] else np.nan)
        ax[2].plot(lrs, fin, "o-")
        for a, lr_ in zip(mlp, lrs):
            if a["diverged"]:
                ax[2].axvline(lr_, color="red", ls=":", lw=1)
                ax[2].annotate("diverged", (lr_, np.nanmax(fin) if np.isfinite(fin).any() else 1), fontsize=7, color="red", rotation=90)
        ax[2].set_xscale("log"); ax[2].set_yscale("log"); ax[2].set_xlabel("η"); ax[2].set_ylabel("final training loss")
        ax[2].grid(alpha=0.3)
        fig.suptitle("Fashion-MNIST MLP, SGD |B|=128, constant η")
        fig.tight_layout(); p = os.path.join(out, "learning-rate-mlp.png"); fig.savefig(p, dpi=DPI); plt.close(fig)
        print("wrote", p)
    sched = [a for a in arms if a["group"] == "schedule"]
    if sched:
        grid_of_curves(sched, ["train_loss", "test_loss", "test_accuracy", "lr"], ["epoch"],
                       "Constant η vs reduce-on-plateau", os.path.join(out, "learning-rate-schedule.png"),
                       logy=("train_loss",))


GATES = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "xor": [0, 1, 1, 0]}


def linear_limits(info, arms, out, dir_):
    path = os.path.join(dir_, "grid.csv")
    if not os.path.exists(path):
        return
    grids = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            grids.setdefault(r["arm"], []).append((float(r["x1"]), float(r["x2"]), float(r["p1"])))
    groups = [g for g in ["and", "or", "xor"] if any(a["group"] == g for a in arms)]
    kinds = []
    for a in arms:
        k = a["name"].split("-", 1)[1]
        if k not in kinds:
            kinds.append(k)
    fig, axes = plt.subplots(len(groups), len(kinds), figsize=(3.1 * len(kinds), 3.0 * len(groups)), squeeze=False)
    for i, g in enumerate(groups):
        for j, k in enumerate(kinds):
            ax = axes[i][j]
            name = f"{g}-{k}"
            a = next((a for a in arms if a["name"] == name), None)
            pts = grids.get(name)
            if pts:
                p = np.array(pts)
                n = int(round(math.sqrt(len(p))))
                X, Y, Z = (p[:, c].reshape(n, n) for c in range(3))
                ax.contourf(X, Y, Z, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.75)
                if Z.max() - Z.min() > 0.02:
                    ax.contour(X, Y, Z, levels=[0.5], colors="k", linewidths=1.5)
                else:
                    ax.text(0.5, -0.35, f"P(1) ≈ {Z.mean():.2f} everywhere", ha="center", fontsize=8)
            for (x1, x2), y in zip([(0, 0), (0, 1), (1, 0), (1, 1)], GATES[g]):
                ax.scatter([x1], [x2], c="red" if y else "blue", edgecolors="k", s=70, marker="o" if y else "s", zorder=3)
            acc = a["test_accuracy"][np.isfinite(a["test_accuracy"])] if a else []
            ttl = f"{g.upper()}: {a.get('label', k) if a else k}"
            if len(acc):
                ttl += f"\naccuracy {acc[-1]:.2f}"
            ax.set_title(ttl, fontsize=9)
            ax.set_xlim(-0.5, 1.5); ax.set_ylim(-0.5, 1.5); ax.set_aspect("equal")
            ax.set_xticks([0, 1]); ax.set_yticks([0, 1])
    fig.suptitle("Decision boundaries (colour: P(class 1); black: 0.5 contour; red ● = 1, blue ■ = 0)", fontsize=10)
    fig.tight_layout(); p = os.path.join(out, "linear-limits-boundaries.png"); fig.savefig(p, dpi=DPI); plt.close(fig)
    print("wrote", p)
    grad = [a for a in arms if "perceptron" not in a["name"]]
    if grad:
        grid_of_curves(grad, ["train_loss", "test_accuracy"], ["examples_processed"], "AND/OR/XOR: loss and accuracy",
                       os.path.join(out, "linear-limits-curves.png"), logx=("examples_processed",), logy=("train_loss",))


def curves_by_epoch(info, arms, out, name, title):
    target = {}
    if "target_loss" in info:
        target["train_loss"] = info["target_loss"]
    if "target_accuracy" in info:
        target["test_accuracy"] = info["target_accuracy"]
    grid_of_curves(arms, ["train_loss", "test_accuracy"], ["epoch", "wall_seconds"], title,
                   os.path.join(out, f"{name}.png"), logy=("train_loss",), target=target)


def scaling(info, arms, out, fname="scaling.png", title="Data-parallel scaling (64 samples per rank per step)"):
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
    names = [a["name"] for a in arms]
    sps = [a.get("samples_per_second", 0) for a in arms]
    groups = sorted({a["group"] for a in arms})
    ax[0].bar(names, sps, color=[f"C{groups.index(a['group']) % 10}" for a in arms])
    ax[0].set_ylabel("training samples / s"); ax[0].tick_params(axis="x", rotation=45, labelsize=7)
    comp = [a.get("compute_seconds", 0) for a in arms]
    comm = [a.get("comm_seconds", 0) for a in arms]
    ax[1].bar(names, comp, label="compute")
    ax[1].bar(names, comm, bottom=comp, label="communication")
    ax[1].set_ylabel("seconds (rank 0)"); ax[1].legend(fontsize=7); ax[1].tick_params(axis="x", rotation=45, labelsize=7)
    for a in arms:
        curve(ax[2], a, "wall_seconds", "test_accuracy", ls=["-", "--", ":", "-."][groups.index(a["group"]) % 4])
    if "target_accuracy" in info:
        ax[2].axhline(info["target_accuracy"], color="grey", ls=":", lw=1)
    ax[2].set_xlabel("wall-clock seconds (training only)"); ax[2].set_ylabel("test accuracy"); ax[2].grid(alpha=0.3)
    ax[2].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout(); p = os.path.join(out, fname); fig.savefig(p, dpi=DPI); plt.close(fig)
    print("wrote", p)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: plot_experiment.py DIR")
    dir_ = sys.argv[1]
    info, arms = load(dir_)
    name = info["name"]
    if name == "batch-vs-stochastic":
        batch_vs_stochastic(info, arms, dir_)
    elif name == "learning-rate":
        learning_rate(info, arms, dir_)
    elif name == "linear-limits":
        linear_limits(info, arms, dir_, dir_)
    elif name == "sweep":
        scaling(info, arms, dir_, "sweep-throughput.png", info.get("title", "sweep"))
        curves_by_epoch(info, arms, dir_, "sweep-curves", info.get("title", "sweep"))
    elif name == "scaling":
        scaling(info, arms, dir_)
        curves_by_epoch(info, arms, dir_, "scaling-curves", info.get("title", name))
    else:
        curves_by_epoch(info, arms, dir_, name, info.get("title", name))


if __name__ == "__main__":
    main()
