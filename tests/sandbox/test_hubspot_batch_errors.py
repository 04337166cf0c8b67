"""The shape of HubSpot's 207 multi-status answers, on the wire and through the real client.

Real HubSpot's per-input error entries carry `status`, `category`, `subCategory` (association
reads only), `message` and `context`, and no `errors` / `links` / `id`, although the published
spec's StandardError lists `errors` and `links` as required; the answer around them carries
`status`, `results`, `numErrors`, `errors`, `startedAt`, `completedAt` (no `requestedAt`, no
`links`). The sources are in `acm_sync.sandbox.hubspot.messages.standard_error`: HubSpot's
error-handling docs (a batch create 207), hubspot-api-ruby issue #403 (a batch upsert 207),
bodies of batch/read and association batch/read pasted in public code.

The official client parses these with its default Configuration (`client_side_validation`
False, as the product builds it); with `client_side_validation=True` its StandardError raises
ValueError on every one of them, against the live API as against the sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hs_helpers import (
    ERROR_ENTRY_KEYS,
    MULTI_STATUS_KEYS,
    Running,
    bearer_session,
    client,
    company_ids,
    default_client,
    serve_unthrottled,
    synthetic_org,
)
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    BatchResponsePublicAssociationMultiWithLabelWithErrors,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.companies import (
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObjectWithErrors,
    SimplePublicObjectId,
)

from acm_sync.sandbox.faults import FaultRule

ASSOCIATION_ENTRY_KEYS = ["status", "category", "subCategory", "message", "context"]


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve_unthrottled(tmp_path_factory, synthetic_org(companies=20)) as run:
        yield run


def _post(hs_run: Running, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A raw POST: the body as sent on the wire, keys in the order sent (a 207 is asserted)."""
    answer = bearer_session().post(f"{hs_run.base_url}{path}", json=body, timeout=30)
    assert answer.status_code == 207, answer.text
    data = answer.json()
    assert isinstance(data, dict)
    return data


def _assert_shape(body: dict[str, Any], entry_keys: list[str]) -> dict[str, Any]:
    assert list(body) == MULTI_STATUS_KEYS
    assert body["status"] == "COMPLETE" and body["numErrors"] == len(body["errors"]) == 1
    entry = body["errors"][0]
    assert list(entry) == entry_keys
    assert entry["status"] == "error"
    return dict(entry)


def test_batch_read_207_entry_keys(hs_run: Running) -> None:
    ids = company_ids(hs_run.base_url, 2)
    body = _post(
        hs_run,
        "/crm/v3/objects/companies/batch/read",
        {"inputs": [{"id": ids[0]}, {"id": "424242"}], "properties": ["name"]},
    )
    entry = _assert_shape(body, ERROR_ENTRY_KEYS)
    assert entry["category"] == "OBJECT_NOT_FOUND"
    assert entry["context"] == {"ids": ["424242"]}
    assert [r["id"] for r in body["results"]] == [ids[0]]


def test_batch_update_207_entry_keys(hs_run: Running) -> None:
    ids = company_ids(hs_run.base_url, 1)
    body = _post(
        hs_run,
        "/crm/v3/objects/companies/batch/update",
        {
            "inputs": [
                {"id": ids[0], "properties": {"description": "kept"}},
                {"id": "999999", "properties": {"description": "ghost"}},
            ]
        },
    )
    entry = _assert_shape(body, ERROR_ENTRY_KEYS)
    assert entry["category"] == "OBJECT_NOT_FOUND" and entry["context"] == {"ids": ["999999"]}


def test_batch_create_207_entry_keys(hs_run: Running) -> None:
    """HubSpot's docs example: a create refused per input names its objectWriteTraceId."""
    hs_run.faults.arm(
        FaultRule.model_validate(
            {
                "kind": "reject",
                "object": "companies",
                "error_code": "VALIDATION_ERROR",
                "message": "Property values were not valid",
            }
        )
    )
    body = _post(
        hs_run,
        "/crm/v3/objects/companies/batch/create",
        {
            "inputs": [
                {"objectWriteTraceId": "549b1c2a9350", "properties": {"name": "Refused"}},
                {"objectWriteTraceId": "549b1c2a9351", "properties": {"name": "Created"}},
            ]
        },
    )
    entry = _assert_shape(body, ERROR_ENTRY_KEYS)
    assert entry["category"] == "VALIDATION_ERROR"
    assert entry["context"] == {"objectWriteTraceId": ["549b1c2a9350"]}
    assert [r["objectWriteTraceId"] for r in body["results"]] == ["549b1c2a9351"]


