"""Salesforce pulls through simple-salesforce against the sandbox: completeness, minimum calls,
incremental changes / deletes / merges, Bulk API 2.0, and recovery from injected faults."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from crm_helpers import Admin, pages, plain_sf, sf_resource
from simple_salesforce import Salesforce

from acm_sync.connectors.common import CredentialsError, MappingError
from acm_sync.connectors.policy import ApiBudget
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.connectors.salesforce_pull import SF_OBJECTS, pull_salesforce, soql_datetime
from acm_sync.connectors.settings import SalesforceSync
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.warehouse import Warehouse

TABLES = list(SF_OBJECTS)
SETTINGS = SalesforceSync(lookback_seconds=5)


def pull_all(
    client: Any, wh: Warehouse, settings: SalesforceSync = SETTINGS, **kw: Any
) -> dict[str, Any]:
    return {t: pull_salesforce(client, wh, settings, t, **kw) for t in TABLES}


def org(sf: Salesforce, obj: str, fields: str) -> pd.DataFrame:
    records = sf.query_all(f"SELECT {fields} FROM {obj}", include_deleted=True)["records"]
    return pd.DataFrame([{k: v for k, v in r.items() if k != "attributes"} for r in records])


def count(sf: Salesforce, obj: str, where: str = "") -> int:
    """Records in the org, deleted ones included (query_all would recount the records)."""
    return int(sf.query(f"SELECT COUNT() FROM {obj} {where}", include_deleted=True)["totalSize"])


def assert_warehouse_equals_org(wh: Warehouse, sf: Salesforce) -> None:
    """Every record of the org, once, with its deletion / merge state and mapped values."""
    accounts = org(sf, "Account", "Id, Name, Website, IsDeleted, MasterRecordId")
    got = wh.table("accounts", "WHERE source = 'salesforce'").set_index("source_id")
    assert got.index.is_unique
    assert set(got.index) == set(accounts["Id"])
    want = accounts.set_index("Id").loc[got.index]
    assert (got["is_deleted"].astype(bool) == want["IsDeleted"].astype(bool)).all()
    assert got["name"].fillna("").tolist() == want["Name"].fillna("").str.strip().tolist()
    assert got["merged_into"].fillna("").tolist() == [
        f"sf:{m}" if m else "" for m in want["MasterRecordId"].fillna("")
    ]
    # The domain is the website's host: inside what was typed, without scheme / www / path.
    typed = want["Website"].fillna("").str.strip().str.lower().tolist()
    for domain, website in zip(got["domain"].fillna("").tolist(), typed, strict=True):
        assert (domain == "") == (website.strip("./") == ""), (domain, website)
        assert domain in website and not domain.startswith("www.") and "/" not in domain

    contacts = org(sf, "Contact", "Id, AccountId, IsDeleted, MasterRecordId")
    got = wh.table("contacts", "WHERE source = 'salesforce'").set_index("source_id")
    assert got.index.is_unique and set(got.index) == set(contacts["Id"])
    want = contacts.set_index("Id").loc[got.index]
    assert got["account_id"].fillna("").tolist() == [
        f"sf:{a}" if a else "" for a in want["AccountId"].fillna("")
    ]

    opps = org(sf, "Opportunity", "Id, StageName, Amount, IsDeleted")
    got = wh.table("opportunities", "WHERE source = 'salesforce'").set_index("source_id")
    assert got.index.is_unique and set(got.index) == set(opps["Id"])
    want = opps.set_index("Id").loc[got.index]
    assert got["stage"].tolist() == want["StageName"].tolist()
    assert (got["is_deleted"].astype(bool) == want["IsDeleted"].astype(bool)).all()

    history = org(sf, "OpportunityHistory", "Id, OpportunityId, CreatedDate, StageName")
    keys = history.drop_duplicates(["OpportunityId", "CreatedDate"])
    got = wh.table("opportunity_stage_history", "WHERE opportunity_id LIKE 'sf:%'")
    assert len(got) == len(keys)
    assert not got.duplicated(["opportunity_id", "changed_at"]).any()
    assert wh.count("raw_salesforce_opportunityhistory") == len(history)


@pytest.fixture(scope="module")
def env(crm: SandboxSettings) -> dict[str, str]:
    return crm.env()


def test_full_pull_equals_the_org_and_costs_ceil_n_over_2000(
    env: dict[str, str], wh: Warehouse, sf_adm: Admin
) -> None:
    client = sf_resource(env).connect()
    sf = plain_sf(env)
    first = pull_all(client, wh, run_id="first")
    assert all(r.mode == "full" and r.complete and r.strategy == "rest" for r in first.values())
    assert_warehouse_equals_org(wh, sf)

    # Again as a full refresh (the mapped fields were checked once; no describe this time).
    for table, spec in SF_OBJECTS.items():
        n = count(sf, spec.name)
        sf_adm.reset_calls()
        used_before = sf_adm.get("salesforce/limits")["used"]
        result = pull_salesforce(client, wh, SETTINGS, table, full_refresh=True, run_id="again")
        calls = sf_adm.calls()
        assert result.rows_pulled == n
        assert calls["total"] == pages(n, 2000) == result.api_calls, calls["by_route"]
        # The vendor's own accounting (DailyApiRequests) moved by as much.
        assert sf_adm.get("salesforce/limits")["used"] - used_before == result.api_calls

    # Nothing changed: one call per object.
    sf_adm.reset_calls()
    again = pull_all(client, wh, run_id="quiet")
    assert sf_adm.calls()["total"] == len(TABLES)
    assert all(r.mode == "incremental" and r.api_calls == 1 for r in again.values())
    assert_warehouse_equals_org(wh, sf)


def soap_merge(sf: Salesforce, obj: str, master: str, loser: str) -> None:
    """Salesforce's merge() — a SOAP call (REST has none)."""
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com" xmlns:urn1="urn:sobject.partner.soap.sforce.com">'
        f"<soapenv:Header><urn:SessionHeader><urn:sessionId>{sf.session_id}</urn:sessionId>"
        "</urn:SessionHeader></soapenv:Header><soapenv:Body><urn:merge><urn:request>"
        f"<urn:masterRecord><urn1:type>{obj}</urn1:type><urn1:Id>{master}</urn1:Id>"
        f"</urn:masterRecord><urn:recordToMergeIds>{loser}</urn:recordToMergeIds>"
        "</urn:request></urn:merge></soapenv:Body></soapenv:Envelope>"
    )
    answer = sf.session.post(
        f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}",
        data=envelope,
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "merge"},
    )
    assert answer.status_code == 200 and "<success>true</success>" in answer.text, answer.text


