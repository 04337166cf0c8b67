"""Operating the code location: jobs, schedules and alerts from acm_sync.yaml, the run-failure
sensor posting to Slack (a local stand-in for the Slack Web API), freshness checks, and the code
location loading through Dagster's own CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import dagster as dg
import pytest
import yaml

from acm_sync.assets.alerts import (
    BUDGET_STOP_SENSOR,
    FRESHNESS_SENSOR,
    RUN_FAILURE_SENSOR,
    SlackAlertResource,
    build_alerts,
    build_budget_stop_sensor,
    build_freshness_checks,
    build_run_failure_sensor,
    describe_failure,
)
from acm_sync.assets.hubspot import hubspot_assets
from acm_sync.assets.ingest import SyncSettingsResource
from acm_sync.assets.jobs import ingest_job, pipeline_jobs, pull_asset_keys
from acm_sync.assets.quality import QualitySettingsResource, quality_assets
from acm_sync.assets.salesforce import salesforce_assets
from acm_sync.assets.schedules import build_schedules
from acm_sync.assets.scoring import ScoringConfigResource, scoring_assets
from acm_sync.config import ConfigError, load_config
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.schedules_and_alerts import (
    AlertSettings,
    JobSchedule,
    ScheduleSettings,
    SlackSettings,
)
from acm_sync.warehouse import WarehouseResource

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PULLS = {k.to_user_string() for k in pull_asset_keys()}
TOKEN = "xoxb-test-0123456789"


def write_config(tmp_path: Path, body: dict[str, Any] | str) -> Path:
    path = tmp_path / "acm_sync.yaml"
    path.write_text(body if isinstance(body, str) else yaml.safe_dump(body), encoding="utf-8")
    return path


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cron",
    ["every 30 minutes", "61 * * * *", "*/30 * * *", "0 0 30 2 *", "0 0 * * * *"],
)
def test_a_bad_cron_string_names_the_file_and_the_key(tmp_path: Path, cron: str) -> None:
    path = write_config(tmp_path, {"schedules": {"full_refresh": {"cron": cron}}})
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (
        f"acm_sync.yaml: schedules.full_refresh.cron: not a valid cron string '{cron}' "
        "(five fields: minute hour day-of-month month day-of-week, e.g. '*/30 * * * *')"
    )


def test_unknown_keys_are_named_every_one(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
schedules:
  sync: {cron: "*/30 * * * *", enabeld: false}
  nightly: {cron: "0 3 * * *"}
alerts:
  slack: {chanel: "#revops"}
""",
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).splitlines() == [
        "acm_sync.yaml: schedules.sync.enabeld: unknown key",
        "acm_sync.yaml: schedules.nightly: unknown key",
        "acm_sync.yaml: alerts.slack.chanel: unknown key",
    ]


def test_bad_timezone_and_freshness_are_named(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "schedules": {"sync": {"cron": "0 * * * *", "timezone": "Mars/Olympus_Mons"}},
            "alerts": {"freshness_hours": 0},
        },
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    lines = str(error.value).splitlines()
    assert lines[0].startswith(
        "acm_sync.yaml: schedules.sync.timezone: unknown time zone 'Mars/Olympus_Mons'"
    )
    assert lines[1] == "acm_sync.yaml: alerts.freshness_hours: Input should be greater than 0"


def test_defaults_are_valid_and_a_partial_section_keeps_the_other_defaults(
    tmp_path: Path,
) -> None:
    defaults = ScheduleSettings()
    for schedule in (defaults.sync, defaults.full_refresh):
        assert JobSchedule.model_validate(schedule.model_dump()) == schedule
    assert (defaults.sync.cron, defaults.full_refresh.cron) == ("*/30 * * * *", "0 3 * * *")
    config = load_config(write_config(tmp_path, {"schedules": {"sync": {"cron": "5 * * * *"}}}))
    assert config.schedules.sync == JobSchedule(cron="5 * * * *")
    assert config.schedules.full_refresh == defaults.full_refresh


# -- schedules ---------------------------------------------------------------------------------


def test_schedules_are_built_from_the_config_file(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "schedules": {
                "sync": {"cron": "*/15 8-18 * * 1-5", "timezone": "Europe/Berlin"},
                "full_refresh": {"cron": "30 2 * * 0", "enabled": False},
            }
        },
    )
    schedules = {s.name: s for s in build_schedules(load_config(path).schedules)}
    sync, full = schedules["sync_schedule"], schedules["full_refresh_schedule"]
    assert (sync.job_name, sync.cron_schedule, sync.execution_timezone) == (
        "sync",
        "*/15 8-18 * * 1-5",
        "Europe/Berlin",
    )
    assert sync.default_status == dg.DefaultScheduleStatus.RUNNING
    assert (full.job_name, full.cron_schedule, full.execution_timezone) == (
        "full_refresh",
        "30 2 * * 0",
        "UTC",
    )
    assert full.default_status == dg.DefaultScheduleStatus.STOPPED


