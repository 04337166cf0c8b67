"""The frame GX validates: an entity's live rows plus a few derived helper columns.

GX checks one frame at a time; a handful of rules need facts from elsewhere (other tables, the
CRM's stage list, the run's as-of time, the identity keys). Those facts become helper columns,
named with a leading underscore, so the rules themselves stay plain GX expectations in the suite
files. Each helper, and why it is a column rather than a suite parameter:

accounts
  _domain_key     registrable domain of domain / website (domains.domain_key, the PSL): the
                  in-CRM duplicate rule is `expect_compound_columns_to_be_unique(source,
                  _domain_key)`; `eu.acme.com` and `www.acme.com/en` are the same company.
  _name_key       normalised name (identity.name_key): duplicates by name, as above.
contacts, opportunities
  _missing_account_id
                  account_id when it names no account the pull returned (deleted and merged
                  ones included), else null: `expect_column_values_to_be_null`. A value set of
                  every account id as a `$PARAMETER` would work too, but GX would then store the
                  whole id list in every validation result and Data Docs page.
opportunities
  _stage_is_closed / _stage_is_won
                  what the stage means in the CRM's own stage list (Salesforce OpportunityStage,
                  HubSpot pipelines); null for a stage not in the list (that is its own rule):
                  `expect_column_pair_values_to_be_equal(is_closed, _stage_is_closed)`.
  _days_overdue_open
                  days since the close date, for deals the record says are open (else null):
                  the stale-deal rule is `expect_column_values_to_be_between(max_value=90)`,
                  with the 90 days in the suite where revops can change it.
  _close_days_ahead
                  days from the run's as-of time to the close date (a close date decades ahead
                  is a typo, not pipeline).
opportunity_stage_history
  _source         salesforce / hubspot from the id prefix (the table has no source column), for
                  the per-CRM stage rules' row_condition.
  _missing_opportunity_id
                  opportunity_id when the pull has no such opportunity, else null.

Only live rows are validated: deleted and merged-away records are already out of scoring (the
pull marks them) and are never written back, so a rule on them would only be noise; they pass
through to the valid output untouched. Nullable numbers are handed to GX as float64 (NaN for
missing), which its range metrics compare vectorised rather than value by value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from acm_sync import domains, identity, model
from acm_sync.quality.stages import StageCatalog

DAY: Final = pd.Timedelta(days=1)
KEYS: Final = {
    "accounts": "account_id",
    "contacts": "contact_id",
    "opportunities": "opportunity_id",
    "opportunity_stage_history": "opportunity_id",
}
HELPERS: Final[dict[str, tuple[str, ...]]] = {
    "accounts": ("_domain_key", "_name_key"),
    "contacts": ("_missing_account_id",),
    "opportunities": (
        "_missing_account_id",
        "_stage_is_closed",
        "_stage_is_won",
        "_days_overdue_open",
        "_close_days_ahead",
    ),
    "opportunity_stage_history": ("_source", "_missing_opportunity_id"),
}
SOURCE_OF_PREFIX: Final = {"sf": "salesforce", "hs": "hubspot"}


@dataclass(frozen=True)
class RunContext:
    """What a validation run knows besides the frame: the as-of time, the CRMs' stage lists,
    and the ids the pull returned (for the reference rules)."""

    as_of: pd.Timestamp
    stages: StageCatalog = field(default_factory=StageCatalog.empty)
    account_ids: pd.Index = field(default_factory=lambda: pd.Index([], dtype=model.STRING))
    opportunity_ids: pd.Index = field(default_factory=lambda: pd.Index([], dtype=model.STRING))

    @classmethod
    def from_tables(
        cls,
        tables: dict[str, pd.DataFrame],
        *,
        as_of: pd.Timestamp,
        stages: StageCatalog | None = None,
    ) -> RunContext:
        ids = {
            name: pd.Index(tables[table][key].dropna().unique(), dtype=model.STRING)
            for name, table, key in (
                ("account_ids", "accounts", "account_id"),
                ("opportunity_ids", "opportunities", "opportunity_id"),
            )
            if table in tables
        }
        return cls(as_of=as_of, stages=stages or StageCatalog.empty(), **ids)

    def parameters(self) -> dict[str, object]:
        """Values of the suites' `$PARAMETER`s."""
        return {
            "now": self.as_of,
            "salesforce_stages": self.stages.stages("salesforce"),
            "hubspot_stages": self.stages.stages("hubspot"),
        }


