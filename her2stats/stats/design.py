"""One design layer for every regression model: terms, splines, factor coding, formulas.

A model's right-hand side is a list of :class:`Term` objects learnt from the fitting data
(levels, spline knots) and turned into a design matrix by :func:`design_matrix`, in rms's
parametrisation so that coefficients can be compared with ``rms::lrm``/``orm``/``cph`` number
by number:

* a numeric predictor enters linearly (column ``age``);
* ``rcs(age, 4)`` is a restricted cubic spline with rms's default knot quantiles (Harrell 2015,
  Table 2.3; ``Hmisc::rcspline.eval(x, nk)``) and rms's normalisation by ``(t_k - t_1)^(2/3)``
  (columns ``age``, ``age'``, ``age''``); ``rcs(age, c(30, 40, 50, 60))`` gives the knots;
* ``pol(age, 2)`` is the raw polynomial of rms (columns ``age``, ``age^2``);
* a categorical / string / boolean predictor, or ``catg(x)`` for a numeric one, is dummy coded
  against its first level (columns ``grade=2``...; booleans are the levels ``FALSE``/``TRUE``,
  numbers under ``catg`` are ordered numerically), as rms;
* ``a * b`` is ``a + b + a:b``; the columns of ``a:b`` are the products of the columns of ``a``
  and ``b``, the first factor varying fastest, named ``a * b=2`` (rms's names); as in R, main
  effects come first, then two-way interactions, then three-way ones;
* ``strat(centre)`` stratifies a Cox model (no column; ``fit_cph`` only).

Formulas are parsed here, in Python (a tokenizer and a recursive-descent parser; nothing is
evaluated): ``"her2_positive ~ rcs(age, 4) + er * grade + ki67"`` or
``"Surv(time, event) ~ age + strat(centre)"``. Names that are not R identifiers are written in
backticks (```ER status```). R never sees the formula text: :func:`r_design` sends each
variable under a generated name (``v1..vk``, factor levels as codes ``l1..lm``) and a design
spec (term type, knots, degree by generated name) from which ``r/design.R`` builds the R formula.

The module also holds the fitted-model protocol (:class:`FittedModel`) through which
``calibrate``, ``validate``, ``nomogram`` and the calibration functions accept or refuse a
model (:func:`require_model`).

References
----------
Harrell FE. Regression Modeling Strategies, 2nd ed. Springer 2015 (ch. 2.4 splines, 2.7 interactions).
Chambers JM, Hastie TJ. Statistical Models in S. Wadsworth 1992, ch. 2 (formula algebra).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

from ..errors import InputError, find_stack_level

__all__ = ["Term", "treatment_columns", "rcs_knots", "rcs_basis", "as_levels", "is_categorical", "levels_of", "build_terms",
           "design_matrix", "parse_formula", "ParsedFormula", "VarSpec", "build_design", "r_design",
           "column_labels", "FittedModel", "require_model", "FormulaDesign"]

#: rms/Hmisc default knot quantiles by number of knots (Harrell 2015, Table 2.3)
_KNOT_QUANTILES = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
    6: (0.05, 0.23, 0.41, 0.59, 0.77, 0.95),
    7: (0.025, 0.1833, 0.3417, 0.50, 0.6583, 0.8167, 0.975),
}


# --------------------------------------------------------------------------- splines
def rcs_knots(x: np.ndarray | pd.Series, nk: int, fractied: float = 0.05, name: str = "x") -> np.ndarray:
    """Knot locations of ``Hmisc::rcspline.eval(x, nk)`` (the knots ``rms::rcs(x, nk)`` uses).

    Quantiles ``seq(outer, 1-outer, length=nk)`` (outer = .1 for 3 knots, .05 for 4-6, .025 for
    7+) of the non-missing values (R's type-7 quantile); with fewer than 100 values the outer
    knots move to the 5th smallest/largest value; a value tied in >= ``fractied`` of the sample
    at either end of the range is handled as in Hmisc (the knot goes to the next distinct value).
    """
    xx = np.asarray(pd.Series(x).dropna(), dtype=float)
    n = len(xx)
    if n < 6:
        raise InputError(f"rcs({name}, {nk}): fewer than 6 non-missing values; use fewer knots or a linear term")
    if nk < 3:
        raise InputError(f"rcs({name}, {nk}): a restricted cubic spline needs at least 3 knots")
    xu = np.unique(xx)
    nxu = len(xu)
    if nxu - 2 <= nk:
        warnings.warn(f"rcs({name}): {nk} knots requested with {nxu} unique values; knots set to the "
                      f"{nxu - 2} interior values (as Hmisc)", UserWarning, stacklevel=find_stack_level())
        knots = xu[1:-1]
    else:
        outer = 0.1 if nk == 3 else 0.05
        if nk > 6:
            outer = 0.025
        nke = nk
        first: list[float] = []
        last: list[float] = []
        over_first = over_last = False
        if 0 < fractied < 1:
            vals, counts = np.unique(xx, return_counts=True)
            f = counts / n
            if len(f) > 2 and f[1:-1].max() < fractied:
                if f[0] >= fractied:
                    first = [float(xx[xx > xx.min()].min())]
                    xx = xx[xx > first[0]]
                    nke -= 1
                    over_first = True
                if f[-1] >= fractied:
                    last = [float(xx[xx < xx.max()].max())]
                    xx = xx[xx < last[0]]
                    nke -= 1
                    over_last = True
        if nke == 1:
            knots = np.array([np.median(xx)])
        elif nxu <= nke:
            knots = xu
        else:
            probs = np.linspace(0.5, 1 - outer, nke) if nke == 2 else np.linspace(outer, 1 - outer, nke)
            knots = np.quantile(xx, probs)
            if len(np.unique(knots)) < min(nke, 3):
                raise InputError(
                    f"rcs({name}, {nk}): could not place {nk} distinct knots (too many tied values); "
                    "give the knots explicitly or use fewer")
            if len(xx) < 100:
                xs = np.sort(xx)
                if not over_first:
                    knots[0] = xs[4]
                if not over_last:
                    knots[nke - 1] = xs[len(xs) - 5]
        knots = np.concatenate([first, knots, last])
    knots = np.unique(np.asarray(knots, dtype=float))
    if len(knots) < 3:
        raise InputError(f"rcs({name}): fewer than 3 unique knots; use a linear term for this variable")
    return knots


def rcs_basis(x: np.ndarray, knots: Sequence[float]) -> np.ndarray:
    """Restricted cubic spline basis in rms's parametrisation (``rcspline.eval(inclx=TRUE, norm=2)``).

    Column 0 is ``x``; column j (j = 1..k-2) is
    ``(x-t_j)_+^3 - (x-t_{k-1})_+^3 (t_k-t_j)/(t_k-t_{k-1}) + (x-t_k)_+^3 (t_{k-1}-t_j)/(t_k-t_{k-1})``
    divided by ``(t_k - t_1)^2`` (each cubed term scaled by ``kd = (t_k-t_1)^(2/3)``).
    """
    x = np.asarray(x, dtype=float)
    t = np.asarray(knots, dtype=float)
    k = len(t)
    kd = (t[-1] - t[0]) ** (2.0 / 3.0)
    out = np.empty((len(x), k - 1))
    out[:, 0] = x
    tk, tk1 = t[-1], t[-2]
    for j in range(k - 2):
        out[:, j + 1] = (np.maximum((x - t[j]) / kd, 0) ** 3
                         + ((tk1 - t[j]) * np.maximum((x - tk) / kd, 0) ** 3
                            - (tk - t[j]) * np.maximum((x - tk1) / kd, 0) ** 3) / (tk - tk1))
    return out



def r_number(v: float) -> str:
    """A number as R's ``as.character`` writes it (15 significant digits): the label of a level
    of ``catg(x)`` for numeric ``x`` (``1``, ``2.5``)."""
    v = float(v)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return format(v, ".15g")


# --------------------------------------------------------------------------- terms
@dataclass(frozen=True)
class Term:
    """One term of the model and how it enters the design matrix.

    ``kind`` is ``"linear"``, ``"rcs"`` (``knots``), ``"pol"`` (``degree``), ``"categorical"``
    (``levels``, reference first), ``"catg"`` (a numeric column coded as categorical; ``levels``
    are R's labels of the numbers) or ``"interaction"`` (``components``: the main-effect terms
    multiplied, first varying fastest). ``name`` is the column for main effects and
    ``"a * b"`` for an interaction.
    """

    name: str
    kind: str
    columns: tuple[str, ...]
    levels: tuple[Any, ...] = ()
    knots: tuple[float, ...] = ()
    degree: int = 0
    components: tuple["Term", ...] = ()

    @property
    def variables(self) -> tuple[str, ...]:
        """The data columns the term reads."""
        return tuple(c.name for c in self.components) if self.kind == "interaction" else (self.name,)

    def design(self, values: pd.Series) -> np.ndarray:
        """Columns of a main-effect term from the values of its column."""
        if self.kind == "linear":
            return np.asarray(values, dtype=float)[:, None]
        if self.kind == "rcs":
            return rcs_basis(np.asarray(values, dtype=float), self.knots)
        if self.kind == "pol":
            x = np.asarray(values, dtype=float)
            return np.column_stack([x ** d for d in range(1, self.degree + 1)])
        if self.kind == "interaction":
            raise TypeError("an interaction term reads several columns: use design_frame(df)")
        if self.kind == "catg":
            x = pd.to_numeric(pd.Series(values), errors="coerce")
            vals = np.array([None if pd.isna(v) else r_number(v) for v in x], dtype=object)
        else:
            vals = as_levels(values)
        unknown = set(pd.unique(vals[~pd.isna(vals)])) - set(self.levels)
        if unknown:
            raise InputError(f"column '{self.name}' has value(s) {sorted(map(str, unknown))} not seen when the "
                             f"model was fitted (levels {list(self.levels)})")
        out = treatment_columns(vals, self.levels)
        out[pd.isna(vals)] = np.nan  # a missing level must not silently become the reference
        return out

    def design_frame(self, df: pd.DataFrame) -> np.ndarray:
        """Columns of the term from the data frame (interactions multiply their components')."""
        if self.kind != "interaction":
            return self.design(df[self.name])
        out = self.components[0].design(df[self.components[0].name])
        for comp in self.components[1:]:
            nxt = comp.design(df[comp.name])
            # first factor varies fastest: columns (a1 b1, a2 b1, ..., a1 b2, ...)
            out = (out[:, :, None] * nxt[:, None, :]).reshape(len(df), -1, order="F")
        return out


def treatment_columns(values: Any, levels: Sequence[Any]) -> np.ndarray:
    """Treatment (dummy) coding against the first level: one 0/1 column per other level, in the
    order of ``levels`` (R's ``contr.treatment``, rms's ``name=level`` columns)."""
    vals = np.asarray(values, dtype=object)
    if len(levels) < 2:
        return np.zeros((len(vals), 0))
    return np.column_stack([(vals == lev).astype(float) for lev in levels[1:]])


def as_levels(values: pd.Series) -> np.ndarray:
    """Categorical values as R would see them (booleans -> 'FALSE'/'TRUE', others as strings)."""
    s = pd.Series(values)
    if pd.api.types.is_bool_dtype(s.dtype) or (s.dtype == object and s.dropna().map(type).eq(bool).all()
                                               and len(s.dropna())):
        return np.where(s.isna(), None, s.map({True: "TRUE", False: "FALSE"})).astype(object)
    return np.where(s.isna(), None, s.astype(str)).astype(object)


def is_categorical(s: pd.Series) -> bool:
    """Whether a column is dummy coded (categorical, boolean, object or string dtype)."""
    return (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s.dtype)
            or pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype))


