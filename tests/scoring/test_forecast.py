"""The time-to-close model (fit, survival arithmetic, censoring, overdue deals, the shrinkage
rule), win probabilities, stale flags, and the forecast arithmetic."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scoring_builders import (
    AS_OF,
    accounts,
    contacts,
    days_ago,
    history,
    opportunities,
    won,
)

from acm_sync.config import ConfigError, ForecastConfig, parse_config
from acm_sync.scoring import (
    AccountBook,
    DealHistory,
    forecast,
    learn_win_rates,
    win_probabilities,
)
from acm_sync.scoring.hazard import (
    MAX_SIZE_BANDS,
    MIN_SIZE_BAND_DEALS,
    MONTH_NS,
    CloseModel,
    DealState,
    FeatureSpace,
    fit_multinomial,
    pool_unseen_bands,
    pool_unseen_segments,
    shrink_toward,
    shrinkage_weight,
    size_band_edges,
    state_at,
)
from acm_sync.scoring.periods import NS_PER_DAY


def deal_history(opps: pd.DataFrame, rows: pd.DataFrame, *account_ids: str) -> DealHistory:
    ids = account_ids or tuple(pd.unique(opps["account_id"].dropna()))
    accs = accounts(*[{"account_id": a} for a in ids])
    book = AccountBook.from_canonical(accs, contacts(), opps)
    return DealHistory.build(book, rows)


def forecast_config(**values: object) -> ForecastConfig:
    return parse_config({"forecast": values}).forecast


def cohort(
    prefix: str,
    n: int,
    *,
    created_days_ago: float,
    outcome: str = "open",
    closed_days_ago: float | None = None,
    close_date: pd.Timestamp | None = None,
    stage: str = "Qualification",
    amount: float = 10_000.0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`n` deals of `amount` created in `stage` at one moment; won / lost at `closed_days_ago`,
    or open. Their close date is `close_date` (default: 500 days after as_of, never overdue)."""
    planned = close_date if close_date is not None else AS_OF + pd.Timedelta(days=500)
    deals, rows = [], []
    for i in range(n):
        oid = f"sf:{prefix}{i:04d}"
        created = days_ago(created_days_ago)
        rows.append(
            {
                "opportunity_id": oid,
                "stage": stage,
                "amount": amount,
                "close_date": planned,
                "changed_at": created,
            }
        )
        deal: dict[str, Any] = {
            "opportunity_id": oid,
            "account_id": "sf:A",
            "stage": stage,
            "stage_probability": 0.1 if stage == "Qualification" else 0.2,
            "amount": amount,
            "close_date": planned,
            "created_at": created,
        }
        if outcome in ("won", "lost"):
            assert closed_days_ago is not None
            final = "Closed Won" if outcome == "won" else "Closed Lost"
            at = days_ago(closed_days_ago)
            rows.append(
                {
                    "opportunity_id": oid,
                    "stage": final,
                    "amount": amount,
                    "close_date": at,
                    "changed_at": at,
                }
            )
            deal.update(
                stage=final,
                stage_probability=1.0 if outcome == "won" else 0.0,
                is_closed=True,
                is_won=outcome == "won",
                close_date=at,
                forecast_category="Closed" if outcome == "won" else "Omitted",
            )
        deals.append(deal)
    return deals, rows


