"""Backtest and the whole run on the demo org: calibrated beats the stage defaults, no
leakage, and every value that lands in a CRM field fits it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scoring_builders import AS_OF, accounts, contacts, deal_story, stories

from acm_sync.config import AcmSyncConfig, ForecastConfig
from acm_sync.scoring import (
    AccountBook,
    DealHistory,
    Scores,
    backtest,
    learn_win_rates,
    score_accounts,
)
from acm_sync.scoring.backtest import ORIGIN_COLUMNS
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


def test_calibrated_forecast_beats_stage_defaults_on_the_demo_org(
    demo: tuple[Any, dict[str, pd.DataFrame]], scores: Scores
) -> None:
    org, tables = demo
    history = DealHistory.build(scores.book, tables["opportunity_stage_history"])
    result = backtest(history, org.now, ForecastConfig())
    assert list(result.origins.columns) == list(ORIGIN_COLUMNS)
    assert len(result.origins) == ForecastConfig().backtest.origins
    assert (result.origins["training_deals"] > 0).all()
    assert result.summary["actual"] > 0
    assert result.summary["calibrated_wape"] < result.summary["baseline_wape"], result.markdown()
    metadata = result.metadata()
    assert metadata["backtest_origins"] == len(result.origins)
    assert "backtest_calibrated_wape" in metadata


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
    assert rates("won").loc[("salesforce", "Prospecting"), "samples"] == 10


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
