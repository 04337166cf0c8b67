"""Quality assets: each CRM's stage list, one validated table per canonical entity (with its two
gates), cross-CRM identity, and the per-record issue texts for write-back.

    quality_stage_catalog ─┐
    (ingestion assets) ────┴─▶ quality_accounts / quality_contacts / quality_opportunities /
                               quality_opportunity_stage_history
                                 checks: critical_failure_rate (write-back),
                                         volume (blocking)
                               ─▶ quality_account_identity, quality_issue_texts ─▶ (scoring,
                                                                               write-back)

The two gates stop different things. `volume` (a pull that shrank: truncated) is a blocking
check: nothing downstream runs on it, neither scoring nor write-back. `critical_failure_rate`
stops write-back only: the rows failing a critical rule are quarantined and out of scoring
whatever the rate, so tiers, health, the forecast and the write plan (a preview) are still made
from the valid rows — a CRM with many deals on no account still gets its scores — while
`writeback_apply` refuses to write as long as any entity's latest gates are closed. The gates
are kept in the warehouse (`QualityStore.gates_open`), which is what `writeback_apply` reads, in
the same run or on its own.
"""

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from acm_sync.assets.budget import stop_for_budget
from acm_sync.assets.ingest import ConfigFileResource, SyncSettingsResource, run_budget
from acm_sync.connectors.common import CredentialsError
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.links import RecordLinks
from acm_sync.connectors.policy import BudgetExhausted
from acm_sync.connectors.raw_values import unreadable_numbers
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.identity import match_accounts, match_contacts
from acm_sync.quality import derive
from acm_sync.quality.derive import RunContext
from acm_sync.quality.docs import docs_root, served_url
from acm_sync.quality.engine import GxEngine, QualityRunError
from acm_sync.quality.issues import issue_texts
from acm_sync.quality.settings import QualitySettings
from acm_sync.quality.stages import StageCatalog, hubspot_stages, salesforce_stages
from acm_sync.quality.store import (
    QualityStore,
    critical_gate,
    live_volumes,
    valid_table,
    volume_gate,
)
from acm_sync.quality.suites import ENTITIES, SuiteError, load_suites
from acm_sync.quality.validate import validate_entity
from acm_sync.warehouse import Warehouse, WarehouseResource

GROUP = "quality"
KINDS = {"quality", "great_expectations", "duckdb"}
OWNERS = ["team:data-engineering"]
STAGE_CATALOG = "quality_stage_catalog"
# Ingestion assets each validated table reads (by key: quality does not import ingestion).
PULLED = {
    "accounts": ["salesforce_accounts", "hubspot_companies"],
    "contacts": ["salesforce_contacts", "hubspot_contacts"],
    "opportunities": ["salesforce_opportunities", "hubspot_deals"],
    "opportunity_stage_history": ["salesforce_opportunity_history", "hubspot_deal_stage_history"],
}
# Other inputs of the rules: reference checks read the accounts / opportunities pulled, the
# stage rules the CRMs' stage lists.
READS = {
    "accounts": [],
    "contacts": PULLED["accounts"],
    "opportunities": [*PULLED["accounts"], STAGE_CATALOG],
    "opportunity_stage_history": [*PULLED["opportunities"], STAGE_CATALOG],
}


def asset_name(entity: str) -> str:
    return f"quality_{entity}"


class QualitySettingsResource(ConfigFileResource):
    """The `quality` section of acm_sync.yaml."""

    def get(self) -> QualitySettings:
        return self.load().quality


class QualityConfig(dg.Config):
    """Run config of a validated-entity asset."""

    accept_volume_drop: bool = Field(
        default=False,
        description="The pull really shrank (a clean-up, a migration): pass the volume gate "
        "and make this run's volume the new baseline.",
    )
    as_of: str | None = Field(
        default=None, description="ISO time the rules judge 'future' / 'stale' by (default now)."
    )


def data_docs_dir(wh: Warehouse) -> Path:
    return docs_root(wh.path)


def _md(frame: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "_none_")


# -- the CRMs' stage lists ---------------------------------------------------------------------


