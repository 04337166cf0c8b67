"""What was learnt as of one instant: the time-to-close model and a per-stage summary of it.

The model itself is `acm_sync.scoring.hazard`; this module packages it with the numbers a
revops user checks first (per stage: how many past deals it saw, how many of them won or were
lost, and how much the model counts against the CRM's stage probability).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from acm_sync.scoring.hazard import CloseModel, learn_close_model, shrinkage_weight
from acm_sync.scoring.periods import Instant, utc
from acm_sync.scoring.settings import ForecastConfig
from acm_sync.scoring.stages import DealHistory


@dataclass(frozen=True)
class WinRates:
    """model: the fitted time-to-close model.

    by_stage (row = stage code): source, stage, default_probability (the CRM's; NaN =
    unknown), prior (the default used), samples (training deals seen open in the stage),
    wins / losses (of those, resolved by as_of), model_weight (n / (n + k)).
    training_deals: deals learnt from (seen open at a month start in the window).
    """

    as_of: pd.Timestamp
    training_deals: int
    model: CloseModel
    by_stage: pd.DataFrame


def learn_win_rates(history: DealHistory, as_of: Instant, config: ForecastConfig) -> WinRates:
    """Fit the time-to-close model on the stage history before `as_of`."""
    instant = utc(as_of)
    model = learn_close_model(history, instant, config)
    by_stage = history.stages[["source", "stage", "default_probability"]].copy()
    by_stage["prior"] = model.stage_prior
    by_stage["samples"] = model.stage_deals.round().astype("int64")
    by_stage["wins"] = model.stage_wins.round().astype("int64")
    by_stage["losses"] = model.stage_losses.round().astype("int64")
    by_stage["model_weight"] = (
        shrinkage_weight(model.stage_deals, config.shrinkage_strength) if model.fitted else 0.0
    )
    return WinRates(instant, model.training_deals, model, by_stage)
