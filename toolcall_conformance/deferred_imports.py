"""Start-up time: a module jsonschema imports at once and the suite almost never needs, loaded when first used.

jsonschema (with its format-nongpl extra) imports rfc3987_syntax to check the "iri" formats, and that module
builds a Lark grammar at import: 0.7 s of every pytest start on this machine, for a format few tool schemas
use. Until the first such check, `rfc3987_syntax` is a stand-in whose is_valid_syntax imports the real module
and hands over to it; from then on the real module is the one imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

DEFERRED = "rfc3987_syntax"


def _load_real() -> types.ModuleType:
    stand_in = sys.modules.get(DEFERRED)
    if getattr(stand_in, "__deferred__", False):
        del sys.modules[DEFERRED]
    return importlib.import_module(DEFERRED)


def _is_valid_syntax(*args: Any, **kwargs: Any) -> Any:
    return _load_real().is_valid_syntax(*args, **kwargs)


def _any_other_name(name: str) -> Any:
    if name.startswith("__"):  # the import system asks for __path__ and the like: no reason to load it yet
        raise AttributeError(name)
    return getattr(_load_real(), name)


def defer() -> None:
    """Put the stand-in in place, unless the module is imported already or not installed at all."""
    if DEFERRED in sys.modules or importlib.util.find_spec(DEFERRED) is None:
        return
    stand_in = types.ModuleType(DEFERRED, "stand-in until first use (toolcall_conformance.deferred_imports)")
    stand_in.__deferred__ = True  # type: ignore[attr-defined]
    stand_in.is_valid_syntax = _is_valid_syntax  # type: ignore[attr-defined]
    stand_in.__getattr__ = _any_other_name  # type: ignore[attr-defined]
    sys.modules[DEFERRED] = stand_in
