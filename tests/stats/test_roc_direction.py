"""roc_auc(direction="auto") announces the direction it chose when it is ">" (issue 17), with
pROC's words ("Setting direction: controls > cases"), identically on both engines."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from her2stats.errors import DirectionWarning
from her2stats.stats.roc import roc_auc


def _data(flip: bool):
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(40), np.ones(30)]
    s = rng.normal(size=70) + 0.8 * y
    return y, (-s if flip else s)


@pytest.mark.parametrize("engine", ["python", pytest.param("r", marks=pytest.mark.r)])
def test_auto_direction_greater_is_announced(engine):
    y, s = _data(flip=True)
    with pytest.warns(DirectionWarning, match=r"roc_auc: Setting direction: controls > cases"):
        r = roc_auc(y, s, direction="auto", engine=engine)
    assert r.direction == ">" and r.auc > 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error", DirectionWarning)
        fixed = roc_auc(y, s, direction=">", engine=engine)       # explicit: nothing to announce
        below = roc_auc(y, s, direction="<", engine=engine)
        y2, s2 = _data(flip=False)
        roc_auc(y2, s2, direction="auto", engine=engine)          # '<' is the default reading
    assert fixed.auc == pytest.approx(r.auc, abs=1e-15) and below.auc == pytest.approx(1 - r.auc, abs=1e-12)


@pytest.mark.r
def test_both_engines_choose_and_announce_alike():
    y, s = _data(flip=True)
    out = {}
    for engine in ("python", "r"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out[engine] = roc_auc(y, s, engine=engine)
        msgs = [str(w.message) for w in caught if issubclass(w.category, DirectionWarning)]
        assert len(msgs) == 1
        out[engine + "_msg"] = msgs[0]
    assert out["python"].direction == out["r"].direction == ">"
    assert out["python_msg"] == out["r_msg"]
    assert out["python"].auc == pytest.approx(out["r"].auc, abs=1e-12)


def test_direction_warning_points_at_the_callers_line():
    """The announcement names the user's line (stack level counted, not hand-tuned)."""
    y, s = _data(flip=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        roc_auc(y, s, direction="auto", engine="python")
    w = [w for w in caught if issubclass(w.category, DirectionWarning)]
    assert len(w) == 1 and w[0].filename == __file__
