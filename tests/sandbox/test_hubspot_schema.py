"""HubSpot sandbox metadata through the real client: properties and groups, deal pipelines,
associations v4 (single and batch), owners."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from hs_helpers import (
    TOKEN,
    Running,
    client,
    default_client,
    serve_unthrottled,
    synthetic_org,
)
from hubspot.crm.associations.v4 import (
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    BatchResponsePublicAssociationMultiWithLabel,
    BatchResponsePublicAssociationMultiWithLabelWithErrors,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
    PublicObjectId,
)
from hubspot.crm.companies import SimplePublicObjectInput
from hubspot.crm.pipelines.exceptions import ApiException as PipelinesApiException
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyUpdate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from acm_sync.sandbox.hubspot import schema


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve_unthrottled(
        tmp_path_factory, synthetic_org(companies=120, contacts_per=3, deals_per=2)
    ) as run:
        yield run


def test_default_properties_and_groups(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    for obj in ("companies", "contacts", "deals"):
        props = {p.name: p for p in hs.crm.properties.core_api.get_all(obj).results}
        assert {p.name for p in schema.DEFAULT_PROPERTIES[obj]} <= set(props)
        assert props["hs_object_id"].modification_metadata.read_only_value is True
        assert props["createdate"].type == "datetime"
        assert all(p.hubspot_defined for p in props.values())
    industry = hs.crm.properties.core_api.get_by_name("companies", "industry")
    assert industry.type == "enumeration" and industry.field_type == "select"
    assert {o.value for o in industry.options} == set(schema.INDUSTRIES)
    groups = {g.name for g in hs.crm.properties.groups_api.get_all("companies").results}
    assert "companyinformation" in groups


def test_create_group_and_enumeration_property_then_write_it(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    group = hs.crm.properties.groups_api.create(
        "companies", PropertyGroupCreate(name="acm_sync", label="ACM Sync", display_order=5)
    )
    assert group.name == "acm_sync" and group.archived is False
    with pytest.raises(PropertiesApiException) as again:
        hs.crm.properties.groups_api.create(
            "companies", PropertyGroupCreate(name="acm_sync", label="ACM Sync")
        )
    assert again.value.status == 409
    tiers = ["Key", "Existing", "New", "Dormant", "Prospect"]
    created = hs.crm.properties.core_api.create(
        "companies",
        PropertyCreate(
            name="acm_tier",
            label="ACM Tier",
            type="enumeration",
            field_type="select",
            group_name="acm_sync",
            description="Account tier",
            options=[
                OptionInput(label=t, value=t, display_order=i, hidden=False)
                for i, t in enumerate(tiers)
            ],
        ),
    )
    assert created.name == "acm_tier" and created.hubspot_defined is False
    assert [o.value for o in created.options] == tiers
    with pytest.raises(PropertiesApiException) as exists:
        hs.crm.properties.core_api.create(
            "companies",
            PropertyCreate(
                name="acm_tier",
                label="ACM Tier",
                type="enumeration",
                field_type="select",
                group_name="acm_sync",
                options=[],
            ),
        )
    assert exists.value.status == 409
    assert json.loads(exists.value.body)["category"] == "OBJECT_ALREADY_EXISTS"
    hs.crm.properties.core_api.create(
        "companies",
        PropertyCreate(
            name="acm_health_score",
            label="ACM Health Score",
            type="number",
            field_type="number",
            group_name="acm_sync",
        ),
    )
    company = hs.crm.companies.basic_api.get_page(limit=1).results[0]
    hs.crm.companies.basic_api.update(
        company.id,
        SimplePublicObjectInput(properties={"acm_tier": "Key", "acm_health_score": "87.50"}),
    )
    fetched = hs.crm.companies.basic_api.get_by_id(
        company.id, properties=["acm_tier", "acm_health_score"]
    )
    assert fetched.properties["acm_tier"] == "Key"
    assert fetched.properties["acm_health_score"] == "87.5"
    # a new option through PATCH; writes outside the options are refused
    hs.crm.properties.core_api.update(
        "companies",
        "acm_tier",
        PropertyUpdate(
            options=[
                OptionInput(label=t, value=t, display_order=i, hidden=False)
                for i, t in enumerate([*tiers, "Churned"])
            ]
        ),
    )
    hs.crm.companies.basic_api.update(
        company.id, SimplePublicObjectInput(properties={"acm_tier": "Churned"})
    )
    with pytest.raises(Exception) as bad:
        hs.crm.companies.basic_api.update(
            company.id, SimplePublicObjectInput(properties={"acm_tier": "Platinum"})
        )
    assert getattr(bad.value, "status", None) == 400
    # search sees the new property
    found = hs.crm.companies.search_api.do_search(
        {
            "filterGroups": [
                {"filters": [{"propertyName": "acm_tier", "operator": "EQ", "value": "Churned"}]}
            ]
        }
    )
    assert [r.id for r in found.results] == [company.id]


def test_invalid_property_definitions_are_400s(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    for body in (
        {
            "name": "Bad Name",
            "label": "x",
            "type": "string",
            "fieldType": "text",
            "groupName": "companyinformation",
        },
        {
            "name": "ok_name",
            "label": "x",
            "type": "number",
            "fieldType": "select",
            "groupName": "no_such_group",
        },
        {
            "name": "ok_name",
            "label": "x",
            "type": "bool",
            "fieldType": "textarea",
            "groupName": "companyinformation",
        },
    ):
        with pytest.raises(PropertiesApiException) as exc:
            hs.crm.properties.core_api.create("companies", body)
        assert exc.value.status == 400


def test_deal_pipelines_with_stage_probabilities(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    for object_type in ("deals", "0-3"):
        pipelines = hs.crm.pipelines.pipelines_api.get_all(object_type).results
        assert [p.id for p in pipelines] == ["default"]
        stages = pipelines[0].stages
        assert [(s.id, s.metadata["probability"]) for s in stages] == [
            (s[0], s[2]) for s in schema.DEAL_STAGES
        ]
        assert {s.id: s.metadata["isClosed"] for s in stages}["closedwon"] == "true"
    one = hs.crm.pipelines.pipeline_stages_api.get_by_id("deals", "default", "contractsent")
    assert one.metadata["probability"] == "0.9"
    with pytest.raises(PipelinesApiException) as exc:
        hs.crm.pipelines.pipelines_api.get_by_id("deals", "nope")
    assert exc.value.status == 404


def test_default_ticket_pipeline(hs_run: Running) -> None:
    """Every account has a default ticket pipeline (developers.hubspot.com/docs/api/crm/pipelines:
    "each account has at least one pipeline"), the Support Pipeline "0" with the statuses New,
    Waiting on contact, Waiting on us (ticketState OPEN) and Closed (CLOSED)."""
    hs = client(hs_run.base_url)
    for object_type in ("tickets", "0-5"):
        pipelines = hs.crm.pipelines.pipelines_api.get_all(object_type).results
        assert [(p.id, p.label) for p in pipelines] == [("0", "Support Pipeline")]
        assert [(s.id, s.label, s.metadata["ticketState"]) for s in pipelines[0].stages] == [
            ("1", "New", "OPEN"),
            ("2", "Waiting on contact", "OPEN"),
            ("3", "Waiting on us", "OPEN"),
            ("4", "Closed", "CLOSED"),
        ]
    one = hs.crm.pipelines.pipeline_stages_api.get_by_id("tickets", "0", "4")
    assert one.metadata["ticketState"] == "CLOSED"
    assert hs.crm.pipelines.pipelines_api.get_by_id("tickets", "0").label == "Support Pipeline"
    with pytest.raises(PipelinesApiException) as exc:
        hs.crm.pipelines.pipelines_api.get_by_id("tickets", "default")
    assert exc.value.status == 404


def test_associations_v4_single_and_batch(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    company = hs.crm.companies.basic_api.get_page(limit=1).results[0]
    contacts = hs.crm.associations.v4.basic_api.get_page("companies", company.id, "contacts")
    assert len(contacts.results) == 3
    for item in contacts.results:
        assert {(t.type_id, t.label, t.category) for t in item.association_types} == {
            (2, "Primary", "HUBSPOT_DEFINED"),
            (280, None, "HUBSPOT_DEFINED"),
        }
    paged = hs.crm.associations.v4.basic_api.get_page("companies", company.id, "contacts", limit=2)
    assert len(paged.results) == 2 and paged.paging.next.after
    rest = hs.crm.associations.v4.basic_api.get_page(
        "companies", company.id, "contacts", after=paged.paging.next.after, limit=2
    )
    assert len(rest.results) == 1
    # deals whose company is live (a few seeded companies are archived)
    deal_ids = [
        d.id
        for d in hs.crm.deals.basic_api.get_page(limit=8).results
        if hs.crm.associations.v4.basic_api.get_page("deals", d.id, "companies").results
    ]
    batch = hs.crm.associations.v4.batch_api.get_page(
        "deals",
        "companies",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in deal_ids]
        ),
    )
    assert isinstance(batch, BatchResponsePublicAssociationMultiWithLabel)
    assert [r._from.id for r in batch.results] == deal_ids
    assert all({t.type_id for t in r.to[0].association_types} == {5, 341} for r in batch.results)
    # A 207 answer through the default-config client, as the product reads it: real HubSpot's
    # batch error entries omit StandardError's spec-required `errors` / `links`, so the strict
    # client would raise on them against the live API too.
    with_missing = default_client(hs_run.base_url).crm.associations.v4.batch_api.get_page(
        "0-3",
        "0-2",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[
                PublicFetchAssociationsBatchRequest(id=deal_ids[0]),
                PublicFetchAssociationsBatchRequest(id="12345678"),
            ]
        ),
    )
    assert isinstance(with_missing, BatchResponsePublicAssociationMultiWithLabelWithErrors)
    assert with_missing.num_errors == 1 and len(with_missing.results) == 1


def test_option_labels_are_hubspots(hs_run: Running) -> None:
    """The dealstage and pipeline properties list the pipelines API's stages and pipeline (same
    labels: HubSpot derives those options from the pipelines), lifecycle stages and deal types
    carry HubSpot's labels, not the title-cased internal value ("Appointmentscheduled")."""
    hs = client(hs_run.base_url)
    pipelines = hs.crm.pipelines.pipelines_api.get_all("deals").results
    stages = [(s.id, s.label) for p in pipelines for s in p.stages]
    dealstage = hs.crm.properties.core_api.get_by_name("deals", "dealstage")
    assert [(o.value, o.label) for o in dealstage.options] == stages
    pipeline = hs.crm.properties.core_api.get_by_name("deals", "pipeline")
    assert [(o.value, o.label) for o in pipeline.options] == [(p.id, p.label) for p in pipelines]
    lifecycle = hs.crm.properties.core_api.get_by_name("contacts", "lifecyclestage")
    assert [o.label for o in lifecycle.options] == [
        "Subscriber",
        "Lead",
        "Marketing Qualified Lead",
        "Sales Qualified Lead",
        "Opportunity",
        "Customer",
        "Evangelist",
        "Other",
    ]
    dealtype = hs.crm.properties.core_api.get_by_name("deals", "dealtype")
    assert {(o.value, o.label) for o in dealtype.options} == {
        ("newbusiness", "New Business"),
        ("existingbusiness", "Existing Business"),
    }
    industry = hs.crm.properties.core_api.get_by_name("companies", "industry")
    labels = {o.value: o.label for o in industry.options}
    assert labels["FOOD_BEVERAGES"] == "Food & Beverages"
    assert labels["COMPUTER_SOFTWARE"] == "Computer Software"


