"""Calibration and internal validation of binary risk models (rms parity + the calibration hierarchy).

* :func:`val_prob` — ``rms::val.prob``: Dxy, C, R2, D, U, Q, Brier, calibration intercept and
  slope, Emax/E90/Eavg of the lowess calibration curve, Spiegelhalter's z.
* :func:`hosmer_lemeshow` — ``ResourceSelection::hoslem.test`` (a legacy test, kept for journals
  that ask for it).
* :func:`calibrate` — ``rms::calibrate(fit, method="boot")``: apparent and bias-corrected
  lowess calibration curves, mean absolute and 0.9-quantile errors.
* :func:`validate` — ``rms::validate(fit, method="boot")``: optimism-corrected Dxy, R2,
  intercept, slope, Emax, D, U, Q, Brier, g, gp; plus bootstrap confidence intervals of the
  corrected C, slope and Brier score and the count of failed bootstrap fits (rms drops them).
* :func:`calibration_hierarchy` — Van Calster et al. (2016) levels with bootstrap CIs, and the
  le Cessie-van Houwelingen test (:func:`lecessie_test`, rms ``residuals.lrm(type="gof")``).

The Python engine reproduces rms's algorithms (lowess with ``iter=0``, ``approx`` with
``ties=first``, Newton-Raphson refits) and refits all bootstrap models at once
(:func:`~her2stats.stats.models.newton_logistic_batch`) inside
:func:`~her2stats.resampling.run_replicates`.

References
----------
Harrell FE. Regression Modeling Strategies, 2nd ed. 2015, ch. 5 and 10.
Van Calster B, Nieboer D, Vergouwe Y, et al. A calibration hierarchy for risk models was defined:
from utopia to empirical data. J Clin Epidemiol 2016;74:167-176.
Austin PC, Steyerberg EW. The Integrated Calibration Index (ICI) and related metrics for
quantifying the calibration of logistic regression models. Stat Med 2019;38:4051-4065.
le Cessie S, van Houwelingen JC. A goodness-of-fit test for binary regression models, based on
smoothing methods. Biometrics 1991;47:1267-1282 (rms: Hosmer et al. Stat Med 1997;16:965-980).
Hosmer DW, Lemeshow S. Applied Logistic Regression, 2nd ed. Wiley 2000, section 5.2.2.
Noma H, Shinozaki T, Iba K, Teramukai S, Maruo K. Confidence intervals of prediction accuracy
measures for multivariable prediction models based on the bootstrap-based optimism correction
methods. Stat Med 2021;40:5691-5701.
Spiegelhalter DJ. Probabilistic prediction in patient management and clinical trials. Stat Med
1986;5:421-433.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from ..engine import resolve_engine
from ..errors import ConvergenceError, InputError, find_stack_level
from . import _core
from ._core import expit, gini_md, renamed_args
from ..resampling import bootstrap_indices, run_replicates
from ..results import Result
from ._lowess import approx, lowess, lowess_presorted, r_quantile, r_seq
from ..schedulers import check_scheduler

__all__ = ["val_prob", "ValProbResult", "hosmer_lemeshow", "HosmerLemeshowResult", "calibrate",
           "CalibrationCurve", "validate", "ValidationResult", "calibration_hierarchy",
           "CalibrationHierarchyResult", "lecessie_test", "GofTestResult", "gini_md", "check_probabilities"]


# --------------------------------------------------------------------------- helpers
def check_probabilities(y: Any, prob: Any, name: str = "prob", event: Any = None,
                        function: str = "") -> tuple[np.ndarray, np.ndarray, int]:
    """Validate (y, prob): a binary y (the core's event rule, ``event=`` for labels), prob in [0, 1],
    paired row by row (pandas inputs by index label). Rows with a missing value in either are
    dropped, announced with a DroppedRowsWarning, and counted (returned third)."""
    y, prob = _core.align(("y", y), (name, prob))
    p = _core.as_numeric(prob, name)
    yy = _core.binary_outcome(y, "y", event=event).codes
    bad = np.flatnonzero(np.isfinite(p) & ((p < 0) | (p > 1)))
    if len(bad):
        raise InputError(f"{name} must be probabilities in [0, 1]; {len(bad)} value(s) outside, e.g. "
                         f"{name}[{bad[0]}] = {p[bad[0]]:.6g} (pass predicted probabilities, not scores or logits)")
    keep = ~(np.isnan(p) | np.isnan(yy))
    n_excl = int((~keep).sum())
    _core.announce_dropped(function or "check_probabilities", n_excl, len(p),
                           {"y": int(np.isnan(yy).sum()), name: int(np.isnan(p).sum())})
    p, yy = p[keep], yy[keep]
    if len(p) < 2 or yy.min() == yy.max():
        raise InputError(f"y needs both outcomes among the complete cases (n={len(p)}, events={int(yy.sum())})")
    return yy, p, n_excl


def _check_constant(p: np.ndarray, name: str, function: str) -> None:
    if np.all(p == p[0]):
        raise InputError(f"{function}: {name} is constant (every prediction is {p[0]:.6g}); calibration slope, "
                         "C index and the calibration curve are undefined")


def _neg2ll(y: np.ndarray, lp: np.ndarray) -> float:
    return float(-2 * np.sum(y * lp - np.logaddexp(0, lp)))


def _null_neg2ll(y: np.ndarray) -> float:
    n = len(y)
    n1 = y.sum()
    n0 = n - n1
    return float(-2 * (n1 * np.log(n1 / n) + n0 * np.log(n0 / n)))


#: what is said when predictions separate the outcomes
_SEPARATED_RECAL = ("the predictions separate the outcomes (every event ranked above every non-event, C = 1, "
                    "ties at the boundary aside): the logistic recalibration logit P = a + b logit p has no finite "
                    "maximum, so the calibration intercept and slope{extra} are not defined and are reported as NaN")


def recalibrate(lp: np.ndarray, y: np.ndarray) -> tuple[float, float, float, bool]:
    """Logistic recalibration ``logit P = a + b lp``: (a, b, -2LL, converged); all NaN (and not
    converged) when ``lp`` separates ``y``, where the slope would be infinite."""
    from ._fitcheck import separates_1d
    from .models import newton_logistic

    if separates_1d(lp, y):
        return float("nan"), float("nan"), float("nan"), False
    X = np.column_stack([np.ones(len(lp)), lp])
    beta, _, ok = newton_logistic(X, y, maxit=50, tol=1e-12)
    return float(beta[0]), float(beta[1]), _neg2ll(y, X @ beta), ok


def recal_intercept(lp: np.ndarray, y: np.ndarray) -> float:
    """Calibration intercept with the slope fixed at 1: ``logit P = a + offset(lp)``."""
    from .models import newton_logistic

    beta, _, _ = newton_logistic(np.ones((len(lp), 1)), y, offset=lp, maxit=50, tol=1e-12)
    return float(beta[0])


def _recal_batch(LP: np.ndarray, y: np.ndarray, maxit: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logistic recalibration of many linear predictors at once (rows of ``LP``).

    Returns (intercept, slope, -2LL, converged); closed-form 2x2 Newton steps with step halving.
    """
    n_boot, n = LP.shape
    a = np.zeros(n_boot)
    b = np.ones(n_boot)
    ok = np.zeros(n_boot, dtype=bool)

    def nll(a_, b_):
        eta = a_[:, None] + b_[:, None] * LP
        return -2 * np.sum(y * eta - np.logaddexp(0, eta), axis=1)

    cur = nll(a, b)
    for _ in range(maxit):
        eta = a[:, None] + b[:, None] * LP
        mu = expit(eta)
        r = y - mu
        g0 = r.sum(1)
        g1 = (r * LP).sum(1)
        v = mu * (1 - mu)
        h00 = v.sum(1)
        h01 = (v * LP).sum(1)
        h11 = (v * LP * LP).sum(1)
        det = h00 * h11 - h01 ** 2
        conv = np.maximum(np.abs(g0), np.abs(g1)) < 1e-10 * n
        ok |= conv
        if conv.all():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            da = (h11 * g0 - h01 * g1) / det
            db = (h00 * g1 - h01 * g0) / det
        da = np.where(conv | ~np.isfinite(da), 0, da)
        db = np.where(conv | ~np.isfinite(db), 0, db)
        step = 1.0
        na_, nb_ = a + da, b + db
        new = nll(na_, nb_)
        for _h in range(20):
            worse = ~(new <= cur + 1e-9 * np.abs(cur))
            if not worse.any():
                break
            da = np.where(worse, da / 2, da)
            db = np.where(worse, db / 2, db)
            na_, nb_ = a + da, b + db
            new = nll(na_, nb_)
            step /= 2
        a, b, cur = na_, nb_, new
    return a, b, cur, ok


def _somers_c(x: np.ndarray, y: np.ndarray) -> float:
    from .models import concordance_c

    return concordance_c(x, y)


def _spiegelhalter(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    z = np.sum((y - p) * (1 - 2 * p)) / np.sqrt(np.sum((1 - 2 * p) ** 2 * p * (1 - p)))
    return float(z), float(2 * norm.sf(abs(z)))


def _lowess_errors(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lowess calibration curve read at each p (``approx(ties=mean)``) and |p - curve|."""
    sx, sy = lowess(p, y)
    cal = approx(sx, sy, p, ties="mean")
    return cal, np.abs(p - cal)


# --------------------------------------------------------------------------- val.prob
@dataclass(frozen=True, repr=False)
class ValProbResult(Result):
    """Validation indices of predicted probabilities (``rms::val.prob``).

    ``C`` and ``Dxy`` are exact (Mann-Whitney, as ``Hmisc::somers2``); ``C_rms`` and ``Dxy_rms``
    are the values rms prints, computed from probabilities grouped into 5,000 bins.
    Emax, E90 and Eavg are the maximum, 0.9 quantile and mean of |p - lowess calibration curve|
    (Eavg is Austin & Steyerberg's ICI with lowess as the smoother).
    """

    Dxy: float
    C: float
    R2: float
    D: float
    D_chisq: float
    U: float
    U_chisq: float
    U_p: float
    Q: float
    Brier: float
    intercept: float
    slope: float
    Emax: float
    E90: float
    Eavg: float
    S_z: float
    S_p: float
    C_rms: float
    Dxy_rms: float
    n: int
    n_events: int
    n_excluded: int
    n_extreme: int
    engine: str
    method: str = "val.prob"

    def to_frame(self) -> pd.DataFrame:
        keys = ["Dxy", "C", "R2", "D", "D_chisq", "U", "U_chisq", "U_p", "Q", "Brier", "intercept", "slope",
                "Emax", "E90", "Eavg", "S_z", "S_p"]
        return pd.DataFrame({"value": [getattr(self, k) for k in keys]}, index=keys)

    def plot(self, ax=None, y=None, prob=None):
        """Calibration plot (ideal line, logistic and lowess calibration) when ``y``/``prob`` given."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], color="0.8", lw=4, label="Ideal")
        g = np.linspace(1e-4, 1 - 1e-4, 200)
        ax.plot(g, expit(self.intercept + self.slope * np.log(g / (1 - g))), color="k", lw=1,
                label="Logistic calibration")
        if y is not None and prob is not None:
            yy, p, _ = check_probabilities(y, prob)
            sx, sy = lowess(p, yy)
            ax.plot(sx, sy, color="k", ls=":", label="Nonparametric (lowess)")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Predicted probability", ylabel="Actual probability")
        ax.legend(loc="lower right", frameon=False, fontsize=8)
        return ax


def extreme_predictions_message(n_extreme: int, n: int) -> str:
    """The warning of :func:`val_prob` when predictions are exactly 0 or 1 (same on both engines)."""
    return (f"{n_extreme} of {n} predictions are exactly 0 or 1 and were left out of the logistic recalibration "
            "(intercept, slope, D, U, Q), as rms::val.prob does; the other indices use every prediction. Such "
            "predictions come from a (quasi-)separating model: check its coefficients, or judge calibration "
            "from the curve and the Brier score.")


def val_prob(y: Any, prob: Any, engine: str | None = None, event: Any = None) -> ValProbResult:
    """Validation indices of predicted probabilities against binary outcomes (``rms::val.prob``).

    With ``L = logit(p)``: D = (LR - 1)/n where LR = -2LL(intercept only) - (-2LL(L));
    logistic recalibration ``logit P(y=1) = a + b L`` gives intercept a, slope b and
    U = (U_chisq - 2)/n with U_chisq = -2LL(L) - (-2LL(a + bL)); Q = D - U;
    R2 = (1 - exp(-LR/n)) / (1 - exp(-L0/n)) (Nagelkerke); Brier = mean (p - y)^2;
    Spiegelhalter z = sum (y - p)(1 - 2p) / sqrt(sum (1 - 2p)^2 p (1 - p));
    E = |p - lowess(p, y, iter=0)(p)| summarised by its max (Emax), 0.9 quantile (E90), mean (Eavg).
    Predictions of exactly 0 or 1 are excluded from the logistic calibration (counted in
    ``n_extreme``), as rms.

    Examples
    --------
    Compare with R: ``rms::val.prob(p, y, pl = FALSE)`` gives the same numbers to 1e-9 (C and Dxy
    as ``C_rms``/``Dxy_rms``; the exact values as ``Hmisc::somers2``).
    """
    engine = resolve_engine(engine)
    yy, p, n_excl = check_probabilities(y, prob, event=event, function="val_prob")
    _check_constant(p, "prob", "val_prob")
    n_extreme = int(((p == 0) | (p == 1)).sum())
    if n_extreme:
        warnings.warn(extreme_predictions_message(n_extreme, len(p)), UserWarning, stacklevel=find_stack_level())
    if engine == "r":
        return _val_prob_r(yy, p, n_excl)
    logit = np.log(p / (1 - p)) if p.size else p
    fin = np.isfinite(logit)
    L, yf = logit[fin], yy[fin]
    n = len(yf)
    from .models import binned_c_index

    L0 = _null_neg2ll(yf)
    L01 = _neg2ll(yf, L)
    lr = L0 - L01
    a, b, dev_recal, _ = recalibrate(L, yf)
    U_chisq = L01 - dev_recal
    D = (lr - 1) / n
    U = (U_chisq - 2) / n
    c_rms = binned_c_index(expit(L), yf)
    c_exact = _somers_c(p, yy)
    _, err = _lowess_errors(p, yy)
    sz, sp = _spiegelhalter(p, yy)
    if np.isnan(b):
        warnings.warn("val_prob: " + _SEPARATED_RECAL.format(extra=", U and Q"), UserWarning, stacklevel=find_stack_level())
    return ValProbResult(
        Dxy=2 * c_exact - 1, C=c_exact, R2=(1 - np.exp(-lr / n)) / (1 - np.exp(-L0 / n)), D=D, D_chisq=lr,
        U=U, U_chisq=U_chisq, U_p=float(chi2.sf(U_chisq, 2)), Q=D - U, Brier=float(np.mean((p - yy) ** 2)),
        intercept=a, slope=b, Emax=float(err.max()), E90=float(r_quantile(err, 0.9)), Eavg=float(err.mean()),
        S_z=sz, S_p=sp, C_rms=c_rms, Dxy_rms=2 * c_rms - 1, n=len(yy), n_events=int(yy.sum()),
        n_excluded=n_excl, n_extreme=n_extreme, engine="python")


def _val_prob_r(yy: np.ndarray, p: np.ndarray, n_excl: int) -> ValProbResult:
    from .. import r_bridge
    from ._fitcheck import separates_1d

    r_bridge.require("rms")
    out = r_bridge.call("h2s_val_prob", p, yy.astype(int))
    s = {k: float(v) for k, v in dict(out["stats"]).items()}
    fin = (p > 0) & (p < 1)
    if separates_1d(np.log(p[fin] / (1 - p[fin])), yy[fin]):
        # rms reports the last iterate of a diverging fit; the Python engine's verdict and NaN instead
        warnings.warn("val_prob: " + _SEPARATED_RECAL.format(extra=", U and Q"), UserWarning, stacklevel=find_stack_level())
        for k in ("Intercept", "Slope", "U", "U:Chi-sq", "U:p", "Q"):
            s[k] = float("nan")
    return ValProbResult(
        Dxy=float(out["Dxy_exact"]), C=float(out["C_exact"]), R2=float(s["R2"]), D=float(s["D"]),
        D_chisq=float(s["D:Chi-sq"]), U=float(s["U"]), U_chisq=float(s["U:Chi-sq"]), U_p=float(s["U:p"]),
        Q=float(s["Q"]), Brier=float(s["Brier"]), intercept=float(s["Intercept"]), slope=float(s["Slope"]),
        Emax=float(s["Emax"]), E90=float(s["E90"]), Eavg=float(s["Eavg"]), S_z=float(s["S:z"]),
        S_p=float(s["S:p"]), C_rms=float(s["C (ROC)"]), Dxy_rms=float(s["Dxy"]), n=len(yy),
        n_events=int(yy.sum()), n_excluded=n_excl, n_extreme=int(((p == 0) | (p == 1)).sum()), engine="r",
        method="rms::val.prob")


# --------------------------------------------------------------------------- Hosmer-Lemeshow
@dataclass(frozen=True, repr=False)
class HosmerLemeshowResult(Result):
    """Hosmer-Lemeshow C-hat statistic (groups of predicted risk). **Legacy test**: its result
    depends on the number of groups and on how ties are cut, and it has low power; report the
    calibration curve, intercept and slope (``calibration_hierarchy``) as the primary evidence."""

    statistic: float
    df: int
    p_value: float
    g: int
    groups: int
    table: pd.DataFrame
    n: int
    note: str
    engine: str
    legacy: bool = True
    method: str = "Hosmer-Lemeshow (legacy goodness-of-fit test)"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"statistic": [self.statistic], "df": [self.df], "p_value": [self.p_value],
                             "groups": [self.groups], "n": [self.n], "legacy": [True]})


def hosmer_lemeshow(y: Any, prob: Any, g: int = 10, engine: str | None = None,
                    event: Any = None) -> HosmerLemeshowResult:
    """Hosmer-Lemeshow goodness-of-fit test (legacy), grouping as ``ResourceSelection::hoslem.test``.

    Groups are the intervals between the unique type-7 quantiles of the predicted risk at
    probabilities 0, 1/g, ..., 1 (``cut(include.lowest=TRUE)``). Statistic
    ``C = sum_groups sum_{k=0,1} (O_gk - E_gk)^2 / E_gk`` with O/E the observed and expected
    counts of outcome k; p from chi-square with (groups - 2) df.

    When tied predicted risks give fewer than ``g`` distinct quantiles the groups merge; the
    test then uses (number of groups - 2) df (ResourceSelection keeps g - 2, which is wrong)
    and says so in ``note`` and a warning. Fewer than 3 groups, fewer observations than ``g``
    or constant predictions: InputError (checked in Python, so both engines raise the same).
    ``event`` names the outcome label coded 1 when ``y`` holds labels.

    This test is flagged as legacy (``.legacy``): see Van Calster et al. 2016 for the calibration
    measures to report first.

    Examples
    --------
    Compare with R: ``ResourceSelection::hoslem.test(y, p, g = 10)`` (reimplemented in
    ``r/hoslem.R``, Debian has no ResourceSelection) gives the same statistic to 1e-9.
    """
    engine = resolve_engine(engine)
    if not isinstance(g, (int, np.integer)) or g < 3:
        raise InputError(f"g (number of groups) must be an integer >= 3, got {g!r}")
    yy, p, _ = check_probabilities(y, prob, event=event, function="hosmer_lemeshow")
    if len(p) < g:
        raise InputError(f"hosmer_lemeshow: {len(p)} observations for g={g} groups; the test needs at least as "
                         "many observations as groups (use fewer groups, or report the calibration curve instead)")
    qq = np.unique(r_quantile(p, np.arange(g + 1) * (1.0 / g)))
    if len(qq) < 2:
        raise InputError("hosmer_lemeshow: all predicted risks are equal (prob is constant); the Hosmer-Lemeshow "
                         "test needs distinct risks")
    if len(qq) - 1 < 3:
        raise InputError(f"only {len(qq) - 1} distinct groups of predicted risk (too many tied risks for g={g}); "
                         "the Hosmer-Lemeshow test needs at least 3 groups (df = groups - 2)")
    if engine == "r":
        from .. import r_bridge

        out = r_bridge.call("h2s_hoslem", yy, p, int(g))
        stat, groups, table = float(out["statistic"]), int(out["groups"]), out["table"]
    else:
        groups = len(qq) - 1
        gi = np.clip(np.searchsorted(qq, p, side="left") - 1, 0, groups - 1)
        labels = [("[" if k == 0 else "(") + f"{qq[k]:.3g},{qq[k + 1]:.3g}]" for k in range(groups)]
        o1 = np.bincount(gi, weights=yy, minlength=groups)
        nn = np.bincount(gi, minlength=groups).astype(float)
        e1 = np.bincount(gi, weights=p, minlength=groups)
        table = pd.DataFrame({"group": labels, "n": nn, "observed_0": nn - o1, "observed_1": o1,
                              "expected_0": nn - e1, "expected_1": e1})
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = float(np.sum((table.observed_0 - table.expected_0) ** 2 / table.expected_0
                                + (table.observed_1 - table.expected_1) ** 2 / table.expected_1))
    if groups < 3:
        raise InputError(f"only {groups} distinct groups of predicted risk (too many tied risks for g={g}); "
                         "the Hosmer-Lemeshow test needs at least 3 groups (df = groups - 2)")
    note = "legacy test; report calibration intercept, slope and curve first"
    if groups < g:
        msg = (f"tied predicted risks give {groups} distinct groups instead of g={g}; df set to "
               f"{groups - 2} (groups - 2). ResourceSelection::hoslem.test would keep {g - 2} df.")
        warnings.warn(msg, UserWarning, stacklevel=find_stack_level())
        note = msg + " " + note
    df = groups - 2
    return HosmerLemeshowResult(statistic=stat, df=df, p_value=float(chi2.sf(stat, df)), g=int(g), groups=groups,
                                table=table.reset_index(drop=True), n=len(yy), note=note, engine=engine)


# --------------------------------------------------------------------------- le Cessie-van Houwelingen
@dataclass(frozen=True, repr=False)
class GofTestResult(Result):
    """le Cessie-van Houwelingen-Copas-Hosmer unweighted sum-of-squares test (rms ``residuals.lrm(type='gof')``)."""

    sum_sq: float
    expected: float
    sd: float
    z: float
    p_value: float
    n: int
    engine: str
    method: str = "le Cessie-van Houwelingen unweighted sum of squares"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"sum_sq": [self.sum_sq], "expected": [self.expected], "sd": [self.sd],
                             "z": [self.z], "p_value": [self.p_value]})


