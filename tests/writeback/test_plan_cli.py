"""`acm-sync plan`: the write plan as CSV, on a warehouse filled through WritebackStore."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from acm_sync.cli import app
from acm_sync.warehouse import PATH_ENV, Warehouse
from acm_sync.writeback.plan import PLAN_COLUMNS
from acm_sync.writeback.store import Batch, Rejection, WritebackStore

runner = CliRunner()
COLUMNS = [
    "crm",
    "object",
    "record_id",
    "name",
    "url",
    "field",
    "before",
    "after",
    "action",
    "status",
]

CELLS = [
    ("salesforce", "Account", "001A", "ACM_Tier__c", "New", "Key", "write", None),
    ("salesforce", "Account", "001A", "ACM_Scored_At__c", None, "2024-03-01T00:00:00Z", "write"),
    ("salesforce", "Account", "001B", "ACM_Tier__c", "Dormant", "Key", "skip_manual", "Key"),
    ("salesforce", "Account", "001C", "ACM_Health_Score__c", "70", "73", "overwrite_manual", "70"),
    ("salesforce", "Account", "001D", "ACM_Tier__c", "New", "Key", "skip_given_up", None),
    ("salesforce", "Opportunity", "006A", "ACM_Win_Probability__c", "40", "55", "write", None),
    ("hubspot", "companies", "101", "acm_tier", None, "Key", "write", None),
    ("hubspot", "companies", "102", "acm_data_issues", "bad email", None, "write", None),
]


def plan_frame(cells: list[tuple[str | None, ...]]) -> pd.DataFrame:
    padded = [(*c, None)[:8] for c in cells]  # last_written defaults to empty
    return pd.DataFrame(padded, columns=["crm", "object", *PLAN_COLUMNS]).astype(object)


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    store = WritebackStore(Warehouse(path))
    store.save_plan("run-old", plan_frame([CELLS[0]]))
    time.sleep(0.01)
    store.save_plan("run-new", plan_frame(CELLS))
    # part of the new plan applied: 001A written, the opportunity rejected
    store.record_outcome(
        Batch("b1", "run-new", "salesforce", "Account", {"001A": {"ACM_Tier__c": "Key"}}),
        written=["001A"],
        rejected=[],
    )
    store.record_outcome(
        Batch("b2", "run-new", "salesforce", "Opportunity", {"006A": {"x": "55"}}),
        written=[],
        rejected=[Rejection("006A", {"x": "55"}, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "no")],
    )
    return path


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return runner.invoke(app, ["plan", *args], env=env or {PATH_ENV: None})


def parse(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == COLUMNS
    return list(reader)


def test_exports_the_latest_plan_to_stdout(warehouse: Path) -> None:
    result = invoke("--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    rows = parse(result.stdout)
    # the cells to send and the manual edits kept; not the given-up record
    assert [(r["record_id"], r["field"], r["action"]) for r in rows] == [
        ("101", "acm_tier", "write"),
        ("102", "acm_data_issues", "write"),
        ("001A", "ACM_Scored_At__c", "write"),
        ("001A", "ACM_Tier__c", "write"),
        ("001B", "ACM_Tier__c", "skip_manual"),
        ("001C", "ACM_Health_Score__c", "overwrite_manual"),
        ("006A", "ACM_Win_Probability__c", "write"),
    ]
    by_cell = {(r["record_id"], r["field"]): r for r in rows}
    tier = by_cell[("001A", "ACM_Tier__c")]
    assert (tier["crm"], tier["object"], tier["before"], tier["after"]) == (
        "salesforce",
        "Account",
        "New",
        "Key",
    )
    assert tier["status"] == "written"
    assert by_cell[("006A", "ACM_Win_Probability__c")]["status"] == "rejected"
    assert by_cell[("101", "acm_tier")]["before"] == ""  # empty, not "None"
    assert by_cell[("102", "acm_data_issues")]["after"] == ""  # a clear
    assert by_cell[("001B", "ACM_Tier__c")]["status"] == ""  # skipped: no outcome
    # the summary goes to stderr only
    assert "Write plan run-new" in result.stderr
    assert "Write plan" not in result.stdout


def summary_rows(stderr: str) -> dict[tuple[str, str], list[int]]:
    """The summary table's rows: (crm, object) → records, fields, manual, given up, written,
    rejected."""
    out = {}
    for line in stderr.splitlines():
        words = line.split()
        if len(words) == 8 and words[0] in ("salesforce", "hubspot"):
            out[(words[0], words[1])] = [int(w.replace(",", "")) for w in words[2:]]
    return out


def test_summary_per_crm_object(warehouse: Path) -> None:
    result = invoke("--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    assert summary_rows(result.stderr) == {
        # records to send, fields to send, manual edits (kept + overwritten), given up,
        # fields written, fields rejected
        ("salesforce", "Account"): [2, 3, 2, 1, 2, 0],
        ("salesforce", "Opportunity"): [1, 1, 0, 0, 0, 1],
        ("hubspot", "companies"): [2, 2, 0, 0, 0, 0],
    }
    assert (
        "plan run-new applied: 2 of 6 planned fields written (5 records) "
        "(2 manual edits, 1 given up)" in " ".join(result.stderr.split())
    )


def test_a_plan_not_sent_says_it_is_a_dry_run_or_awaits_approval(warehouse: Path) -> None:
    result = invoke("--warehouse", str(warehouse), "--run-id", "run-old")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stderr.split())
    assert "plan run-old: 1 records / 1 fields planned, none sent — a dry run, or awaiting" in text
    assert "`acm-sync apply --plan-id run-old`" in text


def test_all_includes_the_skipped_cells(warehouse: Path) -> None:
    result = invoke("--warehouse", str(warehouse), "--all")
    assert result.exit_code == 0, result.output
    rows = parse(result.stdout)
    assert len(rows) == len(CELLS)
    assert {r["action"] for r in rows} >= {"skip_given_up", "skip_manual"}


def test_a_given_run_and_a_file(warehouse: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "plan.csv"
    result = invoke("--warehouse", str(warehouse), "--run-id", "run-old", "--out", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    rows = parse(target.read_text())
    assert [(r["record_id"], r["field"], r["after"]) for r in rows] == [
        ("001A", "ACM_Tier__c", "Key")
    ]
    assert "Write plan run-old" in result.stderr
    assert str(target) in result.stderr.replace("\n", "")


def test_an_unknown_run_is_an_error(warehouse: Path) -> None:
    result = invoke("--warehouse", str(warehouse), "--run-id", "nope")
    assert result.exit_code == 1
    assert "no write plan of run nope" in result.stderr
    assert result.stdout == ""


def test_the_warehouse_from_the_environment(warehouse: Path) -> None:
    result = invoke(env={PATH_ENV: str(warehouse)})
    assert result.exit_code == 0, result.output
    assert len(parse(result.stdout)) == 7


def test_the_default_warehouse_is_under_the_working_directory(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke()
    assert result.exit_code == 1
    assert "warehouse/acm_sync.duckdb" in result.stderr.replace("\n", "")
    (tmp_path / "warehouse").mkdir()
    warehouse.rename(tmp_path / "warehouse" / "acm_sync.duckdb")
    result = invoke()
    assert result.exit_code == 0, result.output
    assert len(parse(result.stdout)) == 7


def test_no_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    result = invoke("--warehouse", str(missing))
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "run the `plan` job or `acm-sync demo` first" in message
    assert not missing.exists()  # looking did not create it


def test_a_warehouse_without_a_plan_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse(path).connect():
        pass  # the pipeline's tables, no write plan
    result = invoke("--warehouse", str(path))
    assert result.exit_code == 1
    assert "no write plan yet" in result.stderr
    assert "run the `plan` job or `acm-sync demo` first" in " ".join(result.stderr.split())


def test_an_empty_plan_exports_the_header_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    WritebackStore(Warehouse(path)).save_plan("run-1", plan_frame([]))
    result = invoke("--warehouse", str(path))
    assert result.exit_code == 0, result.output
    assert parse(result.stdout) == []
    assert "nothing to write" in result.stderr
