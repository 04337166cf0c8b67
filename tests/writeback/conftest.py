"""A sandbox of its own for the write-back tests: they change the CRMs' records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings
from sandbox_admin import Admin

WRITEBACK_ORG_ACCOUNTS = 300
WRITEBACK_ORG_SEED = 5


@pytest.fixture(scope="module")
def wb_sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wb_sandbox")


@pytest.fixture(scope="module")
def wb_sandbox(wb_sandbox_dir: Path) -> Iterator[SandboxSettings]:
    """A fresh sandbox per test module: the write-back changes its records."""
    with SandboxProcess(
        wb_sandbox_dir, accounts=WRITEBACK_ORG_ACCOUNTS, seed=WRITEBACK_ORG_SEED
    ) as settings:
        yield settings


@pytest.fixture(scope="module")
def wb_admins(wb_sandbox: SandboxSettings) -> Iterator[tuple[Admin, Admin]]:
    sf = Admin(wb_sandbox.salesforce_instance_url, verify=wb_sandbox.salesforce_ca_bundle)
    hs = Admin(wb_sandbox.hubspot_base_url)
    yield sf, hs
    sf.clear_faults()
    hs.clear_faults()
