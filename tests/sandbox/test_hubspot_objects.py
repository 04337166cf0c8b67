"""HubSpot sandbox, CRM v3 objects through the real hubspot-api-client (validation on): paging,
reads by id / idProperty, archived records, writes, value formats, history, merges."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dateutil.parser import parse
from hs_helpers import Running, client, serve, serve_unthrottled, synthetic_org
from hubspot.crm.companies import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.companies.exceptions import ApiException, NotFoundException
from hubspot.crm.contacts import PublicMergeInput
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealCreate
from hubspot.crm.deals.exceptions import ApiException as DealsApiException

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


@pytest.fixture(scope="module")
def org() -> object:
    return synthetic_org(companies=250, contacts_per=2, deals_per=1)


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory: pytest.TempPathFactory, org: object) -> Iterator[Running]:
    with serve_unthrottled(tmp_path_factory, org) as run:
        yield run


def test_paging_past_100_rows_with_get_page_and_get_all(hs_run: Running, org: object) -> None:
    hs = client(hs_run.base_url)
    frame = org.hubspot["companies"]  # type: ignore[attr-defined]
    live = frame[~frame["archived"]]
    seen, after, pages = [], None, 0
    while True:
        page = hs.crm.companies.basic_api.get_page(limit=100, after=after)
        pages += 1
        seen += [r.id for r in page.results]
        assert len(page.results) <= 100
        if page.paging is None:
            break
        assert page.paging.next.link.startswith(hs_run.base_url + "/crm/v3/objects/companies?")
        after = page.paging.next.after
    assert pages == 3
    assert seen == [str(i) for i in sorted(live["id"])]
    everything = hs.crm.companies.get_all(properties=["name", "annualrevenue"])
    assert [r.id for r in everything] == seen
    # limit above 100 is served 100 at a time, as HubSpot does
    assert len(hs.crm.companies.basic_api.get_page(limit=500).results) == 100


def test_values_are_strings_formatted_as_hubspot_does(hs_run: Running, org: object) -> None:
    hs = client(hs_run.base_url)
    raw = hs.crm.deals.basic_api.get_page(
        limit=100,
        properties=["amount", "closedate", "hs_deal_stage_probability", "dealstage"],
        _preload_content=False,
    )
    body = json.loads(raw.data)
    for record in body["results"]:
        assert isinstance(record["id"], str)
        assert ISO_MS.match(record["createdAt"]) and ISO_MS.match(record["updatedAt"])
        assert record["archived"] is False and "archivedAt" not in record
        props = record["properties"]
        assert all(v is None or isinstance(v, str) for v in props.values())
        assert props["hs_object_id"] == record["id"]
        assert props["hs_lastmodifieddate"] == record["updatedAt"]
        assert props["createdate"] == record["createdAt"]
        assert not props["amount"].endswith(".0")
        assert ISO_MS.match(props["closedate"])
        assert props["hs_deal_stage_probability"] in {"0", "0.2", "0.4", "0.6", "0.8", "0.9", "1"}
    frame = org.hubspot["companies"]  # type: ignore[attr-defined]
    revenue = frame.set_index("id")["annualrevenue"]
    page = hs.crm.companies.basic_api.get_page(limit=100, properties=["annualrevenue"])
    for r in page.results:
        expected = revenue[int(r.id)]
        if expected != expected:  # NaN: no value
            assert r.properties["annualrevenue"] is None
        else:
            assert float(r.properties["annualrevenue"]) == pytest.approx(expected)
            if float(expected).is_integer():
                assert "." not in r.properties["annualrevenue"]


def test_requested_properties_and_defaults(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    default = hs.crm.contacts.basic_api.get_page(limit=1).results[0].properties
    assert set(default) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    chosen = (
        hs.crm.contacts.basic_api.get_page(
            limit=1, properties=["email", "jobtitle", "no_such_property"]
        )
        .results[0]
        .properties
    )
    assert set(chosen) == {"email", "jobtitle", "createdate", "hs_object_id", "lastmodifieddate"}
    assert chosen["jobtitle"] is None


def test_get_by_id_and_by_unique_id_property(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    first = hs.crm.contacts.basic_api.get_page(limit=1, properties=["email"]).results[0]
    again = hs.crm.contacts.basic_api.get_by_id(first.id, properties=["email"])
    assert again.id == first.id
    by_email = hs.crm.contacts.basic_api.get_by_id(
        first.properties["email"].upper(), id_property="email"
    )
    assert by_email.id == first.id
    with pytest.raises(ApiException) as not_unique:  # domain is not a unique property
        hs.crm.companies.basic_api.get_by_id("company1.example.com", id_property="domain")
    assert not_unique.value.status == 400
    with pytest.raises(NotFoundException) as missing:
        hs.crm.companies.basic_api.get_by_id("999999999")
    error = json.loads(missing.value.body)
    assert error["status"] == "error" and error["category"] == "OBJECT_NOT_FOUND"
    assert error["correlationId"] == missing.value.headers["X-HubSpot-Correlation-Id"]


def test_archived_records_listed_only_with_archived_true(hs_run: Running, org: object) -> None:
    hs = client(hs_run.base_url)
    frame = org.hubspot["companies"]  # type: ignore[attr-defined]
    expected = sorted(str(i) for i in frame[frame["archived"]]["id"])
    archived = hs.crm.companies.get_all(archived=True)
    assert [r.id for r in archived] == expected and expected
    assert all(r.archived and r.archived_at is not None for r in archived)
    with pytest.raises(NotFoundException):
        hs.crm.companies.basic_api.get_by_id(expected[0])
    assert hs.crm.companies.basic_api.get_by_id(expected[0], archived=True).archived


def test_writes_maintain_updated_at_and_history(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    created = hs.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={
                "name": "Acme Sandbox",
                "domain": "acme-sandbox.io",
                "annualrevenue": "1200.50",
                "numberofemployees": "40",
            }
        )
    )
    assert created.properties["annualrevenue"] == "1200.5"
    assert created.properties["hs_object_id"] == created.id
    before = created.updated_at
    updated = hs.crm.companies.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"name": "Acme Renamed"})
    )
    assert updated.updated_at >= before
    assert parse(updated.properties["hs_lastmodifieddate"]) == updated.updated_at
    with_history = hs.crm.companies.basic_api.get_by_id(
        created.id, properties_with_history=["name"]
    )
    versions = with_history.properties_with_history["name"]
    assert [v.value for v in versions] == ["Acme Renamed", "Acme Sandbox"]
    assert versions[0].source_type == "INTEGRATION"
    hs.crm.companies.basic_api.archive(created.id)
    with pytest.raises(NotFoundException):
        hs.crm.companies.basic_api.get_by_id(created.id)


def test_deal_stage_history_and_stage_probability(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    page = hs.crm.deals.basic_api.get_page(limit=20, properties_with_history=["dealstage"])
    for deal in page.results:
        versions = deal.properties_with_history["dealstage"]
        assert versions and versions[0].timestamp >= versions[-1].timestamp
    deal = hs.crm.deals.basic_api.create(
        DealCreate(
            properties={"dealname": "Big one", "amount": "50000", "dealstage": "contractsent"}
        )
    )
    fetched = hs.crm.deals.basic_api.get_by_id(
        deal.id, properties=["hs_deal_stage_probability", "hs_is_closed", "pipeline"]
    )
    assert fetched.properties["hs_deal_stage_probability"] == "0.9"
    assert fetched.properties["hs_is_closed"] == "false"
    assert fetched.properties["pipeline"] == "default"
    with pytest.raises(DealsApiException) as bad:
        hs.crm.deals.basic_api.create(DealCreate(properties={"dealstage": "no_such_stage"}))
    assert bad.value.status == 400


def test_unknown_property_is_a_400_validation_error(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    with pytest.raises(ApiException) as exc:
        hs.crm.companies.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"name": "X", "not_a_property": "1"})
        )
    assert exc.value.status == 400
    body = json.loads(exc.value.body)
    assert body["category"] == "VALIDATION_ERROR" and body["status"] == "error"
    assert "PROPERTY_DOESNT_EXIST" in body["message"] and "correlationId" in body
    with pytest.raises(ApiException) as bad_number:
        hs.crm.companies.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"annualrevenue": "lots"})
        )
    assert bad_number.value.status == 400
    with pytest.raises(ApiException) as bad_option:
        hs.crm.companies.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"industry": "NOT_AN_INDUSTRY"})
        )
    assert "INVALID_OPTION" in json.loads(bad_option.value.body)["message"]
    with pytest.raises(ApiException) as read_only:
        hs.crm.companies.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"hs_object_id": "5"})
        )
    assert "READ_ONLY_VALUE" in json.loads(read_only.value.body)["message"]


def test_duplicate_contact_email_is_a_409(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    email = hs.crm.contacts.basic_api.get_page(limit=1, properties=["email"]).results[0]
    with pytest.raises(ContactsApiException) as exc:
        hs.crm.contacts.basic_api.create(
            ContactCreate(properties={"email": email.properties["email"]})
        )
    assert exc.value.status == 409
    assert (
        json.loads(exc.value.body)["message"] == f"Contact already exists. Existing ID: {email.id}"
    )


def test_associations_on_list_reads(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    page = hs.crm.contacts.basic_api.get_page(limit=10, associations=["companies"])
    for contact in page.results:
        found = contact.associations["companies"].results
        assert {a.type for a in found} == {"contact_to_company", "contact_to_company_unlabeled"}
    deals = hs.crm.deals.basic_api.get_page(limit=5, associations=["0-2"])
    assert all("companies" in d.associations for d in deals.results)


def test_merge_makes_a_new_record_and_old_ids_resolve_to_it(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    contacts = hs.crm.contacts.basic_api
    a = contacts.create(ContactCreate(properties={"email": "merge-a@x.io", "firstname": "A"}))
    b = contacts.create(
        ContactCreate(properties={"email": "merge-b@x.io", "lastname": "B", "jobtitle": "CTO"})
    )
    merged = contacts.merge(PublicMergeInput(primary_object_id=a.id, object_id_to_merge=b.id))
    assert merged.id not in (a.id, b.id)
    survivor = contacts.get_by_id(
        merged.id, properties=["hs_merged_object_ids", "email", "firstname", "lastname", "jobtitle"]
    )
    assert survivor.properties["hs_merged_object_ids"] == f"{a.id};{b.id}"
    assert survivor.properties["email"] == "merge-a@x.io"  # the primary's values win
    assert survivor.properties["jobtitle"] == "CTO"  # gaps filled from the merged record
    # old ids answer with the merged record (HubSpot keeps them pointing at it)
    assert contacts.get_by_id(b.id).id == merged.id
    assert contacts.get_by_id(a.id).id == merged.id
    listed = {r.id for r in hs.crm.contacts.get_all()}
    assert merged.id in listed and a.id not in listed and b.id not in listed
    # merging again chains the ids (the admin alias answers like the public endpoint)
    c = contacts.create(ContactCreate(properties={"email": "merge-c@x.io"}))
    again = hs_run.admin(
        "hubspot/merge",
        "POST",
        objectType="contacts",
        primaryObjectId=merged.id,
        objectIdToMerge=c.id,
    )
    assert again["properties"]["hs_merged_object_ids"] == f"{a.id};{b.id};{merged.id};{c.id}"
    assert contacts.get_by_id(a.id).id == again["id"]


def test_a_restart_on_the_same_file_keeps_everything(tmp_path: Path) -> None:
    db = tmp_path / "hubspot.db"
    with serve(db, seed=synthetic_org(companies=5)) as run:
        hs = client(run.base_url)
        company = hs.crm.companies.basic_api.get_page(limit=1).results[0]
        hs.crm.companies.basic_api.update(
            company.id, SimplePublicObjectInput(properties={"name": "Persisted Co"})
        )
    with serve(db, seed=synthetic_org(companies=50)) as run:  # not new: the seed is ignored
        hs = client(run.base_url)
        assert hs.crm.companies.basic_api.get_by_id(company.id).properties["name"] == "Persisted Co"
        assert (
            len(hs.crm.companies.get_all(archived=False))
            + len(hs.crm.companies.get_all(archived=True))
            == 5
        )
