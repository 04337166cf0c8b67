"""The generated dirty org through the suites: every seeded defect is caught by the rule meant
for it, with the intended severity, and clean records are left alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from quality_demo import Demo

from acm_sync.quality.validate import QualityRun

ENTITY = {
    "Account": "accounts",
    "companies": "accounts",
    "Contact": "contacts",
    "contacts": "contacts",
    "Opportunity": "opportunities",
    "deals": "opportunities",
}
# Generator defect kind → the issue codes meant to catch it, and whether it holds the row back.
INTENDED: dict[str, tuple[set[str], bool]] = {
    "bad_email": ({"bad_email"}, True),
    "duplicate_email": ({"duplicate_email"}, False),
    "missing_account_name": ({"missing_account_name", "placeholder_account_name"}, True),
    "negative_amount": ({"negative_amount"}, True),
    "absurd_amount": ({"absurd_amount"}, True),
    "unknown_stage": ({"unknown_stage"}, True),
    "stale_open_deal": ({"stale_open_deal"}, False),
    "probability_out_of_range": ({"probability_out_of_range"}, True),
    "closed_flag_mismatch": ({"closed_flag_mismatch"}, True),
    "orphan_contact": ({"orphan_contact"}, True),
    "orphan_opportunity": ({"orphan_opportunity"}, True),
    "created_after_modified": ({"created_after_modified"}, False),
    "future_date": ({"close_date_far_future"}, False),
    "overlong_string": ({"overlong_string"}, False),
    "control_characters": ({"control_characters"}, False),
    "malformed_domain": ({"malformed_domain"}, False),
    "duplicate_account": ({"duplicate_account"}, False),
    # None: held back when the deal is closed (its revenue has no date), flagged when open
    "missing_close_date": ({"missing_close_date", "open_deal_without_close_date"}, None),
}
# Not data-quality rules: the pull already marks these records (is_deleted / merged_into).
MARKED_BY_THE_PULL = {"soft_deleted", "merged"}
# Gaps in real records every CRM has; warnings by design, also on records the generator
# leaves clean.
COMPLETENESS = {
    "missing_title",
    "missing_email",
    "missing_domain",
    "missing_last_name",
    "missing_account",  # contacts with no company: common in HubSpot portals
}


def _defects(demo: Demo) -> pd.DataFrame:
    d = demo.org.defects
    prefix = np.where(d["system"] == "salesforce", "sf:", "hs:")
    return d.assign(record_id=prefix + d["record_id"], entity=d["object"].map(ENTITY))


def _keys(frame: pd.DataFrame) -> pd.Series:
    """entity|record_id (HubSpot numbers companies, contacts and deals independently)."""
    return frame["entity"].astype(str) + "|" + frame["record_id"].astype(str)


def _partners(demo: Demo) -> set[str]:
    """Originals named by duplicate defects: flagged with their copy, by design."""
    d = _defects(demo)
    dup = d[d["kind"].isin(["duplicate_email", "duplicate_account"])]
    return set(dup["entity"] + "|sf:" + dup["detail"].str.split().str[-1])


def test_every_defect_kind_in_the_manifest_is_known_here(demo: Demo) -> None:
    kinds = set(demo.org.defects["kind"])
    assert kinds <= set(INTENDED) | MARKED_BY_THE_PULL
    assert set(INTENDED) <= kinds  # the org is big enough to carry every kind


def _by_state(
    mine: pd.DataFrame, held_back: bool | None, run: QualityRun
) -> list[tuple[tuple[str, bool], pd.DataFrame]]:
    """The seeded records by entity and whether they should be held back: as the kind says,
    or (None) by whether the deal is closed."""
    out = []
    for entity, group in mine.groupby("entity"):
        if held_back is not None:
            out.append(((str(entity), held_back), group))
            continue
        report = run.reports[str(entity)]
        rows = pd.concat([report.valid, report.quarantined])
        closed = set(rows.loc[rows["is_closed"].ne(False).fillna(True), "opportunity_id"])
        is_closed = group["record_id"].isin(closed)
        for state in (True, False):
            if (is_closed == state).any():
                out.append(((str(entity), state), group[is_closed == state]))
    return out


@pytest.mark.parametrize("kind", sorted(INTENDED))
def test_seeded_defect_is_caught_by_its_rule(kind: str, demo: Demo, demo_run: QualityRun) -> None:
    codes, by_kind = INTENDED[kind]
    defects = _defects(demo)
    mine = defects[defects["kind"] == kind]
    issues = demo_run.issues
    for (entity, held_back), group in _by_state(mine, by_kind, demo_run):
        report = demo_run.reports[str(entity)]
        caught = issues[(issues["entity"] == entity) & issues["code"].isin(codes)]
        missed = sorted(set(group["record_id"]) - set(caught["record_id"]))
        assert not missed, f"{kind}: {len(missed)} of {len(group)} not caught, e.g. {missed[:3]}"
        if by_kind is None:  # one code per state
            code = "missing_close_date" if held_back else "open_deal_without_close_date"
            caught = caught[caught["code"] == code]
            missed = sorted(set(group["record_id"]) - set(caught["record_id"]))
            assert not missed, f"{kind} ({code}): {len(missed)} not caught, e.g. {missed[:3]}"
        severities = set(caught.loc[caught["record_id"].isin(group["record_id"]), "severity"])
        assert severities
        assert severities == {"critical" if held_back else "warning"}
        key = report.valid.columns[0]
        quarantined = set(report.quarantined[key])
        if held_back:
            assert set(group["record_id"]) <= quarantined
        else:  # flagged, flows on (unless another, critical issue holds it back)
            others = issues[
                (issues["entity"] == entity)
                & issues["record_id"].isin(group["record_id"])
                & (issues["severity"] == "critical")
            ]
            flowing = set(group["record_id"]) - set(others["record_id"])
            assert flowing <= set(report.valid[key])


def test_clean_records_are_never_held_back_and_only_completeness_warnings(
    demo: Demo, demo_run: QualityRun
) -> None:
    dirty = set(_keys(_defects(demo))) | _partners(demo)
    issues = demo_run.issues
    issues = issues[issues["entity"] != "opportunity_stage_history"]
    on_clean = issues[~_keys(issues).isin(dirty)]
    assert set(on_clean["severity"]) <= {"warning"}
    assert set(on_clean["code"]) <= COMPLETENESS, on_clean.groupby("code").head(2)


def test_pulled_equals_valid_plus_quarantined(demo: Demo, demo_run: QualityRun) -> None:
    for entity, report in demo_run.reports.items():
        assert report.pulled == len(demo.tables[entity])
        assert len(report.valid) + len(report.quarantined) == report.pulled
        key = report.valid.columns[0]
        if entity != "opportunity_stage_history":
            assert not set(report.valid[key]) & set(report.quarantined[key])
            held = demo_run.issues[
                (demo_run.issues["entity"] == entity) & (demo_run.issues["severity"] == "critical")
            ]
            assert set(report.quarantined[key]) == set(held["record_id"])


def test_deleted_and_merged_records_pass_through_marked_not_validated(
    demo: Demo, demo_run: QualityRun
) -> None:
    d = _defects(demo)
    merged_away = (d["kind"] == "merged") & (d["system"] == "salesforce")  # HubSpot lists survivors
    gone = d[(d["kind"] == "soft_deleted") | merged_away]
    for entity, group in gone.groupby("entity"):
        valid = demo_run.reports[str(entity)].valid
        key = valid.columns[0]
        rows = valid[valid[key].isin(group["record_id"])]
        assert len(rows) == group["record_id"].nunique()
        assert rows["is_deleted"].all()
    assert not _keys(demo_run.issues).isin(_keys(gone)).any()


def test_at_least_twenty_distinct_defect_kinds_fire_on_the_demo_org(demo_run: QualityRun) -> None:
    fired = set(demo_run.issues["code"])
    assert len(fired) >= 20, sorted(fired)


def test_quarantine_rows_follow_the_model(demo_run: QualityRun) -> None:
    q = demo_run.reports["opportunities"].quarantine_rows()
    assert list(q.columns) == [
        "entity",
        "record_id",
        "source",
        "rule",
        "reason",
        "severity",
        "run_id",
        "name",
        "url",
    ]
    assert set(q["run_id"]) == {"demo"}
    row = q[q["rule"].str.contains(r"\[negative_amount\]")].iloc[0]
    assert row["rule"].startswith("expect_column_values_to_be_between(amount)")
    assert row["reason"].startswith("Amount -") and row["severity"] == "critical"


def test_data_docs_are_built(demo_run: QualityRun) -> None:
    assert demo_run.docs_url and demo_run.docs_url.startswith("file://")  # validate_tables
    index = demo_run.docs_url.removeprefix("file://")
    html = Path(index).read_text(encoding="utf-8")
    assert "opportunities" in html
