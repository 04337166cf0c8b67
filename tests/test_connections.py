"""Two connections, two sandbox orgs: the code location as definitions.py assembles it runs
`sync` once per connection (partition) through the real clients, and nothing of one org shows
in the other's warehouse, plan, run metadata or CRM fields.

The orgs differ in seed and size (so in names and domains), each connection reads its
credentials from its own prefixed variables, and the plain SALESFORCE_* / HUBSPOT_* variables
are unset: a connection falling back to another's credentials would fail or show.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import hubspot
import pandas as pd
import pytest
import requests
import yaml

from acm_sync.config import CONFIG_ENV_VAR, load_config
from acm_sync.connections import CONNECTION_TAG
from acm_sync.connectors import hubspot as hubspot_connector
from acm_sync.connectors import salesforce as salesforce_connector
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.definitions import build_definitions
from acm_sync.quality.docs import URL_ENV
from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.warehouse import PATH_ENV, ROOT_ENV, Warehouse
from acm_sync.writeback.store import LEDGER, PLAN
from sandbox_admin import Admin

REPO = Path(__file__).resolve().parents[1]
ORGS = {"alpha": (101, 120), "beta": (202, 160)}  # connection: (seed, accounts)
PREFIX = {"alpha": "ALPHA_", "beta": "BETA_"}


@pytest.fixture(scope="module")
def orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SandboxSettings]]:
    base = tmp_path_factory.mktemp("orgs")
    with (
        SandboxProcess(base / "alpha", seed=ORGS["alpha"][0], accounts=ORGS["alpha"][1]) as a,
        SandboxProcess(base / "beta", seed=ORGS["beta"][0], accounts=ORGS["beta"][1]) as b,
    ):
        yield {"alpha": a, "beta": b}


def sf_accounts(org: SandboxSettings) -> pd.DataFrame:
    """Every Account of the org (deleted ones too) with its owned tier, via simple-salesforce."""
    env = org.env()
    values: dict[str, Any] = {k: env[v] for k, v in salesforce_connector.ENV.items() if env.get(v)}
    client = SalesforceResource(**values).connect()
    rows = client.sf.query_all(
        "SELECT Id, Name, ACM_Tier__c, IsDeleted FROM Account", include_deleted=True
    )["records"]
    return pd.DataFrame(
        [
            {"id": r["Id"], "name": r["Name"], "tier": r["ACM_Tier__c"], "del": r["IsDeleted"]}
            for r in rows
        ]
    )


def hs_companies(org: SandboxSettings) -> pd.DataFrame:
    """Every live company of the portal with its owned tier, via hubspot-api-client."""
    env = org.env()
    client = hubspot.HubSpot(access_token=env["HUBSPOT_ACCESS_TOKEN"], host=env["HUBSPOT_BASE_URL"])
    companies = client.crm.companies.get_all(properties=["name", "acm_tier"])
    return pd.DataFrame(
        [
            {"id": c.id, "name": c.properties.get("name"), "tier": c.properties.get("acm_tier")}
            for c in companies
        ]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metadata_text(result: dg.ExecuteInProcessResult) -> str:
    """Every value of every materialization's and check's metadata in the run, as text."""
    parts: list[str] = []
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        assert mat is not None
        parts.extend(str(v.value) for v in mat.metadata.values())
    for check in result.get_asset_check_evaluations():
        parts.extend(str(v.value) for v in check.metadata.values())
    return "\n".join(parts)


@pytest.fixture(scope="module")
def runs(
    orgs: dict[str, SandboxSettings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("connections")
    shipped = yaml.safe_load((REPO / "acm_sync.yaml").read_text())
    config = tmp / "acm_sync.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "currency": shipped["currency"],
                "quality": {"expectations_dir": str(REPO / "expectations")},
                "warehouse": {"root": str(tmp / "warehouses")},
                "connections": [
                    {"name": "alpha", "env_prefix": PREFIX["alpha"]},
                    # beta: Salesforce only (its HubSpot portal's variables are set all the
                    # same, and must not be used), and its own health bands (merged over the
                    # top-level health section)
                    {
                        "name": "beta",
                        "crms": ["salesforce"],
                        "env_prefix": PREFIX["beta"],
                        "health": {"bands": {"green_min": 95, "yellow_min": 90}},
                    },
                ],
            }
        )
    )
    # The instance is disposed once the runs are in (the results keep their events).
    with pytest.MonkeyPatch.context() as env, dg.DagsterInstance.ephemeral() as instance:
        for name in [*salesforce_connector.ENV.values(), *hubspot_connector.ENV.values()]:
            env.delenv(name, raising=False)
        for connection, org in orgs.items():
            for name, value in org.env().items():
                env.setenv(PREFIX[connection] + name, value)
        env.setenv(CONFIG_ENV_VAR, str(config))
        env.setenv(PATH_ENV, str(tmp / "plain" / "acm_sync.duckdb"))
        env.delenv(ROOT_ENV, raising=False)
        docs_port = free_port()  # where `acm-sync docs` will serve every connection's site
        env.setenv(URL_ENV, f"http://127.0.0.1:{docs_port}")
        defs = build_definitions(load_config())
        job = defs.resolve_job_def("sync")
        admins = {
            **{
                (c, "salesforce"): Admin(o.salesforce_instance_url, verify=o.salesforce_ca_bundle)
                for c, o in orgs.items()
            },
            **{(c, "hubspot"): Admin(o.hubspot_base_url) for c, o in orgs.items()},
        }
        for admin in admins.values():
            admin.reset_writes()
            admin.reset_calls()
        results, writes = {}, {}
        for connection in ("alpha", "beta"):
            results[connection] = job.execute_in_process(
                partition_key=connection, instance=instance, raise_on_error=False
            )
            # after each run: the records written in each org's CRMs so far
            writes[connection] = {key: a.writes() for key, a in admins.items()}
        calls = {key: a.calls()["total"] for key, a in admins.items()}
    yield {
        "tmp": tmp,
        "results": results,
        "writes": writes,
        "calls": calls,
        "docs_port": docs_port,
    }


def test_each_run_is_one_connection_tagged_for_the_concurrency_rule(runs: dict[str, Any]) -> None:
    for connection, result in runs["results"].items():
        failures = [e.message for e in result.all_events if e.is_failure]
        assert result.success, failures
        tags = result.dagster_run.tags
        assert tags[CONNECTION_TAG] == connection
        assert tags["dagster/partition"] == connection
        keys = {
            e.materialization.partition
            for e in result.get_asset_materialization_events()
            if e.materialization is not None
        }
        assert keys == {connection}


def test_each_connection_has_its_own_warehouse_file(runs: dict[str, Any]) -> None:
    tmp: Path = runs["tmp"]
    files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*.duckdb"))
    assert files == ["warehouses/alpha/acm_sync.duckdb", "warehouses/beta/acm_sync.duckdb"]


def test_no_record_of_one_org_is_in_the_other_s_tables_or_plan(
    runs: dict[str, Any], orgs: dict[str, SandboxSettings]
) -> None:
    tmp: Path = runs["tmp"]
    org_accounts = {c: sf_accounts(o) for c, o in orgs.items()}
    names = {c: set(org_accounts[c]["name"].dropna()) for c in orgs}
    assert names["alpha"] != names["beta"]  # two different orgs to tell apart
    for connection in orgs:
        wh = Warehouse(tmp / "warehouses" / connection / "acm_sync.duckdb")
        accounts = wh.table("accounts")
        sf = accounts[accounts["source"] == "salesforce"]
        # The warehouse holds exactly this org's Salesforce accounts: no more, no fewer.
        mine = org_accounts[connection]
        assert set(zip(sf["source_id"], sf["name"].fillna(""), strict=True)) == set(
            zip(mine["id"], mine["name"].fillna(""), strict=True)
        )
        # HubSpot: alpha's portal exactly; beta uses no HubSpot, so none at all.
        hs = accounts[(accounts["source"] == "hubspot") & ~accounts["is_deleted"].astype(bool)]
        companies = (
            hs_companies(orgs[connection])
            if connection == "alpha"
            else pd.DataFrame({"id": [], "name": []})
        )
        assert set(hs["source_id"]) == set(companies["id"])
        assert set(hs["name"].dropna()) == set(companies["name"].dropna())
        # The plan names only this org's records (by id).
        plan = wh.query(f"SELECT DISTINCT crm, object, record_id FROM {PLAN}")
        planned = plan[(plan["crm"] == "salesforce") & (plan["object"] == "Account")]
        assert len(planned) and set(planned["record_id"]) <= set(mine["id"])
        if connection == "beta":
            assert set(plan["crm"]) == {"salesforce"}


def test_run_metadata_names_no_record_of_the_other_org(
    runs: dict[str, Any], orgs: dict[str, SandboxSettings]
) -> None:
    names = {c: set(sf_accounts(o)["name"].dropna()) for c, o in orgs.items()}
    for connection, other in (("alpha", "beta"), ("beta", "alpha")):
        text = metadata_text(runs["results"][connection])
        own = [n for n in names[connection] - names[other] if len(n) > 6]
        foreign = [n for n in names[other] - names[connection] if len(n) > 6]
        # the previews do show records: own names appear, the other org's never
        assert any(n in text for n in own)
        assert [n for n in foreign if n in text] == []


def test_each_org_got_its_own_values_and_no_write_of_the_other_run(
    runs: dict[str, Any], orgs: dict[str, SandboxSettings]
) -> None:
    after_alpha, after_beta = runs["writes"]["alpha"], runs["writes"]["beta"]
    # alpha's run wrote to alpha's CRMs only; beta's run then wrote to beta's Salesforce only.
    assert after_alpha[("alpha", "salesforce")] and after_alpha[("alpha", "hubspot")]
    assert not after_alpha[("beta", "salesforce")] and not after_alpha[("beta", "hubspot")]
    assert after_beta[("alpha", "salesforce")] == after_alpha[("alpha", "salesforce")]
    assert after_beta[("alpha", "hubspot")] == after_alpha[("alpha", "hubspot")]
    assert after_beta[("beta", "salesforce")]
    # beta's crms leave HubSpot out: its portal was never called, though its token was set.
    assert runs["calls"][("beta", "hubspot")] == 0
    assert runs["calls"][("alpha", "hubspot")] > 0
    tmp: Path = runs["tmp"]
    for connection, org in orgs.items():
        wh = Warehouse(tmp / "warehouses" / connection / "acm_sync.duckdb")
        ledger = wh.query(
            f"SELECT crm, record_id, value FROM {LEDGER} WHERE field IN ('ACM_Tier__c', 'acm_tier')"
        )
        crms = ["salesforce", "hubspot"] if connection == "alpha" else ["salesforce"]
        assert sorted(set(ledger["crm"])) == sorted(crms)
        for crm in crms:
            live = sf_accounts(org) if crm == "salesforce" else hs_companies(org)
            wrote = ledger[ledger["crm"] == crm].set_index("record_id")["value"]
            assert len(wrote)
            # What the CRM holds is what this connection wrote (read back via the real client).
            held = live.set_index("id")["tier"].reindex(wrote.index)
            assert held.tolist() == wrote.tolist(), (connection, crm)


def test_a_connection_s_own_settings_apply_to_its_runs_only(runs: dict[str, Any]) -> None:
    tmp: Path = runs["tmp"]
    for connection, green_min, yellow_min in (("alpha", 70, 40), ("beta", 95, 90)):
        wh = Warehouse(tmp / "warehouses" / connection / "acm_sync.duckdb")
        scores = wh.query("SELECT health_score, health_band FROM account_scores")
        scored = scores.dropna()
        assert len(scored)
        expected = [
            "Green" if s >= green_min else "Yellow" if s >= yellow_min else "Red"
            for s in scored["health_score"]
        ]
        assert scored["health_band"].tolist() == expected, connection
        if connection == "alpha":  # some account banded differently under beta's rule
            assert ((scored["health_score"] >= 70) & (scored["health_score"] < 95)).any()


def test_the_command_line_runs_one_connection(
    runs: dict[str, Any], orgs: dict[str, SandboxSettings]
) -> None:
    """`acm-sync sync --connection beta --job ingest`: beta's warehouse moves on, alpha's
    is not touched."""
    tmp: Path = runs["tmp"]
    files = {c: tmp / "warehouses" / c / "acm_sync.duckdb" for c in orgs}
    before = {c: f.stat().st_mtime_ns for c, f in files.items()}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "acm-sync"), "sync", "-c", "beta", "--job", "ingest"],
        cwd=tmp,
        env=cli_env(tmp, orgs),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("beta: ")]
    assert line.startswith("beta: ingest ok in ")
    run_id = line.rsplit("(run ", 1)[1].rstrip(")")
    state = Warehouse(files["beta"]).query("SELECT DISTINCT run_id FROM _sync_state")
    assert run_id in set(state["run_id"])
    assert files["alpha"].stat().st_mtime_ns == before["alpha"]


def cli_env(tmp: Path, orgs: dict[str, SandboxSettings]) -> dict[str, str]:
    """The shell of a user of both connections: each org's prefixed variables, no plain ones."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "HUBSPOT_", "ACM"))
    }
    for connection, org in orgs.items():
        env |= {PREFIX[connection] + k: v for k, v in org.env().items()}
    return env | {CONFIG_ENV_VAR: str(tmp / "acm_sync.yaml"), "COLUMNS": "200"}


