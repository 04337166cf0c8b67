"""Pull → quality → scoring, materialized in process against the session sandbox."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from acm_sync.assets.hubspot import hubspot_assets
from acm_sync.assets.ingest import SyncSettingsResource
from acm_sync.assets.quality import QualitySettingsResource, quality_assets
from acm_sync.assets.salesforce import salesforce_assets
from acm_sync.assets.scoring import (
    ACCOUNT_SCORES,
    OPPORTUNITY_SCORES,
    ScoringConfigResource,
    _bin_label,
    _figure,
    _md,
    scoring_assets,
)
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.warehouse import Warehouse, WarehouseResource

ASSETS = [*salesforce_assets, *hubspot_assets, *quality_assets, *scoring_assets]
EXPECTATIONS = Path(__file__).resolve().parents[2] / "expectations"


@pytest.fixture(scope="module")
def pipeline_run(
    sandbox: SandboxSettings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Warehouse, list[dg.ExecuteInProcessResult]]:
    tmp = tmp_path_factory.mktemp("scoring")
    config = tmp / "acm_sync.yaml"
    # the shipped rates: the demo org sells in USD, EUR and GBP
    currency = yaml.safe_load((EXPECTATIONS.parent / "acm_sync.yaml").read_text())["currency"]
    config.write_text(
        yaml.safe_dump({"quality": {"expectations_dir": str(EXPECTATIONS)}, "currency": currency})
    )
    with pytest.MonkeyPatch.context() as env:
        for name, value in sandbox.env().items():
            env.setenv(name, value)
        resources: dict[str, Any] = {
            "salesforce": SalesforceResource.from_env(),
            "hubspot": HubSpotResource.from_env(),
            "warehouse": WarehouseResource(path=str(tmp / "warehouse.duckdb")),
            "sync_settings": SyncSettingsResource(config_path=str(config)),
            "quality_settings": QualitySettingsResource(config_path=str(config)),
            "scoring_config": ScoringConfigResource(config_path=str(config)),
        }
        # The second run scores eight days later: past the 7-day trend window.
        runs = [
            dg.materialize(
                ASSETS,
                resources=resources,
                run_config={"ops": {ACCOUNT_SCORES: {"config": {"as_of": day}}}},
            )
            for day in ("2026-11-02", "2026-11-10")
        ]
    return Warehouse(tmp / "warehouse.duckdb"), runs


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat is not None and mat.asset_key.to_user_string() == key:
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError(f"{key} was not materialized")


def test_every_unified_account_gets_one_tier_and_a_bounded_health(
    pipeline_run: tuple[Warehouse, list[dg.ExecuteInProcessResult]],
) -> None:
    wh, runs = pipeline_run
    assert all(run.success for run in runs)
    last = runs[-1].run_id
    scores = wh.query(f"SELECT * FROM {ACCOUNT_SCORES} WHERE run_id = ?", [last])
    # The live accounts that passed quality, each under its unified key: exactly those scored.
    live_keys = wh.query(
        "SELECT DISTINCT i.account_key FROM valid_accounts a JOIN account_identity i "
        "ON a.account_id IN (i.sf_account_id, i.hs_company_id) "
        "WHERE NOT a.is_deleted AND a.merged_into IS NULL"
    )["account_key"]
    assert scores["account_key"].is_unique
    assert set(scores["account_key"]) == set(live_keys)
    assert set(scores["tier"]) <= {"Key", "Existing", "New", "Dormant", "Prospect"}
    assert scores["health_score"].between(0, 100).all()
    assert set(scores["health_band"]) <= {"Green", "Yellow", "Red"}
    meta = _metadata(runs[-1], ACCOUNT_SCORES)
    assert meta["accounts"] == len(scores)
    assert "Key" in meta["tiers"] and "Green" in meta["health_bands"]
    # the bookings forecast: open pipeline + closed won, plus deals not created yet
    assert meta["forecast_run_rate"] >= 0
    assert meta["forecast_total_with_run_rate"] == pytest.approx(
        meta["forecast_total"] + meta["forecast_run_rate"], abs=0.02
    )
    assert "run_rate_amount" in meta["forecast_new_pipeline"]
    assert "time-to-close model" in meta["win_model"]
    # figures as people read them: no 1.2e+06, money to the cent, bins as ranges, names
    for key in ("forecast_by_category", "forecast_new_pipeline", "preview", "health_histogram"):
        assert not re.search(r"\de[+-]\d", meta[key]), (key, meta[key])
    assert re.search(r"\| \d{1,3}(,\d{3})+\.\d\d \|", meta["forecast_by_category"])
    assert "| 0–10 |" in meta["health_histogram"] and "-0.001" not in meta["health_histogram"]
    assert meta["preview"].startswith("| account_key | name | tier |")


def test_the_run_a_trend_window_later_has_a_trend_against_the_first(
    pipeline_run: tuple[Warehouse, list[dg.ExecuteInProcessResult]],
) -> None:
    wh, runs = pipeline_run
    first, second = (
        wh.query(f"SELECT * FROM {ACCOUNT_SCORES} WHERE run_id = ?", [r.run_id]) for r in runs
    )
    assert set(first["health_trend"]) == {"New"}
    assert set(second["health_trend"]) <= {"Up", "Flat", "Down"}


def test_quarantined_opportunities_are_not_scored(
    pipeline_run: tuple[Warehouse, list[dg.ExecuteInProcessResult]],
) -> None:
    wh, runs = pipeline_run
    scored = set(
        wh.query(
            f"SELECT opportunity_id FROM {OPPORTUNITY_SCORES} WHERE run_id = ?", [runs[-1].run_id]
        )["opportunity_id"]
    )
    quarantined = set(
        wh.query(
            "SELECT record_id FROM quarantine WHERE entity = 'opportunities' "
            "AND severity = 'critical'"
        )["record_id"]
    )
    assert quarantined, "the dirty demo org should quarantine some opportunities"
    assert not scored & quarantined


def test_backtest_reports_both_forecasts(
    pipeline_run: tuple[Warehouse, list[dg.ExecuteInProcessResult]],
) -> None:
    meta = _metadata(pipeline_run[1][-1], "forecast_backtest")
    assert meta["backtest_origins"] > 0
    assert any(k.startswith("backtest_") and "baseline" in k for k in meta)
    assert "model_brier" in meta["origins"] and "baseline_won_share" in meta["reliability"]
    # one entry per origin and figure, so each can be followed over origins
    assert any(k.endswith("_total_error") and k != "backtest_total_error" for k in meta)


def _png_in(markdown: str) -> bytes:
    found = re.fullmatch(r"!\[[^\]]+\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert found, markdown[:80]
    return base64.b64decode(found.group(1))


def test_plots_and_counts_are_in_the_metadata(
    pipeline_run: tuple[Warehouse, list[dg.ExecuteInProcessResult]],
) -> None:
    wh, runs = pipeline_run
    meta = _metadata(runs[-1], ACCOUNT_SCORES)
    scores = wh.query(f"SELECT * FROM {ACCOUNT_SCORES} WHERE run_id = ?", [runs[-1].run_id])
    # tier and band counts as numbers (Dagster plots numeric metadata over runs)
    for tier, n in scores["tier"].value_counts().items():
        assert meta[f"tier_{str(tier).lower()}"] == n
    for band, n in scores["health_band"].value_counts().items():
        assert meta[f"band_{str(band).lower()}"] == n
    # strategic Key accounts per rule, as their reasons read
    reasons = scores.loc[scores["tier"] == "Key", "tier_reason"]
    by_pipeline = int(reasons.str.startswith("Key (strategic): open pipeline").sum())
    by_growth = int(reasons.str.startswith("Key (strategic):").sum()) - by_pipeline
    assert (meta["tier_key_strategic_pipeline"], meta["tier_key_strategic_growth"]) == (
        by_pipeline,
        by_growth,
    )
    assert by_pipeline + by_growth > 0, "the demo org has strategic Key accounts"
    backtest = _metadata(runs[-1], "forecast_backtest")
    for key, source in (
        ("health_histogram_plot", meta),
        ("tier_pareto_plot", meta),
        ("forecast_vs_actual_plot", backtest),
    ):
        png = _png_in(source[key])
        with Image.open(io.BytesIO(png)) as image:  # parses as a PNG of a plot's size
            image.verify()
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 150
    for name in ("health_histogram.png", "tier_pareto.png", "forecast_vs_actual.png"):
        path = wh.path.parent / "plots" / name
        with Image.open(path) as image:
            assert image.format == "PNG"


def test_figures_and_bins_read_as_people_write_them() -> None:
    assert [_figure(v) for v in (1234567.891, 0.5, 12_000, np.int64(7), None, float("nan"))] == [
        "1,234,567.89",
        "0.50",
        "12,000",
        "7",
        "—",
        "—",
    ]
    assert _bin_label(pd.Interval(-0.001, 10.0)) == "0–10"
    assert _bin_label(pd.Interval(90.0, 100.0)) == "90–100"
    table = _md(pd.DataFrame({"period": ["2026Q1", "Total"], "amount": [1.5e6, 2_500_000.0]}))
    assert table.splitlines()[2:] == ["| 2026Q1 | 1,500,000.00 |", "| Total | 2,500,000.00 |"]


def test_scoring_reads_the_crm_stage_lists_quality_fetched(
    pipeline_run: tuple[Warehouse, list[dg.ExecuteInProcessResult]],
) -> None:
    # the stage lists as fetched through simple-salesforce (OpportunityStage) and
    # hubspot-api-client (deal pipelines): the probability of a stage no current deal is in
    from acm_sync.assets.scoring import load_inputs

    wh, _ = pipeline_run
    tables, _ = load_inputs(wh)
    stages = tables["stages"].set_index(["source", "stage"])
    # the vendors' out-of-the-box defaults, which the sandbox orgs keep
    assert stages.loc[("salesforce", "Prospecting"), "default_probability"] == 0.1
    assert stages.loc[("salesforce", "Closed Won"), "is_won"]
    assert stages.loc[("hubspot", "contractsent"), "default_probability"] == 0.9
    assert stages.loc[("hubspot", "closedlost"), "is_closed"]
    assert not stages.loc[("hubspot", "closedlost"), "is_won"]
