"""The conformance suite run against the fault server: the correct server passes, each fault fails exactly its checks.

Each run is a real pytest session (pytester, in a subprocess) against a real HTTP server on loopback.
"""

from __future__ import annotations

import pytest

from selftests.check_failures import hold_examples
from selftests.fault_server import BENIGN, FaultServer
from selftests.suite_run import run_suite
from toolcall_conformance.inputs.bad_requests import bad_requests
from toolcall_conformance.judging.catalogue import checks_of
from toolcall_conformance.judging.registry import Subject
from toolcall_conformance.judging.verdict import Level
from toolcall_conformance.reporting.judged import judged

SEED = "weather-seed and not strict"
BLOCKING, STREAM = ("blocking",), ("stream",)
BOTH = BLOCKING + STREAM
REQUIRED, NAMED, PARALLEL_OFF, EQUIVALENCE = "test_required", "test_named", "test_parallel_off", "equivalence"
ALL_CHOICES = (REQUIRED, NAMED, PARALLEL_OFF)


def expect(functions: tuple[str, ...], modes: tuple[str, ...], checks: set[str], toolset: str = "weather-seed"):
    """Expected (verdict, failed checks) of the named tests in the given modes."""
    expected = {}
    for function in functions:
        if function == EQUIVALENCE:
            for choice in ("required", "named"):
                expected[f"test_stream_matches_blocking[{toolset}-{choice}]"] = checks
        else:
            for mode in modes:
                expected[f"{function}[{toolset}-{mode}]"] = checks
    return expected


BAD_REQUESTS = "test_bad_requests"
USAGE = "nested-objects and not strict and test_required"  # its streamed request asks for include_usage


def bad_requests_broken(*checks: str) -> dict:
    """Every bad-request test fails exactly these checks."""
    return {f"{BAD_REQUESTS}[{case.id}]": set(checks) for case in bad_requests()}


def bad_requests_accepted(*ids: str) -> dict:
    """The bad-request tests (all, or those named) get 200: a MUST case fails reject.status-4xx, a SHOULD case warns."""
    return {
        f"{BAD_REQUESTS}[{case.id}]": {"reject.status-4xx"} if case.level == Level.MUST else "warn:reject.status-4xx"
        for case in bad_requests()
        if not ids or case.id in ids
    }


NAME_CASES = ("name-breaks-pattern", "name-too-long")


def merge(*parts: dict) -> dict:
    merged: dict = {}
    for part in parts:
        merged.update(part)
    return merged


def stream_fault(*checks: str) -> dict:
    return expect(ALL_CHOICES, STREAM, set(checks))


def per_mode(blocking: set[str], stream: set[str], functions: tuple[str, ...] = ALL_CHOICES) -> dict:
    return merge(expect(functions, BLOCKING, blocking), expect(functions, STREAM, stream))


