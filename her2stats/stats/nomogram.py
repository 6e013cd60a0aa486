"""Nomograms for logistic (``fit_lrm``) and Cox (``fit_cph``) models, with rms's scales.

The Python engine reproduces ``rms::nomogram`` step by step so that points agree with R:

1. axis values per predictor as ``datadist`` + ``value.chk`` choose them: the levels of a
   categorical predictor; the distinct values of a numeric predictor with at most 10 of them;
   otherwise ``pretty(range(x), 10)``;
2. each value's contribution ``Xbeta`` (sum of the term's coefficients times its design
   columns, splines included); the predictor with the widest contribution range gets
   ``maxscale = 100`` points: ``sc = 100 / max_j range_j`` and
   ``points = (Xbeta - min_j Xbeta) * sc``;
3. total points ``T`` map to the linear predictor ``lp = Intercept + T / sc`` with
   ``Intercept = b0 + sum_j min_j`` (``b0`` = intercept for lrm, ``-center`` for cph);
4. the outcome axis (risk ``expit(lp)``, or survival ``S_c(t)^exp(lp)`` at each time) has ticks at
   ``pretty(f(range(lp.at)), 10)`` placed by inverse interpolation on a 1,000-point lp grid,
   exactly as rms does (``approx``), so the tick positions match R's plot.

References
----------
Harrell FE. rms: Regression Modeling Strategies (R package), ``nomogram``; Iasonos A, et al.
How to build and interpret a nomogram for cancer prognosis. J Clin Oncol 2008;26:1364-1370.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..engine import resolve_engine
from ..errors import InputError
from ..results import Result
from ._lowess import approx, r_seq

__all__ = ["nomogram", "Nomogram", "r_pretty"]

_DBL_EPS = np.finfo(float).eps


def r_pretty(x: Sequence[float], n: int = 5, min_n: int | None = None, shrink_sml: float = 0.75,
             high_u_bias: float = 1.5) -> np.ndarray:
    """R's ``pretty(x, n)``: about ``n + 1`` equally spaced round values covering ``range(x)``.

    Port of ``R_pretty`` (src/appl/pretty.c, R 4.2) with ``pretty.default``'s defaults
    (``min.n = n %/% 3``, ``u5.bias = 0.5 + 1.5 * high.u.bias``, ``eps.correct = 0``).
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return np.array([])
    lo, up = float(x.min()), float(x.max())
    if min_n is None:
        min_n = n // 3
    h = high_u_bias
    h5 = 0.5 + 1.5 * h
    ndiv = n
    dx = up - lo
    if dx == 0 and up == 0:
        cell = 1.0
        i_small = True
    else:
        cell = max(abs(lo), abs(up))
        U = 1 + (1 / (1 + h) if h5 >= 1.5 * h + 0.5 else 1.5 / (1 + h5))
        U *= max(1, ndiv) * _DBL_EPS
        i_small = dx < cell * U * 3
    if i_small:
        if cell > 10:
            cell = 9 + cell / 10
        cell *= shrink_sml
        if min_n > 1:
            cell /= min_n
    else:
        cell = dx
        if ndiv > 1:
            cell /= ndiv
    cell = max(cell, 20 * np.finfo(float).tiny)
    base = 10.0 ** math.floor(math.log10(cell))
    unit = base
    ns = 2 * base
    if ns - cell < h * (cell - unit):
        unit = ns
        ns = 5 * base
        if ns - cell < h5 * (cell - unit):
            unit = ns
            ns = 10 * base
            if ns - cell < h * (cell - unit):
                unit = ns
    rounding_eps = 1e-10
    ns = math.floor(lo / unit + rounding_eps)
    nu = math.ceil(up / unit - rounding_eps)
    while ns * unit > lo + rounding_eps * unit:
        ns -= 1
    while nu * unit < up - rounding_eps * unit:
        nu += 1
    k = int(0.5 + nu - ns)
    if k < min_n:
        k = min_n - k
        if ns >= 0:
            nu += k // 2
            ns -= k // 2 + k % 2
        else:
            ns -= k // 2
            nu += k // 2 + k % 2
        ndiv = min_n
    else:
        ndiv = k
    lo_b, up_b = ns * unit, nu * unit
    if ndiv == 0:
        return np.array([lo_b])
    s = r_seq(lo_b, up_b, ndiv + 1)
    delta = (up_b - lo_b) / ndiv
    s[np.abs(s) < 1e-14 * delta] = 0.0
    return s


