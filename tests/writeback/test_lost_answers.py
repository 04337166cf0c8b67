"""Faults at the edges of the write-back, scripted through the sandbox's fault API: a write whose
answer is lost is settled by reading back (never sent twice), and a spent API budget stops every
step the same clean way, with no batch journaled that never left."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from wb_pipeline import Pipeline, materialization

from acm_sync.sandbox.server import SandboxSettings
from sandbox_admin import Admin

# A fault scenario: part of `make test-ops` (run by .ci/run), not of `make test`.
pytestmark = pytest.mark.ops

COLLECTIONS = "PATCH /services/data/v59.0/composite/sobjects"
HS_OBJECTS = ("companies", "contacts", "deals")


def _route_calls(sf: Admin, hs: Admin) -> dict[str, int]:
    return {**sf.calls()["by_route"], **hs.calls()["by_route"]}


def test_a_dropped_write_answer_is_read_back_and_every_record_is_written_once(
    wb_sandbox: SandboxSettings, wb_admins: tuple[Admin, Admin], tmp_path: Path
) -> None:
    sf, hs = wb_admins
    for admin in (sf, hs):
        admin.reset_calls()
        admin.reset_writes()
    # The CRM applies the batch, then the connection is cut half-way through its answer.
    hs.fault(kind="drop", method="POST", path="/crm/v3/objects/contacts/batch/update", times=1)
    sf.fault(kind="drop", method="PATCH", path="/composite/sobjects$", skip=1, times=1)
    # A gateway error says nothing of whether the write was applied (here it was not).
    hs.fault(kind="status", status=502, method="POST", path="/deals/batch/update", times=1)
    pipeline = Pipeline(wb_sandbox, tmp_path, {})
    result = pipeline.run()
    assert result.success

    plan = pipeline.wh.query(
        "SELECT DISTINCT crm, object, record_id FROM writeback_plan "
        "WHERE action IN ('write', 'overwrite_manual')"
    )
    k = plan.groupby(["crm", "object"])["record_id"].nunique()
    writes = {**sf.writes(), **hs.writes()}
    planned = {f"{o}/{r}" for o, r in zip(plan["object"], plan["record_id"], strict=True)}
    # Every planned record was written, and exactly once (the sandbox's own write log).
    assert set(writes) == planned
    twice = {r: n for r, n in writes.items() if n != 1}
    assert twice == {}, f"{len(twice)} records written more than once"
    # No write call beyond the fewest batches: the lost batches were not sent again …
    calls = _route_calls(sf, hs)
    assert calls[COLLECTIONS] == sum(
        math.ceil(k["salesforce", o] / 200) for o in ("Account", "Contact", "Opportunity")
    )
    for obj in HS_OBJECTS:
        resent = 1 if obj == "deals" else 0  # the batch the 502 refused, sent again after
        assert (
            calls[f"POST /crm/v3/objects/{obj}/batch/update"]
            == math.ceil(k["hubspot", obj] / 100) + resent
        ), obj
    # … they were settled by reading their records back.
    for obj in ("contacts", "deals"):
        assert calls.get(f"POST /crm/v3/objects/{obj}/batch/read", 0) >= 1, obj
    assert calls.get("GET /services/data/v59.0/query/", 0) >= 1
    apply = materialization(result, "writeback_apply")
    assert apply["written"] == len(planned) and apply["rejected"] == 0
    assert "ambiguous" in apply["by_object"]  # the column counting settled batches
    assert pipeline.wh.count("writeback_journal", "WHERE state = 'sent'") == 0

    # The next run finds nothing left to write.
    for admin in (sf, hs):
        admin.reset_writes()
    again = pipeline.run()
    assert again.success
    assert {**sf.writes(), **hs.writes()} == {}
