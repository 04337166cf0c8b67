"""What the write-back keeps in the warehouse.

- `writeback_plan`: per run, the planned cells (crm, object, record_id, field, before, after,
  action, last_written) and, once applied, each cell's outcome (`status`: written / rejected /
  pending; skipped cells keep their action).
- `writeback_ledger`: per (crm, object, record, field) the value we last wrote and when. The
  diff reads it to tell our own writes (echoes) from people's edits.
- `writeback_dead_letter`: per (crm, object, record) the last rejection — the CRM's error code
  and message, the values we tried, attempts so far — until a write of that record succeeds.
- `writeback_journal`: one row per batch sent, saved *before* the call (state `sent`) and
  closed with its outcome (`done`) in the same transaction as the ledger rows. A `sent` batch
  found at start-up was interrupted (the process died mid-call): its records are read back
  before anything is planned again, so nothing is lost or written twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from acm_sync.warehouse import Warehouse
from acm_sync.writeback.plan import payload_key

PLAN = "writeback_plan"
LEDGER = "writeback_ledger"
DEAD_LETTER = "writeback_dead_letter"
JOURNAL = "writeback_journal"
PLAN_RUNS = "writeback_plan_runs"

_DDL = [
    f"""CREATE TABLE IF NOT EXISTS {PLAN} (
        run_id VARCHAR, crm VARCHAR, object VARCHAR, record_id VARCHAR, field VARCHAR,
        before VARCHAR, after VARCHAR, action VARCHAR, last_written VARCHAR, status VARCHAR,
        planned_at TIMESTAMPTZ)""",
    f"""CREATE TABLE IF NOT EXISTS {PLAN_RUNS} (
        run_id VARCHAR PRIMARY KEY, planned_at TIMESTAMPTZ, cells BIGINT)""",
    f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
        crm VARCHAR, object VARCHAR, record_id VARCHAR, field VARCHAR, value VARCHAR,
        written_at TIMESTAMPTZ, run_id VARCHAR, PRIMARY KEY (crm, object, record_id, field))""",
    f"""CREATE TABLE IF NOT EXISTS {DEAD_LETTER} (
        crm VARCHAR, object VARCHAR, record_id VARCHAR, payload VARCHAR, payload_key VARCHAR,
        error_code VARCHAR, message VARCHAR, attempts INTEGER, first_failed_at TIMESTAMPTZ,
        last_failed_at TIMESTAMPTZ, run_id VARCHAR, PRIMARY KEY (crm, object, record_id))""",
    f"""CREATE TABLE IF NOT EXISTS {JOURNAL} (
        batch_id VARCHAR PRIMARY KEY, run_id VARCHAR, crm VARCHAR, object VARCHAR,
        payload VARCHAR, state VARCHAR, job_id VARCHAR, sent_at TIMESTAMPTZ,
        done_at TIMESTAMPTZ)""",
]


@dataclass(frozen=True)
class Rejection:
    record_id: str
    values: dict[str, str | None]
    error_code: str
    message: str


@dataclass(frozen=True)
class Batch:
    """One batch as journaled: the records and the values sent."""

    batch_id: str
    run_id: str
    crm: str
    object: str
    records: dict[str, dict[str, str | None]]
    job_id: str | None = None


