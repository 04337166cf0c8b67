"""Fixtures of the asset tests."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest


@pytest.fixture()
def instance() -> Iterator[dg.DagsterInstance]:
    """An ephemeral Dagster instance, disposed after the test: one left to the garbage collector
    can outlive the session, and its SQLite connections are then finalized after they closed
    ("Cannot operate on a closed database" at exit)."""
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance
