"""The peer suite: four open-source connectors, dlt's verified HubSpot and Salesforce sources, two
legacy Python clients, two Node clients and the Salesforce CLI, unmodified, against a freshly
seeded sandbox.

Slow (it installs the connectors from PyPI on first use and runs each one twice), so it is its
own target: `make test-peers` (which sets ACM_PEERS=1). Without ACM_PEERS=1 every test here is
skipped, saying so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from peer_runs import FIGURES

from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings

PEER_ORG_ACCOUNTS = 250
PEER_ORG_SEED = 29


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ACM_PEERS") == "1":
        return
    skip = pytest.mark.skip(
        reason="peer suite: installs 4 connectors, dlt (for its verified HubSpot and Salesforce "
        "sources) and 2 legacy clients from PyPI, 2 Node clients and the Salesforce CLI from npm, "
        "and runs them for minutes; run `make test-peers` (ACM_PEERS=1)"
    )
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture()
def peer_sandbox(tmp_path: Path) -> Iterator[SandboxSettings]:
    """A fresh sandbox (both CRMs) seeded with a small demo org, for one connector's test."""
    with SandboxProcess(
        tmp_path / "sandbox", accounts=PEER_ORG_ACCOUNTS, seed=PEER_ORG_SEED
    ) as settings:
        yield settings


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("peer connectors: records, seconds, requests")
    for f in FIGURES:
        terminalreporter.write_line(
            f"{f['connector']:<28} {f['phase']:<12} records={f['records']:<6} "
            f"seconds={f['seconds']:<6} requests={f['requests']:<5} (429 retried: {f['429s']})"
        )
