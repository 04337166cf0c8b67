"""A spent API budget (the run's cap, or the vendor's daily allocation through the sandbox's
`exhaust_limit` hook) stops every step that calls a CRM the same clean way: no traceback, a
warning, the run a success tagged `acm_sync/stopped: budget`, the steps after it skipped, an
alert that says "budget spent"; the next runs resume and converge, and no batch the budget
refused is journaled (so none is read back)."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest
import requests
from wb_pipeline import Pipeline

from acm_sync.assets.alerts import budget_stop_text
from acm_sync.assets.budget import STOPPED_STEPS_TAG, STOPPED_TAG
from acm_sync.sandbox.server import SandboxSettings
from sandbox_admin import Admin

# A fault scenario: part of `make test-ops` (run by .ci/run), not of `make test`.
pytestmark = pytest.mark.ops

APPLY = "writeback_apply"


@pytest.fixture(scope="module")
def pipeline(wb_sandbox: SandboxSettings, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(wb_sandbox, tmp_path_factory.mktemp("budget"), {})


@pytest.fixture()
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def _capped(calls: int) -> dict[str, object]:
    budget = {"budget": {"max_calls_per_run": calls}}
    return {"sync": {"salesforce": budget, "hubspot": budget}}


def _events(result: dg.ExecuteInProcessResult, kind: str) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type_value == kind]


def assert_clean_stop(
    result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance, step: str
) -> None:
    """The run stopped at `step` for the budget: a success, no failure, `step` reported."""
    assert result.success
    assert _events(result, "STEP_FAILURE") == []
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    assert run.tags[STOPPED_TAG] == "budget"
    assert step in run.tags[STOPPED_STEPS_TAG].split(",")
    observed = [
        e
        for e in _events(result, "ASSET_OBSERVATION")
        if e.step_key == step and "stopped" in e.asset_observation_data.asset_observation.metadata
    ]
    assert observed, f"{step} reported no stop"
    assert step not in {
        e.step_key for e in _events(result, "ASSET_MATERIALIZATION")
    }  # not up to date: not materialized
    text = budget_stop_text(run)
    assert text is not None
    assert "API budget spent" in text and "failed" not in text
    assert step in text


def _set_limits(sandbox: SandboxSettings, *, sf_used: int | None, hs_used: int | None) -> None:
    admin = "/__sandbox__"
    if sf_used is not None:
        requests.post(
            f"{sandbox.salesforce_instance_url}{admin}/salesforce/limits",
            json={"used": sf_used},
            verify=sandbox.salesforce_ca_bundle,
            timeout=10,
        ).raise_for_status()
    if hs_used is not None:
        requests.post(
            f"{sandbox.hubspot_base_url}{admin}/hubspot/rate-limits",
            json={"daily_used": hs_used},
            timeout=10,
        ).raise_for_status()


def test_a_pull_out_of_budget_stops_the_run_cleanly_and_skips_what_follows(
    pipeline: Pipeline, instance: dg.DagsterInstance
) -> None:
    result = pipeline.run(raise_on_error=False, instance=instance, **_capped(3))
    assert_clean_stop(result, instance, "hubspot_contacts")
    skipped = {e.step_key for e in _events(result, "STEP_SKIPPED")}
    assert {"quality_contacts", "account_scores", "writeback_plan", APPLY} <= skipped
    assert pipeline.wh.count("writeback_journal") == 0


def test_the_stage_catalog_stops_cleanly_on_a_spent_daily_limit(
    pipeline: Pipeline,
    instance: dg.DagsterInstance,
    wb_sandbox: SandboxSettings,
    wb_admins: tuple[Admin, Admin],
) -> None:
    sf, _hs = wb_admins
    sf.hook("exhaust_limit")  # Salesforce answers 403 REQUEST_LIMIT_EXCEEDED from now on
    try:
        result = pipeline.run(
            selection=["quality_stage_catalog"], raise_on_error=False, instance=instance
        )
    finally:
        _set_limits(wb_sandbox, sf_used=0, hs_used=None)
    assert_clean_stop(result, instance, "quality_stage_catalog")


def test_the_target_check_stops_cleanly_on_a_spent_daily_limit(
    pipeline: Pipeline,
    instance: dg.DagsterInstance,
    wb_sandbox: SandboxSettings,
    wb_admins: tuple[Admin, Admin],
) -> None:
    _sf, hs = wb_admins
    hs.hook("exhaust_limit")  # HubSpot answers 429 with its daily policy from now on
    try:
        # (schema_check_hours 0: check now, though an earlier run's check passed)
        recheck = {"schema_check_hours": 0}
        result = pipeline.run(
            selection=["writeback_target"],
            raise_on_error=False,
            instance=instance,
            sync={"salesforce": recheck, "hubspot": recheck},
        )
    finally:
        _set_limits(wb_sandbox, sf_used=None, hs_used=0)
    assert_clean_stop(result, instance, "writeback_target")


def test_the_write_back_stops_cleanly_then_resumes_without_reading_back(
    pipeline: Pipeline, instance: dg.DagsterInstance, wb_admins: tuple[Admin, Admin]
) -> None:
    sf, hs = wb_admins
    everything_but_apply = dg.AssetSelection.all() - dg.AssetSelection.assets(APPLY)
    planned = pipeline.run(selection=everything_but_apply)
    assert planned.success
    # Two write calls a CRM, then the cap: HubSpot goes first, and its third batch stops the
    # step half-way.
    stopped = pipeline.run(selection=[APPLY], raise_on_error=False, instance=instance, **_capped(2))
    assert_clean_stop(stopped, instance, APPLY)
    wh = pipeline.wh
    assert wh.count("writeback_ledger") > 0  # what it wrote is kept
    # Only the batches that went out were journaled, and every one of them is closed.
    assert wh.count("writeback_journal", "WHERE state = 'sent'") == 0
    assert wh.count("writeback_journal") == 2

    # The next runs resume: nothing is read back (no batch was left open), and they converge.
    for admin in (sf, hs):
        admin.reset_calls()
    resumed = pipeline.run()
    assert resumed.success
    routes = {**sf.calls()["by_route"], **hs.calls()["by_route"]}
    assert not [r for r in routes if r.endswith("/batch/read")]
    assert not any("Id IN" in c["query"] for c in sf.calls()["calls"])
    for admin in (sf, hs):
        admin.reset_writes()
    again = pipeline.run()
    assert again.success
    assert {**sf.writes(), **hs.writes()} == {}
