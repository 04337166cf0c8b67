"""The quality assets materialized in process on a warehouse holding a generated dirty org:
gates pass on a normal pull, and a threshold breach or a truncated pull blocks write-back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import yaml
from quality_demo import SUITES, Demo, build_demo

from acm_sync.assets.quality import (
    QualitySettingsResource,
    asset_name,
    quality_account_identity,
    quality_issue_texts,
    validated_assets,
)
from acm_sync.quality.store import QualityStore
from acm_sync.quality.suites import ENTITIES
from acm_sync.warehouse import Batch, SyncState, Warehouse, WarehouseResource

AS_OF = "2026-11-01T00:00:00+00:00"  # the generator's "now"
WRITTEN: list[str] = []


@dg.asset(deps=[quality_issue_texts, quality_account_identity])
def write_back_stand_in(warehouse: WarehouseResource) -> None:
    """Stands in for the write-back assets: downstream of every quality asset, writing only when
    the gates kept in the warehouse are open, as writeback_apply does (tests/writeback checks
    the real one)."""
    if QualityStore(warehouse.get()).gates_open()[0]:
        WRITTEN.append("written")


@dg.asset(deps=[dg.AssetKey("quality_contacts")])
def contacts_write_back_stand_in(warehouse: WarehouseResource) -> None:
    if QualityStore(warehouse.get()).gates_open(("contacts",))[0]:
        WRITTEN.append("contacts written")


@pytest.fixture(scope="module")
def small_demo() -> Demo:
    return build_demo(300, 5)


def _load(wh: Warehouse, tables: dict[str, pd.DataFrame], demo: Demo) -> None:
    for table, frame in tables.items():
        wh.commit(Batch(SyncState("test", table), canonical=[(table, frame)]))
    QualityStore(wh).save_stage_catalog(demo.context.stages)


def _resources(tmp_path: Path, **quality: Any) -> dict[str, Any]:
    config = tmp_path / "acm_sync.yaml"
    currency = yaml.safe_load((SUITES.parent / "acm_sync.yaml").read_text())["currency"]
    body = {"quality": {"expectations_dir": str(SUITES), **quality}, "currency": currency}
    config.write_text(yaml.safe_dump(body))
    return {
        "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
        "quality_settings": QualitySettingsResource(config_path=str(config)),
    }


def _run(
    resources: dict[str, Any], assets: list[Any] | None = None, **config: Any
) -> dg.ExecuteInProcessResult:
    WRITTEN.clear()
    assets = assets or [
        *validated_assets,
        quality_account_identity,
        quality_issue_texts,
        write_back_stand_in,
    ]
    names = {a.key.to_user_string() for a in assets}
    run_config = {
        "ops": {
            asset_name(e): {"config": {"as_of": AS_OF, **config}}
            for e in ENTITIES
            if asset_name(e) in names
        }
    }
    return dg.materialize(assets, resources=resources, run_config=run_config, raise_on_error=False)


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    out = {}
    for event in result.get_asset_check_evaluations():
        out[f"{event.asset_key.to_user_string()}:{event.check_name}"] = event
    return out


def _materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def test_a_normal_pull_passes_every_gate_and_reaches_write_back(
    small_demo: Demo, tmp_path: Path
) -> None:
    resources = _resources(tmp_path)
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    _load(wh, small_demo.tables, small_demo)
    result = _run(resources)
    checks = _checks(result)
    assert len(checks) == 2 * len(ENTITIES)
    assert all(c.passed for c in checks.values()), {k: c.description for k, c in checks.items()}
    assert WRITTEN == ["written"]
    meta = _materialized(result)
    opp = meta["quality_opportunities"]
    assert (
        opp["pulled"]
        == opp["valid"] + opp["quarantined"]
        == len(small_demo.tables["opportunities"])
    )
    assert "negative_amount" in opp["failures_by_rule"]
    assert "Amount -" in opp["failing_rows_sample"]
    # linked over HTTP (`acm-sync docs` serves the site beside the warehouse)
    assert opp["data_docs"].startswith("http://127.0.0.1:3100/validations/opportunities/")
    page = tmp_path / "data_docs" / opp["data_docs"].removeprefix("http://127.0.0.1:3100/")
    assert page.exists()
    assert opp["data_docs_index"] == "http://127.0.0.1:3100/"
    # What the run left in the warehouse.
    store = QualityStore(wh)
    assert store.gates_open() == (True, "")
    assert wh.count("valid_opportunities") == opp["valid"]
    assert wh.count("quarantine", "WHERE entity = 'opportunities' AND severity = 'critical'") > 0
    texts = wh.table("data_issue_texts")
    assert texts["issues"].str.len().max() <= 1000
    assert set(texts["entity"]) == {"accounts", "contacts", "opportunities"}
    identity = wh.table("account_identity")
    assert (identity["match_rule"] == "domain").sum() == len(small_demo.org.overlap)
    assert meta["quality_account_identity"]["cross_crm_pairs"] == len(small_demo.org.overlap)


def test_a_critical_failure_rate_above_the_threshold_blocks_write_back(
    small_demo: Demo, tmp_path: Path
) -> None:
    resources = _resources(tmp_path, critical_failure_threshold=0.01, data_docs=False)
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    _load(wh, small_demo.tables, small_demo)
    result = _run(resources)
    checks = _checks(result)
    rate = checks["quality_opportunities:critical_failure_rate"]
    assert not rate.passed
    assert "write-back blocked" in (rate.description or "")
    assert "negative_amount" in rate.metadata["failures_by_rule"].value  # type: ignore[operator]
    assert WRITTEN == []  # blocked
    done = set(_materialized(result))
    # not a blocking check: what comes after validation still runs on the valid rows (the
    # failing ones are quarantined whatever the rate); only writing waits for the gate
    assert {"quality_opportunities", "quality_issue_texts", "write_back_stand_in"} <= done
    ok, why = QualityStore(wh).gates_open()
    assert not ok and "opportunities: critical failure rate" in why


def test_a_truncated_pull_trips_the_volume_gate_until_accepted(
    small_demo: Demo, tmp_path: Path
) -> None:
    resources = _resources(tmp_path, data_docs=False)
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    _load(wh, small_demo.tables, small_demo)
    contacts_only = [validated_assets[ENTITIES.index("contacts")], contacts_write_back_stand_in]
    assert all(c.passed for c in _checks(_run(resources, contacts_only)).values())

    # A full pull that silently returned 40 % of HubSpot's contacts: the rest get marked
    # deleted (vanished), the live volume drops by 60 %.
    contacts = small_demo.tables["contacts"].copy()
    hubspot = contacts.index[(contacts["source"] == "hubspot") & ~contacts["is_deleted"]]
    contacts.loc[hubspot[: int(len(hubspot) * 0.6)], "is_deleted"] = True
    wh.commit(Batch(SyncState("test", "contacts"), canonical=[("contacts", contacts)]))

    result = _run(resources, contacts_only)
    volume = _checks(result)["quality_contacts:volume"]
    assert not volume.passed
    assert "hubspot" in (volume.description or "") and "truncated" in (volume.description or "")
    assert WRITTEN == []
    # a blocking check: nothing downstream of a truncated pull runs
    assert "contacts_write_back_stand_in" not in _materialized(result)
    assert not QualityStore(wh).gates_open(("contacts",))[0]

    # Still blocked on the next run (the baseline is the last good run, not the bad one) …
    assert not _checks(_run(resources, contacts_only))["quality_contacts:volume"].passed
    # … until someone accepts the drop as real.
    accepted = _run(resources, contacts_only, accept_volume_drop=True)
    assert _checks(accepted)["quality_contacts:volume"].passed
    assert WRITTEN == ["contacts written"]
    assert _checks(_run(resources, contacts_only))["quality_contacts:volume"].passed


def test_quality_assets_wire_into_the_code_location() -> None:
    """What definitions.py gets: quality_assets + quality_job + the quality_settings resource."""
    from acm_sync.assets.hubspot import hubspot_assets
    from acm_sync.assets.ingest import SyncSettingsResource
    from acm_sync.assets.quality import quality_assets, quality_job
    from acm_sync.assets.salesforce import salesforce_assets
    from acm_sync.connectors.hubspot import HubSpotResource
    from acm_sync.connectors.salesforce import SalesforceResource

    defs = dg.Definitions(
        assets=[*salesforce_assets, *hubspot_assets, *quality_assets],
        jobs=[quality_job],
        resources={
            "salesforce": SalesforceResource.from_env({}),
            "hubspot": HubSpotResource.from_env({}),
            "warehouse": WarehouseResource(),
            "sync_settings": SyncSettingsResource(),
            "quality_settings": QualitySettingsResource(),
        },
    )
    graph = defs.resolve_asset_graph()
    upstream = {k.to_user_string() for k in graph.get(dg.AssetKey("quality_contacts")).parent_keys}
    assert upstream == {
        "salesforce_contacts",
        "hubspot_contacts",
        "salesforce_accounts",
        "hubspot_companies",
    }
    history = graph.get(dg.AssetKey("quality_opportunity_stage_history")).parent_keys
    assert dg.AssetKey("hubspot_deal_stage_history") in history
    assert dg.AssetKey("quality_stage_catalog") in history
    for asset in quality_assets:
        for key in asset.keys:
            node = graph.get(key)
            # The code location's conventions (tests/assets): group = name prefix, kinds.
            assert node.group_name == "quality" == key.to_user_string().split("_")[0]
            assert {"quality", "duckdb"} <= node.kinds and node.description
    checks = {k.name for k in graph.asset_check_keys}
    assert checks == {"critical_failure_rate", "volume"}
    assert defs.resolve_job_def("validate")
