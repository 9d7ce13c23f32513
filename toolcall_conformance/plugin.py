"""pytest hooks and fixtures: options, the target, request dispatch, judging and reporting."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest

from .data import SUITE_DIR
from .generated_run import DATABASE, GeneratedRun, replay_command, replay_seed  # also registers the profiles
from .inputs.bad_requests import BadRequest, follow_up_body
from .inputs.cases import Case, Pair, ToolSet
from .inputs.params import case_params, pair_params
from .inputs.toolsets import ToolSetError, run_toolsets
from .judging.checks import judge_exchange
from .judging.checks import judge_pair as compare_pair
from .judging.checks import warm_up as warm_up_judging
from .judging.generated import NotRun
from .judging.refusal import judge_refusal
from .judging.sdk_worker import SdkViewWorker, take_views_from
from .judging.verdict import FAILED, NOT_JUDGED, Judgement, Verdict, combine, transport_judgement
from .redact import url_without_credentials
from .reporting.compare import RunDiff, diff, load_baseline
from .reporting.expectations import Change, Expected
from .reporting.expectations import compare as compare_expectation
from .reporting.explain import one_line, render
from .reporting.progress import Progress
from .reporting.report import RunRecorder
from .reporting.results import is_generated
from .settings import Settings, add_options, resolve
from .target.embedded import EmbeddedTarget, EmbeddedTargetError
from .wire.client import Exchange, send_with_follow_up
from .wire.dispatch import Dispatcher
from .wire.preflight import PreflightError, Target, preflight

SETTINGS = pytest.StashKey[Settings]()
EMBEDDED = pytest.StashKey[EmbeddedTarget]()
EMBEDDED_ERROR = pytest.StashKey[str]()
BASELINE = pytest.StashKey[dict[str, Expected]]()
RUN_DIFF = pytest.StashKey[RunDiff]()
RESULTS_PATH = pytest.StashKey[Path]()
WORKER_ENDPOINT = "tcc_endpoint"
WORKER_ENDPOINT_ERROR = "tcc_endpoint_error"
WORKER_RUN_DIR = "tcc_run_dir"
RECORDER = pytest.StashKey[RunRecorder]()
PROGRESS = pytest.StashKey[Progress]()
TOOLSETS = pytest.StashKey[tuple[ToolSet, ...]]()
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


class ConformanceWarning(UserWarning):
    """A SHOULD-level rule was broken: the test passes, the report says what."""


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)  # before pytest's junitxml plugin reads --junitxml
def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    settings = resolve(config)
    shared_endpoint = getattr(config, "workerinput", {}).get(WORKER_ENDPOINT)
    if shared_endpoint and not settings.endpoint:
        settings = dataclasses.replace(settings, endpoint=shared_endpoint)
    config.stash[SETTINGS] = settings
    try:
        config.stash[TOOLSETS] = run_toolsets(
            [Path(config.rootpath, directory) for directory in settings.toolsets], settings.only_user_toolsets
        )
    except ToolSetError as exc:
        raise pytest.UsageError(str(exc)) from None
    shared_run_dir = getattr(config, "workerinput", {}).get(WORKER_RUN_DIR)
    config.stash[RECORDER] = RunRecorder(
        Path(config.rootpath) / settings.report_dir, settings, Path(shared_run_dir) if shared_run_dir else None
    )
    if not hasattr(config, "workerinput") and _runs_the_suite(config):
        if config.option.xmlpath is None and not config.option.collectonly:
            config.option.xmlpath = str(config.stash[RECORDER].run_dir / "junit.xml")
        config.stash[PROGRESS] = Progress(lambda line: _write_line(config, line), settings.progress_every)
        config.pluginmanager.register(config.stash[PROGRESS], "tcc-progress")
    if settings.baseline:
        try:
            config.stash[BASELINE] = load_baseline(Path(config.rootpath) / settings.baseline)
        except (OSError, ValueError, KeyError) as exc:
            raise pytest.UsageError(f"--baseline {settings.baseline}: {exc}") from None


def _write_line(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(config.stash[RECORDER].scrub(line))


def pytest_unconfigure(config: pytest.Config) -> None:
    embedded = config.stash.get(EMBEDDED, None)
    if embedded is not None:
        embedded.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test collected, before -k/-m deselect: a baseline's test missing here was removed, not deselected.

    Bad requests go last: a server they break must not take the rest of the suite down with it. Each
    stream-versus-blocking comparison runs right after the last test that asks for one of its two answers."""
    config.stash[RECORDER].collected.update(item.name for item in items)
    items.sort(key=lambda item: item.get_closest_marker("bad_request") is not None)
    items[:] = comparisons_after_their_answers(items)


