"""Riley et al. (2020) minimum sample size (pmsampsize type "b"): the BMJ paper's binary worked
example and the closed forms of each criterion."""
from __future__ import annotations

import math

import pytest

from her2stats.errors import InputError
from her2stats.stats.samplesize import max_r2_cs, riley_sample_size


def test_riley_2020_worked_example():
    # Riley et al. BMJ 2020;368:m441 / pmsampsize(type="b", rsquared=0.288, parameters=24, prevalence=0.174)
    res = riley_sample_size(parameters=24, prevalence=0.174, r2_cs=0.288)
    table = res.table.set_index("criterion")["n"]
    assert list(table) == [623, 662, 221, 662]
    assert res.n == 662 and res.events == 116
    assert round(res.epp, 2) == 4.80
    assert res.shrinkage == pytest.approx(0.905, abs=5e-4)
    assert res.binding.startswith("Criterion 2")


def test_criteria_closed_forms():
    phi, p, r2 = 0.3, 10, 0.15
    res = riley_sample_size(parameters=p, prevalence=phi, r2_cs=r2)
    n1 = math.ceil(p / ((0.9 - 1) * math.log(1 - r2 / 0.9)))
    assert res.table["n"].iloc[0] == n1
    s2 = r2 / (r2 + 0.05 * max_r2_cs(phi))
    assert res.table["shrinkage"].iloc[1] == pytest.approx(s2, abs=1e-12)
    assert res.table["n"].iloc[2] == math.ceil((1.959963984540054 / 0.05) ** 2 * phi * (1 - phi))
    # max R2_CS for prevalence 0.5 is 0.75 (= 1 - 0.5^2)
    assert max_r2_cs(0.5) == pytest.approx(0.75, abs=1e-12)
    # Nagelkerke input is the same model expressed relative to max R2_CS
    nag = riley_sample_size(parameters=p, prevalence=phi, r2_nagelkerke=r2 / max_r2_cs(phi))
    assert nag.n == res.n


def test_criterion_3_binding_reports_implied_shrinkage():
    res = riley_sample_size(parameters=2, prevalence=0.3, r2_cs=0.25)
    assert res.binding.startswith("Criterion 3")
    s = res.shrinkage
    assert (s - 1) * math.log(1 - 0.25 / s) == pytest.approx(2 / res.n, rel=1e-9)
    assert s > 0.9


def test_bad_input():
    with pytest.raises(InputError, match="prevalence"):
        riley_sample_size(10, 1.2, r2_cs=0.1)
    with pytest.raises(InputError, match="exactly one"):
        riley_sample_size(10, 0.2)
    with pytest.raises(InputError, match="max R2_CS"):
        riley_sample_size(10, 0.05, r2_cs=0.5)
