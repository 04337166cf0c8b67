"""Fault injection and call accounting for the sandbox servers (tests only; never product code).

Each sandbox server wraps its ASGI app with a `FaultInjector`. The injector

- counts every request to the real API paths (method, path, status), readable through the admin
  API, so tests can assert API usage from outside the client;
- applies scripted faults before the vendor routes run: a status code (with `Retry-After`),
  latency, or a connection dropped half-way through the response body;
- hands per-record rejections to the vendor code (`take_rejection`), which fails that record
  the way the vendor's API would;
- runs vendor hooks on demand (`expire_sessions`, `exhaust_limit`);
- keeps a write log: how many times each record was written (`record_writes`, called by the
  vendor code for every record a write applied), so a test can tell a record written twice.

The admin API lives under `/__sandbox__/`, outside every path the real APIs use:

    GET    /__sandbox__/faults            the scripted rules still armed
    POST   /__sandbox__/faults            arm rules: {"rules": [rule, ...]} or one rule object
    DELETE /__sandbox__/faults            disarm all rules
    GET    /__sandbox__/calls             {"total": n, "by_route": {"GET /path": n}, "calls": [...]}
    DELETE /__sandbox__/calls             reset the call log
    GET    /__sandbox__/writes            {"total": n, "by_record": {"Account/001…": n}}
    DELETE /__sandbox__/writes            reset the write log
    POST   /__sandbox__/hooks/{name}      run a vendor hook now (expire_sessions, exhaust_limit)

A rule (all keys optional but `kind`):

    {"kind": "status" | "latency" | "drop" | "reject",
     "method": "GET", "path": "regex matched against the request path (search)",
     "skip": 0,          # let this many matching requests through first
     "times": 1,         # apply to this many matching requests (-1: until disarmed)
     "status": 503, "retry_after": 2, "message": "...",         # kind=status
     "latency_ms": 250,                                           # kind=latency
     "after_bytes": 100,                                          # kind=drop: bytes sent first
     "object": "Account", "record_ids": ["001..."],               # kind=reject (None: any record)
     "error_code": "UNABLE_TO_LOCK_ROW"}                          # kind=reject
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_PREFIX = "/__sandbox__"
MAX_CALLS_KEPT = 100_000

ErrorResponse = Callable[[int, str, float | None], Response]


class FaultRule(BaseModel):
    """One scripted fault, as armed through the admin API."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["status", "latency", "drop", "reject"]
    method: str | None = None
    path: str = ".*"
    skip: int = Field(0, ge=0)
    times: int = Field(1, ge=-1)
    status: int = Field(503, ge=400, le=599)
    retry_after: float | None = Field(None, ge=0)
    message: str | None = None
    latency_ms: int = Field(0, ge=0, le=120_000)
    after_bytes: int | None = Field(None, ge=0)
    object: str | None = None
    record_ids: list[str] | None = None
    error_code: str = "UNABLE_TO_LOCK_ROW"

    def matches_request(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None

    def matches_record(self, object_name: str, record_id: str | None) -> bool:
        if self.object and self.object.lower() != object_name.lower():
            return False
        return self.record_ids is None or (record_id is not None and record_id in self.record_ids)


@dataclass
class _Armed:
    rule: FaultRule
    skipped: int = 0
    applied: int = 0

    def take(self) -> bool:
        """Count one match; True when the fault applies to it."""
        if self.skipped < self.rule.skip:
            self.skipped += 1
            return False
        self.applied += 1
        return True

    @property
    def spent(self) -> bool:
        return self.rule.times != -1 and self.applied >= self.rule.times


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    status: int


class DroppedConnection(Exception):
    """Raised inside the ASGI app to make the server cut the connection mid-response."""


@dataclass
class FaultInjector:
    """Scripted faults and call accounting for one sandbox server."""

    error_response: ErrorResponse
    _rules: list[_Armed] = field(default_factory=list)
    _calls: list[Call] = field(default_factory=list)
    _total: int = 0
    _by_route: Counter[str] = field(default_factory=Counter)
    _writes: Counter[str] = field(default_factory=Counter)
    _hooks: dict[str, Callable[[], None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- vendor side -------------------------------------------------------------------------

    def on(self, hook: str, fn: Callable[[], None]) -> None:
        """Register a vendor hook the admin API can run (expire_sessions, exhaust_limit)."""
        self._hooks[hook] = fn

    def take_rejection(self, object_name: str, record_id: str | None) -> tuple[str, str] | None:
        """(error_code, message) when a scripted rule rejects this record, else None."""
        with self._lock:
            for armed in self._rules:
                rule = armed.rule
                if rule.kind == "reject" and rule.matches_record(object_name, record_id):
                    if not armed.take():
                        continue
                    self._prune()
                    return rule.error_code, rule.message or "record rejected by the sandbox"
        return None

    def record_writes(self, object_name: str, record_ids: list[str]) -> None:
        """Count one applied write of each record (object type as the API names it)."""
        with self._lock:
            self._writes.update(f"{object_name}/{rid}" for rid in record_ids)

    def arm(self, *rules: FaultRule) -> None:
        with self._lock:
            self._rules.extend(_Armed(r) for r in rules)

    def disarm(self) -> None:
        with self._lock:
            self._rules.clear()

    # -- middleware --------------------------------------------------------------------------

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """The vendor app behind call accounting and request-level faults."""

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
                await app(scope, receive, send)
                return
            method, path = scope["method"], scope["path"]
            status_seen = 0

            async def counting_send(message: Message) -> None:
                nonlocal status_seen
                if message["type"] == "http.response.start":
                    status_seen = message["status"]
                await send(message)

            try:
                rules = self._request_rules(method, path)
                for rule in rules:
                    if rule.kind == "latency":
                        await asyncio.sleep(rule.latency_ms / 1000)
                status_rule = next((r for r in rules if r.kind == "status"), None)
                drop_rule = next((r for r in rules if r.kind == "drop"), None)
                if status_rule is not None:
                    response = self.error_response(
                        status_rule.status,
                        status_rule.message or "fault injected by the sandbox",
                        status_rule.retry_after,
                    )
                    if status_rule.retry_after is not None:
                        response.headers["Retry-After"] = _retry_after(status_rule.retry_after)
                    await response(scope, receive, counting_send)
                elif drop_rule is not None:
                    # The server closes a connection whose response never completed.
                    with contextlib.suppress(DroppedConnection):
                        await app(
                            scope, receive, _dropping_send(counting_send, drop_rule.after_bytes)
                        )
                else:
                    await app(scope, receive, counting_send)
            finally:
                self._record(
                    Call(method, path, scope.get("query_string", b"").decode(), status_seen)
                )

        return middleware

    def _request_rules(self, method: str, path: str) -> list[FaultRule]:
        with self._lock:
            hits = [
                a.rule
                for a in self._rules
                if a.rule.kind != "reject" and a.rule.matches_request(method, path) and a.take()
            ]
            self._prune()
        return hits

    def _prune(self) -> None:
        self._rules = [a for a in self._rules if not a.spent]

    def _record(self, call: Call) -> None:
        with self._lock:
            self._total += 1
            self._by_route[f"{call.method} {call.path}"] += 1
            if len(self._calls) < MAX_CALLS_KEPT:
                self._calls.append(call)

    # -- admin API ---------------------------------------------------------------------------

    def admin_routes(self) -> list[Route]:
        return [
            Route(
                f"{ADMIN_PREFIX}/faults", self._faults_endpoint, methods=["GET", "POST", "DELETE"]
            ),
            Route(f"{ADMIN_PREFIX}/calls", self._calls_endpoint, methods=["GET", "DELETE"]),
            Route(f"{ADMIN_PREFIX}/writes", self._writes_endpoint, methods=["GET", "DELETE"]),
            Route(f"{ADMIN_PREFIX}/hooks/{{name}}", self._hook_endpoint, methods=["POST"]),
        ]

    def calls_summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "by_route": dict(self._by_route),
                "calls": [c.__dict__ for c in self._calls],
            }

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()
            self._by_route.clear()
            self._total = 0

    async def _faults_endpoint(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.disarm()
            return JSONResponse({"rules": []})
        if request.method == "POST":
            try:
                payload = await request.json()
                raw = (
                    payload["rules"]
                    if isinstance(payload, dict) and "rules" in payload
                    else (payload if isinstance(payload, list) else [payload])
                )
                rules = [FaultRule.model_validate(r) for r in raw]
                for r in rules:
                    re.compile(r.path)
            except (ValueError, KeyError, TypeError, ValidationError, re.error) as exc:
                return JSONResponse({"error": f"bad fault rule: {exc}"}, status_code=400)
            self.arm(*rules)
        with self._lock:
            armed = [a.rule.model_dump(exclude_none=True) for a in self._rules]
        return JSONResponse({"rules": armed})

    async def _calls_endpoint(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.reset_calls()
        return JSONResponse(self.calls_summary())

    async def _writes_endpoint(self, request: Request) -> Response:
        with self._lock:
            if request.method == "DELETE":
                self._writes.clear()
            return JSONResponse(
                {"total": sum(self._writes.values()), "by_record": dict(self._writes)}
            )

    async def _hook_endpoint(self, request: Request) -> Response:
        name = request.path_params["name"]
        hook = self._hooks.get(name)
        if hook is None:
            return JSONResponse(
                {"error": f"no hook {name!r}; known: {sorted(self._hooks)}"}, status_code=404
            )
        hook()
        return JSONResponse({"ran": name})


def _retry_after(seconds: float) -> str:
    # Retry-After is whole seconds on the wire (RFC 9110); round up so clients never come early.
    whole = int(seconds)
    return str(whole if whole == seconds else whole + 1)


def _dropping_send(send: Send, after_bytes: int | None) -> Send:
    """A `send` that delivers the headers and part of the body, then cuts the connection."""
    started: Message | None = None
    body = bytearray()

    async def dropping(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = message
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        body.extend(message.get("body", b""))
        if message.get("more_body", False):
            return
        assert started is not None
        headers = [(k, v) for k, v in started["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**started, "headers": headers})
        cut = len(body) // 2 if after_bytes is None else min(after_bytes, max(len(body) - 1, 0))
        await send({"type": "http.response.body", "body": bytes(body[:cut]), "more_body": True})
        raise DroppedConnection(f"sandbox fault: connection dropped after {cut} bytes")

    return dropping
