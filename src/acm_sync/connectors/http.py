"""HTTP sessions for the vendor clients.

simple-salesforce always logs in at ``https://{domain}.salesforce.com``. A real org needs nothing
more; to reach a Salesforce that is not on salesforce.com (the sandbox, or a proxy), the session
routes that one login host to ``login_url``. Everything after login goes to the instance URL the
login returned, untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


class LoginHostAdapter(HTTPAdapter):
    """Sends requests for the Salesforce login host to `login_url` instead."""

    def __init__(self, login_url: str, **kwargs: Any) -> None:
        target = urlsplit(login_url)
        if target.scheme not in ("https", "http") or not target.netloc:
            raise ValueError(f"login URL must be http(s)://host[:port], got {login_url!r}")
        self._scheme, self._netloc = target.scheme, target.netloc
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
        parts = urlsplit(request.url or "")
        request.url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, ""))
        return super().send(request, stream, timeout, verify, cert, proxies)


def salesforce_session(
    *, domain: str = "login", login_url: str | None = None, ca_bundle: str | None = None
) -> requests.Session:
    """A `requests.Session` for simple-salesforce: private CA trust and login-host routing."""
    session = requests.Session()
    if ca_bundle:
        session.verify = ca_bundle
    if login_url:
        session.mount(f"https://{domain}.salesforce.com", LoginHostAdapter(login_url))
    return session
