"""Dagster's local run launcher, with the run-worker health check Dagster's run monitoring needs.

Dagster's run monitoring (the daemon, `run_monitoring:` in dagster.yaml) marks a run failed when
its launcher reports the run's worker dead. The stock `DefaultRunLauncher` — every run a process
on this machine, as `dagster dev` and a one-host deployment run them — reports nothing, so a run
whose process was killed (SIGKILL, an OOM kill, a reboot) stays STARTED forever. This launcher
is the same launcher plus that check: the run's worker is the process id the run logged when it
started ("Started process for run (pid: …)" / "Executing steps in process (pid: …)"); a pid that
no longer exists, or is a zombie, is a dead worker. The daemon then marks the run failed, and the
run-failure sensor alerts.

Use it only where the daemon runs on the same host as the runs (the pid means nothing elsewhere):

    run_launcher:
      module: acm_sync.run_launcher
      class: LocalRunLauncher
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's worker process: the first engine event of the run that names one."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.engine_event_data if event is not None else None
        pid = data.metadata.get("pid") if data is not None and data.metadata else None
        if pid is not None and str(pid.value).isdigit():
            return int(str(pid.value))
    return None


def process_alive(pid: int) -> bool:
    """The process exists and is not a zombie (killed, not yet reaped by its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): existence is all we can tell
    return state not in ("Z", "X")


class LocalRunLauncher(dg.DefaultRunLauncher):
    """`DefaultRunLauncher` that tells Dagster's run monitoring whether a run's process lives."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        pid = worker_pid(self._instance, run.run_id)
        if pid is None:  # not logged yet: nothing to judge by, so not dead
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker pid logged yet")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker pid {pid} is running")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's worker process (pid {pid}) is gone: killed or crashed without "
            "reporting an end",
        )
