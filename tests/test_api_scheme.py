"""One shape for the public API (issue 16): one name per idea, one default seed, no private names
imported across modules, no import cycles.

* Names: every public function's parameters (everything in ``her2stats._LAZY`` and the ``__all__``
  of every public module), every public class's constructor and every result type's fields follow
  the scheme ``level``, ``n_boot``, ``seed``, ``scheduler``, ``engine``, bounds ``ci_low``/``ci_high``
  and prediction intervals ``pi_low``/``pi_high``. :data:`DENY` lists the names the scheme replaced;
  a ``*_low``/``*_high`` (``_lo``/``_hi``, ``_lower``/``_upper``) pair must be ``ci_``/``pi_``.
  The column names the package writes (string constants in its source) are held to the same list.
* Seeds: every ``seed`` parameter defaults to the core's ``DEFAULT_SEED`` (0).
* Imports: ``from .x import _y`` (or ``x._y``) across modules only from the statistics core;
  the import graph (TYPE_CHECKING blocks aside) has no cycle.

Exceptions are listed in the allowlists below, each with its reason.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import her2stats
from her2stats.results import Result

PKG = Path(her2stats.__file__).parent

#: names the scheme replaced (old name -> the one name of the idea)
DENY = {
    "conf_level": "level", "conf": "level", "confidence": "level", "conf_int": "level", "ci_level": "level",
    "B": "n_boot", "R": "n_boot", "nboot": "n_boot", "n_bootstrap": "n_boot", "n_boots": "n_boot",
    "bootstrap_B": "n_boot", "n_resamples": "n_boot",
    "random_state": "seed", "random_seed": "seed", "rng_seed": "seed",
    "backend": "engine",
    "lower": "ci_low", "upper": "ci_high", "ci_lower": "ci_low", "ci_upper": "ci_high",
    "ci_lo": "ci_low", "ci_hi": "ci_high", "lcl": "ci_low", "ucl": "ci_high",
}
_BOUND = re.compile(r"^(?P<stem>.*?)(?P<sep>_?)(?P<side>low|high|lo|hi|lower|upper)$")
_PAIR = {"low": "high", "high": "low", "lo": "hi", "hi": "lo", "lower": "upper", "upper": "lower"}

#: (qualified owner, name): why the name stands
ALLOW_NAMES = {
    # a percentile range of image intensities, not an interval estimate
    ("her2stats.imaging.IntensityNormalizer", "percentiles"): "not a bound",
}
#: functions whose seed default is not DEFAULT_SEED, and why
ALLOW_SEED = {
    "her2stats.data.demo.generate_demo_clinical": "the seed names the demo data set (DEMO_SEED), not a draw",
    "her2stats.data.demo.load_demo": "the seed names the demo data set (DEMO_SEED), not a draw",
    "her2stats.data.demo.demo_images": "the seed names the demo image set, not a draw",
    "her2stats.data.demo.load_demo_readers": "the seed names the demo second reader's readings, not a draw",
}
#: (file relative to the package, string): why a replaced name is a legitimate string there
ALLOW_STRINGS = {
    **{("results.py", old): "the map of deprecated attribute names" for old in ("conf_level", "lower", "upper")},
    **{("stats/_core.py", old): "the map of deprecated argument names"
       for old in ("conf_level", "random_state", "lower", "upper")},
    **{("stats/external.py", old): "the result's deprecated attribute names"
       for old in ("auc_lower", "auc_upper", "oe_lower", "oe_upper")},
    ("stats/pipeline_validation.py", "random_state"): "scikit-learn's parameter name, read from the user's pipeline",
    ("reporting/config.py", "bootstrap_B"): "the study config's deprecated key, mapped to validation.n_boot",
    **{(f"audit/{f}.py", w): "a published table's bound label (the audit reads papers)"
       for f in ("checks", "schema", "text", "core") for w in ("lower", "upper")},
}
#: one-letter names (B, R) are too common in strings (rms's row "B" is the Brier score) to scan
DENY_STRINGS = {k for k in DENY if len(k) > 1}


def _public_modules() -> list[str]:
    names = {"her2stats"} | {f"her2stats.{m}" for m in her2stats._LAZY.values()}
    for info in pkgutil.walk_packages([str(PKG)], prefix="her2stats."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        names.add(info.name)
    return sorted(names)


def _public_objects() -> dict[str, object]:
    """Public functions and classes by their defining module and qualified name."""
    found: list[object] = [getattr(her2stats, name) for name in her2stats._LAZY]
    for mod_name in _public_modules():
        mod = importlib.import_module(mod_name)
        for name in getattr(mod, "__all__", ()):
            found.append(getattr(mod, name, None))
    out: dict[str, object] = {}
    for obj in found:
        if obj is not None and (inspect.isfunction(obj) or inspect.isclass(obj)):
            out[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return out


def _result_types() -> set[type]:
    _public_objects()  # imports every public module, so every result type is defined
    seen: set[type] = set()
    todo = [Result]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return seen


def _parameters(obj: object) -> list[inspect.Parameter]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [p for p in sig.parameters.values() if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _off_scheme(names: list[str], owner: str) -> list[str]:
    bad = []
    present = set(names)
    for n in names:
        if (owner, n) in ALLOW_NAMES:
            continue
        if n in DENY:
            bad.append(f"{owner}: {n!r} (use {DENY[n]!r})")
            continue
        m = _BOUND.match(n)
        if not m or not (m["sep"] or m["stem"] == ""):
            continue
        other = f"{m['stem']}{m['sep']}{_PAIR[m['side']]}"
        if other not in present:
            continue
        if not (m["side"] in ("low", "high") and re.search(r"(^|_)(ci|pi)$", m["stem"])):
            bad.append(f"{owner}: {n!r} (a bound pair is <stem>_ci_low/_ci_high, or pi_ for prediction intervals)")
    return bad


def test_public_signatures_follow_the_naming_scheme():
    bad = []
    for qual, obj in _public_objects().items():
        if inspect.isclass(obj) and (issubclass(obj, (Result, BaseException)) or dataclasses.is_dataclass(obj)
                                     and issubclass(obj, Result)):
            continue
        bad += _off_scheme([p.name for p in _parameters(obj)], qual)
    assert not bad, "off-scheme parameter names:\n" + "\n".join(sorted(set(bad)))


def test_result_fields_follow_the_naming_scheme():
    bad = []
    for cls in _result_types():
        if dataclasses.is_dataclass(cls):
            bad += _off_scheme([f.name for f in dataclasses.fields(cls)], f"{cls.__module__}.{cls.__name__}")
    assert not bad, "off-scheme result fields:\n" + "\n".join(sorted(set(bad)))


def test_written_column_names_follow_the_naming_scheme():
    """String constants that look like identifiers (column names, dict keys) in the package source."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        consts = {node.value for node in ast.walk(ast.parse(path.read_text()))
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier()}
        for s in sorted(consts):
            if (rel, s) in ALLOW_STRINGS:
                continue
            if s in DENY_STRINGS or re.fullmatch(r"\w+_(lower|upper)", s):
                bad.append(f"{rel}: {s!r}")
    assert not bad, "off-scheme names written by the package:\n" + "\n".join(bad)


