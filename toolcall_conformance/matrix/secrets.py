"""What a matrix must never write or print: endpoint credentials and the API key, however they were given.

The suite keeps its own output clean; the matrix adds its command line, its progress lines and the reasons
it quotes from each column's output, so it hides the same things there: user:password@ in any URL (also in
NAME=URL, where a URL parser sees no URL), the value of --api-key / -o tcc_api_key=... among the pytest
arguments, and OPENAI_API_KEY.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from ..redact import REDACTED, map_strings, scrub

# scheme://user:password@ anywhere in a text, up to the first character a user part cannot hold.
_URL_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]+@")
_KEY_SETTING = re.compile(r"^(.*\btcc_api_key=)(.*)$")
_KEY_OPTION = "--api-key"


class Secrets:
    """The secrets of one matrix command, and the means to keep them out of text and data."""

    def __init__(
        self, endpoints: Sequence[str], suite_args: Sequence[str], environ: Mapping[str, str] = os.environ
    ) -> None:
        found = [environ.get("OPENAI_API_KEY", "")]
        for spec in endpoints:
            for match in re.finditer(r"://([^/@\s]+)@", spec):
                for part in match.group(1).split(":", 1):
                    found += [part, unquote(part)]
        for index, arg in enumerate(suite_args):
            if arg == _KEY_OPTION and index + 1 < len(suite_args):
                found.append(suite_args[index + 1])
            elif arg.startswith(_KEY_OPTION + "="):
                found.append(arg.split("=", 1)[1])
            elif setting := _KEY_SETTING.match(arg):
                found.append(setting.group(2))
        self.values = sorted({secret for secret in found if secret}, key=len, reverse=True)

    def text(self, text: str) -> str:
        """The text without URL credentials or any of the secrets (those long enough to be real)."""
        return scrub(_URL_CREDENTIALS.sub(r"\1", text), self.values)

    def data(self, value: Any) -> Any:
        """JSON-like data with every string passed through text()."""
        return map_strings(value, self.text)

    def words(self, words: Sequence[str]) -> list[str]:
        """Command-line words with a key's value replaced whatever its length (an option's value is known)."""
        shown = []
        for index, word in enumerate(words):
            if index > 0 and words[index - 1] == _KEY_OPTION:
                word = REDACTED
            elif word.startswith(_KEY_OPTION + "="):
                word = f"{_KEY_OPTION}={REDACTED}"
            elif setting := _KEY_SETTING.match(word):
                word = setting.group(1) + REDACTED
            shown.append(self.text(word))
        return shown