@dataclass(frozen=True)
class _Axis:
    name: str
    values: list            # axis values (numbers or level strings)
    xbeta: np.ndarray       # contribution of each value
    discrete: bool
    contribution: Any = field(repr=False, default=None)  # df -> contribution per row
    #: an interaction group (rms ``interact=``): one line per setting of the related predictors,
    #: (line name, axis values, Xbeta); ``xbeta`` is then all lines' values together
    lines: tuple = ()
    #: the same lines named with R's generated names and level codes (for the R engine's table)
    r_lines: tuple = ()


@dataclass(frozen=True, repr=False)
class Nomogram(Result):
    """A nomogram: points per predictor value and the total-points -> outcome maps.

    ``variables``: tidy DataFrame (variable, value, points); ``total_points``: the total-points axis
    ticks; ``lp``: linear-predictor axis (value, points); ``outcome_axes``: dict label ->
    DataFrame (value, points) for the risk / survival axes. ``scale`` (points per unit of lp) and
    ``intercept`` (lp at 0 total points) define ``lp = intercept + total / scale``.
    """

    variables: pd.DataFrame
    total_points: np.ndarray
    lp: pd.DataFrame
    outcome_axes: dict
    scale: float
    intercept: float
    kind: str
    engine: str
    model: Any = field(repr=False, compare=False, default=None)
    axes: tuple = field(repr=False, compare=False, default=())
    funs: dict = field(repr=False, compare=False, default_factory=dict)
    method: str = "rms::nomogram scales"

    def points_table(self) -> pd.DataFrame:
        """Points per variable value, then the total points -> outcome rows (tidy)."""
        rows = [self.variables.assign(axis="predictor")]
        for label, tab in self.outcome_axes.items():
            rows.append(pd.DataFrame({"variable": label, "value": tab["value"].astype(object),
                                      "points": tab["points"], "axis": "total points -> outcome"}))
        return pd.concat(rows, ignore_index=True)[["axis", "variable", "value", "points"]]

    def to_frame(self) -> pd.DataFrame:
        return self.points_table()

    def score(self, df: pd.DataFrame) -> pd.DataFrame:
        """Total points and predicted outcome for each row of ``df`` (exact, not read off the axes)."""
        if not self.axes:
            raise InputError("score() needs the Python description of the model (engine='python' nomogram)")
        pts = np.zeros(len(df))
        out = {}
        for ax in self.axes:
            p = (ax.contribution(df) - ax.xbeta.min()) * self.scale
            out[f"points_{ax.name}"] = p
            pts = pts + p
        out["total_points"] = pts
        lp = self.intercept + pts / self.scale
        for label, f in self.funs.items():
            out[label] = f(lp)
        return pd.DataFrame(out, index=df.index)

    def plot(self, ax=None, figsize=(8, None), show_lp: bool = True):
        """matplotlib redraw on R's scales: Points 0-100 on top, one axis per predictor, Total
        Points, linear predictor and outcome axes compressed to the 0-100 width as rms draws them.
        Labels go below each axis; a label that would overlap its neighbour moves above the axis
        (as rms does for non-monotone splines) or is dropped, keeping its tick."""
        import matplotlib.pyplot as plt

        var_names = list(dict.fromkeys(self.variables["variable"]))
        extra = ["Linear Predictor"] if show_lp else []
        labels = ["Points", *var_names, "Total Points", *extra, *self.outcome_axes.keys()]
        n_rows = len(labels)
        if ax is None:
            _, ax = plt.subplots(figsize=(figsize[0], figsize[1] or 0.5 * n_rows + 0.6))
        scale_total = 100.0 / float(np.max(self.total_points))
        char_w = 1.15  # approximate label width per character in points-axis units at fontsize 7

        def fmt(v):
            if isinstance(v, str):
                return v
            return f"{v:.10g}"

        def draw(row, xs, texts, y_label, compress=False, minor=False):
            y = n_rows - row
            xs = np.asarray(xs, float) * (scale_total if compress else 1.0)
            ax.hlines(y, xs.min(), xs.max(), color="k", lw=0.8)
            last_end = {"below": -np.inf, "above": -np.inf}
            for x, t in sorted(zip(xs, texts), key=lambda z: z[0]):
                ax.vlines(x, y, y + 0.1, color="k", lw=0.8)
                half = char_w * len(t) / 2
                for side, dy, va in (("below", -0.06, "top"), ("above", 0.14, "bottom")):
                    if x - half > last_end[side] + 0.8:
                        ax.text(x, y + dy, t, ha="center", va=va, fontsize=7)
                        last_end[side] = x + half
                        break
            ax.text(-4, y, y_label, ha="right", va="center", fontsize=8)

        ticks = np.arange(0, 101, 10)
        draw(0, ticks, [f"{t:g}" for t in ticks], "Points")
        for i, v in enumerate(var_names, start=1):
            sub = self.variables[self.variables["variable"] == v]
            draw(i, sub["points"], [fmt(x) for x in sub["value"]], v)
        r = len(var_names) + 1
        draw(r, self.total_points, [fmt(t) for t in self.total_points], "Total Points", compress=True)
        if show_lp:
            r += 1
            draw(r, self.lp["points"], [fmt(v) for v in self.lp["value"]], "Linear Predictor", compress=True)
        for j, (label, tab) in enumerate(self.outcome_axes.items(), start=r + 1):
            draw(j, tab["points"], [fmt(v) for v in tab["value"]], label, compress=True)
        ax.set_xlim(-30, 105)
        ax.set_ylim(0.3, n_rows + 0.6)
        ax.axis("off")
        return ax

    def save_r_plot(self, path: str | Path, width: float = 8.0, height: float = 6.0) -> Path:
        """Draw the nomogram with R's own ``plot.nomogram`` into ``path`` (.png, .svg or .pdf)."""
        from .. import r_bridge

        path = Path(path)
        device = path.suffix.lower().lstrip(".")
        if device not in ("png", "svg", "pdf"):
            raise InputError(f"save_r_plot writes .png, .svg or .pdf files, got '{path.name}'")
        r_fit, extra = _r_fit_and_data(self.model)
        labels = list(self.outcome_axes.keys())
        codes = _fun_codes(len(labels))
        kw: dict = {"funlabel": codes[0]}
        if self.kind == "survival":
            kw = {"times": [float(t) for t in self.model_times], "labels": codes}
        var_names, level_labels = _r_display_names(self.model)
        # names, levels and labels travel as data and are put on the finished nomogram object
        r_bridge.call("h2s_nomogram_plot", r_fit, str(path.resolve()), device, float(width), float(height),
                      data=extra, var_names=var_names, level_labels=level_labels, fun_names=labels, **kw)
        return path

    @property
    def model_times(self) -> list:
        return list(self.__dict__.get("_times", []))


