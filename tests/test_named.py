"""A named tool_choice: exactly one call, to that function, valid against its schema."""

import pytest

from tests.params import case_params
from toolcall_conformance.inputs.cases import named_cases


@pytest.mark.parametrize("case", case_params(named_cases()))
def test_named(case, exchange, judge):
    judge(case, exchange)