@dg.asset(
    name=STAGE_CATALOG,
    group_name=GROUP,
    kinds={"quality", "salesforce", "hubspot", "duckdb"},
    owners=OWNERS,
    description="Each CRM's own opportunity stage list → `crm_stages`: Salesforce "
    "OpportunityStage (IsClosed / IsWon / DefaultProbability) and HubSpot deal pipelines "
    "(isClosed / probability). The stage rules of the quality suites check against it. A CRM "
    "without credentials keeps its last stored list.",
    output_required=False,  # not produced when the API budget stops the step
)
def quality_stage_catalog(
    context: dg.AssetExecutionContext,
    salesforce: SalesforceResource,
    hubspot: HubSpotResource,
    warehouse: WarehouseResource,
    sync_settings: SyncSettingsResource,
) -> Iterator[dg.MaterializeResult]:
    wh = warehouse.get()
    store = QualityStore(wh)
    settings = sync_settings.get()
    run_id = context.run.run_id
    previous = store.stage_catalog().frame
    parts: list[StageCatalog] = []
    skipped: list[str] = []
    crms = sync_settings.connection().crms
    for source in ("salesforce", "hubspot"):
        if source not in crms:  # the run's connection has no such CRM: nothing to list
            continue
        try:
            if source == "salesforce":
                budget = run_budget(source, settings.salesforce.budget, wh, run_id)
                sf = salesforce.connect(budget=budget, retry=settings.salesforce.retry)
                try:
                    parts.append(salesforce_stages(sf.stage_catalog()))
                finally:
                    wh.record_calls(run_id, source, STAGE_CATALOG, sf.calls)
            else:
                budget = run_budget(source, settings.hubspot.budget, wh, run_id)
                hs = hubspot.connect(budget=budget, settings=settings.hubspot)
                try:
                    parts.append(hubspot_stages(hs.stage_catalog()))
                finally:
                    wh.record_calls(run_id, source, STAGE_CATALOG, hs.calls)
        except CredentialsError as exc:
            context.log.warning(f"{source}: stage list not refreshed: {exc}")
            skipped.append(source)
            parts.append(StageCatalog(previous[previous["source"] == source]))
        except BudgetExhausted as exc:
            stop_for_budget(context, exc)
            return
    catalog = StageCatalog.combine(*parts)
    store.save_stage_catalog(catalog)
    counts = catalog.frame.groupby("source").size()
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(catalog.frame)),
            **{f"{s}_stages": dg.MetadataValue.int(int(n)) for s, n in counts.items()},
            "not_refreshed": ", ".join(skipped) or "none",
            "stages": _md(catalog.frame),
        }
    )


# -- validated entities ------------------------------------------------------------------------


