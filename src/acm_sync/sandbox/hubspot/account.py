"""`GET /account-info/v3/details`: the portal's account details, as HubSpot's account
information API answers them (portalId, accountType, timeZone, companyCurrency,
additionalCurrencies, utcOffset, utcOffsetMilliseconds, uiDomain, dataHostingLocation).

`uiDomain` is where the portal's UI lives: app.hubspot.com for a real portal, the sandbox's own
host here (it serves the record pages, see `acm_sync.sandbox.record_pages`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]
PATH = "/account-info/v3/details"


def details(portal_id: int, base_url: str) -> dict[str, Any]:
    return {
        "portalId": portal_id,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18_000_000,
        "uiDomain": urlsplit(base_url).netloc,
        "dataHostingLocation": "na1",
    }


def routes(store: Any, base_url: str, api: Callable[[Handler], Handler]) -> list[Route]:
    async def account_details(request: Request) -> Response:
        return Response(
            orjson.dumps(details(store.db.portal_id, base_url)), media_type="application/json"
        )

    return [Route(PATH, api(account_details), methods=["GET"])]
