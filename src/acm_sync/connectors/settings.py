"""Sync settings revops can edit: field mappings CRM → canonical, incremental lookback, volume
thresholds and API budgets.

These models are the `salesforce` and `hubspot` sections of `acm_sync.yaml` (the root config
model in `acm_sync.config` includes them). Every default is what a standard org needs; a custom
field is mapped by naming it, e.g. `accounts: {industry: Industry_Segment__c}`.

A mapping value is a CRM field name, a list of names (the first non-empty value wins), or null
(the column stays empty). The record id, deletion flag, merge pointer and cursor field are fixed
per object and are not mappable.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from acm_sync import model

FieldRef = str | list[str] | None
FieldMap = dict[str, FieldRef]

# HubSpot associations are mapped with this prefix: "@associations.companies" = the record's
# primary associated company (the first one listed when none is labelled primary).
ASSOCIATION_PREFIX = "@associations."

SALESFORCE_DEFAULT_FIELDS: dict[str, FieldMap] = {
    "accounts": {
        "name": "Name",
        "website": "Website",
        "domain": "Website",
        "industry": "Industry",
        "employees": "NumberOfEmployees",
        "annual_revenue": "AnnualRevenue",
        "currency": "CurrencyIsoCode",
        "satisfaction": None,  # CSAT / NPS: a custom field, e.g. CSAT__c, once mapped
        "owner_id": "OwnerId",
        "created_at": "CreatedDate",
        "updated_at": "LastModifiedDate",
        "last_activity_at": "LastActivityDate",
    },
    "contacts": {
        "account_id": "AccountId",
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "title": "Title",
        "created_at": "CreatedDate",
        "updated_at": "LastModifiedDate",
        "last_activity_at": "LastActivityDate",
    },
    "opportunities": {
        "account_id": "AccountId",
        "name": "Name",
        "stage": "StageName",
        "stage_probability": "Probability",
        "amount": "Amount",
        "currency": "CurrencyIsoCode",
        "close_date": "CloseDate",
        "created_at": "CreatedDate",
        "updated_at": "LastModifiedDate",
        "is_closed": "IsClosed",
        "is_won": "IsWon",
        "type": "Type",
        "forecast_category": "ForecastCategoryName",
    },
    "opportunity_stage_history": {
        "opportunity_id": "OpportunityId",
        "stage": "StageName",
        "amount": "Amount",
        "close_date": "CloseDate",
        "changed_at": "CreatedDate",
    },
}

HUBSPOT_DEFAULT_FIELDS: dict[str, FieldMap] = {
    "accounts": {
        "name": "name",
        "website": "website",
        "domain": ["domain", "website"],
        "industry": "industry",
        "employees": "numberofemployees",
        "annual_revenue": "annualrevenue",
        "currency": None,
        "satisfaction": None,  # CSAT / NPS: a custom property, e.g. csat_score, once mapped
        "owner_id": "hubspot_owner_id",
        "created_at": "createdate",
        "updated_at": "hs_lastmodifieddate",
        "last_activity_at": "notes_last_updated",
    },
    "contacts": {
        "account_id": "@associations.companies",
        "email": "email",
        "first_name": "firstname",
        "last_name": "lastname",
        "title": "jobtitle",
        "created_at": "createdate",
        "updated_at": "lastmodifieddate",
        "last_activity_at": "notes_last_updated",
    },
    "opportunities": {
        "account_id": "@associations.companies",
        "name": "dealname",
        "stage": "dealstage",
        "stage_probability": "hs_deal_stage_probability",
        "amount": "amount",
        "currency": "deal_currency_code",
        "close_date": "closedate",
        "created_at": "createdate",
        "updated_at": "hs_lastmodifieddate",
        "is_closed": "hs_is_closed",
        "is_won": "hs_is_closed_won",
        "type": "dealtype",
        "forecast_category": "hs_forecast_category",
    },
    # Built from the deal's `propertiesWithHistory`; values name the deal properties tracked.
    "opportunity_stage_history": {
        "stage": "dealstage",
        "amount": "amount",
        "close_date": "closedate",
    },
}

# Canonical `type`: new / renewal / expansion. Keys are the CRM's picklist values.
DEFAULT_OPPORTUNITY_TYPES = {
    "New Business": "new",
    "Renewal": "renewal",
    "Expansion": "expansion",
    "Existing Business": "expansion",
    "newbusiness": "new",
    "existingbusiness": "renewal",
    "renewal": "renewal",
    "expansion": "expansion",
}

# Canonical forecast categories: Pipeline / Best Case / Commit / Closed / Omitted.
DEFAULT_FORECAST_CATEGORIES = {
    "Pipeline": "Pipeline",
    "BestCase": "Best Case",
    "Best Case": "Best Case",
    "Forecast": "Commit",
    "Commit": "Commit",
    "Closed": "Closed",
    "Omitted": "Omitted",
    "PIPELINE": "Pipeline",
    "BEST_CASE": "Best Case",
    "COMMIT": "Commit",
    "CLOSED": "Closed",
    "OMIT": "Omitted",
}

# Columns filled by the connector itself, never from the field map.
FIXED_COLUMNS = {"account_id", "contact_id", "opportunity_id", "source", "source_id"}
FIXED_COLUMNS |= {"is_deleted", "merged_into"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiBudget(_Section):
    """How many API calls one run may spend on a CRM (pull and write-back together)."""

    max_calls_per_run: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Hard cap per run; empty = no cap besides the vendor's own limit."
    )
    reserve_calls: Annotated[int, Field(ge=0)] = Field(
        default=1000,
        description="Calls left untouched of the vendor's daily allocation (for people and "
        "other integrations); the run stops cleanly when only these remain.",
    )


class RetrySettings(_Section):
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    backoff_seconds: Annotated[float, Field(ge=0)] = 0.5
    max_wait_seconds: Annotated[float, Field(ge=0)] = 60.0
    timeout_seconds: Annotated[float, Field(gt=0)] = 120.0


def _check_fields(value: dict[str, FieldMap], defaults: dict[str, FieldMap]) -> dict[str, FieldMap]:
    for table, mapping in value.items():
        if table not in defaults:
            raise ValueError(f"unknown canonical table {table!r}; known: {sorted(defaults)}")
        columns = model.TABLES[table]
        for column in mapping:
            if column in FIXED_COLUMNS:
                raise ValueError(f"{table}.{column} is filled by the connector and not mappable")
            if column not in columns:
                raise ValueError(
                    f"{table}.{column} is not a canonical column; known: {sorted(columns)}"
                )
    return value


def _default_types() -> dict[str, str]:
    return dict(DEFAULT_OPPORTUNITY_TYPES)


def _default_categories() -> dict[str, str]:
    return dict(DEFAULT_FORECAST_CATEGORIES)


class _CrmSync(_Section):
    """What both CRMs' pull settings have: the field map over the connector's defaults, the API
    budget, retries, and the picklist values behind canonical `type` and `forecast_category`."""

    default_fields: ClassVar[dict[str, FieldMap]]

    fields: dict[str, FieldMap] = Field(
        default_factory=dict,
        description="Overrides of the default field map, per canonical table: column → field.",
    )
    budget: ApiBudget = Field(default_factory=ApiBudget)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    opportunity_types: dict[str, str] = Field(default_factory=_default_types)
    forecast_categories: dict[str, str] = Field(default_factory=_default_categories)

    @field_validator("fields")
    @classmethod
    def _fields_known(cls, value: dict[str, FieldMap]) -> dict[str, FieldMap]:
        return _check_fields(value, cls.default_fields)

    def field_map(self, table: str) -> FieldMap:
        return {**self.default_fields[table], **self.fields.get(table, {})}


class SalesforceSync(_CrmSync):
    """Pull settings for Salesforce (section `salesforce` of acm_sync.yaml)."""

    default_fields = SALESFORCE_DEFAULT_FIELDS

    lookback_seconds: Annotated[int, Field(ge=0)] = Field(
        default=300, description="Incremental pulls re-read this much before the cursor."
    )
    bulk_threshold: Annotated[int, Field(ge=0)] = Field(
        default=50_000,
        description="Above this many rows a pull runs as one Bulk API 2.0 query job.",
    )
    bulk_page_size: Annotated[int, Field(ge=2000)] = 100_000
    bulk_poll_seconds: Annotated[float, Field(gt=0)] = 1.0
    page_size: Annotated[int, Field(ge=200, le=2000)] = 2000
    commit_every_rows: Annotated[int, Field(ge=1)] = 50_000
    schema_check_hours: Annotated[float, Field(ge=0)] = Field(
        default=24.0, description="Re-check mapped fields against describe at most this often."
    )
    org_currency: str | None = Field(
        default=None,
        description="Currency of amounts when `currency` is not mapped (single-currency org).",
    )


class HubSpotSync(_CrmSync):
    """Pull settings for HubSpot (section `hubspot` of acm_sync.yaml)."""

    default_fields = HUBSPOT_DEFAULT_FIELDS

    lookback_seconds: Annotated[int, Field(ge=0)] = 300
    page_size: Annotated[int, Field(ge=1, le=100)] = 100
    search_page_size: Annotated[int, Field(ge=1, le=200)] = 200
    history_batch_size: Annotated[int, Field(ge=1, le=100)] = Field(
        default=50, description="Deals per batch read with propertiesWithHistory (HubSpot caps it)."
    )
    search_cap: Annotated[int, Field(ge=200)] = Field(
        default=10_000, description="HubSpot's ceiling on results of one search query."
    )
    commit_every_rows: Annotated[int, Field(ge=1)] = 50_000
    schema_check_hours: Annotated[float, Field(ge=0)] = 24.0
    portal_currency: str = Field(default="USD", description="Currency of amounts without one.")
    requests_per_window: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Requests per 10 s; empty = what the rate-limit headers say."
    )
    search_requests_per_second: Annotated[float, Field(gt=0)] = 4.0


class SyncSettings(_Section):
    """Everything the pull needs; `full_refresh` re-reads both CRMs from scratch."""

    full_refresh: bool = False
    salesforce: SalesforceSync = Field(default_factory=SalesforceSync)
    hubspot: HubSpotSync = Field(default_factory=HubSpotSync)


Mode = Literal["full", "incremental"]


def field_names(ref: FieldRef) -> list[str]:
    """The CRM field names one mapping value reads (associations excluded)."""
    if ref is None:
        return []
    names = [ref] if isinstance(ref, str) else list(ref)
    return [n for n in names if not n.startswith(ASSOCIATION_PREFIX)]


def mapping_fingerprint(*parts: object) -> str:
    """A stable hash of mapping settings (a change triggers a new schema check)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
