"""Hand-built canonical frames for scoring tests: a few rows each, defaults for the rest."""

from __future__ import annotations

from typing import Any

import pandas as pd

from acm_sync.model import conform

AS_OF = pd.Timestamp("2025-06-15T12:00:00Z")


def days_ago(days: float) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(days=days)


# A deal created this long ago gives a book two years of history: its prior 12 months are
# seen, so revenue trends and growth compare them (facts.prior_window_seen).
TWO_YEARS = days_ago(760)


def accounts(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "source": "salesforce",
        "name": "Acme",
        "domain": "acme.com",
        "website": "https://acme.com",
        "industry": "Technology",
        "employees": 100,
        "annual_revenue": 1e6,
        "currency": "USD",
        "satisfaction": None,
        "owner_id": "sf:005A",
        "created_at": days_ago(1000),
        "updated_at": days_ago(1),
        "last_activity_at": None,
        "is_deleted": False,
        "merged_into": None,
    }
    records = []
    for row in rows:
        record = {**base, **row}
        record.setdefault("source_id", record["account_id"].split(":", 1)[-1])
        records.append(record)
    return conform(pd.DataFrame(records, columns=_columns(base, records)), "accounts")


def contacts(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "source": "salesforce",
        "email": None,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "title": None,
        "created_at": days_ago(500),
        "updated_at": days_ago(1),
        "last_activity_at": None,
        "is_deleted": False,
        "merged_into": None,
    }
    records = []
    for i, row in enumerate(rows):
        record = {**base, "contact_id": f"sf:003{i:05d}", **row}
        record.setdefault("source_id", record["contact_id"].split(":", 1)[-1])
        records.append(record)
    frame = pd.DataFrame(records, columns=_columns(base, records)) if records else None
    return conform(frame if frame is not None else _empty("contacts"), "contacts")


def opportunities(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "source": "salesforce",
        "name": "Deal",
        "stage": "Prospecting",
        "stage_probability": 0.1,
        "amount": 10_000.0,
        "currency": "USD",
        "close_date": AS_OF + pd.Timedelta(days=30),
        "created_at": days_ago(200),
        "updated_at": days_ago(1),
        "is_closed": False,
        "is_won": False,
        "type": "new",
        "forecast_category": "Pipeline",
        "is_deleted": False,
    }
    records = []
    for i, row in enumerate(rows):
        record = {**base, "opportunity_id": f"sf:006{i:05d}", **row}
        if record["is_won"]:
            record.update(
                is_closed=True,
                stage=row.get("stage", "Closed Won"),
                stage_probability=1.0,
                forecast_category="Closed",
            )
        record.setdefault("source_id", record["opportunity_id"].split(":", 1)[-1])
        records.append(record)
    frame = pd.DataFrame(records, columns=_columns(base, records)) if records else None
    return conform(frame if frame is not None else _empty("opportunities"), "opportunities")


def won(account_id: str, amount: float, days: float, **extra: Any) -> dict[str, Any]:
    """A won deal closed `days` before AS_OF."""
    return {
        "account_id": account_id,
        "amount": amount,
        "is_won": True,
        "close_date": days_ago(days),
        **extra,
    }


def history(*rows: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(
        list(rows), columns=["opportunity_id", "stage", "amount", "close_date", "changed_at"]
    )
    return conform(frame, "opportunity_stage_history")


def _columns(base: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    columns = list(base)
    for record in records:
        columns += [c for c in record if c not in columns]
    return columns


def _empty(table: str) -> pd.DataFrame:
    from acm_sync.model import empty_frame

    return empty_frame(table)


SF_LADDER = (
    ("Prospecting", 0.1),
    ("Qualification", 0.1),
    ("Needs Analysis", 0.2),
    ("Value Proposition", 0.5),
)


def deal_story(
    opportunity_id: str,
    account_id: str,
    stages: list[str],
    *,
    outcome: str,
    start_days_ago: float,
    step_days: float = 10,
    amount: float = 10_000.0,
    close_in_days: float = 30,
    deal_type: str = "new",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One opportunity walking `stages` every `step_days`, then `outcome` (won / lost / open),
    as (opportunity row, history rows). The close date is `close_in_days` after the last
    change for open deals and the close moment for closed ones."""
    probability = dict(SF_LADDER)
    rows = []
    t = days_ago(start_days_ago)
    planned = t + pd.Timedelta(days=close_in_days)
    for stage in stages:
        rows.append(
            {
                "opportunity_id": opportunity_id,
                "stage": stage,
                "amount": amount,
                "close_date": planned,
                "changed_at": t,
            }
        )
        t = t + pd.Timedelta(days=step_days)
    deal: dict[str, Any] = {
        "opportunity_id": opportunity_id,
        "account_id": account_id,
        "amount": amount,
        "type": deal_type,
        "created_at": days_ago(start_days_ago),
        "stage": stages[-1],
        "stage_probability": probability.get(stages[-1], 0.1),
        "close_date": planned,
    }
    if outcome in ("won", "lost"):
        final = "Closed Won" if outcome == "won" else "Closed Lost"
        rows.append(
            {
                "opportunity_id": opportunity_id,
                "stage": final,
                "amount": amount,
                "close_date": t,
                "changed_at": t,
            }
        )
        deal.update(
            stage=final,
            stage_probability=1.0 if outcome == "won" else 0.0,
            is_closed=True,
            is_won=outcome == "won",
            close_date=t,
            forecast_category="Closed" if outcome == "won" else "Omitted",
        )
    return deal, rows


def stories(
    *items: tuple[dict[str, Any], list[dict[str, Any]]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(opportunities, history) frames from `deal_story` results."""
    deals = [deal for deal, _ in items]
    rows = [row for _, story_rows in items for row in story_rows]
    return opportunities(*deals), history(*rows)
