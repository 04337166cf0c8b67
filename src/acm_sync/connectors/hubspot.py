"""HubSpot: a Dagster resource over hubspot-api-client, with one request policy for every call.

The client is the vendor's, unmodified: its `api_factory` hook (a documented constructor
argument) builds each API's client as usual and then hands its urllib3 pool manager to ours,
which runs every request through `RequestPolicy` — budget, pacing to the 10-second window and
to the search endpoints' per-second limit, retries honouring Retry-After. Responses are read
as raw JSON (`_preload_content=False`), which skips the client's model objects entirely.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import dagster as dg
import hubspot
import orjson
import urllib3
from pydantic import Field, PrivateAttr

from acm_sync.connectors.common import CredentialsError, http_date, mask, scrub
from acm_sync.connectors.policy import (
    ApiBudget,
    Attempt,
    RequestPolicy,
    RollingWindow,
    classify_hubspot,
)
from acm_sync.connectors.settings import HubSpotSync, RetrySettings

T = TypeVar("T")

ENV = {"access_token": "HUBSPOT_ACCESS_TOKEN", "base_url": "HUBSPOT_BASE_URL"}
DEFAULT_BASE_URL = "https://api.hubapi.com"
WINDOW_SECONDS = 10.0
# Our clock and HubSpot's see a request at slightly different moments: keep a little slack so
# a window that frees up on our side is free on theirs too.
WINDOW_SLACK_SECONDS = 0.3
# Until the first answer says otherwise: the Free/Starter private-app allowance.
DEFAULT_WINDOW_LIMIT = 100

_TRANSIENT = (
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.TimeoutError,
    urllib3.exceptions.NewConnectionError,
    ConnectionError,
)


class PolicyPoolManager(urllib3.PoolManager):
    """urllib3's pool manager with every request run through the connector's RequestPolicy.

    Bodies are always read inside the policy (a connection dropped half-way through a body is
    retried like any other transient failure)."""

    def __init__(self, policy: RequestPolicy[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy
        self.server_time: datetime | None = None

    def urlopen(  # type: ignore[override]
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        kw["preload_content"] = True
        path = urlsplit(url).path

        def attempt() -> urllib3.BaseHTTPResponse:
            return super(PolicyPoolManager, self).urlopen(method, url, redirect=redirect, **kw)

        def inspect(response: urllib3.BaseHTTPResponse) -> Attempt:
            self.server_time = http_date(response.headers.get("Date")) or self.server_time
            body = response.data if response.status >= 400 else b""
            return Attempt(response.status, response.headers, body)

        return self.policy.send(path, attempt, inspect, _TRANSIENT)


def _int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class HubSpotClient:
    """A hubspot-api-client `HubSpot` plus the policy that meters it; answers as dicts."""

    def __init__(
        self,
        hs: hubspot.HubSpot,
        policy: RequestPolicy[Any],
        managers: list[PolicyPoolManager],
        token: str | None,
    ) -> None:
        self.hs = hs
        self.policy = policy
        self._managers = managers
        self._token = token
        self._apis: dict[tuple[str, ...], Any] = {}

    @property
    def budget(self) -> ApiBudget:
        return self.policy.budget

    @property
    def calls(self) -> int:
        return self.policy.budget.used

    @property
    def retries(self) -> int:
        return self.policy.retries

    @property
    def server_time(self) -> datetime | None:
        times = [m.server_time for m in self._managers if m.server_time is not None]
        return max(times) if times else None

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            response = fn()
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status in (401, 403):
                body = scrub(str(getattr(exc, "body", "") or ""), [self._token])
                raise CredentialsError(
                    f"HubSpot refused the access token {mask(self._token)} ({status} on {what}: "
                    f"{body[:300]}). Set {ENV['access_token']} to a private-app token with the "
                    "crm.objects.{companies,contacts,deals}.read/write and crm.schemas.*.read "
                    "scopes."
                ) from None
            raise
        return orjson.loads(response.data) if response.data else {}

    def _api(self, *path: str) -> Any:
        """An API object of the client, built once (each build makes a connection pool)."""
        if path not in self._apis:
            node: Any = self.hs
            for name in path:
                node = getattr(node, name)
            self._apis[path] = node
        return self._apis[path]

    def list_page(
        self,
        obj: str,
        *,
        limit: int,
        after: str | None,
        properties: list[str],
        associations: list[str] | None = None,
        history: list[str] | None = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        kw: dict[str, Any] = {"limit": limit, "properties": properties, "archived": archived}
        if after:
            kw["after"] = after
        if associations:
            kw["associations"] = associations
        if history:
            kw["properties_with_history"] = history
        api = self._api("crm", obj, "basic_api")
        return dict(self._call(f"list {obj}", lambda: api.get_page(**kw, _preload_content=False)))

    def search(self, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        api = self._api("crm", obj, "search_api")
        return dict(
            self._call(
                f"search {obj}",
                lambda: api.do_search(public_object_search_request=body, _preload_content=False),
            )
        )

    def batch_read(
        self, obj: str, ids: list[str], *, properties: list[str], history: list[str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"inputs": [{"id": i} for i in ids], "properties": properties}
        if history:
            body["propertiesWithHistory"] = history
        api = self._api("crm", obj, "batch_api")
        return dict(
            self._call(
                f"batch read {obj}",
                lambda: api.read(
                    batch_read_input_simple_public_object_id=body,
                    archived=False,
                    _preload_content=False,
                ),
            )
        )

    def associations(self, obj: str, to: str, ids: list[str]) -> dict[str, Any]:
        api = self._api("crm", "associations", "v4", "batch_api")
        body = {"inputs": [{"id": i} for i in ids]}
        return dict(
            self._call(
                f"associations {obj}→{to}",
                lambda: api.get_page(
                    obj,
                    to,
                    batch_input_public_fetch_associations_batch_request=body,
                    _preload_content=False,
                ),
            )
        )

    def batch_update(self, obj: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """POST batch/update (≤ 100 inputs `{id, properties}`). 200: all written; 207: the
        answer's `errors` name the ids not written. A 400 (the whole batch refused) raises the
        client's ApiException."""
        api = self._api("crm", obj, "batch_api")
        body = {"inputs": inputs}
        return dict(
            self._call(
                f"batch update {obj}",
                lambda: api.update(
                    batch_input_simple_public_object_batch_input=body, _preload_content=False
                ),
            )
        )

    def account_details(self) -> dict[str, Any]:
        """`GET /account-info/v3/details` (portalId, uiDomain, …): the client has no API class
        for it, so through one of its API clients (same pool, policy and budget)."""
        api_client = self._api("crm", "owners", "owners_api").api_client
        return dict(
            self._call(
                "account details",
                lambda: api_client.call_api(
                    "/account-info/v3/details",
                    "GET",
                    header_params={"Accept": "application/json"},
                    auth_settings=["oauth2"],
                    _preload_content=False,
                ),
            )
        )

    # -- properties (the schema) ------------------------------------------------------------

    def properties(self, obj: str) -> list[dict[str, Any]]:
        """Every property of the object type (`GET /crm/v3/properties/{type}`)."""
        api = self._api("crm", "properties", "core_api")
        answer = self._call(f"properties {obj}", lambda: api.get_all(obj, _preload_content=False))
        return list(answer.get("results", []))

    def property_names(self, obj: str) -> set[str]:
        return {str(p["name"]) for p in self.properties(obj)}

    def create_property_group(self, obj: str, group: dict[str, Any]) -> dict[str, Any]:
        """`POST /crm/v3/properties/{type}/groups`; the client's ApiException (409 when it
        exists) when refused."""
        api = self._api("crm", "properties", "groups_api")
        return dict(
            self._call(
                f"create property group {obj}",
                lambda: api.create(obj, property_group_create=group, _preload_content=False),
            )
        )

    def create_properties(self, obj: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """`POST /crm/v3/properties/{type}/batch/create`: 201, or 207 with `errors`."""
        api = self._api("crm", "properties", "batch_api")
        body = {"inputs": inputs}
        return dict(
            self._call(
                f"create properties {obj}",
                lambda: api.create(obj, batch_input_property_create=body, _preload_content=False),
            )
        )

    def update_property(self, obj: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """`PATCH /crm/v3/properties/{type}/{name}`."""
        api = self._api("crm", "properties", "core_api")
        return dict(
            self._call(
                f"update property {obj}.{name}",
                lambda: api.update(obj, name, property_update=changes, _preload_content=False),
            )
        )

    # -- the deal stage list (quality's stage rules check against it) --------------------------

    def stage_catalog(self) -> list[dict[str, Any]]:
        """Every deal pipeline with its stages (`GET /crm/v3/pipelines/deals` results: stage
        id, label, metadata isClosed / probability): one call."""
        api = self._api("crm", "pipelines", "pipelines_api")
        answer = self._call("deal pipelines", lambda: api.get_all("deals", _preload_content=False))
        return list(answer.get("results", []))


class HubSpotResource(dg.ConfigurableResource):
    """HubSpot connection settings; the private-app token comes in through `dagster.EnvVar`."""

    access_token: str | None = None
    base_url: str | None = Field(default=None, description="API base URL (the sandbox's).")

    _clients: list[HubSpotClient] = PrivateAttr(default_factory=list)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSpotResource:
        environ = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {
            key: dg.EnvVar(name) for key, name in ENV.items() if environ.get(name)
        }
        return cls(**kwargs)

    def connect(
        self,
        *,
        budget: ApiBudget | None = None,
        retry: RetrySettings | None = None,
        settings: HubSpotSync | None = None,
    ) -> HubSpotClient:
        if not self.access_token:
            raise CredentialsError(
                f"no HubSpot credentials: set {ENV['access_token']} to a private-app token"
            )
        settings = settings or HubSpotSync()
        retry = retry or settings.retry
        budget = budget or ApiBudget("hubspot")
        window = RollingWindow(
            settings.requests_per_window or DEFAULT_WINDOW_LIMIT,
            WINDOW_SECONDS + WINDOW_SLACK_SECONDS,
        )
        search = RollingWindow(max(1, int(settings.search_requests_per_second)), 1.0 + 0.1)
        fixed_window = settings.requests_per_window is not None

        def observe(headers: Mapping[str, str]) -> None:
            budget.observe(
                remaining=_int(headers, "X-HubSpot-RateLimit-Daily-Remaining"),
                limit=_int(headers, "X-HubSpot-RateLimit-Daily"),
            )
            if not fixed_window:
                window.observe(
                    limit=_int(headers, "X-HubSpot-RateLimit-Max"),
                    remaining=_int(headers, "X-HubSpot-RateLimit-Remaining"),
                )

        policy: RequestPolicy[Any] = RequestPolicy(
            "hubspot",
            classify_hubspot,
            budget,
            max_attempts=retry.max_attempts,
            backoff=retry.backoff_seconds,
            max_wait=retry.max_wait_seconds,
            pacers=[(re.compile(r"/search$"), search), (re.compile(r"."), window)],
            on_response=observe,
        )
        managers: list[PolicyPoolManager] = []
        version = importlib.metadata.version("hubspot-api-client")

        def api_factory(package: Any, api_name: str, config: dict[str, Any]) -> Any:
            # As hubspot-api-client's default factory, then our pool manager.
            configuration = package.Configuration()
            for key, value in config.items():
                if key == "retry":
                    configuration.retries = value
                else:
                    setattr(configuration, key, value)
            api_client = package.ApiClient(configuration=configuration)
            api_client.user_agent = f"hubspot-api-client-python; {version}; acm-sync"
            manager = PolicyPoolManager(
                policy,
                num_pools=4,
                maxsize=4,
                ca_certs=configuration.ssl_ca_cert,
                retries=False,  # the policy retries; urllib3 must not retry behind its back
                timeout=urllib3.Timeout(total=retry.timeout_seconds),
            )
            api_client.rest_client.pool_manager = manager
            managers.append(manager)
            return getattr(package, api_name)(api_client=api_client)

        kwargs: dict[str, Any] = {"access_token": self.access_token, "api_factory": api_factory}
        if self.base_url:
            kwargs["host"] = self.base_url.rstrip("/")
        client = HubSpotClient(hubspot.HubSpot(**kwargs), policy, managers, self.access_token)
        return client
