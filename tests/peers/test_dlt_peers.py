"""dlt's verified sources for HubSpot and Salesforce, unmodified, in dlt pipelines loading into
duckdb, against the sandbox.

The sources are vendored byte for byte in tests/peers/dlt/sources/ (where from: its README); dlt,
duckdb and simple-salesforce are installed pinned into `.peers/dlt`. tests/peers/dlt/dlt_peer.py
runs a source in a pipeline (credentials in dlt's own environment variables, the vendor hosts
rewritten by tests/peers/hostmap) and prints what landed in duckdb; each run is checked against
the sandbox as the official clients read it, with no request answered 4xx/5xx.

- **HubSpot** (`hubspot()`, every default resource: companies, contacts, deals, tickets,
  products, quotes, owners, deal and ticket pipelines, stage timings, property labels; merge on
  `id`, no incremental state): every live company, contact and deal with their properties, the
  company-contact and company-deal associations, the owners and both default pipelines. Then a
  few records are changed through hubspot-api-client and a second run must merge the changes in:
  the same rows, the new values.
- **Salesforce** (`salesforce_source()` with the resources on the objects the sandbox emulates:
  sf_user, account, contact, opportunity; Bulk API 1.0 queryAll jobs): every row of each object,
  recycle bin included. Then a few records are changed through simple-salesforce and the second
  run, incremental from the state dlt kept (account on LastModifiedDate, opportunity on
  SystemModstamp; contact is `replace`), must load exactly the changed accounts and
  opportunities and the whole contact table again.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hubspot
from hubspot.crm.objects import SimplePublicObjectInput
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
from simple_salesforce import Salesforce
from test_salesforce_peers import _change_records, _org_rows

from acm_sync.sandbox.server import SandboxSettings

# dlt (the sources ask for dlt>=0.5.1), the duckdb it loads into, simple-salesforce (>=1.12.4).
DLT = ("dlt", "1.31.0", "duckdb==2.0.1", "simple-salesforce==1.12.10")
DLT_DIR = Path(__file__).resolve().parent / "dlt"
HS_OBJECTS = ("companies", "contacts", "deals")
SF_RESOURCES = ("sf_user", "account", "contact", "opportunity")


def run_dlt(
    crm: str,
    config: dict[str, Any],
    *,
    settings: SandboxSettings,
    workdir: Path,
    admin: Admin,
) -> ScriptRun:
    """One pipeline run of the vendored source; the pipeline's state and duckdb file live in
    `workdir`, so a second call there is an incremental run."""
    venv = ensure_venv("dlt", *DLT)
    config = {
        "crm": crm,
        "pipelines_dir": str(workdir / "pipelines"),
        "duckdb": str(workdir / f"{crm}.duckdb"),
        **config,
    }
    creds = settings.credentials
    env = peer_env(settings)
    env = {k: v for k, v in env.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    # dlt's own configuration: secrets from the environment as a dlt user may set them
    # (sources' README: [sources.hubspot] api_key, [sources.salesforce.credentials] ...).
    env.update(
        SOURCES__HUBSPOT__API_KEY=creds.hubspot_access_token,
        SOURCES__SALESFORCE__CREDENTIALS__USER_NAME=creds.salesforce_username,
        SOURCES__SALESFORCE__CREDENTIALS__PASSWORD=creds.salesforce_password,
        SOURCES__SALESFORCE__CREDENTIALS__SECURITY_TOKEN=creds.salesforce_security_token,
        RUNTIME__DLTHUB_TELEMETRY="false",
        DLT_DATA_DIR=str(workdir / "dlt-data"),
        HOME=str(workdir),
    )
    return run_json_script(
        [str(venv / "bin" / "python"), str(DLT_DIR / "dlt_peer.py")],
        config,
        workdir / f"{crm}.json",
        workdir=workdir,
        env=env,
        admin=admin,
        timeout=600,
    )


def _figures(source: str, phase: str, run: ScriptRun, records: int) -> None:
    FIGURES.append(
        {
            "connector": source,
            "phase": phase,
            "records": records,
            "seconds": round(run.seconds, 1),
            "requests": len(run.calls),
            "429s": sum(1 for c in run.calls if c["status"] == 429),
        }
    )


def _loaded(result: dict[str, Any], table: str) -> list[dict[str, Any]]:
    """The rows of `table` this run loaded (their _dlt_load_id is one of the run's)."""
    return [r for r in result["tables"][table] if r["_dlt_load_id"] in result["load_ids"]]


def _failed(run: ScriptRun) -> list[dict[str, Any]]:
    return [c for c in run.calls if c["status"] >= 400]


def _number(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def test_vendored_sources_are_unmodified() -> None:
    """Every vendored file hashes to the git blob `git ls-tree` lists for it upstream
    (dlt/UPSTREAM_BLOBS, from dlt-hub/verified-sources at the commit in dlt/README.md), and no
    file was added."""
    listed = {}
    for line in (DLT_DIR / "UPSTREAM_BLOBS").read_text().splitlines():
        meta, path = line.split("\t")
        listed[path] = meta.split()[2]
    for path, blob in listed.items():
        data = (DLT_DIR / path).read_bytes()
        got = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        assert got == blob, f"{path} differs from upstream"
    present = {
        str(p.relative_to(DLT_DIR))
        for p in (DLT_DIR / "sources").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert present == {p for p in listed if p.startswith("sources/")}


# -- HubSpot --------------------------------------------------------------------------------------

HS_COLUMNS = {
    "companies": ["id", "hs_object_id", "name", "domain", "city", "description"],
    "contacts": ["id", "email", "firstname", "lastname", "jobtitle"],
    "deals": ["id", "dealname", "amount", "dealstage", "pipeline", "description"],
    "companies__contacts": ["value", "contacts_id"],
    "companies__deals": ["value", "deals_id"],
    "owners": ["id", "email"],
    "pipelines_deals": ["id", "label"],
    "pipelines_deals__stages": ["id", "label"],
    "pipelines_tickets": ["id", "label"],
    "pipelines_tickets__stages": ["id", "label"],
    # `stages_timing` pivots each deal's `hs_v2_date_entered_<stageId>` values into rows; dlt's
    # snake_case naming turns the trailing `_` of the column name into `x`.
    "stages_timing_deals": ["id", "stage", "hs_v2_date_enteredx"],
}
HS_PROPS = {
    "companies": ["name", "domain", "city", "description"],
    "contacts": ["email", "firstname", "lastname", "jobtitle"],
    "deals": ["dealname", "amount", "dealstage", "pipeline", "description"],
}


def _hs_truth(hs: hubspot.HubSpot) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        obj: {r.id: r.properties for r in getattr(hs.crm, obj).get_all(properties=HS_PROPS[obj])}
        for obj in HS_OBJECTS
    }


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _hs_stage_truth(hs: hubspot.HubSpot) -> dict[tuple[str, str], datetime]:
    """(deal id, stage) → when it entered it, as the deals API reads `hs_v2_date_entered_*`;
    every deal in a pipeline stage has a value for the stage it is in."""
    stages = [
        s.id for p in hs.crm.pipelines.pipelines_api.get_all("deals").results for s in p.stages
    ]
    props = ["dealstage", *(f"hs_v2_date_entered_{s}" for s in stages)]
    truth: dict[tuple[str, str], datetime] = {}
    for deal in hs.crm.deals.get_all(properties=props):
        p = deal.properties
        if p["dealstage"] in stages:  # the org also holds deals in stages no pipeline has
            assert p[f"hs_v2_date_entered_{p['dealstage']}"], (deal.id, p["dealstage"])
        for s in stages:
            if p[f"hs_v2_date_entered_{s}"]:
                truth[(deal.id, s)] = _instant(p[f"hs_v2_date_entered_{s}"])
    return truth


def _hs_stage_rows(result: dict[str, Any]) -> dict[tuple[str, str], datetime]:
    rows = result["tables"]["stages_timing_deals"]
    got = {(str(r["id"]), r["stage"]): _instant(r["hs_v2_date_enteredx"]) for r in rows}
    assert got and len(got) == len(rows), f"stages_timing_deals: {len(rows)} rows, duplicates?"
    return got


def _hs_company_links(hs: hubspot.HubSpot, to: str) -> set[tuple[str, str]]:
    links = set()
    for r in hs.crm.companies.get_all(associations=[to]):
        found = (r.associations or {}).get(to)
        links.update((r.id, a.id) for a in (found.results if found else []))
    return links


def _assert_hubspot(result: dict[str, Any], hs: hubspot.HubSpot) -> int:
    truth = _hs_truth(hs)
    total = 0
    for obj in HS_OBJECTS:
        rows = result["tables"][obj]
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), f"{obj}: duplicate ids"
        assert set(ids) == set(truth[obj]), f"{obj}: {len(ids)} rows vs {len(truth[obj])} live"
        for r in rows:
            t = truth[obj][r["id"]]
            for prop in HS_PROPS[obj]:
                if prop == "amount":
                    assert _number(r[prop]) == _number(t[prop]), (obj, r["id"], prop)
                else:
                    assert r[prop] == t[prop], (obj, r["id"], prop, r[prop], t[prop])
        total += len(ids)
    for to in ("contacts", "deals"):
        got = {(str(r["value"]), str(r[f"{to}_id"])) for r in result["tables"][f"companies__{to}"]}
        assert got == _hs_company_links(hs, to), f"companies__{to}"
    owners = hs.crm.owners.owners_api.get_page(limit=100).results
    assert {(r["id"], r["email"]) for r in result["tables"]["owners"]} == {
        (o.id, o.email) for o in owners
    }
    deal_pipelines = hs.crm.pipelines.pipelines_api.get_all("deals").results
    assert [r["id"] for r in result["tables"]["pipelines_deals"]] == [p.id for p in deal_pipelines]
    assert sorted(r["id"] for r in result["tables"]["pipelines_deals__stages"]) == sorted(
        s.id for p in deal_pipelines for s in p.stages
    )
    ticket_pipelines = hs.crm.pipelines.pipelines_api.get_all("tickets").results
    assert [r["id"] for r in result["tables"]["pipelines_tickets"]] == ["0"]
    assert sorted(r["id"] for r in result["tables"]["pipelines_tickets__stages"]) == sorted(
        s.id for p in ticket_pipelines for s in p.stages
    )
    assert _hs_stage_rows(result) == _hs_stage_truth(hs)
    # The portal holds no tickets, products or quotes: those resources load nothing.
    for empty in ("tickets", "products", "quotes"):
        assert empty not in result["row_counts"], (empty, result["row_counts"])
    return total


def _change_hubspot(hs: hubspot.HubSpot) -> dict[str, dict[str, tuple[str, str]]]:
    """Change one property of two records of each object: {obj: {id: (prop, value)}}."""
    changes = {
        "companies": ("description", "dlt peer: changed"),
        "contacts": ("jobtitle", "dlt Peer Tester"),
        "deals": ("description", "dlt peer: changed"),
    }
    changed: dict[str, dict[str, tuple[str, str]]] = {}
    for obj, (prop, value) in changes.items():
        api = getattr(hs.crm, obj).basic_api
        page = api.get_page(limit=2)
        for record in page.results:
            api.update(record.id, SimplePublicObjectInput(properties={prop: value}))
        changed[obj] = {r.id: (prop, value) for r in page.results}
    return changed


def test_dlt_hubspot(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    admin = Admin(peer_sandbox.hubspot_base_url)
    hs = hubspot_client(peer_sandbox)
    common: dict[str, Any] = {"settings": peer_sandbox, "workdir": tmp_path, "admin": admin}
    config = {"resources": None, "columns": HS_COLUMNS}

    full = run_dlt("hubspot", config, **common)
    result = full.result("run")
    # Every resource the source defines ran (none deselected).
    assert result["resources_run"] == result["resources_available"]
    assert len(result["resources_run"]) == 12, result["resources_run"]
    assert not _failed(full), describe_calls(_failed(full))
    _figures("dlt hubspot", "full", full, _assert_hubspot(result, hs))

    # The source has no incremental state: a second run reads everything again and merges it
    # on `id`; the changed values replace the old ones, no row is added.
    changed = _change_hubspot(hs)
    again = run_dlt("hubspot", config, **common)
    result = again.result("run")
    assert not _failed(again), describe_calls(_failed(again))
    records = _assert_hubspot(result, hs)
    for obj, rows in changed.items():
        by_id = {r["id"]: r for r in result["tables"][obj]}
        for rid, (prop, value) in rows.items():
            assert by_id[rid][prop] == value, (obj, rid, prop)
            assert by_id[rid]["_dlt_load_id"] in result["load_ids"]
    _figures("dlt hubspot", "merge", again, records)


# -- Salesforce -----------------------------------------------------------------------------------

SF_COLUMNS = {
    "sf_user": ["id", "username", "is_active"],
    "account": ["id", "name", "industry", "annual_revenue", "description", "is_deleted"],
    "contact": ["id", "last_name", "email", "title", "account_id", "is_deleted"],
    "opportunity": ["id", "name", "stage_name", "amount", "description", "is_deleted"],
}
SF_FIELDS = {
    "account": (
        "Account",
        {"name": "Name", "industry": "Industry", "annual_revenue": "AnnualRevenue"},
    ),
    "contact": ("Contact", {"last_name": "LastName", "email": "Email", "account_id": "AccountId"}),
    "opportunity": (
        "Opportunity",
        {"name": "Name", "stage_name": "StageName", "amount": "Amount"},
    ),
}


def _sf_values(sf: Salesforce, sobject: str, fields: list[str]) -> dict[str, dict[str, Any]]:
    soql = f"SELECT Id, {', '.join(fields)} FROM {sobject}"
    return {r["Id"]: r for r in sf.query_all(soql, include_deleted=True)["records"]}


def _assert_salesforce(
    result: dict[str, Any], sf: Salesforce, reloaded: dict[str, set[str]] | None = None
) -> int:
    """Each table against the org; `reloaded` (table → ids) names the rows an incremental run
    loaded a second time into a table that keeps both copies: the source declares its
    incremental resources `merge` without a primary_key, and dlt's merge needs one ("provide a
    primary_key or merge_key", dlthub.com/docs/general-usage/merge-loading), so it appends. The
    newest copy (highest _dlt_load_id) is the one checked."""
    total = 0
    users = {r["Id"] for r in sf.query_all("SELECT Id FROM User")["records"]}
    assert {r["id"] for r in result["tables"]["sf_user"]} == users
    total += len(users)
    for table, (sobject, fields) in SF_FIELDS.items():
        rows = result["tables"][table]
        ids = [r["id"] for r in rows]
        expected = _org_rows(sf, sobject)  # live + recycle bin: the source runs queryAll jobs
        twice = (reloaded or {}).get(table, set())
        assert sorted(ids) == sorted([*expected, *twice]), f"{sobject}: {len(ids)} rows"
        newest = {r["id"]: r for r in sorted(rows, key=lambda r: r["_dlt_load_id"])}
        assert {i for i, r in newest.items() if r["is_deleted"]} == {
            i for i, d in expected.items() if d
        }, f"{sobject}: IsDeleted differs"
        truth = _sf_values(sf, sobject, list(fields.values()))
        for r in newest.values():
            t = truth[r["id"]]
            for column, field in fields.items():
                if field in ("AnnualRevenue", "Amount"):
                    assert _number(r[column]) == t[field], (sobject, r["id"], field)
                else:
                    assert r[column] == t[field], (sobject, r["id"], field, r[column], t[field])
        total += len(newest)
    return total


def test_dlt_salesforce(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    admin = Admin(peer_sandbox.salesforce_instance_url, verify=peer_sandbox.salesforce_ca_bundle)
    sf = salesforce_client(peer_sandbox)
    common: dict[str, Any] = {"settings": peer_sandbox, "workdir": tmp_path, "admin": admin}
    # The source's other default resources (UserRole, Lead, Campaign, CampaignMember, Product2,
    # Pricebook2, PricebookEntry, OpportunityLineItem, OpportunityContactRole, Task, Event) are
    # standard objects the sandbox does not emulate (404 on describe, see README): deselected.
    config = {"resources": list(SF_RESOURCES), "columns": SF_COLUMNS}

    full = run_dlt("salesforce", config, **common)
    result = full.result("run")
    assert sorted(result["resources_run"]) == sorted(SF_RESOURCES)
    assert not _failed(full), describe_calls(_failed(full))
    # The source reads every object through Bulk API 1.0 query jobs (not REST).
    assert any(c["path"].startswith("/services/async/") for c in full.calls)
    _figures("dlt salesforce", "full", full, _assert_salesforce(result, sf))
    state = result["state"]["salesforce"]["resources"]
    assert state["account"]["incremental"]["LastModifiedDate"]["last_value"]
    assert state["opportunity"]["incremental"]["SystemModstamp"]["last_value"]

    changed = _change_records(sf)  # two Accounts, Contacts and Opportunities
    again = run_dlt("salesforce", config, **common)
    result = again.result("run")
    assert not _failed(again), describe_calls(_failed(again))
    # Incremental resources load exactly the changed rows (`> last_value`); contact is
    # `replace`: all of it again, with the change.
    assert {r["id"] for r in _loaded(result, "account")} == changed["Account"]
    assert {r["id"] for r in _loaded(result, "opportunity")} == changed["Opportunity"]
    assert len(_loaded(result, "contact")) == len(result["tables"]["contact"])
    reloaded = {"account": changed["Account"], "opportunity": changed["Opportunity"]}
    records = _assert_salesforce(result, sf, reloaded)
    by_id = {
        t: {r["id"]: r for r in sorted(result["tables"][t], key=lambda r: r["_dlt_load_id"])}
        for t in ("account", "contact")
    }
    for rid in changed["Account"]:
        assert by_id["account"][rid]["description"] == "peer suite: changed"
    for rid in changed["Contact"]:
        assert by_id["contact"][rid]["title"] == "Peer Suite Tester"
    loaded = sum(len(_loaded(result, t)) for t in SF_RESOURCES)
    assert loaded < records
    _figures("dlt salesforce", "incremental", again, loaded)
