"""One generated test under Hypothesis: the profiles, the example database, and a run that sends each example,
judges it (judging/generated.py), logs it, and raises a failure Hypothesis can shrink to a minimal tool set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import hypothesis
import hypothesis.database
import hypothesis.errors
from hypothesis import HealthCheck, Phase

from .inputs.cases import Choice, Mode, ToolSet
from .inputs.strategies import Tool, generated_case
from .judging.generated import BudgetSpent, Example, Outcome, Tally, classify, summary_judgement
from .judging.registry import Views
from .judging.sdk import sdk_view
from .judging.verdict import Judgement, Verdict
from .reporting.examples import example_reproducer, explain, log_document
from .reporting.results import file_stem
from .settings import Settings
from .wire.client import Exchange

# How many examples each of the suite's generated tests runs under a Hypothesis profile, where the suite wants
# another number than the profile's own. They go into the generated tests' own settings (generated_settings):
# Hypothesis's profiles, its "ci" among them, are never changed, so no one else's tests change with them.
EXAMPLES_UNDER = {"ci": 20, "thorough": 500}
# A failure that does not come back every time it is sent (a check that depends on timing, as llama.cpp's per-chunk
# `created` does) keeps Hypothesis shrinking until its own limit, five minutes of it: measured against llama.cpp,
# one test sent 5157 examples in 330 s. A test sends at most this many examples per example it generates; there it
# stops (BudgetSpent) and reports the last failure it met, the smallest the shrinker had reached.
SHRINK_BUDGET_PER_EXAMPLE = 25


def register_profiles() -> None:
    """Make --hypothesis-profile=thorough loadable: a profile of that name, unless one is registered already.

    Called by the suite's session only, before Hypothesis loads the profile; "ci" and "default" are Hypothesis's
    own. Which profile is loaded decides the suite's example counts (EXAMPLES_UNDER), not the profile's values."""
    try:
        hypothesis.settings.get_profile("thorough")
    except hypothesis.errors.InvalidArgument:
        hypothesis.settings.register_profile("thorough", hypothesis.settings.get_profile("default"))


def replay_seed(test: object) -> int | str | None:
    """The seed that replays a test's examples with --hypothesis-seed; None when derandomized (ci profile)."""
    if hypothesis.settings.default.derandomize:
        return None  # the same examples on every run: the same command replays them
    forced = getattr(hypothesis.core, "global_force_seed", None)
    return forced if forced is not None else getattr(test, "_hypothesis_internal_use_generated_seed", None)


class ReportDatabase(hypothesis.database.ExampleDatabase):
    """Hypothesis's example database, kept under the run's report directory once the session knows where that is.

    Settings are fixed when a test module is imported, before --report-dir is resolved; this stand-in is what
    they hold, and `place` points it at <report dir>/hypothesis before the first example runs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.inner: hypothesis.database.ExampleDatabase = hypothesis.database.InMemoryExampleDatabase()

    def place(self, directory: Path) -> None:
        """Keep examples in this directory from now on."""
        if getattr(self.inner, "path", None) != directory:
            self.inner = hypothesis.database.DirectoryBasedExampleDatabase(directory)

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.inner.fetch(key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(src, dest, value)


class GeneratedFailure(AssertionError):
    """A generated example the server got wrong; Hypothesis shrinks it to a minimal tool set."""


@cache
def failure_type(key: tuple[str, ...]) -> type[GeneratedFailure]:
    """One exception class per kind of failure, so Hypothesis shrinks and reports each kind on its own."""
    return type("GeneratedFailure", (GeneratedFailure,), {"key": key, "__module__": __name__})


def replay_command(nodeid: str, profile: str, seed: int | str | None) -> str:
    """The command that sends a generated test's examples again."""
    if seed is None:
        return f"pytest '{nodeid}' --hypothesis-profile={profile} (derandomized: every run sends the same examples)"
    return f"pytest '{nodeid}' --hypothesis-profile={profile} --hypothesis-seed={seed}"


