"""Bootstrap validation and calibration of Cox models: ``rms::validate.cph`` and
``rms::calibrate.cph`` (``cmethod="KM"``) on the Python engine (numpy, the same resampling
machinery as the logistic :func:`~her2stats.stats.calibration.validate`: seeded chunks through
:func:`her2stats.resampling.run_replicates`, identical on 1 or N workers) and the R engine (rms).

The Python engine follows rms step by step, so with the same bootstrap resamples the two agree to
rounding (the tests pass R's resamples to the Python computation):

* each resample is refitted as rms refits it: survival's ``coxph.fit`` Newton-Raphson from 0 with
  ``eps = 1e-4`` (relative change of the log partial likelihood) and at most 10 iterations, a
  refit that uses all 10 counting as failed (``rms::coxphFit``);
* training indices come from the refit on its resample, test indices from the refit's linear
  predictor on the original rows, where the calibration slope is the coefficient of a Cox fit on
  that linear predictor (same settings);
* optimism = mean(training - test) over usable resamples; corrected = original - optimism.

References
----------
Harrell FE (2015) *Regression Modeling Strategies*, 2nd ed., sec. 5.3 and 20.11. Harrell FE, Lee
KL, Mark DB (1996) Stat Med 15:361-387. Efron B, Gong G (1983) Am Stat 37:36-48. Noma H et al.
(2021) BMC Med Res Methodol 21:9 (location-shifted bootstrap intervals).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..engine import resolve_engine
from ..errors import ConvergenceError, InputError, find_stack_level
from ..resampling import bootstrap_indices, run_replicates
from ..results import Result
from . import _core
from ._core import gini_md
from ._fitcheck import NOT_CONVERGED, OK, SEPARATED, SINGULAR, cox_monotone_likelihood
from ._kernels import cox_mle_is_finite
from ._lowess import r_quantile
from .calibration import RECAL_FAILED, ValidationResult
from .concordance import concordance_counts
from .cox import CoxModel, baseline_cumhaz, cox_data, r_frame, strata_codes
from .km import km_table
from ..schedulers import check_scheduler

__all__ = ["validate_cph", "calibrate_cph", "CoxCalibrationCurve"]

#: rows of validate_cph's table, as rms's validate.cph (C = (1 + Dxy)/2 added)
_INDEXES = ["Dxy", "C", "R2", "Slope", "D", "U", "Q", "g"]
_RMS = ["Dxy", "R2", "Slope", "D", "U", "Q", "g"]
#: fewer events than this in a resample: rms's calibrate.cph refuses the refit
_MIN_EVENTS = 5


# =========================================================================== rms's refit
def coxph_fit_rms(cd: Any, p: int, eps: float = 1e-4, iter_max: int = 10,
                  init: np.ndarray | None = None) -> dict[str, Any]:
    """survival's ``coxfit6`` Newton-Raphson loop with rms's settings: start at ``init`` (0),
    stop when ``|1 - l_old / l_new| <= eps`` after a full step, halve a step that lowers the
    likelihood; ``status`` is NOT_CONVERGED when the fit used ``iter_max`` iterations (rms's
    ``coxphFit`` then reports failure), SINGULAR when the information cannot be inverted."""
    beta = np.zeros(p) if init is None else np.asarray(init, float)
    cur = cd.terms(beta)
    l0 = float(cur["loglik"])
    out = {"beta": beta, "loglik0": l0, "loglik": l0, "iter": 0, "status": OK}
    if iter_max == 0:
        return out
    try:
        step = np.linalg.solve(cur["info"], cur["score"])
    except np.linalg.LinAlgError:
        return {**out, "status": SINGULAR}
    lold = l0
    newbeta = beta + step
    halving = False
    newlk = l0
    for it in range(1, iter_max + 1):
        new = cd.terms(newbeta)
        newlk = float(new["loglik"]) if np.isfinite(new["loglik"]) else -np.inf
        if np.isfinite(newlk) and abs(1 - lold / newlk) <= eps and not halving:
            return {"beta": newbeta, "loglik0": l0, "loglik": newlk, "iter": it,
                    "status": NOT_CONVERGED if it >= iter_max else OK}
        if it == iter_max:
            break
        if newlk < lold:
            halving = True
            newbeta = (newbeta + beta) / 2
        else:
            halving = False
            lold = newlk
            beta = newbeta
            try:
                step = np.linalg.solve(new["info"], new["score"])
            except np.linalg.LinAlgError:
                return {**out, "status": SINGULAR}
            newbeta = newbeta + step
    return {"beta": newbeta, "loglik0": l0, "loglik": newlk, "iter": iter_max, "status": NOT_CONVERGED}


def _monotone(t: np.ndarray, e: np.ndarray, X: np.ndarray) -> bool:
    """Whether the resample's partial likelihood is monotone (no finite maximum): rms stops such a
    refit at a large coefficient once the likelihood flattens and keeps it; here it is left out and
    counted, as the logistic validate does with separated resamples (unstratified models)."""
    if cox_mle_is_finite(t, e, X):
        return False
    return cox_monotone_likelihood(t, e, X, name_columns=False) is not None


def _dxy(t: np.ndarray, e: np.ndarray, lp: np.ndarray) -> float:
    """rms's ``dxy.cens(lp, Surv(t, e), type="hazard")``: Somers' D between the linear predictor
    (a hazard: higher means earlier events) and survival, ``2 C - 1`` with Harrell's C."""
    counts, _ = concordance_counts(t, e, lp)
    conc, disc, tied = counts[0], counts[1], counts[2]
    return float((conc - disc) / (conc + disc + tied))


