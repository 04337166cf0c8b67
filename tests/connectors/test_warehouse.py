"""The DuckDB warehouse: idempotent upserts, cursor in the same transaction, merges kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from acm_sync import model
from acm_sync.warehouse import Batch, SyncState, Warehouse


def _accounts(
    ids: list[str], *, name: str = "x", merged: list[str | None] | None = None
) -> pd.DataFrame:
    frame = model.empty_frame("accounts").reindex(range(len(ids)))
    frame["account_id"] = ["hs:" + i for i in ids]
    frame["source"] = "hubspot"
    frame["source_id"] = ids
    frame["name"] = name
    frame["is_deleted"] = False
    frame["merged_into"] = merged or [None] * len(ids)
    return model.conform(frame, "accounts")


def _raw(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": pd.Series(ids, dtype="string"), "_synced_at": datetime.now(UTC), "_run_id": "r"}
    )


def test_upserts_are_idempotent_and_duplicate_free(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    state = SyncState("hubspot", "companies", cursor=datetime(2024, 1, 1, tzinfo=UTC))
    batch = Batch(
        state,
        raw=_raw(["1", "2"]),
        raw_key="id",
        canonical=[("accounts", _accounts(["1", "2", "2"]))],
    )
    for _ in range(3):
        wh.commit(batch, raw_table="raw_hubspot_companies")
    assert wh.count("accounts") == 2
    assert wh.count("raw_hubspot_companies") == 2
    wh.commit(Batch(state, canonical=[("accounts", _accounts(["2"], name="new"))]))
    names = wh.table("accounts").set_index("account_id")["name"].to_dict()
    assert names == {"hs:1": "x", "hs:2": "new"}
    assert wh.state("hubspot", "companies").cursor == datetime(2024, 1, 1, tzinfo=UTC)


def test_a_failed_batch_leaves_neither_rows_nor_cursor(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.commit(Batch(SyncState("hubspot", "companies", cursor=datetime(2024, 1, 1, tzinfo=UTC))))
    bad = _accounts(["1"]).rename(columns={"name": "no_such_column"})
    later = SyncState("hubspot", "companies", cursor=datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(Exception, match="no_such_column"):
        wh.commit(Batch(later, canonical=[("accounts", bad)]))
    assert wh.count("accounts") == 0
    assert wh.state("hubspot", "companies").cursor == datetime(2024, 1, 1, tzinfo=UTC)


def test_merge_pointers_survive_a_later_read_of_the_merged_record(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    state = SyncState("hubspot", "companies")
    wh.commit(Batch(state, canonical=[("accounts", _accounts(["1", "5"]))]))
    stubs = _accounts(["5", "6"], merged=["hs:1", "hs:1"]).assign(is_deleted=True)
    wh.commit(Batch(state, merged_stubs=[("accounts", stubs)]))
    rows = wh.table("accounts").set_index("account_id")
    assert rows.loc["hs:5", "name"] == "x"  # the known record keeps its values
    assert rows.loc["hs:5", "merged_into"] == "hs:1" and rows.loc["hs:6", "is_deleted"]
    # HubSpot's archive lists the merged-away record again, without a pointer.
    wh.commit(Batch(state, canonical=[("accounts", _accounts(["5"]).assign(is_deleted=True))]))
    assert wh.table("accounts").set_index("account_id").loc["hs:5", "merged_into"] == "hs:1"


def test_rows_not_seen_by_a_complete_full_pull_are_flagged_deleted(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    state = SyncState("hubspot", "companies")
    wh.commit(
        Batch(
            state,
            raw=_raw(["1", "2"]),
            raw_key="id",
            canonical=[("accounts", _accounts(["1", "2"]))],
        ),
        raw_table="raw_hubspot_companies",
    )
    started = datetime.now(UTC)
    wh.commit(
        Batch(state, raw=_raw(["1"]), raw_key="id", canonical=[("accounts", _accounts(["1"]))]),
        raw_table="raw_hubspot_companies",
    )
    flagged = wh.mark_vanished(
        source="hubspot",
        table="accounts",
        raw_table="raw_hubspot_companies",
        raw_key="id",
        since=started,
    )
    assert flagged == 1
    deleted = wh.table("accounts").set_index("account_id")["is_deleted"].to_dict()
    assert deleted == {"hs:1": False, "hs:2": True}


def test_a_snapshot_column_empty_on_the_first_run_takes_values_later(tmp_path: Path) -> None:
    # An org's first run may have no value at all in a column (no reason, no URL yet): DuckDB
    # scans such a pandas column as type NULL, and a table created from it could never hold one.
    wh = Warehouse(tmp_path / "w.duckdb")
    first = pd.DataFrame(
        {"run_id": ["r1"], "key": ["a"], "reason": pd.Series([None], dtype=object)}
    )
    wh.replace_run("snapshots", first, "r1")
    later = pd.DataFrame({"run_id": ["r2"], "key": ["a"], "reason": ["overdue"]})
    wh.replace_run("snapshots", later, "r2")
    rows = wh.query("SELECT run_id, reason FROM snapshots ORDER BY run_id")
    assert rows["reason"].tolist()[1] == "overdue"
    assert pd.isna(rows["reason"].tolist()[0])


def test_a_table_an_earlier_release_made_with_a_null_column_is_repaired(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.connect() as con:  # as `CREATE TABLE … AS SELECT * FROM frame LIMIT 0` left it
        con.execute('CREATE TABLE snapshots (run_id VARCHAR, key VARCHAR, reason "NULL")')
    wh.replace_run(
        "snapshots", pd.DataFrame({"run_id": ["r2"], "key": ["a"], "reason": ["x"]}), "r2"
    )
    assert wh.query("SELECT reason FROM snapshots")["reason"].tolist() == ["x"]


def test_a_warehouse_made_before_the_satisfaction_column_gains_it(tmp_path: Path) -> None:
    # An earlier release's accounts table (no `satisfaction`): the next pull must still land,
    # the new column empty for the old rows and filled for the new ones.
    import duckdb

    path = tmp_path / "old.duckdb"
    old = {c: t for c, t in model.ACCOUNTS.items() if c != "satisfaction"}
    with duckdb.connect(str(path)) as con:
        types = {model.STRING: "VARCHAR", model.FLOAT: "DOUBLE", model.INT: "BIGINT"}
        types |= {model.BOOL: "BOOLEAN", model.TIMESTAMP: "TIMESTAMPTZ"}
        cols = ", ".join(f'"{c}" {types[t]}' for c, t in old.items())
        con.execute(f"CREATE TABLE accounts ({cols})")
        con.execute("INSERT INTO accounts (account_id, name) VALUES ('hs:0', 'old')")
    wh = Warehouse(path)
    rows = _accounts(["1"])
    rows["satisfaction"] = pd.array([72.0], dtype=model.FLOAT)
    state = SyncState("hubspot", "companies", cursor=datetime(2024, 1, 1, tzinfo=UTC))
    wh.commit(Batch(state, raw=_raw(["1"]), raw_key="id", canonical=[("accounts", rows)]))
    table = wh.table("accounts").set_index("account_id")
    assert pd.isna(table.loc["hs:0", "satisfaction"])
    assert table.loc["hs:1", "satisfaction"] == 72.0
