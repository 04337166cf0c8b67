"""Ten orgs through Dagster's queue on two Celery workers, on real PostgreSQL and Redis.

`make test-scale`: a Dagster daemon (QueuedRunCoordinator, deploy/celery/dagster.yaml) and two
Celery workers (deploy/celery/celery.yaml) sync 10 sandbox orgs — one connection each, different
seeds — submitted as one backfill of `sync`. While they run, a worker is SIGKILLed (main process
and pool) in the middle of a step; a new worker is started as a supervisor would.

Checked: every connection's run succeeds; each org's owned fields, read back through
simple-salesforce and the HubSpot client, are exactly what a single-org run of the same org (a
fresh sandbox, same seed, in one process) writes; each connection's warehouse holds its own
org's accounts and nothing else; the run records in PostgreSQL show at most one run per
connection (and per CRM org) at a time while runs of different connections overlapped; steps
ran on both workers; the killed step was run again on another worker and its run converged.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import requests
from cluster import Cluster, running_cluster
from many_orgs import (
    CONNECTION_TAG,
    LIMITED_TAGS,
    Org,
    org_names,
    owned_values,
    running_orgs,
    scored,
    warehouse_file,
    write_work_dir,
)
from servers import Postgres, postgres_server, redis_server

pytestmark = [pytest.mark.scale, pytest.mark.timeout(3600)]

N_ORGS = 10
ACCOUNTS = 100  # the generator's smallest org
SAMPLED = 2  # orgs whose values are compared with a single-org run (each costs a fresh sandbox)
ENDED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _instance(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> dg.DagsterInstance:
    for name, value in {**cluster.pg.env(), "DAGSTER_HOME": str(cluster.home)}.items():
        monkeypatch.setenv(name, value)
    return dg.DagsterInstance.get()


def _sync_runs(instance: dg.DagsterInstance) -> list[Any]:
    return list(instance.get_run_records(filters=dg.RunsFilter(job_name="sync")))


def _worker_steps(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str, float]]:
    """(step, worker, when) for each step a Celery worker picked up in the run."""
    out = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.engine_event_data if record.dagster_event else None
        worker = data.metadata.get("Celery worker") if data is not None else None
        if worker is not None and record.step_key:
            out.append((record.step_key, str(worker.value).split("@")[0], record.timestamp))
    return out


# The step a worker is killed in, and the request that holds it up long enough to be killed
# mid-step: each org's first HubSpot companies read answers SLOW_READ_MS late (only the first, so
# the step's rerun elsewhere is not slowed). Without it a 100-account pull can end within the
# 2 s the test waits, and the kill lands between steps (seen in CI).
KILLED_STEP = "hubspot_companies"
SLOW_READ = {
    "kind": "latency",
    "path": r"^/crm/v3/objects/companies(/search)?$",
    "times": 1,
    "latency_ms": 10_000,
}


def _slow_first_companies_read(orgs: list[Org]) -> None:
    for org in orgs:
        response = requests.post(
            f"{org.settings.hubspot_base_url}/__sandbox__/faults", json=SLOW_READ, timeout=10
        )
        response.raise_for_status()


def _succeeded_steps(instance: dg.DagsterInstance, run_id: str) -> set[str | None]:
    return {e.step_key for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)}


def _kill_a_worker_mid_step(
    cluster: Cluster, instance: dg.DagsterInstance, timeout: float = 900
) -> tuple[str, str]:
    """Wait until worker w1 runs KILLED_STEP, SIGKILL it (the whole worker) 2 s in; (run id,
    step). The step must still be running when the worker dies, or the test proves nothing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in _sync_runs(instance):
            run_id = record.dagster_run.run_id
            done = _succeeded_steps(instance, run_id)
            for step, worker, _ in _worker_steps(instance, run_id):
                if worker == "w1" and step == KILLED_STEP and step not in done:
                    time.sleep(2)
                    cluster.kill_worker(cluster.workers[0])
                    assert step not in _succeeded_steps(instance, run_id), (
                        f"{step} ended on w1 before the kill: the kill was not mid-step"
                    )
                    return run_id, step
        time.sleep(0.5)
    raise TimeoutError(f"worker w1 never ran {KILLED_STEP}")