def levels_of(s: pd.Series) -> tuple[str, ...]:
    """Levels of a categorical column, reference first: the categories present (in the
    Categorical's order), else the sorted labels."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().astype(str))
        return tuple(str(c) for c in s.cat.categories if str(c) in present)
    vals = as_levels(s)
    return tuple(sorted({v for v in vals if v is not None}))


def main_term(s: pd.Series, name: str, kind: str = "auto", arg: Any = None, where: str = "") -> Term:
    """The main-effect term of column ``s`` learnt from the (training) data.

    ``kind``: ``"auto"`` (categorical columns dummy coded, numeric ones linear), ``"rcs"``
    (``arg``: number of knots or the knots), ``"pol"`` (``arg``: degree), ``"catg"``.
    """
    if kind == "rcs":
        if is_categorical(s):
            raise InputError(f"{where}rcs: column '{name}' is not numeric (dtype {s.dtype}); splines need numbers")
        knots = (rcs_knots(s, int(arg), name=name) if np.isscalar(arg)
                 else np.unique(np.asarray(arg, dtype=float)))
        if len(knots) < 3:
            raise InputError(f"{where}rcs: column '{name}' needs at least 3 distinct knots, got {list(knots)}")
        cols = tuple([name] + [name + "'" * j for j in range(1, len(knots) - 1)])
        return Term(name, "rcs", cols, knots=tuple(float(k) for k in knots))
    if kind == "pol":
        if is_categorical(s):
            raise InputError(f"{where}pol: column '{name}' is not numeric (dtype {s.dtype}); polynomials need numbers")
        degree = int(arg)
        if s.dropna().nunique() <= degree:
            raise InputError(f"{where}pol({name}, {degree}): the column has {s.dropna().nunique()} distinct values; "
                             f"a polynomial of degree {degree} needs more")
        return Term(name, "pol", tuple([name] + [f"{name}^{d}" for d in range(2, degree + 1)]), degree=degree)
    if kind == "catg":
        if is_categorical(s):
            levels = levels_of(s)
            term_kind = "categorical"
        else:
            levels = tuple(r_number(v) for v in np.sort(pd.unique(pd.to_numeric(s).dropna())))
            term_kind = "catg"
        if len(levels) < 2:
            raise InputError(f"{where}covariate '{name}' has a single level {list(levels)} in the data; drop it")
        return Term(name, term_kind, tuple(f"{name}={lev}" for lev in levels[1:]), levels=levels)
    if is_categorical(s):
        levels = levels_of(s)
        if len(levels) < 2:
            raise InputError(f"{where}covariate '{name}' has a single level {list(levels)} in the data; drop it")
        return Term(name, "categorical", tuple(f"{name}={lev}" for lev in levels[1:]), levels=levels)
    if s.dropna().nunique() < 2:
        raise InputError(f"{where}covariate '{name}' is constant in the data; drop it")
    return Term(name, "linear", (name,))


def interaction_term(components: Sequence[Term]) -> Term:
    """The product term of main-effect terms (rms's column names ``a * b=2``, first varying fastest)."""
    cols: list[str] = [""]
    for k, comp in enumerate(components):
        cols = [(f"{a} * {b}" if k else b) for b in comp.columns for a in cols]
    return Term(" * ".join(c.name for c in components), "interaction", tuple(cols),
                components=tuple(components))


def build_terms(df: pd.DataFrame, covariates: Sequence[str], rcs: Mapping[str, Any] | None) -> list[Term]:
    """Terms of the keyword interface (``covariates``, ``rcs={"age": 4}``) learnt from (training) data."""
    rcs = dict(rcs or {})
    bad = [k for k in rcs if k not in covariates]
    if bad:
        raise InputError(f"rcs names {bad} are not among the covariates {list(covariates)}")
    return [main_term(df[name], name, "rcs" if name in rcs else "auto", rcs.get(name)) for name in covariates]


def design_matrix(df: pd.DataFrame, terms: Sequence[Term]) -> np.ndarray:
    """Design matrix without the intercept column, in the order of ``terms``."""
    needed = list(dict.fromkeys(v for t in terms for v in t.variables))
    missing = [v for v in needed if v not in df.columns]
    if missing:
        raise InputError(f"columns {missing} needed by the model are not in the data")
    blocks = [t.design_frame(df) for t in terms]
    return np.column_stack(blocks) if blocks else np.zeros((len(df), 0))


def column_labels(terms: Sequence[Term]) -> list[str]:
    """Design columns described for people, in design order (``'age'``, ``level 'b' of 'race'``,
    ``spline term 1 of 'age'``): the words of fit-check errors."""
    out = []
    for t in terms:
        if t.kind in ("categorical", "catg"):
            out += [f"level {lev!r} of {t.name!r}" for lev in t.levels[1:]]
        elif t.kind == "rcs":
            out += [repr(t.name)] + [f"spline term {j} of {t.name!r}" for j in range(1, len(t.columns))]
        elif t.kind == "pol":
            out += [repr(t.name)] + [f"power {d} of {t.name!r}" for d in range(2, t.degree + 1)]
        elif t.kind == "interaction":
            out += [f"interaction column {c!r}" for c in t.columns]
        else:
            out.append(repr(t.name))
    return out


# --------------------------------------------------------------------------- formula parser
_FUNCTIONS = ("rcs", "pol", "catg", "strat")
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<bt>`(?:[^`\\]|\\.)*`)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_.]))
  | (?P<name>[A-Za-z_.][A-Za-z0-9_.]*|\d[A-Za-z0-9_.]*)
  | (?P<op>[~+*:(),\-])
""", re.VERBOSE)


@dataclass(frozen=True)
class _Tok:
    kind: str  # "name" | "num" | "op" | "end"
    text: str
    pos: int
    quoted: bool = False  # a name written in backticks (never a function)


def _tokenize(text: str, where: str = "parse_formula") -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            ch = text[pos]
            hint = (" (write a column name with spaces or symbols in backticks: `ER status`)"
                    if ch in "\"'" or not ch.isascii() or ch in "-/%$#&|<>=^!?@[]{}" else "")
            raise InputError(f"{where}: formula {text!r}: unexpected character {ch!r} at position {pos}{hint}")
        kind = m.lastgroup
        if kind == "bt":
            name = re.sub(r"\\(.)", r"\1", m.group()[1:-1])
            if not name.strip():
                raise InputError(f"{where}: formula {text!r}: empty name in backticks at position {pos}")
            out.append(_Tok("name", name, pos, quoted=True))
        elif kind != "ws":
            out.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


@dataclass(frozen=True)
class VarSpec:
    """How a variable enters the model: ``kind`` ``"auto"`` | ``"rcs"`` | ``"pol"`` | ``"catg"`` |
    ``"strat"``; ``arg`` the number of knots or the knots (rcs) or the degree (pol)."""

    name: str
    kind: str = "auto"
    arg: Any = None

    def text(self) -> str:
        name = self.name if re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*", self.name) else \
            "`" + self.name.replace("\\", "\\\\").replace("`", "\\`") + "`"
        if self.kind == "auto":
            return name
        if self.kind == "rcs" and not np.isscalar(self.arg):
            return f"rcs({name}, c({', '.join(format(k, '.10g') for k in self.arg)}))"
        if self.arg is None:
            return f"{self.kind}({name})"
        return f"{self.kind}({name}, {self.arg})"


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed model formula.

    ``response``: the outcome column (one name) or ``(time, event)`` for ``Surv(time, event)``;
    ``variables``: each covariate's :class:`VarSpec`, in order of first appearance;
    ``terms``: the model terms as tuples of variable names (main effects, then two-way
    interactions...), strata excluded; ``strata``: the ``strat()`` variables.
    """

    text: str
    response: Any
    variables: dict
    terms: tuple[tuple[str, ...], ...]
    strata: tuple[str, ...] = ()

    @property
    def covariates(self) -> tuple[str, ...]:
        """The columns of the design (strata excluded), in order of appearance."""
        return tuple(v for v, s in self.variables.items() if s.kind != "strat")

    @property
    def has_interactions(self) -> bool:
        return any(len(t) > 1 for t in self.terms)

    def canonical(self) -> str:
        """The formula written back from the parse (``a * b`` expanded into its terms)."""
        resp = (f"Surv({VarSpec(self.response[0]).text()}, {VarSpec(self.response[1]).text()})"
                if isinstance(self.response, tuple) else VarSpec(self.response).text())
        parts = [":".join(self.variables[v].text() for v in t) for t in self.terms]
        parts += [self.variables[s].text() for s in self.strata]
        return f"{resp} ~ " + " + ".join(parts)


class _Parser:
    def __init__(self, text: str, allow_strat: bool, survival: bool, where: str):
        self.text, self.allow_strat, self.survival, self.where = text, allow_strat, survival, where
        self.toks = _tokenize(text, where)
        self.i = 0
        self.specs: dict[str, VarSpec] = {}
        self.order: list[str] = []

    # -- helpers
    def err(self, msg: str, tok: _Tok | None = None) -> InputError:
        tok = tok or self.peek()
        at = "at the end" if tok.kind == "end" else f"at position {tok.pos} ({tok.text!r})"
        return InputError(f"{self.where}: formula {self.text!r}: {msg} {at}")

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.next()
        if tok.kind != "op" or tok.text != text:
            raise self.err(f"expected {text!r}", tok)
        return tok

    def is_op(self, text: str) -> bool:
        t = self.peek()
        return t.kind == "op" and t.text == text

    def name(self, what: str = "a column name") -> str:
        tok = self.next()
        if tok.kind != "name":
            raise self.err(f"expected {what}", tok)
        return tok.text

    def is_call(self) -> bool:
        t = self.peek()
        if t.kind == "end":
            return False
        nxt = self.toks[self.i + 1]
        return t.kind == "name" and not t.quoted and nxt.kind == "op" and nxt.text == "("

    # -- grammar
    def parse(self) -> ParsedFormula:
        if not any(t.kind == "op" and t.text == "~" for t in self.toks):
            raise InputError(f"{self.where}: formula {self.text!r} has no '~' (write 'outcome ~ covariates')")
        response = self.response()
        self.expect("~")
        if self.peek().kind == "end":
            raise self.err("no covariates after '~'")
        terms = self.sum_()
        if self.peek().kind != "end":
            raise self.err("unexpected text")
        return self.finish(response, terms)

    def response(self) -> Any:
        if self.is_call():
            tok = self.next()
            if tok.text != "Surv":
                raise self.err(f"the outcome cannot be a call of {tok.text!r} (transform the column in the data)", tok)
            if not self.survival:
                raise self.err("Surv(time, event) is the outcome of a Cox model (fit_cph); here the outcome is one "
                               "column", tok)
            self.expect("(")
            time = self.name("the time column")
            self.expect(",")
            event = self.name("the event column")
            self.expect(")")
            return (time, event)
        if self.survival:
            raise self.err("a Cox model's outcome is written Surv(time, event)")
        return self.name("the outcome column")

    def sum_(self) -> list[tuple[str, ...]]:
        out = self.prod()
        while True:
            if self.is_op("+"):
                self.next()
                out = _union(out, self.prod())
            elif self.is_op("-"):
                raise self.err("removing terms with '-' is not supported; list the terms wanted")
            else:
                return out

    def prod(self) -> list[tuple[str, ...]]:
        out = self.inter()
        while self.is_op("*"):
            self.next()
            rhs = self.inter()
            out = _union(_union(out, rhs), _cross(out, rhs))
        return out

    def inter(self) -> list[tuple[str, ...]]:
        out = self.atom()
        while self.is_op(":"):
            self.next()
            out = _cross(out, self.atom())
        return out

    def atom(self) -> list[tuple[str, ...]]:
        tok = self.peek()
        if self.is_op("("):
            self.next()
            out = self.sum_()
            self.expect(")")
            return out
        if tok.kind == "num":
            raise self.err("a number is not a term (an intercept is always included; '1' and '0' are not "
                           "supported)", tok)
        if self.is_call():
            return [(self.call(),)]
        name = self.name()
        self.add(VarSpec(name), tok)
        return [(name,)]

    def call(self) -> str:
        tok = self.next()
        fn = tok.text
        if fn not in _FUNCTIONS:
            raise self.err(f"function {fn!r} is not supported (supported: {', '.join(_FUNCTIONS)}); transform "
                           "the column in the data frame first", tok)
        self.expect("(")
        var = self.name()
        arg: Any = None
        if fn in ("rcs", "pol"):
            if self.is_op(","):
                self.next()
                if fn == "rcs" and self.is_call() and self.peek().text == "c":
                    self.next()
                    self.expect("(")
                    knots = [self.number()]
                    while self.is_op(","):
                        self.next()
                        knots.append(self.number())
                    self.expect(")")
                    arg = tuple(knots)
                    if len(set(knots)) < 3 or list(knots) != sorted(knots):
                        raise self.err(f"rcs({var}, c(...)) needs at least 3 distinct knots in increasing order", tok)
                else:
                    v = self.number()
                    if not float(v).is_integer():
                        raise self.err(f"{fn}({var}, {v}): give a whole number", tok)
                    arg = int(v)
            elif fn == "rcs":
                arg = 5  # rms's default number of knots
            else:
                raise self.err(f"pol({var}) needs a degree, e.g. pol({var}, 2)", tok)
            if fn == "rcs" and isinstance(arg, int) and not 3 <= arg <= 7:
                raise self.err(f"rcs({var}, {arg}): the number of knots must be 3 to 7 (rms's default quantiles)", tok)
            if fn == "pol" and not 1 <= arg <= 3:
                raise self.err(f"pol({var}, {arg}): the degree must be 1, 2 or 3", tok)
        self.expect(")")
        if fn == "strat" and not self.allow_strat:
            raise self.err("strat() stratifies a Cox model (fit_cph) and is not defined for this model", tok)
        self.add(VarSpec(var, fn, arg), tok)
        return var

    def number(self) -> float:
        sign = 1.0
        if self.is_op("-"):
            self.next()
            sign = -1.0
        tok = self.next()
        if tok.kind != "num":
            raise self.err("expected a number", tok)
        return sign * float(tok.text)

    def add(self, spec: VarSpec, tok: _Tok) -> None:
        old = self.specs.get(spec.name)
        if old is None:
            self.specs[spec.name] = spec
            self.order.append(spec.name)
        elif old != spec:
            raise self.err(f"column {spec.name!r} enters as {old.text()} and as {spec.text()}; write it the same "
                           f"way everywhere (e.g. {old.text()} * other)", tok)

    def finish(self, response: Any, terms: list[tuple[str, ...]]) -> ParsedFormula:
        rank = {v: i for i, v in enumerate(self.order)}
        terms = [tuple(sorted(t, key=rank.get)) for t in terms]
        terms = list(dict.fromkeys(terms))
        strata = tuple(v for v in self.order if self.specs[v].kind == "strat")
        for t in terms:
            if len(t) > 1 and any(v in strata for v in t):
                raise InputError(f"{self.where}: formula {self.text!r}: strat() variables cannot enter an interaction "
                                 f"({':'.join(t)})")
        model_terms = [t for t in terms if not (len(t) == 1 and t[0] in strata)]
        present = set(model_terms)
        for t in model_terms:
            for k in range(1, len(t)):
                for sub in combinations(t, k):
                    if sub not in present:
                        raise InputError(
                            f"{self.where}: formula {self.text!r}: the interaction {':'.join(t)} needs the lower-order "
                            f"term {':'.join(sub)} in the model (rms requires it); write {' * '.join(t)}")
        model_terms.sort(key=len)  # stable: main effects, then two-way, three-way... (R's term order)
        resp_cols = response if isinstance(response, tuple) else (response,)
        clash = [v for v in self.order if v in resp_cols]
        if clash:
            raise InputError(f"{self.where}: formula {self.text!r}: {clash} is both the outcome and a covariate")
        if not model_terms:
            raise InputError(f"{self.where}: formula {self.text!r} has no covariate besides strata")
        return ParsedFormula(text=self.text, response=response, variables={v: self.specs[v] for v in self.order},
                             terms=tuple(model_terms), strata=strata)


def _union(a: list, b: list) -> list:
    return list(dict.fromkeys([*a, *b]))


def _cross(a: list, b: list) -> list:
    return list(dict.fromkeys(tuple(dict.fromkeys([*x, *y])) for x in a for y in b))


def parse_formula(text: str, survival: bool = False, allow_strat: bool | None = None,
                  where: str = "parse_formula") -> ParsedFormula:
    """Parse a model formula (never evaluated; no text reaches R).

    Grammar (R's, restricted to what rms models use)::

        formula  := response '~' sum
        response := name | 'Surv' '(' name ',' name ')'         (survival models)
        sum      := product ('+' product)*
        product  := inter ('*' inter)*                           a * b = a + b + a:b
        inter    := atom (':' atom)*
        atom     := name | '(' sum ')' | rcs(name[, k | c(t1, ..., tk)]) | pol(name, d)
                  | catg(name) | strat(name)

    ``name`` is an R identifier or any text in backticks. Each column enters in one form
    (``rcs(age, 4) * er`` uses the spline in the interaction too); an interaction needs its
    lower-order terms (as rms); ``strat`` only in Cox models and not in interactions.

    Examples
    --------
    >>> f = parse_formula("her2_positive ~ rcs(age, 4) + er * grade + ki67")
    >>> f.terms
    (('age',), ('er',), ('grade',), ('ki67',), ('er', 'grade'))
    """
    if not isinstance(text, str):
        raise InputError(f"{where}: formula must be text, got {type(text).__name__}")
    if allow_strat is None:
        allow_strat = survival
    return _Parser(text, allow_strat, survival, where).parse()


def build_design(data: pd.DataFrame, parsed: ParsedFormula, where: str = "") -> list[Term]:
    """The terms of a parsed formula learnt from (training) data: levels, knots; in R's term order."""
    prefix = f"{where}: " if where else ""
    mains: dict[str, Term] = {}
    for v in parsed.covariates:
        spec = parsed.variables[v]
        mains[v] = main_term(data[v], v, spec.kind, spec.arg, prefix)
    return [mains[t[0]] if len(t) == 1 else interaction_term([mains[v] for v in t]) for t in parsed.terms]


def formula_covariates(parsed: ParsedFormula) -> list[str]:
    """Every column a formula reads besides the response (covariates, then strata)."""
    return [*parsed.covariates, *parsed.strata]


@dataclass(frozen=True)
class FormulaDesign:
    """A formula's design in the interface of the Cox model's design (``CoxModel.design``):
    ``covariates`` (the columns read), ``columns`` (design column names), ``terms`` ((term name,
    indices of its columns) pairs), ``levels`` (categorical column -> levels, reference first) and
    ``matrix(df)``; ``model_terms`` are the :class:`Term` objects."""

    model_terms: tuple[Term, ...]

    @property
    def covariates(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for t in self.model_terms for v in t.variables))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for t in self.model_terms for c in t.columns)

    @property
    def terms(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        out, start = [], 0
        for t in self.model_terms:
            out.append((t.name, tuple(range(start, start + len(t.columns)))))
            start += len(t.columns)
        return tuple(out)

    @property
    def levels(self) -> dict:
        return {t.name: list(t.levels) for t in self.model_terms if t.kind in ("categorical", "catg")}

    def matrix(self, df: pd.DataFrame) -> np.ndarray:
        return design_matrix(df, self.model_terms)


# --------------------------------------------------------------------------- R side
def r_design(data: pd.DataFrame, terms: Sequence[Term], y: Any = None, extra: Mapping[str, Any] | None = None,
             rms_knots: bool = False) -> tuple[pd.DataFrame, dict, list[str]]:
    """What R sees of a design: each variable under a generated name ``v<i>`` (categorical levels as
    the codes ``l1..lm`` in ``Term.levels`` order), the outcome (when given) as ``y``, ``extra``
    columns under their own (package) names, and a spec from which ``r/design.R`` builds the formula:
    ``kinds`` (``linear``/``rcs``/``pol``/``factor`` by generated name), ``args`` (knots, degree)
    and ``terms`` (generated names per term). Returns (data, spec, expected R coefficient names in
    design order, which the caller compares with R's to be sure the columns line up).

    ``rms_knots=True`` sends the number of knots instead of the knots, so that R places them by
    its own default quantiles (for parity tests of the knots).
    """
    from .. import r_bridge

    mains: dict[str, Term] = {}
    for t in terms:
        for comp in (t.components if t.kind == "interaction" else (t,)):
            mains.setdefault(comp.name, comp)
    safe = dict(zip(mains, r_bridge.safe_names(len(mains))))
    cols: dict[str, Any] = {} if y is None else {"y": y}
    kinds: dict[str, str] = {}
    args: dict[str, Any] = {}
    for name, t in mains.items():
        v = safe[name]
        if t.kind in ("categorical", "catg"):
            vals = (np.array([None if pd.isna(x) else r_number(x) for x in pd.to_numeric(data[name])], dtype=object)
                    if t.kind == "catg" else as_levels(data[name]))
            codes = pd.Categorical(vals, categories=list(t.levels)).codes
            cols[v] = r_bridge.coded_factor(codes, len(t.levels))
            kinds[v] = "factor"
        else:
            cols[v] = pd.to_numeric(data[name]).to_numpy(dtype=float)
            kinds[v] = t.kind
            if t.kind == "rcs":
                args[v] = len(t.knots) if rms_knots else [float(k) for k in t.knots]
            elif t.kind == "pol":
                args[v] = int(t.degree)
    for k, val in (extra or {}).items():
        cols[k] = val
    spec = {"kinds": kinds, "args": args,
            "terms": [[safe[c.name] for c in (t.components if t.kind == "interaction" else (t,))] for t in terms]}

    def r_cols(t: Term) -> list[str]:
        v = safe[t.name]
        if t.kind in ("categorical", "catg"):
            return [f"{v}={c}" for c in r_bridge.level_codes(len(t.levels))[1:]]
        if t.kind == "rcs":
            return [v + "'" * j for j in range(len(t.knots) - 1)]
        if t.kind == "pol":
            return [v] + [f"{v}^{d}" for d in range(2, t.degree + 1)]
        return [v]

    names: list[str] = []
    for t in terms:
        if t.kind == "interaction":
            acc = [""]
            for k, comp in enumerate(t.components):
                acc = [(f"{a} * {b}" if k else b) for b in r_cols(comp) for a in acc]
            names += acc
        else:
            names += r_cols(t)
    return pd.DataFrame(cols, index=range(len(data))), spec, names


def check_r_names(got: Sequence[str], expected: Sequence[str], what: str) -> None:
    """R's coefficient names (generated names) must be the design's, in the design's order."""
    got = [str(g) for g in got]
    if list(got) != list(expected):
        from ..errors import RError

        raise RError(f"{what}: R's coefficients {got} do not line up with the design's columns {list(expected)}")


# --------------------------------------------------------------------------- fitted-model protocol
@runtime_checkable
class FittedModel(Protocol):
    """What every fitted regression model of the package offers: ``linear_predictor(df)`` for
    new rows and the ``engine`` that fitted it.

    Beyond this, what a method needs decides which models it takes (:func:`require_model`):
    ``calibrate`` and ``validate`` refit the model on resamples of its development data, so they
    need a model fitted on data (``LogisticModel``); a ``FrozenLogisticModel`` (published
    coefficients, no development data) is validated on new data instead
    (``validate_external``, ``calibration_hierarchy(model=, data=, outcome=)``,
    ``lecessie_test(model=, data=, outcome=)``) and drawn with ``nomogram(model, data=)``.
    """

    engine: str

    def linear_predictor(self, df: pd.DataFrame) -> np.ndarray: ...


#: what each function does for each model type, and where to go when it does not
_SUPPORT: dict[str, dict[str, str]] = {
    "calibrate": {"LogisticModel": "bootstrap overfitting-corrected calibration (rms::calibrate)"},
    "validate": {"LogisticModel": "bootstrap optimism-corrected indices (rms::validate)"},
    "nomogram": {"LogisticModel": "risk nomogram", "CoxModel": "survival nomogram",
                 "FrozenLogisticModel": "risk nomogram of published coefficients (axis ranges from data=)"},
    "calibration_hierarchy": {"LogisticModel": "apparent calibration",
                              "FrozenLogisticModel": "external calibration on data= / outcome="},
    "lecessie_test": {"LogisticModel": "apparent goodness of fit",
                      "FrozenLogisticModel": "goodness of fit on data= / outcome="},
}

#: what to use instead, by (function, model type)
_INSTEAD: dict[tuple[str, str], str] = {
    ("calibrate", "FrozenLogisticModel"): "a frozen model has no development data to resample; validate it on "
                                          "new data with validate_external(model, data, outcome) or "
                                          "calibration_hierarchy(model=model, data=..., outcome=...)",
    ("validate", "FrozenLogisticModel"): "a frozen model has no development data to resample; use "
                                         "validate_external(model, data, outcome)",
    ("calibrate", "OrdinalModel"): "use evaluate_ordinal / ordinal_calibration (per-class calibration)",
    ("validate", "OrdinalModel"): "use evaluate_ordinal (multiclass AUC and per-class calibration)",
    ("calibration_hierarchy", "OrdinalModel"): "use ordinal_calibration(y, model.predict_proba(df))",
    ("lecessie_test", "OrdinalModel"): "the test is defined for binary logistic models",
    ("nomogram", "OrdinalModel"): "not implemented for proportional-odds models",
    ("calibrate", "CoxModel"): "use survival calibration at a horizon (calibration of a Cox model is not a "
                               "binary-outcome curve)",
    ("validate", "CoxModel"): "use concordance_index / validate_external_cox for Cox models",
    ("calibration_hierarchy", "CoxModel"): "use survival calibration at a horizon",
    ("lecessie_test", "CoxModel"): "the test is defined for binary logistic models",
}


def register_support(function: str, model_type: str, what: str) -> None:
    """Declare that ``function`` accepts models of ``model_type`` (for modules that add a method)."""
    _SUPPORT.setdefault(function, {})[model_type] = what


def require_model(model: Any, function: str) -> str:
    """Return the model's type name when ``function`` is defined for it, else raise an
    :class:`InputError` naming the type, the supported types and what to use instead."""
    kind = type(model).__name__
    supported = _SUPPORT.get(function, {})
    if kind in supported and isinstance(model, FittedModel):
        return kind
    what = "None" if model is None else f"a {kind}"
    instead = _INSTEAD.get((function, kind))
    listed = "; ".join(f"{k} ({v})" for k, v in supported.items())
    msg = f"{function} is not defined for {what}; it accepts {listed}"
    if instead:
        msg += f". For a {kind}: {instead}"
    raise InputError(msg)
