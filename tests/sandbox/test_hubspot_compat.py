"""HubSpot sandbox surfaces third-party connectors use: the legacy v1 / v2 endpoints, standard
object types the portal holds none of, custom-object schemas, top-level search `filters`,
1,000-input association reads, token introspection, and contact email validation."""

from __future__ import annotations

from typing import Any

import hubspot
import pytest
import requests
from hs_helpers import bearer_session, client
from hubspot.crm.contacts import SimplePublicObjectInputForCreate
from hubspot.crm.contacts.exceptions import ApiException

from acm_sync.sandbox.server import SandboxSettings


@pytest.fixture(scope="module")
def hs(sandbox: SandboxSettings) -> hubspot.HubSpot:
    return client(sandbox.hubspot_base_url, sandbox.credentials.hubspot_access_token)


@pytest.fixture(scope="module")
def http(sandbox: SandboxSettings) -> requests.Session:
    return bearer_session(sandbox.credentials.hubspot_access_token)


def _v3_ids(hs: hubspot.HubSpot, obj: str) -> list[int]:
    return sorted(int(r.id) for r in getattr(hs.crm, obj).get_all())


def _get(http: requests.Session, sandbox: SandboxSettings, path: str, **params: Any) -> Any:
    answer = http.get(f"{sandbox.hubspot_base_url}{path}", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_companies_v2_paged_walks_every_live_company(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    ids, offset, pages = [], 0, 0
    while True:
        page = _get(
            http,
            sandbox,
            "/companies/v2/companies/paged",
            limit=250,
            offset=offset,
            properties=["name", "hs_lastmodifieddate"],
        )
        pages += 1
        ids += [c["companyId"] for c in page["companies"]]
        offset = page["offset"]
        if not page["has-more"]:
            break
    assert ids == _v3_ids(hs, "companies")
    assert pages == -(-len(ids) // 250)
    one = page["companies"][-1]
    v3 = hs.crm.companies.basic_api.get_by_id(str(one["companyId"]), properties=["name"])
    assert one["properties"]["name"]["value"] == v3.properties["name"]
    # Datetimes are epoch milliseconds; hs_lastmodifieddate was set when it says.
    modified = one["properties"]["hs_lastmodifieddate"]
    assert modified["value"] == str(int(v3.updated_at.timestamp() * 1000))
    assert modified["timestamp"] == int(modified["value"])


def test_company_v2_detail_has_every_set_property_with_versions(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    company_id = _v3_ids(hs, "companies")[0]
    company = _get(http, sandbox, f"/companies/v2/companies/{company_id}")
    assert company["companyId"] == company_id and company["isDeleted"] is False
    for name, prop in company["properties"].items():
        assert prop["versions"], name
        assert prop["versions"][0]["value"] == prop["value"]
    missing = http.get(f"{sandbox.hubspot_base_url}/companies/v2/companies/999999999")
    assert missing.status_code == 404


def test_deals_v1_paged_with_associations_matches_v4(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    page = _get(
        http,
        sandbox,
        "/deals/v1/deal/paged",
        limit=20,
        includeAssociations="true",
        properties="dealname",
    )
    assert page["hasMore"] is True and len(page["deals"]) == 20
    deal = page["deals"][0]
    assert set(deal["properties"]) <= {"dealname"}
    v4 = hs.crm.associations.v4.basic_api.get_page("deals", str(deal["dealId"]), "companies")
    assert deal["associations"]["associatedCompanyIds"] == sorted(
        {int(r.to_object_id) for r in v4.results}
    )
    bad = http.get(
        f"{sandbox.hubspot_base_url}/deals/v1/deal/paged",
        params={"includeAllProperties": "true", "allPropertiesFetchMode": "sometimes"},
    )
    assert bad.status_code == 400


def test_deal_pipelines_v1_match_v3(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    v1 = _get(http, sandbox, "/deals/v1/pipelines")
    v3 = hs.crm.pipelines.pipelines_api.get_all("deals").results
    assert [p["pipelineId"] for p in v1] == [p.id for p in v3]
    for old, new in zip(v1, v3, strict=True):
        assert [(s["stageId"], s["probability"]) for s in old["stages"]] == [
            (s.id, float(s.metadata["probability"])) for s in new.stages
        ]


@pytest.mark.parametrize("path", ["/properties/v1/deals/properties", "/companies/v2/properties"])
def test_legacy_property_lists_are_the_v3_definitions(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot, path: str
) -> None:
    obj = "deals" if "deals" in path else "companies"
    legacy = _get(http, sandbox, path)
    assert isinstance(legacy, list)
    v3 = hs.crm.properties.core_api.get_all(obj).results
    assert {(p["name"], p["type"]) for p in legacy} == {(p.name, p.type) for p in v3}


def test_empty_standard_types_read_empty_and_refuse_writes(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    assert hs.crm.tickets.basic_api.get_page(limit=10).results == []
    props = hs.crm.properties.core_api.get_all("tickets").results
    assert "hs_pipeline_stage" in {p.name for p in props}
    legacy = _get(http, sandbox, "/properties/v2/line_item/properties")
    assert "quantity" in {p["name"] for p in legacy}
    found = http.post(
        f"{sandbox.hubspot_base_url}/crm/v3/objects/calls/search", json={"limit": 5}
    ).json()
    assert found == {"total": 0, "results": []}
    created = http.post(
        f"{sandbox.hubspot_base_url}/crm/v3/objects/tickets",
        json={"properties": {"subject": "x"}},
    )
    assert created.status_code == 400 and "refuses writes" in created.json()["message"]
    # associations= naming an empty type adds nothing and fails nothing.
    page = hs.crm.contacts.basic_api.get_page(limit=5, associations=["tickets", "companies"])
    assert all("tickets" not in (r.associations or {}) for r in page.results)
    assert _get(http, sandbox, "/crm/v3/schemas") == {"results": []}


def test_quotes_are_a_standard_type_read_empty(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    """Quotes (objectTypeId 0-14) are a standard CRM object of every portal, listed and
    associated like tickets and products: dlt's verified HubSpot source lists companies with
    `associations=contacts,deals,products,tickets,quotes` and reads the quotes' default
    properties hs_title, hs_expiration_date, hs_status, hs_public_url_key."""
    assert hs.crm.quotes.basic_api.get_page(limit=10).results == []
    props = {p.name: p.type for p in hs.crm.properties.core_api.get_all("quotes").results}
    assert {
        "hs_title": "string",
        "hs_expiration_date": "datetime",
        "hs_status": "enumeration",
        "hs_public_url_key": "string",
        "hs_createdate": "datetime",
        "hs_lastmodifieddate": "datetime",
        "hs_object_id": "number",
    }.items() <= props.items()
    assert _get(http, sandbox, "/crm/v3/objects/0-14") == {"results": []}
    page = hs.crm.companies.basic_api.get_page(
        limit=5, associations=["contacts", "deals", "products", "tickets", "quotes"]
    )
    assert len(page.results) == 5
    assert all("quotes" not in (r.associations or {}) for r in page.results)


def test_default_ticket_and_product_properties(hs: hubspot.HubSpot) -> None:
    """HubSpot's default ticket properties include Priority (hs_ticket_priority) and Category
    (hs_ticket_category); its default product properties include Description (description)."""
    tickets = {p.name: p for p in hs.crm.properties.core_api.get_all("tickets").results}
    for name in ("hs_ticket_priority", "hs_ticket_category"):
        assert tickets[name].type == "enumeration", name
    products = {p.name: p for p in hs.crm.properties.core_api.get_all("products").results}
    assert products["description"].type == "string"


def test_top_level_search_filters_are_applied(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    ids = _v3_ids(hs, "contacts")
    low, high = ids[10], ids[19]
    url = f"{sandbox.hubspot_base_url}/crm/v3/objects/contacts/search"
    body = {
        "filters": [
            {"propertyName": "hs_object_id", "operator": "GTE", "value": str(low)},
            {"propertyName": "hs_object_id", "operator": "LTE", "value": str(high)},
        ],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "limit": 100,
    }
    found = http.post(url, json=body).json()
    assert found["total"] == 10
    assert [int(r["id"]) for r in found["results"]] == ids[10:20]
    # With filter groups too: both must hold.
    group = {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": str(low)}]}
    both = http.post(url, json={**body, "filterGroups": [group]}).json()
    assert [int(r["id"]) for r in both["results"]] == [low]
    bad = http.post(url, json={"filters": {"propertyName": "x"}})
    assert bad.status_code == 400


def test_v4_association_batch_read_takes_1000_inputs(
    sandbox: SandboxSettings, http: requests.Session, hs: hubspot.HubSpot
) -> None:
    contacts = _v3_ids(hs, "contacts")[:150]
    url = f"{sandbox.hubspot_base_url}/crm/v4/associations/contacts/companies/batch/read"
    answer = http.post(url, json={"inputs": [{"id": str(i)} for i in contacts]})
    assert answer.status_code in (200, 207), answer.text
    body = answer.json()
    assert len(body["results"]) + body.get("numErrors", 0) == 150
    for error in body.get("errors", []):
        assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
        assert error["context"]["fromObjectType"] == ["contact"]
        assert error["context"]["toObjectType"] == ["company"]
    too_many = http.post(url, json={"inputs": [{"id": str(i)} for i in range(1001)]})
    assert too_many.status_code == 400


def test_token_introspection(sandbox: SandboxSettings) -> None:
    token = sandbox.credentials.hubspot_access_token
    answer = requests.get(f"{sandbox.hubspot_base_url}/oauth/v1/access-tokens/{token}")
    assert answer.status_code == 200
    assert "crm.objects.contacts.read" in answer.json()["scopes"]
    assert (
        requests.get(f"{sandbox.hubspot_base_url}/oauth/v1/access-tokens/nope").status_code == 404
    )


@pytest.mark.parametrize("email", ["not-an-email", "two@@signs.com", "no-dot@domain"])
def test_contact_email_must_be_an_address(hs: hubspot.HubSpot, email: str) -> None:
    with pytest.raises(ApiException) as caught:
        hs.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": email, "firstname": "X"})
        )
    assert caught.value.status == 400
    assert "INVALID_EMAIL" in caught.value.body


@pytest.mark.parametrize("prop", ["hs_object_id", "hs_lastmodifieddate", "lastmodifieddate"])
def test_read_only_properties_are_refused_on_create(hs: hubspot.HubSpot, prop: str) -> None:
    with pytest.raises(ApiException) as caught:
        hs.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(
                properties={"email": f"ro-{prop}@example.org", prop: "2020-01-01T00:00:00Z"}
            )
        )
    assert caught.value.status == 400
    assert "READ_ONLY_VALUE" in caught.value.body


def test_last_modified_history_is_stamped_when_it_says(hs: hubspot.HubSpot) -> None:
    page = hs.crm.companies.basic_api.get_page(
        limit=5, properties_with_history=["hs_lastmodifieddate"]
    )
    for company in page.results:
        (version,) = company.properties_with_history["hs_lastmodifieddate"]
        assert version.timestamp == company.updated_at
        assert version.value.startswith(company.updated_at.strftime("%Y-%m-%dT%H:%M:%S"))
