"""The code location served by the real Dagster webserver: its GraphQL API lists the assets,
checks, schedules and sensors, and a `sync` launched through it runs to SUCCESS against the
session sandbox.

The webserver runs as a child process in its own session (process group) with a DAGSTER_HOME
in tmp (telemetry off), the sandbox's connection settings and a warehouse in tmp; the group is
killed at the end. No daemon: runs are launched directly (DefaultRunCoordinator), so schedules
and sensors are listed but do not tick during the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from acm_sync.sandbox.server import SandboxSettings

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
START_TIMEOUT = 90
RUN_TIMEOUT = 120

DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""

OVERVIEW = """
query Overview {
  assetNodes {
    assetKey { path }
    groupName
    kinds
    owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
  }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name }
        schedules { name cronSchedule executionTimezone scheduleState { status } }
        sensors { name sensorState { status } }
      }
    }
  }
}
"""

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""

RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      status
      stepStats { stepKey status }
    }
  }
}
"""

FAILURES = """
query Failures($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events { __typename ... on ExecutionStepFailureEvent { stepKey error { message } } }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Webserver:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log
        self.http = requests.Session()
        self.http.trust_env = False  # 127.0.0.1, never through a proxy

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.http.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]  # type: ignore[no-any-return]


@pytest.fixture()
def webserver(sandbox: SandboxSettings, tmp_path: Path) -> Iterator[Webserver]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {
        **os.environ,
        **sandbox.env(),
        "DAGSTER_HOME": str(home),
        "ACM_WAREHOUSE_PATH": str(tmp_path / "warehouse" / "acm_sync.duckdb"),
        "PYTHONUNBUFFERED": "1",
    }
    # The shipped acm_sync.yaml, but write-back in dry run: the session sandbox is shared with
    # other tests, which expect its records as seeded (the write-back tests have their own).
    config = yaml.safe_load((REPO / "acm_sync.yaml").read_text())
    config["writeback"] = {**config.get("writeback", {}), "dry_run": True}
    (tmp_path / "acm_sync.yaml").write_text(yaml.safe_dump(config))
    env["ACM_SYNC_CONFIG"] = str(tmp_path / "acm_sync.yaml")
    with running_webserver(env, tmp_path / "webserver.log") as server:
        yield server


@contextlib.contextmanager
def running_webserver(env: dict[str, str], log: Path) -> Iterator[Webserver]:
    """dagster-webserver over the code location, in its own process group (the runs it launches
    die with it), once it answers; stopped with its whole group."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(BIN / "dagster-webserver"),
                "-m",
                "acm_sync.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Webserver(f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the webserver exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if server.http.get(f"{server.url}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the webserver did not answer in {START_TIMEOUT}s:\n{log.read_text()}")
            time.sleep(0.25)
        yield server
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    # The group's other members (code server, launched runs) go too, whatever the leader did.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _overview(server: Webserver) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    # The code location loads in a code server behind the webserver: wait for it.
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        data = server.graphql(OVERVIEW)
        repos = data["repositoriesOrError"].get("nodes") or []
        if repos and data["assetNodes"]:
            return data["assetNodes"], repos[0]
        if time.monotonic() > deadline:
            pytest.fail(f"the code location did not load:\n{data}\n{server.log.read_text()}")
        time.sleep(0.5)


def test_the_webserver_serves_the_code_location_and_runs_sync(webserver: Webserver) -> None:
    started = time.monotonic()
    assets, repo = _overview(webserver)
    nodes = {"/".join(a["assetKey"]["path"]): a for a in assets}

    # Assets: the pipeline groups, every asset with kinds and a team owner.
    assert {a["groupName"] for a in assets} <= {
        "salesforce",
        "hubspot",
        "quality",
        "scoring",
        "writeback",
    }
    assert {"salesforce_accounts", "hubspot_deals", "quality_contacts", "account_scores"} <= set(
        nodes
    )
    for name, node in nodes.items():
        assert node["kinds"], name
        assert any(o.get("team") for o in node["owners"]), name

    # Checks: the quality gates (volume blocks what follows; the critical rate only write-back,
    # in writeback_apply) and a freshness check per pull.
    checks = {
        (name, c["name"]): c["blocking"]
        for name, node in nodes.items()
        for c in (node["assetChecksOrError"] or {}).get("checks", [])
    }
    assert checks[("quality_contacts", "volume")] is True
    assert checks[("quality_accounts", "critical_failure_rate")] is False
    assert ("salesforce_accounts", "freshness_check") in checks
    assert ("hubspot_companies", "freshness_check") in checks

    # Jobs, schedules (from acm_sync.yaml) and sensors.
    assert {"sync", "full_refresh", "plan", "ingest", "validate"} <= {
        j["name"] for j in repo["jobs"]
    }
    schedules = {s["name"]: s for s in repo["schedules"]}
    assert schedules["sync_schedule"]["cronSchedule"] == "*/30 * * * *"
    assert schedules["full_refresh_schedule"]["cronSchedule"] == "0 3 * * *"
    assert schedules["sync_schedule"]["executionTimezone"] == "UTC"
    assert schedules["sync_schedule"]["scheduleState"]["status"] == "RUNNING"
    sensors = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
    assert sensors == {
        "run_failure_alert": "RUNNING",
        "budget_stop_alert": "RUNNING",
        "freshness_checks_sensor": "RUNNING",
    }

    # Launch `sync` through the API and follow it to the end.
    run_started = time.monotonic()
    run_id, run = run_job(webserver, repo, "sync", RUN_TIMEOUT)
    if run["status"] != "SUCCESS":
        events = webserver.graphql(FAILURES, runId=run_id)["logsForRun"]["events"]
        failures = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
        pytest.fail(f"sync ended {run['status']}: {failures}")
    steps = {s["stepKey"]: s["status"] for s in run["stepStats"]}
    assert {"salesforce_accounts", "hubspot_deals", "quality_contacts", "account_scores"} <= set(
        steps
    )
    assert set(steps.values()) == {"SUCCESS"}
    print(
        f"\nwebserver: loaded + listed in {run_started - started:.1f}s, "
        f"sync ran in {time.monotonic() - run_started:.1f}s"
    )


def run_job(
    server: Webserver, repo: dict[str, Any], job: str, timeout: float
) -> tuple[str, dict[str, Any]]:
    """Launch `job` through the GraphQL API and follow it to its end: (run id, the run)."""
    launched = server.graphql(
        LAUNCH,
        params={
            "selector": {
                "repositoryLocationName": repo["location"]["name"],
                "repositoryName": repo["name"],
                "jobName": job,
            },
            "runConfigData": {},
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + timeout
    while True:
        run = server.graphql(RUN, runId=run_id)["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run_id, run
        assert time.monotonic() < deadline, f"{job} still {run['status']} after {timeout}s"
        time.sleep(1)
