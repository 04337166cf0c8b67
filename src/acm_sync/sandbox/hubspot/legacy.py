"""HubSpot's legacy (v1 / v2) CRM endpoints that connectors in use still call.

HubSpot keeps these answering next to CRM v3; tap-hubspot, for one, reads companies and deals
through them. Their records carry each property as `{value, timestamp, source, sourceId,
versions}` (timestamps and datetime values in epoch milliseconds) rather than v3's flat strings:

    GET /properties/v1/{type}/properties          property definitions (a JSON array)
    GET /properties/v2/{type}/properties          the same (every standard type; empty ones too)
    GET /companies/v2/properties                  company property definitions
    GET /companies/v2/companies/paged             ?limit (≤ 250) &offset &properties
                                                  &propertiesWithHistory → {companies,
                                                  has-more, offset}
    GET /companies/v2/companies/{companyId}       one company, every property with versions
    PUT /companies/v2/companies/{companyId}       {"properties": [{name, value}]} → the company
    GET /deals/v1/deal/paged                      ?limit (≤ 250) &offset &properties
                                                  &propertiesWithHistory &includeAssociations
                                                  &includeAllProperties &allPropertiesFetchMode
                                                  → {deals, hasMore, offset}
    GET /deals/v1/deal/{dealId}                   one deal
    PUT /deals/v1/deal/{dealId}                   {"properties": [{name, value}]} → the deal
    GET /contacts/v1/lists/all/contacts/all       ?count (≤ 100, default 20) &vidOffset &property
                                                  → {contacts, has-more, vid-offset}
    GET /contacts/v1/contact/vids/batch           ?vid (≤ 100) &property → {"<vid>": contact}
                                                  (every valued property unless named)
    GET /contacts/v1/contact/vid/{vid}/profile    one contact, every property with versions
    GET /contacts/v1/contact/email/{email}/profile  the same, found by email
    GET /deals/v1/pipelines                       deal pipelines with stages (probability 0-1)
    GET /oauth/v1/access-tokens/{token}           token introspection (the portal's token)

Paging `offset` is the id of the last record returned; records come in id order. Merged and
archived records are left out, as in v3 lists.

HubSpot sunset the v1 Contact Lists API on 2026-04-30 (developers.hubspot.com/changelog,
"extension contact lists api v1 sunset moved to april 30 2026"): all of it answers 404 except
"get all contacts" (`/contacts/v1/lists/all/contacts/all`) and the two "recent" reads, and the
v1 contact reads (by vid, batch by vid) go on without list memberships. Only those surviving
reads are emulated here; contacts carry no `list-memberships`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from acm_sync.sandbox.hubspot.messages import (
    Handler,
    bool_param,
    int_param,
    json_response,
    list_param,
    object_type,
    read_body,
)
from acm_sync.sandbox.hubspot.propdefs import table_name
from acm_sync.sandbox.hubspot.standard import empty_type, standard_properties
from acm_sync.sandbox.hubspot.store import HubSpotStore, PropDef, StoreError

PAGED_DEFAULT, PAGED_MAX = 100, 250
CONTACTS_DEFAULT, CONTACTS_MAX = 20, 100
# What v1 contact lists return when no `property` is named (HubSpot: "only a few standard
# properties").
CONTACT_DEFAULT_PROPERTIES = ("firstname", "lastname", "company", "lastmodifieddate")
TOKEN_INFO_PREFIX = "/oauth/v1/access-tokens/"
_LAST_MODIFIED = ("hs_lastmodifieddate", "lastmodifieddate")
_SOURCE = {"CRM_UI": "CRM_UI", "IMPORT": "IMPORT", "API": "API", "CALCULATED": "CALCULATED"}


def _epoch_ms(wire: str) -> int:
    """`2024-03-01T12:00:00.123Z` (or a date) → epoch milliseconds."""
    text = wire.replace("Z", "+00:00")
    if len(text) == 10:
        moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    else:
        moment = datetime.fromisoformat(text)
    return int(moment.timestamp() * 1000)


def v1_property(p: PropDef) -> dict[str, Any]:
    """A property definition as the v1 / v2 properties APIs describe it."""
    v3 = p.to_json()
    return {
        "name": p.name,
        "label": p.label,
        "description": p.description,
        "groupName": p.group_name,
        "type": p.type,
        "fieldType": p.field_type,
        "options": [
            {
                "label": o.get("label"),
                "value": o.get("value"),
                "displayOrder": o.get("displayOrder", -1),
                "hidden": bool(o.get("hidden", False)),
                "description": o.get("description", ""),
                "readOnly": False,
            }
            for o in p.options
        ],
        "displayOrder": p.display_order,
        "calculated": p.calculated,
        "externalOptions": p.external_options,
        "hasUniqueValue": p.has_unique_value,
        "hidden": p.hidden,
        "hubspotDefined": p.hubspot_defined,
        "formField": p.form_field,
        "readOnlyValue": p.read_only_value,
        "readOnlyDefinition": p.read_only_definition,
        "mutableDefinitionNotDeletable": p.hubspot_defined,
        "favorited": False,
        "favoritedOrder": -1,
        "displayMode": "current_value",
        "showCurrencySymbol": p.name == "amount",
        "deleted": p.archived,
        "createdAt": _epoch_ms(v3["createdAt"]) if v3.get("createdAt") else None,
        "updatedAt": _epoch_ms(v3["updatedAt"]) if v3.get("updatedAt") else None,
        "createdUserId": v3.get("createdUserId"),
        "textDisplayHint": None,
        "numberDisplayHint": None,
        "optionsAreMutable": None,
        "referencedObjectType": None,
        "searchableInGlobalSearch": False,
        "currencyPropertyName": None,
    }


class Legacy:
    """The v1 / v2 handlers over one sandbox portal."""

    def __init__(self, store: HubSpotStore, token: str) -> None:
        self.store = store
        self.token = token

    # -- helpers -------------------------------------------------------------------------------

    def _json(self, data: Any, status: int = 200) -> Response:
        return json_response(data, status)

    def _params(self, request: Request, name: str) -> list[str]:
        return list_param(request, name)

    def _bool(self, request: Request, name: str) -> bool:
        return bool_param(request, name)

    def _int(self, request: Request, name: str, default: int) -> int:
        return int_param(request, name, default)

    def _v1_value(self, obj: str, name: str, value: str) -> str:
        p = self.store.catalog.prop(obj, name)
        if p is not None and p.type in ("datetime", "date") and value:
            try:
                return str(_epoch_ms(value))
            except ValueError:
                return value
        return value

    def _v1_record(
        self, obj: str, record: dict[str, Any], names: list[str], versions: set[str]
    ) -> dict[str, dict[str, Any]]:
        """v3 properties (+ propertiesWithHistory) → v1 `{name: {value, timestamp, …}}`."""
        created_ms = _epoch_ms(record["createdAt"])
        history = record.get("propertiesWithHistory", {})
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            value = record["properties"].get(name)
            if value is None:
                continue  # v1 / v2 leave out properties without a value
            hist = history.get(name) or []
            if name in _LAST_MODIFIED:
                ts = _epoch_ms(value)  # set by HubSpot at the moment it names
            elif hist:
                ts = _epoch_ms(hist[0]["timestamp"])
            else:
                ts = created_ms
            source = _SOURCE.get(hist[0].get("sourceType", ""), "API") if hist else "API"
            entry: dict[str, Any] = {
                "value": self._v1_value(obj, name, value),
                "timestamp": ts,
                "source": source,
                "sourceId": hist[0].get("sourceId") if hist else None,
            }
            if name in versions:
                entry["versions"] = [
                    {
                        "name": name,
                        "value": self._v1_value(obj, name, v["value"]),
                        "timestamp": _epoch_ms(v["timestamp"]),
                        "source": _SOURCE.get(v.get("sourceType", ""), "API"),
                        "sourceId": v.get("sourceId"),
                        "sourceVid": [],
                    }
                    for v in hist
                ] or [
                    {
                        "name": name,
                        "value": entry["value"],
                        "timestamp": ts,
                        "source": source,
                        "sourceVid": [],
                    }
                ]
            out[name] = entry
        return out

    def _all_names(self, obj: str) -> list[str]:
        return [p.name for p in self.store.catalog.list_properties(obj)]

    def _page_ids(self, obj: str, offset: int, limit: int) -> tuple[list[int], bool]:
        with self.store.db.lock:
            rows = self.store.db.conn.execute(
                f"SELECT id FROM {table_name(obj)} WHERE archived = 0 AND merged_into IS NULL "
                "AND id > ? ORDER BY id LIMIT ?",
                (offset, limit + 1),
            ).fetchall()
        ids = [int(r[0]) for r in rows]
        return ids[:limit], len(ids) > limit

    def _records(
        self,
        obj: str,
        ids: list[int],
        names: list[str],
        versions: set[str],
        associations: bool = False,
    ) -> list[tuple[int, dict[str, Any], dict[str, dict[str, Any]]]]:
        if not ids:
            return []
        found = self.store.get_records(
            obj,
            ids,
            properties=names,
            with_history=names,
            associations=["contacts", "companies", "deals"] if associations else None,
        )
        out = []
        for rid in ids:
            record = found.get(rid)
            if record is None:
                continue
            out.append((rid, record, self._v1_record(obj, record, names, versions)))
        return out

    def _limit(self, request: Request) -> int:
        limit = self._int(request, "limit", PAGED_DEFAULT)
        if limit < 1:
            raise StoreError(400, "VALIDATION_ERROR", f"Invalid limit {limit}: must be >= 1")
        return min(limit, PAGED_MAX)

    def _selected(self, request: Request, obj: str, everything: bool) -> tuple[list[str], set[str]]:
        """(properties to return, those to return with versions) for a paged read."""
        known = set(self._all_names(obj))
        with_history = [n for n in self._params(request, "propertiesWithHistory") if n in known]
        if everything:
            names = sorted(known)
        else:
            names = [n for n in self._params(request, "properties") if n in known]
        names = list(dict.fromkeys([*names, *with_history]))
        return names, set(with_history)

    # -- properties ----------------------------------------------------------------------------

    def _properties_of(self, raw: str) -> list[dict[str, Any]]:
        empty = empty_type(raw)
        if empty is not None:
            created = self.store.db.portal_created_at()
            return [v1_property(p) for p in standard_properties(empty, created)]
        obj = object_type(raw)
        return [v1_property(p) for p in self.store.catalog.list_properties(obj)]

    async def properties(self, request: Request) -> Response:
        return self._json(self._properties_of(request.path_params["objectType"]))

    async def company_properties(self, request: Request) -> Response:
        return self._json(self._properties_of("companies"))

    # -- companies v2 ----------------------------------------------------------------------------

    def _company(
        self, rid: int, record: dict[str, Any], props: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "portalId": self.store.db.portal_id,
            "companyId": rid,
            "isDeleted": False,
            "properties": props,
            "additionalDomains": [],
            "stateChanges": [],
            "mergeAudits": [],
        }

    async def companies_paged(self, request: Request) -> Response:
        limit = self._limit(request)
        offset = self._int(request, "offset", 0)
        names, versions = self._selected(request, "companies", everything=False)
        ids, more = self._page_ids("companies", offset, limit)
        companies = [
            self._company(rid, rec, props)
            for rid, rec, props in self._records("companies", ids, names, versions)
        ]
        return self._json(
            {"companies": companies, "has-more": more, "offset": ids[-1] if ids else offset}
        )

    async def company(self, request: Request) -> Response:
        rid = self.store.resolve_id("companies", request.path_params["companyId"])
        if rid is None:
            raise StoreError(
                404,
                "OBJECT_NOT_FOUND",
                f"company {request.path_params['companyId']} does not exist",
            )
        names = self._all_names("companies")
        rows = self._records("companies", [rid], names, set(names))
        if not rows:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"company {rid} does not exist")
        return self._json(self._company(*rows[0]))

    # -- deals v1 --------------------------------------------------------------------------------

    def _deal(
        self,
        rid: int,
        record: dict[str, Any],
        props: dict[str, dict[str, Any]],
        associations: bool,
    ) -> dict[str, Any]:
        deal: dict[str, Any] = {
            "portalId": self.store.db.portal_id,
            "dealId": rid,
            "isDeleted": False,
            "properties": props,
            "imports": [],
            "stateChanges": [],
        }
        if associations:
            assoc = record.get("associations", {})

            def ids(kind: str) -> list[int]:
                return sorted({int(a["id"]) for a in assoc.get(kind, {}).get("results", [])})

            deal["associations"] = {
                "associatedVids": ids("contacts"),
                "associatedCompanyIds": ids("companies"),
                "associatedDealIds": ids("deals"),
                "associatedTicketIds": [],
            }
        return deal

    async def deals_paged(self, request: Request) -> Response:
        limit = self._limit(request)
        offset = self._int(request, "offset", 0)
        everything = self._bool(request, "includeAllProperties")
        mode = request.query_params.get("allPropertiesFetchMode", "latest_version")
        if mode not in ("latest_version", "all_versions"):
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Invalid allPropertiesFetchMode {mode!r}: latest_version or all_versions",
            )
        names, versions = self._selected(request, "deals", everything=everything)
        if everything and mode == "all_versions":
            versions = set(names)
        with_assoc = self._bool(request, "includeAssociations")
        ids, more = self._page_ids("deals", offset, limit)
        deals = [
            self._deal(rid, rec, props, with_assoc)
            for rid, rec, props in self._records("deals", ids, names, versions, with_assoc)
        ]
        return self._json({"deals": deals, "hasMore": more, "offset": ids[-1] if ids else offset})

    async def deal(self, request: Request) -> Response:
        rid = self.store.resolve_id("deals", request.path_params["dealId"])
        if rid is None:
            raise StoreError(
                404, "OBJECT_NOT_FOUND", f"deal {request.path_params['dealId']} does not exist"
            )
        names = self._all_names("deals")
        rows = self._records("deals", [rid], names, set(names), associations=True)
        if not rows:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"deal {rid} does not exist")
        rid, record, props = rows[0]
        return self._json(self._deal(rid, record, props, associations=True))

    async def deal_pipelines(self, request: Request) -> Response:
        out = []
        for pipeline in self.store.directory.pipelines("deals"):
            out.append(
                {
                    "pipelineId": pipeline["id"],
                    "label": pipeline["label"],
                    "displayOrder": pipeline["displayOrder"],
                    "active": not pipeline["archived"],
                    "default": pipeline["id"] == "default",
                    "objectType": "DEAL",
                    "objectTypeId": "0-3",
                    "portalId": self.store.db.portal_id,
                    "createdAt": _epoch_ms(pipeline["createdAt"]),
                    "updatedAt": _epoch_ms(pipeline["updatedAt"]),
                    "stages": [
                        {
                            "stageId": stage["id"],
                            "label": stage["label"],
                            "displayOrder": stage["displayOrder"],
                            "active": True,
                            "probability": float(stage["metadata"].get("probability", 0)),
                            "closedWon": stage["metadata"].get("isClosed") == "true"
                            and float(stage["metadata"].get("probability", 0)) >= 1.0,
                        }
                        for stage in pipeline["stages"]
                    ],
                }
            )
        return self._json(out)

    # -- legacy updates --------------------------------------------------------------------------

    async def _v1_update(self, request: Request, obj: str, raw_id: str) -> int:
        """Apply a v1 / v2 `{"properties": [{"name", "value"}]}` body; the record's id."""
        rid = self.store.resolve_id(obj, raw_id)
        if rid is None:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"{obj[:-1]} {raw_id} does not exist")
        body = await read_body(request)
        entries = body.get("properties")
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
        ):
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                'Invalid input JSON: `properties` must be a list of {"name", "value"} objects',
            )
        raw = {e["name"]: e.get("value") for e in entries}
        values = self.store.validator.validate(obj, raw, creating=False)
        self.store.validator.check_unique(obj, values, exclude_id=rid)
        self.store.update(obj, rid, values)
        return rid

    async def update_company(self, request: Request) -> Response:
        rid = await self._v1_update(request, "companies", request.path_params["companyId"])
        names = self._all_names("companies")
        return self._json(self._company(*self._records("companies", [rid], names, set(names))[0]))

    async def update_deal(self, request: Request) -> Response:
        rid = await self._v1_update(request, "deals", request.path_params["dealId"])
        names = self._all_names("deals")
        rid, record, props = self._records("deals", [rid], names, set(names), True)[0]
        return self._json(self._deal(rid, record, props, associations=True))

    # -- contacts v1 (the reads that outlived the v1 lists sunset) ------------------------------

    def _contact(
        self, rid: int, record: dict[str, Any], props: dict[str, dict[str, Any]], added: bool
    ) -> dict[str, Any]:
        email = record["properties"].get("email")
        created = _epoch_ms(record["createdAt"])
        # HubSpot's identities: the primary email, and the contact's lead GUID (a UUID).
        guid = uuid.uuid5(uuid.NAMESPACE_URL, f"hubspot-sandbox/{self.store.db.portal_id}/{rid}")
        identities: list[dict[str, Any]] = [
            {"type": "LEAD_GUID", "value": str(guid), "timestamp": created}
        ]
        if email:
            identities.insert(
                0, {"type": "EMAIL", "value": email, "timestamp": created, "is-primary": True}
            )
        contact: dict[str, Any] = {
            "vid": rid,
            "canonical-vid": rid,
            "merged-vids": [],
            "portal-id": self.store.db.portal_id,
            "is-contact": True,
            "properties": props,
            "form-submissions": [],
            "identity-profiles": [
                {
                    "vid": rid,
                    "saved-at-timestamp": created,
                    "deleted-changed-timestamp": 0,
                    "identities": identities,
                }
            ],
            "merge-audits": [],
        }
        if added:
            contact["addedAt"] = created
        return contact

    def _contact_names(
        self, request: Request, *, everything: bool, mode: str = "value_only"
    ) -> tuple[list[str], set[str]]:
        """(properties, those with versions) a v1 contact read returns: the `property` params,
        else every property (single and batch reads) or a few standard ones (list pages)."""
        known = self._all_names("contacts")
        asked = [n for n in self._params(request, "property") if n in set(known)]
        default = known if everything else [n for n in CONTACT_DEFAULT_PROPERTIES if n in known]
        names = asked or default
        mode = request.query_params.get("propertyMode", mode)
        if mode not in ("value_only", "value_and_history"):
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Invalid propertyMode {mode!r}: value_only or value_and_history",
            )
        return names, set(names) if mode == "value_and_history" else set()

    def _contact_records(
        self, ids: list[int], names: list[str], versions: set[str]
    ) -> list[tuple[int, dict[str, Any], dict[str, dict[str, Any]]]]:
        """Like _records, with `email` always read (for the identity profile) but returned as a
        property only when asked for."""
        rows = self._records("contacts", ids, list(dict.fromkeys([*names, "email"])), versions)
        if "email" not in names:
            for _, _, props in rows:
                props.pop("email", None)
        return rows

    async def all_contacts(self, request: Request) -> Response:
        count = self._int(request, "count", CONTACTS_DEFAULT)
        if count < 1:
            raise StoreError(400, "VALIDATION_ERROR", f"Invalid count {count}: must be >= 1")
        offset = self._int(request, "vidOffset", 0)
        names, versions = self._contact_names(request, everything=False)
        ids, more = self._page_ids("contacts", offset, min(count, CONTACTS_MAX))
        contacts = [
            self._contact(rid, rec, props, added=True)
            for rid, rec, props in self._contact_records(ids, names, versions)
        ]
        return self._json(
            {"contacts": contacts, "has-more": more, "vid-offset": ids[-1] if ids else offset}
        )

    async def _contact_profile(self, request: Request, rid: int | None, key: str) -> Response:
        if rid is None:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"contact {key} does not exist")
        names, versions = self._contact_names(request, everything=True, mode="value_and_history")
        rows = self._contact_records([rid], names, versions)
        if not rows:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"contact {key} does not exist")
        return self._json(self._contact(*rows[0], added=False))

    async def contact_by_vid(self, request: Request) -> Response:
        raw = request.path_params["vid"]
        return await self._contact_profile(request, self.store.resolve_id("contacts", raw), raw)

    async def contact_by_email(self, request: Request) -> Response:
        email = request.path_params["email"]
        rid = self.store.resolve_id("contacts", email, "email")
        return await self._contact_profile(request, rid, email)

    async def contacts_batch(self, request: Request) -> Response:
        raw_ids = self._params(request, "vid")
        if len(raw_ids) > CONTACTS_MAX:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"At most {CONTACTS_MAX} vids per request, not {len(raw_ids)}",
            )
        resolved = []
        for raw in raw_ids:
            rid = self.store.resolve_id("contacts", raw)
            if rid is not None:  # unknown or deleted vids are left out of the answer
                resolved.append(rid)
        names, versions = self._contact_names(request, everything=True)
        rows = self._contact_records(list(dict.fromkeys(resolved)), names, versions)
        return self._json(
            {str(rid): self._contact(rid, rec, props, False) for rid, rec, props in rows}
        )

    # -- oauth ----------------------------------------------------------------------------------

    async def access_token(self, request: Request) -> Response:
        token = request.path_params["token"]
        if token != self.token:
            raise StoreError(404, "OBJECT_NOT_FOUND", "The access token is not valid or expired")
        return self._json(
            {
                "token": token,
                "hub_id": self.store.db.portal_id,
                "hub_domain": f"portal-{self.store.db.portal_id}.sandbox",
                "app_id": 0,
                "user_id": 0,
                "token_type": "access",
                "expires_in": 1800,
                "scopes": [
                    "crm.objects.companies.read",
                    "crm.objects.companies.write",
                    "crm.objects.contacts.read",
                    "crm.objects.contacts.write",
                    "crm.objects.deals.read",
                    "crm.objects.deals.write",
                    "crm.objects.owners.read",
                    "crm.schemas.companies.read",
                    "crm.schemas.companies.write",
                    "crm.schemas.contacts.read",
                    "crm.schemas.contacts.write",
                    "crm.schemas.deals.read",
                    "crm.schemas.deals.write",
                ],
            }
        )