def _validated_asset(entity: str) -> dg.AssetsDefinition:
    name = asset_name(entity)
    deps = list(dict.fromkeys([*PULLED[entity], *READS[entity]]))

    @dg.asset(
        name=name,
        group_name=GROUP,
        kinds=KINDS,
        owners=OWNERS,
        deps=[dg.AssetKey(d) for d in deps],
        description=f"`{entity}` validated with expectations/{entity}.json (GX): rows failing a "
        f"critical rule → `quarantine` (and out of scoring), the rest → `{valid_table(entity)}`; "
        "warnings flag rows that flow on. GX Data Docs: one site for every entity and run in "
        "`data_docs/` beside the warehouse, served by `acm-sync docs` (linked in the "
        "metadata). Checks: critical failure rate (blocks write-back) and volume (blocks "
        "everything downstream).",
        check_specs=[
            dg.AssetCheckSpec(
                "critical_failure_rate",
                asset=name,
                # not blocking: scoring goes on from the valid rows; writeback_apply reads the
                # gate from the warehouse and refuses to write (module docstring)
                blocking=False,
                description="Share of live rows failing a critical rule ≤ "
                "quality.critical_failure_threshold; above it, nothing is written to a CRM.",
            ),
            dg.AssetCheckSpec(
                "volume",
                asset=name,
                blocking=True,
                description="Live rows per CRM fell by at most quality.max_volume_drop against "
                "the last good run (a truncated pull must never drive writes).",
            ),
        ],
    )
    def _validate(
        context: dg.AssetExecutionContext,
        config: QualityConfig,
        warehouse: WarehouseResource,
        quality_settings: QualitySettingsResource,
    ) -> dg.MaterializeResult:
        full_config = quality_settings.load()
        settings = full_config.quality
        wh = warehouse.get()
        # One connection for the step's dozen queries (opening the file costs more than most).
        with wh.session():
            store = QualityStore(wh)
            table = store.canonical(entity)
            as_of = pd.Timestamp(config.as_of or pd.Timestamp.now(tz="UTC"))
            run_context = RunContext(
                as_of=as_of if as_of.tzinfo else as_of.tz_localize("UTC"),
                stages=store.stage_catalog(),
                account_ids=store.ids("accounts", "account_id"),
                opportunity_ids=store.ids("opportunities", "opportunity_id"),
                account_currency=store.account_currencies(),
                currency=full_config.currency,
                satisfaction_scale=(
                    full_config.health.satisfaction.scale_min,
                    full_config.health.satisfaction.scale_max,
                ),
            )
            if entity == "accounts":
                # what a mapped CSAT / NPS field held where it was not a number ("n/a")
                typed = unreadable_numbers(
                    wh,
                    full_config.sync,
                    "accounts",
                    "satisfaction",
                    quality_settings.connection().crms,
                )
                run_context = dataclasses.replace(run_context, satisfaction_typed=typed)
            try:
                suites = load_suites(settings.expectations_dir, {entity: derive.columns(entity)})
                docs = data_docs_dir(wh) if settings.data_docs else None
                engine = GxEngine(suites, docs_dir=docs)
                report = validate_entity(
                    engine, entity, table, run_context, run_id=context.run.run_id
                )
                issues = report.issues  # each failing record's link in its CRM
                issues["url"] = RecordLinks.load(wh).entity_urls(
                    entity, issues["source"], issues["source_id"]
                )
            except (SuiteError, QualityRunError) as exc:
                raise dg.Failure(str(exc)) from None
            engine.build_docs({entity: report.issues}, run_name=context.run.run_id)
            page = engine.pages.get(entity)
            # With connections listed, one docs server serves each one's site under /<name>/.
            site = quality_settings.connection().name if quality_settings.listed() else None
            docs_url = served_url(data_docs_dir(wh), page, site=site) if page else None
            store.save_report(report)
            volumes = live_volumes(entity, table)
            critical = critical_gate(report, settings)
            volume = volume_gate(
                entity,
                volumes,
                store.last_good_volumes(entity),
                settings,
                accepted=config.accept_volume_drop,
            )
            store.record_gates(
                report, volumes, critical, volume, accepted=config.accept_volume_drop
            )
            for gate in (critical, volume):
                (context.log.info if gate.passed else context.log.error)(
                    f"{gate.name}: {gate.summary}"
                )
            return dg.MaterializeResult(
                metadata=_metadata(report, settings, docs_url),
                check_results=[
                    _check_result(critical, report, settings),
                    _check_result(volume, report, settings),
                ],
            )

    return _validate


def _failures(report: Any) -> pd.DataFrame:
    by_rule = report.failures_by_rule()
    return by_rule[by_rule["failures"] > 0] if len(by_rule) else by_rule


def _sample(report: Any, settings: QualitySettings, severity: str | None = None) -> pd.DataFrame:
    issues = report.issues
    if severity:
        issues = issues[issues["severity"] == severity]
    # One example per rule first, then more: every failing rule shows up in the sample.
    ordered = pd.concat([issues.drop_duplicates("rule"), issues]).drop_duplicates()
    cols = ["record_id", "name", "source", "code", "severity", "reason", "url"]
    sample = ordered[cols].head(settings.sample_rows)
    # the record in its CRM, one click away in the Dagster UI
    links = [f"[open]({u})" if isinstance(u, str) and u else "" for u in sample["url"]]
    return sample.drop(columns="url").assign(link=links)


