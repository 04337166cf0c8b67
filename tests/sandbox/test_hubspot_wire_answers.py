"""HubSpot sandbox answers settled against what the live API sends, through the real
hubspot-api-client (validation on): a contact batch create whose inputs share an email, a batch
create holding an email a contact already has, the JSON types of v4 association reads, the
`context` of a record's 404 and the 400 of a PATCH without properties."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hs_helpers import Running, client, serve_unthrottled, synthetic_org
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.companies.exceptions import NotFoundException
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInputForCreate as CreateBatch
from hubspot.crm.contacts import SimplePublicObjectBatchInputForCreate as CreateInput
from hubspot.crm.contacts import SimplePublicObjectInput
from hubspot.crm.contacts.exceptions import ApiException
from hubspot.crm.deals import SimplePublicObjectInput as DealInput
from hubspot.crm.deals.exceptions import ApiException as DealsApiException
from hubspot.crm.tickets.exceptions import ApiException as TicketsApiException


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve_unthrottled(tmp_path_factory, synthetic_org(companies=40)) as run:
        yield run


def _emails_held(hs_run: Running, email: str) -> int:
    hs = client(hs_run.base_url)
    found = hs.crm.contacts.search_api.do_search(
        public_object_search_request={
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}
            ],
            "limit": 10,
        }
    )
    return int(found.total)


def test_batch_create_with_one_email_twice_is_a_409_and_creates_nothing(
    hs_run: Running,
) -> None:
    hs = client(hs_run.base_url)
    with pytest.raises(ApiException) as refused:
        hs.crm.contacts.batch_api.create(
            CreateBatch(
                inputs=[
                    CreateInput(properties={"email": "twice@dup.example.com", "firstname": "A"}),
                    CreateInput(properties={"email": "other@dup.example.com"}),
                    CreateInput(properties={"email": "Twice@Dup.example.com", "firstname": "B"}),
                ]
            )
        )
    assert refused.value.status == 409
    body = json.loads(refused.value.body)
    assert body["status"] == "error" and body["category"] == "CONFLICT"
    assert body["message"].startswith("Contact already exists. Existing ID: ")
    assert set(body) == {"status", "message", "correlationId", "category"}
    assert _emails_held(hs_run, "twice@dup.example.com") == 0
    assert _emails_held(hs_run, "other@dup.example.com") == 0  # the batch fails whole


def test_batch_create_with_an_email_already_held_is_a_409_naming_the_holder(
    hs_run: Running,
) -> None:
    hs = client(hs_run.base_url)
    held = hs.crm.contacts.basic_api.get_page(limit=2, properties=["email"]).results
    with pytest.raises(ApiException) as refused:
        hs.crm.contacts.batch_api.create(
            CreateBatch(
                inputs=[
                    CreateInput(properties={"email": "fresh@held.example.com"}),
                    CreateInput(properties={"email": held[0].properties["email"]}),
                    CreateInput(properties={"email": held[1].properties["email"]}),
                ]
            )
        )
    assert refused.value.status == 409
    body = json.loads(refused.value.body)
    assert body["category"] == "CONFLICT"
    # only the first taken email is named (github.com/HubSpot/hubspot-api-python/issues/51)
    assert body["message"] == f"Contact already exists. Existing ID: {held[0].id}"
    assert _emails_held(hs_run, "fresh@held.example.com") == 0


def _linked_company(hs_run: Running) -> tuple[str, str]:
    hs = client(hs_run.base_url)
    for contact in hs.crm.contacts.basic_api.get_page(limit=20).results:
        page = hs.crm.associations.v4.basic_api.get_page("contacts", contact.id, "companies")
        if page.results:
            return contact.id, page.results[0].to_object_id
    raise AssertionError("no contact of the seed has a company")


def test_v4_reads_send_to_object_id_as_a_json_number(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    contact, company = _linked_company(hs_run)
    # The client's model types it `str` and takes the number (str() on a primitive).
    assert isinstance(company, str) and company.isdigit()
    raw = hs.crm.associations.v4.basic_api.get_page(
        "contacts", contact, "companies", _preload_content=False
    )
    results = json.loads(raw.data)["results"]
    assert results and all(type(r["toObjectId"]) is int for r in results)
    assert int(company) in {r["toObjectId"] for r in results}

    batch = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": contact}])
    read = hs.crm.associations.v4.batch_api.get_page("contacts", "companies", batch)
    assert read.results[0]._from.id == contact
    assert company in {t.to_object_id for t in read.results[0].to}
    raw_batch = hs.crm.associations.v4.batch_api.get_page(
        "contacts", "companies", batch, _preload_content=False
    )
    entry = json.loads(raw_batch.data)["results"][0]
    assert entry["from"] == {"id": contact}  # from.id stays a string
    assert all(type(t["toObjectId"]) is int for t in entry["to"])


def test_a_missing_record_is_a_404_naming_the_id_in_context(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    with pytest.raises(NotFoundException) as got:
        hs.crm.companies.basic_api.get_by_id("99999999", properties=["name"])
    body = json.loads(got.value.body)
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["message"] == "Object not found.  objectId are usually numeric."
    assert body["context"] == {"id": ["99999999"]}
    assert body["correlationId"] == got.value.headers["X-HubSpot-Correlation-Id"]

    with pytest.raises(DealsApiException) as patched:
        hs.crm.deals.basic_api.update("not-a-deal-id", DealInput(properties={"dealname": "x"}))
    assert patched.value.status == 404
    assert json.loads(patched.value.body)["context"] == {"id": ["not-a-deal-id"]}

    with pytest.raises(TicketsApiException) as ticket:  # a standard type the portal has none of
        hs.crm.tickets.basic_api.get_by_id("5")
    assert ticket.value.status == 404
    assert json.loads(ticket.value.body)["context"] == {"id": ["5"]}


def test_a_patch_without_properties_is_a_400_and_changes_nothing(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    contact = hs.crm.contacts.basic_api.get_page(limit=1).results[0]
    before = hs.crm.contacts.basic_api.get_by_id(contact.id, properties=["lastmodifieddate"])
    for body in (SimplePublicObjectInput(properties={}), {}):
        with pytest.raises(ApiException) as got:
            hs.crm.contacts.basic_api.update(contact.id, body)
        assert got.value.status == 400
        answer = json.loads(got.value.body)
        assert answer["category"] == "VALIDATION_ERROR"
        assert answer["message"] == "No properties found to update, please provide at least one."
    after = hs.crm.contacts.basic_api.get_by_id(contact.id, properties=["lastmodifieddate"])
    assert after.updated_at == before.updated_at
    assert after.properties["lastmodifieddate"] == before.properties["lastmodifieddate"]
    # Checked before the record is looked up: an id that is no record is a 400 too.
    with pytest.raises(ApiException) as missing:
        hs.crm.contacts.basic_api.update("0", {})
    assert missing.value.status == 400