def build(*parts: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> DealHistory:
    deals = [d for part in parts for d in part[0]]
    rows = [r for part in parts for r in part[1]]
    return deal_history(opportunities(*deals), history(*rows))


def young_org() -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """200 deals opened 300 days ago: 40 won and 40 lost within the first month after a
    month start, 120 still open (not overdue). Only 20 % of the cohort won in ten months."""
    return [
        cohort("W", 40, created_days_ago=300, outcome="won", closed_days_ago=272),
        cohort("L", 40, created_days_ago=300, outcome="lost", closed_days_ago=268),
        cohort("O", 120, created_days_ago=300),
    ]


def test_the_fit_recovers_known_hazards() -> None:
    # one cell seen 1,000 times: 100 won, 50 lost, 850 stayed open → h_won 0.1, h_lost 0.05
    design = sparse.csr_matrix(np.ones((1, 1)))
    coef, intercept = fit_multinomial(design, np.array([[850.0, 100.0, 50.0]]), l2=0.0)
    z = coef[0] + intercept
    denominator = 1 + np.exp(z).sum()
    assert np.exp(z[0]) / denominator == pytest.approx(0.1, abs=1e-4)
    assert np.exp(z[1]) / denominator == pytest.approx(0.05, abs=1e-4)


def test_survival_arithmetic_and_the_shrinkage_rule() -> None:
    hist = build(cohort("O", 1, created_days_ago=10))
    config = ForecastConfig()
    space = FeatureSpace(hist, config)
    p = space.design(np.zeros(1, dtype=np.int64)).shape[1]
    n_stages = len(hist.stages)
    # constant hazards: won 0.1, lost 0.05 a month
    model = CloseModel(
        as_of=AS_OF,
        space=space,
        coef=np.zeros((p, 2)),
        intercept=np.log(np.array([0.1, 0.05]) / 0.85),
        fitted=True,
        segment_months={},
        stage_deals=np.full(n_stages, 20.0),
        stage_wins=np.zeros(n_stages),
        stage_losses=np.zeros(n_stages),
        stage_prior=np.full(n_stages, 0.4),
        strength=20.0,
        training_deals=20,
        training_rows=0,
        resolved_deals=0,
    )
    t0 = AS_OF.value
    state = DealState(
        opp_pos=np.array([0]),
        stage_code=hist.deal_stage[:1],
        close=np.array([t0 + 10 * 86_400 * 10**9]),  # due in 10 days
        entered=np.array([t0]),
        created=np.array([t0]),
        amount=np.array([10_000.0]),
        t0=t0,
    )
    curve = model.cumulative(state)[0]
    # F(k) = Σ 0.1 · 0.85^(j−1): 0.1, 0.185, 0.25725
    assert curve[:4] == pytest.approx([0.0, 0.1, 0.185, 0.25725])
    bounds = np.array([t0, t0 + MONTH_NS * 3 // 2, t0 + 3 * MONTH_NS])
    shrunk, p_model, p_default = model.win_within(state, bounds)
    # linear within a month: F(1.5) = 0.1 + 0.5 · 0.085
    assert p_model[0] == pytest.approx([0.1425, 0.25725 - 0.1425])
    # the CRM's own forecast: the stage default in the period of the close date, else 0
    assert list(p_default[0]) == [0.4, 0.0]
    # n = 20 deals, k = 20 → half model, half default
    assert shrunk[0] == pytest.approx([0.5 * 0.1425 + 0.5 * 0.4, 0.5 * (0.25725 - 0.1425)])


def test_shrinkage_weight_hand_values() -> None:
    assert list(shrinkage_weight([0, 3, 20, 180], 20)) == pytest.approx([0, 3 / 23, 0.5, 0.9])
    assert list(shrinkage_weight([0, 5], 0)) == [0.0, 1.0]


@given(
    model=st.floats(0, 1),
    default=st.floats(0, 1),
    samples=st.floats(0, 1e6),
    strength=st.floats(0, 1000),
)
def test_shrunk_p_lies_between_model_and_default(
    model: float, default: float, samples: float, strength: float
) -> None:
    w = shrinkage_weight([samples], strength)
    p = shrink_toward(np.array([model]), np.array([default]), w)[0]
    assert min(model, default) - 1e-9 <= p <= max(model, default) + 1e-9
    if samples == 0:
        assert p == pytest.approx(default)


def test_no_training_data_means_the_stage_default() -> None:
    opps = opportunities({"account_id": "sf:A", "stage": "Qualification", "stage_probability": 0.1})
    hist = deal_history(opps, history())
    rates = learn_win_rates(hist, AS_OF, ForecastConfig())
    assert not rates.model.fitted
    probabilities = win_probabilities(hist, AS_OF, ForecastConfig(), rates)
    row = probabilities.iloc[0]
    assert row["p_win"] == pytest.approx(0.1)
    assert row["p_win_basis"] == "stage default"
    # the CRM's forecast: the default in the quarter of the close date (30 days on: 2025Q3)
    assert (row["p_period_1"], row["p_period_2"]) == (0.0, pytest.approx(0.1))


def test_still_open_deals_are_censored_not_ignored() -> None:
    """A young org: the first closes (40 won, 40 lost) would teach p = 0.5, but 120 deals of
    the same cohort are still open after ten months. Counting them as censored, a new deal's
    chance to win within a year is near the 20 % the cohort really shows."""
    fresh = cohort("N", 1, created_days_ago=1)
    hist = build(*young_org(), fresh)
    config = forecast_config(shrinkage_strength=0)
    probabilities = win_probabilities(hist, AS_OF, config).set_index("opportunity_id")
    p = probabilities.loc["sf:N0000"]
    assert p["p_win_basis"] == "time-to-close model"
    assert 0.1 < p["p_win"] < 0.3
    # the 120 still open get less: they already sat ten months without closing
    assert probabilities.loc["sf:O0000", "p_win"] < p["p_win"]


def test_deals_closed_after_as_of_are_not_learnt() -> None:
    hist = build(*young_org())
    # ten days before the wins nothing has closed: no model, the stage default
    early = learn_win_rates(hist, days_ago(285), ForecastConfig())
    assert not early.model.fitted
    assert early.by_stage.set_index("stage").loc["Qualification", "wins"] == 0
    later = learn_win_rates(hist, AS_OF, ForecastConfig())
    assert later.model.fitted
    assert later.by_stage.set_index("stage").loc["Qualification", ["wins", "losses"]].tolist() == [
        40,
        40,
    ]


def test_long_overdue_deals_are_learnt_and_forecast_alike() -> None:
    """100 deals sat open two years past their close date and never won. Learning counts
    them as they were (open, later and later), and a deal 730 days late today gets what such
    deals did: almost nothing — not the 30+ % an on-time deal of its stage gets."""
    late_since = days_ago(900)
    zombies = cohort("Z", 100, created_days_ago=1000, close_date=late_since)
    now_late = cohort("LATE", 1, created_days_ago=800, close_date=days_ago(730))
    on_time = cohort("N", 1, created_days_ago=1)
    hist = build(*young_org(), zombies, now_late, on_time)
    probabilities = win_probabilities(hist, AS_OF, ForecastConfig()).set_index("opportunity_id")
    late, fresh = probabilities.loc["sf:LATE0000"], probabilities.loc["sf:N0000"]
    assert late["p_win_model"] < 0.02
    assert late["p_period_1"] < 0.02
    assert fresh["p_win_model"] > 0.1
    # the zombies did not count as lost (no 90-days rule): only the 40 real losses did
    rates = learn_win_rates(hist, AS_OF, ForecastConfig()).by_stage.set_index("stage")
    assert rates.loc["Qualification", "losses"] == 40


def test_the_model_weight_follows_the_samples_per_stage() -> None:
    # 200 deals seen in Qualification; 3 seen open in Needs Analysis (all still open)
    few = cohort("F", 3, created_days_ago=200, stage="Needs Analysis")
    hist = build(*young_org(), few)
    probabilities = win_probabilities(hist, AS_OF, ForecastConfig()).set_index("opportunity_id")
    rates = learn_win_rates(hist, AS_OF, ForecastConfig()).by_stage.set_index("stage")
    assert rates.loc["Qualification", "samples"] == 200
    assert rates.loc["Needs Analysis", "samples"] == 3
    sparse_stage = probabilities.loc["sf:F0000"]
    assert sparse_stage["model_weight"] == pytest.approx(3 / 23)
    # p = (n · model + k · default) / (n + k), default 0.2 for Needs Analysis
    assert sparse_stage["p_win"] == pytest.approx((3 * sparse_stage["p_win_model"] + 20 * 0.2) / 23)
    assert probabilities.loc["sf:O0000", "model_weight"] == pytest.approx(200 / 220)


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
        # closed before the horizon; the CRM's first deal, created before any run-rate sample
        won("sf:A", 9_999, 200, created_at=days_ago(400)),
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
    # pin p(won in 2025Q2) and p(won in 2025Q3) to check the arithmetic
    probabilities["p_period_1"] = [0.5, 0.05, 0.1, 0.0, 0.3, 0.6]
    probabilities["p_period_2"] = [0.1, 0.25, 0.0, 0.2, 0.3, 0.0]
    result = forecast(hist.book, probabilities, AS_OF, ForecastConfig())
    a = result.accounts.set_index("account_key").loc["sf:A"]
    assert a["closed_amount"] == 1_000
    # every open deal counts in each quarter it may close in (even the one due next year);
    # the Omitted one does not
    expected_q2 = 10_000 * 0.5 + 20_000 * 0.05 + 40_000 * 0.1
    expected_q3 = 10_000 * 0.1 + 20_000 * 0.25 + 80_000 * 0.2
    assert a["expected_open_amount"] == pytest.approx(expected_q2 + expected_q3)
    assert a["forecast_amount"] == pytest.approx(1_000 + expected_q2 + expected_q3)
    assert a["forecast_current_quarter"] == pytest.approx(1_000 + expected_q2)
    # the stage-default baseline: the CRM's way, by close date, overdue in the current quarter
    assert a["baseline_forecast_amount"] == pytest.approx(1_000 + 0.1 * 70_000)
    assert a["pipeline_amount"] == 50_000
    assert a["best_case_amount"] == 20_000
    assert a["omitted_amount"] == 5_000
    assert a["renewal_forecast"] == pytest.approx(20_000 * (0.05 + 0.25))
    assert a["open_opportunities"] == 4
    b = result.accounts.set_index("account_key").loc["sf:B"]
    assert b["commit_amount"] == 7_000
    assert b["forecast_amount"] == pytest.approx(7_000 * 0.6)
    totals = result.totals.set_index("period")
    assert list(totals.index) == ["2025Q2", "2025Q3", "Total"]
    assert totals.loc["2025Q2", "forecast_amount"] == pytest.approx(1_000 + expected_q2 + 4_200)
    assert totals.loc["2025Q3", "forecast_amount"] == pytest.approx(expected_q3)
    by_period = result.by_period.set_index(["account_key", "period"])
    assert by_period.loc[("sf:A", "2025Q3"), "best_case_amount"] == 20_000
    # deals not created yet: the other deals were created 200 days ago, after the CRM began
    # (400 days ago), and none of them after a shifted as-of and won within its shifted
    # quarter — the run-rate is 0 and the bookings total is the pipeline's
    assert (totals["run_rate_amount"] == 0).all()
    assert (totals["total_forecast_amount"] == totals["forecast_amount"]).all()
    assert set(result.new_pipeline["type"]) == {"new", "renewal", "expansion", "other"}


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
    p = probabilities["p_period_1"] + probabilities["p_period_2"]
    expected = (probabilities["amount"] * p).sum()
    assert result.accounts["forecast_amount"].iloc[0] == pytest.approx(expected)
    assert ((probabilities["p_win"] >= 0) & (probabilities["p_win"] <= 1)).all()
    assert (p <= 1 + 1e-9).all()


class SizedBuyers:
    """Qualification deals of 10,000, planned to close in 500 days, at a small buyer (sf:SMALL,
    20 employees) and a large one (sf:BIG, 5,000): their opportunity and stage-history rows."""

    def __init__(self) -> None:
        self.deals: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []

    def add(
        self, oid: str, account: str, created: float, outcome: str = "open", closed: float = 0
    ) -> None:
        """A deal created `created` days ago; won / lost `closed` days ago, or open."""
        planned = AS_OF + pd.Timedelta(days=500)
        row = {
            "opportunity_id": oid,
            "stage": "Qualification",
            "amount": 10_000.0,
            "close_date": planned,
            "changed_at": days_ago(created),
        }
        self.rows.append(row)
        deal: dict[str, Any] = {
            "opportunity_id": oid,
            "account_id": account,
            "stage": "Qualification",
            "stage_probability": 0.1,
            "close_date": planned,
            "created_at": days_ago(created),
        }
        if outcome != "open":
            final = "Closed Won" if outcome == "won" else "Closed Lost"
            self.rows.append({**row, "stage": final, "changed_at": days_ago(closed)})
            deal.update(
                stage=final,
                stage_probability=1.0 if outcome == "won" else 0.0,
                is_closed=True,
                is_won=outcome == "won",
                close_date=days_ago(closed),
            )
        self.deals.append(deal)

    def history(self) -> DealHistory:
        accs = accounts(
            {"account_id": "sf:SMALL", "employees": 20, "domain": "small.com"},
            {"account_id": "sf:BIG", "employees": 5_000, "domain": "big.com"},
        )
        book = AccountBook.from_canonical(accs, contacts(), opportunities(*self.deals))
        return DealHistory.build(book, history(*self.rows))


def test_company_size_separates_fast_small_buyers_from_slow_large_ones() -> None:
    """Small companies (20 employees) decided within three weeks of a deal's creation: 60
    won, 20 lost. Large ones (5,000) took half a year: 40 won after 200 days, 40 still open.
    Everything else alike (stage, amount, type, close date). Two deals opened yesterday, one
    per size: with the company-size feature the small buyer's deal is far likelier to be won
    this quarter; without it the model cannot tell them apart."""
    buyers = SizedBuyers()
    for i in range(80):
        buyers.add(f"sf:S{i:03d}", "sf:SMALL", 300, "won" if i < 60 else "lost", 280)
    for i in range(80):
        buyers.add(f"sf:B{i:03d}", "sf:BIG", 300, "won" if i < 40 else "open", 100)
    buyers.add("sf:NEW-S", "sf:SMALL", 1, "open")
    buyers.add("sf:NEW-B", "sf:BIG", 1, "open")
    hist = buyers.history()

    def p_now(segments: tuple[str, ...]) -> tuple[float, float]:
        config = forecast_config(segments=list(segments), shrinkage_strength=0)
        p = win_probabilities(hist, AS_OF, config).set_index("opportunity_id")["p_period_1"]
        return float(p["sf:NEW-S"]), float(p["sf:NEW-B"])

    # the rest of the quarter is 15 days: three in four small buyers decided within 20 days,
    # no large one within 100
    small, big = p_now(("type", "size_band", "company_size"))
    assert small > 0.25
    assert big < 0.05
    small_without, big_without = p_now(("type", "size_band"))
    assert small_without == pytest.approx(big_without)


def test_company_size_bands_from_the_accounts_employee_counts() -> None:
    # edges (100, 1,000): below 100, 100–999, 1,000 and more, and unknown as its own band
    ids = ("sf:A1", "sf:A2", "sf:A3", "sf:A4", "sf:A5")
    staff = (50, 100, 999, 5_000, None)
    accs = accounts(
        *[
            {"account_id": a, "employees": n, "domain": f"a{i}.com"}
            for i, (a, n) in enumerate(zip(ids, staff, strict=True))
        ]
    )
    opps = opportunities(
        *[{"opportunity_id": f"sf:O{i}", "account_id": a} for i, a in enumerate(ids)]
    )
    book = AccountBook.from_canonical(accs, contacts(), opps)
    config = forecast_config(segments=["company_size"], company_size_edges=[100, 1_000])
    space = FeatureSpace(DealHistory.build(book, history()), config)
    by_deal = dict(zip(book.opportunities["opportunity_id"], space.deal_company_size, strict=True))
    assert [by_deal[f"sf:O{i}"] for i in range(5)] == [0, 1, 1, 2, 3]
    assert space.n_company_sizes == 4
    # not a feature unless asked for: one level for everybody
    plain = FeatureSpace(DealHistory.build(book, history()), forecast_config(segments=["type"]))
    assert plain.n_company_sizes == 1 and not plain.deal_company_size.any()
    with pytest.raises(ConfigError, match="company_size_edges: must be strictly increasing"):
        forecast_config(company_size_edges=[1_000, 100])


def young_crm_by_company_size(
    small_won: int, small_lost: int, big_open: int, big_lost: int = 0
) -> DealHistory:
    """A CRM 110 days old. Small buyers (20 employees) decided within three weeks of a deal's
    creation (`small_won` won, `small_lost` lost); large buyers' (5,000) deals of the same
    age are all still open (`big_open`), bar `big_lost` lost in their first month. Two more
    deals, one per size, were created yesterday (`aged_400_days` makes them 400 days old: an
    age no deal of either size has reached in training)."""
    buyers = SizedBuyers()
    for i in range(small_won + small_lost):
        buyers.add(f"sf:S{i:03d}", "sf:SMALL", 110, "won" if i < small_won else "lost", 80)
    for i in range(big_open + big_lost):
        buyers.add(f"sf:B{i:03d}", "sf:BIG", 110, "open" if i < big_open else "lost", 80)
    buyers.add("sf:NEW-S", "sf:SMALL", 1)
    buyers.add("sf:NEW-B", "sf:BIG", 1)
    return buyers.history()


def aged_400_days(hist: DealHistory) -> tuple[list[str], DealState]:
    """The open deals as of AS_OF (their ids), and the same deals were they 400 days old. (A
    deal really that old would itself be in training at those ages: a CRM imported late
    counts its deals open from their creation, `stages.UNRECORDED`.)"""
    state = state_at(hist, AS_OF.value)
    ids = list(hist.book.opportunities["opportunity_id"].to_numpy()[state.opp_pos])
    old = replace(state, created=np.full_like(state.created, AS_OF.value - 400 * NS_PER_DAY))
    return ids, old


SEGMENTS_ONLY_SIZE = {"segments": ["company_size"], "shrinkage_strength": 0}


def test_a_segment_never_seen_closing_at_an_age_gets_the_pooled_hazard_there() -> None:
    """In a CRM 110 days old no large buyer's deal has closed: young, they stay open. That
    says nothing of a large buyer's deal 400 days old. The model must not carry the young
    deals' "large buyers never close" to that age: the two 400-day-old deals, alike but for
    the buyer's size, get the same p — while the young ones still differ as training showed."""
    hist = young_crm_by_company_size(small_won=60, small_lost=20, big_open=80)
    config = forecast_config(**SEGMENTS_ONLY_SIZE)
    model = learn_win_rates(hist, AS_OF, config).model
    ids, old = aged_400_days(hist)
    p_old = dict(zip(ids, model.cumulative(old)[:, -1], strict=True))
    assert p_old["sf:NEW-B"] == pytest.approx(p_old["sf:NEW-S"])
    assert p_old["sf:NEW-B"] > 0.05
    p = win_probabilities(hist, AS_OF, config).set_index("opportunity_id")
    # at the ages seen, the segment effect is what training showed
    new_big, new_small = (
        float(p.loc["sf:NEW-B", "p_period_1"]),
        float(p.loc["sf:NEW-S", "p_period_1"]),
    )
    assert new_big < 0.05 < 0.25 < new_small


def test_beyond_data_flags_deals_at_ages_their_segment_was_never_seen_at() -> None:
    hist = young_crm_by_company_size(small_won=60, small_lost=20, big_open=80)
    model = learn_win_rates(hist, AS_OF, forecast_config(**SEGMENTS_ONLY_SIZE)).model
    # deal-months per company-size band (below 100, 100–999, 1,000+, unknown) × age band
    # (≤ 90, 91–180, 181–365, 366–730, older). Small buyers' deals were open at one month
    # start (1 March), at 4 days old, and closed within that month: 80. Large buyers' deals,
    # created 25 February, were open at the month starts of March, April and May, and
    # followed to the as-of (15 June): 3 + 2 + 1 months each at 4–65 days old: 480.
    months_seen = model.segment_months["company_size"]
    assert months_seen[0, 0] == pytest.approx(80)
    assert months_seen[2, 0] == pytest.approx(480)
    assert months_seen.sum() == pytest.approx(560)
    state = state_at(hist, AS_OF.value)
    ids, old = aged_400_days(hist)
    # the next three months: young deals of either size stay under 90 days, an age seen for
    # both (large buyers' deals were seen there, never closing: a low hazard, not unknown);
    # 400 days old, nobody was seen
    flags = dict(zip(ids, model.beyond_data(state, 3.0), strict=True))
    old_flags = dict(zip(ids, model.beyond_data(old, 3.0), strict=True))
    assert {k: flags[k] for k in ("sf:NEW-S", "sf:NEW-B")} == {"sf:NEW-S": False, "sf:NEW-B": False}
    assert {k: old_flags[k] for k in ("sf:NEW-S", "sf:NEW-B")} == {
        "sf:NEW-S": True,
        "sf:NEW-B": True,
    }
    # within a year the young deals pass 90 days too
    assert dict(zip(ids, model.beyond_data(state, 12.0), strict=True))["sf:NEW-S"]
    p = win_probabilities(hist, AS_OF, forecast_config(**SEGMENTS_ONLY_SIZE))
    assert p["beyond_data"].dtype == bool and p["beyond_data"].all()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    small_won=st.integers(20, 60),
    small_lost=st.integers(20, 60),
    big_open=st.integers(1, 60),
    big_lost=st.integers(0, 30),
)
def test_no_segment_effect_is_carried_to_ages_never_seen(
    small_won: int, small_lost: int, big_open: int, big_lost: int
) -> None:
    """Whatever young small and large buyers did (enough closes to fit: ≥ 20 wins and 20
    losses, `hazard.min_events`), two deals at an age no training deal
    reached, alike but for the buyer's size, get the same p."""
    hist = young_crm_by_company_size(small_won, small_lost, big_open, big_lost)
    model = learn_win_rates(hist, AS_OF, forecast_config(**SEGMENTS_ONLY_SIZE)).model
    ids, old = aged_400_days(hist)
    curve = model.cumulative(old)
    bounds = np.array([AS_OF.value, AS_OF.value + 90 * NS_PER_DAY], dtype=np.int64)
    by_period, _, _ = model.win_within(old, bounds, curve)
    small, big = ids.index("sf:NEW-S"), ids.index("sf:NEW-B")
    assert curve[big, -1] == pytest.approx(curve[small, -1])
    assert by_period[big, 0] == pytest.approx(by_period[small, 0])


def test_unreached_bands_take_the_row_weighted_mean_of_the_reached_ones() -> None:
    coef = np.array([[1.0, -1.0], [2.0, -2.0], [0.0, 0.0], [6.0, 4.0], [0.0, 0.0], [5.0, 5.0]])
    rows = np.array([0.0, 3.0, 0.0, 1.0, 0.0, 9.0])
    # one group 0–4; column 5 belongs to none and stays as it is. Reached: 1 (3 rows) and 3
    # (1 row): won (3 · 2 + 1 · 6) / 4 = 3, lost (3 · −2 + 1 · 4) / 4 = −0.5 for 0, 2 and 4
    filled = pool_unseen_bands(coef, rows, [np.arange(5)])
    pooled = [3.0, -0.5]
    expected = [pooled, [2.0, -2.0], pooled, [6.0, 4.0], pooled, [5.0, 5.0]]
    assert filled.tolist() == expected
    # a group with no band reached, or every band, is left alone
    assert pool_unseen_bands(coef, np.zeros(6), [np.arange(5)]).tolist() == coef.tolist()
    assert pool_unseen_bands(coef, np.ones(6), [np.arange(5)]).tolist() == coef.tolist()


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.tuples(
            st.floats(-5, 5, allow_nan=False),
            st.floats(-5, 5, allow_nan=False),
            st.sampled_from([0.0, 0.5, 1.0, 7.0, 250.0]),
        ),
        min_size=2,
        max_size=8,
    ),
    data=st.data(),
)
def test_unreached_bands_are_pooled_whatever_the_order_of_the_bands(
    values: list[tuple[float, float, float]], data: st.DataObject
) -> None:
    """Reached bands keep their coefficients; every unreached one gets one value, within the
    reached bands' range (per outcome), and the same value whatever the bands' order — the
    rule assumes no direction past the data (the nearest band carried forward does)."""
    coef = np.array([[w, lo] for w, lo, _ in values])
    rows = np.array([r for _, _, r in values])
    group = np.arange(len(values))
    filled = pool_unseen_bands(coef, rows, [group])
    seen = rows > 0
    assert filled[seen].tolist() == coef[seen].tolist()
    if seen.any() and not seen.all():
        unseen_values = filled[~seen]
        assert np.ptp(unseen_values, axis=0).max() == 0.0
        for k in range(2):
            assert coef[seen, k].min() - 1e-9 <= unseen_values[0, k] <= coef[seen, k].max() + 1e-9
        order = np.asarray(data.draw(st.permutations(list(group))))
        shuffled = pool_unseen_bands(coef[order], rows[order], [group])
        assert shuffled[~seen[order]] == pytest.approx(
            np.repeat(unseen_values[:1], (~seen).sum(), 0)
        )
    else:
        assert filled.tolist() == coef.tolist()


