"""The documentation site: built by mkdocs in strict mode, served over HTTP as a host would serve it, and every page
of its nav opened in headless Chromium; and the docs' pictures of report.html and of the matrix page, which must be
what the code renders today (selftests/docs_pictures.py makes them)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from selftests import docs_pictures
from selftests.browser import dump_dom, near, png_colours, screenshot
from selftests.test_html_report import FAIL_RED, PASS_GREEN

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "mkdocs.yml"
SHOTS_VARIABLE = "TCC_SITE_SHOTS"  # set it to keep the site's screenshots in /tmp/site-shots/ for a person to see
SHOTS = Path("/tmp/site-shots")
CHECKS_PAGE = "reference/checks.md"
SHOT_SIZE = "1280,800"  # wide enough for material to show the nav beside the page (from 1220 pixels)
HEADER_INDIGO = (0x40, 0x51, 0xB5)  # material's default primary colour, the header's: its stylesheet was applied
PICTURE_LIMIT = 300_000  # bytes: the pictures are committed, and a page of the docs loads them


# ---------------------------------------------------------------- the nav, from mkdocs.yml


class _ConfigLoader(yaml.SafeLoader):
    """mkdocs.yml may hold tags such as !!python/name (material's emoji) or !ENV that safe_load refuses; the nav
    needs none of them."""


_ConfigLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def read_config() -> dict[str, Any]:
    return yaml.load(CONFIG.read_text(encoding="utf-8"), Loader=_ConfigLoader)  # a SafeLoader: no arbitrary objects


SETTINGS = read_config()  # mkdocs.yml, read once for the nav, the site's name and its description


@dataclass(frozen=True)
class NavPage:
    """A page of the nav: its Markdown file under docs/, the title the nav gives it, and its URL in the site."""

    source: str
    title: str

    @property
    def url(self) -> str:
        """The directory URL mkdocs gives a page (use_directory_urls, its default): guides/ci.md is guides/ci/."""
        path = self.source.removesuffix(".md")
        path = path.removesuffix("index") if path == "index" or path.endswith("/index") else path + "/"
        return path

    @property
    def is_home(self) -> bool:
        return self.url == ""


def nav_pages(nav: list[Any] | None = None) -> list[NavPage]:
    """Every Markdown page of the nav, depth first; links to other sites are not pages of this one."""
    pages: list[NavPage] = []
    if nav is None:
        nav = SETTINGS.get("nav") or []
    for entry in nav:
        title, target = next(iter(entry.items())) if isinstance(entry, dict) else (None, entry)
        if isinstance(target, list):
            pages += nav_pages(target)
        elif isinstance(target, str) and target.endswith(".md") and "://" not in target:
            pages.append(NavPage(target, title or Path(target).stem))
    return pages


# ---------------------------------------------------------------- the site, built and served


@dataclass
class Site:
    """The built site, its address on loopback, and every request the server answered (path, status)."""

    directory: Path
    address: str
    requests: list[tuple[str, int]] = field(default_factory=list)

    def requests_during(self, action: Any) -> list[tuple[str, int]]:
        """Run action and return the requests the server answered meanwhile (the tests of a worker run serially)."""
        start = len(self.requests)
        action()
        return self.requests[start:]


class _Handler(http.server.SimpleHTTPRequestHandler):
    site: Site

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.site.requests.append((self.path, int(code) if isinstance(code, int) else 0))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the requests, not stderr."""


def build_site(site_dir: Path) -> None:
    """mkdocs build --strict, as CI would run it: a broken link or anchor is an error, and its output is shown."""
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)]
    built = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    if built.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed (exit {built.returncode}):\n{built.stdout}{built.stderr}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The site built once and served by http.server on 127.0.0.1, so that directory URLs and the search worker's
    fetch of the index behave as on a real host (file:// URLs do neither)."""
    directory = tmp_path_factory.mktemp("site")
    build_site(directory)
    served = Site(directory, "")
    handler = type("Handler", (_Handler,), {"site": served})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    served.address = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# ---------------------------------------------------------------- reading the DOM


class DomReader(HTMLParser):
    """What a rendered page must hold: its <title>, <html> classes, material's header, the article's <h1>s."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.html_classes: set[str] = set()
        self.header = False
        self.description: str | None = None
        self.h1s: list[str] = []
        self._in: str | None = None
        self._in_content = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        classes = set(attributes.get("class", "").split())
        if tag == "html":
            self.html_classes = classes
        elif tag == "header" and "md-header" in classes:
            self.header = True
        elif tag == "meta" and attributes.get("name") == "description":
            self.description = attributes.get("content", "")
        elif tag == "div" and "md-content" in classes:
            self._in_content = True
        elif tag == "title" or (tag == "h1" and self._in_content):
            self._in = tag
            if tag == "h1":
                self.h1s.append("")
        elif tag == "a" and self._in == "h1" and "headerlink" in classes:
            self._in = "permalink"

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._in == "permalink":
            self._in = "h1"
        elif tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1s[-1] += data


def read_dom(dom: str) -> DomReader:
    reader = DomReader()
    reader.feed(dom)
    return reader


def own_heading(source: Path) -> str | None:
    """The text of the page's own "# " heading, as it reads once rendered (no code marks, link targets or
    attribute lists); None when the page has none and material shows the nav title instead."""
    fenced = False
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            text = re.sub(r"\s*\{[^}]*\}\s*$", "", line[2:])  # attr_list: {#id .class}
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("`", "")
            return re.sub(r"(\*\*|__|\*)", "", text).strip()
    return None


# ---------------------------------------------------------------- every page in the browser

PAGES = nav_pages()


def test_the_nav_has_pages_and_each_has_its_markdown_file():
    assert PAGES, "mkdocs.yml has no nav"
    missing = [page.source for page in PAGES if not (ROOT / "docs" / page.source).exists()]
    assert not missing, f"the nav names pages that docs/ does not have: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=[page.source for page in PAGES])
def test_each_page_of_the_nav_renders_in_chromium(site: Site, page: NavPage):
    """The page as a browser shows it: material's header, the page's own <h1>, its title, material's script run
    (html.js replaces html.no-js), and nothing it asks the server for is missing."""
    assert (site.directory / page.url / "index.html").exists(), f"{page.source} was not built at {page.url}"
    doms: list[str] = []
    requests = site.requests_during(lambda: doms.append(dump_dom(site.address + page.url)))
    dom = read_dom(doms[0])
    assert dom.header, f"{page.url}: no material header (<header class='md-header'>) in the DOM"
    assert "js" in dom.html_classes and "no-js" not in dom.html_classes, f"{page.url}: material's script did not run"
    assert len(dom.h1s) == 1, f"{page.url}: the article has {len(dom.h1s)} <h1>s: {dom.h1s}"
    heading = own_heading(ROOT / "docs" / page.source)
    assert dom.h1s[0].strip() == (heading or page.title), f"{page.url}: <h1> {dom.h1s[0]!r}, source {heading!r}"
    site_name = SETTINGS["site_name"]
    expected_title = site_name if page.is_home else f"{page.title} - {site_name}"
    assert dom.title.strip() == expected_title, f"{page.url}: <title> {dom.title!r}"
    missing = [(path, status) for path, status in requests if status >= 400]
    assert not missing, f"{page.url}: the page asked for what the site does not have: {missing}"


def test_the_search_worker_fetches_the_index_over_http(site: Site):
    """Material's search runs in a web worker that fetches search/search_index.json: over http:// it can (over
    file:// a browser refuses), and the start page's script starts it."""
    requests = site.requests_during(lambda: dump_dom(site.address, budget_ms=5000))
    assert ("/search/search_index.json", 200) in requests, f"no fetch of the search index: {requests}"


