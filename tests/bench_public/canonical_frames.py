"""Reading the canonical tables the public-data loaders make, in the loaders' tests."""

from __future__ import annotations

import pandas as pd


def ts(text: str) -> pd.Timestamp:
    """The instant `text` names, in UTC (as the canonical tables hold it)."""
    return pd.Timestamp(text, tz="UTC")


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of an opportunities or stage-history frame, indexed by opportunity id."""
    return frame.set_index("opportunity_id")


def openings(history: pd.DataFrame) -> pd.DataFrame:
    """The stage-history rows that open a deal (stage "Open (…)"), by opportunity id."""
    return by_id(history.loc[history["stage"].str.startswith("Open")])


def closings(history: pd.DataFrame) -> pd.DataFrame:
    """The stage-history rows that close a deal (any other stage), by opportunity id."""
    return by_id(history.loc[~history["stage"].str.startswith("Open")])
