"""HubSpot sandbox answers settled against what the live API sends, through the real
hubspot-api-client (validation on): a contact batch create whose inputs share an email and a
batch create holding an email a contact already has."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hs_helpers import Running, client, serve, synthetic_org
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInputForCreate as CreateBatch
from hubspot.crm.contacts import SimplePublicObjectBatchInputForCreate as CreateInput
from hubspot.crm.contacts.exceptions import ApiException


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve(
        tmp_path_factory.mktemp("hs") / "hubspot.db", seed=synthetic_org(companies=40)
    ) as run:
        run.limits(ten_second_max=100_000)
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
