"""Scoring: tiers, health, calibrated forecast, next actions — pure pandas in, pandas out.

No Dagster, no CRM clients, no clock: `as_of` is always a parameter. The usual entry point is
`score_accounts` (everything in one go); the steps are public for assets that want them apart:

    book = AccountBook.from_canonical(
        accounts, contacts, opportunities, identity, currency=cfg.currency
    )
    history = DealHistory.build(book, opportunity_stage_history)
    tiers = score_tiers(book, as_of, cfg.tiers)
    health = score_health(book, as_of, cfg.health, previous_health)
    rates = learn_win_rates(history, as_of, cfg.forecast)  # the time-to-close model
    probabilities = win_probabilities(history, as_of, cfg.forecast, rates)
    outlook = forecast(book, probabilities, as_of, cfg.forecast)  # + run-rate in totals
    actions = next_actions(tiers, health, probabilities, as_of, cfg.next_action)
    result = backtest(history, as_of, cfg.forecast)
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from acm_sync.scoring.backtest import BacktestResult, backtest
from acm_sync.scoring.book import AccountBook, identity_from_accounts
from acm_sync.scoring.calibration import WinRates, learn_win_rates
from acm_sync.scoring.forecast import Forecast, forecast, win_probabilities
from acm_sync.scoring.hazard import CloseModel, learn_close_model
from acm_sync.scoring.health import score_health
from acm_sync.scoring.next_action import next_actions
from acm_sync.scoring.periods import Instant, utc
from acm_sync.scoring.run_rate import run_rate
from acm_sync.scoring.settings import ScoringSettings
from acm_sync.scoring.stages import DealHistory
from acm_sync.scoring.tiers import pareto_key, score_tiers

__all__ = [
    "AccountBook",
    "BacktestResult",
    "CloseModel",
    "DealHistory",
    "Forecast",
    "Scores",
    "WinRates",
    "backtest",
    "build_book",
    "existing_by",
    "forecast",
    "identity_from_accounts",
    "learn_close_model",
    "learn_win_rates",
    "next_actions",
    "pareto_key",
    "run_rate",
    "score_accounts",
    "score_health",
    "score_tiers",
    "win_probabilities",
]


@dataclass(frozen=True)
class Scores:
    """Everything one scoring run produces (see each function for the columns)."""

    as_of: pd.Timestamp
    book: AccountBook
    tiers: pd.DataFrame
    health: pd.DataFrame
    win_rates: WinRates
    win_probabilities: pd.DataFrame
    forecast: Forecast
    next_actions: pd.DataFrame


def build_book(
    tables: dict[str, pd.DataFrame],
    config: ScoringSettings,
    identity: pd.DataFrame | None = None,
) -> tuple[AccountBook, DealHistory]:
    """The canonical tables rolled up by unified account, and their deals' stage history;
    `tables["stages"]`, when there, is the CRMs' own stage list (source, stage,
    default_probability, is_closed, is_won) for stages no current deal is in."""
    book = AccountBook.from_canonical(
        tables["accounts"],
        tables["contacts"],
        tables["opportunities"],
        identity,
        currency=config.currency,
    )
    return book, DealHistory.build(book, tables["opportunity_stage_history"], tables.get("stages"))


def existing_by(tables: dict[str, pd.DataFrame], as_of: Instant) -> dict[str, pd.DataFrame]:
    """`tables` without the accounts created after the as-of *date*: in a historical replay
    they do not exist yet (not even as Prospects). An account created later on the as-of day
    itself stays: a daily run is as of 00:00 and must still see the day's new accounts."""
    accounts = tables["accounts"]
    created = pd.to_datetime(accounts["created_at"], utc=True)
    next_day = utc(as_of).floor("D") + pd.Timedelta(days=1)
    later = (created >= next_day).to_numpy(dtype=bool, na_value=False)
    if not later.any():
        return tables
    return {**tables, "accounts": accounts.loc[~later]}


def score_accounts(
    tables: dict[str, pd.DataFrame],
    *,
    as_of: Instant,
    config: ScoringSettings | None = None,
    identity: pd.DataFrame | None = None,
    previous_health: pd.DataFrame | None = None,
) -> Scores:
    """Score the canonical `tables` (accounts, contacts, opportunities,
    opportunity_stage_history) rolled up by `identity` (default: one key per account)."""
    config = config or ScoringSettings()
    instant = utc(as_of)
    book, history = build_book(existing_by(tables, instant), config, identity)
    tiers = score_tiers(book, instant, config.tiers)
    health = score_health(
        book,
        instant,
        config.health,
        previous_health,
        revenue_window_days=config.tiers.revenue_window_days,
    )
    rates = learn_win_rates(history, instant, config.forecast)
    probabilities = win_probabilities(history, instant, config.forecast, rates)
    outlook = forecast(book, probabilities, instant, config.forecast)
    actions = next_actions(
        tiers,
        health,
        probabilities,
        instant,
        config.next_action,
        currency=book.currency,
        weights=config.health.weights,
    )
    return Scores(instant, book, tiers, health, rates, probabilities, outlook, actions)
