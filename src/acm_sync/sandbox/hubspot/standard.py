"""The standard HubSpot object types the sandbox portal holds no records of.

A real portal has tickets, products, quotes, line items, engagements (calls, emails, meetings,
notes, tasks), leads, goals, … whether or not anyone uses them; clients discover them and read them
(`GET /crm/v3/properties/tickets`, `associations=line_items`, `POST …/tickets/search`). The
sandbox stores only companies, contacts and deals, so these types are answered as a portal where
they exist and are empty:

    GET  /crm/v3/objects/{type}                    {"results": []}
    POST /crm/v3/objects/{type}/search             {"total": 0, "results": []}
    GET  /crm/v3/objects/{type}/{id}               404 (no such record)
    POST /crm/v3/objects/{type}/batch/read         207, every input "not found"
    GET  /crm/v3/properties/{type}                 their core standard properties
    GET  /crm/v4/objects/{a}/{id}/associations/{b} {"results": []} when a or b is one of them
    POST /crm/v4/associations/{a}/{b}/batch/read   207, no associations for any input

Writes (create, update, archive, merge, property definitions) are refused with a 400 that says
so: the sandbox does not emulate these types, and a silent success would be a lie.

`GET /crm/v3/schemas` (custom object schemas) answers an empty list: the portal has none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from acm_sync.sandbox.hubspot import schema
from acm_sync.sandbox.hubspot.messages import (
    V4_BATCH_READ_MAX,
    Handler,
    batch_inputs,
    batch_response,
    json_response,
    list_param,
    no_associations,
    object_not_found,
    read_body,
    standard_error,
)
from acm_sync.sandbox.hubspot.store import HubSpotStore, PropDef, StoreError
from acm_sync.sandbox.hubspot.values import wire_datetime

# name → (objectTypeId or None, singular). Ids from HubSpot's object type id table.
EMPTY_TYPES: dict[str, tuple[str | None, str]] = {
    "tickets": ("0-5", "ticket"),
    "products": ("0-7", "product"),
    # Quotes: a standard object of every portal (HubSpot's object type ids: 0-14;
    # developers.hubspot.com/docs/api/crm/quotes). Clients list and associate them
    # with the CRM objects: dlt's verified HubSpot source (dlt-hub/verified-sources,
    # sources/hubspot/settings.py) reads companies with
    # `associations=contacts,deals,products,tickets,quotes` and lists /crm/v3/objects/quotes.
    "quotes": ("0-14", "quote"),
    "line_items": ("0-8", "line_item"),
    "tasks": ("0-27", "task"),
    "notes": ("0-46", "note"),
    "meetings": ("0-47", "meeting"),
    "calls": ("0-48", "call"),
    "emails": ("0-49", "email"),
    "goal_targets": ("0-74", "goal_target"),
    "leads": ("0-136", "lead"),
    "deal_splits": (None, "deal_split"),
    "forms": (None, "form"),
}
_ALIASES: dict[str, str] = {}
for _plural, (_id, _one) in EMPTY_TYPES.items():
    _ALIASES[_plural] = _plural
    _ALIASES[_one] = _plural
    if _id:
        _ALIASES[_id] = _plural


def empty_type(raw: str) -> str | None:
    """The canonical name of an empty standard type (`ticket`, `0-5` → `tickets`), else None."""
    return _ALIASES.get(raw.strip().lower())


class EmptyTypeConvertor(Convertor[str]):
    """Path segment naming one of the empty standard types (routes match only those)."""

    regex = "(?i:" + "|".join(sorted(map(str, _ALIASES), key=len, reverse=True)) + ")"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("hs_empty", EmptyTypeConvertor())

_ENGAGEMENT_TITLE = {
    "calls": ("hs_call_title", "Call Title"),
    "emails": ("hs_email_subject", "Email subject"),
    "meetings": ("hs_meeting_title", "Meeting name"),
    "notes": ("hs_note_body", "Note body"),
    "tasks": ("hs_task_subject", "Task Title"),
}


def _prop(obj: str, name: str, label: str, type_: str, field: str, **kw: Any) -> PropDef:
    return PropDef(obj, name, label, type_, field, kw.pop("group", "") or _group(obj), **kw)


def _group(obj: str) -> str:
    singular = EMPTY_TYPES[obj][1]
    return f"{singular}information"


def standard_properties(obj: str, created_at: str) -> list[PropDef]:
    """The core standard properties of an empty type (a subset of HubSpot's defaults)."""
    stamps = {"created_at": created_at, "updated_at": created_at}
    ro: dict[str, Any] = {"read_only_value": True, **stamps}
    rw: dict[str, Any] = {"read_only_definition": True, **stamps}
    props = [
        _prop(obj, "hs_object_id", "Record ID", "number", "number", **ro),
        _prop(obj, "hs_createdate", "Create date", "datetime", "date", **ro),
        _prop(obj, "hs_lastmodifieddate", "Last modified date", "datetime", "date", **ro),
        _prop(obj, "hubspot_owner_id", "Owner", "enumeration", "select", **rw),
    ]
    if obj in _ENGAGEMENT_TITLE:
        name, label = _ENGAGEMENT_TITLE[obj]
        props += [
            _prop(obj, "hs_timestamp", "Activity date", "datetime", "date", **rw),
            _prop(obj, name, label, "string", "text", **rw),
        ]
    elif obj == "tickets":
        props += [
            _prop(obj, "subject", "Ticket name", "string", "text", **rw),
            _prop(obj, "content", "Ticket description", "string", "textarea", **rw),
            _prop(obj, "hs_pipeline", "Pipeline", "enumeration", "select", **rw),
            _prop(obj, "hs_pipeline_stage", "Ticket status", "enumeration", "select", **rw),
            _prop(obj, "createdate", "Create date", "datetime", "date", **ro),
            # Priority and Category: knowledge.hubspot.com/properties/
            # hubspots-default-ticket-properties; requests to /crm/v3/objects/tickets send them as
            # hs_ticket_priority / hs_ticket_category, and dlt's verified source asks for both.
            _prop(obj, "hs_ticket_priority", "Priority", "enumeration", "select", **rw),
            _prop(obj, "hs_ticket_category", "Category", "enumeration", "select", **rw),
        ]
    elif obj in ("products", "line_items"):
        props += [
            _prop(obj, "name", "Name", "string", "text", **rw),
            _prop(obj, "price", "Unit price", "number", "number", **rw),
            _prop(obj, "createdate", "Create date", "datetime", "date", **ro),
            # Description: knowledge.hubspot.com/properties/hubspots-default-product-properties.
            _prop(obj, "description", "Description", "string", "textarea", **rw),
        ]
        if obj == "line_items":
            props += [
                _prop(obj, "quantity", "Quantity", "number", "number", **rw),
                _prop(obj, "amount", "Net price", "number", "number", **ro),
                _prop(obj, "hs_product_id", "Product ID", "number", "number", **rw),
            ]
    elif obj == "quotes":
        # The quote's core properties as the quotes guide and the /crm/v3/objects/quotes default
        # answer name them (developers.hubspot.com/docs/api/crm/quotes: hs_title,
        # hs_expiration_date, hs_status; hs_public_url_key is the shareable link's key).
        props += [
            _prop(obj, "hs_title", "Quote name", "string", "text", **rw),
            _prop(obj, "hs_expiration_date", "Expiration date", "datetime", "date", **rw),
            _prop(obj, "hs_status", "Quote approval status", "enumeration", "select", **rw),
            _prop(obj, "hs_public_url_key", "Public URL key", "string", "text", **ro),
        ]
    elif obj == "leads":
        props.append(_prop(obj, "hs_lead_name", "Lead name", "string", "text", **rw))
    elif obj == "goal_targets":
        props.append(_prop(obj, "hs_goal_name", "Goal name", "string", "text", **rw))
    elif obj == "deal_splits":
        props.append(
            _prop(obj, "hs_split_percentage", "Split percentage", "number", "number", **rw)
        )
    elif obj == "forms":
        props.append(_prop(obj, "name", "Name", "string", "text", **rw))
    return props


def _singular(raw: str) -> str:
    obj = empty_type(raw)
    if obj is not None:
        return EMPTY_TYPES[obj][1]
    text = raw.strip().lower()
    return schema.SINGULAR.get(text, text)


def _check_search_body(body: dict[str, Any]) -> None:
    """The request is checked as for a stored type (limit, filters' shape)."""
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 200:
        raise StoreError(
            400,
            "VALIDATION_ERROR",
            f"Invalid limit {limit!r}: the search API returns at most 200 results a page",
        )
    for key in ("filterGroups", "filters", "sorts", "properties"):
        if key in body and not isinstance(body[key], list):
            raise StoreError(400, "VALIDATION_ERROR", f"{key} must be a list")


class EmptyTypes:
    """Handlers for the empty standard types, bound to one sandbox portal."""

    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

    def _batch(self, errors: list[dict[str, Any]]) -> Response:
        started = wire_datetime(self.store.db.now()) or ""
        return batch_response([], errors, started, wire_datetime(self.store.db.now()) or "", 200)

    def _obj(self, request: Request, key: str = "objectType") -> str:
        obj = empty_type(request.path_params[key])
        assert obj is not None  # the route's convertor admits only these
        return obj

    def _refuse(self, obj: str) -> StoreError:
        return StoreError(
            400,
            "VALIDATION_ERROR",
            f"The sandbox portal does not store {obj}: it answers reads of this standard "
            "object type as empty and refuses writes",
        )

    async def list_objects(self, request: Request) -> Response:
        obj = self._obj(request)
        if request.method != "GET":
            raise self._refuse(obj)
        return json_response({"results": []})

    async def search(self, request: Request) -> Response:
        self._obj(request)
        body = await read_body(request)
        # The request is checked as for a stored type (limit, after, filters' shape).
        _check_search_body(body)
        return json_response({"total": 0, "results": []})

    async def get_object(self, request: Request) -> Response:
        obj = self._obj(request)
        if request.method != "GET":
            raise self._refuse(obj)
        raw_id = request.path_params["objectId"]
        raise object_not_found(
            raw_id, f"Object not found.  objectId are usually numeric. ({obj} {raw_id})"
        )

    async def batch(self, request: Request) -> Response:
        obj = self._obj(request)
        if request.path_params["op"] != "read":
            raise self._refuse(obj)
        body = await read_body(request)
        ids = [str(i.get("id")) for i in batch_inputs(body)]
        error = standard_error(
            "OBJECT_NOT_FOUND", "Could not get some " + obj + " objects", {"ids": ids}
        )
        return self._batch([error] if ids else [])

    async def properties(self, request: Request) -> Response:
        obj = self._obj(request)
        if request.method != "GET":
            raise self._refuse(obj)
        wanted = set(list_param(request, "properties"))
        props = standard_properties(obj, self.store.db.portal_created_at())
        return json_response(
            {"results": [p.to_json() for p in props if not wanted or p.name in wanted]}
        )

    async def property(self, request: Request) -> Response:
        obj = self._obj(request)
        if request.method != "GET":
            raise self._refuse(obj)
        name = request.path_params["propertyName"]
        for p in standard_properties(obj, self.store.db.portal_created_at()):
            if p.name == name:
                return json_response(p.to_json())
        raise StoreError(
            404, "OBJECT_NOT_FOUND", f"Unable to find property {name} on object type {obj}"
        )

    async def groups(self, request: Request) -> Response:
        obj = self._obj(request)
        if request.method != "GET":
            raise self._refuse(obj)
        group = _group(obj)
        return json_response(
            {
                "results": [
                    {
                        "name": group,
                        "label": f"{EMPTY_TYPES[obj][1].title()} information",
                        "displayOrder": -1,
                        "archived": False,
                    }
                ]
            }
        )

    async def v4_associations(self, request: Request) -> Response:
        return json_response({"results": []})

    async def v4_batch_read(self, request: Request) -> Response:
        from_type = request.path_params["fromObjectType"]
        to_type = request.path_params["toObjectType"]
        body = await read_body(request)
        inputs = batch_inputs(body, V4_BATCH_READ_MAX)
        errors = [
            no_associations(_singular(from_type), str(item.get("id")), _singular(to_type))
            for item in inputs
        ]
        return self._batch(errors)

    async def schemas(self, request: Request) -> Response:
        return json_response({"results": []})

    async def schema(self, request: Request) -> Response:
        raise StoreError(
            404,
            "OBJECT_NOT_FOUND",
            f"Unable to find object schema {request.path_params['objectType']}: the portal "
            "has no custom objects",
        )


def routes(store: HubSpotStore, api: Callable[[Handler], Handler]) -> list[Route]:
    """Routes for the empty standard types; they go before the stored types' routes."""
    e = EmptyTypes(store)
    v3, v4 = "/crm/v3", "/crm/v4"
    t = "{objectType:hs_empty}"
    any_method = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    return [
        Route(f"{v3}/schemas", api(e.schemas), methods=["GET"]),
        Route(f"{v3}/schemas/{{objectType}}", api(e.schema), methods=["GET"]),
        Route(f"{v3}/objects/{t}", api(e.list_objects), methods=any_method),
        Route(f"{v3}/objects/{t}/search", api(e.search), methods=["POST"]),
        Route(f"{v3}/objects/{t}/batch/{{op}}", api(e.batch), methods=["POST"]),
        Route(f"{v3}/objects/{t}/{{objectId}}", api(e.get_object), methods=any_method),
        Route(f"{v3}/properties/{t}", api(e.properties), methods=["GET", "POST"]),
        Route(f"{v3}/properties/{t}/groups", api(e.groups), methods=["GET", "POST"]),
        Route(f"{v3}/properties/{t}/{{propertyName}}", api(e.property), methods=any_method),
        Route(
            f"{v4}/objects/{t}/{{objectId}}/associations/{{toObjectType}}",
            api(e.v4_associations),
            methods=["GET"],
        ),
        Route(
            f"{v4}/objects/{{objectType}}/{{objectId}}/associations/{{toObjectType:hs_empty}}",
            api(e.v4_associations),
            methods=["GET"],
        ),
        Route(
            f"{v4}/associations/{{fromObjectType:hs_empty}}/{{toObjectType}}/batch/read",
            api(e.v4_batch_read),
            methods=["POST"],
        ),
        Route(
            f"{v4}/associations/{{fromObjectType}}/{{toObjectType:hs_empty}}/batch/read",
            api(e.v4_batch_read),
            methods=["POST"],
        ),
    ]