def test_a_deal_older_than_any_seen_gets_the_hazard_pooled_over_the_ages_seen() -> None:
    """Training saw deals up to 300 days old (the young org: 80 closes in their first month,
    none after; 120 still open since). Three deals came into the CRM yesterday, alike (same
    stage, a day in it, due in 500 days) but for their age: 30 days (the band with the
    closes), 250 days (a band seen, with none) and 400 days (older than any seen). The oldest
    is not given the 250-day band's hazard carried on — nor the young band's: it gets the
    mean over the ages seen, strictly between the two."""
    deals, rows = [], []
    for oid, created in (("AGE30-", 30), ("AGE250-", 250), ("AGE400-", 400)):
        part = cohort(oid, 1, created_days_ago=1)
        part[0][0]["created_at"] = days_ago(created)
        deals += part[0]
        rows += part[1]
    hist = build(*young_org(), (deals, rows))
    p = win_probabilities(hist, AS_OF, forecast_config(shrinkage_strength=0)).set_index(
        "opportunity_id"
    )["p_period_1"]
    young, seen_old, unseen_old = (float(p[f"sf:AGE{age}-0000"]) for age in (30, 250, 400))
    assert seen_old < unseen_old < young
    assert unseen_old - seen_old > 1e-4 and young - unseen_old > 1e-4


