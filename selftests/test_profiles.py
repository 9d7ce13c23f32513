"""The suite's example counts live in its own generated tests' settings; Hypothesis's profiles stay Hypothesis's."""

from __future__ import annotations

from collections.abc import Iterator

import hypothesis
import pytest

from toolcall_conformance.generated_run import generated_settings, register_profiles, suite_profile


@pytest.fixture
def loaded() -> Iterator[None]:
    """Whatever profile a test loads, the one loaded before is loaded again after it."""
    before = hypothesis.settings.get_current_profile_name()
    yield
    hypothesis.settings.load_profile(before)


def test_the_suite_s_counts_follow_the_profile_a_user_chose(loaded: None) -> None:
    register_profiles()
    for profile, examples in (("ci", 20), ("thorough", 500), ("default", 100)):
        hypothesis.settings.load_profile(profile)
        assert generated_settings().max_examples == examples, profile
    hypothesis.settings.load_profile("ci")
    assert generated_settings().report_multiple_bugs is False


def test_hypothesis_s_options_that_load_a_profile_of_their_own_keep_the_suite_s_counts(loaded: None) -> None:
    """--hypothesis-verbosity and --hypothesis-explain load "<profile>-with-..." (Hypothesis's pytest plugin)."""
    assert suite_profile("ci-with-verbose-verbosity") == "ci"
    assert suite_profile("thorough-with-explain-phase") == "thorough"
    assert suite_profile("ci-with-debug-verbosity-with-explain-phase") == "ci"
    assert suite_profile("default") == "default"
    hypothesis.settings.register_profile("ci-with-verbose-verbosity", hypothesis.settings.get_profile("ci"))
    hypothesis.settings.load_profile("ci-with-verbose-verbosity")
    assert generated_settings().max_examples == 20


def test_hypothesis_s_own_profiles_are_never_changed(loaded: None) -> None:
    ci, default = hypothesis.settings.get_profile("ci"), hypothesis.settings.get_profile("default")
    register_profiles()
    hypothesis.settings.load_profile("ci")
    generated_settings()
    assert hypothesis.settings.get_profile("ci") == ci and hypothesis.settings.get_profile("default") == default
    assert hypothesis.settings.get_profile("ci").max_examples == 100
