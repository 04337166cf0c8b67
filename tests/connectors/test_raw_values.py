"""What a mapped numeric field held where it was not a number, read back from the raw tables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from acm_sync.connectors.raw_values import unreadable_numbers
from acm_sync.connectors.settings import SyncSettings
from acm_sync.warehouse import Batch, SyncState, Warehouse, raw_table_name


def _raw(wh: Warehouse, source: str, obj: str, key: str, rows: dict[str, list[str | None]]) -> None:
    frame = pd.DataFrame({c: pd.Series(v, dtype="string") for c, v in rows.items()})
    frame["_synced_at"] = datetime.now(UTC)
    frame["_run_id"] = "r"
    state = SyncState(source, obj, cursor=datetime(2024, 1, 1, tzinfo=UTC))
    wh.commit(Batch(state, raw=frame, raw_key=key), raw_table=raw_table_name(source, obj))


def test_unreadable_csat_texts_are_found_in_both_crms_raw_tables(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    _raw(
        wh,
        "salesforce",
        "Account",
        "Id",
        {"Id": ["001A", "001B", "001C"], "CSAT__c": ["72", "n/a", None]},
    )
    _raw(
        wh,
        "hubspot",
        "companies",
        "id",
        {"id": ["1", "2"], "nps": [" -20 ", "4,5"], "nps_old": ["9", "x"]},
    )
    sync = SyncSettings.model_validate(
        {
            "salesforce": {"fields": {"accounts": {"satisfaction": "CSAT__c"}}},
            # a list: the first non-empty value ("4,5" on 2, not the older field's "x")
            "hubspot": {"fields": {"accounts": {"satisfaction": ["nps", "nps_old"]}}},
        }
    )
    found = unreadable_numbers(wh, sync, "accounts", "satisfaction")
    assert found.to_dict() == {"sf:001B": "n/a", "hs:2": "4,5"}
    # a connection without HubSpot reads only Salesforce's; nothing mapped reads nothing
    only_sf = unreadable_numbers(wh, sync, "accounts", "satisfaction", ("salesforce",))
    assert only_sf.to_dict() == {"sf:001B": "n/a"}
    assert unreadable_numbers(wh, SyncSettings(), "accounts", "satisfaction").empty
