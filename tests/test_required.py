"""tool_choice="required": at least one call, every call valid, the protocol around it intact."""

import pytest

from tests.params import case_params
from toolcall_conformance.inputs.cases import required_cases


@pytest.mark.parametrize("case", case_params(required_cases()))
def test_required(case, exchange, judge):
    judge(case, exchange)
