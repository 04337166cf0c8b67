"""How fast the sandbox serves full pulls to the real clients, and how much memory it takes.

    .venv/bin/python bench/bench_sandbox.py [--accounts 10000] [--seed 7]

Starts `acm-sync sandbox serve` as a child process on a fresh data directory, then pulls every
object in full: Salesforce over REST (query + nextRecordsUrl, 2,000 rows a page) and Bulk API 2.0
(one query job, CSV pages), HubSpot over the list endpoint (100 a page) both as raw JSON and
through the client's models. Prints rows, API calls (from the sandbox's call log), seconds and
rows/s per object, the sandbox's start-up time and its peak resident memory (VmHWM).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from acm_sync.org_summary import hubspot_client, salesforce_client
from acm_sync.sandbox.process import SandboxProcess

SF_OBJECTS = ("Account", "Contact", "Opportunity", "OpportunityHistory")
HS_OBJECTS = ("companies", "contacts", "deals")
HS_ASSOCIATIONS = {"companies": [], "contacts": ["companies"], "deals": ["companies"]}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class CallLog:
    def __init__(self, base_url: str, verify: str | bool = True) -> None:
        self.url = base_url.rstrip("/") + "/__sandbox__/calls"
        self.verify = verify

    def total(self) -> int:
        return int(requests.get(self.url, verify=self.verify, timeout=30).json()["total"])


def _row(name: str, rows: int, calls: int, seconds: float) -> dict[str, Any]:
    return {
        "pull": name,
        "rows": rows,
        "calls": calls,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else 0,
    }


def bench_salesforce(env: dict[str, str], log: CallLog) -> list[dict[str, Any]]:
    sf = salesforce_client(env)
    out = []
    for obj in SF_OBJECTS:
        described = getattr(sf, obj).describe()["fields"]
        fields = [f["name"] for f in described]
        soql = f"SELECT {', '.join(fields)} FROM {obj}"
        # Bulk queries cannot select compound fields (addresses, geolocations): their parts
        flat = [f["name"] for f in described if f["type"] not in ("address", "location")]
        bulk_soql = f"SELECT {', '.join(flat)} FROM {obj}"

        before, started = log.total(), time.perf_counter()
        rows = sum(1 for _ in sf.query_all_iter(soql))
        out.append(
            _row(
                f"salesforce REST {obj}", rows, log.total() - before, time.perf_counter() - started
            )
        )

        before, started = log.total(), time.perf_counter()
        rows = 0
        for page in getattr(sf.bulk2, obj).query(bulk_soql, max_records=50_000, wait=0.2):
            rows += sum(1 for _ in csv.reader(io.StringIO(str(page)))) - 1
        out.append(
            _row(
                f"salesforce Bulk 2.0 {obj}",
                rows,
                log.total() - before,
                time.perf_counter() - started,
            )
        )
    return out


def bench_hubspot(env: dict[str, str], log: CallLog) -> list[dict[str, Any]]:
    client = hubspot_client(env)
    out = []
    for obj in HS_OBJECTS:
        api = getattr(client.crm, obj).basic_api
        props = [p.name for p in client.crm.properties.core_api.get_all(obj).results]
        assoc = HS_ASSOCIATIONS[obj] or None

        before, started, rows, after = log.total(), time.perf_counter(), 0, None
        while True:
            raw = api.get_page(
                limit=100, after=after, properties=props, associations=assoc, _preload_content=False
            )
            page = json.loads(raw.data)
            rows += len(page["results"])
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                break
        out.append(
            _row(
                f"hubspot list {obj} (raw JSON)",
                rows,
                log.total() - before,
                time.perf_counter() - started,
            )
        )

        before, started, rows, after = log.total(), time.perf_counter(), 0, None
        while True:
            model_page = api.get_page(limit=100, after=after, properties=props, associations=assoc)
            rows += len(model_page.results)
            if not model_page.paging or not model_page.paging.next:
                break
            after = model_page.paging.next.after
        out.append(
            _row(
                f"hubspot list {obj} (client models)",
                rows,
                log.total() - before,
                time.perf_counter() - started,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="acm-bench-") as tmp:
        # Enterprise tier, and the 10-second window lifted by the admin API below: this measures
        # how fast the sandbox serves, not HubSpot's rate limit (19 requests/s ≈ 1,900 rows/s).
        process = SandboxProcess(
            Path(tmp),
            accounts=args.accounts,
            seed=args.seed,
            hubspot_tier="enterprise",
            daily_api_limit=10_000_000,
        )
        started = time.perf_counter()
        settings = process.start()
        startup = time.perf_counter() - started
        assert process.pid is not None
        try:
            env = settings.env()
            requests.post(
                f"{settings.hubspot_base_url}/__sandbox__/hubspot/rate-limits",
                json={"ten_second_max": 1_000_000, "search_per_second_max": 1_000},
                timeout=30,
            ).raise_for_status()
            results = bench_salesforce(
                env, CallLog(settings.salesforce_instance_url, settings.salesforce_ca_bundle)
            )
            results += bench_hubspot(env, CallLog(settings.hubspot_base_url))
            peak = _peak_rss_mb(process.pid)
        finally:
            process.stop()

    print(
        f"sandbox: {args.accounts:,} accounts, seed {args.seed}; seeded and started in "
        f"{startup:.1f}s; peak RSS {peak:.0f} MB"
    )
    print(f"{'pull':44} {'rows':>9} {'calls':>6} {'seconds':>8} {'rows/s':>9}")
    for r in results:
        print(
            f"{r['pull']:44} {r['rows']:>9,} {r['calls']:>6} {r['seconds']:>8.2f} "
            f"{r['rows_per_s']:>9,}"
        )


if __name__ == "__main__":
    main()