def test_the_site_description_reaches_the_page_whole(site: Site):
    """The theme puts site_description into <meta name="description" content="..."> without escaping it: a double
    quote in mkdocs.yml's site_description ends the attribute early and search engines get a cut sentence."""
    description = SETTINGS.get("site_description")
    dom = read_dom(dump_dom(site.address))
    assert dom.description == description, (
        f"<meta name=description> reads {dom.description!r}, mkdocs.yml says {description!r}: "
        "no double quotes in site_description"
    )


def test_the_search_index_has_every_page(site: Site):
    index_file = site.directory / "search" / "search_index.json"
    assert index_file.exists(), "the site has no search/search_index.json: is the search plugin in mkdocs.yml?"
    index = json.loads(index_file.read_text(encoding="utf-8"))
    entries = {entry["location"]: entry for entry in index["docs"]}
    missing = [page.url or "(the start page)" for page in PAGES if page.url not in entries]
    assert not missing, f"pages missing from the search index: {missing}"
    untitled = [page.url for page in PAGES if not entries[page.url]["title"].strip()]
    assert not untitled, f"pages with no title in the search index: {untitled}"


def _page_shot(site: Site, page: NavPage, name: str, tmp_path: Path) -> None:
    """A screenshot of the page as a reader first sees it: header coloured by the theme, text, not blank."""
    picture = tmp_path / name
    screenshot(site.address + page.url, picture, size=SHOT_SIZE, budget_ms=2000)
    if os.environ.get(SHOTS_VARIABLE):
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picture, SHOTS / name)
    width, height, colours = png_colours(picture.read_bytes())
    assert (width, height) == tuple(int(side) for side in SHOT_SIZE.split(","))
    assert colours[(255, 255, 255)] < 0.9 * width * height, f"{page.url}: the page is (nearly) blank"
    assert len(colours) > 50, f"{page.url}: a page with text has many colours"
    assert near(colours, HEADER_INDIGO) > width * 30, f"{page.url}: no header in the theme's colour"


