"""Throughput of DeepFeatureExtractor vs a plain timm loop, and cached re-run speed-up.

Run:  python benchmarks/bench_features.py [--n 60] [--backbone efficientnet_lite0]

Both paths read the same BUSI PNGs (data/busi), scale to [0, 1], resize to 224 with
antialiased bilinear interpolation, ImageNet-normalise and run the same frozen network in
inference mode with the same batch size, in this process, alternately (plain, extractor,
plain, extractor) so machine load affects both alike. Prints images/s of each and their ratio
(target >= 1.0), then the time of a fully cached re-run (target >= 100x faster than extracting).

``--padding``: the cost of batch invariance. The extractor runs every forward pass with exactly
``batch_size`` rows (a short last batch is zero-padded) so that features do not depend on batch
composition; this times ``--n`` images with the padded passes against the same run with the last
batch left short (the pre-invariance behaviour), alternately, and prints the ratio. With
``--n`` a multiple of ``--batch-size`` there is nothing to pad.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BUSI = ROOT / "data" / "busi"


def plain_loop(files, model, batch_size):
    import torch
    import torch.nn.functional as F
    from PIL import Image

    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    out = []
    with torch.inference_mode():
        for i in range(0, len(files), batch_size):
            xs = []
            for f in files[i:i + batch_size]:
                x = torch.from_numpy(np.asarray(Image.open(f).convert("L"), dtype=np.float32))
                x = (x - x.min()) / (x.max() - x.min())
                x = F.interpolate(x[None, None], size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
                xs.append(((x[0].repeat(3, 1, 1)) - mean) / std)
            out.append(model(torch.stack(xs)).numpy())
    return np.concatenate(out)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--batch-size", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--padding", action="store_true", help="time padded vs unpadded last batches instead")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from her2stats.features import DeepFeatureExtractor
    from her2stats.features.backbones import resolve_weights
    from her2stats.features.extractor import get_model

    files = sorted(BUSI.glob("*/*.png"))[: args.n]
    cases = pd.DataFrame({"patient_id": [f"{p.parent.name}_{p.stem}" for p in files], "sequence": "us",
                          "image_path": [str(p) for p in files]})
    pretrained = args.backbone == "efficientnet_lite0"
    spec = resolve_weights(args.backbone, pretrained)
    model = get_model(spec, "avg", "cpu")  # the same network object for both paths
    if args.padding:
        return padding_cost(cases, args, pretrained)
    kw = dict(backbone=args.backbone, pretrained=pretrained, margin=None, normalize="none",
              batch_size=args.batch_size, progress=False, device="cpu")
    plain_loop(files[:4], model, args.batch_size)  # warm-up (allocator, oneDNN kernels)
    t_plain, t_fx = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ref = plain_loop(files, model, args.batch_size)
        t_plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        X = DeepFeatureExtractor(**kw).fit_transform(cases)
        t_fx.append(time.perf_counter() - t0)
    err = float(np.abs(X.to_numpy() - ref).max())
    n = len(files)
    ips_plain, ips_fx = n / min(t_plain), n / min(t_fx)
    print(f"backbone {args.backbone}, {n} images, batch {args.batch_size}, best of {args.repeats}")
    print(f"plain timm loop : {ips_plain:8.2f} images/s")
    print(f"extractor       : {ips_fx:8.2f} images/s   ratio extractor/plain = {ips_fx / ips_plain:.2f}x "
          f"(target >= 1.0); max |difference| = {err:.2e}")
    with tempfile.TemporaryDirectory() as tmp:
        fx = DeepFeatureExtractor(**kw, cache_dir=tmp)
        t0 = time.perf_counter()
        fx.fit_transform(cases)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        fx.transform(cases)
        t_cached = time.perf_counter() - t0
        assert fx.cache_stats_["hits"] == n
    print(f"first run with cache: {t_first:.2f} s; cached re-run: {t_cached:.4f} s; "
          f"speed-up {t_first / t_cached:.0f}x (target >= 100x)")


def padding_cost(cases, args, pretrained):
    import her2stats.features.extractor as ex
    from her2stats.features import DeepFeatureExtractor

    padded_forward = ex._forward

    def unpadded_forward(model, rows, batch_size, device, precision):
        return padded_forward(model, rows, len(rows), device, precision)

    kw = dict(backbone=args.backbone, pretrained=pretrained, margin=None, normalize="none",
              batch_size=args.batch_size, progress=False, device="cpu")
    DeepFeatureExtractor(**kw).fit_transform(cases.iloc[:2])  # warm-up
    t_pad, t_short = [], []
    for _ in range(args.repeats):
        for forward, times in ((padded_forward, t_pad), (unpadded_forward, t_short)):
            ex._forward = forward
            t0 = time.perf_counter()
            DeepFeatureExtractor(**kw).fit_transform(cases)
            times.append(time.perf_counter() - t0)
    ex._forward = padded_forward
    n, b = len(cases), args.batch_size
    rows = -(-n // b) * b
    print(f"backbone {args.backbone}, {n} images, batch {b}: {rows} rows through the network instead of {n}")
    print(f"padded (batch-invariant) : {min(t_pad):.2f} s")
    print(f"last batch short (before): {min(t_short):.2f} s   ratio padded/short = {min(t_pad) / min(t_short):.2f}x "
          f"(best of {args.repeats})")


if __name__ == "__main__":
    main()
