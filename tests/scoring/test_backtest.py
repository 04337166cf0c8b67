"""Backtest and the whole run on the demo org: calibrated beats the stage defaults, no
leakage, and every value that lands in a CRM field fits it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scoring_builders import AS_OF, accounts, contacts, deal_story, history, opportunities, stories

from acm_sync.config import AcmSyncConfig, ForecastConfig
from acm_sync.scoring import (
    AccountBook,
    DealHistory,
    Scores,
    backtest,
    learn_win_rates,
    score_accounts,
)
from acm_sync.scoring.backtest import (
    ORIGIN_COLUMNS,
    RELIABILITY_COLUMNS,
    combine,
    origins_with_deals,
)
from acm_sync.scoring.health import BANDS, TRENDS
from quality.quality_demo import CURRENCY, pipeline_tables

DEMO_ACCOUNTS, DEMO_SEED = 2000, 7


CONFIG = AcmSyncConfig(currency=CURRENCY)  # the shipped rates: the demo org sells in 3 currencies


@pytest.fixture(scope="module")
def pipeline() -> tuple[Any, dict[str, pd.DataFrame], pd.DataFrame]:
    """The demo org as the pipeline hands it to scoring: both CRMs mapped by the ingestion,
    the rows quality let through, the account identity."""
    from acm_sync.sandbox.generator import generate_org

    org = generate_org(DEMO_ACCOUNTS, seed=DEMO_SEED)
    return (org, *pipeline_tables(org))


@pytest.fixture(scope="module")
def demo(
    pipeline: tuple[Any, dict[str, pd.DataFrame], pd.DataFrame],
) -> tuple[Any, dict[str, pd.DataFrame]]:
    return pipeline[0], pipeline[1]


@pytest.fixture(scope="module")
def scores(pipeline: tuple[Any, dict[str, pd.DataFrame], pd.DataFrame]) -> Scores:
    org, tables, identity = pipeline
    return score_accounts(tables, as_of=org.now, config=CONFIG, identity=identity)


def test_model_forecast_beats_stage_defaults_on_the_demo_org(
    demo: tuple[Any, dict[str, pd.DataFrame]], scores: Scores
) -> None:
    org, tables = demo
    history = DealHistory.build(scores.book, tables["opportunity_stage_history"])
    result = backtest(history, org.now, ForecastConfig())
    assert list(result.origins.columns) == list(ORIGIN_COLUMNS)
    assert len(result.origins) == ForecastConfig().backtest.origins
    assert result.origins["eligible"].all()
    s = result.summary
    assert s["actual_total"] > 0
    assert s["model_wape"] < s["baseline_wape"], result.markdown()
    assert abs(s["model_bias"]) < abs(s["baseline_bias"]), result.markdown()
    assert s["model_brier"] < s["baseline_brier"], result.markdown()
    assert list(result.reliability.columns) == list(RELIABILITY_COLUMNS)
    assert result.reliability["deals"].sum() == result.origins["open_deals"].sum()
    metadata = result.metadata()
    assert metadata["backtest_origins"] == len(result.origins)
    assert "backtest_model_wape" in metadata
    first = result.origins["origin"].iloc[0]
    assert f"backtest_{first.year}Q{(first.month - 1) // 3 + 1}_total_error" in metadata


def test_backtest_figures_on_a_hand_made_book() -> None:
    """One origin (2025-01-01), horizon one quarter. Open then: a 10k deal in Negotiation
    (default 0.9, due in the quarter) that is won in February, and a 30k deal in Prospecting
    (0.1, due in the quarter) that is lost. Created after the origin and won in March: 5k.
    No training data → the model is the stage default, so every figure is known by hand."""
    origin = pd.Timestamp("2025-01-01", tz="UTC")
    opps = opportunities(
        {
            "opportunity_id": "sf:W",
            "account_id": "sf:A",
            "amount": 10_000,
            "is_won": True,
            "close_date": pd.Timestamp("2025-02-10", tz="UTC"),
            "created_at": pd.Timestamp("2024-11-01", tz="UTC"),
        },
        {
            "opportunity_id": "sf:L",
            "account_id": "sf:B",
            "amount": 30_000,
            "stage": "Closed Lost",
            "stage_probability": 0.0,
            "is_closed": True,
            "close_date": pd.Timestamp("2025-03-01", tz="UTC"),
            "created_at": pd.Timestamp("2024-12-01", tz="UTC"),
        },
        {
            "opportunity_id": "sf:N",
            "account_id": "sf:A",
            "amount": 5_000,
            "is_won": True,
            "close_date": pd.Timestamp("2025-03-20", tz="UTC"),
            "created_at": pd.Timestamp("2025-02-01", tz="UTC"),
        },
    )
    rows = history(
        {
            "opportunity_id": "sf:W",
            "stage": "Negotiation/Review",
            "amount": 10_000.0,
            "close_date": pd.Timestamp("2025-03-15", tz="UTC"),
            "changed_at": pd.Timestamp("2024-11-01", tz="UTC"),
        },
        {
            "opportunity_id": "sf:W",
            "stage": "Closed Won",
            "amount": 10_000.0,
            "close_date": pd.Timestamp("2025-02-10", tz="UTC"),
            "changed_at": pd.Timestamp("2025-02-10", tz="UTC"),
        },
        {
            "opportunity_id": "sf:L",
            "stage": "Prospecting",
            "amount": 30_000.0,
            "close_date": pd.Timestamp("2025-03-30", tz="UTC"),
            "changed_at": pd.Timestamp("2024-12-01", tz="UTC"),
        },
        {
            "opportunity_id": "sf:L",
            "stage": "Closed Lost",
            "amount": 30_000.0,
            "close_date": pd.Timestamp("2025-03-01", tz="UTC"),
            "changed_at": pd.Timestamp("2025-03-01", tz="UTC"),
        },
        {
            "opportunity_id": "sf:N",
            "stage": "Closed Won",
            "amount": 5_000.0,
            "close_date": pd.Timestamp("2025-03-20", tz="UTC"),
            "changed_at": pd.Timestamp("2025-03-20", tz="UTC"),
        },
    )
    book = AccountBook.from_canonical(
        accounts({"account_id": "sf:A"}, {"account_id": "sf:B"}), contacts(), opps
    )
    result = backtest(DealHistory.build(book, rows), AS_OF, ForecastConfig(), origins=(origin,))
    row = result.origins.iloc[0]
    assert not row["eligible"] and row["training_deals"] == 0
    assert row["open_deals"] == 2
    assert row["actual_total"] == 15_000
    assert row["actual_open_pipeline"] == 10_000
    assert row["actual_new_pipeline"] == 5_000
    # no quarter before the first deal: no run-rate
    assert row["run_rate"] == 0
    assert row["baseline_open_forecast"] == pytest.approx(0.9 * 10_000 + 0.1 * 30_000)
    assert row["model_open_forecast"] == pytest.approx(12_000)
    # the model's p is the stage default here: √(10k² · 0.9 · 0.1 + 30k² · 0.1 · 0.9)
    assert row["open_sd"] == pytest.approx(9_486.833, rel=1e-6)
    # accounts: A forecast 9k, booked 10k; B forecast 3k, booked 0 → (1k + 3k) / 10k
    assert row["baseline_wape"] == pytest.approx(0.4)
    assert row["baseline_bias"] == pytest.approx(0.2)
    assert row["total_error"] == pytest.approx((12_000 - 15_000) / 15_000)
    # Brier: ((0.9 − 1)² + (0.1 − 0)²) / 2
    assert row["baseline_brier"] == pytest.approx(0.01)
    reliability = result.reliability.set_index("decile")
    assert reliability.loc["90–100 %", "baseline_deals"] == 1
    assert reliability.loc["90–100 %", "baseline_won_share"] == 1.0
    assert reliability.loc["10–20 %", "baseline_won_share"] == 0.0

    # one origin at a time, combined: the same figures as one run over both origins
    config = ForecastConfig()
    history_ = DealHistory.build(book, rows)
    both = (pd.Timestamp("2024-10-01", tz="UTC"), origin)
    whole = backtest(history_, AS_OF, config, origins=both)
    parts = combine([backtest(history_, AS_OF, config, origins=(o,)) for o in reversed(both)])
    pd.testing.assert_frame_equal(parts.origins, whole.origins)
    pd.testing.assert_frame_equal(parts.reliability, whole.reliability)
    assert parts.summary == pytest.approx(whole.summary, nan_ok=True)
    # the same origin twice: twice the deals in every decile, the same shares
    twice = combine([result, result]).reliability.set_index("decile")
    assert twice.loc["90–100 %", "baseline_deals"] == 2
    assert twice.loc["90–100 %", "baseline_won_share"] == 1.0
    assert twice.loc["10–20 %", "baseline_mean_p"] == pytest.approx(0.1)
    assert combine([result, result]).summary["baseline_brier"] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="at least one"):
        combine([])


def test_learning_at_an_origin_ignores_later_outcomes() -> None:
    # the same deals, once won and once lost after the origin: the rates at the origin agree
    origin = AS_OF - pd.Timedelta(days=100)

    def rates(outcome: str) -> pd.DataFrame:
        early = [
            deal_story(f"sf:E{i}", "sf:A", ["Prospecting"], outcome="won", start_days_ago=400)
            for i in range(10)
        ]
        late = [
            deal_story(f"sf:L{i}", "sf:A", ["Prospecting"], outcome=outcome, start_days_ago=110)
            for i in range(10)
        ]
        opps, history = stories(*early, *late)
        book = AccountBook.from_canonical(accounts({"account_id": "sf:A"}), contacts(), opps)
        table = learn_win_rates(DealHistory.build(book, history), origin, ForecastConfig())
        return table.by_stage.set_index(["source", "stage"]).sort_index()

    pd.testing.assert_frame_equal(rates("won"), rates("lost"))
    # the late deals were open at the month starts before the origin: seen, not resolved
    row = rates("won").loc[("salesforce", "Prospecting")]
    assert (row["wins"], row["losses"]) == (0, 0)


def test_crm_field_values_fit_their_fields(scores: Scores) -> None:
    tiers, health, actions = scores.tiers, scores.health, scores.next_actions
    assert set(tiers["tier"]) <= {"Key", "Existing", "New", "Dormant", "Prospect"}
    assert set(tiers["tier"]) == {"Key", "Existing", "New", "Dormant", "Prospect"}
    assert tiers["tier_reason"].str.len().max() <= 255
    assert set(health["health_band"].dropna()) <= set(BANDS)
    assert set(health["health_trend"]) <= set(TRENDS)
    score = health["health_score"].to_numpy(dtype=float)
    assert np.nanmin(score) >= 0 and np.nanmax(score) <= 100
    assert health["health_drivers"].str.len().max() <= 1000
    assert actions["next_action"].str.len().max() <= 255
    p = scores.win_probabilities["p_win"].to_numpy(dtype=float)
    assert ((p >= 0) & (p <= 1)).all()
    # one row per unified account everywhere
    keys = list(scores.book.accounts["account_key"])
    for frame in (tiers, health, actions, scores.forecast.accounts):
        assert list(frame["account_key"]) == keys


def test_key_accounts_are_a_small_share_carrying_most_revenue(scores: Scores) -> None:
    tiers = scores.tiers
    paying = tiers["t12m_won_revenue"] > 0
    key = tiers["key_by_revenue"]
    assert key.sum() <= max(1, int(0.2 * paying.sum()))
    assert (
        tiers.loc[key, "t12m_won_revenue"].min() >= tiers.loc[paying & ~key, "t12m_won_revenue"]
    ).all()


def test_a_second_run_trends_against_the_first(
    pipeline: tuple[Any, dict[str, pd.DataFrame], pd.DataFrame], scores: Scores
) -> None:
    org, tables, identity = pipeline
    again = score_accounts(
        tables,
        as_of=org.now,
        config=CONFIG,
        identity=identity,
        previous_health=scores.health[["account_key", "health_score"]],
    )
    # The same data scored again: every account that had a score is Flat, none moved.
    had = again.health["account_key"].isin(scores.health["account_key"])
    assert had.all()
    assert (again.health["health_trend"] == "Flat").all(), again.health[
        "health_trend"
    ].value_counts()
    pd.testing.assert_series_equal(
        again.health["health_score"].reset_index(drop=True),
        scores.health["health_score"].reset_index(drop=True),
    )


def test_origins_are_calendar_quarter_starts_whatever_the_fiscal_year() -> None:
    opps, rows = stories(  # created 2023-07-16: before every origin below
        deal_story("sf:X", "sf:A", ["Prospecting"], outcome="won", start_days_ago=700)
    )
    book = AccountBook.from_canonical(accounts({"account_id": "sf:A"}), contacts(), opps)
    config = ForecastConfig(fiscal_year_start_month=2)
    result = backtest(DealHistory.build(book, rows), AS_OF, config)
    # as of 2025-06-15, horizon one quarter: the last six calendar quarters that have ended
    # (a February fiscal year would start them in Feb / May / Aug / Nov)
    assert [o.strftime("%Y-%m-%d") for o in result.origins["origin"]] == [
        "2023-10-01",
        "2024-01-01",
        "2024-04-01",
        "2024-07-01",
        "2024-10-01",
        "2025-01-01",
    ]


def test_origins_whose_quarter_ended_before_the_first_deal_are_left_out() -> None:
    # the first deal created 2024-11-27 (200 days before 2025-06-15): of the six default
    # origins, those whose quarter was over by then (2023Q4 – 2024Q3) held no deal at all
    opps, rows = stories(
        deal_story("sf:X", "sf:A", ["Prospecting"], outcome="won", start_days_ago=200)
    )
    book = AccountBook.from_canonical(accounts({"account_id": "sf:A"}), contacts(), opps)
    result = backtest(DealHistory.build(book, rows), AS_OF, ForecastConfig())
    assert [o.strftime("%Y-%m-%d") for o in result.origins["origin"]] == [
        "2024-10-01",
        "2025-01-01",
    ]
    # origins given are all run, whatever the data
    given = (pd.Timestamp("2024-01-01", tz="UTC"),)
    run = backtest(DealHistory.build(book, rows), AS_OF, ForecastConfig(), origins=given)
    assert list(run.origins["origin"]) == list(given)


def test_origins_given_whose_horizon_has_not_ended_are_refused() -> None:
    # as of 2025-06-15 12:00: 2025Q2 (1 April – 1 July) has not ended, so what it books is not
    # known; run, it showed the bookings so far as its actual and a miss that is not one
    opps, rows = stories(
        deal_story("sf:X", "sf:A", ["Prospecting"], outcome="won", start_days_ago=200)
    )
    book = AccountBook.from_canonical(accounts({"account_id": "sf:A"}), contacts(), opps)
    hist = DealHistory.build(book, rows)
    q1, q2 = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2025-04-01", tz="UTC")
    q3 = pd.Timestamp("2025-07-01", tz="UTC")  # after as_of: nothing known at all
    with pytest.raises(ValueError, match=r"2025-04-01 \(ends 2025-07-01\)") as error:
        backtest(hist, AS_OF, ForecastConfig(), origins=(q1, q2, q3))
    message = str(error.value)
    assert "2025-07-01 (ends 2025-10-01)" in message
    assert "2025-01-01" not in message  # ended 2025-04-01: fine
    assert "as_of 2025-06-15 12:00 UTC" in message
    # a two-quarter horizon from 2025Q1 ends 2025-07-01 too
    two = ForecastConfig(backtest={"horizon_quarters": 2})
    with pytest.raises(ValueError, match=r"2 quarters horizon .* 2025-01-01 \(ends 2025-07-01\)"):
        backtest(hist, AS_OF, two, origins=(q1,))
    # a horizon that ends at as_of itself has ended: run
    at_end = backtest(hist, q3, ForecastConfig(), origins=(q2,))
    assert list(at_end.origins["origin"]) == [q2]


def test_origins_with_deals_keeps_a_quarter_the_first_deal_falls_in() -> None:
    q3, q4 = pd.Timestamp("2024-07-01", tz="UTC"), pd.Timestamp("2024-10-01", tz="UTC")
    # a deal created on the quarter's last instant still belongs to it; at its end, the next
    assert origins_with_deals((q3, q4), pd.Timestamp("2024-09-30 23:59", tz="UTC"), 1) == (q3, q4)
    assert origins_with_deals((q3, q4), q4, 1) == (q4,)
    # a two-quarter horizon from 2024Q3 reaches past 2024-10-01
    assert origins_with_deals((q3, q4), pd.Timestamp("2024-12-01", tz="UTC"), 2) == (q3, q4)
    assert origins_with_deals((q3, q4), pd.Timestamp("2025-01-01", tz="UTC"), 2) == (q4,)
    assert origins_with_deals((q3, q4), None, 1) == (q3, q4)
