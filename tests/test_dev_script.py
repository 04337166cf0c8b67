"""`make dev` (scripts/dev.sh) with connections listed: a sandbox org per connection that has no
credentials — each its own seed, its settings exported under the connection's prefix into the
Dagster process — none for a connection with credentials, one Data Docs server for all; SIGTERM
stops everything it started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from acm_sync.connectors.hubspot import ENV as HS_ENV
from acm_sync.connectors.salesforce import ENV as SF_ENV
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.sandbox.server import SandboxSettings

REPO = Path(__file__).resolve().parents[1]
CONFIG = """\
connections:
  - name: org_a
    env_prefix: ORGA_
  - name: org_b
    env_prefix: ORGB_
  - name: org_c
    env_prefix: ORGC_
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                child = int(stat.parent.name)
                found.append(child)
                frontier.append(child)
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _account_names(settings: SandboxSettings) -> set[str]:
    env = settings.env()
    values: dict[str, Any] = {k: env[v] for k, v in SF_ENV.items() if env.get(v)}
    client = SalesforceResource(**values).connect()
    return {r["Name"] for r in client.sf.query_all("SELECT Name FROM Account")["records"]}


@pytest.fixture()
def dev(sandbox: SandboxSettings, tmp_path: Path) -> Iterator[dict[str, Any]]:
    config = tmp_path / "acm_sync.yaml"
    config.write_text(CONFIG)
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    plain = [*SF_ENV.values(), *HS_ENV.values(), "SALESFORCE_REFRESH_TOKEN"]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACM_", "DAGSTER_", "ORGA_", "ORGB_", "ORGC_")) and k not in plain
    }
    ports = {"ui": _free_port(), "docs": _free_port()}
    env |= {
        "ACM_SYNC_CONFIG": str(config),
        "ACM_WAREHOUSE_PATH": str(tmp_path / "warehouse" / "acm_sync.duckdb"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "SANDBOX_DIR": str(tmp_path / "sandboxes"),
        "SANDBOX_ACCOUNTS": "100",
        "DEV_PORT": str(ports["ui"]),
        "DOCS_PORT": str(ports["docs"]),
        # org_c has an org of its own (the session sandbox)
        **{"ORGC_" + k: v for k, v in sandbox.env().items()},
    }
    log = (tmp_path / "dev.log").open("w")
    process = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "dev.sh")],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield {"process": process, "tmp": tmp_path, "ports": ports, "log": tmp_path / "dev.log"}
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in [*_children(process.pid), process.pid]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        log.close()


def test_make_dev_starts_a_sandbox_org_per_connection_without_credentials(
    dev: dict[str, Any], sandbox: SandboxSettings
) -> None:
    process, tmp, ports = dev["process"], dev["tmp"], dev["ports"]
    http = requests.Session()
    http.trust_env = False
    deadline = time.monotonic() + 240
    while True:  # until the Dagster webserver answers
        assert process.poll() is None, dev["log"].read_text()
        try:
            if http.get(f"http://127.0.0.1:{ports['ui']}/server_info", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, dev["log"].read_text()
        time.sleep(0.5)
    output = dev["log"].read_text()
    assert "dev: org_a: sandbox up" in output and "dev: org_b: sandbox up" in output
    assert "dev: org_c: credentials found (ORGC_…) — using them, no sandbox" in output
    sandboxes = tmp / "sandboxes"
    assert sorted(p.name for p in sandboxes.iterdir()) == ["org_a", "org_b"]
    orgs = {name: SandboxSettings.read(sandboxes / name) for name in ("org_a", "org_b")}
    # two orgs, not one: other ports, other data (neither has a `sandbox` block: the default
    # seed is moved by each one's position in the list)
    assert orgs["org_a"].salesforce_instance_url != orgs["org_b"].salesforce_instance_url
    names = {name: _account_names(settings) for name, settings in orgs.items()}
    assert names["org_a"] != names["org_b"]
    assert names["org_a"] != _account_names(sandbox)
    # nothing secret printed: no password or token of any org
    for settings in (*orgs.values(), sandbox):
        c = settings.credentials
        for secret in (c.salesforce_password, c.salesforce_security_token, c.hubspot_access_token):
            assert secret not in output

    # The Dagster process reads each connection's org under its prefix, none on plain names.
    (dagster,) = [p for p in _children(process.pid) if " dev -m acm_sync" in _cmdline(p)]
    env = _environ(dagster)
    for name, prefix in (("org_a", "ORGA_"), ("org_b", "ORGB_")):
        for key, value in orgs[name].env().items():
            assert env[prefix + key] == value, (prefix, key)
    assert env["ORGC_SALESFORCE_USERNAME"] == sandbox.credentials.salesforce_username
    assert "SALESFORCE_USERNAME" not in env and "HUBSPOT_ACCESS_TOKEN" not in env

    # One Data Docs server for all connections.
    front = http.get(f"http://127.0.0.1:{ports['docs']}/", timeout=10).text
    for name in ("org_a", "org_b", "org_c"):
        assert f'href="/{name}/"' in front

    # SIGTERM stops the sandboxes, the docs server and Dagster with the script.
    started = _children(process.pid)
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    time.sleep(1)
    assert [p for p in started if Path(f"/proc/{p}").exists() and _cmdline(p)] == []
