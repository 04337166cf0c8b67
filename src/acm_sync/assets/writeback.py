# No `from __future__ import annotations`: Dagster resolves config and resource classes from
# the asset functions' real annotations.
"""Write-back assets: the owned fields land in both CRMs. Thin glue over `acm_sync.writeback`.

    writeback_target ─┐
    account_scores ───┼─▶ writeback_plan ─▶ writeback_apply
    quality_*  ───────┘

- `writeback_target`: the owned fields exist (Salesforce describe; HubSpot properties, created
  in group `acm_sync` when missing, unless dry-run).
- `writeback_plan`: desired − live − manual edits, per record and field; counts and a
  before → after preview in the metadata; kept in `writeback_plan` (`acm-sync plan` exports it).
- `writeback_apply`: only when the quality gates are open and dry-run is off for that
  CRM; batches, dead letters, the ledger, API calls against the run's budget.
"""

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import pandas as pd
from pydantic import Field

from acm_sync.assets.budget import stop_for_budget
from acm_sync.assets.ingest import ConfigFileResource, run_budget
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.policy import BudgetExhausted
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.quality.store import QualityStore
from acm_sync.warehouse import Warehouse, WarehouseResource
from acm_sync.writeback.apply import HubSpotWriter, SalesforceWriter, Writer, apply_plan
from acm_sync.writeback.approval import PlanNotApplicable, apply_approved
from acm_sync.writeback.plan import SENDING, SKIP_GIVEN_UP, SKIP_MANUAL
from acm_sync.writeback.preview import preview_frame, shown, with_names_and_links
from acm_sync.writeback.run import CRMS, build_plan
from acm_sync.writeback.settings import WritebackSettings
from acm_sync.writeback.store import WritebackStore
from acm_sync.writeback.target import (
    check_salesforce_fields,
    ensure_hubspot_properties,
    recent_target_check,
    record_target_check,
    target_fingerprint,
)

