"""The suite as a user installs it: wheel and sdist built from this checkout, the wheel installed into a fresh
virtual environment outside it, run from a temporary directory against the fault server with a user tool set.

One module-scoped build and install (about a minute, pip's download cache warm); every test then runs the
installed console script or pytest of that venv, never this checkout's code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from selftests.fault_server import FaultServer
from selftests.test_user_toolsets import CRM_TOOLS, USER_TEST_IDS
from toolcall_conformance.inputs.bad_requests import bad_requests
from toolcall_conformance.inputs.cases import equivalence_pairs, named_cases, parallel_off_cases, required_cases

REPO = Path(__file__).resolve().parent.parent


class Installed:
    """A fresh venv with the built wheel in it, and the distributions it was built from."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dist = root / "dist"
        self.venv = root / "venv"
        self.bin = self.venv / "bin"

    def environment(self, **extra: str) -> dict[str, str]:
        """This machine's environment without anything that points at the checkout or steers the suite."""
        keep = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TCC_", "PYTEST_", "VIRTUAL_ENV", "PYTHON")) and key != "OPENAI_API_KEY"
        }
        return {**keep, "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}", **extra}

    def run(self, command: list[str], cwd: Path, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, cwd=cwd, env=self.environment(**extra), capture_output=True, text=True, timeout=timeout
        )