# fault -> (selection, {test name: failed check ids, or a verdict string for non-failing outcomes})
EXPECTED: dict[str, tuple[str, dict]] = {
    "none": (f"({SEED}) or {BAD_REQUESTS}", {}),
    "http-500": (SEED, merge(expect(ALL_CHOICES, BOTH, {"http.status"}), expect((EQUIVALENCE,), BOTH, "inconclusive"))),
    "non-json-body": (
        SEED,
        merge(per_mode({"http.json"}, {"stream.events"}), expect((EQUIVALENCE,), BOTH, "inconclusive")),
    ),
    "envelope-missing-object": (
        SEED,
        per_mode({"envelope.schema", "sdk.strict-model"}, {"envelope.chunk-schema", "sdk.strict-model", "sdk.answer"}),
    ),
    "zero-calls": (
        SEED,
        merge(
            expect((REQUIRED, PARALLEL_OFF), BOTH, {"choice.required-call"}),
            expect((NAMED,), BOTH, {"choice.named-call"}),
        ),
    ),
    "markup-instead-of-calls": (
        SEED,
        merge(
            expect((REQUIRED, PARALLEL_OFF), BOTH, {"choice.required-call", "content.no-markup"}),
            expect((NAMED,), BOTH, {"choice.named-call", "content.no-markup"}),
        ),
    ),
    "markup-in-content": (SEED, expect(ALL_CHOICES, BOTH, {"content.no-markup"})),
    "wrong-named-function": (SEED, expect((NAMED,), BOTH, {"choice.named-call"})),
    "extra-call-parallel-off": (SEED, expect((PARALLEL_OFF,), BOTH, {"choice.parallel-off"})),
    "type-not-function": (
        SEED,
        per_mode(
            {"call.type", "envelope.schema", "sdk.strict-model"},
            {"call.type", "envelope.chunk-schema", "sdk.strict-model"},
        ),
    ),
    "missing-id": (SEED, per_mode({"call.id", "envelope.schema", "sdk.strict-model"}, {"call.id", "stream.id-once"})),
    "duplicate-id": (SEED, expect((REQUIRED,), BOTH, {"call.id-unique"})),
    "empty-id": (SEED, per_mode({"call.id"}, {"call.id", "stream.id-once"})),
    "unknown-name": (
        SEED,
        merge(
            expect((REQUIRED, PARALLEL_OFF), BOTH, {"call.name-known"}),
            expect((NAMED,), BOTH, {"call.name-known", "choice.named-call"}),
        ),
    ),
    "args-invalid-json": (SEED, expect(ALL_CHOICES, BOTH, {"args.json"})),
    "args-not-object": (SEED, expect(ALL_CHOICES, BOTH, {"args.json", "args.schema"})),
    "args-schema-violation": (SEED, expect(ALL_CHOICES, BOTH, {"args.schema"})),
    "finish-reason-stop": (SEED, expect((REQUIRED, PARALLEL_OFF), BOTH, {"finish.reason"})),
    "stream-blocking-drift": (SEED, expect((EQUIVALENCE,), BOTH, {"equivalence.stream-blocking"})),
    "always-truncate": (  # an honest truncation: no check fires, with usage or without
        f"({SEED}) or ({USAGE})",
        merge(
            expect((*ALL_CHOICES, EQUIVALENCE), BOTH, "truncated"),
            expect((REQUIRED,), BOTH, "truncated", "nested-objects"),
        ),
    ),
    # A "length" the facts contradict excuses nothing: the answer is judged as complete (and the SDK's stream
    # helper raises on a "length" finish). With usage (blocking; the nested-objects stream asks for it) the
    # limit is counted; without, a complete last call gives the lie away.
    "length-lie": (
        f"({SEED}) or ({USAGE})",
        merge(
            per_mode(
                {"finish.length-proven", "finish.reason"}, {"finish.length-proven", "finish.reason", "sdk.answer"}
            ),
            expect((REQUIRED,), BOTH, {"finish.length-proven", "finish.reason"}, "nested-objects"),
            expect((REQUIRED,), STREAM, {"finish.length-proven", "finish.reason", "sdk.answer"}, "nested-objects"),
        ),
    ),
    # Usage withheld: a stream that asked for it misses it; a blocking body may leave it out.
    "drop-usage": (USAGE, expect((REQUIRED,), STREAM, {"stream.usage"}, "nested-objects")),
    # vLLM #58228: cut at max_tokens, claimed complete. Named where usage shows the limit was reached; a stream
    # without usage cannot tell a cut from a broken call (args.json), and the pairs have nothing to compare.
    "cut-not-length": (
        f"({SEED}) or ({USAGE})",
        merge(
            per_mode({"finish.cut-call-length"}, {"args.json"}),
            expect((EQUIVALENCE,), BOTH, "truncated"),
            expect((REQUIRED,), BOTH, {"finish.cut-call-length"}, "nested-objects"),
        ),
    ),
    "sse-garbage": (SEED, stream_fault("stream.sse")),
    "chunk-not-json": (SEED, stream_fault("stream.chunk-json", "sdk.answer")),  # the SDK's stream raises on it
    "no-done": (SEED, stream_fault("stream.done")),
    "data-after-done": (SEED, stream_fault("stream.done")),
    "role-twice": (SEED, stream_fault("stream.role-once")),
    "role-missing": (SEED, stream_fault("stream.role-once")),
    "finish-twice": (SEED, stream_fault("stream.finish-once")),
    "finish-missing": (SEED, stream_fault("stream.finish-once", "finish.reason")),
    "missing-index": (
        SEED,
        stream_fault("stream.tool-index", "envelope.chunk-schema", "sdk.strict-model", "sdk.answer"),
    ),
    # The SDK concatenates a repeated or changed name or id: the agent gets another call than the suite sees.
    "repeat-name": (SEED, stream_fault("stream.name-once", "sdk.calls-agree")),
    "name-changes": (SEED, stream_fault("stream.name-once", "sdk.calls-agree")),
    "repeat-id": (SEED, stream_fault("stream.id-once", "sdk.calls-agree")),
    "id-changes": (SEED, stream_fault("stream.id-once", "sdk.calls-agree")),
    "type-missing": (SEED, stream_fault("stream.type-once", "call.type")),
    "chunk-id-changes": (SEED, stream_fault("stream.chunk-id")),
    "content-type-json": (SEED, stream_fault("stream.content-type")),
    "no-usage": (
        USAGE,
        expect((REQUIRED,), STREAM, {"stream.usage"}, toolset="nested-objects"),
    ),
    "extra-choice": (SEED, per_mode({"envelope.choice-count"}, {"stream.choice-index"})),
    "created-millis": (SEED, expect(ALL_CHOICES, BOTH, {"envelope.created-seconds"})),
    "created-changes": (SEED, stream_fault("stream.chunk-created")),
    "model-changes": (SEED, expect(ALL_CHOICES, STREAM, "warn:stream.chunk-model")),
    "usage-total-wrong": (USAGE, expect((REQUIRED,), BOTH, {"usage.total"}, toolset="nested-objects")),
    "usage-zero": (USAGE, expect((REQUIRED,), BOTH, "warn:usage.nonzero", toolset="nested-objects")),
    "usage-every-chunk": (USAGE, expect((REQUIRED,), STREAM, {"stream.usage-only-last"}, toolset="nested-objects")),
    "usage-unrequested": (SEED, stream_fault("stream.usage-unrequested")),
    "content-after-finish": (SEED, stream_fault("stream.after-finish")),
    "tool-index-from-1": (SEED, stream_fault("stream.tool-index-order", "sdk.answer")),  # the SDK raises IndexError
    "args-duplicate-key": (SEED, expect(ALL_CHOICES, BOTH, "warn:args.unique-keys")),
    "chunk-error-field": (SEED, stream_fault("sdk.answer")),  # the SDK raises APIError on a chunk with "error"
    # A thinking model's thought: in its own field, a string, out of content and the calls, alike in both modes.
    "reasoning-not-string": (SEED, expect(ALL_CHOICES, BOTH, {"reasoning.type"})),
    "reasoning-markup-in-content": (SEED, expect(ALL_CHOICES, BOTH, {"reasoning.no-markup"})),
    "reasoning-markup-in-arguments": (SEED, expect(ALL_CHOICES, BOTH, {"reasoning.no-markup"})),
    "reasoning-repeated-in-content": (SEED, expect(ALL_CHOICES, BOTH, {"reasoning.not-repeated"})),
    "reasoning-names-disagree": (SEED, expect(ALL_CHOICES, BOTH, "warn:reasoning.names-agree")),
    "reasoning-stream-only": (SEED, expect((EQUIVALENCE,), BOTH, "warn:equivalence.reasoning")),
    "accept-bad-requests": (BAD_REQUESTS, bad_requests_accepted()),
    "bad-request-500": (BAD_REQUESTS, bad_requests_broken("reject.no-server-error")),
    "bad-request-wrong-error-shape": (BAD_REQUESTS, bad_requests_broken("reject.error-shape")),
    "lenient-names": (BAD_REQUESTS, bad_requests_accepted(*NAME_CASES)),
    # One connection at a time (FAULT_OPTIONS), requests sent in test order, each choice's blocking one first: it
    # gets a new connection, the streamed one after it is dropped on that connection and resent on a new one of its
    # own, so the next blocking request again gets a new connection. Pairs compare those answers: no warning there.
    "drop-kept-alive": (SEED, expect(ALL_CHOICES, STREAM, "warn:http.connection-reuse")),
    # The server dies after its first refusal: one test shows it; later ones could not even send theirs.
    "dies-after-bad-request": (
        f"{BAD_REQUESTS} and tools-empty",
        {"test_bad_requests[tools-empty]": {"reject.still-serving"}},
    ),
}