# --------------------------------------------------------------------------- model adapters
def _is_cox(model) -> bool:
    return hasattr(model, "baseline_survival") and hasattr(model, "params") and hasattr(model, "duration")


def _numeric_axis(x: pd.Series) -> tuple[list, bool]:
    vals = np.unique(pd.to_numeric(x, errors="coerce").dropna().to_numpy(float))
    if len(vals) <= 10:
        return [float(v) for v in vals], True
    return [float(v) for v in r_pretty([vals.min(), vals.max()], n=10)], False


def _logistic_axes(model, data: pd.DataFrame | None = None, interact: dict | None = None
                   ) -> tuple[list[_Axis], float, np.ndarray]:
    data = model.data if data is None else data
    axes = _terms_axes(model.terms, model.coefficients, data, interact)
    return axes, float(model.coefficients["Intercept"]), model.linear_predictor(data)


def _terms_axes(terms, beta: pd.Series, data: pd.DataFrame, interact: dict | None) -> list[_Axis]:
    """Axes of a design (:class:`~her2stats.stats.design.Term` list) with coefficients ``beta``
    named by design column: one per term, or per group of interacting predictors."""
    if any(t.kind == "interaction" for t in terms):
        return _interaction_axes(terms, beta, data, interact or {})
    if interact:
        raise InputError("nomogram: interact= sets the related predictors of an interaction; the model has none")
    axes = []
    for t in terms:
        b = beta[list(t.columns)].to_numpy()
        if t.kind in ("categorical", "catg"):
            values = list(t.levels)
            xb = np.concatenate([[0.0], b])
            discrete = True

            def contrib(df, t=t, b=b):
                return t.design(df[t.name]) @ b
        else:
            values, discrete = _numeric_axis(data[t.name])
            xb = t.design(pd.Series(values, dtype=float)) @ b

            def contrib(df, t=t, b=b):
                return t.design(pd.to_numeric(df[t.name], errors="coerce")) @ b
        axes.append(_Axis(t.name, values, np.asarray(xb, float), discrete, contrib))
    return axes