def lecessie_test(model=None, y: Any = None, prob: Any = None, engine: str | None = None,
                  event: Any = None, data: pd.DataFrame | None = None, outcome: str | None = None) -> GofTestResult:
    """Unweighted sum-of-squares goodness-of-fit test (le Cessie & van Houwelingen 1991; Hosmer et al. 1997).

    ``S = sum (y - p)^2``; under H0 ``E[S] = sum p(1-p)`` and ``sd`` is the residual norm of the
    weighted regression of ``1 - 2p`` on the model design ``X`` with weights ``p(1-p)``;
    ``z = (S - E)/sd``, two-sided p. For a fitted model the design is the model's (rms parity);
    for predictions alone (``y``, ``prob``) it is ``[1, logit p]``.

    ``model`` is a ``LogisticModel`` (its development data) or, with ``data=`` and ``outcome=``,
    a ``LogisticModel`` or ``FrozenLogisticModel`` evaluated on that cohort (its design there).
    """
    engine = resolve_engine(engine)
    if model is not None and data is not None:
        yy, p, X = model_predictions(model, data, outcome, event, "lecessie_test")
    elif model is not None:
        _check_model(model, "lecessie_test")
        if getattr(model, "data", None) is None:
            raise InputError("lecessie_test: a FrozenLogisticModel has no development data; give data= and outcome=")
        if engine == "r" and getattr(model, "r_fit", None) is not None:
            from .. import r_bridge

            out = r_bridge.call("h2s_lrm_gof", model.r_fit)
            return GofTestResult(sum_sq=float(out["sum_sq"]), expected=float(out["expected"]), sd=float(out["sd"]),
                                 z=float(out["z"]), p_value=float(out["p"]), n=model.n, engine="r",
                                 method="rms::residuals.lrm(type='gof')")
        X = model.design()
        yy = model.y
        p = model.predict()
    else:
        yy, p, _ = check_probabilities(y, prob, event=event, function="lecessie_test")
        if ((p <= 0) | (p >= 1)).any():
            raise InputError("the le Cessie-van Houwelingen test needs predictions strictly between 0 and 1")
        _check_constant(p, "prob", "lecessie_test")
        X = np.column_stack([np.ones(len(p)), np.log(p / (1 - p))])
    if engine == "r":  # a Python-fitted model or predictions alone: the same test computed in R
        from .. import r_bridge

        out = r_bridge.call("h2s_gof", y=np.asarray(yy, dtype=float), p=np.asarray(p, dtype=float),
                            X=np.asarray(X, dtype=float))
        return GofTestResult(sum_sq=float(out["sum_sq"]), expected=float(out["expected"]), sd=float(out["sd"]),
                             z=float(out["z"]), p_value=float(out["p"]), n=len(yy), engine="r")
    sse = float(np.sum((yy - p) ** 2))
    wt = p * (1 - p)
    d = 1 - 2 * p
    sw = np.sqrt(wt)
    coef, *_ = np.linalg.lstsq(X * sw[:, None], d * sw, rcond=None)
    res = (d - X @ coef) * sw
    sd = float(np.sqrt(np.sum(res ** 2)))
    ev = float(wt.sum())
    z = (sse - ev) / sd
    return GofTestResult(sum_sq=sse, expected=ev, sd=sd, z=z, p_value=float(2 * norm.sf(abs(z))), n=len(yy),
                         engine="python")


