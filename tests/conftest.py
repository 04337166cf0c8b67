"""Shared fixtures: one running sandbox (both CRMs, a small seeded org) per test session.

The sandbox runs as a child process, exactly as `acm-sync sandbox serve` runs it, and tests talk
to it only through the real client libraries over HTTP(S) plus its admin API (`/__sandbox__/`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis  # noqa: F401  (see below)
import pytest

from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings
from sandbox_admin import Admin

# hypothesis is imported here, at start-up, because otherwise its pytest plugin imports it in the
# terminal summary of a session that used none of it — through pytest's assertion rewriting,
# after Dagster and SQLAlchemy have left garbage whose finalizers, run by a collection in the
# middle of ast.parse, make CPython 3.11.7 fail with "AST constructor recursion depth
# mismatch" and pytest exit 1 although every test passed.
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