# -- jobs --------------------------------------------------------------------------------------


@dg.asset(group_name="writeback", kinds={"duckdb"}, description="stand-in")
def writeback_plan() -> dg.MaterializeResult:
    return dg.MaterializeResult()


@dg.asset(group_name="writeback", kinds={"duckdb"}, deps=[writeback_plan], description="x")
def writeback_apply() -> dg.MaterializeResult:
    return dg.MaterializeResult()


def resources(tmp_path: Path) -> dict[str, Any]:
    return {
        "salesforce": SalesforceResource.from_env({}),
        "hubspot": HubSpotResource.from_env({}),
        "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
        "sync_settings": SyncSettingsResource(),
        "quality_settings": QualitySettingsResource(),
        "scoring_config": ScoringConfigResource(),
        "slack": SlackAlertResource(),
    }


PIPELINE_ASSETS = [*salesforce_assets, *hubspot_assets, *quality_assets, *scoring_assets]


def test_jobs_select_the_pipeline_groups_and_plan_leaves_out_the_writes(tmp_path: Path) -> None:
    alerts = build_alerts(AlertSettings())
    defs = dg.Definitions(
        assets=[*PIPELINE_ASSETS, writeback_plan, writeback_apply],
        asset_checks=alerts.checks,
        jobs=pipeline_jobs,
        resources=resources(tmp_path),
    )
    graph = defs.resolve_asset_graph()
    every = {k.to_user_string() for k in graph.get_all_asset_keys()}

    def selected(name: str) -> tuple[set[str], set[str]]:
        job = defs.resolve_job_def(name)
        layer = job.asset_layer
        assets = {k.to_user_string() for k in layer.executable_asset_keys}
        checks = {k.to_user_string() for k in layer.asset_graph.asset_check_keys}
        return assets, checks

    sync_assets, sync_checks = selected("sync")
    assert sync_assets == every
    # The quality gates run (and block) inside the sync; the freshness checks do not.
    assert "quality_contacts:volume" in sync_checks
    assert not any(c.endswith(":freshness_check") for c in sync_checks)
    assert selected("full_refresh")[0] == every
    assert selected("plan")[0] == every - {"writeback_apply"}
    assert selected("ingest")[0] == PULLS | {"hubspot_deal_stage_history"}
    for name in ("sync", "full_refresh", "plan", "ingest"):
        assert defs.resolve_job_def(name).executor_def is dg.in_process_executor, name

    # full_refresh pulls from scratch; nothing else is told so.
    ops = defs.resolve_job_def("full_refresh").run_config or {}
    assert {name for name, cfg in ops["ops"].items() if cfg["config"]["full_refresh"]} == {
        a.op.name for a in [*salesforce_assets, *hubspot_assets]
    }


def test_the_code_location_groups_owns_and_describes_every_asset() -> None:
    from acm_sync.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        assert node.group_name in {"salesforce", "hubspot", "quality", "scoring", "writeback"}
        assert node.kinds and node.description and node.owners, name
        assert all(o.startswith("team:") for o in node.owners), name
    # jobs.py keeps the checks on the pull assets out of pipeline runs because they are only the
    # freshness checks; a new check on a pull asset would need that revisited.
    on_pulls = {c for c in graph.asset_check_keys if c.asset_key.to_user_string() in PULLS}
    assert on_pulls and {c.name for c in on_pulls} == {"freshness_check"}
    assert {s.name for s in defs.sensors or []} == {
        RUN_FAILURE_SENSOR,
        BUDGET_STOP_SENSOR,
        FRESHNESS_SENSOR,
    }
    assert {s.name for s in defs.schedules or []} == {"sync_schedule", "full_refresh_schedule"}
    for job in ("sync", "full_refresh", "plan", "ingest", "validate"):
        assert defs.resolve_job_def(job)


# -- the run-failure sensor and Slack ----------------------------------------------------------


