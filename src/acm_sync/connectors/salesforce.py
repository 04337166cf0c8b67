"""Salesforce: a Dagster resource over simple-salesforce, with one request policy for every call.

Authentication, in the order `auth="auto"` tries them:

- `token`: instance URL + access token (`SALESFORCE_INSTANCE_URL`, `SALESFORCE_ACCESS_TOKEN`);
  no login call, and no re-login when the token expires.
- `password`: username + password + security token (`SALESFORCE_USERNAME`, `_PASSWORD`,
  `_SECURITY_TOKEN`, `_DOMAIN`); re-logs in when the session expires.
- `jwt`: username + connected-app consumer key + private key (`SALESFORCE_CONSUMER_KEY`,
  `SALESFORCE_PRIVATE_KEY` or `SALESFORCE_PRIVATE_KEY_FILE`).
- `client_credentials`: consumer key + secret against the org's My Domain
  (`SALESFORCE_CONSUMER_KEY`, `SALESFORCE_CONSUMER_SECRET`, `SALESFORCE_DOMAIN`).

`SALESFORCE_LOGIN_URL` routes the login host elsewhere (the sandbox) and `SALESFORCE_CA_BUNDLE`
trusts a private CA; a real org needs neither.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import dagster as dg
import requests
from pydantic import Field, PrivateAttr
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.bulk2 import Operation
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceResourceNotFound,
)

from acm_sync.connectors.client_adapters import Bulk2Jobs
from acm_sync.connectors.common import CredentialsError, http_date, mask, scrub
from acm_sync.connectors.http import configure_salesforce_session
from acm_sync.connectors.policy import (
    ApiBudget,
    Attempt,
    RequestPolicy,
    classify_salesforce,
)
from acm_sync.connectors.sessions import (
    CachedSession,
    SessionCache,
    credentials_key,
    default_directory,
)
from acm_sync.connectors.settings import RetrySettings

T = TypeVar("T")

AuthMethod = Literal["auto", "token", "password", "jwt", "client_credentials"]
ENV = {
    "username": "SALESFORCE_USERNAME",
    "password": "SALESFORCE_PASSWORD",
    "security_token": "SALESFORCE_SECURITY_TOKEN",
    "domain": "SALESFORCE_DOMAIN",
    "instance_url": "SALESFORCE_INSTANCE_URL",
    "access_token": "SALESFORCE_ACCESS_TOKEN",
    "consumer_key": "SALESFORCE_CONSUMER_KEY",
    "consumer_secret": "SALESFORCE_CONSUMER_SECRET",
    "private_key": "SALESFORCE_PRIVATE_KEY",
    "private_key_file": "SALESFORCE_PRIVATE_KEY_FILE",
    "login_url": "SALESFORCE_LOGIN_URL",
    "ca_bundle": "SALESFORCE_CA_BUNDLE",
    "auth": "SALESFORCE_AUTH",
    "session_cache_dir": "SALESFORCE_SESSION_CACHE_DIR",
}
SECRET_FIELDS = ("password", "security_token", "access_token", "consumer_secret", "private_key")
# Logins are not API requests in Salesforce's accounting; they never spend the budget.
_LOGIN_PATHS = re.compile(r"^/services/(Soap/u/|oauth2/token)")
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class TLSError(Exception):
    """The server's certificate is not trusted (wrong or missing SALESFORCE_CA_BUNDLE)."""


_TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
    requests.exceptions.ContentDecodingError,
)


