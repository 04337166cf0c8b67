"""Many sandbox orgs at once, read back through the real clients (the scale test and the bench).

Each org is its own sandbox (Salesforce + HubSpot servers), seeded with its own seed; a
connection's credentials are the sandbox's connection settings under the connection's
environment-variable prefix (ORG01_SALESFORCE_USERNAME, …).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acm_sync.org_summary import hubspot_client, salesforce_client
from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings

# The owned fields compared between runs: everything but when they were computed.
SF_ACCOUNT_FIELDS = [
    "ACM_Tier__c",
    "ACM_Tier_Reason__c",
    "ACM_Health_Score__c",
    "ACM_Health_Band__c",
    "ACM_Health_Trend__c",
    "ACM_Forecast_Amount__c",
    "ACM_Next_Action__c",
    "ACM_Data_Issues__c",
]
HS_COMPANY_FIELDS = [
    "acm_tier",
    "acm_tier_reason",
    "acm_health_score",
    "acm_health_band",
    "acm_health_trend",
    "acm_forecast_amount",
    "acm_next_action",
    "acm_data_issues",
]


@dataclass(frozen=True)
class Org:
    name: str  # the connection's name
    seed: int
    settings: SandboxSettings

    @property
    def prefix(self) -> str:
        return f"{self.name.upper()}_"

    def env(self) -> dict[str, str]:
        """This org's connection settings, as the environment variables of its connection."""
        return {f"{self.prefix}{k}": v for k, v in self.settings.env().items()}


def org_names(n: int) -> list[str]:
    return [f"org{i:02d}" for i in range(1, n + 1)]


@contextmanager
def running_orgs(root: Path, n: int, accounts: int, first_seed: int = 101) -> Iterator[list[Org]]:
    """`n` sandboxes, seeded in parallel (seeds first_seed, first_seed + 1, …)."""
    names = org_names(n)
    with ExitStack() as stack:
        procs = [
            SandboxProcess(root / name, accounts=accounts, seed=first_seed + i)
            for i, name in enumerate(names)
        ]
        for proc in procs:
            stack.callback(proc.stop)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            settings = list(pool.map(lambda p: p.start(), procs))
        yield [
            Org(name, first_seed + i, s)
            for i, (name, s) in enumerate(zip(names, settings, strict=True))
        ]


def owned_values(org: Org) -> dict[str, dict[str, Any]]:
    """The owned fields of every account in the org, read through simple-salesforce and the
    HubSpot client: {"sf:<Id>": {field: value}, "hs:<id>": {...}} plus each record's name."""
    env = org.settings.env()
    sf = salesforce_client(env)
    sf.session.trust_env = False
    out: dict[str, dict[str, Any]] = {}
    fields = ", ".join(["Id", "Name", *SF_ACCOUNT_FIELDS])
    for row in sf.query_all(f"SELECT {fields} FROM Account")["records"]:
        out[f"sf:{row['Id']}"] = {"name": row["Name"], **{f: row[f] for f in SF_ACCOUNT_FIELDS}}
    hs = hubspot_client(env)
    for company in hs.crm.companies.get_all(properties=["name", *HS_COMPANY_FIELDS]):
        props = company.properties or {}
        out[f"hs:{company.id}"] = {
            "name": props.get("name"),
            **{f: props.get(f) for f in HS_COMPANY_FIELDS},
        }
    return out


def scored(values: dict[str, dict[str, Any]]) -> int:
    """How many accounts carry a tier written by acm_sync."""
    return sum(1 for v in values.values() if v.get("ACM_Tier__c") or v.get("acm_tier"))


# --- The connections (acm_sync.yaml `connections:`) ------------------------------------------

CONNECTION_TAG = "acm_sync/connection"
LIMITED_TAGS = (CONNECTION_TAG, "acm_sync/salesforce-api", "acm_sync/hubspot-api")


def write_work_dir(work: Path, orgs: list[Org], warehouse_root: Path) -> dict[str, str]:
    """The code location's working directory for these orgs: acm_sync.yaml (the shipped one plus
    one connection per org), the GX suites; returns the environment the code location needs."""
    import yaml

    repo = Path(__file__).resolve().parents[2]
    work.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((repo / "acm_sync.yaml").read_text())
    config["connections"] = [{"name": org.name, "env_prefix": org.prefix} for org in orgs]
    config["warehouse"] = {"root": str(warehouse_root)}
    # No freshness checks: their runs would only add load (the sync runs are what is measured).
    config["alerts"]["freshness_hours"] = None
    (work / "acm_sync.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if not (work / "expectations").exists():
        (work / "expectations").symlink_to(repo / "expectations")
    return {k: v for org in orgs for k, v in org.env().items()}


def warehouse_file(warehouse_root: Path, name: str) -> Path:
    return warehouse_root / name / "acm_sync.duckdb"


def sequential_sync(root: Path, orgs: list[Org], warehouse_root: Path) -> dict[str, Any]:
    """Sync the orgs' connections one after another in one process (tests/scale/sequential.py);
    returns its timings."""
    import json
    import os
    import subprocess
    import sys

    work = root / "work"
    env = write_work_dir(work, orgs, warehouse_root)
    child_env = {
        k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "ACM_SYNC_EXECUTOR")
    }
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("sequential.py")), *(o.name for o in orgs)],
        cwd=work,
        env={**child_env, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
