"""A spent API budget is an expected stop, not a failure — the same one for every step.

Every asset that calls a CRM (the pulls, `quality_stage_catalog`, `writeback_target`,
`writeback_apply`) is declared with an optional output and, when the run's budget or the vendor's
daily allocation runs out, calls `stop_for_budget` and yields nothing:

- a warning in the step's log naming the CRM and the reason;
- what the step did before the stop, as an asset observation (the asset is not materialized:
  it is not up to date);
- the run tagged `acm_sync/stopped: budget` (+ the steps and reasons), which the
  `budget_stop_alert` sensor reports as "budget spent";
- the steps downstream skipped by Dagster (their input was never produced), the run a success;
- the next run resumes: pulls from their cursors and saved pages, write-back from its plan and
  journal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from acm_sync.connectors.policy import BudgetExhausted

STOPPED_TAG = "acm_sync/stopped"
STOPPED_STEPS_TAG = "acm_sync/stopped_steps"
STOPPED_REASON_TAG = "acm_sync/stopped_reason"
BUDGET = "budget"


def stop_for_budget(
    context: dg.AssetExecutionContext,
    exc: BudgetExhausted,
    *,
    metadata: Mapping[str, Any] | None = None,
    asset_keys: Sequence[dg.AssetKey] | None = None,
) -> None:
    """End this step as a clean stop for a spent API budget (the caller then yields nothing)."""
    step = context.op_def.name
    context.log.warning(
        f"{step}: stopped — {exc.vendor} API budget spent ({exc.reason}). The steps after it "
        "are skipped; the next run resumes from here."
    )
    keys = list(asset_keys) if asset_keys is not None else list(context.selected_asset_keys)
    for key in sorted(keys, key=lambda k: k.to_user_string()):
        context.log_event(
            dg.AssetObservation(
                asset_key=key,
                metadata={
                    "stopped": f"{exc.vendor}: API budget spent ({exc.reason})",
                    **(metadata or {}),
                },
            )
        )
    run = context.instance.get_run_by_id(context.run.run_id)
    tags = run.tags if run is not None else {}
    steps = [s for s in tags.get(STOPPED_STEPS_TAG, "").split(",") if s]
    reasons = [r for r in tags.get(STOPPED_REASON_TAG, "").split("; ") if r]
    reason = f"{exc.vendor}: {exc.reason}"
    context.instance.add_run_tags(
        context.run.run_id,
        {
            STOPPED_TAG: BUDGET,
            STOPPED_STEPS_TAG: ",".join(dict.fromkeys([*steps, step])),
            STOPPED_REASON_TAG: "; ".join(dict.fromkeys([*reasons, reason])),
        },
    )