# --------------------------------------------------------------------------- calibrate
@dataclass(frozen=True, repr=False)
class CalibrationCurve(Result):
    """Bootstrap overfitting-corrected calibration curve (``rms::calibrate``, method="boot")."""

    predicted: np.ndarray
    apparent: np.ndarray
    bias_corrected: np.ndarray
    optimism: np.ndarray
    n_boot_used: np.ndarray
    mean_abs_error: float
    mean_sq_error: float
    q90_abs_error: float
    n_boot: int
    n_failed: int
    seed: Any
    n: int
    engine: str
    predictions: np.ndarray = field(repr=False, default=None)
    #: Monte-Carlo standard error of the optimism at each point (Python engine; NaN for R)
    optimism_mcse: np.ndarray = field(repr=False, default=None)
    method: str = "bootstrap (rms::calibrate method='boot', lowess iter=0)"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"predicted": self.predicted, "apparent": self.apparent,
                             "bias_corrected": self.bias_corrected, "optimism": self.optimism,
                             "n": self.n_boot_used,
                             "optimism_mcse": self.optimism_mcse if self.optimism_mcse is not None
                             else np.full(len(self.predicted), np.nan)})

    def _title(self) -> str:
        return (f"CalibrationCurve (engine={self.engine}, n_boot={self.n_boot}, failed fits={self.n_failed}; "
                f"mean |error|={self.mean_abs_error:.3f}, 0.9 quantile={self.q90_abs_error:.3f})")

    def plot(self, ax=None, show_distribution: bool = True):
        """rms-style plot: ideal line, apparent and bias-corrected curves, rug of predictions."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--", label="Ideal")
        ax.plot(self.predicted, self.apparent, color="k", lw=1, ls=":", label="Apparent")
        ax.plot(self.predicted, self.bias_corrected, color="k", lw=1.5, label="Bias-corrected")
        if show_distribution and self.predictions is not None:
            counts, edges = np.histogram(self.predictions, bins=100, range=(0, 1))
            top = counts.max() if counts.max() else 1
            ax.vlines(edges[:-1][counts > 0], 0, 0.08 * counts[counts > 0] / top, color="0.3", lw=0.6)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Predicted probability", ylabel="Actual probability")
        ax.legend(loc="upper left", frameon=False, fontsize=8,
                  title=f"n_boot={self.n_boot} repetitions, boot; mean |error|={self.mean_abs_error:.3f}",
                  title_fontsize=7)
        return ax


def _check_model(model, function: str) -> str:
    """The fitted-model protocol: ``function`` takes the model types it is defined for and refuses
    the others naming the type, what is supported and what to use instead."""
    from .design import require_model

    return require_model(model, function)


def model_predictions(model, data: pd.DataFrame | None, outcome: str | None, event: Any, function: str
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, p, X) of a logistic model: its development data (``data=None``; a model fitted on data)
    or the complete rows of ``data`` (external data; ``outcome`` names the 0/1 column, ``event`` as
    everywhere). Rows with a missing outcome or predictor are counted and announced."""
    _check_model(model, function)
    if data is None:
        if outcome is not None:
            raise InputError(f"{function}: outcome= goes with data= (the data to evaluate the model on)")
        if getattr(model, "y", None) is None or getattr(model, "data", None) is None:
            raise InputError(f"{function}: a {type(model).__name__} has no development data; give data= and "
                             "outcome= (the cohort to evaluate it on)")
        return model.y, model.predict(), model.design()
    if not isinstance(data, pd.DataFrame) or outcome is None:
        raise InputError(f"{function}: give data= as a DataFrame and outcome= naming its binary outcome column")
    variables = list(dict.fromkeys(v for t in model.terms for v in t.variables))
    missing = [c for c in [outcome, *variables] if c not in data.columns]
    if missing:
        raise InputError(f"{function}: columns {missing} are not in data (the model needs {variables})")
    na = data[[outcome, *variables]].isna()
    keep = ~na.any(axis=1)
    _core.announce_dropped(function, int((~keep).sum()), len(data), {c: int(v) for c, v in na.sum().items() if v})
    sub = data.loc[keep].reset_index(drop=True)
    yy = _core.binary_outcome(sub[outcome], outcome, event=event).codes
    X = model.design(sub)
    return yy, expit(X @ model.coefficients.to_numpy()), X


