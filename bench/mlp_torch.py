"""PyTorch CPU peer of `nntrain train`: MLP 784-1024-1024-10, ReLU, softmax cross-entropy,
SGD with momentum (v = μv + g; w -= ηv), constant lr, batch 128, per-epoch shuffling.

Prints one JSON line per epoch: samples_per_second over that epoch's optimizer steps only
(batch gather + normalize + forward + backward + step; no data loading, no evaluation).
The first epoch is warm-up; the driver skips it.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn

from fmnist import DEFAULT_DIR, load_train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--train-subset", type=int, default=12800)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--data", default=DEFAULT_DIR)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xs, ys = load_train(a.data, a.train_subset)
    x_all = torch.from_numpy(xs)   # uint8 [n, 784]
    y_all = torch.from_numpy(ys)   # int64 [n]
    n = x_all.shape[0]
    model = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = nn.CrossEntropyLoss()
    steps_per_epoch = (n + a.batch_size - 1) // a.batch_size
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(a.epochs):
        perm = torch.randperm(n, generator=g)
        t0 = time.perf_counter()
        loss_sum = 0.0
        for k in range(steps_per_epoch):
            idx = perm[k * a.batch_size:(k + 1) * a.batch_size]
            x = x_all[idx].float().mul_(1.0 / 255.0)
            y = y_all[idx]
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * idx.numel()
        dt = time.perf_counter() - t0
        print(json.dumps({"event": "epoch", "epoch": epoch + 1, "samples_per_second": n / dt,
                          "epoch_seconds": dt, "train_loss": loss_sum / n,
                          "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
