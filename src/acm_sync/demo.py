"""`acm-sync demo`: a fresh seeded sandbox, the regular `sync` job run on it in process, and a
summary — pulled, quarantined by rule, tiers, health, forecast, written, API calls — with three
example records before → after, read back through the real clients.

The job is the code location's own (`assets.jobs.sync_job`) over its own assets, with resources
built exactly as `definitions.py` builds them, from the sandbox's connection settings.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

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


def _definitions(warehouse_path: Path, progress: Progress) -> dg.Definitions:
    """The code location's assets and its regular `sync` job, with resources built exactly as
    definitions.py builds them (from the environment: the sandbox's connection settings)."""
    from acm_sync.assets.hubspot import hubspot_assets
    from acm_sync.assets.ingest import SyncSettingsResource
    from acm_sync.assets.jobs import sync_job
    from acm_sync.assets.quality import QualitySettingsResource, quality_assets
    from acm_sync.assets.salesforce import salesforce_assets
    from acm_sync.assets.scoring import ScoringConfigResource, scoring_assets
    from acm_sync.assets.writeback import WritebackSettingsResource, writeback_assets
    from acm_sync.connectors.hubspot import HubSpotResource
    from acm_sync.connectors.salesforce import SalesforceResource
    from acm_sync.warehouse import WarehouseResource

    return dg.Definitions(
        assets=[
            *salesforce_assets,
            *hubspot_assets,
            *quality_assets,
            *scoring_assets,
            *writeback_assets,
        ],
        jobs=[sync_job],
        resources={
            "salesforce": SalesforceResource.from_env(),
            "hubspot": HubSpotResource.from_env(),
            "warehouse": WarehouseResource(path=str(warehouse_path)),
            "sync_settings": SyncSettingsResource(),
            "quality_settings": QualitySettingsResource(),
            "scoring_config": ScoringConfigResource(),
            "writeback_settings": WritebackSettingsResource(),
        },
        executor=dg.in_process_executor,
        loggers={"progress": _progress_logger(progress)},
    )


def _progress_logger(progress: Progress) -> dg.LoggerDefinition:
    """Dagster's step events as one progress line each; warnings and errors as they come."""

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            step = _STEP_DONE.search(message)
            if step:
                progress(f"{step['step']} ({step['took']})")
            elif record.levelno >= logging.WARNING:
                progress(f"[{record.levelname.lower()}] {message.split(' - ')[-1]}")

    @dg.logger
    def progress_logger(_: Any) -> logging.Logger:
        log = logging.getLogger("acm_sync.demo.progress")
        log.setLevel(logging.DEBUG)
        log.handlers = [Handler()]
        log.propagate = False
        return log

    return progress_logger


_STEP_DONE = re.compile(
    r'Finished execution of step "(?P<step>[^"]+)" in (?P<took>[^.]+(?:\.\d+)?\w*)'
)


def _single_org_config(work_dir: Path) -> dict[str, str]:
    """The demo is one org (its sandbox): when acm_sync.yaml lists connections, the demo runs
    with a copy of it without them (the same revops settings, the one `default` connection)."""
    import yaml

    from acm_sync.config import config_path, load_config

    if not load_config().connections:
        return {}
    raw = yaml.safe_load(config_path().read_text(encoding="utf-8")) or {}
    raw = {k: v for k, v in raw.items() if k not in ("connections", "warehouse")}
    single = work_dir / "acm_sync.yaml"
    single.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return {"ACM_SYNC_CONFIG": str(single.resolve())}


def run_demo(
    work_dir: Path, *, accounts: int = 1000, seed: int = 7, progress: Progress = print
) -> dict[str, Any]:
    """Seed and start a sandbox in `work_dir`, run the `sync` job on it in process (pull →
    quality → scoring → plan → write-back), return the summary with example records."""
    started = time.perf_counter()
    progress(f"seeding a {accounts:,}-account demo org (seed {seed}) and starting the sandboxes")
    with SandboxProcess(work_dir / "sandbox", accounts=accounts, seed=seed) as settings:
        progress(
            f"Salesforce sandbox at {settings.salesforce_instance_url}, "
            f"HubSpot sandbox at {settings.hubspot_base_url}"
        )
        warehouse_path = work_dir / "warehouse" / "acm_sync.duckdb"
        with _environment({**settings.env(), **_single_org_config(work_dir)}):
            job = _definitions(warehouse_path, progress).get_job_def("sync")
            progress("running the sync job in process: pull → quality → scoring → write-back")
            result = job.execute_in_process(
                raise_on_error=False,
                run_config={"loggers": {"progress": {}}},
            )
        if not result.success:
            failed = [e.step_key for e in result.get_step_failure_events()]
            raise RuntimeError(f"the pipeline failed at {failed}; see the log above")
        wh = Warehouse(warehouse_path)
        summary = summarize(wh, result)
        summary["examples"] = examples(wh, settings.env(), result.run_id)
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
    written = wh.query(
        "SELECT coalesce(status, 'not sent') AS status, count(DISTINCT (crm, object, record_id)) "
        "AS records FROM writeback_plan WHERE run_id = ? AND action IN ('write', "
        "'overwrite_manual') GROUP BY 1",
        [run],
    )
    by_status = {str(k): int(v) for k, v in written.itertuples(index=False)}
    per_object = wh.query(
        "SELECT crm, object, count(DISTINCT record_id) AS records FROM writeback_plan "
        "WHERE run_id = ? AND status = 'written' GROUP BY 1, 2 ORDER BY 1, 2",
        [run],
    )
    write_calls = {
        source: int(n)
        for source, n in wh.query(
            "SELECT source, sum(calls) FROM _api_calls WHERE run_id = ? AND step = "
            "'writeback_apply' GROUP BY 1",
            [run],
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
                # won + open deals × p(won in the quarter) from the time-to-close model
                "pipeline_forecast": round(float(r["forecast_amount"]), 2),
                # deals not created yet, from the recent bookings run-rate
                "run_rate": round(float(r.get("run_rate_amount") or 0.0), 2),
                "total_forecast": round(float(r.get("total_forecast_amount") or 0.0), 2),
                # won + open deals × the stage's default probability (what a CRM shows)
                "stage_default_baseline": round(float(r["baseline_forecast_amount"]), 2),
                "open_opportunities": int(r["open_opportunities"]),
            }
            for r in totals.to_dict("records")
        ],
        "attention_flags": int(scores["attention"].fillna(False).sum()),
        "writeback": {
            "planned": sum(by_status.values()),
            "written": by_status.get("written", 0),
            "rejected": by_status.get("rejected", 0),
            "not_sent": by_status.get("not sent", 0),
            "skipped_manual": wh.count(
                "writeback_plan", "WHERE run_id = ? AND action = 'skip_manual'", [run]
            ),
            "written_by_object": {
                f"{r['crm']}.{r['object']}": int(r["records"])
                for r in per_object.to_dict("records")
            },
            "write_calls": write_calls,
        },
        "api_calls": calls,
    }