def test_unseen_segment_cells_take_the_pooled_coefficients_of_their_age() -> None:
    # a stage factor (2 levels: columns 0–1) and company size (2 levels × 5 age bands:
    # columns 2 + level · 5 + band); one coefficient per column (won), lost left at 0
    space = SimpleNamespace(factors=(("stage", 2), ("company_size", 2)), n_ages=5)
    coef = np.zeros((12, 2))
    rows = np.zeros(12)
    coef[0, 0], coef[1, 0] = 7.0, 8.0  # stage columns: never touched
    coef[2 + 0, 0], rows[2 + 0] = 1.0, 3.0  # level 0, band 0: 3 deal-months
    coef[2 + 5, 0], rows[2 + 5] = 3.0, 1.0  # level 1, band 0: 1 deal-month
    coef[2 + 1, 0], rows[2 + 1] = 2.0, 1.0  # level 0, band 1; level 1 never seen there
    filled = pool_unseen_segments(coef, rows, space)[:, 0]  # type: ignore[arg-type]
    # band 0: both seen, kept; band 1: level 1 gets the mean of those seen there (level 0: 2);
    # bands 2–4: nobody seen → the pooled bands seen, by their deal-months: band 0 pools to
    # (3 · 1 + 1 · 3) / 4 = 1.5 over 4, band 1 to 2 over 1 → (4 · 1.5 + 1 · 2) / 5 = 1.6
    assert filled.tolist() == pytest.approx(
        [7.0, 8.0, 1.0, 2.0, 1.6, 1.6, 1.6, 3.0, 2.0, 1.6, 1.6, 1.6]
    )
    # a band seen by both levels pools by deal-months: (3 · 1 + 1 · 3) / 4 = 1.5
    rows[2 + 5 + 1], coef[2 + 5 + 1, 0] = 0.0, 0.0
    rows_b0_only = rows.copy()
    rows_b0_only[2 + 1] = 0.0  # now band 1 is unseen by everybody too
    filled = pool_unseen_segments(coef, rows_b0_only, space)[:, 0]  # type: ignore[arg-type]
    assert filled.tolist() == [7.0, 8.0, 1.0, 1.5, 1.5, 1.5, 1.5, 3.0, 1.5, 1.5, 1.5, 1.5]


