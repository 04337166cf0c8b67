"""The Salesforce sandbox as a Starlette app: login (SOAP, OAuth 2.0), REST, Bulk API 2.0.

    POST /services/Soap/u/{version}            SOAP login()
    POST /services/oauth2/token                password / client_credentials grants
    GET  /services/oauth2/userinfo             the logged-in user
    GET  /services/data/                       the API versions (31.0 - 62.0)
         /services/data/vXX.X/...              REST resources (rest.py) and jobs/ (bulk.py)
         /__sandbox__/...                      admin API (faults, calls, hooks, limits, merge)

Every REST / Bulk request (not login, not the version list, not the admin API) counts one
against DailyApiRequests and answers `Sforce-Limit-Info: api-usage=N/M`; once the day's
allocation is spent the API answers 403 REQUEST_LIMIT_EXCEEDED.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from acm_sync.sandbox import record_pages
from acm_sync.sandbox.faults import ADMIN_PREFIX, FaultInjector
from acm_sync.sandbox.salesforce import bulk, rest, soap
from acm_sync.sandbox.salesforce.auth import (
    SalesforceCredentials,
    Session,
    Sessions,
    token_endpoint,
)
from acm_sync.sandbox.salesforce.bulk1 import Bulk1
from acm_sync.sandbox.salesforce.calls import MAX_VERSION, MIN_VERSION, Call, allow, api_versions
from acm_sync.sandbox.salesforce.common import (
    SfError,
    error_response,
    json_response,
    not_found,
)
from acm_sync.sandbox.salesforce.cursors import Cursors
from acm_sync.sandbox.salesforce.org import Org
from acm_sync.sandbox.salesforce.schema import SOBJECTS
from acm_sync.sandbox.salesforce.validation import RecordFailed
from acm_sync.sandbox.salesforce.wire import CanonicalHeaders

if TYPE_CHECKING:
    from acm_sync.sandbox.generator import DemoOrg

__all__ = ["SalesforceCredentials", "SalesforceSandbox", "create_app", "error_response"]

log = logging.getLogger(__name__)

_VERSION = re.compile(r"^v(\d{2})\.0$")


class SalesforceSandbox:
    """The state behind the app: the org, sessions, query cursors, limits."""

    def __init__(
        self,
        db_path: Path,
        *,
        instance_url: str,
        credentials: SalesforceCredentials,
        faults: FaultInjector,
        seed: DemoOrg | None,
        daily_api_limit: int,
        session_ttl_s: float,
        clock: Callable[[], datetime] | None,
        set_audit_fields: bool | None = None,
    ) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.credentials = credentials
        self.faults = faults
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.org = Org(db_path, clock=self.clock)
        if self.org.file.is_new:
            started = time.perf_counter()
            if seed is not None:
                self.org.seeder.load_frames(seed.salesforce, admin_username=credentials.username)
            else:
                self.org.seeder.finish_init(credentials.username)
            log.info("salesforce sandbox initialised in %.1fs", time.perf_counter() - started)
        self.user_id = self.org.seeder.ensure_user(credentials.username)
        self.org.seeder.ensure_organization()
        if set_audit_fields is not None:  # the org's permission, kept with it until changed
            self.org.file.set_audit_fields_settable(set_audit_fields)
        self.daily_api_limit = daily_api_limit
        self.session_ttl_s = session_ttl_s
        self.sessions = Sessions(
            self.org.org_id, session_ttl_s, clock=lambda: self.clock().timestamp()
        )
        self.cursors = Cursors(clock=lambda: self.clock().timestamp())
        self.bulk1 = Bulk1(self)
        faults.on("expire_sessions", self.sessions.expire_all)
        faults.on("exhaust_limit", lambda: self.org.usage.set_used(self.daily_api_limit))

    # -- entry point -------------------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        try:
            return await self._dispatch(request)
        except SfError as exc:
            return exc.response()
        except RecordFailed as exc:
            return json_response([exc.error.rest()], 400)
        except Exception:
            log.exception(
                "salesforce sandbox: unexpected error on %s %s", request.method, request.url.path
            )
            return json_response(
                [
                    {
                        "message": "An unexpected error occurred. Please include this "
                        "ErrorId if you contact support: 0-sandbox",
                        "errorCode": "UNKNOWN_EXCEPTION",
                    }
                ],
                500,
            )

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["services", "Soap"] and len(parts) >= 4 and parts[2] == "u":
            if request.method != "POST":
                return soap.soap_fault(
                    "INVALID_OPERATION", "SOAP requests must be POSTed", status=405
                )
            return await self._soap(request, version=parts[3])
        if parts[:2] == ["services", "async"] and len(parts) >= 3:
            return await self.bulk1.handle(request, parts[2], parts[3:])
        if parts[:2] == ["services", "oauth2"] and len(parts) == 3:
            return await self._oauth(request, parts[2])
        if parts[:1] == ["id"] and len(parts) == 3:
            # The identity URL takes the token as a header or as ?oauth_token=.
            token = request.query_params.get("oauth_token", "")
            session = self.sessions.get(token) if token else self._authenticate(request)
            if session is None:
                raise SfError(403, "Bad_OAuth_Token", "Bad_OAuth_Token")
            # Errors as the identity service names them: another org's URL, an unknown user.
            if parts[1] != self.org.org_id:
                raise SfError(403, "Wrong_Org", "Wrong_Org")
            if "Username" not in self.org.reader.user_info(parts[2]):
                raise SfError(404, "Bad_Id", "Bad_Id")
            return json_response(self._identity_document(parts[2], request))
        if parts[:2] == ["services", "data"]:
            if len(parts) == 2:
                if request.method != "GET":
                    raise SfError(
                        405,
                        "METHOD_NOT_ALLOWED",
                        f"HTTP Method '{request.method}' not allowed. Allowed are GET",
                    )
                return json_response(api_versions())
            m = _VERSION.match(parts[2])
            if not m or not MIN_VERSION <= int(m.group(1)) <= MAX_VERSION:
                raise not_found()
            session = self._authenticate(request)
            return await self._api(Call(request, parts[2][1:], parts[3:], session))
        raise not_found()

    async def _soap(self, request: Request, *, version: str) -> Response:
        body = await request.body()
        operation, fault = soap.parse_envelope(body)
        if operation is None:
            assert fault is not None
            return fault
        name = soap.operation_name(operation)
        if name == "login":
            return soap.soap_login(
                operation,
                version=version,
                credentials=self.credentials,
                sessions=self.sessions,
                user=self.org.reader.user_info(self.user_id),
                instance_url=self.instance_url,
                session_ttl_s=self.session_ttl_s,
            )
        session = self.sessions.get(soap.session_id(body))
        if session is None:
            return soap.soap_fault(
                "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
            )
        if name == "logout":
            # logout() ends the session of the SessionHeader (partner API; answers an empty
            # logoutResponse). jsforce's Connection#logout() sends it.
            self.sessions.revoke(soap.session_id(body))
            return soap.logout_response()
        if name != "merge":
            return soap.soap_fault(
                "INVALID_OPERATION",
                f"The sandbox's SOAP API supports login(), logout() and merge(), not {name}()",
            )
        if self.org.usage.used() >= self.daily_api_limit:
            return soap.soap_fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self.org.usage.count_call()
        try:
            object_name, master, dupes = soap.merge_request(operation)
            result = self.org.merge(object_name, master, dupes, session.user_id)
        except ValueError as exc:
            return soap.soap_fault("INVALID_FIELD", str(exc))
        except RecordFailed as exc:
            result = {
                "id": master,
                "success": False,
                "errors": [exc.error.collection()],
                "mergedRecordIds": [],
                "updatedRelatedIds": [],
            }
        return soap.merge_response(result)

    async def _oauth(self, request: Request, name: str) -> Response:
        if name == "token":
            if request.method != "POST":
                raise SfError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{request.method}' not allowed. Allowed are POST",
                )
            return await token_endpoint(
                request,
                credentials=self.credentials,
                sessions=self.sessions,
                user_id=self.user_id,
                instance_url=self.instance_url,
            )
        if name == "userinfo":
            return json_response(self._identity(self._authenticate(request)))
        if name == "revoke":
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            token = (form.get("token") or [request.query_params.get("token", "")])[-1]
            self.sessions.revoke(token)
            return Response(status_code=200)
        raise not_found()

    def _identity_document(self, user_id: str, request: Request) -> dict[str, Any]:
        """GET /id/{org}/{user}: the identity URL's own document (Salesforce Help, "Identity
        URLs": id, asserted_user, user_id, organization_id, username, nick_name,
        display_name, ..., urls with {version} unless ?version= names one), which is not the
        OpenID Connect userinfo shape of /services/oauth2/userinfo (sub, preferred_username)."""
        user = self.org.reader.user_info(user_id)
        org_id = self.org.org_id
        wanted = request.query_params.get("version", "")
        version = f"{MAX_VERSION}.0" if wanted == "latest" else wanted or "{version}"
        base = self.instance_url
        username = user.get("Username")
        return {
            "id": f"{base}/id/{org_id}/{user_id}",
            "asserted_user": True,
            "user_id": user_id,
            "organization_id": org_id,
            "username": username,
            "nick_name": (username or "").split("@")[0],
            "display_name": user.get("Name"),
            "email": user.get("Email"),
            "email_verified": True,
            "first_name": user.get("FirstName"),
            "last_name": user.get("LastName"),
            "timezone": "GMT",
            "photos": {
                "picture": f"{base}/profilephoto/005/F",
                "thumbnail": f"{base}/profilephoto/005/T",
            },
            "addr_street": None,
            "addr_city": None,
            "addr_state": None,
            "addr_country": None,
            "addr_zip": None,
            "mobile_phone": None,
            "mobile_phone_verified": False,
            "is_lightning_login_user": False,
            "status": {"created_date": None, "body": None},
            "urls": {
                "enterprise": f"{base}/services/Soap/c/{version}/{org_id[:15]}",
                "metadata": f"{base}/services/Soap/m/{version}/{org_id[:15]}",
                "partner": f"{base}/services/Soap/u/{version}/{org_id[:15]}",
                "rest": f"{base}/services/data/v{version}/",
                "sobjects": f"{base}/services/data/v{version}/sobjects/",
                "search": f"{base}/services/data/v{version}/search/",
                "query": f"{base}/services/data/v{version}/query/",
                "recent": f"{base}/services/data/v{version}/recent/",
                "profile": f"{base}/{user_id}",
                "custom_domain": base,
            },
            "active": True,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "last_modified_date": user.get("LastModifiedDate"),
            "is_app_installed": True,
        }

    def _identity(self, session: Session) -> dict[str, Any]:
        user = self.org.reader.user_info(session.user_id)
        org_id = self.org.org_id
        return {
            "sub": f"{self.instance_url}/id/{org_id}/{session.user_id}",
            "user_id": session.user_id,
            "organization_id": org_id,
            "preferred_username": user.get("Username"),
            "nickname": user.get("Username"),
            "name": user.get("Name"),
            "email": user.get("Email"),
            "email_verified": True,
            "given_name": user.get("FirstName"),
            "family_name": user.get("LastName"),
            "zoneinfo": "GMT",
            "active": True,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "updated_at": user.get("LastModifiedDate"),
            "urls": {
                "rest": f"{self.instance_url}/services/data/v{{version}}/",
                "sobjects": f"{self.instance_url}/services/data/v{{version}}/sobjects/",
                "query": f"{self.instance_url}/services/data/v{{version}}/query/",
                "limits": f"{self.instance_url}/services/data/v{{version}}/limits/",
            },
        }

    def _authenticate(self, request: Request) -> Session:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token.strip():
            raise SfError(401, "INVALID_AUTH_HEADER", "INVALID_HEADER_TYPE")
        session = self.sessions.get(token.strip())
        if session is None:
            raise SfError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return session

    # -- the API -----------------------------------------------------------------------------

    def limit_info(self) -> str:
        return f"api-usage={self.org.usage.used()}/{self.daily_api_limit}"

    async def _api(self, call: Call) -> Response:
        if self.org.usage.used() >= self.daily_api_limit:
            raise SfError(
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
                headers={"Sforce-Limit-Info": self.limit_info()},
            )
        self.org.usage.count_call()
        try:
            response = await self._route(call)
        except SfError as exc:
            response = exc.response()
        except RecordFailed as exc:
            response = json_response([exc.error.rest()], 400)
        response.headers["Sforce-Limit-Info"] = self.limit_info()
        return response

    async def _route(self, call: Call) -> Response:
        parts = call.parts
        head = parts[0] if parts else ""
        if not parts:
            allow(call, "GET")
            return call.respond(rest.resources(call.version))
        if head == "jobs":
            return await bulk.handle(self, call)
        if head == "sobjects":
            return await rest.sobjects(self, call)
        if head in ("query", "queryAll") and len(parts) <= 2:
            allow(call, "GET")
            return rest.query(
                self,
                call,
                include_deleted=head == "queryAll",
                locator=parts[1] if len(parts) == 2 else None,
            )
        if head == "composite" and len(parts) >= 2 and parts[1] == "sobjects":
            return await rest.collections(self, call)
        if head == "limits" and len(parts) == 1:
            allow(call, "GET")
            return call.respond(rest.limits(self))
        raise not_found()

    # -- admin -------------------------------------------------------------------------------

    async def admin_limits(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                payload = orjson.loads(await request.body() or b"{}")
                if "max" in payload:
                    self.daily_api_limit = int(payload["max"])
                if "used" in payload:
                    self.org.usage.set_used(int(payload["used"]))
            except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
                return json_response({"error": f"bad limits payload: {exc}"}, 400)
        return json_response(
            {
                "day": self.org.usage.today(),
                "used": self.org.usage.used(),
                "max": self.daily_api_limit,
            }
        )

    async def admin_merge(self, request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body())
            object_name = str(payload["object"])
            master = str(payload["master_id"])
            dupes = [str(d) for d in payload["duplicate_ids"]]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            return json_response({"error": f"bad merge payload: {exc}"}, 400)
        try:
            result = self.org.merge(object_name, master, dupes, self.user_id)
        except RecordFailed as exc:
            return json_response(
                {"id": master, "success": False, "errors": [exc.error.collection()]}, 400
            )
        return json_response(result)

    async def admin_sessions(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.sessions.expire_all()
        return json_response({"org_id": self.org.org_id, "user_id": self.user_id})

    def admin_routes(self) -> list[Route]:
        base = f"{ADMIN_PREFIX}/salesforce"
        return [
            Route(f"{base}/limits", self.admin_limits, methods=["GET", "POST"]),
            Route(f"{base}/merge", self.admin_merge, methods=["POST"]),
            Route(f"{base}/sessions", self.admin_sessions, methods=["GET", "DELETE"]),
        ]


class _FaultLayer:
    """Starlette middleware: the fault injector in front of every route."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = injector.wrap(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app(
    db_path: Path,
    *,
    instance_url: str,
    credentials: SalesforceCredentials,
    faults: FaultInjector,
    seed: DemoOrg | None = None,
    daily_api_limit: int = 100_000,
    session_ttl_s: float = 7200.0,
    clock: Callable[[], datetime] | None = None,
    set_audit_fields: bool | None = None,
) -> Starlette:
    """The Salesforce sandbox over the SQLite file `db_path` (seeded with `seed` when new).

    The fault injector is applied here (middleware in front of every route) and its admin
    routes are mounted under /__sandbox__/, next to the Salesforce ones.
    """
    sandbox = SalesforceSandbox(
        db_path,
        instance_url=instance_url,
        credentials=credentials,
        faults=faults,
        seed=seed,
        daily_api_limit=daily_api_limit,
        session_ttl_s=session_ttl_s,
        clock=clock,
        set_audit_fields=set_audit_fields,
    )
    routes = [
        *faults.admin_routes(),
        *sandbox.admin_routes(),
        *record_pages.salesforce_routes(sandbox.org.db, set(SOBJECTS)),
        Route("/{path:path}", sandbox.endpoint, methods=_METHODS),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(CanonicalHeaders), Middleware(_FaultLayer, injector=faults)],
    )
    app.state.sandbox = sandbox
    return app
