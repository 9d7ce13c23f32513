"""Conformance suite for tool_choice="required" on OpenAI-compatible chat completion servers."""

from .deferred_imports import defer

__version__ = "0.1.0"

defer()
