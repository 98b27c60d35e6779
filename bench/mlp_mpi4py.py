"""Hand-written numpy + mpi4py data-parallel peer of `mpirun -np N nntrain train`.

Same model (MLP 784-1024-1024-10, ReLU, softmax cross-entropy), same algorithm as nntrain's
fast reduction: every rank derives the same permutation from (seed, epoch), takes its
contiguous slice of global batch k, computes the gradient SUM of its slice scaled by
1/global_count into ONE flat float32 buffer (loss sum and sample count ride in its tail),
ONE in-place MPI Allreduce per step, then the same SGD-momentum step (v = μv + g; w -= ηv)
on every rank. Buffers are allocated once; matmuls write into them with out=.

Rank 0 prints one JSON line per epoch: global samples/s over that epoch's steps only, and
its split as nntrain's metrics have it: comm_seconds is the time inside the Allreduce calls
(waiting for the slower rank included), compute_seconds the rest of the epoch.
Run with OPENBLAS_NUM_THREADS=1 (one BLAS thread per rank).
"""
import argparse
import json
import time

import numpy as np
from mpi4py import MPI

import ctypes
import glob
import os

from fmnist import DEFAULT_DIR, load_train


def blas_info():
    """numpy's OpenBLAS: (config, core kernel it dispatched to), or '?' when not found."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "libscipy_openblas*"))
    for path in libs:
        lib = ctypes.CDLL(path)
        for suffix in ("64_", ""):
            f = getattr(lib, "scipy_openblas_get_corename" + suffix, None)
            if f is not None:
                f.restype = ctypes.c_char_p
                return f().decode()
    return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=256, help="global batch")
    ap.add_argument("--train-subset", type=int, default=12800)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--data", default=DEFAULT_DIR)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    xs, ys = load_train(a.data, a.train_subset)
    n = xs.shape[0]
    sizes = [784, 1024, 1024, 10]

    # One flat parameter buffer, one flat gradient buffer (+4 tail slots), one momentum buffer.
    shapes = []
    for i in range(3):
        shapes.append((sizes[i + 1], sizes[i]))  # weight [out, in]
        shapes.append((sizes[i + 1],))           # bias [out]
    P = sum(int(np.prod(s)) for s in shapes)
    params = np.empty(P, dtype=np.float32)
    grads = np.zeros(P + 4, dtype=np.float32)
    mom = np.zeros(P, dtype=np.float32)

    def views(buf):
        out, off = [], 0
        for s in shapes:
            c = int(np.prod(s))
            out.append(buf[off:off + c].reshape(s))
            off += c
        return out

    W1, b1, W2, b2, W3, b3 = views(params)
    dW1, db1, dW2, db2, dW3, db3 = views(grads)
    rng = np.random.default_rng(a.seed)
    if rank == 0:
        for w, b, fan_in in ((W1, b1, 784), (W2, b2, 1024), (W3, b3, 1024)):
            bound = 1 / np.sqrt(fan_in)
            w[...] = rng.uniform(-bound, bound, w.shape)
            b[...] = rng.uniform(-bound, bound, b.shape)
    comm.Bcast(params, root=0)

    B = a.batch_size
    per = (B + size - 1) // size
    # Activation buffers sized once for the largest per-rank slice.
    x = np.empty((per, 784), np.float32)
    z1 = np.empty((per, 1024), np.float32); h1 = np.empty_like(z1)
    z2 = np.empty((per, 1024), np.float32); h2 = np.empty_like(z2)
    z3 = np.empty((per, 10), np.float32)
    dz3 = np.empty_like(z3)
    dh2 = np.empty_like(z2); dh1 = np.empty_like(z1)
    steps = (n + B - 1) // B

    for epoch in range(a.epochs):
        perm = np.random.default_rng((a.seed, epoch)).permutation(n)
        comm.Barrier()
        t0 = time.perf_counter()
        loss_epoch = 0.0
        comm_s = 0.0
        for k in range(steps):
            lo_g, hi_g = k * B, min((k + 1) * B, n)
            count = hi_g - lo_g
            # My contiguous slice of global batch k.
            q, r = divmod(count, size)
            lo = lo_g + rank * q + min(rank, r)
            m = q + (1 if rank < r else 0)
            scale = np.float32(1.0 / count)
            if m > 0:
                idx = perm[lo:lo + m]
                xb = x[:m]
                np.multiply(xs[idx], np.float32(1 / 255), out=xb, casting="unsafe")
                yb = ys[idx]
                a1, r1 = z1[:m], h1[:m]
                np.matmul(xb, W1.T, out=a1); a1 += b1
                np.maximum(a1, 0, out=r1)
                a2, r2 = z2[:m], h2[:m]
                np.matmul(r1, W2.T, out=a2); a2 += b2
                np.maximum(a2, 0, out=r2)
                a3 = z3[:m]
                np.matmul(r2, W3.T, out=a3); a3 += b3
                # Softmax cross-entropy: loss sum and scale * dL/dz.
                g3 = dz3[:m]
                mx = a3.max(axis=1, keepdims=True)
                np.subtract(a3, mx, out=g3)
                np.exp(g3, out=g3)
                s = g3.sum(axis=1, keepdims=True)
                rows = np.arange(m)
                loss_sum = float(np.sum(np.log(s[:, 0]) + mx[:, 0] - a3[rows, yb]))
                g3 *= scale / s
                g3[rows, yb] -= scale
                # Backward, gradient sums into the flat buffer.
                np.matmul(g3.T, r2, out=dW3); np.sum(g3, axis=0, out=db3)
                g2 = dh2[:m]
                np.matmul(g3, W3, out=g2); g2 *= (a2 > 0)
                np.matmul(g2.T, r1, out=dW2); np.sum(g2, axis=0, out=db2)
                g1 = dh1[:m]
                np.matmul(g2, W2, out=g1); g1 *= (a1 > 0)
                np.matmul(g1.T, xb, out=dW1); np.sum(g1, axis=0, out=db1)
            else:
                grads[:P] = 0
                loss_sum = 0.0
            grads[P] = loss_sum
            grads[P + 1] = m
            tc = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)
            comm_s += time.perf_counter() - tc
            assert int(grads[P + 1]) == count
            loss_epoch += float(grads[P])
            # SGD with momentum, the same on every rank.
            g = grads[:P]
            mom *= np.float32(a.momentum); mom += g
            params -= np.float32(a.lr) * mom
        dt = time.perf_counter() - t0
        if rank == 0:
            print(json.dumps({"event": "epoch", "epoch": epoch + 1, "step": (epoch + 1) * steps,
                              "samples_per_second": n / dt, "epoch_seconds": dt,
                              "compute_seconds": dt - comm_s, "comm_seconds": comm_s, "train_loss": loss_epoch / n, "world_size": size,
                              "blas_core": blas_info(),
                              "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
                              "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}), flush=True)


if __name__ == "__main__":
    main()
