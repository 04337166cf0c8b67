"""How fast the quality suites validate a large org, and how much memory they take.

    .venv/bin/python bench/bench_quality.py [N_ACCOUNTS] [--seed 7] [--docs]

A child process generates the demo org (default 100,000 Salesforce accounts: ≈1M Salesforce
contacts and 470k opportunities, plus the HubSpot portal), maps both CRMs to the canonical
tables through the ingestion's own mapping (tests/quality/quality_demo.py) and hands them over
as a pickle, so generating does not count. This process then loads the tables and validates
each entity with its suite from expectations/ (GX, COMPLETE result format): seconds and peak MB
per suite, rows, failures, quarantined. `--docs` also times building the Data Docs.

Peak MB is ru_maxrss of this process after each step (it includes the loaded tables).
"""

from __future__ import annotations

import argparse
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(accounts: int, seed: int, out: Path) -> None:
    """Child process: generate, map to canonical, pickle with the stage catalog."""
    sys.path.insert(0, str(REPO / "tests" / "quality"))
    import pandas as pd
    from quality_demo import canonical_tables, stage_catalog

    from acm_sync.sandbox.generator import generate_org

    org = generate_org(accounts, seed=seed)
    tables = canonical_tables(org)
    payload = {"tables": tables, "stages": stage_catalog(org), "now": pd.Timestamp(org.now)}
    with out.open("wb") as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("accounts", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--docs", action="store_true", help="also build GX Data Docs")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        prepare(args.accounts, args.seed, args.child)
        return

    with tempfile.TemporaryDirectory() as tmp:
        pickled = Path(tmp) / "org.pkl"
        started = time.perf_counter()
        child = [sys.executable, __file__, str(args.accounts), "--seed", str(args.seed)]
        subprocess.run([*child, "--child", str(pickled)], check=True)
        print(f"generate + map (child process): {time.perf_counter() - started:.1f} s")
        with pickled.open("rb") as f:
            payload: dict[str, Any] = pickle.load(f)
        run(payload, docs_dir=Path(tmp) / "docs" if args.docs else None)


def run(payload: dict[str, Any], *, docs_dir: Path | None) -> None:
    from acm_sync.config import load_config
    from acm_sync.quality import derive
    from acm_sync.quality.derive import RunContext
    from acm_sync.quality.engine import GxEngine
    from acm_sync.quality.suites import ENTITIES, load_suites
    from acm_sync.quality.validate import validate_entity

    tables = payload["tables"]
    print(f"loaded tables: {peak_mb():,.0f} MB peak")
    started = time.perf_counter()
    suites = load_suites(REPO / "expectations", {e: derive.columns(e) for e in ENTITIES})
    currency = load_config(REPO / "acm_sync.yaml").currency  # the demo org's rates
    context = RunContext.from_tables(
        tables, as_of=payload["now"], stages=payload["stages"], currency=currency
    )
    engine = GxEngine(suites, docs_dir=docs_dir)
    print(f"suites + GX context: {time.perf_counter() - started:.2f} s")
    header = (
        f"{'suite':<27} {'rules':>5} {'rows':>10} {'failures':>9} {'held':>8} {'s':>7} "
        f"{'peak MB':>8}"
    )
    print(header)
    print("-" * len(header))
    total = 0.0
    for entity in ENTITIES:
        t = time.perf_counter()
        report = validate_entity(engine, entity, tables[entity], context, run_id="bench")
        seconds = time.perf_counter() - t
        total += seconds
        print(
            f"{entity:<27} {len(suites[entity].rules):>5} {report.pulled:>10,} "
            f"{len(report.issues):>9,} {len(report.quarantined):>8,} {seconds:>7.1f} "
            f"{peak_mb():>8,.0f}"
        )
    print(f"{'all suites':<27} {'':>5} {'':>10} {'':>9} {'':>8} {total:>7.1f} {peak_mb():>8,.0f}")
    if docs_dir is not None:
        t = time.perf_counter()
        url = engine.build_docs()
        print(f"data docs: {time.perf_counter() - t:.1f} s → {url}")


if __name__ == "__main__":
    main()
