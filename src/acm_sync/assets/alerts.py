"""Alerts: a run-failure sensor (log + Slack) and freshness checks on the pulls, with their sensor.

    run_failure_alert   every failed run of this code location: job, run id, the failed steps
                        and their errors, the failed checks (secrets masked) → the sensor log, and
                        Slack when `alerts.slack.channel` is set and SLACK_BOT_TOKEN is present.
    budget_stop_alert   every run that stopped because an API budget was spent (a clean stop,
                        not a failure: tagged `acm_sync/stopped: budget`, see assets/budget.py)
                        → "budget spent", with the steps and reasons, the same way.
    freshness checks    one per pull asset: it fails when the asset was not updated within
                        `alerts.freshness_hours`. Blocking, so a failed check fails its run and
                        reaches Slack through the sensor above.
    freshness_checks_sensor  launches the freshness checks when they may have become overdue.

Volume (a truncated pull) is a blocking gate of the quality assets; it is not repeated here.
Built from acm_sync.yaml when the code location loads (`build_alerts`).
"""

import datetime
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import dagster as dg
from dagster_slack import SlackResource
from pydantic import Field
from slack_sdk.errors import SlackApiError
from slack_sdk.web.client import WebClient

from acm_sync.assets.budget import (
    BUDGET,
    STOPPED_REASON_TAG,
    STOPPED_STEPS_TAG,
    STOPPED_TAG,
)
from acm_sync.assets.jobs import pull_asset_keys
from acm_sync.connectors.common import scrub
from acm_sync.schedules_and_alerts import SLACK_TOKEN_ENV, AlertSettings

RUN_FAILURE_SENSOR = "run_failure_alert"
BUDGET_STOP_SENSOR = "budget_stop_alert"
FRESHNESS_SENSOR = "freshness_checks_sensor"
# Values never to appear in an alert, whatever an error message happens to quote.
SECRET_ENV_VARS = (
    "SALESFORCE_PASSWORD",
    "SALESFORCE_SECURITY_TOKEN",
    "SALESFORCE_ACCESS_TOKEN",
    "SALESFORCE_CONSUMER_SECRET",
    "SALESFORCE_REFRESH_TOKEN",
    "HUBSPOT_ACCESS_TOKEN",
    SLACK_TOKEN_ENV,
)
MAX_ERROR_CHARS = 600


class SlackAlertResource(SlackResource):
    """dagster-slack's Slack resource, with the token optional (none: nothing is posted) and
    the Web API root configurable (GovSlack, or a local stand-in in tests)."""

    token: str = Field(
        default="",
        description=f"Bot token with chat:write; from {SLACK_TOKEN_ENV} (dagster.EnvVar).",
    )
    base_url: str = Field(default=WebClient.BASE_URL, description="Slack Web API root.")

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "SlackAlertResource":
        """An EnvVar reference to the token when SLACK_BOT_TOKEN is set; else no token."""
        environ = os.environ if environ is None else environ
        if environ.get(SLACK_TOKEN_ENV):
            return cls(token=dg.EnvVar(SLACK_TOKEN_ENV))
        return cls()

    def get_client(self) -> WebClient:
        client = super().get_client()
        client.base_url = self.base_url
        return client


# -- what failed ---------------------------------------------------------------------------


@dataclass
class FailureAlert:
    """One failed run, as the log line and the Slack message tell it."""

    job: str
    run_id: str
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, error)
    checks: list[tuple[str, str]] = field(default_factory=list)  # (check, why it failed)
    run_error: str = ""  # when no step failed (e.g. the run could not start)
    launched_by: str | None = None  # the schedule or sensor that launched the run
    ui_url: str | None = None

    def text(self) -> str:
        # Runs launched from the asset graph (e.g. the freshness checks) have no job of ours.
        job = "asset run" if self.job.startswith("__ASSET_JOB") else f"job `{self.job}`"
        by = f", launched by {self.launched_by}" if self.launched_by else ""
        lines = [f"acm_sync: {job} failed (run {self.run_id}{by})"]
        lines += [f"• step `{step}`: {error}" for step, error in self.steps]
        lines += [f"• check `{check}` failed: {why}" for check, why in self.checks]
        if not self.steps and self.run_error:
            lines.append(f"• {self.run_error}")
        if self.ui_url:
            lines.append(f"{self.ui_url.rstrip('/')}/runs/{self.run_id}")
        return "\n".join(lines)


