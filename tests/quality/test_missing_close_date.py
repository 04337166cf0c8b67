"""A deal with no close date, on a hand-made frame: closed, it is held back (its revenue has no
date: `missing_close_date`, critical); open, it is flagged and flows on
(`open_deal_without_close_date`, warning) — HubSpot does not require a close date, and the
forecast places such a deal by its age and stage. A deal whose record does not say whether it
is closed counts as closed."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from quality_demo import SUITES

from acm_sync import model
from acm_sync.quality.derive import RunContext
from acm_sync.quality.stages import hubspot_stages
from acm_sync.quality.validate import QualityRun, validate_tables

AS_OF = pd.Timestamp("2025-06-30 12:00", tz="UTC")

# opportunity_id → (stage, is_closed, is_won, close_date)
DEALS: dict[str, tuple[str, bool | None, bool | None, str | None]] = {
    "hs:1": ("appointmentscheduled", False, False, None),  # open, no close date
    "hs:2": ("closedwon", True, True, None),  # won, no close date
    "hs:3": ("closedlost", True, False, None),  # lost, no close date
    "hs:4": ("appointmentscheduled", None, None, None),  # the record does not say
    "hs:5": ("appointmentscheduled", False, False, "2025-08-01"),  # clean
    "hs:6": ("closedwon", True, True, "2025-06-01"),  # clean
}


def _tables() -> dict[str, pd.DataFrame]:
    accounts = pd.DataFrame(
        {
            "account_id": ["hs:10"],
            "source": ["hubspot"],
            "source_id": ["10"],
            "name": ["Acme Corp"],
            "domain": ["acme.com"],
            "website": ["https://acme.com"],
            "currency": ["USD"],
            "created_at": [pd.Timestamp("2020-01-01", tz="UTC")],
            "updated_at": [pd.Timestamp("2025-01-01", tz="UTC")],
            "is_deleted": [False],
        }
    )
    rows: list[dict[str, Any]] = []
    for opportunity_id, (stage, closed, won, close) in DEALS.items():
        rows.append(
            {
                "opportunity_id": opportunity_id,
                "source": "hubspot",
                "source_id": opportunity_id.removeprefix("hs:"),
                "account_id": "hs:10",
                "name": f"Deal {opportunity_id}",
                "stage": stage,
                "stage_probability": {"closedwon": 1.0, "closedlost": 0.0}.get(stage, 0.2),
                "amount": 5000.0,
                "currency": "USD",
                "close_date": None if close is None else pd.Timestamp(close, tz="UTC"),
                "created_at": pd.Timestamp("2025-05-01", tz="UTC"),
                "updated_at": pd.Timestamp("2025-06-01", tz="UTC"),
                "is_closed": closed,
                "is_won": won,
                "type": "new",
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
    stages = hubspot_stages(
        [
            {
                "id": "default",
                "label": "Sales Pipeline",
                "stages": [
                    {"id": "appointmentscheduled", "label": "Appointment scheduled",
                     "metadata": {"isClosed": "false", "probability": "0.2"}},
                    {"id": "closedwon", "label": "Closed won",
                     "metadata": {"isClosed": "true", "probability": "1.0"}},
                    {"id": "closedlost", "label": "Closed lost",
                     "metadata": {"isClosed": "true", "probability": "0.0"}},
                ],
            }
        ]
    )  # fmt: skip
    tables = _tables()
    context = RunContext.from_tables(tables, as_of=AS_OF, stages=stages)
    return validate_tables(tables, SUITES, context, run_id="missing_close_date")


def _issues(run: QualityRun, code: str) -> pd.DataFrame:
    issues = run.reports["opportunities"].issues
    return issues[issues["code"] == code].set_index("record_id")


def test_closed_deals_without_a_close_date_are_held_back(run: QualityRun) -> None:
    held = _issues(run, "missing_close_date")
    assert sorted(held.index) == ["hs:2", "hs:3", "hs:4"]
    assert set(held["severity"]) == {"critical"}
    assert held.loc["hs:2", "reason"] == "Closed (closedwon) with no close date"
    quarantined = set(run.reports["opportunities"].quarantined["opportunity_id"])
    assert {"hs:2", "hs:3", "hs:4"} <= quarantined


def test_open_deals_without_a_close_date_are_flagged_and_flow_on(run: QualityRun) -> None:
    flagged = _issues(run, "open_deal_without_close_date")
    assert list(flagged.index) == ["hs:1"]
    assert flagged.loc["hs:1", "severity"] == "warning"
    assert flagged.loc["hs:1", "reason"] == "Open (stage appointmentscheduled) with no close date"
    valid = set(run.reports["opportunities"].valid["opportunity_id"])
    assert {"hs:1", "hs:5", "hs:6"} <= valid


def test_pulled_is_valid_plus_quarantined(run: QualityRun) -> None:
    report = run.reports["opportunities"]
    assert report.pulled == len(report.valid) + len(report.quarantined) == len(DEALS)
