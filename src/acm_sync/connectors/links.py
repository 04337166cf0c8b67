"""Where a record opens in its CRM: the links that plan rows, quarantine rows and failing-row
samples carry next to the record's name.

- Salesforce: `<instance URL>/lightning/r/<Object>/<Id>/view` (Lightning's record page).
- HubSpot: `https://app.hubspot.com/contacts/<portalId>/record/<objectTypeId>/<id>`
  (objectTypeId 0-1 contacts, 0-2 companies, 0-3 deals). The portal id comes from
  `GET /account-info/v3/details`; the app's host is app.hubspot.com (or the `uiDomain` the
  account names) for api.hubapi.com, and the API host itself for any other base URL (a local
  sandbox serves record pages on its own host).

The bases are remembered per warehouse (`crm_links`) when a pull connects, so that assets
without a CRM connection (plan, quality) can build links. Unknown base → "" (no link).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import pandas as pd

from acm_sync.connectors.hubspot import HubSpotClient
from acm_sync.warehouse import Warehouse

TABLE = "crm_links"
HUBSPOT_API_HOST = "api.hubapi.com"
HUBSPOT_APP_DOMAIN = "app.hubspot.com"
HUBSPOT_OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}
# canonical entity → (Salesforce sObject, HubSpot object type)
ENTITY_OBJECTS = {
    "accounts": ("Account", "companies"),
    "contacts": ("Contact", "contacts"),
    "opportunities": ("Opportunity", "deals"),
}


def hubspot_app_url(api_base_url: str | None, ui_domain: str | None = None) -> str:
    """The HubSpot app's base URL for an API base URL (None: the real API)."""
    base = (api_base_url or f"https://{HUBSPOT_API_HOST}").rstrip("/")
    if urlsplit(base).hostname == HUBSPOT_API_HOST:
        return f"https://{ui_domain or HUBSPOT_APP_DOMAIN}"
    return base


def salesforce_record_url(instance_url: str, sobject: str, record_id: str) -> str:
    return f"{instance_url.rstrip('/')}/lightning/r/{sobject}/{quote(record_id)}/view"


def hubspot_record_url(app_url: str, portal_id: str, object_type: str, record_id: str) -> str:
    type_id = HUBSPOT_OBJECT_TYPE_IDS[object_type]
    return f"{app_url.rstrip('/')}/contacts/{portal_id}/record/{type_id}/{quote(record_id)}"


@dataclass(frozen=True)
class RecordLinks:
    """The bases of one warehouse's CRMs (None: not known yet, no links)."""

    salesforce_instance: str | None = None
    hubspot_app: str | None = None
    hubspot_portal: str | None = None

    def url(self, crm: str, crm_object: str, record_id: object) -> str:
        """The record's URL; `crm_object` is the sObject or the HubSpot object type."""
        rid = "" if record_id is None or pd.isna(record_id) else str(record_id)  # type: ignore[call-overload]
        if not rid:
            return ""
        if crm == "salesforce" and self.salesforce_instance:
            return salesforce_record_url(self.salesforce_instance, crm_object, rid)
        if (
            crm == "hubspot"
            and self.hubspot_app
            and self.hubspot_portal
            and crm_object in HUBSPOT_OBJECT_TYPE_IDS
        ):
            return hubspot_record_url(self.hubspot_app, self.hubspot_portal, crm_object, rid)
        return ""

    def entity_url(self, source: object, entity: str, source_id: object) -> str:
        """The URL of a canonical row (`source`, `source_id`) of `entity` ("" for others)."""
        objects = ENTITY_OBJECTS.get(entity)
        if objects is None or source not in ("salesforce", "hubspot"):
            return ""
        return self.url(str(source), objects[0 if source == "salesforce" else 1], source_id)

    def entity_urls(self, entity: str, sources: pd.Series, source_ids: pd.Series) -> pd.Series:
        return pd.Series(
            [
                self.entity_url(s, entity, i)
                for s, i in zip(sources.tolist(), source_ids.tolist(), strict=True)
            ],
            index=sources.index,
            dtype=object,
        )

    @classmethod
    def load(cls, wh: Warehouse) -> RecordLinks:
        if not wh.has_table(TABLE):
            return cls()
        rows = wh.query(f"SELECT crm, app_url, portal_id FROM {TABLE}")
        by_crm = {str(r.crm): r for r in rows.itertuples(index=False)}
        sf, hs = by_crm.get("salesforce"), by_crm.get("hubspot")
        return cls(
            salesforce_instance=str(sf.app_url) if sf is not None else None,
            hubspot_app=str(hs.app_url) if hs is not None else None,
            hubspot_portal=str(hs.portal_id) if hs is not None and hs.portal_id else None,
        )


def remembered_api_base(wh: Warehouse, crm: str) -> str | None:
    """The API base URL the saved link base was learnt from (None: none saved)."""
    if not wh.has_table(TABLE):
        return None
    rows = wh.query(f"SELECT api_base FROM {TABLE} WHERE crm = ?", [crm])
    return str(rows["api_base"].iloc[0]) if len(rows) else None


def remember(
    wh: Warehouse, crm: str, *, api_base: str, app_url: str, portal_id: str | None = None
) -> None:
    """Save one CRM's link base (replacing the one before)."""
    with wh.connect() as con:
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (crm VARCHAR PRIMARY KEY, api_base VARCHAR, "
            "app_url VARCHAR, portal_id VARCHAR)"
        )
        con.execute(f"DELETE FROM {TABLE} WHERE crm = ?", [crm])
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)", [crm, api_base, app_url, portal_id])


def learn_salesforce(wh: Warehouse, instance_url: str) -> None:
    """Remember the org's instance URL (no API call: the client knows it)."""
    remember(wh, "salesforce", api_base=instance_url, app_url=instance_url)


def learn_hubspot(wh: Warehouse, client: HubSpotClient, api_base_url: str | None) -> bool:
    """Remember the portal's app URL and id: one API call, the first time for this base URL.
    True when known afterwards."""
    api_base = (api_base_url or f"https://{HUBSPOT_API_HOST}").rstrip("/")
    if remembered_api_base(wh, "hubspot") == api_base:
        return True
    details = client.account_details()
    portal = details.get("portalId")
    if portal is None:
        return False
    app_url = hubspot_app_url(api_base, str(details.get("uiDomain") or "") or None)
    remember(wh, "hubspot", api_base=api_base, app_url=app_url, portal_id=str(portal))
    return True
