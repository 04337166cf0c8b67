"""What a person reads before approving a plan: a sample of the planned changes across every
object and field (not the first rows of one), each with the record's name, empty values as "—".
Pure pandas, plus one warehouse read for the names."""

from __future__ import annotations

import pandas as pd

from acm_sync.warehouse import Warehouse
from acm_sync.writeback.fields import OBJECTS
from acm_sync.writeback.plan import SENDING

EMPTY = "—"
PREVIEW_COLUMNS = ["crm", "object", "record_id", "name", "field", "before", "after", "action"]
_ENTITY = {obj: entity for entity, pair in OBJECTS.items() for obj in pair}
_PREFIX = {"salesforce": "sf:", "hubspot": "hs:"}


def sample_changes(plan: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Up to `rows` sending cells, taken in turn from each (crm, object, field), so every field
    that changes shows up before any shows twice. Deterministic: ordered by record id."""
    sending = plan[plan["action"].isin(SENDING)]
    if sending.empty or rows <= 0:
        return sending.head(0)
    ordered = sending.sort_values(["crm", "object", "field", "record_id"], kind="stable")
    turn = ordered.groupby(["crm", "object", "field"], sort=False).cumcount()
    picked = ordered.assign(_turn=turn.to_numpy()).sort_values(
        ["_turn", "crm", "object", "field"], kind="stable"
    )
    return picked.head(rows).drop(columns="_turn").reset_index(drop=True)


def shown(value: object) -> str:
    """A cell as a person reads it: empty (None / NaN / "") as "—"."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return EMPTY
    text = str(value)
    return text if text.strip() else EMPTY


def record_names(wh: Warehouse, cells: pd.DataFrame) -> pd.Series:
    """The CRM record name of each cell's record (accounts / deals by name, contacts by first +
    last name; "" when unknown), aligned with `cells`."""
    names = pd.Series("", index=cells.index, dtype=object)
    for entity in OBJECTS:
        mine = cells["object"].map(_ENTITY) == entity
        if not mine.any() or not wh.has_table(entity):
            continue
        id_col = {"accounts": "account_id", "contacts": "contact_id"}.get(entity, "opportunity_id")
        label = "trim(concat_ws(' ', first_name, last_name))" if entity == "contacts" else "name"
        keys = cells.loc[mine, "crm"].map(_PREFIX) + cells.loc[mine, "record_id"].astype(str)
        found = wh.query(
            f"SELECT {id_col} AS id, {label} AS name FROM {entity} "
            f"WHERE {id_col} IN (SELECT unnest(?::VARCHAR[]))",
            [keys.drop_duplicates().tolist()],
        )
        lookup = dict(zip(found["id"], found["name"].fillna(""), strict=True))
        names[mine] = keys.map(lookup).fillna("").to_numpy()
    return names


def preview_frame(plan: pd.DataFrame, rows: int, wh: Warehouse | None = None) -> pd.DataFrame:
    """The preview table: a sample across objects and fields, names, "—" for empty."""
    cells = sample_changes(plan, rows)
    names = record_names(wh, cells) if wh is not None and len(cells) else ""
    out = cells.assign(name=names)
    for col in ("before", "after"):
        out[col] = out[col].map(shown) if len(out) else out[col]
    return out.reindex(columns=PREVIEW_COLUMNS).astype(object).fillna("")