def _r_format(v: Any) -> str:
    """A setting as rms's ``format()`` writes it in an axis name (``age (sex=f)``)."""
    if isinstance(v, str):
        return v
    from .design import r_number

    return r_number(v)


def _interaction_axes(terms, beta: pd.Series, data: pd.DataFrame, interact: dict) -> list[_Axis]:
    """rms ``nomogram``'s axes for a model with interactions (rms 6.x, ``nomogram.rms``).

    Predictors linked by interactions (transitively: ``related.predictors``) form a group drawn
    as one axis of its first predictor per combination of the others' settings (``interact=``;
    a categorical or few-valued numeric predictor defaults to all its values; a continuous one
    must be given), the first setting varying fastest (``expand.grid``). A line's ``Xbeta`` is
    the sum of the group's main effects and interaction terms at (axis value, setting); the
    group's zero is its minimum over all lines. With interactions rms draws continuous predictors
    before discrete ones (``order(10 * discrete + (name in interact))``).
    """
    from .. import r_bridge

    mains = [t for t in terms if t.kind != "interaction"]
    inters = [t for t in terms if t.kind == "interaction"]
    by_name = {t.name: t for t in mains}
    names = [t.name for t in mains]
    unknown = [k for k in interact if k not in by_name]
    if unknown:
        raise InputError(f"nomogram: interact= names {unknown}, which are not predictors of the model {names}")
    safe = dict(zip(names, r_bridge.safe_names(len(names))))
    settings: dict[str, list] = {}
    discrete: dict[str, bool] = {}
    for t in mains:
        if t.kind in ("categorical", "catg"):
            settings[t.name], discrete[t.name] = list(t.levels), True
        else:
            settings[t.name], discrete[t.name] = _numeric_axis(data[t.name])

    def part(t, frame: pd.DataFrame) -> np.ndarray:
        return t.design_frame(frame) @ beta[list(t.columns)].to_numpy()

    def frame_of(values: dict, n: int) -> pd.DataFrame:
        cols = {}
        for k, v in values.items():
            seq = list(v) if isinstance(v, list) else [v] * n
            cols[k] = pd.Series(seq, dtype=object if by_name[k].kind in ("categorical", "catg") else float)
        return pd.DataFrame(cols)

    # related predictors: transitive closure of "share an interaction term"
    direct = {n: set() for n in names}
    for t in inters:
        for a in t.variables:
            direct[a] |= set(t.variables) - {a}
    rel = {n: set(direct[n]) for n in names}
    changed = True
    while changed:
        changed = False
        for n in names:
            new = set().union(*(rel[m] for m in rel[n])) - {n} if rel[n] else set()
            if not new <= rel[n]:
                rel[n] |= new
                changed = True
    order = sorted(range(len(names)), key=lambda i: 10 * discrete[names[i]] + (names[i] in interact))
    done: set = set()
    axes: list[_Axis] = []
    for i in order:
        nam = names[i]
        if nam in done:
            continue
        t = by_name[nam]
        if not rel[nam]:
            b = beta[list(t.columns)].to_numpy()
            values = settings[nam]
            if t.kind in ("categorical", "catg"):
                xb = np.concatenate([[0.0], b])
            else:
                xb = t.design(pd.Series(values, dtype=float)) @ b

            def contrib(df, t=t, b=b):
                vals = df[t.name] if t.kind in ("categorical", "catg") else pd.to_numeric(df[t.name], errors="coerce")
                return t.design(vals) @ b
            axes.append(_Axis(nam, values, np.asarray(xb, float), discrete[nam], contrib))
            continue
        namo = [n for n in names if n in rel[nam]]  # sort(rel): in design order
        combo_vals = {}
        for n in namo:
            if n in interact:
                combo_vals[n] = list(interact[n])
            elif discrete[n]:
                combo_vals[n] = list(settings[n])
            else:
                raise InputError(f"nomogram: {n!r} is continuous and interacts with {nam!r}; give its settings, "
                                 f"interact={{{n!r}: [values]}} (as rms::nomogram(interact=...))")
        done.update(namo)
        grids = [[]]
        for n in namo:  # expand.grid: the first varies fastest
            grids = [g + [v] for v in combo_vals[n] for g in grids]
        # effect terms: nam's and namo's main effects, every interaction containing one of them
        group = {nam, *namo}
        effect = [by_name[nam]] + [by_name[n] for n in namo] + [it for it in inters if set(it.variables) & group]
        values = settings[nam]
        lines, r_lines, all_xb = [], [], []
        for g in grids:
            fixed = dict(zip(namo, g))
            frame = frame_of({nam: values, **fixed}, len(values))
            xb = sum(part(e, frame) for e in effect)
            label = f"{nam} (" + " ".join(f"{n}={_r_format(v)}" for n, v in fixed.items()) + ")"
            r_label = f"{safe[nam]} (" + " ".join(
                f"{safe[n]}=" + (r_bridge.level_codes(len(by_name[n].levels))[list(by_name[n].levels).index(v)]
                                 if by_name[n].kind in ("categorical", "catg") else _r_format(v))
                for n, v in fixed.items()) + ")"
            lines.append((label, list(values), np.asarray(xb, float)))
            r_lines.append(r_label)
            all_xb.append(np.asarray(xb, float))

        def contrib(df, effect=effect):
            return sum(e.design_frame(df) @ beta[list(e.columns)].to_numpy() for e in effect)
        axes.append(_Axis(nam, list(values), np.concatenate(all_xb), discrete[nam], contrib,
                          lines=tuple(lines), r_lines=tuple(r_lines)))
    return axes