def comparisons_after_their_answers(items: list[pytest.Item]) -> list[pytest.Item]:
    """The items, each comparison moved to just after the last test that asks for one of its answers.

    The requests go out in test order, so those answers arrive with that test's, and the comparison is
    judged while later answers are still on their way. In file order the comparisons all came last: at 64
    requests in flight their judging was most of the time from the last answer to the last verdict. A
    comparison whose answers no other test asks for keeps its place."""
    last_asked: dict[tuple[Any, ...], int] = {}
    for position, item in enumerate(items):
        if not _is_comparison(item):
            for case in _cases_of(item):
                last_asked[_asked(case)] = position

    def place(position: int, item: pytest.Item) -> tuple[int, int, int]:
        if _is_comparison(item):
            asked = [last_asked.get(_asked(case), -1) for case in _cases_of(item)]
            if asked and min(asked) >= 0:
                return max(asked), 1, position
        return position, 0, position

    return [item for _, item in sorted(enumerate(items), key=lambda entry: place(*entry))]


def _is_comparison(item: pytest.Item) -> bool:
    return isinstance(getattr(getattr(item, "callspec", None), "params", {}).get("pair"), Pair)


def _asked(case: Case) -> tuple[Any, ...]:
    """What makes two cases one request (the sending process sends identical bodies once)."""
    extra = tuple(sorted((key, repr(value)) for key, value in case.extra.items()))
    return case.toolset.id, case.toolset.source, case.mode, case.choice, case.parallel_off, extra


def pytest_collection_finish(session: pytest.Session) -> None:
    recorder = session.config.stash[RECORDER]
    for item in session.items:
        labels = _labels_of(item)
        if labels:
            recorder.labels[item.name] = labels


def _labels_of(item: pytest.Item) -> dict[str, str]:
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


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Under xdist the controller starts the embedded target once and hands its URL to every worker."""
    config = node.config
    node.workerinput[WORKER_RUN_DIR] = str(config.stash[RECORDER].run_dir)
    if config.stash[SETTINGS].endpoint or config.option.collectonly or not _runs_the_suite(config):
        return
    try:
        node.workerinput[WORKER_ENDPOINT] = _embedded_endpoint(config)
    except EmbeddedTargetError as exc:
        node.workerinput[WORKER_ENDPOINT_ERROR] = str(exc)


def _runs_the_suite(config: pytest.Config) -> bool:
    """Whether the paths of this run hold the conformance tests (the xdist controller collects nothing itself)."""
    suite = SUITE_DIR.resolve()
    for arg in config.args:
        path = _path_of(config, arg.split("::")[0])
        if path is not None and (path == suite or suite in path.parents or path in suite.parents):
            return True
    return False


def _path_of(config: pytest.Config, arg: str) -> Path | None:
    """The file or directory a command-line argument names; with --pyargs it may name a module or package."""
    path = Path(config.invocation_params.dir, arg)
    if config.option.pyargs and not path.exists():
        try:
            spec = importlib.util.find_spec(arg)
        except (ImportError, ValueError):
            return None
        if spec is None or not (spec.origin or spec.submodule_search_locations):
            return None
        locations = list(spec.submodule_search_locations or [])
        return Path(locations[0] if locations else spec.origin or "").resolve()
    return path.resolve()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """--only-user-toolsets leaves out the tests built from the suite's own tools; without --toolsets there is
    nothing to draw the user probes from."""
    toolsets = config.stash.get(TOOLSETS, None)
    if toolsets is None or collection_path.parent.resolve() != SUITE_DIR.resolve():
        return None
    if collection_path.name in OURS_ONLY and config.stash[SETTINGS].only_user_toolsets:
        return True
    if collection_path.name in USERS_ONLY and not any(toolset.is_user for toolset in toolsets):
        return True
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """@pytest.mark.cases(build=f): one test per Case (parameter "case"), Pair ("pair") or ToolSet ("toolset") that
    build makes of the run's tool sets: the curated ones and those of --toolsets."""
    marker = metafunc.definition.get_closest_marker("cases")
    if marker is None:
        return
    subjects = marker.kwargs["build"](metafunc.config.stash[TOOLSETS])
    if all(isinstance(subject, Pair) for subject in subjects):
        metafunc.parametrize("pair", pair_params(subjects))
    elif all(isinstance(subject, Case) for subject in subjects):
        metafunc.parametrize("case", case_params(subjects))
    else:
        metafunc.parametrize("toolset", subjects, ids=[toolset.id for toolset in subjects])


