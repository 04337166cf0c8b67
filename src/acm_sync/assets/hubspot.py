"""HubSpot ingestion assets: companies, contacts, deals (+ their stage history)."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from hubspot.crm.owners.exceptions import ApiException

from acm_sync.assets.ingest import (
    PullConfig,
    SyncSettingsResource,
    metadata,
    not_used,
    pull_progress,
    run_budget,
    run_pull,
)
from acm_sync.connectors.common import PullResult
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.hubspot_pull import HS_OBJECTS, pull_hubspot
from acm_sync.connectors.links import learn_hubspot
from acm_sync.owned_fields import owned_names
from acm_sync.warehouse import Warehouse, WarehouseResource

GROUP = "hubspot"
KINDS = {"hubspot", "duckdb"}
OWNERS = ["team:data-engineering"]


def _learn_links(
    context: dg.AssetExecutionContext, wh: Warehouse, client: Any, base_url: str | None
) -> None:
    """The portal's id for record links (once per warehouse); a portal that refuses it only
    costs the links."""
    try:
        learn_hubspot(wh, client, base_url)
    except ApiException as exc:
        context.log.warning(f"HubSpot account details refused ({exc.status}): no record links")


def _run(
    context: dg.AssetExecutionContext,
    config: PullConfig,
    hubspot: HubSpotResource,
    warehouse: WarehouseResource,
    sync_settings: SyncSettingsResource,
    table: str,
    step: str,
) -> tuple[PullResult, Warehouse] | None:
    """The pull's result, or None when the API budget stopped it (a clean stop, reported)."""
    settings = sync_settings.get()
    wh = warehouse.get()
    hs_settings = settings.hubspot
    budget = run_budget("hubspot", hs_settings.budget, wh, context.run.run_id)
    client = hubspot.connect(budget=budget, settings=hs_settings)

    def pull() -> PullResult:
        _learn_links(context, wh, client, hubspot.base_url)
        return pull_hubspot(
            client,
            wh,
            hs_settings,
            table,
            full_refresh=config.full_refresh or settings.full_refresh,
            run_id=context.run.run_id,
            owned=owned_names("hubspot", HS_OBJECTS[table].name),
            progress=pull_progress(context, f"hubspot {HS_OBJECTS[table].name}"),
        )

    result = run_pull(context, wh, client, pull, source="hubspot", step=step, table=table)
    return None if result is None else (result, wh)


def _hubspot_asset(table: str, name: str, description: str) -> dg.AssetsDefinition:
    """The asset that pulls the HubSpot object behind a canonical table (one pull a run)."""

    @dg.asset(
        name=name,
        group_name=GROUP,
        kinds=KINDS,
        owners=OWNERS,
        description=description,
        metadata={"object_type": HS_OBJECTS[table].name, "canonical_table": table},
        output_required=False,  # not produced when the API budget stops the pull
    )
    def _pull(
        context: dg.AssetExecutionContext,
        config: PullConfig,
        hubspot: HubSpotResource,
        warehouse: WarehouseResource,
        sync_settings: SyncSettingsResource,
    ) -> Iterator[dg.MaterializeResult]:
        skipped = not_used("hubspot", sync_settings)
        if skipped is not None:
            yield dg.MaterializeResult(metadata=skipped)
            return
        pulled = _run(context, config, hubspot, warehouse, sync_settings, table, name)
        if pulled is not None:
            result, wh = pulled
            yield dg.MaterializeResult(metadata=metadata(result, wh, table))

    return _pull


hubspot_companies = _hubspot_asset(
    "accounts",
    "hubspot_companies",
    "HubSpot companies → `accounts` (source = hubspot): archived as is_deleted, merged-away ids "
    "(hs_merged_object_ids) as is_deleted + merged_into; raw rows in `raw_hubspot_companies`.",
)
hubspot_contacts = _hubspot_asset(
    "contacts",
    "hubspot_contacts",
    "HubSpot contacts → `contacts` with their primary company (contact→company association); "
    "archives and merges included; raw rows in `raw_hubspot_contacts`.",
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "hubspot_deals",
            group_name=GROUP,
            kinds=KINDS,
            owners=OWNERS,
            description="HubSpot deals → `opportunities` with their primary company "
            "(deal→company association); archives and merges included; raw rows in "
            "`raw_hubspot_deals`.",
            metadata={"object_type": "deals", "canonical_table": "opportunities"},
            skippable=True,  # not produced when the API budget stops the pull
        ),
        dg.AssetSpec(
            "hubspot_deal_stage_history",
            group_name=GROUP,
            kinds=KINDS,
            owners=OWNERS,
            description="HubSpot deal stage history (propertiesWithHistory = dealstage, amount, "
            "closedate) → `opportunity_stage_history` (ids hs:…), read in the same pass as the "
            "deals; raw versions in `raw_hubspot_deal_history`.",
            metadata={"object_type": "deals", "canonical_table": "opportunity_stage_history"},
            skippable=True,
        ),
    ],
)
def hubspot_deals(
    context: dg.AssetExecutionContext,
    config: PullConfig,
    hubspot: HubSpotResource,
    warehouse: WarehouseResource,
    sync_settings: SyncSettingsResource,
) -> Iterator[dg.MaterializeResult]:
    skipped = not_used("hubspot", sync_settings)
    if skipped is not None:
        yield dg.MaterializeResult(asset_key="hubspot_deals", metadata=skipped)
        yield dg.MaterializeResult(asset_key="hubspot_deal_stage_history", metadata=skipped)
        return
    pulled = _run(
        context, config, hubspot, warehouse, sync_settings, "opportunities", "hubspot_deals"
    )
    if pulled is None:
        return
    result, wh = pulled
    yield dg.MaterializeResult(
        asset_key="hubspot_deals", metadata=metadata(result, wh, "opportunities")
    )
    history = wh.count("opportunity_stage_history", "WHERE opportunity_id LIKE 'hs:%'")
    yield dg.MaterializeResult(
        asset_key="hubspot_deal_stage_history",
        metadata={
            "rows_pulled": dg.MetadataValue.int(result.history_rows),
            "dagster/row_count": dg.MetadataValue.int(history),
            "api_calls": dg.MetadataValue.int(0),
            "note": "read in the hubspot_deals pass (its api_calls cover both)",
            "cursor": result.cursor.isoformat() if result.cursor else "",
            "complete": result.complete,
            "preview": dg.MetadataValue.md(
                wh.query(
                    "SELECT * FROM opportunity_stage_history WHERE opportunity_id LIKE 'hs:%' "
                    "ORDER BY changed_at DESC LIMIT 5"
                ).to_markdown(index=False)
            ),
        },
    )


hubspot_assets = [hubspot_companies, hubspot_contacts, hubspot_deals]
