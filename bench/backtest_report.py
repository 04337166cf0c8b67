"""Backtest report on the demo org: the forecast (time-to-close model + run-rate) vs the CRM's
stage probabilities, per calendar-quarter origin.

    .venv/bin/python bench/backtest_report.py [N_ACCOUNTS] [--seed 7] [--crm-age-days D]
                                              [--origins 8] [--config acm_sync.yaml]

Generates the demo org (default 10,000 Salesforce accounts; `--crm-age-days` for a young org),
takes it as the pipeline hands it to scoring (tests/quality/quality_demo.py `pipeline_tables`: both
CRMs through the ingestion's mapping, the rows the quality suites let through, the account
identity) and replays the pipeline at past quarter starts (`report.print_backtest` prints the
table: total bookings actual vs forecast, account WAPE, bias and Brier score for the model and the
baseline, then reliability by decile of p). The target: at every origin with ≥ 50 deals resolved
before it, the model beats the baseline on account WAPE and |bias|, and the total is within
±15 % of actual.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("accounts", nargs="?", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crm-age-days", type=int, default=None)
    parser.add_argument("--origins", type=int, default=8)
    parser.add_argument("--config", type=Path, default=None, help="default: acm_sync.yaml")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "tests" / "quality"))
    from quality_demo import pipeline_tables

    from acm_sync.config import load_config
    from acm_sync.sandbox.generator import generate_org
    from acm_sync.scoring import AccountBook, DealHistory, backtest
    from backtest_table import print_backtest, print_split

    config = load_config(args.config or REPO / "acm_sync.yaml")
    forecast = config.forecast.model_copy(
        update={"backtest": config.forecast.backtest.model_copy(update={"origins": args.origins})}
    )
    org = generate_org(args.accounts, seed=args.seed, crm_age_days=args.crm_age_days)
    tables, identity = pipeline_tables(org)
    started = time.perf_counter()
    book = AccountBook.from_canonical(
        tables["accounts"],
        tables["contacts"],
        tables["opportunities"],
        identity,
        currency=config.currency,
    )
    history = DealHistory.build(book, tables["opportunity_stage_history"])
    result = backtest(history, org.now, forecast)
    seconds = time.perf_counter() - started
    age = f", CRM live {args.crm_age_days} days" if args.crm_age_days else ""
    print(
        f"Backtest: demo org {args.accounts:,} accounts (seed {args.seed}{age}), as of "
        f"{org.now:%Y-%m-%d}, {len(result.origins)} origins, horizon "
        f"{forecast.backtest.horizon_quarters} quarter(s), {book.currency}; {seconds:.1f}s\n"
    )
    print_backtest(result)
    print_split(result.origins)


if __name__ == "__main__":
    main()
