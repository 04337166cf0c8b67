"""`acm-sync doctor` against the sandbox: config, logins, API limits, the fields we own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from acm_sync import cli
from acm_sync.connectors.hubspot import ENV as HS_ENV
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import ENV as SF_ENV
from acm_sync.org_summary import hubspot_client
from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.writeback.fields import OWNED
from acm_sync.writeback.target import ensure_hubspot_properties
from sandbox_admin import Admin

runner = CliRunner()
CHECKS = [
    "config",
    "credentials",
    "Salesforce login",
    "Salesforce API limit",
    "Salesforce owned fields",
    "Salesforce field mapping",
    "HubSpot login",
    "HubSpot API limit",
    "HubSpot owned properties",
    "HubSpot field mapping",
    "write-back",
]
HS_NAMES = sorted({f.hubspot for f in OWNED})


@pytest.fixture()
def portal(tmp_path: Path) -> Iterator[SandboxSettings]:
    """A fresh sandbox (its HubSpot portal has none of our properties yet)."""
    with SandboxProcess(tmp_path / "portal", accounts=100, seed=9) as settings:
        yield settings


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich wraps to 80 columns when not on a terminal; a wide console keeps names whole
    monkeypatch.setattr(cli, "console", Console(width=250))


def _clean_env(**overrides: str | None) -> dict[str, str | None]:
    """No CRM credentials or config path from the developer's shell, then `overrides`."""
    names = [*SF_ENV.values(), *HS_ENV.values(), "SALESFORCE_REFRESH_TOKEN", "ACM_SYNC_CONFIG"]
    env: dict[str, str | None] = dict.fromkeys(names)
    env.update(overrides)
    return env


def _doctor(env: dict[str, str | None], *args: str) -> Result:
    return runner.invoke(cli.app, ["doctor", *args], env=env)


def _json(result: Result) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    answer = json.loads(result.stdout)
    return answer, {c["check"]: c for c in answer["checks"]}


def test_doctor_fails_on_a_fresh_portal_then_passes(
    portal: SandboxSettings, tmp_path: Path
) -> None:
    env = _clean_env(**portal.env())
    # nothing from the repo's sandbox directory: credentials come from the environment
    no_sandbox = ["--sandbox-dir", str(tmp_path / "none")]

    result = _doctor(env, "--json", *no_sandbox)
    assert result.exit_code == 1, result.output
    answer, checks = _json(result)
    assert answer["ok"] is False
    assert list(checks) == CHECKS
    failed = [name for name, c in checks.items() if not c["ok"]]
    assert failed == ["HubSpot owned properties"]
    hs = checks["HubSpot owned properties"]
    for name in HS_NAMES:
        assert name in hs["detail"]
    assert "acm-sync doctor --fix" in hs["fix"]
    assert answer["hubspot_properties"]["objects"][0]["missing"][:2] == [
        "acm_tier",
        "acm_tier_reason",
    ]
    assert answer["salesforce_fields"]["ok"] is True
    assert "daily API requests left" in checks["Salesforce API limit"]["detail"]
    assert "daily API calls left" in checks["HubSpot API limit"]["detail"]

    table = _doctor(env, *no_sandbox)
    assert table.exit_code == 1
    assert "problem" in table.output and "acm_health_drivers" in table.output
    assert "acm-sync doctor --fix" in table.output
    assert "some checks failed" in table.output

    created = ensure_hubspot_properties(
        HubSpotResource(
            access_token=portal.credentials.hubspot_access_token,
            base_url=portal.hubspot_base_url,
        ).connect()
    )
    assert created.ok

    result = _doctor(env, "--json", *no_sandbox)
    assert result.exit_code == 0, result.output
    answer, checks = _json(result)
    assert answer["ok"] is True and all(c["ok"] for c in checks.values())
    assert answer["hubspot_properties"]["api_calls"] == 3  # report only: one list per object
    assert "everything is ready" in _doctor(env, *no_sandbox).output


def test_doctor_fix_creates_the_hubspot_properties(portal: SandboxSettings) -> None:
    env = _clean_env(**portal.env())
    result = _doctor(env, "--fix", "--json", "--sandbox-dir", "/nonexistent")
    assert result.exit_code == 0, result.output
    answer, _checks = _json(result)
    created = [n for o in answer["hubspot_properties"]["objects"] for n in o["created"]]
    assert sorted(set(created)) == HS_NAMES
    plain = hubspot_client(portal.env())
    assert plain.crm.properties.core_api.get_by_name("deals", "acm_win_probability").label == (
        "ACM Win Probability"
    )


