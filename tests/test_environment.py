"""temporary_environment: set for the block, each key back as it was after — also on error."""

from __future__ import annotations

import os

import pytest

from acm_sync.environment import temporary_environment


def test_keys_are_set_inside_and_restored_or_removed_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACM_TEST_KEPT", "before")
    monkeypatch.delenv("ACM_TEST_NEW", raising=False)
    with (
        pytest.raises(RuntimeError),
        temporary_environment({"ACM_TEST_KEPT": "inside", "ACM_TEST_NEW": "inside too"}),
    ):
        assert os.environ["ACM_TEST_KEPT"] == "inside"
        assert os.environ["ACM_TEST_NEW"] == "inside too"
        raise RuntimeError("the block failed")
    assert os.environ["ACM_TEST_KEPT"] == "before"
    assert "ACM_TEST_NEW" not in os.environ


def test_a_none_value_unsets_the_key_inside_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACM_TEST_HIDDEN", "outside")
    with temporary_environment({"ACM_TEST_HIDDEN": None}):
        assert "ACM_TEST_HIDDEN" not in os.environ
    assert os.environ["ACM_TEST_HIDDEN"] == "outside"
