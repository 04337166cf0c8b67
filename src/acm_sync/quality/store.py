"""What quality keeps in the warehouse, and the two gates between a pull and a write-back.

Tables (DuckDB, next to the canonical ones; each written delete-then-insert, so a re-run of the
same data leaves the same state):
- `quarantine` (model.QUARANTINE): the latest run's failing (record, rule) rows per entity,
  both severities; `critical` rows are the held-back records.
- `quality_issues`: the same rows with issue code, source id and rank (feeds issue texts).
- `valid_<entity>`: the canonical rows that flow on to identity and scoring.
- `data_issue_texts`: per account / contact / opportunity record, the text for
  `ACM_Data_Issues__c` / `acm_data_issues` (absent = no open issue: write an empty value).
- `crm_stages`: each CRM's own stage list (quality.stages).
- `account_identity` (model.ACCOUNT_IDENTITY), `contact_identity`.
- `_quality_gates`: per run, entity and source: live rows, quarantined, the critical failure
  rate against its threshold, the volume against the last good run, and whether both gates
  passed. "Last good run" = the latest run of that entity whose gates both passed (or whose
  volume drop was accepted): a truncated pull keeps failing until the volume recovers or the
  drop is accepted explicitly.

Gates:
- critical failure rate: quarantined / live rows of the entity ≤ `quality.critical_failure_
  threshold` (or the entity's override);
- volume: for each CRM, live rows ≥ (1 − `quality.max_volume_drop`) × the last good run's.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd

from acm_sync import model
from acm_sync.quality import derive
from acm_sync.quality.issues import ISSUE_COLUMNS, RECORD_COLUMNS
from acm_sync.quality.settings import QualitySettings
from acm_sync.quality.stages import COLUMNS as STAGE_COLUMNS
from acm_sync.quality.stages import StageCatalog
from acm_sync.quality.suites import ENTITIES
from acm_sync.quality.validate import EntityReport
from acm_sync.warehouse import Warehouse, ensure_table_like

GATES_TABLE = "_quality_gates"
STAGES_TABLE = "crm_stages"
ISSUES_TABLE = "quality_issues"
TEXTS_TABLE = "data_issue_texts"
CONTACT_IDENTITY_TABLE = "contact_identity"


def valid_table(entity: str) -> str:
    return f"valid_{entity}"


@dataclass(frozen=True)
class Gate:
    """One gate's verdict for one entity, with the numbers behind it."""

    name: str  # critical_failure_rate | volume
    entity: str
    passed: bool
    summary: str  # one line for people
    details: pd.DataFrame  # the numbers (per source for volume)


def critical_gate(report: EntityReport, settings: QualitySettings) -> Gate:
    threshold = settings.threshold(report.entity)
    rate = report.critical_failure_rate
    passed = rate <= threshold
    summary = (
        f"{len(report.quarantined):,} of {report.live:,} live {report.entity} rows failed a "
        f"critical rule ({rate:.2%}; threshold {threshold:.2%})"
        + ("" if passed else ": write-back blocked")
    )
    details = pd.DataFrame(
        [
            {
                "entity": report.entity,
                "live": report.live,
                "quarantined": len(report.quarantined),
                "rate": round(rate, 6),
                "threshold": threshold,
            }
        ]
    )
    return Gate("critical_failure_rate", report.entity, passed, summary, details)


