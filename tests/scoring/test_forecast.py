"""Calibration (shrinkage limits, no leakage, abandoned deals, overdue bands, segments),
win probabilities, stale flags, and the forecast arithmetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_builders import (
    AS_OF,
    accounts,
    contacts,
    days_ago,
    deal_story,
    history,
    opportunities,
    stories,
    won,
)

from acm_sync.config import ForecastConfig, parse_config
from acm_sync.scoring import (
    AccountBook,
    DealHistory,
    forecast,
    learn_win_rates,
    win_probabilities,
)
from acm_sync.scoring.calibration import shrink

PATH = ["Prospecting", "Qualification"]


def deal_history(opps: pd.DataFrame, rows: pd.DataFrame, *account_ids: str) -> DealHistory:
    ids = account_ids or tuple(pd.unique(opps["account_id"].dropna()))
    accs = accounts(*[{"account_id": a} for a in ids])
    book = AccountBook.from_canonical(accs, contacts(), opps)
    return DealHistory.build(book, rows)


def forecast_config(**values: object) -> ForecastConfig:
    return parse_config({"forecast": values}).forecast


def rate_of(rates, stage: str) -> pd.Series:  # type: ignore[no-untyped-def]
    table = rates.by_stage
    return table.loc[(table["source"] == "salesforce") & (table["stage"] == stage)].iloc[0]


def closed_deals(wins: int, losses: int, *, start: float = 300, deal_type: str = "new"):  # type: ignore[no-untyped-def]
    items = []
    for i in range(wins + losses):
        outcome = "won" if i < wins else "lost"
        items.append(
            deal_story(
                f"sf:{deal_type}{i:04d}",
                "sf:A",
                PATH,
                outcome=outcome,
                start_days_ago=start,
                deal_type=deal_type,
            )
        )
    return items


def test_no_history_means_the_stage_default() -> None:
    opps = opportunities({"account_id": "sf:A", "stage": "Qualification", "stage_probability": 0.1})
    rates = learn_win_rates(deal_history(opps, history()), AS_OF, ForecastConfig())
    row = rate_of(rates, "Qualification")
    assert row["samples"] == 0
    assert row["p_win"] == pytest.approx(0.1)
    # the vendor's standard stages are known even when no deal uses them
    assert rate_of(rates, "Negotiation/Review")["p_win"] == pytest.approx(0.9)


def test_few_samples_shrink_toward_the_default_and_many_follow_the_data() -> None:
    config = ForecastConfig()  # k = 20
    small = learn_win_rates(deal_history(*stories(*closed_deals(3, 0))), AS_OF, config)
    # (3 wins + 20 × 0.1) / (3 + 20)
    assert rate_of(small, "Qualification")["p_win"] == pytest.approx(5 / 23)
    large = learn_win_rates(deal_history(*stories(*closed_deals(600, 400))), AS_OF, config)
    assert rate_of(large, "Qualification")["p_win"] == pytest.approx((600 + 2) / 1020)
    assert abs(rate_of(large, "Qualification")["p_win"] - 0.6) < 0.01
    no_prior = learn_win_rates(
        deal_history(*stories(*closed_deals(3, 1))), AS_OF, forecast_config(shrinkage_strength=0)
    )
    assert rate_of(no_prior, "Qualification")["p_win"] == pytest.approx(0.75)


@given(
    wins=st.integers(0, 500),
    losses=st.integers(0, 500),
    prior=st.floats(0, 1),
    strength=st.floats(0, 1000),
)
def test_shrinkage_lies_between_prior_and_empirical(
    wins: int, losses: int, prior: float, strength: float
) -> None:
    p = shrink(
        np.array([wins], float), np.array([wins + losses], float), np.array([prior]), strength
    )[0]
    assert 0 <= p <= 1
    if wins + losses == 0:
        assert p == pytest.approx(prior)
    else:
        empirical = wins / (wins + losses)
        assert min(prior, empirical) - 1e-9 <= p <= max(prior, empirical) + 1e-9


def test_deals_closed_after_as_of_are_not_learnt() -> None:
    # every deal starts 300 days ago and closes 20 days later
    hist = deal_history(*stories(*closed_deals(50, 0)))
    before = learn_win_rates(hist, AS_OF - pd.Timedelta(days=290), ForecastConfig())
    after = learn_win_rates(hist, AS_OF, ForecastConfig())
    assert rate_of(before, "Qualification")["samples"] == 0
    assert rate_of(before, "Qualification")["p_win"] == pytest.approx(0.1)
    assert rate_of(after, "Qualification")["samples"] == 50


def test_long_overdue_open_deals_count_as_lost_when_learning() -> None:
    zombie = deal_story("sf:Z", "sf:A", PATH, outcome="open", start_days_ago=400, close_in_days=30)
    fresh = deal_story("sf:F", "sf:A", PATH, outcome="open", start_days_ago=20)
    hist = deal_history(*stories(zombie, fresh))
    rates = learn_win_rates(hist, AS_OF, forecast_config(shrinkage_strength=0))
    row = rate_of(rates, "Qualification")
    assert (row["samples"], row["wins"]) == (1, 0)
    # the rule can be switched off by making it very long
    patient = learn_win_rates(hist, AS_OF, forecast_config(abandoned_after_days=10_000))
    assert rate_of(patient, "Qualification")["samples"] == 0


def test_overdue_deals_get_the_learnt_overdue_rate() -> None:
    # 40 on-time winners and 40 deals that sat 200 days overdue before being lost
    items = closed_deals(40, 0)
    items += [
        deal_story(
            f"sf:L{i}",
            "sf:A",
            PATH,
            outcome="lost",
            start_days_ago=600,
            step_days=240,
            close_in_days=30,
        )
        for i in range(40)
    ]
    late = deal_story("sf:OPEN_LATE", "sf:A", PATH, outcome="open", start_days_ago=200)
    on_time = deal_story("sf:OPEN_OK", "sf:A", PATH, outcome="open", start_days_ago=10)
    hist = deal_history(*stories(*items, late, on_time))
    probabilities = win_probabilities(hist, AS_OF, ForecastConfig()).set_index("opportunity_id")
    assert probabilities.loc["sf:OPEN_LATE", "p_win_basis"] == "overdue band"
    assert probabilities.loc["sf:OPEN_LATE", "segment"] == "91+ days overdue"
    assert probabilities.loc["sf:OPEN_LATE", "p_win"] < 0.2
    assert probabilities.loc["sf:OPEN_OK", "p_win_basis"] != "overdue band"
    assert probabilities.loc["sf:OPEN_OK", "p_win"] > 0.4


def test_segments_are_used_only_where_samples_suffice() -> None:
    items = closed_deals(40, 0, deal_type="renewal") + closed_deals(5, 35, deal_type="new")
    items += closed_deals(2, 0, deal_type="expansion", start=310)
    open_deals = [
        deal_story(f"sf:O{t}", "sf:A", PATH, outcome="open", start_days_ago=5, deal_type=t)
        for t in ("renewal", "new", "expansion")
    ]
    hist = deal_history(*stories(*items, *open_deals))
    probabilities = win_probabilities(hist, AS_OF, forecast_config(segments=["type"]))
    by_id = probabilities.set_index("opportunity_id")
    assert by_id.loc["sf:Orenewal", "p_win_basis"] == "segment"
    assert by_id.loc["sf:Orenewal", "segment"] == "type=renewal"
    assert by_id.loc["sf:Onew", "p_win"] < by_id.loc["sf:Orenewal", "p_win"]
    # two expansion deals are too few: the stage estimate is used
    assert by_id.loc["sf:Oexpansion", "p_win_basis"] == "stage"


def test_unknown_stages_do_not_crash() -> None:
    opps = opportunities(
        {"account_id": "sf:A", "stage": "Pending Legal???", "stage_probability": None},
        {"account_id": "sf:A", "stage": "Verbal", "stage_probability": 0.35},
        {"account_id": "sf:A", "stage": None, "stage_probability": None},
    )
    rows = history(
        {
            "opportunity_id": "sf:00600000",
            "stage": "Some Old Stage",
            "amount": 5.0,
            "close_date": days_ago(1),
            "changed_at": days_ago(30),
        }
    )
    probabilities = win_probabilities(deal_history(opps, rows), AS_OF, ForecastConfig())
    assert list(probabilities["p_win"]) == pytest.approx([0.1, 0.35, 0.1])
    assert list(probabilities["p_win_basis"]) == ["unknown stage", "stage default", "unknown stage"]


def test_stale_flags() -> None:
    opps = opportunities(
        {"account_id": "sf:A", "close_date": days_ago(10), "created_at": days_ago(5)},  # late
        {"account_id": "sf:A", "close_date": days_ago(-10), "created_at": days_ago(200)},
        {"account_id": "sf:A", "close_date": None, "created_at": days_ago(5)},  # undated
        {"account_id": "sf:A", "close_date": days_ago(-10), "created_at": days_ago(5)},  # fine
    )
    # the second deal's close date was pushed three times
    rows = history(
        *[
            {
                "opportunity_id": "sf:00600001",
                "stage": "Prospecting",
                "amount": 10_000.0,
                "close_date": days_ago(40 - 10 * i),
                "changed_at": days_ago(200 - i),
            }
            for i in range(4)
        ]
    )
    probabilities = win_probabilities(deal_history(opps, rows), AS_OF, ForecastConfig())
    assert list(probabilities["is_stale"]) == [True, True, True, False]
    assert probabilities["stale_reason"].iloc[0].startswith("close date passed 2025-06-05")
    assert probabilities["stale_reason"].iloc[1] == "200 days in stage; close date pushed 3 times"
    assert probabilities["stale_reason"].iloc[2] == "no close date"
    assert probabilities["close_date_pushes"].iloc[1] == 3


def test_forecast_is_closed_plus_amount_times_p_by_period_and_category() -> None:
    opps = opportunities(
        won("sf:A", 1_000, 30),  # closed this quarter (2025Q2)
        won("sf:A", 9_999, 200),  # closed before the horizon
        {"account_id": "sf:A", "amount": 10_000, "close_date": days_ago(-5)},
        {
            "account_id": "sf:A",
            "amount": 20_000,
            "close_date": days_ago(-60),  # next quarter
            "forecast_category": "BestCase",
            "type": "renewal",
        },
        {"account_id": "sf:A", "amount": 40_000, "close_date": days_ago(40)},  # overdue → now
        {"account_id": "sf:A", "amount": 80_000, "close_date": days_ago(-300)},  # beyond
        {"account_id": "sf:A", "amount": 5_000, "forecast_category": "Omitted"},
        {"account_id": "sf:B", "amount": 7_000, "forecast_category": "Commit"},
    )
    hist = deal_history(opps, history(), "sf:A", "sf:B")
    probabilities = win_probabilities(hist, AS_OF, ForecastConfig())
    probabilities["p_win"] = [0.5, 0.25, 0.1, 0.9, 0.3, 0.6]  # pin p to check the arithmetic
    result = forecast(hist.book, probabilities, AS_OF, ForecastConfig())
    a = result.accounts.set_index("account_key").loc["sf:A"]
    assert a["closed_amount"] == 1_000
    assert a["expected_open_amount"] == pytest.approx(10_000 * 0.5 + 20_000 * 0.25 + 40_000 * 0.1)
    assert a["forecast_amount"] == pytest.approx(1_000 + 14_000)
    assert a["baseline_forecast_amount"] == pytest.approx(1_000 + 0.1 * 70_000)
    assert a["pipeline_amount"] == 50_000
    assert a["best_case_amount"] == 20_000
    assert a["omitted_amount"] == 5_000
    assert a["renewal_forecast"] == pytest.approx(5_000)
    assert a["open_opportunities"] == 4
    assert a["forecast_current_quarter"] == pytest.approx(1_000 + 5_000 + 4_000)
    b = result.accounts.set_index("account_key").loc["sf:B"]
    assert (b["commit_amount"], b["forecast_amount"]) == (7_000, pytest.approx(7_000 * 0.6))
    totals = result.totals.set_index("period")
    assert list(totals.index) == ["2025Q2", "2025Q3", "Total"]
    assert totals.loc["Total", "forecast_amount"] == pytest.approx(15_000 + 4_200)
    assert totals.loc["2025Q3", "forecast_amount"] == pytest.approx(5_000 + 4_200)
    by_period = result.by_period.set_index(["account_key", "period"])
    assert by_period.loc[("sf:A", "2025Q3"), "best_case_amount"] == 20_000


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    deals=st.lists(
        st.tuples(
            st.floats(0, 1e6),
            st.floats(-100, 400),
            st.sampled_from(["Pipeline", "Commit", "BestCase", None]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_forecast_equals_sum_of_amount_times_p(
    deals: list[tuple[float, float, str | None]],
) -> None:
    opps = opportunities(
        *[
            {
                "account_id": "sf:A",
                "amount": amount,
                "close_date": days_ago(-ahead),
                "forecast_category": category,
            }
            for amount, ahead, category in deals
        ]
    )
    hist = deal_history(opps, history(), "sf:A")
    probabilities = win_probabilities(hist, AS_OF, ForecastConfig())
    result = forecast(hist.book, probabilities, AS_OF, ForecastConfig())
    end = pd.Timestamp("2025-10-01", tz="UTC")
    in_horizon = probabilities["close_date"] < end
    expected = (probabilities["amount"] * probabilities["p_win"])[in_horizon].sum()
    assert result.accounts["forecast_amount"].iloc[0] == pytest.approx(expected)
    assert ((probabilities["p_win"] >= 0) & (probabilities["p_win"] <= 1)).all()
