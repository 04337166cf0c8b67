"""TEST / BENCH FIXTURE — not product code.

Maps the demo-org generator's *Salesforce* frames (API field names) straight to the canonical
tables, so scoring tests, benchmarks and the backtest report can run on the demo org before
the real ingestion (SF / HubSpot pull → canonical) exists. It will be replaced by that pull;
keep it small and obvious rather than complete.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from acm_sync.model import conform

_TYPES = {"New Business": "new", "Renewal": "renewal", "Expansion": "expansion"}
# Stand-in for quarantine's blocking amount rules: a $1T typo would swamp every forecast
# figure, and the product never scores such rows. Everything else dirty is left in on purpose.
QUARANTINED_KINDS = ("absurd_amount", "negative_amount")


def canonical_from_demo(
    org: Any, quarantined_kinds: tuple[str, ...] = QUARANTINED_KINDS
) -> dict[str, pd.DataFrame]:
    """accounts, contacts, opportunities, opportunity_stage_history from `org.salesforce`,
    without the Opportunity records the generator lists under `quarantined_kinds`."""
    sf = org.salesforce
    defects = org.defects
    blocked = defects.loc[
        (defects["system"] == "salesforce")
        & (defects["object"] == "Opportunity")
        & defects["kind"].isin(quarantined_kinds),
        "record_id",
    ]
    opportunities = sf["Opportunity"].loc[~sf["Opportunity"]["Id"].isin(blocked)]
    return {
        "accounts": _accounts(sf["Account"]),
        "contacts": _contacts(sf["Contact"]),
        "opportunities": _opportunities(opportunities),
        "opportunity_stage_history": _history(sf["OpportunityHistory"]),
    }


def _sf(ids: pd.Series) -> pd.Series:
    return ("sf:" + ids.astype("string")).astype("string")


_NS_LIMIT = pd.Timestamp("2262-01-01", tz="UTC")


def _day(values: pd.Series) -> pd.Series:
    """Salesforce `date` fields ('YYYY-MM-DD') as UTC midnight timestamps.

    The generator's `future_date` defect writes dates like 2999-01-01, beyond what the
    canonical ns timestamps hold: they become missing here (quarantine's job in the product).
    """
    parsed = pd.to_datetime(values, utc=True, errors="coerce")
    return parsed.where(parsed < _NS_LIMIT).dt.as_unit("ns")


def _domain(website: pd.Series) -> pd.Series:
    host = (
        website.astype("string")
        .str.strip()
        .str.lower()
        .str.replace(r"^[a-z]+://", "", regex=True)
        .str.replace(r"^www\.", "", regex=True)
        .str.replace(r"[/?#].*$", "", regex=True)
    )
    return host.where(host != "")


def _accounts(frame: pd.DataFrame) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "account_id": _sf(frame["Id"]),
                "source": "salesforce",
                "source_id": frame["Id"],
                "name": frame["Name"],
                "domain": _domain(frame["Website"]),
                "website": frame["Website"],
                "industry": frame["Industry"],
                "employees": frame["NumberOfEmployees"].round(),
                "annual_revenue": frame["AnnualRevenue"],
                "currency": frame["CurrencyIsoCode"],
                "owner_id": _sf(frame["OwnerId"]),
                "created_at": frame["CreatedDate"],
                "updated_at": frame["LastModifiedDate"],
                "last_activity_at": _day(frame["LastActivityDate"]),
                "is_deleted": frame["IsDeleted"],
                "merged_into": _sf(frame["MasterRecordId"]),
            }
        ),
        "accounts",
    )


def _contacts(frame: pd.DataFrame) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "contact_id": _sf(frame["Id"]),
                "source": "salesforce",
                "source_id": frame["Id"],
                "account_id": _sf(frame["AccountId"]),
                "email": frame["Email"].astype("string").str.lower(),
                "first_name": frame["FirstName"],
                "last_name": frame["LastName"],
                "title": frame["Title"],
                "created_at": frame["CreatedDate"],
                "updated_at": frame["LastModifiedDate"],
                "last_activity_at": _day(frame["LastActivityDate"]),
                "is_deleted": frame["IsDeleted"],
                "merged_into": _sf(frame["MasterRecordId"]),
            }
        ),
        "contacts",
    )


def _opportunities(frame: pd.DataFrame) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "opportunity_id": _sf(frame["Id"]),
                "source": "salesforce",
                "source_id": frame["Id"],
                "account_id": _sf(frame["AccountId"]),
                "name": frame["Name"],
                "stage": frame["StageName"],
                "stage_probability": frame["Probability"] / 100.0,
                "amount": frame["Amount"],
                "currency": frame["CurrencyIsoCode"],
                "close_date": _day(frame["CloseDate"]),
                "created_at": frame["CreatedDate"],
                "updated_at": frame["LastModifiedDate"],
                "is_closed": frame["IsClosed"],
                "is_won": frame["IsWon"],
                "type": frame["Type"].map(_TYPES),
                "forecast_category": frame["ForecastCategoryName"],
                "is_deleted": frame["IsDeleted"],
            }
        ),
        "opportunities",
    )


def _history(frame: pd.DataFrame) -> pd.DataFrame:
    live = frame.loc[~frame["IsDeleted"].to_numpy(dtype=bool, na_value=False)]
    return conform(
        pd.DataFrame(
            {
                "opportunity_id": _sf(live["OpportunityId"]),
                "stage": live["StageName"],
                "amount": live["Amount"].astype(float).where(np.isfinite(live["Amount"])),
                "close_date": _day(live["CloseDate"]),
                "changed_at": live["CreatedDate"],
            }
        ),
        "opportunity_stage_history",
    )
