"""The documentation's pictures of report.html and of the matrix page, taken by headless Chromium from real runs'
files (the committed sample run against vLLM 0.32.0 and the committed configuration matrix), never drawn by hand,
so that they show what the code renders today.

    .venv/bin/python -m selftests.docs_pictures        # rewrites docs/images/report.png and docs/images/matrix.png

selftests/test_docs_site.py makes them again the same way and compares them with the committed ones.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from selftests.browser import screenshot
from selftests.test_html_report import sample_run
from toolcall_conformance import reference
from toolcall_conformance.matrix import page as matrix_page
from toolcall_conformance.reporting.html_report import write_html

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
MATRIX = ROOT / reference.CONFIGURATION_MATRIX  # the one the configuration findings show
# Each window shows a page's top: the report's header and verdict matrix at 1200 pixels wide; the matrix page's
# table of columns needs 1700 to show its verdicts and times uncut. Any wider and the text gets too small once the
# docs' theme scales a picture down to its content width.
REPORT_SIZE = "1200,800"
MATRIX_SIZE = "1700,850"


def report_picture(picture: Path, work: Path) -> Path:
    """report.html of the sample run, its header and the top of its verdict matrix."""
    results, run_dir = sample_run(work)
    screenshot(write_html(results, run_dir), picture, size=REPORT_SIZE)
    return picture


def matrix_picture(picture: Path, work: Path) -> Path:
    """The matrix page of the 25 vLLM configurations: its columns and what changed between them."""
    document = json.loads(MATRIX.read_text(encoding="utf-8"))
    screenshot(matrix_page.write(document, work / "matrix.html"), picture, size=MATRIX_SIZE)
    return picture


def make_pictures(images: Path) -> list[Path]:
    """Both pictures, written into images as report.png and matrix.png."""
    images.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        return [
            report_picture(images / "report.png", Path(work)),
            matrix_picture(images / "matrix.png", Path(work)),
        ]


def main() -> int:
    for picture in make_pictures(IMAGES):
        print(f"wrote {picture.relative_to(ROOT)} ({picture.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
