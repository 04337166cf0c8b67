"""The plan preview: a sample across objects and fields, empty as "—", values kept whole."""

from __future__ import annotations

import pandas as pd

from acm_sync.writeback.preview import EMPTY, preview_frame, sample_changes, shown


def _plan(rows: list[tuple[str, str, str, str, object, object, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["crm", "object", "record_id", "field", "before", "after", "action"]
    )


def test_every_changing_field_shows_before_any_shows_twice() -> None:
    rows = [
        ("salesforce", "Account", f"A{i:03}", "ACM_Data_Issues__c", None, "x", "write")
        for i in range(50)
    ]
    rows += [("salesforce", "Account", "A007", "ACM_Tier__c", "New", "Key", "write")]
    rows += [("hubspot", "deals", "9", "acm_win_probability", "10", "20", "write")]
    rows += [("hubspot", "deals", "8", "acm_win_probability", "1", "2", "skip_manual")]
    sample = sample_changes(_plan(rows), 3)
    assert sorted(sample["field"]) == ["ACM_Data_Issues__c", "ACM_Tier__c", "acm_win_probability"]
    assert "skip_manual" not in set(sample["action"])
    assert len(sample_changes(_plan(rows), 100)) == 52  # all sending cells, none twice


def test_empty_values_read_as_a_dash_and_pipes_stay_in_the_value() -> None:
    drivers = "Up: engagement recency | Down: revenue trend"
    rows = [
        ("hubspot", "companies", "1", "acm_health_drivers", None, drivers, "write"),
        ("hubspot", "companies", "2", "acm_tier", float("nan"), "", "write"),
    ]
    frame = preview_frame(_plan(rows), 10)
    assert list(frame["before"]) == [EMPTY, EMPTY]
    assert list(frame["after"]) == [drivers, EMPTY]
    assert shown(0) == "0" and shown("  ") == EMPTY