def _cox_axes(model, interact: dict | None = None) -> tuple[list[_Axis], float, np.ndarray]:
    design = model.design
    if hasattr(design, "model_terms"):  # a formula fit: splines, polynomials, interactions
        lp = design.matrix(model.data) @ model.params.to_numpy()
        center = float(lp.mean())
        return _terms_axes(design.model_terms, model.params, model.data, interact), -center, lp - center
    if interact:
        raise InputError("nomogram: interact= sets the related predictors of an interaction; the model has none")
    beta = model.params.to_numpy()
    axes = []
    for cov, idx in design.terms:
        idx = list(idx)
        b = beta[idx]
        if cov in design.levels:
            levels = list(design.levels[cov])
            values = [str(v) for v in levels]
            xb = np.concatenate([[0.0], b])
            discrete = True
        else:
            values, discrete = _numeric_axis(model.data[cov])
            xb = np.asarray(values, float) * b[0] if len(b) == 1 else None
            if xb is None:
                raise InputError(f"nomogram: Cox term '{cov}' has {len(b)} columns; only linear and categorical "
                                 "Cox terms are supported")

        def contrib(df, idx=idx, b=b):
            return design.matrix(df)[:, idx] @ b
        axes.append(_Axis(cov, values, np.asarray(xb, float), discrete, contrib))
    lp = design.matrix(model.data) @ beta
    center = float(lp.mean())
    return axes, -center, lp - center


def _r_fit_and_data(model):
    """The rms fit and, for a Cox fit, the data frame its datadist is built from (the covariates
    under the generated names and level codes the fit was made with)."""
    if _is_cox(model):
        if getattr(model, "r_fit", None) is None:
            raise InputError("R graphics need a Cox model fitted with engine='r' (fit_cph(..., engine='r'))")
        if hasattr(model.design, "model_terms"):  # a formula fit: the frame its spec fit was made from
            from .design import r_design

            return model.r_fit, r_design(model.data.reset_index(drop=True), model.design.model_terms)[0]
        from .cox import r_covariates

        frame = pd.DataFrame(r_covariates(model.data, model.design), index=range(len(model.data)))
        return model.r_fit, frame
    from .calibration import r_fit_for

    return r_fit_for(model), None


