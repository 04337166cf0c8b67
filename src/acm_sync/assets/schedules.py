"""Schedules built from the `schedules` section of acm_sync.yaml when the code location loads.

    sync_schedule          the regular sync (default every 30 minutes)
    full_refresh_schedule  the nightly full refresh (default 03:00 UTC)

`enabled` is the schedule's default status: RUNNING schedules fire as soon as a Dagster daemon
runs (`make dev` starts one); the UI can still stop or start them, and that choice is kept.
"""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from acm_sync.assets.jobs import full_refresh_job, sync_job
from acm_sync.schedules_and_alerts import JobSchedule, ScheduleSettings


def _schedule(
    name: str, job: UnresolvedAssetJobDefinition, settings: JobSchedule, what: str
) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=name,
        job=job,
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING
            if settings.enabled
            else dg.DefaultScheduleStatus.STOPPED
        ),
        description=f"{what} (acm_sync.yaml: schedules.{job.name}: {settings.cron} "
        f"{settings.timezone}).",
    )


def build_schedules(settings: ScheduleSettings) -> list[dg.ScheduleDefinition]:
    return [
        _schedule("sync_schedule", sync_job, settings.sync, "The regular sync"),
        _schedule(
            "full_refresh_schedule",
            full_refresh_job,
            settings.full_refresh,
            "The nightly full refresh",
        ),
    ]