def test_doctor_reads_the_sandbox_connection_file(portal: SandboxSettings, tmp_path: Path) -> None:
    env = _clean_env()  # no credentials at all in the environment
    result = _doctor(env, "--json", "--sandbox-dir", str(tmp_path / "portal"))
    _answer, checks = _json(result)
    assert checks["credentials"]["ok"]
    assert "connection.env" in checks["credentials"]["detail"]
    assert "set -a" in checks["credentials"]["detail"]
    assert checks["Salesforce login"]["ok"] and checks["HubSpot login"]["ok"]
    assert checks["Salesforce owned fields"]["ok"]


def test_doctor_without_any_credentials(tmp_path: Path) -> None:
    result = _doctor(_clean_env(), "--json", "--sandbox-dir", str(tmp_path))
    assert result.exit_code == 1
    _answer, checks = _json(result)
    assert not checks["credentials"]["ok"]
    assert "set -a; ." in checks["credentials"]["fix"]
    assert not checks["Salesforce login"]["ok"]
    assert "SALESFORCE_USERNAME" in checks["Salesforce login"]["detail"]
    assert not checks["HubSpot login"]["ok"]
    assert "HUBSPOT_ACCESS_TOKEN" in checks["HubSpot login"]["detail"]


def test_doctor_at_80_columns_prints_each_fix_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixes = _json(_doctor(_clean_env(), "--json", "--sandbox-dir", str(tmp_path)))[1]
    monkeypatch.setattr(cli, "console", Console(width=80, soft_wrap=False))
    result = _doctor(_clean_env(), "--sandbox-dir", str(tmp_path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    for check in fixes.values():
        if not check["ok"] and check["fix"]:
            # the command to run is on one line, never cut across table cells
            assert any(f"fix: {check['fix']}" in line for line in lines), check["fix"]


def test_doctor_masks_a_wrong_password_and_token(sandbox: SandboxSettings, tmp_path: Path) -> None:
    password = "Wrong-Password-4711"
    token = "pat-na1-00000000-dead-beef-0000-000000000000"
    env = _clean_env(
        **{**sandbox.env(), "SALESFORCE_PASSWORD": password, "HUBSPOT_ACCESS_TOKEN": token}
    )
    no_sandbox = ["--sandbox-dir", str(tmp_path)]
    security_token = sandbox.credentials.salesforce_security_token
    for args in (["--json"], []):
        result = _doctor(env, *args, *no_sandbox)
        assert result.exit_code == 1
        # Not a secret, nor any piece of one (the old mask showed the first 4 and last 2).
        for secret in (password, token, security_token):
            assert secret not in result.output
            assert secret[:4] not in result.output and secret[-4:] not in result.output
        assert "SALESFORCE_PASSWORD" in result.output
        assert "HUBSPOT_ACCESS_TOKEN" in result.output
    _answer, checks = _json(_doctor(env, "--json", *no_sandbox))
    assert not checks["Salesforce login"]["ok"]
    assert "refused the password login" in checks["Salesforce login"]["detail"]
    detail = checks["Salesforce login"]["detail"]
    assert f"SALESFORCE_PASSWORD (<hidden, {len(password)} characters>)" in detail
    # Salesforce's own error code and message, not the client's "{content}" template.
    assert "INVALID_LOGIN: Invalid username, password, security token" in detail
    assert "{content}" not in detail
    assert not checks["HubSpot login"]["ok"]
    assert "401" in checks["HubSpot login"]["detail"]
    # neither CRM answered, so nothing is claimed about their fields
    assert "Salesforce owned fields" not in checks
    assert "HubSpot owned properties" not in checks


def test_doctor_names_a_bad_config_key(sandbox: SandboxSettings, tmp_path: Path) -> None:
    config = tmp_path / "acm_sync.yaml"
    config.write_text("tiers:\n  key_revenue_shar: 0.8\n")
    env = _clean_env(**sandbox.env(), ACM_SYNC_CONFIG=str(config))
    result = _doctor(env, "--json", "--sandbox-dir", str(tmp_path))
    assert result.exit_code == 1
    _answer, checks = _json(result)
    assert not checks["config"]["ok"]
    assert "tiers.key_revenue_shar" in checks["config"]["detail"]
    # the rest still runs, on the default settings
    assert checks["Salesforce login"]["ok"] and checks["HubSpot login"]["ok"]


def test_doctor_fails_on_a_mapping_to_a_field_that_does_not_exist(
    sandbox: SandboxSettings, tmp_path: Path
) -> None:
    """The run would stop on it (MappingError): doctor must say so, not "everything is ready"."""
    config = tmp_path / "acm_sync.yaml"
    config.write_text(
        "sync:\n"
        "  salesforce:\n"
        "    fields:\n"
        "      accounts: {industry: Industry_Segment__c}\n"
        "  hubspot:\n"
        "    fields:\n"
        "      contacts: {title: job_titel}\n"
    )
    env = _clean_env(**sandbox.env(), ACM_SYNC_CONFIG=str(config))
    result = _doctor(env, "--json", "--sandbox-dir", str(tmp_path))
    assert result.exit_code == 1
    answer, checks = _json(result)
    assert not answer["ok"]
    assert checks["config"]["ok"]  # the file is valid; the CRMs lack the fields
    sf = checks["Salesforce field mapping"]
    assert not sf["ok"]
    assert "Account" in sf["detail"] and "'Industry_Segment__c'" in sf["detail"]
    assert "salesforce.fields.accounts.industry" in sf["detail"]
    hs = checks["HubSpot field mapping"]
    assert not hs["ok"]
    assert "contacts" in hs["detail"] and "'job_titel'" in hs["detail"]
    assert "did you mean jobtitle" in hs["detail"]
    human = _doctor(env, "--sandbox-dir", str(tmp_path))
    assert human.exit_code == 1 and "everything is ready" not in human.output
    # The default mapping passes the same checks.
    config.write_text("")
    _answer, checks = _json(_doctor(env, "--json", "--sandbox-dir", str(tmp_path)))
    assert checks["Salesforce field mapping"]["ok"] and checks["HubSpot field mapping"]["ok"]


def test_the_write_back_line_says_where_it_will_really_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from acm_sync.config import AcmSyncConfig

    for name, value in _clean_env(
        SALESFORCE_INSTANCE_URL="https://acme.my.salesforce.com",
        SALESFORCE_ACCESS_TOKEN="00Dx!token",
        HUBSPOT_ACCESS_TOKEN="pat-na1-x",
        HUBSPOT_BASE_URL="http://127.0.0.1:8124",
    ).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    def mode(**writeback: Any) -> str:
        return cli._writeback_mode(AcmSyncConfig.model_validate({"writeback": writeback}))

    assert mode() == (
        "writeback.dry_run: auto → Salesforce (a real org): dry run, plans only; "
        "HubSpot (the local sandbox): writes "
        "(set writeback.dry_run: false in acm_sync.yaml to write to a real org)"
    )
    assert mode(dry_run=False) == (
        "writeback.dry_run: false → Salesforce (a real org): writes; "
        "HubSpot (the local sandbox): writes"
    )
    assert mode(dry_run=True, require_approval=True) == (
        "writeback.dry_run: true → Salesforce (a real org): dry run, plans only; "
        "HubSpot (the local sandbox): dry run, plans only; "
        "require_approval: a scheduled sync stops at the plan until applied"
    )


def test_doctor_logs_in_afresh_even_when_a_run_left_a_live_session(
    sandbox: SandboxSettings, tmp_path: Path
) -> None:
    """The login check is of the credentials: a session stored by an earlier run (or by the
    previous doctor) must not stand in for it."""
    env = _clean_env(**sandbox.env(), SALESFORCE_SESSION_CACHE_DIR=str(tmp_path / "sessions"))
    no_sandbox = ["--sandbox-dir", str(tmp_path / "none")]
    admin = Admin(sandbox.salesforce_instance_url, verify=sandbox.salesforce_ca_bundle)
    admin.reset_calls()
    for _ in range(2):
        _doctor(env, "--json", *no_sandbox)
    logins = [c for c in admin.calls()["calls"] if c["path"].startswith("/services/Soap/")]
    assert len(logins) == 2
