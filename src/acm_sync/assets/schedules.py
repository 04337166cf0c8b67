"""Schedules built from the `schedules` section of acm_sync.yaml when the code location loads.

    sync_schedule          the regular sync (default every 30 minutes)
    full_refresh_schedule  the nightly full refresh (default 03:00 UTC)

Each tick requests one run per connection (a partition of the job, tagged
`acm_sync/connection=<name>`). A connection whose own `schedules:` override gives a job another
cron, time zone or state gets a schedule of its own, `<schedule>__<connection>`; the others share
the one above.

`enabled` is the schedule's default status: RUNNING schedules fire as soon as a Dagster daemon
runs (`make dev` starts one); the UI can still stop or start them, and that choice is kept.
"""

from collections.abc import Iterator, Sequence

import dagster as dg

from acm_sync.assets.connections import connection_tags
from acm_sync.config import DEFAULT_CONNECTION, AcmSyncConfig
from acm_sync.operations import JobSchedule, ScheduleSettings

JOBS = {"sync": "The regular sync", "full_refresh": "The nightly full refresh"}


def _schedule(
    name: str, job: str, settings: JobSchedule, what: str, connections: Sequence[str] | None
) -> dg.ScheduleDefinition:
    """`connections` None: the unpartitioned single-org job (one run a tick)."""

    def run_per_connection(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        if connections is None:
            yield dg.RunRequest(tags=connection_tags(DEFAULT_CONNECTION))
            return
        tick = context.scheduled_execution_time
        for connection in connections:
            yield dg.RunRequest(
                # one run per connection and tick (a tick evaluated again requests none twice)
                run_key=f"{connection}@{tick.isoformat()}",
                partition_key=connection,
                tags=connection_tags(connection),
            )

    served = ", ".join(connections) if connections is not None else DEFAULT_CONNECTION
    return dg.ScheduleDefinition(
        name=name,
        job_name=job,
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        execution_fn=run_per_connection,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING
            if settings.enabled
            else dg.DefaultScheduleStatus.STOPPED
        ),
        description=f"{what} (acm_sync.yaml: schedules.{job}: {settings.cron} "
        f"{settings.timezone}), one run per connection: {served}.",
    )


def build_schedules(
    settings: ScheduleSettings, config: AcmSyncConfig | None = None
) -> list[dg.ScheduleDefinition]:
    """The schedules of `settings` (the top-level section) for the connections `config` lists
    (none: the one unpartitioned `default` connection)."""
    if config is None or not config.connections:
        return [
            _schedule(f"{job}_schedule", job, getattr(settings, job), what, None)
            for job, what in JOBS.items()
        ]
    schedules = []
    for job, what in JOBS.items():
        shared: JobSchedule = getattr(settings, job)
        common: list[str] = []
        for name in config.connection_names():
            own: JobSchedule = getattr(config.for_connection(name).schedules, job)
            if own == shared:
                common.append(name)
            else:
                schedules.append(_schedule(f"{job}_schedule__{name}", job, own, what, [name]))
        if common:
            schedules.append(_schedule(f"{job}_schedule", job, shared, what, common))
    return schedules
