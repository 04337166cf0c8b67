"""Batch create with `objectWriteTraceId` on every input: a bad property value refuses that
input alone (207), the others are created.

Source: developers.hubspot.com/docs/api-reference/error-handling, "Multi-status errors": "For
the object APIs' batch create endpoints, you can enable multi status responses that include
partial failures. [...] To do so, include a unique `objectWriteTraceId` value for each input in
your request." Its example is a tickets batch create whose second input (trace id
"549b1c2a9351") sets `missing`, a property that does not exist: the answer holds the first
ticket in `results` and one `errors` entry {status: "error", category: "VALIDATION_ERROR",
message: "Property values were not valid: [{\"isValid\":false,\"message\":\"Property
\\\"missing\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"missing\",
\"localizedErrorMessage\":\"Property \\\"missing\\\" does not exist\",\"portalId\":891936587}]",
context: {objectWriteTraceId: ["549b1c2a9351"]}}, with no subCategory. Without trace ids the
whole batch is refused (400), as before. The sandbox stores no tickets, so these run on
companies (same objects batch create endpoint).

The 207 is read with `default_client`, as the product builds its client (see hs_helpers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hs_helpers import (
    ERROR_ENTRY_KEYS,
    MULTI_STATUS_KEYS,
    Running,
    bearer_session,
    default_client,
    serve_unthrottled,
    synthetic_org,
)
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchResponseSimplePublicObjectWithErrors,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputForCreate,
)
from hubspot.crm.companies.exceptions import ApiException

CREATE = "/crm/v3/objects/companies/batch/create"


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve_unthrottled(tmp_path_factory, synthetic_org(companies=5)) as run:
        yield run


def _post(hs_run: Running, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = bearer_session().post(f"{hs_run.base_url}{CREATE}", json=body, timeout=30)
    data = answer.json()
    assert isinstance(data, dict)
    return answer.status_code, data


def _names_found(hs_run: Running, *names: str) -> list[str]:
    """The companies with these names, searched through the real client."""
    found = default_client(hs_run.base_url).crm.companies.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(filters=[Filter(property_name="name", operator="IN", values=[*names])])
            ],
            properties=["name"],
            limit=100,
        )
    )
    return sorted(r.properties["name"] for r in found.results)


def _problems(message: str) -> list[dict[str, Any]]:
    prefix = "Property values were not valid: "
    assert message.startswith(prefix), message
    details = json.loads(message[len(prefix) :])
    assert isinstance(details, list)
    return details


def test_wire_shape_of_a_property_refused_per_input(hs_run: Running) -> None:
    """The docs example on the wire: 207, one entry naming the refused input's trace id."""
    status, body = _post(
        hs_run,
        {
            "inputs": [
                {"objectWriteTraceId": "549b1c2a9350", "properties": {"name": "MS Kept 1"}},
                {"objectWriteTraceId": "549b1c2a9351", "properties": {"missing": "1"}},
            ]
        },
    )
    assert status == 207, body
    assert list(body) == MULTI_STATUS_KEYS
    assert body["status"] == "COMPLETE" and body["numErrors"] == 1
    entry = body["errors"][0]
    assert list(entry) == ERROR_ENTRY_KEYS  # no subCategory, errors, links
    assert entry["status"] == "error" and entry["category"] == "VALIDATION_ERROR"
    assert entry["context"] == {"objectWriteTraceId": ["549b1c2a9351"]}
    assert _problems(entry["message"]) == [
        {
            "isValid": False,
            "message": 'Property "missing" does not exist',
            "error": "PROPERTY_DOESNT_EXIST",
            "name": "missing",
            "localizedErrorMessage": 'Property "missing" does not exist',
            "portalId": hs_run.store.db.portal_id,
        }
    ]
    assert [r["properties"]["name"] for r in body["results"]] == ["MS Kept 1"]
    assert _names_found(hs_run, "MS Kept 1") == ["MS Kept 1"]


def test_real_client_reads_the_partial_create(hs_run: Running) -> None:
    """Through hubspot-api-client (default Configuration): the good inputs are created, each
    refused one is an entry of its own problems only, named by its trace id."""
    request = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            SimplePublicObjectBatchInputForCreate(
                object_write_trace_id="t-1", properties={"name": "MS Kept 2"}
            ),
            SimplePublicObjectBatchInputForCreate(
                object_write_trace_id="t-2", properties={"name": "MS Lost 2", "no_such": "x"}
            ),
            SimplePublicObjectBatchInputForCreate(
                object_write_trace_id="t-3", properties={"name": "MS Kept 3"}
            ),
            SimplePublicObjectBatchInputForCreate(
                object_write_trace_id="t-4",
                properties={"name": "MS Lost 4", "numberofemployees": "many"},
            ),
        ]
    )
    answer = default_client(hs_run.base_url).crm.companies.batch_api.create(request)
    assert isinstance(answer, BatchResponseSimplePublicObjectWithErrors)
    assert answer.status == "COMPLETE" and answer.num_errors == 2
    assert sorted(r.properties["name"] for r in answer.results) == ["MS Kept 2", "MS Kept 3"]
    by_trace = {e.context["objectWriteTraceId"][0]: e for e in answer.errors}
    assert sorted(by_trace) == ["t-2", "t-4"]
    for error in answer.errors:
        assert error.status == "error" and error.category == "VALIDATION_ERROR"
        assert list(error.context) == ["objectWriteTraceId"]
        assert error.sub_category is None and error.errors is None
    assert [p["name"] for p in _problems(by_trace["t-2"].message)] == ["no_such"]
    assert [p["error"] for p in _problems(by_trace["t-2"].message)] == ["PROPERTY_DOESNT_EXIST"]
    assert [p["name"] for p in _problems(by_trace["t-4"].message)] == ["numberofemployees"]
    assert _names_found(hs_run, "MS Kept 2", "MS Kept 3", "MS Lost 2", "MS Lost 4") == [
        "MS Kept 2",
        "MS Kept 3",
    ]


def test_without_trace_ids_the_whole_batch_is_refused(hs_run: Running) -> None:
    """The documented default: no trace ids, a 400 for the batch, nothing created."""
    request = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"name": "MS Untraced ok"}),
            SimplePublicObjectBatchInputForCreate(properties={"missing": "1"}),
        ]
    )
    with pytest.raises(ApiException) as refused:
        default_client(hs_run.base_url).crm.companies.batch_api.create(request)
    assert refused.value.status == 400
    body = json.loads(refused.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert [p["name"] for p in _problems(body["message"])] == ["missing"]
    assert _names_found(hs_run, "MS Untraced ok") == []


def test_with_some_trace_ids_the_whole_batch_is_refused(hs_run: Running) -> None:
    """HubSpot's answer when only some inputs carry a trace id is not on record (the docs ask
    for one on each input): the sandbox keeps the whole-batch 400 there."""
    status, body = _post(
        hs_run,
        {
            "inputs": [
                {"objectWriteTraceId": "p-1", "properties": {"name": "MS Partly ok"}},
                {"properties": {"missing": "1"}},
            ]
        },
    )
    assert status == 400, body
    assert body["category"] == "VALIDATION_ERROR"
    assert _names_found(hs_run, "MS Partly ok") == []