#: status of a validate replicate whose test-sample recalibration fit (logit P = a + b lp) failed
RECAL_FAILED = 9


def _failure_words(status: np.ndarray) -> str:
    from ._fitcheck import failure_summary

    status = np.asarray(status)
    text = failure_summary(status)
    k = int(np.sum(status == RECAL_FAILED))
    if k:
        text += ("; " if text else "") + f"{k} test-sample recalibration(s) (logit P = a + b lp) did not converge"
    return text


def _announce_failed_refits(what: str, status: np.ndarray, n_boot: int) -> None:
    """Failed bootstrap refits are left out of the averages: say how many and why."""
    k = int(np.sum(np.asarray(status) != 0))
    if k:
        warnings.warn(f"{what}: {k} of {n_boot} bootstrap refits failed and are left out of the averages "
                      f"(n_failed={k}): {_failure_words(status)}", UserWarning, stacklevel=find_stack_level())


#: separated resamples among those rms draws, by (design, outcome, coefficients, n_boot, seed):
#: validate and calibrate of one model with the same n_boot and seed draw the same resamples (the
#: study runs both), so their refits are done once. A few entries: a study validates a few models.
_SEPARATED_CACHE: dict[tuple, int] = {}
_SEPARATED_CACHE_SIZE = 8


def _rms_resamples_separated(model, n_boot: int, seed: int) -> int:
    """How many of the ``n_boot`` resamples rms draws after ``set.seed(seed)`` are separated: the
    resamples (``h2s_boot_indices``) refitted with the Python engine's check. Cached on the
    inputs (the design, outcome and coefficients by their bytes, ``n_boot``, ``seed``)."""
    import hashlib

    from .. import r_bridge
    from ._fitcheck import SEPARATED
    from .models import refit_logistic_batch

    X = np.ascontiguousarray(model.design(), dtype=float)
    y = np.ascontiguousarray(model.y, dtype=float)
    beta0 = np.ascontiguousarray(model.coefficients.to_numpy(), dtype=float)
    digest = hashlib.blake2b(digest_size=20)
    for a in (X, y, beta0):
        digest.update(repr(a.shape).encode())
        digest.update(a.tobytes())
    key = (digest.hexdigest(), int(n_boot), int(seed))
    if key in _SEPARATED_CACHE:
        return _SEPARATED_CACHE[key]
    n = len(y)
    idx = np.atleast_2d(np.asarray(r_bridge.call("h2s_boot_indices", int(n), int(n_boot), int(seed)), dtype=int)) - 1
    W = np.stack([np.bincount(i, minlength=n) for i in idx.reshape(n_boot, n)]).astype(float)
    _, status = refit_logistic_batch(model.design(), model.y, W, init=model.coefficients.to_numpy())
    n_sep = int(np.sum(status == SEPARATED))
    while len(_SEPARATED_CACHE) >= _SEPARATED_CACHE_SIZE:
        del _SEPARATED_CACHE[next(iter(_SEPARATED_CACHE))]
    _SEPARATED_CACHE[key] = n_sep
    return n_sep


