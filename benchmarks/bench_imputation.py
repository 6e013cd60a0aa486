"""Multiple imputation on the Duke HER2 cohort (922 patients, grade missing in 284): the Python
engine against R's mice in the same process, and the cost of bootstrap-then-impute validation.

Prints, with the load average before and after (other processes distort the ratios):

* ``MiceImputer(m=20)`` on the Python engine and on the R engine (``mice::mice``), and their ratio
  (target: Python at least as fast as R's mice, ratio <= 1);
* ``validate_mi`` per bootstrap replicate (``m_boot=5``) against ``validate`` per replicate of the
  complete-case model (the anchor: an imputation-free optimism bootstrap), so the runner can size
  ``n_boot`` for a study or the demo;
* that ``validate_mi`` gives the same table on 1 and 2 threads (chunks are seeded).

    python benchmarks/bench_imputation.py [--n-boot 20]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

COVS = ["age", "menopause", "er", "pr", "grade", "n_stage", "multifocal", "duke_lymphadenopathy",
        "duke_skin_nipple_involvement", "duke_contralateral_involvement"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-boot", type=int, default=20)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import her2stats as h2

    print(f"load average before: {os.getloadavg()}")
    d = h2.load_duke()[COVS + ["her2_positive"]]
    d.attrs = {}
    print(f"Duke: {len(d)} patients, {int(d.isna().any(axis=1).sum())} with a missing predictor")

    from her2stats import r_bridge

    r_bridge.ensure_started()
    r_bridge.require("mice")
    times = {}
    for eng in ("python", "r"):
        t = time.perf_counter()
        h2.MiceImputer(m=20, outcome="her2_positive", seed=1, engine=eng).fit(d)
        times[eng] = time.perf_counter() - t
        print(f"MiceImputer(m=20, maxit=5) engine={eng}: {times[eng]:.2f} s")
    print(f"ratio Python / R mice: {times['python'] / times['r']:.2f} (target <= 1)")

    cc = d.dropna()
    model = h2.fit_lrm(cc, "her2_positive", COVS, engine="python")
    t = time.perf_counter()
    h2.validate(model, n_boot=200, seed=1, engine="python") if "n_boot" in h2.validate.__code__.co_varnames \
        else h2.validate(model, B=200, seed=1, engine="python")
    per_validate = (time.perf_counter() - t) / 200
    imputer = h2.MiceImputer(m=20, outcome="her2_positive", seed=1, engine="python")
    t = time.perf_counter()
    v1 = h2.validate_mi(d, "her2_positive", COVS, imputer=imputer, m_boot=5, n_boot=args.n_boot, seed=1)
    per_mi = (time.perf_counter() - t) / args.n_boot
    print(f"validate (complete cases, 200 replicates): {per_validate * 1e3:.1f} ms per replicate")
    print(f"validate_mi (m=20, m_boot=5, {args.n_boot} replicates incl. the m=20 apparent step): "
          f"{per_mi:.2f} s per replicate = {per_mi / per_validate:.0f} x validate")
    t = time.perf_counter()
    v2 = h2.validate_mi(d, "her2_positive", COVS, imputer=imputer, m_boot=5, n_boot=args.n_boot, seed=1,
                        scheduler="threads")
    print(f"validate_mi on threads: {time.perf_counter() - t:.1f} s; identical table: {v1.table.equals(v2.table)}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
