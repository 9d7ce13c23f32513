"""Glue between a run and the embedded target: build the tiny model, start vLLM, say what happens."""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..settings import Settings
from .launcher import (
    BACKENDS,
    INSTALL_HINT,
    STRICT_LEVELS,
    LocalTarget,
    TargetError,
    find_vllm_python,
    installed_packages,
)
from .tinymodel import FLAVOURS, PARSERS, build_model, load_format


class EmbeddedTargetError(RuntimeError):
    """The embedded target cannot be used; the message says why and what to do."""


class EmbeddedTarget:
    """The tiny model served by vLLM for one run; stop() removes the server and the model folder."""

    def __init__(self, settings: Settings, log_path: Path, say: Callable[[str], None]) -> None:
        if settings.target_flavour not in FLAVOURS:
            raise EmbeddedTargetError(f"--target-flavour must be one of {', '.join(FLAVOURS)}")
        try:
            extra_args = shlex.split(settings.target_args)
        except ValueError as exc:
            raise EmbeddedTargetError(f"--target-args {settings.target_args!r}: {exc}") from None
        if settings.target_parser not in PARSERS:
            raise EmbeddedTargetError(f"--target-parser must be one of {', '.join(PARSERS)}")
        if settings.target_strict_level not in (None, *STRICT_LEVELS):
            raise EmbeddedTargetError(f"--target-strict-level must be one of {', '.join(STRICT_LEVELS)}")
        if settings.target_backend not in BACKENDS:
            raise EmbeddedTargetError(f"--target-backend must be one of {', '.join(BACKENDS)}")
        python = find_vllm_python()
        if python is None:
            raise EmbeddedTargetError(f"no --endpoint given and vLLM is not installed: {INSTALL_HINT}")
        self.flavour = settings.target_flavour
        self.log_path = log_path
        self._folder = tempfile.TemporaryDirectory(prefix="tcc-model-")
        model_dir = build_model(Path(self._folder.name), self.flavour, settings.target_parser)
        self.server = LocalTarget(
            python=python,
            model_dir=model_dir,
            log_path=log_path,
            load_format=load_format(self.flavour),
            tool_call_parser=settings.target_parser,
            strict_level=settings.target_strict_level,
            backend=settings.target_backend,
            extra_args=extra_args,
            startup_timeout=settings.target_timeout,
            progress=say,
        )

    def start(self) -> str:
        """Start vLLM and return its base URL; EmbeddedTargetError (with the log's tail) when it fails."""
        try:
            return self.server.start()
        except TargetError as exc:
            self.stop()
            hint = " (a busy machine starts it slower: raise --target-timeout)" if "within" in str(exc) else ""
            raise EmbeddedTargetError(f"{exc}{hint}") from None

    def describe(self) -> dict[str, object]:
        return {
            "embedded": True,
            "flavour": self.flavour,
            "tool_call_parser": self.server.tool_call_parser,
            "strict_level": self.server.strict_level or "auto (vLLM's default)",
            "structured_outputs_backend": self.server.backend,
            "command": " ".join(shlex.quote(part) for part in self.server.command(self.server.port or 0)),
            "startup_seconds": round(self.server.startup_seconds or 0.0, 1),
            "log": str(self.log_path),
            "packages": installed_packages(self.server.python),
        }

    def stop(self) -> None:
        self.server.stop()
        self._folder.cleanup()
