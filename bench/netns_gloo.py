"""Raw gloo allreduce probe for bench/netns.py: what PyTorch's collective reaches on a shaped link.

One process per host (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, GLOO_SOCKET_IFNAME as for
mlp_ddp.py). Times torch.distributed.all_reduce of the sizes DDP sends for the default MLP:
the whole fp32 gradient (1,863,690 floats) and the same in bf16 (what bf16_compress_hook puts on
the wire), and a third of each, --iters calls each after --warmup. Rank 0 prints one JSON line of medians. With
--gap-ms G > 0 each size is timed again with G ms of compute between the calls (a 64×64 matmul
loop, one thread), as a training step computes between its collectives: keys *_gap_median_seconds.
"""
import argparse
import json
import time

import torch
import torch.distributed as dist

P = 1863690


def compute_for(seconds, a=torch.ones(64, 64)):
    """Keeps this process's core busy for `seconds` (the compute of a step) without touching the buffer."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        torch.mm(a, a)


def timed(t, iters, warmup, gap=0.0):
    out = []
    for i in range(warmup + iters):
        if gap > 0:
            compute_for(gap)
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
    ap.add_argument("--gap-ms", type=float, default=0.0, help="also time each size with this much compute between calls")
    a = ap.parse_args()
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    r = {"event": "gloo", "ranks": dist.get_world_size(), "floats": P}
    # The gradient and a third of it (two sizes: a fixed cost per call and a cost per byte can
    # be told apart), back to back and with the gap; keys fp32[_third][_gap]_median_seconds.
    r["third_floats"] = P // 3
    if a.gap_ms > 0:
        r["gap_ms"] = a.gap_ms
    for gap in [0.0] + ([a.gap_ms * 1e-3] if a.gap_ms > 0 else []):
        for n, part in ((P, ""), (P // 3, "_third")):
            for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
                r[f"{name}{part}{'_gap' if gap else ''}_median_seconds"] = timed(torch.ones(n, dtype=dtype), a.iters, a.warmup, gap)
    if dist.get_rank() == 0:
        print(json.dumps(r), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
