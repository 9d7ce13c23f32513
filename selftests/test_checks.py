"""Checks and validators on hand-made exchanges: the message names the call, the pointer, wanted and got."""

import json
import time

from toolcall_conformance.inputs.cases import Case, ToolSet
from toolcall_conformance.judging.catalogue import all_checks
from toolcall_conformance.judging.judge import run_checks
from toolcall_conformance.judging.schema import schema_problems
from toolcall_conformance.judging.verdict import Level, Verdict, verdict_of
from toolcall_conformance.wire.client import Exchange

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_forecast",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer", "maximum": 7}},
                "required": ["city", "days"],
            },
        },
    },
    {"type": "function", "function": {"name": "ping"}},
)
TOOLSET = ToolSet(id="unit", title="unit", tools=TOOLS)


def _blocking(
    calls: list[dict],
    finish: str = "tool_calls",
    content: str | None = None,
    case: Case | None = None,
    usage: dict | None = None,
    retries: list[dict] | None = None,
):
    case = case or Case(TOOLSET, "blocking", "required")
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "tool_calls": calls},
                "finish_reason": finish,
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    request = {"tools": list(TOOLS), "tool_choice": case.tool_choice(), "max_tokens": 16}
    exchange = Exchange(url="http://h/v1/chat/completions", request=request, stream=False, status=200)
    exchange.raw = json.dumps(body).encode()
    exchange.json_body = body
    exchange.retries = retries or []
    return run_checks(case, exchange)


def _call(name: str, arguments: str, call_id: str = "call_1") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _failed(result) -> set[str]:
    return {violation.check for violation in result[1]}


def test_a_correct_answer_breaks_nothing():
    assert _failed(_blocking([_call("get_forecast", '{"city": "Dallas", "days": 5}')])) == set()


def test_schema_violation_names_call_pointer_wanted_and_got():
    _, violations, _ = _blocking([_call("get_forecast", '{"city": "Dallas", "days": 9}')])
    [violation] = violations
    assert violation.check == "args.schema" and violation.level is Level.MUST
    assert "call 0 ('get_forecast')" in violation.message
    assert "at /days" in violation.message
    assert '{"maximum":7}' in violation.message and "got 9" in violation.message
    assert violation.data == {"call": 0, "pointer": "/days"}


def test_absent_parameters_mean_an_empty_object_schema():
    assert _failed(_blocking([_call("ping", "{}")])) == set()
    assert _failed(_blocking([_call("ping", "[]")])) == {"args.json", "args.schema"}


def test_arguments_that_are_json_but_not_an_object_break_both_argument_rules():
    assert _failed(_blocking([_call("get_forecast", "true")])) == {"args.json", "args.schema"}


def test_undecodable_arguments_are_judged_by_args_json_alone():
    assert _failed(_blocking([_call("get_forecast", '{"city": ')])) == {"args.json"}


def test_no_call_under_required_reports_markup_left_in_content():
    _, violations, _ = _blocking([], content='<tool_call>\n{"name": "ping", "arguments": {}}\n</tool_call>')
    assert {v.check for v in violations} == {"choice.required-call", "content.no-markup"}
    assert "markup the server did not parse" in violations[0].message


AT_THE_LIMIT = {"prompt_tokens": 40, "completion_tokens": 16, "total_tokens": 56}  # max_tokens is 16


def test_truncated_answers_are_not_judged_on_arguments():
    seen, violations, judged = _blocking([_call("get_forecast", '{"city": "Da')], finish="length", usage=AT_THE_LIMIT)
    assert violations == [] and "args.schema" not in judged and "call.id" in judged
    assert verdict_of(violations, seen.answer.truncated) is Verdict.TRUNCATED


def test_a_length_the_facts_contradict_excuses_nothing():
    """Below the limit, or without the usage a blocking answer owes, "length" is judged as a complete answer."""
    below = {"prompt_tokens": 40, "completion_tokens": 5, "total_tokens": 45}
    for usage in (below, None):
        seen, violations, _ = _blocking([_call("get_forecast", '{"city": 1}')], finish="length", usage=usage)
        assert not seen.answer.truncated
        assert {v.check for v in violations} >= {"finish.length-proven", "finish.reason", "args.schema"}


def test_a_cut_call_claimed_complete_is_named_as_such():
    """vLLM #58228: usage at the limit, the last call cut, finish_reason "tool_calls"."""
    seen, violations, judged = _blocking([_call("get_forecast", '{"city": "Da')], usage=AT_THE_LIMIT)
    assert seen.answer.truncated and [v.check for v in violations] == ["finish.cut-call-length"]
    assert "args.json" not in judged


def test_named_choice_wants_stop_or_tool_calls_and_exactly_that_function():
    case = Case(TOOLSET, "blocking", "named")
    forecast = [_call("get_forecast", '{"city": "A", "days": 1}')]
    assert _failed(_blocking(forecast, finish="stop", case=case)) == set()  # what OpenAI answers
    assert _failed(_blocking(forecast, finish="tool_calls", case=case)) == set()  # what its reference says
    assert _failed(_blocking([_call("ping", "{}")], finish="stop", case=case)) == {"choice.named-call"}
    assert _failed(_blocking(forecast, finish="content_filter", case=case)) == {"finish.reason"}


