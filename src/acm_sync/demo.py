"""`acm-sync demo`: a fresh seeded sandbox, the pipeline run on it in process, and a summary.

The pipeline is the code location's own assets (pull → quality → scoring), materialized with
resources built exactly as `definitions.py` builds them, from the sandbox's connection settings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from acm_sync.sandbox.process import SandboxProcess
from acm_sync.warehouse import Warehouse

Progress = Callable[[str], None]


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _pipeline_assets() -> list[Any]:
    from acm_sync.assets.hubspot import hubspot_assets
    from acm_sync.assets.quality import quality_assets
    from acm_sync.assets.salesforce import salesforce_assets
    from acm_sync.assets.scoring import scoring_assets

    return [*salesforce_assets, *hubspot_assets, *quality_assets, *scoring_assets]


def _resources(warehouse_path: Path) -> dict[str, Any]:
    from acm_sync.assets.ingest import SyncSettingsResource
    from acm_sync.assets.quality import QualitySettingsResource
    from acm_sync.assets.scoring import ScoringConfigResource
    from acm_sync.connectors.hubspot import HubSpotResource
    from acm_sync.connectors.salesforce import SalesforceResource
    from acm_sync.warehouse import WarehouseResource

    return {
        "salesforce": SalesforceResource.from_env(),
        "hubspot": HubSpotResource.from_env(),
        "warehouse": WarehouseResource(path=str(warehouse_path)),
        "sync_settings": SyncSettingsResource(),
        "quality_settings": QualitySettingsResource(),
        "scoring_config": ScoringConfigResource(),
    }


def run_demo(
    work_dir: Path, *, accounts: int = 1000, seed: int = 7, progress: Progress = print
) -> dict[str, Any]:
    """Seed and start a sandbox in `work_dir`, run the pipeline on it, return the summary."""
    started = time.perf_counter()
    progress(f"seeding a {accounts:,}-account demo org (seed {seed}) and starting the sandboxes")
    with SandboxProcess(work_dir / "sandbox", accounts=accounts, seed=seed) as settings:
        progress(
            f"Salesforce sandbox at {settings.salesforce_instance_url}, "
            f"HubSpot sandbox at {settings.hubspot_base_url}"
        )
        warehouse_path = work_dir / "warehouse" / "acm_sync.duckdb"
        with _environment(settings.env()):
            assets = _pipeline_assets()
            progress(f"running {len(assets)} assets in process: pull → quality → scoring")
            result = dg.materialize(
                assets,
                resources=_resources(warehouse_path),
                raise_on_error=False,
                # Progress is ours to show; Dagster's console logger speaks up for problems only.
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        if not result.success:
            failed = [e.step_key for e in result.get_step_failure_events()]
            raise RuntimeError(f"the pipeline failed at {failed}; see the log above")
        summary = summarize(Warehouse(warehouse_path), result)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["warehouse"] = str(warehouse_path)
    return summary


def summarize(wh: Warehouse, result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """What the run did, from the warehouse it wrote: pulled, quarantined, scored, calls."""
    run = result.run_id
    pulled = {
        f"{source}.{entity}": int(n)
        for entity in ("accounts", "contacts", "opportunities")
        for source, n in wh.query(f"SELECT source, count(*) FROM {entity} GROUP BY 1").itertuples(
            index=False
        )
    }
    valid = {
        entity: wh.count(f"valid_{entity}") for entity in ("accounts", "contacts", "opportunities")
    }
    quarantined_ids = {
        entity: int(n)
        for entity, n in wh.query(
            "SELECT entity, count(DISTINCT record_id) FROM quarantine "
            "WHERE severity = 'critical' AND run_id = ? GROUP BY 1",
            [run],
        ).itertuples(index=False)
    }
    by_rule = wh.query(
        "SELECT entity, code, severity, count(*) AS records FROM quality_issues "
        "WHERE run_id = ? GROUP BY 1, 2, 3 ORDER BY records DESC",
        [run],
    )
    scores = wh.query("SELECT * FROM account_scores WHERE run_id = ?", [run])
    totals = wh.query("SELECT * FROM forecast_totals WHERE run_id = ? ORDER BY period", [run])
    calls = {
        source: int(n)
        for source, n in wh.query(
            "SELECT source, sum(calls) FROM _api_calls WHERE run_id = ? GROUP BY 1", [run]
        ).itertuples(index=False)
    }
    return {
        "run_id": run,
        "pulled": pulled,
        "valid": valid,
        "quarantined": quarantined_ids,
        "issues_by_rule": [{**r, "records": int(r["records"])} for r in by_rule.to_dict("records")],
        "tiers": {str(k): int(v) for k, v in scores["tier"].value_counts().items()},
        "health_bands": {str(k): int(v) for k, v in scores["health_band"].value_counts().items()},
        "forecast": [
            {
                "period": r["period"],
                "expected_bookings": round(float(r["forecast_amount"]), 2),
                "stage_default_baseline": round(float(r["baseline_forecast_amount"]), 2),
                "open_opportunities": int(r["open_opportunities"]),
            }
            for r in totals.to_dict("records")
        ],
        "attention_flags": int(scores["attention"].fillna(False).sum()),
        "api_calls": calls,
    }
