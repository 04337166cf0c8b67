"""Per-account facts several scores share: won revenue windows, pipeline, last touch."""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_sync.scoring.book import AccountBook
from acm_sync.scoring.periods import NAT, NS_PER_DAY, Instant, days_between, nanos, utc


def account_facts(book: AccountBook, as_of: Instant, revenue_window_days: int) -> pd.DataFrame:
    """One row per account (book order).

    Columns: account_key, t12m_won_revenue (won, closed in the trailing window up to as_of),
    prior_won_revenue (the window before that), won_deals (ever, up to as_of), first_won_at,
    last_won_at, open_pipeline (amount of open deals), open_opportunities, last_activity_at,
    days_since_activity (NaN = never).
    """
    now = utc(as_of).value
    window = revenue_window_days * NS_PER_DAY
    deals = book.opportunities
    pos = deals["account_pos"].to_numpy()
    close = nanos(deals["close_date"])
    amount = deals["amount"].to_numpy()
    won = deals["is_won"].to_numpy() & (close != NAT) & (close <= now)
    open_ = ~deals["is_closed"].to_numpy()

    in_t12m = won & (close > now - window)
    in_prior = won & (close <= now - window) & (close > now - 2 * window)
    facts = pd.DataFrame(
        {
            "account_key": book.accounts["account_key"].to_numpy(),
            "t12m_won_revenue": book.per_account(pos[in_t12m], amount[in_t12m]),
            "prior_won_revenue": book.per_account(pos[in_prior], amount[in_prior]),
            "won_deals": book.per_account(pos[won]).astype(np.int64),
            "open_pipeline": book.per_account(pos[open_], amount[open_]),
            "open_opportunities": book.per_account(pos[open_]).astype(np.int64),
        }
    )
    first, last = _won_span(pos[won], close[won], book.size)
    facts["first_won_at"] = pd.to_datetime(first, utc=True)
    facts["last_won_at"] = pd.to_datetime(last, utc=True)
    activity = book.accounts["last_activity_at"]
    facts["last_activity_at"] = activity.to_numpy()
    facts["days_since_activity"] = days_between(nanos(activity), now)
    return facts


def _won_span(positions: np.ndarray, close: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last won close date per account as datetime64 (NaT where never won)."""
    inside = positions >= 0
    positions, close = positions[inside], close[inside]
    first = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(size, NAT, dtype=np.int64)
    np.minimum.at(first, positions, close)
    np.maximum.at(last, positions, close)
    first[first == np.iinfo(np.int64).max] = NAT
    return first.view("datetime64[ns]"), last.view("datetime64[ns]")