# Options a fault's run needs: one connection at a time makes which requests reuse a connection certain.
FAULT_OPTIONS: dict[str, tuple[str, ...]] = {"drop-kept-alive": ("--concurrency=1",)}


def run_against(pytester: pytest.Pytester, fault: str, *args: str) -> tuple[pytest.RunResult, dict]:
    """Run the suite against a fault server; return pytest's result and results.json."""
    with FaultServer(fault) as server:
        return run_suite(pytester, server.base_url, *args)


def _outcome(record: dict) -> object:
    failed = {v["check"] for v in record["violations"]}
    if record["verdict"] == "fail":
        return failed
    if record["verdict"] == "warn":
        return "warn:" + ",".join(sorted(failed))
    return record["verdict"]


@pytest.mark.parametrize("fault", list(EXPECTED))
def test_fault_fails_exactly_its_checks(pytester: pytest.Pytester, fault: str):
    selection, expected = EXPECTED[fault]
    result, document = run_against(pytester, fault, *FAULT_OPTIONS.get(fault, ()), "-k", selection)
    records = {record["test"]: record for record in document["tests"]}
    assert records, result.stdout.str()
    outcomes = {test: _outcome(record) for test, record in records.items() if record["verdict"] != "pass"}
    assert outcomes == expected
    output = result.stdout.str()
    for checks in expected.values():
        for check_id in checks if isinstance(checks, set) else ():
            assert f"[{check_id}] MUST" in output
    failures = sum(1 for checks in expected.values() if isinstance(checks, set))
    assert result.ret == (1 if failures or judged(document["tests"]).too_little else 0)
    hold_examples("test_fault_fails_exactly_its_checks", fault, document["tests"])


