"""A CSAT kept in a HubSpot company property, mapped in acm_sync.yaml, scores health end to end.

The portal gets the property as a real one does: created through the properties API
(`crm.properties.core_api.create`), values set on companies through the objects API. The
config maps it — `sync.hubspot.fields.accounts.satisfaction: csat_score` on a 1–5 scale — and
the whole pipeline runs: pull (the property read along), canonical `accounts.satisfaction`,
quality (a value outside the scale and one that is not a number are warnings quoting them, the
accounts kept), health (weighted on satisfaction alone, so the score is the rescaled CSAT,
computed here by hand) and write-back of the score and drivers into the company.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest
from hubspot.crm.companies import SimplePublicObjectInput
from hubspot.crm.properties import PropertyCreate
from wb_pipeline import Pipeline

from acm_sync.org_summary import hubspot_client
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.scoring.health import COMPONENTS

PROPERTY = "csat_score"
WEIGHTS = {**dict.fromkeys(COMPONENTS, 0), "satisfaction": 100}
# what each of four companies holds in the property, and its health by hand on 1…5:
# 100 × (v − 1) / 4; shown in whole points, the half up
CSAT = {"good": "4", "half": "4.5", "typo": "7", "text": "n/a"}
EXPECTED = {"good": 75.0, "half": 88.0}  # 75; 87.5 → 88


@pytest.fixture(scope="module")
def pipeline(wb_sandbox: SandboxSettings, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(wb_sandbox, tmp_path_factory.mktemp("wb_csat"), {})


def _companies(hs: Any) -> dict[str, str]:
    """Four live companies with a plain name and distinct domains (none a duplicate of
    another of the four, so each is its own unified account)."""
    page = hs.crm.companies.basic_api.get_page(limit=100, properties=["name", "domain"])
    chosen: dict[str, str] = {}
    domains: set[str] = set()
    for company in page.results:
        name = company.properties.get("name") or ""
        domain = (company.properties.get("domain") or "").lower().removeprefix("www.")
        if not re.fullmatch(r"[A-Z][A-Za-z ]{2,40}", name) or not domain or domain in domains:
            continue
        domains.add(domain)
        chosen[list(CSAT)[len(chosen)]] = company.id
        if len(chosen) == len(CSAT):
            return chosen
    raise AssertionError("the sandbox portal has too few plain companies")


def test_mapping_a_property_the_portal_lacks_stops_the_pull_naming_it(pipeline: Pipeline) -> None:
    # checked against the properties API like every mapped field (before the property exists)
    result = pipeline.run(
        selection=["hubspot_companies"],
        raise_on_error=False,
        sync={"hubspot": {"fields": {"accounts": {"satisfaction": PROPERTY}}}},
    )
    assert not result.success
    errors = [str(e.step_failure_data.error) for e in result.get_step_failure_events()]
    assert any(f"hubspot.fields.accounts.satisfaction: '{PROPERTY}'" in e for e in errors), errors


def test_a_mapped_csat_property_scores_health_end_to_end(pipeline: Pipeline) -> None:
    hs = hubspot_client(pipeline.env())
    hs.crm.properties.core_api.create(
        "companies",
        PropertyCreate(
            name=PROPERTY,
            label="CSAT score",
            type="string",
            field_type="text",
            group_name="companyinformation",
        ),
    )
    ids = _companies(hs)
    for which, company_id in ids.items():
        hs.crm.companies.basic_api.update(
            company_id, SimplePublicObjectInput(properties={PROPERTY: CSAT[which]})
        )

    result = pipeline.run(
        health={"weights": WEIGHTS, "satisfaction": {"scale_min": 1, "scale_max": 5}},
        sync={"hubspot": {"fields": {"accounts": {"satisfaction": PROPERTY}}}},
    )
    assert result.success

    # pulled into the canonical column: numbers as numbers, the rest null (nothing invented)
    accounts = pipeline.wh.table("accounts").set_index("account_id")
    canonical = {w: accounts.loc[f"hs:{i}", "satisfaction"] for w, i in ids.items()}
    assert canonical["good"] == 4.0 and canonical["half"] == 4.5 and canonical["typo"] == 7.0
    assert pd.isna(canonical["text"])
    # unmapped on the Salesforce side: null on every Salesforce account
    assert accounts[accounts["source"] == "salesforce"]["satisfaction"].isna().all()

    # quality: two warnings quoting what the CRM holds; every account still valid
    issues = pipeline.wh.query(
        "SELECT record_id, code, severity, reason FROM quality_issues "
        "WHERE code LIKE 'satisfaction%'"
    ).set_index("record_id")
    assert set(issues.index) == {f"hs:{ids['typo']}", f"hs:{ids['text']}"}
    typo, text = issues.loc[f"hs:{ids['typo']}"], issues.loc[f"hs:{ids['text']}"]
    assert (typo["code"], typo["severity"]) == ("satisfaction_out_of_scale", "warning")
    assert typo["reason"].startswith("CSAT / NPS 7 is outside the scale 1…5")
    assert (text["code"], text["severity"]) == ("satisfaction_not_a_number", "warning")
    assert text["reason"] == "CSAT / NPS 'n/a' is not a number; not scored until fixed"
    valid = set(pipeline.wh.query("SELECT account_id FROM valid_accounts")["account_id"])
    assert {f"hs:{i}" for i in ids.values()} <= valid

    # health: the score is the rescaled CSAT (satisfaction is the only weight)
    scores = pipeline.wh.query(
        "SELECT i.hs_company_id, s.health_score, s.satisfaction_score, s.health_drivers "
        "FROM account_scores s JOIN account_identity i USING (account_key) WHERE s.run_id = ?",
        [result.run_id],
    ).set_index("hs_company_id")
    good, half = scores.loc[f"hs:{ids['good']}"], scores.loc[f"hs:{ids['half']}"]
    assert (good["satisfaction_score"], good["health_score"]) == (75.0, EXPECTED["good"])
    assert (half["satisfaction_score"], half["health_score"]) == (87.5, EXPECTED["half"])
    assert "CSAT/NPS 4" in good["health_drivers"]
    assert "CSAT/NPS 4.5" in half["health_drivers"]
    for which, why in (("typo", "CSAT / NPS 7 outside the scale 1…5"), ("text", None)):
        row = scores.loc[f"hs:{ids[which]}"]
        assert pd.isna(row["health_score"])
        assert row["health_drivers"].startswith("Not scored: no data for any weighted component")
        assert (why or "Satisfaction (no CSAT / NPS value)") in row["health_drivers"]

    # written back: the company shows the score computed from its own CSAT
    fields = ["acm_health_score", "acm_health_drivers"]
    company = hs.crm.companies.basic_api.get_by_id(ids["good"], properties=fields)
    assert float(company.properties["acm_health_score"]) == EXPECTED["good"]
    assert company.properties["acm_health_drivers"] == good["health_drivers"]