def _secrets(environ: Mapping[str, str]) -> list[str]:
    return [environ[name] for name in SECRET_ENV_VARS if environ.get(name)]


def _clean(message: str, secrets: Sequence[str]) -> str:
    text = " ".join(scrub(message, secrets).split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


class _ErrorInfo(Protocol):
    """What _root_message reads of Dagster's serialized error (SerializableErrorInfo, which
    dagster does not export)."""

    @property
    def message(self) -> str: ...

    @property
    def cause(self) -> "_ErrorInfo | None": ...


def _root_message(error: _ErrorInfo) -> str:
    """The user's error, not Dagster's wrapper around it."""
    while error.cause is not None:
        error = error.cause
    return error.message


def describe_failure(
    context: dg.RunFailureSensorContext,
    ui_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> FailureAlert:
    secrets = _secrets(os.environ if environ is None else environ)
    run = context.dagster_run
    alert = FailureAlert(
        job=run.job_name,
        run_id=run.run_id,
        launched_by=run.tags.get("dagster/schedule_name") or run.tags.get("dagster/sensor_name"),
        ui_url=ui_url,
    )
    records = context.instance.all_logs(
        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    )
    for record in records:
        dagster_event = record.dagster_event
        if dagster_event is None:
            continue
        evaluation = dagster_event.event_specific_data
        if isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed:
            key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            alert.checks.append((key, _clean(evaluation.description or "failed", secrets)))
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            message = data.user_failure_data.description  # dg.Failure: our own words
        elif data.error is not None:
            if data.error.cls_name == "DagsterAssetCheckFailedError" and alert.checks:
                continue  # the failed checks are listed one by one, with their reasons
            message = _root_message(data.error)
        else:
            message = event.message or "failed"
        alert.steps.append((event.step_key or "?", _clean(message, secrets)))
    failure = context.failure_event
    if failure.message:
        alert.run_error = _clean(failure.message, secrets)
    return alert


def _slack_target(channel: str | None) -> str:
    """The end of an alert sensor's description: where it posts, and when."""
    where = f"channel {channel}" if channel else "(alerts.slack.channel: not set)"
    return f"{where} when {SLACK_TOKEN_ENV} is set."


def _sensor_status(settings: AlertSettings) -> dg.DefaultSensorStatus:
    """Both alert sensors run when alerts.run_failure is on."""
    return (
        dg.DefaultSensorStatus.RUNNING if settings.run_failure else dg.DefaultSensorStatus.STOPPED
    )


def build_run_failure_sensor(settings: AlertSettings) -> dg.SensorDefinition:
    """The run-failure sensor: logs every failed run and posts it to Slack when configured."""
    channel = settings.slack.channel

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        description="Logs every failed run of this code location (job, run id, failed steps and "
        "checks, errors with secrets masked) and posts it to Slack " + _slack_target(channel),
        default_status=_sensor_status(settings),
    )
    def run_failure_alert(context: dg.RunFailureSensorContext, slack: SlackAlertResource) -> None:
        alert = describe_failure(context, ui_url=settings.ui_url)
        text = alert.text()
        context.log.error(text)
        _post(context, slack, channel, text, alert.run_id)

    return run_failure_alert


def _post(
    context: dg.RunStatusSensorContext,
    slack: SlackAlertResource,
    channel: str | None,
    text: str,
    run_id: str,
) -> None:
    if not channel:
        return
    if not slack.token:
        context.log.warning(
            f"alerts.slack.channel is {channel} but {SLACK_TOKEN_ENV} is not set: not posted"
        )
        return
    try:
        slack.get_client().chat_postMessage(channel=channel, text=text, mrkdwn=True)
    except SlackApiError as exc:
        # The tick fails (and is retried); Slack's error code, never the token.
        raise RuntimeError(
            f"Slack refused the alert for run {run_id} in {channel}: "
            f"{exc.response.get('error', exc.response.status_code)}"
        ) from None
    context.log.info(f"posted to Slack {channel}")


def budget_stop_text(run: dg.DagsterRun, ui_url: str | None = None) -> str | None:
    """The alert for a run that stopped on a spent API budget (None for any other run)."""
    if run.tags.get(STOPPED_TAG) != BUDGET:
        return None
    job = "asset run" if run.job_name.startswith("__ASSET_JOB") else f"job `{run.job_name}`"
    launched = run.tags.get("dagster/schedule_name") or run.tags.get("dagster/sensor_name")
    by = f", launched by {launched}" if launched else ""
    lines = [
        f"acm_sync: {job} stopped, API budget spent (run {run.run_id}{by}). Not a failure: "
        "what ran is kept and the next run resumes."
    ]
    lines += [
        f"• {reason}" for reason in run.tags.get(STOPPED_REASON_TAG, "").split("; ") if reason
    ]
    steps = run.tags.get(STOPPED_STEPS_TAG, "")
    if steps:
        lines.append(f"• stopped at: {steps.replace(',', ', ')}; the steps after them skipped")
    if ui_url:
        lines.append(f"{ui_url.rstrip('/')}/runs/{run.run_id}")
    return "\n".join(lines)


def build_budget_stop_sensor(settings: AlertSettings) -> dg.SensorDefinition:
    """Reports runs that stopped cleanly on a spent API budget: "budget spent", not "failed"."""
    channel = settings.slack.channel

    @dg.run_status_sensor(
        name=BUDGET_STOP_SENSOR,
        run_status=dg.DagsterRunStatus.SUCCESS,
        description="Logs every run that stopped because a CRM's API budget was spent (a clean "
        "stop: the run succeeds, the steps after the stop are skipped, the next run resumes) "
        "as 'budget spent', and posts it to Slack " + _slack_target(channel),
        default_status=_sensor_status(settings),
    )
    def budget_stop_alert(context: dg.RunStatusSensorContext, slack: SlackAlertResource) -> None:
        text = budget_stop_text(context.dagster_run, settings.ui_url)
        if text is None:
            return
        context.log.warning(text)
        _post(context, slack, channel, text, context.dagster_run.run_id)

    return budget_stop_alert


# -- freshness ---------------------------------------------------------------------------------


def build_freshness_checks(settings: AlertSettings) -> list[dg.AssetChecksDefinition]:
    """One freshness check per pull asset (none when alerts.freshness_hours is null)."""
    if settings.freshness_hours is None:
        return []
    # Dagster marks these factories superseded by FreshnessPolicy, whose evaluation needs the
    # opt-in freshness daemon and raises nothing a failure alert could carry; the checks do.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return list(
            dg.build_last_update_freshness_checks(
                assets=pull_asset_keys(),
                lower_bound_delta=datetime.timedelta(hours=settings.freshness_hours),
                severity=dg.AssetCheckSeverity.ERROR,
                blocking=True,
            )
        )


