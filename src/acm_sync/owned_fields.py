"""The fields acm_sync owns in each CRM: the only fields it ever writes (DESIGN "Fields we own").

One table drives everything that touches them: what the pulls read along, the desired values,
the diff, the payload guard, the HubSpot properties we create, the Salesforce metadata package
and the describe check. Each owned field says where its value comes from (`source`, a column of
the desired-values frame) and how the CRM stores it (`kind`, `length`, `scale`), so that values
are compared as the CRM will hand them back.

A canonical-level table (like `model`): the pulls read it to know which columns are ours, the
write-back to know what to write; neither reaches into the other's room for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Crm = Literal["salesforce", "hubspot"]
Kind = Literal["picklist", "text", "longtext", "number", "percent", "currency", "datetime"]

TIERS = ("Key", "Existing", "New", "Dormant", "Prospect")
BANDS = ("Green", "Yellow", "Red")
TRENDS = ("Up", "Flat", "Down", "New")

HUBSPOT_GROUP = "acm_sync"
HUBSPOT_GROUP_LABEL = "ACM Sync"

# canonical entity → (Salesforce object, HubSpot object type)
OBJECTS: dict[str, tuple[str, str]] = {
    "accounts": ("Account", "companies"),
    "opportunities": ("Opportunity", "deals"),
    "contacts": ("Contact", "contacts"),
}


@dataclass(frozen=True)
class Owned:
    """One owned value, named once for both CRMs."""

    entity: str  # canonical entity: accounts / opportunities / contacts
    salesforce: str  # Salesforce API name
    hubspot: str  # HubSpot internal name (group acm_sync)
    source: str  # column of the desired-values frame
    kind: Kind
    label: str
    description: str
    length: int = 255  # text kinds: characters the CRM keeps
    scale: int = 0  # numeric kinds: decimals the CRM keeps
    precision: int = 18  # numeric kinds: digits in all (Salesforce metadata)
    options: tuple[str, ...] = ()  # picklist values
    # Written only alongside another change on the same record (a timestamp of the values):
    # never on its own, so a re-run with unchanged values writes nothing.
    companion: bool = False

    def name(self, crm: Crm) -> str:
        return self.salesforce if crm == "salesforce" else self.hubspot

    def object(self, crm: Crm) -> str:
        sf, hs = OBJECTS[self.entity]
        return sf if crm == "salesforce" else hs


def _data_issues(entity: str) -> Owned:
    """The data-quality issues field: on every record type, the same everywhere."""
    return Owned(
        entity,
        "ACM_Data_Issues__c",
        "acm_data_issues",
        "data_issues",
        "longtext",
        "ACM Data Issues",
        "Open data-quality issues on this record, to fix in the CRM.",
        length=1000,
    )


OWNED: tuple[Owned, ...] = (
    Owned(
        "accounts",
        "ACM_Tier__c",
        "acm_tier",
        "tier",
        "picklist",
        "ACM Tier",
        "Account tier computed by acm_sync: Key / Existing / New / Dormant / Prospect.",
        options=TIERS,
    ),
    Owned(
        "accounts",
        "ACM_Tier_Reason__c",
        "acm_tier_reason",
        "tier_reason",
        "text",
        "ACM Tier Reason",
        "Why the account has its tier (one line).",
    ),
    Owned(
        "accounts",
        "ACM_Health_Score__c",
        "acm_health_score",
        "health_score",
        "number",
        "ACM Health Score",
        "Weighted account health, 0-100.",
        precision=3,
    ),
    Owned(
        "accounts",
        "ACM_Health_Band__c",
        "acm_health_band",
        "health_band",
        "picklist",
        "ACM Health Band",
        "Green / Yellow / Red, from the health score.",
        options=BANDS,
    ),
    Owned(
        "accounts",
        "ACM_Health_Trend__c",
        "acm_health_trend",
        "health_trend",
        "picklist",
        "ACM Health Trend",
        "Up / Flat / Down against the score a trend window ago; New when there is none.",
        options=TRENDS,
    ),
    Owned(
        "accounts",
        "ACM_Health_Drivers__c",
        "acm_health_drivers",
        "health_drivers",
        "longtext",
        "ACM Health Drivers",
        "The health components that move the score most, up and down.",
        length=1000,
    ),
    Owned(
        "accounts",
        "ACM_Forecast_Amount__c",
        "acm_forecast_amount",
        "forecast_amount",
        "currency",
        "ACM Forecast Amount",
        "Expected bookings over the forecast horizon (calibrated win probabilities).",
        scale=2,
    ),
    Owned(
        "accounts",
        "ACM_Next_Action__c",
        "acm_next_action",
        "next_action",
        "text",
        "ACM Next Action",
        "Suggested next action; the attention flag when it needs one now.",
    ),
    _data_issues("accounts"),
    Owned(
        "accounts",
        "ACM_Scored_At__c",
        "acm_scored_at",
        "scored_at",
        "datetime",
        "ACM Scored At",
        "When acm_sync last computed values that changed on this record.",
        companion=True,
    ),
    Owned(
        "opportunities",
        "ACM_Win_Probability__c",
        "acm_win_probability",
        "win_probability",
        "percent",
        "ACM Win Probability",
        "Calibrated probability of winning (0-100), learnt from this CRM's own history.",
        precision=3,
    ),
    _data_issues("opportunities"),
    _data_issues("contacts"),
)


def owned_for(entity: str) -> tuple[Owned, ...]:
    return tuple(f for f in OWNED if f.entity == entity)


def owned_names(crm: Crm, obj: str) -> tuple[str, ...]:
    """API names we own on a CRM object (e.g. ("salesforce", "Account"))."""
    return tuple(f.name(crm) for f in OWNED if f.object(crm) == obj)


def field_of(crm: Crm, obj: str, name: str) -> Owned:
    for f in OWNED:
        if f.object(crm) == obj and f.name(crm) == name:
            return f
    raise KeyError(f"{crm} {obj}.{name} is not a field acm_sync owns")
