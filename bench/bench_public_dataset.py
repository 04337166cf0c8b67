"""Backtest on a public, independently made opportunity data set: crm-dataset-builder.

    .venv/bin/python bench/bench_public_dataset.py [DATA_DIR] [--origins 8]

The data. `crm-dataset-builder` (github.com/JuanitaOssa/crm-dataset-builder, MIT licence) is a
B2B SaaS CRM generator written by someone outside this project, with its own sales model: New
Business / Renewal / Expansion / Self-Serve pipelines, per-segment cycle lengths, outcome rates
and amounts. Its output is not in this repository (a generator's output is made at run-time and
this machine reaches no code host at run-time); to make it:

    git clone https://github.com/JuanitaOssa/crm-dataset-builder && cd crm-dataset-builder
    git checkout 32b7abc497129ca0dbfa3a081e30d652f5a13ce5  # the version measured
    python -m venv .venv && .venv/bin/pip install faker pandas
    # non-interactive: accounts → contacts → deals, 3,000 companies, seed 42
    .venv/bin/python - <<'PY'
    import sys; sys.path.insert(0, "src")
    import main as m
    from generators.accounts import AccountGenerator
    from generators.contacts import ContactGenerator
    from generators.deals import DealGenerator
    from profiles.b2b_saas import B2BSaaSProfile
    p = B2BSaaSProfile()
    m.save_to_csv(AccountGenerator(seed=42, profile=p).generate(3000), m.ACCOUNTS_PATH, p)
    c = ContactGenerator(m.ACCOUNTS_PATH, seed=42, profile=p).generate()
    m.save_contacts_to_csv(c, m.CONTACTS_PATH, p)
    d = DealGenerator(m.ACCOUNTS_PATH, m.CONTACTS_PATH, seed=42, profile=p).generate()
    m.save_deals_to_csv(d, m.DEALS_PATH, p)
    PY

and pass its `output/` directory (accounts.csv, deals.csv) as DATA_DIR, or set
ACM_PUBLIC_DATA. Without it the script says so and exits 0 (skipped, with the reason).

Mapping to the canonical tables (what the data has, and what it lacks):
- deals.csv has created_date, close_date (won / lost deals), a final stage, pipeline, segment,
  amount. It has no stage history and no planned close date. So every deal is open in one
  stage per pipeline ("Open (New Business)", …) from its creation to its close, and then
  Closed Won / Closed Lost (Self-Serve: Converted / Churned). Deals still open keep that stage.
- Only what was known then. The shown close date is created + the pipeline's median cycle over
  the deals that had closed before this one was created (30 days while none had) — what a rep
  could have typed. The CRM's "stage probability" of each open stage (the baseline's only
  knowledge, and the model's prior) is the pipeline's win rate over the deals closed before
  the origin (0.1 while none had), so each origin is backtested on its own tables
  (`canonical_tables(..., known_at=origin)`) and the origins are combined
  (`scoring.backtest.combine`). (Until #13's second round both were computed over the whole
  data set, which saw the future.)
- pipeline → type: New Business and Self-Serve → new, Renewal → renewal, Expansion → expansion.
- accounts.csv employee_count → employees (the model's company-size feature); the data's own
  segment labels are not used.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

TYPE_OF_PIPELINE = {
    "New Business": "new",
    "Self-Serve": "new",
    "Renewal": "renewal",
    "Expansion": "expansion",
}
WON_STAGES = {"Closed Won", "Converted"}
LOST_STAGES = {"Closed Lost", "Churned"}


UNKNOWN_CYCLE_DAYS = 30.0
UNKNOWN_WIN_RATE = 0.1


def shown_close_dates(
    pipeline: pd.Series, created: pd.Series, closed_at: pd.Series, closed: np.ndarray
) -> pd.Series:
    """created + the median cycle of the pipeline's deals closed before this one was created
    (UNKNOWN_CYCLE_DAYS while none had)."""
    days = np.full(len(created), UNKNOWN_CYCLE_DAYS)
    cycle = (closed_at - created).dt.days.to_numpy(dtype=float)
    created_ns = created.to_numpy(dtype="datetime64[ns]")
    closed_ns = closed_at.to_numpy(dtype="datetime64[ns]")
    for name in pipeline.unique():
        mine = (pipeline == name).to_numpy()
        done = np.flatnonzero(mine & closed)
        order = done[np.argsort(closed_ns[done], kind="stable")]
        known = np.searchsorted(closed_ns[order], created_ns[mine], side="left")
        cycles = cycle[order]
        days[mine] = [np.median(cycles[:k]) if k else UNKNOWN_CYCLE_DAYS for k in known]
    return created + pd.to_timedelta(days, unit="D")


def canonical_tables(
    data: Path, known_at: pd.Timestamp | None = None
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """(canonical tables, as-of instant) from the crm-dataset-builder CSVs; the open stages'
    probabilities are the pipelines' win rates over the deals closed before `known_at`
    (default: the as-of instant)."""
    from acm_sync.model import conform, empty_frame

    accounts_csv = pd.read_csv(data / "accounts.csv")
    deals = pd.read_csv(data / "deals.csv", keep_default_na=False, na_values=[""])
    created = pd.to_datetime(deals["created_date"], utc=True)
    closed_at = pd.to_datetime(deals["close_date"], utc=True)
    won = deals["stage"].isin(WON_STAGES).to_numpy()
    lost = deals["stage"].isin(LOST_STAGES).to_numpy()
    closed = won | lost
    as_of = (pd.concat([created, closed_at]).max() + pd.Timedelta(days=1)).floor("D")

    pipeline = deals["pipeline"].astype(str)
    open_stage = "Open (" + pipeline + ")"
    planned_close = shown_close_dates(pipeline, created, closed_at, closed)
    known = closed & (closed_at < (as_of if known_at is None else known_at)).to_numpy()
    win_rate = pd.Series(won[known]).groupby(pipeline[known].to_numpy()).mean()
    open_probability = pipeline.map(win_rate).fillna(UNKNOWN_WIN_RATE).to_numpy()

    account_id = "sf:A" + deals["account_id"].astype(str)
    opportunity_id = "sf:O" + deals["deal_id"].astype(str)
    final_stage = np.where(won, "Closed Won", np.where(lost, "Closed Lost", open_stage))
    opportunities = pd.DataFrame(
        {
            "opportunity_id": opportunity_id,
            "source": "salesforce",
            "source_id": deals["deal_id"].astype(str),
            "account_id": account_id,
            "name": deals["deal_name"],
            "stage": final_stage,
            "stage_probability": np.where(won, 1.0, np.where(lost, 0.0, open_probability)),
            "amount": deals["amount"].astype(float),
            "currency": "USD",
            "close_date": closed_at.where(closed, planned_close),
            "created_at": created,
            "updated_at": closed_at.where(closed, created),
            "is_closed": closed,
            "is_won": won,
            "type": pipeline.map(TYPE_OF_PIPELINE).fillna("new"),
            "forecast_category": np.where(won, "Closed", np.where(lost, "Omitted", "Pipeline")),
            "is_deleted": False,
        }
    )
    opening = pd.DataFrame(
        {
            "opportunity_id": opportunity_id,
            "stage": open_stage,
            "amount": deals["amount"].astype(float),
            "close_date": planned_close,
            "changed_at": created,
        }
    )
    closing = opening.loc[closed].assign(
        stage=final_stage[closed], close_date=closed_at[closed], changed_at=closed_at[closed]
    )
    history = pd.concat([opening, closing], ignore_index=True)
    first_deal = created.groupby(account_id).min()
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
    tables = {
        "accounts": conform(accounts, "accounts"),
        "contacts": empty_frame("contacts"),
        "opportunities": conform(opportunities, "opportunities"),
        "opportunity_stage_history": conform(history, "opportunity_stage_history"),
    }
    return tables, as_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "data", nargs="?", type=Path, default=os.environ.get("ACM_PUBLIC_DATA"), help="output/"
    )
    parser.add_argument("--origins", type=int, default=8)
    args = parser.parse_args()
    if args.data is None or not (Path(args.data) / "deals.csv").exists():
        print(
            "SKIPPED: the crm-dataset-builder output is not here (DATA_DIR or ACM_PUBLIC_DATA "
            "with accounts.csv and deals.csv); see this script's docstring to make it."
        )
        return

    from acm_sync.config import AcmSyncConfig
    from acm_sync.scoring import AccountBook, DealHistory, backtest
    from acm_sync.scoring.backtest import combine
    from acm_sync.scoring.periods import past_quarter_starts
    from backtest_table import print_backtest

    tables, as_of = canonical_tables(Path(args.data))
    config = AcmSyncConfig().forecast
    started = time.perf_counter()
    results = []
    for origin in past_quarter_starts(as_of, args.origins, config.backtest.horizon_quarters):
        known, _ = canonical_tables(Path(args.data), known_at=origin)
        book = AccountBook.from_canonical(
            known["accounts"], known["contacts"], known["opportunities"]
        )
        history = DealHistory.build(book, known["opportunity_stage_history"])
        results.append(backtest(history, as_of, config, origins=(origin,)))
    result = combine(results)
    deals = tables["opportunities"]
    print(
        f"Backtest: crm-dataset-builder ({len(tables['accounts']):,} accounts, {len(deals):,} "
        f"deals, {int(deals['is_won'].sum()):,} won), as of {as_of:%Y-%m-%d}, "
        f"{len(result.origins)} origins, horizon 1 quarter; {time.perf_counter() - started:.1f}s\n"
    )
    print_backtest(result)


if __name__ == "__main__":
    main()
