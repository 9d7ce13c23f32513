"""Bad requests: the data file, the reject.* verdicts on made-up answers, and secrets kept out of what is written.

Which fault breaks which reject.* check is proven in selftests/test_suite_against_faults.py.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from selftests.fault_server import BadRequest as Refused
from selftests.fault_server import FaultServer, parse_request
from selftests.suite_run import run_suite
from toolcall_conformance.data import BAD_REQUESTS_FILE
from toolcall_conformance.inputs.bad_requests import BadRequest, bad_requests
from toolcall_conformance.judging.refusal import judge_refusal
from toolcall_conformance.judging.verdict import Level, Verdict
from toolcall_conformance.reporting.explain import curl_line, reproducer_document
from toolcall_conformance.settings import OPTIONS, Settings
from toolcall_conformance.wire.client import TRANSPORT_CONNECT, Exchange, TransportError, parse_response

SCHEMA_FILE = BAD_REQUESTS_FILE.with_name("bad-requests.schema.json")
CASES = {case.id: case for case in bad_requests()}
# Every option at its default, as resolve() would give without flags, pointed at a made-up target.
SETTINGS = Settings(**{option.name: option.default for option in OPTIONS}).with_target("http://127.0.0.1:1/v1", "m")
ERROR_BODY = {"error": {"message": "no", "type": "BadRequestError", "param": None, "code": 400}}


# --- the data file ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [BAD_REQUESTS_FILE, SCHEMA_FILE], ids=lambda path: path.name)
def test_file_is_canonically_formatted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def test_cases_match_their_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    document = json.loads(BAD_REQUESTS_FILE.read_text(encoding="utf-8"))
    assert [error.message for error in Draft202012Validator(schema).iter_errors(document)] == []


def test_ids_are_unique() -> None:
    assert len(CASES) == len(bad_requests())


@pytest.mark.parametrize("case", [case for case in bad_requests() if case.body is not None], ids=lambda case: case.id)
def test_template_fills_model_max_tokens_and_the_seed(case: BadRequest) -> None:
    body = case.json_body(SETTINGS)
    assert body["model"] == "m" and body["max_tokens"] == 256
    assert "$seed." not in json.dumps(body)


@pytest.mark.parametrize("case", bad_requests(), ids=lambda case: case.id)
def test_every_case_is_refused_by_the_correct_fault_server(case: BadRequest) -> None:
    with pytest.raises((Refused, ValueError)):
        body: Any = json.loads(case.raw) if case.raw is not None else case.json_body(SETTINGS)
        parse_request(body, "m")


def test_name_cases_are_the_should_ones_and_only_break_the_name() -> None:
    assert {case.id for case in bad_requests() if case.level == Level.SHOULD} == {
        "name-breaks-pattern",
        "name-too-long",
    }
    for case_id in ("name-breaks-pattern", "name-too-long"):
        parse_request(CASES[case_id].json_body(SETTINGS), "m", check_names=False)  # valid but for the name


# --- verdicts on made-up answers ----------------------------------------------------------------


def answered(status: int, body: Any, *, sent: bytes | None = None) -> Exchange:
    exchange = Exchange(url="http://127.0.0.1:1/v1/chat/completions", request={}, stream=False, sent=sent)
    exchange.status, exchange.raw = status, json.dumps(body).encode()
    exchange.headers = {"content-type": "application/json"}
    parse_response(exchange)
    return exchange


OK = answered(200, {"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}]})


def judged(case_id: str, answer: Exchange, follow_up: Exchange | None = OK) -> tuple[Verdict, dict[str, str]]:
    judgement = judge_refusal(f"test_bad_requests[{case_id}]", CASES[case_id], answer, follow_up)
    return judgement.verdict, {violation.check: violation.level.value for violation in judgement.violations}


def test_a_400_with_the_error_object_passes() -> None:
    assert judged("tools-empty", answered(400, ERROR_BODY)) == (Verdict.PASS, {})


def test_accepting_fails_a_must_case_and_warns_for_a_should_case() -> None:
    assert judged("tools-empty", OK) == (Verdict.FAIL, {"reject.status-4xx": "MUST"})
    assert judged("name-too-long", OK) == (Verdict.WARN, {"reject.status-4xx": "SHOULD"})


def test_a_5xx_fails_even_a_should_case() -> None:
    assert judged("name-too-long", answered(500, ERROR_BODY)) == (Verdict.FAIL, {"reject.no-server-error": "MUST"})


def test_the_flat_error_of_older_vllm_breaks_the_error_shape() -> None:
    flat = {"object": "error", "message": "no", "type": "BadRequestError", "param": None, "code": 400}
    assert judged("tools-empty", answered(400, flat)) == (Verdict.FAIL, {"reject.error-shape": "MUST"})


def test_a_server_gone_after_the_refusal_breaks_still_serving() -> None:
    gone = Exchange(url="u", request={}, stream=False, transport_error=TransportError(TRANSPORT_CONNECT, "refused"))
    assert judged("tools-empty", answered(400, ERROR_BODY), gone) == (Verdict.FAIL, {"reject.still-serving": "MUST"})


def test_an_unanswered_bad_request_is_an_error_not_a_check() -> None:
    broken = Exchange(url="u", request={}, stream=False, transport_error=TransportError(TRANSPORT_CONNECT, "refused"))
    assert judged("tools-empty", broken, None) == (Verdict.ERROR, {})


def test_a_raw_body_is_reproduced_byte_for_byte() -> None:
    raw = CASES["malformed-json"].raw or ""
    judgement = judge_refusal("t", CASES["malformed-json"], answered(200, {}, sent=raw.encode()), OK)
    assert [exchange.sent for exchange in judgement.exchanges] == [raw.encode()]
    curl = curl_line(judgement.exchanges[0])
    assert curl.endswith("--data-binary " + shlex.quote(raw)) and "$OPENAI_API_KEY" in curl
    assert reproducer_document(judgement)["exchanges"][0]["request"] == raw


# --- secrets ------------------------------------------------------------------------------------


def test_no_api_key_in_anything_written(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-SECRET-bad-requests-0123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with FaultServer("accept-bad-requests") as server:
        result, document = run_suite(pytester, server.base_url, "-k", "test_bad_requests")
    assert document["totals"]["fail"] > 0
    written = [path for path in (pytester.path / "reports").rglob("*") if path.is_file()]
    assert any("reproducers" in str(path) for path in written)
    assert [path for path in written if secret in path.read_text(errors="replace")] == []
    assert secret not in result.stdout.str() + result.stderr.str()