def _wait_for_connections(
    instance: dg.DagsterInstance, names: list[str], timeout: float
) -> list[Any]:
    """Until every connection has a successful sync run and no sync run is pending (a failed
    run's retry is a new run, created a moment after the failure)."""
    deadline = time.monotonic() + timeout
    settled_since: float | None = None
    while time.monotonic() < deadline:
        records = _sync_runs(instance)
        succeeded = {
            r.dagster_run.tags.get(CONNECTION_TAG)
            for r in records
            if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        }
        ended = all(r.dagster_run.status in ENDED for r in records)
        if set(names) <= succeeded and ended:
            return records
        # Everything ended but some connection failed: give a retry a minute to appear.
        settled_since = (settled_since or time.monotonic()) if ended else None
        if settled_since is not None and time.monotonic() - settled_since > 60:
            break
        time.sleep(3)
    states = [(r.dagster_run.tags.get(CONNECTION_TAG), r.dagster_run.status.value) for r in records]
    raise AssertionError(f"not every connection synced: {states}")


def _warehouse_accounts(path: Path) -> set[tuple[str, str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        # The live accounts: deleted and merged-away records stay in the warehouse, flagged.
        rows = con.execute(
            "SELECT account_id, name FROM accounts WHERE NOT coalesce(is_deleted, false) "
            "AND merged_into IS NULL"
        ).fetchall()
    finally:
        con.close()
    return {(str(account_id), str(name)) for account_id, name in rows}


def _crm_accounts(values: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    return {(key, str(v["name"])) for key, v in values.items()}


@pytest.fixture()
def servers() -> Iterator[tuple[Postgres, str]]:
    with postgres_server() as pg, redis_server() as redis_url:
        yield pg, redis_url


def test_ten_orgs_sync_through_the_queue_on_two_celery_workers_and_survive_a_killed_worker(
    tmp_path: Path, servers: tuple[Postgres, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pg, redis_url = servers
    names = org_names(N_ORGS)
    warehouse_root = tmp_path / "warehouses"
    with running_orgs(tmp_path / "orgs", N_ORGS, ACCOUNTS) as orgs:
        env = write_work_dir(tmp_path / "work", orgs, warehouse_root)
        _slow_first_companies_read(orgs)
        with running_cluster(
            tmp_path / "cluster",
            tmp_path / "work",
            pg,
            redis_url,
            env,
            workers=2,
            max_concurrent_runs=3,
            visibility_timeout=90,  # longer than any step of a 100-account org
        ) as cluster:
            instance = _instance(cluster, monkeypatch)
            began = time.perf_counter()
            cluster.backfill("sync", names)
            killed_run, killed_step = _kill_a_worker_mid_step(cluster, instance)
            cluster.start_worker("w3")  # as a supervisor (systemd, Kubernetes) would
            records = _wait_for_connections(instance, names, timeout=2400)
            distributed = time.perf_counter() - began
            steps = {
                r.dagster_run.run_id: _worker_steps(instance, r.dagster_run.run_id) for r in records
            }
            step_events = {
                r.dagster_run.run_id: instance.all_logs(
                    r.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS
                )
                for r in records
            }
            runs_in_pg = pg.query("SELECT count(*) FROM runs")[0][0]
            events_in_pg = pg.query("SELECT count(*) FROM event_logs")[0][0]
        values = {org.name: owned_values(org) for org in orgs}

    # Every connection synced; the runs' tags say which connection and which CRM orgs.
    by_connection: dict[str, list[Any]] = defaultdict(list)
    for record in records:
        by_connection[record.dagster_run.tags[CONNECTION_TAG]].append(record)
    assert sorted(by_connection) == names

    # At most one run per connection, per Salesforce org and per HubSpot portal at a time …
    for tag in LIMITED_TAGS:
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for record in records:
            value = record.dagster_run.tags.get(tag)
            assert value, f"run {record.dagster_run.run_id} has no {tag} tag"
            spans[value].append((record.start_time, record.end_time))
        for value, intervals in spans.items():
            intervals.sort()
            for (_, end), (start, _) in itertools.pairwise(intervals):
                assert start >= end, f"two runs with {tag}={value} overlapped"
    # … while runs of different connections did run at the same time.
    spans_all = sorted((r.start_time, r.end_time) for r in records)
    overlapping = sum(1 for (_, end), (start, _) in itertools.pairwise(spans_all) if start < end)
    assert overlapping >= 1, "no two connections' runs overlapped: nothing ran in parallel"

    # Steps of the connections ran on both (surviving) workers, each worker serving several.
    connections_by_worker: dict[str, set[str]] = defaultdict(set)
    for record in records:
        for _, worker, _ in steps[record.dagster_run.run_id]:
            connections_by_worker[worker].add(record.dagster_run.tags[CONNECTION_TAG])
    assert {"w1", "w2"} <= set(connections_by_worker), connections_by_worker
    assert len(connections_by_worker["w2"]) >= 2 and len(connections_by_worker["w1"]) >= 1

    # The step whose worker was killed ran again elsewhere, and its connection converged.
    killed_connection = next(
        r.dagster_run.tags[CONNECTION_TAG] for r in records if r.dagster_run.run_id == killed_run
    )
    reruns = [
        worker
        for record in by_connection[killed_connection]
        for step, worker, _ in steps[record.dagster_run.run_id]
        if step == killed_step and worker != "w1"
    ]
    assert reruns, f"{killed_step} (on the killed worker) never ran again"
    succeeded_steps = {
        e.step_key
        for record in by_connection[killed_connection]
        for e in step_events[record.dagster_run.run_id]
    }
    assert killed_step in succeeded_steps

    # Each org carries owned values, and each connection's warehouse holds its org's accounts
    # — the very records its CRMs return — and no other org's.
    for org in orgs:
        assert scored(values[org.name]) >= ACCOUNTS // 2, org.name
        own = _crm_accounts(values[org.name])
        stored = _warehouse_accounts(warehouse_file(warehouse_root, org.name))
        # Ids, and names where the warehouse kept one (a blank or odd name is canonicalised to
        # null: the generator's dirty records).
        crm_names = dict(own)
        foreign = {
            (i, n) for i, n in stored if i not in crm_names or n not in ("None", crm_names[i])
        }
        assert not foreign, f"{org.name}: not its org's accounts: {sorted(foreign)[:5]}"
        assert len(stored) >= 0.9 * len(own), f"{org.name}: {len(stored)} of {len(own)}"
        for other in orgs:
            if other.name != org.name:
                assert not stored <= _crm_accounts(values[other.name]) | {
                    (i, "None") for i, _ in _crm_accounts(values[other.name])
                }

    # The values each org got are exactly what a run of that org alone writes: the same org
    # (fresh sandboxes, same seeds), synced one at a time in one process.
    sampled = orgs[:SAMPLED]
    began = time.perf_counter()
    alone = _single_org_values(tmp_path / "alone", sampled)
    alone_seconds = time.perf_counter() - began
    for org in sampled:
        differ = [k for k in values[org.name] if values[org.name][k] != alone[org.name].get(k)]
        assert not differ, f"{org.name}: {len(differ)} accounts differ, e.g. {differ[:3]}"
        assert values[org.name].keys() == alone[org.name].keys()

    print(
        f"\n{N_ORGS} orgs × {ACCOUNTS} accounts on 2 workers: {distributed:.0f} s (backfill to "
        f"last run end, a worker killed); {SAMPLED} of them alone in one process: "
        f"{alone_seconds:.0f} s (with seeding); "
        f"{len(records)} sync runs; Postgres: {runs_in_pg} runs, "
        f"{events_in_pg} events; killed w1 during {killed_step}; workers: "
        + ", ".join(f"{w.name} peak {w.peak_rss_kb / 1024:.0f} MiB" for w in cluster.workers)
    )


def _single_org_values(root: Path, like: list[Org]) -> dict[str, dict[str, dict[str, Any]]]:
    """Fresh sandboxes seeded as `like`, each synced alone, in process; their owned values."""
    from many_orgs import sequential_sync

    with running_orgs(root / "orgs", len(like), ACCOUNTS, first_seed=like[0].seed) as orgs:
        sequential_sync(root, orgs, root / "warehouses")
        return {org.name: owned_values(org) for org in orgs}
