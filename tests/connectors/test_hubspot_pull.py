"""HubSpot pulls through hubspot-api-client against the sandbox: completeness, minimum calls,
incremental changes / archives / merges, the 10,000-result search cap, and injected faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from crm_helpers import Admin, hs_resource, pages, plain_hs

from acm_sync.connectors.common import CredentialsError, MappingError
from acm_sync.connectors.hubspot_pull import HS_OBJECTS, pull_hubspot, windowed_search
from acm_sync.connectors.policy import ApiBudget
from acm_sync.connectors.settings import HubSpotSync
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.warehouse import Warehouse

TABLES = list(HS_OBJECTS)
SETTINGS = HubSpotSync(lookback_seconds=5)


@pytest.fixture(scope="module")
def env(crm: SandboxSettings) -> dict[str, str]:
    return crm.env()


def pull_all(client: Any, wh: Warehouse, settings: HubSpotSync = SETTINGS, **kw: Any) -> dict:
    return {t: pull_hubspot(client, wh, settings, t, **kw) for t in TABLES}


def listed(hs: Any, obj: str, *, archived: bool, props: list[str] | None = None) -> list[Any]:
    api = getattr(hs.crm, obj).basic_api
    out, after = [], None
    while True:
        page = api.get_page(limit=100, after=after, archived=archived, properties=props)
        out.extend(page.results)
        if not page.paging or not page.paging.next:
            return out
        after = page.paging.next.after


def portal(hs: Any, obj: str) -> pd.DataFrame:
    """The portal's records as the plain client sees them: live, archived and merged-away."""
    rows = [
        {
            "id": r.id,
            "is_deleted": False,
            "merged_into": None,
            "merged": r.properties.get("hs_merged_object_ids"),
        }
        for r in listed(hs, obj, archived=False, props=["hs_merged_object_ids"])
    ]
    rows += [
        {"id": r.id, "is_deleted": True, "merged_into": None, "merged": None}
        for r in listed(hs, obj, archived=True)
    ]
    frame = pd.DataFrame(rows)
    merged = [
        {"id": m, "is_deleted": True, "merged_into": f"hs:{row.id}", "merged": None}
        for row in frame.itertuples()
        for m in (row.merged if isinstance(row.merged, str) else "").split(";")
        if m and m != row.id
    ]
    return pd.concat([frame, pd.DataFrame(merged)], ignore_index=True).drop_duplicates(
        "id", keep="first"
    )


def assert_warehouse_equals_portal(wh: Warehouse, hs: Any) -> None:
    for table, spec in HS_OBJECTS.items():
        want = portal(hs, spec.name).set_index("id")
        got = wh.table(table, "WHERE source = 'hubspot'").set_index("source_id")
        assert got.index.is_unique, table
        assert set(got.index) == set(want.index), table
        want = want.loc[got.index]
        assert got["is_deleted"].astype(bool).tolist() == want["is_deleted"].tolist(), table
        if "merged_into" in got.columns:
            assert (
                got["merged_into"].fillna("").tolist() == want["merged_into"].fillna("").tolist()
            ), table


def test_full_pull_equals_the_portal_at_the_minimum_cost(
    env: dict[str, str], wh: Warehouse, hs_adm: Admin
) -> None:
    client = hs_resource(env).connect(settings=SETTINGS)
    hs = plain_hs(env)
    first = pull_all(client, wh, run_id="first")
    assert all(r.mode == "full" and r.complete for r in first.values())
    assert_warehouse_equals_portal(wh, hs)
    history = wh.table("opportunity_stage_history", "WHERE opportunity_id LIKE 'hs:%'")
    assert len(history) and not history.duplicated(["opportunity_id", "changed_at"]).any()

    for table, spec in HS_OBJECTS.items():
        live = len(listed(hs, spec.name, archived=False))
        archived = len(listed(hs, spec.name, archived=True))
        hs_adm.reset_calls()
        result = pull_hubspot(client, wh, SETTINGS, table, full_refresh=True, run_id="again")
        live_page = 50 if spec.history else 100  # propertiesWithHistory caps the page at 50
        expected = pages(live, live_page) + pages(archived, 100)
        assert hs_adm.calls()["total"] == expected == result.api_calls, table

    hs_adm.reset_calls()
    quiet = pull_all(client, wh, run_id="quiet")
    assert hs_adm.calls()["total"] == len(TABLES)
    assert all(r.mode == "incremental" and r.api_calls == 1 for r in quiet.values())
    assert_warehouse_equals_portal(wh, hs)