def test_the_start_page_in_a_screenshot(site: Site, tmp_path: Path):
    _page_shot(site, next(page for page in PAGES if page.is_home), "index.png", tmp_path)


def test_the_check_reference_in_a_screenshot(site: Site, tmp_path: Path):
    page = next((page for page in PAGES if page.source == CHECKS_PAGE), None)
    if page is None:
        pytest.fail(f"the check reference is not in the site: add docs/{CHECKS_PAGE} and its entry in mkdocs.yml's nav")
    _page_shot(site, page, "checks.png", tmp_path)


# ---------------------------------------------------------------- the docs' pictures


@pytest.fixture(scope="module")
def fresh_pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The pictures made again now, from the same files by the same code as the committed ones."""
    return {picture.name: picture for picture in docs_pictures.make_pictures(tmp_path_factory.mktemp("pictures"))}


@pytest.mark.parametrize("name", ["report.png", "matrix.png"])
def test_the_committed_pictures_are_what_the_code_renders(fresh_pictures: dict[str, Path], name: str):
    """Same size as a picture made now and not blank. Not the same pixels: fonts and their hinting differ between
    machines, so an exact comparison would fail on every other machine for no fault of the pages."""
    committed = docs_pictures.IMAGES / name
    remake = "make them with: .venv/bin/python -m selftests.docs_pictures"
    assert committed.exists(), f"docs/images/{name} is missing; {remake}"
    assert committed.stat().st_size < PICTURE_LIMIT, f"docs/images/{name} is over {PICTURE_LIMIT} bytes"
    width, height, colours = png_colours(committed.read_bytes())
    fresh_width, fresh_height, _ = png_colours(fresh_pictures[name].read_bytes())
    assert (width, height) == (fresh_width, fresh_height), f"docs/images/{name} has another size; {remake}"
    assert colours[(255, 255, 255)] < 0.8 * width * height, f"docs/images/{name} is (nearly) blank"
    assert len(colours) > 50, f"docs/images/{name}: a page with text has many colours"
    # The report's verdict cells and the matrix page's verdict counts are in the matrix colours.
    least = 100 * 20 * 30 if name == "report.png" else 30 * 16 * 10
    assert near(colours, PASS_GREEN) > least and near(colours, FAIL_RED) > least, f"docs/images/{name}: no verdicts"