def _metadata(report: Any, settings: QualitySettings, docs_url: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(len(report.valid)),
        "pulled": dg.MetadataValue.int(report.pulled),
        "live": dg.MetadataValue.int(report.live),
        "valid": dg.MetadataValue.int(len(report.valid)),
        "quarantined": dg.MetadataValue.int(len(report.quarantined)),
        "flagged": dg.MetadataValue.int(report.flagged),
        "critical_failure_rate": dg.MetadataValue.float(round(report.critical_failure_rate, 6)),
        "failures_by_rule": _md(_failures(report)),
        "failing_rows_sample": _md(_sample(report, settings)),
        "valid_table": valid_table(report.entity),
        "preview": _md(report.valid.head(5)),
    }
    if docs_url:
        meta["data_docs"] = dg.MetadataValue.url(docs_url)
        meta["data_docs_index"] = dg.MetadataValue.url(docs_url.split("/validations/")[0] + "/")
    return meta


def _check_result(gate: Any, report: Any, settings: QualitySettings) -> dg.AssetCheckResult:
    meta: dict[str, Any] = {"summary": gate.summary, "numbers": _md(gate.details)}
    if gate.name == "critical_failure_rate":
        failures = _failures(report)
        meta["failures_by_rule"] = _md(failures[failures["severity"] == "critical"])
        meta["failing_rows_sample"] = _md(_sample(report, settings, "critical"))
        meta["critical_failure_rate"] = dg.MetadataValue.float(
            round(report.critical_failure_rate, 6)
        )
    return dg.AssetCheckResult(
        check_name=gate.name,
        passed=gate.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=gate.summary,
        metadata=meta,
    )


validated_assets = [_validated_asset(entity) for entity in ENTITIES]


# -- identity and issue texts ------------------------------------------------------------------


@dg.asset(
    name="quality_account_identity",
    group_name=GROUP,
    kinds=KINDS - {"great_expectations"},
    owners=OWNERS,
    deps=[dg.AssetKey(asset_name("accounts")), dg.AssetKey(asset_name("contacts"))],
    description="Unified accounts across Salesforce and HubSpot → `account_identity` (by "
    "registrable domain, then normalised name; duplicates inside a CRM join their primary), "
    "and contacts by e-mail → `contact_identity`.",
)
def quality_account_identity(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    store = QualityStore(warehouse.get())
    accounts = match_accounts(store.canonical("accounts"))
    contacts = match_contacts(store.canonical("contacts"))
    store.save_identity(accounts, contacts)
    rules = accounts["match_rule"].value_counts()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(accounts)),
            "unified_accounts": dg.MetadataValue.int(int(accounts["account_key"].nunique())),
            "cross_crm_pairs": dg.MetadataValue.int(
                int(accounts[["sf_account_id", "hs_company_id"]].notna().all(axis=1).sum())
            ),
            "contact_pairs": dg.MetadataValue.int(len(contacts)),
            "by_match_rule": _md(rules.rename_axis("match_rule").reset_index(name="records")),
            "preview": _md(accounts.head(5)),
        }
    )


@dg.asset(
    name="quality_issue_texts",
    group_name=GROUP,
    kinds=KINDS - {"great_expectations"},
    owners=OWNERS,
    deps=[dg.AssetKey(asset_name(e)) for e in ENTITIES],
    description="Per account, contact and opportunity: the text of its open data-quality "
    "issues (most important first, ≤ 1000 characters) → `data_issue_texts`, what write-back "
    "sends to ACM_Data_Issues__c / acm_data_issues. Records absent have no open issue.",
)
def quality_issue_texts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    store = QualityStore(warehouse.get())
    texts = issue_texts(store.issues())
    store.save_issue_texts(texts)
    by_entity = texts.groupby("entity").size() if len(texts) else pd.Series(dtype=int)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(texts)),
            **{f"{e}_with_issues": dg.MetadataValue.int(int(n)) for e, n in by_entity.items()},
            "held_back": dg.MetadataValue.int(int(texts["held_back"].sum()) if len(texts) else 0),
            "preview": _md(texts.head(5)),
        }
    )


quality_assets: list[dg.AssetsDefinition] = [
    quality_stage_catalog,
    *validated_assets,
    quality_account_identity,
    quality_issue_texts,
]
quality_job = dg.define_asset_job(
    "validate",
    selection=dg.AssetSelection.groups(GROUP),
    description="Refresh the CRMs' stage lists, validate every canonical table (gates), "
    "match identities and build the issue texts.",
)