def _train_indices(t, e, lp, l0, l1, score=None) -> np.ndarray:
    """Apparent indices of a fit on its own sample (rms discrim, evalfit=TRUE). ``score``: the
    risk score Dxy ranks (a stratified model: minus the predicted survival at u), else ``lp``."""
    n = len(t)
    lr, ll0 = -2 * (l0 - l1), -2 * l0
    D, U = (lr - 1) / ll0, -2 / ll0
    r2 = (1 - np.exp(-lr / n)) / (1 - np.exp(-ll0 / n))
    return np.array([_dxy(t, e, lp if score is None else score), r2, 1.0, D, U, D - U, gini_md(lp)])


def _test_indices(t, e, lp, ties, strata, score=None) -> tuple[np.ndarray, int]:
    """Indices of a bootstrap fit's linear predictor on the original rows (evalfit=FALSE): the
    calibration slope is a Cox fit on ``lp``; U compares the frozen slope 1 with it."""
    n = len(t)
    cd = cox_data(t, e, lp[:, None], ties, strata)
    f = coxph_fit_rms(cd, 1)
    if f["status"] != OK:
        return np.full(7, np.nan), RECAL_FAILED
    slope = float(f["beta"][0])
    lr, ll0 = -2 * (f["loglik0"] - f["loglik"]), -2 * f["loglik0"]
    D = (lr - 1) / ll0
    r2 = (1 - np.exp(-lr / n)) / (1 - np.exp(-ll0 / n))
    frozen = float(cd.terms(np.ones(1), need_info=False)["loglik"])
    U = -2 * (frozen - f["loglik"]) / ll0
    return np.array([_dxy(t, e, lp if score is None else score), r2, slope, D, U, D - U, gini_md(slope * lp)]), OK


def _check_cox_model(model: Any, function: str) -> None:
    if not isinstance(model, CoxModel):
        raise InputError(f"{function}: expected a CoxModel from fit_cph, got {type(model).__name__}")
    if model.firth:
        raise InputError(f"{function}: a Firth-penalised Cox model (firth=True) is not refitted by rms's "
                         "maximum-likelihood bootstrap; validate the maximum-likelihood fit")