def routes(store: HubSpotStore, token: str, api: Callable[[Handler], Handler]) -> list[Route]:
    legacy = Legacy(store, token)
    return [
        Route("/properties/v1/{objectType}/properties", api(legacy.properties), methods=["GET"]),
        Route("/properties/v2/{objectType}/properties", api(legacy.properties), methods=["GET"]),
        Route("/companies/v2/properties", api(legacy.company_properties), methods=["GET"]),
        Route("/companies/v2/companies/paged", api(legacy.companies_paged), methods=["GET"]),
        Route("/companies/v2/companies/{companyId}", api(legacy.company), methods=["GET"]),
        Route("/companies/v2/companies/{companyId}", api(legacy.update_company), methods=["PUT"]),
        Route("/deals/v1/deal/paged", api(legacy.deals_paged), methods=["GET"]),
        Route("/deals/v1/deal/{dealId}", api(legacy.deal), methods=["GET"]),
        Route("/deals/v1/deal/{dealId}", api(legacy.update_deal), methods=["PUT"]),
        Route("/contacts/v1/lists/all/contacts/all", api(legacy.all_contacts), methods=["GET"]),
        Route("/contacts/v1/contact/vids/batch", api(legacy.contacts_batch), methods=["GET"]),
        Route(
            "/contacts/v1/contact/vid/{vid}/profile", api(legacy.contact_by_vid), methods=["GET"]
        ),
        Route(
            "/contacts/v1/contact/email/{email}/profile",
            api(legacy.contact_by_email),
            methods=["GET"],
        ),
        Route("/deals/v1/pipelines", api(legacy.deal_pipelines), methods=["GET"]),
        Route("/oauth/v1/access-tokens/{token}", api(legacy.access_token), methods=["GET"]),
    ]
