"""Backtest on a fourth public, independently made opportunity data set: the synthetic CRM of
"ComplyFlow GTM Analytics Pipeline" (github.com/SaipriyaReddyTurpu/gtm-complyflow-pipeline,
MIT licence).

    .venv/bin/python bench/bench_public_complyflow.py [DATA_DIR] [--origins 8]

The data. `gtm-complyflow-pipeline` is a RevOps analytics portfolio project written by someone
outside this project (commits of 2026-07-09). Its `scripts/generate_synthetic_data.py` makes
the CRM of a compliance-automation SaaS company with its own, simple sales model: leads created
uniformly from 2024-01-01 to 2026-06-15; qualified leads become opportunities of one of three
segments (SMB 7–30 days to close, Mid-Market 20–75, Enterprise 60–180, uniform), won with a
fixed chance per segment (30 / 27 / 22 %; 45 % for Enterprise from Paid Search), amount a plan
price (1,200 / 2,800 / 6,500, SMB always the first) × 0.85–1.3; a deal whose close would fall
within five days of the data's end (2026-06-30) is left open in Discovery / Proposal /
Negotiation with that date as its planned close. Each opportunity is put on a random account
(so the account's own segment agrees with the deal's for only 43 % of deals). The repository
commits the generated CSVs; they are not copied here (this machine reaches no code host at
run-time; the licence would allow it, we prefer not). To get them:

    git clone https://github.com/SaipriyaReddyTurpu/gtm-complyflow-pipeline
    git -C gtm-complyflow-pipeline checkout de1010c466d60c2d58a8fdc70c6bd239b495916f
    # the files measured, as committed in 1d01c64 (unchanged since), sha256:
    #   data/opportunities.csv (2,784 rows)
    #     67898e6772e73a82ac13d0afe94e7d01d905654e7f2c440002cecc20bdba5524
    #   data/accounts.csv (1,800 rows)
    #     e70aa23bc8bcef820080a298a3d3d7cf10c6eaeda46bf3dd4677a1cf844ccda0
    mkdir -p /tmp/pub/complyflow
    cp gtm-complyflow-pipeline/data/{opportunities,accounts}.csv /tmp/pub/complyflow/

and pass that directory (or set ACM_PUBLIC_DATA_COMPLYFLOW). Without it the script says so
and exits 0.

What the data has, and lacks: opportunities.csv — opp_id, account_id, segment, lead source
(82 blank), plan, final stage (Closed Won 787, Closed Lost 1,926; open: Discovery 20,
Proposal 25, Negotiation 26), amount, created_date and close_date (the close of closed deals,
the planned close of open ones), 2024-01-02 … 2026-06-30. accounts.csv — company name,
segment, industry, region, ARR and a signup date drawn apart from the account's deals. No
stage history, no renewal or expansion opportunities (their revenue events are in another
table), no company size.

Mapping to the canonical tables:
- As in `public_deals`: each deal is open in one stage per deal segment ("Open (SMB)", …) from
  its creation to its close, then Closed Won / Closed Lost; deals open at the end keep that
  stage. Only what was known at each origin: the shown close date is created + the segment's
  median cycle over the deals that had closed before this one was created (30 days while none
  had) — the data's planned close of open deals is not used (the generator sets it from the
  deal's true cycle); the open stages' probability is the segment's win rate over the deals
  closed before the origin (`canonical_tables(..., known_at=origin)`), origins combined
  (`scoring.backtest.combine`).
- type: new for every deal (all come from leads). A stage other than Closed Won / Closed Lost
  / Discovery / Proposal / Negotiation is an error, not a guess.
- Accounts: the accounts that have deals, each existing from its first deal (the data's
  signup date is drawn apart from the deals and can come after them); industry from
  accounts.csv; employees unknown (the ARR column is revenue with this vendor, not company
  size, so it is not used).

The generator as a forecaster. Below the backtest the script prints what a forecaster who knew
the generator (`GENERATOR_*`, read from its source) would have forecast at each origin, on the
same open deals against the same baseline and bar (`backtest_table.print_reference`; as in
`bench_public_pipeline_command_center.py`). Measured (#13, as of 2026-06-25): it meets the
target at 1 of 8 eligible origins (2025Q4); this model at 2 (2024Q4, 2026Q1). Its totals miss
at 2024Q3 (+16.4 %), 2025Q1 (+22.1 %) and 2026Q1 (−17.5 %) — 110–130 open deals of a few
thousand each and a quarter's new deals are that noisy; its account WAPE loses to the baseline's
at 2024Q2 and 2025Q3 (the stage default puts 0 on young Enterprise deals, which wins on absolute
error when they mostly do not close); its |bias| ties or loses at 2024Q4, 2025Q2 and 2026Q1.
So the bar is out of reach on this data for any forecaster. Where the model is worse than it:
2025Q1, where the installed base's assumed first renewal season (this data has no renewal
deals) adds 0.1 M the generator never books (+103.7 % vs +22.1 %).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import public_deals  # noqa: E402

SOURCE = "github.com/SaipriyaReddyTurpu/gtm-complyflow-pipeline"
SOURCE_COMMIT = "de1010c466d60c2d58a8fdc70c6bd239b495916f"
ENV_VAR = "ACM_PUBLIC_DATA_COMPLYFLOW"
MEASURED_SHA256 = {
    "opportunities.csv": "67898e6772e73a82ac13d0afe94e7d01d905654e7f2c440002cecc20bdba5524",
    "accounts.csv": "e70aa23bc8bcef820080a298a3d3d7cf10c6eaeda46bf3dd4677a1cf844ccda0",
}

OPPORTUNITY_COLUMNS = ("opp_id", "account_id", "segment", "stage", "amount")
OPPORTUNITY_COLUMNS += ("created_date", "close_date")
ACCOUNT_COLUMNS = ("account_id", "company_name", "industry")
OPEN_STAGES = frozenset({"Discovery", "Proposal", "Negotiation"})

# The data's own generator (scripts/generate_synthetic_data.py at SOURCE_COMMIT), for
# `generator_origin`: per segment (share of leads, its qualification factor, win rate, shortest
# and longest cycle in days, uniform); Enterprise deals from Paid Search win at 0.45; a lead is
# an opportunity when uniform(0, 1) × boost × factor > 0.55, boost 1.25 for two of the eight
# sources; 6,500 leads created uniformly on 2024-01-01 … 2026-06-15, 3 % of them with the source
# blanked; amount a plan price × uniform(0.85, 1.3), SMB always the 1,200 plan, the others one
# of three plans at random.
GENERATOR_SEGMENTS = {
    "SMB": (0.55, 1.0, 0.30, 7, 30),
    "Mid-Market": (0.32, 0.9, 0.27, 20, 75),
    "Enterprise": (0.13, 0.75, 0.22, 60, 180),
}
GENERATOR_PAID_SEARCH_ENTERPRISE = 0.45
GENERATOR_SOURCES, GENERATOR_BOOSTED = 8, 2
GENERATOR_BLANK_SOURCE = 0.03
GENERATOR_LEADS = 6500
GENERATOR_LEAD_DAYS = pd.date_range("2024-01-01", "2026-06-15", freq="D")
GENERATOR_PLANS = (1200.0, 2800.0, 6500.0)
GENERATOR_PRICE_FACTOR = (0.85 + 1.3) / 2


def read_data(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(opportunities.csv, accounts.csv) as text columns (parsed by `canonical_tables`)."""

    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(directory / name, dtype=str, keep_default_na=False, na_values=[""])

    return read("opportunities.csv"), read("accounts.csv")


