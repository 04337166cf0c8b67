"""Runs to converge under a tight per-run API budget: a fresh sandbox org, the whole pipeline
(pull → quality → scoring → write-back) run again and again with `budget.max_calls_per_run`
capped on both CRMs, until a run gets through every step without a stop.

    .venv/bin/python bench/bench_budget.py                    # 300 accounts, cap 15 calls a run
    .venv/bin/python bench/bench_budget.py --cap 40 --accounts 500

Per run it prints whether Dagster called it a success, the steps that failed (a traceback) or
were skipped, the pulls that stopped early, the write-back's written count and the calls each
CRM answered (the sandbox's own call log). At the end an uncapped dry run
(`writeback.dry_run: true`) must find nothing left to write: converged means the CRMs hold every
value.

Measured (300 accounts, seed 5, cap 15 calls a run on each CRM; the budget runs out in the first
run's HubSpot pulls), before the clean budget stops (a495b94) → after:

    lookback 300 s (default)   23 runs, 22 of them failed with a traceback → 19 runs, 0 failed
    lookback 0                  7 runs,  6 of them failed with a traceback →  7 runs, 0 failed

Both converge (0 records left to write): the stops are now clean, not faster. With the default
lookback every run re-reads our own writes of the last 5 minutes, which costs most of a 15-call
cap, so convergence waits on the clock either way.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / p) for p in ("tests", "tests/writeback")]

from wb_pipeline import Pipeline  # noqa: E402

from acm_sync.sandbox.process import SandboxProcess  # noqa: E402
from sandbox_admin import Admin  # noqa: E402


def _summary(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    skipped = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"]
    stopped, written = [], None
    for event in result.all_events:
        if event.event_type_value == "ASSET_OBSERVATION":  # a clean stop reports this way
            observation = event.asset_observation_data.asset_observation
            if "stopped" in observation.metadata:
                stopped.append(event.step_key)
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        assert mat is not None
        meta = {k: v.value for k, v in mat.metadata.items()}
        key = mat.asset_key.to_user_string()
        if meta.get("complete") is False:  # a pull that stopped early yet materialized
            stopped.append(key)
        if key == "writeback_apply":
            written = meta.get("written")
    return {
        "success": result.success,
        "failed": failed,
        "skipped": skipped,
        "stopped": sorted(set(stopped)),
        "written": written,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--cap", type=int, default=15, help="max_calls_per_run on both CRMs")
    parser.add_argument("--max-runs", type=int, default=40)
    parser.add_argument(
        "--lookback",
        type=int,
        default=None,
        help="sync.*.lookback_seconds (default: the config's 300 s, which re-reads our own "
        "writes for 5 minutes, so convergence then also depends on the clock)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="acm-budget-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        with SandboxProcess(work / "sandbox", accounts=args.accounts, seed=args.seed) as sandbox:
            sf = Admin(sandbox.salesforce_instance_url, verify=sandbox.salesforce_ca_bundle)
            hs = Admin(sandbox.hubspot_base_url)
            seconds = time.perf_counter() - started
            print(f"sandbox seeded: {args.accounts} accounts ({seconds:.0f}s)")
            (work / "run").mkdir()
            pipeline = Pipeline(sandbox, work / "run", {})
            budget: dict[str, Any] = {"budget": {"max_calls_per_run": args.cap}}
            if args.lookback is not None:
                budget["lookback_seconds"] = args.lookback
            capped = {"sync": {"salesforce": budget, "hubspot": budget}}
            converged_at = None
            failed_runs = 0
            for n in range(1, args.max_runs + 1):
                sf.reset_calls()
                hs.reset_calls()
                t0 = time.perf_counter()
                result = pipeline.run(raise_on_error=False, **capped)
                s = _summary(result)
                failed_runs += bool(s["failed"]) or not s["success"]
                print(
                    f"run {n:2d}: success={s['success']} failed={s['failed'] or '-'} "
                    f"skipped={len(s['skipped'])} stopped={s['stopped'] or '-'} "
                    f"written={s['written']} calls sf={sf.calls()['total']} "
                    f"hs={hs.calls()['total']} ({time.perf_counter() - t0:.0f}s)",
                    flush=True,
                )
                if s["success"] and not s["failed"] and not s["skipped"] and not s["stopped"]:
                    converged_at = n
                    break
            # Uncapped, writing nothing (dry run), scoring as of the same day: what is left?
            check = pipeline.run(raise_on_error=False, writeback={"dry_run": True})
            left = None
            for event in check.get_asset_materialization_events():
                mat = event.materialization
                if mat is not None and mat.asset_key.to_user_string() == "writeback_plan":
                    left = mat.metadata["records_to_write"].value
            print(
                f"cap {args.cap} calls/run/CRM, lookback {args.lookback}: "
                f"converged after {converged_at} runs "
                f"({failed_runs} runs failed with a traceback); uncapped plan afterwards: "
                f"{left} records left to write"
            )


if __name__ == "__main__":
    main()
