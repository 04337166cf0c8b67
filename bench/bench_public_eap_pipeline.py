"""Backtest on a third public opportunity data set, apparently real: the deal summary of an
employee-assistance (EAP) services company in github.com/inzodious/pipeline_forecasting.

    .venv/bin/python bench/bench_public_eap_pipeline.py [CSV] [--origins 8]

The data. `pipeline_forecasting` is a sales-forecasting project written by someone outside
this project for "a client / deal-based service business" (an EAP company; its forecasting
scripts read weekly CRM snapshots that are not in the repository — `data/fact_snapshots.csv`
there is over 4 MiB and was taken out of tracking). What the repository does hold is
`data/20251226_sample_summary.csv`: an Excel pivot of that CRM's deals, one row per (created
date, closed date, stage, market segment) with the sum of net revenue and the count of deals.
Its messiness (a bulk import of 173 zero-revenue deals on one day, two "Other"-segment deals,
open deals in three stages, "Verbal" deals) reads like an export of a real CRM, not a
generator's output; the repository does not say. It has NO LICENCE: we use it only to
measure, and neither the file nor any part of it is committed here. To get it:

    git clone https://github.com/inzodious/pipeline_forecasting
    git -C pipeline_forecasting checkout 192bafdf473bfe1a796b80ebd6c62e47bfa9b9f6
    # the file measured: data/20251226_sample_summary.csv, added in 1b2b468 (unchanged
    # since), 4,214 rows + a "Grand Total" row (5,464 deals, 220,456,357.1 net revenue),
    # sha256 6e2990eead68a4dcbff8a71d5101397eb480d7fb29e58a0ed626c11758b6cd45
    mkdir -p /tmp/pub/eap-pipeline
    cp pipeline_forecasting/data/20251226_sample_summary.csv /tmp/pub/eap-pipeline/

and pass that CSV (or set ACM_PUBLIC_DATA_EAP). Without it the script says so and exits 0.

What the data has, and lacks:
- Deals created 2023-07-03 … 2025-12-18 (328 in 2023, 2,841 in 2024, 2,295 in 2025); closed
  2024-01-05 … 2025-12-19. Closed dates are the Fridays of the weekly snapshots (a deal's
  close is known to the week). The snapshots start on 2024-01-05, so every deal that closed
  before that carries 2024-01-05 (104 rows, 129 deals): no close is known before 2024, and
  the 2024Q1 origin's actual bookings hold those late-stamped closes.
- Stages: Closed Won 1,327 deals, Verbal 151, Closed Lost 3,725, and open: Qualified 154,
  Solutioning 76, Alignment 31. Market segments: Mid Market, SMB, Indirect, Large Market,
  Other. Net revenue per row (71 rows are 0).
- No deal id, no account (not even a name), no company size, no industry, no deal type, no
  stage history, no planned close date.

Mapping to the canonical tables:
- The "Grand Total" row is checked (its deal count and revenue must equal the rows' sums) and
  dropped. A row counting n deals becomes n deals of equal amount (its sum / n) — the pivot
  does not tell them apart (3,600 rows are single deals; 614 rows hold 1,864 deals). The one
  look-ahead this leaves: deals of one row share their close date and final stage, so a
  grouped deal still open at an origin carries the mean amount of deals that will close with
  it (its amount only; the row's total, and so every quarter's bookings, are exact).
- Won = Closed Won or Verbal (the data's own author counts Verbal as won: a verbal yes whose
  close date is set), lost = Closed Lost, open = Qualified / Alignment / Solutioning (23 open
  rows have a closed date; an open deal's date is not used). Any other stage is an error, not
  a guess.
- As in `public_deals`: each deal is open in one stage per market segment ("Open (SMB)", …)
  from its creation to its close; only what was known at each origin — the shown close date is
  created + the segment's median cycle over deals closed before this one was created, the
  open stages' probability the segment's win rate over deals closed before the origin
  (`canonical_tables(..., known_at=origin)`), origins combined (`scoring.backtest.combine`).
- type: none (the data has no deal type). Left blank, as the connectors leave a blank Type /
  dealtype: the forecast then reads every deal as "other" — not a contract, so no renewal is
  forecast from an installed base the data never said it has. (Labelled "new" at first, the
  installed base's prior added 3.9 M of renewals at the 2025Q1 origin, a year after the first
  wins, that the data never booked: the data cannot say which deals are renewals.)
- Each deal is its own account (id "sf:AEAP-<row>-<k>", <row> the pivot row's line number,
  <k> the deal within it; created with the deal; employees unknown) — the data names no
  account, so account-level WAPE here is deal-level WAPE.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import public_deals  # noqa: E402

SOURCE = "github.com/inzodious/pipeline_forecasting"
SOURCE_COMMIT = "192bafdf473bfe1a796b80ebd6c62e47bfa9b9f6"
ENV_VAR = "ACM_PUBLIC_DATA_EAP"
MEASURED_SHA256 = "6e2990eead68a4dcbff8a71d5101397eb480d7fb29e58a0ed626c11758b6cd45"

CREATED, CLOSED, STAGE, SEGMENT = "date_created", "date_closed", "stage", "market_segment"
REVENUE, COUNT = "Sum of net_revenue", "Count of deal_id"
COLUMNS = (CREATED, CLOSED, STAGE, SEGMENT, REVENUE, COUNT)
GRAND_TOTAL = "Grand Total"
WON_STAGES = frozenset({"Closed Won", "Verbal"})
LOST_STAGES = frozenset({"Closed Lost"})
OPEN_STAGES = frozenset({"Qualified", "Alignment", "Solutioning"})
DATE_FORMAT = "%m/%d/%Y"


def read_summary(path: Path) -> pd.DataFrame:
    """The pivot's CSV as text columns (Excel writes it with a byte-order mark)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")


