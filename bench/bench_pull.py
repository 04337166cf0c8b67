"""Full pulls of a large sandbox org through the connectors: calls, seconds, rows/s, peak MB.

    .venv/bin/python bench/bench_pull.py --accounts 100000   # ≈ 1M contacts, 500k opps
    .venv/bin/python bench/bench_pull.py --accounts 10000 --data-dir /tmp/org10k  # reuse an org

Starts `acm-sync sandbox serve` as a child process (a new data directory is generated first;
an existing one is served as it is), then pulls every object in full into a fresh DuckDB
warehouse exactly as the assets do — Salesforce over REST or one Bulk API 2.0 job above the
threshold, HubSpot over the list endpoint — then once more incrementally (nothing changed).
Calls come from the sandbox's own call log, peak MB is this process's resident memory sampled
while the object was pulled.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from acm_sync.connectors.common import PullResult
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.hubspot_pull import HS_OBJECTS, pull_hubspot
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.connectors.salesforce_pull import SF_OBJECTS, pull_salesforce
from acm_sync.connectors.settings import HubSpotSync, SalesforceSync
from acm_sync.sandbox.process import SandboxProcess
from acm_sync.warehouse import Warehouse


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def peak_rss() -> Iterator[list[float]]:
    """Samples this process's RSS every 20 ms; yields [peak] (filled on exit)."""
    peak = [_rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb())
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()
        peak[0] = max(peak[0], _rss_mb())


class Calls:
    def __init__(self, base_url: str, verify: str | bool = True) -> None:
        self.url = base_url.rstrip("/") + "/__sandbox__/calls"
        self.http = requests.Session()
        self.http.verify = verify
        self.http.trust_env = False

    def reset(self) -> None:
        self.http.delete(self.url, timeout=30).raise_for_status()

    def total(self) -> int:
        return int(self.http.get(self.url, timeout=30).json()["total"])


def measure(
    name: str, calls: Calls, pull: Callable[[], PullResult], minimum: Callable[[int], str]
) -> dict[str, Any]:
    calls.reset()
    with peak_rss() as peak:
        started = time.perf_counter()
        result = pull()
        seconds = time.perf_counter() - started
    n = result.rows_pulled
    return {
        "pull": name,
        "mode": f"{result.mode}/{result.strategy}",
        "rows": n,
        "calls": calls.total(),
        "minimum": minimum(n),
        "seconds": round(seconds, 2),
        "rows_per_s": round(n / seconds) if seconds else 0,
        "peak_mb": round(peak[0]),
        "complete": result.complete,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--bulk-threshold", type=int, default=SalesforceSync().bulk_threshold)
    parser.add_argument("--skip-hubspot", action="store_true")
    parser.add_argument("--skip-salesforce", action="store_true")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-pull-"))
    started = time.perf_counter()
    with SandboxProcess(
        data_dir, accounts=args.accounts, seed=args.seed, daily_api_limit=50_000_000
    ) as sandbox:
        print(f"sandbox up in {time.perf_counter() - started:.1f}s ({data_dir})")
        env = sandbox.env()
        wh = Warehouse(Path(tempfile.mkdtemp(prefix="bench-wh-")) / "warehouse.duckdb")
        rows: list[dict[str, Any]] = []

        if not args.skip_salesforce:
            sf_settings = SalesforceSync(bulk_threshold=args.bulk_threshold, bulk_poll_seconds=0.2)
            sf = SalesforceResource(
                username=env["SALESFORCE_USERNAME"],
                password=env["SALESFORCE_PASSWORD"],
                security_token=env["SALESFORCE_SECURITY_TOKEN"],
                domain=env["SALESFORCE_DOMAIN"],
                login_url=env["SALESFORCE_LOGIN_URL"],
                ca_bundle=env["SALESFORCE_CA_BUNDLE"],
            ).connect()
            sf_calls = Calls(env["SALESFORCE_LOGIN_URL"], env["SALESFORCE_CA_BUNDLE"])
            for mode in ("full", "incremental"):
                for table, spec in SF_OBJECTS.items():

                    def sf_pull(t: str = table, m: str = mode) -> PullResult:
                        return pull_salesforce(sf, wh, sf_settings, t, run_id=m)

                    def sf_minimum(n: int, m: str = mode) -> str:
                        return "1" if m == "incremental" else f"{math.ceil(n / 2000)} REST / 1 Bulk"

                    rows.append(
                        measure(f"salesforce {spec.name} ({mode})", sf_calls, sf_pull, sf_minimum)
                    )
                    print_table(rows[-1:])

        if not args.skip_hubspot:
            hs_settings = HubSpotSync()
            hs = HubSpotResource(
                access_token=env["HUBSPOT_ACCESS_TOKEN"], base_url=env["HUBSPOT_BASE_URL"]
            ).connect(settings=hs_settings)
            hs_calls = Calls(env["HUBSPOT_BASE_URL"])
            for mode in ("full", "incremental"):
                for table, hs_spec in HS_OBJECTS.items():

                    def hs_pull(t: str = table, m: str = mode) -> PullResult:
                        return pull_hubspot(hs, wh, hs_settings, t, run_id=m)

                    def hs_minimum(
                        n: int, m: str = mode, p: int = 50 if hs_spec.history else 100
                    ) -> str:
                        return "1" if m == "incremental" else f"{math.ceil(n / p)} (+archived)"

                    rows.append(
                        measure(f"hubspot {hs_spec.name} ({mode})", hs_calls, hs_pull, hs_minimum)
                    )
                    print_table(rows[-1:])

        print()
        print_table(rows)
        print(f"\nwarehouse: {wh.path} ({wh.path.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
