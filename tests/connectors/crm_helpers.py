"""Helpers for connector integration tests: the sandbox admin API and independent clients."""

from __future__ import annotations

import math
from typing import Any

import requests
from simple_salesforce import Salesforce

from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.org_summary import hubspot_client, salesforce_client


class Admin:
    """The sandbox admin API for one vendor (faults, calls, hooks)."""

    def __init__(self, base_url: str, verify: str | bool = True) -> None:
        self.base = base_url.rstrip("/") + "/__sandbox__"
        self.http = requests.Session()
        self.http.verify = verify
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would replace the sandbox CA

    def fault(self, **rule: object) -> None:
        self.http.post(f"{self.base}/faults", json=rule).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete(f"{self.base}/faults").raise_for_status()

    def calls(self) -> dict[str, Any]:
        answer = self.http.get(f"{self.base}/calls")
        answer.raise_for_status()
        return dict(answer.json())

    def reset_calls(self) -> None:
        self.http.delete(f"{self.base}/calls").raise_for_status()

    def hook(self, name: str) -> None:
        self.http.post(f"{self.base}/hooks/{name}").raise_for_status()

    def get(self, path: str) -> Any:
        answer = self.http.get(f"{self.base}/{path}")
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        answer = self.http.post(f"{self.base}/{path}", json=payload)
        answer.raise_for_status()
        return answer.json()


def sf_resource(env: dict[str, str]) -> SalesforceResource:
    return SalesforceResource(
        username=env["SALESFORCE_USERNAME"],
        password=env["SALESFORCE_PASSWORD"],
        security_token=env["SALESFORCE_SECURITY_TOKEN"],
        domain=env["SALESFORCE_DOMAIN"],
        login_url=env["SALESFORCE_LOGIN_URL"],
        ca_bundle=env["SALESFORCE_CA_BUNDLE"],
    )


def hs_resource(env: dict[str, str]) -> HubSpotResource:
    return HubSpotResource(
        access_token=env["HUBSPOT_ACCESS_TOKEN"], base_url=env["HUBSPOT_BASE_URL"]
    )


def plain_sf(env: dict[str, str]) -> Salesforce:
    """simple-salesforce as anyone would use it: the independent view of the org."""
    sf = salesforce_client(env)
    sf.session.trust_env = False
    return sf


def plain_hs(env: dict[str, str]) -> Any:
    return hubspot_client(env)


def pages(n: int, size: int) -> int:
    return max(1, math.ceil(n / size))
