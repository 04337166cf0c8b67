"""HubSpot's stage calculated properties on deals: `hs_v2_date_entered_<stageId>` and
`hs_v2_date_exited_<stageId>`, one pair per stage of the deal pipeline.

Evidence:
- knowledge.hubspot.com/properties/stage-calculated-properties ("Use stage calculated
  properties"): "Each stage in your pipelines has its own set of these properties. […]
  Date entered [stage ID]: the date and time the record entered the stage. Date exited
  [stage ID]: the date and time the record exited the stage." The values are "populated
  retroactively based on existing data" from "a record's current and historical stage values".
- A real portal's deal property listing (github hairsolutionsco/automations_hub,
  hubspot/objects/deals/properties.md): `hs_v2_date_entered_closedwon`, label
  `Date entered "Closed Won (Sales Pipeline)"`, type `datetime`, fieldType `date`; likewise
  `hs_v2_date_exited_<stageId>` / `Date exited "<stage> (<pipeline>)"`.
- dlt's verified HubSpot source (tests/peers/dlt/sources/hubspot settings.py) lists every deal
  property starting `hs_v2_date_entered_` and reads them as values of the deal.

Values are datetimes, printed as every other datetime property of a v3 read (ISO 8601). They
are not stored: a read that asks for them computes them from the deal's `dealstage` history
(the same history `propertiesWithHistory` serves), so reads that do not ask cost nothing.
A deal with no recorded stage history entered its current stage at its creation, as
`propertiesWithHistory` reports it.

Not emulated (evidence too thin for the exact shape): `hs_v2_latest_time_in_<stageId>` /
`hs_v2_cumulative_time_in_<stageId>` (type number; the unit is not documented), the older
`hs_date_entered_<stageId>` family, and `hs_v2_date_entered_current_stage` /
`hs_v2_time_in_current_stage`. When a deal re-enters a stage the sandbox reports the latest
entry and the latest exit (the knowledge base does not say which it is).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any

from acm_sync.sandbox.hubspot import schema
from acm_sync.sandbox.hubspot.propdefs import column_name, table_name
from acm_sync.sandbox.hubspot.values import wire_datetime

ENTERED = "hs_v2_date_entered_"
EXITED = "hs_v2_date_exited_"


def stage_timing_properties() -> list[schema.Property]:
    """The property definitions, one entered / exited pair per stage of the default pipeline."""
    out: list[schema.Property] = []
    for prefix, verb in ((ENTERED, "Date entered"), (EXITED, "Date exited")):
        for sid, label, *_ in schema.DEAL_STAGES:
            out.append(
                schema.Property(
                    f"{prefix}{sid}",
                    f'{verb} "{label} ({schema.PIPELINE_LABEL})"',
                    "datetime",
                    "date",
                    "dealinformation",
                    read_only_value=True,
                    description=f"The date and time the deal {verb.split()[1]} the stage "
                    f"'{label}', '{schema.PIPELINE_LABEL}'",
                )
            )
    return out


NAMES: frozenset[str] = frozenset(p.name for p in stage_timing_properties())


def is_stage_timing(obj: str, name: str) -> bool:
    return obj == "deals" and name in NAMES


def fill(conn: sqlite3.Connection, obj: str, records: list[dict[str, Any]]) -> None:
    """Set the requested stage timing values of these records (already holding None)."""
    if obj != "deals" or not records:
        return
    wanted = [n for n in records[0]["properties"] if n in NAMES]
    if not wanted:
        return
    ids = [int(r["id"]) for r in records]
    marks = ", ".join("?" * len(ids))
    visits: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for oid, value, ts in conn.execute(
        "SELECT object_id, value, timestamp FROM history WHERE object_type='deals' "
        f"AND property='dealstage' AND object_id IN ({marks}) ORDER BY timestamp, rowid",
        ids,
    ):
        seq = visits[oid]
        if value and (not seq or seq[-1][0] != value):
            seq.append((value, ts))
    missing = [i for i in ids if i not in visits]
    if missing:
        # No recorded stage history: the current stage, entered at creation.
        for oid, stage, created in conn.execute(
            f"SELECT id, {column_name('dealstage')}, created_at FROM {table_name('deals')} "
            f"WHERE id IN ({', '.join('?' * len(missing))})",
            missing,
        ):
            if stage:
                visits[oid].append((stage, created))
    for r in records:
        entered: dict[str, str] = {}
        exited: dict[str, str] = {}
        seq = visits.get(int(r["id"]), [])
        for i, (stage, ts) in enumerate(seq):
            entered[stage] = ts
            if i + 1 < len(seq):
                exited[stage] = seq[i + 1][1]
        props = r["properties"]
        for name in wanted:
            if name.startswith(ENTERED):
                props[name] = wire_datetime(entered.get(name[len(ENTERED) :]))
            else:
                props[name] = wire_datetime(exited.get(name[len(EXITED) :]))
