"""Many orgs: N orgs × M accounts synced on 2 Celery workers through Dagster's queue, vs the
same orgs synced one after another in one process — same machine, same run.

    python bench/bench_scale.py [--orgs 10] [--accounts 1000] [--workers 2] [--max-runs 4]

Starts a real PostgreSQL and Redis (Debian's; `make servers` installs them), a Dagster daemon
(deploy/celery/dagster.yaml) and the Celery workers (deploy/celery/celery.yaml), exactly as
`make test-scale` does. Prints: the wall time of each shape (from submitting the backfill to the
last run's end; the one-process runs from the process's start, imports included), the peak
resident memory of each worker (its main process and pool, sampled every 0.5 s), the Postgres
run and event-log row counts, and whether every org got the same owned values both ways.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scale"))

import dagster as dg
from cluster import running_cluster
from many_orgs import (
    CONNECTION_TAG,
    org_names,
    owned_values,
    running_orgs,
    sequential_sync,
    write_work_dir,
)
from servers import postgres_server, redis_server

ENDED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-runs", type=int, default=4)
    args = parser.parse_args()
    names = org_names(args.orgs)

    with tempfile.TemporaryDirectory(prefix="acm-bench-scale-") as tmp:
        root = Path(tmp)
        with postgres_server() as pg, redis_server() as redis_url:
            print(f"one process: {args.orgs} orgs × {args.accounts:,} accounts", flush=True)
            with running_orgs(root / "alone" / "orgs", args.orgs, args.accounts) as orgs:
                sequential = sequential_sync(root / "alone", orgs, root / "alone" / "warehouses")
                alone_values = {org.name: owned_values(org) for org in orgs}
            print(
                f"  {sequential['seconds']} s; now the same orgs (fresh sandboxes, same seeds) "
                f"on {args.workers} Celery workers",
                flush=True,
            )
            with running_orgs(root / "orgs", args.orgs, args.accounts) as orgs:
                env = write_work_dir(root / "work", orgs, root / "warehouses")
                with running_cluster(
                    root / "cluster",
                    root / "work",
                    pg,
                    redis_url,
                    env,
                    workers=args.workers,
                    max_concurrent_runs=args.max_runs,
                ) as cluster:
                    for name, value in {**pg.env(), "DAGSTER_HOME": str(cluster.home)}.items():
                        os.environ[name] = value
                    instance = dg.DagsterInstance.get()
                    began = time.perf_counter()
                    cluster.backfill("sync", names)
                    while True:
                        records = instance.get_run_records(filters=dg.RunsFilter(job_name="sync"))
                        if len(records) >= args.orgs and all(
                            r.dagster_run.status in ENDED for r in records
                        ):
                            break
                        time.sleep(2)
                    distributed = time.perf_counter() - began
                    failed = [
                        r.dagster_run.tags.get(CONNECTION_TAG)
                        for r in records
                        if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS
                    ]
                    runs = pg.query("SELECT count(*) FROM runs")[0][0]
                    events = pg.query("SELECT count(*) FROM event_logs")[0][0]
                    sync_runs = [r.dagster_run.run_id for r in records]
                    sync_events = pg.query(
                        "SELECT count(*) FROM event_logs WHERE run_id = ANY(%s)", (sync_runs,)
                    )[0][0]
                    peaks = [(w.name, w.peak_rss_kb) for w in cluster.workers]
                distributed_values = {org.name: owned_values(org) for org in orgs}

    same = sum(distributed_values[n] == alone_values[n] for n in names)
    written = sum(
        sum(1 for v in distributed_values[n].values() if v.get("ACM_Tier__c") or v.get("acm_tier"))
        for n in names
    )
    print(f"\n{args.orgs} orgs × {args.accounts:,} accounts ({written:,} accounts scored)")
    print(
        f"  {args.workers} Celery workers, ≤{args.max_runs} runs at once: {distributed:7.1f} s"
        + (f"  (failed: {failed})" if failed else "")
    )
    print(
        f"  one process, one org after another:  {sequential['seconds']:7.1f} s  "
        f"(per org: {min(sequential['runs'].values())}–{max(sequential['runs'].values())} s)"
    )
    for name, peak in peaks:
        print(f"  worker {name}: peak RSS {peak / 1024:,.0f} MiB (main process + pool)")
    print(
        f"  Postgres: {runs} runs ({len(sync_runs)} sync), {events:,} event-log rows "
        f"({sync_events:,} of the sync runs)"
    )
    print(f"  owned values identical both ways: {same}/{args.orgs} orgs")


if __name__ == "__main__":
    main()