def live_volumes(entity: str, table: pd.DataFrame) -> dict[str, int]:
    """Live rows per CRM of a canonical table."""
    live = table.loc[derive.live_mask(table)]
    counts = derive.sources(entity, live).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def volume_gate(
    entity: str,
    current: Mapping[str, int],
    baseline: Mapping[str, int] | None,
    settings: QualitySettings,
    *,
    accepted: bool = False,
) -> Gate:
    """Did any CRM's live row count fall by more than `max_volume_drop` since the last good
    run? No baseline yet (first run) passes; `accepted` passes and makes this the baseline."""
    rows = []
    failed = []
    for source in sorted(set(current) | set(baseline or {})):
        now = int(current.get(source, 0))
        before = None if baseline is None else baseline.get(source)
        drop = 0.0 if not before else max(0.0, 1 - now / before)
        ok = drop <= settings.max_volume_drop
        rows.append(
            {
                "source": source,
                "live_rows": now,
                "last_good": before,
                "drop": round(drop, 4),
                "max_drop": settings.max_volume_drop,
                "passed": ok,
            }
        )
        if not ok:
            failed.append(f"{source} {before:,} → {now:,} (−{drop:.0%})")
    details = pd.DataFrame(rows)
    if baseline is None:
        return Gate("volume", entity, True, "first run: this volume is the baseline", details)
    if failed and accepted:
        return Gate(
            "volume",
            entity,
            True,
            "drop accepted: " + "; ".join(failed) + " is the new baseline",
            details,
        )
    if failed:
        summary = (
            f"{entity} shrank by more than {settings.max_volume_drop:.0%} against the last good "
            f"run: {'; '.join(failed)} — a truncated pull must not drive writes; write-back "
            "blocked (accept a real drop with accept_volume_drop)"
        )
        return Gate("volume", entity, False, summary, details)
    return Gate("volume", entity, True, "within the allowed drop of the last good run", details)


