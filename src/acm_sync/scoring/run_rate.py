"""Run-rate: expected bookings from deals not created yet.

A quarter's bookings are not only the open pipeline's: deals created after the forecast date
and won within the same quarter (a quick expansion, a renewal opened late, an inbound new logo)
made 40–57 % of each quarter's bookings on independent data. Those deals exist in no CRM yet,
so they cannot be forecast per account; they are forecast per type and quarter from history:

For each forecast period P (the rest of the current quarter from as_of, then whole quarters)
and each of the last `run_rate.quarters` past quarters j at the same point of the quarter, the
bookings of deals created on or after (as_of − j quarters) and won within P − j quarters. The
run-rate is their mean. Only samples fully in the past are used (the period shifted back ends
by as_of) and only those that begin after the first deal was created (an org's first quarter
in the CRM must not teach "nothing comes in"). Averaging four quarters evens out seasonality.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acm_sync.scoring.book import AccountBook
from acm_sync.scoring.periods import NAT, Quarter, nanos, utc
from acm_sync.scoring.settings import RunRateConfig

RUN_RATE_COLUMNS = ("period", "type", "run_rate_amount", "quarters_averaged")
TYPES = ("new", "renewal", "expansion", "other")


def run_rate(
    book: AccountBook, as_of: pd.Timestamp, periods: tuple[Quarter, ...], config: RunRateConfig
) -> pd.DataFrame:
    """Expected bookings from deals created from `as_of` on, per period and type
    (RUN_RATE_COLUMNS; one row per period × type, zeros included)."""
    instant = utc(as_of)
    deals = book.opportunities
    created = nanos(deals["created_at"])
    close = nanos(deals["close_date"])
    won = (
        deals["is_won"].to_numpy(dtype=bool)
        & (deals["account_pos"].to_numpy() >= 0)
        & (created != NAT)
        & (close != NAT)
    )
    created, close = created[won], close[won]
    amount = deals["amount"].to_numpy(dtype=float)[won]
    kind = pd.Series(deals["type"], dtype=object).to_numpy(dtype=object)[won]
    type_code = np.full(len(kind), len(TYPES) - 1)
    for i, name in enumerate(TYPES[:-1]):
        type_code[kind == name] = i
    earliest = nanos(deals["created_at"])
    earliest = earliest[earliest != NAT]
    first_created = int(earliest.min()) if len(earliest) else instant.value

    rows = []
    for i, quarter in enumerate(periods):
        start = instant if i == 0 else max(quarter.start, instant)
        sums = np.zeros(len(TYPES))
        used = 0
        for j in range(i + 1, i + 1 + 4 * config.quarters):
            if used == config.quarters:
                break
            back = pd.DateOffset(months=3 * j)
            origin, lo, hi = instant - back, start - back, quarter.end - back
            if hi > instant or origin.value < first_created:
                continue
            hit = (created >= origin.value) & (close >= lo.value) & (close < hi.value)
            sums += np.bincount(type_code[hit], weights=amount[hit], minlength=len(TYPES))
            used += 1
        mean = sums / used if used else sums
        for t, name in enumerate(TYPES):
            rows.append((quarter.label, name, float(mean[t]), used))
    return pd.DataFrame(rows, columns=list(RUN_RATE_COLUMNS))
