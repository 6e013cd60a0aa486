"""Are two study runs' numbers bit-identical? (a speed-up must not change any number)

Run:  python benchmarks/check_demo_numbers.py REFERENCE NEW

REFERENCE and NEW are output folders (or their ``numbers.json``), e.g. ``out/demo`` of `make demo`
on ``main`` and on a branch, for the same config. Every key must be in both, and every value
equal exactly (floats compared bit for bit, through their JSON text: ``json.dumps`` writes the
shortest repr that round-trips, so equal text is equal bits; None stands for a non-finite value).
Exits 1 and lists the differences otherwise.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def load(path: str) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "numbers.json"
    return json.loads(p.read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    ref, new = load(argv[0]), load(argv[1])
    only_ref = sorted(set(ref) - set(new))
    only_new = sorted(set(new) - set(ref))
    differ = sorted(k for k in set(ref) & set(new) if json.dumps(ref[k]) != json.dumps(new[k]))
    for k in only_ref:
        print(f"only in {argv[0]}: {k}")
    for k in only_new:
        print(f"only in {argv[1]}: {k}")
    for k in differ:
        print(f"differs: {k}: {ref[k]!r} != {new[k]!r}")
    if only_ref or only_new or differ:
        print(f"NOT identical: {len(differ)} value(s) differ, {len(only_ref) + len(only_new)} key(s) in one only "
              f"(of {len(ref)} / {len(new)})")
        return 1
    print(f"identical: {len(ref)} numbers, every value bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
