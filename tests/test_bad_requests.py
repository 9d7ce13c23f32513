"""Requests a server must refuse (schemas/bad-requests.json): a 4xx with OpenAI's error object, and still serving."""

import pytest

from toolcall_conformance.inputs.bad_requests import bad_requests


@pytest.mark.bad_request
@pytest.mark.parametrize("bad_request", [pytest.param(case, id=case.id) for case in bad_requests()])
def test_bad_requests(bad_request, judge_bad_request):
    judge_bad_request(bad_request)
