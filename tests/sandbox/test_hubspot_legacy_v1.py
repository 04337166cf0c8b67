"""HubSpot's legacy writes and contact reads that real HubSpot still serves (sandbox side).

- PUT /companies/v2/companies/{id} and PUT /deals/v1/deal/{id} take `{"properties": [{"name",
  "value"}]}` and answer the record in its v1 / v2 shape (HubSpot's legacy "Update a company" /
  "Update a deal").
- GET /contacts/v1/lists/all/contacts/all and GET /contacts/v1/contact/vids/batch outlived the
  v1 Contact Lists sunset of 2026-04-30 (HubSpot changelog: "all but three ... endpoints will be
  removed"; get-all-contacts and the v1 contact reads keep working without list memberships).
The records written here are created for the test, so the shared org is left as it was.
"""

from __future__ import annotations

from typing import Any

import hubspot
import pytest
import requests
from hs_helpers import bearer_session, client
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyInput
from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealInput

from acm_sync.sandbox.server import SandboxSettings


@pytest.fixture(scope="module")
def hs(sandbox: SandboxSettings) -> hubspot.HubSpot:
    return client(sandbox.hubspot_base_url, sandbox.credentials.hubspot_access_token)


@pytest.fixture(scope="module")
def http(sandbox: SandboxSettings) -> requests.Session:
    return bearer_session(sandbox.credentials.hubspot_access_token)


def _call(
    http: requests.Session, sandbox: SandboxSettings, method: str, path: str, **kw: Any
) -> Any:
    answer = http.request(method, f"{sandbox.hubspot_base_url}{path}", **kw)
    assert answer.status_code == 200, f"{method} {path}: {answer.status_code} {answer.text}"
    return answer.json()


