"""Dask-distributed feature extraction: speed-up of 2 workers over 1, and scheduler overhead.

Run:  python benchmarks/bench_dask.py [--n 16] [--backbone resnet18]

Extracts features of the demo MRI volumes (``her2stats.data.demo_images``; every sequence of
``n`` patients, no cache so every run computes) three ways, each with one torch thread per
worker so that the comparison is about the scheduler, not about intra-op threading:

* in-process sequential run (the anchor),
* :func:`her2stats.features.local_cluster` (a Dask LocalCluster without Dask's
  ``MALLOC_TRIM_THRESHOLD_``, see its docstring) with 1 worker process  -> overhead = t(1 worker) / t(anchor) - 1 (goal <= 10%),
* a Dask ``LocalCluster`` with 2 worker processes -> speed-up = t(1 worker) / t(2 workers).

Every setting is timed ``--repeats`` times and the best run kept (the machine is shared, so
the minimum is the least-disturbed measurement). Each cluster is warmed up first (workers import torch and build the network once per
process), so timings are of steady-state extraction. The speed-up cannot exceed the number of
free cores: on a shared 2-core machine it is bounded by the other load.
(The bootstrap half of the issue-10 benchmark lives with the resampling code.)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16, help="demo patients (x5 sequences)")
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--input-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timed runs per setting")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch
    from dask.distributed import Client

    from her2stats.data import demo_images
    from her2stats.features import DeepFeatureExtractor, local_cluster

    tmp = tempfile.mkdtemp(prefix="bench_dask_")
    cases = demo_images(root=os.path.join(tmp, "demo"), n=args.n)
    kw = dict(backbone=args.backbone, pretrained=False, input_size=args.input_size, margin=5, on_border="clip",
              k=1, progress=False, device="cpu", batch_size=16)
    n_img = len(cases)

    load0 = os.getloadavg()
    torch.set_num_threads(1)
    DeepFeatureExtractor(**kw).fit_transform(cases.head(5))  # warm-up: model build, kernels
    walls: list[float] = []

    def best(fx):
        out, best_t = None, float("inf")
        walls.clear()
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = fx.fit_transform(cases)
            walls.append(time.perf_counter() - t0)
            best_t = min(best_t, walls[-1])
        return out, best_t

    ref, t_anchor = best(DeepFeatureExtractor(**kw))

    times, diffs = {}, {}
    for workers in (1, 2):
        with local_cluster(n_workers=workers) as cluster, Client(cluster) as client:
            fx = DeepFeatureExtractor(**kw, scheduler=client)
            # warm-up: every worker builds its network (one case per task, so every worker gets some)
            DeepFeatureExtractor(**kw, scheduler=client, partition_size=1).fit_transform(cases.head(5 * workers))
            from dask.distributed import get_task_stream

            with get_task_stream(client=client) as stream:
                X, times[workers] = best(fx)
            if workers == 1:
                # compute time of every task as the worker measured it: what the scheduler adds is
                # the wall time the driver saw minus this (serialisation, transfers, scheduling)
                compute = sum(s["stop"] - s["start"] for d in stream.data for s in d["startstops"]
                              if s["action"] == "compute") / args.repeats
                sched_overhead = sum(walls) / len(walls) / compute - 1
            diffs[workers] = float(abs(X.to_numpy() - ref.to_numpy()).max())
            assert diffs[workers] < 1e-3
    print(f"best of {args.repeats} runs; {n_img} images ({args.n} patients x 5 sequences, 3 slices each), {args.backbone} @ {args.input_size}px, "
          f"1 torch thread per worker, {os.cpu_count()} cores")
    print(f"load average (1/5/15 min) before {'/'.join(f'{x:.1f}' for x in load0)}, after "
          f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())}: the speed-up cannot exceed the free cores")
    print(f"in-process sequential (anchor): {t_anchor:7.2f} s  ({n_img / t_anchor:.1f} images/s)")
    print(f"dask, 1 worker               : {times[1]:7.2f} s  overhead vs anchor {100 * (times[1] / t_anchor - 1):+.1f}% "
          f"(goal <= 10%)")
    print(f"  of which scheduler (mean wall / mean summed task compute time, 1 worker): {100 * sched_overhead:+.1f}%; "
          f"the rest is the worker process computing slower than the driver")
    print(f"dask, 2 workers              : {times[2]:7.2f} s  speed-up over 1 worker {times[1] / times[2]:.2f}x "
          "(goal >= 1.7x)")
    print(f"max abs feature difference vs in-process: 1 worker {diffs[1]:.3g}, 2 workers {diffs[2]:.3g}")


if __name__ == "__main__":
    main()
