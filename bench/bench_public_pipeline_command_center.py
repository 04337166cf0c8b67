"""Backtest on a second public, independently made opportunity data set: the synthetic CRM of
"Pipeline Command Center" (github.com/Olga-lab1/sales-pipeline-forecasting, MIT licence).

    .venv/bin/python bench/bench_public_pipeline_command_center.py [CSV] [--origins 8]

The data. `sales-pipeline-forecasting` is a sales-forecasting dashboard written by someone
outside this project (first commit 2026-07-06). Its `src/generate_data.py` makes 6,000
Salesforce-style opportunities of a B2B SaaS company with its own sales model, not ours:
created dates from 2023-01-01 to 2026-06-30 with a growth trend, a Q4 push and a summer dip;
three segments (Enterprise / Mid-Market / SMB) with their own amounts (log-normal), win rates
and cycle lengths (log-normal around 120 / 75 / 35 days); 20 reps with a skill multiplier; a
win-rate lift by lead source; deals whose close date has passed by 2026-06-30 are closed (won
with the deal's probability, else lost), later ones are open, and 22 % of those have their close
date pushed 15–89 days. The repository commits the generated file, `data/opportunities.csv`
(6,000 rows, seed 42). It is not copied here (this machine reaches no code host at run-time);
to get it:

    git clone https://github.com/Olga-lab1/sales-pipeline-forecasting
    git -C sales-pipeline-forecasting checkout 1b9c93ccf3d0c4f628a74cba9864794cd1ff139a
    # the file measured: data/opportunities.csv as committed in 01c9019 (unchanged since),
    # sha256 8faf6ed6d8fdd632f1413200e02b4f71aa09d010d71afa1af67bea868369a52c; its
    # `python src/generate_data.py` rewrites the same bytes (numpy 2.4.6, pandas 3.1.1)

and pass that CSV (or set ACM_PUBLIC_DATA_PCC). Without it the script says so and exits 0.

Mapping to the canonical tables (what the data has, and what it lacks):
- Each row has created_date, close_date (the close for won / lost deals, the planned one for
  open deals), a final stage, segment, lead source, amount and an account *name* (24 × 14
  generated names, so ~336 accounts that deals share by name). There is no stage history, no
  account id, no company size, and no renewals.
- So every deal is open in one stage per segment ("Open (SMB)", …) from its creation to its
  close, then Closed Won / Closed Lost; deals open at the data's end keep that stage (their
  final funnel stage is drawn at the end, with no date, so it is not used).
- Only what was known then. The shown close date is created + the segment's median cycle over
  the deals that had closed before this one was created (30 days while none had) — what a rep
  could have typed; the data's own planned close date of open deals is not used (it is the true
  close of the deals that later closed). The CRM's stage probability of each open stage (the
  baseline's only knowledge and the model's prior) is the segment's win rate over the deals
  closed before the origin (0.1 while none had), so each origin is backtested on its own tables
  (`canonical_tables(..., known_at=origin)`) and the origins are combined
  (`scoring.backtest.combine`) — as `bench_public_dataset.py` does for crm-dataset-builder.
- lead source "Customer Expansion" → type expansion, every other source → new.
- account id = the account name; an account exists from its first deal; employees unknown.

The generator as a forecaster. Below the backtest the script prints what a forecaster who knew
the generator's parameters (`GENERATOR_*`, read from its source) would have forecast at each
origin, judged on the same open deals against the same baseline and bar: each open deal's
win rate × lead-source lift × P(its cycle ends within the quarter | still open at its age), and
for deals not created yet its creation rate × mean amount × win rate × P(won by the quarter's
end). Only the reps' skill draws are unknown to it. Where even it misses, the bar is out of
reach on this data for any forecaster: the misses are the draws of 300–480 open deals, not a
model's error. Measured (#13, as of 2026-07-01): it meets the target at 4 of 8 eligible origins
(2024Q3, 2025Q1, 2025Q3, 2026Q2); this model at 3 — the same ones but 2026Q2, where its |bias|
0.097 is above the baseline's 0.095 and the generator's 0.090. Its totals miss where the
model's do (2024Q4 −19.6 %, 2025Q2 +26.2 %, 2026Q1 +27.2 %; the model −30.1, +23.7, +24.1 %),
and so does its bias at 2024Q4 and 2025Q4, where the baseline's over-forecast happened to
meet a strong quarter. Its account WAPE is within 0.03 of the model's at every origin.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import public_deals  # noqa: E402

SOURCE = "github.com/Olga-lab1/sales-pipeline-forecasting"
SOURCE_COMMIT = "1b9c93ccf3d0c4f628a74cba9864794cd1ff139a"
ENV_VAR = "ACM_PUBLIC_DATA_PCC"
MEASURED_SHA256 = "8faf6ed6d8fdd632f1413200e02b4f71aa09d010d71afa1af67bea868369a52c"

COLUMNS = (
    "opportunity_id",
    "account_name",
    "segment",
    "lead_source",
    "created_date",
    "close_date",
    "stage",
    "amount",
)
EXPANSION_SOURCE = "Customer Expansion"

# The data's own generator (src/generate_data.py at SOURCE_COMMIT), for `generator_origin`: per
# segment (share of deals, mean amount, win rate, median cycle in days); the lead sources'
# win-rate lifts (others 1) and shares; amount ~ lognormal(log mean, 0.42), cycle =
# int(lognormal(log median, 0.45)) + 5 days; 6,000 deals created from 2023-01-01 to
# 2026-06-29 at a rate rising linearly by 90 % over the window, × 1.35 in Nov–Dec and × 0.72 in
# Jul–Aug. Rep skill (a multiplier drawn per rep) is left out: it is not in the data.
GENERATOR_SEGMENTS = {
    "Enterprise": (0.15, 145_000.0, 0.22, 120.0),
    "Mid-Market": (0.35, 48_000.0, 0.28, 75.0),
    "SMB": (0.50, 12_000.0, 0.34, 35.0),
}
GENERATOR_LIFTS = {"Customer Expansion": 1.45, "Partner Referral": 1.2, "Outbound - SDR": 0.85}
GENERATOR_SOURCE_SHARES = {
    "Inbound - Website": 0.28,
    "Outbound - SDR": 0.24,
    "Partner Referral": 0.16,
    "Event / Conference": 0.14,
    "Customer Expansion": 0.18,
}
GENERATOR_AMOUNT_SIGMA = 0.42
GENERATOR_CYCLE_SIGMA = 0.45
GENERATOR_CYCLE_MIN_DAYS = 5
GENERATOR_START, GENERATOR_END = pd.Timestamp("2023-01-01"), pd.Timestamp("2026-06-30")
GENERATOR_DEALS = 6000


def read_opportunities(path: Path) -> pd.DataFrame:
    """The data set's CSV as text columns (parsed by `canonical_tables`)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _account_key(name: pd.Series) -> pd.Series:
    return "sf:A" + name.map(lambda text: re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-"))


def canonical_tables(
    raw: pd.DataFrame, known_at: pd.Timestamp | None = None
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """(canonical tables, as-of instant) from the data set's rows; the open stages'
    probabilities are the segments' win rates over the deals closed before `known_at`
    (default: the as-of instant). Raises ValueError on a missing column or an unreadable
    value, naming it."""
    missing = [column for column in COLUMNS if column not in raw.columns]
    if missing:
        raise ValueError(f"opportunities CSV lacks column(s) {', '.join(missing)}")
    empty = [c for c in COLUMNS if c != "close_date" and raw[c].isna().any()]
    if empty:
        raise ValueError(f"opportunities CSV has empty value(s) in {', '.join(empty)}")
    created = pd.to_datetime(raw["created_date"], utc=True, errors="coerce")
    close = pd.to_datetime(raw["close_date"], utc=True, errors="coerce")
    amount = pd.to_numeric(raw["amount"], errors="coerce")
    for column, parsed in (("created_date", created), ("amount", amount)):
        if parsed.isna().any():
            row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise ValueError(f"opportunities CSV row {row}: {column} {raw[column].iloc[row]!r}")
    won = (raw["stage"] == public_deals.WON_STAGE).to_numpy()
    lost = (raw["stage"] == public_deals.LOST_STAGE).to_numpy()
    closed = won | lost
    if close[closed].isna().any():
        row = int(np.flatnonzero((close.isna().to_numpy()) & closed)[0])
        raise ValueError(f"opportunities CSV row {row}: a closed deal without close_date")
    closed_at = close.where(closed)
    as_of = public_deals.day_after_last(created, closed_at)

    segment = raw["segment"].astype(str)
    account_id = _account_key(raw["account_name"])
    opportunities, history = public_deals.deal_tables(
        source_id=raw["opportunity_id"].astype(str),
        account_id=account_id,
        name=raw["account_name"] + " – " + segment,
        group=segment,
        kind=np.where(raw["lead_source"] == EXPANSION_SOURCE, "expansion", "new"),
        amount=amount,
        created=created,
        closed_at=closed_at,
        won=won,
        lost=lost,
        known_at=as_of if known_at is None else known_at,
    )
    first_deal = public_deals.first_deals(account_id, created)
    names = raw["account_name"].groupby(account_id.to_numpy()).first()
    accounts = public_deals.account_rows(
        first_deal.index, names.reindex(first_deal.index).to_numpy(), first_deal.to_numpy()
    )
    return public_deals.conformed_tables(accounts, opportunities, history), as_of


def cycle_cdf(days: np.ndarray, median: np.ndarray) -> np.ndarray:
    """P(a deal's cycle ≤ `days`) in the data's generator: cycle = int(L) + 5 with L lognormal
    around `median` (so cycle ≤ d ⇔ L < d − 4)."""
    above = np.asarray(days, dtype=float) - (GENERATOR_CYCLE_MIN_DAYS - 1)
    z = (np.log(np.maximum(above, 1e-300)) - np.log(median)) / GENERATOR_CYCLE_SIGMA
    return np.where(above > 0, ndtr(z), 0.0)


def creation_rate(days: pd.DatetimeIndex) -> np.ndarray:
    """Expected deals created on each of `days` in the data's generator (6,000 over its window:
    a uniform draw of days thinned by a rising trend and the Nov–Dec / Jul–Aug seasons)."""
    window = pd.date_range(GENERATOR_START, GENERATOR_END - pd.Timedelta(days=1), freq="D")
    total_days = (GENERATOR_END - GENERATOR_START).days

    def weight(dates: pd.DatetimeIndex) -> np.ndarray:
        growth = 1.0 + (dates - GENERATOR_START).days.to_numpy() / total_days * 0.9
        month = dates.month.to_numpy()
        season = np.where(np.isin(month, [11, 12]), 1.35, np.where(np.isin(month, [7, 8]), 0.72, 1))
        return growth * season

    inside = (days >= GENERATOR_START) & (days < GENERATOR_END)
    return np.where(inside, GENERATOR_DEALS * weight(days) / weight(window).sum(), 0.0)


def generator_origin(raw: pd.DataFrame, origin: pd.Timestamp) -> dict[str, float]:
    """What a forecaster who knew the data's generator would say for the quarter from `origin`
    (naive midnight), judged as the backtest judges the model: per account, the deals open at
    the origin (created before it, closing on or after it) × their chance of closing won
    within the quarter (win rate × lead-source lift × P(cycle ends in the quarter | still open
    at its age)), and the expected bookings of deals created in the quarter and won within it.
    `backtest_table.judged` gives the figures."""
    from backtest_table import judged

    end = origin + pd.offsets.QuarterBegin(1, startingMonth=1)
    created = pd.to_datetime(raw["created_date"])
    close = pd.to_datetime(raw["close_date"])
    amount = pd.to_numeric(raw["amount"]).to_numpy(dtype=float)
    won = (raw["stage"] == public_deals.WON_STAGE).to_numpy()
    segment = raw["segment"].map(GENERATOR_SEGMENTS)
    if segment.isna().any():
        raise ValueError(
            f"segment {raw['segment'][segment.isna()].iloc[0]!r} is not the generator's"
        )
    win_rate = segment.str[2].to_numpy(dtype=float)
    median = segment.str[3].to_numpy(dtype=float)
    lift = raw["lead_source"].map(GENERATOR_LIFTS).fillna(1.0).to_numpy(dtype=float)

    open_, in_quarter = public_deals.open_and_closing_within(
        created, close, origin, end, lambda days: cycle_cdf(days, median)
    )
    forecast = np.where(open_, amount * win_rate * lift * in_quarter, 0.0)
    actual = np.where(open_ & won & (close < end).to_numpy(), amount, 0.0)

    days = pd.date_range(origin, end - pd.Timedelta(days=1), freq="D")
    rate = creation_rate(days)
    mean_lift = sum(GENERATOR_LIFTS.get(k, 1.0) * v for k, v in GENERATOR_SOURCE_SHARES.items())
    run_rate = 0.0
    for share, mean_amount, segment_win_rate, segment_median in GENERATOR_SEGMENTS.values():
        won_by_end = cycle_cdf((end - days).days.to_numpy() - 1, segment_median)
        value = mean_amount * np.exp(GENERATOR_AMOUNT_SIGMA**2 / 2) * segment_win_rate * mean_lift
        run_rate += float((rate * share * value * won_by_end).sum())
    new = ((created >= origin) & (created < end) & (close < end)).to_numpy() & won
    accounts = _account_key(raw["account_name"]).to_numpy()
    return judged(forecast, actual, accounts, run_rate, float(amount[new].sum()))


def main() -> None:
    parser = public_deals.public_data_parser(__doc__, os.environ.get(ENV_VAR), "opportunities.csv")
    args = parser.parse_args()
    if args.data is None or not Path(args.data).is_file():
        print(
            f"SKIPPED: the Pipeline Command Center data is not here (CSV argument or {ENV_VAR} "
            "naming data/opportunities.csv); see this script's docstring to get it."
        )
        return

    from backtest_table import print_backtest, print_reference, print_split

    public_deals.note_if_not_measured(Path(args.data), MEASURED_SHA256)
    raw = read_opportunities(Path(args.data))
    tables, as_of, result, seconds = public_deals.backtest_tables(
        lambda known_at: canonical_tables(raw, known_at=known_at), args.origins
    )
    title = "Pipeline Command Center"
    source = f"{SOURCE} @ {SOURCE_COMMIT[:7]}; "
    print(public_deals.backtest_header(title, tables, f"{as_of:%Y-%m-%d}", result, seconds, source))
    print_backtest(result)
    print_split(result.origins)
    print_reference(
        "the data's own generator as a forecaster (its win rates, lead-source lifts, cycle "
        "lengths and creation rate; rep skill not known), on the same open deals:",
        result.origins,
        lambda origin: generator_origin(raw, origin),
    )


if __name__ == "__main__":
    main()
