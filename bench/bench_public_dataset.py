"""Backtest on public, independently made opportunity data: crm-dataset-builder.

    .venv/bin/python bench/bench_public_dataset.py [DATA_DIR] [--origins 8]
        [--profile b2b_saas|manufacturer|consultancy] [--as-of YYYY-MM-DD]
    .venv/bin/python bench/bench_public_dataset.py --all DIR [--as-of YYYY-MM-DD]

The data. `crm-dataset-builder` (github.com/JuanitaOssa/crm-dataset-builder, MIT licence) is a
B2B CRM generator written by someone outside this project, with its own sales model: three
business profiles (b2b_saas, manufacturer, consultancy), each with a primary / renewal /
expansion pipeline (b2b_saas also Self-Serve), per-segment cycle lengths, outcome rates and
amounts. Its output is not in this repository (a generator's output is made at run-time and
this machine reaches no code host at run-time); to make it, check out the version measured and
let `bench/make_public_datasets.py` run it (in the checkout's own venv) for every profile ×
seed (42, 7) × size (3,000 and 20,000 companies):

    git clone https://github.com/JuanitaOssa/crm-dataset-builder /tmp/cdbsrc
    git -C /tmp/cdbsrc checkout 32b7abc497129ca0dbfa3a081e30d652f5a13ce5
    nice -n 10 .venv/bin/python bench/make_public_datasets.py /tmp/cdbsrc /tmp/cdb

and pass one of its /tmp/cdb/<profile>-s<seed>-n<size>/ directories (accounts.csv, deals.csv)
as DATA_DIR, or set ACM_PUBLIC_DATA, or run them all with `--all /tmp/cdb`. Without data the
script says so and exits 0 (skipped, with the reason).

Modes.
- default: the whole data set, as of the day after its last date.
- `--as-of DATE`: the data as it stood at DATE (00:00 UTC) — deals created on or after DATE
  absent, deals closed on or after DATE still open then (their close unknown), and the
  backtest's as-of is DATE (`snapshot`).
- `--all DIR`: every directory under DIR holding a deals.csv, each backtested on the full data
  and on its snapshot at `--as-of` (default 2025-08-01, the generator's active-window start,
  below): each per-origin table, then one summary line per data set and mode (origins met /
  eligible, worst total error, pooled WAPE and |bias| model vs base, median noise, seconds).
  Measured (2 shared cores, under nice): about 1 s per 3,000-company set, 2.5–4 s per
  20,000-company set (full data or a 2025-08-01 snapshot); `--all` over the 12 sets made by
  make_public_datasets.py plus one more 3,000-company copy: 46 s (215 s before the shown close
  dates' running median became one sorted sweep; the tables it printed are identical).

The generator's known artefact (src/generators/deals.py, DATE_RANGE_END 2026-02-01,
ACTIVE_WINDOW_START 2025-08-01): every primary-pipeline deal whose drawn outcome is "Open"
(about 20 %) is created inside that window and never closes, and no deal created before it
stays open (bar a few renewal / expansion deals whose drawn close falls past 2026-02-01: 6–56
per manufacturer set, none in the others). So the last six months hold a class of
never-closing deals that exists nowhere in the history before them — the generator's way of
filling "the currently open pipeline", not a process a model could learn. The script prints
a one-line note about it whenever the data's pipelines are crm-dataset-builder's;
`--as-of 2025-08-01` backtests on the data before it.

Mapping to the canonical tables (what the data has, and what it lacks):
- The profile is detected from the pipeline names in deals.csv (or given with --profile);
  pipelines map by role: primary (b2b_saas / consultancy New Business, manufacturer New
  Accounts) → type new, renewal (Renewal / Extension / Reorders) → renewal, expansion
  (Expansion / Custom/Engineered Solutions) → expansion, Self-Serve → new. Won stages: Closed
  Won (Self-Serve: Converted); lost: Closed Lost (Self-Serve: Churned). A pipeline the profile
  does not have is an error, not a guess.
- deals.csv has created_date, close_date (won / lost deals), a final stage, pipeline, segment,
  amount. It has no stage history and no planned close date. So every deal is open in one
  stage per pipeline ("Open (New Business)", …) from its creation to its close, and then
  Closed Won / Closed Lost. Deals still open keep that stage.
- Only what was known then. The shown close date is created + the pipeline's median cycle over
  the deals that had closed before this one was created (30 days while none had) — what a rep
  could have typed. The CRM's "stage probability" of each open stage (the baseline's only
  knowledge, and the model's prior) is the pipeline's win rate over the deals closed before
  the origin (0.1 while none had), so each origin is backtested on its own tables
  (`canonical_tables(..., known_at=origin)`) and the origins are combined
  (`scoring.backtest.combine`). (Until #13's second round both were computed over the whole
  data set, which saw the future.)
- accounts.csv employee_count → employees (the model's company-size feature); the data's own
  segment labels are not used. Accounts exist from their first deal (the data's first day for
  accounts without one — in a snapshot, also those whose first deal comes after it).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from acm_sync.scoring import BacktestResult

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import public_deals  # noqa: E402


@dataclass(frozen=True)
class Profile:
    """One crm-dataset-builder business profile: its pipelines by role (→ canonical type), and
    the stage names a won / lost deal ends in (src/profiles/<name>.py at the pinned commit)."""

    name: str
    type_of_pipeline: dict[str, str]
    won_stages: frozenset[str]
    lost_stages: frozenset[str]


PROFILES = {
    "b2b_saas": Profile(
        "b2b_saas",
        {
            "New Business": "new",
            "Self-Serve": "new",
            "Renewal": "renewal",
            "Expansion": "expansion",
        },
        frozenset({"Closed Won", "Converted"}),
        frozenset({"Closed Lost", "Churned"}),
    ),
    "manufacturer": Profile(
        "manufacturer",
        {"New Accounts": "new", "Reorders": "renewal", "Custom/Engineered Solutions": "expansion"},
        frozenset({"Closed Won"}),
        frozenset({"Closed Lost"}),
    ),
    "consultancy": Profile(
        "consultancy",
        {"New Business": "new", "Extension": "renewal", "Expansion": "expansion"},
        frozenset({"Closed Won"}),
        frozenset({"Closed Lost"}),
    ),
}
# the b2b_saas names, as before profiles were told apart
TYPE_OF_PIPELINE = PROFILES["b2b_saas"].type_of_pipeline
WON_STAGES = set(PROFILES["b2b_saas"].won_stages)
LOST_STAGES = set(PROFILES["b2b_saas"].lost_stages)

# the generator's active window (src/generators/deals.py): deals left open are created in it
ACTIVE_WINDOW_START = pd.Timestamp("2025-08-01", tz="UTC")
DATE_RANGE_END = pd.Timestamp("2026-02-01", tz="UTC")
SNAPSHOT_OPEN_STAGE = "(open at the snapshot)"


def profile_of(pipelines: Iterable[str], name: str | None = None) -> Profile:
    """The profile whose pipelines are these (the one named, checked); ValueError when no
    profile, or more than one, has them all."""
    present = set(pipelines)
    if name is not None:
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
        unknown = present - PROFILES[name].type_of_pipeline.keys()
        if unknown:
            raise ValueError(
                f"pipelines {sorted(unknown)} are not in profile {name} "
                f"({', '.join(PROFILES[name].type_of_pipeline)})"
            )
        return PROFILES[name]
    fits = [p for p in PROFILES.values() if present <= p.type_of_pipeline.keys()]
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise ValueError(
            f"pipelines {sorted(present)} are no crm-dataset-builder profile's "
            + "; ".join(f"{p.name}: {', '.join(p.type_of_pipeline)}" for p in PROFILES.values())
        )
    raise ValueError(
        f"pipelines {sorted(present)} fit profiles {', '.join(p.name for p in fits)}: "
        "pass --profile"
    )


def snapshot(deals: pd.DataFrame, at: pd.Timestamp, profile: Profile) -> pd.DataFrame:
    """deals.csv as it stood at `at`: deals created on or after it absent; deals closed on or
    after it open (no close date, stage SNAPSHOT_OPEN_STAGE, status Open, no loss reason)."""
    created = pd.to_datetime(deals["created_date"], utc=True)
    closed_at = pd.to_datetime(deals["close_date"], utc=True)
    out = deals.loc[(created < at).to_numpy()].copy()
    closed = out["stage"].isin(profile.won_stages | profile.lost_stages)
    reopen = (closed & (closed_at.loc[out.index] >= at)).to_numpy()
    out["close_date"] = out["close_date"].astype(object)
    out.loc[reopen, "close_date"] = np.nan
    out.loc[reopen, "stage"] = SNAPSHOT_OPEN_STAGE
    for column, value in (("deal_status", "Open"), ("loss_reason", np.nan)):
        if column in out:
            out[column] = out[column].astype(object)
            out.loc[reopen, column] = value
    return out.reset_index(drop=True)


def read_data(data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accounts.csv, deals.csv) as read from a crm-dataset-builder output directory."""
    accounts_csv = pd.read_csv(data / "accounts.csv")
    deals = pd.read_csv(data / "deals.csv", keep_default_na=False, na_values=[""])
    return accounts_csv, deals


