"""Each CRM's own stage list: parsed from the APIs' answers, and read through the real clients
from the session sandbox by the `quality_stage_catalog` asset."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from quality_demo import hs_pipelines, sf_stage_records

from acm_sync.assets.ingest import SyncSettingsResource
from acm_sync.assets.quality import quality_stage_catalog
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.quality.stages import (
    StageCatalog,
    hubspot_stages,
    salesforce_picklist_stages,
    salesforce_stages,
)
from acm_sync.quality.store import QualityStore
from acm_sync.sandbox.generator import DemoOrg
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.warehouse import Warehouse, WarehouseResource


def test_salesforce_stage_records_carry_closed_won_and_probability(seeded_org: DemoOrg) -> None:
    catalog = salesforce_stages(sf_stage_records(seeded_org)).frame.set_index("stage")
    assert list(catalog.loc["Closed Won", ["is_closed", "is_won", "probability"]]) == [
        True,
        True,
        1.0,
    ]
    assert list(catalog.loc["Closed Lost", ["is_closed", "is_won"]]) == [True, False]
    assert catalog.loc["Prospecting", "probability"] == pytest.approx(0.1)
    assert (catalog["source"] == "salesforce").all()


def test_hubspot_pipelines_closed_at_probability_one_is_won() -> None:
    catalog = hubspot_stages(hs_pipelines()).frame.set_index("stage")
    assert bool(catalog.loc["closedwon", "is_won"]) and bool(catalog.loc["closedwon", "is_closed"])
    assert not bool(catalog.loc["closedlost", "is_won"])
    assert not bool(catalog.loc["contractsent", "is_closed"])


def test_picklist_fallback_knows_the_values_but_not_their_meaning() -> None:
    describe = {
        "fields": [
            {"name": "Name"},
            {
                "name": "StageName",
                "picklistValues": [{"value": "Prospecting", "label": "Prospecting"}],
            },
        ]
    }
    frame = salesforce_picklist_stages(describe).frame
    assert frame["stage"].tolist() == ["Prospecting"]
    assert frame["is_closed"].isna().all()


def test_lookup_is_per_source() -> None:
    catalog = StageCatalog.combine(
        salesforce_stages([{"ApiName": "Won", "IsClosed": True, "IsWon": True}]),
        hubspot_stages([{"stages": [{"id": "won", "metadata": {"isClosed": "false"}}]}]),
    )
    source = pd.Series(["salesforce", "hubspot", "hubspot"])
    stage = pd.Series(["Won", "Won", "won"])
    assert catalog.lookup(source, stage, "is_closed").tolist() == [True, pd.NA, False]


def test_the_catalog_asset_reads_both_crms_through_their_clients(
    sandbox: SandboxSettings,
    seeded_org: DemoOrg,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "acm_sync.yaml"
    config.write_text(yaml.safe_dump({}))
    warehouse = tmp_path / "warehouse.duckdb"
    result = dg.materialize(
        [quality_stage_catalog],
        resources={
            "salesforce": SalesforceResource.from_env(),
            "hubspot": HubSpotResource.from_env(),
            "warehouse": WarehouseResource(path=str(warehouse)),
            "sync_settings": SyncSettingsResource(config_path=str(config)),
        },
    )
    assert result.success
    catalog = QualityStore(Warehouse(warehouse)).stage_catalog()
    expected = StageCatalog.combine(
        salesforce_stages(sf_stage_records(seeded_org)), hubspot_stages(hs_pipelines())
    )
    columns = ["source", "stage", "is_closed", "is_won", "probability"]
    got = catalog.frame[columns].sort_values(["source", "stage"], ignore_index=True)
    want = expected.frame[columns].sort_values(["source", "stage"], ignore_index=True)
    pd.testing.assert_frame_equal(got, want)
    calls = Warehouse(warehouse).query("SELECT source, sum(calls) AS n FROM _api_calls GROUP BY 1")
    assert dict(zip(calls["source"], calls["n"], strict=True)) == {"salesforce": 1, "hubspot": 1}
