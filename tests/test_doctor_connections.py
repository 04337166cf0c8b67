"""`acm-sync doctor` with connections listed: one line per connection and CRM — configured and
reachable, or which of its prefixed variables are missing — against sandbox orgs, never a
secret in the output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from acm_sync import cli
from acm_sync.connectors.hubspot import ENV as HS_ENV
from acm_sync.connectors.salesforce import ENV as SF_ENV
from acm_sync.sandbox.server import SandboxSettings

runner = CliRunner()

CONFIG = """\
connections:
  - name: org_a
    env_prefix: ORGA_
  - name: org_b
    crms: [salesforce]
    env_prefix: ORGB_
  - name: org_c
    env_prefix: ORGC_
"""


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "console", Console(width=250))


def _env(config: Path, **values: str) -> dict[str, str | None]:
    """Nothing from the developer's shell (plain or prefixed CRM variables), then `values`."""
    plain = [*SF_ENV.values(), *HS_ENV.values(), "SALESFORCE_REFRESH_TOKEN"]
    env: dict[str, str | None] = dict.fromkeys(
        [*plain, *(p + n for p in ("ORGA_", "ORGB_", "ORGC_") for n in plain)]
    )
    env.update(values, ACM_SYNC_CONFIG=str(config))
    return env


def _prefixed(prefix: str, settings: SandboxSettings) -> dict[str, str]:
    return {prefix + key: value for key, value in settings.env().items()}


def _doctor(env: dict[str, str | None], *args: str) -> Result:
    return runner.invoke(cli.app, ["doctor", *args], env=env)


def _checks(result: Result) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    answer = json.loads(result.stdout)
    return answer, {c["check"]: c for c in answer["checks"]}


def test_doctor_checks_each_connection_on_its_own_variables(
    sandbox: SandboxSettings, tmp_path: Path
) -> None:
    config = tmp_path / "acm_sync.yaml"
    config.write_text(CONFIG)
    wrong = "Not-The-Password-0815"
    env = _env(
        config,
        # the plain variables point at a working org: they must not stand in for any connection
        **sandbox.env(),
        **_prefixed("ORGA_", sandbox),
        # org_b: a username only — the password and token are missing
        ORGB_SALESFORCE_USERNAME=sandbox.credentials.salesforce_username,
        # org_c: complete, but the password is wrong (configured, not reachable)
        **{**_prefixed("ORGC_", sandbox), "ORGC_SALESFORCE_PASSWORD": wrong},
    )
    no_sandbox = ["--sandbox-dir", str(tmp_path / "none")]
    result = _doctor(env, "--json", *no_sandbox)
    assert result.exit_code == 1, result.output
    answer, checks = _checks(result)

    # org_a: both CRMs configured and reachable, each through its own login
    for crm in ("Salesforce", "HubSpot"):
        line = checks[f"org_a: {crm} login"]
        assert line["ok"], line
        assert line["detail"].startswith("configured, reachable")
    assert checks["org_a: Salesforce API limit"]["ok"]
    assert checks["org_a: Salesforce owned fields"]["ok"]
    assert "org_a: write-back" in checks

    # org_b: Salesforce names exactly what to set; HubSpot is not one of its CRMs
    sf_b = checks["org_b: Salesforce login"]
    assert not sf_b["ok"]
    assert sf_b["detail"].startswith("not configured")
    assert "ORGB_SALESFORCE_PASSWORD + ORGB_SALESFORCE_SECURITY_TOKEN not set" in sf_b["detail"]
    assert "acm-sync sandbox serve --connection org_b" in sf_b["fix"]
    assert "org_b: Salesforce owned fields" not in checks
    hs_b = checks["org_b: HubSpot login"]
    assert hs_b["ok"] and "not used" in hs_b["detail"]

    # org_c: configured but refused, naming its own (prefixed) variable, never the value
    sf_c = checks["org_c: Salesforce login"]
    assert not sf_c["ok"]
    assert sf_c["detail"].startswith("configured, not reachable")
    assert f"ORGC_SALESFORCE_PASSWORD (<hidden, {len(wrong)} characters>)" in sf_c["detail"]
    assert checks["org_c: HubSpot login"]["ok"]

    # no check of the plain variables: with connections listed they serve no run
    assert "Salesforce login" not in checks and "credentials" not in checks
    # per-connection reports
    assert answer["connections"]["org_a"]["salesforce_fields"]["ok"] is True

    secrets = [
        wrong,
        sandbox.credentials.salesforce_password,
        sandbox.credentials.salesforce_security_token,
        sandbox.credentials.hubspot_access_token,
        sandbox.credentials.salesforce_consumer_secret,
    ]
    human = _doctor(env, *no_sandbox)
    assert human.exit_code == 1
    for output in (result.output, human.output):
        for secret in secrets:
            assert secret not in output
            assert secret[:4] not in output and secret[-4:] not in output
    for name in ("org_a", "org_b", "org_c"):
        assert f"{name}: Salesforce login" in human.output


def test_doctor_uses_a_connections_sandbox_org_when_it_has_no_variables(
    sandbox: SandboxSettings, sandbox_dir: Path, tmp_path: Path
) -> None:
    """`acm-sync sandbox serve --connection NAME` keeps its settings in .sandbox/<name>: the
    doctor checks that org when none of the connection's variables are set (as it falls back to
    .sandbox/connection.env without connections)."""
    config = tmp_path / "acm_sync.yaml"
    config.write_text(CONFIG)
    sandboxes = tmp_path / "sandboxes"
    (sandboxes / "org_a").mkdir(parents=True)
    (sandboxes / "org_a" / "connection.env").write_text(
        (sandbox_dir / "connection.env").read_text()
    )
    result = _doctor(_env(config), "--json", "--sandbox-dir", str(sandboxes))
    _answer, checks = _checks(result)
    creds = checks["org_a: credentials"]
    assert creds["ok"] and "org_a/connection.env" in creds["detail"]
    assert "acm-sync sandbox env --connection org_a" in creds["detail"]
    assert checks["org_a: Salesforce login"]["ok"] and checks["org_a: HubSpot login"]["ok"]
    # org_c has neither variables nor a sandbox org: every CRM names what to set
    assert not checks["org_c: credentials"]["ok"]
    assert "ORGC_SALESFORCE_USERNAME" in checks["org_c: Salesforce login"]["detail"]
    assert "ORGC_HUBSPOT_ACCESS_TOKEN" in checks["org_c: HubSpot login"]["detail"]
    assert result.exit_code == 1
