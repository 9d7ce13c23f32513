"""Turns cases (and modes, choices) into pytest parameters with readable ids and markers for -m selection."""

from __future__ import annotations

import pytest

from .cases import Case, Pair


def _marks(case: Case) -> list[pytest.MarkDecorator]:
    marks = [getattr(pytest.mark, case.mode), getattr(pytest.mark, case.choice)]
    if case.parallel_off:
        marks.append(pytest.mark.parallel_off)
    if case.toolset.is_seed:
        marks.append(pytest.mark.seed)
    if case.toolset.strict:
        marks.append(pytest.mark.strict)
    return marks


def case_params(cases: list[Case]) -> list[object]:
    """One parameter per case, id like 'weather-seed-stream'."""
    return [pytest.param(case, id=case.id, marks=_marks(case)) for case in cases]


def pair_params(pairs: list[Pair]) -> list[object]:
    """One parameter per blocking/streamed pair, id like 'weather-seed-required'."""
    return [
        pytest.param(pair, id=pair.id, marks=[pytest.mark.equivalence, *_marks(pair.blocking)[1:]]) for pair in pairs
    ]


MODE_PARAMS = [pytest.param(mode, marks=getattr(pytest.mark, mode)) for mode in ("blocking", "stream")]
CHOICE_PARAMS = [pytest.param(choice, marks=getattr(pytest.mark, choice)) for choice in ("required", "named")]
