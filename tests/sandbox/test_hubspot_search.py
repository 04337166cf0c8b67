"""HubSpot sandbox search through the real client: filters, sorts, `query`, paging, the
10,000-result cap and the errors HubSpot gives for bad searches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hs_helpers import Running, client, serve, synthetic_org
from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException

from acm_sync.sandbox.hubspot.values import iso_ms

BIG = 10_050  # contacts matching one query: past the 10,000-result cap
T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve(
        tmp_path_factory.mktemp("hs") / "hubspot.db",
        seed=synthetic_org(companies=200, contacts_per=1, deals_per=2),
    ) as run:
        # Cheap bulk fixture: contacts written straight into the store, one a minute from T0.
        run.store.seeder.insert_records(
            "contacts",
            (
                {
                    "created_at": iso_ms(T0),
                    "updated_at": iso_ms(T0 + timedelta(minutes=i)),
                    "email": f"bulk{i}@bulk.example",
                    "firstname": "Bulk",
                    "lastname": f"N{i}",
                }
                for i in range(BIG)
            ),
        )
        run.limits(ten_second_max=100_000, search_per_second_max=1_000)
        yield run


def _between(start: datetime, end: datetime, prop: str = "lastmodifieddate") -> FilterGroup:
    return FilterGroup(
        filters=[
            Filter(property_name=prop, operator="GTE", value=str(int(start.timestamp() * 1000))),
            Filter(property_name=prop, operator="LT", value=iso_ms(end)),
        ]
    )


def test_incremental_window_with_gte_lt_and_sort(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    start, end = T0 + timedelta(minutes=100), T0 + timedelta(minutes=350)
    seen, after = [], None
    while True:
        page = hs.crm.contacts.search_api.do_search(
            PublicObjectSearchRequest(
                filter_groups=[_between(start, end)],
                sorts=["lastmodifieddate"],
                properties=["email", "lastmodifieddate"],
                limit=200,
                after=after,
            )
        )
        assert page.total == 250
        seen += page.results
        if page.paging is None:
            break
        after = page.paging.next.after
    stamps = [r.updated_at for r in seen]
    assert len(seen) == 250 and stamps == sorted(stamps)
    assert stamps[0] == start and stamps[-1] == end - timedelta(minutes=1)
    # hs_lastmodifieddate works on contacts too, and descending sorts reverse the order
    desc = hs.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[_between(start, end, "hs_lastmodifieddate")],
            sorts=["-hs_lastmodifieddate"],
            limit=5,
        )
    )
    assert [r.updated_at for r in desc.results] == sorted(stamps, reverse=True)[:5]


def test_companies_by_hs_lastmodifieddate_and_object_sort(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    everything = hs.crm.companies.search_api.do_search(
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "hs_lastmodifieddate",
                            "operator": "GTE",
                            "value": "2024-01-01T00:00:00.000Z",
                        }
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}],
            "limit": 100,
        }
    )
    stamps = [r.updated_at for r in everything.results]
    assert stamps == sorted(stamps, reverse=True)
    assert everything.total == sum(1 for _ in hs.crm.companies.get_all())


def test_or_groups_in_not_in_has_property_and_query(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    search = hs.crm.contacts.search_api.do_search
    one = search(
        {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "email", "operator": "EQ", "value": "BULK7@bulk.example"}
                    ]
                },
                {
                    "filters": [
                        {
                            "propertyName": "email",
                            "operator": "IN",
                            "values": ["bulk8@bulk.example", "bulk9@bulk.example"],
                        }
                    ]
                },
            ]
        }
    )
    assert sorted(r.properties["email"] for r in one.results) == [
        "bulk7@bulk.example",
        "bulk8@bulk.example",
        "bulk9@bulk.example",
    ]
    assert search({"query": "N1234", "limit": 10}).results[0].properties["lastname"] == "N1234"
    no_title = search(
        {
            "filterGroups": [
                {"filters": [{"propertyName": "jobtitle", "operator": "NOT_HAS_PROPERTY"}]}
            ],
            "limit": 1,
        }
    )
    has_email = search(
        {
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}],
            "limit": 1,
        }
    )
    assert no_title.total == has_email.total
    token = search(
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "email",
                            "operator": "CONTAINS_TOKEN",
                            "value": "*@bulk.example",
                        }
                    ]
                }
            ],
            "limit": 1,
        }
    )
    assert token.total == BIG
    deals = hs.crm.deals.search_api.do_search(
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "amount",
                            "operator": "BETWEEN",
                            "value": "1000",
                            "highValue": "20000",
                        },
                        {
                            "propertyName": "dealstage",
                            "operator": "NOT_IN",
                            "values": ["closedlost"],
                        },
                    ]
                }
            ],
            "properties": ["amount", "dealstage"],
            "limit": 200,
        }
    )
    assert deals.total and all(
        1000 <= float(d.properties["amount"]) <= 20000 and d.properties["dealstage"] != "closedlost"
        for d in deals.results
    )


def test_the_10000_result_cap(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    request = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "lastmodifieddate", "operator": "GTE", "value": iso_ms(T0)}
                ]
            }
        ],
        "sorts": ["lastmodifieddate"],
        "limit": 100,
    }
    page = hs.crm.contacts.search_api.do_search({**request, "after": "9900"})
    assert page.total == BIG  # the total is exact, past the cap
    assert len(page.results) == 100
    assert page.paging.next.after == "10000"
    with pytest.raises(ApiException) as capped:
        hs.crm.contacts.search_api.do_search({**request, "after": page.paging.next.after})
    assert capped.value.status == 400
    body = json.loads(capped.value.body)
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR"
    # 200 a page at most
    with pytest.raises(ApiException) as too_big:
        hs.crm.contacts.search_api.do_search({**request, "limit": 201})
    assert too_big.value.status == 400
    assert len(hs.crm.contacts.search_api.do_search({**request, "limit": 200}).results) == 200


def test_bad_operator_and_unknown_property_are_400s(hs_run: Running) -> None:
    hs = client(hs_run.base_url)
    # A validating `Filter` model refuses a bad operator client-side, so send a plain body, as
    # a connector building JSON would.
    with pytest.raises(ApiException) as bad_op:
        hs.crm.contacts.search_api.do_search(
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}
                ]
            }
        )
    assert bad_op.value.status == 400
    body = json.loads(bad_op.value.body)
    assert body["category"] == "VALIDATION_ERROR" and "LIKE" in body["message"]
    with pytest.raises(ApiException) as unknown:
        hs.crm.contacts.search_api.do_search(
            {
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "not_a_property", "operator": "EQ", "value": "x"}
                        ]
                    }
                ]
            }
        )
    assert unknown.value.status == 400
    with pytest.raises(ApiException) as bad_json:
        hs.crm.contacts.search_api.do_search({"filterGroups": "nope"})
    assert bad_json.value.status == 400
    with pytest.raises(ApiException) as bad_date:
        hs.crm.contacts.search_api.do_search(
            {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "lastmodifieddate",
                                "operator": "GT",
                                "value": "yesterday",
                            }
                        ]
                    }
                ]
            }
        )
    assert bad_date.value.status == 400
