"""Glue between a run and the embedded target: build the tiny model, start its engine, say what happens."""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..settings import Settings
from . import llamacpp
from .families import model_family
from .gguf import build_gguf
from .launcher import (
    AUTO_BACKEND,
    BACKENDS,
    INSTALL_HINT,
    STRICT_LEVELS,
    LocalTarget,
    TargetError,
    find_vllm_python,
    installed_packages,
)
from .tinymodel import FLAVOURS, PARSERS, build_model, load_format

# What the llama.cpp target serves: the hermes model, shaped, with llama.cpp's own settings. Its tool-call format
# comes from the template (llama.cpp has no --tool-call-parser), it has no structured-output backend or strict
# level to choose, and its arguments are not vLLM's.
LLAMACPP_ONLY = {"target_parser": "hermes", "target_flavour": "shaped"}
NOT_FOR_LLAMACPP = {
    "target_strict_level": (None, "a strict level is vLLM's"),
    "target_reasoning_parser": (None, "a reasoning parser is vLLM's; the llama.cpp model does not think"),
    "target_backend": (AUTO_BACKEND, "llama.cpp has one grammar engine"),
    "target_args": ("", "they are vLLM's arguments"),
}


class EmbeddedTargetError(RuntimeError):
    """The embedded target cannot be used; the message says why and what to do."""


class EmbeddedTarget:
    """The tiny model served by vLLM or llama.cpp for one run; stop() removes the server and the model folder."""

    def __init__(self, settings: Settings, log_path: Path, say: Callable[[str], None]) -> None:
        if settings.target_engine not in llamacpp.ENGINES:
            raise EmbeddedTargetError(f"--target-engine must be one of {', '.join(llamacpp.ENGINES)}")
        if settings.target_flavour not in FLAVOURS:
            raise EmbeddedTargetError(f"--target-flavour must be one of {', '.join(FLAVOURS)}")
        try:
            extra_args = shlex.split(settings.target_args)
        except ValueError as exc:
            raise EmbeddedTargetError(f"--target-args {settings.target_args!r}: {exc}") from None
        if settings.target_parser not in PARSERS:
            raise EmbeddedTargetError(f"--target-parser must be one of {', '.join(PARSERS)}")
        if settings.target_reasoning_parser is not None:
            try:
                model_family(settings.target_parser, settings.target_reasoning_parser)
            except ValueError as exc:
                raise EmbeddedTargetError(f"--target-reasoning-parser: {exc}") from None
            if settings.target_flavour != "shaped":
                raise EmbeddedTargetError(
                    "--target-reasoning-parser needs --target-flavour=shaped: random weights never end a thought"
                )
        if settings.target_strict_level not in (None, *STRICT_LEVELS):
            raise EmbeddedTargetError(f"--target-strict-level must be one of {', '.join(STRICT_LEVELS)}")
        if settings.target_backend not in BACKENDS:
            raise EmbeddedTargetError(f"--target-backend must be one of {', '.join(BACKENDS)}")
        self.engine = settings.target_engine
        self.flavour = settings.target_flavour
        self.log_path = log_path
        self.server: LocalTarget | llamacpp.LlamaCppTarget
        if self.engine == "llamacpp":
            _refuse_for_llamacpp(settings)
            python = llamacpp.find_llamacpp_python()
            if python is None:
                raise EmbeddedTargetError(
                    f"no --endpoint given and llama.cpp is not installed: {llamacpp.INSTALL_HINT}"
                )
            self._folder = tempfile.TemporaryDirectory(prefix="tcc-model-")
            self.server = llamacpp.LlamaCppTarget(
                python=python,
                model_path=build_gguf(Path(self._folder.name), settings.target_parser),
                log_path=log_path,
                startup_timeout=settings.target_timeout,
                progress=say,
            )
            return
        python = find_vllm_python()
        if python is None:
            raise EmbeddedTargetError(f"no --endpoint given and vLLM is not installed: {INSTALL_HINT}")
        self._folder = tempfile.TemporaryDirectory(prefix="tcc-model-")
        model_dir = build_model(
            Path(self._folder.name), self.flavour, settings.target_parser, settings.target_reasoning_parser
        )
        self.server = LocalTarget(
            python=python,
            model_dir=model_dir,
            log_path=log_path,
            load_format=load_format(self.flavour),
            tool_call_parser=settings.target_parser,
            reasoning_parser=settings.target_reasoning_parser,
            strict_level=settings.target_strict_level,
            backend=settings.target_backend,
            extra_args=extra_args,
            startup_timeout=settings.target_timeout,
            progress=say,
        )

    def start(self) -> str:
        """Start the engine and return its base URL; EmbeddedTargetError (with the log's tail) when it fails."""
        try:
            return self.server.start()
        except TargetError as exc:
            self.stop()
            hint = " (a busy machine starts it slower: raise --target-timeout)" if "within" in str(exc) else ""
            raise EmbeddedTargetError(f"{exc}{hint}") from None

    def describe(self) -> dict[str, object]:
        server = self.server
        common = {
            "embedded": True,
            "engine": self.engine,
            "flavour": self.flavour,
            "command": " ".join(shlex.quote(part) for part in server.command(server.port or 0)),
            "startup_seconds": round(server.startup_seconds or 0.0, 1),
            "log": str(self.log_path),
        }
        if isinstance(server, llamacpp.LlamaCppTarget):
            return {
                **common,
                "tool_call_format": "hermes",
                "engine_build": llamacpp.LLAMACPP_BUILD,
                "packages": server.packages(),
            }
        return {
            **common,
            "tool_call_parser": server.tool_call_parser,
            "reasoning_parser": server.reasoning_parser,
            "strict_level": server.strict_level or "auto (vLLM's default)",
            "structured_outputs_backend": server.backend,
            "packages": installed_packages(server.python),
        }

    def stop(self) -> None:
        self.server.stop()
        self._folder.cleanup()


def _refuse_for_llamacpp(settings: Settings) -> None:
    """The settings that mean nothing to llama.cpp are refused with the reason, never silently ignored."""
    for name, only in LLAMACPP_ONLY.items():
        if getattr(settings, name) != only:
            flag = "--" + name.replace("_", "-")
            raise EmbeddedTargetError(
                f"--target-engine=llamacpp serves {flag}={only} only; got {getattr(settings, name)}"
            )
    for name, (default, reason) in NOT_FOR_LLAMACPP.items():
        if getattr(settings, name) != default:
            flag = "--" + name.replace("_", "-")
            raise EmbeddedTargetError(f"--target-engine=llamacpp takes no {flag} ({reason})")
