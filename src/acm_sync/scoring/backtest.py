"""Backtest: what would the forecast have said at past quarter starts, and what happened?

At each origin (a calendar / fiscal quarter start whose horizon has ended by as_of) the
pipeline is rebuilt from stage history as it stood then — stage, amount, close date, time in
stage — and the time-to-close model is learnt only from what the history showed before the
origin. Per origin:

- total bookings: actual = every deal won within the horizon (open at the origin or created
  after it); forecast = open pipeline × p(won within the horizon) + run-rate of deals not yet
  created (`run_rate`), for the model; the stage-default baseline is open pipeline × the CRM's
  stage probability for deals whose close date falls in the horizon (overdue ones included) +
  the same run-rate (the run-rate is not what the baseline is judged on).
- account level, open pipeline only (a run-rate has no account): WAPE = Σ|actual − forecast| /
  Σ actual over accounts, bias = Σ(forecast − actual) / Σ actual, where actual is what the
  deals open at the origin booked within the horizon.
- the noise floor: open_sd = √Σ amount² · p (1 − p), the standard deviation of the open
  pipeline's bookings if every deal won independently with the model's p. Even a perfect model
  misses the total by about this much (more with the run-rate's own noise), so a total error
  several times open_sd / actual is the model's, one within it is luck's.
- calibration over the open deals: Brier score mean((p − won within the horizon)²) and a
  reliability table by decile of p (mean p vs share won), pooled over origins.

Both model and baseline are reported; `eligible` marks origins with at least
`MIN_TRAINING_DEALS` deals resolved before the origin (the bar the target is judged on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from acm_sync.scoring.hazard import DealState, learn_close_model, resolution, state_at
from acm_sync.scoring.periods import NAT, Instant, Quarter, nanos, past_quarter_starts, utc
from acm_sync.scoring.run_rate import run_rate
from acm_sync.scoring.settings import ForecastConfig
from acm_sync.scoring.stages import DealHistory

MIN_TRAINING_DEALS: Final = 50
# The total-bookings tolerance the forecast is judged on (#13: within ±15 % of actual).
TOTAL_TOLERANCE: Final = 0.15

ORIGIN_COLUMNS: Final = (
    "origin",
    "horizon_end",
    "training_deals",
    "eligible",
    "open_deals",
    "actual_total",
    "forecast_total",
    "baseline_total",
    "total_error",
    "baseline_total_error",
    "run_rate",
    "actual_new_pipeline",
    "actual_open_pipeline",
    "model_open_forecast",
    "baseline_open_forecast",
    "open_sd",
    "model_wape",
    "baseline_wape",
    "model_bias",
    "baseline_bias",
    "model_brier",
    "baseline_brier",
    "beyond_data_share",
)
RELIABILITY_COLUMNS: Final = (
    "decile",
    "deals",
    "model_mean_p",
    "model_won_share",
    "baseline_deals",
    "baseline_mean_p",
    "baseline_won_share",
)


@dataclass(frozen=True)
class BacktestResult:
    """origins: one row per origin (ORIGIN_COLUMNS); reliability: by decile of p, pooled
    (RELIABILITY_COLUMNS); summary: pooled figures."""

    origins: pd.DataFrame
    reliability: pd.DataFrame
    summary: dict[str, float]

    def metadata(self) -> dict[str, float | int | str]:
        """Flat figures for asset metadata: pooled, and one entry per origin and figure
        (`backtest_2025Q1_total_error`, …) so each can be read — and charted — by origin."""
        out: dict[str, float | int | str] = {
            "backtest_origins": len(self.origins),
            **{f"backtest_{k}": round(v, 4) for k, v in self.summary.items()},
        }
        for _, row in self.origins.iterrows():
            label = _label(pd.Timestamp(str(row["origin"])))
            for name in (
                "total_error",
                "model_wape",
                "baseline_wape",
                "model_bias",
                "model_brier",
                "beyond_data_share",
            ):
                value = float(row[name])
                if np.isfinite(value):
                    out[f"backtest_{label}_{name}"] = round(value, 4)
        return out

    def markdown(self) -> str:
        frame = self.origins.copy()
        frame["origin"] = frame["origin"].map(_label)
        # no origin yet (a CRM younger than a quarter): an object column with no .dt
        frame["horizon_end"] = pd.to_datetime(frame["horizon_end"]).dt.strftime("%Y-%m-%d")
        return _table(frame)

    def reliability_markdown(self) -> str:
        return _table(self.reliability)


def backtest(
    history: DealHistory,
    as_of: Instant,
    config: ForecastConfig,
    origins: tuple[pd.Timestamp, ...] | None = None,
) -> BacktestResult:
    """Model vs stage-default forecast at the last `config.backtest.origins` quarter starts
    whose horizon has ended by `as_of`, bar those whose horizon ended before the CRM's first
    deal (`origins_with_deals`); or at the `origins` given, each of whose horizon must have
    ended by `as_of` (ValueError otherwise: `check_ended` says why)."""
    horizon = config.backtest.horizon_quarters
    if origins is None:  # calendar quarters, whatever the fiscal year: comparable anywhere
        origins = past_quarter_starts(as_of, config.backtest.origins, horizon, 1)
        origins = origins_with_deals(origins, first_created(history), horizon)
    else:
        check_ended(origins, as_of, horizon)
    rows, scored = [], []
    for origin in origins:
        row, deals = _one_origin(history, utc(origin), horizon, config)
        rows.append(row)
        scored.append(deals)
    table = pd.DataFrame(rows, columns=list(ORIGIN_COLUMNS))
    pooled = pd.concat(scored, ignore_index=True) if scored else _empty_scored()
    return BacktestResult(table, reliability(pooled), _pooled(table))


def check_ended(origins: tuple[pd.Timestamp, ...], as_of: Instant, horizon_quarters: int) -> None:
    """Raise ValueError naming every origin whose horizon (`horizon_quarters` from it) ends
    after `as_of`. Why refused, not shown: what such an origin's horizon books is not known
    yet, so its actual would read as the bookings so far (none, for an origin after `as_of`)
    and its error as a miss that is not one. Nothing calls the backtest for an unfinished
    quarter: the asset and the bench scripts pick origins that `past_quarter_starts` says have
    ended; an origin given by hand that has not is a mistake, said before any work is done."""
    instant = utc(as_of)
    months = 3 * horizon_quarters
    late = [(utc(o), utc(o) + pd.DateOffset(months=months)) for o in origins]
    late = [(origin, end) for origin, end in late if end > instant]
    if late:
        listed = ", ".join(f"{origin:%Y-%m-%d} (ends {end:%Y-%m-%d})" for origin, end in late)
        quarters = f"{horizon_quarters} quarter{'s' if horizon_quarters > 1 else ''}"
        raise ValueError(
            f"backtest origins whose {quarters} horizon has not ended by as_of "
            f"{instant:%Y-%m-%d %H:%M} UTC: {listed} — what they book is not known yet; "
            "give origins whose horizon has ended"
        )


def first_created(history: DealHistory) -> Instant | None:
    """When the book's first deal was created (None: no deal has a creation date)."""
    created = nanos(history.book.opportunities["created_at"])
    created = created[created != NAT]
    return pd.Timestamp(int(created.min()), tz="UTC") if len(created) else None