def _r_display_names(model) -> tuple[dict[str, str], dict[str, list[str]]]:
    """R's generated predictor names -> the model's names, and -> the display text of each
    categorical predictor's levels (in code order ``l1, l2, ...``)."""
    from .. import r_bridge

    if _is_cox(model):
        design = model.design
        covs = list(design.covariates)
        levels = {cov: [str(_k(v)) for v in design.levels[cov]] for cov in design.levels}
    else:
        covs = [t.name for t in model.terms if t.kind != "interaction"]
        levels = {t.name: [str(v) for v in t.levels] for t in model.terms if t.kind in ("categorical", "catg")}
    safe = r_bridge.safe_names(len(covs))
    return dict(zip(safe, covs)), {v: levels[c] for v, c in zip(safe, covs) if c in levels}


def _centred_survival(model, times: list[float], labels: list[str], center: float) -> dict:
    """``S(t | lp_c) = exp(-H0(t) exp(lp_c + center))`` computed on the log scale: with splines or
    interactions x = 0 can lie far from the data and ``S0(t)`` underflow (formula fits)."""
    logh = np.log(np.asarray(model.baseline_cumhaz(times), float))

    def make(lh):
        return lambda lpc: np.exp(-np.exp(lh + np.asarray(lpc, float) + center))
    return {lab: make(lh) for lab, lh in zip(labels, logh)}


def _r_interact(model, interact: dict | None) -> dict | None:
    """``interact=`` as R sees it: generated names, level codes for categorical predictors."""
    if not interact:
        return None
    from .. import r_bridge

    terms = model.design.model_terms if hasattr(getattr(model, "design", None), "model_terms") else model.terms
    mains = [t for t in terms if t.kind != "interaction"]
    safe = dict(zip([t.name for t in mains], r_bridge.safe_names(len(mains))))
    out = {}
    for name, values in interact.items():
        t = next((m for m in mains if m.name == name), None)
        if t is None:
            raise InputError(f"nomogram: interact= names {name!r}, which is not a predictor of the model")
        if t.kind in ("categorical", "catg"):
            bad = [v for v in values if str(v) not in t.levels]
            if bad:
                raise InputError(f"nomogram: interact={{{name!r}: ...}} has values {bad} that are not levels "
                                 f"{list(t.levels)}")
            codes = r_bridge.level_codes(len(t.levels))
            out[safe[name]] = [codes[list(t.levels).index(str(v))] for v in values]
        else:
            out[safe[name]] = [float(v) for v in values]
    return out


def _fun_codes(n: int) -> list[str]:
    """Generated labels of the outcome axes given to rms (the user's labels never reach R)."""
    return [f"h2s_f{i}" for i in range(1, n + 1)]


def _k(v):
    if isinstance(v, (np.integer, np.floating)):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


