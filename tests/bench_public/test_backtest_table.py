"""bench/backtest_table.py: a reference forecaster judged against the backtest's bar — its
figures per account (`judged`) and its verdict beside the model's (`print_reference`), on
hand-made numbers."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
table = importlib.import_module("backtest_table")


def test_judged_is_per_account_wape_and_open_pipeline_bias() -> None:
    # two accounts: a holds deals forecast 30 + 20 and booked 100 + 0, b one forecast 50,
    # booked 0; 40 forecast for new deals, which booked 60
    got = table.judged(
        forecast=np.array([30.0, 20.0, 50.0]),
        actual=np.array([100.0, 0.0, 0.0]),
        accounts=np.array(["a", "a", "b"]),
        run_rate=40.0,
        new_actual=60.0,
    )
    assert got["open_forecast"] == 100.0 and got["open_actual"] == 100.0
    assert got["wape"] == pytest.approx((abs(50 - 100) + abs(50 - 0)) / 100)
    assert got["bias"] == 0.0
    assert got["total_error"] == pytest.approx((140 - 160) / 160)


def origin_row(origin: str, **figures: float) -> dict[str, object]:
    row: dict[str, object] = {
        "origin": pd.Timestamp(origin, tz="UTC"),
        "eligible": True,
        "actual_open_pipeline": 100.0,
        "model_wape": 1.0,
        "baseline_wape": 1.2,
        "model_bias": 0.05,
        "baseline_bias": 0.10,
        "total_error": 0.05,
    }
    row.update(figures)
    return row


def test_the_reference_is_judged_by_its_own_figures_against_the_same_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    origins = pd.DataFrame(
        [
            # the model meets the bar; the reference's total is 20 % off
            origin_row("2024-01-01"),
            # the model's |bias| loses to the baseline's; the reference's does not
            origin_row("2024-04-01", model_bias=-0.2),
            # the reference saw other open deals than the backtest: not compared
            origin_row("2024-07-01", actual_open_pipeline=90.0),
            # too little training: not an origin the bar is judged on
            origin_row("2024-10-01", eligible=False),
        ]
    )
    answers = {
        "2024-01-01": {"open_actual": 100.0, "wape": 1.1, "bias": 0.0, "total_error": 0.2},
        "2024-04-01": {"open_actual": 100.0, "wape": 1.1, "bias": -0.05, "total_error": -0.1},
        "2024-07-01": {"open_actual": 100.0, "wape": 0.5, "bias": 0.0, "total_error": 0.0},
    }
    asked: list[pd.Timestamp] = []

    def forecast_at(origin: pd.Timestamp) -> dict[str, float]:
        asked.append(origin)
        return {"open_forecast": 1.0, "run_rate": 2.0, **answers[f"{origin:%Y-%m-%d}"]}

    table.print_reference("the reference:", origins, forecast_at)
    lines = capsys.readouterr().out.splitlines()
    assert asked == [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-04-01"),
        pd.Timestamp("2024-07-01"),
    ]
    assert lines[1] == "the reference:"
    assert lines[3].startswith("2024Q1") and lines[3].endswith("missed: total ±15 % (met)")
    assert lines[4].startswith("2024Q2") and lines[4].endswith("  met (missed)")
    assert lines[5] == "2024Q3   not the backtest's open deals: not compared"
    assert lines[6] == ("the reference meets the target at 1 of 3 eligible origins (this model: 1)")
