"""Shared fixtures: one running sandbox (both CRMs, a small seeded org) per test session.

The sandbox runs as a child process, exactly as `acm-sync sandbox serve` runs it, and tests talk
to it only through the real client libraries over HTTP(S) plus its admin API (`/__sandbox__/`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings

SESSION_ORG_ACCOUNTS = 400
SESSION_ORG_SEED = 11


@pytest.fixture(scope="session")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox")


@pytest.fixture(scope="session")
def sandbox(sandbox_dir: Path) -> Iterator[SandboxSettings]:
    """A running sandbox with a small seeded demo org, shared by the whole session."""
    with SandboxProcess(
        sandbox_dir, accounts=SESSION_ORG_ACCOUNTS, seed=SESSION_ORG_SEED
    ) as settings:
        yield settings


@pytest.fixture(scope="session")
def seeded_org() -> Any:
    """The demo org the session sandbox was seeded with (same size and seed: same org)."""
    from acm_sync.sandbox.generator import generate_org

    return generate_org(SESSION_ORG_ACCOUNTS, seed=SESSION_ORG_SEED)


class Admin:
    """The sandbox's admin API (faults, call counts, hooks) for one vendor."""

    def __init__(self, base_url: str, verify: str | bool = True) -> None:
        self.base = base_url.rstrip("/") + "/__sandbox__"
        self.http = requests.Session()
        # Per request: REQUESTS_CA_BUNDLE in the environment overrides a session's `verify`.
        self.verify = verify

    def fault(self, **rule: object) -> None:
        self.http.post(f"{self.base}/faults", json=rule, verify=self.verify).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete(f"{self.base}/faults", verify=self.verify).raise_for_status()

    def calls(self) -> dict:  # type: ignore[type-arg]
        response = self.http.get(f"{self.base}/calls", verify=self.verify)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def reset_calls(self) -> None:
        self.http.delete(f"{self.base}/calls", verify=self.verify).raise_for_status()

    def hook(self, name: str) -> None:
        self.http.post(f"{self.base}/hooks/{name}", verify=self.verify).raise_for_status()


@pytest.fixture()
def sf_admin(sandbox: SandboxSettings) -> Iterator[Admin]:
    admin = Admin(sandbox.salesforce_instance_url, verify=sandbox.salesforce_ca_bundle)
    yield admin
    admin.clear_faults()


@pytest.fixture()
def hs_admin(sandbox: SandboxSettings) -> Iterator[Admin]:
    admin = Admin(sandbox.hubspot_base_url)
    yield admin
    admin.clear_faults()