def test_size_band_edges_by_hand() -> None:
    mid_and_big = [20_000.0] * 100 + [300_000.0] * 100 + [2_000_000.0] * 100
    # n = 300 → five bands wanted; ranks 60, 120, 180, 240 hold 20k, 300k, 300k, 2M. 20k and
    # 300k close bands of 100 with 200 and 100 above; 2M would leave nothing above it
    assert size_band_edges(mid_and_big).tolist() == [20_000.0, 300_000.0]
    # one package for most deals: ranks 60–180 all 5,000; 8,000 would leave 40 above (< 50)
    one_package = [5_000.0] * 200 + [8_000.0] * 60 + [9_000.0] * 40
    assert size_band_edges(one_package).tolist() == [5_000.0]
    # distinct amounts 1 … 1,000: quintiles at ranks 200, 400, 600, 800
    assert size_band_edges(np.arange(1.0, 1001.0)).tolist() == [200.0, 400.0, 600.0, 800.0]
    # 100 deals: two bands (ranks ≤ 50, the rest); 99: too few for two; unknown ones ignored
    assert size_band_edges(np.arange(1.0, 101.0)).tolist() == [50.0]
    assert size_band_edges([*np.arange(1.0, 100.0), np.nan, np.nan]).tolist() == []


@settings(max_examples=200, deadline=None)
@given(
    amounts=st.lists(st.integers(0, 10_000_000), min_size=0, max_size=600),
    scale=st.sampled_from([0.25, 0.5, 2.0, 10.0, 1_000.0]),
)
def test_size_band_edges_are_increasing_hold_enough_deals_and_follow_the_scale(
    amounts: list[int], scale: float
) -> None:
    x = np.asarray(amounts, dtype=float)
    edges = size_band_edges(x)
    assert len(edges) <= MAX_SIZE_BANDS - 1
    assert (np.diff(edges) > 0).all()
    bounds = np.r_[-np.inf, edges, np.inf]
    per_band = [((x > lo) & (x <= hi)).sum() for lo, hi in pairwise(bounds)]
    assert sum(per_band) == len(x)
    if len(edges):
        assert min(per_band) >= MIN_SIZE_BAND_DEALS
    assert size_band_edges(x * scale).tolist() == (edges * scale).tolist()


