"""What the ingestion assets share: run config, sync settings, the per-run budget, metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from acm_sync.assets.budget import stop_for_budget
from acm_sync.config import AcmSyncConfig, ConfigError, ConnectionConfig, load_config
from acm_sync.connections import ConnectionResolutionError, run_connection
from acm_sync.connectors.common import PullResult
from acm_sync.connectors.policy import ApiBudget, BudgetExhausted
from acm_sync.connectors.progress import Progress, listeners, log_sink
from acm_sync.connectors.settings import ApiBudget as BudgetSettings
from acm_sync.connectors.settings import SyncSettings
from acm_sync.warehouse import Warehouse


class PullConfig(dg.Config):
    """Run config of an ingestion asset."""

    full_refresh: bool = Field(
        default=False, description="Re-read everything from the CRM (also `sync.full_refresh`)."
    )


class ConfigFileResource(dg.ConfigurableResource):
    """acm_sync.yaml (`$ACM_SYNC_CONFIG`, else ./acm_sync.yaml) as the run's connection sees
    it: its own overrides merged over the top-level settings. A bad file fails the step with
    the message naming the key."""

    config_path: str | None = None

    _tags: dict[str, str] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        self._tags = dict(run.tags) if run is not None else {}

    def load(self) -> AcmSyncConfig:
        config, connection = self._resolve()
        return config.for_connection(connection.name)

    def connection(self) -> ConnectionConfig:
        """The run's connection (its name, CRMs, credential prefix)."""
        return self._resolve()[1]

    def listed(self) -> bool:
        """Whether the run's connection is one listed in acm_sync.yaml (`connections:`), not
        the implicit single org."""
        return bool(self._resolve()[0].connections)

    def _resolve(self) -> tuple[AcmSyncConfig, ConnectionConfig]:
        try:
            config = load_config(self.config_path)
            name = run_connection(self._tags, config.connection_names())
            return config, config.connection(name)
        except (ConfigError, ConnectionResolutionError) as exc:
            raise dg.Failure(str(exc)) from None


class SyncSettingsResource(ConfigFileResource):
    """The `sync` section of acm_sync.yaml."""

    def get(self) -> SyncSettings:
        return self.load().sync


def not_used(crm: str, settings: ConfigFileResource) -> dict[str, Any] | None:
    """Materialization metadata of a pull the run's connection has no use for (its `crms`
    leave this CRM out): nothing is pulled, the steps after it still run. None: pull."""
    connection = settings.connection()
    if crm in connection.crms:
        return None
    return {
        "skipped": f"connection {connection.name} does not use {crm} (crms: "
        f"{', '.join(connection.crms)})",
        "rows_pulled": dg.MetadataValue.int(0),
        "api_calls": dg.MetadataValue.int(0),
    }


def run_budget(source: str, limits: BudgetSettings, wh: Warehouse, run_id: str) -> ApiBudget:
    """The calls this step may spend: the run's cap less what earlier steps of the run spent
    (they may have run in other processes), keeping the configured reserve of the vendor's
    daily allocation for people and write-back."""
    cap = limits.max_calls_per_run
    if cap is not None:
        cap = max(0, cap - wh.calls_this_run(run_id, source))
    return ApiBudget(source, max_calls=cap, reserve=limits.reserve_calls)


def metadata(result: PullResult, wh: Warehouse, table: str) -> dict[str, Any]:
    """Materialization metadata every ingestion asset reports."""
    rows_here = (
        wh.count(table, "WHERE source = ?", [result.source])
        if table != "opportunity_stage_history"
        else wh.count(
            table,
            "WHERE opportunity_id LIKE ?",
            ["sf:%" if result.source == "salesforce" else "hs:%"],
        )
    )
    meta: dict[str, Any] = {
        "object": result.object,
        "mode": result.mode,
        "strategy": result.strategy,
        "rows_pulled": dg.MetadataValue.int(result.rows_pulled),
        "rows_deleted": dg.MetadataValue.int(result.rows_deleted),
        "rows_merged": dg.MetadataValue.int(result.rows_merged),
        "rows_vanished": dg.MetadataValue.int(result.rows_vanished),
        "api_calls": dg.MetadataValue.int(result.api_calls),
        "retries": dg.MetadataValue.int(result.retries),
        "cursor": result.cursor.isoformat() if result.cursor else "",
        "duration_s": dg.MetadataValue.float(round(result.seconds, 3)),
        "complete": result.complete,
        "dagster/row_count": dg.MetadataValue.int(rows_here),
        "warehouse_table": table,
    }
    if result.history_rows:
        meta["history_rows"] = dg.MetadataValue.int(result.history_rows)
    if result.stopped:
        meta["stopped"] = result.stopped
    if result.notes:
        meta["notes"] = "; ".join(result.notes)
    if result.preview is not None and len(result.preview):
        meta["preview"] = dg.MetadataValue.md(result.preview.to_markdown(index=False))
    return meta


PROGRESS_EVERY_SECONDS = 10.0  # one progress line per pull at most this often


def pull_progress(context: dg.AssetExecutionContext, what: str) -> Progress:
    """A pull's progress: a log line per page batch (throttled), and every page to the
    process's listeners (the CLI's progress bar)."""
    return Progress(
        what,
        sink=log_sink(context.log.info),
        every_seconds=PROGRESS_EVERY_SECONDS,
        listeners=listeners(),
    )


def log_result(context: dg.AssetExecutionContext, result: PullResult) -> None:
    line = (
        f"{result.source} {result.object}: {result.mode}/{result.strategy}, "
        f"{result.rows_pulled} rows ({result.rows_deleted} deleted, {result.rows_merged} merged), "
        f"{result.api_calls} calls, cursor {result.cursor}"
    )
    if result.complete:
        context.log.info(line)
    else:
        context.log.warning(f"{line} — stopped early ({result.stopped}); the next run resumes")


def run_pull(
    context: dg.AssetExecutionContext,
    wh: Warehouse,
    client: Any,
    pull: Callable[[], PullResult],
    *,
    source: str,
    step: str,
    table: str,
) -> PullResult | None:
    """A pull asset's pull: its API calls recorded under `step` whatever happens, the result
    logged; None when the API budget stopped it (a clean stop, reported)."""
    try:
        result = pull()
    except BudgetExhausted as exc:
        stop_for_budget(context, exc)
        return None
    finally:
        wh.record_calls(context.run.run_id, source, step, client.calls)
    log_result(context, result)
    if not result.complete:  # what it pulled is committed; the next run resumes there
        stop = BudgetExhausted(source, result.stopped or "stopped early")
        stop_for_budget(context, stop, metadata=metadata(result, wh, table))
        return None
    return result
