"""The Dagster code location: assembles assets, checks, jobs, schedules, sensors and resources —
nothing is computed here.

Groups: salesforce, hubspot (pulls) → quality (gates) → scoring → writeback; every asset and
job partitioned by connection once acm_sync.yaml lists connections (assets/connections.py).
Jobs (assets/jobs.py): sync, full_refresh, plan (dry run), ingest, validate.
Schedules and alerts are built from acm_sync.yaml (`schedules`, `alerts`) as the code location
loads: a bad value there stops the load with the file and key named.
"""

from __future__ import annotations

import sys

import dagster as dg

from acm_sync.assets.alerts import SlackAlertResource, build_alerts
from acm_sync.assets.connections import (
    ConnectionHubSpot,
    ConnectionSalesforce,
    connection_partitions,
    for_connections,
    partition_by_connection,
)
from acm_sync.assets.hubspot import hubspot_assets
from acm_sync.assets.ingest import SyncSettingsResource
from acm_sync.assets.jobs import pipeline_jobs
from acm_sync.assets.quality import QualitySettingsResource, quality_assets, quality_job
from acm_sync.assets.salesforce import salesforce_assets
from acm_sync.assets.schedules import build_schedules
from acm_sync.assets.scoring import ScoringConfigResource, scoring_assets
from acm_sync.assets.writeback import WritebackSettingsResource, writeback_assets
from acm_sync.config import AcmSyncConfig, ConfigError, load_config
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.warehouse import WarehouseResource

try:
    config = load_config()
except ConfigError as error:
    # One line, first: `dagster job execute` / `definitions validate` print the import
    # traceback after it (its last line repeats it), and the UI shows the load error headed by
    # it. `from None` drops pydantic's own report, which says the same less clearly.
    print(f"acm_sync: the code location cannot load: {error}", file=sys.stderr, flush=True)
    raise ConfigError(str(error)) from None


def build_definitions(config: AcmSyncConfig) -> dg.Definitions:
    """The code location for `config` (the file read at load; tests pass their own)."""
    alerts = build_alerts(config.alerts)
    # Every asset and job is partitioned by connection when acm_sync.yaml lists connections (a
    # run is one connection; the resources below resolve its warehouse, settings and
    # credentials from the run's partition key); none listed: the single org, unpartitioned.
    connections = connection_partitions(config)
    return dg.Definitions(
        assets=partition_by_connection(
            [
                *salesforce_assets,
                *hubspot_assets,
                *quality_assets,
                *scoring_assets,
                *writeback_assets,
            ],
            connections,
        ),
        asset_checks=alerts.checks,
        jobs=[for_connections(job, connections, config) for job in [*pipeline_jobs, quality_job]],
        schedules=build_schedules(config.schedules, config),
        sensors=alerts.sensors,
        resources={
            # Secrets reach the resources as dagster.EnvVar references, never as values: the
            # plain variables here, a connection's prefixed ones when its run starts.
            "salesforce": ConnectionSalesforce(plain=SalesforceResource.from_env()),
            "hubspot": ConnectionHubSpot(plain=HubSpotResource.from_env()),
            "warehouse": WarehouseResource(),
            "sync_settings": SyncSettingsResource(),
            "quality_settings": QualitySettingsResource(),
            "scoring_config": ScoringConfigResource(),
            "slack": SlackAlertResource.from_env(),
            "writeback_settings": WritebackSettingsResource(),
        },
        # Every job not given its own executor (validate, runs launched from the asset graph,
        # the freshness checks) runs in one process too: a process per step costs more than the
        # steps.
        executor=dg.in_process_executor,
    )


defs = build_definitions(config)
