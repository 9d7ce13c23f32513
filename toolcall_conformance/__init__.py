"""Conformance suite for tool_choice="required" on OpenAI-compatible chat completion servers."""

__version__ = "0.1.0"
