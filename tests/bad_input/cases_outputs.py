"""Bad inputs of the publication outputs (issue 21): report formats, figure styles, labels.

``table_one`` has an engine (its rows run on both); the renderer, styles, labels and builders
have none.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from her2stats.errors import ConfigError, InputError

from ._case import Case

NO_ENGINE = (None,)


def _demo() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({"her2_status": np.where(rng.random(n) < 0.4, "positive", "negative"),
                         "age": rng.normal(55, 10, n).round(), "er": np.where(rng.random(n) < 0.7, "positive", "negative")})


def _table_one(engine, labels):
    from her2stats.stats.tables import table_one

    return table_one(_demo(), "her2_status", variables=["age", "er"], labels=labels, engine=engine)


def _render(formats):
    from her2stats.reporting.render import parse_formats

    return parse_formats(formats)


def _style_figure(style):
    from her2stats.reporting.style import get_style

    return get_style(style)


def _km(labels):
    import matplotlib

    matplotlib.use("Agg")
    from her2stats.reporting.figures import km_figure
    from her2stats.stats.survival import kaplan_meier

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"t": rng.exponential(500, 80) + 1, "e": rng.integers(0, 2, 80),
                       "her2_status": np.where(rng.random(80) < 0.5, "positive", "negative")})
    return km_figure(kaplan_meier(df, "t", "e", group="her2_status", engine="python"), labels=labels)


def _config(overrides):
    from pathlib import Path

    from her2stats.reporting.config import load_config

    return load_config(Path(__file__).resolve().parents[2] / "reports" / "demo.yaml", overrides=overrides)


def _figure_width(width):
    from her2stats.reporting.style import get_style

    return get_style("nature").figsize(width)


def _save_format(fmt):
    import matplotlib

    matplotlib.use("Agg")
    import tempfile

    import matplotlib.pyplot as plt

    from her2stats.reporting.style import save_figure

    fig = plt.figure()
    try:
        return save_figure(fig, tempfile.mkdtemp() + "/f", formats=(fmt,))
    finally:
        plt.close(fig)


CASES = [
    Case("report/unknown-format", lambda e: _render("html,odt"), ConfigError, ("'odt'", "html", "docx", "pdf"),
         engines=NO_ENGINE),
    Case("report/empty-format", lambda e: _render(" , "), ConfigError, ("no report format",), engines=NO_ENGINE),
    Case("report/config-unknown-format", lambda e: _config({"report": {"formats": ["html", "rtf"]}}), ConfigError,
         ("report.formats",), engines=NO_ENGINE),
    Case("style/unknown-style", lambda e: _style_figure("lancet"), InputError, ("'lancet'", "radiology", "nature"),
         engines=NO_ENGINE),
    Case("style/config-unknown-style", lambda e: _config({"report": {"style": "jama"}}), ConfigError,
         ("report.style", "'jama'"), engines=NO_ENGINE),
    Case("style/width-out-of-range", lambda e: _figure_width(500), InputError, ("20-300 mm", "500"),
         engines=NO_ENGINE),
    Case("style/unknown-width", lambda e: _figure_width("triple"), InputError, ("'triple'", "single", "double"),
         engines=NO_ENGINE),
    Case("figure/unknown-file-format", lambda e: _save_format("bmp"), InputError, ("bmp",), engines=NO_ENGINE),
    Case("table_one/labels-unknown-column", lambda e: _table_one(e, {"tumour_size": "Size (mm)"}), InputError,
         ("'tumour_size'", "table_one labels")),
    Case("table_one/labels-not-text", lambda e: _table_one(e, {"age": 42}), InputError, ("labels['age']",)),
    Case("table_one/labels-unknown-field", lambda e: _table_one(e, {"er": {"title": "ER"}}), InputError,
         ("'title'", "label, unit, levels")),
    Case("km_figure/labels-unknown-column", lambda e: _km({"her2": "HER2"}), InputError, ("'her2'",),
         engines=NO_ENGINE),
    Case("config/labels-not-a-mapping-value", lambda e: _config({"labels": {"age": ["Age"]}}), ConfigError,
         ("labels", "'age'"), engines=NO_ENGINE),
]


def _study_labels(tmp_labels):
    import tempfile
    from pathlib import Path

    from her2stats.reporting.config import load_config
    from her2stats.reporting.study import run_study

    cfg = load_config(Path(__file__).resolve().parents[2] / "reports" / "demo.yaml", overrides={"labels": tmp_labels})
    return run_study(cfg, fast=True, outdir=Path(tempfile.mkdtemp()) / "out")


CASES.append(Case("run_study/labels-unknown-column", lambda e: _study_labels({"tumour_size": "Size (mm)"}),
                  InputError, ("labels", "'tumour_size'", "not in the cohort", "did you mean 'tumor_size_mm'"),
                  engines=NO_ENGINE))


def _register(**params):
    from her2stats.reporting.style import STYLES, register_style

    try:
        return register_style("test-journal", **params)
    finally:
        STYLES.pop("test-journal", None)


CASES += [
    Case("register_style/single-wider-than-double", lambda e: _register(single_mm=200, double_mm=180), InputError,
         ("single_mm", "200"), engines=NO_ENGINE),
    Case("register_style/unknown-setting", lambda e: _register(colour="red"), InputError, ("'colour'",),
         engines=NO_ENGINE),
]