def test_changes_deletes_and_merges_arrive_and_nothing_else_is_pulled(
    env: dict[str, str], wh: Warehouse, sf_adm: Admin
) -> None:
    client = sf_resource(env).connect()
    sf: Any = plain_sf(env)  # sObject attributes are dynamic
    pull_all(client, wh, run_id="base")
    cursor = wh.state("salesforce", "Account").cursor
    assert cursor is not None

    live = sf.query("SELECT Id FROM Account WHERE IsDeleted = false ORDER BY Id LIMIT 3")
    changed, master, loser = (r["Id"] for r in live["records"])
    sf.Account.update(changed, {"Name": "Renamed by the test"})
    contact = sf.query("SELECT Id FROM Contact WHERE IsDeleted = false LIMIT 1")["records"][0]
    sf.Contact.delete(contact["Id"])
    soap_merge(sf, "Account", master, loser)
    opp = sf.Opportunity.create(
        {"Name": "Test deal", "StageName": "Prospecting", "CloseDate": "2030-01-01"}
    )

    results = pull_all(client, wh, run_id="after-changes")
    got = wh.table("accounts").set_index("source_id")
    assert got.loc[changed, "name"] == "Renamed by the test"
    assert got.loc[loser, "is_deleted"] and got.loc[loser, "merged_into"] == f"sf:{master}"
    assert not got.loc[master, "is_deleted"]
    contacts = wh.table("contacts").set_index("source_id")
    assert contacts.loc[contact["Id"], "is_deleted"]
    assert opp["id"] in set(wh.table("opportunities")["source_id"])
    assert results["accounts"].rows_merged >= 1 and results["contacts"].rows_deleted >= 1

    # Only what changed since cursor − lookback came back.
    since = soql_datetime(cursor - timedelta(seconds=SETTINGS.lookback_seconds))
    for table, spec in SF_OBJECTS.items():
        expected = count(sf, spec.name, f"WHERE SystemModstamp >= {since}")
        assert results[table].rows_pulled == expected, table
    assert_warehouse_equals_org(wh, sf)


