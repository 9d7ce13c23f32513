"""The same seeded request, streamed and blocking, yields the same calls."""

import pytest

from toolcall_conformance.inputs.cases import equivalence_pairs


@pytest.mark.cases(build=equivalence_pairs)
def test_stream_matches_blocking(pair, exchange_pair, judge_pair):
    judge_pair(pair, exchange_pair)
