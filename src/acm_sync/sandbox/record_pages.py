"""Record pages: what a browser gets at a record's CRM link, so that links in a plan, a
quarantine row or Data Docs open something in the sandbox too.

- Salesforce: `<instance>/lightning/r/<Object>/<Id>/view` (Lightning's record URL).
- HubSpot: `<sandbox host>/contacts/<portalId>/record/<objectTypeId>/<id>` (app.hubspot.com's
  record URL, on the sandbox's own host: the sandbox cannot answer for app.hubspot.com).

A page is the record's name and its fields as plain HTML; not the vendors' UI (no login: a local
sandbox's data is demo data). An unknown record answers 404, as the CRMs' pages say
"record not found".
"""

from __future__ import annotations

import re
import sqlite3
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

HUBSPOT_RECORD_PREFIX = "/contacts/"
_HUBSPOT_RECORD_PATH = re.compile(r"^/contacts/\d+/record/")
_HUBSPOT_TYPES = {"0-1": "contacts", "0-2": "companies", "0-3": "deals"}
_HUBSPOT_NAME = {
    "companies": ("name",),
    "deals": ("dealname",),
    "contacts": ("firstname", "lastname"),
}
_SF_NAME = {"Contact": ("FirstName", "LastName")}


def is_hubspot_record_page(path: str) -> bool:
    """A record page (for a browser, no token) — not an API path such as /contacts/v1/…"""
    return bool(_HUBSPOT_RECORD_PATH.match(path))


def _page(
    title: str, crm: str, kind: str, fields: dict[str, Any], status: int = 200
) -> HTMLResponse:
    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape('' if v is None else str(v))}</td></tr>"
        for k, v in fields.items()
    )
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)} | {escape(kind)} | {crm} sandbox</title></head><body>"
        f"<p>{crm} sandbox · {escape(kind)}</p><h1>{escape(title)}</h1>"
        f"<table>{rows}</table></body></html>"
    )
    return HTMLResponse(body, status_code=status)


def _not_found(crm: str, kind: str, record_id: str) -> HTMLResponse:
    return _page("Record not found", crm, kind, {"id": record_id}, status=404)


def salesforce_routes(db: sqlite3.Connection, sobjects: set[str]) -> list[Route]:
    """`/lightning/r/<Object>/<Id>/view` over the org's SQLite file."""

    async def view(request: Request) -> HTMLResponse:
        sobject, rid = request.path_params["sobject"], request.path_params["record_id"]
        if sobject not in sobjects:
            return _not_found("Salesforce", sobject, rid)
        # 15-character ids open the record too, as in Lightning.
        cur = db.execute(
            f'SELECT * FROM "{sobject}" WHERE "Id" = ? OR substr("Id", 1, 15) = ?', (rid, rid)
        )
        row = cur.fetchone()
        if row is None:
            return _not_found("Salesforce", sobject, rid)
        record = dict(zip([d[0] for d in cur.description], row, strict=True))
        parts = _SF_NAME.get(sobject)
        name = " ".join(str(record[p]) for p in parts if record.get(p)) if parts else ""
        name = name or str(record.get("Name") or rid)
        return _page(name, "Salesforce", sobject, record)

    return [Route("/lightning/r/{sobject}/{record_id}/view", view, methods=["GET"])]


def hubspot_routes(store: Any) -> list[Route]:
    """`/contacts/<portalId>/record/<objectTypeId>/<id>` over the portal's store."""

    async def view(request: Request) -> HTMLResponse:
        type_id, raw = request.path_params["object_type_id"], request.path_params["object_id"]
        obj = _HUBSPOT_TYPES.get(type_id)
        if obj is None or str(request.path_params["portal_id"]) != str(store.db.portal_id):
            return _not_found("HubSpot", type_id, raw)
        rid = store.resolve_id(obj, raw)
        if rid is None:
            return _not_found("HubSpot", obj, raw)
        record = store.get_records(obj, [rid], properties=None)[rid]
        props = record.get("properties") or {}
        name = " ".join(str(props[p]) for p in _HUBSPOT_NAME[obj] if props.get(p)) or raw
        return _page(name, "HubSpot", obj, {"id": record.get("id"), **props})

    return [
        Route(
            HUBSPOT_RECORD_PREFIX + "{portal_id}/record/{object_type_id}/{object_id}",
            view,
            methods=["GET"],
        )
    ]