class Recorder(Protocol):
    """What a generated test writes through: report.RunRecorder, which scrubs the key out of all of it."""

    run_dir: Path

    def scrub(self, text: str) -> str: ...

    def write_json(self, relative: str, document: Any, indent: int | None = 2) -> Path: ...


class GeneratedRun:
    """The examples of one generated test: each sent, judged, logged; a failure raised with its explanation.

    The session concludes the test when Hypothesis is done with it (ConformanceSession.pytest_runtest_call): finish() gives
    its one judgement, which goes through the baseline and into results.json like any test's."""

    def __init__(
        self,
        test_id: str,
        send: Callable[[dict[str, Any]], Exchange],
        options: Settings,
        recorder: Recorder,
        replay: Callable[[int | str | None], str] = lambda seed: f"--hypothesis-seed={seed}",
        seed_of: Callable[[], int | str | None] = lambda: None,
        death: Callable[[], str | None] = lambda: None,
        views: Views = sdk_view,
    ) -> None:
        self.test_id, self.send, self.options, self.recorder = test_id, send, options, recorder
        self.replay_of, self.seed_of, self.death, self.views = replay, seed_of, death, views
        self.tally = Tally()
        self.first_failure: Example | None = None  # kept for a server that dies while Hypothesis shrinks it
        self.last_failure: Example | None = None  # kept for a test that spends its budget of examples shrinking

    @property
    def seed(self) -> int | str | None:
        """The seed Hypothesis generates this test's examples from (None when derandomized)."""
        return self.seed_of()

    def check(
        self, tools: list[Tool], mode: Mode, choice: Choice, named_index: int = 0, drawn_from: ToolSet | None = None
    ) -> Example:
        """Send one tool set, judge the answer; raise a GeneratedFailure when the server got it wrong.

        drawn_from: the user's tool set the tools were drawn from, whose conversation asks for them."""
        __tracebackhide__ = True  # the failure message says it all; the frames of this module do not help
        final = is_final_example()
        budget = example_budget()
        if not final and sum(self.tally.outcomes.values()) >= budget:
            raise BudgetSpent(budget)
        case = generated_case(tools, mode, choice, named_index, drawn_from=drawn_from)
        example = classify(self.test_id, case, self.send(case.body(self.options)), self.death(), self.views)
        self.tally.add(example, final)
        if example.failed:
            self.first_failure, self.last_failure = self.first_failure or example, example
            seed, replay = self.seed, self.replay_of(self.seed)
            reproducer = self._write_reproducer(example, seed, replay) if final else None
            message = self.recorder.scrub(explain(example, seed, reproducer, replay))
            raise failure_type(example.key)(message)
        return example

    def _reproducer_name(self, example: Example) -> str:
        return f"reproducers/{file_stem(self.test_id)}-{example.outcome.value}.json"

    def _write_reproducer(self, example: Example, seed: int | str | None, replay: str) -> str:
        path = self.recorder.write_json(self._reproducer_name(example), example_reproducer(example, seed, replay))
        return os.path.relpath(path)

    def finish(
        self, failure: BaseException | None = None, stopped: Judgement | None = None, spent: BudgetSpent | None = None
    ) -> Judgement:
        """Write generated/<test>.json and return the test's one judgement for results.json.

        failure: what stopped the test, if it raised; stopped: the not-run judgement of a server's death; spent: the
        test sent its budget of examples while shrinking a failure."""
        log = log_document(self.test_id, self.tally, self.seed)
        self.recorder.write_json(f"generated/{file_stem(self.test_id)}.json", log, indent=1)
        extra = self.tally.facts(self.seed)
        if stopped is not None:
            return self._stopped_by_death(stopped, extra)
        if spent is not None and self.last_failure is not None:
            return self._stopped_at_budget(self.last_failure, spent.budget, extra)
        if failure is not None and not self.tally.finals:  # not the server's failure: Hypothesis, or the suite
            note = f"the generated test stopped: {type(failure).__name__}: {failure}"
            return Judgement(self.test_id, Verdict.ERROR, note=note, extra={**extra, "outcome": Outcome.ERROR.value})
        judgement = summary_judgement(self.test_id, self.tally, self.seed)
        if self.tally.finals:
            judgement.reproducer = os.path.relpath(self.recorder.run_dir / self._reproducer_name(self.tally.finals[-1]))
        return judgement

    def _stopped_at_budget(self, example: Example, budget: int, extra: dict[str, Any]) -> Judgement:
        """The last failure met while shrinking, reported as it is: the budget stopped the shrinker there."""
        seed, replay = self.seed, self.replay_of(self.seed)
        note = (
            f"{example.outcome.value} example, shrinking stopped at the test's budget of {budget} examples (the failure"
            " did not come back every time it was sent: it may depend on timing), so it may not be minimal"
        )
        return Judgement(
            self.test_id,
            example.judgement.verdict,
            list(example.judgement.violations),
            list(example.judgement.judged),
            note=note,
            reproducer=self._write_reproducer(example, seed, replay),
            extra={**extra, "outcome": example.outcome.value},
        )

    def _stopped_by_death(self, stopped: Judgement, extra: dict[str, Any]) -> Judgement:
        """The server died: not run, unless an example of this test had failed first (maybe killing it).

        Hypothesis stops at the death without shrinking, so the first failing example stands, unshrunk."""
        examples = sum(self.tally.outcomes.values())
        judged = f"{examples} example{'s' if examples != 1 else ''} judged before"
        example = self.first_failure
        if example is None:
            return Judgement(self.test_id, Verdict.NOT_RUN, note=f"{stopped.note} ({judged})", extra=extra)
        seed, replay = self.seed, self.replay_of(self.seed)
        return Judgement(
            self.test_id,
            example.judgement.verdict,
            list(example.judgement.violations),
            list(example.judgement.judged),
            note=f"{example.outcome.value} example, not shrunk: then {stopped.note} ({judged})",
            reproducer=self._write_reproducer(example, seed, replay),
            extra={**extra, "outcome": example.outcome.value},
        )