def _announce_r_resamples(what: str, model, n_boot: int, seed: int, n_failed: int) -> None:
    """R engine: rms drops refits that fail (counted in ``n`` and announced here) but keeps refits
    of quasi-separated resamples, whose coefficients diverged. The resamples rms drew after
    ``set.seed(seed)`` are redrawn and checked with the Python engine's criterion."""
    if n_failed:
        warnings.warn(f"{what} (rms): {n_failed} of {n_boot} bootstrap refits failed (rms: divergence or singularity) and "
                      f"are left out of the averages (n_failed={n_failed})", UserWarning, stacklevel=find_stack_level())
    n_sep = _rms_resamples_separated(model, n_boot, seed)
    if n_sep > n_failed:
        warnings.warn(f"{what} (rms): {n_sep} of the {n_boot} resamples rms drew {'is' if n_sep == 1 else 'are'} separated "
                      "(no finite maximum-"
                      f"likelihood estimate); rms failed on {n_failed} refit(s) in all and keeps the others, with "
                      "diverged coefficients, in its averages. engine='python' leaves such refits out and counts "
                      "them in n_failed.", UserWarning, stacklevel=find_stack_level())


def _refuse_firth_r(model) -> None:
    if getattr(model, "firth", False):
        raise InputError("engine='r': rms refits by maximum likelihood and has no Firth-penalised refit; a model "
                         "fitted with firth=True is validated, calibrated and drawn with engine='python'")


def r_fit_for(model):
    _refuse_firth_r(model)
    if model.r_fit is not None:
        return model.r_fit
    # a Python-engine model validated with engine="r": refit in rms with the same design
    from .models import fit_lrm, fit_lrm_r_spec

    if getattr(model, "design_formula", None) is not None:
        return fit_lrm_r_spec(model.data, model.terms, list(model.coefficients.index), model.y)[2]

    rcs = {t.name: list(t.knots) for t in model.terms if t.kind == "rcs"}
    return fit_lrm(model.data, model.outcome, list(model.covariates), rcs=rcs or None, engine="r").r_fit


