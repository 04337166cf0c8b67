"""Per-account facts several scores share: won revenue windows, pipeline, last touch."""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from acm_sync.scoring import text
from acm_sync.scoring.book import AccountBook
from acm_sync.scoring.periods import NAT, NS_PER_DAY, Instant, days_between, nanos, utc

# The shortest span a revenue trend compares (`trend_span`): half a year. Over less, the timing
# of one order or renewal decides it.
MIN_TREND_DAYS: Final = 182
# A year with no deal created or closed cuts the history there (`history_start`).
HISTORY_GAP_DAYS: Final = 365


def account_facts(book: AccountBook, as_of: Instant, revenue_window_days: int) -> pd.DataFrame:
    """One row per account (book order).

    Columns: account_key, t12m_won_revenue (won, closed in the trailing window up to as_of),
    prior_won_revenue (the window before that), won_deals (ever, up to as_of), first_won_at,
    last_won_at, open_pipeline (amount of open deals), open_opportunities, last_activity_at,
    days_since_activity (NaN = never), and what the revenue trend compares (`trend_span`):
    trend_current, trend_prior (NaN: no trend), trend_days, trend_whole_window, and
    trend_current_largest (the largest single won deal in trend_current; 0 without one).
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
    span = trend_span(deals, now, window)
    trend_now = won & (close > now - span)
    trend_before = won & (close <= now - window) & (close > now - window - span)
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
    if span:
        facts["trend_current"] = book.per_account(pos[trend_now], amount[trend_now])
        facts["trend_prior"] = book.per_account(pos[trend_before], amount[trend_before])
        facts["trend_current_largest"] = _largest(pos[trend_now], amount[trend_now], book.size)
    else:
        facts["trend_current"] = facts["trend_prior"] = facts["trend_current_largest"] = np.nan
    facts["trend_days"] = span // NS_PER_DAY if span else np.nan
    facts["trend_whole_window"] = span == window  # T12M vs the prior 12 months
    first, last = _won_span(pos[won], close[won], book.size)
    facts["first_won_at"] = pd.to_datetime(first, utc=True)
    facts["last_won_at"] = pd.to_datetime(last, utc=True)
    activity = book.accounts["last_activity_at"]
    facts["last_activity_at"] = activity.to_numpy()
    facts["days_since_activity"] = days_between(nanos(activity), now)
    return facts


def trend_span(deals: pd.DataFrame, now: int, window: int) -> int:
    """How far back (ns) the revenue trend compares, the same for every account: the last
    `window` against the one before it when the CRM's history (`history_start`) reaches back
    that far; else the same calendar days in both years, as far back as
    the history goes (now − window − its start: seasonality cancels); 0 (no trend) when that is
    under MIN_TREND_DAYS (and under the window: a window shorter than that is compared whole
    when the history covers it) or no deal has a date.

    Why: a CRM (or an export) younger than two windows saw only part of the prior one, and
    revenue it never recorded is not revenue that was not there. T12M against a prior year seen
    for its last two months reads as growth for every account (found on a deals export of 15
    months: the growth rule made 65 of 85 accounts Key). Missing history is missing; nothing
    tells a CRM gone live mid-way from a business that began then, so neither is guessed."""
    start = history_start(deals, now)
    if start is None:
        return 0
    # from the history's first day on (a day more, so the first deal itself is inside)
    span = min(window, now - window - start + NS_PER_DAY)
    return span if span == window or span >= MIN_TREND_DAYS * NS_PER_DAY else 0


def history_start(deals: pd.DataFrame, now: int | None = None) -> int | None:
    """Where the CRM's history begins (ns): its earliest deal created or closed (a migrated
    deal can close before its import-day creation) — counting back from `now` only while no
    year goes by without a deal created or closed; None when no deal has a date.

    Why the year: one date typed decades early (a lost deal "closed" 1990-01-01 passes quality
    with a warning) would otherwise date the whole history back to it, and every account's
    partly seen prior year would read as fully seen — as growth (found by a robustness hunt:
    2 → 10 Key accounts of 10). A CRM in use records a deal a year; dates before a year with
    none are stragglers (typos, a few old imports) that say nothing of the years between."""
    dates = np.concatenate([nanos(deals["created_at"]), nanos(deals["close_date"])])
    dates = np.sort(dates[dates != NAT])
    if now is not None:
        dates = dates[dates <= now]
    if not len(dates):
        return None
    gaps = np.flatnonzero(np.diff(dates) > HISTORY_GAP_DAYS * NS_PER_DAY)
    return int(dates[gaps[-1] + 1] if len(gaps) else dates[0])


def trend_text(facts: pd.DataFrame, symbol: str) -> text.Text:
    """What the revenue trend compared: "T12M $x vs $y", or — a history shorter than two
    windows (`trend_span`) — "last 200 days $x vs the same days a year before $y"."""
    days = facts["trend_days"].to_numpy(dtype=float)
    current = text.money(facts["trend_current"], symbol)
    prior = text.money(facts["trend_prior"], symbol)
    full = facts["trend_whole_window"].to_numpy(dtype=bool) | np.isnan(days)
    short = "last " + text.count(np.nan_to_num(days), "day") + " " + current
    return text.choose(
        full,
        "T12M " + current + " vs " + prior,
        short + " vs the same days a year before " + prior,
    )


def _largest(positions: np.ndarray, amount: np.ndarray, size: int) -> np.ndarray:
    """The largest amount per account (0 where none)."""
    inside = positions >= 0
    out = np.zeros(size, dtype=np.float64)
    np.maximum.at(out, positions[inside], np.asarray(amount, dtype=np.float64)[inside])
    return out


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