def test_every_check_is_proven_by_a_fault():
    """Every check of answers, pairs and refusals (a generated test's are proven in test_generated_against_faults)."""
    proven = set()
    for _, expected in EXPECTED.values():
        for checks in expected.values():
            proven |= checks if isinstance(checks, set) else set(checks.partition(":")[2].split(","))
    ids = {
        registered.id
        for subject in (Subject.ANSWER, Subject.PAIR, Subject.REFUSAL)
        for registered in checks_of(subject)
    }
    assert ids - proven == set()


def sdk_client(checks: set[str], modes: tuple[str, ...] = BOTH) -> dict:
    """The seed sent by the openai SDK itself (tests/test_seed_sdk.py), sync and async client."""
    clients = ("openai", "async_openai")
    return {f"test_seed_through_the_{client}_client[{mode}]": checks for client in clients for mode in modes}


SDK_CLIENT_EXPECTED = {
    "none": {},
    "http-500": sdk_client({"http.status"}),  # after the SDK's own two retries
    "chunk-not-json": sdk_client({"stream.chunk-json", "sdk.answer"}, STREAM),
    "repeat-id": sdk_client({"stream.id-once", "sdk.calls-agree"}, STREAM),
    "args-schema-violation": sdk_client({"args.schema"}),
}


@pytest.mark.parametrize("fault", list(SDK_CLIENT_EXPECTED))
def test_the_sdk_s_own_requests_are_judged_like_the_suite_s(pytester: pytest.Pytester, fault: str):
    result, document = run_against(pytester, fault, "-m", "sdk_client")
    outcomes = {record["test"]: _outcome(record) for record in document["tests"] if record["verdict"] != "pass"}
    assert len(document["tests"]) == 4 and outcomes == SDK_CLIENT_EXPECTED[fault], result.stdout.str()[-3000:]


