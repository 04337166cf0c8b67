"""The suite files are the source of truth: loaded at run time, checked with errors that name the
file and the expectation, and an edit changes behaviour with no code change."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from quality_demo import SUITES, Demo

from acm_sync.quality import derive
from acm_sync.quality.engine import QualityRunError
from acm_sync.quality.stages import StageCatalog
from acm_sync.quality.suites import ENTITIES, SuiteError, load_suite, load_suites
from acm_sync.quality.validate import validate_tables

COLUMNS = {e: derive.columns(e) for e in ENTITIES}


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "expectations"
    shutil.copytree(SUITES, target)
    return target


def _edit(
    directory: Path, entity: str, index: int, change: dict[str, Any], *, merge: bool = True
) -> Path:
    path = directory / f"{entity}.json"
    suite = json.loads(path.read_text())
    item = suite["expectations"][index]
    for key, value in change.items():
        if merge and isinstance(value, dict) and isinstance(item.get(key), dict):
            item[key] = {**item[key], **value}
        else:
            item[key] = value
    path.write_text(json.dumps(suite, indent=2))
    return path


def test_every_suite_loads_with_severity_code_and_reason() -> None:
    suites = load_suites(SUITES, COLUMNS)
    assert set(suites) == set(ENTITIES)
    for suite in suites.values():
        assert suite.rules
        for rule in suite.rules:
            assert rule.severity in ("critical", "warning")
            assert rule.code and rule.reason
            # Data Docs show GX's own severity: it follows meta.severity.
            assert rule.expectation.severity.value == rule.severity


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "expect_column_values_to_match_regexx"}, "not found"),
        ({"kwargs": {"bogus": 1}}, "bogus"),
        ({"kwargs": {"column": "emial"}}, "unknown column(s) ['emial']"),
        ({"meta": {"severity": "fatal"}}, "meta.severity must be one of"),
        ({"meta": {"code": "Bad Code"}}, "meta.code must be a lower_snake_case"),
        ({"meta": {"reason": "Email {nope} is bad"}}, "unknown field(s) ['nope']"),
        ({"kwargs": {"regex": {"$PARAMETER": "email_regex"}}}, "unknown $PARAMETER"),
        (
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
            "row-level",
        ),
    ],
)
def test_a_bad_expectation_names_the_file_and_the_expectation(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    directory = _copy(tmp_path)
    replace = change.get("type") == "expect_table_row_count_to_be_between"
    path = _edit(directory, "contacts", 3, change, merge=not replace)  # the email regex rule
    with pytest.raises(SuiteError) as error:
        load_suites(directory, COLUMNS)
    text = str(error.value)
    assert text.startswith(f"{path}: expectations[3] (")
    assert message in text


def test_malformed_and_missing_files_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "accounts.json"
    broken.write_text('{"name": "accounts", "expectations": [')
    with pytest.raises(SuiteError, match=r"accounts.json: not valid JSON"):
        load_suite(broken, "accounts", COLUMNS["accounts"])
    with pytest.raises(SuiteError, match=r"nowhere.json: suite file not found"):
        load_suite(tmp_path / "nowhere.json", "accounts", COLUMNS["accounts"])


def test_an_expectation_gx_cannot_evaluate_is_named_at_run_time(tmp_path: Path, demo: Demo) -> None:
    directory = _copy(tmp_path)
    path = _edit(directory, "contacts", 3, {"kwargs": {"regex": "(["}})
    with pytest.raises(QualityRunError) as error:
        validate_tables({"contacts": demo.tables["contacts"]}, directory, demo.context, run_id="x")
    assert str(error.value).startswith(f"{path}: expectations[3] (expect_column_values_to_match")


def test_editing_a_suite_changes_behaviour_with_no_code_change(tmp_path: Path, demo: Demo) -> None:
    tables = {"opportunities": demo.tables["opportunities"]}
    before = validate_tables(tables, SUITES, demo.context, run_id="before")
    held = set(before.reports["opportunities"].quarantined["opportunity_id"])
    stale = before.issues[before.issues["code"] == "stale_open_deal"]["record_id"]
    stale = stale[~stale.isin(held)]  # stale and nothing critical: flagged, flowing on
    assert len(stale) and set(stale) <= set(before.reports["opportunities"].valid["opportunity_id"])

    directory = _copy(tmp_path)
    suite = json.loads((directory / "opportunities.json").read_text())
    index = next(
        i for i, e in enumerate(suite["expectations"]) if e["meta"]["code"] == "stale_open_deal"
    )
    _edit(
        directory,
        "opportunities",
        index,
        {"meta": {"severity": "critical"}, "kwargs": {"max_value": 365}},
    )
    after = validate_tables(tables, directory, demo.context, run_id="after")
    now_stale = after.issues[after.issues["code"] == "stale_open_deal"]
    assert set(now_stale["severity"]) == {"critical"}
    assert (
        0 < len(now_stale[~now_stale["record_id"].isin(held)]) < len(stale)
    )  # a year, not 90 days
    assert set(now_stale["record_id"]) <= set(
        after.reports["opportunities"].quarantined["opportunity_id"]
    )

    # Removing a rule removes its issues.
    del suite["expectations"][index]
    (directory / "opportunities.json").write_text(json.dumps(suite))
    gone = validate_tables(tables, directory, demo.context, run_id="gone")
    assert "stale_open_deal" not in set(gone.issues["code"])


def test_records_of_a_crm_without_its_stage_list_are_an_error_not_a_mass_quarantine(
    demo: Demo,
) -> None:
    only_salesforce = StageCatalog(demo.context.stages.frame.query("source == 'salesforce'"))
    context = replace(demo.context, stages=only_salesforce)
    with pytest.raises(QualityRunError, match=r"from hubspot but no stage list for it"):
        validate_tables(
            {"opportunities": demo.tables["opportunities"]}, SUITES, context, run_id="x"
        )
    # A CRM without records needs no list (a Salesforce-only org).
    opportunities = demo.tables["opportunities"]
    salesforce = opportunities[opportunities["source"] == "salesforce"]
    run = validate_tables({"opportunities": salesforce}, SUITES, context, run_id="x")
    assert "unknown_stage" in set(run.issues["code"])
