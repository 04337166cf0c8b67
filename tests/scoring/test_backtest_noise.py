"""What a perfect model would score on the total: per origin, the chance that a forecast with
every p exact lands within ±15 % of actual, from the open pipeline's own spread alone."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from acm_sync.scoring.backtest import chances_within


def origins(*rows: tuple[float, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["actual_total", "open_sd"])


def test_a_spread_of_exactly_the_tolerance_is_one_standard_deviation() -> None:
    # σ = 150 / 1,000 = 15 %: within ±1 σ of a normal error, 68.27 % (tables)
    assert chances_within(origins((1_000.0, 150.0))) == pytest.approx([0.682689], abs=1e-6)


def test_wider_spread_lower_chance_and_no_spread_certain() -> None:
    # σ = 7.5 %: ±2 σ → 95.45 %; σ = 30 %: ±0.5 σ → 38.29 %; no open pipeline: certain
    chances = chances_within(origins((1_000.0, 75.0), (1_000.0, 300.0), (500.0, 0.0)))
    assert chances == pytest.approx([0.954500, 0.382925, 1.0], abs=1e-6)
    assert math.prod(chances) == pytest.approx(0.954500 * 0.382925, abs=1e-6)


def test_the_tolerance_can_be_another() -> None:
    # ±30 % with σ = 15 %: ±2 σ
    assert chances_within(origins((1_000.0, 150.0)), 0.30) == pytest.approx([0.9545], abs=1e-4)


def test_origins_with_nothing_booked_or_no_spread_known_are_left_out() -> None:
    assert chances_within(origins((0.0, 10.0), (1_000.0, math.nan))) == []