def _model_arrays(model: CoxModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    sub = model.data
    t = sub[model.duration].to_numpy(float)
    e = sub[model.event].to_numpy().astype(int)
    X = model.design.matrix(sub)
    codes = strata_codes(sub, model.strata, model.strata_levels)[0] if model.strata else None
    return t, e, X, codes


def _announce(function: str, status: np.ndarray, n_boot: int) -> None:
    k = int(np.sum(status != OK))
    if not k:
        return
    words = {SEPARATED: "monotone likelihood in the resample (a coefficient is infinite; rms keeps such refits)",
             NOT_CONVERGED: "refit did not converge within rms's 10 iterations",
             SINGULAR: "singular design in the resample",
             RECAL_FAILED: "test-sample calibration fit (Cox on the linear predictor) did not converge",
             10: f"fewer than {_MIN_EVENTS} events in the resample"}
    parts = [f"{int(np.sum(status == s))} {w}" for s, w in words.items() if np.any(status == s)]
    warnings.warn(f"{function}: {k} of {n_boot} bootstrap refits failed and are left out of the averages "
                  f"(n_failed={k}): {'; '.join(parts)}", UserWarning, stacklevel=find_stack_level())


# =========================================================================== validate
def validate_replicates(model: CoxModel, indices: np.ndarray, u: float | None = None) -> np.ndarray:
    """Training and test indices (rows Dxy, R2, Slope, D, U, Q, g) for given bootstrap resamples.

    ``indices``: (n_boot, n) 0-based row indices. Returns (n_boot, 2, 8): [k, 0, :7] training,
    [k, 1, :7] test, [k, 0, 7] the refit's status (0 = usable). :func:`validate_cph` draws the
    resamples; the tests pass the ones R drew to check the computation against rms exactly.
    """
    t, e, X, codes = _model_arrays(model)
    p = X.shape[1]
    out = np.full((len(indices), 2, 8), np.nan)
    for k, idx in enumerate(np.asarray(indices, dtype=int)):
        tb, eb, Xb = t[idx], e[idx], X[idx]
        sb = None if codes is None else codes[idx]
        try:
            f = coxph_fit_rms(cox_data(tb, eb, Xb, model.ties, sb), p)
        except (np.linalg.LinAlgError, FloatingPointError, ConvergenceError):
            f = {"status": SINGULAR}
        if f["status"] != OK or not np.all(np.isfinite(f["beta"])):
            out[k, 0, 7] = f["status"] if f["status"] != OK else NOT_CONVERGED
            continue
        if sb is None and _monotone(tb, eb, Xb):
            out[k, 0, 7] = SEPARATED
            continue
        beta = f["beta"]
        s_train = s_test = None
        if codes is not None:   # rms: Dxy of the predicted survival at u (comparable across strata)
            s_train = -_surv_at(tb, eb, Xb, beta, model.ties, sb, u)
            s_test = -_surv_at_new(tb, eb, Xb, beta, model.ties, sb, u, X, codes)
        out[k, 0, :7] = _train_indices(tb, eb, Xb @ beta, f["loglik0"], f["loglik"], s_train)
        test, status = _test_indices(t, e, X @ beta, model.ties, codes, s_test)
        out[k, 1, :7] = test
        out[k, 0, 7] = status
    return out


def validate_cph(model: CoxModel, n_boot: int = 1000, seed: int | None = 0, level: float = 0.95,
                 scheduler: Any = None, progress: bool = False, engine: str | None = None,
                 u: float | None = None) -> ValidationResult:
    """Bootstrap optimism-corrected indices of a Cox model (``rms::validate.cph``).

    Indices (Harrell 2015, sec. 20.11): ``Dxy`` Somers' D between the linear predictor (as a
    hazard) and survival time, ``C = (1 + Dxy)/2`` (Harrell's C, added), ``R2`` Nagelkerke's ``(1 - exp(-LR/n)) / (1 - exp(-L0/n))`` with
    ``L0 = -2 log L(0)``, ``Slope`` the calibration slope (a Cox fit on the bootstrap model's linear
    predictor in the original rows), discrimination ``D = (LR - 1)/L0``, unreliability
    ``U = -2 (log L(slope = 1) - log L(slope))/L0``, ``Q = D - U`` and ``g`` (Gini's mean
    difference of the linear predictor, on the log-hazard scale). For each resample the model is
    refitted as rms refits it (see the module notes); optimism = mean(training - test), corrected =
    original - optimism.

    Refits that fail (monotone likelihood in the resample -- rms keeps those, stopped at a large
    coefficient --, no convergence in rms's 10 iterations, a singular design in the resample, a
    calibration fit that does not converge) are left out, counted in ``n_failed`` and announced.
    ``ci`` (Python engine): location-shifted bootstrap percentile intervals (Noma et al. 2021) of the
    corrected C and R2 (from the training values) and Slope (from the test slopes); the R engine
    returns rms's table without intervals. ``optimism_mcse``: Monte-Carlo standard error of the
    optimism.

    A stratified model has no single linear predictor to rank across strata: as rms
    (``validate.cph(u=)``), its Dxy ranks the predicted survival at time ``u`` (required then),
    each row with its stratum's baseline hazard; the other indices use the stratified likelihood.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    _check_cox_model(model, "validate_cph")
    n_boot = _core.check_n_boot(n_boot)
    level = _core.check_level(level)
    engine = resolve_engine(engine)
    t, e, X, codes = _model_arrays(model)
    n = len(t)
    if model.strata:
        if u is None:
            raise InputError(f"validate_cph: the model is stratified by {list(model.strata)}; its Dxy ranks the "
                             "predicted survival at a time u (as rms validate.cph(u=)): pass u")
        u = _core.check_finite(u, "u")
        if not t.min() < u <= t.max():
            raise InputError(f"validate_cph: u = {u:g} must lie within the follow-up ({t.min():g} to {t.max():g})")
    if engine == "r":
        return _validate_cph_r(model, n_boot, seed, level, n, u if model.strata else None)
    lp = X @ model.params.to_numpy()
    score = -_surv_at(t, e, X, model.params.to_numpy(), model.ties, codes, u) if model.strata else None
    index_orig = _train_indices(t, e, lp, model.loglik_null, model.loglik, score)

    def work(rng: np.random.Generator, m: int) -> np.ndarray:
        return validate_replicates(model, np.stack([bootstrap_indices(rng, n) for _ in range(m)]), u)

    reps = run_replicates(work, n_boot, seed=seed, scheduler=scheduler, progress=progress, desc="validate_cph")
    return _validate_table(reps, index_orig, n_boot, seed, level, n)


def _validate_table(reps: np.ndarray, index_orig: np.ndarray, n_boot: int, seed: Any, level: float, n: int,
                    engine: str = "python") -> ValidationResult:
    status = reps[:, 0, 7].astype(int)
    R = reps[:, :, :7]
    good = (status == OK) & ~np.isnan(R).any(axis=(1, 2))
    status = np.where(good, OK, np.where(status == OK, RECAL_FAILED, status))
    n_failed = int((~good).sum())
    if good.sum() == 0:
        raise ConvergenceError(f"validate_cph: every one of the {n_boot} bootstrap refits failed; validation is "
                               "impossible")
    _announce("validate_cph", status, n_boot)
    G = R[good]
    train, test = G[:, 0, :].mean(0), G[:, 1, :].mean(0)
    optimism = train - test
    mcse = (G[:, 0, :] - G[:, 1, :]).std(0, ddof=1) / np.sqrt(len(G)) if len(G) > 1 else np.full(7, np.nan)
    tab = pd.DataFrame({"index_orig": index_orig, "training": train, "test": test, "optimism": optimism,
                        "index_corrected": index_orig - optimism, "n": float(good.sum()), "optimism_mcse": mcse},
                       index=_RMS)
    c = (1 + tab.loc["Dxy"]) / 2
    c["optimism"] = tab.loc["Dxy", "optimism"] / 2
    c["optimism_mcse"] = tab.loc["Dxy", "optimism_mcse"] / 2
    c["n"] = tab.loc["Dxy", "n"]
    tab.loc["C"] = c
    tab = tab.loc[_INDEXES]
    ci = {}
    for name, dist in (("C", (1 + G[:, 0, 0]) / 2), ("R2", G[:, 0, 1]), ("Slope", G[:, 1, 2])):
        est = tab.loc[name, "index_corrected"]
        lo, hi = _core.percentile_interval(dist, level)
        ci[name] = (est + lo - dist.mean(), est + hi - dist.mean())
    return ValidationResult(table=tab, ci=pd.DataFrame(ci, index=["ci_low", "ci_high"]).T, level=level,
                            n_boot=n_boot, n_failed=n_failed, seed=seed, n=n, engine=engine,
                            ci_method="location-shifted bootstrap percentile (Noma et al. 2021)",
                            method="bootstrap optimism correction (rms::validate.cph method='boot')")


def _r_cph_fit(model: CoxModel, u: float | None = None):
    """The model as an rms ``cph`` fit (x, y, surv kept; ``time.inc = u`` when given)."""
    from .. import r_bridge

    r_bridge.require("rms", "survival")
    if hasattr(model.design, "model_terms"):   # a formula fit (splines, interactions): rms needs its own fit
        if u is None and model.r_fit is not None:
            return model.r_fit
        raise InputError("engine='r': a Cox model fitted from a formula is validated in rms on its own rms fit: "
                         "fit it with engine='r' (validate_cph), or use engine='python' (calibrate_cph needs cph's "
                         "time.inc = u, which that fit does not have)")
    t, e, X, codes = _model_arrays(model)
    strat = (codes, model.strata_levels) if model.strata else (None, ())
    rdf = r_frame(model.data, model.duration, model.event, model.design, t, e, strat)
    return r_bridge.call("h2s_fit_cph_at", rdf, r_bridge.safe_names(len(model.design.covariates)), model.ties,
                         bool(model.strata), float(u) if u is not None else None, convert=False)


def _validate_cph_r(model: CoxModel, n_boot: int, seed: Any, level: float, n: int,
                    u: float | None = None) -> ValidationResult:
    from .. import r_bridge

    r_seed = _core.r_seed(seed)
    if u is None:
        out = r_bridge.call("h2s_validate", _r_cph_fit(model), int(n_boot), r_seed)
    else:
        out = r_bridge.call("h2s_validate_cph_u", _r_cph_fit(model), int(n_boot), r_seed, float(u))
    tab = out.set_index("index")
    tab.index.name = None
    tab.columns = ["index_orig", "training", "test", "optimism", "index_corrected", "n"]
    tab = tab.loc[_RMS].astype(float)
    c = (1 + tab.loc["Dxy"]) / 2
    c["optimism"] = tab.loc["Dxy", "optimism"] / 2
    c["n"] = tab.loc["Dxy", "n"]
    tab.loc["C"] = c
    tab = tab.loc[_INDEXES]
    tab["optimism_mcse"] = np.nan
    n_failed = int(n_boot - tab.loc["Dxy", "n"])
    if n_failed:
        warnings.warn(f"validate_cph (rms): {n_failed} of {n_boot} bootstrap refits failed (divergence or "
                      f"singularity) and are left out of the averages (n_failed={n_failed})", UserWarning,
                      stacklevel=find_stack_level())
    ci = pd.DataFrame({"ci_low": np.nan, "ci_high": np.nan}, index=["C", "R2", "Slope"])
    return ValidationResult(table=tab, ci=ci, level=level, n_boot=n_boot, n_failed=n_failed, seed=seed, n=n,
                            engine="r", method="rms::validate.cph(method='boot')",
                            ci_method="not available from rms::validate (no per-replicate values); use engine='python'")


# =========================================================================== calibrate
@dataclass(frozen=True, repr=False)
class CoxCalibrationCurve(Result):
    """Bootstrap overfitting-corrected calibration of predicted survival at ``u``
    (``rms::calibrate.cph``, ``cmethod="KM"``): per group of predicted survival, the mean prediction,
    the Kaplan-Meier estimate at ``u``, its optimism and the corrected estimate."""

    u: float
    m: int
    table: pd.DataFrame   # group, mean_predicted, KM, KM_corrected, std_err, index_orig, training, test, optimism, n, optimism_mcse
    n_boot: int
    n_failed: int
    seed: Any
    n: int
    engine: str
    predictions: np.ndarray = field(repr=False, default=None)
    method: str = "bootstrap (rms::calibrate.cph cmethod='KM')"

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def _title(self) -> str:
        return (f"CoxCalibrationCurve (u={self.u:g}, engine={self.engine}, n_boot={self.n_boot}, "
                f"failed fits={self.n_failed}, n={self.n})")

    def plot(self, ax: Any = None, level: float = 0.95) -> Any:
        """rms-style plot: observed (Kaplan-Meier, with its CI) against mean predicted survival at
        ``u`` per group, the bias-corrected estimates, and the ideal line."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 4.5))
        tab = self.table
        z = _core.z_value(level)
        km, se = tab["KM"].to_numpy(float), tab["std_err"].to_numpy(float)
        ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--", label="Ideal")
        ax.errorbar(tab["mean_predicted"], km, yerr=[km - km * np.exp(-z * se), np.minimum(1, km * np.exp(z * se)) - km],
                    fmt="o", color="k", ms=4, capsize=2, label="Observed (KM)")
        ax.plot(tab["mean_predicted"], tab["KM_corrected"], "x", color="C3", ms=7, label="Bias-corrected")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=f"Predicted survival at {self.u:g}",
               ylabel=f"Observed survival at {self.u:g}")
        ax.legend(loc="upper left", frameon=False, fontsize=8,
                  title=f"n_boot={self.n_boot}, groups of ~{self.m}", title_fontsize=7)
        return ax