def mid_and_big_deals(scale: float = 1.0) -> DealHistory:
    """A young org. 300 deals opened 300 days ago: 100 of 20k and 100 of 300k (each half won,
    half lost within their first month after a month start), and 100 of 2 M, all still open
    (never won young). Two more of 300k and 2 M opened yesterday. Amounts × `scale`."""
    parts = [
        cohort("SW", 50, created_days_ago=300, outcome="won", closed_days_ago=272, amount=20e3),
        cohort("SL", 50, created_days_ago=300, outcome="lost", closed_days_ago=268, amount=20e3),
        cohort("MW", 50, created_days_ago=300, outcome="won", closed_days_ago=272, amount=3e5),
        cohort("ML", 50, created_days_ago=300, outcome="lost", closed_days_ago=268, amount=3e5),
        cohort("BO", 100, created_days_ago=300, amount=2e6),
        cohort("NEW-MID", 1, created_days_ago=1, amount=3e5),
        cohort("NEW-BIG", 1, created_days_ago=1, amount=2e6),
    ]
    for deals, rows in parts:
        for record in (*deals, *rows):
            record["amount"] *= scale
    return build(*parts)


SIZE_ONLY = {"segments": ["size_band"], "shrinkage_strength": 0, "size_band_edges": "auto"}