def test_bulk_api_above_the_threshold(env: dict[str, str], wh: Warehouse, sf_adm: Admin) -> None:
    client = sf_resource(env).connect()
    sf = plain_sf(env)
    settings = SalesforceSync(bulk_threshold=100, bulk_page_size=2000, bulk_poll_seconds=0.05)
    pull_all(client, wh, settings, run_id="warm")  # first: REST page, then switch to bulk
    for table, spec in SF_OBJECTS.items():
        n = count(sf, spec.name)
        sf_adm.reset_calls()
        result = pull_salesforce(client, wh, settings, table, full_refresh=True, run_id="bulk")
        routes = sf_adm.calls()["by_route"]
        assert result.strategy == ("bulk" if n > 100 else "rest"), table
        if n > 100:
            created = sum(v for k, v in routes.items() if k.endswith("/jobs/query"))
            results = sum(v for k, v in routes.items() if k.endswith("/results"))
            assert created == 1 and results == pages(n, 2000), routes
            assert result.api_calls == sum(routes.values())
    assert_warehouse_equals_org(wh, sf)


FAULTS = [
    pytest.param({"kind": "status", "status": 429, "retry_after": 1, "path": "queryAll"}, id="429"),
    pytest.param({"kind": "status", "status": 503, "path": "queryAll", "times": 2}, id="503"),
    pytest.param({"kind": "drop", "path": "queryAll/.+", "after_bytes": 2000}, id="drop-mid-page"),
    pytest.param({"kind": "status", "status": 502, "path": "describe"}, id="502-describe"),
]


@pytest.mark.parametrize("rule", FAULTS)
def test_faults_end_with_a_complete_duplicate_free_warehouse(
    env: dict[str, str], wh: Warehouse, sf_adm: Admin, rule: dict[str, Any]
) -> None:
    client = sf_resource(env).connect()
    sf_adm.fault(**rule)
    results = pull_all(client, wh, run_id="faulty")
    assert all(r.complete for r in results.values())
    assert sum(r.retries for r in results.values()) >= 1
    assert_warehouse_equals_org(wh, plain_sf(env))


def test_an_expired_session_logs_in_again(
    env: dict[str, str], wh: Warehouse, sf_adm: Admin
) -> None:
    client = sf_resource(env).connect()
    pull_salesforce(client, wh, SETTINGS, "accounts", run_id="before")
    sf_adm.hook("expire_sessions")
    result = pull_salesforce(client, wh, SETTINGS, "contacts", run_id="after-expiry")
    assert result.complete and result.rows_pulled > 0


def test_a_spent_budget_stops_cleanly_and_the_next_run_resumes(
    env: dict[str, str], wh: Warehouse, sf_adm: Admin
) -> None:
    sf = plain_sf(env)
    settings = SalesforceSync(page_size=200, commit_every_rows=200)
    n = count(sf, "Contact")
    client = sf_resource(env).connect(budget=ApiBudget("salesforce", max_calls=3))
    stopped = pull_salesforce(client, wh, settings, "contacts", run_id="capped")
    assert not stopped.complete and "run cap" in (stopped.stopped or "")
    assert 0 < stopped.rows_pulled < n
    assert wh.count("contacts") == stopped.rows_pulled  # what it had is committed

    # The vendor's daily allocation runs out, then comes back: the next run finishes the job.
    client = sf_resource(env).connect()
    sf_adm.hook("exhaust_limit")
    refused = pull_salesforce(client, wh, settings, "contacts", run_id="exhausted")
    assert not refused.complete and "daily" in (refused.stopped or "")
    sf_adm.post("salesforce/limits", {"used": 0})
    sf_adm.reset_calls()
    client = sf_resource(env).connect()  # the next run
    resumed = pull_salesforce(client, wh, settings, "contacts", run_id="resumed")
    assert resumed.complete and resumed.mode == "full"
    assert resumed.rows_pulled < n  # it went on from the cursor, it did not start over
    assert wh.count("contacts") == n
    assert_contacts_unique(wh)