def test_each_run_links_its_own_connection_s_data_docs(
    runs: dict[str, Any], orgs: dict[str, SandboxSettings]
) -> None:
    """The quality assets' Data Docs links of each connection open that connection's pages on
    the one `acm-sync docs` server (as `make dev` starts it), never the other org's."""
    tmp: Path = runs["tmp"]
    base = f"http://127.0.0.1:{runs['docs_port']}"
    links = {}
    for connection in orgs:
        metadata = {
            event.asset_key.to_user_string(): event.materialization.metadata
            for event in runs["results"][connection].get_asset_materialization_events()
            if event.materialization is not None
        }
        links[connection] = {
            "page": str(metadata["quality_contacts"]["data_docs"].value),
            "index": str(metadata["quality_contacts"]["data_docs_index"].value),
        }
    assert links["alpha"]["page"] != links["beta"]["page"]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "acm-sync"), "docs", "--port", str(runs["docs_port"])],
        cwd=tmp,
        env=cli_env(tmp, orgs),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    http = requests.Session()
    http.trust_env = False
    try:
        deadline = time.monotonic() + 120  # the CLI imports Dagster first: slow on a busy box
        while True:
            try:
                http.get(f"{base}/", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "acm-sync docs did not answer in 120 s"
                time.sleep(0.2)
        for connection, other in (("alpha", "beta"), ("beta", "alpha")):
            page = links[connection]["page"]
            assert page.startswith(f"{base}/{connection}/validations/contacts/"), page
            relative = page.removeprefix(f"{base}/{connection}/")
            site = tmp / "warehouses" / connection / "data_docs"
            own = site / relative
            answer = http.get(page, timeout=10)
            assert answer.status_code == 200, page
            assert answer.content == own.read_bytes()
            assert not (tmp / "warehouses" / other / "data_docs" / relative).exists()
            index = http.get(links[connection]["index"], timeout=10)
            assert index.status_code == 200
            assert index.content == (site / "index.html").read_bytes()
            assert http.get(f"{base}/{connection}/.results/", timeout=10).status_code == 404
        # the server's front page lists both connections
        front = http.get(f"{base}/", timeout=10).text
        assert 'href="/alpha/"' in front and 'href="/beta/"' in front
    finally:
        server.terminate()
        server.wait(timeout=10)
