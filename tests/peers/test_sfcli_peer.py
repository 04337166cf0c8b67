"""The Salesforce CLI (`sf`, npm @salesforce/cli), unmodified and pinned, against the sandbox.

tests/peers/sfcli/ pins @salesforce/cli 2.138.0 with the dependency tree its own
npm-shrinkwrap.json ships (the last 2.x whose shipped tree runs on Node 20: later ones ship
@jsforce/jsforce-node and undici releases that need Node 22); `npm ci` installs it into
.peers/sfcli/ once. Each test gets a fresh HOME (the CLI's config and auth files live there),
telemetry and update checks off, and trusts the sandbox's CA through NODE_EXTRA_CA_CERTS.

It logs in as a CI user would (`sf org login access-token` with SF_ACCESS_TOKEN, a session from
the sandbox's OAuth refresh-token grant), then queries (paging), bulk-exports, describes, creates,
updates, reads and bulk-imports, and checks every answer against the org as simple-salesforce
reads it: counts, ids and values, the writes read back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from peer_runs import FIGURES, PEERS_DIR, Admin, node_binary, salesforce_client

from acm_sync.sandbox.server import SandboxSettings

SOURCES = Path(__file__).resolve().parent / "sfcli"
VERSION = "2.138.0"
QUERY_PAGE = 2000  # the REST query resource's default page; the CLI asks for no other


# The newest `engines.node` floor in the CLI's shipped tree (undici 7.25.0: >=20.18.1; the
# CLI's own package.json says >=18.6.0, but its dependencies do not).
NODE_MIN = (20, 18, 1)


@pytest.fixture(autouse=True)
def _needs_node() -> None:
    node, why = node_binary()
    if node is None:
        pytest.skip(why)
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if tuple(int(p) for p in version.lstrip("v").split(".")[:3]) < NODE_MIN:
        pytest.skip(
            f"Node.js {version} is older than {'.'.join(map(str, NODE_MIN))}, which the pinned "
            f"Salesforce CLI {VERSION}'s dependencies need"
        )


def ensure_sfcli() -> Path:
    """The pinned CLI's node_modules/.bin, `npm ci`-installed once into .peers/sfcli/ (again
    whenever the lock file changes). The lock is the CLI's own npm-shrinkwrap tree, which pairs
    marked 4 with marked-terminal 4 (peer range marked ^1 || ^2) as Salesforce ships it, hence
    --legacy-peer-deps."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH (`make test-peers` installs Debian's npm)")
    lock = (SOURCES / "package-lock.json").read_bytes()
    target = PEERS_DIR / "sfcli"
    marker = target / f".installed-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not marker.exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SOURCES / name, target / name)
        subprocess.run(
            [
                npm,
                "ci",
                "--ignore-scripts",
                "--legacy-peer-deps",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            cwd=target,
            check=True,
        )
        marker.touch()
    return target / "node_modules" / ".bin"


class Sf:
    """`sf ... --json` in a private HOME; each call's answer, exit code and duration."""

    def __init__(self, bin_dir: Path, home: Path, settings: SandboxSettings) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.cwd = home / "work"
        self.cwd.mkdir(exist_ok=True)
        self.sf = str(bin_dir / "sf")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "npm_", "SF_"))}
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_CACHE_HOME=str(home / ".cache"),
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            NODE_EXTRA_CA_CERTS=settings.salesforce_ca_bundle,
            SF_DISABLE_TELEMETRY="true",
            SF_AUTOUPDATE_DISABLE="true",
            SF_SKIP_NEW_VERSION_CHECK="true",
            SF_HIDE_RELEASE_NOTES="true",
            SF_USE_GENERIC_UNIX_KEYCHAIN="true",
        )
        self.env = env
        self.seconds: list[float] = []

    def run(
        self, *args: str, expect: int = 0, extra_env: dict[str, str] | None = None
    ) -> dict[str, Any]:
        started = time.perf_counter()
        done = subprocess.run(
            [self.sf, *args, "--json"],
            cwd=self.cwd,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=180,
        )
        self.seconds.append(time.perf_counter() - started)
        try:
            doc: dict[str, Any] = json.loads(done.stdout)
        except json.JSONDecodeError:
            raise AssertionError(
                f"sf {' '.join(args[:3])} printed no JSON (exit {done.returncode}):\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            ) from None
        assert done.returncode == expect, (
            f"sf {' '.join(args[:3])} exited {done.returncode}, expected {expect}:\n"
            + json.dumps(doc, indent=1)[-3000:]
        )
        return doc


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _number(text: str) -> float | None:
    return float(text) if text != "" else None


def test_salesforce_cli(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    bin_dir = ensure_sfcli()
    sf = salesforce_client(peer_sandbox)
    creds = peer_sandbox.credentials
    instance = peer_sandbox.salesforce_instance_url
    admin = Admin(instance, verify=peer_sandbox.salesforce_ca_bundle)
    http = requests.Session()
    http.trust_env = False
    identity = http.get(
        f"{instance}/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {sf.session_id}"},
        verify=peer_sandbox.salesforce_ca_bundle,
    ).json()
    cli = Sf(bin_dir, tmp_path / "home", peer_sandbox)
    assert cli.run("version")["cliVersion"] == f"@salesforce/cli/{VERSION}"
    versions = http.get(f"{instance}/services/data", verify=peer_sandbox.salesforce_ca_bundle)
    newest = max((v["version"] for v in versions.json()), key=float)
    admin.reset_calls()

    # Login as in CI: the access token in SF_ACCESS_TOKEN, --no-prompt; then org display.
    login = cli.run(
        "org",
        "login",
        "access-token",
        "--instance-url",
        instance,
        "--alias",
        "sandbox",
        "--no-prompt",
        extra_env={"SF_ACCESS_TOKEN": sf.session_id},
    )["result"]
    assert login["username"] == creds.salesforce_username == identity["preferred_username"]
    assert login["orgId"] == identity["organization_id"]
    assert login["instanceUrl"].rstrip("/") == instance
    assert sf.session_id not in json.dumps(login)  # the CLI redacts it
    shown = cli.run("org", "display", "--target-org", "sandbox")["result"]
    assert shown["connectedStatus"] == "Connected"
    assert (shown["username"], shown["id"], shown["alias"]) == (
        creds.salesforce_username,
        identity["organization_id"],
        "sandbox",
    )
    # The CLI talks the org's newest API version, read from /services/data on login.
    assert shown["apiVersion"] == login["instanceApiVersion"] == newest

    # What the CLI learnt from the org's Organization row on login (@salesforce/core
    # determineOrg): listed among the sandboxes with its name and edition.
    organization = sf.query(
        "SELECT Name, InstanceName, IsSandbox, OrganizationType FROM Organization"
    )["records"][0]
    assert organization["IsSandbox"] is True
    listed_orgs = cli.run("org", "list")["result"]
    assert [
        (o["alias"], o["orgId"], o["name"], o["instanceName"], o["orgEdition"])
        for o in listed_orgs["sandboxes"]
    ] == [
        (
            "sandbox",
            identity["organization_id"],
            organization["Name"],
            organization["InstanceName"],
            organization["OrganizationType"],
        )
    ]

    # SOQL: every Account with a parent's field; every Contact over more than one page.
    soql = "SELECT Id, Name, AnnualRevenue, Industry, Owner.Name FROM Account ORDER BY Id"
    got = cli.run("data", "query", "--target-org", "sandbox", "--query", soql)["result"]
    truth = sf.query_all(soql)["records"]
    assert got["done"] is True and got["totalSize"] == len(got["records"]) == len(truth)
    assert [
        (r["Id"], r["Name"], r["AnnualRevenue"], r["Industry"], r["Owner"]["Name"])
        for r in got["records"]
    ] == [
        (r["Id"], r["Name"], r["AnnualRevenue"], r["Industry"], r["Owner"]["Name"]) for r in truth
    ]
    contacts = cli.run(
        "data", "query", "--target-org", "sandbox", "--query", "SELECT Id, Email FROM Contact"
    )["result"]
    contact_truth = {
        r["Id"]: r["Email"] for r in sf.query_all("SELECT Id, Email FROM Contact")["records"]
    }
    assert len(contact_truth) > QUERY_PAGE, "the peer org should need more than one query page"
    assert contacts["totalSize"] == len(contacts["records"]) == len(contact_truth)
    assert {r["Id"]: r["Email"] for r in contacts["records"]} == contact_truth

    # Bulk API 2.0 export (CSV) of the same accounts.
    exported = tmp_path / "accounts.csv"
    bulk = cli.run(
        "data",
        "export",
        "bulk",
        "--target-org",
        "sandbox",
        "--query",
        "SELECT Id, Name, AnnualRevenue FROM Account",
        "--output-file",
        str(exported),
        "--wait",
        "2",
    )["result"]
    rows = _csv(exported)
    assert bulk["totalSize"] == len(rows) == len(truth)
    assert {r["Id"]: (r["Name"], _number(r["AnnualRevenue"])) for r in rows} == {
        r["Id"]: (r["Name"], r["AnnualRevenue"]) for r in truth
    }

    # describe / list.
    described = cli.run(
        "sobject", "describe", "--target-org", "sandbox", "--sobject", "Opportunity"
    )["result"]
    truth_describe = sf.Opportunity.describe()
    assert (described["name"], described["keyPrefix"]) == ("Opportunity", "006")
    assert [(f["name"], f["type"], f["updateable"]) for f in described["fields"]] == [
        (f["name"], f["type"], f["updateable"]) for f in truth_describe["fields"]
    ]
    listed = cli.run("sobject", "list", "--target-org", "sandbox")["result"]
    assert listed == [s["name"] for s in sf.describe()["sobjects"]]

    # create / update / get one record, read back through simple-salesforce.
    name = "sf CLI peer account"
    created = cli.run(
        "data",
        "create",
        "record",
        "--target-org",
        "sandbox",
        "--sobject",
        "Account",
        "--values",
        f"Name='{name}' Industry=Biotechnology AnnualRevenue=1234567",
    )["result"]
    assert created["success"] is True and created["errors"] == []
    new = sf.Account.get(created["id"])
    assert (new["Name"], new["Industry"], new["AnnualRevenue"]) == (name, "Biotechnology", 1234567)
    updated = cli.run(
        "data",
        "update",
        "record",
        "--target-org",
        "sandbox",
        "--sobject",
        "Account",
        "--record-id",
        created["id"],
        "--values",
        "Description='updated by the sf CLI' NumberOfEmployees=4321",
    )["result"]
    assert updated == {"id": created["id"], "success": True, "errors": []}
    after = sf.Account.get(created["id"])
    assert (after["Description"], after["NumberOfEmployees"]) == ("updated by the sf CLI", 4321)
    fetched = cli.run(
        "data",
        "get",
        "record",
        "--target-org",
        "sandbox",
        "--sobject",
        "Account",
        "--record-id",
        created["id"],
    )["result"]
    assert fetched.pop("attributes")["url"].endswith(f"/sobjects/Account/{created['id']}")
    assert fetched == {k: v for k, v in after.items() if k != "attributes"}
    # --where: the CLI queries the id first, then updates it.
    cli.run(
        "data",
        "update",
        "record",
        "--target-org",
        "sandbox",
        "--sobject",
        "Account",
        "--where",
        f"Name='{name}'",
        "--values",
        "Phone='555-0100'",
    )
    assert sf.Account.get(created["id"])["Phone"] == "555-0100"

    # Bulk API 2.0 ingest: insert three rows (a quoted comma, empty cells), then update two of
    # them and one id that does not exist: the job completes with one failed row.
    inserts = tmp_path / "insert.csv"
    inserts.write_text(
        "Name,Industry,AnnualRevenue\n"
        "sf CLI bulk one,Biotechnology,100\n"
        '"sf CLI bulk, two",Energy,2500.5\n'
        "sf CLI bulk three,,\n",
        encoding="utf-8",
    )
    imported = cli.run(
        "data",
        "import",
        "bulk",
        "--target-org",
        "sandbox",
        "--sobject",
        "Account",
        "--file",
        str(inserts),
        "--wait",
        "2",
    )["result"]
    assert (imported["processedRecords"], imported["successfulRecords"]) == (3, 3)
    assert imported["failedRecords"] == 0
    bulk_rows = sf.query_all(
        "SELECT Id, Name, Industry, AnnualRevenue FROM Account WHERE Name LIKE 'sf CLI bulk%' "
        "ORDER BY Name"
    )["records"]
    assert [(r["Name"], r["Industry"], r["AnnualRevenue"]) for r in bulk_rows] == [
        ("sf CLI bulk one", "Biotechnology", 100),
        ("sf CLI bulk three", None, None),
        ("sf CLI bulk, two", "Energy", 2500.5),
    ]
    missing = "001" + "0" * 12 + "AAA"
    updates = tmp_path / "update.csv"
    updates.write_text(
        f"Id,Description\n{bulk_rows[0]['Id']},bulk one\n{bulk_rows[2]['Id']},bulk two\n"
        f"{missing},nobody\n",
        encoding="utf-8",
    )
    failed = cli.run(
        "data",
        "update",
        "bulk",
        "--target-org",
        "sandbox",
        "--sobject",
        "Account",
        "--file",
        str(updates),
        "--wait",
        "2",
        expect=1,
    )
    assert failed["name"] == "FailedRecordDetailsError" and failed["data"]["state"] == "JobComplete"
    assert [sf.Account.get(r["Id"])["Description"] for r in bulk_rows] == [
        "bulk one",
        None,
        "bulk two",
    ]
    results = cli.run(
        "data", "bulk", "results", "--target-org", "sandbox", "--job-id", failed["data"]["jobId"]
    )["result"]
    assert (results["processedRecords"], results["successfulRecords"]) == (3, 2)
    assert (results["failedRecords"], results["status"]) == (1, "JobComplete")
    ok = _csv(cli.cwd / results["successFilePath"])
    assert sorted((r["sf__Id"], r["sf__Created"]) for r in ok) == sorted(
        (bulk_rows[i]["Id"], "false") for i in (0, 2)
    )
    bad = _csv(cli.cwd / results["failedFilePath"])
    assert [(r["Id"], r["sf__Error"].split(":")[0]) for r in bad] == [
        (missing, "INVALID_CROSS_REFERENCE_KEY")
    ]

    # Bulk upsert on Id (one existing row, one with an empty Id: created), then a bulk delete
    # and a single-record delete; the deleted rows come back only with --all-rows (queryAll).
    upserts = tmp_path / "upsert.csv"
    upserts.write_text(
        f"Id,Name,Website\n{bulk_rows[1]['Id']},sf CLI bulk upserted,https://one.example\n"
        ",sf CLI bulk upsert new,https://new.example\n",
        encoding="utf-8",
    )
    upserted = cli.run(
        "data",
        "upsert",
        "bulk",
        "--target-org",
        "sandbox",
        "--sobject",
        "Account",
        "--file",
        str(upserts),
        "--external-id",
        "Id",
        "--wait",
        "2",
    )["result"]
    assert upserted["jobInfo"]["state"] == "JobComplete"
    assert upserted["jobInfo"]["numberRecordsProcessed"] == 2
    assert upserted["jobInfo"]["numberRecordsFailed"] == 0
    after_upsert = {
        r["Name"]: (r["Id"], r["Website"])
        for r in sf.query_all(
            "SELECT Id, Name, Website FROM Account WHERE Name LIKE 'sf CLI bulk%'"
        )["records"]
    }
    assert after_upsert["sf CLI bulk upserted"] == (bulk_rows[1]["Id"], "https://one.example")
    new_id, new_site = after_upsert["sf CLI bulk upsert new"]
    assert new_site == "https://new.example" and new_id not in {r["Id"] for r in bulk_rows}
    deletes = tmp_path / "delete.csv"
    deletes.write_text(f"Id\n{new_id}\n{bulk_rows[1]['Id']}\n", encoding="utf-8")
    removed = cli.run(
        "data",
        "delete",
        "bulk",
        "--target-org",
        "sandbox",
        "--sobject",
        "Account",
        "--file",
        str(deletes),
        "--wait",
        "2",
    )["result"]
    assert removed["jobInfo"]["numberRecordsProcessed"] == 2
    assert removed["jobInfo"]["numberRecordsFailed"] == 0
    cli.run(
        "data",
        "delete",
        "record",
        "--target-org",
        "sandbox",
        "--sobject",
        "Account",
        "--record-id",
        created["id"],
    )
    gone = {new_id, bulk_rows[1]["Id"], created["id"]}
    live = {r["Id"] for r in sf.query_all("SELECT Id FROM Account")["records"]}
    assert not gone & live
    recycled = cli.run(
        "data",
        "query",
        "--target-org",
        "sandbox",
        "--all-rows",
        "--query",
        "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true",
    )["result"]
    assert gone <= {r["Id"] for r in recycled["records"]}
    assert {r["Id"] for r in recycled["records"]} == {
        r["Id"]
        for r in sf.query_all(
            "SELECT Id FROM Account WHERE IsDeleted = true", include_deleted=True
        )["records"]
    }
    bulk_rows = [r for r in bulk_rows if r["Id"] not in gone]

    # The org's limits, as /limits reports them to simple-salesforce.
    limits = {
        entry["name"]: (entry["max"], entry["remaining"])
        for entry in cli.run("org", "list", "limits", "--target-org", "sandbox")["result"]
    }
    truth_limits = sf.limits()
    assert set(limits) == set(truth_limits)
    assert limits["DailyBulkV2QueryJobs"] == (
        truth_limits["DailyBulkV2QueryJobs"]["Max"],
        truth_limits["DailyBulkV2QueryJobs"]["Remaining"],
    )
    assert limits["DailyApiRequests"][0] == truth_limits["DailyApiRequests"]["Max"]

    # sObject Tree export (JSON files), the same rows.
    tree = cli.run(
        "data",
        "export",
        "tree",
        "--target-org",
        "sandbox",
        "--query",
        "SELECT Id, Name, Industry FROM Account WHERE Name LIKE 'sf CLI bulk%' ORDER BY Name",
        "--output-dir",
        str(tmp_path / "tree"),
    )["result"]
    written = json.loads((tmp_path / "tree" / "Account.json").read_text())["records"]
    assert [(r["Name"], r.get("Industry")) for r in tree["records"]] == [
        (r["Name"], r["Industry"]) for r in bulk_rows
    ]
    assert [r["Name"] for r in written] == [r["Name"] for r in bulk_rows]

    # Every request the CLI made succeeded, but for its two optional probes after the login.
    calls = admin.calls()["calls"]
    unexpected = [
        f"{c['method']} {c['path']} {c['status']} {c.get('query', '')[:60]}"
        for c in calls
        if c["status"] >= 400 and not _probe(c)
    ]
    assert not unexpected, unexpected
    # The CLI's own query pages (on the org's newest version; simple-salesforce's are on v59).
    pages = [c for c in calls if c["method"] == "GET" and f"/v{newest}/query/01g" in c["path"]]
    assert len(pages) == math.ceil(len(contact_truth) / QUERY_PAGE) - 1  # nextRecordsUrl followed
    FIGURES.append(
        {
            "connector": "sf CLI",
            "phase": "node",
            "records": len(got["records"]) + len(contacts["records"]) + len(rows),
            "seconds": round(sum(cli.seconds), 1),
            "requests": len(calls),
            "429s": sum(1 for c in calls if c["status"] == 429),
        }
    )


def _probe(call: dict[str, Any]) -> bool:
    """The CLI's optional probes after a login, whose failure it logs and ignores:
    - `SELECT Id FROM ScratchOrgInfo` (is the org a Dev Hub?): a 400 INVALID_TYPE, as a real
      org that is no Dev Hub answers (@salesforce/core lib/org/authInfo.js determineIfDevHub);
    - a Tooling API query of SandboxProcess on each locally known possible production org (is
      the new org its sandbox?): the sandbox has no Tooling API, so 404 where a real
      production org answers the query (authInfo.js identifyPossibleSandbox catches it)."""
    query = call.get("query", "")
    if (call["method"], call["status"]) != ("GET", 400 if "ScratchOrgInfo" in query else 404):
        return False
    if "ScratchOrgInfo" in query:
        return call["path"].endswith("/query")
    return call["path"].endswith("/tooling/query") and "SandboxProcess" in query
