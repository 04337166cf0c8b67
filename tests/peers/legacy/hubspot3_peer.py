"""hubspot3 (HubSpot's legacy v1 / v2 APIs), unmodified. Run in its own virtualenv by
tests/peers/test_legacy_clients.py with the config file's path as the only argument; prints one
JSON line: {"steps": {name: {"result": ...} | {"error": ...}}}.

The client is given a private-app token (`access_token=`, sent as a Bearer header) and the
sandbox as its documented `api_base` option ("http://host:port": the client picks
http.client.HTTPConnection from the scheme)."""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

from hubspot3 import Hubspot3

STEPS: dict[str, dict[str, Any]] = {}


def step(name: str, fn: Any) -> Any:
    try:
        result = fn()
    except Exception as exc:  # the test reads the error and says what it was
        STEPS[name] = {
            "error": f"{type(exc).__name__}: {exc}",
            "class": type(exc).__name__,
            "stack": traceback.format_exc(),
        }
        return None
    STEPS[name] = {"result": result}
    return result


def main() -> None:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    client = Hubspot3(access_token=config["access_token"], api_base=config["api_base"])
    companies = step("companies_get_all", lambda: client.companies.get_all())
    contacts = step("contacts_get_all", lambda: client.contacts.get_all())
    if contacts:
        with_email = min((c for c in contacts if c.get("email")), key=lambda c: c["id"])
        step("contact_get_by_id", lambda: client.contacts.get_by_id(with_email["id"]))
        step("contact_get_by_email", lambda: client.contacts.get_by_email(with_email["email"]))
    deals = step("deals_get_all", lambda: client.deals.get_all())
    if companies:
        first = min(c["id"] for c in companies)
        step("company_get", lambda: client.companies.get(first))
        step(
            "company_update",
            lambda: client.companies.update(
                first, {"properties": [{"name": "description", "value": "hubspot3 peer"}]}
            ),
        )
    # Expected refusals (sunset by HubSpot; the test checks the error class):
    # API keys (`hapikey`), gone since 2022-11-30 ...
    legacy_key = Hubspot3(api_key="a-legacy-api-key", api_base=config["api_base"])
    step("api_key_companies", lambda: legacy_key.companies.get_all())
    # ... and the v1 contact lists, gone since 2026-04-30 (get-all-contacts survived).
    step("contact_lists", lambda: client.contact_lists.get_contact_lists())
    if deals:
        deal = min(d["id"] for d in deals)
        step(
            "deal_update",
            lambda: client.deals.update(
                deal, {"properties": [{"name": "amount", "value": "4321.5"}]}
            ),
        )


if __name__ == "__main__":
    try:
        main()
    finally:
        print(json.dumps({"steps": STEPS}, default=str))
