"""What an org holds, counted through the real Salesforce and HubSpot APIs.

Works against any org the connection settings point at; `acm-sync demo` and
`acm-sync sandbox summary` use it on the sandbox.
"""

from __future__ import annotations

import time
from typing import Any

import hubspot
from simple_salesforce import Salesforce

from acm_sync.connectors.http import salesforce_session
from acm_sync.owned_fields import OBJECTS, owned_for

SF_OBJECTS = ("Account", "Contact", "Opportunity", "OpportunityHistory")
HS_OBJECTS = ("companies", "contacts", "deals")


def salesforce_client(env: dict[str, str]) -> Salesforce:
    session = salesforce_session(
        domain=env.get("SALESFORCE_DOMAIN", "login"),
        login_url=env.get("SALESFORCE_LOGIN_URL"),
        ca_bundle=env.get("SALESFORCE_CA_BUNDLE"),
    )
    return Salesforce(
        username=env["SALESFORCE_USERNAME"],
        password=env["SALESFORCE_PASSWORD"],
        security_token=env["SALESFORCE_SECURITY_TOKEN"],
        domain=env.get("SALESFORCE_DOMAIN", "login"),
        session=session,
    )


def hubspot_client(env: dict[str, str]) -> hubspot.HubSpot:
    kwargs: dict[str, Any] = {"access_token": env["HUBSPOT_ACCESS_TOKEN"]}
    if env.get("HUBSPOT_BASE_URL"):
        kwargs["host"] = env["HUBSPOT_BASE_URL"]
    return hubspot.HubSpot(**kwargs)


def org_summary(settings: Any) -> dict[str, Any]:
    """Record counts per object in both CRMs and a sample record of each."""
    env: dict[str, str] = settings.env() if hasattr(settings, "env") else dict(settings)
    sf = salesforce_client(env)
    sf_objects = {}
    samples: list[str] = []
    for obj in SF_OBJECTS:
        live = sf.query(f"SELECT COUNT() FROM {obj}")["totalSize"]
        # queryAll counts soft-deleted rows too (query_all would count the records returned).
        everything = sf.query(f"SELECT COUNT() FROM {obj}", include_deleted=True)["totalSize"]
        sf_objects[obj] = {"live": live, "deleted": everything - live}
    account = sf.query(
        "SELECT Id, Name, Website, Industry, AnnualRevenue, SystemModstamp "
        "FROM Account ORDER BY AnnualRevenue DESC NULLS LAST LIMIT 1"
    )["records"]
    if account:
        samples.append(
            "Salesforce Account "
            + ", ".join(f"{k}={v}" for k, v in account[0].items() if k != "attributes")
        )

    hs = hubspot_client(env)
    hs_objects = {}
    for obj in HS_OBJECTS:
        api = getattr(hs.crm, obj)
        live = api.search_api.do_search(public_object_search_request={"limit": 1}).total
        archived, after = 0, None
        while True:
            page = api.basic_api.get_page(limit=100, after=after, archived=True)
            archived += len(page.results)
            if not page.paging or not page.paging.next:
                break
            after = page.paging.next.after
        hs_objects[obj] = {"live": live, "deleted": archived}
    page, _, headers = hs.crm.companies.basic_api.get_page_with_http_info(limit=1)
    company = page.results
    daily = headers.get("X-HubSpot-RateLimit-Daily")
    remaining = headers.get("X-HubSpot-RateLimit-Daily-Remaining")
    hs_usage = (
        f"{int(daily) - int(remaining)}/{daily} today" if daily and remaining else "not reported"
    )
    if company:
        samples.append(
            "HubSpot company " + ", ".join(f"{k}={v}" for k, v in company[0].properties.items())
        )
    return {
        "salesforce": {
            "url": env.get("SALESFORCE_LOGIN_URL") or "salesforce.com",
            "objects": sf_objects,
            "api_usage": _sf_usage(sf),
            "owned_fill": _sf_fill(sf),
        },
        "hubspot": {
            "url": env.get("HUBSPOT_BASE_URL") or "api.hubapi.com",
            "objects": hs_objects,
            "api_usage": hs_usage,
            "owned_fill": _hs_fill(hs, hs_objects),
        },
        "samples": samples,
    }


def _sf_usage(sf: Salesforce) -> str:
    usage = sf.api_usage.get("api-usage")  # parsed from the Sforce-Limit-Info header
    return f"{usage.used}/{usage.total} today" if usage else "not reported"


def _sf_fill(sf: Salesforce) -> dict[str, dict[str, dict[str, int]]]:
    """Per object and owned field (ACM_*__c): live records holding a value, of all live ones —
    what a CRM user checks after a sync. Read with one query per object (long text fields
    cannot be filtered in SOQL), fields missing from the org are left out."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for entity, (obj, _) in OBJECTS.items():
        names = {f["name"] for f in getattr(sf, obj).describe()["fields"]}
        fields = [f.salesforce for f in owned_for(entity) if f.salesforce in names]
        if not fields:
            continue
        records = sf.query_all(f"SELECT {', '.join(fields)} FROM {obj}")["records"]
        out[obj] = {
            name: {
                "filled": sum(1 for r in records if r.get(name) not in (None, "")),
                "records": len(records),
            }
            for name in fields
        }
    return out


def _hs_fill(
    hs: hubspot.HubSpot, live: dict[str, dict[str, int]]
) -> dict[str, dict[str, dict[str, int]]]:
    """Per object type and owned property (acm_*): records holding a value (search
    HAS_PROPERTY, one call each), of all live ones."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for entity, (_, obj) in OBJECTS.items():
        api = getattr(hs.crm, obj)
        existing = {p.name for p in hs.crm.properties.core_api.get_all(obj).results}
        counts = {}
        for prop in (f.hubspot for f in owned_for(entity)):
            if prop not in existing:
                continue
            request = {
                "filterGroups": [{"filters": [{"propertyName": prop, "operator": "HAS_PROPERTY"}]}],
                "limit": 1,
            }
            total = _search_total(api, request)
            counts[prop] = {"filled": int(total), "records": int(live[obj]["live"])}
        if counts:
            out[obj] = counts
    return out


def _search_total(api: Any, request: dict[str, Any]) -> int:
    """A search's total, waiting out HubSpot's per-second search limit (429 SECONDLY)."""
    for attempt in range(10):
        try:
            return int(api.search_api.do_search(public_object_search_request=request).total)
        except Exception as exc:  # the client's ApiException
            if getattr(exc, "status", None) != 429 or attempt == 9:
                raise
            time.sleep(1.0)
    raise AssertionError("unreachable")