GROUP = "writeback"
OWNERS = ["team:revops"]
TARGET_TABLE = "writeback_target"
UPSTREAM = [
    dg.AssetKey("account_scores"),
    dg.AssetKey("quality_issue_texts"),
    dg.AssetKey("writeback_target"),
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ApplyConfig(dg.Config):
    """Run config of writeback_apply."""

    plan_id: str | None = Field(
        default=None,
        description="Apply exactly this plan (the id of the run that made it, as `acm-sync "
        "plan` shows): its cells still holding the value planned are written, moved ones are "
        "planned again. Empty: the latest plan (unless writeback.require_approval).",
    )


class WritebackSettingsResource(ConfigFileResource):
    """The `writeback` section of acm_sync.yaml."""

    def get(self) -> WritebackSettings:
        return self.load().writeback


def _is_local(url: str | None) -> bool:
    return bool(url) and (urlsplit(url if "//" in str(url) else f"//{url}").hostname in LOOPBACK)


def local_crms(salesforce: SalesforceResource, hubspot: HubSpotResource) -> set[str]:
    """The CRMs that are the local sandbox (dry_run: auto writes there, and only there)."""
    local = set()
    sf_urls = [salesforce.instance_url, salesforce.login_url]
    if any(_is_local(u) for u in sf_urls if u):
        local.add("salesforce")
    if _is_local(hubspot.base_url):
        local.add("hubspot")
    return local


def dry_run_crms(
    settings: WritebackSettings, salesforce: SalesforceResource, hubspot: HubSpotResource
) -> set[str]:
    local = local_crms(salesforce, hubspot)
    return {crm for crm in CRMS if settings.is_dry_run(sandbox=crm in local)}


def _table(frame: pd.DataFrame) -> dg.MetadataValue:
    """A table in the Dagster UI (cells are text, so a `|` in a value stays in its column)."""
    schema = dg.TableSchema(columns=[dg.TableColumn(str(c), "string") for c in frame.columns])
    records = [
        dg.TableRecord({str(k): str(v) for k, v in row.items()}) for row in frame.to_dict("records")
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def _md_table(frame: pd.DataFrame, rows: int = 50) -> str:
    if frame.empty:
        return "(none)"
    return frame.head(rows).to_markdown(index=False)


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"salesforce", "hubspot"},
    description="The owned fields exist in both CRMs: Salesforce describe (deploy salesforce/ "
    "when missing), HubSpot properties in group acm_sync (created when missing, unless dry-run).",
    output_required=False,  # not produced when the API budget stops the step
)
def writeback_target(
    context: dg.AssetExecutionContext,
    salesforce: SalesforceResource,
    hubspot: HubSpotResource,
    warehouse: WarehouseResource,
    writeback_settings: WritebackSettingsResource,
) -> Iterator[dg.MaterializeResult]:
    wh, settings = warehouse.get(), writeback_settings.get()
    sync = _sync_settings(writeback_settings)
    run_id = context.run.run_id
    dry = dry_run_crms(settings, salesforce, hubspot)
    fingerprint = target_fingerprint(dry)
    hours = min(sync.salesforce.schema_check_hours, sync.hubspot.schema_check_hours)
    checked_at = recent_target_check(wh, fingerprint, max_age_hours=hours)
    if checked_at is not None:  # every owned field was there at the last check: no call
        context.log.info(f"owned fields checked at {checked_at:%Y-%m-%d %H:%M} UTC: all there")
        yield dg.MaterializeResult(
            metadata={
                "ready": dg.MetadataValue.bool(True),
                "checked_at": dg.MetadataValue.text(checked_at.isoformat()),
                "note": dg.MetadataValue.text(
                    f"not re-checked: the check passed less than {hours:g} h ago "
                    "(schema_check_hours) for the same owned fields"
                ),
                "api_calls": dg.MetadataValue.int(0),
            }
        )
        return
    crms = writeback_settings.connection().crms  # the CRMs of the run's connection
    sf = hs = None
    try:
        if "salesforce" in crms:
            sf = salesforce.connect(
                budget=run_budget("salesforce", sync.salesforce.budget, wh, run_id),
                retry=sync.salesforce.retry,
            )
    except BudgetExhausted as exc:  # the login itself refused for the daily limit
        stop_for_budget(context, exc)
        return
    if "hubspot" in crms:
        hs = hubspot.connect(
            budget=run_budget("hubspot", sync.hubspot.budget, wh, run_id), settings=sync.hubspot
        )
    try:
        reports = [
            *([check_salesforce_fields(sf)] if sf is not None else []),
            *(
                [ensure_hubspot_properties(hs, create="hubspot" not in dry)]
                if hs is not None
                else []
            ),
        ]
    except BudgetExhausted as exc:
        stop_for_budget(context, exc)
        return
    finally:
        if sf is not None:
            wh.record_calls(run_id, "salesforce", "writeback_target", sf.calls)
        if hs is not None:
            wh.record_calls(run_id, "hubspot", "writeback_target", hs.calls)
    status = pd.DataFrame(
        [
            {"crm": r.crm, "object": o.object, "ok": o.ok, "message": r.message()}
            for r in reports
            for o in r.objects
        ]
    )
    _replace_all(wh, TARGET_TABLE, status)
    record_target_check(wh, fingerprint, reports)
    for report in reports:
        (context.log.info if report.ok else context.log.warning)(report.message())
    yield dg.MaterializeResult(
        metadata={
            "ready": dg.MetadataValue.bool(all(r.ok for r in reports)),
            "objects": dg.MetadataValue.md(_md_table(status.drop(columns=["message"]))),
            "created": dg.MetadataValue.text(
                ", ".join(c for r in reports for c in r.created) or "(none)"
            ),
            "missing": dg.MetadataValue.text(
                ", ".join(m for r in reports for m in r.missing) or "(none)"
            ),
            "fix": dg.MetadataValue.text("\n".join(r.fix() for r in reports if not r.ok) or "-"),
            "api_calls": dg.MetadataValue.int(sum(r.api_calls for r in reports)),
        }
    )


def _sync_settings(resource: ConfigFileResource) -> Any:
    return resource.load().sync


def _replace_all(wh: Warehouse, table: str, frame: pd.DataFrame) -> None:
    with wh.connect() as con:
        con.register("_rows", frame)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _rows")
        con.unregister("_rows")