def modified_since(hs: Any, obj: str, prop: str, since: datetime) -> int:
    body = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": prop,
                        "operator": "GTE",
                        "value": str(int(since.timestamp() * 1000)),
                    }
                ]
            }
        ],
        "limit": 1,
    }
    for _ in range(5):  # the plain client does not retry; search allows 5 calls a second
        try:
            api = getattr(hs.crm, obj).search_api
            return int(api.do_search(public_object_search_request=body).total)
        except Exception as exc:
            if getattr(exc, "status", None) != 429:
                raise
            time.sleep(1.1)
    raise AssertionError("search kept answering 429")


def test_changes_archives_and_merges_arrive_and_nothing_else_is_pulled(
    env: dict[str, str], wh: Warehouse, hs_adm: Admin
) -> None:
    client = hs_resource(env).connect(settings=SETTINGS)
    hs = plain_hs(env)
    pull_all(client, wh, run_id="base")
    cursors = {t: wh.state("hubspot", s.name).cursor for t, s in HS_OBJECTS.items()}

    companies = [r.id for r in listed(hs, "companies", archived=False)[:3]]
    changed, primary, other = companies
    hs.crm.companies.basic_api.update(changed, {"properties": {"name": "Renamed by the test"}})
    merged = hs.crm.companies.basic_api.merge(
        {"primaryObjectId": primary, "objectIdToMerge": other}
    )
    contact = listed(hs, "contacts", archived=False)[0].id
    hs.crm.contacts.basic_api.archive(contact)
    deal = listed(hs, "deals", archived=False)[0].id
    hs.crm.deals.basic_api.update(deal, {"properties": {"dealstage": "contractsent"}})

    results = pull_all(client, wh, run_id="after-changes")
    accounts = wh.table("accounts").set_index("source_id")
    assert accounts.loc[changed, "name"] == "Renamed by the test"
    for gone in (primary, other):
        assert accounts.loc[gone, "is_deleted"] and accounts.loc[gone, "merged_into"] == (
            f"hs:{merged.id}"
        )
    assert not accounts.loc[merged.id, "is_deleted"]
    assert wh.table("contacts").set_index("source_id").loc[contact, "is_deleted"]
    history = wh.table("opportunity_stage_history", "WHERE opportunity_id = ?", [f"hs:{deal}"])
    assert history.sort_values("changed_at")["stage"].iloc[-1] == "contractsent"
    opp = wh.table("opportunities").set_index("source_id").loc[deal]
    assert opp["stage"] == "contractsent"
    assert results["contacts"].rows_deleted >= 1 and results["accounts"].rows_merged >= 2

    for table, spec in HS_OBJECTS.items():
        cursor = cursors[table]
        assert cursor is not None
        since = cursor - timedelta(seconds=SETTINGS.lookback_seconds)
        expected = modified_since(hs, spec.name, spec.modified, since)
        archived = results[table].rows_deleted  # read from the archive, not from search
        assert results[table].rows_pulled - archived == expected, table
    assert_warehouse_equals_portal(wh, hs)


def test_more_changes_than_the_search_cap_are_all_read(
    env: dict[str, str], wh: Warehouse, hs_adm: Admin
) -> None:
    settings = HubSpotSync(lookback_seconds=5, search_cap=200, search_page_size=100)
    client = hs_resource(env).connect(settings=settings)
    hs = plain_hs(env)
    pull_hubspot(client, wh, settings, "contacts", run_id="base")
    ids = [r.id for r in listed(hs, "contacts", archived=False)[:350]]
    for start in range(0, len(ids), 100):  # a batch update: many records share one timestamp
        hs.crm.contacts.batch_api.update(
            {
                "inputs": [
                    {"id": i, "properties": {"jobtitle": "Capped"}}
                    for i in ids[start : start + 100]
                ]
            }
        )
    result = pull_hubspot(client, wh, settings, "contacts", run_id="capped")
    assert result.complete and any("search cap" in n for n in result.notes)
    got = wh.table("contacts").set_index("source_id")
    assert (got.loc[ids, "title"] == "Capped").all()
    assert got.index.is_unique