def columns(entity: str) -> list[str]:
    """Every column a suite for `entity` may name: canonical + helpers."""
    return [*model.TABLES[entity], *HELPERS[entity]]


def live_mask(frame: pd.DataFrame) -> np.ndarray:
    if "is_deleted" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return ~frame["is_deleted"].fillna(False).to_numpy(dtype=bool)


def record_ids(entity: str, frame: pd.DataFrame) -> pd.Series:
    """The record id quarantine rows carry (history: opportunity id @ change time)."""
    if entity != "opportunity_stage_history":
        return frame[KEYS[entity]].astype(model.STRING)
    when = frame["changed_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("?")
    return (frame["opportunity_id"].astype(model.STRING) + "@" + when).astype(model.STRING)


def sources(entity: str, frame: pd.DataFrame) -> pd.Series:
    if "source" in frame.columns:
        return frame["source"].astype(model.STRING)
    ids = frame["opportunity_id"].astype(model.STRING)
    out = pd.Series(pd.NA, index=frame.index, dtype=model.STRING)
    for prefix, source in SOURCE_OF_PREFIX.items():
        out = out.mask(ids.str.startswith(prefix + ":").fillna(False).astype(bool), source)
    return out


def source_ids(entity: str, frame: pd.DataFrame) -> pd.Series:
    if "source_id" in frame.columns:
        return frame["source_id"].astype(model.STRING)
    return frame["opportunity_id"].astype(model.STRING).str.slice(3)  # after "sf:" / "hs:"


def _missing(values: pd.Series, known: pd.Index) -> pd.Series:
    values = values.astype(model.STRING)
    return values.where(~values.isin(known) & values.notna()).astype(model.STRING)


def _as_float(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if str(frame[column].dtype) in (model.FLOAT, model.INT):
            frame[column] = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return frame


def prepare(entity: str, frame: pd.DataFrame, context: RunContext) -> pd.DataFrame:
    """The live rows of `frame` (canonical `entity`) with helper columns, index 0..n-1."""
    out = frame.loc[live_mask(frame)].reset_index(drop=True)
    if entity == "accounts":
        domain = out["domain"].astype(model.STRING).fillna(out["website"].astype(model.STRING))
        out["_domain_key"] = domains.domain_key(domain)
        out["_name_key"] = identity.name_key(out["name"])
    elif entity == "contacts":
        out["_missing_account_id"] = _missing(out["account_id"], context.account_ids)
    elif entity == "opportunities":
        out["_missing_account_id"] = _missing(out["account_id"], context.account_ids)
        out["_stage_is_closed"] = context.stages.lookup(out["source"], out["stage"], "is_closed")
        out["_stage_is_won"] = context.stages.lookup(out["source"], out["stage"], "is_won")
        # Whole calendar days (UTC): the same text all day, so a re-run the same day
        # writes no changed issue text back.
        today = pd.Timestamp(context.as_of).floor("D")
        overdue = (today - out["close_date"].dt.floor("D")).dt.total_seconds() / DAY.total_seconds()
        is_open = out["is_closed"].eq(False).fillna(False).astype(bool)
        out["_days_overdue_open"] = np.floor(overdue.where(is_open).astype("float64"))
        out["_close_days_ahead"] = np.floor(-overdue.astype("float64"))
    elif entity == "opportunity_stage_history":
        out["_source"] = sources(entity, out)
        out["_missing_opportunity_id"] = _missing(out["opportunity_id"], context.opportunity_ids)
    return _as_float(out)
