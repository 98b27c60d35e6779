#!/usr/bin/env python3
"""Tabular results: nntrain with only --dataset csv --data TRAIN,TEST --model mlp:... against
scikit-learn (MLPClassifier on StandardScaler features, defaults otherwise; Ridge on standardized
features for regression) on data sets scikit-learn ships (no network needed).

Each set is split 75/25 with a fixed seed (stratified for classification), written as CSV with
the label/target in the first column. Every model runs with seeds 0..S-1; the table gives the
mean and the range of test accuracy (classification) or test MSE (regression).

    python3 bench/tabular.py [--nntrain .build/release/nntrain] [--seeds 3] [--out out/tabular]
    python3 bench/tabular.py --csv-only [--sets digits]   # only write the CSVs (configs/digits.yaml)
"""
import argparse, json, os, subprocess, sys, time
import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.neural_network import MLPClassifier
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error

# name: (loader, regression, nntrain hidden layers)
SETS = {
    "digits": (datasets.load_digits, False, [100]),
    "wine": (datasets.load_wine, False, [100]),
    "breast_cancer": (datasets.load_breast_cancer, False, [100]),
    "iris": (datasets.load_iris, False, [100]),
    "diabetes": (datasets.load_diabetes, True, [100]),
}


def write_csv(path, X, y):
    with open(path, "w") as f:
        for xi, yi in zip(X, y):
            f.write(",".join([repr(float(yi)) if isinstance(yi, float) or np.issubdtype(type(yi), np.floating) else str(int(yi))]
                             + [repr(float(v)) for v in xi]) + "\n")


def split(name, out):
    load, regression, _ = SETS[name]
    X, y = load(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0,
                                          stratify=None if regression else y)
    tr, te = os.path.join(out, f"{name}-train.csv"), os.path.join(out, f"{name}-test.csv")
    write_csv(tr, Xtr, ytr.astype(float) if regression else ytr)
    write_csv(te, Xte, yte.astype(float) if regression else yte)
    return (Xtr, Xte, ytr, yte), tr, te


def nntrain(binary, name, tr, te, features, classes, seed, extra):
    _, regression, hidden = SETS[name]
    spec = "mlp:" + "-".join(str(v) for v in [features] + hidden + [1 if regression else classes])
    cmd = [binary, "train", "--dataset", "csv", "--data", f"{tr},{te}", "--model", spec, "--seed", str(seed)]
    if regression:
        cmd += ["--csv-regression", "true", "--loss", "mse"]
    cmd += extra
    metrics = f"/tmp/tabular-{os.getpid()}-{name}-{seed}.jsonl"
    if os.path.exists(metrics):
        os.remove(metrics)
    r = subprocess.run(cmd + ["--metrics", metrics, "--quiet"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)}\n{r.stderr}")
    done = [json.loads(l) for l in open(metrics) if '"done"' in l][-1]
    os.remove(metrics)
    return cmd, (done["test_loss"] if regression else done["test_accuracy"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nntrain", default=".build/release/nntrain")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default="out/tabular")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--extra", default="", help="extra nntrain flags (for experiments; the table uses none)")
    ap.add_argument("--csv-only", action="store_true", help="write OUT/SET-train.csv and OUT/SET-test.csv and stop")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.csv_only:
        for name in a.sets.split(","):
            _, tr, te = split(name, a.out)
            print(f"{tr},{te}")
        return 0
    rows = []
    for name in a.sets.split(","):
        (Xtr, Xte, ytr, yte), tr, te = split(name, a.out)
        regression = SETS[name][1]
        classes = 0 if regression else int(max(ytr.max(), yte.max())) + 1
        ours, theirs, cmd = [], [], None
        t0 = time.time()
        for seed in range(a.seeds):
            cmd, v = nntrain(a.nntrain, name, tr, te, Xtr.shape[1], classes, seed, a.extra.split())
            ours.append(v)
        t_ours = (time.time() - t0) / a.seeds
        sc = StandardScaler().fit(Xtr)
        if regression:
            # Ridge is deterministic: one fit.
            theirs = [mean_squared_error(yte, Ridge().fit(sc.transform(Xtr), ytr).predict(sc.transform(Xte)))]
        else:
            for seed in range(a.seeds):
                m = MLPClassifier(random_state=seed).fit(sc.transform(Xtr), ytr)
                theirs.append(m.score(sc.transform(Xte), yte))
        rows.append((name, len(Xtr), len(Xte), regression, ours, theirs, t_ours, cmd))
    print(f"| set | train/test | metric | nntrain (mean, min–max over {a.seeds} seeds) | scikit-learn | verdict |")
    print("|---|---|---|---|---|---|")
    ok = True
    for name, ntr, nte, regression, ours, theirs, t, cmd in rows:
        mo, mt = float(np.mean(ours)), float(np.mean(theirs))
        if regression:
            good = mo <= 1.15 * mt
            verdict = f"{mo / mt:.3f}× Ridge ({'≤' if good else '>'} 1.15)"
            print(f"| {name} | {ntr}/{nte} | test MSE | {mo:.1f} ({min(ours):.1f}–{max(ours):.1f}) | Ridge {mt:.1f} | {verdict} |")
        else:
            good = mo >= mt - 0.01
            verdict = f"{100 * (mo - mt):+.1f} points ({'ok' if good else 'short'})"
            print(f"| {name} | {ntr}/{nte} | test accuracy | {mo:.4f} ({min(ours):.4f}–{max(ours):.4f}) | scaled MLPClassifier {mt:.4f} ({min(theirs):.4f}–{max(theirs):.4f}) | {verdict} |")
        ok = ok and good
    print()
    for name, *_, t, cmd in rows:
        print(f"{name}: {' '.join(cmd)}   ({t:.1f} s per run)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