def _group_km(x: np.ndarray, t: np.ndarray, e: np.ndarray, u: float, cuts: np.ndarray) -> np.ndarray:
    """``rms::groupkm(x, Surv(t, e), u, cuts)``: per interval of ``x`` (Hmisc ``cut2`` with these
    cuts), the mean of x, the count, the events, the Kaplan-Meier estimate at u and its std.err
    (log scale); an interval of fewer than 2 rows, or whose follow-up ends before u with survival
    left, has no estimate (NaN). Returns (groups, 5)."""
    x = np.where(np.abs(x) < 1e-10, 0.0, np.asarray(x, float))
    cuts = np.sort(np.asarray(cuts, float))
    xu = np.unique(np.concatenate([x, cuts]))
    min_dif = np.min(np.diff(xu)) / 2 if len(xu) > 1 else 0.0
    if x.min() < cuts[0]:
        cuts = np.concatenate([[x.min()], cuts])
    if x.max() > cuts[-1]:
        cuts = np.concatenate([cuts, [x.max()]])
    k2 = cuts - min_dif
    k2[-1] = cuts[-1]
    code = np.searchsorted(k2, x, side="left")   # R's cut(): intervals (k2[i-1], k2[i]]
    g = len(cuts) - 1
    out = np.full((g, 5), np.nan)
    for i in range(1, g + 1):
        s = code == i
        nobs = int(s.sum())
        out[i - 1, 1] = nobs if nobs >= 2 else 0
        out[i - 1, 2] = int(e[s].sum()) if nobs >= 2 else 0
        if nobs == 1:
            out[i - 1, 0] = x[s].mean()
        if nobs < 2:
            continue
        out[i - 1, 0] = x[s].mean()
        km = km_table(t[s], e[s].astype(float))
        tt = np.concatenate([[0.0], km["time"].to_numpy()])
        ss = np.concatenate([[1.0], km["survival"].to_numpy()])
        se = np.concatenate([[0.0], km["std_err"].to_numpy()])
        j = int(np.flatnonzero(tt <= u + 1e-6).max())
        if u > tt[-1] + 1e-6 and ss[-1] > 0:
            continue
        out[i - 1, 3], out[i - 1, 4] = ss[j], se[j]
    return out