class SlackStub:
    """The slice of the Slack Web API a bot uses to post: chat.postMessage on 127.0.0.1."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.reply: dict[str, Any] = {"ok": True, "channel": "C0REVOPS", "ts": "1700000000.1"}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    body = json.loads(raw or "{}")
                else:
                    body = dict(parse_qsl(raw))
                stub.posts.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), **body}
                )
                payload = json.dumps(stub.reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def slack() -> Iterator[SlackStub]:
    stub = SlackStub()
    yield stub
    stub.close()


@pytest.fixture()
def failed_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> tuple[dg.DagsterInstance, dg.ExecuteInProcessResult]:
    """A real failure: the ingest job with no CRM credentials at all."""
    for name in ("SALESFORCE_USERNAME", "SALESFORCE_INSTANCE_URL", "SALESFORCE_CONSUMER_KEY"):
        monkeypatch.delenv(name, raising=False)
    defs = dg.Definitions(
        assets=[*salesforce_assets, *hubspot_assets],
        jobs=[ingest_job],
        resources=resources(tmp_path),
    )
    result = defs.resolve_job_def("ingest").execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert not result.success
    return instance, result


def evaluate(
    sensor: dg.SensorDefinition,
    instance: dg.DagsterInstance,
    result: dg.ExecuteInProcessResult,
    slack_resource: SlackAlertResource,
) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"slack": slack_resource},
    )
    sensor(context.for_run_failure())  # type: ignore[operator]


def test_a_failed_run_is_posted_to_slack(
    failed_ingest: tuple[dg.DagsterInstance, dg.ExecuteInProcessResult], slack: SlackStub
) -> None:
    instance, result = failed_ingest
    settings = AlertSettings(
        slack=SlackSettings(channel="#revops-alerts"), ui_url="http://dagster.internal:3000/"
    )
    sensor = build_run_failure_sensor(settings)
    assert sensor.name == RUN_FAILURE_SENSOR
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    evaluate(sensor, instance, result, SlackAlertResource(token=TOKEN, base_url=slack.url))

    assert len(slack.posts) == 1
    post = slack.posts[0]
    assert post["path"] == "/api/chat.postMessage"
    assert post["auth"] == f"Bearer {TOKEN}" and post["channel"] == "#revops-alerts"
    text = post["text"]
    assert text.splitlines()[0] == f"acm_sync: job `ingest` failed (run {result.run_id})"
    # Each failed pull step is named with the connector's own explanation.
    for step in ("salesforce_accounts", "salesforce_contacts", "hubspot_companies"):
        assert f"• step `{step}`: " in text
    assert "no Salesforce credentials: set SALESFORCE_USERNAME" in text
    assert "HUBSPOT_ACCESS_TOKEN" in text
    assert text.splitlines()[-1] == f"http://dagster.internal:3000/runs/{result.run_id}"
    assert TOKEN not in text


def test_a_run_stopped_for_the_budget_is_posted_as_budget_spent_not_failed(
    sandbox: SandboxSettings,
    tmp_path: Path,
    slack: SlackStub,
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
) -> None:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    config = write_config(tmp_path, {"sync": {"salesforce": {"budget": {"max_calls_per_run": 1}}}})
    result = dg.materialize(
        salesforce_assets,
        resources={
            **resources(tmp_path),
            "salesforce": SalesforceResource.from_env(sandbox.env()),
            "sync_settings": SyncSettingsResource(config_path=str(config)),
        },
        instance=instance,
    )
    assert result.success  # a clean stop
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    (record,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
    success = record.dagster_event
    assert success is not None
    sensor = build_budget_stop_sensor(AlertSettings(slack=SlackSettings(channel="#revops")))
    assert sensor.name == BUDGET_STOP_SENSOR
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=success,
        dagster_instance=instance,
        dagster_run=run,
        resources={"slack": SlackAlertResource(token=TOKEN, base_url=slack.url)},
    )
    sensor(context)  # type: ignore[operator]
    assert len(slack.posts) == 1
    text = slack.posts[0]["text"]
    first = text.splitlines()[0]
    assert (
        first.startswith("acm_sync: ") and f"stopped, API budget spent (run {run.run_id}" in first
    )
    assert "salesforce: run cap of 1 calls reached" in text and "failed" not in text


def test_without_a_channel_or_a_token_nothing_is_posted(
    failed_ingest: tuple[dg.DagsterInstance, dg.ExecuteInProcessResult], slack: SlackStub
) -> None:
    instance, result = failed_ingest
    no_channel = build_run_failure_sensor(AlertSettings())
    evaluate(no_channel, instance, result, SlackAlertResource(token=TOKEN, base_url=slack.url))
    with_channel = build_run_failure_sensor(AlertSettings(slack=SlackSettings(channel="#x")))
    evaluate(with_channel, instance, result, SlackAlertResource(base_url=slack.url))
    assert slack.posts == []
    off = build_run_failure_sensor(AlertSettings(run_failure=False))
    assert off.default_status == dg.DefaultSensorStatus.STOPPED


def test_slack_refusing_the_post_fails_the_tick_with_its_error_code(
    failed_ingest: tuple[dg.DagsterInstance, dg.ExecuteInProcessResult], slack: SlackStub
) -> None:
    instance, result = failed_ingest
    slack.reply = {"ok": False, "error": "channel_not_found"}
    sensor = build_run_failure_sensor(AlertSettings(slack=SlackSettings(channel="#gone")))
    with pytest.raises(Exception, match="channel_not_found") as error:
        evaluate(sensor, instance, result, SlackAlertResource(token=TOKEN, base_url=slack.url))
    assert TOKEN not in str(error.value)
    assert len(slack.posts) == 1


def test_the_token_comes_from_the_environment_as_an_env_var() -> None:
    assert SlackAlertResource.from_env({}).token == ""
    resource = SlackAlertResource.from_env({"SLACK_BOT_TOKEN": TOKEN})
    assert isinstance(resource.token, dg.EnvVar)
    assert resource.token.env_var_name == "SLACK_BOT_TOKEN"  # a reference, not the value


@dg.asset
def leaky_pull() -> None:
    password = __import__("os").environ["SALESFORCE_PASSWORD"]
    raise RuntimeError(f"login to https://example.my.salesforce.com refused for pw={password}")


def test_secrets_in_an_error_are_masked(
    monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    secret = "Sup3r-S3cret-Passw0rd"
    monkeypatch.setenv("SALESFORCE_PASSWORD", secret)
    result = dg.materialize([leaky_pull], instance=instance, raise_on_error=False)
    context = dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    alert = describe_failure(context)
    assert alert.steps and alert.steps[0][0] == "leaky_pull"
    assert "RuntimeError: login to https://example.my.salesforce.com refused" in alert.text()
    assert secret not in alert.text()


# -- freshness -----------------------------------------------------------------------------------


def test_freshness_checks_fail_stale_pulls_and_alert_through_a_failed_run(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    alerts = build_alerts(AlertSettings(freshness_hours=1))
    checks = alerts.checks
    keys = {k for c in checks for k in c.check_keys}
    assert {k.asset_key.to_user_string() for k in keys} == PULLS | {"hubspot_deal_stage_history"}
    assert build_freshness_checks(AlertSettings(freshness_hours=None)) == []
    defs = dg.Definitions(
        assets=[*salesforce_assets, *hubspot_assets],
        asset_checks=checks,
        sensors=alerts.sensors,
        resources=resources(tmp_path),
    )

    # Nothing pulled yet: "not yet", not stale — the sensor launches no check (no failed run,
    # no alert before anyone has run anything).
    sensor = defs.resolve_sensor_def(FRESHNESS_SENSOR)
    request = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
    assert isinstance(request, dg.SkipReason)

    def run_checks() -> dg.ExecuteInProcessResult:
        job = defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_check_selection=keys, asset_selection=set()
        )
        return job.execute_in_process(instance=instance, raise_on_error=False)

    # Never pulled: every check fails, and so does its run (they block) — an alert.
    stale = run_checks()
    assert not stale.success
    context = dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR,
        dagster_event=stale.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=stale.dagster_run,
    ).for_run_failure()
    alert = describe_failure(context)
    assert {check for check, _ in alert.checks} == {k.to_user_string() for k in keys}
    assert all("never been observed/materialized" in why for _, why in alert.checks)
    assert alert.steps == []  # the wrapper error is not repeated: the checks say it
    assert alert.text().startswith("acm_sync: asset run failed")

    # Pulled just now: every check passes.
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key.asset_key))
    assert run_checks().success

    # Once a pull has run, the sensor asks for its check (here one pulled, never checked yet).
    first = next(iter(sorted(keys, key=lambda k: k.to_user_string())))
    with dg.DagsterInstance.ephemeral() as fresh:
        fresh.report_runless_asset_event(dg.AssetMaterialization(asset_key=first.asset_key))
        request = sensor(dg.build_sensor_context(instance=fresh, definitions=defs))
    assert isinstance(request, dg.RunRequest)
    assert set(request.asset_check_keys or []) == {first}


# -- the code location, through Dagster's CLI ----------------------------------------------------


def _validate(env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "acm_sync.definitions"],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_dagster_definitions_validate_passes() -> None:
    done = _validate()
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_bad_schedule_stops_the_code_location_naming_the_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"schedules": {"sync": {"cron": "*/30 * * *"}}})
    done = _validate({"ACM_SYNC_CONFIG": str(path)})
    assert done.returncode != 0
    assert "acm_sync.yaml: schedules.sync.cron: not a valid cron string" in (
        done.stdout + done.stderr
    )


def test_a_config_error_is_the_first_line_of_a_failed_load(tmp_path: Path) -> None:
    """`dagster job execute` / `definitions validate` print the import traceback: the one-line
    message comes first (not as the last of ~90 lines), without pydantic's own report."""
    path = write_config(tmp_path, "tiers:\n  key_revenue_shar: 0.8\n")
    done = _validate({"ACM_SYNC_CONFIG": str(path)})
    assert done.returncode != 0
    lines = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and "SupersessionWarning" not in line and "return callback" not in line
    ]
    assert lines[0] == (
        "acm_sync: the code location cannot load: acm_sync.yaml: tiers.key_revenue_shar: "
        "unknown key"
    )
    assert "ValidationError" not in done.stdout + done.stderr
