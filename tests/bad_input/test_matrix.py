"""The bad-input matrix (trust issue): every row runs on every engine it names, and each engine
must raise the same error class with a message naming the column, file, value or cause.

Rows live in ``cases_*.py`` beside this file; see ``_case.Case``.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
import warnings
from pathlib import Path

import pytest

from ._case import Case

MIN_CASES = 150


def _collect() -> list[Case]:
    cases: list[Case] = []
    here = Path(__file__).parent
    for mod in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if mod.name.startswith("cases_"):
            cases += importlib.import_module(f"{__package__}.{mod.name}").CASES
    return cases


CASES = _collect()


def _params():
    out = []
    for case in CASES:
        for engine in case.engines:
            marks = [pytest.mark.r] if engine == "r" else []
            out.append(pytest.param(case, engine, id=f"{case.id}[{engine}]", marks=marks))
    return out


def test_matrix_is_large_and_ids_unique():
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids), sorted({i for i in ids if ids.count(i) > 1})
    assert sum(len(c.engines) for c in CASES) >= MIN_CASES


def _check_words(message: str, words: tuple[str, ...], case_id: str) -> None:
    low = message.lower()
    missing = [w for w in words if w.lower() not in low]
    assert not missing, f"{case_id}: message lacks {missing}: {message!r}"


@pytest.mark.parametrize(("case", "engine"), _params())
def test_bad_input(case: Case, engine):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if case.error is not None:
            with pytest.raises(BaseException) as info:
                case.call(engine)
            assert isinstance(info.value, case.error), (
                f"{case.id} [{engine}]: expected {case.error.__name__}, got "
                f"{type(info.value).__name__}: {info.value}")
            _check_words(str(info.value), case.words, case.id)
        else:
            case.call(engine)
    if case.warning is not None:
        hits = [w for w in caught if issubclass(w.category, case.warning)]
        assert hits, f"{case.id} [{engine}]: no {case.warning.__name__} among {[str(w.message) for w in caught]}"
        if case.error is None:
            assert any(all(x.lower() in str(w.message).lower() for x in case.words) for w in hits), (
                f"{case.id} [{engine}]: no {case.warning.__name__} names {case.words}: "
                f"{[str(w.message) for w in hits]}")