def _checked(command: list[str], **kwargs: object) -> None:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    found = Installed(tmp_path_factory.mktemp("packaging"))
    _checked([sys.executable, "-m", "build", "--outdir", str(found.dist), str(REPO)], timeout=600)
    venv.create(found.venv, with_pip=True)
    (wheel,) = found.dist.glob("*.whl")
    _checked(
        [str(found.bin / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", str(wheel)],
        timeout=600,
    )
    yield found


@pytest.fixture
def user_sets(tmp_path: Path) -> Path:
    directory = tmp_path / "my-tools"
    directory.mkdir()
    (directory / "crm.json").write_text(json.dumps(CRM_TOOLS))
    return directory


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory that is neither the checkout nor under it."""
    directory = tmp_path / "work"
    directory.mkdir()
    assert REPO not in directory.parents
    return directory


def results_of(directory: Path) -> dict:
    return json.loads((directory / "reports" / "latest" / "results.json").read_text())


def test_the_distributions_carry_the_tests_the_data_and_the_install_script(installed: Installed) -> None:
    (sdist,) = installed.dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"tests/test_required.py", "schemas/tools/weather-seed.json", "scripts/install-target"} <= names
    package = next(installed.venv.glob("lib/python*/site-packages/toolcall_conformance"))
    parts = ("suite/test_user_generated.py", "schemas/tools/toolset.schema.json", "installer/lib/steps.sh")
    for part in (*parts, "target/serve_llamacpp.py"):
        assert (package / part).is_file(), part
    assert not (package.parent / "tests").exists()  # nothing lands as a top-level "tests" package


def test_the_installed_command_runs_ours_and_the_user_s_sets_from_any_directory(
    installed: Installed, user_sets: Path, elsewhere: Path
) -> None:
    with FaultServer("none") as server:
        done = installed.run(
            ["toolcall-conformance", f"--endpoint={server.base_url}", f"--toolsets={user_sets}", "-q"], elsewhere
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = results_of(elsewhere)
    curated = len(required_cases()) + len(named_cases()) + len(parallel_off_cases()) + len(equivalence_pairs())
    generated, through_the_sdk = 8, 4
    tests = {record["test"] for record in document["tests"]}
    assert tests >= USER_TEST_IDS
    assert len(tests) == curated + len(bad_requests()) + generated + through_the_sdk + len(USER_TEST_IDS)
    assert document["totals"] == {"pass": len(tests)}
    assert (elsewhere / "reports" / "latest" / "report.html").is_file()


def test_the_installed_command_fails_the_user_s_sets_on_a_broken_server(
    installed: Installed, user_sets: Path, elsewhere: Path
) -> None:
    with FaultServer("args-schema-violation") as server:
        done = installed.run(
            [
                "toolcall-conformance",
                f"--endpoint={server.base_url}",
                f"--toolsets={user_sets}",
                "--only-user-toolsets",
                "-k",
                "not user_generated",
            ],
            elsewhere,
        )
    assert done.returncode == 1, done.stdout[-3000:]
    records = {record["test"]: record for record in results_of(elsewhere)["tests"]}
    assert set(records) == {name for name in USER_TEST_IDS if "user_generated" not in name}
    assert {v["check"] for v in records["test_required[crm-stream]"]["violations"]} == {"args.schema"}


def test_without_an_endpoint_or_a_target_it_says_in_one_line_how_to_install_one(
    installed: Installed, elsewhere: Path
) -> None:
    done = installed.run(["toolcall-conformance"], elsewhere, TCC_VLLM_VENV=str(elsewhere / "no-vllm-here"))
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    (line,) = done.stderr.strip().splitlines()
    assert "toolcall-conformance install-target" in line and "--endpoint=URL" in line and "no-vllm-here" in line
    assert not (elsewhere / "reports").exists()
    helped = installed.run(["toolcall-conformance", "install-target", "--help"], elsewhere)
    assert helped.returncode == 0 and "TCC_VLLM_VENV" in helped.stdout and "--engine=llamacpp" in helped.stdout
    asked = ["toolcall-conformance", "--target-engine=llamacpp"]
    done = installed.run(asked, elsewhere, TCC_LLAMACPP_VENV=str(elsewhere / "no-llamacpp-here"))
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    (line,) = done.stderr.strip().splitlines()
    assert "toolcall-conformance install-target --engine=llamacpp" in line and "no-llamacpp-here" in line


@pytest.mark.llamacpp
def test_the_installed_command_runs_the_suite_against_the_embedded_llamacpp(
    installed: Installed, elsewhere: Path, llamacpp_python: Path
) -> None:
    """A bare install (no "local" extra: llama.cpp's model needs no tokenizers package) serves the seed scenario."""
    command = ["toolcall-conformance", "--target-engine=llamacpp", "-q", "-k", "weather-seed and not generated"]
    done = installed.run(command, elsewhere, TCC_LLAMACPP_PYTHON=str(llamacpp_python))
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    document = results_of(elsewhere)
    assert document["target"]["engine"] == "llamacpp" and document["target"]["engine_build"] == "b11549"
    assert str(llamacpp_python) in document["target"]["command"]
    assert len(document["tests"]) >= 10 and all(
        record["verdict"] in ("pass", "warn", "fail") for record in document["tests"]
    )


def test_inside_a_user_s_own_repository_the_plugin_runs_the_suite_and_leaves_their_tests_alone(
    installed: Installed, user_sets: Path, elsewhere: Path
) -> None:
    """A repository that loads the plugin for all its pytest runs (addopts = -p toolcall_conformance), as the docs
    say to: its own tests run as before, and `pytest --pyargs toolcall_conformance.suite` runs the suite."""
    (elsewhere / "tests").mkdir()
    (elsewhere / "tests" / "test_mine.py").write_text("def test_mine():\n    assert 1 + 1 == 2\n")
    (elsewhere / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'addopts = ["-p", "toolcall_conformance"]\n'
        'testpaths = ["tests"]\n'
        'asyncio_default_fixture_loop_scope = "function"\n'
        f'tcc_toolsets = ["{user_sets}"]\n'
        "tcc_only_user_toolsets = true\n"
    )
    python = str(installed.bin / "python")
    own = installed.run([python, "-m", "pytest", "-q"], elsewhere)
    assert own.returncode == 0 and "1 passed" in own.stdout, own.stdout
    assert not (elsewhere / "reports").exists()  # the plugin is loaded, and inert for tests that are not the suite
    with FaultServer("none") as server:
        suite = installed.run(
            [python, "-m", "pytest", "--pyargs", "toolcall_conformance.suite", f"--endpoint={server.base_url}"],
            elsewhere,
        )
    assert suite.returncode == 0, suite.stdout[-3000:] + suite.stderr[-2000:]
    assert {record["test"] for record in results_of(elsewhere)["tests"]} == USER_TEST_IDS


# A foreign project's property test: each example writes a line saying what it ran under (Hypothesis's settings),
# what of the suite is imported into its process, and whether a module was swapped.
PROPERTY_TEST = """
import sys
from pathlib import Path

from hypothesis import given, settings, strategies as st

SEEN = Path(__file__).with_name("examples.txt")


@given(st.integers())
def test_prop(number):
    suite = sorted(name for name in sys.modules if name.startswith("toolcall_conformance."))
    swapped = getattr(sys.modules.get("rfc3987_syntax"), "__deferred__", False)
    with SEEN.open("a") as seen:
        seen.write(f"{settings.get_current_profile_name()} {settings.default!r}|{','.join(suite)}|{swapped}\\n")
"""
PLUGIN_ONLY = {f"toolcall_conformance.{name}" for name in ("plugin", "data", "settings")}
SUITE_OPTIONS = ("--endpoint", "--model", "--seed", "--repeat", "--baseline", "--toolsets", "tool-call conformance")


def test_installed_it_changes_nothing_in_a_foreign_project_s_pytest_session(installed: Installed) -> None:
    """The wheel installed in a project that has its own Hypothesis tests, its virtual environment inside the
    project's folder, run in CI (CI=true loads Hypothesis's "ci" profile: 100 examples) with a bare `pytest`.
    Installed only: every example runs under Hypothesis's own settings, no option of the suite appears, nothing
    of the suite is imported. Asked for with -p, the plugin adds its options and still changes nothing: the
    same settings, no module swapped, no file read (a broken tool-set path in the ini stops nothing), no
    reports, although the project's folder holds the installed suite (in its venv)."""
    project = installed.root  # holds the venv the wheel is installed in
    made = [project / "test_prop.py", project / "pytest.ini", project / "examples.txt"]
    python = str(installed.bin / "python")
    assert installed.run([python, "-c", "import rfc3987_syntax"], project).returncode == 0  # or "swapped" says nothing
    runs: dict[str, list[str]] = {}
    try:
        made[0].write_text(PROPERTY_TEST)
        for plugin in ([], ["-p", "toolcall_conformance"]):
            made[2].unlink(missing_ok=True)
            made[1].write_text("[pytest]\n" + ("tcc_toolsets = no-such-directory\n" if plugin else ""))
            done = installed.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin], project, CI="true")
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
            lines = runs[" ".join(plugin) or "installed only"] = made[2].read_text().splitlines()
            assert len(lines) == 100, f"{plugin or 'installed only'}: {len(lines)} examples ran, not Hypothesis's 100"
            assert {line.rsplit("|", 1)[1] for line in lines} == {"False"}  # rfc3987_syntax is the real module
            imported = set(",".join(line.split("|")[1] for line in lines).split(",")) - {""}
            # Loaded with -p, the plugin imports its options and nothing more: no session, no judging.
            assert imported <= (PLUGIN_ONLY if plugin else set()), imported
            assert not (project / "reports").exists()
            helped = installed.run([python, "-m", "pytest", "--help", *plugin], project)
            assert helped.returncode == 0, helped.stderr
            shown = [option for option in SUITE_OPTIONS if option in helped.stdout]
            assert shown == (list(SUITE_OPTIONS) if plugin else []), shown  # asked for, they are all there
    finally:
        for path in made:
            path.unlink(missing_ok=True)
    under = {name: {line.split("|")[0] for line in lines} for name, lines in runs.items()}
    assert under["installed only"] == under["-p toolcall_conformance"], under  # the same profile, the same settings
    (profile,) = {entry.split(" ", 1)[0] for entry in under["installed only"]}
    assert profile == "ci"
