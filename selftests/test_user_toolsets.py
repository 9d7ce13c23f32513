"""A user's own tool sets (--toolsets DIR, --only-user-toolsets): read, validated, sent through every test.

The loader's errors name the file and the JSON pointer; the options come from the command line, the
environment and the ini file; against the fault server the user's sets get every check, and the probes drawn
from them (tests/test_user_generated.py) shrink a failure to the smallest part of the user's tools.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from selftests.fault_server import FaultServer
from selftests.suite_run import REPO, run_suite
from toolcall_conformance.inputs.strategies import variants_of
from toolcall_conformance.inputs.toolsets import ToolSetError, user_toolsets

CRM_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "find_customer",
            "description": "Find a customer by email address.",
            "parameters": {
                "type": "object",
                "properties": {"email": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
                "required": ["email"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "open_ticket",
            "description": "Open a support ticket.",
            "parameters": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "priority": {"enum": ["low", "high"]},
                    "notes": {"type": "string"},
                },
                "required": ["title"],
            },
        },
    },
]
USER_TEST_IDS = {
    *(f"test_required[crm-{mode}]" for mode in ("blocking", "stream")),
    *(f"test_named[crm-{mode}]" for mode in ("blocking", "stream")),
    *(f"test_parallel_off[crm-{mode}]" for mode in ("blocking", "stream")),
    *(f"test_stream_matches_blocking[crm-{choice}]" for choice in ("required", "named")),
    *(
        f"test_user_generated[crm-{mode}-{choice}]"
        for mode in ("blocking", "stream")
        for choice in ("required", "named")
    ),
}


def write_set(directory: Path, name: str, document: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture
def crm_dir(tmp_path: Path) -> Path:
    """A directory with one user tool set, crm.json, written as a bare tools array (as an agent sends it)."""
    write_set(tmp_path / "sets", "crm.json", CRM_TOOLS)
    return tmp_path / "sets"


# ---------------------------------------------------------------- reading and validating


def test_a_bare_tools_array_and_an_object_with_a_conversation_both_load(tmp_path: Path) -> None:
    write_set(tmp_path, "crm.json", CRM_TOOLS)
    conversation = [{"role": "user", "content": "Open a ticket: the printer is on fire."}]
    write_set(tmp_path, "tickets.json", {"id": "tickets", "tools": CRM_TOOLS[1:], "messages": conversation})
    crm, tickets = user_toolsets([tmp_path])
    assert (crm.id, crm.function_names, crm.is_user, crm.source) == (
        "crm",
        ("find_customer", "open_ticket"),
        True,
        str(tmp_path / "crm.json"),
    )
    assert tickets.conversation() == conversation and tickets.named_function == "open_ticket"


BROKEN = [
    ("not JSON", '{"tools": [', r"bad\.json: not JSON: Expecting value at line 1, column 12"),
    ("no tools", {"title": "x"}, r"bad\.json: at the top level: 'tools' is a required property"),
    (
        "a bad name",
        [{"type": "function", "function": {"name": "find customer"}}],
        r"bad\.json: at /0/function/name: 'find customer' does not match",
    ),
    (
        "not a function",
        {"tools": [{"type": "tool", "function": {"name": "f"}}]},
        r"bad\.json: at /tools/0/type: 'function' was expected",
    ),
    (
        "an invalid schema",
        [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "minProperties": -1}}}],
        r"bad\.json: at /0/function/parameters/minProperties: not a valid JSON Schema",
    ),
    ("a name twice", [CRM_TOOLS[0], CRM_TOOLS[0]], r"bad\.json: at /1/function/name: .*'find_customer' is taken"),
    ("a named tool that is missing", {"tools": CRM_TOOLS, "named": "close_ticket"}, r"bad\.json: at /named: no tool"),
    ("both a prompt and messages", {"tools": CRM_TOOLS, "prompt": "p", "messages": []}, r"bad\.json: at "),
]


@pytest.mark.parametrize(("document", "message"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_a_broken_file_is_named_with_the_pointer_of_what_is_wrong(tmp_path: Path, document: Any, message: str) -> None:
    write_set(tmp_path, "bad.json", document)
    with pytest.raises(ToolSetError, match=message) as raised:
        user_toolsets([tmp_path])
    assert str(tmp_path / "bad.json") in str(raised.value)


def test_ids_must_be_new_and_directories_must_hold_sets(tmp_path: Path) -> None:
    write_set(tmp_path / "a", "weather-seed.json", CRM_TOOLS)
    with pytest.raises(ToolSetError, match=r"weather-seed\.json: the id 'weather-seed' is already a curated tool set"):
        user_toolsets([tmp_path / "a"], taken=["weather-seed"])
    write_set(tmp_path / "b", "crm.json", CRM_TOOLS)
    write_set(tmp_path / "c", "crm.json", CRM_TOOLS)
    with pytest.raises(ToolSetError, match=r"c/crm\.json: the id 'crm' is already the id of .*b/crm\.json"):
        user_toolsets([tmp_path / "b", tmp_path / "c"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToolSetError, match=r"--toolsets .*empty: no tool set files \(\*\.json\) in it"):
        user_toolsets([tmp_path / "empty"])
    with pytest.raises(ToolSetError, match=r"--toolsets .*nowhere: no such directory"):
        user_toolsets([tmp_path / "nowhere"])
    write_set(tmp_path / "d", "my tools.json", CRM_TOOLS)
    with pytest.raises(ToolSetError, match=r"my tools\.json: the file name makes no tool set id"):
        user_toolsets([tmp_path / "d"])


# ---------------------------------------------------------------- the options, and what they collect


def collected(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        str(REPO / "tests"), f"--rootdir={REPO}", "-p", "no:cacheprovider", "--collect-only", "-q", *args
    )


def names_of(result: pytest.RunResult) -> set[str]:
    return {line.split("::")[-1] for line in result.outlines if "::" in line}


def test_only_user_toolsets_collects_the_user_sets_through_every_test(pytester: pytest.Pytester, crm_dir: Path) -> None:
    result = collected(pytester, f"--toolsets={crm_dir}", "--only-user-toolsets")
    assert result.ret == 0, result.stdout.str()
    assert names_of(result) == USER_TEST_IDS


def test_the_user_sets_come_on_top_of_ours(pytester: pytest.Pytester, crm_dir: Path) -> None:
    ours = names_of(collected(pytester))
    both = names_of(collected(pytester, f"--toolsets={crm_dir}"))
    assert both == ours | USER_TEST_IDS and not ours & USER_TEST_IDS


def test_toolsets_from_the_environment_and_the_ini_file(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_set(tmp_path / "one", "crm.json", CRM_TOOLS)
    write_set(tmp_path / "two", "tickets.json", {"tools": CRM_TOOLS[1:]})
    monkeypatch.setenv("TCC_TOOLSETS", os.pathsep.join([str(tmp_path / "one"), str(tmp_path / "two")]))
    monkeypatch.setenv("TCC_ONLY_USER_TOOLSETS", "yes")
    from_env = names_of(collected(pytester))
    assert {"test_required[crm-stream]", "test_required[tickets-stream]"} <= from_env
    assert "test_required[weather-seed-stream]" not in from_env
    monkeypatch.delenv("TCC_TOOLSETS")
    monkeypatch.delenv("TCC_ONLY_USER_TOOLSETS")
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\ntcc_toolsets =\n    two\ntcc_only_user_toolsets = true\n")  # relative to the ini file
    from_ini = names_of(collected(pytester, "-c", str(ini)))
    assert {"test_required[tickets-blocking]", "test_user_generated[tickets-stream-named]"} <= from_ini
    assert not any("crm" in name or "weather-seed" in name for name in from_ini)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--only-user-toolsets",), "--only-user-toolsets needs tool sets of your own: give --toolsets DIR"),
        (("--toolsets=BAD",), "bad.json: at /0/function/name: 'no spaces please' does not match"),
    ],
    ids=["only-user-without-sets", "broken-file"],
)
def test_bad_tool_set_options_are_a_usage_error_of_one_line(
    pytester: pytest.Pytester, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    write_set(tmp_path / "bad", "bad.json", [{"type": "function", "function": {"name": "no spaces please"}}])
    args = tuple(arg.replace("BAD", str(tmp_path / "bad")) for arg in args)
    result = collected(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


# ---------------------------------------------------------------- against a server


def test_every_check_judges_the_user_sets(pytester: pytest.Pytester, crm_dir: Path) -> None:
    with FaultServer("args-schema-violation") as server:
        result, document = run_suite(
            pytester, server.base_url, f"--toolsets={crm_dir}", "--only-user-toolsets", "-k", "not user_generated"
        )
    assert result.ret == 1, result.stdout.str()
    records = {record["test"]: record for record in document["tests"]}
    assert set(records) == USER_TEST_IDS - {name for name in USER_TEST_IDS if "user_generated" in name}
    for name in ("test_required[crm-blocking]", "test_named[crm-stream]", "test_parallel_off[crm-blocking]"):
        assert records[name]["verdict"] == "fail"
        assert {violation["check"] for violation in records[name]["violations"]} == {"args.schema"}, name
    assert document["options"]["toolsets"] == [str(crm_dir)] and document["options"]["only_user_toolsets"] is True


def test_a_probe_drawn_from_a_user_set_shrinks_to_the_tool_and_property_that_fail(
    pytester: pytest.Pytester, crm_dir: Path
) -> None:
    with FaultServer("ignore-enum") as server:  # a value under an enum is answered outside it
        result, document = run_suite(
            pytester,
            server.base_url,
            f"--toolsets={crm_dir}",
            "--only-user-toolsets",
            "-k",
            "test_user_generated and blocking-required",
            "--hypothesis-profile=ci",
        )
    assert result.ret == 1, result.stdout.str()
    (record,) = document["tests"]
    assert record["test"] == "test_user_generated[crm-blocking-required]" and record["verdict"] == "fail"
    reproducer = json.loads((pytester.path / "reports" / "latest" / record["reproducer"]).read_text())
    (tool,) = reproducer["tools"]
    assert tool["function"]["name"] == "open_ticket"
    assert set(tool["function"]["parameters"]["properties"]) == {"title", "priority"}  # required + the failing one


# ---------------------------------------------------------------- the strategy


@given(st.data())
def test_a_variant_is_part_of_the_user_set(data: st.DataObject) -> None:
    variant = data.draw(variants_of(CRM_TOOLS))
    originals = {tool["function"]["name"]: tool["function"] for tool in CRM_TOOLS}
    names = [tool["function"]["name"] for tool in variant]
    assert names and names == [name for name in originals if name in names]  # a subset, in the user's order
    for tool in variant:
        function, original = tool["function"], originals[tool["function"]["name"]]
        kept, required = set(function["parameters"]["properties"]), set(original["parameters"]["required"])
        assert required <= kept <= set(original["parameters"]["properties"])
        assert function.get("strict") in (None, True)
    assert CRM_TOOLS[1]["function"]["parameters"]["properties"].keys() == {"title", "priority", "notes"}  # untouched


def test_a_variant_shrinks_to_one_tool_with_only_what_the_condition_needs() -> None:
    def has_priority(tools: list[dict[str, Any]]) -> bool:
        return any("priority" in tool["function"]["parameters"]["properties"] for tool in tools)

    minimal = find(variants_of(CRM_TOOLS), has_priority)
    assert [tool["function"]["name"] for tool in minimal] == ["open_ticket"]
    assert set(minimal[0]["function"]["parameters"]["properties"]) == {"title", "priority"}
    assert "strict" not in minimal[0]["function"]