def test_every_seed_defaults_to_the_package_default():
    from her2stats.stats._core import DEFAULT_SEED

    bad = []
    for qual, obj in _public_objects().items():
        if inspect.isclass(obj) and issubclass(obj, (Result, BaseException)):
            continue
        for p in _parameters(obj):
            if p.name == "seed" and p.default is not inspect.Parameter.empty and p.default != DEFAULT_SEED \
                    and qual not in ALLOW_SEED:
                bad.append(f"{qual}: seed={p.default!r}")
    assert not bad, f"seed defaults other than DEFAULT_SEED={DEFAULT_SEED}:\n" + "\n".join(sorted(bad))


def test_old_names_still_work_with_a_deprecation_warning():
    import numpy as np

    from her2stats.stats.agreement import KappaResult
    from her2stats.stats.survival import ConcordanceResult

    r1 = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0] * 3)
    r2 = np.array([0, 1, 0, 0, 1, 0, 1, 1, 1, 0] * 3)
    with pytest.warns(DeprecationWarning, match="'conf_level' is deprecated; use 'level'"):
        k = her2stats.kappa(r1, r2, conf_level=0.9, engine="python")
    assert k.level == 0.9
    with pytest.warns(DeprecationWarning, match="KappaResult.conf_level is deprecated; use KappaResult.level"):
        assert k.conf_level == 0.9
    with pytest.raises(TypeError, match="both 'conf_level' and 'level'"):
        her2stats.kappa(r1, r2, conf_level=0.9, level=0.9, engine="python")
    assert "conf_level" not in inspect.signature(her2stats.kappa).parameters
    with pytest.warns(DeprecationWarning, match=r"ConcordanceResult\(lower=...\) is deprecated"):
        c = ConcordanceResult(concordance=0.7, se=0.05, lower=0.6, upper=0.8, concordant=1, discordant=1,
                              tied_x=0, tied_y=0, tied_xy=0, n=10, engine="python", level=0.95)
    with pytest.warns(DeprecationWarning, match="use ConcordanceResult.ci_low"):
        assert c.lower == 0.6
    with pytest.raises(AttributeError):
        c.not_a_field  # noqa: B018
    assert isinstance(KappaResult, type)


