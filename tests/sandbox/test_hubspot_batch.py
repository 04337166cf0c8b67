"""HubSpot sandbox batch endpoints through the real client: read / create / update / upsert /
archive, 207 multi-status answers, per-record rejections from the fault injector, limits."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hs_helpers import (
    Running,
    client,
    company_ids,
    default_client,
    serve_unthrottled,
    synthetic_org,
)
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.companies.exceptions import ApiException
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert as ContactUpsertBatch,
)
from hubspot.crm.contacts import SimplePublicObjectBatchInputUpsert as ContactUpsert
from hubspot.crm.properties import PropertyCreate

from acm_sync.sandbox.faults import FaultRule


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve_unthrottled(tmp_path_factory, synthetic_org(companies=150)) as run:
        yield run


def test_batch_read_with_a_missing_id_is_a_207(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    ids = company_ids(hs_run.base_url, 3)
    ok = hs.crm.companies.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=["name"],
            properties_with_history=[],
        )
    )
    assert isinstance(ok, BatchResponseSimplePublicObject)
    assert [r.id for r in ok.results] == ids and ok.status == "COMPLETE"
    # 207 answers through the default-config client, as the product reads them: real
    # HubSpot's batch error entries omit StandardError's spec-required `errors` / `links`,
    # so the strict client would raise on them against the live API too.
    partial = default_client(hs_run.base_url).crm.companies.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in [*ids, "424242"]],
            properties=["name"],
            properties_with_history=[],
        )
    )
    assert isinstance(partial, BatchResponseSimplePublicObjectWithErrors)
    assert partial.num_errors == 1 and len(partial.results) == 3
    assert partial.errors[0].category == "OBJECT_NOT_FOUND"
    assert partial.errors[0].context == {"ids": ["424242"]}


def test_batch_create_then_update_with_one_invalid_input_is_a_207(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    created = hs.crm.companies.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(properties={"name": f"Batch {i}"})
                for i in range(3)
            ]
        )
    )
    assert isinstance(created, BatchResponseSimplePublicObject) and len(created.results) == 3
    ids = [r.id for r in created.results]
    # 207 answers through the default-config client, as the product reads them: real
    # HubSpot's batch error entries omit StandardError's spec-required `errors` / `links`,
    # so the strict client would raise on them against the live API too.
    updated = default_client(hs_run.base_url).crm.companies.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                *(
                    SimplePublicObjectBatchInput(id=i, properties={"name": f"Renamed {i}"})
                    for i in ids
                ),
                SimplePublicObjectBatchInput(id="999999", properties={"name": "ghost"}),
            ]
        )
    )
    assert isinstance(updated, BatchResponseSimplePublicObjectWithErrors)
    assert updated.num_errors == 1
    assert updated.errors[0].category == "OBJECT_NOT_FOUND"
    assert updated.errors[0].context["ids"] == ["999999"]
    assert sorted(r.properties["name"] for r in updated.results) == sorted(
        f"Renamed {i}" for i in ids
    )
    fetched = hs.crm.companies.basic_api.get_by_id(ids[0])
    assert fetched.properties["name"] == f"Renamed {ids[0]}"
    assert fetched.updated_at >= created.results[0].updated_at


def test_rejections_from_the_fault_injector_fail_single_inputs(hs_run: Running) -> None:
    ids = company_ids(hs_run.base_url, 4)
    hs_run.faults.arm(
        FaultRule.model_validate(
            {
                "kind": "reject",
                "object": "companies",
                "record_ids": [ids[1]],
                "error_code": "CONFLICT",
                "message": "The record is locked by another update",
            }
        )
    )
    # A 207 answer through the default-config client, as the product reads it: real
    # HubSpot's batch error entries omit StandardError's spec-required `errors` / `links`,
    # so the strict client would raise on them against the live API too.
    result = default_client(hs_run.base_url).crm.companies.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=i, properties={"description": "touched"})
                for i in ids
            ]
        )
    )
    assert isinstance(result, BatchResponseSimplePublicObjectWithErrors)
    assert result.num_errors == 1 and result.errors[0].category == "CONFLICT"
    assert result.errors[0].context == {"ids": [ids[1]]}
    assert sorted(r.id for r in result.results) == sorted(i for i in ids if i != ids[1])


def test_batch_property_errors_fail_the_whole_batch(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    ids = company_ids(hs_run.base_url, 2)
    with pytest.raises(ApiException) as exc:
        hs.crm.companies.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    SimplePublicObjectBatchInput(id=ids[0], properties={"name": "fine"}),
                    SimplePublicObjectBatchInput(id=ids[1], properties={"bogus_property": "x"}),
                ]
            )
        )
    assert exc.value.status == 400
    assert json.loads(exc.value.body)["category"] == "VALIDATION_ERROR"
    assert hs.crm.companies.basic_api.get_by_id(ids[0]).properties["name"] != "fine"
    with pytest.raises(ApiException) as dupes:
        hs.crm.companies.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    SimplePublicObjectBatchInput(id=ids[0], properties={"name": "a"}),
                    SimplePublicObjectBatchInput(id=ids[0], properties={"name": "b"}),
                ]
            )
        )
    assert "Duplicate IDs" in json.loads(dupes.value.body)["message"]


def test_over_size_batches_are_refused(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    for call in (
        lambda: hs.crm.companies.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    SimplePublicObjectBatchInput(id=str(i), properties={"name": "x"})
                    for i in range(101)
                ]
            )
        ),
        lambda: hs.crm.companies.batch_api.read(
            BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=str(i)) for i in range(101)],
                properties=[],
                properties_with_history=[],
            )
        ),
        lambda: hs.crm.companies.batch_api.archive(
            BatchInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=str(i)) for i in range(101)]
            )
        ),
    ):
        with pytest.raises(ApiException) as exc:
            call()
        assert exc.value.status == 400
        body = json.loads(exc.value.body)
        assert body["category"] == "VALIDATION_ERROR" and "100" in body["message"]


def test_upsert_by_email_and_by_a_unique_custom_property(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    existing = hs.crm.contacts.basic_api.get_page(limit=1, properties=["email"]).results[0]
    result = hs.crm.contacts.batch_api.upsert(
        ContactUpsertBatch(
            inputs=[
                ContactUpsert(
                    id=existing.properties["email"],
                    id_property="email",
                    properties={"jobtitle": "VP Sales"},
                ),
                ContactUpsert(
                    id="brand.new@upsert.example",
                    id_property="email",
                    properties={"firstname": "Brand"},
                ),
            ]
        )
    )
    by_new = {r.new: r for r in result.results}
    assert by_new[False].id == existing.id
    assert by_new[False].properties["jobtitle"] == "VP Sales"
    assert by_new[True].properties["email"] == "brand.new@upsert.example"
    # domain is not unique in HubSpot: not an upsert key ...
    with pytest.raises(ApiException) as not_unique:
        hs.crm.companies.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    SimplePublicObjectBatchInputUpsert(
                        id="x.io", id_property="domain", properties={"name": "X"}
                    )
                ]
            )
        )
    assert not_unique.value.status == 400
    # ... a property created with hasUniqueValue is
    hs.crm.properties.core_api.create(
        "companies",
        PropertyCreate(
            name="acm_external_id",
            label="External ID",
            type="string",
            field_type="text",
            group_name="companyinformation",
            has_unique_value=True,
        ),
    )
    first = hs.crm.companies.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id="EXT-1", id_property="acm_external_id", properties={"name": "External One"}
                )
            ]
        )
    )
    assert isinstance(first, BatchResponseSimplePublicUpsertObject)
    assert first.results[0].new is True
    second = hs.crm.companies.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id="EXT-1", id_property="acm_external_id", properties={"name": "External Uno"}
                )
            ]
        )
    )
    assert second.results[0].new is False and second.results[0].id == first.results[0].id
    assert (
        hs.crm.companies.basic_api.get_by_id("EXT-1", id_property="acm_external_id").properties[
            "name"
        ]
        == "External Uno"
    )


def test_batch_archive_then_archived_list(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    ids = company_ids(hs_run.base_url, 3)
    hs.crm.companies.batch_api.archive(
        BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in [*ids, "31337"]])
    )
    archived = {r.id: r for r in hs.crm.companies.get_all(archived=True)}
    assert set(ids) <= set(archived)
    assert all(archived[i].archived_at is not None for i in ids)
    live = {r.id for r in hs.crm.companies.get_all()}
    assert not set(ids) & live
    read = hs.crm.companies.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=[],
            properties_with_history=[],
        ),
        archived=True,
    )
    assert sorted(r.id for r in read.results) == sorted(ids)
