"""Validate canonical tables with the suites: valid rows, quarantined rows, issues, stats.

    suites = load_suites("expectations", {e: derive.columns(e) for e in ENTITIES})
    context = RunContext.from_tables(tables, as_of=now, stages=catalog)
    run = validate_tables(tables, suites, context, run_id="...", docs_dir=...)
    run.reports["contacts"].valid            # rows flowing on to identity and scoring
    run.reports["contacts"].quarantine_rows  # model.QUARANTINE rows (critical and warning)

Every pulled row ends up in exactly one of `valid` and quarantined: a live row failing any
critical rule is quarantined; everything else (clean, warning-only, deleted / merged) is valid.
`EntityReport` asserts pulled = valid + quarantined when it is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from acm_sync import model
from acm_sync.quality import derive
from acm_sync.quality.derive import RunContext
from acm_sync.quality.engine import GxEngine, QualityRunError, RuleOutcome
from acm_sync.quality.issues import empty_issues, issue_texts, issues_for
from acm_sync.quality.suites import ENTITIES, Suite, load_suites


class CountMismatchError(AssertionError):
    """pulled != valid + quarantined: a row was lost or counted twice."""


@dataclass(frozen=True)
class RuleStats:
    code: str
    rule: str
    severity: str
    failures: int
    evaluated: int


@dataclass
class EntityReport:
    entity: str
    run_id: str
    pulled: int  # every row of the canonical table
    live: int  # rows validated (not deleted / merged away)
    valid: pd.DataFrame  # canonical rows flowing on
    quarantined: pd.DataFrame  # canonical rows held back (a critical rule failed)
    issues: pd.DataFrame  # one row per failing (record, rule), both severities
    rules: list[RuleStats] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.valid) + len(self.quarantined) != self.pulled:
            raise CountMismatchError(
                f"{self.entity}: pulled {self.pulled:,} != valid {len(self.valid):,} + "
                f"quarantined {len(self.quarantined):,}"
            )

    @property
    def critical_failure_rate(self) -> float:
        """Share of live rows quarantined."""
        return len(self.quarantined) / self.live if self.live else 0.0

    @property
    def flagged(self) -> int:
        """Valid rows with at least one warning."""
        warned = self.issues.loc[self.issues["severity"] == "warning", "record_id"]
        held = self.issues.loc[self.issues["severity"] == "critical", "record_id"]
        return int(warned[~warned.isin(held)].nunique())

    def quarantine_rows(self) -> pd.DataFrame:
        """`model.QUARANTINE` rows: every failing (record, rule) of the run, with severity."""
        q = self.issues.assign(run_id=self.run_id)
        return model.conform(q, "quarantine") if len(q) else model.empty_frame("quarantine")

    def failures_by_rule(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "code": s.code,
                    "severity": s.severity,
                    "failures": s.failures,
                    "share": round(s.failures / s.evaluated, 4) if s.evaluated else 0.0,
                    "rule": s.rule,
                }
                for s in self.rules
            ]
        )


@dataclass
class QualityRun:
    run_id: str
    reports: dict[str, EntityReport]
    docs_url: str | None = None

    @property
    def issues(self) -> pd.DataFrame:
        frames = [r.issues for r in self.reports.values() if len(r.issues)]
        return pd.concat(frames, ignore_index=True) if frames else empty_issues()

    def issue_texts(self) -> pd.DataFrame:
        return issue_texts(self.issues)


def validate_entity(
    engine: GxEngine, entity: str, table: pd.DataFrame, context: RunContext, *, run_id: str
) -> EntityReport:
    """Validate one canonical table and split it."""
    table = table.reset_index(drop=True)
    live = derive.live_mask(table)
    frame = derive.prepare(entity, table, context)
    _check_stage_lists(engine, entity, frame, context)
    outcomes, _ = engine.validate(entity, frame, context.parameters())
    # Ids and sources only of the rows that failed something (history has 1M+ rows).
    failing = np.unique(np.concatenate([np.empty(0, np.int64), *(o.positions for o in outcomes)]))
    rows = frame.iloc[failing]
    issues = issues_for(
        entity,
        frame,
        outcomes,
        derive.record_ids(entity, rows),
        derive.sources(entity, rows),
        derive.source_ids(entity, rows),
        derive.record_names(entity, rows),
    )
    held = np.zeros(len(frame), dtype=bool)
    for outcome in outcomes:
        if outcome.rule.is_critical:
            held[outcome.positions] = True
    live_positions = np.flatnonzero(live)
    out = np.zeros(len(table), dtype=bool)
    out[live_positions[held]] = True
    return EntityReport(
        entity=entity,
        run_id=run_id,
        pulled=len(table),
        live=int(live.sum()),
        valid=table.loc[~out].reset_index(drop=True),
        quarantined=table.loc[out].reset_index(drop=True),
        issues=issues,
        rules=[_stats(o) for o in outcomes],
    )


def _check_stage_lists(
    engine: GxEngine, entity: str, frame: pd.DataFrame, context: RunContext
) -> None:
    """A CRM with records but no stage list would fail every record on the stage rules: say
    what is missing instead."""
    suite = engine.suites[entity]
    needed = {p.removesuffix("_stages") for p in suite.parameters if p.endswith("_stages")}
    present = set(derive.sources(entity, frame).dropna().unique()) & needed
    missing = sorted(present - context.stages.sources())
    if missing:
        raise QualityRunError(
            f"{suite.path}: {entity} from {', '.join(missing)} but no stage list for it; the "
            "stage rules check each CRM's own list (materialize quality_stage_catalog)"
        )


def _stats(outcome: RuleOutcome) -> RuleStats:
    r = outcome.rule
    return RuleStats(r.code, r.label, r.severity, outcome.failures, outcome.evaluated)


def validate_tables(
    tables: Mapping[str, pd.DataFrame],
    suites: Mapping[str, Suite] | str | Path,
    context: RunContext,
    *,
    run_id: str,
    docs_dir: str | Path | None = None,
) -> QualityRun:
    """Validate every entity present in `tables` with its suite (a directory or loaded)."""
    entities = [e for e in ENTITIES if e in tables]
    if not isinstance(suites, Mapping):
        suites = load_suites(suites, {e: derive.columns(e) for e in entities})
    engine = GxEngine({e: suites[e] for e in entities}, docs_dir=docs_dir)
    reports = {e: validate_entity(engine, e, tables[e], context, run_id=run_id) for e in entities}
    docs = engine.build_docs({e: r.issues for e, r in reports.items()}, run_name=run_id)
    return QualityRun(run_id, reports, docs)
