"""PyTorch DDP peer (gloo backend) of `mpirun -np N nntrain train`.

Same model, loss and optimizer as nntrain; global batch split into contiguous per-rank
slices of one permutation per (seed, epoch); DDP averages the gradients (its bucketed
allreduce over gloo). One intra-op thread per process.

Launch under mpirun (reads OMPI_COMM_WORLD_RANK/SIZE) or torchrun (RANK/WORLD_SIZE).
Rank 0 prints one JSON line per epoch: global samples/s over that epoch's steps only.

--hook fp16|bf16 registers DDP's fp16_compress_hook / bf16_compress_hook (gradients cast to
16 bits for the allreduce, averaged, cast back). --nosync-steps K: after the timed epochs, K
more steps under model.no_sync() (forward, backward, step without DDP's allreduce), printed as
one {"event": "nosync"} line: the compute a synchronized step contains, so that
step time - no-sync step time is the communication DDP did not hide behind backward.
"""
import argparse
import json
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

from fmnist import DEFAULT_DIR, load_train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=256, help="global batch")
    ap.add_argument("--train-subset", type=int, default=12800)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--data", default=DEFAULT_DIR)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--port", default="29533")
    ap.add_argument("--hook", choices=["none", "fp16", "bf16"], default="none", help="DDP comm hook")
    ap.add_argument("--nosync-steps", type=int, default=0, help="untimed-by-epoch steps under no_sync() at the end")
    a = ap.parse_args()

    env = os.environ
    rank = int(env.get("OMPI_COMM_WORLD_RANK", env.get("RANK", "0")))
    size = int(env.get("OMPI_COMM_WORLD_SIZE", env.get("WORLD_SIZE", "1")))
    env.setdefault("MASTER_ADDR", "127.0.0.1")
    env.setdefault("MASTER_PORT", a.port)
    dist.init_process_group("gloo", rank=rank, world_size=size)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    xs, ys = load_train(a.data, a.train_subset)
    x_all, y_all = torch.from_numpy(xs), torch.from_numpy(ys)
    n = x_all.shape[0]
    model = DDP(nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)))
    if a.hook != "none":
        hook = {"fp16": default_hooks.fp16_compress_hook, "bf16": default_hooks.bf16_compress_hook}[a.hook]
        model.register_comm_hook(dist.group.WORLD, hook)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = nn.CrossEntropyLoss()
    B = a.batch_size
    steps = (n + B - 1) // B

    def my_slice(batch):
        q, r = divmod(batch.numel(), size)
        lo = rank * q + min(rank, r)
        return batch[lo:lo + q + (1 if rank < r else 0)]

    for epoch in range(a.epochs):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(a.seed * 1000 + epoch))
        dist.barrier()
        t0 = time.perf_counter()
        loss_sum = 0.0
        for k in range(steps):
            batch = perm[k * B:(k + 1) * B]
            idx = my_slice(batch)
            x = x_all[idx].float().mul_(1.0 / 255.0)
            y = y_all[idx]
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * idx.numel()
        dt = time.perf_counter() - t0
        if rank == 0:
            print(json.dumps({"event": "epoch", "epoch": epoch + 1, "step": (epoch + 1) * steps,
                              "samples_per_second": n / dt, "epoch_seconds": dt, "hook": a.hook, "train_loss_rank0": loss_sum / max(1, (n + size - 1) // size),
                              "world_size": size, "threads": torch.get_num_threads()}), flush=True)
    if a.nosync_steps > 0:
        # The same steps without DDP's gradient allreduce: the ranks drift apart (timing only).
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(a.seed * 1000 + a.epochs))
        times = []
        for k in range(a.nosync_steps):
            batch = perm[(k % steps) * B:((k % steps) + 1) * B]
            idx = my_slice(batch)
            x = x_all[idx].float().mul_(1.0 / 255.0)
            t0 = time.perf_counter()
            with model.no_sync():
                opt.zero_grad(set_to_none=False)
                loss_fn(model(x), y_all[idx]).backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        if rank == 0:
            times.sort()
            print(json.dumps({"event": "nosync", "steps": len(times), "median_step_seconds": times[len(times) // 2]}), flush=True)
        dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