def _embedded_endpoint(config: pytest.Config) -> str:
    """Start the embedded target on first use; later calls get the same URL."""
    failed = config.stash.get(EMBEDDED_ERROR, None)
    if failed:
        raise EmbeddedTargetError(failed)  # one failed start is enough: every worker gets its message
    embedded = config.stash.get(EMBEDDED, None)
    if embedded is None:
        recorder = config.stash[RECORDER]
        reporter = config.pluginmanager.get_plugin("terminalreporter")

        capture = config.pluginmanager.get_plugin("capturemanager")

        def say(message: str) -> None:
            if reporter is None:
                return
            with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                reporter.write_line(f"embedded target: {message}"[:160])

        say(f"no --endpoint given: starting vLLM with the tiny {config.stash[SETTINGS].target_flavour} model")
        try:
            embedded = EmbeddedTarget(config.stash[SETTINGS], recorder.run_dir / "vllm.log", say)
            config.stash[EMBEDDED] = embedded
            embedded.start()
        except EmbeddedTargetError as exc:
            config.stash[EMBEDDED_ERROR] = str(exc)
            raise
        recorder.target.update(embedded.describe())
        say(f"ready at {embedded.server.base_url} after {embedded.server.startup_seconds:.0f} s")
    return embedded.server.base_url


@pytest.hookimpl(trylast=True)  # after pytest's own, which tears the session fixtures (the dispatcher) down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    recorder = config.stash.get(RECORDER, None)
    if recorder is None:
        return
    recorder.complete = exitstatus != pytest.ExitCode.INTERRUPTED
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        if recorder.records:
            recorder.write_part(workerinput["workerid"])
        return
    recorder.merge_parts()
    if not recorder.records:
        return
    settings = config.stash[SETTINGS]
    baseline = config.stash.get(BASELINE, None)
    if baseline is not None:
        run_diff = diff(baseline, recorder.document(), against=settings.baseline or "")
        config.stash[RUN_DIFF] = run_diff
        recorder.baseline = run_diff.to_json()
        if run_diff.failed(settings.fail_on) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if recorder.server_death and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    recorder.exit_status = int(session.exitstatus)
    config.stash[RESULTS_PATH] = recorder.write()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    path = config.stash.get(RESULTS_PATH, None)
    recorder = config.stash.get(RECORDER, None)
    if path is None or recorder is None:
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
    run_diff = config.stash.get(RUN_DIFF, None)
    if run_diff is not None:
        say(f"compared with the baseline (--fail-on={config.stash[SETTINGS].fail_on}):")
        for line in run_diff.render_text().splitlines():
            say(f"  {line}", red=line.lstrip().lower().startswith("regression"))


