#!/usr/bin/env python3
"""Cost of the stall watchdog (docs/reliability.md, "Stalled ranks").

Runs `mpirun -np 2 nntrain train` (default MLP 784-1024-1024-10, batch 128, Fashion-MNIST) for
a fixed number of steps with --stall-timeout 0 (no watchdog, MPI_THREAD_FUNNELED) and with
--stall-timeout 300 (watchdog thread, MPI_THREAD_MULTIPLE), interleaved (off, on, off, on, ...),
and reports the median training seconds (the `done` line's `seconds`, which excludes start-up
and data loading) and steps per second of each.

    python3 bench/stall_overhead.py [--nntrain .build/release/nntrain] [--steps 300] [--reps 5]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--nntrain", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "nntrain"))
ap.add_argument("--steps", type=int, default=300)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--np", type=int, default=2)
ap.add_argument("--extra", default="", help="more nntrain flags, e.g. '--exchange allreduce'")
a = ap.parse_args()

env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
seconds = {"off": [], "on": []}
with tempfile.TemporaryDirectory() as tmp:
    for rep in range(a.reps):
        for arm, timeout in (("off", "0"), ("on", "300")) if rep % 2 == 0 else (("on", "300"), ("off", "0")):
            m = os.path.join(tmp, f"{arm}-{rep}.jsonl")
            cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(a.np), a.nntrain, "train",
                   "--steps", str(a.steps), "--quiet", "--metrics", m, "--stall-timeout", timeout] + a.extra.split()
            t0 = time.time()
            subprocess.run(cmd, env=env, check=True)
            done = [json.loads(l) for l in open(m) if '"event":"done"' in l][-1]
            seconds[arm].append(done["seconds"])
            print(f"rep {rep} {arm:3}: {done['seconds']:.3f} s training ({time.time() - t0:.1f} s wall), "
                  f"{done['steps'] / done['seconds']:.1f} steps/s, exchange {done['exchange']}", flush=True)

off, on = statistics.median(seconds["off"]), statistics.median(seconds["on"])
print(f"\n{a.steps} steps, np {a.np}, {a.reps} reps each {a.extra}")
print(f"watchdog off: median {off:.3f} s  ({a.steps / off:.1f} steps/s)  all: {', '.join(f'{s:.2f}' for s in seconds['off'])}")
print(f"watchdog on : median {on:.3f} s  ({a.steps / on:.1f} steps/s)  all: {', '.join(f'{s:.2f}' for s in seconds['on'])}")
print(f"difference  : {100 * (on - off) / off:+.1f} % of the median (spread off: {min(seconds['off']):.2f}–{max(seconds['off']):.2f} s)")