def deals_of(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per deal: the pivot's rows, each repeated `Count of deal_id` times with an equal
    share of its revenue; the Grand Total row checked and dropped. Raises ValueError on a
    missing column, an empty or unreadable value, or a Grand Total that does not add up."""
    missing = [column for column in COLUMNS if column not in raw.columns]
    if missing:
        raise ValueError(f"summary CSV lacks column(s) {', '.join(missing)}")
    line = pd.Series(np.arange(len(raw)) + 2, index=raw.index)  # the file's line (1 = header)
    total = raw[CREATED] == GRAND_TOTAL
    rows = raw.loc[~total]
    empty = [c for c in COLUMNS if c != CLOSED and rows[c].isna().any()]
    if empty:
        raise ValueError(f"summary CSV has empty value(s) in {', '.join(empty)}")
    count = pd.to_numeric(rows[COUNT], errors="coerce")
    revenue = pd.to_numeric(rows[REVENUE], errors="coerce")
    bad_count = count.isna() | (count < 1) | (count != count.round())
    for column, bad in ((COUNT, bad_count), (REVENUE, revenue.isna())):
        if bad.any():
            at = bad.to_numpy().nonzero()[0][0]
            raise ValueError(
                f"summary CSV line {line.loc[rows.index[at]]}: {column} {rows[column].iloc[at]!r}"
            )
    if total.sum() > 1:
        raise ValueError("summary CSV has more than one Grand Total row")
    if total.any():
        stated = raw.loc[total].iloc[0]
        deals, money = float(stated[COUNT]), float(stated[REVENUE])
        if deals != count.sum() or not math.isclose(money, revenue.sum(), rel_tol=1e-9):
            raise ValueError(
                f"summary CSV Grand Total ({deals:,.0f} deals, {money:,.2f}) is not the sum of "
                f"its rows ({count.sum():,.0f} deals, {revenue.sum():,.2f})"
            )
    repeat = count.astype(int).to_numpy()
    deals_frame = rows.loc[rows.index.repeat(repeat)].reset_index(drop=True)
    within = np.concatenate([np.arange(1, n + 1) for n in repeat]) if len(repeat) else []
    deals_frame["amount"] = np.repeat((revenue / count).to_numpy(), repeat)
    deals_frame["source_id"] = [
        f"EAP-{row}-{k}"
        for row, k in zip(np.repeat(line.loc[rows.index], repeat), within, strict=True)
    ]
    return deals_frame


def _dates(text: pd.Series, column: str, lines: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(text, format=DATE_FORMAT, utc=True, errors="coerce")
    bad = parsed.isna() & text.notna()
    if bad.any():
        at = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"summary CSV deal {lines.iloc[at]}: {column} {text.iloc[at]!r}")
    return parsed


def canonical_tables(
    raw: pd.DataFrame, known_at: pd.Timestamp | None = None
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """(canonical tables, as-of instant) from the pivot's rows; the open stages' probabilities
    are the segments' win rates over the deals closed before `known_at` (default: the as-of
    instant). Raises ValueError naming the column and line of a value it cannot read."""
    deals = deals_of(raw)
    stage = deals[STAGE]
    unknown = sorted(set(stage) - WON_STAGES - LOST_STAGES - OPEN_STAGES)
    if unknown:
        raise ValueError(f"summary CSV has stage(s) {', '.join(map(repr, unknown))}")
    won = stage.isin(WON_STAGES).to_numpy()
    lost = stage.isin(LOST_STAGES).to_numpy()
    closed = won | lost
    created = _dates(deals[CREATED], CREATED, deals["source_id"])
    closed_text = deals[CLOSED].where(closed)  # an open deal's date (or "Open") is not used
    closed_at = _dates(closed_text, CLOSED, deals["source_id"])
    if closed_at[closed].isna().any():
        at = int(np.flatnonzero(closed_at.isna().to_numpy() & closed)[0])
        raise ValueError(f"summary CSV deal {deals['source_id'].iloc[at]}: closed without a date")
    early = (closed_at < created).to_numpy()
    if early.any():
        at = int(np.flatnonzero(early)[0])
        raise ValueError(f"summary CSV deal {deals['source_id'].iloc[at]}: closed before created")
    as_of = public_deals.day_after_last(created, closed_at)

    segment = deals[SEGMENT].astype(str)
    account_id = "sf:A" + deals["source_id"]
    opportunities, history = public_deals.deal_tables(
        source_id=deals["source_id"],
        account_id=account_id,
        name=segment + " deal " + deals["source_id"],
        group=segment,
        kind=np.full(len(deals), None, dtype=object),
        amount=deals["amount"],
        created=created,
        closed_at=closed_at,
        won=won,
        lost=lost,
        known_at=as_of if known_at is None else known_at,
    )
    accounts = public_deals.account_rows(
        account_id, segment + " account " + deals["source_id"], created
    )
    return public_deals.conformed_tables(accounts, opportunities, history), as_of


def main() -> None:
    parser = public_deals.public_data_parser(
        __doc__, os.environ.get(ENV_VAR), "20251226_sample_summary.csv"
    )
    args = parser.parse_args()
    if args.data is None or not Path(args.data).is_file():
        print(
            f"SKIPPED: the EAP pipeline summary is not here (CSV argument or {ENV_VAR} naming "
            "data/20251226_sample_summary.csv); see this script's docstring to get it."
        )
        return

    from backtest_table import print_backtest, print_split

    public_deals.note_if_not_measured(Path(args.data), MEASURED_SHA256)
    raw = read_summary(Path(args.data))
    tables, as_of, result, seconds = public_deals.backtest_tables(
        lambda known_at: canonical_tables(raw, known_at=known_at), args.origins
    )
    deals = tables["opportunities"]
    first_close = deals.loc[deals["is_closed"], "close_date"].min()
    print(
        f"Backtest: EAP pipeline summary ({SOURCE} @ {SOURCE_COMMIT[:7]}; no licence, measured "
        f"only; {len(deals):,} deals, {int(deals['is_won'].sum()):,} won, "
        f"{int((~deals['is_closed']).sum()):,} open; each deal its own account), as of "
        f"{as_of:%Y-%m-%d}, {len(result.origins)} origins, horizon "
        f"{public_deals.horizon_of(result)}; "
        f"{seconds:.1f}s"
    )
    print(
        f"note: {int((deals['close_date'] == first_close).sum()):,} deals closed on the first "
        f"snapshot ({first_close:%Y-%m-%d}), which stamps every close before it\n"
    )
    print_backtest(result)
    print_split(result.origins)


if __name__ == "__main__":
    main()