def _surv_at(t, e, X, beta, ties, strata, u) -> np.ndarray | None:
    """Predicted survival at u of each row, ``S0_s(u)^exp(x'b)`` (the row's stratum)."""
    if strata is None:
        et, H = baseline_cumhaz(cox_data(t, e, X, ties), beta)
        j = np.searchsorted(et, u, side="right") - 1
        return np.exp(-(H[j] if j >= 0 else 0.0)) ** np.exp(X @ beta)
    out = np.empty(len(t))
    for k in np.unique(strata):
        r = strata == k
        if not e[r].any():
            out[r] = 1.0
            continue
        et, H = baseline_cumhaz(cox_data(t[r], e[r], X[r], ties), beta)
        j = np.searchsorted(et, u, side="right") - 1
        out[r] = np.exp(-(H[j] if j >= 0 else 0.0)) ** np.exp(X[r] @ beta)
    return out


def calibrate_replicates(model: CoxModel, indices: np.ndarray, u: float, cuts: np.ndarray) -> np.ndarray:
    """Per resample, the training and test distances ``KM(u) - mean predicted`` per group
    (calibrate.cph's ``what="observed-predicted"``). Returns (n_boot, 2, groups + 1), the last
    slot of [k, 0] the refit's status."""
    t, e, X, codes = _model_arrays(model)
    p = X.shape[1]
    g = len(cuts) - 1
    out = np.full((len(indices), 2, g + 1), np.nan)
    for k, idx in enumerate(np.asarray(indices, dtype=int)):
        tb, eb, Xb = t[idx], e[idx], X[idx]
        sb = None if codes is None else codes[idx]
        if eb.sum() < _MIN_EVENTS:
            out[k, 0, g] = 10
            continue
        f = coxph_fit_rms(cox_data(tb, eb, Xb, model.ties, sb), p)
        if f["status"] != OK or not np.all(np.isfinite(f["beta"])):
            out[k, 0, g] = f["status"] if f["status"] != OK else NOT_CONVERGED
            continue
        if sb is None and _monotone(tb, eb, Xb):
            out[k, 0, g] = SEPARATED
            continue
        beta = f["beta"]
        train = _group_km(_surv_at(tb, eb, Xb, beta, model.ties, sb, u), tb, eb, u, cuts)
        # predictions of the resample's model for the original rows (its baseline from the resample)
        s_orig = _surv_at_new(tb, eb, Xb, beta, model.ties, sb, u, X, codes)
        test = _group_km(s_orig, t, e, u, cuts)
        out[k, 0, :g] = train[:, 3] - train[:, 0]
        out[k, 1, :g] = test[:, 3] - test[:, 0]
        out[k, 0, g] = OK
    return out