def assert_contacts_unique(wh: Warehouse) -> None:
    frame = wh.table("contacts")
    assert not frame["contact_id"].duplicated().any()


def test_an_unknown_mapped_field_is_named_with_its_config_key(
    env: dict[str, str], wh: Warehouse
) -> None:
    client = sf_resource(env).connect()
    settings = SalesforceSync(fields={"accounts": {"industry": "Industri__c"}})
    with pytest.raises(
        MappingError, match=r"salesforce\.fields\.accounts\.industry: 'Industri__c'"
    ):
        pull_salesforce(client, wh, settings, "accounts")


def test_bad_credentials_say_what_to_fix_without_the_secret(
    env: dict[str, str], wh: Warehouse
) -> None:
    bad = sf_resource(env).model_copy(update={"password": "wrong-password-123"})
    with pytest.raises(CredentialsError) as caught:
        bad.connect()
    message = str(caught.value)
    assert "SALESFORCE_PASSWORD" in message and "wrong-password-123" not in message
    token = SalesforceResource(
        instance_url=env["SALESFORCE_LOGIN_URL"],
        access_token="00Dxx0000000000!AQ-not-a-real-token",
        ca_bundle=env["SALESFORCE_CA_BUNDLE"],
    )
    client = token.connect()
    with pytest.raises(CredentialsError, match="SALESFORCE_ACCESS_TOKEN") as caught:
        pull_salesforce(client, wh, SETTINGS, "accounts")
    assert "not-a-real-token" not in str(caught.value)


def test_client_credentials_jwt_and_access_token_logins(env: dict[str, str], wh: Warehouse) -> None:
    oauth = SalesforceResource(
        consumer_key=env["SALESFORCE_CONSUMER_KEY"],
        consumer_secret=env["SALESFORCE_CONSUMER_SECRET"],
        domain=env["SALESFORCE_DOMAIN"],
        login_url=env["SALESFORCE_LOGIN_URL"],
        ca_bundle=env["SALESFORCE_CA_BUNDLE"],
    )
    assert oauth.method() == "client_credentials"
    client = oauth.connect()
    assert pull_salesforce(client, wh, SETTINGS, "accounts").complete
    # The session it got is an access token like any other: log in with it directly.
    direct = SalesforceResource(
        instance_url=f"https://{client.sf.sf_instance}",
        access_token=client.sf.session_id,
        ca_bundle=env["SALESFORCE_CA_BUNDLE"],
    )
    assert direct.method() == "token"
    assert pull_salesforce(direct.connect(), wh, SETTINGS, "contacts").complete
    if env.get("SALESFORCE_PRIVATE_KEY_FILE"):  # the sandbox's connected-app signing key
        jwt = SalesforceResource(
            username=env["SALESFORCE_USERNAME"],
            consumer_key=env["SALESFORCE_CONSUMER_KEY"],
            private_key_file=env["SALESFORCE_PRIVATE_KEY_FILE"],
            domain=env["SALESFORCE_DOMAIN"],
            login_url=env["SALESFORCE_LOGIN_URL"],
            ca_bundle=env["SALESFORCE_CA_BUNDLE"],
        )
        assert jwt.method() == "jwt"
        assert pull_salesforce(jwt.connect(), wh, SETTINGS, "opportunities").complete


def test_from_env_hands_secrets_over_as_env_var_references() -> None:
    resource = SalesforceResource.from_env(
        {"SALESFORCE_USERNAME": "u", "SALESFORCE_PASSWORD": "p", "SALESFORCE_SECURITY_TOKEN": "t"}
    )
    fields = resource._get_non_default_public_field_values()  # what Dagster stores
    for name in ("username", "password", "security_token"):
        assert type(fields[name]).__name__ == "EnvVar", name
    assert "access_token" not in fields and "consumer_secret" not in fields