DATABASE = ReportDatabase()  # of every generated test; placed under <report dir>/hypothesis by the session


def suite_profile(loaded: str) -> str:
    """The profile a user chose, from the name of the one loaded: Hypothesis's pytest plugin loads a profile of
    its own, "ci-with-verbose-verbosity" or "ci-with-explain-phase", for --hypothesis-verbosity and
    --hypothesis-explain, which must not change how many examples the suite sends."""
    return re.sub(r"(-with-\w+-verbosity)?(-with-explain-phase)?$", "", loaded)


def generated_settings() -> hypothesis.settings:
    """The Hypothesis settings of every generated test (tests/test_generated.py, tests/test_user_generated.py).

    Made when a test module is imported, not when this one is: settings inherit the profile loaded at the time
    they are made, and --hypothesis-profile is loaded after this module is imported. Under
    "ci" the suite runs 20 examples a test and shrinks one failure; under "thorough", 500 (EXAMPLES_UNDER)."""
    profile = suite_profile(hypothesis.settings.get_current_profile_name())
    wanted: dict[str, Any] = {}
    if profile in EXAMPLES_UNDER:
        wanted["max_examples"] = EXAMPLES_UNDER[profile]
    if profile == "ci":
        wanted["report_multiple_bugs"] = False
    return hypothesis.settings(
        **wanted,
        deadline=None,
        database=DATABASE,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no "explain": noise
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def example_budget() -> int:
    """How many examples one generated test may send, shrinking included (SHRINK_BUDGET_PER_EXAMPLE)."""
    profile = suite_profile(hypothesis.settings.get_current_profile_name())
    return SHRINK_BUDGET_PER_EXAMPLE * EXAMPLES_UNDER.get(profile, hypothesis.settings.default.max_examples)


def is_final_example() -> bool:
    """True while Hypothesis replays a minimal failing example for the last time (the one it reports)."""
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # outside a Hypothesis test, or its internals changed: treat as not final
        return False