def test_batch_upsert_207_entry_keys(hs_run: Running) -> None:
    ids = company_ids(hs_run.base_url, 1)
    hs_run.faults.arm(
        FaultRule.model_validate(
            {
                "kind": "reject",
                "object": "companies",
                "record_ids": [ids[0]],
                "error_code": "CONFLICT",
                "message": "The record is locked by another update",
            }
        )
    )
    body = _post(
        hs_run,
        "/crm/v3/objects/companies/batch/upsert",
        {"inputs": [{"idProperty": "hs_object_id", "id": ids[0], "properties": {"name": "x"}}]},
    )
    entry = _assert_shape(body, ERROR_ENTRY_KEYS)
    assert entry["category"] == "CONFLICT" and entry["context"] == {"ids": [ids[0]]}


def test_association_batch_read_207_entry_keys(hs_run: Running) -> None:
    body = _post(
        hs_run, "/crm/v4/associations/deals/companies/batch/read", {"inputs": [{"id": "12345678"}]}
    )
    entry = _assert_shape(body, ASSOCIATION_ENTRY_KEYS)
    assert entry["category"] == "OBJECT_NOT_FOUND"
    assert entry["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert entry["context"] == {
        "fromObjectId": ["12345678"],
        "fromObjectType": ["deal"],
        "toObjectType": ["company"],
    }


def test_empty_standard_type_batch_read_207_entry_keys(hs_run: Running) -> None:
    body = _post(hs_run, "/crm/v3/objects/tickets/batch/read", {"inputs": [{"id": "5"}]})
    entry = _assert_shape(body, ERROR_ENTRY_KEYS)
    assert entry["category"] == "OBJECT_NOT_FOUND" and entry["context"] == {"ids": ["5"]}


def test_default_client_parses_the_207(hs_run: Running) -> None:
    ids = company_ids(hs_run.base_url, 2)
    request = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in [*ids, "424242"]],
        properties=["name"],
        properties_with_history=[],
    )
    partial = default_client(hs_run.base_url).crm.companies.batch_api.read(request)
    assert isinstance(partial, BatchResponseSimplePublicObjectWithErrors)
    assert partial.status == "COMPLETE" and partial.num_errors == 1
    assert sorted(r.id for r in partial.results) == sorted(ids)
    error = partial.errors[0]
    assert error.status == "error" and error.category == "OBJECT_NOT_FOUND"
    assert error.context == {"ids": ["424242"]} and error.message
    assert error.errors is None and error.links is None and error.sub_category is None
    assert partial.requested_at is None and partial.links is None
    assert partial.started_at is not None and partial.completed_at is not None

    batch = default_client(hs_run.base_url).crm.associations.v4.batch_api.get_page(
        "deals",
        "companies",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id="12345678")]
        ),
    )
    assert isinstance(batch, BatchResponsePublicAssociationMultiWithLabelWithErrors)
    assert batch.num_errors == 1 and batch.results == []
    assert batch.errors[0].category == "OBJECT_NOT_FOUND"
    assert batch.errors[0].sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert batch.errors[0].context["fromObjectId"] == ["12345678"]


def test_strict_client_refuses_hubspots_207(hs_run: Running) -> None:
    """Why the 207 tests read through `default_client`: the strict client checks the spec's
    required fields and real HubSpot's entries lack `errors` / `links`."""
    request = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id="424242")], properties=["name"], properties_with_history=[]
    )
    with pytest.raises(ValueError, match=r"Invalid value for `(links|errors)`"):
        client(hs_run.base_url).crm.companies.batch_api.read(request)