def _surv_at_new(t, e, X, beta, ties, strata, u, Xnew, strata_new) -> np.ndarray:
    """Survival at u for new rows from a fit's baseline hazard (per stratum)."""
    out = np.ones(len(Xnew))
    groups = [(None, np.ones(len(t), bool), np.ones(len(Xnew), bool))] if strata is None else \
        [(k, strata == k, strata_new == k) for k in np.unique(strata_new)]
    for _, r, rn in groups:
        if not e[r].any():
            continue
        et, H = baseline_cumhaz(cox_data(t[r], e[r], X[r], ties), beta)
        j = np.searchsorted(et, u, side="right") - 1
        out[rn] = np.exp(-(H[j] if j >= 0 else 0.0)) ** np.exp(Xnew[rn] @ beta)
    return out


def calibrate_cph(model: CoxModel, u: float, m: int = 150, n_boot: int = 1000, seed: int | None = 0,
                  scheduler: Any = None, progress: bool = False, engine: str | None = None) -> CoxCalibrationCurve:
    """Bootstrap overfitting-corrected calibration of predicted survival at time ``u``
    (``rms::calibrate.cph(cmethod="KM", u=, m=)``).

    The predicted survival ``S(u | x) = S0(u)^exp(x'b)`` (Efron or Breslow baseline hazard, the
    stratum's for a stratified model) is cut into about ``n/m`` intervals at the quantiles of
    ``(0, 1, predictions)`` (Hmisc ``cut2``); in each, the Kaplan-Meier estimate at ``u`` against
    the mean prediction gives the apparent error ``KM - predicted``. Each resample's refit (rms's
    settings) gives the error on its resample (training) and, with its own baseline hazard, on the
    original rows (test); optimism = mean(training - test) per interval (over the resamples where
    both exist), ``KM_corrected = KM - optimism``. Resamples with fewer than 5 events, or whose
    refit fails, are left out, counted in ``n_failed`` and announced.

    rms's own predicted survival (``cph``'s ``surv.summary``) is computed by ``survfit.cph`` and
    differs from the baseline hazard used here (survival's ``basehaz``) in the fifth decimal, so
    the engines agree to about 1e-4 in the mean predictions and exactly in the Kaplan-Meier
    estimates when the grouping is the same.
    """
    check_scheduler(scheduler)  # refused alike on both engines, even where R resamples
    _check_cox_model(model, "calibrate_cph")
    n_boot = _core.check_n_boot(n_boot)
    u = _core.check_finite(u, "u")
    m = _core.check_int(m, "m", 2)
    engine = resolve_engine(engine)
    t, e, X, codes = _model_arrays(model)
    n = len(t)
    if not t.min() < u <= t.max():
        raise InputError(f"calibrate_cph: u = {u:g} must lie within the follow-up ({t.min():g} to {t.max():g})")
    if engine == "r":
        return _calibrate_cph_r(model, u, m, n_boot, seed, n)
    beta = model.params.to_numpy()
    pred = _surv_at(t, e, X, beta, model.ties, codes, u)
    g = max(1, n // m)
    cuts = np.unique(r_quantile(np.concatenate([[0.0, 1.0], pred]), np.linspace(0, 1, g + 1)))
    orig = _group_km(pred, t, e, u, cuts)
    index_orig = orig[:, 3] - orig[:, 0]

    def work(rng: np.random.Generator, k: int) -> np.ndarray:
        return calibrate_replicates(model, np.stack([bootstrap_indices(rng, n) for _ in range(k)]), u, cuts)

    reps = run_replicates(work, n_boot, seed=seed, scheduler=scheduler, progress=progress, desc="calibrate_cph")
    return _calibrate_table(reps, orig, index_orig, pred, u, m, n_boot, seed, n)


def _calibrate_table(reps, orig, index_orig, pred, u, m, n_boot, seed, n, engine="python") -> CoxCalibrationCurve:
    g = reps.shape[2] - 1
    status = reps[:, 0, g].astype(int)
    _announce("calibrate_cph", status, n_boot)
    ok = status == OK
    tr, te = reps[ok, 0, :g], reps[ok, 1, :g]
    both = ~np.isnan(tr + te)
    num = both.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        train = np.where(both, tr, 0).sum(0) / num
        test = np.where(both, te, 0).sum(0) / num
        diff = np.where(both, tr - te, np.nan)
        mcse = np.nanstd(diff, axis=0, ddof=1) / np.sqrt(num) if len(diff) > 1 else np.full(g, np.nan)
    optimism = train - test
    table = pd.DataFrame({"group": np.arange(1, g + 1), "mean_predicted": orig[:, 0], "KM": orig[:, 3],
                          "KM_corrected": orig[:, 3] - optimism, "std_err": orig[:, 4], "n_rows": orig[:, 1],
                          "events": orig[:, 2], "index_orig": index_orig, "training": train, "test": test,
                          "optimism": optimism, "n": num.astype(float), "optimism_mcse": mcse})
    return CoxCalibrationCurve(u=float(u), m=int(m), table=table, n_boot=n_boot, n_failed=int((~ok).sum()),
                               seed=seed, n=n, engine=engine, predictions=pred)


def _calibrate_cph_r(model: CoxModel, u: float, m: int, n_boot: int, seed: Any, n: int) -> CoxCalibrationCurve:
    from .. import r_bridge

    out = r_bridge.call("h2s_calibrate_cph", _r_cph_fit(model, u), float(u), int(m), int(n_boot), _core.r_seed(seed))
    tab = out["table"]
    nn = tab["n"].to_numpy(float)
    n_failed = int(n_boot - np.nanmax(nn)) if len(nn) else 0
    if n_failed:
        warnings.warn(f"calibrate_cph (rms): {n_failed} of {n_boot} bootstrap refits failed and are left out of "
                      f"the averages (n_failed={n_failed})", UserWarning, stacklevel=find_stack_level())
    table = pd.DataFrame({"group": np.arange(1, len(tab) + 1), "mean_predicted": tab["mean.predicted"].to_numpy(float),
                          "KM": tab["KM"].to_numpy(float), "KM_corrected": tab["KM.corrected"].to_numpy(float),
                          "std_err": tab["std.err"].to_numpy(float), "n_rows": np.nan, "events": np.nan,
                          "index_orig": tab["index.orig"].to_numpy(float), "training": tab["training"].to_numpy(float),
                          "test": tab["test"].to_numpy(float), "optimism": tab["mean.optimism"].to_numpy(float),
                          "n": nn, "optimism_mcse": np.nan})
    return CoxCalibrationCurve(u=float(u), m=int(m), table=table, n_boot=n_boot, n_failed=n_failed, seed=seed, n=n,
                               engine="r", predictions=np.asarray(out["predicted"], float),
                               method="rms::calibrate.cph(cmethod='KM')")