def test_http_status_is_a_gate():
    case = Case(TOOLSET, "blocking", "required")
    exchange = Exchange(url="u", request={"tools": list(TOOLS)}, stream=False, status=500, raw=b"boom")
    _, violations, judged = run_checks(case, exchange)
    # Only the drop of a kept-alive connection is judged before it: it needs no answer.
    assert [v.check for v in violations] == ["http.status"] and judged == ["http.connection-reuse", "http.status"]


def test_a_dropped_connection_warns_with_its_evidence_and_an_overload_retry_does_not():
    call = [_call("get_forecast", '{"city": "Dallas", "days": 5}')]
    reason = "connection broke: RemoteProtocolError: Server disconnected without sending a response."
    dropped = _blocking(call, retries=[{"status": None, "reason": reason, "waited": 0.0}])
    assert [(v.check, v.level) for v in dropped[1]] == [("http.connection-reuse", Level.SHOULD)]
    assert verdict_of(dropped[1], truncated=False) is Verdict.WARN
    message = dropped[1][0].message
    assert message.startswith("1 request(s) of this test got no answer") and reason in message
    assert "resent on a new connection" in message and dropped[1][0].data == {"dropped": 1}
    overloaded = [{"status": 503, "waited": 0.5}, {"status": 429, "waited": 1.0}]
    assert _failed(_blocking(call, retries=overloaded)) == set()


def test_a_dropped_connection_is_reported_when_the_resend_fails_too():
    """http.status is a gate: the drop is judged before it, so a resend answered 500 still shows it."""
    case = Case(TOOLSET, "blocking", "required")
    retries = [{"status": None, "reason": "connection broke: RemoteProtocolError: no response", "waited": 0.0}]
    exchange = Exchange(url="u", request={"tools": list(TOOLS)}, stream=False, status=500, raw=b"boom", retries=retries)
    _, violations, judged = run_checks(case, exchange)
    assert [v.check for v in violations] == ["http.connection-reuse", "http.status"]
    assert judged == ["http.connection-reuse", "http.status"]


def test_schema_problems_are_sorted_and_readable():
    problems = schema_problems({"a": "x", "b": 1}, {"properties": {"a": {"type": "integer"}, "b": {"type": "string"}}})
    assert [p.pointer for p in problems] == ["/a", "/b"]
    assert problems[0].describe().startswith("at /a: 'x' is not of type 'integer'")


def test_format_is_checked():
    assert schema_problems("not-a-date", {"type": "string", "format": "date"})


def test_every_check_names_its_rule_and_source():
    for registered in all_checks().values():
        assert registered.rule.endswith(".") and registered.source, registered.id


def test_absurdly_nested_or_nan_json_is_a_named_violation_not_a_crash():
    deep = "[" * 100_000
    assert _failed(_blocking([_call("get_forecast", deep)])) == {"args.json"}
    assert _failed(_blocking([_call("get_forecast", '{"city": "A", "days": NaN}')])) == {"args.json"}
    exchange = Exchange(url="u", request={"tools": list(TOOLS)}, stream=False, status=200, raw=deep.encode())
    from toolcall_conformance.wire.client import parse_response

    parse_response(exchange)
    assert [v.check for v in run_checks(Case(TOOLSET, "blocking", "required"), exchange)[1]] == ["http.json"]


def test_equivalence_is_type_strict():
    from toolcall_conformance.judging.answer import Answer, Call
    from toolcall_conformance.judging.checks import _comparable

    one = Answer([Call(0, "a", "function", "f", '{"n": 1}')])
    true = Answer([Call(0, "a", "function", "f", '{"n": true}')])
    quoted = Answer([Call(0, "a", "function", "f", '"strin"')])
    raw = Answer([Call(0, "a", "function", "f", "strin")])
    assert _comparable(one) != _comparable(true)
    assert _comparable(quoted) != _comparable(raw)
    assert _comparable(one) == _comparable(Answer([Call(0, "b", "function", "f", '{ "n" :1 }')]))


def test_the_answer_checks_run_in_the_catalogue_s_order_whichever_module_was_imported_first():
    """The gate checks (http.status first, after the drop check that needs no answer) stop the rest; a module imported
    before judge.py must not reorder them."""
    import subprocess
    import sys

    program = (
        "import toolcall_conformance.judging.sdk\n"  # registers the sdk.* checks before checks.py's
        "from toolcall_conformance.judging.catalogue import checks_of\n"
        "from toolcall_conformance.judging.registry import Subject, registered\n"
        "assert [c.id for c in registered(Subject.ANSWER)] == [c.id for c in checks_of(Subject.ANSWER)]\n"
        "assert [c.id for c in registered(Subject.ANSWER)[:2]] == ['http.connection-reuse', 'http.status']\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