# --------------------------------------------------------------------------- public
def nomogram(model, fun: str | tuple = "risk", time_unit: str = "year", funlabel: str | None = None,
             engine: str | None = None, data: pd.DataFrame | None = None,
             interact: dict | None = None) -> Nomogram:
    """Nomogram of a logistic or Cox model on ``rms::nomogram``'s scales.

    Parameters
    ----------
    model : LogisticModel (``fit_lrm``), FrozenLogisticModel (``frozen_lrm``, published
        coefficients; ``data=`` gives the axis ranges, Python engine) or CoxModel (``fit_cph``);
        other model types are refused, naming what is supported.
    fun : "risk" (logistic: predicted probability) or ``("survival", [1, 3, 5])`` (Cox: survival
        probability at those times, in the model's time unit).
    time_unit : label of the survival axes ("3-year survival").
    funlabel : label of the risk axis (default "Risk").
    engine : "python" (rms's algorithm in numpy) or "r" (``rms::nomogram`` on the rms fit).
    data : the rows whose values span the axes and the linear-predictor axis (as rms's
        ``datadist``); needed for a FrozenLogisticModel, which has no development data.
    interact : for a model with interactions (``fit_lrm(formula="y ~ age * sex + ...")``), the
        settings of the related predictors, ``{"sex": ["f", "m"]}``, as ``rms::nomogram(interact=)``:
        the first predictor of each group of interacting predictors gets one axis per combination
        of the others' settings (``age (sex=f)``, ``age (sex=m)``); categorical and few-valued
        numeric predictors default to all their values, continuous ones must be given.

    Returns
    -------
    Nomogram with ``points_table()``, ``score(df)``, ``plot()`` and ``save_r_plot(path)``.

    Notes
    -----
    The points of value ``v`` of predictor ``j`` are ``100 (Xbeta_j(v) - min Xbeta_j) / max_k range_k``
    (see module docstring). For Cox models survival at ``t`` is ``S_0(t)^exp(x'b)`` with the
    baseline survival of the fitted model (``CoxModel.baseline_survival``).

    Examples
    --------
    Compare with R: ``nomogram(lrm(low ~ age + lwt + race + ...), fun = plogis)`` gives the
    same points per value to 1e-6 (``tests/stats/test_nomogram.py``).
    """
    engine = resolve_engine(engine)
    from .design import require_model

    kind = require_model(model, "nomogram")
    cox = _is_cox(model)
    frozen = getattr(model, "data", None) is None
    if frozen:
        if data is None:
            raise InputError(f"nomogram: a {kind} has no development data; give data= (rows whose values span the "
                             "axes, as rms's datadist)")
        if engine == "r":
            raise InputError(f"nomogram: engine='r' draws rms::nomogram from an rms fit; a {kind} (published "
                             "coefficients) has none -- use engine='python' (rms's algorithm, same points)")
    elif data is not None:
        raise InputError("nomogram: data= is for a frozen model; a fitted model's axes span its development data")
    times: list[float] = []
    if cox:
        if not (isinstance(fun, tuple) and len(fun) == 2 and fun[0] == "survival"):
            raise InputError("a Cox nomogram needs fun=('survival', [times...]), e.g. ('survival', [1, 3, 5])")
        times = [float(t) for t in np.atleast_1d(fun[1])]
        if not times or any(t <= 0 for t in times):
            raise InputError(f"survival times must be positive, got {fun[1]}")
        labels = [f"{t:g}-{time_unit} survival" for t in times]
    else:
        if fun != "risk":
            raise InputError(f"a logistic nomogram supports fun='risk', got {fun!r}")
        labels = [funlabel or "Risk"]
    if engine == "r":
        nom = _nomogram_r(model, cox, times, labels, interact)
    else:
        nom = _nomogram_python(model, cox, times, labels, data, interact)
    object.__setattr__(nom, "_times", times)
    return nom


def _nomogram_python(model, cox: bool, times: list[float], labels: list[str],
                     data: pd.DataFrame | None = None, interact: dict | None = None) -> Nomogram:
    if data is not None:  # a frozen model: complete rows of data span the axes
        variables = list(dict.fromkeys(v for t in model.terms for v in t.variables))
        missing = [v for v in variables if v not in data.columns]
        if missing:
            raise InputError(f"nomogram: columns {missing} of the model are not in data")
        data = data.loc[data[variables].notna().all(axis=1), variables].reset_index(drop=True)
        if not len(data):
            raise InputError("nomogram: data has no complete row of the model's predictors")
    axes, base, lp_fit = _cox_axes(model, interact) if cox else _logistic_axes(model, data, interact)
    ranges = np.array([ax.xbeta.max() - ax.xbeta.min() for ax in axes])
    if ranges.max() <= 0:
        raise InputError("every predictor has zero effect; the nomogram has no scale")
    sc = 100.0 / ranges.max()
    intercept = base + sum(ax.xbeta.min() for ax in axes)
    rows = []
    for ax in axes:
        for name, values, xb in (ax.lines or [(ax.name, ax.values, ax.xbeta)]):
            pts = (np.asarray(xb) - ax.xbeta.min()) * sc
            for v, p in zip(values, pts):
                rows.append((name, v, float(p)))
    variables = pd.DataFrame(rows, columns=["variable", "value", "points"])
    lp_at = r_pretty([np.min(lp_fit), np.max(lp_fit)], n=10)
    sum_max = 100.0 if len(axes) == 1 else max(100.0, sc * np.max(lp_at - intercept))
    total = r_pretty([0.0, sum_max], n=10)
    lp_axis = pd.DataFrame({"value": lp_at, "points": (lp_at - intercept) * sc})
    if cox and hasattr(model.design, "model_terms"):
        funcs = _centred_survival(model, times, labels, -base)
    elif cox:
        s0 = np.asarray(model.baseline_survival(times), float)
        center = -base

        def make(s0t, center=center):
            # S(t | lp_c) = S0(t)^exp(lp_c + center): lp_c is the centred lp on the nomogram scale
            return lambda lpc: s0t ** np.exp(np.asarray(lpc, float) + center)
        funcs = {lab: make(s) for lab, s in zip(labels, s0)}
    else:
        funcs = {labels[0]: lambda lp: 1.0 / (1.0 + np.exp(-np.asarray(lp, float)))}
    out_axes = {}
    xseq = r_seq(lp_at.min(), lp_at.max(), 1000)
    for lab, f in funcs.items():
        fat = r_pretty(f(np.array([lp_at.min(), lp_at.max()])), n=10)
        fu = f(xseq)
        ok = ~np.isnan(fu)
        o = np.argsort(fu[ok], kind="stable")
        w = approx(fu[ok][o], xseq[ok][o], fat, ties="mean")
        keep = ~np.isnan(w)
        out_axes[lab] = pd.DataFrame({"value": fat[keep], "points": (w[keep] - intercept) * sc})
    return Nomogram(variables=variables, total_points=total, lp=lp_axis, outcome_axes=out_axes, scale=float(sc),
                    intercept=float(intercept), kind="survival" if cox else "risk", engine="python", model=model,
                    axes=tuple(axes), funs=funcs)


