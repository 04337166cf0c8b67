"""Plan and apply for the whole book: the two steps the Dagster assets and the CLI call."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from acm_sync.warehouse import Warehouse
from acm_sync.writeback.desired import object_values
from acm_sync.writeback.fields import OBJECTS, OWNED, Crm
from acm_sync.writeback.plan import (
    OVERWRITE_MANUAL,
    SENDING,
    SKIP_GIVEN_UP,
    SKIP_MANUAL,
    payload_key,
    payloads,
    plan_object,
)
from acm_sync.writeback.settings import WritebackSettings
from acm_sync.writeback.store import WritebackStore

CRMS: tuple[Crm, ...] = ("salesforce", "hubspot")
COMPANIONS = {f.name(crm) for f in OWNED if f.companion for crm in CRMS}


@dataclass
class PlanSummary:
    plan: pd.DataFrame  # crm, object, record_id, field, before, after, action, last_written
    live_records: dict[tuple[str, str], int] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)

    def counts(self) -> pd.DataFrame:
        """Per CRM object: records live, records to write, cells by action."""
        rows = []
        for (crm, obj), live in sorted(self.live_records.items()):
            cells = self.plan[(self.plan["crm"] == crm) & (self.plan["object"] == obj)]
            sending = cells[cells["action"].isin(SENDING)]
            rows.append(
                {
                    "crm": crm,
                    "object": obj,
                    "records_live": live,
                    "records_to_write": int(sending["record_id"].nunique()),
                    "fields_to_write": len(sending),
                    "manual_kept": int((cells["action"] == SKIP_MANUAL).sum()),
                    "manual_overwritten": int((cells["action"] == OVERWRITE_MANUAL).sum()),
                    "given_up": int(
                        cells.loc[cells["action"] == SKIP_GIVEN_UP, "record_id"].nunique()
                    ),
                }
            )
        return pd.DataFrame(rows)

    def by_field(self) -> pd.DataFrame:
        sending = self.plan[self.plan["action"].isin(SENDING)]
        return sending.groupby(["crm", "object", "field"]).size().rename("records").reset_index()

    @property
    def records_to_write(self) -> int:
        sending = self.plan[self.plan["action"].isin(SENDING)]
        return int(sending[["crm", "object", "record_id"]].drop_duplicates().shape[0])


def build_plan(wh: Warehouse, settings: WritebackSettings) -> PlanSummary:
    """Desired − live (− manual edits) for every owned field of every CRM object."""
    with wh.session():
        return _build_plan(wh, settings)


def _build_plan(wh: Warehouse, settings: WritebackSettings) -> PlanSummary:
    store = WritebackStore(wh)
    frames: list[pd.DataFrame] = []
    live_records: dict[tuple[str, str], int] = {}
    invalid: list[str] = []
    for crm in CRMS:
        for entity in OBJECTS:
            values = object_values(wh, crm, entity)
            live_records[(crm, values.object)] = values.records_live
            invalid += values.invalid
            given_up = _given_up(store, crm, values.object, settings.max_attempts)
            cells = plan_object(
                values.desired,
                values.live,
                store.ledger(crm, values.object),
                policy=settings.manual_edits,
                companions=COMPANIONS,
                given_up=given_up,
            )
            if given_up:
                cells = _retry_new_values(cells, store, crm, values.object, settings)
            frames.append(cells.assign(crm=crm, object=values.object))
    plan = pd.concat(frames, ignore_index=True)
    ordered = ["crm", "object", *[c for c in plan.columns if c not in ("crm", "object")]]
    return PlanSummary(plan[ordered], live_records, invalid)


def _given_up(store: WritebackStore, crm: str, obj: str, max_attempts: int) -> list[str]:
    return list(store.given_up(crm, obj, max_attempts))


def _retry_new_values(
    cells: pd.DataFrame,
    store: WritebackStore,
    crm: str,
    obj: str,
    settings: WritebackSettings,
) -> pd.DataFrame:
    """A given-up record whose planned values changed since it failed is tried again."""
    stuck = store.given_up(crm, obj, settings.max_attempts)
    held = cells[cells["action"] == SKIP_GIVEN_UP]
    if held.empty:
        return cells
    as_sending = held.assign(action="write")
    retry = [
        rid for rid, values in payloads(as_sending).items() if payload_key(values) != stuck.get(rid)
    ]
    mask = (cells["action"] == SKIP_GIVEN_UP) & cells["record_id"].isin(retry)
    cells.loc[mask, "action"] = "write"
    return cells