@pytest.fixture(scope="session")
def conformance_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this run."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def target(conformance_settings: Settings, pytestconfig: pytest.Config) -> Target:
    """The server under test, checked once before the first request."""
    settings = conformance_settings
    endpoint, problem = settings.endpoint, getattr(pytestconfig, "workerinput", {}).get(WORKER_ENDPOINT_ERROR)
    if not endpoint and not problem:
        try:
            endpoint = _embedded_endpoint(pytestconfig)
        except EmbeddedTargetError as exc:
            problem = f"embedded target: {exc}"
    if not problem:
        try:
            found = preflight(endpoint or "", settings.api_key, settings.model, verify=settings.verify)
        except PreflightError as exc:
            problem = f"preflight failed: {exc}"
    if problem:
        pytest.fail(pytestconfig.stash[RECORDER].scrub(problem), pytrace=False)
    pytestconfig.stash[RECORDER].target.update(
        {
            "endpoint": url_without_credentials(found.endpoint),
            "model": found.model,
            "server_version": found.server_version,
        }
    )
    return found


@pytest.fixture(scope="session")
def request_settings(conformance_settings: Settings, target: Target) -> Settings:
    """Settings pointed at the resolved endpoint and model: what request bodies are built from."""
    return conformance_settings.with_target(target.endpoint, target.model)


# From this many requests sent ahead, the SDK's view is worked out in a process of its own (sdk_worker.py); for
# fewer, that process's start (it imports openai-python) costs more than it takes off the tests.
SDK_WORKER_FROM = 32


@pytest.fixture(scope="session")
def dispatcher(request: pytest.FixtureRequest, request_settings: Settings) -> Iterator[Dispatcher]:
    """Sends every selected test's request ahead, in test order, a bounded number at once."""
    settings = request_settings
    log_path = request.config.stash[RECORDER].run_dir / "dispatch.log"
    # xdist hands tests to workers as they go, so a worker cannot know its share in advance: there each
    # test sends its own request when it runs, the workers are the concurrency, and each judges its own.
    ahead = not hasattr(request.config, "workerinput")
    bodies = [
        case.body(settings, repetition)
        for item in (request.session.items if ahead else [])
        for case in _cases_of(item)
        for repetition in range(settings.repeat)
    ]
    views = SdkViewWorker(log_path) if len(bodies) >= SDK_WORKER_FROM else None
    sender = Dispatcher(
        settings.endpoint or "",
        settings.api_key,
        settings.request_timeout,
        settings.concurrency,
        retries=settings.retry_overloaded,
        verify=settings.verify,
        log_path=log_path,
        on_answer=views.expect if views is not None else None,
    )
    take_views_from(views.view if views is not None else None)
    progress = request.config.stash.get(PROGRESS, None)
    if progress is not None:
        progress.requests = lambda: (sender.answered, sender.queued)
    try:
        for body in bodies:
            sender.submit(body)
        if views is None:  # else the worker does the SDK's work, and this process never needs openai-python
            warm_up_judging()  # while the first answers are on their way
        yield sender
    finally:
        take_views_from(None)
        if views is not None:
            views.close()
        sender.close()  # last: it removes the log both processes share when neither said anything
        recorder = request.config.stash[RECORDER]
        recorder.sdk_views_from_worker = views.given if views is not None else 0
        recorder.requests_sent += sender.sent
        recorder.first_request = sender.first_sent
        recorder.last_answer = sender.last_answered
        if sender.death is not None:
            recorder.server_death = sender.death.describe()


def _cases_of(item: pytest.Item) -> list[Case]:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if isinstance(params.get("case"), Case):
        return [params["case"]]
    if isinstance(params.get("pair"), Pair):
        return list(params["pair"].both)
    return []


def _usable(exchange: Exchange, request: pytest.FixtureRequest, dispatcher: Dispatcher) -> Exchange:
    """The exchange, if it happened; otherwise the test ends here: an error, a timeout, or not run."""
    if exchange.transport_error is None:
        return exchange
    _conclude(transport_judgement(request.node.name, exchange, dispatcher.died), request.config)
    raise AssertionError("unreachable: a broken exchange's conclusion fails, xfails or skips the test")


