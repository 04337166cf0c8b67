"""Crash safety: the process is SIGKILLed in the middle of the write-back; the next run converges
to the same CRM state with no write lost and none sent twice."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from wb_pipeline import Pipeline

from acm_sync.org_summary import hubspot_client, salesforce_client
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.writeback.fields import field_of
from acm_sync.writeback.values import normalize
from sandbox_admin import Admin

# A fault scenario: part of `make test-ops` (run by .ci/run), not of `make test`.
pytestmark = pytest.mark.ops

HERE = Path(__file__).resolve().parent
COLLECTIONS_PATH = "/services/data/v59.0/composite/sobjects"

CHILD = """
import sys
from pathlib import Path
sys.path[:0] = [{tests!r}, {here!r}]
from acm_sync.sandbox.server import SandboxSettings
from wb_pipeline import Pipeline
Pipeline(SandboxSettings.read(Path({sandbox!r})), Path({tmp!r}), {{}}).run()
"""


def completed_writes(sf: Admin, hs: Admin) -> dict[str, int]:
    """Write calls the CRMs answered 200 (per route), from the sandboxes' own call logs."""
    out: dict[str, int] = {}
    for admin in (sf, hs):
        for call in admin.calls()["calls"]:
            route = f"{call['method']} {call['path']}"
            if call["status"] == 200 and (
                call["path"] == COLLECTIONS_PATH or call["path"].endswith("/batch/update")
            ):
                out[route] = out.get(route, 0) + 1
    return out


def test_sigkill_mid_apply_then_a_rerun_converges_without_duplicates(
    wb_sandbox: SandboxSettings,
    wb_sandbox_dir: Path,
    wb_admins: tuple[Admin, Admin],
    tmp_path: Path,
) -> None:
    sf, hs = wb_admins
    sf.reset_calls()
    hs.reset_calls()
    # Slow writes, so the kill lands mid-apply: HubSpot goes first, then Salesforce.
    sf.fault(kind="latency", method="PATCH", path="composite/sobjects", latency_ms=400, times=-1)
    hs.fault(kind="latency", method="POST", path="batch/update", latency_ms=150, times=-1)
    script = CHILD.format(
        tests=str(HERE.parent), here=str(HERE), sandbox=str(wb_sandbox_dir), tmp=str(tmp_path)
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            routes = sf.calls()["by_route"]
            if routes.get(f"PATCH {COLLECTIONS_PATH}", 0) >= 3:
                break
            assert child.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("the write-back never started")
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    time.sleep(1.0)  # let a request already in the server finish
    sf.clear_faults()
    hs.clear_faults()

    pipeline = Pipeline(wb_sandbox, tmp_path, {})
    wh = pipeline.wh
    first_plan = wh.query("SELECT * FROM writeback_plan")
    assert first_plan["run_id"].nunique() == 1  # the killed run planned everything
    interrupted = wh.query("SELECT * FROM writeback_journal WHERE state = 'sent'")
    assert len(wh.query("SELECT * FROM writeback_journal")) >= 3

    rerun = pipeline.run()
    assert rerun.success
    assert wh.count("writeback_journal", "WHERE state = 'sent'") == 0

    # Converged: every cell the first plan meant to write holds its value in the CRM.
    sending = first_plan[first_plan["action"].isin(["write", "overwrite_manual"])]
    sf_client = salesforce_client(wb_sandbox.env())
    sf_client.session.trust_env = False
    hs_client = hubspot_client(wb_sandbox.env())
    for (crm, obj), cells in sending.groupby(["crm", "object"]):
        fields = sorted(set(cells["field"]))
        if crm == "salesforce":
            rows = sf_client.query_all(f"SELECT Id, {', '.join(fields)} FROM {obj}")["records"]
            live = {r["Id"]: r for r in rows}
        else:
            api = getattr(hs_client.crm, str(obj))
            live = {r.id: r.properties for r in api.get_all(properties=fields)}
        for rid, field, after in zip(
            cells["record_id"], cells["field"], cells["after"], strict=True
        ):
            f = field_of(crm, obj, field)  # type: ignore[arg-type]
            if f.companion:
                continue  # the scored-at stamp of the rerun is newer, by design
            expected = None if pd.isna(after) else after
            assert normalize(f, live[rid].get(field)) == expected, (crm, obj, rid, field)

    # No duplicate: over both runs, each route made exactly the fewest batches for its records.
    k = sending.groupby(["crm", "object"])["record_id"].nunique()
    writes = completed_writes(sf, hs)
    assert writes.pop(f"PATCH {COLLECTIONS_PATH}") == sum(
        math.ceil(k["salesforce", o] / 200) for o in ("Account", "Contact", "Opportunity")
    )
    for obj in ("companies", "contacts", "deals"):
        assert writes.pop(f"POST /crm/v3/objects/{obj}/batch/update") == math.ceil(
            k["hubspot", obj] / 100
        ), obj
    assert writes == {}
    # A batch the kill left in flight was settled by reading its records back.
    for batch_id in interrupted["batch_id"]:
        assert wh.count("writeback_journal", "WHERE batch_id = ? AND state = 'done'", [batch_id])
