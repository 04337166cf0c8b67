"""The HubSpot sandbox seeded with the demo-org generator's portal, read back through the real
client: everything the generator made is served, in HubSpot's formats."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from hs_helpers import Running, client, serve

from acm_sync.sandbox.generator import generate_org


@pytest.fixture(scope="module")
def org() -> Any:
    return generate_org(300, seed=5)


@pytest.fixture(scope="module")
def hs_run(tmp_path_factory: pytest.TempPathFactory, org: Any) -> Iterator[Running]:
    with serve(tmp_path_factory.mktemp("hs") / "hubspot.db", seed=org) as run:
        run.limits(ten_second_max=100_000, search_per_second_max=1_000)
        yield run


@pytest.mark.parametrize("obj", ["companies", "contacts", "deals"])
def test_every_generated_record_is_served(hs_run: Running, org: Any, obj: str) -> None:
    hs = client(hs_run.base_url)
    frame: pd.DataFrame = org.hubspot[obj]
    api = getattr(hs.crm, obj)
    live = api.get_all()
    archived = api.get_all(archived=True)
    assert sorted(int(r.id) for r in live) == sorted(frame.loc[~frame["archived"], "id"])
    assert sorted(int(r.id) for r in archived) == sorted(frame.loc[frame["archived"], "id"])
    by_id = frame.set_index("id")
    for record in live[:50]:
        row = by_id.loc[int(record.id)]
        assert record.created_at == row["createdAt"].to_pydatetime()
        assert record.updated_at == row["updatedAt"].to_pydatetime()
    total = api.search_api.do_search({"limit": 1}).total
    assert total == int((~frame["archived"]).sum())


def test_typed_values_become_hubspot_strings(hs_run: Running, org: Any) -> None:
    hs = client(hs_run.base_url)
    deals: pd.DataFrame = org.hubspot["deals"].set_index("id")
    props = ["amount", "closedate", "hs_is_closed", "hs_deal_stage_probability", "dealstage"]
    for record in hs.crm.deals.get_all(properties=props)[:100]:
        row = deals.loc[int(record.id)]
        p = record.properties
        if pd.isna(row["amount"]):
            assert p["amount"] is None
        else:
            assert float(p["amount"]) == row["amount"] and not p["amount"].endswith(".0")
        assert p["hs_is_closed"] == ("true" if row["hs_is_closed"] else "false")
        assert p["dealstage"] == row["dealstage"]
        if not pd.isna(row["closedate"]):
            assert pd.Timestamp(p["closedate"]) == row["closedate"]


def test_merged_away_ids_answer_with_their_survivor(hs_run: Running, org: Any) -> None:
    hs = client(hs_run.base_url)
    for obj in ("companies", "contacts"):
        frame: pd.DataFrame = org.hubspot[obj]
        survivors = frame[frame["hs_merged_object_ids"].notna()]
        assert len(survivors), f"the generator merged no {obj}"
        api = getattr(hs.crm, obj).basic_api
        for _, row in survivors.head(5).iterrows():
            for old in row["hs_merged_object_ids"].split(";"):
                found = api.get_by_id(old, properties=["hs_merged_object_ids"])
                assert found.id == str(row["id"])
                assert old in found.properties["hs_merged_object_ids"].split(";")


def test_deal_history_and_associations(hs_run: Running, org: Any) -> None:
    hs = client(hs_run.base_url)
    history: pd.DataFrame = org.hubspot_property_history
    deals: pd.DataFrame = org.hubspot["deals"]
    live = deals[~deals["archived"]].head(30)
    page = hs.crm.deals.batch_api.read(
        {
            "inputs": [{"id": str(i)} for i in live["id"]],
            "properties": ["dealstage"],
            "propertiesWithHistory": ["dealstage"],
        }
    )
    for record in page.results:
        versions = record.properties_with_history["dealstage"]
        expected = history[
            (history["object_id"] == int(record.id)) & (history["property"] == "dealstage")
        ]
        assert len(versions) == len(expected)
        assert versions[0].value == record.properties["dealstage"]  # newest first
    assoc: pd.DataFrame = org.hubspot_associations
    contact_links = assoc[(assoc["from_type"] == "contacts") & (assoc["type_id"] == 1)]
    sample = contact_links.head(20)
    batch = hs.crm.associations.v4.batch_api.get_page(
        "contacts", "companies", {"inputs": [{"id": str(i)} for i in sample["from_id"]]}
    )
    got = {r._from.id: {t.to_object_id for t in r.to} for r in batch.results}
    for _, link in sample.iterrows():
        if str(link["from_id"]) in got:
            assert str(link["to_id"]) in got[str(link["from_id"])]
    one = hs.crm.associations.v4.basic_api.get_page(
        "contacts", str(sample["from_id"].iloc[0]), "companies"
    )
    assert {t.type_id for t in one.results[0].association_types} == {1, 279}


def test_owners_from_the_generator(hs_run: Running, org: Any) -> None:
    hs = client(hs_run.base_url)
    owners = hs.crm.owners.owners_api.get_page(limit=500).results
    assert sorted(o.email for o in owners) == sorted(org.hubspot["owners"]["email"])
