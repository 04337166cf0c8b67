"""Each defect class, typed into the CRMs through their own clients (simple-salesforce,
hubspot-api-client) as a rep would, then pulled and validated by the real assets: the issue it
raises (code, severity, the reason quoting what was typed) and the text written back.

The records are made here by hand, not by the demo-org generator, in a sandbox of this module's
own (its demo org is only background)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import yaml
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealCreate
from quality_demo import SUITES

from acm_sync.assets.hubspot import hubspot_assets
from acm_sync.assets.ingest import SyncSettingsResource
from acm_sync.assets.quality import QualitySettingsResource, asset_name, quality_assets
from acm_sync.assets.salesforce import salesforce_assets
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.org_summary import hubspot_client, salesforce_client
from acm_sync.quality.store import QualityStore
from acm_sync.quality.suites import ENTITIES
from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.warehouse import Warehouse, WarehouseResource

ASSETS = [*salesforce_assets, *hubspot_assets, *quality_assets]


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSettings]:
    with SandboxProcess(tmp_path_factory.mktemp("defects"), accounts=100, seed=41) as settings:
        yield settings


@pytest.fixture(scope="module")
def resources(crm: SandboxSettings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("defects_wh")
    config = tmp / "acm_sync.yaml"
    # Rates for EUR only: GBP is a currency both CRMs accept that this config cannot convert.
    # The gate is opened wide: the demo org's own GBP deals are held back too.
    currency = yaml.safe_load((SUITES.parent / "acm_sync.yaml").read_text())["currency"]
    currency["rates"].pop("GBP")
    quality = {"expectations_dir": str(SUITES), "critical_failure_threshold": 0.9}
    config.write_text(yaml.safe_dump({"quality": quality, "currency": currency}))
    with pytest.MonkeyPatch.context() as env:
        for name, value in crm.env().items():
            env.setenv(name, value)
        return {
            "salesforce": SalesforceResource.from_env(),
            "hubspot": HubSpotResource.from_env(),
            "warehouse": WarehouseResource(path=str(tmp / "warehouse.duckdb")),
            "sync_settings": SyncSettingsResource(config_path=str(config)),
            "quality_settings": QualitySettingsResource(config_path=str(config)),
        }


def run_pipeline(
    resources: dict[str, Any], env: dict[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pull both CRMs and validate; the issues and the issue texts the run stored."""
    # after every record this module made (the CRMs stamp them with the clock)
    as_of = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=5)).isoformat()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        result = dg.materialize(
            ASSETS,
            resources=resources,
            run_config={"ops": {asset_name(e): {"config": {"as_of": as_of}} for e in ENTITIES}},
            raise_on_error=False,
        )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    wh = Warehouse(Path(resources["warehouse"].path))
    issues = QualityStore(wh).issues()
    texts = wh.table("data_issue_texts") if wh.count("data_issue_texts") else pd.DataFrame()
    return issues, texts