def _first_bad(parsed: pd.Series) -> int:
    return int(np.flatnonzero(parsed.isna().to_numpy())[0])


def canonical_tables(
    opportunities: pd.DataFrame, accounts: pd.DataFrame, known_at: pd.Timestamp | None = None
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """(canonical tables, as-of instant) from the data set's two CSVs; the open stages'
    probabilities are the segments' win rates over the deals closed before `known_at`
    (default: the as-of instant). Raises ValueError on a missing column, an unknown stage or
    account, or an unreadable value, naming it."""
    for name, frame, columns in (
        ("opportunities", opportunities, OPPORTUNITY_COLUMNS),
        ("accounts", accounts, ACCOUNT_COLUMNS),
    ):
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise ValueError(f"{name} CSV lacks column(s) {', '.join(missing)}")
        empty = [c for c in columns if c != "industry" and frame[c].isna().any()]
        if empty:
            raise ValueError(f"{name} CSV has empty value(s) in {', '.join(empty)}")
    stage = opportunities["stage"]
    unknown = sorted(set(stage) - {public_deals.WON_STAGE, public_deals.LOST_STAGE} - OPEN_STAGES)
    if unknown:
        raise ValueError(f"opportunities CSV has stage(s) {', '.join(map(repr, unknown))}")
    strange = ~opportunities["account_id"].isin(accounts["account_id"])
    if strange.any():
        at = int(np.flatnonzero(strange.to_numpy())[0])
        raise ValueError(
            f"opportunities CSV row {at}: account_id {opportunities['account_id'].iloc[at]!r} "
            "is not in accounts CSV"
        )
    created = pd.to_datetime(opportunities["created_date"], utc=True, errors="coerce")
    close = pd.to_datetime(opportunities["close_date"], utc=True, errors="coerce")
    amount = pd.to_numeric(opportunities["amount"], errors="coerce")
    won = (stage == public_deals.WON_STAGE).to_numpy()
    lost = (stage == public_deals.LOST_STAGE).to_numpy()
    closed = won | lost
    closed_at = close.where(closed)  # an open deal's planned close is not used
    for column, parsed in (
        ("created_date", created),
        ("amount", amount),
        ("close_date", closed_at.where(closed, pd.Timestamp(0, tz="UTC"))),
    ):
        if parsed.isna().any():
            row = _first_bad(parsed)
            value = opportunities[column].iloc[row]
            raise ValueError(f"opportunities CSV row {row}: {column} {value!r}")
    early = (closed_at < created).to_numpy()
    if early.any():
        raise ValueError(
            f"opportunities CSV row {int(np.flatnonzero(early)[0])}: closed before created"
        )
    as_of = public_deals.day_after_last(created, closed_at)

    segment = opportunities["segment"].astype(str)
    account_id = "sf:A" + opportunities["account_id"]
    deals, history = public_deals.deal_tables(
        source_id=opportunities["opp_id"].astype(str),
        account_id=account_id,
        name=opportunities["account_id"] + " – " + segment,
        group=segment,
        kind=np.full(len(opportunities), "new"),
        amount=amount,
        created=created,
        closed_at=closed_at,
        won=won,
        lost=lost,
        known_at=as_of if known_at is None else known_at,
    )
    first_deal = public_deals.first_deals(account_id, created)
    about = accounts.set_index("sf:A" + accounts["account_id"]).reindex(first_deal.index)
    account_frame = public_deals.account_rows(
        first_deal.index,
        about["company_name"].to_numpy(),
        first_deal.to_numpy(),
        industry=about["industry"].to_numpy(),
    )
    return public_deals.conformed_tables(account_frame, deals, history), as_of


def cycle_cdf(days: np.ndarray, low: np.ndarray | int, high: np.ndarray | int) -> np.ndarray:
    """P(a deal's cycle ≤ `days`) in the data's generator: a whole number of days drawn
    uniformly from `low` … `high` (its segment's range), both ends included."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return np.clip((np.floor(days) - low + 1) / (high - low + 1), 0.0, 1.0)


def generator_origin(opportunities: pd.DataFrame, origin: pd.Timestamp) -> dict[str, float]:
    """What a forecaster who knew the data's generator would say for the quarter from `origin`
    (naive midnight), judged as the backtest judges the model (`backtest_table.judged`): each
    deal open at the origin (created before it, closing on or after it) × its win rate × P(its
    cycle ends in the quarter | still open at its age), and the deals created in the quarter
    and won within it: the daily rate of opportunities × mean amount × win rate × P(cycle ends
    by the quarter's end), per segment."""
    from backtest_table import judged

    segment = opportunities["segment"]
    unknown = sorted(set(segment) - set(GENERATOR_SEGMENTS))
    if unknown:
        raise ValueError(f"segment {unknown[0]!r} is not the generator's")
    end = origin + pd.offsets.QuarterBegin(1, startingMonth=1)
    created = pd.to_datetime(opportunities["created_date"])
    close = pd.to_datetime(opportunities["close_date"])
    amount = pd.to_numeric(opportunities["amount"]).to_numpy(dtype=float)
    won = (opportunities["stage"] == public_deals.WON_STAGE).to_numpy()
    # per deal: its segment's (share, factor, win rate, shortest, longest cycle)
    params = np.array([GENERATOR_SEGMENTS[name] for name in segment], dtype=float).reshape(-1, 5)
    win_rate, low, high = params[:, 2], params[:, 3], params[:, 4]
    paid = (segment == "Enterprise") & (opportunities["lead_source"] == "Paid Search")
    win_rate = np.where(paid.to_numpy(), GENERATOR_PAID_SEARCH_ENTERPRISE, win_rate)

    open_, in_quarter = public_deals.open_and_closing_within(
        created, close, origin, end, lambda days: cycle_cdf(days, low, high)
    )
    forecast = np.where(open_, amount * win_rate * in_quarter, 0.0)
    actual = np.where(open_ & won & (close < end).to_numpy(), amount, 0.0)

    days = GENERATOR_LEAD_DAYS[(origin <= GENERATOR_LEAD_DAYS) & (end > GENERATOR_LEAD_DAYS)]
    boosted = GENERATOR_BOOSTED / GENERATOR_SOURCES
    paid_share = (1 - GENERATOR_BLANK_SOURCE) / GENERATOR_SOURCES
    run_rate = 0.0
    for name, (share, factor, rate, _, _) in GENERATOR_SEGMENTS.items():
        qualified = (1 - boosted) * max(0.0, 1 - 0.55 / factor)
        qualified += boosted * max(0.0, 1 - 0.55 / (1.25 * factor))
        per_day = GENERATOR_LEADS * share * qualified / len(GENERATOR_LEAD_DAYS)
        if name == "Enterprise":
            rate += paid_share * (GENERATOR_PAID_SEARCH_ENTERPRISE - rate)
        price = GENERATOR_PLANS[0] if name == "SMB" else float(np.mean(GENERATOR_PLANS))
        _, _, _, shortest, longest = GENERATOR_SEGMENTS[name]
        by_end = cycle_cdf((end - days).days.to_numpy() - 1, shortest, longest)
        run_rate += per_day * price * GENERATOR_PRICE_FACTOR * rate * float(by_end.sum())
    new = ((created >= origin) & (created < end) & (close < end)).to_numpy() & won
    accounts = opportunities["account_id"].to_numpy()
    return judged(forecast, actual, accounts, run_rate, float(amount[new].sum()))


def main() -> None:
    parser = public_deals.public_data_parser(
        __doc__, os.environ.get(ENV_VAR), "directory holding opportunities.csv and accounts.csv"
    )
    args = parser.parse_args()
    directory = Path(args.data) if args.data is not None else None
    if directory is None or not all((directory / name).is_file() for name in MEASURED_SHA256):
        print(
            f"SKIPPED: the ComplyFlow data is not here (DATA_DIR argument or {ENV_VAR} naming a "
            "directory with its opportunities.csv and accounts.csv); see this script's "
            "docstring to get it."
        )
        return

    from backtest_table import print_backtest, print_reference, print_split

    for name, measured in MEASURED_SHA256.items():
        public_deals.note_if_not_measured(directory / name, measured)
    opportunities, accounts = read_data(directory)
    tables, as_of, result, seconds = public_deals.backtest_tables(
        lambda known_at: canonical_tables(opportunities, accounts, known_at=known_at),
        args.origins,
    )
    source = f"{SOURCE} @ {SOURCE_COMMIT[:7]}; "
    header = public_deals.backtest_header(
        "ComplyFlow", tables, f"{as_of:%Y-%m-%d}", result, seconds, source
    )
    print(header)
    print_backtest(result)
    print_split(result.origins)
    print_reference(
        "the data's own generator as a forecaster (its win rates, cycle ranges, lead and "
        "opportunity rates and prices), on the same open deals:",
        result.origins,
        lambda origin: generator_origin(opportunities, origin),
    )


if __name__ == "__main__":
    main()