def _not_ready(wh: Warehouse) -> set[tuple[str, str]]:
    if not wh.has_table(TARGET_TABLE):
        return set()
    status = wh.query(f"SELECT crm, object FROM {TARGET_TABLE} WHERE NOT ok")
    return {(str(c), str(o)) for c, o in zip(status["crm"], status["object"], strict=True)}


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"pandas", "duckdb"},
    deps=UPSTREAM,
    description="Desired owned values (scores, win probabilities, data issues) − the live CRM "
    "values pulled this run − manual edits: only real changes. Kept in `writeback_plan`; "
    "`acm-sync plan` exports it as CSV.",
)
def writeback_plan(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    writeback_settings: WritebackSettingsResource,
) -> dg.MaterializeResult:
    started = time.perf_counter()
    wh, settings = warehouse.get(), writeback_settings.get()
    summary = build_plan(wh, settings)
    plan = summary.plan
    blocked = _not_ready(wh)
    if blocked:
        keep = [(c, o) not in blocked for c, o in zip(plan["crm"], plan["object"], strict=True)]
        plan = plan[keep]
        summary.plan = plan
        context.log.warning(
            "not planned (owned fields missing, see writeback_target): "
            + ", ".join(f"{c} {o}" for c, o in sorted(blocked))
        )
    store = WritebackStore(wh)
    store.save_plan(context.run.run_id, plan)
    counts = summary.counts()
    sending = plan[plan["action"].isin(SENDING)]
    preview = preview_frame(plan, settings.preview_rows, wh)
    manual = plan[plan["action"].isin([SKIP_MANUAL, "overwrite_manual"])]
    for line in summary.invalid:
        context.log.warning("not planned (invalid value): %s", line)
    return dg.MaterializeResult(
        metadata={
            "records_to_write": dg.MetadataValue.int(summary.records_to_write),
            "fields_to_write": dg.MetadataValue.int(len(sending)),
            "manual_edits": dg.MetadataValue.int(len(manual)),
            "given_up": dg.MetadataValue.int(int((plan["action"] == SKIP_GIVEN_UP).sum())),
            "by_object": dg.MetadataValue.md(_md_table(counts)),
            "by_field": dg.MetadataValue.md(_md_table(summary.by_field())),
            "preview": _table(preview),
            "manual_edits_preview": _table(
                with_names_and_links(
                    wh,
                    manual[
                        [
                            "crm",
                            "object",
                            "record_id",
                            "field",
                            "last_written",
                            "before",
                            "after",
                            "action",
                        ]
                    ].head(20),
                ).map(shown)
            ),
            "invalid_values": dg.MetadataValue.int(len(summary.invalid)),
            "seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 2)),
        }
    )


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"salesforce", "hubspot"},
    deps=[dg.AssetKey("writeback_plan")],
    description="Sends the plan: Salesforce sObject Collections (≤ 200) or Bulk API 2.0, "
    "HubSpot batch update (≤ 100). Only when the quality gates passed and dry-run is "
    "off; rejected rows go to `writeback_dead_letter` and are retried on later runs.",
    output_required=False,  # not produced when the API budget stops the step
)
def writeback_apply(
    context: dg.AssetExecutionContext,
    config: ApplyConfig,
    salesforce: SalesforceResource,
    hubspot: HubSpotResource,
    warehouse: WarehouseResource,
    writeback_settings: WritebackSettingsResource,
) -> Iterator[dg.MaterializeResult]:
    wh, settings = warehouse.get(), writeback_settings.get()
    run_id = context.run.run_id
    is_open, why = QualityStore(wh).gates_open()
    if not is_open:
        raise dg.Failure(
            f"write-back blocked by the quality gates: {why}. Nothing was written.",
            metadata={"written": dg.MetadataValue.int(0)},
        )
    store = WritebackStore(wh)
    latest = store.latest_plan_run()
    if latest is None:
        raise dg.Failure("no write plan yet: materialize writeback_plan first")
    plan_run, planned_at = latest
    if config.plan_id is None and settings.require_approval:
        context.log.warning(
            f"writeback.require_approval: plan {plan_run} awaits approval — nothing written. "
            f"Review it (`acm-sync plan --run-id {plan_run}`), then `acm-sync apply --plan-id "
            f"{plan_run}` or launch job apply_plan with plan_id: {plan_run}"
        )
        yield dg.MaterializeResult(  # (a generator: a returned value would be lost)
            metadata={
                "awaiting_approval": dg.MetadataValue.text(plan_run),
                "written": dg.MetadataValue.int(0),
            }
        )
        return
    if config.plan_id is not None:
        if config.plan_id not in store.plan_ids():
            raise dg.Failure(f"no write plan {config.plan_id}: `acm-sync plan` shows the latest")
        plan_run, planned_at = config.plan_id, store.planned_at(config.plan_id)
    plan = store.plan(plan_run)
    dry = dry_run_crms(settings, salesforce, hubspot)
    sync = _sync_settings(writeback_settings)
    writers: dict[str, Writer] = {}
    budgets: dict[str, Any] = {}
    sending = plan[plan["action"].isin(SENDING)]
    needs = set(sending["crm"]) | {b.crm for b in store.interrupted()}
    if "salesforce" in needs and "salesforce" not in dry:
        budgets["salesforce"] = run_budget("salesforce", sync.salesforce.budget, wh, run_id)
        try:
            sf_client = salesforce.connect(
                budget=budgets["salesforce"], retry=sync.salesforce.retry
            )
        except BudgetExhausted as exc:  # the login itself refused for the daily limit
            stop_for_budget(context, exc)
            return
        writers["salesforce"] = SalesforceWriter(
            sf_client,
            store,
            plan_run,
            bulk_threshold=settings.salesforce.bulk_threshold,
            poll_seconds=settings.salesforce.bulk_poll_seconds,
        )
    if "hubspot" in needs and "hubspot" not in dry:
        budgets["hubspot"] = run_budget("hubspot", sync.hubspot.budget, wh, run_id)
        writers["hubspot"] = HubSpotWriter(
            hubspot.connect(budget=budgets["hubspot"], settings=sync.hubspot), store, plan_run
        )
    for crm in sorted(dry & needs):
        context.log.warning(
            f"{crm}: dry-run — planned changes not sent (set writeback.dry_run: false in "
            "acm_sync.yaml to write to this CRM)"
        )
    done: list[Any] = []

    def finished(o: Any) -> None:
        done.append(o)
        context.log.info(
            f"{o.crm} {o.object}: {o.written} written, {o.rejected} rejected of "
            f"{o.records} ({o.method}, {o.write_calls} calls, {o.seconds}s)"
        )

    try:
        approved = None
        if config.plan_id is not None:
            try:
                approved = apply_approved(store, plan_run, writers)
            except PlanNotApplicable as exc:
                raise dg.Failure(str(exc)) from None
            outcomes = approved.outcomes
        else:
            outcomes = apply_plan(
                plan, writers, planned_at=pd.Timestamp(planned_at), on_object=finished
            )
    except BudgetExhausted as exc:
        # What was written is ledgered batch by batch; the rest stays planned for the next run.
        stop_for_budget(
            context,
            exc,
            metadata={
                "written_before_the_stop": dg.MetadataValue.int(sum(o.written for o in done)),
                "objects_done": ", ".join(f"{o.crm} {o.object}" for o in done) or "(none)",
            },
        )
        return
    finally:
        for crm, writer in writers.items():
            wh.record_calls(run_id, crm, "writeback_apply", writer.calls)
    rows = pd.DataFrame([o.__dict__ for o in outcomes]).drop(columns=["errors"], errors="ignore")
    errors = {code: n for o in outcomes for code, n in o.errors.items()}
    written = sum(o.written for o in outcomes)
    rejected = sum(o.rejected for o in outcomes)
    attempted = sum(o.records for o in outcomes)
    if written + rejected != attempted:
        raise dg.Failure(
            f"write-back accounting broken: {attempted} records attempted, {written} written, "
            f"{rejected} dead-lettered"
        )
    planned = int(sending[["crm", "object", "record_id"]].drop_duplicates().shape[0])
    budget_md = {
        f"api_calls_{crm}": dg.MetadataValue.text(
            f"{writers[crm].calls} used"
            + (f", {b.left} left of the run's budget" if b.left is not None else "")
        )
        for crm, b in budgets.items()
    }
    yield dg.MaterializeResult(
        metadata={
            "planned": dg.MetadataValue.int(planned),
            "written": dg.MetadataValue.int(written),
            "rejected": dg.MetadataValue.int(rejected),
            "skipped_manual": dg.MetadataValue.int(int((plan["action"] == SKIP_MANUAL).sum())),
            "skipped_dry_run": dg.MetadataValue.int(
                int(sending[sending["crm"].isin(dry)]["record_id"].nunique())
            ),
            "dry_run": dg.MetadataValue.text(", ".join(sorted(dry)) or "off"),
            "write_calls": dg.MetadataValue.int(sum(o.write_calls for o in outcomes)),
            "by_object": dg.MetadataValue.md(_md_table(rows)),
            "errors": dg.MetadataValue.json(errors),
            "dead_letters_open": dg.MetadataValue.int(len(store.dead_letters())),
            "plan_id": dg.MetadataValue.text(plan_run),
            **(
                {
                    "moved_since_planned": dg.MetadataValue.int(approved.moved),
                    "replanned_as": dg.MetadataValue.text(approved.replan_id or "-"),
                }
                if approved is not None
                else {}
            ),
            **budget_md,
        }
    )


writeback_assets: list[dg.AssetsDefinition] = [writeback_target, writeback_plan, writeback_apply]
