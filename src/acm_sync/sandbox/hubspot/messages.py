"""Request parsing and response shapes every HubSpot handler shares (app.py, standard.py,
legacy.py): HubSpot's error and batch bodies, query parameters, JSON bodies, batch inputs.

The handler modules import this, never the app that routes to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from acm_sync.sandbox.hubspot import schema
from acm_sync.sandbox.hubspot.errors import StoreError
from acm_sync.sandbox.hubspot.propdefs import OBJECTS

JSON = "application/json;charset=utf-8"
BATCH_MAX = 100
V4_BATCH_READ_MAX = 1000  # HubSpot documents 1,000 inputs for v4 association batch reads
LIST_MAX = 100
HISTORY_LIST_MAX = 50
ASSOC_MAX = 500
OWNERS_MAX = 500
CATEGORY_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    405: "VALIDATION_ERROR",
    409: "CONFLICT",
    415: "VALIDATION_ERROR",
    423: "LOCKED",
    429: "RATE_LIMITS",
}
RATE_LIMIT_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "DAILY": "You have reached your daily limit.",
    "SECONDLY": "You have reached your secondly limit.",
}

Handler = Callable[[Request], Awaitable[Response]]


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON)


def error_body(category: str, message: str, correlation_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id,
        "category": category,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def rate_limit_body(policy: str, correlation_id: str, portal_id: int = 46123987) -> dict[str, Any]:
    """HubSpot's 429 body for one policy (TEN_SECONDLY_ROLLING, DAILY, SECONDLY)."""
    group = {
        "TEN_SECONDLY_ROLLING": f"publicapi:private-app:ten-secondly-rolling:{portal_id}",
        "DAILY": f"publicapi:private-app:daily:{portal_id}",
        "SECONDLY": f"publicapi:crm-search:secondly:{portal_id}",
    }[policy]
    return {
        "status": "error",
        "message": RATE_LIMIT_MESSAGES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id,
        "policyName": policy,
        "groupName": group,
    }


def error_response(status: int, message: str, retry_after: float | None = None) -> Response:
    """A HubSpot-shaped error (the FaultInjector's scripted status faults use it)."""
    cid = str(uuid.uuid4())
    if status == 429:
        body = rate_limit_body("TEN_SECONDLY_ROLLING", cid)
        if message and message != "fault injected by the sandbox":
            body["message"] = message
    else:
        category = CATEGORY_BY_STATUS.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")
        body = error_body(category, message, cid)
    response = json_response(body, status)
    response.headers["X-HubSpot-Correlation-Id"] = cid
    return response


def correlation_id(request: Request) -> str:
    return str(getattr(request.state, "correlation_id", "")) or str(uuid.uuid4())


def object_type(raw: str) -> str:
    text = raw.strip().lower()
    if text in OBJECTS:
        return text
    if text in schema.OBJECT_TYPES_BY_ID:
        return schema.OBJECT_TYPES_BY_ID[text]
    for plural, singular in schema.SINGULAR.items():
        if text == singular:
            return plural
    raise StoreError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {raw}")


def list_param(request: Request, name: str) -> list[str]:
    out: list[str] = []
    for value in request.query_params.getlist(name):
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def bool_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0", ""):
        return False
    raise StoreError(400, "VALIDATION_ERROR", f"Invalid value {raw!r} for {name}: true or false")


def int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise StoreError(
            400, "VALIDATION_ERROR", f"Invalid value {raw!r} for {name}: an integer is required"
        ) from exc


def after_param(request: Request) -> int:
    raw = request.query_params.get("after")
    if raw is None or raw == "":
        return 0
    try:
        return int(raw)
    except ValueError as exc:
        raise StoreError(400, "VALIDATION_ERROR", f"Invalid paging cursor after={raw!r}") from exc


async def read_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        raise StoreError(400, "VALIDATION_ERROR", "Invalid input JSON: the request body is empty")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StoreError(400, "VALIDATION_ERROR", f"Invalid input JSON on line 1: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreError(
            400, "VALIDATION_ERROR", "Invalid input JSON: the request body must be a JSON object"
        )
    return data


def batch_inputs(body: dict[str, Any], limit: int = BATCH_MAX) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise StoreError(
            400, "VALIDATION_ERROR", "Invalid input JSON: `inputs` must be a list of objects"
        )
    if len(inputs) > limit:
        raise StoreError(
            400,
            "VALIDATION_ERROR",
            f"Batch input size {len(inputs)} exceeds the limit of {limit} inputs per request",
            context={"inputs": [str(len(inputs))]},
        )
    return inputs