def origins_with_deals(
    origins: tuple[pd.Timestamp, ...], first: Instant | None, horizon_quarters: int
) -> tuple[pd.Timestamp, ...]:
    """The `origins` whose horizon ends after `first` (the first deal's creation): a quarter
    that was over before the CRM held any deal has nothing to forecast or book — a row of zeros
    in the table and the plot, not a backtest (a CRM a year old asked for 8 origins shows 5).
    All of them when `first` is None."""
    if first is None:
        return origins
    first = utc(first)
    months = 3 * horizon_quarters
    return tuple(o for o in origins if utc(o) + pd.DateOffset(months=months) > first)


def combine(results: list[BacktestResult]) -> BacktestResult:
    """One result from backtests run one origin at a time (each on the data as known at its
    origin, say): origins stacked, reliability and pooled figures recomputed exactly (deal
    counts add up; means weigh by deals)."""
    if not results:
        raise ValueError("combine needs at least one backtest result")
    table = pd.concat([r.origins for r in results], ignore_index=True)
    table = table.sort_values("origin", kind="stable").reset_index(drop=True)
    parts = pd.concat([r.reliability for r in results], ignore_index=True)
    rows = []
    for decile, group in parts.groupby("decile", sort=False):
        row: list[object] = [decile]
        for side, count in (("model", "deals"), ("baseline", "baseline_deals")):
            n = group[count].to_numpy(dtype=float)
            total = n.sum()
            row.append(int(total))
            for name in (f"{side}_mean_p", f"{side}_won_share"):
                values = np.nan_to_num(group[name].to_numpy(dtype=float))
                row.append(float((values * n).sum() / total) if total else float("nan"))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(RELIABILITY_COLUMNS))
    return BacktestResult(table, frame, _pooled(table))


