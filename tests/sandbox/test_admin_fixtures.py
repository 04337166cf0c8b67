"""The shared admin fixtures reach both running sandboxes (TLS with the private CA included)."""

from __future__ import annotations

from typing import Any

from simple_salesforce import Salesforce

from acm_sync.org_summary import salesforce_client
from acm_sync.sandbox.server import SandboxSettings


def test_salesforce_admin_counts_calls_and_scripts_faults(
    sandbox: SandboxSettings, sf_admin: Any
) -> None:
    sf: Salesforce = salesforce_client(sandbox.env())
    sf_admin.reset_calls()
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert sf_admin.calls()["total"] == 1
    sf_admin.fault(kind="status", status=503, path="/query", times=1)
    from simple_salesforce.exceptions import SalesforceGeneralError

    try:
        sf.query("SELECT Id FROM Account LIMIT 1")
        raise AssertionError("the scripted 503 did not arrive")
    except SalesforceGeneralError as exc:
        assert exc.status == 503
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0


def test_hubspot_admin_counts_calls(sandbox: SandboxSettings, hs_admin: Any) -> None:
    import hubspot

    env = sandbox.env()
    client = hubspot.HubSpot(access_token=env["HUBSPOT_ACCESS_TOKEN"], host=env["HUBSPOT_BASE_URL"])
    hs_admin.reset_calls()
    client.crm.contacts.basic_api.get_page(limit=3)
    calls = hs_admin.calls()
    assert calls["total"] == 1
    assert calls["by_route"] == {"GET /crm/v3/objects/contacts": 1}
