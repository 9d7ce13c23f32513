"""The contract's coverage map agrees with the suite's checks and with openai-python's response models."""

import json
from pathlib import Path

import jsonschema
import pytest

from toolcall_conformance import contract
from toolcall_conformance.data import CONTRACT_FILE, SCHEMAS_DIR

DOCS_PAGE = (Path(__file__).resolve().parent.parent / "docs" / "reference" / "contract.md").read_text(encoding="utf-8")


def test_the_map_is_valid_against_its_schema():
    schema = json.loads((SCHEMAS_DIR / "contract.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(CONTRACT_FILE.read_text()))


def test_the_map_agrees_with_the_checks_and_the_sdk_models():
    assert contract.problems() == []


def test_every_response_and_chunk_field_is_mapped():
    """The walk of openai-python's models finds what the map must cover: a deep field, for both objects."""
    fields = contract.response_fields()
    assert "choices[].message.tool_calls[].function.arguments" in fields["chat.completion"]
    assert "choices[].delta.tool_calls[].index" in fields["chat.completion.chunk"]
    assert len(fields["chat.completion"]) > 50 and len(fields["chat.completion.chunk"]) > 50


def _map_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change) -> list[str]:
    document = json.loads(CONTRACT_FILE.read_text())
    change(document["statements"])
    changed = tmp_path / "contract.json"
    changed.write_text(json.dumps(document))
    monkeypatch.setattr(contract, "CONTRACT_FILE", changed)
    return contract.problems()


def test_a_check_the_map_forgets_is_named(tmp_path, monkeypatch):
    def forget(entries):
        for entry in entries:
            if "stream.after-finish" in entry.get("checks", []):
                entry["checks"].remove("stream.after-finish")

    assert _map_with(tmp_path, monkeypatch, forget) == ["check stream.after-finish enforces no statement of the map"]


def test_a_check_that_does_not_exist_is_named(tmp_path, monkeypatch):
    found = _map_with(tmp_path, monkeypatch, lambda entries: entries[0]["checks"].append("stream.imaginary"))
    assert found == ["the map names check stream.imaginary, which does not exist"]


def test_an_unmapped_field_and_a_stale_field_are_named(tmp_path, monkeypatch):
    def unmap(entries):
        entries[:] = [entry for entry in entries if entry["id"] != "chunk.obfuscation"]
        entries[0]["object"], entries[0]["fields"] = "chat.completion", ["choices[].message.imaginary"]

    found = _map_with(tmp_path, monkeypatch, unmap)
    assert sorted(found) == [
        "chat.completion map field choices[].message.imaginary is no field of openai-python's model",
        "chat.completion.chunk field obfuscation has no statement",
    ]


def test_a_subtree_pattern_covers_the_field_and_all_below():
    assert contract.covers("moderation.*", "moderation")
    assert contract.covers("moderation.*", "moderation.input.results[].flagged")
    assert contract.covers("choices[].logprobs.*", "choices[].logprobs.content[].token")
    assert not contract.covers("moderation.*", "moderation_extra")
    assert not contract.covers("usage", "usage.total_tokens")


def test_the_contract_page_shows_the_coverage_table():
    assert contract.markdown_table() in DOCS_PAGE