def canonical_tables(
    data: Path,
    known_at: pd.Timestamp | None = None,
    *,
    profile: str | None = None,
    as_of: pd.Timestamp | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """(canonical tables, as-of instant) from the crm-dataset-builder CSVs; the open stages'
    probabilities are the pipelines' win rates over the deals closed before `known_at`
    (default: the as-of instant). `profile`: detected from the pipelines when None; `as_of`:
    the data's snapshot at that instant (`snapshot`), else the whole data set, as of the day
    after its last date."""
    accounts_csv, deals = read_data(data)
    return tables_from(accounts_csv, deals, known_at, profile=profile, as_of=as_of)


def tables_from(
    accounts_csv: pd.DataFrame,
    deals: pd.DataFrame,
    known_at: pd.Timestamp | None = None,
    *,
    profile: str | None = None,
    as_of: pd.Timestamp | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """`canonical_tables` from the frames `read_data` returns."""
    chosen = profile_of(deals["pipeline"].astype(str), profile)
    if as_of is not None:
        deals = snapshot(deals, as_of, chosen)
        if deals.empty:
            raise ValueError(f"no deal was created before {as_of:%Y-%m-%d}")
    created = pd.to_datetime(deals["created_date"], utc=True)
    closed_at = pd.to_datetime(deals["close_date"], utc=True)
    won = deals["stage"].isin(chosen.won_stages).to_numpy()
    lost = deals["stage"].isin(chosen.lost_stages).to_numpy()
    if as_of is None:
        as_of = public_deals.day_after_last(created, closed_at)

    pipeline = deals["pipeline"].astype(str)
    account_id = "sf:A" + deals["account_id"].astype(str)
    opportunities, history = public_deals.deal_tables(
        source_id=deals["deal_id"].astype(str),
        account_id=account_id,
        name=deals["deal_name"],
        group=pipeline,
        kind=pipeline.map(chosen.type_of_pipeline),
        amount=deals["amount"],
        created=created,
        closed_at=closed_at,
        won=won,
        lost=lost,
        known_at=as_of if known_at is None else known_at,
    )
    first_deal = public_deals.first_deals(account_id, created)
    accounts = pd.DataFrame(
        {
            "account_id": "sf:A" + accounts_csv["id"].astype(str),
            "source": "salesforce",
            "source_id": accounts_csv["id"].astype(str),
            "name": accounts_csv["company_name"],
            "domain": None,
            "website": accounts_csv["website"],
            "industry": accounts_csv["industry"],
            "employees": accounts_csv["employee_count"].astype(float),
            "annual_revenue": accounts_csv["annual_revenue"].astype(float),
            "currency": "USD",
            "owner_id": None,
            "is_deleted": False,
            "merged_into": None,
        }
    )
    # accounts exist from their first deal (or the data's start): replays must see them
    start = created.min()
    accounts["created_at"] = accounts["account_id"].map(first_deal).fillna(start)
    accounts["updated_at"] = accounts["created_at"]
    accounts["last_activity_at"] = pd.NaT
    return public_deals.conformed_tables(accounts, opportunities, history), as_of


def window_note(deals: pd.DataFrame, profile: Profile, as_of: pd.Timestamp | None) -> str:
    """One line on the generator's active window, with this data's own counts (full data)."""
    created = pd.to_datetime(deals["created_date"], utc=True)
    still_open = ~deals["stage"].isin(profile.won_stages | profile.lost_stages)
    inside = int((still_open & (created >= ACTIVE_WINDOW_START)).sum())
    before = int((still_open & (created < ACTIVE_WINDOW_START)).sum())
    if as_of is not None and as_of <= ACTIVE_WINDOW_START:
        cut = f"this run stops at {as_of:%Y-%m-%d}, before it"
    else:
        cut = f"--as-of {ACTIVE_WINDOW_START:%Y-%m-%d} backtests on the data before it"
    return (
        f"note: crm-dataset-builder makes its open pipeline from deals created in its active "
        f"window {ACTIVE_WINDOW_START:%Y-%m-%d} – {DATE_RANGE_END:%Y-%m-%d} that never close "
        f"(here {inside:,} open deals created in it; {before:,} before it, whose drawn close "
        f"fell past the end) — a class no earlier history shows; {cut}"
    )


@dataclass(frozen=True)
class Summary:
    """One backtest in a line: origins that met the target / eligible ones, the worst total
    error, pooled WAPE and |bias| model vs base, the median noise (open_sd / actual)."""

    met: int
    eligible: int
    worst_total_error: float
    model_wape: float
    baseline_wape: float
    model_abs_bias: float
    baseline_abs_bias: float
    median_noise: float


def summarise(result: BacktestResult) -> Summary:
    """The same verdicts and pooled figures `backtest_table.print_backtest` prints; worst and
    noise over the eligible origins (all when none is)."""
    from backtest_table import misses

    table = result.origins
    eligible = table.loc[table["eligible"].astype(bool)]
    use = eligible if len(eligible) else table
    errors = use["total_error"].astype(float)
    worst = float(errors.loc[errors.abs().idxmax()]) if errors.notna().any() else math.nan
    actual = use["actual_total"].astype(float)
    noise = (use["open_sd"].astype(float) / actual.where(actual > 0)).median()
    s = result.summary
    return Summary(
        met=sum(not misses(row) for _, row in eligible.iterrows()),
        eligible=len(eligible),
        worst_total_error=worst,
        model_wape=float(s.get("model_wape", math.nan)),
        baseline_wape=float(s.get("baseline_wape", math.nan)),
        model_abs_bias=abs(float(s.get("model_bias", math.nan))),
        baseline_abs_bias=abs(float(s.get("baseline_bias", math.nan))),
        median_noise=float(noise),
    )


def summary_line(label: str, s: Summary, seconds: float) -> str:
    return (
        f"{label:<44} met {s.met}/{s.eligible}  worst {s.worst_total_error:+7.1%}  "
        f"WAPE {s.model_wape:.3f} vs {s.baseline_wape:.3f}  |bias| {s.model_abs_bias:.3f} vs "
        f"{s.baseline_abs_bias:.3f}  noise {s.median_noise:5.1%}  {seconds:5.1f}s"
    )


def run(
    data: Path, origins: int, profile: str | None, as_of: pd.Timestamp | None
) -> tuple[BacktestResult, float]:
    """Backtest one data set (its snapshot at `as_of`, if given) and print note, header and
    table; (result, seconds)."""
    from backtest_table import print_backtest, print_split

    started = time.perf_counter()
    accounts_csv, deals = read_data(data)
    chosen = profile_of(deals["pipeline"].astype(str), profile)
    tables, instant = tables_from(accounts_csv, deals, profile=chosen.name, as_of=as_of)
    result = public_deals.backtest_by_origin(
        lambda origin: tables_from(
            accounts_csv, deals, known_at=origin, profile=chosen.name, as_of=as_of
        )[0],
        instant,
        origins,
        whole=tables,
    )
    seconds = time.perf_counter() - started
    print(window_note(deals, chosen, as_of))
    title = f"crm-dataset-builder {chosen.name}, {data.name}"
    shown = f"{instant:%Y-%m-%d}{' (snapshot)' if as_of is not None else ''}"
    print(public_deals.backtest_header(title, tables, shown, result, seconds))
    print_backtest(result)
    print_split(result.origins)
    return result, seconds


def main() -> None:
    parser = public_deals.public_data_parser(__doc__, os.environ.get("ACM_PUBLIC_DATA"), "output/")
    parser.add_argument("--profile", choices=list(PROFILES), help="default: from the pipelines")
    parser.add_argument(
        "--as-of", type=public_deals.as_of_date, help="backtest the data as it stood at this date"
    )
    parser.add_argument(
        "--all",
        type=Path,
        metavar="DIR",
        help="every data set under DIR, full and at --as-of (default "
        f"{ACTIVE_WINDOW_START:%Y-%m-%d})",
    )
    args = parser.parse_args()
    if args.all is not None:
        if args.profile is not None:
            parser.error("--all detects each data set's profile; --profile is for one")
        run_all(args.all, args.origins, args.as_of or ACTIVE_WINDOW_START)
        return
    if args.data is None or not (Path(args.data) / "deals.csv").exists():
        print(
            "SKIPPED: the crm-dataset-builder output is not here (DATA_DIR or ACM_PUBLIC_DATA "
            "with accounts.csv and deals.csv); see this script's docstring to make it."
        )
        return
    try:
        run(Path(args.data), args.origins, args.profile, args.as_of)
    except ValueError as error:
        raise SystemExit(f"{args.data}: {error}") from None


def run_all(root: Path, origins: int, at: pd.Timestamp) -> None:
    dirs = sorted(d for d in root.iterdir() if (d / "deals.csv").exists()) if root.is_dir() else []
    if not dirs:
        print(f"SKIPPED: no directory under {root} holds a deals.csv; see the docstring.")
        return
    lines = []
    for data in dirs:
        for as_of in (None, at):
            mode = "full" if as_of is None else f"as of {as_of:%Y-%m-%d}"
            print(f"\n===== {data.name}, {mode} =====")
            try:
                result, seconds = run(data, origins, None, as_of)
            except ValueError as error:
                print(f"FAILED: {error}")
                lines.append(f"{data.name + ', ' + mode:<44} FAILED: {error}")
                continue
            lines.append(summary_line(f"{data.name}, {mode}", summarise(result), seconds))
    print(
        "\n===== summary: data set, mode | target met at / eligible origins, worst total "
        "error, pooled WAPE and |bias| model vs base, median noise, seconds ====="
    )
    for line in lines:
        print(line)
    if any("FAILED" in line for line in lines):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