def standard_error(
    category: str, message: str, context: dict[str, list[str]], sub_category: str | None = None
) -> dict[str, Any]:
    """One entry of a batch answer's `errors`: `status`, `category`, `subCategory` (only when
    there is one), `message`, `context`, in that order; no `errors`, `links` or `id`.

    HubSpot's published spec (HubSpot/HubSpot-public-api-spec-collection, e.g.
    PublicApiSpecs/CRM/Objects/Rollouts/424/v3/objects.json, schema StandardError) lists
    `errors` and `links` as required, but the bodies live portals send carry neither:
    - HubSpot's own docs, developers.hubspot.com/docs/api-reference/error-handling
      ("Multi-status errors", a batch create 207): the entry is {status, category, message,
      context: {objectWriteTraceId: [...]}};
    - github.com/HubSpot/hubspot-api-ruby/issues/403 (a 207 from
      /crm/v3/objects/<type>/batch/upsert, printed by the client's debug log): an entry that
      opens {status, category, message, …};
    - a public PHP test fixture of a contacts batch/read by email (OHM
      `HubSpotContactServiceTest::CONTACT_NOT_FOUND`, 2024-04-24): {status, category, message,
      context: {ids: [...]}};
    - a public integration script's docstring `:sample:` of a live
      POST /crm/v3/associations/deal/company/batch/read answer (2025-03-25) and a public
      project's API notes on POST /crm/v4/associations/deals/companies/batch/read: {status,
      category, subCategory: crm.associations.NO_ASSOCIATIONS_FOUND, message, context:
      {fromObjectId, fromObjectType, toObjectType}}.
    No source shows `requestedAt` or `links` on the answer itself either (`batch_response`).
    The official client's StandardError rejects these only with `client_side_validation=True`,
    which is not its default: against real HubSpot a strict client fails on any 207 too.
    """
    error: dict[str, Any] = {"status": "error", "category": category}
    if sub_category:
        error["subCategory"] = sub_category
    error["message"] = message
    error["context"] = context
    return error


def object_not_found(raw_id: str, message: str = "") -> StoreError:
    """404 for one record of `/crm/v3/objects/{type}/{id}` (GET, PATCH): the message HubSpot
    sends and the id as asked for in `context.id`.

    The live body carries `context` between `correlationId` and `category`: a probe of a live
    portal (github.com/Luigi08001/hscli, docs/TESTING/PORTAL-147975758-COVERAGE.md, 2026-04-21:
    `GET /crm/objects/v3/{objectType}/{objectId}` -> 404 `{"status":"error","message":"Object
    not found. …","correlationId":"…","context…`); its content is `{"id": ["<the id sent>"]}`
    in a public integration test asserting a live `PATCH /crm/v3/objects/contacts/{uuid}` 404
    body (`context: {id: [fakeID]}`, category OBJECT_NOT_FOUND) and in a HubSpot tool's notes
    ("Object not found. objectId are usually numeric" with `"id":["undefined"]`). HubSpot's
    published OpenAPI spec (HubSpot/HubSpot-public-api-spec-collection,
    PublicApiSpecs/CRM/Objects/Rollouts/424/v3/objects.json, schema Error) declares `context`
    as a map of string lists, as hubspot-api-client's `Error.context` (dict(str, list[str])).
    """
    return StoreError(
        404,
        "OBJECT_NOT_FOUND",
        message or "Object not found.  objectId are usually numeric.",
        context={"id": [raw_id]},
    )


def no_associations(from_type: str, from_id: str, to_type: str) -> dict[str, Any]:
    """The batch error for a record with no associations of `to_type` (singular names)."""
    return standard_error(
        "OBJECT_NOT_FOUND",
        f"No {to_type} is associated with {from_type} {from_id}.",
        {
            "fromObjectId": [from_id],
            "fromObjectType": [from_type],
            "toObjectType": [to_type],
        },
        sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
    )


def batch_response(
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    started: str,
    completed: str,
    ok_status: int,
) -> Response:
    """A batch answer: `ok_status` when every input succeeded, 207 with `errors` otherwise."""
    # Keys in the order the bodies in `standard_error`'s sources show them: status, results,
    # numErrors, errors, startedAt, completedAt (no requestedAt, no links).
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body["startedAt"] = started
    body["completedAt"] = completed
    return json_response(body, 207 if errors else ok_status)
