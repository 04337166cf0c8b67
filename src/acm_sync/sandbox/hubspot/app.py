"""The HubSpot sandbox as an ASGI app: CRM v3 objects, search, batch, properties, pipelines,
associations v4, owners and merges, behind private-app auth and HubSpot's rate limits.

Request path, outermost first:

    FaultInjector.wrap     scripted faults + call accounting (admin API under /__sandbox__/)
    _Gate                  Bearer token (401), rate limits (429), X-HubSpot-* headers
    Starlette routes       the vendor API, answered from `HubSpotStore`

Errors are HubSpot's: `{"status": "error", "message", "correlationId", "category"}` (plus
`errors` / `context` where HubSpot gives them); the correlation id is also the response's
`X-HubSpot-Correlation-Id` header.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from acm_sync.sandbox import record_pages
from acm_sync.sandbox.faults import ADMIN_PREFIX, FaultInjector
from acm_sync.sandbox.hubspot import account, legacy, schema, standard
from acm_sync.sandbox.hubspot.errors import str_list
from acm_sync.sandbox.hubspot.limits import RateLimiter
from acm_sync.sandbox.hubspot.messages import (
    ASSOC_MAX,
    CATEGORY_BY_STATUS,
    HISTORY_LIST_MAX,
    JSON,
    LIST_MAX,
    OWNERS_MAX,
    V4_BATCH_READ_MAX,
    Handler,
    after_param,
    batch_inputs,
    batch_response,
    bool_param,
    correlation_id,
    error_body,
    int_param,
    json_response,
    list_param,
    no_associations,
    object_not_found,
    object_type,
    rate_limit_body,
    read_body,
    standard_error,
)
from acm_sync.sandbox.hubspot.standard import empty_type
from acm_sync.sandbox.hubspot.store import (
    HubSpotStore,
    Page,
    PropertyErrors,
    StoreError,
)
from acm_sync.sandbox.hubspot.values import wire_datetime

if TYPE_CHECKING:
    from acm_sync.sandbox.generator import DemoOrg


class _Gate:
    """Private-app auth, the rate-limit windows and HubSpot's response headers."""

    def __init__(self, app: ASGIApp, token: str, limiter: RateLimiter) -> None:
        self.app = app
        self.token = token
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            # the token is in the path, not a header
            or scope["path"].startswith((ADMIN_PREFIX, legacy.TOKEN_INFO_PREFIX))
            or record_pages.is_hubspot_record_page(scope["path"])  # for a browser
        ):
            await self.app(scope, receive, send)
            return
        cid = str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = cid
        cid_header = (b"x-hubspot-correlation-id", cid.encode())
        auth = ""
        for key, value in scope["headers"]:
            if key == b"authorization":
                auth = value.decode("latin-1")
                break
        if not auth:
            await self._send(
                send,
                401,
                error_body(
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at "
                    "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    cid,
                ),
                [cid_header],
            )
            return
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != self.token:
            await self._send(
                send,
                401,
                error_body(
                    "INVALID_AUTHENTICATION",
                    "The OAuth token used to make this call expired or is invalid. Authentication "
                    "failed: the access token provided is not valid for this account.",
                    cid,
                ),
                [cid_header],
            )
            return
        search = scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/search")
        decision = self.limiter.take(self.token, search=search)
        headers = [*decision.headers, cid_header]
        if not decision.allowed:
            assert decision.policy is not None
            await self._send(send, 429, rate_limit_body(decision.policy, cid), headers)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, with_headers)

    @staticmethod
    async def _send(
        send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
    ) -> None:
        payload = orjson.dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", JSON.encode()),
                    (b"content-length", str(len(payload)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class _FreshDate:
    """A `date` header of the moment each response starts, as HubSpot's edge sends it.

    uvicorn's own `date` header is refreshed once a second by its main loop, and later when the
    loop is busy: clients that take the server's clock from it (our pull's incremental cursor
    does) would read a time up to seconds old. The servers run with uvicorn's switched off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"date" for k, _ in headers):
                    headers.append((b"date", formatdate(usegmt=True).encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_dated)


class _Faults:
    """The FaultInjector's middleware as a Starlette middleware class."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = injector.wrap(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


# -- request parsing ---------------------------------------------------------------------------


def _association_types(request: Request) -> list[str]:
    """`associations=`: stored types; the empty standard types (tickets, …) add nothing."""
    return [object_type(a) for a in list_param(request, "associations") if empty_type(a) is None]


class HubSpotSandbox:
    """Routes and state of one sandbox portal."""

    def __init__(
        self,
        store: HubSpotStore,
        limiter: RateLimiter,
        faults: FaultInjector,
        base_url: str,
        token: str,
    ) -> None:
        self.store = store
        self.limiter = limiter
        self.faults = faults
        self.base_url = base_url.rstrip("/")
        self.token = token

    # -- plumbing ----------------------------------------------------------------------------

    def api(self, fn: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except StoreError as exc:
                return json_response(
                    error_body(exc.category, exc.message, correlation_id(request), **exc.extra),
                    exc.status,
                )

        return endpoint

    def _now(self) -> str:
        return wire_datetime(self.store.db.now()) or ""

    def _batch(
        self,
        results: list[dict[str, Any]],
        errors: list[dict[str, Any]],
        started: str,
        ok_status: int,
    ) -> Response:
        return batch_response(results, errors, started, self._now(), ok_status)

    def _id_property(self, obj: str, raw: Any) -> str | None:
        """`idProperty` checked as HubSpot does: a property whose values are unique."""
        if raw is None or raw == "" or raw == "hs_object_id":
            return None
        if not isinstance(raw, str):
            raise StoreError(400, "VALIDATION_ERROR", "idProperty must be a property name")
        definition = self.store.catalog.prop(obj, raw)
        if definition is None:
            raise StoreError(
                400, "VALIDATION_ERROR", f"Unable to find property {raw} for idProperty"
            )
        if raw not in schema.BUILTIN_ID_PROPERTIES[obj] and not definition.has_unique_value:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Property {raw} can't be used as idProperty: its values are not unique",
                context={"idProperty": [raw]},
            )
        return raw

    def _reject(self, obj: str, record_id: str | None) -> tuple[str, str] | None:
        return self.faults.take_rejection(obj, record_id)

    def _associations_input(self, obj: str, raw: Any) -> list[tuple[str, int, int]]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise StoreError(400, "VALIDATION_ERROR", "associations must be a list")
        out = []
        for a in raw:
            to = a.get("to") if isinstance(a, dict) else None
            types = a.get("types") if isinstance(a, dict) else None
            if not isinstance(to, dict) or "id" not in to or not isinstance(types, list):
                raise StoreError(
                    400, "VALIDATION_ERROR", "each association needs `to: {id}` and `types`"
                )
            for t in types:
                type_id = t.get("associationTypeId") if isinstance(t, dict) else None
                info = (
                    schema.ASSOCIATION_TYPE_INFO.get(type_id) if isinstance(type_id, int) else None
                )
                if info is None or info[0] != obj:
                    raise StoreError(
                        400, "VALIDATION_ERROR", f"Invalid association type {type_id!r} for {obj}"
                    )
                target = self.store.resolve_id(info[1], to["id"])
                if target is None:
                    raise StoreError(
                        400,
                        "VALIDATION_ERROR",
                        f"Association target {info[1]} {to['id']} does not exist",
                    )
                out.append((info[1], target, int(type_id)))  # type: ignore[arg-type]
        return out

    def _paging_link(self, request: Request, after: str) -> str:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
        params.append(("after", after))
        return f"{self.base_url}{request.url.path}?{urlencode(params)}"

    # -- objects -------------------------------------------------------------------------------

    async def list_objects(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        limit = int_param(request, "limit", 10)
        if limit < 1:
            raise StoreError(400, "VALIDATION_ERROR", f"Invalid limit {limit}: must be >= 1")
        history = list_param(request, "propertiesWithHistory")
        limit = min(limit, HISTORY_LIST_MAX if history else LIST_MAX)
        assoc = _association_types(request)
        page = self.store.list_page(
            obj,
            after=after_param(request),
            limit=limit,
            properties=list_param(request, "properties"),
            with_history=history,
            associations=assoc,
            archived=bool_param(request, "archived"),
        )
        return json_response(self._collection(request, page))

    def _collection(self, request: Request, page: Page) -> dict[str, Any]:
        out: dict[str, Any] = {"results": page.results}
        if page.next_after is not None:
            out["paging"] = {
                "next": {
                    "after": page.next_after,
                    "link": self._paging_link(request, page.next_after),
                }
            }
        return out

    async def get_object(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        raw_id = request.path_params["objectId"]
        rid = self.store.resolve_id(
            obj,
            raw_id,
            self._id_property(obj, request.query_params.get("idProperty")),
            archived=bool_param(request, "archived"),
        )
        if rid is None:
            raise object_not_found(raw_id)
        records = self.store.get_records(
            obj,
            [rid],
            properties=list_param(request, "properties"),
            with_history=list_param(request, "propertiesWithHistory"),
            associations=_association_types(request),
        )
        return json_response(records[rid])

    async def create_object(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        body = await read_body(request)
        values = self.store.validator.validate(obj, body.get("properties"), creating=True)
        assoc = self._associations_input(obj, body.get("associations"))
        self.store.validator.check_unique(obj, values)
        rejection = self._reject(obj, None)
        if rejection is not None:
            raise StoreError(400, rejection[0], rejection[1])
        rid = self.store.create(obj, values, assoc)
        record = self.store.get_records(obj, [rid], properties=list(values))[rid]
        return json_response(record, 201)

    async def update_object(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        body = await read_body(request)
        properties = body.get("properties")
        if properties is None or properties == {}:
            # Checked before the record is looked up: a live portal answers a PATCH of `{}`
            # with this 400 even for record id 0 (github.com/Luigi08001/hscli,
            # docs/TESTING/PORTAL-147975758-WRITES.md, 2026-04-21: `PATCH
            # /crm/v3/objects/calls/{callId}` and `/carts/0` -> 400 "No properties found to
            # update, please provide at least one."); an empty `properties` map gets the same
            # error in Clay's HubSpot integration docs (university.clay.com, "Update object":
            # "No properties found to update" when every mapped property is blank, so skipped).
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                "No properties found to update, please provide at least one.",
            )
        raw_id = request.path_params["objectId"]
        rid = self.store.resolve_id(
            obj, raw_id, self._id_property(obj, request.query_params.get("idProperty"))
        )
        if rid is None:
            raise object_not_found(raw_id)
        values = self.store.validator.validate(obj, properties, creating=False)
        self.store.validator.check_unique(obj, values, exclude_id=rid)
        rejection = self._reject(obj, str(rid))
        if rejection is not None:
            raise StoreError(400, rejection[0], rejection[1])
        self.store.update(obj, rid, values)
        self.faults.record_writes(obj, [str(rid)])
        return json_response(self.store.get_records(obj, [rid], properties=list(values))[rid])

    async def archive_object(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        rid = self.store.resolve_id(obj, request.path_params["objectId"])
        if rid is not None:
            rejection = self._reject(obj, str(rid))
            if rejection is not None:
                raise StoreError(400, rejection[0], rejection[1])
            self.store.archive(obj, rid)
        return Response(status_code=204)

    async def merge(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        return await self._merge(obj, await read_body(request))

    async def _merge(self, obj: str, body: dict[str, Any]) -> Response:
        primary, other = body.get("primaryObjectId"), body.get("objectIdToMerge")
        if primary is None or other is None:
            raise StoreError(
                400, "VALIDATION_ERROR", "Merging needs `primaryObjectId` and `objectIdToMerge`"
            )
        new_id = self.store.merge(obj, primary, other)
        names = [*schema.DEFAULT_RETURNED[obj], "hs_merged_object_ids"]
        return json_response(self.store.get_records(obj, [new_id], properties=names)[new_id])

    # -- search --------------------------------------------------------------------------------

    async def search(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        page = self.store.search.run(obj, await read_body(request))
        out: dict[str, Any] = {"total": page.total, "results": page.results}
        if page.next_after is not None:
            out["paging"] = {"next": {"after": page.next_after}}
        return json_response(out)

    # -- batch ---------------------------------------------------------------------------------

    async def batch(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        op = request.path_params["op"]
        handler = {
            "read": self._batch_read,
            "create": self._batch_create,
            "update": self._batch_update,
            "upsert": self._batch_upsert,
            "archive": self._batch_archive,
        }.get(op)
        if handler is None:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"Unknown batch operation {op!r}")
        started = self._now()
        body = await read_body(request)
        if op == "read":
            return await handler(request, obj, body, started)
        with self.store.db.transaction():  # a batch write is all or nothing (but its 207 errors)
            return await handler(request, obj, body, started)

    async def _batch_read(
        self, request: Request, obj: str, body: dict[str, Any], started: str
    ) -> Response:
        inputs = batch_inputs(body)
        id_property = self._id_property(obj, body.get("idProperty"))
        archived = bool_param(request, "archived")
        properties = str_list(body.get("properties"), "properties")
        history = str_list(body.get("propertiesWithHistory"), "propertiesWithHistory")
        found: list[int] = []
        missing: list[str] = []
        for item in inputs:
            raw = item.get("id")
            rid = (
                self.store.resolve_id(obj, raw, id_property, archived=archived)
                if raw is not None
                else None
            )
            if rid is None:
                missing.append(str(raw))
            elif rid not in found:
                found.append(rid)
        records = self.store.get_records(
            obj, found, properties=properties, with_history=history or None
        )
        errors = []
        if missing:
            singular = schema.SINGULAR[obj].upper()
            errors.append(
                standard_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {singular} objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    {"ids": missing},
                )
            )
        return self._batch([records[r] for r in found], errors, started, 200)

    async def _batch_create(
        self, request: Request, obj: str, body: dict[str, Any], started: str
    ) -> Response:
        inputs = batch_inputs(body)
        # Multi-status for property values: developers.hubspot.com/docs/api-reference/
        # error-handling, "Multi-status errors": "For the object APIs' batch create endpoints,
        # you can enable multi status responses that include partial failures. [...] To do so,
        # include a unique `objectWriteTraceId` value for each input in your request." Its
        # example, a tickets batch create whose second input sets a property that does not
        # exist, answers with the first ticket in `results` and, for the second, the entry
        # {status: "error", category: "VALIDATION_ERROR", message: "Property values were not
        # valid: [{...\"error\":\"PROPERTY_DOESNT_EXIST\"...}]", context: {objectWriteTraceId:
        # ["549b1c2a9351"]}} (no subCategory). Only when every input carries a trace id, as the
        # docs ask: with none, the whole batch is refused (400, the default); with some, HubSpot's
        # answer is not on record, so the batch is refused as before. Batch update / upsert are
        # not covered by that page and keep the whole-batch 400.
        multi_status = bool(inputs) and all(item.get("objectWriteTraceId") for item in inputs)
        prepared = []
        problems: list[tuple[str, str, str]] = []
        results, errors, created = [], [], []
        for item in inputs:
            try:
                values = self.store.validator.validate(obj, item.get("properties"), creating=True)
            except PropertyErrors as exc:
                if multi_status:
                    errors.append(
                        standard_error(
                            exc.category,
                            exc.message,  # this input's problems only
                            {"objectWriteTraceId": [str(item["objectWriteTraceId"])]},
                        )
                    )
                else:
                    problems.extend(exc.problems)
                continue
            prepared.append((item, values, self._associations_input(obj, item.get("associations"))))
        if problems:
            raise PropertyErrors(self.store.db.portal_id, problems)
        for _item, values, _assoc in prepared:
            self.store.validator.check_unique(obj, values)
        for item, values, assoc in prepared:
            rejection = self._reject(obj, None)
            if rejection is not None:
                trace = item.get("objectWriteTraceId")
                errors.append(
                    standard_error(
                        rejection[0],
                        rejection[1],
                        {"objectWriteTraceId": [str(trace)]} if trace else {},
                    )
                )
                continue
            # Again against the records this batch has made so far: two inputs with one email
            # are refused as a taken one is, 409 "Contact already exists. Existing ID: …" for
            # the batch (a fix for exactly that: github.com/Joystream/youtube-synch/pull/355,
            # commit ccdf7c1, "Hotfix for '409: Contact already exists' in case 2 contacts in
            # createContactInputs have the same e-mail address", inputs sent through
            # contacts.batchApi.create). The id named is the earlier input's record, which the
            # all-or-nothing batch then rolls back; the id HubSpot names and whether it keeps
            # the batch's other contacts are not on record.
            self.store.validator.check_unique(obj, values)
            created.append((self.store.create(obj, values, assoc), values, item))
        for rid, values, item in created:
            record = self.store.get_records(obj, [rid], properties=list(values))[rid]
            if item.get("objectWriteTraceId"):
                record["objectWriteTraceId"] = str(item["objectWriteTraceId"])
            results.append(record)
        return self._batch(results, errors, started, 201)

    async def _batch_update(
        self, request: Request, obj: str, body: dict[str, Any], started: str
    ) -> Response:
        inputs = batch_inputs(body)
        ids = [str(i.get("id")) for i in inputs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Duplicate IDs found in batch input: [{', '.join(dupes)}]. IDs must be unique",
            )
        prepared = []
        problems: list[tuple[str, str, str]] = []
        for item in inputs:
            try:
                prepared.append(
                    (
                        item,
                        self.store.validator.validate(obj, item.get("properties"), creating=False),
                    )
                )
            except PropertyErrors as exc:
                problems.extend(exc.problems)
        if problems:
            raise PropertyErrors(self.store.db.portal_id, problems)
        missing: list[str] = []
        rejected: dict[tuple[str, str], list[str]] = {}
        done: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        for item, values in prepared:
            rid = self.store.resolve_id(
                obj, item.get("id"), self._id_property(obj, item.get("idProperty"))
            )
            if rid is None:
                missing.append(str(item.get("id")))
                continue
            self.store.validator.check_unique(obj, values, exclude_id=rid)
            rejection = self._reject(obj, str(rid))
            if rejection is not None:
                rejected.setdefault(rejection, []).append(str(item.get("id")))
                continue
            self.store.update(obj, rid, values)
            done.append((rid, values, item))
        self.faults.record_writes(obj, [str(rid) for rid, _values, _item in done])
        results = []
        for rid, values, item in done:
            record = self.store.get_records(obj, [rid], properties=list(values))[rid]
            if item.get("objectWriteTraceId"):
                record["objectWriteTraceId"] = str(item["objectWriteTraceId"])
            results.append(record)
        errors = self._write_errors(obj, missing, rejected)
        return self._batch(results, errors, started, 200)

    def _write_errors(
        self, obj: str, missing: list[str], rejected: dict[tuple[str, str], list[str]]
    ) -> list[dict[str, Any]]:
        errors = []
        if missing:
            errors.append(
                standard_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not find some {schema.SINGULAR[obj].upper()} objects, they may be "
                    "deleted or not exist. Check that ids are valid.",
                    {"ids": missing},
                )
            )
        for (code, message), ids in rejected.items():
            errors.append(standard_error(code, message, {"ids": ids}))
        return errors

    async def _batch_upsert(
        self, request: Request, obj: str, body: dict[str, Any], started: str
    ) -> Response:
        inputs = batch_inputs(body)
        prepared = []
        problems: list[tuple[str, str, str]] = []
        for item in inputs:
            id_property = item.get("idProperty")
            if not isinstance(id_property, str) or item.get("id") in (None, ""):
                raise StoreError(
                    400, "VALIDATION_ERROR", "Each upsert input needs `idProperty` and `id`"
                )
            definition = self.store.catalog.prop(obj, id_property)
            unique = id_property in schema.BUILTIN_ID_PROPERTIES[obj] or (
                definition is not None and definition.has_unique_value
            )
            if definition is None or not unique:
                raise StoreError(
                    400,
                    "VALIDATION_ERROR",
                    f"Invalid idProperty {id_property!r}: upserts need a property with unique "
                    f"values (hasUniqueValue) on {obj}",
                    context={"idProperty": [id_property]},
                )
            try:
                values = self.store.validator.validate(
                    obj, item.get("properties") or {}, creating=True
                )
            except PropertyErrors as exc:
                problems.extend(exc.problems)
                continue
            prepared.append((item, id_property, values))
        if problems:
            raise PropertyErrors(self.store.db.portal_id, problems)
        seen = [(p, str(i.get("id")).lower()) for i, p, _ in prepared]
        dupes = sorted({k for _, k in seen if seen.count((_, k)) > 1})
        if dupes:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Duplicate IDs found in batch input: [{', '.join(dupes)}]. IDs must be unique",
            )
        results = []
        rejected: dict[tuple[str, str], list[str]] = {}
        for item, id_property, values in prepared:
            key = str(item["id"])
            rid = self.store.resolve_id(obj, key, id_property)
            rejection = self._reject(obj, str(rid) if rid is not None else None)
            if rejection is not None:
                rejected.setdefault(rejection, []).append(key)
                continue
            if rid is None:
                if id_property != "hs_object_id":
                    create_values = {
                        **values,
                        **self.store.validator.validate(obj, {id_property: key}, creating=True),
                    }
                else:
                    create_values = values
                self.store.validator.check_unique(obj, create_values)
                rid, new = self.store.create(obj, create_values), True
            else:
                values.pop(id_property, None)
                self.store.validator.check_unique(obj, values, exclude_id=rid)
                self.store.update(obj, rid, values)
                new = False
            names = list(dict.fromkeys([*values, id_property]))
            record = self.store.get_records(obj, [rid], properties=names)[rid]
            record["new"] = new
            if item.get("objectWriteTraceId"):
                record["objectWriteTraceId"] = str(item["objectWriteTraceId"])
            results.append(record)
        return self._batch(results, self._write_errors(obj, [], rejected), started, 200)

    async def _batch_archive(
        self, request: Request, obj: str, body: dict[str, Any], started: str
    ) -> Response:
        inputs = batch_inputs(body)
        for item in inputs:
            rid = self.store.resolve_id(obj, item.get("id"))
            if rid is None:
                continue  # HubSpot answers 204 whether or not each id exists
            if self._reject(obj, str(rid)) is not None:
                continue
            self.store.archive(obj, rid)
        return Response(status_code=204)

    # -- properties ----------------------------------------------------------------------------

    async def properties(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        if request.method == "POST":
            return json_response(
                self.store.catalog.create_property(obj, await read_body(request)).to_json(), 201
            )
        props = self.store.catalog.list_properties(obj, archived=bool_param(request, "archived"))
        wanted = set(list_param(request, "properties"))
        return json_response(
            {"results": [p.to_json() for p in props if not wanted or p.name in wanted]}
        )

    async def property(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        name = request.path_params["propertyName"]
        if request.method == "PATCH":
            return json_response(
                self.store.catalog.update_property(obj, name, await read_body(request)).to_json()
            )
        if request.method == "DELETE":
            self.store.catalog.archive_property(obj, name)
            return Response(status_code=204)
        archived = bool_param(request, "archived")
        p = self.store.catalog.props[obj].get(name)
        if p is None or p.archived != archived:
            raise StoreError(
                404, "OBJECT_NOT_FOUND", f"Unable to find property {name} on object type {obj}"
            )
        return json_response(p.to_json())

    async def property_batch(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        op = request.path_params["op"]
        started = self._now()
        body = await read_body(request)
        inputs = batch_inputs(body)
        if op == "read":
            archived = bool(body.get("archived", False))
            results, missing = [], []
            for item in inputs:
                p = self.store.catalog.props[obj].get(str(item.get("name")))
                if p is None or p.archived != archived:
                    missing.append(str(item.get("name")))
                else:
                    results.append(p.to_json())
            errors = (
                [
                    standard_error(
                        "OBJECT_NOT_FOUND", "Unable to find some properties", {"names": missing}
                    )
                ]
                if missing
                else []
            )
            return self._batch(results, errors, started, 200)
        if op == "create":
            results, errors = [], []
            for item in inputs:
                try:
                    results.append(self.store.catalog.create_property(obj, item).to_json())
                except StoreError as exc:
                    errors.append(
                        standard_error(exc.category, exc.message, {"name": [str(item.get("name"))]})
                    )
            return self._batch(results, errors, started, 201)
        if op == "archive":
            for item in inputs:
                with contextlib.suppress(StoreError):
                    self.store.catalog.archive_property(obj, str(item.get("name")))
            return Response(status_code=204)
        raise StoreError(404, "OBJECT_NOT_FOUND", f"Unknown batch operation {op!r}")

    async def groups(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        if request.method == "POST":
            return json_response(
                self.store.catalog.create_group(obj, await read_body(request)), 201
            )
        return json_response({"results": self.store.catalog.list_groups(obj)})

    async def group(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        name = request.path_params["groupName"]
        if request.method == "PATCH":
            return json_response(
                self.store.catalog.update_group(obj, name, await read_body(request))
            )
        if request.method == "DELETE":
            self.store.catalog.archive_group(obj, name)
            return Response(status_code=204)
        group = self.store.catalog.get_group(obj, name)
        if group is None:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property group {name}")
        return json_response(group)

    # -- pipelines -----------------------------------------------------------------------------

    def _pipeline_object(self, request: Request) -> str:
        raw = request.path_params["objectType"]
        if empty_type(raw) == "tickets":
            return "tickets"
        obj = object_type(raw)
        if obj != "deals":
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Object type {schema.OBJECT_TYPE_IDS[obj]} does not support pipelines",
            )
        return obj

    async def pipelines(self, request: Request) -> Response:
        return json_response(
            {"results": self.store.directory.pipelines(self._pipeline_object(request))}
        )

    def _pipeline(self, request: Request) -> dict[str, Any]:
        obj = self._pipeline_object(request)
        pid = request.path_params["pipelineId"]
        found = self.store.directory.pipelines(obj, pid)
        if not found:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pid}")
        return found[0]

    async def pipeline(self, request: Request) -> Response:
        return json_response(self._pipeline(request))

    async def stages(self, request: Request) -> Response:
        return json_response({"results": self._pipeline(request)["stages"]})

    async def stage(self, request: Request) -> Response:
        stage_id = request.path_params["stageId"]
        for stage in self._pipeline(request)["stages"]:
            if stage["id"] == stage_id:
                return json_response(stage)
        raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find stage {stage_id}")

    # -- associations v4 -------------------------------------------------------------------------

    async def v4_associations(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        to_type = object_type(request.path_params["toObjectType"])
        rid = self.store.resolve_id(obj, request.path_params["objectId"])
        limit = min(max(int_param(request, "limit", ASSOC_MAX), 1), ASSOC_MAX)
        if rid is None:
            return json_response({"results": []})
        results, nxt = self.store.association_page(obj, rid, to_type, after_param(request), limit)
        out: dict[str, Any] = {"results": results}
        if nxt is not None:
            out["paging"] = {
                "next": {"after": str(nxt), "link": self._paging_link(request, str(nxt))}
            }
        return json_response(out)

    async def v4_batch_read(self, request: Request) -> Response:
        obj = object_type(request.path_params["fromObjectType"])
        to_type = object_type(request.path_params["toObjectType"])
        started = self._now()
        inputs = batch_inputs(await read_body(request), V4_BATCH_READ_MAX)
        results, missing = [], []
        for item in inputs:
            raw = item.get("id")
            rid = self.store.resolve_id(obj, raw) if raw is not None else None
            after = 0
            if item.get("after"):
                try:
                    after = int(str(item["after"]))
                except ValueError as exc:
                    raise StoreError(
                        400, "VALIDATION_ERROR", f"Invalid after {item['after']!r}"
                    ) from exc
            found, nxt = (
                self.store.association_page(obj, rid, to_type, after, ASSOC_MAX)
                if rid is not None
                else ([], None)
            )
            if not found:
                missing.append(str(raw))
                continue
            entry: dict[str, Any] = {"from": {"id": str(raw)}, "to": found}
            if nxt is not None:
                entry["paging"] = {"next": {"after": str(nxt)}}
            results.append(entry)
        errors = [
            no_associations(schema.SINGULAR[obj], raw, schema.SINGULAR[to_type]) for raw in missing
        ]
        return self._batch(results, errors, started, 200)

    async def v4_put(self, request: Request) -> Response:
        obj = object_type(request.path_params["objectType"])
        to_type = object_type(request.path_params["toObjectType"])
        rid = self.store.resolve_id(obj, request.path_params["objectId"])
        to_id = self.store.resolve_id(to_type, request.path_params["toObjectId"])
        if rid is None or to_id is None:
            raise StoreError(
                404, "OBJECT_NOT_FOUND", "One of the records to associate does not exist"
            )
        default = request.url.path.split("/associations/", 1)[1].startswith("default/")
        if request.method == "DELETE":
            self.store.dissociate(obj, rid, to_type, to_id)
            return Response(status_code=204)
        if default:
            type_id = schema.DEFAULT_ASSOCIATION_TYPE.get((obj, to_type))
            if type_id is None:
                raise StoreError(
                    400, "VALIDATION_ERROR", f"No default association between {obj} and {to_type}"
                )
            self.store.associate(obj, rid, to_type, to_id, type_id)
            started = self._now()
            spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
            return self._batch(
                [{"from": {"id": str(rid)}, "to": {"id": str(to_id)}, "associationSpec": spec}],
                [],
                started,
                200,
            )
        raw = await request.body()
        try:
            specs = orjson.loads(raw or b"[]")
        except orjson.JSONDecodeError as exc:
            raise StoreError(400, "VALIDATION_ERROR", f"Invalid input JSON: {exc}") from exc
        if not isinstance(specs, list) or not specs:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                "The body is a list of {associationCategory, associationTypeId}",
            )
        labels = []
        for spec in specs:
            spec_type = spec.get("associationTypeId") if isinstance(spec, dict) else None
            info = (
                schema.ASSOCIATION_TYPE_INFO.get(spec_type) if isinstance(spec_type, int) else None
            )
            if info is None or info[0] != obj or info[1] != to_type:
                raise StoreError(
                    400,
                    "VALIDATION_ERROR",
                    f"Invalid association type {spec_type!r} from {obj} to {to_type}",
                )
            self.store.associate(obj, rid, to_type, to_id, int(str(spec_type)))
            if info[2]:
                labels.append(info[2])
        return json_response(
            {
                "fromObjectTypeId": schema.OBJECT_TYPE_IDS[obj],
                "fromObjectId": str(rid),
                "toObjectTypeId": schema.OBJECT_TYPE_IDS[to_type],
                "toObjectId": str(to_id),
                "labels": labels,
            },
            201,
        )

    async def v4_labels(self, request: Request) -> Response:
        """GET /crm/v4/associations/{from}/{to}/labels: the association types between the pair
        (category, typeId, label; null for the unlabelled type)."""
        obj = object_type(request.path_params["fromObjectType"])
        to_type = object_type(request.path_params["toObjectType"])
        results = [
            {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label}
            for type_id, (src, dst, label, _inverse) in sorted(schema.ASSOCIATION_TYPE_INFO.items())
            if (src, dst) == (obj, to_type)
        ]
        return json_response({"results": results})

    async def v4_batch_default(self, request: Request) -> Response:
        """POST /crm/v4/associations/{from}/{to}/batch/associate/default: unlabelled associations
        for each {from: {id}, to: {id}} input (the batch form of the PUT .../default/...)."""
        obj = object_type(request.path_params["fromObjectType"])
        to_type = object_type(request.path_params["toObjectType"])
        type_id = schema.DEFAULT_ASSOCIATION_TYPE.get((obj, to_type))
        if type_id is None:
            raise StoreError(
                400, "VALIDATION_ERROR", f"No default association between {obj} and {to_type}"
            )
        started = self._now()
        # The cap HubSpot documents for v4 batch reads, applied to this batch too.
        inputs = batch_inputs(await read_body(request), V4_BATCH_READ_MAX)
        spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
        results, errors = [], []
        for item in inputs:
            src, dst = item.get("from"), item.get("to")
            raw_from = src.get("id") if isinstance(src, dict) else None
            raw_to = dst.get("id") if isinstance(dst, dict) else None
            if raw_from is None or raw_to is None:
                raise StoreError(400, "VALIDATION_ERROR", "each input needs from.id and to.id")
            rid = self.store.resolve_id(obj, raw_from)
            to_id = self.store.resolve_id(to_type, raw_to)
            if rid is None or to_id is None:
                errors.append(
                    standard_error(
                        "OBJECT_NOT_FOUND",
                        "One of the records to associate does not exist",
                        {"fromObjectId": [str(raw_from)], "toObjectId": [str(raw_to)]},
                    )
                )
                continue
            self.store.associate(obj, rid, to_type, to_id, type_id)
            results.append(
                {"from": {"id": str(rid)}, "to": {"id": str(to_id)}, "associationSpec": spec}
            )
        return self._batch(results, errors, started, 200)

    # -- owners --------------------------------------------------------------------------------

    async def owners(self, request: Request) -> Response:
        limit = min(max(int_param(request, "limit", 100), 1), OWNERS_MAX)
        page = self.store.directory.owners(
            after=after_param(request),
            limit=limit,
            email=request.query_params.get("email"),
            archived=bool_param(request, "archived"),
        )
        return json_response(self._collection(request, page))

    async def owner(self, request: Request) -> Response:
        raw = request.path_params["ownerId"]
        try:
            oid = int(raw)
        except ValueError as exc:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find owner {raw}") from exc
        found = self.store.directory.owner(
            oid,
            request.query_params.get("idProperty") == "userId",
            bool_param(request, "archived"),
        )
        if found is None:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find owner {raw}")
        return json_response(found)

    # -- admin (tests only; outside every HubSpot path) ----------------------------------------

    async def admin_merge(self, request: Request) -> Response:
        body = await read_body(request)
        obj = object_type(str(body.get("objectType", "")))
        return await self._merge(obj, body)

    async def admin_limits(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.limiter.configure(await read_body(request), self.token)
            except (ValueError, TypeError) as exc:
                raise StoreError(400, "VALIDATION_ERROR", str(exc)) from exc
        return json_response(self.limiter.state())

    async def admin_summary(self, request: Request) -> Response:
        return json_response(
            {
                "portalId": self.store.db.portal_id,
                "objects": self.store.db.counts(),
                "rateLimits": self.limiter.state(),
            }
        )

    def routes(self) -> list[Route]:
        a = self.api
        v3, v4 = "/crm/v3", "/crm/v4"
        return [
            # Before the stored types' routes: the types the portal holds no records of, and the
            # legacy (v1 / v2) endpoints older connectors still call.
            *standard.routes(self.store, a),
            *legacy.routes(self.store, self.token, a),
            *account.routes(self.store, self.base_url, a),
            *record_pages.hubspot_routes(self.store),
            Route(f"{v3}/objects/{{objectType}}", a(self.list_objects), methods=["GET"]),
            Route(f"{v3}/objects/{{objectType}}", a(self.create_object), methods=["POST"]),
            Route(f"{v3}/objects/{{objectType}}/search", a(self.search), methods=["POST"]),
            Route(f"{v3}/objects/{{objectType}}/merge", a(self.merge), methods=["POST"]),
            Route(f"{v3}/objects/{{objectType}}/batch/{{op}}", a(self.batch), methods=["POST"]),
            Route(f"{v3}/objects/{{objectType}}/{{objectId}}", a(self.get_object), methods=["GET"]),
            Route(
                f"{v3}/objects/{{objectType}}/{{objectId}}",
                a(self.update_object),
                methods=["PATCH"],
            ),
            Route(
                f"{v3}/objects/{{objectType}}/{{objectId}}",
                a(self.archive_object),
                methods=["DELETE"],
            ),
            Route(f"{v3}/properties/{{objectType}}", a(self.properties), methods=["GET", "POST"]),
            Route(
                f"{v3}/properties/{{objectType}}/groups", a(self.groups), methods=["GET", "POST"]
            ),
            Route(
                f"{v3}/properties/{{objectType}}/groups/{{groupName}}",
                a(self.group),
                methods=["GET", "PATCH", "DELETE"],
            ),
            Route(
                f"{v3}/properties/{{objectType}}/batch/{{op}}",
                a(self.property_batch),
                methods=["POST"],
            ),
            Route(
                f"{v3}/properties/{{objectType}}/{{propertyName}}",
                a(self.property),
                methods=["GET", "PATCH", "DELETE"],
            ),
            Route(f"{v3}/pipelines/{{objectType}}", a(self.pipelines), methods=["GET"]),
            Route(
                f"{v3}/pipelines/{{objectType}}/{{pipelineId}}", a(self.pipeline), methods=["GET"]
            ),
            Route(
                f"{v3}/pipelines/{{objectType}}/{{pipelineId}}/stages",
                a(self.stages),
                methods=["GET"],
            ),
            Route(
                f"{v3}/pipelines/{{objectType}}/{{pipelineId}}/stages/{{stageId}}",
                a(self.stage),
                methods=["GET"],
            ),
            Route(
                f"{v4}/objects/{{objectType}}/{{objectId}}/associations/{{toObjectType}}",
                a(self.v4_associations),
                methods=["GET"],
            ),
            Route(
                f"{v4}/objects/{{objectType}}/{{objectId}}/associations/default/"
                f"{{toObjectType}}/{{toObjectId}}",
                a(self.v4_put),
                methods=["PUT"],
            ),
            Route(
                f"{v4}/objects/{{objectType}}/{{objectId}}/associations/{{toObjectType}}/"
                f"{{toObjectId}}",
                a(self.v4_put),
                methods=["PUT", "DELETE"],
            ),
            Route(
                f"{v4}/associations/{{fromObjectType}}/{{toObjectType}}/batch/read",
                a(self.v4_batch_read),
                methods=["POST"],
            ),
            Route(
                f"{v4}/associations/{{fromObjectType}}/{{toObjectType}}/batch/associate/default",
                a(self.v4_batch_default),
                methods=["POST"],
            ),
            Route(
                f"{v4}/associations/{{fromObjectType}}/{{toObjectType}}/labels",
                a(self.v4_labels),
                methods=["GET"],
            ),
            Route(f"{v3}/owners", a(self.owners), methods=["GET"]),
            Route(f"{v3}/owners/", a(self.owners), methods=["GET"]),
            Route(f"{v3}/owners/{{ownerId}}", a(self.owner), methods=["GET"]),
            Route(f"{ADMIN_PREFIX}/hubspot/merge", a(self.admin_merge), methods=["POST"]),
            Route(
                f"{ADMIN_PREFIX}/hubspot/rate-limits", a(self.admin_limits), methods=["GET", "POST"]
            ),
            Route(f"{ADMIN_PREFIX}/hubspot/summary", a(self.admin_summary), methods=["GET"]),
            *self.faults.admin_routes(),
        ]


def create_app(
    db_path: Path,
    *,
    base_url: str,
    access_token: str,
    faults: FaultInjector,
    seed: DemoOrg | None = None,
    tier: str = "professional",
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The HubSpot sandbox app over the portal in `db_path` (seeded from `seed` when new)."""
    store = HubSpotStore(Path(db_path), clock=clock)
    if store.db.is_new and seed is not None:
        store.seeder.load_seed(seed)
    store.db.ensure_indexes()
    limiter = RateLimiter(tier, clock=clock)
    sandbox = HubSpotSandbox(store, limiter, faults, base_url, access_token)
    faults.on("exhaust_limit", lambda: limiter.exhaust_daily(access_token))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}"
        else:
            message = f"No endpoint at {request.method} {request.url.path}"
        body = error_body(
            CATEGORY_BY_STATUS.get(exc.status_code, "OBJECT_NOT_FOUND"),
            message,
            correlation_id(request),
        )
        return json_response(body, exc.status_code)

    async def server_error(request: Request, exc: Exception) -> Response:
        body = error_body(
            "INTERNAL_ERROR", f"internal error: {type(exc).__name__}", correlation_id(request)
        )
        return json_response(body, 500)

    app = Starlette(
        routes=sandbox.routes(),
        middleware=[
            Middleware(_FreshDate),
            Middleware(_Faults, injector=faults),
            Middleware(_Gate, token=access_token, limiter=limiter),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.hubspot = sandbox
    return app
