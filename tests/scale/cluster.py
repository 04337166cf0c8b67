"""A one-machine Dagster deployment for many orgs, as README "Running many orgs" describes it:
the instance in PostgreSQL (deploy/celery/dagster.yaml), a Dagster daemon dequeuing runs under
the queue's concurrency rules, and Celery workers (deploy/celery/celery.yaml) over Redis running
the steps. Used by the scale test and by bench/bench_scale.py.

Every process runs in its own process group (a worker is killed as a whole: its main process and
its pool), with its output in a log file under the cluster's directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from servers import Postgres

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEFS_MODULE = "acm_sync.definitions"


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # field 5 of stat: the process group
                pids.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    peak_rss_kb: int = 0

    def sample(self) -> None:
        if self.proc.poll() is None:
            total = sum(_rss_kb(pid) for pid in _group_pids(self.proc.pid))
            self.peak_rss_kb = max(self.peak_rss_kb, total)


@dataclass
class Cluster:
    root: Path
    work_dir: Path  # the code location's working directory: acm_sync.yaml, expectations/
    pg: Postgres
    redis_url: str
    env_extra: dict[str, str]
    workers: list[Worker] = field(default_factory=list)
    daemon: subprocess.Popen[bytes] | None = None
    _stop_sampling: threading.Event = field(default_factory=threading.Event)

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.pg.env(),
            **self.env_extra,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # celery, dagster
            "DAGSTER_HOME": str(self.home),
            "ACM_SYNC_EXECUTOR": "celery",
            # The daemon's calls to the code server (launching a run) wait longer than the
            # default 60 s: on a loaded small machine, several runs starting at once take that.
            "DAGSTER_GRPC_TIMEOUT_SECONDS": "600",
            "ACM_CELERY_BROKER_URL": f"{self.redis_url}/0",
            "ACM_CELERY_BACKEND_URL": f"{self.redis_url}/1",
        }

    def write_configs(self, *, max_concurrent_runs: int, visibility_timeout: int) -> None:
        """The shipped configs, with only the polling / timeouts shortened for a test."""
        self.home.mkdir(parents=True, exist_ok=True)
        instance = yaml.safe_load((REPO / "deploy" / "celery" / "dagster.yaml").read_text())
        instance["run_coordinator"]["config"]["max_concurrent_runs"] = max_concurrent_runs
        instance["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1
        instance["run_monitoring"]["poll_interval_seconds"] = 5
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(instance))
        celery = yaml.safe_load((REPO / "deploy" / "celery" / "celery.yaml").read_text())
        options = celery["execution"]["config"]["config_source"]["broker_transport_options"]
        options["visibility_timeout"] = visibility_timeout
        options["unacked_restore_interval"] = 2
        (self.root / "celery.yaml").write_text(yaml.safe_dump(celery))

    def _spawn(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        return subprocess.Popen(
            list(args),
            cwd=self.work_dir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_daemon(self) -> None:
        self.daemon = self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-m", DEFS_MODULE])

    def start_worker(self, name: str) -> Worker:
        proc = self._spawn(
            f"worker-{name}",
            [
                str(BIN / "dagster-celery"), "worker", "start",
                "-y", str(self.root / "celery.yaml"),
                "-A", "dagster_celery.app", "-q", "dagster", "-n", name,
                "-i", DEFS_MODULE,  # loaded once, before the pool forks: no load per step
                "--", "--concurrency=1",
            ],
        )  # fmt: skip
        worker = Worker(name, proc)
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: Worker) -> None:
        """SIGKILL the worker's whole process group: its main process and the step it runs."""
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()

    def start_sampling(self) -> None:
        def loop() -> None:
            while not self._stop_sampling.wait(0.5):
                for worker in self.workers:
                    worker.sample()

        threading.Thread(target=loop, daemon=True).start()

    def backfill(self, job: str, partitions: Sequence[str]) -> None:
        """Submit one run per partition through the queue (`dagster job backfill`)."""
        subprocess.run(
            [
                str(BIN / "dagster"), "job", "backfill", "-m", DEFS_MODULE, "-j", job,
                "--partitions", ",".join(partitions), "--noprompt",
            ],
            cwd=self.work_dir, env=self.env, check=True, capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        self._stop_sampling.set()
        procs = [w.proc for w in self.workers] + ([self.daemon] if self.daemon else [])
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # Run processes and code servers the daemon launched that outlived it (twice: a process
        # may have been starting one as it stopped).
        for _ in range(2):
            for pid in _orphan_run_pids(self.home):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(1)


def _orphan_run_pids(home: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if int(entry.name) != os.getpid() and f"DAGSTER_HOME={home}".encode() in environ.split(
            b"\0"
        ):
            pids.append(int(entry.name))
    return pids


@contextmanager
def running_cluster(
    root: Path,
    work_dir: Path,
    pg: Postgres,
    redis_url: str,
    env: dict[str, str],
    *,
    workers: int = 2,
    max_concurrent_runs: int = 4,
    visibility_timeout: int = 3600,
) -> Iterator[Cluster]:
    cluster = Cluster(root, work_dir, pg, redis_url, env)
    cluster.write_configs(
        max_concurrent_runs=max_concurrent_runs, visibility_timeout=visibility_timeout
    )
    try:
        for i in range(workers):
            cluster.start_worker(f"w{i + 1}")
        cluster.start_daemon()
        cluster.start_sampling()
        yield cluster
    finally:
        cluster.stop()


def wait_for_runs(instance: Any, count: int, timeout: float, on_tick: Any = None) -> list[Any]:
    """Wait until `count` runs exist and all have ended; returns them."""
    import dagster as dg

    ended = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        if on_tick is not None:
            on_tick(runs)
        if len(runs) >= count and all(r.status in ended for r in runs):
            return list(runs)
        time.sleep(2)
    raise TimeoutError(
        f"runs not done after {timeout:.0f}s: "
        + ", ".join(f"{r.run_id[:8]}={r.status.value}" for r in instance.get_runs())
    )