@pytest.fixture(scope="module")
def made(crm: SandboxSettings, resources: dict[str, Any]) -> dict[str, Any]:
    """The hand-made bad records (ids namespaced as the warehouse holds them), then one run."""
    env = crm.env()
    sf = salesforce_client(env)
    sf.session.trust_env = False
    hs = hubspot_client(env)
    ids: dict[str, str] = {}

    def sf_create(obj: str, key: str, fields: dict[str, Any]) -> str:
        ids[key] = "sf:" + getattr(sf, obj).create(fields)["id"]
        return ids[key][3:]

    usd = sf_create(
        "Account",
        "usd_account",
        {"Name": "Kestrel Pumps Inc", "Website": "kestrel-pumps.com", "CurrencyIsoCode": "USD"},
    )
    sf_create("Account", "website_na", {"Name": "Quasar Widgets", "Website": "N/A"})
    sf_create("Account", "public_suffix", {"Name": "Brightline Ltd", "Website": "https://co.uk/"})
    sf_create("Account", "bidi_name", {"Name": "Orbit\u202eSystems", "Website": "orbit-sys.com"})
    sf_create(
        "Contact",
        "sf_contact_no_account",
        {"LastName": "Lonely", "Email": "lonely@kestrel-pumps.com"},
    )
    deal = {"AccountId": usd, "CloseDate": "2026-06-01", "Amount": 5000}
    sf_create(
        "Opportunity",
        "won_at_60",
        {**deal, "Name": "Pumps A", "StageName": "Closed Won", "Probability": 60},
    )
    sf_create(
        "Opportunity",
        "won_in_pipeline",
        {**deal, "Name": "Pumps B", "StageName": "Closed Won", "ForecastCategoryName": "Pipeline"},
    )
    sf_create(
        "Opportunity",
        "eur_on_usd",
        {
            **deal,
            "Name": "Pumps C",
            "StageName": "Prospecting",
            "CloseDate": "2027-01-15",
            "CurrencyIsoCode": "EUR",
        },
    )
    sf_create(
        "Opportunity",
        "gbp",
        {
            **deal,
            "Name": "Pumps D",
            "StageName": "Prospecting",
            "CloseDate": "2027-01-15",
            "CurrencyIsoCode": "GBP",
        },
    )
    sf_create(
        "Opportunity",
        "zwsp_name",
        {
            **deal,
            "Name": "Pumps\u2066E\u2069",
            "StageName": "Prospecting",
            "CloseDate": "2027-01-15",
        },
    )

    # Entered today for a deal won long ago (what a migration without audit fields does to
    # every historical deal): the CRMs stamp CreatedDate / createdate themselves.
    sf_create(
        "Opportunity",
        "back_dated_win",
        {**deal, "Name": "Pumps F", "StageName": "Closed Won", "CloseDate": "2024-03-28"},
    )
    company = hs.crm.companies.basic_api.create(
        CompanyCreate(properties={"name": "Lumen\u200fWorks", "domain": "lumen-works.io"})
    )
    ids["hs_bidi_company"] = "hs:" + company.id
    contact = hs.crm.contacts.basic_api.create(
        ContactCreate(properties={"email": "nobody@lumen-works.io", "lastname": "Alone"})
    )
    ids["hs_contact_no_company"] = "hs:" + contact.id
    deal_props = {"dealname": "Lumen renewal", "amount": "1200", "closedate": "2027-02-01"}
    orphan = hs.crm.deals.basic_api.create(
        DealCreate(properties={**deal_props, "dealstage": "appointmentscheduled"})
    )
    ids["hs_deal_no_company"] = "hs:" + orphan.id
    gbp = hs.crm.deals.basic_api.create(
        DealCreate(
            properties={
                **deal_props,
                "dealstage": "appointmentscheduled",
                "deal_currency_code": "GBP",
            },
            associations=[
                {
                    "to": {"id": company.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
                }
            ],
        )
    )
    ids["hs_deal_gbp"] = "hs:" + gbp.id
    back_dated = hs.crm.deals.basic_api.create(
        DealCreate(
            properties={**deal_props, "dealstage": "closedwon", "closedate": "2024-03-28"},
            associations=[
                {
                    "to": {"id": company.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
                }
            ],
        )
    )
    ids["hs_back_dated_win"] = "hs:" + back_dated.id
    issues, texts = run_pipeline(resources, env)
    return {"ids": ids, "issues": issues, "texts": texts, "hs": hs, "env": env}


def issue(made: dict[str, Any], key: str, code: str) -> pd.Series:
    issues = made["issues"]
    rows = issues[(issues["record_id"] == made["ids"][key]) & (issues["code"] == code)]
    assert len(rows) == 1, (key, code, issues[issues["record_id"] == made["ids"][key]])
    return rows.iloc[0]


def text(made: dict[str, Any], key: str) -> str:
    texts = made["texts"]
    return str(texts.loc[texts["record_id"] == made["ids"][key], "issues"].iloc[0])


@pytest.mark.parametrize(
    ("key", "code", "severity", "reason"),
    [
        ("website_na", "malformed_domain", "warning",
         "Website 'N/A' is not a usable web address: it has no dot, so it names no domain (e.g. acme.com)"),  # noqa: E501
        ("public_suffix", "malformed_domain", "warning",
         "Website 'https://co.uk/' is not a usable web address: it is a public suffix shared by many sites, not one company's domain"),  # noqa: E501
        ("bidi_name", "control_characters", "warning",
         "Account name 'Orbit\\u202eSystems' contains an invisible character (U+202E RIGHT-TO-LEFT OVERRIDE); retype the name"),  # noqa: E501
        ("hs_bidi_company", "control_characters", "warning",
         "Account name 'Lumen\\u200fWorks' contains an invisible character (U+200F RIGHT-TO-LEFT MARK); retype the name"),  # noqa: E501
        ("zwsp_name", "control_characters", "warning",
         "Name 'Pumps\\u2066E\\u2069' contains an invisible character (U+2066 LEFT-TO-RIGHT ISOLATE); retype it"),  # noqa: E501
        ("sf_contact_no_account", "missing_account", "warning",
         "Not linked to any account (Salesforce Account / HubSpot company): link the contact to their company"),  # noqa: E501
        ("hs_contact_no_company", "missing_account", "warning",
         "Not linked to any account (Salesforce Account / HubSpot company): link the contact to their company"),  # noqa: E501
        ("hs_deal_no_company", "missing_account", "critical", "Not linked to any account"),
        ("won_at_60", "closed_probability_mismatch", "warning",
         "Closed won, but probability is 60% (a won deal is 100%)"),
        ("won_in_pipeline", "forecast_category_mismatch", "warning",
         "Forecast category 'Pipeline' contradicts the deal's state (stage 'Closed Won', closed true, won true): won deals are 'Closed', lost ones 'Omitted', open ones never 'Closed'"),  # noqa: E501
        ("eur_on_usd", "currency_differs_from_account", "warning",
         "Currency 'EUR' differs from its account's currency 'USD'"),
        ("gbp", "unconvertible_currency", "critical",
         "Amount 5,000 is in 'GBP', which cannot be converted: no GBP→USD rate in currency.rates; fix the currency or add its rate"),  # noqa: E501
        ("hs_deal_gbp", "unconvertible_currency", "critical",
         "Amount 1,200 is in 'GBP', which cannot be converted: no GBP→USD rate in currency.rates; fix the currency or add its rate"),  # noqa: E501
    ],
)  # fmt: skip
def test_defect_is_caught_with_an_actionable_reason_and_written_back(
    made: dict[str, Any], key: str, code: str, severity: str, reason: str
) -> None:
    row = issue(made, key, code)
    assert (row["severity"], row["reason"]) == (severity, reason)
    prefix = "Critical: " if severity == "critical" else "Warning: "
    assert prefix + reason in text(made, key).splitlines()


@pytest.mark.parametrize("key", ["back_dated_win", "hs_back_dated_win"])
def test_a_deal_closed_before_it_was_created_is_a_warning_and_flows_on(
    made: dict[str, Any], resources: dict[str, Any], key: str
) -> None:
    wh = Warehouse(Path(resources["warehouse"].path))
    deals = wh.table("opportunities").set_index("opportunity_id")
    created = pd.Timestamp(deals.loc[made["ids"][key], "created_at"]).strftime("%Y-%m-%d")
    assert created > "2024-03-28"  # stamped by the CRM when the test typed it
    reason = f"Close date 2024-03-28 is before the deal was created ({created})"
    row = issue(made, key, "closed_before_created")
    assert (row["severity"], row["reason"]) == ("warning", reason)
    assert "Warning: " + reason in text(made, key).splitlines()
    assert made["ids"][key] in set(wh.table("valid_opportunities")["opportunity_id"])


def test_critical_defects_are_held_back_from_scoring(
    made: dict[str, Any], resources: dict[str, Any]
) -> None:
    wh = Warehouse(Path(resources["warehouse"].path))
    valid = set(wh.table("valid_opportunities")["opportunity_id"])
    for key in ("gbp", "hs_deal_gbp", "hs_deal_no_company"):
        assert made["ids"][key] not in valid
    for key in ("won_at_60", "eur_on_usd", "zwsp_name"):  # warnings flow on
        assert made["ids"][key] in valid


def test_a_deal_without_company_is_caught_on_the_incremental_path_too(
    made: dict[str, Any], resources: dict[str, Any]
) -> None:
    hs = made["hs"]
    props = {"dealname": "Late orphan", "amount": "900", "closedate": "2027-03-01"}
    late = hs.crm.deals.basic_api.create(
        DealCreate(properties={**props, "dealstage": "appointmentscheduled"})
    )
    issues, texts = run_pipeline(resources, made["env"])  # the second run pulls incrementally
    mine = issues[issues["record_id"] == "hs:" + late.id]
    assert set(zip(mine["code"], mine["severity"], strict=True)) == {
        ("missing_account", "critical")
    }
    assert "Critical: Not linked to any account" in str(
        texts.loc[texts["record_id"] == "hs:" + late.id, "issues"].iloc[0]
    )
