"""The run's record under reports/: results.json, one reproducer per failure, reports/latest.

Everything the recorder is given is scrubbed of the API key as it comes in (records, reproducers, the server's
death, files written for it, text for the terminal), so that no caller has to remember to.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .. import __version__
from ..judging.verdict import NEEDS_ATTENTION, Judgement
from ..redact import scrub, scrub_data, url_without_credentials
from ..settings import Settings
from .explain import reproducer_document
from .html_report import write_html
from .judged import Judged, judged
from .results import RESULTS_FILE, file_stem, record_of
from .summary_md import write_markdown

CI_SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"
REPRODUCERS = "reproducers"
JUDGING_LIBRARIES = ("openai", "jsonschema", "pydantic", "hypothesis")  # their versions shape the verdicts


@cache
def judged_with() -> dict[str, str]:
    """The installed versions of the libraries the checks judge with (openai-python for the sdk.* checks)."""
    versions = {}
    for name in JUDGING_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class RunRecorder:
    """Collects judgements during a run and writes them when it ends; scrubs the key out of all it is given."""

    def __init__(self, report_dir: Path, settings: Settings, run_dir: Path | None = None) -> None:
        self.started = time.time()
        self.run_dir = run_dir or report_dir / "runs" / time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.started))
        if run_dir is None and self.run_dir.exists():
            self.run_dir = self.run_dir.with_name(f"{self.run_dir.name}-{os.getpid()}")
        self.report_dir = report_dir
        self.settings = settings
        self.records: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self.collected: set[str] = set()
        self.baseline: dict[str, Any] | None = None
        self.exit_status: int | None = None
        self.target: dict[str, Any] = {}
        self.requests_sent = 0
        self._server_death: str | None = None
        self.complete = True
        self.first_request: float | None = None
        self.sdk_views_from_worker = 0
        self.last_verdict: float | None = None
        self.last_answer: float | None = None

    def _secrets(self) -> list[str]:
        return [self.settings.api_key]

    def scrub(self, text: str) -> str:
        """The text without the API key: for everything that reaches the terminal or pytest's reports."""
        return scrub(text, self._secrets())

    @property
    def server_death(self) -> str | None:
        """How the server died mid-run, if it did."""
        return self._server_death

    @server_death.setter
    def server_death(self, text: str | None) -> None:
        self._server_death = self.scrub(text) if text else text

    def write_json(self, relative: str, document: Any, indent: int | None = 2) -> Path:
        """Write a JSON file under the run directory, scrubbed; returns its path."""
        path = self.run_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(scrub_data(document, self._secrets()), indent=indent, ensure_ascii=False)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    def record(self, judgement: Judgement) -> None:
        """Keep a judgement (scrubbed); failures and warnings get a reproducer file right away."""
        if judgement.verdict in NEEDS_ATTENTION and judgement.exchanges:
            path = self.write_json(f"{REPRODUCERS}/{file_stem(judgement.test_id)}.json", reproducer_document(judgement))
            judgement.reproducer = os.path.relpath(path)
        record = record_of(judgement, self.labels.get(judgement.test_id, {}))
        if judgement.reproducer:
            record["reproducer"] = os.path.relpath(Path(judgement.reproducer).resolve(), self.run_dir.resolve())
        self.records[judgement.test_id] = scrub_data(record, self._secrets())
        self.last_verdict = time.time()

    def document(self) -> dict[str, Any]:
        """results.json as a dictionary."""
        options = {k: v for k, v in asdict(self.settings).items() if k != "api_key"}
        if options.get("endpoint"):
            options["endpoint"] = url_without_credentials(options["endpoint"])
        return {
            "suite": {"name": "toolcall-conformance", "version": __version__, "judged_with": judged_with()},
            "complete": self.complete,
            "started": _iso(self.started),
            "finished": _iso(time.time()),
            "target": self.target,
            "options": options,
            "requests_sent": self.requests_sent,
            "request_phase_seconds": self._request_phase(),
            "requests_seconds": self._requests_seconds(),
            "sdk_views_from_worker": self.sdk_views_from_worker,
            "server_death": self.server_death,
            "exit_status": self.exit_status,
            "totals": dict(Counter(record["verdict"] for record in self.records.values())),
            "judged": self.judged().to_json(),
            "collected": sorted(self.collected),
            **({"baseline": self.baseline} if self.baseline is not None else {}),
            "tests": list(self.records.values()),
        }

    def judged(self) -> Judged:
        """How many of the run's tests could not be judged, against --max-unjudged."""
        return judged(self.records.values(), self.settings.max_unjudged)

    def _request_phase(self) -> float | None:
        """Seconds from the first request sent to the last verdict: the suite's time for its requests."""
        if self.first_request is None or self.last_verdict is None:
            return None
        return round(self.last_verdict - self.first_request, 3)

    def _requests_seconds(self) -> float | None:
        """Seconds from the first request sent to the last answer received: the server's share of the phase."""
        if self.first_request is None or self.last_answer is None:
            return None
        return round(self.last_answer - self.first_request, 3)

    def write_part(self, worker: str) -> None:
        """An xdist worker's share of the run, merged by the controller."""
        part = {
            "tests": list(self.records.values()),
            "requests_sent": self.requests_sent,
            "target": self.target,
            "server_death": self.server_death,
            "collected": sorted(self.collected),
        }
        self.write_json(f"parts/{worker}.json", part, indent=None)

    def merge_parts(self) -> None:
        """Take in what xdist workers wrote, then remove their files."""
        parts = sorted((self.run_dir / "parts").glob("*.json"))
        for path in parts:
            part = json.loads(path.read_text(encoding="utf-8"))
            self.records.update((record["test"], record) for record in part["tests"])
            self.requests_sent += part["requests_sent"]
            self.target = {**part["target"], **self.target}
            self.server_death = self.server_death or part["server_death"]
            self.collected.update(part["collected"])
            path.unlink()
        if parts:
            (self.run_dir / "parts").rmdir()

    def write(self) -> Path:
        """Write results.json and point reports/latest at this run."""
        # The page and the summary are made from the scrubbed data: a key a server echoed never reaches them.
        document = scrub_data(self.document(), self._secrets())
        path = self.write_json(RESULTS_FILE, document)
        write_html(document, self.run_dir)
        summary = write_markdown(document, self.run_dir)
        _append_to_ci_summary(summary)
        latest = self.report_dir / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(self.run_dir.relative_to(self.report_dir), target_is_directory=True)
        return path


def _append_to_ci_summary(summary: Path) -> None:
    """On GitHub Actions (and CI systems that copy it), the Markdown summary goes to the job's summary page."""
    target = os.environ.get(CI_SUMMARY_VARIABLE)
    if target:
        with open(target, "a", encoding="utf-8") as ci_summary:
            ci_summary.write(summary.read_text(encoding="utf-8") + "\n")


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
