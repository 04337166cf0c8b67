"""What the public-data backtests share (`bench_public_dataset.py`, crm-dataset-builder;
`bench_public_pipeline_command_center.py`, `bench_public_eap_pipeline.py`,
`bench_public_complyflow.py`): data sets with a created date, a close date and an outcome per
deal but no stage history, made into canonical tables with only what was known at each origin,
and backtested one origin at a time; and the scripts' common command line, sha256 note and
"Backtest: …" header (the table itself: `backtest_table`).

- Each deal is open in one stage per group ("Open (<pipeline or segment>)") from its creation
  to its close, then Closed Won / Closed Lost; deals still open keep that stage.
- The shown close date is created + the group's median cycle over the deals that had closed
  before this one was created (UNKNOWN_CYCLE_DAYS while none had) — what a rep could have
  typed, never the deal's own future.
- The CRM's stage probability of each open stage (the baseline's only knowledge, and the
  model's prior) is the group's win rate over the deals closed before the origin
  (UNKNOWN_WIN_RATE while none had), so each origin is backtested on its own tables and the
  origins are combined (`scoring.backtest.combine`).
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from acm_sync.scoring import BacktestResult

UNKNOWN_CYCLE_DAYS = 30.0
UNKNOWN_WIN_RATE = 0.1
WON_STAGE = "Closed Won"
LOST_STAGE = "Closed Lost"


def public_data_parser(
    doc: str | None, default: str | None, data_help: str
) -> argparse.ArgumentParser:
    """The command line the public-data scripts share: the script's docstring's first line as
    its description, the data as an optional argument (`default`: from the script's environment
    variable) and --origins (8)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=default, help=data_help)
    parser.add_argument("--origins", type=int, default=8)
    return parser


def as_of_date(text: str) -> pd.Timestamp:
    """A command line's --as-of DATE as an instant in UTC (00:00 when no time is given)."""
    stamp = pd.Timestamp(text)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def day_after_last(created: pd.Series, closed_at: pd.Series) -> pd.Timestamp:
    """The data's as-of instant: midnight of the day after its last created or close date."""
    return (pd.concat([created, closed_at]).max() + pd.Timedelta(days=1)).floor("D")


