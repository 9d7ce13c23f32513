"""The run's record under reports/: results.json, one reproducer per failure, reports/latest."""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import __version__
from .explain import reproducer_document
from .html_report import write_html
from .redact import scrub_data, url_without_credentials
from .settings import Settings
from .summary_md import write_markdown
from .verdict import Judgement, Verdict

RESULTS_FILE = "results.json"
WITH_REPRODUCER = (Verdict.FAIL, Verdict.WARN, Verdict.ERROR, Verdict.TIMEOUT)
CI_SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"


def _file_name(test_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", test_id).strip("_") + ".json"


class RunRecorder:
    """Collects judgements during a run and writes them when it ends."""

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
        self.server_death: str | None = None
        self.complete = True
        self.first_request: float | None = None
        self.last_verdict: float | None = None
        self.last_answer: float | None = None

    def _secrets(self) -> list[str]:
        return [self.settings.api_key]

    def record(self, judgement: Judgement) -> None:
        """Keep a judgement; failures and warnings get a reproducer file right away."""
        if judgement.verdict in WITH_REPRODUCER and judgement.exchanges:
            path = self.run_dir / "reproducers" / _file_name(judgement.test_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            document = scrub_data(reproducer_document(judgement), self._secrets())
            path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            judgement.reproducer = os.path.relpath(path)
        record = _test_record(judgement, self.labels.get(judgement.test_id, {}))
        if judgement.reproducer:
            record["reproducer"] = os.path.relpath(Path(judgement.reproducer).resolve(), self.run_dir.resolve())
        self.records[judgement.test_id] = record
        self.last_verdict = time.time()

    def document(self) -> dict[str, Any]:
        """results.json as a dictionary."""
        options = {k: v for k, v in asdict(self.settings).items() if k != "api_key"}
        if options.get("endpoint"):
            options["endpoint"] = url_without_credentials(options["endpoint"])
        return {
            "suite": {"name": "toolcall-conformance", "version": __version__},
            "complete": self.complete,
            "started": _iso(self.started),
            "finished": _iso(time.time()),
            "target": self.target,
            "options": options,
            "requests_sent": self.requests_sent,
            "request_phase_seconds": self._request_phase(),
            "requests_seconds": self._requests_seconds(),
            "server_death": self.server_death,
            "exit_status": self.exit_status,
            "totals": dict(Counter(record["verdict"] for record in self.records.values())),
            "collected": sorted(self.collected),
            **({"baseline": self.baseline} if self.baseline is not None else {}),
            "tests": list(self.records.values()),
        }

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
        path = self.run_dir / "parts" / f"{worker}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(scrub_data(part, self._secrets()), ensure_ascii=False), encoding="utf-8")

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
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / RESULTS_FILE
        # The page and the summary are made from the scrubbed data: a key a server echoed never reaches them.
        document = scrub_data(self.document(), self._secrets())
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        write_html(document, self.run_dir)
        summary = write_markdown(document, self.run_dir)
        _append_to_ci_summary(summary)
        latest = self.report_dir / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(self.run_dir.relative_to(self.report_dir), target_is_directory=True)
        return path


def _test_record(judgement: Judgement, labels: dict[str, str]) -> dict[str, Any]:
    must = set(judgement.must_checks)
    broken = {check: "fail" if check in must else "warn" for check in judgement.failed_checks}
    return {
        "test": judgement.test_id,
        **labels,
        "verdict": judgement.verdict.value,
        "checks": {check: broken.get(check, "pass") for check in judgement.judged},
        "violations": [
            {"check": v.check, "level": v.level.value, "message": v.message, **v.data} for v in judgement.violations
        ],
        "note": judgement.note,
        "duration": round(sum(e.elapsed for e in judgement.exchanges), 3),
        "retries": [retry for exchange in judgement.exchanges for retry in exchange.retries],
        "reproducer": judgement.reproducer,
        **judgement.extra,
    }


def _append_to_ci_summary(summary: Path) -> None:
    """On GitHub Actions (and CI systems that copy it), the Markdown summary goes to the job's summary page."""
    target = os.environ.get(CI_SUMMARY_VARIABLE)
    if target:
        with open(target, "a", encoding="utf-8") as ci_summary:
            ci_summary.write(summary.read_text(encoding="utf-8") + "\n")


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
