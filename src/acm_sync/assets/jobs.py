"""Ingestion jobs: the everyday incremental pull, and the full refresh one click away."""

from __future__ import annotations

import dagster as dg

from acm_sync.assets.hubspot import hubspot_assets
from acm_sync.assets.salesforce import salesforce_assets

INGESTION = dg.AssetSelection.groups("salesforce", "hubspot")


def _op_names() -> list[str]:
    names: list[str] = []
    for asset in [*salesforce_assets, *hubspot_assets]:
        names.append(asset.op.name)
    return names


ingest_job = dg.define_asset_job(
    "ingest",
    selection=INGESTION,
    description="Pull both CRMs incrementally (the first run is a full pull).",
)

full_refresh_job = dg.define_asset_job(
    "full_refresh",
    selection=INGESTION,
    description="Re-read both CRMs from scratch; rows the CRMs no longer return are flagged "
    "is_deleted.",
    config={"ops": {name: {"config": {"full_refresh": True}} for name in _op_names()}},
)

ingestion_jobs = [ingest_job, full_refresh_job]
