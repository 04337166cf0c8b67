"""The sandbox seeded with the real demo-org generator: every generated value (dirty ones
included) comes back through the REST and Bulk APIs exactly as generated."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sf_helpers import Served, serve
from simple_salesforce import Salesforce

from acm_sync.sandbox.generator import DemoOrg, generate_org
from acm_sync.sandbox.salesforce.schema import SOBJECTS

OBJECTS = ("Account", "Contact", "Opportunity", "OpportunityHistory", "User", "OpportunityStage")


@pytest.fixture(scope="module")
def org() -> DemoOrg:
    return generate_org(300, seed=11)


@pytest.fixture(scope="module")
def served(org: DemoOrg, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("sf_seed")
    app = serve(base / "salesforce.db", base / "tls", seed=org)
    yield app
    app.stop()


@pytest.fixture(scope="module")
def sf(served: Served) -> Salesforce:
    return served.soap_client()


def _expected(value: Any, field_type: str) -> Any:
    """A frame value as the REST API writes it."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if field_type == "datetime":
        return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + (
            "+0000"
        )
    if field_type == "boolean":
        return bool(value)
    if field_type == "int":
        return int(value)
    if field_type in ("double", "currency", "percent"):
        return float(value)
    return value


@pytest.mark.parametrize("name", OBJECTS)
def test_counts_match_the_generated_org(sf: Salesforce, org: DemoOrg, name: str) -> None:
    frame = org.salesforce[name]
    everything = sf.query_all(f"SELECT Id FROM {name}", include_deleted=True)["totalSize"]
    live = sf.query(f"SELECT COUNT() FROM {name}")["totalSize"]
    deleted = int(frame["IsDeleted"].sum()) if "IsDeleted" in frame else 0
    expected_users = len(frame) + (1 if name == "User" else 0)  # + the API user
    assert everything == expected_users
    assert live == expected_users - deleted


@pytest.mark.parametrize("name", ["Account", "Contact", "Opportunity"])
def test_every_value_round_trips_over_rest(sf: Salesforce, org: DemoOrg, name: str) -> None:
    sobj = SOBJECTS[name]
    fields = [f for f in sobj.fields]
    soql = f"SELECT {', '.join(f.name for f in fields)} FROM {name}"
    records = {r["Id"]: r for r in sf.query_all_iter(soql, include_deleted=True)}
    frame = org.salesforce[name]
    assert len(records) == len(frame)
    for row in frame.itertuples(index=False):
        got = records[row.Id]
        for f in fields:
            assert got[f.name] == _expected(getattr(row, f.name), f.type), (row.Id, f.name)


def test_contacts_round_trip_over_bulk(sf: Salesforce, org: DemoOrg) -> None:
    soql = "SELECT Id, Name, Email, Title, HasOptedOutOfEmail, SystemModstamp FROM Contact"
    rows = [
        r
        for page in sf.bulk2.Contact.query_all(soql, wait=0.05)
        for r in csv.DictReader(io.StringIO(page))
    ]
    frame = org.salesforce["Contact"].set_index("Id")
    assert len(rows) == len(frame)
    for row in rows:
        source = frame.loc[row["Id"]]
        for col in ("Name", "Email", "Title"):
            assert row[col] == (source[col] if isinstance(source[col], str) else "")
        assert row["HasOptedOutOfEmail"] == ("true" if source["HasOptedOutOfEmail"] else "false")
        stamp = pd.Timestamp(source["SystemModstamp"]).tz_convert("UTC")
        assert row["SystemModstamp"] == stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"
