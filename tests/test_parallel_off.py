"""tool_choice="required" with parallel_tool_calls=false: one call, not more."""

import pytest

from toolcall_conformance.inputs.cases import parallel_off_cases


@pytest.mark.cases(build=parallel_off_cases)
def test_parallel_off(case, exchange, judge):
    judge(case, exchange)
