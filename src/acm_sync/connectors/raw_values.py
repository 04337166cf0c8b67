"""What the CRM held in a mapped numeric field where it was not a number.

A numeric canonical column (accounts `satisfaction`: a CSAT / NPS the revops team maps to a
custom field, often a text field or a string property) keeps only what parses as a number: "n/a"
or "4,5" become null there. The raw tables keep every value exactly as the API gave it, so the
quality step asks here for those texts and flags each record with what was typed, rather than
letting the value vanish without a word.
"""

from __future__ import annotations

import pandas as pd

from acm_sync import model
from acm_sync.connectors.hubspot_pull import HS_OBJECTS
from acm_sync.connectors.hubspot_pull import SOURCE as HUBSPOT
from acm_sync.connectors.mapping import PREFIX, coalesce, parse_float, raw_text
from acm_sync.connectors.salesforce_pull import SF_OBJECTS
from acm_sync.connectors.salesforce_pull import SOURCE as SALESFORCE
from acm_sync.connectors.settings import SyncSettings, field_names
from acm_sync.warehouse import Warehouse, _q, raw_table_name


def unreadable_numbers(
    wh: Warehouse, sync: SyncSettings, table: str, column: str, crms: tuple[str, ...] | None = None
) -> pd.Series:
    """Record id (`sf:<Id>` / `hs:<id>`) → the text the CRM holds in the field(s) mapped to
    `table.column`, for records where that text is not a number (empty when nothing is mapped,
    nothing was pulled yet, or every value reads as a number)."""
    parts: list[pd.Series] = []
    for source, settings, obj, key in (
        (SALESFORCE, sync.salesforce, SF_OBJECTS[table].name, "Id"),
        (HUBSPOT, sync.hubspot, HS_OBJECTS[table].name, "id"),
    ):
        if crms is not None and source not in crms:
            continue
        names = field_names(settings.field_map(table).get(column))
        raw = raw_table_name(source, obj)
        if not names or not wh.has_table(raw):
            continue
        have = set(wh.query(f"SELECT * FROM {_q(raw)} LIMIT 0").columns)
        present = [n for n in names if n in have]
        if not present:
            continue
        cols = ", ".join(_q(c) for c in [key, *present])
        frame = raw_text(wh.query(f"SELECT {cols} FROM {_q(raw)}"))
        typed = coalesce(frame, present).str.strip()
        bad = (typed.notna() & (typed != "") & parse_float(typed).isna()).to_numpy(dtype=bool)
        if bad.any():
            ids = PREFIX[source] + ":" + frame[key].astype(model.STRING)
            parts.append(pd.Series(typed[bad].to_numpy(), index=ids[bad].to_numpy()))
    if not parts:
        return pd.Series(dtype=model.STRING, index=pd.Index([], dtype=object))
    out = pd.concat(parts).astype(model.STRING)
    return out[~out.index.duplicated(keep="last")]