def test_renamed_arguments_reach_the_function():
    from her2stats.selection import make_pca

    with pytest.warns(DeprecationWarning, match="'random_state' is deprecated; use 'seed'"):
        pca = make_pca(3, random_state=5)
    assert pca.random_state == 5


# --------------------------------------------------------------------------- imports
def _modules() -> dict[str, Path]:
    mods = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _resolve(name: str, is_pkg: bool, level: int, module: str | None) -> str:
    base = name.split(".")
    if not is_pkg:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + (module.split(".") if module else []))


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    return [n for n in ast.walk(tree) if id(n) not in skip]


def _imports():
    """(module, target, imported name or attribute, line) for every her2stats import and module attribute use."""
    mods = _modules()
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        nodes = _runtime_nodes(ast.parse(path.read_text()))
        aliases: dict[str, str] = {}
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                src = _resolve(name, is_pkg, node.level, node.module) if node.level else (node.module or "")
                if not src.startswith("her2stats"):
                    continue
                for a in node.names:
                    full = f"{src}.{a.name}"
                    if full in mods:
                        aliases[a.asname or a.name] = full
                        yield name, full, None, node.lineno
                    else:
                        yield name, src, a.name, node.lineno
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in mods:
                        aliases[a.asname or a.name] = a.name
                        yield name, a.name, None, node.lineno
        for node in nodes:
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                yield name, aliases[node.value.id], node.attr, node.lineno


def test_no_private_names_imported_across_modules():
    bad = []
    for module, target, attr, line in _imports():
        if attr is None or not attr.startswith("_") or attr.startswith("__") or target == module:
            continue
        if target == "her2stats.stats._core":  # the core is the one shared private module
            continue
        bad.append(f"{module}:{line} uses {target}.{attr}")
    assert not bad, "private names used across modules (make them public or move them to the core):\n" + \
        "\n".join(sorted(set(bad)))


def test_no_import_cycles():
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, target, attr, _ in _imports():
        tgt = target if target in mods else None
        if tgt and tgt != module:
            graph[module].add(tgt)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_core_imports_no_other_statistics_module():
    tree = ast.parse((PKG / "stats" / "_core.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            pytest.fail(f"stats/_core.py imports from .{node.module}: the core must stay importable by every module")


def test_study_config_bootstrap_keys_renamed_with_old_keys_accepted():
    from her2stats.reporting.config import ValidationConfig

    with pytest.warns(DeprecationWarning, match="validation.bootstrap_B is deprecated; use validation.n_boot"):
        v = ValidationConfig(bootstrap_B=50, calibrate_B=60, fast_B=5)
    assert (v.n_boot, v.calibrate_n_boot, v.fast_n_boot) == (50, 60, 5)
    with pytest.raises(ValueError, match="deprecated name of validation.n_boot"):
        ValidationConfig(bootstrap_B=50, n_boot=50)


def test_renamed_functions_keep_warnings_at_the_callers_line():
    """Package warnings count their stack level (errors.find_stack_level): behind the deprecated-name
    wrapper a warning the function raises for its caller (dropped rows here) points at this file,
    not at the core or the wrapper."""
    import warnings

    import numpy as np
    import pandas as pd

    df = pd.DataFrame({"t": [5.0, 3, 8, 2, 9, 4, 7, 6, 1, 10] * 3, "d": [1, 0, 1, 1, 0, 1, 0, 1, 1, 0] * 3,
                       "g": ["a", "b"] * 15})
    df.loc[0, "t"] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        her2stats.kaplan_meier(df, "t", "d", "g", conf_level=0.9, engine="python")
    kinds = {w.category.__name__: w.filename for w in caught}
    assert kinds["DroppedRowsWarning"] == __file__ and kinds["DeprecationWarning"] == __file__
    assert kinds["DroppedRowsWarning"] == __file__


def test_every_package_warning_counts_its_stack_level():
    """No hand-counted ``stacklevel=<int>``: they drift as code moves between helpers."""
    import re

    bad = [f"{path.relative_to(PKG)}:{i}" for path in PKG.rglob("*.py")
           for i, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"stacklevel\s*=\s*\d", line)]
    assert not bad, f"hand-counted stacklevel (use errors.find_stack_level()): {bad}"
