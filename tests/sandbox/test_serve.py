"""`acm-sync sandbox serve` end to end: both CRMs in one process, settings, persistence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import hubspot
import pytest
from simple_salesforce import Salesforce

from acm_sync.connectors.http import salesforce_session
from acm_sync.org_summary import hubspot_client, org_summary, salesforce_client
from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings

EXPECTED_ENV = {
    "SALESFORCE_USERNAME",
    "SALESFORCE_PASSWORD",
    "SALESFORCE_SECURITY_TOKEN",
    "SALESFORCE_DOMAIN",
    "SALESFORCE_LOGIN_URL",
    "SALESFORCE_CONSUMER_KEY",
    "SALESFORCE_CONSUMER_SECRET",
    "SALESFORCE_REFRESH_TOKEN",
    "SALESFORCE_PRIVATE_KEY_FILE",
    "SALESFORCE_CA_BUNDLE",
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_BASE_URL",
}


def test_settings_name_the_environment_the_product_reads(
    sandbox: SandboxSettings, sandbox_dir: Path
) -> None:
    env = sandbox.env()
    assert set(env) == EXPECTED_ENV
    assert env["SALESFORCE_LOGIN_URL"].startswith("https://127.0.0.1:")
    assert env["HUBSPOT_BASE_URL"].startswith("http://127.0.0.1:")
    assert Path(env["SALESFORCE_CA_BUNDLE"]).read_text().startswith("-----BEGIN CERTIFICATE")
    exports = (sandbox_dir / "connection.env").read_text()
    assert all(f"export {name}=" in exports for name in EXPECTED_ENV)
    printed = subprocess.run(
        [sys.executable, "-m", "acm_sync.cli", "sandbox", "env", "--data-dir", str(sandbox_dir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == exports


def test_the_real_clients_log_in_with_those_settings(sandbox: SandboxSettings) -> None:
    env = sandbox.env()
    sf = Salesforce(
        username=env["SALESFORCE_USERNAME"],
        password=env["SALESFORCE_PASSWORD"],
        security_token=env["SALESFORCE_SECURITY_TOKEN"],
        domain=env["SALESFORCE_DOMAIN"],
        session=salesforce_session(
            domain=env["SALESFORCE_DOMAIN"],
            login_url=env["SALESFORCE_LOGIN_URL"],
            ca_bundle=env["SALESFORCE_CA_BUNDLE"],
        ),
    )
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0
    hs = hubspot.HubSpot(access_token=env["HUBSPOT_ACCESS_TOKEN"], host=env["HUBSPOT_BASE_URL"])
    assert hs.crm.companies.basic_api.get_page(limit=5).results


def test_wrong_secrets_are_refused(sandbox: SandboxSettings) -> None:
    from hubspot.crm.companies.exceptions import UnauthorizedException
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed

    env = {**sandbox.env(), "SALESFORCE_PASSWORD": "wrong", "HUBSPOT_ACCESS_TOKEN": "pat-wrong"}
    with pytest.raises(SalesforceAuthenticationFailed):
        salesforce_client(env)
    with pytest.raises(UnauthorizedException):
        hubspot_client(env).crm.companies.basic_api.get_page(limit=1)


def test_summary_counts_match_the_seeded_org(sandbox: SandboxSettings, seeded_org: Any) -> None:
    org = seeded_org
    summary = org_summary(sandbox)
    for obj in ("Account", "Contact", "Opportunity"):
        frame = org.salesforce[obj]
        assert summary["salesforce"]["objects"][obj]["deleted"] == int(frame["IsDeleted"].sum())
    hs_companies = org.hubspot["companies"]
    assert summary["hubspot"]["objects"]["companies"]["deleted"] == int(
        hs_companies["archived"].sum()
    )


def test_a_restart_keeps_every_change(tmp_path: Path) -> None:
    with SandboxProcess(tmp_path, accounts=100, seed=3) as settings:
        env = settings.env()
        sf = salesforce_client(env)
        account_id = sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 1")["records"][0]["Id"]
        sf.Account.update(account_id, {"ACM_Tier__c": "Key"})
        hs = hubspot_client(env)
        company = hs.crm.companies.basic_api.get_page(limit=1).results[0]
        hs.crm.companies.basic_api.update(company.id, {"properties": {"name": "Renamed Co"}})
        first_ports = (settings.salesforce_instance_url, settings.hubspot_base_url)

    with SandboxProcess(tmp_path, accounts=100, seed=3) as settings:
        env = settings.env()
        sf = salesforce_client(env)
        assert sf.Account.get(account_id)["ACM_Tier__c"] == "Key"
        hs = hubspot_client(env)
        assert hs.crm.companies.basic_api.get_by_id(company.id).properties["name"] == "Renamed Co"
        # Same credentials and CA across restarts; ports are picked afresh (port 0).
        assert settings.credentials.salesforce_password == env["SALESFORCE_PASSWORD"]
        assert first_ports[0].startswith("https://127.0.0.1:")


def test_demo_json_runs_the_pipeline_and_adds_up(tmp_path: Path) -> None:
    """`acm-sync demo --json`: a fresh sandbox, the sync job in process, and a summary that adds
    up: pulled = valid + quarantined, written ≤ planned, examples read back as written."""
    import json

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "acm_sync.cli",
            "demo",
            "--accounts",
            "150",
            "--json",
            "--work-dir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    summary = json.loads(out)
    # the work dir is kept, with what to open next
    plan_csv = Path(summary["next"]["plan_csv"])
    assert plan_csv.parent == (tmp_path / "demo").resolve()
    assert plan_csv.read_text().startswith("crm,object,record_id,name,url,field,before,after")
    assert Path(summary["next"]["data_docs"]).is_file()
    for entity in ("accounts", "contacts", "opportunities"):
        pulled = sum(n for key, n in summary["pulled"].items() if key.endswith(f".{entity}"))
        assert pulled == summary["valid"][entity] + summary["quarantined"].get(entity, 0)
    assert summary["quarantined"]["contacts"] > 0  # the demo org is dirty on purpose
    assert sum(summary["tiers"].values()) == sum(summary["health_bands"].values()) > 0
    assert summary["forecast"][-1]["period"] == "Total"
    for f in summary["forecast"]:  # the total is the pipeline forecast plus the run-rate
        assert f["total_forecast"] == pytest.approx(
            f["pipeline_forecast"] + f["run_rate"], abs=0.02
        )
    assert summary["api_calls"]["salesforce"] > 0 and summary["api_calls"]["hubspot"] > 0
    wb = summary["writeback"]
    assert 0 < wb["written"] <= wb["planned"]
    assert wb["written"] + wb["rejected"] + wb["not_sent"] == wb["planned"]
    assert sum(wb["written_by_object"].values()) == wb["written"]
    assert set(wb["written_by_object"]) == {
        "salesforce.Account",
        "salesforce.Contact",
        "salesforce.Opportunity",
        "hubspot.companies",
        "hubspot.contacts",
        "hubspot.deals",
    }
    # The minimum calls: ⌈k/200⌉ per Salesforce object, ⌈k/100⌉ per HubSpot object.
    per = wb["written_by_object"]
    assert wb["write_calls"]["salesforce"] == sum(
        -(-per[f"salesforce.{o}"] // 200) for o in ("Account", "Contact", "Opportunity")
    )
    assert wb["write_calls"]["hubspot"] == sum(
        -(-per[f"hubspot.{o}"] // 100) for o in ("companies", "contacts", "deals")
    )
    # Three examples: one unified account in both CRMs (same values), a contact's data issues.
    account, company, contact = summary["examples"]
    assert (account["object"], company["object"], contact["object"]) == (
        "Account",
        "companies",
        "Contact",
    )
    tier = {f["field"]: f["after"] for f in account["fields"]}["ACM_Tier__c"]
    assert tier == {f["field"]: f["after"] for f in company["fields"]}["acm_tier"]
    assert {f["field"]: f["after"] for f in contact["fields"]}["ACM_Data_Issues__c"]


def _sf_session(env: dict[str, str]) -> Any:
    return salesforce_session(
        domain=env["SALESFORCE_DOMAIN"],
        login_url=env["SALESFORCE_LOGIN_URL"],
        ca_bundle=env["SALESFORCE_CA_BUNDLE"],
    )


def test_jwt_bearer_login_through_simple_salesforce(sandbox: SandboxSettings) -> None:
    env = sandbox.env()
    sf = Salesforce(
        username=env["SALESFORCE_USERNAME"],
        consumer_key=env["SALESFORCE_CONSUMER_KEY"],
        privatekey_file=env["SALESFORCE_PRIVATE_KEY_FILE"],
        domain=env["SALESFORCE_DOMAIN"],
        session=_sf_session(env),
    )
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] > 0


def test_jwt_signed_with_another_key_is_refused(sandbox: SandboxSettings, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed

    other = tmp_path / "other.key"
    other.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env = sandbox.env()
    with pytest.raises(SalesforceAuthenticationFailed, match="invalid assertion"):
        Salesforce(
            username=env["SALESFORCE_USERNAME"],
            consumer_key=env["SALESFORCE_CONSUMER_KEY"],
            privatekey_file=str(other),
            domain=env["SALESFORCE_DOMAIN"],
            session=_sf_session(env),
        )


def test_refresh_token_grant_as_third_party_connectors_use_it(sandbox: SandboxSettings) -> None:
    env = sandbox.env()
    http = _sf_session(env)
    token_url = f"https://{env['SALESFORCE_DOMAIN']}.salesforce.com/services/oauth2/token"
    form = {
        "grant_type": "refresh_token",
        "client_id": env["SALESFORCE_CONSUMER_KEY"],
        "client_secret": env["SALESFORCE_CONSUMER_SECRET"],
        "refresh_token": env["SALESFORCE_REFRESH_TOKEN"],
    }
    granted = http.post(token_url, data=form)
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"} <= set(
        body
    )
    sf = Salesforce(
        instance_url=body["instance_url"], session_id=body["access_token"], session=http
    )
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0

    refused = http.post(token_url, data={**form, "refresh_token": "not-it"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_a_relative_data_dir_gives_absolute_settings(tmp_path: Path) -> None:
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        process = SandboxProcess(Path("rel-sbx"), accounts=100, seed=5)
        with process as settings:
            assert Path(settings.salesforce_ca_bundle).is_absolute()
            assert Path(settings.salesforce_private_key_file).is_absolute()
    finally:
        os.chdir(cwd)
    exports = (tmp_path / "rel-sbx" / "connection.env").read_text()
    assert f"SALESFORCE_CA_BUNDLE='{tmp_path}" in exports


def test_hubspot_dates_each_response_once_and_freshly(sandbox: SandboxSettings) -> None:
    """One `date` header, the moment of the response: the pull takes HubSpot's clock from it
    for its incremental cursor. uvicorn's own header (refreshed once a second by its loop, later
    when the loop is busy) is off; with both, a response would carry two."""
    import http.client
    import time
    from email.utils import parsedate_to_datetime
    from urllib.parse import urlsplit

    url = urlsplit(sandbox.hubspot_base_url)
    token = sandbox.credentials.hubspot_access_token
    for _ in range(3):
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
        before = time.time()
        conn.request(
            "GET", "/crm/v3/objects/companies?limit=1", headers={"Authorization": f"Bearer {token}"}
        )
        response = conn.getresponse()
        after = time.time()
        dates = response.headers.get_all("date") or []
        response.read()
        conn.close()
        assert len(dates) == 1, dates
        stamp = parsedate_to_datetime(dates[0]).timestamp()
        assert int(before) <= stamp <= after  # whole seconds: floor(before) at the earliest
        time.sleep(0.4)
