"""What every REST / Bulk handler sees: the API versions, one authenticated call and the
sandbox state it may read.

The handlers (rest.py, bulk.py, bulk1.py) are given the state as `SandboxState`, so they never
import the app that routes to them (app.py imports them, not the other way round).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response

from acm_sync.sandbox.faults import FaultInjector
from acm_sync.sandbox.salesforce.auth import Session, Sessions
from acm_sync.sandbox.salesforce.common import SfError, json_response
from acm_sync.sandbox.salesforce.cursors import Cursors
from acm_sync.sandbox.salesforce.org import Org

MIN_VERSION, MAX_VERSION = 31, 62
_SEASONS = ("Summer", "Winter", "Spring")


def api_versions() -> list[dict[str, str]]:
    """GET /services/data/: the versions this org answers, oldest first."""
    out = []
    for v in range(MIN_VERSION, MAX_VERSION + 1):
        k = v - MIN_VERSION  # v31.0 was Summer '14
        out.append(
            {
                "label": f"{_SEASONS[k % 3]} '{14 + (k + 2) // 3:02d}",
                "url": f"/services/data/v{v}.0",
                "version": f"{v}.0",
            }
        )
    return out


class SandboxState(Protocol):
    """The part of the sandbox (app.SalesforceSandbox) the request handlers use."""

    org: Org
    cursors: Cursors
    sessions: Sessions
    faults: FaultInjector
    clock: Callable[[], datetime]
    daily_api_limit: int

    def limit_info(self) -> str: ...


class Call:
    """One authenticated REST / Bulk request, as the handlers see it."""

    def __init__(self, request: Request, version: str, parts: list[str], session: Session):
        self.request = request
        self.version = version
        self.parts = parts
        self.session = session
        self.pretty = request.headers.get("x-prettyprint", "") not in ("", "0", "false")

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def user_id(self) -> str:
        return self.session.user_id

    @property
    def prefix(self) -> str:
        return f"/services/data/v{self.version}"

    async def json_body(self) -> Any:
        body = await self.request.body()
        if not body.strip():
            raise SfError(400, "JSON_PARSER_ERROR", "The request body is empty.")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SfError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None

    def respond(self, data: Any, status: int = 200) -> Response:
        return json_response(data, status, pretty=self.pretty)


def allow(call: Call, *methods: str) -> None:
    if call.method not in methods:
        raise SfError(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{call.method}' not allowed. Allowed are {','.join(methods)}",
            headers={"Allow": ", ".join(methods)},
        )
