"""TEST / BENCH FIXTURE — the generated demo org as the pipeline would see it after a pull.

The generator's frames (both CRMs) are turned into raw text frames shaped like the APIs' answers
and mapped with the ingestion's own pure functions (`connectors.mapping.to_canonical`,
`merged_stubs`, `history_from_versions` with each connector's `rules_for`). Quality tests
therefore validate exactly what a pull would have stored, without a sandbox round trip.

The stage catalog comes from the same answers the CRMs give: Salesforce `OpportunityStage`
records and HubSpot's deal pipelines (stage metadata isClosed / probability).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acm_sync import model
from acm_sync.config import load_config
from acm_sync.connectors import hubspot_pull, salesforce_pull
from acm_sync.connectors.mapping import (
    history_from_versions,
    merged_stubs,
    raw_text,
    to_canonical,
)
from acm_sync.connectors.settings import HubSpotSync, SalesforceSync
from acm_sync.quality.derive import RunContext
from acm_sync.quality.stages import StageCatalog, hubspot_stages, salesforce_stages
from acm_sync.sandbox.generator import DemoOrg, generate_org
from acm_sync.sandbox.hubspot import schema as hs_schema

SUITES = Path(__file__).resolve().parents[2] / "expectations"
# The shipped config's rates: the demo org sells in USD, EUR and GBP.
CURRENCY = load_config(Path(__file__).resolve().parents[2] / "acm_sync.yaml").currency
SF_OBJECT = {
    "accounts": "Account",
    "contacts": "Contact",
    "opportunities": "Opportunity",
    "opportunity_stage_history": "OpportunityHistory",
}
HS_OBJECT = {"accounts": "companies", "contacts": "contacts", "opportunities": "deals"}


def _sf_wire(frame: pd.DataFrame) -> pd.DataFrame:
    """Salesforce REST values as text: datetimes '2024-01-02T03:04:05.000+0000'."""
    out = frame.astype(object)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            text = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            out[column] = text.astype(object).where(frame[column].notna(), None)
    return raw_text(out)


def _hs_wire(frame: pd.DataFrame) -> pd.DataFrame:
    """HubSpot property values as text: datetimes '2024-01-15T10:23:45.000Z', numbers '12500'."""
    out = frame.astype(object)
    for column in frame.columns:
        series = frame[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            text = series.dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            out[column] = text.astype(object).where(series.notna(), None)
        elif series.dtype == np.float64:
            whole = series.notna() & (series == series.round())
            text = series.map(lambda v: f"{v:.2f}".rstrip("0").rstrip(".")).astype(object)
            text[whole] = series[whole].astype(np.int64).astype(str)
            out[column] = text.where(series.notna(), None)
    return raw_text(out)


def _primary(org: DemoOrg, from_type: str, type_id: int) -> pd.Series:
    a = org.hubspot_associations
    rows = a[(a["from_type"] == from_type) & (a["type_id"] == type_id)]
    rows = rows.drop_duplicates("from_id")
    return pd.Series(rows["to_id"].astype(str).to_numpy(), index=rows["from_id"].astype(str))


def salesforce_tables(org: DemoOrg) -> dict[str, pd.DataFrame]:
    settings = SalesforceSync()
    out = {}
    for table, obj in SF_OBJECT.items():
        spec = salesforce_pull.SF_OBJECTS[table]
        raw = _sf_wire(org.salesforce[obj])
        if table == "opportunity_stage_history":
            # Deleted opportunities' history is in the recycle bin with them (query, not queryAll).
            raw = raw[raw["IsDeleted"] != "true"]
        out[table] = to_canonical(raw, salesforce_pull.rules_for(spec, settings))
    return out


def hubspot_tables(org: DemoOrg) -> dict[str, pd.DataFrame]:
    settings = HubSpotSync()
    out = {}
    for table, obj in HS_OBJECT.items():
        spec = hubspot_pull.HS_OBJECTS[table]
        raw = _hs_wire(org.hubspot[obj])
        if spec.associations:
            primary = _primary(org, obj, {"contacts": 1, "deals": 5}[obj])
            raw["@associations.companies"] = raw["id"].map(primary).astype("string")
        canonical = to_canonical(raw, hubspot_pull.rules_for(spec, settings))
        stubs = merged_stubs(
            raw, id_field="id", merged_field="hs_merged_object_ids", source="hubspot", table=table
        )
        out[table] = pd.concat([canonical, stubs], ignore_index=True)
    history = org.hubspot_property_history
    versions = raw_text(
        pd.DataFrame(
            {
                "deal_id": history["object_id"].astype(str),
                "property": history["property"],
                "value": history["value"],
                "timestamp": history["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            }
        ).astype(object)
    )
    out["opportunity_stage_history"] = history_from_versions(
        versions, settings.field_map("opportunity_stage_history")
    )
    return out


def canonical_tables(org: DemoOrg) -> dict[str, pd.DataFrame]:
    """accounts, contacts, opportunities, opportunity_stage_history of both CRMs."""
    sf, hs = salesforce_tables(org), hubspot_tables(org)
    return {
        table: model.conform(pd.concat([sf[table], hs[table]], ignore_index=True), table)
        for table in SF_OBJECT
    }


def sf_stage_records(org: DemoOrg) -> list[dict[str, Any]]:
    """OpportunityStage rows as a SOQL query returns them."""
    frame = org.salesforce["OpportunityStage"]
    cols = ["ApiName", "MasterLabel", "IsActive", "IsClosed", "IsWon", "DefaultProbability"]
    return [
        {str(c): (v.item() if hasattr(v, "item") else v) for c, v in row.items()}
        for row in frame[cols].to_dict("records")
    ]


def hs_pipelines() -> list[dict[str, Any]]:
    """GET /crm/v3/pipelines/deals as the sandbox (and HubSpot) answers it."""
    return [
        {
            "id": hs_schema.DEFAULT_PIPELINE_ID,
            "label": "Sales Pipeline",
            "stages": [
                {
                    "id": sid,
                    "label": label,
                    "displayOrder": order,
                    "metadata": {"isClosed": "true" if closed else "false", "probability": prob},
                    "archived": False,
                }
                for sid, label, prob, order, closed, _won in hs_schema.DEAL_STAGES
            ],
        }
    ]


def stage_catalog(org: DemoOrg) -> StageCatalog:
    return StageCatalog.combine(
        salesforce_stages(sf_stage_records(org)), hubspot_stages(hs_pipelines())
    )


@dataclass(frozen=True)
class Demo:
    """A generated org, its canonical tables and the run context to validate them."""

    org: DemoOrg
    tables: dict[str, pd.DataFrame]
    context: RunContext


def build_demo(accounts: int, seed: int) -> Demo:
    org = generate_org(accounts, seed=seed)
    tables = canonical_tables(org)
    context = RunContext.from_tables(
        tables, as_of=pd.Timestamp(org.now), stages=stage_catalog(org), currency=CURRENCY
    )
    return Demo(org, tables, context)


def pipeline_tables(org: DemoOrg) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """What the pipeline hands scoring for this org, without a sandbox round trip: both CRMs'
    records mapped by the ingestion (`canonical_tables`), the rows the suites let through
    (`valid` of each entity, quarantine left out, as the quality assets do) and the account
    identity over them. Benches and backtests score this, not the generator's own frames."""
    from acm_sync.identity import match_accounts
    from acm_sync.quality.validate import validate_tables

    tables = canonical_tables(org)
    context = RunContext.from_tables(
        tables, as_of=pd.Timestamp(org.now), stages=stage_catalog(org), currency=CURRENCY
    )
    run = validate_tables(tables, SUITES, context, run_id="pipeline")
    valid = {entity: report.valid for entity, report in run.reports.items()}
    return valid, match_accounts(tables["accounts"])  # as quality_account_identity does