def _nomogram_r(model, cox: bool, times: list[float], labels: list[str], interact: dict | None = None) -> Nomogram:
    from .. import r_bridge

    r_bridge.require("rms")
    # the Python description of the model gives exact scores for new rows and the value types
    # (and refuses terms it cannot draw, on both engines alike)
    py_axes = _cox_axes(model, interact)[0] if cox else _logistic_axes(model, None, interact)[0]
    r_fit, frame = _r_fit_and_data(model)
    codes = _fun_codes(len(labels))
    if cox:
        out = r_bridge.call("h2s_nomogram_cph", r_fit, times, codes, frame, _r_interact(model, interact))
    else:
        out = r_bridge.call("h2s_nomogram_lrm", r_fit, codes[0], _r_interact(model, interact))
    categorical = {ax.name for ax in py_axes if ax.values and isinstance(ax.values[0], str)}
    var_names, level_labels = _r_display_names(model)
    safe_of = {v: k for k, v in var_names.items()}
    # interaction lines: R names them by generated names and level codes ("v1 (v2=l1)")
    lines = {r: (line[0], ax.name) for ax in py_axes for r, line in zip(ax.r_lines, ax.lines)}
    rows = []
    for safe, tab in out["variables"].items():
        name, var = lines.get(safe, (var_names.get(safe, safe), var_names.get(safe, safe)))
        sv = safe_of.get(var, safe)
        values = r_bridge.decode_levels(tab["value"], level_labels[sv]) if sv in level_labels else tab["value"]
        for v, p in zip(values, tab["points"]):
            rows.append((name, str(v) if var in categorical else float(v), float(p)))
    variables = pd.DataFrame(rows, columns=["variable", "value", "points"])
    axes = {lab: out["funs"][code].reset_index(drop=True) for lab, code in zip(labels, codes)}
    if cox and hasattr(model.design, "model_terms"):
        funcs = _centred_survival(model, times, labels, -(_cox_axes(model, interact)[1]))
    elif cox:
        s0 = np.asarray(model.baseline_survival(times), float)
        center = -(_cox_axes(model, interact)[1])
        funcs = {lab: (lambda lpc, s=s: s ** np.exp(np.asarray(lpc, float) + center)) for lab, s in zip(labels, s0)}
    else:
        funcs = {labels[0]: lambda lp: 1.0 / (1.0 + np.exp(-np.asarray(lp, float)))}
    return Nomogram(variables=variables, total_points=np.atleast_1d(np.asarray(out["total_points"], float)),
                    lp=out["lp"], outcome_axes=axes, scale=float(out["scale"]), intercept=float(out["intercept"]),
                    kind="survival" if cox else "risk", engine="r", model=model, axes=tuple(py_axes), funs=funcs,
                    method="rms::nomogram")