def test_a_dropped_connection_warns_with_its_evidence_and_its_resend_is_judged(pytester: pytest.Pytester):
    """Every curated test and bad request, connections shared as usual: a request dropped on a kept-alive connection
    is resent on a new one (never another kept-alive one, which would drop it too) and judged by every check; the
    drop alone warns, with the transport's words, in the test that sent it."""
    result, document = run_against(pytester, "drop-kept-alive", "-k", "not generated")
    warned = [record for record in document["tests"] if record["verdict"] == "warn"]
    assert {record["verdict"] for record in document["tests"]} == {"pass", "warn"}, result.stdout.str()
    assert {record["mode"] for record in warned} == {"blocking", "stream"}
    for record in warned:
        assert [violation["check"] for violation in record["violations"]] == ["http.connection-reuse"]
        assert [retry["status"] for retry in record["retries"]] == [None]
        message = record["violations"][0]["message"]
        assert "Server disconnected without sending a response" in message and "resent on a new connection" in message
    assert result.ret == 0


@pytest.mark.parametrize("mode", list(BENIGN))
def test_a_legal_variation_fires_no_check(pytester: pytest.Pytester, mode: str):
    """Every curated test and bad request against a server that answers correctly, in another legal way (a thought
    in either reasoning field among them; no thought at all is the correct server's own answer, fault "none")."""
    result, document = run_against(pytester, mode, "-k", "not generated")
    not_passed = {record["test"]: _outcome(record) for record in document["tests"] if record["verdict"] != "pass"}
    assert not_passed == {} and len(document["tests"]) > 150
    assert result.ret == 0


def test_xdist_workers_write_one_merged_report(pytester: pytest.Pytester):
    selection = "weather-seed and not strict and test_required"
    result, document = run_against(pytester, "args-schema-violation", "-n", "2", "-k", selection)
    assert result.ret == 1
    assert sorted(record["test"] for record in document["tests"]) == [
        "test_required[weather-seed-blocking]",
        "test_required[weather-seed-stream]",
    ]
    assert document["totals"] == {"fail": 2} and document["requests_sent"] == 2
    assert not (pytester.path / "reports" / "latest" / "parts").exists()


# Every curated test whose streams ask for usage: all but the seed's, which go out verbatim as vLLM's example sends
# them (no include_usage), where a stream can show less (docs/reference/verdicts.md).
WITH_USAGE = "not weather-seed and not generated and not bad_requests and not seed_through"


@pytest.mark.parametrize("lie", ["length-lie", "length-lie+drop-usage"])
@pytest.mark.parametrize("fault", ["args-schema-violation", "zero-calls", "unknown-name", "args-invalid-json"])
def test_a_length_lie_hides_no_failure(pytester: pytest.Pytester, fault: str, lie: str):
    """A server that says "length" on complete answers cannot turn a failure into a truncation, nor by dropping
    the usage the answers owe: every test that fails without the lie still fails with it."""
    _, honest = run_against(pytester, fault, "-k", WITH_USAGE)
    _, lying = run_against(pytester, f"{fault}+{lie}", "-k", WITH_USAGE)
    failed = {record["test"] for record in honest["tests"] if record["verdict"] == "fail"}
    lied = {record["test"]: record for record in lying["tests"]}
    assert failed and {test for test in failed if lied[test]["verdict"] != "fail"} == set()
    assert all(record["verdict"] != "truncated" for record in lied.values())
