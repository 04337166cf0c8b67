"""A run whose process is SIGKILLed is marked failed by Dagster's run monitoring (the daemon),
with the instance config `make dev` installs (deploy/dagster.yaml: LocalRunLauncher + run
monitoring); only the poll interval is shortened for the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JOB = """
import time
import dagster as dg

@dg.op
def wait_a_while() -> None:
    time.sleep(300)

@dg.job
def slow():
    wait_a_while()

defs = dg.Definitions(jobs=[slow])
"""


def test_the_shipped_instance_config_turns_run_monitoring_on() -> None:
    config = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    assert config["telemetry"] == {"enabled": False}
    assert config["run_launcher"] == {
        "module": "acm_sync.run_launcher",
        "class": "LocalRunLauncher",
    }
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_monitoring"]["poll_interval_seconds"] <= 120  # "within minutes"
    assert "deploy/dagster.yaml" in (REPO / "scripts" / "dev.sh").read_text()


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    config = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    config["run_monitoring"]["poll_interval_seconds"] = 1
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "slow_job.py").write_text(JOB)
    return tmp_path


def _spawn(args: list[str], home: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        cwd=home,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, killed as a whole
    )


@pytest.fixture()
def instance(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as inst:
        yield inst


def _wait(what: str, seconds: float, ready: object) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.ops
def test_a_sigkilled_run_is_marked_failed_by_run_monitoring(
    home: Path, instance: dg.DagsterInstance
) -> None:
    from acm_sync.run_launcher import worker_pid

    run = _spawn([str(BIN / "dagster"), "job", "execute", "-f", "slow_job.py", "-j", "slow"], home)
    daemon = None
    try:

        def started() -> bool:
            runs = instance.get_runs()
            return bool(runs) and worker_pid(instance, runs[0].run_id) is not None

        _wait("the run to start", 120, started)
        (dagster_run,) = instance.get_runs()
        assert dagster_run.status == dg.DagsterRunStatus.STARTED
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        time.sleep(1)
        stuck = instance.get_run_by_id(dagster_run.run_id)
        assert stuck is not None and stuck.status == dg.DagsterRunStatus.STARTED  # no one knows

        daemon = _spawn([str(BIN / "dagster-daemon"), "run", "-f", "slow_job.py"], home)

        def failed() -> bool:
            now = instance.get_run_by_id(dagster_run.run_id)
            return now is not None and now.status == dg.DagsterRunStatus.FAILURE

        _wait("run monitoring to mark the run failed", 120, failed)
        events = instance.all_logs(dagster_run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert events and "worker process (pid" in (events[-1].dagster_event.message or "")
    finally:
        for proc in (run, daemon):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
