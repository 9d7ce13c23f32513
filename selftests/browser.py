"""Headless Chromium for the selftests and the docs' pictures: screenshots, the DOM as rendered, and a reader of
the PNGs it writes (so a picture can be checked for its colours without an imaging library)."""

from __future__ import annotations

import struct
import subprocess
import tempfile
import zlib
from collections import Counter
from pathlib import Path

import pytest

BROWSER = Path("/usr/bin/chromium")


def _require_browser() -> None:
    if not BROWSER.exists():
        pytest.fail(f"{BROWSER} not found: run scripts/install-browser to install headless Chromium")


def _offline_flags(profile: str) -> list[str]:
    """Chromium's flags for a run that must not touch the network: offline, it hangs trying."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    flags += [f"--user-data-dir={profile}", "--hide-scrollbars", "--force-device-scale-factor=1"]
    return flags


def screenshot(page: Path | str, picture: Path, size: str = "1400,1000", budget_ms: int | None = None) -> None:
    """Render a page (a file, or a URL) with headless Chromium; it must not touch the network (it hangs trying,
    offline). A virtual-time budget lets a page's scripts finish before the picture is taken."""
    _require_browser()
    url = page.as_uri() if isinstance(page, Path) else page
    with tempfile.TemporaryDirectory() as profile:
        flags = _offline_flags(profile)
        if budget_ms is not None:
            flags.append(f"--virtual-time-budget={budget_ms}")
        flags += [f"--screenshot={picture}", f"--window-size={size}", url]
        finished = subprocess.run([str(BROWSER), *flags], capture_output=True, text=True, timeout=120, check=False)
    assert picture.exists(), f"chromium wrote no screenshot (exit {finished.returncode}): {finished.stderr[-2000:]}"


def dump_dom(url: str, budget_ms: int = 2000) -> str:
    """The DOM of a page after its scripts ran, as Chromium serialises it. The virtual-time budget makes Chromium
    stop once the page is idle instead of waiting for timers that never end."""
    _require_browser()
    with tempfile.TemporaryDirectory() as profile:
        flags = [*_offline_flags(profile), f"--virtual-time-budget={budget_ms}", "--dump-dom", url]
        finished = subprocess.run([str(BROWSER), *flags], capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0 and finished.stdout, (
        f"chromium could not dump {url} (exit {finished.returncode}): {finished.stderr[-2000:]}"
    )
    return finished.stdout


def png_colours(data: bytes) -> tuple[int, int, Counter[tuple[int, int, int]]]:
    """Width, height and how many pixels have each colour, for the 8-bit RGB(A) PNGs Chromium writes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, compressed = 8, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        chunk = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            compressed.append(chunk)
        position += 12 + length
    assert depth == 8 and interlace == 0 and colour_type in (2, 6), (depth, colour_type, interlace)
    channels = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(compressed)), width * channels
    colours: Counter[tuple[int, int, int]] = Counter()
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, previous, channels)
        colours.update(zip(line[0::channels], line[1::channels], line[2::channels], strict=True))
        previous = line
    return width, height, colours


def _unfilter(kind: int, line: bytearray, previous: bytearray, step: int) -> None:
    """Undo one PNG row filter in place (None, Sub, Up, Average, Paeth)."""
    if kind == 0:
        return
    for i in range(len(line)):
        left = line[i - step] if i >= step else 0
        up_left = previous[i - step] if i >= step else 0
        if kind == 1:
            line[i] = (line[i] + left) & 255
        elif kind == 2:
            line[i] = (line[i] + previous[i]) & 255
        elif kind == 3:
            line[i] = (line[i] + ((left + previous[i]) >> 1)) & 255
        else:
            line[i] = (line[i] + _paeth(left, previous[i], up_left)) & 255


def _paeth(left: int, up: int, up_left: int) -> int:
    guess = left + up - up_left
    distances = (abs(guess - left), abs(guess - up), abs(guess - up_left))
    if distances[0] <= distances[1] and distances[0] <= distances[2]:
        return left
    return up if distances[1] <= distances[2] else up_left


def near(colours: Counter[tuple[int, int, int]], wanted: tuple[int, int, int], tolerance: int = 6) -> int:
    """How many pixels are within the tolerance of a colour in each channel (antialiasing shifts them a little)."""
    return sum(
        count
        for colour, count in colours.items()
        if all(abs(a - b) <= tolerance for a, b in zip(colour, wanted, strict=True))
    )
