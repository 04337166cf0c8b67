"""Approve, then apply exactly that plan.

A plan is kept per run (`writeback_plan`, keyed by the run id: the **plan id**). Applying a plan
id writes only its sending cells, and only those whose CRM value is still the `before` the plan
showed: each record is read back first. A cell that moved since (a person edited it, another
sync wrote it) is not written: it is marked `moved` in the approved plan and planned again in a
new plan (`<plan id>.replan<n>`, before = the value now in the CRM), which needs its own
approval. A plan is applied once.

With `writeback.require_approval: true`, `writeback_apply` in a scheduled sync writes nothing
and names the plan awaiting approval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from acm_sync.writeback.apply import ObjectOutcome, Writer, apply_plan
from acm_sync.writeback.fields import field_of
from acm_sync.writeback.plan import SENDING, WRITE
from acm_sync.writeback.run import COMPANIONS
from acm_sync.writeback.store import WritebackStore
from acm_sync.writeback.values import normalize

MOVED = "moved"


class PlanNotApplicable(Exception):
    """The plan id is unknown or was applied already: nothing is sent."""


@dataclass
class ApprovedOutcome:
    plan_id: str
    approved: int  # cells to send in the approved plan
    moved: int = 0  # cells whose CRM value changed since: re-planned, not written
    replan_id: str | None = None
    outcomes: list[ObjectOutcome] = field(default_factory=list)

    @property
    def written(self) -> int:
        return sum(o.written for o in self.outcomes)

    @property
    def rejected(self) -> int:
        return sum(o.rejected for o in self.outcomes)


Current = Mapping[tuple[str, str], Mapping[str, Mapping[str, object]]]


def _text(value: object) -> str | None:
    missing = value is None or value is pd.NA or (isinstance(value, float) and value != value)
    return None if missing else str(value)


def moved_cells(sending: pd.DataFrame, current: Current) -> pd.Series:
    """Per sending cell: does the CRM now hold something else than the plan's `before`?
    `current`: (crm, object) → {record_id: {field: raw value}} as read back. A record no longer
    found moved too (deleted or merged away)."""
    flags = []
    for row in sending.itertuples(index=False):
        record = current.get((str(row.crm), str(row.object)), {}).get(str(row.record_id))
        if record is None:
            flags.append(True)
            continue
        owned = field_of(row.crm, str(row.object), str(row.field))  # type: ignore[arg-type]
        now = normalize(owned, record.get(str(row.field)))
        before = _text(row.before)
        flags.append(now != before)
    return pd.Series(flags, index=sending.index, dtype=bool)


def _without_lone_companions(cells: pd.DataFrame) -> pd.DataFrame:
    """A companion (the scored-at stamp) is only sent with another cell of its record."""
    if cells.empty:
        return cells
    is_companion = cells["field"].isin(list(COMPANIONS))
    keys = ["crm", "object", "record_id"]
    carried = cells.loc[~is_companion, keys].drop_duplicates()
    tagged = cells.merge(carried.assign(_carried=True), on=keys, how="left")
    keep = ~is_companion.to_numpy() | tagged["_carried"].fillna(False).astype(bool).to_numpy()
    return cells[keep]


def apply_approved(
    store: WritebackStore, plan_id: str, writers: Mapping[str, Writer]
) -> ApprovedOutcome:
    """Apply plan `plan_id` through `writers` (the CRMs not in dry-run), re-checked first."""
    plan = store.plan(plan_id)
    if plan.empty and plan_id not in set(store.plan_ids()):
        raise PlanNotApplicable(f"no write plan {plan_id}: `acm-sync plan` lists the latest")
    sending = plan[plan["action"].isin(SENDING)]
    if sending["status"].notna().any():
        raise PlanNotApplicable(
            f"plan {plan_id} was applied already; run the `plan` job for a new one"
        )
    out = ApprovedOutcome(plan_id, approved=len(sending))
    sending = sending[sending["crm"].isin(list(writers))]
    current: dict[tuple[str, str], dict[str, dict[str, object]]] = {}
    for (crm, obj), cells in sending.groupby(["crm", "object"], sort=True):
        fields = sorted(set(cells["field"].astype(str)))
        ids = sorted(set(cells["record_id"].astype(str)))
        current[(str(crm), str(obj))] = writers[str(crm)].read_back(str(obj), ids, fields)
    moved = moved_cells(sending, current) if len(sending) else pd.Series(dtype=bool)
    is_companion = sending["field"].isin(list(COMPANIONS))
    really_moved = moved & ~is_companion  # the stamp is ours alone: it only rides along
    stay = _without_lone_companions(sending[~really_moved])
    held = sending[~sending.index.isin(stay.index)]
    planned_at = store.planned_at(plan_id)
    out.outcomes = apply_plan(stay, dict(writers), planned_at=pd.Timestamp(planned_at))
    if len(held):  # after the writes: a record's outcome is set on all its cells
        out.moved = int(really_moved.sum())
        store.set_cell_status(plan_id, held, MOVED)
        out.replan_id = _replan(store, plan_id, sending[really_moved], current)
    return out


def _replan(
    store: WritebackStore,
    plan_id: str,
    moved: pd.DataFrame,
    current: Current,
) -> str | None:
    """The moved cells planned again against the value now in the CRM (those still differing
    from what we want); a new plan id, awaiting approval."""
    rows = []
    for row in moved.itertuples(index=False):
        record = current.get((str(row.crm), str(row.object)), {}).get(str(row.record_id))
        if record is None:
            continue  # gone from the CRM: nothing to write
        owned = field_of(row.crm, str(row.object), str(row.field))  # type: ignore[arg-type]
        now = normalize(owned, record.get(str(row.field)))
        after = _text(row.after)
        if now != after:
            rows.append(
                {
                    "crm": row.crm,
                    "object": row.object,
                    "record_id": row.record_id,
                    "field": row.field,
                    "before": now,
                    "after": after,
                    "action": WRITE,
                    "last_written": row.last_written,
                }
            )
    if not rows:
        return None
    n = sum(1 for p in store.plan_ids() if p.startswith(f"{plan_id}.replan")) + 1
    replan_id = f"{plan_id}.replan{n}"
    store.save_plan(replan_id, pd.DataFrame(rows))
    return replan_id
