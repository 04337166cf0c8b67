"""Two widely used Python clients of the vendors' older APIs, unmodified, against the sandbox:

- **salesforce-bulk 2.2.0** (Bulk API 1.0): logs in with username + password + token (through
  simple-salesforce's SOAP login, the host rewritten by tests/peers/hostmap), runs a CSV query
  job on Account, a JSON one on Contact (its README's example), a PK-chunked query job on
  Opportunity (every chunk batch read), and an update job with one row for an id that does not
  exist. Checked against the org read through simple-salesforce.
- **hubspot3 3.2.56** (HubSpot's legacy v1 / v2 endpoints): a private-app token and the sandbox as
  its `api_base`; lists every company, contact and deal, reads one company and one contact (by
  vid and by email), and updates a company and a deal. Checked against the portal read through
  hubspot-api-client. Two calls are expected refusals of what HubSpot sunset: an API key
  (`hapikey`, 401) and the v1 contact lists (404).

Each client is installed pinned from PyPI into its own virtualenv under `.peers/` and runs a
script from tests/peers/legacy/ that prints its steps as one JSON line.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from peer_runs import (
    FIGURES,
    Admin,
    ScriptRun,
    describe_calls,
    ensure_venv,
    hubspot_client,
    peer_env,
    run_json_script,
    salesforce_client,
)

from acm_sync.sandbox.server import SandboxSettings

LIBRARIES: dict[str, tuple[str, str]] = {
    "salesforce-bulk": ("salesforce-bulk", "2.2.0"),
    "hubspot3": ("hubspot3", "3.2.56"),
}
SCRIPTS = Path(__file__).resolve().parent / "legacy"
MISSING_ACCOUNT = "001000000000000AAA"  # well formed, in no org
PK_CHUNK = 200


def ensure_library(name: str) -> Path:
    """The python of `.peers/<name>`, with the library installed (pinned) on first use."""
    package, version = LIBRARIES[name]
    return ensure_venv(name, package, version) / "bin" / "python"


def run_script(
    name: str,
    script: str,
    config: dict[str, Any],
    *,
    settings: SandboxSettings,
    workdir: Path,
    admin: Admin,
) -> ScriptRun:
    python = ensure_library(name)
    env = peer_env(settings, hubspot=False)  # hubspot3 is given the sandbox's URL itself
    return run_json_script(
        [str(python), str(SCRIPTS / script)],
        config,
        workdir / f"{name}.json",
        workdir=workdir,
        env=env,
        admin=admin,
        timeout=300,
    )


def _figures(client: str, run: ScriptRun, records: int) -> None:
    FIGURES.append(
        {
            "connector": client,
            "phase": "legacy",
            "records": records,
            "seconds": round(run.seconds, 1),
            "requests": len(run.calls),
            "429s": sum(1 for c in run.calls if c["status"] == 429),
        }
    )


def _number(text: str | None) -> float | None:
    return None if text in (None, "") else float(text)


# -- salesforce-bulk ------------------------------------------------------------------------------


def test_salesforce_bulk(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    admin = Admin(peer_sandbox.salesforce_instance_url, verify=peer_sandbox.salesforce_ca_bundle)
    sf = salesforce_client(peer_sandbox)
    creds = peer_sandbox.credentials
    run = run_script(
        "salesforce-bulk",
        "salesforce_bulk_peer.py",
        {
            "username": creds.salesforce_username,
            "password": creds.salesforce_password,
            "security_token": creds.salesforce_security_token,
            "missing_id": MISSING_ACCOUNT,
        },
        settings=peer_sandbox,
        workdir=tmp_path / "run",
        admin=admin,
    )
    # The login's serverUrl names the sandbox: the client talks to it, not to the login host.
    assert run.result("login")["endpoint"].startswith(peer_sandbox.salesforce_instance_url)

    # A query job (operation "query"): the live accounts, every value as the REST API reads it.
    truth = {
        r["Id"]: r
        for r in sf.query_all("SELECT Id, Name, Industry, AnnualRevenue FROM Account")["records"]
    }
    rows = run.result("query_accounts")
    assert len(rows) == len({r["Id"] for r in rows}) == len(truth)
    assert {r["Id"] for r in rows} == set(truth)
    for r in rows:
        t = truth[r["Id"]]
        assert r["Name"] == t["Name"] and r["Industry"] == (t["Industry"] or "")
        assert _number(r["AnnualRevenue"]) == t["AnnualRevenue"]

    # A JSON query job, as the client's README shows it: records with `attributes`, datetimes
    # as epoch milliseconds.
    contacts = {
        r["Id"]: r
        for r in sf.query_all("SELECT Id, LastName, Email, CreatedDate FROM Contact")["records"]
    }
    json_rows = run.result("query_contacts_json")
    assert sorted(r["Id"] for r in json_rows) == sorted(contacts)
    for r in json_rows:
        t = contacts[r["Id"]]
        assert r["attributes"]["type"] == "Contact"
        assert (r["LastName"], r["Email"]) == (t["LastName"], t["Email"])
        created = datetime.strptime(t["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert r["CreatedDate"] == int(created.timestamp() * 1000)

    # PK chunking: the batch as sent is "NotProcessed", the chunk batches cover the
    # opportunities (live ones: a "query" job) once each.
    chunked = run.result("query_opportunities_pk_chunked")
    assert chunked["original_state"] == "NotProcessed"
    # ... which the client reads as its own NOT_PROCESSED (an error state for is_batch_done).
    assert chunked["original_done"] == "BulkBatchFailed: NotProcessed"
    every = sf.query_all("SELECT Id FROM Opportunity", include_deleted=True)["totalSize"]
    assert chunked["chunks"] == -(-every // PK_CHUNK)
    opps = {
        r["Id"]: r
        for r in sf.query_all("SELECT Id, Name, StageName, Amount FROM Opportunity")["records"]
    }
    got = chunked["rows"]
    assert len(got) == len({r["Id"] for r in got}) == len(opps)
    for r in got:
        t = opps[r["Id"]]
        assert (r["Name"], r["StageName"]) == (t["Name"], t["StageName"])
        assert _number(r["Amount"]) == t["Amount"]

    # An update job: three rows written, the unknown id reported failed in its own row.
    update = run.result("update_accounts")
    sent, results = update["sent"], update["results"]
    assert results is not None, "get_batch_results found no CSV (Content-Type not text/csv)"
    assert len(results) == len(sent) == 4
    for record, (rid, success, created, error) in zip(sent[:3], results[:3], strict=True):
        assert (rid, success, created, error) == (record["Id"], "true", "false", "")
        assert sf.Account.get(record["Id"])["Description"] == record["Description"]
    assert results[3][1:3] == ["false", "false"] and results[3][3]
    assert not [c for c in run.calls if c["status"] >= 400], describe_calls(
        [c for c in run.calls if c["status"] >= 400]
    )
    _figures("salesforce-bulk 2.2.0", run, len(rows) + len(json_rows) + len(got) + len(sent))


# -- hubspot3 -------------------------------------------------------------------------------------


def _all(hs: Any, obj: str, properties: list[str]) -> dict[int, dict[str, Any]]:
    return {int(r.id): r.properties for r in getattr(hs.crm, obj).get_all(properties=properties)}


def _deal_companies(hs: Any) -> dict[int, list[int]]:
    out = {}
    for r in hs.crm.deals.get_all(associations=["companies"]):
        links = (r.associations or {}).get("companies")
        out[int(r.id)] = sorted({int(a.id) for a in links.results} if links else set())
    return out


def test_hubspot3(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    admin = Admin(peer_sandbox.hubspot_base_url)
    hs = hubspot_client(peer_sandbox)
    companies = _all(hs, "companies", ["name", "city", "description"])
    contacts = _all(hs, "contacts", ["email", "firstname", "lastname"])
    deals = _all(hs, "deals", ["dealname", "amount", "dealstage", "pipeline"])
    linked = _deal_companies(hs)
    run = run_script(
        "hubspot3",
        "hubspot3_peer.py",
        {
            "access_token": peer_sandbox.credentials.hubspot_access_token,
            "api_base": peer_sandbox.hubspot_base_url,
        },
        settings=peer_sandbox,
        workdir=tmp_path / "run",
        admin=admin,
    )

    # companies.get_all: /companies/v2/companies/paged, 250 a page.
    got = run.result("companies_get_all")
    assert sorted(c["id"] for c in got) == sorted(companies)
    for c in got:
        assert c.get("name") == companies[c["id"]]["name"]
        assert c.get("city") == companies[c["id"]]["city"]

    # contacts.get_all: /contacts/v1/lists/all/contacts/all for the vids (100 a page), then
    # /contacts/v1/contact/vids/batch for their properties.
    got = run.result("contacts_get_all")
    assert sorted(c["id"] for c in got) == sorted(contacts)
    for c in got:
        for name in ("email", "firstname", "lastname"):
            assert c.get(name) == contacts[c["id"]][name], (c["id"], name)

    # contacts.get_by_id / get_by_email: /contacts/v1/contact/{vid|email}/{key}/profile.
    vid = min(v for v, c in contacts.items() if c.get("email"))
    for name in ("contact_get_by_id", "contact_get_by_email"):
        profile = run.result(name)
        assert profile["vid"] == vid, name
        for prop in ("email", "firstname", "lastname"):
            value = (profile["properties"].get(prop) or {}).get("value")
            assert value == contacts[vid][prop], (name, prop)

    # deals.get_all: /deals/v1/deal/paged with associations.
    got = run.result("deals_get_all")
    assert sorted(d["id"] for d in got) == sorted(deals)
    for d in got:
        t = deals[d["id"]]
        assert (d.get("dealname"), d.get("dealstage"), d.get("pipeline")) == (
            t["dealname"],
            t["dealstage"],
            t["pipeline"],
        )
        assert _number(d.get("amount")) == _number(t["amount"])
        assert sorted(d["associatedCompanyIds"]) == linked[d["id"]]

    first = min(companies)
    one = run.result("company_get")
    assert one["companyId"] == first
    assert one["properties"]["name"]["value"] == companies[first]["name"]

    # The writes, read back through hubspot-api-client.
    answer = run.result("company_update")
    assert answer["properties"]["description"]["value"] == "hubspot3 peer"
    after = hs.crm.companies.basic_api.get_by_id(str(first), properties=["description"])
    assert after.properties["description"] == "hubspot3 peer"
    deal = min(deals)
    answer = run.result("deal_update")
    assert answer["dealId"] == deal
    after = hs.crm.deals.basic_api.get_by_id(str(deal), properties=["amount"])
    assert _number(after.properties["amount"]) == 4321.5

    # Refused as HubSpot refuses them (sunset; not emulated):
    # - API keys: "As of November 30, 2022, HubSpot API keys are being deprecated and are no
    #   longer supported" (knowledge.hubspot.com, "Access your HubSpot API key"): 401.
    # - v1 contact lists: "All but the three Contact Lists API (v1) endpoints will be removed on
    #   [April 30, 2026] and begin returning HTTP 404" (developers.hubspot.com/changelog,
    #   extension-contact-lists-api-v1-sunset-moved-to-april-30-2026).
    assert run.steps["api_key_companies"].get("class") == "HubspotUnauthorized"
    assert run.steps["contact_lists"].get("class") == "HubspotNotFound"
    refused = {("GET", "/companies/v2/companies/paged", 401), ("GET", "/contacts/v1/lists", 404)}
    failed = [c for c in run.calls if c["status"] >= 400]
    assert {(c["method"], c["path"], c["status"]) for c in failed} == refused, describe_calls(
        failed
    )
    _figures("hubspot3 3.2.56", run, len(companies) + len(contacts) + len(deals))
