"""HTTP sessions for the vendor clients.

simple-salesforce always logs in at ``https://{domain}.salesforce.com``. A real org needs nothing
more; to reach a Salesforce that is not on salesforce.com (the sandbox, or a proxy), the session
routes that one login host to ``login_url``. Everything after login goes to the instance URL the
login returned, untouched.

A private CA bundle is enforced in the transport adapter rather than through ``session.verify``:
requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` from the environment override a
session's ``verify`` on every request, which would silently drop the CA we were given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


class SalesforceAdapter(HTTPAdapter):
    """Trusts `ca_bundle` (when given) and, when `login_url` is given, sends requests there."""

    def __init__(
        self, *, ca_bundle: str | None = None, login_url: str | None = None, **kwargs: Any
    ) -> None:
        self._ca_bundle = ca_bundle
        self._target: tuple[str, str] | None = None
        if login_url is not None:
            target = urlsplit(login_url)
            if target.scheme not in ("https", "http") or not target.netloc:
                raise ValueError(f"login URL must be http(s)://host[:port], got {login_url!r}")
            self._target = (target.scheme, target.netloc)
        super().__init__(**kwargs)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if self._target is not None:
            parts = urlsplit(request.url or "")
            request.url = urlunsplit((*self._target, parts.path, parts.query, ""))
        if self._ca_bundle is not None and verify is not False:
            verify = self._ca_bundle
        return super().send(request, stream, timeout, verify, cert, proxies)


SessionT = TypeVar("SessionT", bound=requests.Session)


def configure_salesforce_session(
    session: SessionT,
    *,
    domain: str = "login",
    login_url: str | None = None,
    ca_bundle: str | None = None,
) -> SessionT:
    """`session` with private CA trust and login-host routing mounted on it."""
    if ca_bundle:
        session.verify = ca_bundle
        session.mount("https://", SalesforceAdapter(ca_bundle=ca_bundle))
    if login_url:
        session.mount(
            f"https://{domain}.salesforce.com",
            SalesforceAdapter(ca_bundle=ca_bundle, login_url=login_url),
        )
    return session


def salesforce_session(
    *, domain: str = "login", login_url: str | None = None, ca_bundle: str | None = None
) -> requests.Session:
    """A new `requests.Session` for simple-salesforce, configured as above."""
    return configure_salesforce_session(
        requests.Session(), domain=domain, login_url=login_url, ca_bundle=ca_bundle
    )
