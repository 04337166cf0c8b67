"""A CRM whose stage history begins after its deals were created: migrated or imported
(Salesforce's OpportunityHistory and HubSpot's property history start on the import day,
whatever CreatedDate / createdate say), or history tracking switched on late.

Such a deal was open from its creation in a stage nobody recorded (`UNRECORDED`, no close date
known), and one imported already closed closed at its close date — not on the import day.
Found by loading Pipeline Command Center's 6,000 deals into an empty sandbox through Bulk API
2.0: the backtest saw no deal open at any past origin (forecast = run-rate only, −80 %)."""

from __future__ import annotations

import pandas as pd
from scoring_builders import AS_OF, accounts, contacts, days_ago, history, opportunities

from acm_sync.scoring import AccountBook, DealHistory, backtest
from acm_sync.scoring.hazard import resolution
from acm_sync.scoring.periods import NAT, nanos
from acm_sync.scoring.settings import ForecastConfig
from acm_sync.scoring.stages import UNRECORDED

IMPORTED = days_ago(1)  # the import day: every history row starts then


def _history(deals: list[dict[str, object]], rows: list[dict[str, object]]) -> DealHistory:
    book = AccountBook.from_canonical(
        accounts({"account_id": "sf:A"}), contacts(), opportunities(*deals)
    )
    return DealHistory.build(book, history(*rows))


def _row(oid: str, stage: str, at: pd.Timestamp, close: pd.Timestamp | None) -> dict[str, object]:
    return {"opportunity_id": oid, "stage": stage, "amount": 5000.0, "close_date": close,
            "changed_at": at}  # fmt: skip


DEALS = [
    # open, created 400 days ago, first recorded yesterday in Negotiation/Review
    {"opportunity_id": "sf:OPEN", "account_id": "sf:A", "created_at": days_ago(400),
     "stage": "Negotiation/Review", "stage_probability": 0.9, "close_date": days_ago(-30)},
    # won 100 days ago, created 300 days ago, imported closed
    {"opportunity_id": "sf:WON", "account_id": "sf:A", "created_at": days_ago(300),
     "is_won": True, "close_date": days_ago(100)},
    # a deal whose history starts with it (six hours after creation): left as it is
    {"opportunity_id": "sf:NATIVE", "account_id": "sf:A", "created_at": days_ago(50.25),
     "stage": "Prospecting", "close_date": days_ago(-10)},
    # no creation date: nothing to start from
    {"opportunity_id": "sf:NODATE", "account_id": "sf:A", "created_at": None,
     "stage": "Prospecting", "close_date": days_ago(-10)},
]  # fmt: skip
ROWS = [
    _row("sf:OPEN", "Negotiation/Review", IMPORTED, days_ago(-30)),
    _row("sf:WON", "Closed Won", IMPORTED, days_ago(100)),
    _row("sf:NATIVE", "Prospecting", days_ago(50), days_ago(-10)),
    _row("sf:NODATE", "Prospecting", IMPORTED, days_ago(-10)),
]


def _stage_at(hist: DealHistory, at: pd.Timestamp) -> dict[str, tuple[str, bool]]:
    """Deal → (stage, has a close date) as the history had it just before `at`."""
    rows = hist.state_at(at.value)
    ids = hist.book.opportunities["opportunity_id"].to_numpy()[rows["opp_pos"].to_numpy()]
    names = hist.stages["stage"].to_numpy(dtype=object)[rows["stage_code"].to_numpy()]
    has_close = rows["close_date"].to_numpy() != NAT
    return {str(i): (str(s), bool(c)) for i, s, c in zip(ids, names, has_close, strict=True)}


def test_before_its_history_began_a_deal_was_open_in_an_unrecorded_stage() -> None:
    hist = _history(DEALS, ROWS)
    before = _stage_at(hist, days_ago(200))
    # open then, stage unknown and no close date known (its later one would tell the future)
    assert before["sf:OPEN"] == (UNRECORDED, False)
    assert before["sf:WON"] == (UNRECORDED, False)
    assert "sf:NATIVE" not in before  # not created yet
    assert "sf:NODATE" not in before
    now = _stage_at(hist, AS_OF)
    assert now["sf:OPEN"] == ("Negotiation/Review", True)
    assert now["sf:NATIVE"] == ("Prospecting", True)
    # the stage recorded at the import is entered then: its time in stage starts on the day
    rows = hist.rows.set_index(
        hist.book.opportunities["opportunity_id"].to_numpy()[hist.rows["opp_pos"]]
    )
    negotiation = rows.loc["sf:OPEN"].iloc[-1]
    assert negotiation["run_start"] == IMPORTED.value


def test_a_deal_imported_closed_closed_at_its_close_date() -> None:
    hist = _history(DEALS, ROWS)
    closed_at, won = resolution(hist)
    ids = list(hist.book.opportunities["opportunity_id"])
    at = ids.index("sf:WON")
    assert closed_at[at] == nanos(pd.Series([days_ago(100)]))[0]
    assert won[at]
    assert _stage_at(hist, days_ago(50))["sf:WON"][0] == "Closed Won"
    # only the imported deals got a start: native and undated histories are as recorded
    unrecorded = hist.stages["stage"].to_numpy(dtype=object)[hist.rows["stage_code"]] == UNRECORDED
    started = set(
        hist.book.opportunities["opportunity_id"].to_numpy()[hist.rows["opp_pos"][unrecorded]]
    )
    assert started == {"sf:OPEN", "sf:WON"}


def test_an_imported_crm_is_backtested_on_the_pipeline_it_had() -> None:
    # 240 deals created over two years, one every three days, each decided 45 days later (one
    # in three won), all imported yesterday: the history says nothing before the import
    deals, rows = [], []
    for i in range(240):
        oid = f"sf:D{i:03d}"
        created = days_ago(730 - 3 * i)
        close = created + pd.Timedelta(days=45)
        won = i % 3 == 0
        stage = "Closed Won" if won else "Closed Lost"
        deals.append({"opportunity_id": oid, "account_id": "sf:A", "created_at": created,
                      "close_date": close, "is_won": won, "is_closed": True, "stage": stage,
                      "stage_probability": 1.0 if won else 0.0})  # fmt: skip
        rows.append(_row(oid, stage, IMPORTED, close))
    hist = _history(deals, rows)
    starts = ("2024-04-01", "2024-07-01", "2024-10-01", "2025-01-01")
    quarters = tuple(pd.Timestamp(t, tz="UTC") for t in starts)
    result = backtest(hist, AS_OF, ForecastConfig(), origins=quarters)
    origins = result.origins
    # each past quarter start had the deals created in the 45 days before it open: 15
    assert (origins["open_deals"] == 15).all(), origins[["origin", "open_deals"]]
    assert origins["eligible"].all()
