"""Rules the generator does not seed, each proven on a record dirtied by hand: every rule in
the suites catches what it is meant to, with its severity."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from quality_demo import SUITES, Demo

from acm_sync.quality import derive
from acm_sync.quality.suites import ENTITIES, load_suites
from acm_sync.quality.validate import QualityRun, validate_tables

FUTURE = pd.Timestamp("2031-01-01", tz="UTC")
Mutation = Callable[[pd.DataFrame, int], None]


def _set(column: str, value: Any) -> Mutation:
    def apply(frame: pd.DataFrame, row: int) -> None:
        frame.at[row, column] = value

    return apply


def _copy_id(frame: pd.DataFrame, row: int) -> None:
    key = str(frame.columns[0])
    previous: Any = frame.at[row - 1, key]
    frame.at[row, key] = previous


def _close_before_created(frame: pd.DataFrame, row: int) -> None:
    created: Any = frame.at[row, "created_at"]
    frame.at[row, "close_date"] = created.floor("D") - pd.Timedelta(days=2)


# What the CRM held in the mapped CSAT / NPS field where it was not a number: the quality
# step reads it from the raw tables (connectors.raw_values); here, from the mutation.
TYPED_SATISFACTION: dict[str, str] = {}


def _typed_satisfaction(text: str) -> Mutation:
    def apply(frame: pd.DataFrame, row: int) -> None:
        frame.at[row, "satisfaction"] = None  # the canonical column keeps numbers only
        TYPED_SATISFACTION[str(frame.at[row, "account_id"])] = text

    return apply


# entity → (issue code, mutation) for one clean live record each.
CASES: dict[str, list[tuple[str, Mutation]]] = {
    "accounts": [
        ("missing_id", _set("account_id", None)),
        ("duplicate_id", _copy_id),
        ("created_in_future", _set("created_at", FUTURE)),
        ("updated_in_future", _set("updated_at", FUTURE)),
        ("activity_in_future", _set("last_activity_at", FUTURE)),
        ("overlong_string", _set("name", "Acme " * 60)),
        ("invalid_currency", _set("currency", "Euro")),
        ("implausible_employees", _set("employees", -3)),
        ("implausible_revenue", _set("annual_revenue", -5.0)),
        ("missing_domain", _set("domain", None)),
        ("satisfaction_out_of_scale", _set("satisfaction", 140.0)),  # the default 0…100
        ("satisfaction_not_a_number", _typed_satisfaction("n/a")),
    ],
    "contacts": [
        ("missing_id", _set("contact_id", None)),
        ("duplicate_id", _copy_id),
        ("created_in_future", _set("created_at", FUTURE)),
        ("updated_in_future", _set("updated_at", FUTURE)),
        ("control_characters", _set("first_name", "An\tna")),
        ("control_characters", _set("title", "Head of\u00adIT")),
        ("overlong_string", _set("first_name", "Maria" * 10)),
        ("overlong_string", _set("last_name", "Castellano-" * 8)),
        ("missing_last_name", _set("last_name", None)),
        ("missing_email", _set("email", None)),
        ("activity_in_future", _set("last_activity_at", FUTURE)),
    ],
    "opportunities": [
        ("missing_id", _set("opportunity_id", None)),
        ("duplicate_id", _copy_id),
        ("missing_account", _set("account_id", None)),
        ("missing_stage", _set("stage", None)),
        ("created_in_future", _set("created_at", FUTURE)),
        ("updated_in_future", _set("updated_at", FUTURE)),
        ("missing_amount", _set("amount", None)),
        ("unknown_opportunity_type", _set("type", "upsell")),
        ("unknown_forecast_category", _set("forecast_category", "Maybe")),
        ("control_characters", _set("name", "Platform\x1b deal")),
        ("overlong_string", _set("name", "Renewal " * 20)),
        ("invalid_currency", _set("currency", "$")),
        ("closed_before_created", _close_before_created),
    ],
    "opportunity_stage_history": [
        ("missing_id", _set("opportunity_id", None)),
        ("orphan_history", _set("opportunity_id", "sf:006XXXXXXXXXXXXXXX")),
        ("missing_changed_at", _set("changed_at", None)),
        ("changed_in_future", _set("changed_at", FUTURE)),
        ("duplicate_history_row", _copy_id),  # same opportunity, and …
    ],
}


@pytest.fixture(scope="module")
def dirtied(demo: Demo, demo_run: QualityRun) -> tuple[QualityRun, dict[str, dict[int, str]]]:
    """Each entity's clean live records (no issue at all in the demo run) with one hand-made
    defect each, validated: any issue found comes from a hand-made defect."""
    tables: dict[str, pd.DataFrame] = {}
    targets: dict[str, dict[int, str]] = {}
    for entity, cases in CASES.items():
        report = demo_run.reports[entity]
        table = demo.tables[entity]
        ids = derive.record_ids(entity, table)
        clean = ~ids.isin(report.issues["record_id"]) & derive.live_mask(table)
        # Two clean rows in a row per case (the duplicate cases copy the previous row's key).
        rows = [i for i in table.index[clean] if i - 1 in table.index and clean[i - 1]][::3]
        frame = table.loc[sorted({r for i in rows[: len(cases)] for r in (i - 1, i)})].copy()
        frame = frame.reset_index(drop=True)
        picked = {}
        for n, (code, mutate) in enumerate(cases):
            row = 2 * n + 1
            mutate(frame, row)
            if code == "duplicate_history_row":
                same_moment: Any = frame.at[row - 1, "changed_at"]
                frame.at[row, "changed_at"] = same_moment
            picked[row] = code
        tables[entity] = frame
        targets[entity] = picked
    context = dataclasses.replace(
        demo.context, satisfaction_typed=pd.Series(TYPED_SATISFACTION, dtype="string")
    )
    run = validate_tables(tables, SUITES, context, run_id="dirtied")
    return run, targets


@pytest.mark.parametrize("entity", ENTITIES)
def test_each_rule_catches_its_hand_made_defect(
    entity: str, dirtied: tuple[QualityRun, dict[str, dict[int, str]]]
) -> None:
    run, targets = dirtied
    report = run.reports[entity]
    suite = load_suites(SUITES, {entity: derive.columns(entity)})[entity]
    severity = {r.code: r.severity for r in suite.rules}
    frame = pd.concat([report.valid, report.quarantined]).reset_index(drop=True)
    issues = report.issues
    for code in targets[entity].values():
        caught = issues[issues["code"] == code]
        assert len(caught), f"{entity}: {code} not caught"
        assert set(caught["severity"]) == {severity[code]}
    assert len(frame) == report.pulled


def test_every_rule_of_every_suite_fires_somewhere(
    demo_run: QualityRun, dirtied: tuple[QualityRun, dict[str, dict[int, str]]]
) -> None:
    """The demo org plus the hand-made defects exercise every rule of the suites."""
    run, _ = dirtied
    fired = {
        (entity, rule)
        for r in (demo_run, run)
        for entity, report in r.reports.items()
        for rule in report.issues["rule"].unique()
    }
    suites = load_suites(SUITES, {e: derive.columns(e) for e in ENTITIES})
    never = [
        (e, rule.label)
        for e, suite in suites.items()
        for rule in suite.rules
        if (e, rule.label) not in fired
    ]
    assert not never


def test_csat_rules_quote_what_the_crm_holds_and_keep_the_account(demo: Demo) -> None:
    # A 1–5 CSAT: 7 is outside it, "n/a" is not a number, 4.5 is fine. Both are warnings: the
    # accounts flow on (nothing pulled is lost), only their satisfaction is unusable.
    table = demo.tables["accounts"]
    live = table[derive.live_mask(table)].head(3).copy().reset_index(drop=True)
    live["satisfaction"] = pd.array([7.0, None, 4.5], dtype="Float64")
    ids = live["account_id"].astype(str).tolist()
    context = dataclasses.replace(
        demo.context,
        satisfaction_scale=(1.0, 5.0),
        satisfaction_typed=pd.Series({ids[1]: "n/a", ids[2]: "4,5"}, dtype="string"),
    )
    report = validate_tables({"accounts": live}, SUITES, context, run_id="csat").reports["accounts"]
    issues = report.issues[report.issues["code"].str.startswith("satisfaction")]
    by_id = dict(zip(issues["record_id"], issues["reason"], strict=True))
    assert by_id == {
        ids[0]: "CSAT / NPS 7 is outside the scale 1…5 (health.satisfaction.scale_min / "
        "scale_max); not scored until fixed",
        # the canonical value is empty: what the CRM held is quoted
        ids[1]: "CSAT / NPS 'n/a' is not a number; not scored until fixed",
        # ids[2] reads 4.5 now: an old unreadable text is not held against it
    }
    assert set(issues["severity"]) == {"warning"}
    assert set(ids) <= set(report.valid["account_id"])
