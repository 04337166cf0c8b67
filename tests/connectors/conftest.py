"""Fixtures for connector integration tests: a sandbox of their own (tests here change data)
and the admin API of each CRM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_helpers import Admin

from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.warehouse import Warehouse

OWN_ORG_ACCOUNTS = 150
OWN_ORG_SEED = 23


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSettings]:
    """A sandbox for this module alone: its tests change, delete and merge records."""
    with SandboxProcess(
        tmp_path_factory.mktemp("crm"), accounts=OWN_ORG_ACCOUNTS, seed=OWN_ORG_SEED
    ) as settings:
        yield settings


@pytest.fixture()
def sf_adm(crm: SandboxSettings) -> Iterator[Admin]:
    admin = Admin(crm.salesforce_instance_url, verify=crm.salesforce_ca_bundle)
    yield admin
    admin.clear_faults()


@pytest.fixture()
def hs_adm(crm: SandboxSettings) -> Iterator[Admin]:
    admin = Admin(crm.hubspot_base_url)
    yield admin
    admin.clear_faults()


@pytest.fixture()
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse.duckdb")
