"""How fast scoring runs on a large org, and how much memory it takes.

    .venv/bin/python bench/bench_scoring.py [N_ACCOUNTS] [--seed 7]

A child process generates the demo org (default 100,000 Salesforce accounts ≈ 1M contacts, 470k
opportunities, 1.6M history rows), takes it as the pipeline hands it to scoring
(tests/quality/quality_demo.py `pipeline_tables`: both CRMs through the ingestion's mapping, the
rows quality lets through, the account identity) and hands them over as a pickle, so the
generator's own memory does not count. This process then loads the tables and times each scoring
step: the roll-up to unified accounts, the stage history index, tiers, health, the time-to-close
model + per-deal probabilities, forecast (with the run-rate), next actions. Peak memory is
ru_maxrss of this process (it includes the loaded input tables). Seconds are wall-clock; the CPU
seconds of this process are printed beside them, since on a shared, loaded machine the wall
clock measures the neighbours too.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(accounts: int, seed: int, out: Path) -> None:
    """Child process: generate, convert, pickle."""
    sys.path.insert(0, str(REPO / "tests" / "quality"))
    from quality_demo import pipeline_tables

    from acm_sync.sandbox.generator import generate_org

    org = generate_org(accounts, seed=seed)
    tables, identity = pipeline_tables(org)
    payload = {"now": org.now, "tables": tables, "identity": identity}
    with out.open("wb") as handle:
        pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("accounts", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--prepare-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_into:
        prepare(args.accounts, args.seed, args.prepare_into)
        return

    with tempfile.TemporaryDirectory() as scratch:
        tables_file = Path(scratch) / "canonical.pickle"
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                __file__,
                str(args.accounts),
                "--seed",
                str(args.seed),
                "--prepare-into",
                str(tables_file),
            ],
            check=True,
        )
        print(
            f"demo org generated and converted in {time.perf_counter() - started:.1f}s "
            "(child process, not counted)"
        )
        with tables_file.open("rb") as handle:
            loaded = pickle.load(handle)
    run(loaded["tables"], loaded["now"], loaded["identity"])


def run(tables: dict[str, Any], now: Any, identity: Any) -> None:
    from acm_sync.config import AcmSyncConfig, load_config
    from acm_sync.scoring import (
        AccountBook,
        DealHistory,
        forecast,
        learn_win_rates,
        next_actions,
        score_health,
        score_tiers,
        win_probabilities,
    )

    config = AcmSyncConfig(currency=load_config(REPO / "acm_sync.yaml").currency)
    for name, frame in tables.items():
        print(f"  {name:<28} {len(frame):>10,} rows")
    print(f"input tables loaded: peak {peak_mb():,.0f} MB\n")
    print(f"{'step':<34}{'seconds':>9}{'CPU s':>8}{'peak MB':>10}")
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def step(name: str, work: Callable[[], T]) -> T:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = work()
        timings[name] = time.perf_counter() - started
        cpu[name] = time.process_time() - cpu_started
        print(f"{name:<34}{timings[name]:>9.2f}{cpu[name]:>8.2f}{peak_mb():>10,.0f}")
        return result

    book = step(
        "roll-up to unified accounts",
        lambda: AccountBook.from_canonical(
            tables["accounts"],
            tables["contacts"],
            tables["opportunities"],
            identity,
            currency=config.currency,
        ),
    )
    history = step(
        "stage history index",
        lambda: DealHistory.build(book, tables["opportunity_stage_history"]),
    )
    tiers = step("tiers", lambda: score_tiers(book, now, config.tiers))
    health = step("health", lambda: score_health(book, now, config.health))
    rates = step(
        "time-to-close model (learn)", lambda: learn_win_rates(history, now, config.forecast)
    )
    probabilities = step(
        "win probabilities + stale flags",
        lambda: win_probabilities(history, now, config.forecast, rates),
    )
    outlook = step("forecast", lambda: forecast(book, probabilities, now, config.forecast))
    step(
        "next actions",
        lambda: next_actions(tiers, health, probabilities, now, config.next_action),
    )
    core = sum(v for k, v in timings.items() if k != "next actions")
    print(f"\n{'tiers + health + forecast (all above but next actions)':<56}{core:>7.2f} s")
    print(f"{'everything':<56}{sum(timings.values()):>7.2f} s")
    print(f"{'everything, CPU time of this process':<56}{sum(cpu.values()):>7.2f} s")
    print(f"{'peak memory (process, incl. input tables)':<56}{peak_mb():>7,.0f} MB")
    print(
        f"\n{book.size:,} unified accounts, {len(probabilities):,} open deals scored, "
        f"forecast total {outlook.totals.iloc[-1]['forecast_amount']:,.0f} {book.currency}"
    )


if __name__ == "__main__":
    main()
