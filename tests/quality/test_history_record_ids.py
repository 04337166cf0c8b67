"""Quarantine record ids of stage-history rows are one per row. Salesforce dates a history row
to the second, and an insert and an update in the same second (a workflow, a quick edit) gave
two rows the same "opportunity @ time" id: two held rows then read as one in the quarantine
(found by the pipeline test counting distinct held ids under a loaded run)."""

from __future__ import annotations

import pandas as pd

from acm_sync.quality import derive


def test_rows_sharing_a_deal_and_second_get_distinct_ids() -> None:
    frame = pd.DataFrame(
        {
            "opportunity_id": ["sf:O1", "sf:O1", "sf:O2", "sf:O1", "sf:O3", "sf:O3"],
            "changed_at": pd.to_datetime(
                ["2024-01-01T10:00:00.1Z", "2024-01-01T10:00:00.7Z", "2024-01-01T10:00:00Z",
                 None, None, None],
                utc=True, format="ISO8601",
            ),
        },
        index=[5, 7, 9, 11, 13, 15],  # rows picked out of a larger frame
    )  # fmt: skip
    ids = derive.record_ids("opportunity_stage_history", frame)
    assert ids.tolist() == [
        "sf:O1@2024-01-01T10:00:00Z",
        "sf:O1@2024-01-01T10:00:00Z#2",
        "sf:O2@2024-01-01T10:00:00Z",
        "sf:O1@?",
        "sf:O3@?",
        "sf:O3@?#2",
    ]
    assert ids.is_unique and list(ids.index) == [5, 7, 9, 11, 13, 15]
    # the opportunity a history issue is reported on is still the part before "@"
    assert set(ids.str.split("@").str[0]) == {"sf:O1", "sf:O2", "sf:O3"}


def test_other_entities_keep_their_own_key() -> None:
    frame = pd.DataFrame({"account_id": ["sf:A1", "sf:A1"]})
    assert derive.record_ids("accounts", frame).tolist() == ["sf:A1", "sf:A1"]
