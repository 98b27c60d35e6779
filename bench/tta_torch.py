"""PyTorch CPU peer of `nntrain train` with no flags, for bench/time_to_accuracy.py: the same
recipe as nntrain's defaults — MLP 784-1024-1024-10, ReLU, PyTorch's default init, images
standardized with the training set's mean and std (one channel), cross-entropy with
label_smoothing 0.1, SGD with momentum 0.9, lr 0.05 on a per-step cosine schedule to 0 over
10 epochs, batch 128, per-epoch shuffling, test accuracy after every epoch.

Prints one JSON line per epoch with `wall` (seconds since this process started, imports and data
loading included), `train_seconds` (this epoch's steps) and `test_accuracy`; exits early once
--stop-at is reached (the schedule is still the 10-epoch one).
"""
import time

T0 = time.perf_counter()

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from fmnist import DEFAULT_DIR, _read_idx, load_train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--stop-at", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=DEFAULT_DIR)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xs, ys = load_train(a.data)
    xt = _read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784)
    yt = _read_idx(os.path.join(a.data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    # Per-channel (one channel) statistics of x/255 over the training set, in Double.
    mean = float((xs / 255.0).mean())
    std = float((xs / 255.0).std())
    scale, shift = 1.0 / (255.0 * std), -mean / std
    x_all, y_all = torch.from_numpy(xs), torch.from_numpy(ys)
    x_test = torch.from_numpy(xt).float().mul_(scale).add_(shift)
    y_test = torch.from_numpy(yt)
    n = x_all.shape[0]
    model = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    steps_per_epoch = (n + a.batch_size - 1) // a.batch_size
    total = steps_per_epoch * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 + math.cos(math.pi * min(1.0, s / total))) / 2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(a.epochs):
        perm = torch.randperm(n, generator=g)
        t0 = time.perf_counter()
        model.train()
        for k in range(steps_per_epoch):
            idx = perm[k * a.batch_size:(k + 1) * a.batch_size]
            x = x_all[idx].float().mul_(scale).add_(shift)
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(model(x), y_all[idx])
            loss.backward()
            opt.step()
            sched.step()
        dt = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            acc = float((model(x_test).argmax(dim=1) == y_test).float().mean())
        print(json.dumps({"event": "epoch", "epoch": epoch + 1, "wall": time.perf_counter() - T0,
                          "train_seconds": dt, "test_accuracy": acc}), flush=True)
        if a.stop_at is not None and acc >= a.stop_at:
            break


if __name__ == "__main__":
    sys.exit(main())