def test_auto_size_bands_part_big_deals_from_mid_ones_the_fixed_edges_lump() -> None:
    """The manufacturer case by hand: above 250k, 300k deals decide within a month (half
    won) while 2 M deals never close young. The fixed edges (10k / 50k / 250k) put both in
    one band, so a new 300k deal and a new 2 M deal get one p; the bands learnt from the
    org's amounts (edges 20k, 300k: three bands of 100) tell them apart."""
    hist = mid_and_big_deals()
    model = learn_win_rates(hist, AS_OF, forecast_config(**SIZE_ONLY)).model
    assert model.space.size_edges.tolist() == [20_000.0, 300_000.0]

    def p_now(**config: object) -> tuple[float, float]:
        rates = win_probabilities(hist, AS_OF, forecast_config(**{**SIZE_ONLY, **config}))
        p = rates.set_index("opportunity_id")["p_period_1"]
        return float(p["sf:NEW-MID0000"]), float(p["sf:NEW-BIG0000"])

    # The rest of the quarter is 15.5 days, 0.51 of a month (p linear within a month). In
    # their first month, 300k deals were won at a hazard of 50 / 100 and 2 M ones at 0 / 100:
    # p ≈ 0.51 · 0.5 = 0.25 and ≈ 0; lumped, 50 / 200 → 0.51 · 0.25 = 0.13 for both (the L2
    # penalty pulls the fitted hazards slightly toward the pooled one)
    mid, big = p_now()
    assert mid == pytest.approx(0.51 * 0.5, abs=0.02)
    assert big < 0.02
    lumped_mid, lumped_big = p_now(size_band_edges=[10_000, 50_000, 250_000])
    assert lumped_mid == pytest.approx(lumped_big)
    assert lumped_mid == pytest.approx(0.51 * 0.25, abs=0.01)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scale=st.sampled_from([0.5, 4.0, 1_000.0]))