class QualityStore:
    """Quality's tables in the warehouse."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.wh = warehouse

    def _ensure(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            f"""CREATE TABLE IF NOT EXISTS {GATES_TABLE} (
                run_id VARCHAR, entity VARCHAR, source VARCHAR, live_rows BIGINT,
                quarantined BIGINT, critical_rate DOUBLE, threshold DOUBLE,
                critical_passed BOOLEAN, volume_passed BOOLEAN, accepted BOOLEAN,
                recorded_at TIMESTAMPTZ)"""
        )

    # -- reads ---------------------------------------------------------------------------

    def canonical(self, entity: str) -> pd.DataFrame:
        return self.wh.table(entity)

    def ids(self, table: str, key: str) -> pd.Index:
        if not self.wh.count(table):
            return pd.Index([], dtype=model.STRING)
        frame = self.wh.query(
            f'SELECT DISTINCT "{key}" AS k FROM "{table}" WHERE "{key}" IS NOT NULL'
        )
        return pd.Index(frame["k"].astype(model.STRING))

    def account_currencies(self) -> pd.Series:
        """account_id → currency of the pulled Salesforce accounts (derive.account_currencies)."""
        if not self.wh.count("accounts"):
            return derive.account_currencies(model.empty_frame("accounts"))
        frame = self.wh.query(
            "SELECT account_id, source, currency FROM accounts WHERE source = 'salesforce'"
        )
        return derive.account_currencies(frame)

    def stage_catalog(self) -> StageCatalog:
        if not self.wh.count(STAGES_TABLE):
            return StageCatalog.empty()
        return StageCatalog(self.wh.query(f"SELECT * FROM {STAGES_TABLE}").astype(STAGE_COLUMNS))

    def last_good_volumes(self, entity: str) -> dict[str, int] | None:
        """Live rows per CRM of the latest run of `entity` that passed both gates."""
        with self.wh.connect() as con:
            self._ensure(con)
            row = con.execute(
                f"SELECT run_id FROM {GATES_TABLE} WHERE entity = ? AND critical_passed "
                "AND (volume_passed OR accepted) ORDER BY recorded_at DESC LIMIT 1",
                [entity],
            ).fetchone()
            if row is None:
                return None
            found = con.execute(
                f"SELECT source, live_rows FROM {GATES_TABLE} WHERE entity = ? AND run_id = ?",
                [entity, row[0]],
            ).fetchall()
        return {str(s): int(n) for s, n in found if s is not None}

    def gate_status(self) -> pd.DataFrame:
        """Per entity, the latest run's gates: entity, run_id, critical_passed, volume_passed,
        recorded_at. Write-back may proceed only when every row passed (`gates_open`)."""
        with self.wh.connect() as con:
            self._ensure(con)
        return self.wh.query(
            f"""SELECT entity, run_id, bool_and(critical_passed) AS critical_passed,
                bool_and(volume_passed OR accepted) AS volume_passed,
                max(recorded_at) AS recorded_at
            FROM {GATES_TABLE} g
            WHERE recorded_at = (SELECT max(recorded_at) FROM {GATES_TABLE} h
                                 WHERE h.entity = g.entity)
            GROUP BY entity, run_id ORDER BY entity"""
        )

    def gates_open(self, entities: tuple[str, ...] = ENTITIES) -> tuple[bool, str]:
        """(True, "") when the latest validation of every entity passed both gates; else
        (False, why). For write-back runs outside the run that validated."""
        status = self.gate_status().set_index("entity")
        why = []
        for entity in entities:
            if entity not in status.index:
                why.append(f"{entity}: never validated")
                continue
            row = status.loc[entity]
            if not bool(row["critical_passed"]):
                why.append(f"{entity}: critical failure rate above threshold (run {row['run_id']})")
            if not bool(row["volume_passed"]):
                why.append(f"{entity}: volume dropped (run {row['run_id']})")
        return (not why, "; ".join(why))

    # -- writes --------------------------------------------------------------------------

    def save_stage_catalog(self, catalog: StageCatalog) -> None:
        self._replace_all(STAGES_TABLE, catalog.frame)

    def save_report(self, report: EntityReport) -> None:
        """quarantine + quality_issues rows of the entity, and its valid table, in one go."""
        issues = report.issues.assign(run_id=report.run_id)
        quarantine = report.quarantine_rows()
        valid = report.valid
        with self.wh.connect() as con, _quiet():
            con.execute("BEGIN TRANSACTION")
            try:
                for table, frame in ((ISSUES_TABLE, issues), ("quarantine", quarantine)):
                    con.register("_rows", frame)
                    ensure_table_like(con, table, "_rows")
                    for column in RECORD_COLUMNS:  # warehouses made before records had names
                        con.execute(
                            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} VARCHAR"
                        )
                    con.execute(f"DELETE FROM {table} WHERE entity = ?", [report.entity])
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
                    con.unregister("_rows")
                con.register("_valid", valid)
                target = valid_table(report.entity)
                con.execute(f'CREATE OR REPLACE TABLE "{target}" AS SELECT * FROM _valid')
                con.unregister("_valid")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def record_gates(
        self,
        report: EntityReport,
        volumes: Mapping[str, int],
        critical: Gate,
        volume: Gate,
        *,
        accepted: bool = False,
    ) -> None:
        now = datetime.now(UTC)
        threshold = float(critical.details["threshold"].iloc[0])
        rows = [
            (
                report.run_id,
                report.entity,
                source,
                int(n),
                len(report.quarantined),
                report.critical_failure_rate,
                threshold,
                critical.passed,
                volume.passed,
                accepted,
                now,
            )
            for source, n in (volumes.items() if volumes else [(None, 0)])
        ]
        with self.wh.connect() as con:
            self._ensure(con)
            con.execute(
                f"DELETE FROM {GATES_TABLE} WHERE run_id = ? AND entity = ?",
                [report.run_id, report.entity],
            )
            con.executemany(
                f"INSERT INTO {GATES_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )

    def issues(self) -> pd.DataFrame:
        if not self.wh.count(ISSUES_TABLE):
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in ISSUE_COLUMNS.items()})
        frame = self.wh.query(f"SELECT * FROM {ISSUES_TABLE}")
        columns = ISSUE_COLUMNS | RECORD_COLUMNS | {"run_id": model.STRING}
        return frame.astype({c: t for c, t in columns.items() if c in frame.columns})

    def save_issue_texts(self, texts: pd.DataFrame) -> None:
        self._replace_all(TEXTS_TABLE, texts)

    def save_identity(self, accounts: pd.DataFrame, contacts: pd.DataFrame) -> None:
        self._replace_all("account_identity", model.conform(accounts, "account_identity"))
        self._replace_all(CONTACT_IDENTITY_TABLE, contacts)

    def _replace_all(self, table: str, frame: pd.DataFrame) -> None:
        with self.wh.connect() as con, _quiet():
            con.register("_rows", frame)
            con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM _rows')
            con.unregister("_rows")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """duckdb's pandas scan passes pandas arguments it deprecates (pandas 3.1)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield
