"""Rule `closed_before_created` on a hand-made frame: a deal whose close date is more than a day
before the day it was created (a CRM migrated without its audit fields) is flagged as a warning
and flows on; the comparison is on calendar dates with a day's slack (Salesforce's CloseDate is
the org's local date, CreatedDate UTC), and a missing date is not judged."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from quality_demo import SUITES

from acm_sync import model
from acm_sync.quality import derive
from acm_sync.quality.derive import RunContext
from acm_sync.quality.stages import salesforce_stages
from acm_sync.quality.suites import load_suites
from acm_sync.quality.validate import QualityRun, validate_tables

AS_OF = pd.Timestamp("2025-06-30 12:00", tz="UTC")
CODE = "closed_before_created"


def _ts(text: str | None) -> pd.Timestamp | None:
    return None if text is None else pd.Timestamp(text, tz="UTC")


# opportunity_id → (close_date, created_at); every other field clean.
DEALS: dict[str, tuple[str | None, str | None]] = {
    "sf:two_days_before": ("2025-03-03", "2025-03-05 09:30"),
    # created 18:00 in California (01:00 UTC the next day), closed that local day: not flagged
    "sf:day_before_in_utc": ("2025-03-04", "2025-03-05 01:00"),
    "sf:years_before": ("2021-11-30", "2024-02-01 00:00"),  # the migration import day
    "sf:same_day_later_hour": ("2025-03-05", "2025-03-05 15:00"),
    "sf:same_day_close_at_noon": ("2025-03-05 12:00", "2025-03-05 15:00"),  # a HubSpot-like time
    "sf:day_after": ("2025-03-06", "2025-03-05 23:59"),
    "sf:no_created_at": ("2025-03-04", None),
    "sf:no_close_date": (None, "2025-03-05 09:30"),
}
FLAGGED = {"sf:two_days_before", "sf:years_before"}


def _tables() -> dict[str, pd.DataFrame]:
    accounts = pd.DataFrame(
        {
            "account_id": ["sf:001A"],
            "source": ["salesforce"],
            "source_id": ["001A"],
            "name": ["Acme Corp"],
            "domain": ["acme.com"],
            "website": ["https://acme.com"],
            "currency": ["USD"],
            "created_at": [_ts("2020-01-01")],
            "updated_at": [_ts("2025-01-01")],
            "is_deleted": [False],
        }
    )
    rows: list[dict[str, Any]] = []
    for opportunity_id, (close, created) in DEALS.items():
        rows.append(
            {
                "opportunity_id": opportunity_id,
                "source": "salesforce",
                "source_id": opportunity_id.removeprefix("sf:"),
                "account_id": "sf:001A",
                "name": f"Acme {opportunity_id}",
                "stage": "Closed Won",
                "stage_probability": 1.0,
                "amount": 12000.0,
                "currency": "USD",
                "close_date": _ts(close),
                "created_at": _ts(created),
                "updated_at": _ts("2025-06-01"),
                "is_closed": True,
                "is_won": True,
                "type": "new",
                "forecast_category": "Closed",
                "is_deleted": False,
            }
        )
    opportunities = pd.DataFrame(rows)
    for frame, table in ((accounts, model.ACCOUNTS), (opportunities, model.OPPORTUNITIES)):
        for column in table:
            if column not in frame:
                frame[column] = None
    return {
        "accounts": model.conform(accounts, "accounts"),
        "opportunities": model.conform(opportunities, "opportunities"),
    }


@pytest.fixture(scope="module")
def run() -> QualityRun:
    tables = _tables()
    stages = salesforce_stages(
        [
            {"ApiName": "Prospecting", "MasterLabel": "Prospecting", "IsClosed": False,
             "IsWon": False, "DefaultProbability": 10, "IsActive": True},
            {"ApiName": "Closed Won", "MasterLabel": "Closed Won", "IsClosed": True,
             "IsWon": True, "DefaultProbability": 100, "IsActive": True},
        ]
    )  # fmt: skip
    context = RunContext.from_tables(tables, as_of=AS_OF, stages=stages)
    return validate_tables(tables, SUITES, context, run_id="closed_before_created")


def test_the_hand_made_deals_are_clean_but_for_their_dates(run: QualityRun) -> None:
    """Only the date rules (this one, a missing close date) fire: the frame is otherwise clean,
    so what the other tests see comes from the dates."""
    codes = set(run.issues["code"])
    assert codes == {CODE, "missing_close_date"}, run.issues[["record_id", "code", "reason"]]


def test_a_deal_closed_before_it_was_created_gets_exactly_that_warning(run: QualityRun) -> None:
    issues = run.issues[run.issues["code"] == CODE]
    assert set(issues["record_id"]) == FLAGGED
    assert len(issues) == len(FLAGGED)  # one issue per deal
    assert set(issues["severity"]) == {"warning"}
    reasons = dict(zip(issues["record_id"], issues["reason"], strict=True))
    assert reasons["sf:two_days_before"] == (
        "Close date 2025-03-03 is before the deal was created (2025-03-05)"
    )
    assert reasons["sf:years_before"] == (
        "Close date 2021-11-30 is before the deal was created (2024-02-01)"
    )


def test_same_day_later_and_missing_dates_are_not_flagged(run: QualityRun) -> None:
    flagged = set(run.issues.loc[run.issues["code"] == CODE, "record_id"])
    for opportunity_id in set(DEALS) - FLAGGED:
        assert opportunity_id not in flagged, opportunity_id


def test_the_warning_never_holds_a_deal_back(run: QualityRun) -> None:
    report = run.reports["opportunities"]
    assert set(report.valid["opportunity_id"]) >= FLAGGED
    assert not FLAGGED & set(report.quarantined["opportunity_id"])
    # only the deal with no close date is held back (by its own critical rule)
    assert set(report.quarantined["opportunity_id"]) == {"sf:no_close_date"}
    assert len(report.valid) + len(report.quarantined) == report.pulled == len(DEALS)


def test_the_issue_text_written_back_carries_the_reason(run: QualityRun) -> None:
    texts = run.issue_texts().set_index("record_id")
    row = texts.loc["sf:two_days_before"]
    assert "Close date 2025-03-03 is before the deal was created (2025-03-05)" in str(row["issues"])
    assert not bool(row["held_back"])


def test_the_rule_is_a_warning_in_the_suite_with_a_why() -> None:
    suite = load_suites(SUITES, {"opportunities": derive.columns("opportunities")})
    rules = [r for r in suite["opportunities"].rules if r.code == CODE]
    assert len(rules) == 1
    assert rules[0].severity == "warning" and not rules[0].is_critical
    assert "migrat" in rules[0].why and "run-rate" in rules[0].why


def test_days_created_to_close_is_whole_calendar_days() -> None:
    tables = _tables()
    context = RunContext.from_tables(tables, as_of=AS_OF)
    frame = derive.prepare("opportunities", tables["opportunities"], context)
    days = dict(zip(frame["opportunity_id"], frame["_days_created_to_close"], strict=True))
    assert days["sf:two_days_before"] == -2
    assert days["sf:day_before_in_utc"] == -1
    assert days["sf:years_before"] == -793
    assert days["sf:same_day_later_hour"] == 0
    assert days["sf:same_day_close_at_noon"] == 0
    assert days["sf:day_after"] == 1
    assert pd.isna(days["sf:no_created_at"]) and pd.isna(days["sf:no_close_date"])
