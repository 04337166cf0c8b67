"""The perfect-model line of the backtest table: the chance, per origin, that a model with every
p exact lands within ±15 % of actual, from the open pipeline's own spread alone."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from backtest_table import perfect_model_chances


def origins(*rows: tuple[float, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["actual_total", "open_sd"])


def test_a_spread_of_exactly_the_tolerance_is_one_standard_deviation() -> None:
    # σ = 150 / 1,000 = 15 %: within ±1 σ of a normal error, 68.27 % (tables)
    assert perfect_model_chances(origins((1_000.0, 150.0))) == pytest.approx([0.682689], abs=1e-6)


def test_wider_spread_lower_chance_and_no_spread_certain() -> None:
    # σ = 7.5 %: ±2 σ → 95.45 %; σ = 30 %: ±0.5 σ → 38.29 %; no open pipeline: certain
    chances = perfect_model_chances(origins((1_000.0, 75.0), (1_000.0, 300.0), (500.0, 0.0)))
    assert chances == pytest.approx([0.954500, 0.382925, 1.0], abs=1e-6)
    assert math.prod(chances) == pytest.approx(0.954500 * 0.382925, abs=1e-6)


def test_origins_with_nothing_booked_or_no_spread_known_are_left_out() -> None:
    assert perfect_model_chances(origins((0.0, 10.0), (1_000.0, math.nan))) == []
