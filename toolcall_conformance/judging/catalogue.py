"""Every check of the suite, by id: the answer and pair checks, the SDK view's, the refusals' and the generated
tests'. The reference, the report and the contract map read it; it imports every module that defines checks."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from . import checks as checks
from . import generated as generated
from . import reasoning as reasoning
from . import refusal as refusal
from . import sdk as sdk
from .registry import _REGISTRY, Check, Subject, in_module_order


@cache
def all_checks() -> Mapping[str, Check]:
    """Every check of the suite by id: the modules in CHECK_MODULES' order, each module's in definition order."""
    return MappingProxyType({found.id: found for found in in_module_order(_REGISTRY.values())})


def checks_of(subject: Subject) -> list[Check]:
    """The checks that judge one kind of subject, in registration order."""
    return [found for found in all_checks().values() if found.subject is subject]
