"""What a person reads before approving a plan: a sample of the planned changes across every
object and field (not the first rows of one), each with the record's name and its link in the
CRM, empty values as "—". Pure pandas, plus warehouse reads for the names and link bases."""

from __future__ import annotations

import pandas as pd

from acm_sync.connectors.links import RecordLinks
from acm_sync.warehouse import Warehouse
from acm_sync.writeback.fields import OBJECTS
from acm_sync.writeback.plan import SENDING

EMPTY = "—"
PREVIEW_COLUMNS = [
    "crm",
    "object",
    "record_id",
    "name",
    "field",
    "before",
    "after",
    "action",
    "url",
]
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
        names[mine] = pd.Series([lookup.get(k, "") for k in keys], index=keys.index, dtype=object)
    return names


def record_urls(wh: Warehouse, cells: pd.DataFrame) -> pd.Series:
    """Each cell's record link in its CRM ("" while the CRM's link base is unknown)."""
    links = RecordLinks.load(wh)
    return pd.Series(
        [
            links.url(str(c), str(o), r)
            for c, o, r in zip(cells["crm"], cells["object"], cells["record_id"], strict=True)
        ],
        index=cells.index,
        dtype=object,
    )


def with_names_and_links(wh: Warehouse, cells: pd.DataFrame) -> pd.DataFrame:
    """`cells` with `name` and `url` after `record_id` (plan rows as a person reads them)."""
    if cells.empty:
        out = cells.assign(name=pd.Series(dtype=object), url=pd.Series(dtype=object))
    else:
        out = cells.assign(name=record_names(wh, cells), url=record_urls(wh, cells))
    at = list(out.columns).index("record_id") + 1
    rest = [c for c in out.columns if c not in ("name", "url")]
    return out[[*rest[:at], "name", "url", *rest[at:]]]


def preview_frame(plan: pd.DataFrame, rows: int, wh: Warehouse | None = None) -> pd.DataFrame:
    """The preview table: a sample across objects and fields, names, "—" for empty."""
    cells = sample_changes(plan, rows)
    if wh is not None and len(cells):
        out = cells.assign(name=record_names(wh, cells), url=record_urls(wh, cells))
    else:
        out = cells.assign(name="", url="")
    for col in ("before", "after"):
        out[col] = out[col].map(shown) if len(out) else out[col]
    return out.reindex(columns=PREVIEW_COLUMNS).astype(object).fillna("")
