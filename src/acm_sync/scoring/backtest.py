"""Backtest: would the calibrated forecast have beaten the CRM's stage probabilities?

At each origin (a past quarter start) the pipeline is rebuilt from stage history exactly as it
stood then — stage, amount and close date as of the origin — and win rates are learnt only from
deals closed before the origin. Both forecasts (calibrated p and the stage default) cover the
deals expected to close within the horizon (overdue ones included); the actual is what those
open-at-origin deals really booked within the horizon, whatever close date they had shown.
Deals created after the origin are outside both forecasts; their bookings are reported beside
(`won_not_in_pipeline`) but not scored.

Accuracy (API-NOTES): WAPE = Σ|actual − forecast| / Σ actual over accounts, bias =
Σ(forecast − actual) / Σ actual; pooled over origins in the summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from acm_sync.config import ForecastConfig
from acm_sync.scoring.calibration import learn_win_rates, win_probability
from acm_sync.scoring.periods import NAT, NS_PER_DAY, Instant, nanos, past_quarter_starts, utc
from acm_sync.scoring.stages import DealHistory

ORIGIN_COLUMNS: Final = (
    "origin",
    "horizon_end",
    "training_deals",
    "open_deals",
    "deals_in_horizon",
    "actual",
    "calibrated_forecast",
    "baseline_forecast",
    "calibrated_wape",
    "baseline_wape",
    "calibrated_bias",
    "baseline_bias",
    "won_not_in_pipeline",
)


@dataclass(frozen=True)
class BacktestResult:
    """origins: one row per origin (ORIGIN_COLUMNS); summary: pooled figures."""

    origins: pd.DataFrame
    summary: dict[str, float]

    def metadata(self) -> dict[str, float | int | str]:
        """Flat figures for asset metadata."""
        return {
            "backtest_origins": len(self.origins),
            **{f"backtest_{k}": round(v, 4) for k, v in self.summary.items()},
        }

    def markdown(self) -> str:
        frame = self.origins.copy()
        frame["origin"] = frame["origin"].dt.strftime("%Y-%m-%d")
        frame["horizon_end"] = frame["horizon_end"].dt.strftime("%Y-%m-%d")
        header = "| " + " | ".join(frame.columns) + " |"
        rule = "|" + "---|" * len(frame.columns)
        lines = [header, rule]
        for row in frame.itertuples(index=False):
            lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
        return "\n".join(lines)


def backtest(
    history: DealHistory,
    as_of: Instant,
    config: ForecastConfig,
    origins: tuple[pd.Timestamp, ...] | None = None,
) -> BacktestResult:
    """Calibrated vs stage-default forecast at the last `config.backtest.origins` quarter
    starts whose horizon has ended by `as_of` (or at the `origins` given)."""
    horizon = config.backtest.horizon_quarters
    if origins is None:
        origins = past_quarter_starts(
            as_of, config.backtest.origins, horizon, config.fiscal_year_start_month
        )
    rows = [_one_origin(history, utc(origin), horizon, config) for origin in origins]
    table = pd.DataFrame(rows, columns=list(ORIGIN_COLUMNS))
    return BacktestResult(table, _pooled(table))


def _one_origin(
    history: DealHistory, origin: pd.Timestamp, horizon: int, config: ForecastConfig
) -> dict[str, object]:
    book = history.book
    start = origin.value
    horizon_end = origin + pd.DateOffset(months=3 * horizon)
    end = horizon_end.value
    rates = learn_win_rates(history, origin, config)

    state = history.state_at(start)
    stage = state["stage_code"].to_numpy()
    opp_pos = state["opp_pos"].to_numpy()
    account = book.opportunities["account_pos"].to_numpy()[opp_pos]
    open_ = ~history.is_closed_stage(stage) & (account >= 0)
    stage, opp_pos, account = stage[open_], opp_pos[open_], account[open_]
    amount = state["amount"].to_numpy()[open_]
    close = state["close_date"].to_numpy()[open_]

    omitted = history.stages["category"].to_numpy(dtype=object)[stage] == "Omitted"
    in_horizon = (close != NAT) & (close < end) & ~omitted
    days_overdue = np.where(close != NAT, (start - close.astype(np.float64)) / NS_PER_DAY, 0.0)
    p_calibrated, _, _ = win_probability(
        history, rates, config, opp_pos, stage, amount, days_overdue
    )
    default = history.default_probability(stage)
    p_baseline = np.where(np.isnan(default), config.unknown_stage_probability, default)

    deals = book.opportunities
    final_close = nanos(deals["close_date"])
    booked = deals["is_won"].to_numpy() & (final_close >= start) & (final_close < end)
    actual_amount = np.where(booked[opp_pos], deals["amount"].to_numpy()[opp_pos], 0.0)
    in_pipeline = np.zeros(len(deals), dtype=bool)
    in_pipeline[opp_pos] = True
    outside = booked & ~in_pipeline & (deals["account_pos"].to_numpy() >= 0)

    def per_account(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.bincount(account, weights=values, minlength=book.size).astype(np.float64)

    actual = per_account(actual_amount)
    calibrated = per_account(np.where(in_horizon, amount * p_calibrated, 0.0))
    baseline = per_account(np.where(in_horizon, amount * p_baseline, 0.0))
    total = actual.sum()
    return {
        "origin": origin,
        "horizon_end": horizon_end,
        "training_deals": rates.training_deals,
        "open_deals": len(opp_pos),
        "deals_in_horizon": int(in_horizon.sum()),
        "actual": total,
        "calibrated_forecast": calibrated.sum(),
        "baseline_forecast": baseline.sum(),
        "calibrated_wape": _ratio(np.abs(actual - calibrated).sum(), total),
        "baseline_wape": _ratio(np.abs(actual - baseline).sum(), total),
        "calibrated_bias": _ratio((calibrated - actual).sum(), total),
        "baseline_bias": _ratio((baseline - actual).sum(), total),
        "won_not_in_pipeline": float(deals["amount"].to_numpy()[outside].sum()),
    }


def _pooled(table: pd.DataFrame) -> dict[str, float]:
    """WAPE and bias over all origins together (each origin's errors weigh by its size)."""
    if table.empty:
        return {}
    actual = table["actual"].sum()
    calibrated_error = (table["calibrated_wape"] * table["actual"]).sum()
    baseline_error = (table["baseline_wape"] * table["actual"]).sum()
    return {
        "actual": float(actual),
        "calibrated_forecast": float(table["calibrated_forecast"].sum()),
        "baseline_forecast": float(table["baseline_forecast"].sum()),
        "calibrated_wape": _ratio(calibrated_error, actual),
        "baseline_wape": _ratio(baseline_error, actual),
        "calibrated_bias": _ratio(table["calibrated_forecast"].sum() - actual, actual),
        "baseline_bias": _ratio(table["baseline_forecast"].sum() - actual, actual),
    }


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else float("nan")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)
