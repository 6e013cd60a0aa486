"""Peak memory (RSS) of the two largest workloads, each measured in a fresh process.

* paired DeLong (``roc_test``, Python engine) at n = 1e7 (``--n-delong``): peak RSS during the
  call, the RSS before it with the data loaded, and the working memory per observation (O(n), no
  n x n object);
* deep-feature extraction of the 2,000 demo volumes (400 patients x 5 sequences, 64 x 64 x 16)
  with a small network at a small input size (``--backbone``, ``--input-size``), in process, no
  cache: RSS with the network built, then the peak while extracting 400 and all 2,000 volumes
  (memory must not grow with the number of volumes beyond the feature table itself).

Peaks are Linux's VmHWM, reset (``/proc/self/clear_refs``) once the inputs are in memory.

Run: .venv/bin/python benchmarks/bench_memory.py [--n-delong 10000000] [--skip-extraction]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROC = r"""
def _status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])   # kB


def rss_now():
    return _status("VmRSS")


def peak():
    return _status("VmHWM")


def reset_peak():
    # Linux: writing 5 to clear_refs resets the peak resident set size (VmHWM) of this process
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
"""

_DELONG = _PROC + r"""
import json, sys, time
import numpy as np
sys.path.insert(0, {bench!r})
from bench_roc import _data
from her2stats.stats.roc import roc_test
n = {n}
roc_test(*_data(1000), direction="<", engine="python")   # compiled kernels loaded before measuring
y, s1, s2 = _data(n)
reset_peak()
base = rss_now()
t0 = time.perf_counter()
res = roc_test(y, s1, s2, direction="<", engine="python")
wall = time.perf_counter() - t0
print(json.dumps({{"base_kb": base, "peak_kb": peak(), "wall": wall, "z": res.statistic}}))
"""

_EXTRACT = _PROC + r"""
import json, os, tempfile, time
import torch
from her2stats.data import demo_images
from her2stats.features import DeepFeatureExtractor
torch.set_num_threads(1)
cases = demo_images(root=os.path.join(tempfile.gettempdir(), "her2stats_bench_memory_demo"))
kw = dict(backbone={backbone!r}, pretrained=False, input_size={size}, margin=5, on_border="clip", k=1,
          progress=False, device="cpu", batch_size=32)
DeepFeatureExtractor(**kw).fit_transform(cases.head(5))
reset_peak()
out = {{"after_model_kb": rss_now(), "volumes": len(cases)}}
t0 = time.perf_counter()
X = DeepFeatureExtractor(**kw).fit_transform(cases.head(400))
out["after_400_kb"] = peak()
X = DeepFeatureExtractor(**kw).fit_transform(cases)
out["after_all_kb"] = peak()
out["wall"] = time.perf_counter() - t0
out["features_mb"] = X.memory_usage(deep=True).sum() / 2**20
print(json.dumps(out))
"""


def _child(code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-delong", type=int, default=10_000_000)
    ap.add_argument("--backbone", default="mobilenetv3_small_050")
    ap.add_argument("--input-size", type=int, default=64)
    ap.add_argument("--skip-extraction", action="store_true")
    args = ap.parse_args()
    n = args.n_delong
    d = _child(_DELONG.format(bench=str(ROOT / "benchmarks"), n=n))
    data_mb = n * (1 + 8 + 8) / 2**20   # int8 outcome and two float64 scores, as generated
    print(f"paired DeLong, n={n:,}: peak RSS {d['peak_kb'] / 1024:,.0f} MiB; before the call, data loaded "
          f"{d['base_kb'] / 1024:,.0f} MiB (data {data_mb:,.0f} MiB); working memory "
          f"{(d['peak_kb'] - d['base_kb']) * 1024 / n:.0f} bytes per observation; {d['wall']:.2f} s; Z = {d['z']:.4f}")
    if args.skip_extraction:
        return
    e = _child(_EXTRACT.format(backbone=args.backbone, size=args.input_size))
    print(f"extraction of {e['volumes']:,} demo volumes ({args.backbone} @ {args.input_size}px, 1 thread, no cache): "
          f"RSS {e['after_model_kb'] / 1024:,.0f} MiB with the network built; peak {e['after_400_kb'] / 1024:,.0f} MiB "
          f"extracting 400 volumes, {e['after_all_kb'] / 1024:,.0f} MiB extracting all {e['volumes']:,} "
          f"(feature table {e['features_mb']:.1f} MiB); {e['wall']:.0f} s")


if __name__ == "__main__":
    main()