@pytest.fixture
def exchange(
    case: Case, dispatcher: Dispatcher, request_settings: Settings, request: pytest.FixtureRequest
) -> Exchange:
    """The answer to this test's request; transport failures make the test an error, not a failure."""
    return _usable(dispatcher.exchange(case.body(request_settings)), request, dispatcher)


@pytest.fixture
def exchange_pair(
    pair: Pair, dispatcher: Dispatcher, request_settings: Settings, request: pytest.FixtureRequest
) -> tuple[Exchange, Exchange]:
    """The blocking and streamed answers to one request."""
    blocking = _usable(dispatcher.exchange(pair.blocking.body(request_settings)), request, dispatcher)
    stream = _usable(dispatcher.exchange(pair.stream.body(request_settings)), request, dispatcher)
    return blocking, stream


@pytest.fixture
def judge(
    request: pytest.FixtureRequest, dispatcher: Dispatcher, request_settings: Settings
) -> Callable[[Case, Exchange], Judgement]:
    """Run every check that applies to the case, record the verdict, and turn it into the test's outcome."""

    def judge_exchanges(case: Case, exchange: Exchange) -> Judgement:
        runs = [judge_exchange(request.node.name, case, exchange, dispatcher.died)]
        for repetition in range(1, request_settings.repeat):
            again = dispatcher.exchange(case.body(request_settings, repetition))
            runs.append(judge_exchange(request.node.name, case, again, dispatcher.died))
        return _conclude(combine(runs), request.config)

    return judge_exchanges


@pytest.fixture
def judge_pair(
    request: pytest.FixtureRequest, dispatcher: Dispatcher, request_settings: Settings
) -> Callable[[Pair, tuple[Exchange, Exchange]], Judgement]:
    """Compare the blocking and streamed answers of one request, when both can be compared."""

    def judge_both(pair: Pair, exchanges: tuple[Exchange, Exchange]) -> Judgement:
        runs = [compare_pair(request.node.name, pair, exchanges, dispatcher.died)]
        for repetition in range(1, request_settings.repeat):
            again = tuple(dispatcher.exchange(case.body(request_settings, repetition)) for case in pair.both)
            runs.append(compare_pair(request.node.name, pair, again, dispatcher.died))
        return _conclude(combine(runs), request.config)

    return judge_both


@pytest.fixture
def generated_run(
    request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
    dispatcher: Dispatcher,
    request_settings: Settings,
) -> Iterator[GeneratedRun]:
    """The examples of one generated test; concluded (results.json, baseline) when Hypothesis is done with it."""
    recorder = request.config.stash[RECORDER]
    DATABASE.place(recorder.report_dir / "hypothesis")
    profile = hypothesis.settings.get_current_profile_name()
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


# ---------------------------------------------------------------- how every test ends