@renamed_args(B="n_boot")
def calibrate(model, n_boot: int = 1000, method: str = "boot", seed: int | None = 0, scheduler: Any = None,
              progress: bool = False, engine: str | None = None) -> CalibrationCurve:
    """Overfitting-corrected calibration curve by the bootstrap (``rms::calibrate``).

    At 50 equally spaced predicted probabilities ``q`` between the 5th smallest and 5th largest
    prediction, the apparent curve is ``lowess(p, y, iter=0)`` read at ``q``. Each bootstrap
    repetition refits the model on a resample and computes the curve's error ``cal(q) - q`` on the
    resample (training) and on the original data (test); optimism = mean(training - test) over
    repetitions, and bias-corrected = apparent - optimism. The mean absolute error, mean squared
    error and 0.9 quantile of |error| are taken over the original predictions, as
    ``print.calibrate`` does.

    Parameters
    ----------
    model : LogisticModel (``fit_lrm``).
    n_boot : bootstrap repetitions (>= 1).
    method : only "boot".
    seed : int for reproducibility (results do not depend on ``scheduler``).
    scheduler : passed to :func:`~her2stats.resampling.run_replicates` ("threads" uses all cores).
    progress : progress bar.
    engine : "python" (vectorised refits) or "r" (``rms::calibrate``; ``set.seed(seed)``).

    Refits that fail -- a separated resample (no finite maximum-likelihood estimate, decided by the
    exact check of :mod:`._fitcheck`), a design column constant in the resample, no convergence --
    are left out, counted in ``n_failed`` and announced with a warning giving the reasons. rms
    drops only the refits its fitter flags and keeps quasi-separated ones; ``engine="r"``
    announces its failures and any separated resample it kept. A Firth model (``fit_lrm(...,
    firth=True)``) is refitted by Firth's penalised likelihood (Python engine only).

    Examples
    --------
    Compare with R: ``set.seed(1); calibrate(lrm(..., x=TRUE, y=TRUE), B=1000)``; the bias-corrected
    curves of the two engines agree within Monte-Carlo error (different random streams).
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    _check_model(model, "calibrate")
    n_boot = _core.check_n_boot(n_boot)
    if method != "boot":
        raise InputError(f"method must be 'boot' (the only method implemented), got {method!r}")
    engine = resolve_engine(engine)
    p_orig = model.predict()
    y = model.y
    n = len(y)
    if n < 11:
        raise InputError(f"calibrate needs more than 10 observations, got {n}")
    if engine == "r":
        from .. import r_bridge

        _refuse_firth_r(model)
        r_bridge.require("rms")
        r_seed = _core.r_seed(seed)
        out = r_bridge.call("h2s_calibrate", r_fit_for(model), int(n_boot), r_seed)
        cur = out["curve"]
        n_used = cur["n"].to_numpy(float)
        _announce_r_resamples("calibrate", model, n_boot, r_seed, int(n_boot - np.nanmax(n_used)))
        return CalibrationCurve(
            predicted=cur["predy"].to_numpy(float), apparent=cur["calibrated.orig"].to_numpy(float),
            bias_corrected=cur["calibrated.corrected"].to_numpy(float), optimism=cur["optimism"].to_numpy(float),
            n_boot_used=n_used, mean_abs_error=float(out["mean_abs_error"]), mean_sq_error=float(out["mean_sq_error"]),
            q90_abs_error=float(out["q90_abs_error"]), n_boot=n_boot, n_failed=int(n_boot - np.nanmax(n_used)), seed=seed, n=n,
            engine="r", predictions=p_orig, method="rms::calibrate(method='boot')")
    ps = np.sort(p_orig)
    predy = r_seq(ps[4], ps[n - 5], 50)
    sx, sy = lowess(p_orig, y)
    orig_cal = approx(sx, sy, predy, ties="first")
    X = model.design()
    beta0 = model.coefficients.to_numpy()

    def work(rng: np.random.Generator, m: int) -> np.ndarray:
        W = np.stack([np.bincount(bootstrap_indices(rng, n), minlength=n) for _ in range(m)])
        betas, status = refit_logistic_batch(X, y, W.astype(float), init=beta0, firth=model.firth)
        # the last slot carries each refit's status code (0 = usable), so failures can be told apart
        out = np.full((m, 2, len(predy) + 1), np.nan)
        out[:, 0, -1] = status
        P = expit(np.nan_to_num(betas) @ X.T)
        for k in range(m):
            if status[k] != OK:
                continue
            o = np.argsort(P[k], kind="stable")
            ex, ey = P[k, o], y[o]
            out[k, 1, :-1] = approx(ex, lowess_presorted(ex, ey), predy, ties="first") - predy
            # the resample, sorted, is the sorted original with each row repeated W times
            # (rows tied in P keep the original order rather than R's resample order)
            reps = W[k, o]
            tx, ty = np.repeat(ex, reps), np.repeat(ey, reps)
            out[k, 0, :-1] = approx(tx, lowess_presorted(tx, ty), predy, ties="first") - predy
        return out

    from ._fitcheck import OK
    from .models import refit_logistic_batch

    reps = run_replicates(work, n_boot, seed=seed, scheduler=scheduler, progress=progress, desc="calibrate")
    status = reps[:, 0, -1].astype(int)
    reps = reps[:, :, :-1]
    failed = status != OK
    _announce_failed_refits("calibrate", status, n_boot)
    both = ~np.isnan(reps[:, 0, :] + reps[:, 1, :])
    num = both.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        train = np.where(both, reps[:, 0, :], 0).sum(0) / num
        test = np.where(both, reps[:, 1, :], 0).sum(0) / num
    optimism = train - test
    diff = np.where(both, reps[:, 0, :] - reps[:, 1, :], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mcse = np.nanstd(diff, axis=0, ddof=1) / np.sqrt(num)
    corrected = orig_cal - optimism
    s = ~np.isnan(predy + corrected)
    err = p_orig - approx(predy[s], corrected[s], p_orig, ties="mean")
    return CalibrationCurve(
        predicted=predy, apparent=orig_cal, bias_corrected=corrected, optimism=optimism,
        n_boot_used=num.astype(float), mean_abs_error=float(np.nanmean(np.abs(err))),
        mean_sq_error=float(np.nanmean(err ** 2)), q90_abs_error=float(np.nanquantile(np.abs(err), 0.9)),
        n_boot=n_boot, n_failed=int(failed.sum()), seed=seed, n=n, engine="python", predictions=p_orig, optimism_mcse=mcse)


# --------------------------------------------------------------------------- validate
_VALIDATE_INDEXES = ["Dxy", "C", "R2", "Intercept", "Slope", "Emax", "D", "U", "Q", "B", "g", "gp"]


@dataclass(frozen=True, repr=False)
class ValidationResult(Result):
    """Optimism-corrected performance (``rms::validate``) with bootstrap CIs.

    ``table``: rows Dxy, C, R2, Intercept, Slope, Emax, D, U, Q, B (Brier), g, gp; columns
    index_orig, training, test, optimism, index_corrected, n (as rms; C = (Dxy + 1)/2 is added),
    and optimism_mcse, the Monte-Carlo standard error of the optimism (Python engine).
    ``ci``: ci_low/ci_high confidence limits of the optimism-corrected C, Slope and Brier score.
    ``n_failed``: bootstrap refits that failed and were left out (announced with a warning).
    """

    table: pd.DataFrame
    ci: pd.DataFrame
    level: float
    n_boot: int
    n_failed: int
    seed: Any
    n: int
    engine: str
    ci_method: str
    method: str = "bootstrap optimism correction (rms::validate method='boot')"

    def to_frame(self) -> pd.DataFrame:
        out = self.table.copy()
        out["ci_low"] = self.ci["ci_low"].reindex(out.index)
        out["ci_high"] = self.ci["ci_high"].reindex(out.index)
        return out

    def _title(self) -> str:
        return (f"ValidationResult (engine={self.engine}, n_boot={self.n_boot}, failed/non-converged bootstrap fits="
                f"{self.n_failed}, n={self.n}; CI {self.level:.0%}: {self.ci_method})")

    def corrected(self, index: str) -> float:
        return float(self.table.loc[index, "index_corrected"])


def _discrim_train(lp: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Apparent indices of a fit on its own (bootstrap) sample: evalfit=TRUE branch of rms."""
    if w is not None:
        rep = np.repeat(np.arange(len(y)), w.astype(int))
        lp, y = lp[rep], y[rep]
    n = len(y)
    L0 = _null_neg2ll(y)
    lr = L0 - _neg2ll(y, lp)
    p = expit(lp)
    dxy = 2 * _somers_c(lp, y) - 1
    D = (lr - 1) / n
    U = -2 / n
    return np.array([dxy, (1 - np.exp(-lr / n)) / (1 - np.exp(-L0 / n)), 0.0, 1.0, D, U, D - U,
                     np.mean((y - p) ** 2), gini_md(lp), gini_md(p)])


def _discrim_test(lp: np.ndarray, y: np.ndarray, a: float, b: float, dev: float) -> np.ndarray:
    """Indices of a bootstrap fit evaluated on the original sample (evalfit=FALSE branch)."""
    n = len(y)
    L0 = _null_neg2ll(y)
    lr = L0 - dev
    L01 = _neg2ll(y, lp)
    D = (lr - 1) / n
    U = (L01 - dev - 2) / n
    return np.array([2 * _somers_c(lp, y) - 1, (1 - np.exp(-lr / n)) / (1 - np.exp(-L0 / n)), a, b, D, U, D - U,
                     np.mean((y - expit(lp)) ** 2), gini_md(b * lp), gini_md(expit(a + b * lp))])


def _emax(a: float, b: float) -> float:
    p = np.arange(0, 2001) * 5e-4
    with np.errstate(divide="ignore"):
        L = np.log(p / (1 - p))
    return float(np.nanmax(np.abs(p - expit(a + b * L))))