def fake_search(
    records: list[tuple[str, int]], cap: int
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A search over (id, modified ms) that honours GTE/GT/LTE/EQ, sorts, and the cap."""

    def search(body: dict[str, Any]) -> dict[str, Any]:
        rows = records
        for f in body["filterGroups"][0]["filters"]:
            prop, op, value = f["propertyName"], f["operator"], int(f["value"])
            key = 0 if prop == "hs_object_id" else 1
            test = {"GTE": int.__ge__, "GT": int.__gt__, "LTE": int.__le__, "EQ": int.__eq__}[op]
            rows = [r for r in rows if test(int(r[key]), value)]
        sort = body["sorts"][0]["propertyName"]
        rows = sorted(rows, key=lambda r: int(r[0]) if sort == "hs_object_id" else r[1])
        offset = int(body["after"])
        assert offset < cap, "asked past the search cap"
        page = rows[offset : offset + body["limit"]]
        out: dict[str, Any] = {
            "total": len(rows),
            "results": [{"id": i, "properties": {"lastmodifieddate": str(ms)}} for i, ms in page],
        }
        if offset + len(page) < len(rows) and offset + len(page) < cap:
            out["paging"] = {"next": {"after": str(offset + len(page))}}
        return out

    return search


def test_windowed_search_reads_everything_even_when_ties_exceed_the_cap() -> None:
    base = 1_700_000_000_000
    records = [(str(i), base) for i in range(1, 26)]  # 25 records in one millisecond
    records += [(str(100 + i), base + 1 + i // 3) for i in range(40)]

    def body(filters: list, sort: str, direction: str, after: int) -> dict:
        return {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": sort}],
            "limit": 5,
            "after": str(after),
        }

    seen = [
        r["id"]
        for chunk in windowed_search(
            fake_search(records, cap=10),
            body,
            modified="lastmodifieddate",
            low=datetime.fromtimestamp(base / 1000, UTC),
            high=datetime.fromtimestamp((base + 100) / 1000, UTC),
            cap=10,
        )
        for r in chunk
    ]
    assert set(seen) == {r[0] for r in records}


FAULTS = [
    pytest.param(
        {"kind": "status", "status": 429, "retry_after": 1, "path": "/objects/"}, id="429"
    ),
    pytest.param({"kind": "status", "status": 503, "path": "/objects/", "times": 2}, id="503"),
    pytest.param(
        {"kind": "drop", "path": "/objects/", "skip": 1, "after_bytes": 3000}, id="drop-mid-page"
    ),
]


@pytest.mark.parametrize("rule", FAULTS)
def test_faults_end_with_a_complete_duplicate_free_warehouse(
    env: dict[str, str], wh: Warehouse, hs_adm: Admin, rule: dict[str, Any]
) -> None:
    client = hs_resource(env).connect(settings=SETTINGS)
    hs_adm.fault(**rule)
    results = pull_all(client, wh, run_id="faulty")
    assert all(r.complete for r in results.values())
    assert sum(r.retries for r in results.values()) >= 1
    assert_warehouse_equals_portal(wh, plain_hs(env))


def test_a_spent_budget_stops_cleanly_and_the_next_run_resumes(
    env: dict[str, str], wh: Warehouse, hs_adm: Admin
) -> None:
    settings = HubSpotSync(page_size=50, commit_every_rows=50)
    capped = hs_resource(env).connect(budget=ApiBudget("hubspot", max_calls=3), settings=settings)
    stopped = pull_hubspot(capped, wh, settings, "contacts", run_id="capped")
    assert not stopped.complete and stopped.rows_pulled > 0
    assert wh.count("contacts") >= stopped.rows_pulled

    client = hs_resource(env).connect(settings=settings)
    hs_adm.hook("exhaust_limit")
    refused = pull_hubspot(client, wh, settings, "contacts", run_id="exhausted")
    assert not refused.complete and "daily" in (refused.stopped or "")
    hs_adm.post("hubspot/rate-limits", {"reset": True})

    hs_adm.reset_calls()
    client = hs_resource(env).connect(settings=settings)
    resumed = pull_hubspot(client, wh, settings, "contacts", run_id="resumed")
    assert resumed.complete
    n_live = len(listed(plain_hs(env), "contacts", archived=False))
    assert resumed.rows_pulled < n_live  # went on from the saved page, did not start over
    frame = wh.table("contacts", "WHERE source = 'hubspot'")
    assert not frame["contact_id"].duplicated().any()
    assert frame["is_deleted"].eq(False).sum() == n_live


def test_an_unknown_property_is_named_with_its_config_key(
    env: dict[str, str], wh: Warehouse
) -> None:
    settings = HubSpotSync(fields={"accounts": {"industry": "industri"}})
    client = hs_resource(env).connect(settings=settings)
    with pytest.raises(MappingError, match=r"hubspot\.fields\.accounts\.industry: 'industri'"):
        pull_hubspot(client, wh, settings, "accounts")


def test_a_bad_token_says_what_to_fix_without_the_secret(
    env: dict[str, str], wh: Warehouse
) -> None:
    bad = hs_resource(env).model_copy(update={"access_token": "pat-na1-not-the-right-one-000"})
    with pytest.raises(CredentialsError, match="HUBSPOT_ACCESS_TOKEN") as caught:
        pull_hubspot(bad.connect(), wh, SETTINGS, "accounts")
    assert "not-the-right-one" not in str(caught.value)