def test_scaling_every_amount_leaves_every_p_unchanged(scale: float) -> None:
    """Auto bands read ranks, not amounts: the same org in another currency (every amount
    × c) gets the same p for every deal — with fixed edges it would not."""
    config = forecast_config(**SIZE_ONLY)
    columns = ["p_win", "p_win_model", "p_period_1", "p_period_2"]
    base = win_probabilities(mid_and_big_deals(), AS_OF, config).set_index("opportunity_id")
    scaled = win_probabilities(mid_and_big_deals(scale), AS_OF, config).set_index("opportunity_id")
    assert scaled[columns].to_numpy().tolist() == base[columns].to_numpy().tolist()


def test_an_unknown_amount_is_its_own_size_level_not_the_top_band() -> None:
    hist = mid_and_big_deals()
    space = FeatureSpace(hist, forecast_config(size_band_edges=[50_000, 1_000_000]))
    levels = space.size_level(np.array([10.0, 50_000.0, 50_001.0, 5e6, np.nan]))
    assert levels.tolist() == [0, 0, 1, 2, 3]
    assert space.n_sizes == 4
    with pytest.raises(ConfigError, match="size_band_edges"):
        forecast_config(size_band_edges=[1_000, 100])
    assert forecast_config().size_band_edges == (10_000.0, 50_000.0, 250_000.0)
    assert forecast_config(size_band_edges="auto").size_band_edges == "auto"


def test_the_size_bands_in_words() -> None:
    hist = mid_and_big_deals()
    space = learn_win_rates(hist, AS_OF, forecast_config(**SIZE_ONLY)).model.space
    assert space.size_bands_text() == (
        "deal-size bands: up to 20,000 · 20,000–300,000 · over 300,000"
    )
    plain = FeatureSpace(hist, forecast_config(segments=["type"]))
    assert plain.size_bands_text() == ""


def every_deal_closes_at_160_days() -> DealHistory:
    """Five deals created every 10 days from 400 to 50 days ago; each closes exactly 160 days
    after its creation — three won, two lost — if that day has come, else it is still open
    (close dates far ahead, so lateness says nothing: only the deal's age tells)."""
    parts = []
    for created in range(50, 401, 10):
        closed = created - 160
        if closed > 0:
            parts.append(
                cohort(
                    f"W{created}-",
                    3,
                    created_days_ago=created,
                    outcome="won",
                    closed_days_ago=closed,
                )
            )
            parts.append(
                cohort(
                    f"L{created}-",
                    2,
                    created_days_ago=created,
                    outcome="lost",
                    closed_days_ago=closed,
                )
            )
        else:
            parts.append(cohort(f"O{created}-", 5, created_days_ago=created))
    return build(*parts)


MONTHLY_AGES = [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 330, 365, 545, 730]


def test_monthly_age_bands_let_the_hazard_rise_within_a_quarter_of_age() -> None:
    """Deals close 160 days after creation, never earlier. Open at 100 days old, a deal
    reaches 130 days in a month: by the data, it cannot close in it (p ≈ 0); open at 150
    days, it reaches 160 in the month and closes then, won 3 times in 5 (p ≈ 0.6). Monthly
    age bands (`hazard.age_edges`) tell the two apart; the default one band for 90–180 days
    gives both that band's average hazard."""
    hist = every_deal_closes_at_160_days()
    state = state_at(hist, AS_OF.value)
    ids = hist.book.opportunities["opportunity_id"].to_numpy()[state.opp_pos]
    month = np.array([AS_OF.value, AS_OF.value + MONTH_NS], dtype=np.int64)

    def p_next_month(**hazard: object) -> dict[str, float]:
        config = forecast_config(shrinkage_strength=0, hazard=hazard)
        model = learn_win_rates(hist, AS_OF, config).model
        return dict(zip(ids, model.win_within(state, month)[1][:, 0], strict=True))

    monthly = p_next_month(age_edges=MONTHLY_AGES)
    assert monthly["sf:O100-0000"] < 0.05
    assert monthly["sf:O150-0000"] == pytest.approx(0.6, abs=0.08)
    quarterly = p_next_month()
    assert quarterly["sf:O100-0000"] > 0.1
    assert quarterly["sf:O100-0000"] == pytest.approx(quarterly["sf:O150-0000"], abs=0.05)


def test_age_edges_must_increase() -> None:
    with pytest.raises(ConfigError, match="age_edges"):
        forecast_config(hazard={"age_edges": [90, 90, 365]})
    with pytest.raises(ConfigError, match="age_edges"):
        forecast_config(hazard={"age_edges": [0, 90]})
    assert forecast_config().hazard.age_edges == (90.0, 180.0, 365.0, 730.0)