@renamed_args(conf_level="level", B="n_boot")
def validate(model, n_boot: int = 1000, method: str = "boot", seed: int | None = 0, level: float = 0.95,
             scheduler: Any = None, progress: bool = False, engine: str | None = None) -> ValidationResult:
    """Bootstrap optimism-corrected validation indices (``rms::validate``) with confidence intervals.

    For each of n_boot resamples the model is refitted; its indices on the resample (training) and on
    the original data (test) give optimism = mean(training - test), and index_corrected =
    index_orig - optimism (Efron-Gong optimism bootstrap, Harrell 2015 sec. 5.3). Test-sample
    intercept and slope come from the logistic recalibration ``logit P = a + b lp``; Emax is
    ``max_p |p - expit(a_c + b_c logit p)|`` on a 0.0005 grid using the corrected a_c, b_c.
    Dxy is Somers' D from ``somers2`` (exact), as rms uses for binary models; C = (Dxy + 1)/2.

    Confidence intervals (``ci``, Python engine) for the corrected C, Slope and Brier score are
    location-shifted bootstrap percentile intervals (Noma et al. 2021): the percentiles of the n_boot
    apparent (training) values, shifted so their mean equals the corrected estimate. The apparent
    slope is 1 by construction, so for the slope the test-sample slopes are used instead.

    Failed refits (a separated resample, a design column constant in the resample, no
    convergence) are excluded from the averages, counted in ``n_failed`` and announced with a
    warning giving the reasons; see :func:`calibrate` for the R engine and Firth models.

    Examples
    --------
    Compare with R: ``set.seed(1); validate(lrm(..., x=TRUE, y=TRUE), B=1000)`` — index_orig
    agrees to 1e-9, the corrected indices within Monte-Carlo error.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    _check_model(model, "validate")
    n_boot = _core.check_n_boot(n_boot)
    if method != "boot":
        raise InputError(f"method must be 'boot', got {method!r}")
    level = _core.check_level(level)
    engine = resolve_engine(engine)
    y = model.y
    n = len(y)
    X = model.design()
    beta0 = model.coefficients.to_numpy()
    if engine == "r":
        return _validate_r(model, n_boot, seed, level, n)
    index_orig = _discrim_train(X @ beta0, y)

    def work(rng: np.random.Generator, m: int) -> np.ndarray:
        W = np.stack([np.bincount(bootstrap_indices(rng, n), minlength=n) for _ in range(m)]).astype(float)
        betas, status = refit_logistic_batch(X, y, W, init=beta0, firth=model.firth)
        ok = status == OK
        LP = np.nan_to_num(betas) @ X.T
        a, b, dev, ok2 = _recal_batch(np.where(ok[:, None], LP, 0.0), y)
        # the last slot carries each refit's status code (0 = usable, RECAL_FAILED: the test-sample
        # recalibration fit did not converge)
        out = np.full((m, 2, 11), np.nan)
        out[:, 0, 10] = np.where(ok & ~ok2, RECAL_FAILED, status)
        for k in range(m):
            if ok[k] and ok2[k]:
                out[k, 0, :10] = _discrim_train(LP[k], y, W[k])
                out[k, 1, :10] = _discrim_test(LP[k], y, a[k], b[k], dev[k])
        return out

    from ._fitcheck import OK
    from .models import refit_logistic_batch

    reps = run_replicates(work, n_boot, seed=seed, scheduler=scheduler, progress=progress, desc="validate")
    status = reps[:, 0, 10].astype(int)
    reps = reps[:, :, :10]
    good = (status == OK) & ~np.isnan(reps).any(axis=(1, 2))
    n_failed = int((~good).sum())
    if good.sum() == 0:
        raise ConvergenceError(f"validate: every one of the {n_boot} bootstrap refits failed "
                               f"({_failure_words(status)}); validation is impossible")
    _announce_failed_refits("validate", np.where(good, 0, np.where(status == OK, RECAL_FAILED, status)), n_boot)
    R = reps[good]
    train = R[:, 0, :].mean(0)
    test = R[:, 1, :].mean(0)
    optimism = train - test
    corrected = index_orig - optimism
    names10 = ["Dxy", "R2", "Intercept", "Slope", "D", "U", "Q", "B", "g", "gp"]
    mcse = (R[:, 0, :] - R[:, 1, :]).std(0, ddof=1) / np.sqrt(len(R)) if len(R) > 1 else np.full(10, np.nan)
    tab = pd.DataFrame({"index_orig": index_orig, "training": train, "test": test, "optimism": optimism,
                        "index_corrected": corrected, "n": float(good.sum()), "optimism_mcse": mcse}, index=names10)
    emax = _emax(tab.loc["Intercept", "index_corrected"], tab.loc["Slope", "index_corrected"])
    tab.loc["Emax"] = [0.0, 0.0, emax, emax, emax, float(good.sum()), np.nan]
    c = (tab.loc["Dxy"] + 1) / 2
    c["optimism"] = tab.loc["Dxy", "optimism"] / 2
    c["optimism_mcse"] = tab.loc["Dxy", "optimism_mcse"] / 2
    c["n"] = tab.loc["Dxy", "n"]
    tab.loc["C"] = c
    tab = tab.loc[_VALIDATE_INDEXES]
    ci_df = _shifted_percentile_ci(tab, {"C": (R[:, 0, 0] + 1) / 2, "Slope": R[:, 1, 3], "B": R[:, 0, 7]}, level)
    return ValidationResult(table=tab, ci=ci_df, level=level, n_boot=n_boot, n_failed=n_failed, seed=seed, n=n,
                            engine="python", ci_method="location-shifted bootstrap percentile (Noma et al. 2021)")


def _validate_r(model, n_boot: int, seed, level: float, n: int) -> ValidationResult:
    from .. import r_bridge

    _refuse_firth_r(model)
    r_bridge.require("rms")
    r_seed = _core.r_seed(seed)
    out = r_bridge.call("h2s_validate", r_fit_for(model), int(n_boot), r_seed)
    tab = out.set_index("index")
    tab.index.name = None
    tab.columns = ["index_orig", "training", "test", "optimism", "index_corrected", "n"]
    c = (tab.loc["Dxy"] + 1) / 2
    c["optimism"] = tab.loc["Dxy", "optimism"] / 2
    c["n"] = tab.loc["Dxy", "n"]
    tab.loc["C"] = c
    tab = tab.loc[_VALIDATE_INDEXES].astype(float)
    tab["optimism_mcse"] = np.nan
    _announce_r_resamples("validate", model, n_boot, r_seed, int(n_boot - tab.loc["Dxy", "n"]))
    # rms::validate keeps no per-replicate values: h2s_validate_replicates redraws the same
    # resamples (same seed, one sample() per replicate, as predab.resample) and refits each in R
    reps = r_bridge.call("h2s_validate_replicates", r_fit_for(model), int(n_boot), r_seed)
    ci = _shifted_percentile_ci(tab, {"C": reps["C_training"].to_numpy(float),
                                      "Slope": reps["Slope_test"].to_numpy(float),
                                      "B": reps["B_training"].to_numpy(float)}, level)
    return ValidationResult(table=tab, ci=ci, level=level, n_boot=n_boot, n_failed=int(n_boot - tab.loc["Dxy", "n"]),
                            seed=seed, n=n, engine="r",
                            ci_method="location-shifted bootstrap percentile (Noma et al. 2021) over the resamples "
                                      "rms::validate drew, refitted in R",
                            method="rms::validate(method='boot')")


def _shifted_percentile_ci(tab: pd.DataFrame, dists: Mapping[str, np.ndarray], level: float) -> pd.DataFrame:
    """Location-shifted bootstrap percentile intervals (Noma et al. 2021) of the corrected indices:
    the percentiles (type 7) of each index's bootstrap distribution, shifted so that its mean
    equals the optimism-corrected estimate. Replicates that failed (NaN) are left out."""
    alpha = 1 - level
    ci = {}
    for name, dist in dists.items():
        d = np.asarray(dist, dtype=float)
        d = d[~np.isnan(d)]
        est = tab.loc[name, "index_corrected"]
        if len(d) < 2:
            ci[name] = (np.nan, np.nan)
            continue
        lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
        ci[name] = (est + lo - d.mean(), est + hi - d.mean())
    return pd.DataFrame(ci, index=["ci_low", "ci_high"]).T


# --------------------------------------------------------------------------- calibration hierarchy
@dataclass(frozen=True, repr=False)
class CalibrationHierarchyResult(Result):
    """Van Calster et al. (2016) calibration levels with bootstrap percentile CIs.

    Rows: mean calibration (calibration-in-the-large as observed - expected event rate, O/E ratio,
    and the calibration intercept with the slope fixed at 1), weak calibration (calibration slope,
    intercept of the logistic recalibration), moderate calibration (lowess flexible curve: ICI,
    E50, E90, Emax), Spiegelhalter z and the le Cessie-van Houwelingen test; Hosmer-Lemeshow is
    listed last and flagged as legacy.
    """

    table: pd.DataFrame
    curve: pd.DataFrame
    hosmer_lemeshow: HosmerLemeshowResult
    lecessie: GofTestResult
    n_boot: int
    level: float
    seed: Any
    n: int
    n_events: int
    engine: str
    method: str = "calibration hierarchy (Van Calster 2016), lowess flexible curve"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def plot(self, ax=None):
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot([0, 1], [0, 1], color="0.7", ls="--", lw=1, label="Ideal")
        ax.plot(self.curve["predicted"], self.curve["observed"], color="k", lw=1.5, label="Flexible (lowess)")
        if "ci_low" in self.curve:
            ax.fill_between(self.curve["predicted"], self.curve["ci_low"], self.curve["ci_high"], color="0.85",
                            label=f"{self.level:.0%} bootstrap band")
        t = self.table["estimate"]
        ax.text(0.02, 0.98, f"intercept {t['calibration intercept']:.2f}\nslope {t['calibration slope']:.2f}\n"
                            f"ICI {t['ICI']:.3f}", va="top", fontsize=8)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Predicted probability", ylabel="Observed proportion")
        ax.legend(loc="lower right", frameon=False, fontsize=8)
        return ax


def _hierarchy_point(p: np.ndarray, y: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    L = np.log(p / (1 - p))
    a, b, _, _ = recalibrate(L, y)
    a1 = recal_intercept(L, y)
    sx, sy = lowess(p, y)
    cal = approx(sx, sy, p, ties="mean")
    err = np.abs(p - cal)
    sz, _ = _spiegelhalter(p, y)
    vals = np.array([y.mean() - p.mean(), y.sum() / p.sum(), a1, b, a, err.mean(), np.median(err),
                     r_quantile(err, 0.9), err.max(), sz])
    return vals, approx(sx, sy, grid, ties="first")


_HIER_ROWS = [("mean", "observed - expected rate"), ("mean", "O/E ratio"), ("mean", "calibration intercept"),
              ("weak", "calibration slope"), ("weak", "recalibration intercept (with slope)"),
              ("moderate", "ICI"), ("moderate", "E50"), ("moderate", "E90"), ("moderate", "Emax"),
              ("statistical test", "Spiegelhalter z")]


@renamed_args(conf_level="level", B="n_boot")
def calibration_hierarchy(y: Any = None, prob: Any = None, model=None, n_boot: int = 1000, seed: int | None = 0,
                          level: float = 0.95, g: int = 10, scheduler: Any = None,
                          engine: str | None = None, event: Any = None, data: pd.DataFrame | None = None,
                          outcome: str | None = None) -> CalibrationHierarchyResult:
    """All levels of the calibration hierarchy (Van Calster et al. 2016) with bootstrap CIs.

    * mean calibration: observed - expected event rate, O/E, and the calibration intercept
      ``a`` of ``logit P(y) = a + offset(logit p)`` (ideal 0);
    * weak calibration: calibration slope ``b`` of ``logit P(y) = a + b logit p`` (ideal 1);
    * moderate calibration: lowess curve ``lowess(p, y, iter=0)`` (as rms) with
      ICI = mean |p - cal(p)| (Austin & Steyerberg 2019), E50 (median), E90, Emax;
    * Spiegelhalter z, the le Cessie-van Houwelingen test, and Hosmer-Lemeshow (legacy).

    Predictions are validated as given (no refitting): the CIs are bootstrap percentile
    intervals over n_boot resamples of (y, p) pairs, computed with ``run_replicates`` (``seed``)
    on ``engine="python"`` and by ``h2s_calibration_hierarchy`` (``r/calibration.R``: ``glm``,
    ``lowess(iter = 0)``, R's own resampling after ``set.seed``) on ``engine="r"``; the point
    estimates agree across engines to ~1e-8, the intervals within Monte-Carlo error.
    Give ``model`` (a LogisticModel) to validate its apparent predictions and use its design in
    the le Cessie-van Houwelingen test, ``model`` with ``data=`` and ``outcome=`` (a LogisticModel
    or a FrozenLogisticModel) to validate it on that cohort, or ``y``/``prob`` for external
    predictions. Other model types are refused with what to use instead.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    engine = resolve_engine(engine)
    n_boot = _core.check_n_boot(n_boot)
    if model is not None:
        yy, p, _ = model_predictions(model, data, outcome, event, "calibration_hierarchy")
    else:
        if y is None or prob is None:
            raise InputError("give either model= or both y= and prob=")
        yy, p, _ = check_probabilities(y, prob, event=event, function="calibration_hierarchy")
    if ((p <= 0) | (p >= 1)).any():
        raise InputError("the calibration hierarchy needs predictions strictly between 0 and 1 (logit p must be finite)")
    _check_constant(p, "prob", "calibration_hierarchy")
    grid = r_seq(np.quantile(p, 0.01), np.quantile(p, 0.99), 50)
    n = len(yy)
    k = len(_HIER_ROWS)
    if engine == "r":
        from .. import r_bridge

        out = r_bridge.call("h2s_calibration_hierarchy", y=yy.astype(float), p=np.asarray(p, dtype=float), grid=grid,
                            n_boot=int(n_boot), seed=_core.r_seed(seed), level=float(level))
        both = np.asarray(out["point"], dtype=float)
        point, curve = both[:k], both[k:]
        lo, hi = np.asarray(out["ci_low"], dtype=float), np.asarray(out["ci_high"], dtype=float)
        n_sep = int(np.asarray(out["n_separated"]).ravel()[0])
    else:
        point, curve = _hierarchy_point(p, yy, grid)

        def work(rng: np.random.Generator, m: int) -> np.ndarray:
            out = np.full((m, len(point) + len(grid)), np.nan)
            for j in range(m):
                i = bootstrap_indices(rng, n)
                if yy[i].min() == yy[i].max():
                    continue
                v, c = _hierarchy_point(p[i], yy[i], grid)
                out[j] = np.concatenate([v, c])
            return out

        reps = run_replicates(work, n_boot, seed=seed, scheduler=scheduler, desc="calibration hierarchy")
        n_sep = int(np.sum(np.isnan(reps[:, 3]) & ~np.isnan(reps[:, 0])))
        lo, hi = _core.percentile_interval(reps, level, axis=0, skip_nan=True)
    if np.isnan(point[3]):
        warnings.warn("calibration_hierarchy: " + _SEPARATED_RECAL.format(extra=""), UserWarning, stacklevel=find_stack_level())
    if n_sep and not np.isnan(point[3]):
        warnings.warn(f"calibration_hierarchy: in {n_sep} of {n_boot} bootstrap resamples the predictions separate the "
                      "outcomes (no finite calibration slope); the slope and recalibration-intercept intervals use "
                      f"the other {n_boot - n_sep}", UserWarning, stacklevel=find_stack_level())
    table = pd.DataFrame({"level": [r[0] for r in _HIER_ROWS], "estimate": point, "ci_low": lo[:k], "ci_high": hi[:k]},
                         index=[r[1] for r in _HIER_ROWS])
    table["ideal"] = [0, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    hl = hosmer_lemeshow(yy, p, g=g, engine=engine)
    lc = (lecessie_test(model=model, engine=engine, data=data, outcome=outcome, event=event) if model is not None
          else lecessie_test(y=yy, prob=p, engine=engine))
    table.loc["le Cessie-van Houwelingen z"] = ["statistical test", lc.z, np.nan, np.nan, 0]
    table.loc["Hosmer-Lemeshow (legacy)"] = ["legacy test", hl.statistic, np.nan, np.nan, np.nan]
    table["p_value"] = np.nan
    table.loc["Spiegelhalter z", "p_value"] = 2 * norm.sf(abs(point[-1]))
    table.loc["le Cessie-van Houwelingen z", "p_value"] = lc.p_value
    table.loc["Hosmer-Lemeshow (legacy)", "p_value"] = hl.p_value
    curve_df = pd.DataFrame({"predicted": grid, "observed": curve, "ci_low": lo[k:], "ci_high": hi[k:]})
    return CalibrationHierarchyResult(table=table, curve=curve_df, hosmer_lemeshow=hl, lecessie=lc, n_boot=n_boot,
                                      level=level, seed=seed, n=n, n_events=int(yy.sum()), engine=engine)