def reliability(scored: pd.DataFrame) -> pd.DataFrame:
    """By decile of p (0–10 %, …, 90–100 %): deals, mean p and share won, model and baseline
    side by side (columns RELIABILITY_COLUMNS)."""
    rows = []
    won = scored["won"].to_numpy(dtype=float)
    bins = {
        name: np.minimum((scored[name].to_numpy() * 10).astype(int), 9)
        for name in ("p_model", "p_baseline")
    }
    for d in range(10):
        row: list[object] = [f"{d * 10}–{(d + 1) * 10} %"]
        for name in ("p_model", "p_baseline"):
            hit = bins[name] == d
            count = int(hit.sum())
            p = scored[name].to_numpy()[hit]
            row += [
                count,
                float(p.mean()) if count else float("nan"),
                float(won[hit].mean()) if count else float("nan"),
            ]
        rows.append(row)
    return pd.DataFrame(rows, columns=list(RELIABILITY_COLUMNS))


def _one_origin(
    history: DealHistory, origin: pd.Timestamp, horizon: int, config: ForecastConfig
) -> tuple[dict[str, object], pd.DataFrame]:
    book = history.book
    start = origin.value
    horizon_end = origin + pd.DateOffset(months=3 * horizon)
    end = horizon_end.value
    model = learn_close_model(history, origin, config)

    state = state_at(history, start)
    account = book.opportunities["account_pos"].to_numpy()[state.opp_pos]
    keep = account >= 0
    omitted = history.stages["category"].to_numpy(dtype=object)[state.stage_code] == "Omitted"
    keep &= ~omitted
    state = _subset(state, keep)
    account = account[keep]
    p_model, _, p_baseline = model.win_within(state, np.array([start, end], dtype=np.int64))
    p_model, p_baseline = p_model[:, 0], p_baseline[:, 0]

    deals = book.opportunities
    final_close = nanos(deals["close_date"])
    is_won = deals["is_won"].to_numpy(dtype=bool)
    booked = is_won & (final_close != NAT) & (final_close >= start) & (final_close < end)
    won_open = booked[state.opp_pos]
    actual_amount = np.where(won_open, deals["amount"].to_numpy()[state.opp_pos], 0.0)
    amount = state.amount

    def per_account(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.bincount(account, weights=values, minlength=book.size).astype(np.float64)

    actual = per_account(actual_amount)
    model_forecast = per_account(amount * p_model)
    baseline_forecast = per_account(amount * p_baseline)
    open_actual = actual.sum()

    in_book = deals["account_pos"].to_numpy() >= 0
    actual_total = float(deals["amount"].to_numpy()[booked & in_book].sum())
    periods = (Quarter("h", origin, horizon_end),)
    rate = float(run_rate(book, origin, periods, config.run_rate)["run_rate_amount"].sum())
    forecast_total = model_forecast.sum() + rate
    baseline_total = baseline_forecast.sum() + rate
    resolved = _resolved_before(history, start)
    row = {
        "origin": origin,
        "horizon_end": horizon_end,
        "training_deals": resolved,
        "eligible": resolved >= MIN_TRAINING_DEALS,
        "open_deals": len(state.opp_pos),
        "actual_total": actual_total,
        "forecast_total": forecast_total,
        "baseline_total": baseline_total,
        "total_error": _ratio(forecast_total - actual_total, actual_total),
        "baseline_total_error": _ratio(baseline_total - actual_total, actual_total),
        "run_rate": rate,
        "actual_new_pipeline": actual_total - open_actual,
        "actual_open_pipeline": open_actual,
        "model_open_forecast": model_forecast.sum(),
        "baseline_open_forecast": baseline_forecast.sum(),
        "open_sd": float(np.sqrt((amount**2 * p_model * (1.0 - p_model)).sum())),
        "model_wape": _ratio(np.abs(actual - model_forecast).sum(), open_actual),
        "baseline_wape": _ratio(np.abs(actual - baseline_forecast).sum(), open_actual),
        "model_bias": _ratio(model_forecast.sum() - open_actual, open_actual),
        "baseline_bias": _ratio(baseline_forecast.sum() - open_actual, open_actual),
        "model_brier": _brier(p_model, won_open),
        "baseline_brier": _brier(p_baseline, won_open),
        # share of the open amount the model forecasts at ages its segment was never seen at
        "beyond_data_share": _ratio(
            amount[model.beyond_data(state, 3.0 * horizon)].sum(), amount.sum()
        ),
    }
    scored = pd.DataFrame({"p_model": p_model, "p_baseline": p_baseline, "won": won_open})
    return row, scored


def _resolved_before(history: DealHistory, instant: int) -> int:
    closed_at, _ = resolution(history)
    return int(((closed_at != NAT) & (closed_at < instant)).sum())


def _subset(state: DealState, keep: npt.NDArray[np.bool_]) -> DealState:
    return replace(
        state,
        opp_pos=state.opp_pos[keep],
        stage_code=state.stage_code[keep],
        close=state.close[keep],
        entered=state.entered[keep],
        created=state.created[keep],
        amount=state.amount[keep],
    )


def _pooled(table: pd.DataFrame) -> dict[str, float]:
    """Pooled over the eligible origins (all when none is): errors weigh by each origin's
    actual bookings; Brier over every deal of every origin (each origin's mean weighed by its
    open deals)."""
    if table.empty:
        return {}
    use = table.loc[table["eligible"]] if table["eligible"].any() else table
    actual_open = use["actual_open_pipeline"].sum()
    actual_total = use["actual_total"].sum()
    chances = chances_within(use)
    return {
        "eligible_origins": float(table["eligible"].sum()),
        "actual_total": float(actual_total),
        "forecast_total": float(use["forecast_total"].sum()),
        "total_error": _ratio(use["forecast_total"].sum() - actual_total, actual_total),
        "max_abs_total_error": float(use["total_error"].abs().max()),
        "model_wape": _ratio((use["model_wape"] * use["actual_open_pipeline"]).sum(), actual_open),
        "baseline_wape": _ratio(
            (use["baseline_wape"] * use["actual_open_pipeline"]).sum(), actual_open
        ),
        "model_bias": _ratio(use["model_open_forecast"].sum() - actual_open, actual_open),
        "baseline_bias": _ratio(use["baseline_open_forecast"].sum() - actual_open, actual_open),
        "model_brier": _mean_by_deals(table, "model_brier"),
        "baseline_brier": _mean_by_deals(table, "baseline_brier"),
        # what a perfect model would score on the total, from the open pipeline's spread alone
        "perfect_model_origins_within": float(sum(chances)),
        "perfect_model_all_within": float(math.prod(chances)),
    }


def chances_within(origins: pd.DataFrame, tolerance: float = TOTAL_TOLERANCE) -> list[float]:
    """Per origin, the chance a perfect model (every p exact, deals independent) has the total
    within ±`tolerance` of actual: its error is then about normal with standard deviation
    σ = open_sd / actual, so the chance is erf(tolerance / (σ √2)). An upper bound: the
    run-rate's own noise is left out. Origins with nothing booked or no spread known are left
    out."""
    out = []
    for actual, sd in zip(origins["actual_total"], origins["open_sd"], strict=True):
        if not (actual > 0 and math.isfinite(sd)):
            continue
        sigma = sd / actual
        out.append(1.0 if sigma == 0 else math.erf(tolerance / (sigma * math.sqrt(2))))
    return out


def _mean_by_deals(table: pd.DataFrame, column: str) -> float:
    deals = table["open_deals"].to_numpy(dtype=float)
    values = table[column].to_numpy(dtype=float)
    has = deals > 0
    return float((values[has] * deals[has]).sum() / deals[has].sum()) if has.any() else float("nan")


def _brier(p: npt.NDArray[np.float64], won: npt.NDArray[np.bool_]) -> float:
    if len(p) == 0:
        return float("nan")
    return float(np.mean((p - won.astype(float)) ** 2))


def _empty_scored() -> pd.DataFrame:
    return pd.DataFrame({"p_model": [], "p_baseline": [], "won": pd.Series([], dtype=bool)})


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else float("nan")


def _label(stamp: pd.Timestamp) -> str:
    return f"{stamp.year}Q{(stamp.month - 1) // 3 + 1}" if stamp.day == 1 else f"{stamp:%Y-%m-%d}"


def _table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if not np.isfinite(value):
            return "–"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)