def shown_close_dates(
    group: pd.Series, created: pd.Series, closed_at: pd.Series, closed: np.ndarray
) -> pd.Series:
    """created + the median cycle of the group's deals closed before this one was created
    (UNKNOWN_CYCLE_DAYS while none had). One sweep per group in creation order, each close's
    cycle inserted into a sorted list as its close date passes: O(n log n) comparisons, where a
    median over each deal's earlier closes anew took 10 s for 43,000 deals."""
    days = np.full(len(created), UNKNOWN_CYCLE_DAYS)
    cycle = (closed_at - created).dt.days.to_numpy(dtype=float)
    created_ns = created.to_numpy(dtype="datetime64[ns]")
    closed_ns = closed_at.to_numpy(dtype="datetime64[ns]")
    for name in group.unique():
        mine = (group == name).to_numpy()
        done = np.flatnonzero(mine & closed)
        order = done[np.argsort(closed_ns[done], kind="stable")]
        close_times, cycles = closed_ns[order], cycle[order].tolist()
        deals = np.flatnonzero(mine)
        known = np.searchsorted(close_times, created_ns[deals], side="left")
        seen: list[float] = []  # the cycles of the first k closes, sorted
        k = 0
        for at in np.argsort(known, kind="stable"):
            while k < known[at]:
                bisect.insort(seen, cycles[k])
                k += 1
            if k:
                days[deals[at]] = (seen[(k - 1) // 2] + seen[k // 2]) / 2
    return created + pd.to_timedelta(days, unit="D")


def open_and_closing_within(
    created: pd.Series,
    close: pd.Series,
    origin: pd.Timestamp,
    end: pd.Timestamp,
    cycle_cdf: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """For a reference forecaster that knows a generator's cycle law: per deal (naive dates),
    whether it is open at `origin` (created before it, closing on or after it) and the chance
    that its cycle ends before `end` given that it had not ended before `origin` —
    (F(end − created − 1) − F(age − 1)) / (1 − F(age − 1)), F = `cycle_cdf` (P(cycle ≤ days))."""
    open_ = ((created < origin) & (close >= origin)).to_numpy()
    age = (origin - created).dt.days.to_numpy()
    left = (end - created).dt.days.to_numpy()
    ended = cycle_cdf(age - 1)
    still_open = 1.0 - ended
    within = (cycle_cdf(left - 1) - ended) / np.where(still_open > 0, still_open, 1.0)
    return open_, within


def deal_tables(
    *,
    source_id: pd.Series,
    account_id: pd.Series,
    name: pd.Series,
    group: pd.Series,
    kind: pd.Series | np.ndarray,
    amount: pd.Series,
    created: pd.Series,
    closed_at: pd.Series,
    won: np.ndarray,
    lost: np.ndarray,
    known_at: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(opportunities, opportunity_stage_history), not yet conformed, for deals in one open
    stage per `group`; open stages at the group's win rate over the deals closed before
    `known_at`."""
    closed = won | lost
    open_stage = "Open (" + group + ")"
    planned_close = shown_close_dates(group, created, closed_at, closed)
    known = closed & (closed_at < known_at).to_numpy()
    win_rate = pd.Series(won[known]).groupby(group[known].to_numpy()).mean()
    open_probability = group.map(win_rate).fillna(UNKNOWN_WIN_RATE).to_numpy()
    opportunity_id = "sf:O" + source_id
    final_stage = np.where(won, WON_STAGE, np.where(lost, LOST_STAGE, open_stage))
    opportunities = pd.DataFrame(
        {
            "opportunity_id": opportunity_id,
            "source": "salesforce",
            "source_id": source_id,
            "account_id": account_id,
            "name": name,
            "stage": final_stage,
            "stage_probability": np.where(won, 1.0, np.where(lost, 0.0, open_probability)),
            "amount": amount.astype(float),
            "currency": "USD",
            "close_date": closed_at.where(closed, planned_close),
            "created_at": created,
            "updated_at": closed_at.where(closed, created),
            "is_closed": closed,
            "is_won": won,
            "type": kind,
            "forecast_category": np.where(won, "Closed", np.where(lost, "Omitted", "Pipeline")),
            "is_deleted": False,
        }
    )
    opening = pd.DataFrame(
        {
            "opportunity_id": opportunity_id,
            "stage": open_stage,
            "amount": amount.astype(float),
            "close_date": planned_close,
            "changed_at": created,
        }
    )
    closing = opening.loc[closed].assign(
        stage=final_stage[closed], close_date=closed_at[closed], changed_at=closed_at[closed]
    )
    return opportunities, pd.concat([opening, closing], ignore_index=True)


def first_deals(account_id: pd.Series, created: pd.Series) -> pd.Series:
    """When each account's first deal was created, indexed by account id (sorted)."""
    return created.groupby(account_id.to_numpy()).min()


def account_rows(
    account_id: pd.Series | pd.Index,
    name: pd.Series | np.ndarray,
    created_at: pd.Series | np.ndarray,
    industry: pd.Series | np.ndarray | None = None,
) -> pd.DataFrame:
    """Canonical accounts, not yet conformed, of data that knows only an account's id ("sf:A…"),
    name, industry (maybe) and when it came to be: no domain, size, revenue, owner or
    activity; created and updated at `created_at`."""
    return pd.DataFrame(
        {
            "account_id": account_id,
            "source": "salesforce",
            "source_id": account_id.str.removeprefix("sf:A"),
            "name": name,
            "domain": None,
            "website": None,
            "industry": industry,
            "employees": np.nan,
            "annual_revenue": np.nan,
            "currency": "USD",
            "owner_id": None,
            "created_at": created_at,
            "updated_at": created_at,
            "last_activity_at": pd.NaT,
            "is_deleted": False,
            "merged_into": None,
        }
    )


def conformed_tables(
    accounts: pd.DataFrame, opportunities: pd.DataFrame, history: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The canonical tables a backtest reads, conformed (no contacts: the data sets have none)."""
    from acm_sync.model import conform, empty_frame

    return {
        "accounts": conform(accounts, "accounts"),
        "contacts": empty_frame("contacts"),
        "opportunities": conform(opportunities, "opportunities"),
        "opportunity_stage_history": conform(history, "opportunity_stage_history"),
    }


def note_if_not_measured(path: Path, measured_sha256: str) -> None:
    """Print a NOTE when the file at `path` is not the one the script's docstring measured."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != measured_sha256:
        print(f"NOTE: {path} is not the file measured (sha256 {digest[:12]}…)")


def backtest_tables(
    tables_at: Callable[[pd.Timestamp | None], tuple[dict[str, pd.DataFrame], pd.Timestamp]],
    origins: int,
    horizon_quarters: int | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp, BacktestResult, float]:
    """(tables, as-of instant, backtest, seconds the backtest took) of a loader:
    `tables_at(None)` is the whole data as of its end, `tables_at(origin)` what was known at the
    origin (`backtest_by_origin`)."""
    tables, as_of = tables_at(None)
    started = time.perf_counter()
    result = backtest_by_origin(
        lambda origin: tables_at(origin)[0], as_of, origins, horizon_quarters, whole=tables
    )
    return tables, as_of, result, time.perf_counter() - started


def backtest_header(
    title: str,
    tables: dict[str, pd.DataFrame],
    as_of: str,
    result: BacktestResult,
    seconds: float,
    source: str = "",
    asked: int | None = None,
) -> str:
    """The "Backtest: …" line (and the blank line after it) above the backtest table: `title`,
    then in brackets `source` and the data's accounts, deals and won deals, then `as_of` (the
    date as shown), the origins (and, when fewer than the `asked` ones, why), the horizon and
    the seconds taken."""
    deals = tables["opportunities"]
    shown = len(result.origins)
    origins = f"{shown} origins"
    if asked is not None and shown < asked:
        origins += f" (of {asked} asked: {asked - shown} ended before the first deal was created)"
    return (
        f"Backtest: {title} ({source}"
        f"{len(tables['accounts']):,} accounts, {len(deals):,} deals, "
        f"{int(deals['is_won'].sum()):,} won), as of {as_of}, "
        f"{origins}, horizon {horizon_of(result)}; {seconds:.1f}s\n"
    )


def horizon_of(result: BacktestResult) -> str:
    """The backtest's horizon as read from its origins ("1 quarter", "2 quarters")."""
    table = result.origins
    quarters = 1
    if len(table):
        start, end = (
            pd.Timestamp(table["origin"].iloc[0]),
            pd.Timestamp(table["horizon_end"].iloc[0]),
        )
        quarters = ((end.year - start.year) * 12 + end.month - start.month) // 3
    return f"{quarters} quarter{'s' if quarters != 1 else ''}"


def backtest_by_origin(
    tables_at: Callable[[pd.Timestamp], dict[str, pd.DataFrame]],
    as_of: pd.Timestamp,
    origins: int,
    horizon_quarters: int | None = None,
    *,
    whole: dict[str, pd.DataFrame] | None = None,
) -> BacktestResult:
    """The backtest at the last `origins` quarter starts before `as_of` (bar those whose horizon
    ended before the first deal was created: `origins_with_deals`, the first deal read from
    `whole`, the tables as of `as_of` when the caller has them, else `tables_at(as_of)`), each
    on the tables as known at its origin (`tables_at(origin)`), combined. The forecast settings
    are the defaults, or those of the file `$ACM_SYNC_CONFIG` names (to compare a setting's two
    values); `horizon_quarters`, when given, overrides their backtest horizon."""
    from acm_sync.config import CONFIG_ENV_VAR, AcmSyncConfig, load_config
    from acm_sync.scoring import AccountBook, DealHistory, backtest
    from acm_sync.scoring.backtest import combine, origins_with_deals
    from acm_sync.scoring.periods import past_quarter_starts

    path = os.environ.get(CONFIG_ENV_VAR)
    config = (load_config(path) if path else AcmSyncConfig()).forecast
    if horizon_quarters is not None:
        horizon = config.backtest.model_copy(update={"horizon_quarters": horizon_quarters})
        config = config.model_copy(update={"backtest": horizon})
    horizon = config.backtest.horizon_quarters
    whole = tables_at(as_of) if whole is None else whole
    created = pd.to_datetime(whole["opportunities"]["created_at"], utc=True)
    first = created.min() if created.notna().any() else None
    results = []
    for origin in origins_with_deals(past_quarter_starts(as_of, origins, horizon), first, horizon):
        known = tables_at(origin)
        book = AccountBook.from_canonical(
            known["accounts"], known["contacts"], known["opportunities"]
        )
        history = DealHistory.build(book, known["opportunity_stage_history"], known.get("stages"))
        results.append(backtest(history, as_of, config, origins=(origin,)))
    return combine(results)
