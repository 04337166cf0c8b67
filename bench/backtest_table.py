"""Printing a backtest the same way for every data set (demo org, public data)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from acm_sync.scoring import BacktestResult
from acm_sync.scoring.backtest import TOTAL_TOLERANCE, chances_within


def print_backtest(result: BacktestResult) -> None:
    table = result.origins
    print(
        f"{'origin':<9}{'train':>6}{'open':>6}{'actual':>13}{'forecast':>13}{'run-rate':>12}"
        f"{'total err':>10}{'noise':>7}{'WAPE mod':>9}{'WAPE base':>10}"
        f"{'bias mod':>9}{'bias base':>10}"
        f"{'Brier mod':>10}{'Brier base':>11}{'beyond':>7}  verdict"
    )
    for _, row in table.iterrows():
        origin = row["origin"]
        actual = row["actual_total"]
        noise = row["open_sd"] / actual if actual else math.nan
        label = f"{origin.year}Q{(origin.month - 1) // 3 + 1}"
        print(
            f"{label:<9}{row['training_deals']:>6,}{row['open_deals']:>6,}"
            f"{row['actual_total']:>13,.0f}{row['forecast_total']:>13,.0f}"
            f"{row['run_rate']:>12,.0f}{_pct(row['total_error']):>10}"
            f"{_unsigned_pct(noise):>7}"
            f"{_num(row['model_wape']):>9}{_num(row['baseline_wape']):>10}"
            f"{_signed(row['model_bias']):>9}{_signed(row['baseline_bias']):>10}"
            f"{_num(row['model_brier']):>10}{_num(row['baseline_brier']):>11}"
            f"{_unsigned_pct(row['beyond_data_share']):>7}  {_verdict(row)}"
        )
    s = result.summary
    use = table.loc[table["eligible"]] if table["eligible"].any() else table
    worst = use["total_error"].loc[use["total_error"].abs().idxmax()] if len(use) else math.nan
    print(
        f"\npooled over {int(s.get('eligible_origins', 0))} eligible origins: total error "
        f"{_pct(s['total_error'])} (worst origin {_pct(worst)}), WAPE "
        f"{s['model_wape']:.3f} vs {s['baseline_wape']:.3f}, bias {s['model_bias']:+.3f} vs "
        f"{s['baseline_bias']:+.3f}, Brier {s['model_brier']:.4f} vs {s['baseline_brier']:.4f}"
    )
    eligible = table.loc[table["eligible"]]
    met = sum(not misses(row) for _, row in eligible.iterrows())
    print(f"target met at {met} of {len(eligible)} eligible origins")
    print(
        "beyond: share of the open amount forecast at ages at which training never saw a deal "
        "of its segment (there the model uses the pooled hazard)"
    )
    print(
        "noise: the open pipeline's own standard deviation (√Σ amount²·p(1−p), the model's p) "
        "over actual bookings — what even a perfect model misses by, about, at one origin"
    )
    chances = chances_within(eligible)
    if len(chances):
        print(
            f"a perfect model (every p exact, deals independent, run-rate exact; normal "
            f"approximation) would have the total within ±15 % at {sum(chances):.1f} of "
            f"{len(chances)} eligible origins on average, at all of them with probability "
            f"{math.prod(chances):.0%}"
        )
    print("\nreliability (pooled over origins): decile | deals, mean p, share won — model | base")
    for row in result.reliability.itertuples(index=False):
        print(
            f"  {row.decile:<10}{row.deals:>7,}{_num(row.model_mean_p):>8}"
            f"{_num(row.model_won_share):>8}   |{row.baseline_deals:>7,}"
            f"{_num(row.baseline_mean_p):>8}{_num(row.baseline_won_share):>8}"
        )


def print_split(origins: pd.DataFrame) -> None:
    """Where each origin's total error comes from: deals open at the origin (model and
    baseline forecast vs what they booked in the quarter) and deals created after it (run-rate
    vs what they booked)."""
    print(
        "\nsplit: open pipeline — actual, model, baseline | created after the origin — "
        "actual, run-rate"
    )
    for row in origins.itertuples(index=False):
        origin = pd.Timestamp(str(row.origin))
        print(
            f"  {origin.year}Q{(origin.month - 1) // 3 + 1}  "
            f"{row.actual_open_pipeline:>12,.0f}{row.model_open_forecast:>12,.0f}"
            f"{row.baseline_open_forecast:>12,.0f}   |{row.actual_new_pipeline:>12,.0f}"
            f"{row.run_rate:>12,.0f}"
        )


def judged(
    forecast: np.ndarray,
    actual: np.ndarray,
    accounts: np.ndarray,
    run_rate: float,
    new_actual: float,
) -> dict[str, float]:
    """A reference forecaster's figures at one origin, as the backtest computes the model's:
    `forecast` / `actual` per open deal (its expected and its booked amount in the quarter),
    `accounts` its account, `run_rate` its forecast of deals created in the quarter and
    `new_actual` what those booked. Keys: open_forecast, open_actual, run_rate, total_error,
    wape (per account), bias (open pipeline)."""
    per_account = pd.DataFrame({"f": forecast, "a": actual}).groupby(accounts).sum()
    open_forecast, open_actual = float(np.sum(forecast)), float(np.sum(actual))
    actual_total = open_actual + new_actual
    return {
        "open_forecast": open_forecast,
        "open_actual": open_actual,
        "run_rate": run_rate,
        "total_error": (open_forecast + run_rate - actual_total) / actual_total,
        "wape": float((per_account["f"] - per_account["a"]).abs().sum() / open_actual),
        "bias": (open_forecast - open_actual) / open_actual,
    }


def print_reference(
    title: str, origins: pd.DataFrame, forecast_at: Callable[[pd.Timestamp], dict[str, float]]
) -> tuple[int, int]:
    """A reference forecaster (`forecast_at(origin)`: `judged` figures at a naive origin) at
    each eligible origin of a backtest, against the same baseline and bar, with the model's
    verdict beside its own; (origins it met, eligible origins). An origin where its open
    deals are not the backtest's is said and skipped (not met)."""
    print(f"\n{title}")
    print(
        f"{'origin':<9}{'open fcst':>12}{'run-rate':>12}{'total err':>10}{'WAPE ref':>9}"
        f"{'WAPE base':>10}{'bias ref':>9}{'bias base':>10}  verdict (this model's)"
    )
    met = ours = 0
    eligible = origins.loc[origins["eligible"]]
    for _, row in eligible.iterrows():
        origin = pd.Timestamp(row["origin"]).tz_localize(None)
        label = f"{origin.year}Q{(origin.month - 1) // 3 + 1}"
        got = forecast_at(origin)
        if not np.isclose(got["open_actual"], row["actual_open_pipeline"]):
            print(f"{label:<9}not the backtest's open deals: not compared")
            continue
        own = pd.Series(
            {
                **row,
                "model_wape": got["wape"],
                "model_bias": got["bias"],
                "total_error": got["total_error"],
            }
        )
        missed, missed_ours = misses(own), misses(row)
        met += not missed
        ours += not missed_ours
        verdict = "missed: " + ", ".join(missed) if missed else "met"
        print(
            f"{label:<9}{got['open_forecast']:>12,.0f}{got['run_rate']:>12,.0f}"
            f"{got['total_error']:>+10.1%}{got['wape']:>9.3f}{row['baseline_wape']:>10.3f}"
            f"{got['bias']:>+9.3f}{row['baseline_bias']:>+10.3f}  {verdict}"
            f" ({'met' if not missed_ours else 'missed'})"
        )
    print(
        f"the reference meets the target at {met} of {len(eligible)} eligible origins "
        f"(this model: {ours})"
    )
    return met, len(eligible)


def misses(row: pd.Series) -> list[str]:
    """The parts of the target an origin's row misses (none: met)."""
    misses = []
    if not row["model_wape"] < row["baseline_wape"]:
        misses.append("WAPE")
    if not abs(row["model_bias"]) < abs(row["baseline_bias"]):
        misses.append("bias")
    if not abs(row["total_error"]) <= TOTAL_TOLERANCE:
        misses.append("total ±15 %")
    return misses


def _verdict(row: pd.Series) -> str:
    if not row["eligible"]:
        return "(< 50 training deals)"
    missed = misses(row)
    return "met" if not missed else "missed: " + ", ".join(missed)


def _num(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.3f}"


def _signed(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:+.3f}"


def _unsigned_pct(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.1%}"


def _pct(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:+.1%}"
