"""Each CRM's own opportunity stage list: what a stage may be called and what it means.

Salesforce: the `OpportunityStage` object (the sales process picklist with IsClosed / IsWon /
DefaultProbability per value). HubSpot: the deal pipelines API (stage ids with metadata
isClosed / probability; a closed stage with probability 1 is won, as HubSpot itself reads it).

The connectors fetch them (`stage_catalog()` of each CRM's client); this module only reads
what they hand over. Quality uses the catalog in two rules: the stage must be one of the CRM's
stages, and the closed / won flags must agree with what the stage means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

COLUMNS = {
    "source": "string",
    "stage": "string",
    "label": "string",
    "is_closed": "boolean",
    "is_won": "boolean",
    "probability": "Float64",
}


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1")


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype(COLUMNS).drop_duplicates(["source", "stage"], ignore_index=True)


@dataclass(frozen=True)
class StageCatalog:
    """Stages per source: source, stage (the value stored on opportunities), label, is_closed,
    is_won, probability (0–1)."""

    frame: pd.DataFrame

    @classmethod
    def empty(cls) -> StageCatalog:
        return cls(_frame([]))

    @classmethod
    def combine(cls, *parts: StageCatalog) -> StageCatalog:
        frames = [p.frame for p in parts if len(p.frame)]
        rows: list[dict[str, Any]] = (
            [{str(k): v for k, v in r.items()} for r in pd.concat(frames).to_dict("records")]
            if frames
            else []
        )
        return cls(_frame(rows))

    def sources(self) -> set[str]:
        return set(self.frame["source"].dropna())

    def stages(self, source: str) -> list[str]:
        return self.frame.loc[self.frame["source"] == source, "stage"].dropna().tolist()

    def lookup(self, source: pd.Series, stage: pd.Series, column: str) -> pd.Series:
        """`column` of each (source, stage) pair; NA where the stage is not in the catalog."""
        key = self.frame["source"] + "\x1f" + self.frame["stage"]
        values = pd.Series(self.frame[column].to_numpy(), index=key.to_numpy())
        values = values[~values.index.duplicated()]
        wanted = (source.astype("string") + "\x1f" + stage.astype("string")).to_numpy()
        return pd.Series(
            values.reindex(wanted).to_numpy(), index=source.index, dtype=COLUMNS[column]
        )


def salesforce_stages(records: Iterable[Mapping[str, Any]]) -> StageCatalog:
    """OpportunityStage records (`SalesforceClient.stage_catalog()`) → catalog; inactive
    values included, since old opportunities may still sit in a retired stage."""
    rows = [
        {
            "source": "salesforce",
            "stage": r.get("ApiName") or r.get("MasterLabel"),
            "label": r.get("MasterLabel") or r.get("ApiName"),
            "is_closed": _truthy(r.get("IsClosed")),
            "is_won": _truthy(r.get("IsWon")),
            "probability": float(r.get("DefaultProbability") or 0) / 100.0,
        }
        for r in records
    ]
    return StageCatalog(_frame(rows))


def salesforce_picklist_stages(describe: Mapping[str, Any]) -> StageCatalog:
    """Fallback when OpportunityStage is not readable: the StageName picklist of
    `Opportunity.describe()` (values only; closed / won unknown → not checked)."""
    field: Mapping[str, Any] = next(
        (f for f in describe.get("fields", []) if f.get("name") == "StageName"), {}
    )
    rows = [
        {
            "source": "salesforce",
            "stage": v.get("value"),
            "label": v.get("label"),
            "is_closed": None,
            "is_won": None,
            "probability": None,
        }
        for v in field.get("picklistValues", [])
    ]
    return StageCatalog(_frame(rows))


def hubspot_stages(pipelines: Iterable[Mapping[str, Any]]) -> StageCatalog:
    """Deal pipelines (`HubSpotClient.stage_catalog()`: `GET /crm/v3/pipelines/deals`
    results) → catalog of every pipeline."""
    rows = []
    for pipeline in pipelines:
        for stage in pipeline.get("stages", []):
            meta = stage.get("metadata") or {}
            probability = float(meta.get("probability") or 0)
            closed = _truthy(meta.get("isClosed"))
            rows.append(
                {
                    "source": "hubspot",
                    "stage": stage.get("id"),
                    "label": stage.get("label"),
                    "is_closed": closed,
                    "is_won": closed and probability >= 1.0,
                    "probability": probability,
                }
            )
    return StageCatalog(_frame(rows))
