"""Canonical tables: the column names and dtypes every room agrees on.

Ids are namespaced (`sf:<Id>`, `hs:<id>`); timestamps are tz-aware UTC; money is float with a
`currency` column. Pulls produce these frames, quality validates them, scoring reads them.
"""

from __future__ import annotations

from typing import Final

import pandas as pd

STRING: Final = "string"
FLOAT: Final = "Float64"
INT: Final = "Int64"
BOOL: Final = "boolean"
# Microseconds, not nanoseconds: dirty CRM dates (year 2999) must load so quality can flag them.
TIMESTAMP: Final = "datetime64[us, UTC]"

SOURCES: Final = ("salesforce", "hubspot")

ACCOUNTS: dict[str, str] = {
    "account_id": STRING,
    "source": STRING,
    "source_id": STRING,
    "name": STRING,
    "domain": STRING,  # normalised: lower case, no scheme, no www., no path
    "website": STRING,
    "industry": STRING,
    "employees": INT,
    "annual_revenue": FLOAT,
    "currency": STRING,
    # CSAT / NPS as the CRM holds it (on the scale health.satisfaction.scale_min…scale_max
    # names); unmapped by default, so null unless sync.<crm>.fields.accounts.satisfaction names
    # the CRM field that holds it.
    "satisfaction": FLOAT,
    "owner_id": STRING,
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "last_activity_at": TIMESTAMP,
    "is_deleted": BOOL,
    "merged_into": STRING,
}

CONTACTS: dict[str, str] = {
    "contact_id": STRING,
    "source": STRING,
    "source_id": STRING,
    "account_id": STRING,
    "email": STRING,  # lower case
    "first_name": STRING,
    "last_name": STRING,
    "title": STRING,
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "last_activity_at": TIMESTAMP,
    "is_deleted": BOOL,
    "merged_into": STRING,
}

OPPORTUNITIES: dict[str, str] = {
    "opportunity_id": STRING,
    "source": STRING,
    "source_id": STRING,
    "account_id": STRING,
    "name": STRING,
    "stage": STRING,
    "stage_probability": FLOAT,  # 0–1, the CRM's own probability for the stage
    "amount": FLOAT,
    "currency": STRING,
    "close_date": TIMESTAMP,
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "is_closed": BOOL,
    "is_won": BOOL,
    "type": STRING,  # new / renewal / expansion
    "forecast_category": STRING,  # Pipeline / Best Case / Commit / Closed / Omitted
    "is_deleted": BOOL,
}

OPPORTUNITY_STAGE_HISTORY: dict[str, str] = {
    "opportunity_id": STRING,
    "stage": STRING,
    "amount": FLOAT,
    "close_date": TIMESTAMP,
    "changed_at": TIMESTAMP,
}

QUARANTINE: dict[str, str] = {
    "entity": STRING,
    "record_id": STRING,
    "source": STRING,
    "rule": STRING,  # expectation type + column
    "reason": STRING,
    "severity": STRING,  # critical / warning
    "run_id": STRING,
    "name": STRING,  # the record's name, as the CRM shows it
    "url": STRING,  # the record in its CRM ("" when the link base is unknown)
}

ACCOUNT_IDENTITY: dict[str, str] = {
    "account_key": STRING,
    "sf_account_id": STRING,
    "hs_company_id": STRING,
    "match_rule": STRING,
}

TABLES: dict[str, dict[str, str]] = {
    "accounts": ACCOUNTS,
    "contacts": CONTACTS,
    "opportunities": OPPORTUNITIES,
    "opportunity_stage_history": OPPORTUNITY_STAGE_HISTORY,
    "quarantine": QUARANTINE,
    "account_identity": ACCOUNT_IDENTITY,
}

# Columns a frame may leave out (conform adds them empty): added after frames were built
# outside the pulls (benchmarks' CSV loaders, callers' own frames), and null for most orgs.
OPTIONAL: dict[str, frozenset[str]] = {"accounts": frozenset({"satisfaction"})}

PRIMARY_KEYS: dict[str, str] = {
    "accounts": "account_id",
    "contacts": "contact_id",
    "opportunities": "opportunity_id",
}


def empty_frame(table: str) -> pd.DataFrame:
    """An empty frame with the table's columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in TABLES[table].items()})


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """The frame with exactly the table's columns, in order, cast to their dtypes.

    Raises ValueError naming the missing columns (an OPTIONAL one is added empty); extra
    columns are dropped.
    """
    columns = TABLES[table]
    optional = OPTIONAL.get(table, frozenset())
    missing = [c for c in columns if c not in frame.columns and c not in optional]
    if missing:
        raise ValueError(f"{table}: missing canonical columns {missing}")
    out = frame.reindex(columns=list(columns)).copy()
    for column, dtype in columns.items():
        if dtype == TIMESTAMP:
            out[column] = pd.to_datetime(out[column], utc=True).astype(
                pd.api.types.pandas_dtype(TIMESTAMP)
            )
        else:
            out[column] = out[column].astype(pd.api.types.pandas_dtype(dtype))
    return out
