"""Win probabilities per open deal, and the bookings forecast per account and in total.

Expected bookings per quarter of the horizon (the current fiscal quarter and the next ones) are

    closed won in the quarter so far + Σ open amount × p(won within the quarter)

where p comes from the time-to-close model (`hazard`): a deal counts in every quarter it may
close in, not only the one its close date shows, and a deal long past its close date counts
for what such deals really do (rarely win). Deals a rep put in the Omitted category stay out,
as in the CRM's own forecast. The stage-default forecast (amount × the CRM's stage probability
in the quarter of the close date, overdue ones in the current quarter) sits beside it.

Deals not created yet are forecast apart (`run_rate`): per quarter and type, added to the
total (`totals`), not to accounts — nobody knows which account will open them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from acm_sync.model import STRING
from acm_sync.scoring import text
from acm_sync.scoring.book import AccountBook
from acm_sync.scoring.calibration import WinRates, learn_win_rates
from acm_sync.scoring.hazard import DealState
from acm_sync.scoring.periods import (
    NAT,
    NS_PER_DAY,
    Instant,
    Quarter,
    nanos,
    quarters,
    utc,
)
from acm_sync.scoring.run_rate import run_rate
from acm_sync.scoring.settings import ForecastConfig
from acm_sync.scoring.stages import DealHistory, forecast_category

AMOUNT_COLUMNS: Final = (
    "forecast_amount",
    "baseline_forecast_amount",
    "closed_amount",
    "commit_amount",
    "best_case_amount",
    "pipeline_amount",
    "omitted_amount",
    "expected_open_amount",
    "renewal_forecast",
    "stale_amount",
)
COUNT_COLUMNS: Final = ("open_opportunities", "stale_opportunities")


@dataclass(frozen=True)
class Forecast:
    """accounts: one row per account_key over the whole horizon (open pipeline and closed
    won only); by_period: the same per account and quarter (rows with anything in them);
    totals: per quarter plus "Total", with run_rate_amount (deals not created yet) and
    total_forecast_amount (forecast_amount + run-rate); new_pipeline: the run-rate per
    quarter and type (`run_rate.RUN_RATE_COLUMNS`)."""

    periods: tuple[Quarter, ...]
    accounts: pd.DataFrame
    by_period: pd.DataFrame
    totals: pd.DataFrame
    new_pipeline: pd.DataFrame


def win_probabilities(
    history: DealHistory,
    as_of: Instant,
    config: ForecastConfig,
    rates: WinRates | None = None,
) -> pd.DataFrame:
    """Win probabilities and stale flags for every open opportunity (orphans included).

    Columns: opportunity_id, account_key (<NA> for orphans), source, stage, type, amount,
    close_date, forecast_category (Closed/Commit/Best Case/Pipeline/Omitted),
    stage_probability (the CRM's), p_win (0–1: won within `hazard.steps` months),
    p_win_model (the model alone), p_win_basis (time-to-close model / stage default / unknown
    stage), model_weight (n / (n + k) of the shrinkage), stage_samples, beyond_data (within
    `hazard.steps` months the deal reaches an age at which training never saw a deal of its
    segment: the model gives it the pooled hazard there), p_period_1 … (won
    within each forecast quarter; 1 = the current one, from as_of), days_in_stage,
    close_date_pushes, is_overdue, is_stale, stale_reason.
    """
    instant = utc(as_of)
    rates = rates if rates is not None else learn_win_rates(history, instant, config)
    model = rates.model
    book = history.book
    deals = book.opportunities
    opp_pos = np.flatnonzero(~deals["is_closed"].to_numpy())
    stage_code = history.deal_stage[opp_pos]
    amount = deals["amount"].to_numpy()[opp_pos]
    entered, pushes = _entered(history, opp_pos, stage_code, instant.value)
    created = nanos(deals["created_at"])[opp_pos]
    state = DealState(
        opp_pos=opp_pos,
        stage_code=stage_code,
        close=nanos(deals["close_date"])[opp_pos],
        entered=entered,
        created=np.where(created == NAT, entered, created),
        amount=amount,
        t0=instant.value,
    )
    periods = quarters(instant, config.horizon_quarters, config.fiscal_year_start_month)
    bounds = np.array([instant.value] + [q.end.value for q in periods], dtype=np.int64)
    curve = model.cumulative(state)
    by_period, _, _ = model.win_within(state, bounds, curve)
    weight = model.weight(stage_code)
    prior = model.stage_prior[stage_code]
    p_model = curve[:, -1]
    p_win = np.clip(weight * p_model + (1 - weight) * prior, 0.0, 1.0)
    unknown = np.isnan(history.default_probability(stage_code))
    basis = np.where(
        weight > 0, "time-to-close model", np.where(unknown, "unknown stage", "stage default")
    ).astype(object)

    open_deals = deals.iloc[opp_pos]
    category = _category(history, open_deals["forecast_category"], stage_code)
    account_pos = open_deals["account_pos"].to_numpy()
    out = pd.DataFrame(
        {
            "opportunity_id": open_deals["opportunity_id"].to_numpy(),
            "account_key": pd.array(book.account_keys(account_pos), dtype=STRING),
            "source": open_deals["source"].to_numpy(),
            "stage": open_deals["stage"].to_numpy(),
            "type": open_deals["type"].to_numpy(),
            "amount": amount,
            "close_date": open_deals["close_date"].to_numpy(),
            "forecast_category": pd.array(category, dtype=STRING),
            "stage_probability": open_deals["stage_probability"].to_numpy(),
            "p_win": p_win,
            "p_win_model": p_model if model.fitted else np.nan,
            "p_win_basis": pd.array(basis, dtype=STRING),
            "model_weight": weight,
            "stage_samples": rates.by_stage["samples"].to_numpy()[stage_code],
            "beyond_data": model.beyond_data(state, float(model.space.steps)),
        }
    )
    for i in range(by_period.shape[1]):
        out[f"p_period_{i + 1}"] = by_period[:, i]
    _add_staleness(out, entered, pushes, instant.value, config)
    return out


def forecast(
    book: AccountBook,
    probabilities: pd.DataFrame,
    as_of: Instant,
    config: ForecastConfig,
) -> Forecast:
    """Expected bookings per account and quarter over `config.horizon_quarters`.

    accounts columns: account_key, forecast_amount, baseline_forecast_amount (stage-default
    probabilities), closed_amount (won in the horizon), commit_amount, best_case_amount,
    pipeline_amount, omitted_amount (open amounts by category, unweighted),
    expected_open_amount (Σ amount × p(won within the quarter)), renewal_forecast
    (renewals: won + expected), stale_amount, open_opportunities, stale_opportunities,
    forecast_current_quarter.
    """
    periods = quarters(as_of, config.horizon_quarters, config.fiscal_year_start_month)
    starts = np.array([q.start.value for q in periods], dtype=np.int64)
    end = periods[-1].end.value
    cells = book.size * len(periods)

    deals = book.opportunities
    opp_pos = pd.Index(deals["opportunity_id"]).get_indexer(
        probabilities["opportunity_id"].to_numpy(dtype=object)
    )
    account = np.where(opp_pos >= 0, deals["account_pos"].to_numpy()[np.maximum(opp_pos, 0)], -1)
    close = nanos(probabilities["close_date"])
    period = _period(close, starts, end)
    in_scope = (account >= 0) & (period >= 0)
    cell = account * len(periods) + period
    amount = probabilities["amount"].to_numpy(dtype=float)
    category = text.objects(probabilities["forecast_category"])
    counted = in_scope & (category != "Omitted")
    renewal = text.objects(probabilities["type"]) == "renewal"
    stale = probabilities["is_stale"].to_numpy(dtype=bool)
    baseline_p = np.nan_to_num(
        probabilities["stage_probability"].to_numpy(dtype=float, na_value=np.nan)
    )
    # expected bookings per quarter: amount × p(won within it), whatever the close date shows
    n_periods = len(periods)
    p_period = np.column_stack(
        [
            probabilities[f"p_period_{i + 1}"].to_numpy(dtype=float, na_value=0.0)
            for i in range(n_periods)
        ]
    ).reshape(len(probabilities), n_periods)
    forecastable = (account >= 0) & (category != "Omitted")
    spread_cell = (account[:, None] * n_periods + np.arange(n_periods)[None, :])[forecastable]
    spread = (amount[:, None] * p_period)[forecastable]
    spread_renewal = (amount[:, None] * p_period * renewal[:, None])[forecastable]

    def total(mask: npt.NDArray[np.bool_], weights: npt.NDArray[np.float64] | None) -> np.ndarray:
        w = None if weights is None else weights[mask]
        return np.bincount(cell[mask], weights=w, minlength=cells).astype(float)

    won_cell, won_amount, won_renewal = _won_in_horizon(book, starts, end)
    closed = np.bincount(won_cell, weights=won_amount, minlength=cells)
    grid = {
        "closed_amount": closed,
        "commit_amount": total(in_scope & (category == "Commit"), amount),
        "best_case_amount": total(in_scope & (category == "Best Case"), amount),
        "pipeline_amount": total(in_scope & (category == "Pipeline"), amount),
        "omitted_amount": total(in_scope & (category == "Omitted"), amount),
        "expected_open_amount": np.bincount(
            spread_cell.reshape(-1), weights=spread.reshape(-1), minlength=cells
        ).astype(float),
        "baseline_forecast_amount": closed + total(counted, amount * baseline_p),
        "renewal_forecast": np.bincount(
            won_cell[won_renewal], weights=won_amount[won_renewal], minlength=cells
        )
        + np.bincount(spread_cell.reshape(-1), weights=spread_renewal.reshape(-1), minlength=cells),
        "stale_amount": total(in_scope & stale, amount),
        "open_opportunities": total(in_scope, None),
        "stale_opportunities": total(in_scope & stale, None),
    }
    grid["forecast_amount"] = grid["closed_amount"] + grid["expected_open_amount"]
    new_pipeline = run_rate(book, utc(as_of), periods, config.run_rate)
    return _assemble(book, periods, grid, new_pipeline)


def _assemble(
    book: AccountBook,
    periods: tuple[Quarter, ...],
    grid: dict[str, np.ndarray],
    new_pipeline: pd.DataFrame,
) -> Forecast:
    n_periods = len(periods)
    keys = book.accounts["account_key"].to_numpy()
    columns = [*AMOUNT_COLUMNS, *COUNT_COLUMNS]
    matrices = {name: grid[name].reshape(book.size, n_periods) for name in columns}

    accounts = pd.DataFrame({"account_key": keys})
    for name in columns:
        accounts[name] = matrices[name].sum(axis=1)
    accounts["forecast_current_quarter"] = matrices["forecast_amount"][:, 0]
    for name in COUNT_COLUMNS:
        accounts[name] = accounts[name].astype(np.int64)

    by_period = pd.DataFrame(
        {
            "account_key": np.repeat(keys, n_periods),
            "period": np.tile([q.label for q in periods], book.size),
            "period_start": np.tile([q.start for q in periods], book.size),
        }
    )
    for name in columns:
        by_period[name] = grid[name]
    anything = (by_period[list(columns)] != 0).any(axis=1)
    by_period = by_period.loc[anything].reset_index(drop=True)
    for name in COUNT_COLUMNS:
        by_period[name] = by_period[name].astype(np.int64)

    totals = by_period.groupby("period", sort=True)[list(columns)].sum()
    totals = totals.reindex([q.label for q in periods], fill_value=0)
    totals.loc["Total"] = totals.sum()
    totals["accounts_with_forecast"] = [
        int((matrices["forecast_amount"][:, i] > 0).sum()) for i in range(n_periods)
    ] + [int((accounts["forecast_amount"] > 0).sum())]
    by_quarter = new_pipeline.groupby("period", sort=False)["run_rate_amount"].sum()
    totals["run_rate_amount"] = by_quarter.reindex(totals.index).fillna(0.0)
    totals.loc["Total", "run_rate_amount"] = by_quarter.sum()
    totals["total_forecast_amount"] = totals["forecast_amount"] + totals["run_rate_amount"]
    return Forecast(periods, accounts, by_period, totals.reset_index(names="period"), new_pipeline)


def _period(
    close: npt.NDArray[np.int64], starts: npt.NDArray[np.int64], end: int
) -> npt.NDArray[np.int64]:
    """Quarter index in the horizon (overdue → current quarter); -1 outside or undated."""
    index = np.searchsorted(starts, close, side="right").astype(np.int64) - 1
    index = np.maximum(index, 0)
    return np.where((close == NAT) | (close >= end), -1, index)


def _won_in_horizon(
    book: AccountBook, starts: npt.NDArray[np.int64], end: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    deals = book.opportunities
    close = nanos(deals["close_date"])
    account = deals["account_pos"].to_numpy()
    won = deals["is_won"].to_numpy() & (close >= starts[0]) & (close < end) & (account >= 0)
    period = np.searchsorted(starts, close[won], side="right") - 1
    cell = account[won] * len(starts) + period
    renewal = text.objects(deals["type"])[won] == "renewal"  # a blank type is <NA>
    return cell.astype(np.int64), deals["amount"].to_numpy()[won], renewal


def _category(
    history: DealHistory, crm_category: pd.Series, stage_code: npt.NDArray[np.int64]
) -> npt.NDArray[np.object_]:
    """The deal's CRM forecast category, else its stage's usual one, else Pipeline."""
    category = forecast_category(crm_category)
    stage_category = history.stages["category"].to_numpy(dtype=object)[stage_code]
    category = np.where(pd.isna(category), stage_category, category)
    return np.where(pd.isna(category), "Pipeline", category).astype(object)


def _entered(
    history: DealHistory,
    opp_pos: npt.NDArray[np.int64],
    stage_code: npt.NDArray[np.int64],
    now: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """When each deal entered its current stage (per history when it agrees with the record,
    else at creation; NAT = unknown) and how often its close date was pushed later."""
    state = history.state_at(now)
    row_of_deal = np.full(len(history.book.opportunities), -1, dtype=np.int64)
    row_of_deal[state["opp_pos"].to_numpy()] = np.arange(len(state))
    row = row_of_deal[opp_pos]
    same_stage = _gather(state["stage_code"].to_numpy(), row, -1) == stage_code
    created = nanos(history.book.opportunities["created_at"])[opp_pos]
    entered = np.where(same_stage, _gather(state["run_start"].to_numpy(), row, NAT), created)
    return entered.astype(np.int64), _gather(state["pushes"].to_numpy(), row, 0)


def _add_staleness(
    out: pd.DataFrame,
    entered: npt.NDArray[np.int64],
    pushes: npt.NDArray[np.int64],
    now: int,
    config: ForecastConfig,
) -> None:
    """days_in_stage, close_date_pushes, is_overdue, is_stale, stale_reason (in place)."""
    days = (now - entered.astype(float)) / NS_PER_DAY
    days[entered == NAT] = np.nan

    close = nanos(out["close_date"])
    today = now - now % NS_PER_DAY
    overdue = (close != NAT) & (close < today)
    rule = config.stale
    long_in_stage = days > rule.days_in_stage
    pushed = pushes >= rule.close_date_pushes
    undated = close == NAT
    out["days_in_stage"] = pd.array(np.floor(days), dtype="Float64").astype("Int64")
    out["close_date_pushes"] = pushes.astype(np.int64)
    out["is_overdue"] = overdue
    flagged = (overdue & rule.overdue) | long_in_stage | pushed | undated
    out["is_stale"] = flagged
    reason = text.join(
        [
            (overdue & rule.overdue, "close date passed " + text.dates(out["close_date"])),
            (undated, text.constant("no close date", len(out))),
            (long_in_stage, text.count(days, "day") + " in stage"),
            (pushed, "close date pushed " + text.count(pushes, "time")),
        ]
    )
    out["stale_reason"] = pd.array(reason.astype(object), dtype=STRING)


def _gather(values: np.ndarray, row: npt.NDArray[np.int64], fill: int) -> np.ndarray:
    """values[row] where row ≥ 0, else `fill`."""
    out = np.full(len(row), fill, dtype=values.dtype if len(values) else np.int64)
    found = row >= 0
    out[found] = values[row[found]]
    return out