def test_company_v2_update_writes_and_answers_the_company(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    made = hs.crm.companies.basic_api.create(
        CompanyInput(properties={"name": "Legacy Write Test Co", "city": "Lyon"})
    )
    body = {
        "properties": [{"name": "city", "value": "Nantes"}, {"name": "description", "value": "v2"}]
    }
    answer = _call(http, sandbox, "PUT", f"/companies/v2/companies/{made.id}", json=body)
    assert answer["companyId"] == int(made.id) and answer["isDeleted"] is False
    assert answer["properties"]["city"]["value"] == "Nantes"
    assert answer["properties"]["name"]["value"] == "Legacy Write Test Co"
    after = hs.crm.companies.basic_api.get_by_id(made.id, properties=["city", "description"])
    assert after.properties["city"] == "Nantes" and after.properties["description"] == "v2"

    bad = http.put(
        f"{sandbox.hubspot_base_url}/companies/v2/companies/{made.id}",
        json={"properties": {"city": "flat map is v3, not v2"}},
    )
    assert bad.status_code == 400
    missing = http.put(
        f"{sandbox.hubspot_base_url}/companies/v2/companies/999999999",
        json={"properties": [{"name": "city", "value": "x"}]},
    )
    assert missing.status_code == 404


def test_deal_v1_update_writes_and_answers_the_deal(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    made = hs.crm.deals.basic_api.create(
        DealInput(properties={"dealname": "Legacy Write Test Deal", "amount": "100"})
    )
    body = {"properties": [{"name": "amount", "value": "2500"}]}
    answer = _call(http, sandbox, "PUT", f"/deals/v1/deal/{made.id}", json=body)
    assert answer["dealId"] == int(made.id)
    assert answer["properties"]["amount"]["value"] == "2500"
    assert "associations" in answer
    after = hs.crm.deals.basic_api.get_by_id(made.id, properties=["amount", "dealname"])
    assert after.properties["amount"] == "2500"
    assert after.properties["dealname"] == "Legacy Write Test Deal"


def test_contacts_v1_get_all_walks_every_live_contact(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    truth = {
        int(c.id): c.properties for c in hs.crm.contacts.get_all(properties=["firstname", "email"])
    }
    seen: list[int] = []
    offset, pages = 0, 0
    while True:
        page = _call(
            http,
            sandbox,
            "GET",
            "/contacts/v1/lists/all/contacts/all",
            params={"count": 100, "vidOffset": offset},
        )
        pages += 1
        for c in page["contacts"]:
            assert c["canonical-vid"] == c["vid"] and c["is-contact"] is True
            assert "list-memberships" not in c  # gone since the v1 lists sunset
            # The identity profile names the primary email even when `email` was not asked for.
            (profile,) = c["identity-profiles"]
            emails = [i["value"] for i in profile["identities"] if i["type"] == "EMAIL"]
            assert emails == ([truth[c["vid"]]["email"]] if truth[c["vid"]].get("email") else [])
            assert "email" not in c["properties"]
            first = truth[c["vid"]].get("firstname")
            if first is not None:
                assert c["properties"]["firstname"]["value"] == first
        seen += [c["vid"] for c in page["contacts"]]
        offset = page["vid-offset"]
        if not page["has-more"]:
            break
    assert seen == sorted(truth)
    assert pages == -(-len(seen) // 100)
    # Without `count` HubSpot answers 20 a page.
    first = _call(http, sandbox, "GET", "/contacts/v1/lists/all/contacts/all")
    assert len(first["contacts"]) == 20 and first["has-more"] is True


def test_contacts_v1_batch_by_vid_keys_by_vid_and_skips_unknown(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    some = [c for c in hs.crm.contacts.basic_api.get_page(limit=3, properties=["email"]).results]
    vids = [c.id for c in some] + ["999999999"]
    answer = _call(
        http,
        sandbox,
        "GET",
        "/contacts/v1/contact/vids/batch",
        params={"vid": vids, "property": ["email", "lastname"]},
    )
    assert sorted(answer) == sorted(c.id for c in some)
    for c in some:
        record = answer[c.id]
        assert record["vid"] == int(c.id)
        assert set(record["properties"]) <= {"email", "lastname"}
        if c.properties.get("email"):
            assert record["properties"]["email"]["value"] == c.properties["email"]


def test_contact_v1_profile_by_vid_and_by_email(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    """The v1 single-contact reads (kept after the lists sunset): every valued property, with
    versions by default; the same contact found by vid and by email."""
    page = hs.crm.contacts.basic_api.get_page(limit=20, properties=["email", "lastname"]).results
    one = next(c for c in page if c.properties.get("email"))
    by_vid = _call(http, sandbox, "GET", f"/contacts/v1/contact/vid/{one.id}/profile")
    by_email = _call(
        http, sandbox, "GET", f"/contacts/v1/contact/email/{one.properties['email']}/profile"
    )
    assert by_vid["vid"] == by_email["vid"] == int(one.id)
    props = by_vid["properties"]
    assert props["email"]["value"] == one.properties["email"]
    assert props["lastname"]["value"] == one.properties["lastname"]
    assert {"createdate", "lastmodifieddate", "hs_object_id"} <= set(props)
    assert all(p["versions"] for p in props.values())  # propertyMode value_and_history
    only = _call(
        http,
        sandbox,
        "GET",
        f"/contacts/v1/contact/vid/{one.id}/profile",
        params={"property": "lastname", "propertyMode": "value_only"},
    )
    assert list(only["properties"]) == ["lastname"]
    assert "versions" not in only["properties"]["lastname"]
    for path in ("vid/999999999/profile", "email/nobody@nowhere.invalid/profile"):
        missing = http.get(f"{sandbox.hubspot_base_url}/contacts/v1/contact/{path}")
        assert missing.status_code == 404, path


def test_contacts_v1_batch_returns_every_valued_property_by_default(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    one = hs.crm.contacts.basic_api.get_page(limit=1).results[0]
    answer = _call(
        http, sandbox, "GET", "/contacts/v1/contact/vids/batch", params={"vid": [one.id]}
    )
    props = answer[one.id]["properties"]
    assert {"createdate", "lastmodifieddate", "hs_object_id"} <= set(props)
    assert all("versions" not in p for p in props.values())  # propertyMode value_only
