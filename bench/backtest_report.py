"""Backtest report: calibrated forecast vs the CRM's stage probabilities on the demo org.

    .venv/bin/python bench/backtest_report.py [N_ACCOUNTS] [--seed 7] [--config acm_sync.yaml]

Generates the demo org (default 10,000 Salesforce accounts), takes it as the pipeline hands it
to scoring (tests/quality/quality_demo.py `pipeline_tables`: both CRMs through the ingestion's
mapping, the rows the quality suites let through, the account identity), and replays the
pipeline at the last `forecast.backtest.origins` quarter starts: per origin, what the open
pipeline then actually booked within the horizon, the calibrated forecast (win rates learnt only
from deals resolved before the origin) and the stage-default forecast, with WAPE (over accounts)
and bias for both; then the pooled figures."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("accounts", nargs="?", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--config", type=Path, default=None, help="default: acm_sync.yaml")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "tests" / "quality"))
    from quality_demo import pipeline_tables

    from acm_sync.config import load_config
    from acm_sync.sandbox.generator import generate_org
    from acm_sync.scoring import AccountBook, DealHistory, backtest

    config = load_config(args.config or REPO / "acm_sync.yaml")
    org = generate_org(args.accounts, seed=args.seed)
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
    result = backtest(history, org.now, config.forecast)
    seconds = time.perf_counter() - started

    horizon = config.forecast.backtest.horizon_quarters
    print(
        f"Backtest: demo org {args.accounts:,} accounts (seed {args.seed}), as of "
        f"{org.now:%Y-%m-%d}, {len(result.origins)} origins, horizon {horizon} quarter(s), "
        f"{book.currency}; {seconds:.1f}s\n"
    )
    table = result.origins.copy()
    table["origin"] = table["origin"].dt.strftime("%Y-%m-%d")
    print(
        f"{'origin':<12}{'open deals':>11}{'actual':>14}{'calibrated':>14}{'baseline':>14}"
        f"{'WAPE cal':>10}{'WAPE base':>10}{'bias cal':>10}{'bias base':>10}"
    )
    for row in table.itertuples(index=False):
        print(
            f"{row.origin:<12}{row.open_deals:>11,}{row.actual:>14,.0f}"
            f"{row.calibrated_forecast:>14,.0f}{row.baseline_forecast:>14,.0f}"
            f"{row.calibrated_wape:>10.3f}{row.baseline_wape:>10.3f}"
            f"{row.calibrated_bias:>+10.3f}{row.baseline_bias:>+10.3f}"
        )
    s = result.summary
    print(
        f"{'pooled':<12}{'':>11}{s['actual']:>14,.0f}{s['calibrated_forecast']:>14,.0f}"
        f"{s['baseline_forecast']:>14,.0f}{s['calibrated_wape']:>10.3f}{s['baseline_wape']:>10.3f}"
        f"{s['calibrated_bias']:>+10.3f}{s['baseline_bias']:>+10.3f}"
    )
    verdict = "beats" if s["calibrated_wape"] < s["baseline_wape"] else "does NOT beat"
    print(
        f"\ncalibrated {verdict} the stage-default baseline on WAPE "
        f"({s['calibrated_wape']:.3f} vs {s['baseline_wape']:.3f})."
    )
    print(
        "won by deals created after each origin (outside both forecasts): "
        f"{table['won_not_in_pipeline'].sum():,.0f}"
    )


if __name__ == "__main__":
    main()
