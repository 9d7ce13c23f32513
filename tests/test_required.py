"""tool_choice="required": at least one call, every call valid, the protocol around it intact."""

import pytest

from toolcall_conformance.inputs.cases import required_cases


@pytest.mark.cases(build=required_cases)  # one test per case, built from the run's tool sets (ours and --toolsets)
def test_required(case, exchange, judge):
    judge(case, exchange)
