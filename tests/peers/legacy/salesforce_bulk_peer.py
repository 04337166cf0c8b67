"""salesforce-bulk (Bulk API 1.0), unmodified, as its README drives it. Run in its own virtualenv
by tests/peers/test_legacy_clients.py with the config file's path as the only argument; prints
one JSON line: {"steps": {name: {"result": ...} | {"error": ...}}}.

Login is username + password + security token (simple-salesforce's SOAP login against
login.salesforce.com, which tests/peers/hostmap points at the sandbox)."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
import traceback
from typing import Any

from salesforce_bulk import CsvDictsAdapter, SalesforceBulk
from salesforce_bulk.salesforce_bulk import BulkBatchFailed
from salesforce_bulk.util import IteratorBytesIO

STEPS: dict[str, dict[str, Any]] = {}


def step(name: str, fn: Any) -> Any:
    try:
        result = fn()
    except Exception as exc:  # the test reads the error and says what it was
        STEPS[name] = {"error": f"{type(exc).__name__}: {exc}", "stack": traceback.format_exc()}
        return None
    STEPS[name] = {"result": result}
    return result


def rows_of(bulk: SalesforceBulk, job: str, batch: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for result in bulk.get_all_results_for_query_batch(batch, job):
        rows += list(csv.DictReader(io.TextIOWrapper(result, encoding="utf-8")))
    return rows


def main() -> None:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    bulk = step(
        "login",
        lambda: SalesforceBulk(
            username=config["username"],
            password=config["password"],
            security_token=config["security_token"],
        ),
    )
    if bulk is None:
        return
    STEPS["login"]["result"] = {"endpoint": bulk.endpoint}

    def query_accounts() -> list[dict[str, str]]:
        job = bulk.create_query_job("Account", contentType="CSV")
        batch = bulk.query(job, "SELECT Id, Name, Industry, AnnualRevenue FROM Account")
        bulk.close_job(job)
        bulk.wait_for_batch(job, batch, timeout=60, sleep_interval=1)
        return rows_of(bulk, job, batch)

    accounts = step("query_accounts", query_accounts)

    def query_contacts_json() -> list[dict[str, Any]]:
        # The README's JSON example, as written there (is_batch_done in a loop).
        job = bulk.create_query_job("Contact", contentType="JSON")
        batch = bulk.query(job, "SELECT Id, LastName, Email, CreatedDate FROM Contact")
        bulk.close_job(job)
        for _ in range(60):
            if bulk.is_batch_done(batch):
                break
            time.sleep(1)
        rows: list[dict[str, Any]] = []
        for result in bulk.get_all_results_for_query_batch(batch):
            rows += json.load(IteratorBytesIO(result))
        return rows

    step("query_contacts_json", query_contacts_json)

    def query_opportunities_pk_chunked() -> dict[str, Any]:
        job = bulk.create_query_job("Opportunity", contentType="CSV", pk_chunking=200)
        original = bulk.query(job, "SELECT Id, Name, StageName, Amount FROM Opportunity")
        batches = bulk.get_batch_list(job)
        rows: list[dict[str, str]] = []
        chunks = [b for b in batches if b["id"] != original]
        for chunk in chunks:
            bulk.wait_for_batch(job, chunk["id"], timeout=60, sleep_interval=1)
            rows += rows_of(bulk, job, chunk["id"])
        bulk.close_job(job)
        states = {b["id"]: b["state"] for b in bulk.get_batch_list(job)}
        try:  # the client's bulk_states lists NotProcessed among its error states
            original_done: Any = bulk.is_batch_done(original, job)
        except BulkBatchFailed as exc:
            original_done = f"BulkBatchFailed: {exc.state}"
        return {
            "original_state": states[original],
            "original_done": original_done,
            "chunks": len(chunks),
            "rows": rows,
        }

    step("query_opportunities_pk_chunked", query_opportunities_pk_chunked)

    def update_accounts() -> dict[str, Any]:
        targets = sorted(a["Id"] for a in accounts or [])[:3]
        records = [
            {"Id": i, "Description": f"salesforce-bulk peer {n}"} for n, i in enumerate(targets)
        ]
        records.append({"Id": config["missing_id"], "Description": "no such account"})
        job = bulk.create_update_job("Account", contentType="CSV")
        batch = bulk.post_batch(job, CsvDictsAdapter(iter(records)))
        bulk.wait_for_batch(job, batch, timeout=60, sleep_interval=1)
        bulk.close_job(job)
        results = bulk.get_batch_results(batch, job)
        return {
            "sent": records,
            "results": None if results is None else [list(r) for r in results],
        }

    step("update_accounts", update_accounts)


if __name__ == "__main__":
    try:
        main()
    finally:
        print(json.dumps({"steps": STEPS}, default=str))
