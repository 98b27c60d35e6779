#!/usr/bin/env python3
"""PyTorch CPU reference for nntrain's `--model lenet5`: the same network (nn.Sequential with
the same state_dict names), the same data (Fashion-MNIST IDX, pixels / 255, no other
normalization), the same optimizer (SGD with momentum, PyTorch's rule, as nntrain) and batch,
on a fixed number of threads. Prints one JSON line with the training samples/s (and the test
accuracy when --eval is given).

    python3 bench/lenet5_torch.py --threads 2 --batch-size 128 --train-subset 12800
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn


def load_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(directory, name):
    for candidate in (os.path.join(directory, name), os.path.join(directory, name + ".gz")):
        if os.path.exists(candidate):
            return candidate
    raise SystemExit(f"{directory}/{name}(.gz): not found")


def lenet5(activation, pooling, convolution="conv"):
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]
    pool = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[pooling]
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), act(), pool(2),
        nn.Conv2d(6, 16, 5), act(), pool(2),
        nn.Flatten(),
        nn.Linear(400, 120), act(),
        nn.Linear(120, 84), act(),
        nn.Linear(84, 10),
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--activation", default="relu")
    p.add_argument("--pooling", default="max")
    p.add_argument("--warmup-steps", type=int, default=5, help="untimed steps before the timed epochs")
    p.add_argument("--eval", action="store_true", help="report test accuracy after training")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xs = torch.from_numpy(load_idx(find(a.data, "train-images-idx3-ubyte")).astype(np.float32) / 255).unsqueeze(1)
    ys = torch.from_numpy(load_idx(find(a.data, "train-labels-idx1-ubyte")).astype(np.int64))
    if a.train_subset:
        xs, ys = xs[: a.train_subset].contiguous(), ys[: a.train_subset].contiguous()
    model = lenet5(a.activation, a.pooling)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = nn.CrossEntropyLoss()
    n = xs.shape[0]
    g = torch.Generator().manual_seed(a.seed)

    def step(idx):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xs[idx]), ys[idx])
        loss.backward()
        opt.step()
        return loss

    model.train()
    for _ in range(a.warmup_steps):
        step(torch.randint(0, n, (a.batch_size,), generator=g))
    samples, seconds = 0, 0.0
    for _ in range(a.epochs):
        order = torch.randperm(n, generator=g)
        t0 = time.perf_counter()
        for lo in range(0, n, a.batch_size):
            step(order[lo: lo + a.batch_size])
        seconds += time.perf_counter() - t0
        samples += n
    out = {"framework": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
           "batch_size": a.batch_size, "samples": samples, "seconds": round(seconds, 4),
           "samples_per_second": round(samples / seconds, 1),
           "parameters": sum(t.numel() for t in model.parameters())}
    if a.eval:
        tx = torch.from_numpy(load_idx(find(a.data, "t10k-images-idx3-ubyte")).astype(np.float32) / 255).unsqueeze(1)
        ty = torch.from_numpy(load_idx(find(a.data, "t10k-labels-idx1-ubyte")).astype(np.int64))
        model.eval()
        with torch.no_grad():
            correct = sum((model(tx[i: i + 1000]).argmax(1) == ty[i: i + 1000]).sum().item() for i in range(0, len(ty), 1000))
        out["test_accuracy"] = correct / len(ty)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
