"""The conformance suite's session: one object that owns a run of the suite and is its pytest face.

plugin.py registers it in pytest_configure, and only when the run holds the suite's tests (pytest's stepwise
and cacheprovider plugins are built the same way), so a session that is not the suite's never meets it. It owns
the settings, the tool sets, the embedded target, the recorder, the baseline and, while tests run, the sending
process and the SDK view's source. The hooks are its methods; the fixtures (fixtures.py, registered beside it)
ask it for what they give, and every test ends through conclude(), whose pytest outcome is ending.ending_of's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest

from . import ConformanceWarning
from .data import SUITE_DIR
from .ending import Outcome, ending_of
from .generated_run import DATABASE, GeneratedRun, register_profiles, replay_command, replay_seed
from .inputs.bad_requests import BadRequest, follow_up_body
from .inputs.cases import Case, Pair, ToolSet
from .inputs.params import case_params, pair_params
from .inputs.toolsets import ToolSetError, run_toolsets
from .judging.generated import BudgetSpent, NotRun
from .judging.judge import judge_exchange, judge_pair
from .judging.judge import warm_up as warm_up_judging
from .judging.refusal import judge_refusal
from .judging.registry import Views
from .judging.sdk import sdk_view
from .judging.sdk_worker import SdkViewWorker
from .judging.verdict import Judgement, Verdict, combine, transport_judgement
from .redact import url_without_credentials
from .reporting.compare import RunDiff, diff, load_baseline
from .reporting.expectations import Expected
from .reporting.expectations import compare as compare_expectation
from .reporting.explain import render
from .reporting.progress import Progress
from .reporting.report import RunRecorder
from .reporting.results import is_generated
from .settings import Settings, resolve
from .target.embedded import EmbeddedTarget, EmbeddedTargetError
from .target.llamacpp import ENGINE_NAMES
from .wire.client import Exchange, send_with_follow_up
from .wire.dispatch import Dispatcher
from .wire.preflight import PreflightError, Target, preflight

# What the xdist controller hands each worker (node.workerinput): the embedded target's URL or why it did not
# start, and the run directory all of them write into.
WORKER_ENDPOINT = "tcc_endpoint"
WORKER_ENDPOINT_ERROR = "tcc_endpoint_error"
WORKER_RUN_DIR = "tcc_run_dir"
# Test modules built from the suite's own tool definitions, and the one built only from a user's (--toolsets).
OURS_ONLY = frozenset({"test_generated.py", "test_bad_requests.py", "test_seed_sdk.py"})
USERS_ONLY = frozenset({"test_user_generated.py"})
MARKERS = {
    "blocking": "the request is sent with stream=false",
    "stream": "the request is sent with stream=true",
    "required": 'tool_choice="required"',
    "named": "tool_choice names one function",
    "parallel_off": "parallel_tool_calls=false",
    "equivalence": "streamed and blocking answers of one request are compared",
    "seed": "the scenario of vLLM's example client, verbatim",
    "strict": 'the tools say "strict": true',
    "hypothesis": "generated tool sets (tests/test_generated.py)",
    "bad_request": "requests a server must refuse (tests/test_bad_requests.py)",
    "sdk_client": "sent by the openai SDK itself, as vLLM's example client does (tests/test_seed_sdk.py)",
    "cases(build)": "one test per Case, Pair or ToolSet that build(the run's tool sets) makes",
}
# From this many requests sent ahead, the SDK's view is worked out in a process of its own (sdk_worker.py); for
# fewer, that process's start (it imports openai-python) costs more than it takes off the tests.
SDK_WORKER_FROM = 32


class ConformanceSession:
    """One run of the suite: its settings, tool sets, target, recorder and baseline; pytest's hooks and fixtures."""

    NAME = "toolcall-conformance-session"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
        settings = resolve(config)
        shared_endpoint = (self.workerinput or {}).get(WORKER_ENDPOINT)
        if shared_endpoint and not settings.endpoint:
            settings = dataclasses.replace(settings, endpoint=shared_endpoint)
        self.settings = settings
        try:
            self.toolsets = run_toolsets(
                [Path(config.rootpath, directory) for directory in settings.toolsets], settings.only_user_toolsets
            )
        except ToolSetError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.baseline: dict[str, Expected] | None = None
        if settings.baseline:
            try:
                self.baseline = load_baseline(Path(config.rootpath) / settings.baseline)
            except (OSError, ValueError, KeyError) as exc:
                raise pytest.UsageError(f"--baseline {settings.baseline}: {exc}") from None
        shared_run_dir = (self.workerinput or {}).get(WORKER_RUN_DIR)
        self.recorder = RunRecorder(
            Path(config.rootpath) / settings.report_dir, settings, Path(shared_run_dir) if shared_run_dir else None
        )
        self.progress: Progress | None = None
        self.embedded: EmbeddedTarget | None = None
        self.embedded_error = ""
        self.run_diff: RunDiff | None = None
        self.results_path: Path | None = None
        self.views: Views = sdk_view  # the worker's while the sending process runs (sending)
        self.died: Callable[[], str | None] = lambda: None  # how the server died, once the dispatcher says so

    @classmethod
    def start(cls, config: pytest.Config) -> ConformanceSession:
        """The session of this run, with what it changes in pytest's configuration done: markers, the JUnit
        file, the progress lines and the suite's Hypothesis profile."""
        session = cls(config)
        for name, description in MARKERS.items():
            config.addinivalue_line("markers", f"{name}: {description}")
        register_profiles()
        if session.workerinput is None:
            if config.option.xmlpath is None and not config.option.collectonly:
                config.option.xmlpath = str(session.recorder.run_dir / "junit.xml")
            session.progress = Progress(session._write_line, session.settings.progress_every)
            config.pluginmanager.register(session.progress, "tcc-progress")
        return session

    def _write_line(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(self.recorder.scrub(line))

    # ------------------------------------------------------------ collection

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Every test collected, before -k/-m deselect: a baseline's test missing here was removed, not deselected.

        Bad requests go last: a server they break must not take the rest of the suite down with it. Each
        stream-versus-blocking comparison runs right after the last test that asks for one of its two answers."""
        self.recorder.collected.update(item.name for item in items)
        items.sort(key=lambda item: item.get_closest_marker("bad_request") is not None)
        items[:] = comparisons_after_their_answers(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            labels = labels_of(item)
            if labels:
                self.recorder.labels[item.name] = labels

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """--only-user-toolsets leaves out the tests built from the suite's own tools; without --toolsets there is
        nothing to draw the user probes from."""
        if collection_path.parent.resolve() != SUITE_DIR.resolve():
            return None
        if collection_path.name in OURS_ONLY and self.settings.only_user_toolsets:
            return True
        if collection_path.name in USERS_ONLY and not any(toolset.is_user for toolset in self.toolsets):
            return True
        return None

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """@pytest.mark.cases(build=f): one test per Case (parameter "case"), Pair ("pair") or ToolSet ("toolset")
        that build makes of the run's tool sets: the curated ones and those of --toolsets."""
        marker = metafunc.definition.get_closest_marker("cases")
        if marker is None:
            return
        subjects = marker.kwargs["build"](self.toolsets)
        if all(isinstance(subject, Pair) for subject in subjects):
            metafunc.parametrize("pair", pair_params(subjects))
        elif all(isinstance(subject, Case) for subject in subjects):
            metafunc.parametrize("case", case_params(subjects))
        else:
            metafunc.parametrize("toolset", subjects, ids=[toolset.id for toolset in subjects])

    # ------------------------------------------------------------ the target

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Under xdist the controller starts the embedded target once and hands its URL to every worker."""
        node.workerinput[WORKER_RUN_DIR] = str(self.recorder.run_dir)
        if self.settings.endpoint or self.config.option.collectonly:
            return
        try:
            node.workerinput[WORKER_ENDPOINT] = self.embedded_endpoint()
        except EmbeddedTargetError as exc:
            node.workerinput[WORKER_ENDPOINT_ERROR] = str(exc)

    def embedded_endpoint(self) -> str:
        """Start the embedded target on first use; later calls get the same URL."""
        if self.embedded_error:
            raise EmbeddedTargetError(self.embedded_error)  # one failed start is enough: every worker gets it
        if self.embedded is None:
            engine = self.settings.target_engine
            self._say_target(
                f"no --endpoint given: starting {ENGINE_NAMES.get(engine, engine)}"
                f" with the tiny {self.settings.target_flavour} model"
            )
            try:
                self.embedded = EmbeddedTarget(self.settings, self.recorder.run_dir / f"{engine}.log", self._say_target)
                self.embedded.start()
            except EmbeddedTargetError as exc:
                self.embedded_error = str(exc)
                raise
            self.recorder.target.update(self.embedded.describe())
            server = self.embedded.server
            self._say_target(f"ready at {server.base_url} after {server.startup_seconds:.0f} s")
        return self.embedded.server.base_url

    def _say_target(self, message: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(f"embedded target: {message}"[:160])

    def pytest_unconfigure(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()

    # ------------------------------------------------------------ the end of the run

    @pytest.hookimpl(trylast=True)  # after pytest's own, which tears the session fixtures (the dispatcher) down
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        recorder = self.recorder
        recorder.complete = exitstatus != pytest.ExitCode.INTERRUPTED
        if self.workerinput is not None:
            if recorder.records:
                recorder.write_part(self.workerinput["workerid"])
            return
        recorder.merge_parts()
        if not recorder.records:
            return
        if self.baseline is not None:
            self.run_diff = diff(self.baseline, recorder.document(), against=self.settings.baseline or "")
            recorder.baseline = self.run_diff.to_json()
            if self.run_diff.failed(self.settings.fail_on) and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if recorder.server_death and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        # Skips that judged nothing pass in pytest's terms: a run of mostly truncated answers must not go green.
        if recorder.judged().too_little and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        recorder.exit_status = int(session.exitstatus)
        self.results_path = recorder.write()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        path, recorder = self.results_path, self.recorder
        if path is None:
            return

        def say(line: str, **markup: bool) -> None:  # every line scrubbed: a server may echo anything
            terminalreporter.write_line(recorder.scrub(line), **markup)

        document = recorder.document()
        totals = ", ".join(f"{count} {verdict}" for verdict, count in sorted(document["totals"].items()))
        terminalreporter.write_sep("-", "tool-call conformance")
        say(f"target: {recorder.target.get('endpoint')} model {recorder.target.get('model')}")
        say(f"verdicts: {totals}; {recorder.requests_sent} requests sent")
        say(f"report: {path.parent / 'report.html'} (data: {path.name}, {path.parent.name}/summary.md)")
        if recorder.server_death:
            say(f"SERVER DIED: {recorder.server_death}", red=True, bold=True)
        share = recorder.judged()
        if share.too_little:
            say(f"JUDGED TOO LITTLE: {share.line()}", red=True, bold=True)
        elif share.unjudged:
            say(f"not judged: {share.line()}")
        if self.run_diff is not None:
            say(f"compared with the baseline (--fail-on={self.settings.fail_on}):")
            for line in self.run_diff.render_text().splitlines():
                say(f"  {line}", red=line.lstrip().lower().startswith("regression"))

    # ------------------------------------------------------------ what the fixtures (fixtures.py) ask for

    def resolve_target(self) -> Target:
        """The server under test, checked once before the first request."""
        settings = self.settings
        endpoint, problem = settings.endpoint, (self.workerinput or {}).get(WORKER_ENDPOINT_ERROR)
        if not endpoint and not problem:
            try:
                endpoint = self.embedded_endpoint()
            except EmbeddedTargetError as exc:
                problem = f"embedded target: {exc}"
        if not problem:
            try:
                found = preflight(endpoint or "", settings.api_key, settings.model, verify=settings.verify)
            except PreflightError as exc:
                problem = f"preflight failed: {exc}"
        if problem:
            pytest.fail(self.recorder.scrub(problem), pytrace=False)
        self.recorder.target.update(
            {
                "endpoint": url_without_credentials(found.endpoint),
                "model": found.model,
                "server_version": found.server_version,
            }
        )
        return found

    def sending(self, items: list[pytest.Item], settings: Settings) -> Iterator[Dispatcher]:
        """The sending process, with every selected test's request sent ahead, in test order, a bounded number at
        once; the SDK view's worker beside it when there are enough answers to pay for its start."""
        recorder = self.recorder
        log_path = recorder.run_dir / "dispatch.log"
        # xdist hands tests to workers as they go, so a worker cannot know its share in advance: there each
        # test sends its own request when it runs, the workers are the concurrency, and each judges its own.
        ahead = self.workerinput is None
        bodies = [
            case.body(settings, repetition)
            for item in (items if ahead else [])
            for case in cases_of(item)
            for repetition in range(settings.repeat)
        ]
        worker = SdkViewWorker(log_path) if len(bodies) >= SDK_WORKER_FROM else None
        sender = Dispatcher(
            settings.endpoint or "",
            settings.api_key,
            settings.request_timeout,
            settings.concurrency,
            retries=settings.retry_overloaded,
            verify=settings.verify,
            log_path=log_path,
            on_answer=worker.expect if worker is not None else None,
        )
        self.views = worker.view_of if worker is not None else sdk_view
        self.died = lambda: sender.died
        if self.progress is not None:
            self.progress.requests = lambda: (sender.answered, sender.queued)
        try:
            for body in bodies:
                sender.submit(body)
            if worker is None:  # else the worker does the SDK's work, and this process never needs openai-python
                warm_up_judging()  # while the first answers are on their way
            yield sender
        finally:
            self.views = sdk_view
            if worker is not None:
                worker.close()
            sender.close()  # last: it removes the log both processes share when neither said anything
            recorder.sdk_views_from_worker = worker.given if worker is not None else 0
            recorder.requests_sent += sender.sent
            recorder.first_request = sender.first_sent
            recorder.last_answer = sender.last_answered
            if sender.death is not None:
                recorder.server_death = sender.death.describe()

    def usable(self, exchange: Exchange, test_id: str) -> Exchange:
        """The exchange, if it happened; otherwise the test ends here: an error, a timeout, or not run."""
        if exchange.transport_error is None:
            return exchange
        self.conclude(transport_judgement(test_id, exchange, self.died()))
        raise AssertionError("unreachable: a broken exchange's conclusion fails, xfails or skips the test")

    def judge_answers(
        self, test_id: str, case: Case, exchange: Exchange, dispatcher: Dispatcher, settings: Settings
    ) -> Judgement:
        """Run every check that applies to the case (on each of --repeat's answers), conclude the test."""
        runs = [judge_exchange(test_id, case, exchange, self.died(), self.views)]
        for repetition in range(1, settings.repeat):
            again = dispatcher.exchange(case.body(settings, repetition))
            runs.append(judge_exchange(test_id, case, again, self.died(), self.views))
        return self.conclude(combine(runs))

    def judge_both(
        self,
        test_id: str,
        pair: Pair,
        exchanges: tuple[Exchange, Exchange],
        dispatcher: Dispatcher,
        settings: Settings,
    ) -> Judgement:
        """Compare the blocking and streamed answers of one request (each repetition's), conclude the test."""
        runs = [judge_pair(test_id, pair, exchanges, self.died(), self.views)]
        for repetition in range(1, settings.repeat):
            again = tuple(dispatcher.exchange(case.body(settings, repetition)) for case in pair.both)
            runs.append(judge_pair(test_id, pair, again, self.died(), self.views))
        return self.conclude(combine(runs))

    def generated_run(self, request: pytest.FixtureRequest, dispatcher: Dispatcher, settings: Settings) -> GeneratedRun:
        """The examples of one generated test, sent through the dispatcher, judged with the run's SDK views."""
        DATABASE.place(self.recorder.report_dir / "hypothesis")
        profile = hypothesis.settings.get_current_profile_name()
        return GeneratedRun(
            request.node.name,
            dispatcher.exchange,
            settings,
            self.recorder,
            replay=lambda seed: replay_command(request.node.nodeid, profile, seed),
            seed_of=lambda: replay_seed(request.function),
            death=self.died,
            views=lambda exchange: self.views(exchange),  # the source in force when each example is judged
        )

    def judge_bad_request(
        self, test_id: str, case: BadRequest, dispatcher: Dispatcher, settings: Settings
    ) -> Judgement:
        """Send one bad request and a valid request after it, judge them with the reject.* checks, conclude.

        Requests a server must refuse (inputs/bad_requests.py) are sent by their own tests, not ahead, each with a
        valid follow-up (judging/refusal.py), and end through conclude() like every test."""
        if dispatcher.died is not None:  # the suite's own requests saw the server die: as for every test
            return self.conclude(Judgement(test_id, Verdict.NOT_RUN, note=f"not run: {dispatcher.died}"))
        answer, follow_up = send_with_follow_up(
            settings.endpoint or "",
            settings.api_key,
            settings.request_timeout,
            settings.verify,
            case.request(settings),
            follow_up_body(settings),
        )
        self.recorder.requests_sent += 1 + (follow_up is not None)
        return self.conclude(judge_refusal(test_id, case, answer, follow_up))

    # ------------------------------------------------------------ how every test ends

    def conclude(self, judgement: Judgement, failure: BaseException | None = None) -> Judgement:
        """The one way a test ends: compared with the baseline, recorded, and made the test's pytest outcome.

        Every text that leaves here goes through the recorder's scrub. failure: what a generated test raised
        (Hypothesis's minimal example, explained); a failing verdict raises it again rather than a text of its own.
        """
        say = self.recorder.scrub
        change, expected = None, None
        if self.baseline is not None and judgement.verdict is not Verdict.NOT_RUN:
            expected = self.baseline.get(judgement.test_id)
            generated = is_generated(judgement.extra)
            change = compare_expectation(
                expected, judgement.verdict.value, set(judgement.must_checks), generated=generated
            )
            judgement.extra["expectation"] = change.value
        self.recorder.record(judgement)
        explained = _failure_text(failure) if failure is not None else render(judgement)
        ending = ending_of(judgement, change, expected, explained, raised=failure is not None)
        for warning in ending.warnings:
            warnings.warn(ConformanceWarning(say(warning)), stacklevel=1)
        if ending.outcome is Outcome.SKIPPED:
            pytest.skip(say(ending.message))
        if ending.outcome is Outcome.XFAILED:
            pytest.xfail(say(ending.message))
        if ending.outcome is Outcome.FAILED:
            pytest.fail(say(ending.message), pytrace=False)
        if ending.outcome is Outcome.RAISED and failure is not None:
            raise failure  # scrubbed where it was raised (GeneratedRun.check)
        return judgement

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """A generated test (test_generated.py, test_user_generated.py) ends through conclude too, once Hypothesis
        is done with it.

        Its examples raise as they fail, so that Hypothesis shrinks them; only then is the test's one judgement
        known: its minimal failure, refusals, a pass, or not run when the server died before an example was sent.
        """
        run = getattr(item, "funcargs", {}).get("generated_run")
        if not isinstance(run, GeneratedRun):
            return (yield)
        __tracebackhide__ = True
        try:
            result = yield
        except NotRun as stopped:
            self.conclude(run.finish(stopped=stopped.judgement))
            raise
        except BudgetSpent as spent:
            self.conclude(run.finish(spent=spent))  # a failure fails the test here, with its last example
            raise
        except Exception as failure:  # a generated failure (or a group of them), or whatever else stopped the test
            self.conclude(run.finish(failure=failure), failure)
            raise
        self.conclude(run.finish())
        return result


def _failure_text(failure: BaseException) -> str:
    """What a raised failure says; each failure of a group (Hypothesis reports distinct bugs together) in turn."""
    if isinstance(failure, BaseExceptionGroup):
        return "\n\n".join(_failure_text(inner) for inner in failure.exceptions)
    return str(failure)


# ---------------------------------------------------------------- what a test asks for


def cases_of(item: pytest.Item) -> list[Case]:
    """The cases whose answers a test judges: its case, or both of its pair's."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    if isinstance(params.get("case"), Case):
        return [params["case"]]
    if isinstance(params.get("pair"), Pair):
        return list(params["pair"].both)
    return []


def is_comparison(item: pytest.Item) -> bool:
    """Whether the test compares a request's streamed and blocking answers."""
    return isinstance(getattr(getattr(item, "callspec", None), "params", {}).get("pair"), Pair)


def asked(case: Case) -> tuple[Any, ...]:
    """What makes two cases one request (the sending process sends identical bodies once)."""
    extra = tuple(sorted((key, repr(value)) for key, value in case.extra.items()))
    return case.toolset.id, case.toolset.source, case.mode, case.choice, case.parallel_off, extra


def comparisons_after_their_answers(items: list[pytest.Item]) -> list[pytest.Item]:
    """The items, each comparison moved to just after the last test that asks for one of its answers.

    The requests go out in test order, so those answers arrive with that test's, and the comparison is
    judged while later answers are still on their way. In file order the comparisons all came last: at 64
    requests in flight their judging was most of the time from the last answer to the last verdict. A
    comparison whose answers no other test asks for keeps its place."""
    last_asked: dict[tuple[Any, ...], int] = {}
    for position, item in enumerate(items):
        if not is_comparison(item):
            for case in cases_of(item):
                last_asked[asked(case)] = position

    def place(position: int, item: pytest.Item) -> tuple[int, int, int]:
        if is_comparison(item):
            wanted = [last_asked.get(asked(case), -1) for case in cases_of(item)]
            if wanted and min(wanted) >= 0:
                return max(wanted), 1, position
        return position, 0, position

    return [item for _, item in sorted(enumerate(items), key=lambda entry: place(*entry))]


def labels_of(item: pytest.Item) -> dict[str, str]:
    """A test's place in the report matrix, from its parameters."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    subject = params.get("case", params.get("pair", params.get("bad_request")))
    if isinstance(subject, (Case, Pair, BadRequest)):
        return subject.labels()
    if {"mode", "choice", "strictness"} <= params.keys():
        return {"feature": f"generated-{params['strictness']}", "mode": params["mode"], "choice": params["choice"]}
    if {"mode", "choice"} <= params.keys() and isinstance(params.get("toolset"), ToolSet):
        return {"feature": f"generated-{params['toolset'].id}", "mode": params["mode"], "choice": params["choice"]}
    return {}
