"""Demo image generation against its budget: all 400 patients in < 30 s and < 150 MB.

Run: ``.venv/bin/python benchmarks/bench_demo_images.py [--n 400]``. Prints wall time, CPU time
(process time: what an idle machine would need when the machine is shared), disk size, and their
ratios to the budget (ratio < 1 meets it); then the time of a second, idempotent call.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from her2stats.data import demo_images, load_demo

BUDGET_S = 30.0
BUDGET_BYTES = 150e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400)
    args = parser.parse_args()
    load_demo()  # warm imports and the cached CSV so the timing is the generator's
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo_images"
        wall, cpu = time.perf_counter(), time.process_time()
        index = demo_images(root, n=args.n)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
        scale = 400 / args.n
        print(f"patients={args.n} volumes={len(index)} wall={wall:.1f}s cpu={cpu:.1f}s size={size / 1e6:.1f}MB")
        print(f"ratio to budget (scaled to 400 patients): wall {wall * scale / BUDGET_S:.2f}, "
              f"cpu {cpu * scale / BUDGET_S:.2f}, size {size * scale / BUDGET_BYTES:.2f}")
        again = time.perf_counter()
        demo_images(root, n=args.n)
        print(f"second (idempotent) call: {time.perf_counter() - again:.2f}s")


if __name__ == "__main__":
    main()
