"""Salesforce ingestion assets: one per object, raw + canonical rows in the warehouse."""

from collections.abc import Iterator

import dagster as dg

from acm_sync.assets.budget import stop_for_budget
from acm_sync.assets.ingest import (
    PullConfig,
    SyncSettingsResource,
    metadata,
    not_used,
    pull_progress,
    run_budget,
    run_pull,
)
from acm_sync.connectors.links import learn_salesforce
from acm_sync.connectors.policy import BudgetExhausted
from acm_sync.connectors.salesforce import SalesforceResource
from acm_sync.connectors.salesforce_pull import SF_OBJECTS, pull_salesforce
from acm_sync.owned_fields import owned_names
from acm_sync.warehouse import WarehouseResource

GROUP = "salesforce"
KINDS = {"salesforce", "duckdb"}
OWNERS = ["team:data-engineering"]

DESCRIPTIONS = {
    "accounts": "Salesforce Accounts → `accounts` (source = salesforce), deletions and merges "
    "(MasterRecordId) included; raw rows in `raw_salesforce_account`.",
    "contacts": "Salesforce Contacts → `contacts`, deletions and merges included; raw rows in "
    "`raw_salesforce_contact`.",
    "opportunities": "Salesforce Opportunities → `opportunities`, deletions included; raw rows "
    "in `raw_salesforce_opportunity`.",
    "opportunity_stage_history": "Salesforce OpportunityHistory → `opportunity_stage_history` "
    "(ids sf:…); raw rows in `raw_salesforce_opportunityhistory`.",
}
ASSET_NAMES = {
    "accounts": "salesforce_accounts",
    "contacts": "salesforce_contacts",
    "opportunities": "salesforce_opportunities",
    "opportunity_stage_history": "salesforce_opportunity_history",
}


def _salesforce_asset(table: str) -> dg.AssetsDefinition:
    spec = SF_OBJECTS[table]

    @dg.asset(
        name=ASSET_NAMES[table],
        group_name=GROUP,
        kinds=KINDS,
        owners=OWNERS,
        description=DESCRIPTIONS[table],
        metadata={"sobject": spec.name, "canonical_table": table},
        output_required=False,  # not produced when the API budget stops the pull
    )
    def _pull(
        context: dg.AssetExecutionContext,
        config: PullConfig,
        salesforce: SalesforceResource,
        warehouse: WarehouseResource,
        sync_settings: SyncSettingsResource,
    ) -> Iterator[dg.MaterializeResult]:
        skipped = not_used("salesforce", sync_settings)
        if skipped is not None:
            yield dg.MaterializeResult(metadata=skipped)
            return
        settings = sync_settings.get()
        wh = warehouse.get()
        sf_settings = settings.salesforce
        budget = run_budget("salesforce", sf_settings.budget, wh, context.run.run_id)
        try:
            client = salesforce.connect(budget=budget, retry=sf_settings.retry)
        except BudgetExhausted as exc:  # the login itself refused for the daily limit
            stop_for_budget(context, exc)
            return
        learn_salesforce(wh, f"https://{client.sf.sf_instance}")
        result = run_pull(
            context,
            wh,
            client,
            lambda: pull_salesforce(
                client,
                wh,
                sf_settings,
                table,
                full_refresh=config.full_refresh or settings.full_refresh,
                run_id=context.run.run_id,
                owned=owned_names("salesforce", spec.name),
                progress=pull_progress(context, f"salesforce {spec.name}"),
            ),
            source="salesforce",
            step=ASSET_NAMES[table],
            table=table,
        )
        if result is not None:
            yield dg.MaterializeResult(metadata=metadata(result, wh, table))

    return _pull


salesforce_assets = [_salesforce_asset(table) for table in SF_OBJECTS]