class WritebackStore:
    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        with wh.connect() as con:
            for ddl in _DDL:
                con.execute(ddl)

    # -- plan ----------------------------------------------------------------------------------

    def save_plan(self, run_id: str, plan: pd.DataFrame) -> None:
        """This run's plan (replacing an earlier attempt of the same run)."""
        now = datetime.now(UTC)
        frame = plan.assign(run_id=run_id, status=None, planned_at=now)
        frame = frame.astype({c: object for c in ("before", "after", "last_written", "status")})
        with self.wh.connect() as con:
            con.register("_plan", frame)
            con.execute("BEGIN")
            con.execute(f"DELETE FROM {PLAN} WHERE run_id = ?", [run_id])
            con.execute(f"INSERT INTO {PLAN} BY NAME SELECT * FROM _plan")
            con.execute(
                f"INSERT OR REPLACE INTO {PLAN_RUNS} VALUES (?, ?, ?)", [run_id, now, len(frame)]
            )
            con.execute("COMMIT")
            con.unregister("_plan")

    def latest_plan_run(self) -> tuple[str, datetime] | None:
        """The latest plan (an empty one too): its run id and when it was made."""
        rows = self.wh.query(
            f"SELECT run_id, planned_at FROM {PLAN_RUNS} ORDER BY planned_at DESC LIMIT 1"
        )
        if rows.empty:
            return None
        planned_at: Any = rows["planned_at"].iat[0]
        return str(rows["run_id"].iat[0]), pd.Timestamp(planned_at).to_pydatetime()

    def plan(self, run_id: str) -> pd.DataFrame:
        return self.wh.query(
            f"SELECT * FROM {PLAN} WHERE run_id = ? ORDER BY crm, object, record_id, field",
            [run_id],
        )

    def plan_ids(self) -> list[str]:
        """Every kept plan id, newest first."""
        rows = self.wh.query(f"SELECT run_id FROM {PLAN_RUNS} ORDER BY planned_at DESC")
        return [str(r) for r in rows["run_id"]]

    def planned_at(self, run_id: str) -> datetime:
        rows = self.wh.query(f"SELECT planned_at FROM {PLAN_RUNS} WHERE run_id = ?", [run_id])
        if rows.empty:
            raise KeyError(run_id)
        value: Any = rows["planned_at"].iat[0]
        return pd.Timestamp(value).to_pydatetime()

    def set_cell_status(self, run_id: str, cells: pd.DataFrame, status: str) -> None:
        """`status` on these cells (crm, object, record_id, field) of plan `run_id`."""
        keys = cells[["crm", "object", "record_id", "field"]].astype(str)
        if keys.empty:
            return
        with self.wh.connect() as con:
            con.register("_cells", keys)
            con.execute(
                f"UPDATE {PLAN} p SET status = ? FROM _cells c WHERE p.run_id = ? "
                "AND p.crm = c.crm AND p.object = c.object AND p.record_id = c.record_id "
                "AND p.field = c.field",
                [status, run_id],
            )
            con.unregister("_cells")

    def set_status(
        self, run_id: str, crm: str, obj: str, record_ids: Iterable[str], status: str
    ) -> None:
        ids = pd.DataFrame({"record_id": list(record_ids)})
        if ids.empty:
            return
        with self.wh.connect() as con:
            con.register("_ids", ids)
            con.execute(
                f"UPDATE {PLAN} SET status = ? WHERE run_id = ? AND crm = ? AND object = ? "
                "AND record_id IN (SELECT record_id FROM _ids) "
                "AND action IN ('write', 'overwrite_manual')",
                [status, run_id, crm, obj],
            )
            con.unregister("_ids")

    # -- ledger --------------------------------------------------------------------------------

    def ledger(self, crm: str, obj: str) -> pd.DataFrame:
        return self.wh.query(
            f"SELECT record_id, field, value, written_at FROM {LEDGER} "
            "WHERE crm = ? AND object = ?",
            [crm, obj],
        )

    # -- dead letters --------------------------------------------------------------------------

    def dead_letters(self, crm: str | None = None, obj: str | None = None) -> pd.DataFrame:
        where, params = [], []
        if crm is not None:
            where.append("crm = ?")
            params.append(crm)
        if obj is not None:
            where.append("object = ?")
            params.append(obj)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self.wh.query(
            f"SELECT * FROM {DEAD_LETTER} {clause} ORDER BY crm, object, record_id", params
        )

    # -- journal + outcomes --------------------------------------------------------------------

    def journal_sent(self, batch: Batch) -> None:
        with self.wh.connect() as con:
            con.execute(
                f"INSERT OR REPLACE INTO {JOURNAL} VALUES (?, ?, ?, ?, ?, 'sent', ?, ?, NULL)",
                [
                    batch.batch_id,
                    batch.run_id,
                    batch.crm,
                    batch.object,
                    json.dumps(batch.records, sort_keys=True),
                    batch.job_id,
                    datetime.now(UTC),
                ],
            )

    def journal_job(self, batch_id: str, job_id: str) -> None:
        with self.wh.connect() as con:
            con.execute(f"UPDATE {JOURNAL} SET job_id = ? WHERE batch_id = ?", [job_id, batch_id])

    def interrupted(self) -> list[Batch]:
        """Batches sent by a process that died before recording their outcome."""
        rows = self.wh.query(
            f"SELECT batch_id, run_id, crm, object, payload, job_id FROM {JOURNAL} "
            "WHERE state = 'sent' ORDER BY sent_at"
        )
        return [
            Batch(
                str(r["batch_id"]),
                str(r["run_id"]),
                str(r["crm"]),
                str(r["object"]),
                json.loads(str(r["payload"])),
                None if pd.isna(r["job_id"]) else str(r["job_id"]),
            )
            for r in rows.to_dict("records")
        ]

    def record_outcome(
        self,
        batch: Batch,
        *,
        written: Iterable[str],
        rejected: Iterable[Rejection],
        recovered: bool = False,
    ) -> None:
        """Ledger rows for the written records, dead letters for the rejected ones, the plan
        statuses and the journal entry closed — one transaction."""
        now = datetime.now(UTC)
        written = list(written)
        ledger = pd.DataFrame(
            [
                (batch.crm, batch.object, rid, field, value, now, batch.run_id)
                for rid in written
                for field, value in batch.records[rid].items()
            ],
            columns=["crm", "object", "record_id", "field", "value", "written_at", "run_id"],
        ).astype({"value": object})
        rejected = list(rejected)
        dead = pd.DataFrame(
            [
                (
                    batch.crm,
                    batch.object,
                    r.record_id,
                    json.dumps(r.values, sort_keys=True),
                    payload_key(r.values),
                    r.error_code,
                    r.message[:2000],
                    now,
                    batch.run_id,
                )
                for r in rejected
            ],
            columns=[
                "crm",
                "object",
                "record_id",
                "payload",
                "payload_key",
                "error_code",
                "message",
                "failed_at",
                "run_id",
            ],
        )
        with self.wh.connect() as con:
            con.execute("BEGIN")
            if len(ledger):
                con.register("_ledger", ledger)
                con.execute(f"INSERT OR REPLACE INTO {LEDGER} SELECT * FROM _ledger")
                con.unregister("_ledger")
                con.register("_written", pd.DataFrame({"record_id": written}))
                con.execute(
                    f"DELETE FROM {DEAD_LETTER} WHERE crm = ? AND object = ? "
                    "AND record_id IN (SELECT record_id FROM _written)",
                    [batch.crm, batch.object],
                )
                con.execute(
                    f"UPDATE {PLAN} SET status = ? WHERE run_id = ? AND crm = ? AND object = ? "
                    "AND record_id IN (SELECT record_id FROM _written) "
                    "AND action IN ('write', 'overwrite_manual')",
                    [
                        "recovered" if recovered else "written",
                        batch.run_id,
                        batch.crm,
                        batch.object,
                    ],
                )
                con.unregister("_written")
            if len(dead):
                con.register("_dead", dead)
                # attempts count up while the same values keep failing; new values start over
                con.execute(
                    f"""
                    INSERT OR REPLACE INTO {DEAD_LETTER}
                    SELECT d.crm, d.object, d.record_id, d.payload, d.payload_key, d.error_code,
                           d.message,
                           CASE WHEN o.payload_key = d.payload_key
                                THEN o.attempts + 1 ELSE 1 END,
                           CASE WHEN o.payload_key = d.payload_key
                                THEN o.first_failed_at ELSE d.failed_at END,
                           d.failed_at, d.run_id
                    FROM _dead d LEFT JOIN {DEAD_LETTER} o
                      ON o.crm = d.crm AND o.object = d.object AND o.record_id = d.record_id
                    """
                )
                con.execute(
                    f"UPDATE {PLAN} SET status = 'rejected' WHERE run_id = ? AND crm = ? "
                    "AND object = ? AND record_id IN (SELECT record_id FROM _dead) "
                    "AND action IN ('write', 'overwrite_manual')",
                    [batch.run_id, batch.crm, batch.object],
                )
                con.unregister("_dead")
            con.execute(
                f"UPDATE {JOURNAL} SET state = 'done', done_at = ? WHERE batch_id = ?",
                [now, batch.batch_id],
            )
            con.execute("COMMIT")

    def given_up(self, crm: str, obj: str, max_attempts: int) -> dict[str, str]:
        """record_id → payload_key of records whose same values failed max_attempts times."""
        rows = self.wh.query(
            f"SELECT record_id, payload_key FROM {DEAD_LETTER} "
            "WHERE crm = ? AND object = ? AND attempts >= ?",
            [crm, obj, max_attempts],
        )
        return dict(
            zip(rows["record_id"].astype(str), rows["payload_key"].astype(str), strict=True)
        )
