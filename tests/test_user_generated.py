"""Probes drawn from your own tool sets (--toolsets DIR): Hypothesis varies them and shrinks a failure.

Each example sends some of the set's tools with some optional properties left out, with or without "strict":
true, and the set's own conversation (the set as written is what test_required and the others send). A failure shrinks towards one tool with its required
properties only. Collected only when the run has tool sets of its own.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolcall_conformance.generated_run import GeneratedRun, generated_settings
from toolcall_conformance.inputs.cases import ToolSet, user_sets
from toolcall_conformance.inputs.params import CHOICE_PARAMS, MODE_PARAMS
from toolcall_conformance.inputs.strategies import variants_of

pytestmark = pytest.mark.hypothesis


@pytest.mark.parametrize("choice", CHOICE_PARAMS)
@pytest.mark.parametrize("mode", MODE_PARAMS)
@pytest.mark.cases(build=user_sets)  # one test per tool set of --toolsets, as the "toolset" parameter
@generated_settings()
@given(data=st.data())
def test_user_generated(
    data: st.DataObject, toolset: ToolSet, mode: str, choice: str, generated_run: GeneratedRun
) -> None:
    tools = data.draw(variants_of(toolset.tools), label="tools")
    named = data.draw(st.integers(0, len(tools) - 1), label="named tool index") if choice == "named" else 0
    __tracebackhide__ = True
    generated_run.check(tools, mode, choice, named, drawn_from=toolset)  # type: ignore[arg-type]
