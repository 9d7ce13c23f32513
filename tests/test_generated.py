"""Generated tool sets (Hypothesis): every call held to the curated checks; refusals, errors and hangs told apart.

Profiles: --hypothesis-profile=ci (20 examples a test, the same ones every run), default (100), thorough (500).
Each test's seed is kept in the report and shown with a failure: replay it with --hypothesis-seed=N. Failing
examples are also kept in the example database under <report dir>/hypothesis/ and tried first on the next run.
TCC_GENERATED_EXCLUDE=no-parameters,multipleOf leaves keywords out (a known defect otherwise hides the rest).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from toolcall_conformance.generated_run import GeneratedRun, ReportDatabase, replay_command
from toolcall_conformance.inputs.strategies import MAX_TOOLS, generated_tool_sets
from toolcall_conformance.plugin import RECORDER
from toolcall_conformance.settings import Settings
from toolcall_conformance.wire.dispatch import Dispatcher

pytestmark = pytest.mark.hypothesis


def replay_seed(test: object) -> int | str | None:
    """The seed that replays this test's examples with --hypothesis-seed; None when derandomized (ci profile)."""
    if settings.default.derandomize:
        return None  # the same examples on every run: the same command replays them
    forced = getattr(hypothesis.core, "global_force_seed", None)
    return forced if forced is not None else getattr(test, "_hypothesis_internal_use_generated_seed", None)


DATABASE = ReportDatabase()  # placed under <report dir>/hypothesis by the generated_run fixture
# Keywords (as keywords_used names them) left out of the generated tool sets, comma-separated: a known defect
# (e.g. "no-parameters" on vLLM 0.32.0) otherwise stops every test at its first example.
EXCLUDED = tuple(filter(None, (word.strip() for word in os.environ.get("TCC_GENERATED_EXCLUDE", "").split(","))))
MODES = [pytest.param(mode, marks=getattr(pytest.mark, mode)) for mode in ("blocking", "stream")]
CHOICES = [pytest.param(choice, marks=getattr(pytest.mark, choice)) for choice in ("required", "named")]
STRICTNESS = [pytest.param("strict", marks=pytest.mark.strict), "plain"]


@pytest.fixture
def generated_run(
    request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
    dispatcher: Dispatcher,
    request_settings: Settings,
) -> Iterator[GeneratedRun]:
    """The examples of one generated test; the plugin concludes it (results.json, baseline) when Hypothesis is done."""
    recorder = request.config.stash[RECORDER]
    DATABASE.place(recorder.report_dir / "hypothesis")
    profile = settings.get_current_profile_name()
    run = GeneratedRun(
        request.node.name,
        dispatcher.exchange,
        request_settings,
        recorder,
        replay=lambda seed: replay_command(request.node.nodeid, profile, seed),
        seed_of=lambda: replay_seed(request.function),
        death=lambda: dispatcher.died,
    )
    yield run
    record_property("hypothesis_seed", run.seed)


@pytest.mark.parametrize("strictness", STRICTNESS)
@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize("mode", MODES)
@settings(
    deadline=None,
    database=DATABASE,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no "explain": noise here
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_generated(data: st.DataObject, mode: str, choice: str, strictness: str, generated_run: GeneratedRun) -> None:
    tools = data.draw(generated_tool_sets(strictness, exclude=EXCLUDED), label="tools")
    named = data.draw(st.integers(0, MAX_TOOLS - 1), label="named tool index") if choice == "named" else 0
    __tracebackhide__ = True
    generated_run.check(tools, mode, choice, named)  # type: ignore[arg-type]