EXAMPLE_FIELDS = {
    ("salesforce", "Account"): [
        "Name",
        "ACM_Tier__c",
        "ACM_Health_Score__c",
        "ACM_Health_Band__c",
        "ACM_Forecast_Amount__c",
        "ACM_Next_Action__c",
    ],
    ("hubspot", "companies"): [
        "name",
        "acm_tier",
        "acm_health_score",
        "acm_health_band",
        "acm_forecast_amount",
        "acm_next_action",
    ],
    ("salesforce", "Contact"): ["Email", "ACM_Data_Issues__c"],
}


def examples(wh: Warehouse, env: dict[str, str], run: str) -> list[dict[str, Any]]:
    """Three records before → after: a Key account in Salesforce, the same account in HubSpot
    (one unified account, both records), and a contact with a data-quality issue to fix. "Before"
    is what the pull read; "after" is read back now through simple-salesforce and
    hubspot-api-client."""
    from acm_sync.org_summary import hubspot_client, salesforce_client

    twin = wh.query(
        "SELECT i.sf_account_id, i.hs_company_id FROM account_identity i "
        "JOIN account_scores s ON s.account_key = i.account_key AND s.run_id = ? "
        "WHERE i.sf_account_id IS NOT NULL AND i.hs_company_id IS NOT NULL "
        "ORDER BY (s.tier = 'Key') DESC, s.t12m_won_revenue DESC LIMIT 1",
        [run],
    )
    contact = wh.query(
        "SELECT record_id FROM writeback_plan WHERE run_id = ? AND crm = 'salesforce' "
        "AND object = 'Contact' AND after IS NOT NULL ORDER BY record_id LIMIT 1",
        [run],
    )
    picks: list[tuple[str, str, str]] = []
    if len(twin):
        picks.append(("salesforce", "Account", str(twin["sf_account_id"].iat[0])[3:]))
        picks.append(("hubspot", "companies", str(twin["hs_company_id"].iat[0])[3:]))
    if len(contact):
        picks.append(("salesforce", "Contact", str(contact["record_id"].iat[0])))
    sf = salesforce_client(env)
    sf.session.trust_env = False  # the sandbox CA, not REQUESTS_CA_BUNDLE
    hs = hubspot_client(env)
    out = []
    for crm, obj, rid in picks:
        fields = EXAMPLE_FIELDS[(crm, obj)]
        before = wh.query(
            "SELECT field, before FROM writeback_plan WHERE run_id = ? AND crm = ? AND object = ? "
            "AND record_id = ?",
            [run, crm, obj, rid],
        )
        was = {str(f): (None if pd.isna(v) else v) for f, v in before.itertuples(index=False)}
        if crm == "salesforce":
            now = dict(getattr(sf, obj).get(rid))
        else:
            record = getattr(hs.crm, obj).basic_api.get_by_id(rid, properties=fields)
            now = dict(record.properties)
        out.append(
            {
                "crm": crm,
                "object": obj,
                "id": rid,
                "fields": [
                    {"field": f, "before": was.get(f, now.get(f)), "after": now.get(f)}
                    for f in fields
                ],
            }
        )
    return out
