"""The `schedules` and `alerts` sections of acm_sync.yaml: when the jobs run, who hears of failures.

    schedules:
      sync:         {cron: "*/30 * * * *", enabled: true, timezone: UTC}   # the regular sync
      full_refresh: {cron: "0 3 * * *",    enabled: true, timezone: UTC}   # nightly re-read
    alerts:
      run_failure: true        # the run-failure sensor (logs every failed run; Slack if set up)
      freshness_hours: 2       # a pull older than this fails its freshness check (null = off)
      slack: {channel: null}   # e.g. "#revops-alerts"; posts need SLACK_BOT_TOKEN

Read when the code location loads (schedules and sensors are built from it), so a bad cron
string or an unknown key stops the load with `acm_sync.yaml: schedules.sync.cron: …`.

Cron strings are checked with Dagster's own rule (what a ScheduleDefinition accepts). Dagster is
imported only when a cron string from a file is checked: importing `acm_sync.config` (as the
pure scoring code does) stays Dagster-free.
"""

from __future__ import annotations

from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

SLACK_TOKEN_ENV: Final = "SLACK_BOT_TOKEN"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class JobSchedule(_Section):
    """One job's schedule."""

    cron: str = Field(description="Standard five-field cron string, e.g. '*/30 * * * *'.")
    enabled: bool = Field(
        default=True,
        description="Whether the schedule starts running when the code location loads "
        "(it can still be switched on or off in the Dagster UI).",
    )
    timezone: str = Field(default="UTC", description="IANA time zone the cron is read in.")

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(value):
            raise PydanticCustomError(
                "cron",
                "not a valid cron string '{cron}' (five fields: minute hour day-of-month "
                "month day-of-week, e.g. '*/30 * * * *')",
                {"cron": value},
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone",
                "unknown time zone '{tz}' (an IANA name such as UTC or Europe/Berlin)",
                {"tz": value},
            ) from None
        return value


def _default(cron: str) -> JobSchedule:
    # Built without validation (no Dagster import at config import); the test suite checks
    # that every default validates.
    return JobSchedule.model_construct(cron=cron, enabled=True, timezone="UTC")


class ScheduleSettings(_Section):
    """When the jobs run (section `schedules`)."""

    sync: JobSchedule = Field(
        default_factory=lambda: _default("*/30 * * * *"),
        description="The regular sync (pull → validate → score → plan → write).",
    )
    full_refresh: JobSchedule = Field(
        default_factory=lambda: _default("0 3 * * *"),
        description="The nightly full refresh (re-reads both CRMs, then the same steps).",
    )


class SlackSettings(_Section):
    channel: str | None = Field(
        default=None,
        description=f"Channel failed runs are posted to (e.g. '#revops-alerts'); needs "
        f"{SLACK_TOKEN_ENV} (a bot token with chat:write) in the environment. null = no posts.",
    )


class AlertSettings(_Section):
    """Who hears of failures (section `alerts`)."""

    run_failure: bool = Field(
        default=True,
        description="Run the run-failure sensor from load (it logs every failed run and posts it "
        "to Slack when slack.channel is set).",
    )
    freshness_hours: Annotated[float, Field(gt=0)] | None = Field(
        default=2.0,
        description="A pull asset not updated for this many hours fails its freshness check "
        "(null = no freshness checks).",
    )
    slack: SlackSettings = SlackSettings()
    ui_url: str | None = Field(
        default=None,
        description="Address of the Dagster UI (e.g. http://dagster.internal:3000), to link "
        "each alert to its run. null = no link.",
    )
