"""The jobs of the code location.

    sync          the regular sync: pull → validate → score → plan → write back (scheduled)
    full_refresh  the same graph, pulling both CRMs from scratch (scheduled nightly)
    plan          the dry run: everything in sync but `writeback_apply` (the plan, no writes)
    apply_plan    writeback_apply for one approved plan id (run config), re-checked first
    ingest        the pulls only (incremental; the first run is a full pull)
    validate      quality only (defined with the quality assets)

Selections are by group (and the one excluded asset by a key expression), so they resolve to
whatever the code location holds: the write-back group joins `sync` the moment it is defined.

The pipeline jobs run in one process: their steps are short and mostly wait on the CRMs' APIs
and the single-writer DuckDB file, and a process per step costs about a minute of start-up.
Many orgs on several workers (README "Running many orgs"): with ACM_SYNC_EXECUTOR=celery, sync
and full_refresh hand each step to a Celery worker instead (dagster-celery, broker and settings
from ACM_CELERY_BROKER_URL / ACM_CELERY_BACKEND_URL, the same as deploy/celery/celery.yaml that
the workers start with).
"""

import os
from typing import Any

import dagster as dg

from acm_sync.assets.hubspot import hubspot_assets
from acm_sync.assets.salesforce import salesforce_assets

PULL_GROUPS = ("salesforce", "hubspot")
PIPELINE_GROUPS = (*PULL_GROUPS, "quality", "scoring", "writeback")
WRITEBACK_APPLY = "writeback_apply"


def pull_asset_keys() -> list[dg.AssetKey]:
    return [key for asset in [*salesforce_assets, *hubspot_assets] for key in asset.keys]


def _op_names() -> list[str]:
    return [asset.op.name for asset in [*salesforce_assets, *hubspot_assets]]


# The only checks on the pull assets are their freshness checks (assets/alerts.py). They are
# evaluated by the freshness sensor, not inside a pipeline run: there, right after the pull, they
# would pass trivially, and being blocking they would hold every quality step back until *all*
# pulls had finished (one failed pull would then skip the validation of the others).
_NOT_IN_RUNS = dg.AssetSelection.checks_for_assets(*pull_asset_keys())

INGESTION = dg.AssetSelection.groups(*PULL_GROUPS) - _NOT_IN_RUNS
PIPELINE = dg.AssetSelection.groups(*PIPELINE_GROUPS) - _NOT_IN_RUNS
# A key expression, not AssetSelection.assets(): it selects nothing rather than failing while
# the write-back assets are not defined.
DRY_RUN = PIPELINE - dg.AssetSelection.from_string(f"key:{WRITEBACK_APPLY}")

EXECUTOR_ENV = "ACM_SYNC_EXECUTOR"
# The Celery app's settings, as the workers get them from deploy/celery/celery.yaml (a test keeps
# the two equal). A step is acknowledged when it ends, not when it starts: a worker killed
# mid-step (OOM, SIGKILL, a lost machine) leaves its message to be redelivered to another worker
# once the visibility timeout (longer than any step) has passed — every step is idempotent, so
# running it again converges.
CELERY_EXECUTOR_CONFIG: dict[str, Any] = {
    "broker": {"env": "ACM_CELERY_BROKER_URL"},
    "backend": {"env": "ACM_CELERY_BACKEND_URL"},
    "config_source": {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {
            "visibility_timeout": 3600,
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
        },
        "result_expires": 86400,
    },
}


def pipeline_executor() -> dg.ExecutorDefinition:
    """The executor of sync and full_refresh: in one process, unless ACM_SYNC_EXECUTOR=celery.

    dagster_celery is imported only then: the single-org default keeps its start-up time.
    """
    choice = os.environ.get(EXECUTOR_ENV, "in_process").strip().lower()
    if choice in ("", "in_process"):
        return dg.in_process_executor
    if choice == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(CELERY_EXECUTOR_CONFIG, name="celery")
    raise ValueError(f"{EXECUTOR_ENV}={choice!r}: expected in_process or celery")


FULL_REFRESH_CONFIG = {"ops": {name: {"config": {"full_refresh": True}} for name in _op_names()}}

sync_job = dg.define_asset_job(
    "sync",
    selection=PIPELINE,
    description="The regular sync: pull both CRMs incrementally, validate (the quality gates "
    "block write-back), score, plan the write-back and write the changed owned fields.",
    executor_def=pipeline_executor(),
)

full_refresh_job = dg.define_asset_job(
    "full_refresh",
    selection=PIPELINE,
    description="The sync with full pulls: re-read both CRMs from scratch (rows they no longer "
    "return are flagged is_deleted), then validate, score, plan and write as sync does.",
    config=FULL_REFRESH_CONFIG,
    executor_def=pipeline_executor(),
)

plan_job = dg.define_asset_job(
    "plan",
    selection=DRY_RUN,
    description="Dry run: everything sync does except writing — pull, validate, score and "
    "build the write-back plan (what would change, field by field).",
    executor_def=dg.in_process_executor,
)

ingest_job = dg.define_asset_job(
    "ingest",
    selection=INGESTION,
    description="Pull both CRMs incrementally (the first run is a full pull).",
    executor_def=dg.in_process_executor,
)

apply_plan_job = dg.define_asset_job(
    "apply_plan",
    selection=dg.AssetSelection.from_string(f"key:{WRITEBACK_APPLY}"),
    description="Approve a plan: write exactly the cells of the plan whose id is given in the "
    "run config (ops: writeback_apply: config: plan_id), re-checked against the CRM first "
    "(cells that moved since are planned again, not written). Same as `acm-sync apply`.",
    executor_def=dg.in_process_executor,
)

pipeline_jobs = [sync_job, full_refresh_job, plan_job, ingest_job, apply_plan_job]
