"""A named tool_choice: exactly one call, to that function, valid against its schema."""

import pytest

from toolcall_conformance.inputs.cases import named_cases


@pytest.mark.cases(build=named_cases)
def test_named(case, exchange, judge):
    judge(case, exchange)
