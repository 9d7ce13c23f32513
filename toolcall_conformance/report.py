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
from .redact import scrub, url_without_credentials
from .settings import Settings
from .verdict import Judgement, Verdict

RESULTS_FILE = "results.json"


def _file_name(test_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", test_id).strip("_") + ".json"


class RunRecorder:
    """Collects judgements during a run and writes them when it ends."""

    def __init__(self, report_dir: Path, settings: Settings) -> None:
        self.started = time.time()
        self.run_dir = report_dir / "runs" / time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.started))
        if self.run_dir.exists():
            self.run_dir = self.run_dir.with_name(f"{self.run_dir.name}-{os.getpid()}")
        self.report_dir = report_dir
        self.settings = settings
        self.judgements: dict[str, Judgement] = {}
        self.target: dict[str, Any] = {}
        self.requests_sent = 0

    def _secrets(self) -> list[str]:
        return [self.settings.api_key]

    def record(self, judgement: Judgement) -> None:
        """Keep a judgement; failures and warnings get a reproducer file right away."""
        if judgement.verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR) and judgement.exchanges:
            path = self.run_dir / "reproducers" / _file_name(judgement.test_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(reproducer_document(judgement), indent=2, ensure_ascii=False)
            path.write_text(scrub(text, self._secrets()) + "\n", encoding="utf-8")
            judgement.reproducer = os.path.relpath(path)
        self.judgements[judgement.test_id] = judgement

    def document(self) -> dict[str, Any]:
        """results.json as a dictionary."""
        options = {k: v for k, v in asdict(self.settings).items() if k != "api_key"}
        if options.get("endpoint"):
            options["endpoint"] = url_without_credentials(options["endpoint"])
        return {
            "suite": {"name": "toolcall-conformance", "version": __version__},
            "started": _iso(self.started),
            "finished": _iso(time.time()),
            "target": self.target,
            "options": options,
            "requests_sent": self.requests_sent,
            "totals": dict(Counter(j.verdict.value for j in self.judgements.values())),
            "tests": [_test_record(j) for j in self.judgements.values()],
        }

    def write(self) -> Path:
        """Write results.json and point reports/latest at this run."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / RESULTS_FILE
        text = json.dumps(self.document(), indent=2, ensure_ascii=False)
        path.write_text(scrub(text, self._secrets()) + "\n", encoding="utf-8")
        latest = self.report_dir / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(self.run_dir.relative_to(self.report_dir), target_is_directory=True)
        return path


def _test_record(judgement: Judgement) -> dict[str, Any]:
    broken = {
        v.check: ("fail" if v.level.value == "MUST" else "warn")
        for v in judgement.violations
        if v.level.value == "SHOULD"
    }
    broken.update({v.check: "fail" for v in judgement.violations if v.level.value == "MUST"})
    return {
        "test": judgement.test_id,
        "verdict": judgement.verdict.value,
        "checks": {check: broken.get(check, "pass") for check in judgement.judged},
        "violations": [
            {"check": v.check, "level": v.level.value, "message": v.message, **v.data} for v in judgement.violations
        ],
        "note": judgement.note,
        "duration": round(sum(e.elapsed for e in judgement.exchanges), 3),
        "reproducer": judgement.reproducer,
        **judgement.extra,
    }


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
