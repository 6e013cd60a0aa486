from __future__ import annotations

import pytest

import her2stats
from her2stats.engine import resolve_engine


def test_set_engine_and_resolve():
    try:
        her2stats.set_engine("python")
        assert her2stats.get_engine() == "python"
        assert resolve_engine(None) == "python"
        assert resolve_engine("r") == "r"
        her2stats.set_engine(None)
        assert her2stats.get_engine() in ("r", "python")
    finally:
        her2stats.set_engine(None)


def test_bad_engine_is_refused():
    with pytest.raises(her2stats.InputError, match="engine must be one of"):
        resolve_engine("julia")
    with pytest.raises(her2stats.InputError):
        her2stats.set_engine("stata")


def test_fallback_to_python_without_r(monkeypatch):
    import her2stats.engine as eng

    monkeypatch.setattr(eng, "r_available", lambda: False)
    monkeypatch.setattr(eng, "_warned", False)
    monkeypatch.setattr(eng, "_default", None)
    with pytest.warns(RuntimeWarning, match="falls back to engine='python'"):
        assert eng.get_engine() == "python"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        assert eng.get_engine() == "python"


def test_unknown_top_level_name():
    with pytest.raises(AttributeError):
        her2stats.not_a_function  # noqa: B018
