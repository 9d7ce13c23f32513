"""The suite's fixtures: each gives a test what the run's session (session.py) holds or works out.

Registered beside the session, and only with it. They are functions, not methods of the session: pytest
deprecates session-scoped fixtures that are bound methods of an instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .generated_run import GeneratedRun
from .inputs.bad_requests import BadRequest
from .inputs.cases import Case, Pair
from .judging.verdict import Judgement
from .session import ConformanceSession
from .settings import Settings
from .wire.client import Exchange
from .wire.dispatch import Dispatcher
from .wire.preflight import Target


@pytest.fixture(scope="session")
def conformance_session(pytestconfig: pytest.Config) -> ConformanceSession:
    """The run of the suite these tests belong to."""
    return pytestconfig.pluginmanager.get_plugin(ConformanceSession.NAME)


@pytest.fixture(scope="session")
def conformance_settings(conformance_session: ConformanceSession) -> Settings:
    """The resolved settings of this run."""
    return conformance_session.settings


@pytest.fixture(scope="session")
def target(conformance_session: ConformanceSession) -> Target:
    """The server under test, checked once before the first request."""
    return conformance_session.resolve_target()


@pytest.fixture(scope="session")
def request_settings(conformance_settings: Settings, target: Target) -> Settings:
    """Settings pointed at the resolved endpoint and model: what request bodies are built from."""
    return conformance_settings.with_target(target.endpoint, target.model)


@pytest.fixture(scope="session")
def dispatcher(
    conformance_session: ConformanceSession, request: pytest.FixtureRequest, request_settings: Settings
) -> Iterator[Dispatcher]:
    """Sends every selected test's request ahead, in test order, a bounded number at once."""
    yield from conformance_session.sending(request.session.items, request_settings)


@pytest.fixture
def exchange(
    conformance_session: ConformanceSession,
    case: Case,
    dispatcher: Dispatcher,
    request_settings: Settings,
    request: pytest.FixtureRequest,
) -> Exchange:
    """The answer to this test's request; transport failures make the test an error, not a failure."""
    return conformance_session.usable(dispatcher.exchange(case.body(request_settings)), request.node.name)


@pytest.fixture
def exchange_pair(
    conformance_session: ConformanceSession,
    pair: Pair,
    dispatcher: Dispatcher,
    request_settings: Settings,
    request: pytest.FixtureRequest,
) -> tuple[Exchange, Exchange]:
    """The blocking and streamed answers to one request."""
    name = request.node.name  # a broken blocking answer ends the test before the streamed one is asked for
    blocking = conformance_session.usable(dispatcher.exchange(pair.blocking.body(request_settings)), name)
    stream = conformance_session.usable(dispatcher.exchange(pair.stream.body(request_settings)), name)
    return blocking, stream


@pytest.fixture
def judge(
    conformance_session: ConformanceSession,
    request: pytest.FixtureRequest,
    dispatcher: Dispatcher,
    request_settings: Settings,
) -> Callable[[Case, Exchange], Judgement]:
    """Run every check that applies to the case, record the verdict, and turn it into the test's outcome."""
    name = request.node.name
    return lambda case, exchange: conformance_session.judge_answers(name, case, exchange, dispatcher, request_settings)


@pytest.fixture
def judge_pair(
    conformance_session: ConformanceSession,
    request: pytest.FixtureRequest,
    dispatcher: Dispatcher,
    request_settings: Settings,
) -> Callable[[Pair, tuple[Exchange, Exchange]], Judgement]:
    """Compare the blocking and streamed answers of one request, when both can be compared."""
    name = request.node.name
    return lambda pair, exchanges: conformance_session.judge_both(name, pair, exchanges, dispatcher, request_settings)


@pytest.fixture
def generated_run(
    conformance_session: ConformanceSession,
    request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
    dispatcher: Dispatcher,
    request_settings: Settings,
) -> Iterator[GeneratedRun]:
    """The examples of one generated test; concluded (results.json, baseline) when Hypothesis is done with it."""
    run = conformance_session.generated_run(request, dispatcher, request_settings)
    yield run
    record_property("hypothesis_seed", run.seed)


@pytest.fixture
def judge_bad_request(
    conformance_session: ConformanceSession,
    request: pytest.FixtureRequest,
    request_settings: Settings,
    dispatcher: Dispatcher,
) -> Callable[[BadRequest], Judgement]:
    """Send one bad request and a valid request after it, judge them with the reject.* checks, conclude the test."""
    name = request.node.name
    return lambda case: conformance_session.judge_bad_request(name, case, dispatcher, request_settings)
