"""Approve, then apply exactly that plan — through the real clients against a sandbox of its own.

A sync with `writeback.require_approval: true` stops at the plan (no write call). Between the
plan and its approval a person edits one planned cell in Salesforce. Applying the plan id then
writes every other approved cell and nothing else; the edited cell is not overwritten but planned
again under a new id. A plan is applied once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from test_writeback import HS_STAMPS, SF_STAMPS, Org, reset_calls, write_calls
from wb_pipeline import Pipeline, materialization

from acm_sync.sandbox.server import SandboxSettings
from acm_sync.writeback.fields import TIERS, field_of
from acm_sync.writeback.store import WritebackStore
from acm_sync.writeback.values import normalize
from sandbox_admin import Admin

SENDING = ("write", "overwrite_manual")


@pytest.fixture(scope="module")
def pipeline(wb_sandbox: SandboxSettings, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(wb_sandbox, tmp_path_factory.mktemp("approval"), {})


@pytest.fixture(scope="module")
def org(wb_sandbox: SandboxSettings) -> Org:
    return Org(wb_sandbox.env())


def _apply(pipeline: Pipeline, plan_id: str) -> dg.ExecuteInProcessResult:
    return pipeline.run(
        selection=["writeback_apply"],
        raise_on_error=False,
        run_config={"ops": {"writeback_apply": {"config": {"plan_id": plan_id}}}},
        writeback={"require_approval": True},
    )


@pytest.fixture(scope="module")
def approved(
    pipeline: Pipeline, org: Org, wb_admins: tuple[Admin, Admin]
) -> Iterator[dict[str, Any]]:
    sf, hs = wb_admins
    reset_calls(sf, hs)
    planned = pipeline.run(writeback={"require_approval": True})
    assert planned.success
    stopped_calls = write_calls(sf, hs)
    plan_id = planned.run_id
    plan = WritebackStore(pipeline.wh).plan(plan_id)
    sending = plan[plan["action"].isin(SENDING)]
    # A person edits one planned cell in Salesforce before the plan is approved.
    tier = sending[(sending["object"] == "Account") & (sending["field"] == "ACM_Tier__c")].iloc[0]
    edited = next(t for t in TIERS if t not in (tier["before"], tier["after"]))
    org.sf.Account.update(tier["record_id"], {"ACM_Tier__c": edited})
    before = org.snapshot()
    reset_calls(sf, hs)
    applied = _apply(pipeline, plan_id)
    yield {
        "plan_id": plan_id,
        "planned": planned,
        "stopped_calls": stopped_calls,
        "sending": sending,
        "edited_cell": tier,
        "edited_value": edited,
        "before": before,
        "after": org.snapshot(),
        "applied": applied,
        "apply_calls": write_calls(sf, hs),
    }


def test_require_approval_stops_the_sync_at_the_plan(approved: dict[str, Any]) -> None:
    assert approved["stopped_calls"] == {}  # no write route was called
    meta = materialization(approved["planned"], "writeback_apply")
    assert meta["awaiting_approval"] == approved["plan_id"]
    assert meta["written"] == 0
    assert len(approved["sending"]) > 1000


def test_applying_the_plan_id_writes_exactly_its_unmoved_cells(approved: dict[str, Any]) -> None:
    assert approved["applied"].success
    assert approved["apply_calls"]  # it did write
    edited = approved["edited_cell"]
    expected = {
        (r.crm, r.object, r.record_id, r.field): r.after
        for r in approved["sending"].itertuples()
        if (r.crm, r.object, r.record_id, r.field)
        != ("salesforce", "Account", edited["record_id"], "ACM_Tier__c")
    }
    changed: dict[tuple[str, str, str, str], Any] = {}
    for (crm, obj), old in approved["before"].items():
        new = approved["after"][(crm, obj)]
        stamps = SF_STAMPS if crm == "salesforce" else HS_STAMPS
        for column in old.columns:
            if column in stamps:
                continue
            same = (old[column].astype(str) == new[column].astype(str)) | (
                old[column].isna() & new[column].isna()
            )
            for rid in old.index[~same]:
                changed[(crm, obj, str(rid), column)] = new.loc[rid, column]
    # every changed cell is an approved one, with the approved value …
    for (crm, obj, rid, name), value in changed.items():
        assert (crm, obj, rid, name) in expected, (crm, obj, rid, name)
        assert normalize(field_of(crm, obj, name), value) == expected[(crm, obj, rid, name)]  # type: ignore[arg-type]
    # … and every approved cell holds its value (those whose CRM value already matched count)
    for (crm, obj, rid, name), after in expected.items():
        now = approved["after"][(crm, obj)].loc[rid, name]
        assert normalize(field_of(crm, obj, name), now) == after, (crm, obj, rid, name)  # type: ignore[arg-type]


def test_a_cell_edited_since_the_plan_is_replanned_not_overwritten(
    approved: dict[str, Any], pipeline: Pipeline
) -> None:
    edited = approved["edited_cell"]
    account = approved["after"][("salesforce", "Account")].loc[edited["record_id"]]
    assert account["ACM_Tier__c"] == approved["edited_value"]  # the person's value stays
    meta = materialization(approved["applied"], "writeback_apply")
    assert meta["moved_since_planned"] == 1
    replan_id = meta["replanned_as"]
    assert replan_id == f"{approved['plan_id']}.replan1"
    store = WritebackStore(pipeline.wh)
    replan = store.plan(replan_id)
    assert replan[["record_id", "field", "before", "after", "action"]].values.tolist() == [
        [edited["record_id"], "ACM_Tier__c", approved["edited_value"], edited["after"], "write"]
    ]
    statuses = store.plan(approved["plan_id"]).set_index(["crm", "object", "record_id", "field"])
    assert (
        statuses.loc[("salesforce", "Account", edited["record_id"], "ACM_Tier__c"), "status"]
        == "moved"
    )
    sent = statuses[statuses["action"].isin(SENDING)]["status"]
    assert set(sent) <= {"written", "moved"} and (sent == "written").sum() > 1000


def test_a_plan_is_applied_once(approved: dict[str, Any], pipeline: Pipeline) -> None:
    again = _apply(pipeline, approved["plan_id"])
    assert not again.success
    message = again.get_step_failure_events()[0].step_failure_data.error.message  # type: ignore[union-attr]
    assert "applied already" in message


def test_an_unknown_plan_id_is_a_clear_failure(
    pipeline: Pipeline, approved: dict[str, Any]
) -> None:
    result = _apply(pipeline, "no-such-plan")
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message  # type: ignore[union-attr]
    assert "no write plan no-such-plan" in message


def test_sandbox_summary_shows_the_owned_fields_fill_rates(
    approved: dict[str, Any], wb_sandbox: SandboxSettings
) -> None:
    from acm_sync.org_summary import org_summary

    summary = org_summary(wb_sandbox)
    after = approved["after"]
    for crm, obj, name in (
        ("salesforce", "Account", "ACM_Tier__c"),
        ("salesforce", "Opportunity", "ACM_Win_Probability__c"),
        ("hubspot", "companies", "acm_health_band"),
        ("hubspot", "contacts", "acm_data_issues"),
    ):
        column = after[(crm, obj)][name]
        filled = int((column.notna() & (column.astype(str) != "")).sum())
        got = summary[crm]["owned_fill"][obj][name]
        assert got == {"filled": filled, "records": len(column)}, (crm, obj, name)
        assert filled > 0 or name == "acm_data_issues"
