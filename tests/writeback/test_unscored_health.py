"""Accounts health cannot score, through the whole pipeline into both CRMs: weighted only on
revenue trend and renewal risk, an account with no prior year of revenue and no open renewal
has no data for any weighted component. Its score, band and trend stay empty in the CRM (no
number invented, no Up / Down against an earlier score), its drivers say why, and a re-run on
the same day writes nothing."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from wb_pipeline import Pipeline, materialization

from acm_sync.org_summary import hubspot_client, salesforce_client
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.scoring.health import COMPONENTS
from sandbox_admin import Admin

WEIGHTS = {**dict.fromkeys(COMPONENTS, 0), "revenue_trend": 60, "renewal_risk": 40}
NOT_SCORED = "Not scored: no data for any weighted component — Revenue trend ("


@pytest.fixture(scope="module")
def pipeline(wb_sandbox: SandboxSettings, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(wb_sandbox, tmp_path_factory.mktemp("wb_unscored"), {})


def _writes(sf: Admin, hs: Admin) -> int:
    return sum(sf.writes().values()) + sum(hs.writes().values())


def test_unscored_accounts_say_why_in_both_crms_and_a_rerun_writes_nothing(
    pipeline: Pipeline, wb_admins: tuple[Admin, Admin]
) -> None:
    first = pipeline.run(health={"weights": WEIGHTS})
    assert first.success
    scores = pipeline.wh.query(
        "SELECT s.account_key, s.health_score, s.health_band, s.health_trend, s.health_drivers,"
        " i.sf_account_id, i.hs_company_id FROM account_scores s"
        " JOIN account_identity i USING (account_key) WHERE s.run_id = ?",
        [first.run_id],
    )
    unscored = scores[scores["health_score"].isna()]
    assert len(unscored) > 0 and len(unscored) < len(scores)
    assert unscored["health_band"].isna().all() and unscored["health_trend"].isna().all()
    assert unscored["health_drivers"].str.startswith(NOT_SCORED).all()
    assert unscored["health_drivers"].str.endswith("; Renewal risk (no open renewal)").all()

    env = pipeline.env()
    sf_row = unscored.dropna(subset=["sf_account_id"]).iloc[0]
    sf_id = str(sf_row["sf_account_id"]).removeprefix("sf:")
    record: dict[str, Any] = salesforce_client(env).Account.get(sf_id)
    assert record["ACM_Health_Drivers__c"] == sf_row["health_drivers"]
    for name in ("ACM_Health_Score__c", "ACM_Health_Band__c", "ACM_Health_Trend__c"):
        assert record[name] is None, (name, record[name])
    hs_row = unscored.dropna(subset=["hs_company_id"]).iloc[0]
    hs_id = str(hs_row["hs_company_id"]).removeprefix("hs:")
    fields = ["acm_health_score", "acm_health_band", "acm_health_trend", "acm_health_drivers"]
    company = hubspot_client(env).crm.companies.basic_api.get_by_id(hs_id, properties=fields)
    assert company.properties["acm_health_drivers"] == hs_row["health_drivers"]
    for name in ("acm_health_score", "acm_health_band", "acm_health_trend"):
        assert company.properties[name] in (None, ""), (name, company.properties[name])

    # the same day, the same data: nothing to write, nothing written
    sf, hs = wb_admins
    sf.reset_writes()
    hs.reset_writes()
    second = pipeline.run(health={"weights": WEIGHTS})
    assert second.success
    assert materialization(second, "writeback_plan")["records_to_write"] == 0
    assert materialization(second, "writeback_apply")["written"] == 0
    assert _writes(sf, hs) == 0
    again = pipeline.wh.query(
        "SELECT account_key, health_trend, health_drivers FROM account_scores WHERE run_id = ?",
        [second.run_id],
    )
    still = again[again["account_key"].isin(unscored["account_key"])]
    assert still["health_trend"].isna().all()
    # (a unified account with duplicate records joins identity more than once)
    first_drivers = unscored.drop_duplicates("account_key").set_index("account_key")
    pd.testing.assert_series_equal(
        still.set_index("account_key")["health_drivers"].sort_index(),
        first_drivers["health_drivers"].sort_index(),
    )
