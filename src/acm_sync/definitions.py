"""The Dagster code location: assembles assets, jobs and resources — nothing is computed here."""

from __future__ import annotations

import dagster as dg

from acm_sync.assets.hubspot import hubspot_assets
from acm_sync.assets.ingest import SyncSettingsResource
from acm_sync.assets.jobs import ingestion_jobs
from acm_sync.assets.quality import QualitySettingsResource, quality_assets, quality_job
from acm_sync.assets.salesforce import salesforce_assets
from acm_sync.assets.scoring import ScoringConfigResource, scoring_assets
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.warehouse import WarehouseResource

defs = dg.Definitions(
    assets=[*salesforce_assets, *hubspot_assets, *quality_assets, *scoring_assets],
    jobs=[*ingestion_jobs, quality_job],
    resources={
        # Secrets reach the resources as dagster.EnvVar references, never as values.
        "salesforce": SalesforceResource.from_env(),
        "hubspot": HubSpotResource.from_env(),
        "warehouse": WarehouseResource(),
        "sync_settings": SyncSettingsResource(),
        "quality_settings": QualitySettingsResource(),
        "scoring_config": ScoringConfigResource(),
    },
)
