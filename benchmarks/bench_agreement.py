"""ICC feature filter speed: her2stats.stats.agreement.icc_many vs psych::ICC per feature in R.

Prints the time of each and the ratio (Python / R) on the same data in one process. The ICC filter
of seeds 000/002/004 computes one ICC per feature (thousands of deep/radiomic features).

    .venv/bin/python benchmarks/bench_agreement.py [n_features]
"""
from __future__ import annotations

import sys
import time

import numpy as np


def main(n_features: int = 500, n_targets: int = 100) -> None:
    from her2stats import r_bridge
    from her2stats.stats.agreement import icc_many

    rng = np.random.default_rng(0)
    truth = rng.normal(size=(n_targets, 1, n_features))
    values = truth + rng.normal(0, 0.3, size=(n_targets, 2, n_features))
    t0 = time.perf_counter()
    ours = icc_many(values, "ICC2,1")
    t_py = time.perf_counter() - t0

    r_bridge.require("psych")
    r_bridge.assign("h2s_bench_vals", np.concatenate([values[:, 0, :], values[:, 1, :]], axis=1))  # rater 1 | rater 2
    r_bridge.r_eval("invisible(psych::ICC(matrix(rnorm(20), 10), lmer = FALSE))")  # warm-up
    t0 = time.perf_counter()
    theirs = r_bridge.r_eval(
        f"sapply(seq_len({n_features}), function(j) psych::ICC(h2s_bench_vals[, c(j, j + {n_features})], "
        "lmer = FALSE)$results$ICC[2])"
    )
    t_r = time.perf_counter() - t0
    assert np.allclose(ours, theirs, atol=1e-10), "icc_many disagrees with psych::ICC"
    print(f"features={n_features} targets={n_targets} raters=2")
    print(f"icc_many (python): {t_py * 1e3:.2f} ms; psych::ICC loop (R): {t_r * 1e3:.1f} ms; "
          f"ratio python/R = {t_py / t_r:.5f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
