"""Time helpers: one `as_of` instant per run, day arithmetic, fiscal quarters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

NS_PER_DAY: Final = 86_400 * 1_000_000_000
NAT: Final = np.iinfo(np.int64).min  # how NaT looks as int64 nanoseconds

Instant = pd.Timestamp | datetime | str


def utc(instant: Instant) -> pd.Timestamp:
    """A tz-aware UTC timestamp; naive input is taken as UTC."""
    stamp = pd.Timestamp(instant)
    if pd.isna(stamp):  # None, "NaT", "nan": said here, not as a NaT error deep in the model
        raise ValueError(f"as-of time missing: {instant!r} is not a point in time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def nanos(values: pd.Series) -> npt.NDArray[np.int64]:
    """Timestamps as int64 ns since the epoch (NaT → `NAT`), for fast comparisons."""
    return (
        pd.to_datetime(values, utc=True)
        .to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT"))
        .view(np.int64)
    )


def days_between(earlier: npt.NDArray[np.int64], later: int) -> npt.NDArray[np.float64]:
    """Days from each `earlier` (ns) to `later` (ns); NaN where `earlier` is missing."""
    out = (later - earlier.astype(np.float64)) / NS_PER_DAY
    out[earlier == NAT] = np.nan
    return out


@dataclass(frozen=True)
class Quarter:
    """One fiscal quarter: [start, end)."""

    label: str
    start: pd.Timestamp
    end: pd.Timestamp


def quarter_start(instant: Instant, fiscal_year_start_month: int = 1) -> pd.Timestamp:
    """Start (00:00 UTC) of the fiscal quarter containing `instant`."""
    stamp = utc(instant)
    months_into_quarter = (stamp.month - fiscal_year_start_month) % 3
    month_start = pd.Timestamp(year=stamp.year, month=stamp.month, day=1, tz="UTC")
    return month_start - pd.DateOffset(months=months_into_quarter)


def quarters(instant: Instant, count: int, fiscal_year_start_month: int = 1) -> tuple[Quarter, ...]:
    """`count` consecutive fiscal quarters starting with the one containing `instant`."""
    start = quarter_start(instant, fiscal_year_start_month)
    out = []
    for i in range(count):
        q_start = start + pd.DateOffset(months=3 * i)
        q_end = q_start + pd.DateOffset(months=3)
        out.append(Quarter(_label(q_start, fiscal_year_start_month), q_start, q_end))
    return tuple(out)


def past_quarter_starts(
    instant: Instant, count: int, horizon_quarters: int, fiscal_year_start_month: int = 1
) -> tuple[pd.Timestamp, ...]:
    """The latest `count` quarter starts whose `horizon_quarters` have fully ended by `instant`,
    oldest first (backtest origins)."""
    current = quarter_start(instant, fiscal_year_start_month)
    latest = current - pd.DateOffset(months=3 * horizon_quarters)
    return tuple(latest - pd.DateOffset(months=3 * i) for i in reversed(range(count)))


def _label(start: pd.Timestamp, fiscal_year_start_month: int) -> str:
    """FY label named for the calendar year the fiscal year ends in (`2025Q1`)."""
    months_into_year = (start.month - fiscal_year_start_month) % 12
    starts_late = fiscal_year_start_month > 1 and start.month >= fiscal_year_start_month
    fiscal_year = start.year + (1 if starts_late else 0)
    return f"{fiscal_year}Q{months_into_year // 3 + 1}"