def build_freshness_sensor(
    checks: Sequence[dg.AssetChecksDefinition],
) -> dg.SensorDefinition | None:
    if not checks:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        overdue = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name=f"{FRESHNESS_SENSOR}_inner",
            minimum_interval_seconds=60,
        )

    @dg.sensor(
        name=FRESHNESS_SENSOR,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=dg.AssetSelection.checks(*checks),
        description="Launches the pulls' freshness checks when they may have become overdue — "
        "only for pulls that have run at least once: never pulled is 'not yet', not 'stale'.",
    )
    def freshness_checks_sensor(
        context: dg.SensorEvaluationContext,
    ) -> dg.RunRequest | dg.SkipReason:
        asked = overdue(context)
        if not isinstance(asked, dg.RunRequest):
            return asked if isinstance(asked, dg.SkipReason) else dg.SkipReason("nothing due")
        pulled = [
            key
            for key in asked.asset_check_keys or []
            if context.instance.get_latest_materialization_event(key.asset_key) is not None
        ]
        if not pulled:
            return dg.SkipReason("the pulls due a check have never run: not stale yet")
        return dg.RunRequest(asset_check_keys=pulled)

    return freshness_checks_sensor


@dataclass
class Alerts:
    checks: list[dg.AssetChecksDefinition]
    sensors: list[dg.SensorDefinition]


def build_alerts(settings: AlertSettings) -> Alerts:
    checks = build_freshness_checks(settings)
    freshness = build_freshness_sensor(checks)
    sensors = [build_run_failure_sensor(settings), build_budget_stop_sensor(settings)]
    if freshness is not None:
        sensors.append(freshness)
    return Alerts(checks=checks, sensors=sensors)
