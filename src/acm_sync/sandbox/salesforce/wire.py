"""Response header names as Salesforce sends them over HTTP/1.1: canonical casing.

Starlette (and uvicorn's own `date` / `server` headers) name every header in lower case. That
is legal HTTP, but the real API answers `Content-Type`, `Sforce-Limit-Info`,
`Sforce-NumberOfRecords`, … and some clients read headers from a plain dict, case-sensitively
(the Airbyte CDK's bulk-results reader looks for `content-type` and mis-parses the value when it
finds it). This layer re-cases the names on the way out. The Salesforce server runs uvicorn's h11
protocol, which writes header names exactly as the app gives them (its httptools protocol would
lower-case them again), with uvicorn's own lower-case `date` / `server` switched off: `Date` is
added here instead.
"""

from __future__ import annotations

from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Names whose casing is not plain Title-Case-Per-Word, as the real API spells them.
_SPECIAL = {
    b"sforce-numberofrecords": b"Sforce-NumberOfRecords",
    b"www-authenticate": b"WWW-Authenticate",
    b"etag": b"ETag",
    b"x-sfdc-request-id": b"X-SFDC-Request-Id",
    b"x-content-type-options": b"X-Content-Type-Options",
    b"x-xss-protection": b"X-XSS-Protection",
}


def canonical_name(name: bytes) -> bytes:
    """`content-type` → `Content-Type`; names with vendor casing from the table above."""
    lower = name.lower()
    special = _SPECIAL.get(lower)
    if special is not None:
        return special
    return b"-".join(part[:1].upper() + part[1:] for part in lower.split(b"-"))


class CanonicalHeaders:
    """ASGI middleware: canonical header names (and a `Date` header) on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_canonical(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(canonical_name(k), v) for k, v in message.get("headers", [])]
                if not any(k == b"Date" for k, _ in headers):
                    headers.insert(0, (b"Date", formatdate(usegmt=True).encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_canonical)
