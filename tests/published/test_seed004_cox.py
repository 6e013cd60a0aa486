"""Seed 004 (MRI deep-learning radiomics for HER2-low; DFS): the printed multivariable Cox rows.

tests/published/seeds/seed004_cox.yaml records each printed hazard ratio, 95% CI and p-value (as
strings, so the printed precision is known). Without the patient data only internal consistency
can be checked: under the Wald model on the log scale the HR is the geometric centre of its CI
and p follows from z = log(HR) / SE with SE = (log(upper) - log(lower)) / (2 x 1.96), after
propagating the rounding of every printed number (:func:`check_ratio_ci_p`). Both rows pass:
HR 0.175 (0.038-0.792), p = 0.024 and HR 1.043 (1.010-1.077), p = 0.009.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from her2stats.stats.survival import check_ratio_ci_p

SEEDS = Path(__file__).resolve().parent / "seeds"


def _decimals(s: str) -> int:
    return len(s.split(".")[1]) if "." in s else 0


@pytest.fixture(scope="module")
def table():
    return yaml.safe_load((SEEDS / "seed004_cox.yaml").read_text())


def test_rows_are_printed_in_the_seed(table, seeds_dir):
    text = (seeds_dir / table["seed"]).read_text()
    for row in table["rows"]:
        for value in (row["estimate"], *row["ci"], row["p"]):
            assert value in text, (row["row"], value)


def test_hazard_ratio_ci_and_p_agree(table):
    for row in table["rows"]:
        lo, hi = row["ci"]
        res = check_ratio_ci_p(float(row["estimate"]), float(lo), float(hi), float(row["p"]),
                               decimals=max(_decimals(row["estimate"]), _decimals(lo), _decimals(hi)),
                               p_decimals=_decimals(row["p"]))
        assert res.ratio_consistent, (row["row"], res.to_frame().to_dict("records"))
        assert res.p_consistent, (row["row"], res.to_frame().to_dict("records"))


def test_dlr_score_row_numbers():
    # HR 0.175, CI 0.038-0.792: SE(log HR) = log(0.792 / 0.038) / 3.92 = 0.7748, Wald p = 0.0245
    res = check_ratio_ci_p(0.175, 0.038, 0.792, 0.024)
    assert res.se_log == pytest.approx(0.77475, abs=5e-5)
    assert res.p_from_ci == pytest.approx(0.02447, abs=5e-5)
    assert res.ratio_from_ci == pytest.approx(0.17348, abs=5e-5)
    assert res.p_interval[0] <= 0.024 <= res.p_interval[1]
    # a p-value that the CI cannot give is flagged
    assert not check_ratio_ci_p(0.175, 0.038, 0.792, 0.24).p_consistent
