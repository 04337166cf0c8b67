"""The ingestion assets materialized in process against the session sandbox (read-only here).

Resources are built exactly as definitions.py builds them (`from_env`: EnvVar references), with
the environment set through monkeypatch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from acm_sync.assets.hubspot import hubspot_assets
from acm_sync.assets.ingest import SyncSettingsResource
from acm_sync.assets.jobs import full_refresh_job
from acm_sync.assets.salesforce import salesforce_assets
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.definitions import defs
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.warehouse import Warehouse, WarehouseResource

ASSETS = [*salesforce_assets, *hubspot_assets]
PULL_KEYS = {
    "salesforce_accounts",
    "salesforce_contacts",
    "salesforce_opportunities",
    "salesforce_opportunity_history",
    "hubspot_companies",
    "hubspot_contacts",
    "hubspot_deals",
}


@pytest.fixture()
def resources(
    sandbox: SandboxSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "acm_sync.yaml"
    config.write_text(
        yaml.safe_dump(
            {"sync": {"salesforce": {"lookback_seconds": 5}, "hubspot": {"lookback_seconds": 5}}}
        )
    )
    return {
        "salesforce": SalesforceResource.from_env(),
        "hubspot": HubSpotResource.from_env(),
        "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
        "sync_settings": SyncSettingsResource(config_path=str(config)),
    }


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        assert mat is not None
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def test_definitions_load_with_groups_kinds_and_descriptions() -> None:
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys >= PULL_KEYS | {"hubspot_deal_stage_history"}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        assert node.group_name in {"salesforce", "hubspot", "quality", "scoring", "writeback"}, name
        assert node.description and node.kinds, name
        if name in PULL_KEYS:
            # A pull asset is named after its CRM, grouped and tagged with it.
            assert node.group_name == name.split("_")[0]
            assert name.split("_")[0] in node.kinds and "duckdb" in node.kinds
    assert defs.resolve_job_def("full_refresh") and defs.resolve_job_def("ingest")


def test_a_full_then_an_incremental_materialization(
    resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    first = dg.materialize(ASSETS, resources=resources, instance=instance)
    assert first.success
    meta = materializations(first)
    # progress in the run's log: rows so far of the total the query reports, rate, time left
    lines = [e.user_message for e in instance.all_logs(first.run_id)]
    total = meta["salesforce_accounts"]["rows_pulled"]
    progress = [m for m in lines if m.startswith("salesforce Account: ")]
    assert progress, lines
    assert re.search(rf"salesforce Account: [\d,]+ of {total:,} rows \(\d+%\) · ", progress[0])
    assert any(" rows/s" in m and "ETA " in m for m in progress)
    assert any(m.startswith("hubspot companies: ") and " rows" in m for m in lines)
    assert set(meta) == PULL_KEYS | {"hubspot_deal_stage_history"}
    for key in PULL_KEYS:
        m = meta[key]
        assert m["mode"] == "full" and m["complete"] is True, key
        assert m["rows_pulled"] > 0 and m["api_calls"] > 0 and m["cursor"], key
        for name in ("rows_deleted", "rows_merged", "duration_s", "dagster/row_count"):
            assert name in m, (key, name)
        assert "preview" in m
    assert meta["hubspot_deal_stage_history"]["rows_pulled"] > 0

    wh = Warehouse(resources["warehouse"].path)
    counts = {t: wh.count(t) for t in ("accounts", "contacts", "opportunities")}
    assert all(counts.values())

    second = dg.materialize(ASSETS, resources=resources)
    assert second.success
    meta = materializations(second)
    for key in PULL_KEYS:
        assert meta[key]["mode"] == "incremental" and meta[key]["api_calls"] == 1, key
    assert {t: wh.count(t) for t in counts} == counts  # idempotent, duplicate-free


def test_full_refresh_job_and_a_spent_budget(resources: dict[str, Any], tmp_path: Path) -> None:
    job = dg.Definitions(assets=ASSETS, jobs=[full_refresh_job], resources=resources)
    done = job.resolve_job_def("full_refresh").execute_in_process()
    assert done.success
    assert all(m.get("mode") == "full" for k, m in materializations(done).items() if k in PULL_KEYS)

    config = Path(resources["sync_settings"].config_path)
    config.write_text(
        yaml.safe_dump(
            {"sync": {"full_refresh": True, "salesforce": {"budget": {"max_calls_per_run": 1}}}}
        )
    )
    capped = dg.materialize(salesforce_assets, resources=resources)
    assert capped.success  # stopping for the budget is not a failure
    # A stopped pull is observed (with what it did), not materialized: it is not up to date.
    observed = [
        {k: v.value for k, v in e.asset_observation_data.asset_observation.metadata.items()}
        for e in capped.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    meta = [*materializations(capped).values(), *observed]
    spent = sum(m.get("api_calls", 0) for m in meta)
    assert spent <= 1
    assert any(m.get("complete") is False and "stopped" in m for m in observed)
