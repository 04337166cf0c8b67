"""Write-back through the real clients against a sandbox of its own.

The tests run in file order on one org: the first run writes every record, the later ones check
what a re-run, a manual edit, a rejection, dry-run and a closed gate do to it.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hubspot
import pandas as pd
import pytest
import requests
from simple_salesforce import Salesforce
from wb_pipeline import Pipeline, materialization

from acm_sync.org_summary import hubspot_client, salesforce_client
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.writeback.fields import OWNED, owned_names
from acm_sync.writeback.values import normalize
from sandbox_admin import Admin

SF_OBJECTS = ("Account", "Opportunity", "Contact")
HS_OBJECTS = ("companies", "deals", "contacts")
# Stamps a write moves by itself (besides the fields written).
SF_STAMPS = {"LastModifiedDate", "SystemModstamp", "LastModifiedById"}
HS_STAMPS = {"hs_lastmodifieddate", "lastmodifieddate", "updatedAt"}
COLLECTIONS = "PATCH /services/data/v59.0/composite/sobjects"


def hs_write_route(obj: str) -> str:
    return f"POST /crm/v3/objects/{obj}/batch/update"


def write_calls(sf: Admin, hs: Admin) -> dict[str, int]:
    """Calls to the write routes since the last reset, per route."""
    routes = {**sf.calls()["by_route"], **hs.calls()["by_route"]}
    return {
        r: n
        for r, n in routes.items()
        if r == COLLECTIONS
        or r.endswith("/batch/update")
        or "/jobs/ingest" in r
        or (r.startswith("PATCH /services/data/") and "/sobjects/" in r)
    }


def reset_calls(sf: Admin, hs: Admin) -> None:
    sf.reset_calls()
    hs.reset_calls()


class Org:
    """Whole-org snapshots through simple-salesforce and hubspot-api-client."""

    def __init__(self, env: dict[str, str]) -> None:
        self.sf: Salesforce = salesforce_client(env)
        self.sf.session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the sandbox CA
        self.hs: hubspot.HubSpot = hubspot_client(env)
        self.hs.config["client_side_validation"] = True

    def salesforce(self, obj: str) -> pd.DataFrame:
        fields = [f["name"] for f in getattr(self.sf, obj).describe()["fields"]]
        rows = self.sf.query_all(f"SELECT {', '.join(fields)} FROM {obj}")["records"]
        frame = pd.DataFrame([{k: v for k, v in r.items() if k != "attributes"} for r in rows])
        return frame.set_index("Id").sort_index()

    def hubspot(self, obj: str) -> pd.DataFrame:
        api = getattr(self.hs.crm, obj)
        names = [p.name for p in self.hs.crm.properties.core_api.get_all(obj).results]
        records = api.get_all(properties=names)
        frame = pd.DataFrame(
            [{"id": r.id, "updatedAt": r.updated_at, **r.properties} for r in records]
        )
        return frame.set_index("id").sort_index()

    def snapshot(self) -> dict[tuple[str, str], pd.DataFrame]:
        out = {("salesforce", o): self.salesforce(o) for o in SF_OBJECTS}
        out |= {("hubspot", o): self.hubspot(o) for o in HS_OBJECTS}
        return out


@pytest.fixture(scope="module")
def org(wb_sandbox: SandboxSettings) -> Org:
    return Org(wb_sandbox.env())


@pytest.fixture(scope="module")
def pipeline(wb_sandbox: SandboxSettings, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(wb_sandbox, tmp_path_factory.mktemp("wb"), {})


@pytest.fixture(scope="module")
def first_run(
    pipeline: Pipeline, org: Org, wb_admins: tuple[Admin, Admin]
) -> Iterator[dict[str, Any]]:
    sf, hs = wb_admins
    before = org.snapshot()
    reset_calls(sf, hs)
    result = pipeline.run(writeback={"preview_rows": 60})  # a few rows of every field
    assert result.success
    calls = write_calls(sf, hs)
    after = org.snapshot()
    yield {"result": result, "before": before, "after": after, "calls": calls}


def _plan(pipeline: Pipeline, result: Any) -> pd.DataFrame:
    return pipeline.wh.query("SELECT * FROM writeback_plan WHERE run_id = ?", [result.run_id])


def test_every_valid_record_carries_its_fields_in_both_crms(
    first_run: dict[str, Any], pipeline: Pipeline
) -> None:
    wh, after = pipeline.wh, first_run["after"]
    scores = wh.query(
        "SELECT * FROM account_scores WHERE run_id = ?", [first_run["result"].run_id]
    ).set_index("account_key")
    # Every live account that passed quality, under its unified key (which was scored).
    valid = wh.query(
        "SELECT a.account_id, a.source, i.account_key FROM valid_accounts a "
        "JOIN account_identity i ON a.account_id IN (i.sf_account_id, i.hs_company_id) "
        "WHERE NOT a.is_deleted AND a.merged_into IS NULL"
    )
    assert len(valid) > 400 and valid["account_key"].isin(scores.index).all()
    owned = {f.source: f for f in OWNED if f.entity == "accounts"}
    for crm, obj in (("salesforce", "Account"), ("hubspot", "companies")):
        records = after[(crm, obj)]
        mine = valid[valid["source"] == crm]
        for account_id, key in zip(mine["account_id"], mine["account_key"], strict=True):
            row = records.loc[account_id[3:]]
            for source in ("tier", "health_score", "health_band", "health_trend", "tier_reason"):
                f = owned[source]
                assert normalize(f, row[f.name(crm)]) == normalize(f, scores.loc[key, source]), (
                    crm,
                    account_id,
                    f.name(crm),
                )
            assert row[owned["scored_at"].name(crm)], (crm, account_id, "scored at")
    # Every valid opportunity has a win probability in its CRM.
    opps = wh.query("SELECT opportunity_id, source FROM valid_opportunities WHERE NOT is_deleted")
    for crm, obj, name in (
        ("salesforce", "Opportunity", "ACM_Win_Probability__c"),
        ("hubspot", "deals", "acm_win_probability"),
    ):
        ids = opps.loc[opps["source"] == crm, "opportunity_id"].str.slice(3)
        values = after[(crm, obj)].loc[ids, name]
        assert values.notna().all() and (values.astype(str) != "").all(), (crm, obj)
        assert pd.to_numeric(values).between(0, 100).all()
    # Data issues: each record with open issues shows them; the others show none.
    texts = wh.table("data_issue_texts")
    for entity, sf_obj, hs_obj in (
        ("contacts", "Contact", "contacts"),
        ("accounts", "Account", "companies"),
        ("opportunities", "Opportunity", "deals"),
    ):
        mine = texts[texts["entity"] == entity]
        for crm, obj in (("salesforce", sf_obj), ("hubspot", hs_obj)):
            field = next(f for f in OWNED if f.entity == entity and f.source == "data_issues")
            shown = after[(crm, obj)][field.name(crm)]
            expected = mine[mine["source"] == crm].set_index("source_id")["issues"]
            expected = expected[expected.index.isin(shown.index)]
            if entity == "accounts":  # a duplicate's text has one more line (next test)
                expected = expected[~expected.index.isin(_duplicates(wh, crm)["record_id"])]
            assert len(expected), (crm, obj)
            got = shown.loc[expected.index].map(lambda v, f=field: normalize(f, v))
            assert (got == expected.map(lambda v, f=field: normalize(f, v))).all(), (crm, obj)


def _duplicates(wh: Any, crm: str) -> pd.DataFrame:
    """record_id, primary_id of the in-CRM duplicate accounts (identity's domain_duplicate)."""
    column = "sf_account_id" if crm == "salesforce" else "hs_company_id"
    ident = wh.query(f"SELECT account_key, {column} AS id, match_rule FROM account_identity")
    ident = ident.dropna(subset=["id"])
    primary = ident[ident["match_rule"] != "domain_duplicate"].set_index("account_key")["id"]
    dups = ident[ident["match_rule"] == "domain_duplicate"]
    return pd.DataFrame(
        {
            "record_id": dups["id"].str.slice(3).to_numpy(),
            "primary_id": dups["account_key"].map(primary).str.slice(3).to_numpy(),
        }
    ).dropna()


def test_a_duplicate_account_leaves_the_forecast_to_its_primary(
    first_run: dict[str, Any], pipeline: Pipeline
) -> None:
    """Two records of one company in one CRM: a report summing the forecast field counts the
    company once. The primary carries it, the duplicate is empty and says where it went."""
    wh, after = pipeline.wh, first_run["after"]
    scores = wh.query(
        "SELECT account_key, forecast_amount FROM account_scores WHERE run_id = ?",
        [first_run["result"].run_id],
    ).set_index("account_key")["forecast_amount"]
    forecast = {f.source: f for f in OWNED if f.entity == "accounts"}["forecast_amount"]
    issues = {f.source: f for f in OWNED if f.entity == "accounts"}["data_issues"]
    dups = _duplicates(wh, "salesforce")
    assert len(dups) >= 3  # the demo org has duplicate accounts
    records = after[("salesforce", "Account")]
    keys = wh.query("SELECT account_key, sf_account_id FROM account_identity").dropna()
    key_of = dict(zip(keys["sf_account_id"].str.slice(3), keys["account_key"], strict=True))
    checked = 0
    for record, primary in zip(dups["record_id"], dups["primary_id"], strict=True):
        if key_of[record] not in scores.index:
            continue
        checked += 1
        assert pd.isna(records.loc[record, forecast.name("salesforce")]) or (
            records.loc[record, forecast.name("salesforce")] in ("", None)
        )
        want = normalize(forecast, scores.loc[key_of[record]])
        assert normalize(forecast, records.loc[primary, forecast.name("salesforce")]) == want
        text = str(records.loc[record, issues.name("salesforce")])
        assert text.splitlines()[-1].startswith(f"Info: duplicate of {primary}, which carries")
    assert checked >= 3


def test_nothing_but_owned_fields_changed_anywhere(first_run: dict[str, Any]) -> None:
    before, after = first_run["before"], first_run["after"]
    changed_owned = 0
    for (crm, obj), old in before.items():
        new = after[(crm, obj)]
        assert list(new.index) == list(old.index), (crm, obj, "records added or removed")
        allowed = set(owned_names(crm, obj)) | (SF_STAMPS if crm == "salesforce" else HS_STAMPS)  # type: ignore[arg-type]
        for column in old.columns:
            same = (old[column].astype(str) == new[column].astype(str)) | (
                old[column].isna() & new[column].isna()
            )
            if column in allowed:
                changed_owned += int((~same).sum()) if column not in SF_STAMPS | HS_STAMPS else 0
                continue
            assert same.all(), (crm, obj, column, list(old.index[~same])[:5])
    assert changed_owned > 1000  # the first run wrote the owned fields of the whole org


def test_write_calls_are_the_fewest_batches(first_run: dict[str, Any], pipeline: Pipeline) -> None:
    plan = _plan(pipeline, first_run["result"])
    sending = plan[plan["action"].isin(["write", "overwrite_manual"])]
    k = sending.groupby(["crm", "object"])["record_id"].nunique()
    expected_sf = sum(math.ceil(k["salesforce", o] / 200) for o in SF_OBJECTS)
    calls = first_run["calls"]
    assert calls.pop(COLLECTIONS) == expected_sf
    for obj in HS_OBJECTS:
        assert calls.pop(hs_write_route(obj)) == math.ceil(k["hubspot", obj] / 100), obj
    assert calls == {}  # no other write route was used
    meta = materialization(first_run["result"], "writeback_apply")
    assert (
        meta["written"]
        == meta["planned"]
        == sending[["crm", "object", "record_id"]].drop_duplicates().shape[0]
    )
    assert meta["rejected"] == 0


def test_the_preview_shows_values_with_a_pipe_whole_and_records_by_name(
    first_run: dict[str, Any], pipeline: Pipeline
) -> None:
    meta = materialization(first_run["result"], "writeback_plan")
    preview = pd.DataFrame([r.data for r in meta["preview"].records])
    assert [c.name for c in meta["preview"].schema.columns] == list(preview.columns)
    plan = _plan(pipeline, first_run["result"]).set_index(["crm", "object", "record_id", "field"])
    # a sample across objects and fields, not the first rows of one
    assert preview["object"].nunique() >= 3 and preview["field"].nunique() >= 10
    drivers = preview[preview["field"].isin(["ACM_Health_Drivers__c", "acm_health_drivers"])]
    assert len(drivers), "the health drivers change on a first run"
    for row in drivers.itertuples():
        planned = plan.loc[(row.crm, row.object, row.record_id, row.field)]
        assert row.after == planned["after"]  # the whole value, in its own column
        assert row.before == "—"  # empty before the first write
    assert drivers["after"].str.contains(" | Down: ", regex=False).any()  # "Up: … | Down: …"
    accounts = preview[preview["object"].isin(["Account", "companies"])]
    names = pipeline.wh.query("SELECT source_id, name FROM accounts").set_index("source_id")
    names = names["name"].fillna("")
    assert (accounts["name"] != "").any()
    for row in accounts.itertuples():
        assert row.name == names.loc[row.record_id], row


def _open(url: str, sandbox: SandboxSettings) -> str:
    """A record link as a browser opens it (the Salesforce sandbox's own CA)."""
    answer = requests.get(url, verify=sandbox.salesforce_ca_bundle, timeout=30)
    assert answer.status_code == 200, (url, answer.status_code)
    return html.unescape(answer.text)


def test_plan_and_quarantine_rows_link_to_their_records(
    first_run: dict[str, Any], pipeline: Pipeline, wb_sandbox: SandboxSettings
) -> None:
    meta = materialization(first_run["result"], "writeback_plan")
    preview = pd.DataFrame([r.data for r in meta["preview"].records])
    portal = requests.get(
        f"{wb_sandbox.hubspot_base_url}/account-info/v3/details",
        headers={"Authorization": f"Bearer {wb_sandbox.credentials.hubspot_access_token}"},
        timeout=30,
    ).json()["portalId"]
    expected = {
        "Account": f"{wb_sandbox.salesforce_instance_url}/lightning/r/Account/{{}}/view",
        "companies": f"{wb_sandbox.hubspot_base_url}/contacts/{portal}/record/0-2/{{}}",
        "deals": f"{wb_sandbox.hubspot_base_url}/contacts/{portal}/record/0-3/{{}}",
    }
    checked = set()
    for row in preview.itertuples():
        if row.object in expected and row.name and row.object not in checked:
            assert row.url == expected[row.object].format(row.record_id)
            page = _open(row.url, wb_sandbox)
            assert f"<h1>{row.name}</h1>" in page, (row.url, row.name)
            checked.add(row.object)
    assert checked == set(expected)
    # quarantined records: by name, with the link that opens them
    quarantine = pipeline.wh.query(
        "SELECT * FROM quarantine WHERE entity = 'accounts' AND name IS NOT NULL AND url != ''"
    )
    assert len(quarantine)
    for source, rows in quarantine.groupby("source"):
        row = rows.iloc[0]
        assert f"<h1>{row['name'].strip()}</h1>" in _open(row["url"], wb_sandbox), source
    # the failing-rows sample in the quality metadata links them too
    sample = materialization(first_run["result"], "quality_accounts")["failing_rows_sample"]
    assert re.search(
        r"\[open\]\((https://127\.0\.0\.1:\d+/lightning/r/Account/\w+/view"
        r"|http://127\.0\.0\.1:\d+/contacts/\d+/record/0-2/\d+)\)",
        sample,
    ), sample
    # an unknown record is a 404 page, not someone else's
    missing = expected["companies"].format("999999999")
    assert requests.get(missing, timeout=30).status_code == 404


def test_a_second_run_makes_no_write_call(
    first_run: dict[str, Any], pipeline: Pipeline, wb_admins: tuple[Admin, Admin]
) -> None:
    sf, hs = wb_admins
    reset_calls(sf, hs)
    result = pipeline.run()
    assert result.success
    assert write_calls(sf, hs) == {}
    assert materialization(result, "writeback_plan")["records_to_write"] == 0
    assert materialization(result, "writeback_apply")["written"] == 0


@pytest.mark.parametrize("policy", ["respect", "overwrite"])
def test_a_manual_edit_is_detected_and_handled_per_policy(
    first_run: dict[str, Any],
    pipeline: Pipeline,
    org: Org,
    wb_admins: tuple[Admin, Admin],
    policy: str,
) -> None:
    accounts = first_run["after"][("salesforce", "Account")]
    companies = first_run["after"][("hubspot", "companies")]
    sf_id = accounts.index[accounts["ACM_Tier__c"].notna()][3 if policy == "respect" else 4]
    hs_id = companies.index[companies["acm_tier"].notna()][3 if policy == "respect" else 4]
    sf_ours, hs_ours = accounts.loc[sf_id, "ACM_Tier__c"], companies.loc[hs_id, "acm_tier"]
    sf_theirs = "Dormant" if sf_ours != "Dormant" else "New"
    hs_theirs = "Dormant" if hs_ours != "Dormant" else "New"
    org.sf.Account.update(sf_id, {"ACM_Tier__c": sf_theirs})  # a person, in Salesforce
    org.hs.crm.companies.basic_api.update(hs_id, {"properties": {"acm_tier": hs_theirs}})
    sf, hs = wb_admins
    reset_calls(sf, hs)
    result = pipeline.run(writeback={"manual_edits": policy})
    assert result.success
    plan = _plan(pipeline, result)
    edits = plan[plan["action"].isin(["skip_manual", "overwrite_manual"])]
    action = "skip_manual" if policy == "respect" else "overwrite_manual"
    found = set(zip(edits["crm"], edits["record_id"], edits["field"], edits["action"], strict=True))
    # (Under overwrite, the edits the respect run kept are overwritten too.)
    assert {
        ("salesforce", sf_id, "ACM_Tier__c", action),
        ("hubspot", hs_id, "acm_tier", action),
    } <= found
    assert set(edits["action"]) == {action}
    assert len(found) == (2 if policy == "respect" else 4)
    now_sf = org.sf.Account.get(sf_id)["ACM_Tier__c"]
    now_hs = org.hs.crm.companies.basic_api.get_by_id(hs_id, properties=["acm_tier"]).properties
    if policy == "respect":
        assert (now_sf, now_hs["acm_tier"]) == (sf_theirs, hs_theirs)
        assert write_calls(sf, hs) == {}
        assert materialization(result, "writeback_apply")["skipped_manual"] == 2
        assert materialization(result, "writeback_plan")["manual_edits"] == 2
    else:
        assert (now_sf, now_hs["acm_tier"]) == (sf_ours, hs_ours)
        assert write_calls(sf, hs) == {COLLECTIONS: 1, hs_write_route("companies"): 1}


def test_rejected_rows_are_dead_lettered_and_succeed_on_a_retry(
    first_run: dict[str, Any], pipeline: Pipeline, org: Org, wb_admins: tuple[Admin, Admin]
) -> None:
    sf, hs = wb_admins
    accounts = first_run["after"][("salesforce", "Account")]
    companies = first_run["after"][("hubspot", "companies")]
    sf_ids = list(accounts.index[accounts["ACM_Tier__c"].notna()][10:13])
    hs_ids = list(companies.index[companies["acm_tier"].notna()][10:12])
    for rid in sf_ids:  # people blank the fields: with overwrite, they are planned again
        org.sf.Account.update(rid, {"ACM_Tier__c": None})
    for rid in hs_ids:
        org.hs.crm.companies.basic_api.update(rid, {"properties": {"acm_tier": ""}})
    sf.fault(
        kind="reject",
        object="Account",
        record_ids=sf_ids[:2],
        error_code="UNABLE_TO_LOCK_ROW",
        message="unable to obtain exclusive access to this record",
        times=2,
    )
    hs.fault(
        kind="reject",
        object="companies",
        record_ids=hs_ids[:1],
        error_code="CONFLICT",
        message="the record is being updated",
        times=1,
    )
    result = pipeline.run(writeback={"manual_edits": "overwrite"})
    assert result.success
    meta = materialization(result, "writeback_apply")
    assert (meta["written"], meta["rejected"]) == (2, 3)
    dead = pipeline.wh.query("SELECT * FROM writeback_dead_letter ORDER BY crm, record_id")
    assert set(zip(dead["crm"], dead["record_id"], strict=True)) == {
        *(("salesforce", r) for r in sf_ids[:2]),
        ("hubspot", hs_ids[0]),
    }
    assert set(dead["error_code"]) == {"UNABLE_TO_LOCK_ROW", "CONFLICT"}
    assert (dead["attempts"] == 1).all()
    assert dead["message"].str.len().gt(0).all()
    # The batch was not aborted: the other records of it were written.
    assert org.sf.Account.get(sf_ids[2])["ACM_Tier__c"] == accounts.loc[sf_ids[2], "ACM_Tier__c"]
    # The next run retries them (the faults are spent) and clears the dead letters.
    sf.clear_faults()
    hs.clear_faults()
    retry = pipeline.run(writeback={"manual_edits": "overwrite"})
    meta = materialization(retry, "writeback_apply")
    assert (meta["written"], meta["rejected"]) == (3, 0)
    assert pipeline.wh.count("writeback_dead_letter") == 0
    for rid in sf_ids:
        assert org.sf.Account.get(rid)["ACM_Tier__c"] == accounts.loc[rid, "ACM_Tier__c"]
    for rid in hs_ids:
        got = org.hs.crm.companies.basic_api.get_by_id(rid, properties=["acm_tier"]).properties
        assert got["acm_tier"] == companies.loc[rid, "acm_tier"]


def test_above_the_bulk_threshold_salesforce_writes_through_one_bulk_job(
    first_run: dict[str, Any], pipeline: Pipeline, org: Org, wb_admins: tuple[Admin, Admin]
) -> None:
    sf, hs = wb_admins
    accounts = first_run["after"][("salesforce", "Account")]
    ids = list(accounts.index[accounts["ACM_Tier__c"].notna()][30:33])
    for rid in ids:
        org.sf.Account.update(rid, {"ACM_Tier__c": None, "ACM_Health_Band__c": None})
    reset_calls(sf, hs)
    result = pipeline.run(
        writeback={"manual_edits": "overwrite", "salesforce": {"bulk_threshold": 2}}
    )
    assert result.success
    calls = write_calls(sf, hs)
    assert COLLECTIONS not in calls
    assert calls.get("POST /services/data/v59.0/jobs/ingest") == 1  # one job for the 3 records
    assert any(r.endswith("/batches") for r in calls)
    meta = materialization(result, "writeback_apply")
    assert (meta["written"], meta["rejected"]) == (3, 0)
    for rid in ids:
        now = org.sf.Account.get(rid)
        assert now["ACM_Tier__c"] == accounts.loc[rid, "ACM_Tier__c"]
        assert now["ACM_Health_Band__c"] == accounts.loc[rid, "ACM_Health_Band__c"]


def test_dry_run_plans_but_writes_nothing(
    first_run: dict[str, Any], pipeline: Pipeline, org: Org, wb_admins: tuple[Admin, Admin]
) -> None:
    sf, hs = wb_admins
    accounts = first_run["after"][("salesforce", "Account")]
    rid = accounts.index[accounts["ACM_Tier__c"].notna()][20]
    org.sf.Account.update(rid, {"ACM_Tier__c": None})
    reset_calls(sf, hs)
    result = pipeline.run(writeback={"manual_edits": "overwrite", "dry_run": True})
    assert result.success
    plan = _plan(pipeline, result)
    assert (plan["record_id"] == rid).any()
    assert write_calls(sf, hs) == {}
    assert org.sf.Account.get(rid)["ACM_Tier__c"] is None
    meta = materialization(result, "writeback_apply")
    assert meta["written"] == 0 and meta["dry_run"] == "hubspot, salesforce"


def test_a_failed_quality_gate_means_no_write_call(
    first_run: dict[str, Any], pipeline: Pipeline, wb_admins: tuple[Admin, Admin]
) -> None:
    sf, hs = wb_admins
    reset_calls(sf, hs)
    # Every org has some quarantined rows: a zero threshold fails the critical-rate gate.
    result = pipeline.run(
        raise_on_error=False,
        writeback={"manual_edits": "overwrite"},
        quality={
            "expectations_dir": str(Path(__file__).resolve().parents[2] / "expectations"),
            "critical_failure_threshold": 0.0,
            "data_docs": False,
        },
    )
    assert not result.success
    done = {
        e.materialization.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.materialization is not None
    }
    assert "writeback_apply" not in done
    # the gate stops writing only: scores and the plan (a preview) are made from the valid rows
    assert {"account_scores", "writeback_plan"} <= done
    failure = next(
        e
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE" and e.step_key == "writeback_apply"
    )
    assert "quality gates" in str(failure.step_failure_data.user_failure_data.description)
    assert write_calls(sf, hs) == {}
    # A write-back run on its own (no validation in it) checks the last gates too.
    alone = pipeline.run(selection=["writeback_apply"], raise_on_error=False)
    assert not alone.success
    failure = next(e for e in alone.all_events if e.event_type_value == "STEP_FAILURE")
    assert "quality gates" in str(failure.step_failure_data.user_failure_data.description)
    assert write_calls(sf, hs) == {}
    # The pending write (the earlier dry run's) goes out once the gates pass again.
    healed = pipeline.run(writeback={"manual_edits": "overwrite"})
    assert healed.success
    assert materialization(healed, "writeback_apply")["written"] == 1
