"""Cost of the trained segmentation network (her2stats.fit_segmentation_network) against a bare
training loop of the same U-Net on the same slices, in this process.

Run:  python benchmarks/bench_segmentation.py [--n 60] [--epochs 2] [--size 64] [--threads 1]

The anchor is a plain loop: the same network (``_build_unet``), the same prepared slices already in
memory, AdamW, Dice + BCE, the same batch size and epochs, no augmentation, no inner validation, no
file reading. The estimator adds reading each case, the seeded augmentation, the per-epoch
validation Dice and the kept checkpoint. Prints seconds of each, their ratio (estimator / anchor;
target below 2 at 64 px: the overhead must not dominate the training) and seconds per
network-epoch per 100 training slices, alternating the two runs so machine load affects both alike.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def anchor(net, x: np.ndarray, m: np.ndarray, epochs: int, bs: int, seed: int) -> float:
    import torch

    from her2stats.training.segmentation import _build_unet, dice_bce_loss

    t0 = time.perf_counter()
    model = _build_unet(net.spec_, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    xt, mt = torch.from_numpy(x)[:, None], torch.from_numpy(m.astype(np.float32))[:, None]
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            loss = dice_bce_loss(model(net._normalise(xt[idx])), mt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch

    import her2stats as h2
    from her2stats.training import SegmentationNetwork

    torch.set_num_threads(args.threads)
    t = h2.demo_images(root=tempfile.mkdtemp(prefix="h2s_bench_seg_"), n=args.n)
    cases = t[t["sequence"] == "DCE_post1"].reset_index(drop=True)
    kw = dict(epochs=args.epochs, batch_size=args.batch_size, size=args.size, device="cpu", seed=0,
              early_stopping=None)
    times_est, times_anchor = [], []
    for _ in range(2):
        t0 = time.perf_counter()
        net = SegmentationNetwork(**kw).fit(cases)
        times_est.append(time.perf_counter() - t0)
        train = cases[cases["patient_id"].isin(net.train_ids_)]
        prep = net._prepare_all(train, need_mask=True)
        x = np.concatenate([p.x for p in prep])
        m = np.concatenate([p.m for p in prep])
        times_anchor.append(anchor(net, x, m, args.epochs, args.batch_size, 0))
    est, anc = min(times_est), min(times_anchor)
    n_slices = net.history_.n_train_slices
    print(f"{len(cases)} cases, {n_slices} training slices, {args.epochs} epochs, {args.size} px, {args.threads} thread(s)")
    print(f"estimator {est:.2f} s, bare loop {anc:.2f} s, ratio {est / anc:.2f} (target < 2)")
    print(f"{est / args.epochs / n_slices * 100:.2f} s per network-epoch per 100 training slices (estimator)")


if __name__ == "__main__":
    main()