class PolicySession(requests.Session):
    """A requests session whose every request goes through the connector's RequestPolicy."""

    def __init__(self, policy: RequestPolicy[requests.Response], *, timeout: float) -> None:
        super().__init__()
        self.policy = policy
        self.timeout = timeout
        self.server_time: datetime | None = None

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        if isinstance(self.verify, str):
            # REQUESTS_CA_BUNDLE in the environment would otherwise win over session.verify.
            kwargs.setdefault("verify", self.verify)
        path = urlsplit(url).path

        def attempt() -> requests.Response:
            try:
                return super(PolicySession, self).request(method, url, *args, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise TLSError(
                    f"TLS verification failed for {urlsplit(url).netloc}: {exc}. For the "
                    f"sandbox set {ENV['ca_bundle']} to its CA file (<data dir>/tls/ca.pem)."
                ) from None

        def inspect(response: requests.Response) -> Attempt:
            self.server_time = http_date(response.headers.get("Date")) or self.server_time
            body = response.content if response.status_code >= 400 else b""
            return Attempt(response.status_code, response.headers, body)

        return self.policy.send(
            path, attempt, inspect, _TRANSIENT, counted=not _LOGIN_PATHS.match(path)
        )


def _observe_usage(budget: ApiBudget) -> Callable[[Mapping[str, str]], None]:
    def observe(headers: Mapping[str, str]) -> None:
        info = headers.get("Sforce-Limit-Info")
        match = _USAGE.search(info or "")
        if match:
            used, limit = int(match.group(1)), int(match.group(2))
            budget.observe(remaining=limit - used, limit=limit)

    return observe


@dataclass
class QueryPage:
    records: list[dict[str, Any]]
    total_size: int
    done: bool
    server_time: datetime | None


@dataclass
class BulkPage:
    csv: str
    locator: str  # "" when this was the last page
    rows: int


class SalesforceClient:
    """A logged-in simple-salesforce client plus the policy that meters it.

    An expired session (401 INVALID_SESSION_ID) is replaced once per call — by the session
    another step already renewed, or by one new login — and the call sent again."""

    def __init__(
        self,
        sf: Salesforce,
        session: PolicySession,
        budget: ApiBudget,
        resource: Any,
        *,
        renew: Callable[[str], Salesforce] | None = None,
    ) -> None:
        self.sf = sf
        self.session = session
        self.budget = budget
        self._resource = resource
        self._renew = renew

    @property
    def calls(self) -> int:
        return self.budget.used

    @property
    def policy(self) -> RequestPolicy[requests.Response]:
        return self.session.policy

    @property
    def retries(self) -> int:
        return self.session.policy.retries

    @property
    def server_time(self) -> datetime | None:
        return self.session.server_time

    @property
    def instance_url(self) -> str:
        return f"https://{self.sf.sf_instance}"

    def _with_session(self, fn: Callable[[], T]) -> T:
        """Run `fn`; on an expired session log in again (when the auth allows) and rerun."""
        try:
            return fn()
        except SalesforceExpiredSession:
            self.relogin()
            return fn()

    def relogin(self) -> None:
        if self._renew is None:
            token = mask(getattr(self._resource, "access_token", None))
            raise CredentialsError(
                f"Salesforce refused the access token {token} (expired or invalid): set "
                f"{ENV['access_token']} to a fresh token for {ENV['instance_url']}, or log in "
                "with username/password, JWT or client credentials so the connector can log "
                "in again by itself"
            ) from None
        self.sf = self._renew(self.sf.session_id)

    # -- REST query ---------------------------------------------------------------------------

    def query_pages(
        self, soql: str, *, include_deleted: bool, page_size: int = 2000
    ) -> Iterator[QueryPage]:
        """The query's pages as dicts (queryAll when include_deleted)."""
        headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
        result = self._with_session(
            lambda: self.sf.query(soql, include_deleted=include_deleted, headers=headers)
        )
        while True:
            yield QueryPage(
                result["records"], int(result["totalSize"]), bool(result["done"]), self.server_time
            )
            if result["done"]:
                return
            result = self._query_more(str(result["nextRecordsUrl"]), headers)

    def _query_more(self, url: str, headers: dict[str, str]) -> Any:
        return self._with_session(
            lambda: self.sf.query_more(url, identifier_is_url=True, headers=headers)
        )

    # -- Bulk API 2.0 query --------------------------------------------------------------------

    def _jobs(self, obj: str) -> Bulk2Jobs:
        """Built per call: after a re-login the jobs client must carry the new session."""
        return Bulk2Jobs(self.sf, obj)

    def bulk_start(self, obj: str, soql: str, *, include_deleted: bool) -> dict[str, Any]:
        op = Operation.query_all if include_deleted else Operation.query
        return self._with_session(lambda: self._jobs(obj).create(op, soql))

    def bulk_wait(self, obj: str, job_id: str, *, poll_seconds: float) -> None:
        self._with_session(
            lambda: self._jobs(obj).wait(job_id, query=True, poll_seconds=poll_seconds)
        )

    def bulk_page(self, obj: str, job_id: str, locator: str, max_records: int) -> BulkPage:
        result = self._with_session(
            lambda: self._jobs(obj).results_page(job_id, locator, max_records)
        )
        return BulkPage(
            str(result["records"]), result["locator"] or "", result["number_of_records"]
        )

    def bulk_job_exists(self, obj: str, job_id: str) -> bool:
        try:
            self._with_session(lambda: self._jobs(obj).state(job_id, query=True))
        except SalesforceResourceNotFound:
            return False
        return True

    # -- writes (sObject Collections, Bulk API 2.0 ingest) ------------------------------------

    def update_collection(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """PATCH composite/sobjects with allOrNone false (≤ 200 records, each with
        `attributes.type` and `id`): one `{id, success, errors}` per record, in request order."""
        body = {"allOrNone": False, "records": records}
        answer = self._with_session(
            lambda: self.sf.restful("composite/sobjects", method="PATCH", json=body)
        )
        return list(answer or [])

    def ingest_start(
        self, obj: str, csv: str, *, on_created: Callable[[str], None] | None = None
    ) -> str:
        """A Bulk API 2.0 update job with the CSV uploaded and closed; its id. `on_created`
        hears the job id as soon as the job exists (before the data goes up)."""
        job = self._with_session(lambda: self._jobs(obj).create(Operation.update))
        job_id = str(job["id"])
        if on_created is not None:
            on_created(job_id)
        self._with_session(lambda: self._jobs(obj).upload(job_id, csv))
        self._with_session(lambda: self._jobs(obj).close(job_id))
        return job_id

    def ingest_state(self, obj: str, job_id: str) -> str:
        return str(self._with_session(lambda: self._jobs(obj).state(job_id, query=False))["state"])

    def ingest_wait(self, obj: str, job_id: str, *, poll_seconds: float) -> None:
        self._with_session(
            lambda: self._jobs(obj).wait(job_id, query=False, poll_seconds=poll_seconds)
        )

    def ingest_results(self, obj: str, job_id: str, kind: str) -> str:
        """CSV of `successfulResults`, `failedResults` or `unprocessedrecords`."""
        read = {
            "successfulResults": "get_successful_records",
            "failedResults": "get_failed_records",
            "unprocessedrecords": "get_unprocessed_records",
        }[kind]
        return str(self._with_session(lambda: getattr(getattr(self.sf.bulk2, obj), read)(job_id)))

    def ingest_abort(self, obj: str, job_id: str) -> None:
        self._with_session(lambda: self._jobs(obj).abort(job_id, query=False))

    # -- metadata ------------------------------------------------------------------------------

    def describe(self, obj: str) -> dict[str, Any] | None:
        """`sObject describe` of `obj`, or None when the object is not there for this user
        (404)."""
        try:
            return dict(self._with_session(lambda: getattr(self.sf, obj).describe()))
        except SalesforceResourceNotFound:
            return None

    def field_names(self, obj: str) -> set[str]:
        described = self._with_session(lambda: getattr(self.sf, obj).describe())
        return {f["name"] for f in described["fields"]}

    def limits(self) -> dict[str, Any]:
        return dict(self._with_session(lambda: self.sf.limits()))

    # -- the opportunity stage list (quality's stage rules check against it) ---------------------

    STAGE_SOQL = (
        "SELECT ApiName, MasterLabel, IsActive, IsClosed, IsWon, DefaultProbability "
        "FROM OpportunityStage"
    )

    def stage_catalog(self) -> list[dict[str, Any]]:
        """The org's OpportunityStage records (ApiName, MasterLabel, IsActive, IsClosed, IsWon,
        DefaultProbability), retired values included: one SOQL query."""
        records: list[dict[str, Any]] = []
        for page in self.query_pages(self.STAGE_SOQL, include_deleted=False):
            records.extend(page.records)
        return records


class SalesforceResource(dg.ConfigurableResource):
    """Salesforce connection settings; secrets come in through `dagster.EnvVar` only."""

    auth: AuthMethod = "auto"
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    domain: str = "login"
    instance_url: str | None = None
    access_token: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    private_key: str | None = None
    private_key_file: str | None = None
    login_url: str | None = Field(default=None, description="Route the login host here (sandbox).")
    ca_bundle: str | None = Field(default=None, description="PEM file of a private CA to trust.")
    api_version: str = "59.0"
    session_reuse: bool = Field(
        default=True,
        description="Reuse a live session between the steps of a run and between runs "
        "(kept owner-only in session_cache_dir); false = log in at every step.",
    )
    session_cache_dir: str | None = Field(
        default=None,
        description="Directory of the session cache; empty = ~/.cache/acm_sync/"
        "salesforce-sessions (or under $XDG_CACHE_HOME).",
    )

    _clients: list[SalesforceClient] = PrivateAttr(default_factory=list)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, session_reuse: bool = True
    ) -> SalesforceResource:
        """The resource with an EnvVar for every SALESFORCE_* variable that is set;
        `session_reuse=False` logs in afresh (a check of the credentials, not of a stored
        session)."""
        environ = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {
            key: dg.EnvVar(name) for key, name in ENV.items() if environ.get(name)
        }
        if not session_reuse:
            kwargs["session_reuse"] = False
        return cls(**kwargs)

    def method(self) -> str:
        if self.auth != "auto":
            return self.auth
        if self.instance_url and self.access_token:
            return "token"
        if self.username and self.password is not None and self.security_token is not None:
            return "password"
        if self.username and self.consumer_key and (self.private_key or self.private_key_file):
            return "jwt"
        if self.consumer_key and self.consumer_secret:
            return "client_credentials"
        raise CredentialsError(
            "no Salesforce credentials: set "
            f"{ENV['username']} + {ENV['password']} + {ENV['security_token']}, or "
            f"{ENV['instance_url']} + {ENV['access_token']}, or {ENV['consumer_key']} + "
            f"{ENV['consumer_secret']} (client credentials) or + {ENV['private_key_file']} (JWT)"
        )

    def _secrets(self) -> list[str | None]:
        return [getattr(self, name) for name in SECRET_FIELDS]

    def connect(
        self, *, budget: ApiBudget | None = None, retry: RetrySettings | None = None
    ) -> SalesforceClient:
        """A metered client: with a token as given; otherwise on the live session another step
        (or an earlier run) left in the session cache, or after one login (see sessions.py)."""
        retry = retry or RetrySettings()
        budget = budget or ApiBudget("salesforce")
        policy: RequestPolicy[requests.Response] = RequestPolicy(
            "salesforce",
            classify_salesforce,
            budget,
            max_attempts=retry.max_attempts,
            backoff=retry.backoff_seconds,
            max_wait=retry.max_wait_seconds,
            on_response=_observe_usage(budget),
        )
        session = configure_salesforce_session(
            PolicySession(policy, timeout=retry.timeout_seconds),
            domain=self.domain,
            login_url=self.login_url,
            ca_bundle=self.ca_bundle,
        )
        method = self.method()
        common: dict[str, Any] = {
            "session": session,
            "version": self.api_version,
            "object_pairs_hook": None,  # plain dicts: faster than the OrderedDict default
        }
        if method == "token":
            # No call here: a dead token shows at the first request, where
            # `SalesforceClient.relogin` says what to fix.
            sf = Salesforce(instance_url=self.instance_url, session_id=self.access_token, **common)
            return SalesforceClient(sf, session, budget, self)

        cache = self.session_cache()
        key = credentials_key(
            [
                method,
                self._login_host(),
                self.domain,
                self.username,
                self.consumer_key,
                *self._secrets(),
                self.private_key_file,
            ]
        )

        def login() -> tuple[str, str]:
            return self._login(method, session)

        def opened(live: CachedSession) -> Salesforce:
            return Salesforce(instance=live.instance, session_id=live.session_id, **common)

        def renew(stale: str) -> Salesforce:
            if cache is None:
                return opened(self._guarded(method, lambda: CachedSession(*login())))
            return opened(self._guarded(method, lambda: cache.replace(key, stale, login)))

        if cache is None:
            live = self._guarded(method, lambda: CachedSession(*login()))
        else:
            live = self._guarded(method, lambda: cache.session(key, login))
        return SalesforceClient(opened(live), session, budget, self, renew=renew)

    def session_cache(self) -> SessionCache | None:
        """Where live sessions are kept between steps and runs (None: `session_reuse` off)."""
        if not self.session_reuse:
            return None
        directory = Path(self.session_cache_dir) if self.session_cache_dir else default_directory()
        return SessionCache(directory)

    def _login(self, method: str, session: requests.Session) -> tuple[str, str]:
        """One login through simple-salesforce's public `SalesforceLogin`: (session id,
        instance host)."""
        common: dict[str, Any] = {"session": session, "domain": self.domain}
        if method == "password":
            return SalesforceLogin(
                username=self.username,
                password=self.password,
                security_token=self.security_token or "",
                sf_version=self.api_version,
                **common,
            )
        if method == "jwt":
            return SalesforceLogin(
                username=self.username,
                consumer_key=self.consumer_key,
                privatekey=self.private_key,
                privatekey_file=self.private_key_file,
                **common,
            )
        return SalesforceLogin(
            consumer_key=self.consumer_key, consumer_secret=self.consumer_secret, **common
        )

    def _guarded(self, method: str, fn: Callable[[], T]) -> T:
        """`fn` (a login), its failures as errors that say what to fix without a secret."""
        try:
            return fn()
        except SalesforceAuthenticationFailed as exc:
            raise CredentialsError(self._login_failed(method, exc)) from None
        except TLSError:
            raise
        except requests.exceptions.RequestException as exc:
            raise CredentialsError(
                scrub(
                    f"cannot reach Salesforce to log in ({self._login_host()}): {exc}; check "
                    f"{ENV['domain']} / {ENV['login_url']}",
                    self._secrets(),
                )
            ) from None

    def _login_host(self) -> str:
        return self.login_url or f"https://{self.domain}.salesforce.com"

    def _login_failed(self, method: str, exc: SalesforceAuthenticationFailed) -> str:
        fix = {
            "password": f"{ENV['username']} ({self.username}), {ENV['password']} "
            f"({mask(self.password)}) and {ENV['security_token']} ({mask(self.security_token)})",
            "jwt": f"{ENV['username']} ({self.username}), {ENV['consumer_key']} and the key in "
            f"{ENV['private_key']} / {ENV['private_key_file']}",
            "client_credentials": f"{ENV['consumer_key']} ({mask(self.consumer_key)}), "
            f"{ENV['consumer_secret']} ({mask(self.consumer_secret)}) and {ENV['domain']} "
            f"({self.domain}, the org's My Domain)",
        }.get(method, "the credentials")
        # simple-salesforce keeps Salesforce's reason in `auth_message`; its `message` is a
        # template ("… Response content: {content}").
        reason = getattr(exc, "auth_message", None) or str(exc)
        detail = scrub(f"{exc.code}: {reason}", self._secrets())
        return (
            f"Salesforce refused the {method} login at {self._login_host()} ({detail}). "
            f"Check {fix}."
        )