def _conclude(judgement: Judgement, config: pytest.Config, failure: BaseException | None = None) -> Judgement:
    """The one way a test ends: compared with the baseline, recorded, and made the test's pytest outcome.

    Every text that leaves here goes through the recorder's scrub. failure: what a generated test raised
    (Hypothesis's minimal example, explained); a failing verdict raises it again rather than a text of its own.
    """
    recorder = config.stash[RECORDER]
    say = recorder.scrub
    if judgement.verdict is Verdict.NOT_RUN:  # nothing to meet an expectation with: compare.py lists it as not run
        recorder.record(judgement)
        pytest.skip(say(one_line(judgement)))
    baseline = config.stash.get(BASELINE, None)
    change, expected = None, None
    if baseline is not None:
        expected = baseline.get(judgement.test_id)
        generated = is_generated(judgement.extra)
        change = compare_expectation(expected, judgement.verdict.value, set(judgement.must_checks), generated=generated)
        judgement.extra["expectation"] = change.value
    recorder.record(judgement)
    explained = _failure_text(failure) if failure is not None else render(judgement)
    if change is Change.KNOWN_FAILURE:
        pytest.xfail(say(f"known failure ({', '.join(judgement.must_checks)}): {expected.reason if expected else ''}"))
    if change is Change.OTHER_EXAMPLE and expected is not None:
        was = ", ".join(sorted(expected.checks)) or "no checks"
        now = ", ".join(judgement.must_checks) or "no checks"
        pytest.xfail(
            say(
                f"known failure, another minimal example: it breaks {now} where the baseline's broke {was} "
                "(Hypothesis reached another failing example first)"
            )
        )
    if change is Change.REGRESSION and expected is not None:
        was = f"{expected.verdict} ({', '.join(sorted(expected.checks)) or 'no checks broken'})"
        pytest.fail(say(f"REGRESSION: expected {was}\n{explained}"), pytrace=False)
    if change is Change.NEW and judgement.verdict in FAILED:
        # Not a regression: the baseline never ran it. It is listed as new; --fail-on=any fails the run for it.
        broken = ", ".join(judgement.failed_checks) or judgement.note
        pytest.xfail(say(f"new test, not in the baseline: {judgement.verdict.value} ({broken})"))
    if change is Change.FIXED and expected is not None:
        fixed = f"FIXED: expected {expected.verdict} ({', '.join(sorted(expected.checks))}), now passes"
        warnings.warn(ConformanceWarning(fixed), stacklevel=1)
    if judgement.verdict in FAILED:
        if failure is not None:
            raise failure  # scrubbed where it was raised (GeneratedRun.check)
        pytest.fail(say(explained), pytrace=False)
    if judgement.verdict in NOT_JUDGED:
        pytest.skip(say(one_line(judgement)))
    if judgement.verdict is Verdict.WARN:
        warnings.warn(ConformanceWarning(say(render(judgement))), stacklevel=1)
    return judgement


def _failure_text(failure: BaseException) -> str:
    """What a raised failure says; each failure of a group (Hypothesis reports distinct bugs together) in turn."""
    if isinstance(failure, BaseExceptionGroup):
        return "\n\n".join(_failure_text(inner) for inner in failure.exceptions)
    return str(failure)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A generated test (tests/test_generated.py, test_user_generated.py) ends through _conclude too, once Hypothesis is done with it.

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
        _conclude(run.finish(stopped=stopped.judgement), item.config)
        raise
    except Exception as failure:  # a generated failure (or a group of them), or whatever else stopped the test
        _conclude(run.finish(failure=failure), item.config, failure)
        raise
    _conclude(run.finish(), item.config)
    return result


# ---------------------------------------------------------------- bad requests (tests/test_bad_requests.py)
# Requests a server must refuse (inputs/bad_requests.py). Each test sends its own bad request and a valid
# follow-up, judges them (judging/refusal.py) and concludes through _conclude, like every test: results.json,
# reproducers, expectations, terminal summary.


@pytest.fixture
def judge_bad_request(
    request: pytest.FixtureRequest, request_settings: Settings, dispatcher: Dispatcher
) -> Callable[[BadRequest], Judgement]:
    """Send one bad request and a valid request after it, judge them with the reject.* checks, conclude the test."""

    def judge(case: BadRequest) -> Judgement:
        if dispatcher.died is not None:  # the suite's own requests saw the server die: as for every test
            return _conclude(
                Judgement(request.node.name, Verdict.NOT_RUN, note=f"not run: {dispatcher.died}"), request.config
            )
        settings = request_settings
        answer, follow_up = send_with_follow_up(
            settings.endpoint or "",
            settings.api_key,
            settings.request_timeout,
            settings.verify,
            case.request(settings),
            follow_up_body(settings),
        )
        request.config.stash[RECORDER].requests_sent += 1 + (follow_up is not None)
        return _conclude(judge_refusal(request.node.name, case, answer, follow_up), request.config)

    return judge


# ---------------------------------------------------------------- end of bad requests