def test_association_labels_between_two_objects(hs_run: Running) -> None:
    """GET /crm/v4/associations/{from}/{to}/labels (the Python client's schema
    definitions_api.get_all, the Node client's v4.schema.definitionsApi.getAll): the types between
    the pair, Primary and the unlabelled one (label null), as HubSpot's association type id table
    lists them."""
    hs = client(hs_run.base_url)
    labels = hs.crm.associations.v4.schema.definitions_api.get_all("contacts", "companies")
    assert [(t.category, t.type_id, t.label) for t in labels.results] == [
        ("HUBSPOT_DEFINED", 1, "Primary"),
        ("HUBSPOT_DEFINED", 279, None),
    ]
    deals = hs.crm.associations.v4.schema.definitions_api.get_all("deals", "contacts")
    assert [(t.type_id, t.label) for t in deals.results] == [(3, None)]


def test_batch_associate_default(hs_run: Running) -> None:
    """POST /crm/v4/associations/{from}/{to}/batch/associate/default: an unlabelled association
    per {from, to} input, readable back through the v4 read; a missing record is an error in a
    207 answer, the other inputs still associated."""
    hs = client(hs_run.base_url)
    deals = hs.crm.deals.basic_api.get_page(limit=3).results
    company = hs.crm.companies.basic_api.get_page(limit=5).results[4]
    inputs = [
        PublicDefaultAssociationMultiPost(
            _from=PublicObjectId(id=d.id), to=PublicObjectId(id=company.id)
        )
        for d in deals[:2]
    ]
    done = hs.crm.associations.v4.batch_api.create_default(
        "deals", "companies", BatchInputPublicDefaultAssociationMultiPost(inputs=inputs)
    )
    assert done.status == "COMPLETE"
    assert [(r._from.id, r.to.id) for r in done.results] == [(d.id, company.id) for d in deals[:2]]
    assert {r.association_spec.association_type_id for r in done.results} == {341}
    for d in deals[:2]:
        linked = hs.crm.associations.v4.basic_api.get_page("deals", d.id, "companies").results
        assert company.id in {str(r.to_object_id) for r in linked}
    raw = requests.post(
        f"{hs_run.base_url}/crm/v4/associations/deals/companies/batch/associate/default",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
        json={
            "inputs": [
                {"from": {"id": deals[2].id}, "to": {"id": company.id}},
                {"from": {"id": "99999999"}, "to": {"id": company.id}},
            ]
        },
    )
    assert raw.status_code == 207, raw.text
    assert raw.json()["numErrors"] == 1 and len(raw.json()["results"]) == 1


def test_associate_through_v4_put(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    company = hs.crm.companies.basic_api.get_page(limit=2).results[1]
    deal = hs.crm.deals.basic_api.get_page(limit=1).results[0]
    hs.crm.associations.v4.basic_api.create_default("deals", deal.id, "companies", company.id)
    companies = hs.crm.associations.v4.basic_api.get_page("deals", deal.id, "companies")
    assert company.id in {r.to_object_id for r in companies.results}
    back = hs.crm.associations.v4.basic_api.get_page("companies", company.id, "deals")
    assert deal.id in {r.to_object_id for r in back.results}
    hs.crm.associations.v4.basic_api.archive("deals", deal.id, "companies", company.id)
    companies = hs.crm.associations.v4.basic_api.get_page("deals", deal.id, "companies")
    assert company.id not in {r.to_object_id for r in companies.results}


def test_owners(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    owners = hs.crm.owners.owners_api.get_page()
    assert [o.email for o in owners.results] == ["a@x.io", "b@x.io"]
    assert hs.crm.owners.owners_api.get_by_id(int(owners.results[0].id)).first_name == "Ann"
