"""Issue reasons and the per-record issue text written back to the CRMs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from quality_demo import SUITES, Demo

from acm_sync.quality.issues import ISSUE_COLUMNS, ISSUE_TEXT_MAX, issue_texts, show
from acm_sync.quality.validate import QualityRun, validate_tables


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("jane@@x.com", "'jane@@x.com'"),
        ("Sm\x07ith", "'Sm\\x07ith'"),
        ("Indigo \u200bPayments", "'Indigo \\u200bPayments'"),
        (-1200.0, "-1,200"),
        (-1234.5, "-1,234.50"),
        (1e12, "1,000,000,000,000"),
        (0.5, "0.5"),
        (pd.Timestamp("2099-12-31", tz="UTC"), "2099-12-31"),
        (pd.Timestamp("2025-01-02 03:04", tz="UTC"), "2025-01-02 03:04 UTC"),
        (True, "true"),
        (None, "(empty)"),
        (pd.NA, "(empty)"),
        ("x" * 200, "'" + "x" * 59 + "…'"),
    ],
)
def test_values_are_shown_quoted_escaped_and_readable(value: object, shown: str) -> None:
    assert show(value) == shown


def test_reasons_on_the_demo_org_read_like_sentences(demo_run: QualityRun) -> None:
    issues = demo_run.issues
    first = issues.drop_duplicates("code").set_index("code")["reason"]
    assert first["bad_email"].startswith("Email '") and first["bad_email"].endswith(
        "' is not a valid address"
    )
    assert first["negative_amount"].startswith("Amount -")
    assert first["probability_out_of_range"].startswith("Probability ")
    assert "%" in first["probability_out_of_range"]
    assert first["stale_open_deal"].startswith("Still open, but its close date 20")
    assert "days ago" in first["stale_open_deal"]
    assert first["orphan_contact"].startswith("Linked account 'sf:")


def test_duplicates_name_the_other_record(demo_run: QualityRun) -> None:
    issues = demo_run.issues
    dup = issues[issues["code"] == "duplicate_email"]
    for row in dup.head(20).itertuples():
        other = str(row.reason).removeprefix("Same email as ")
        assert other.startswith("sf:") and other != row.record_id
        # ... and the other record names this one back.
        back = dup[dup["record_id"] == other]["reason"]
        assert (back == f"Same email as {row.record_id}").any()
    accounts = issues[issues["code"] == "duplicate_account"]
    assert accounts["reason"].str.match(r"Possible duplicate: same domain '.+' as sf:").all()


def _issues(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    """(record_id, severity, reason, rank) rows of one contact."""
    return pd.DataFrame(
        [
            {
                "entity": "contacts",
                "record_id": record,
                "source": "salesforce",
                "source_id": record.removeprefix("sf:"),
                "code": f"code_{rank}",
                "rule": f"rule_{rank}",
                "severity": severity,
                "reason": reason,
                "rank": rank,
            }
            for record, severity, reason, rank in rows
        ]
    ).astype(ISSUE_COLUMNS)


def test_issue_text_puts_critical_first_then_suite_order() -> None:
    texts = issue_texts(
        _issues(
            [
                ("sf:1", "warning", "Title is missing", 17),
                ("sf:1", "critical", "Email 'x@' is not a valid address", 3),
                ("sf:1", "warning", "Same email as sf:2", 6),
                ("sf:2", "warning", "Same email as sf:1", 6),
            ]
        )
    ).set_index("record_id")
    assert texts.loc["sf:1", "issues"] == (
        "Critical: Email 'x@' is not a valid address\n"
        "Warning: Same email as sf:2\n"
        "Warning: Title is missing"
    )
    assert bool(texts.loc["sf:1", "held_back"]) and not bool(texts.loc["sf:2", "held_back"])
    assert texts.loc["sf:2", "source_id"] == "2"


def test_stage_history_issues_are_reported_on_their_opportunity() -> None:
    issues = _issues([("sf:1", "warning", "Title is missing", 1)])
    history = pd.DataFrame(
        [
            {
                "entity": "opportunity_stage_history",
                "record_id": f"hs:9@2026-0{m}-01T00:00:00Z",
                "source": "hubspot",
                "source_id": "9",
                "code": "unknown_stage",
                "rule": "r",
                "severity": "warning",
                "reason": "Stage history holds deal stage 'x'",
                "rank": 5,
            }
            for m in (1, 2)
        ]
    ).astype(ISSUE_COLUMNS)
    texts = issue_texts(pd.concat([issues, history]))
    assert texts[["entity", "record_id", "issues"]].values.tolist() == [
        ["contacts", "sf:1", "Warning: Title is missing"],
        ["opportunities", "hs:9", "Warning: Stage history holds deal stage 'x'"],
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["critical", "warning"]),
            st.text(min_size=1, max_size=400),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_issue_text_never_exceeds_the_crm_field(lines: list[tuple[str, str]]) -> None:
    rows = [("sf:1", sev, reason, i) for i, (sev, reason) in enumerate(lines)]
    text = issue_texts(_issues(rows))["issues"].iloc[0]
    assert len(text) <= ISSUE_TEXT_MAX
    distinct = len({(sev, reason) for sev, reason in lines})
    if len(text) >= ISSUE_TEXT_MAX - 40 or "more" in text.splitlines()[-1]:
        return
    assert text.count("\n") + 1 == distinct  # everything fitted


def test_too_many_issues_end_with_a_count() -> None:
    rows = [("sf:1", "warning", f"Issue number {i} " + "x" * 80, i) for i in range(30)]
    text = issue_texts(_issues(rows))["issues"].iloc[0]
    assert len(text) <= ISSUE_TEXT_MAX
    assert text.splitlines()[0].startswith("Warning: Issue number 0 ")
    assert text.splitlines()[-1].startswith("… and ") and text.endswith(" more")


def test_issue_texts_do_not_depend_on_row_order_or_the_time_of_day(
    demo: Demo, demo_run: QualityRun, tmp_path: Path
) -> None:
    """The texts are written back to the CRMs: a re-run later the same day over the same
    records in another order must give the same texts, or it would write them all again."""
    shuffled = {
        name: frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
        for name, frame in demo.tables.items()
    }
    later = dataclasses.replace(
        demo.context, as_of=pd.Timestamp(demo.context.as_of).floor("D") + pd.Timedelta(hours=23)
    )
    again = validate_tables(shuffled, SUITES, later, run_id="again", docs_dir=tmp_path)

    def texts(run: QualityRun) -> pd.Series:
        frame = issue_texts(run.issues)
        return frame.set_index(["entity", "record_id"])["issues"].sort_index()

    first, second = texts(demo_run), texts(again)
    assert first.index.equals(second.index)
    differ = first[first != second]
    assert differ.empty, differ.head().to_dict()
