"""Raw gloo allreduce probe for bench/netns.py: what PyTorch's collective reaches on a shaped link.

One process per host (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, GLOO_SOCKET_IFNAME as for
mlp_ddp.py). Times torch.distributed.all_reduce of the sizes DDP sends for the default MLP:
the whole fp32 gradient (1,863,690 floats) and the same in bf16 (what bf16_compress_hook puts on
the wire), --iters calls each after --warmup. Rank 0 prints one JSON line of medians.
"""
import argparse
import json
import time

import torch
import torch.distributed as dist

P = 1863690


def timed(t, iters, warmup):
    out = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        dist.all_reduce(t)
        if i >= warmup:
            out.append(time.perf_counter() - t0)
        t.mul_(0.5)
    out.sort()
    return out[len(out) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    r = {"event": "gloo", "ranks": dist.get_world_size(), "floats": P}
    r["fp32_median_seconds"] = timed(torch.ones(P), a.iters, a.warmup)
    r["bf16_median_seconds"] = timed(torch.ones(P, dtype=torch.bfloat16), a.iters, a.warmup)
    if dist.get_rank() == 0:
        print(json.dumps(r), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
