"""The EAP pipeline summary's loader (bench/bench_public_eap_pipeline.py): an Excel pivot of
deals made into canonical tables, on a hand-made CSV in its format — only what was known at
each origin."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pandas as pd
import pytest
from canonical_frames import by_id, closings, openings, ts
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
eap = importlib.import_module("bench_public_eap_pipeline")

HEADER = "date_created,date_closed,stage,market_segment,Sum of net_revenue,Count of deal_id"
LINES = (
    "1/2/2024,1/19/2024,Closed Won,SMB,1000,1",  # line 2: won after 17 days
    "1/10/2024,3/1/2024,Closed Lost,SMB,3000,2",  # line 3: two lost deals of 1,500
    "2/1/2024,Open,Qualified,SMB,500,1",  # line 4: open, created after line 2 closed
    "1/5/2024,2/2/2024,Verbal,Large Market,20000,1",  # line 5: a verbal yes = won
    "1/15/2024,3/8/2024,Solutioning,Large Market,7000,1",  # line 6: open; its date not used
)
GRAND_TOTAL = "Grand Total,,,,31500,6"


def write(tmp_path: Path, lines: tuple[str, ...] = LINES, total: str | None = GRAND_TOTAL) -> Path:
    path = tmp_path / "summary.csv"
    rows = [HEADER, *lines, *([total] if total else [])]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")  # Excel's byte-order mark
    return path


def tables(
    tmp_path: Path,
    known_at: pd.Timestamp | None = None,
    lines: tuple[str, ...] = LINES,
    total: str | None = GRAND_TOTAL,
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    raw = eap.read_summary(write(tmp_path, lines, total))
    return eap.canonical_tables(raw, known_at=known_at)


IDS = ["EAP-2-1", "EAP-3-1", "EAP-3-2", "EAP-4-1", "EAP-5-1", "EAP-6-1"]


def test_rows_become_deals_with_outcomes_amounts_and_types(tmp_path: Path) -> None:
    canonical, as_of = tables(tmp_path)
    assert as_of == ts("2024-03-02")  # the day after the last known date (line 3's close)
    opps = by_id(canonical["opportunities"])
    assert list(opps.index) == ["sf:O" + i for i in IDS]
    assert list(opps["stage"]) == [
        "Closed Won",
        "Closed Lost",
        "Closed Lost",
        "Open (SMB)",
        "Closed Won",
        "Open (Large Market)",
    ]
    assert list(opps["is_closed"]) == [True, True, True, False, True, False]
    assert list(opps["is_won"]) == [True, False, False, False, True, False]
    assert list(opps["amount"]) == [1000.0, 1500.0, 1500.0, 500.0, 20000.0, 7000.0]
    assert opps["type"].isna().all()  # the data has no deal type: left blank, as a connector would
    assert list(opps["created_at"]) == [
        ts("2024-01-02"),
        ts("2024-01-10"),
        ts("2024-01-10"),
        ts("2024-02-01"),
        ts("2024-01-05"),
        ts("2024-01-15"),
    ]
    assert opps.loc["sf:OEAP-2-1", "close_date"] == ts("2024-01-19")
    assert opps.loc["sf:OEAP-3-2", "close_date"] == ts("2024-03-01")
    assert opps.loc["sf:OEAP-5-1", "close_date"] == ts("2024-02-02")


def test_each_deal_is_its_own_account_created_with_it(tmp_path: Path) -> None:
    canonical, _ = tables(tmp_path)
    accounts = canonical["accounts"].set_index("account_id")
    assert list(accounts.index) == ["sf:A" + i for i in IDS]
    assert list(canonical["opportunities"]["account_id"]) == ["sf:A" + i for i in IDS]
    assert accounts.loc["sf:AEAP-6-1", "created_at"] == ts("2024-01-15")
    assert accounts["employees"].isna().all()  # no company size in the data: none invented
    assert accounts["industry"].isna().all()


def test_open_deals_show_a_close_from_earlier_cycles_not_their_own_date(tmp_path: Path) -> None:
    canonical, _ = tables(tmp_path)
    opps = by_id(canonical["opportunities"])
    # line 4 (SMB, created 2/1): only EAP-2-1 had closed, after 17 days
    assert opps.loc["sf:OEAP-4-1", "close_date"] == ts("2024-02-18")
    # line 6 (Large Market, created 1/15): none had closed → 30 days; its 3/8 is not used
    assert opps.loc["sf:OEAP-6-1", "close_date"] == ts("2024-02-14")
    history = canonical["opportunity_stage_history"]
    opening = openings(history)
    assert opening.loc["sf:OEAP-3-1", "close_date"] == ts("2024-02-09")  # 1/10 + 30 days
    assert opening.loc["sf:OEAP-3-1", "changed_at"] == ts("2024-01-10")
    closing = closings(history)
    assert sorted(closing.index) == sorted(
        "sf:O" + i for i in IDS if i not in ("EAP-4-1", "EAP-6-1")
    )
    assert closing.loc["sf:OEAP-5-1", "stage"] == "Closed Won"
    assert closing.loc["sf:OEAP-5-1", "changed_at"] == ts("2024-02-02")
    assert len(history) == 10  # 6 openings + 4 closings


@pytest.mark.parametrize(
    ("known_at", "smb", "large"),
    [
        (None, 1 / 3, 1.0),  # at the end: SMB 1 won of 3 closed; Large Market 1 of 1
        (ts("2024-02-01"), 1.0, 0.1),  # only EAP-2-1 (won) had closed; no Large Market close
        (ts("2024-02-02"), 1.0, 0.1),  # EAP-5-1 closes that instant: not known before it
        (ts("2024-02-03"), 1.0, 1.0),
    ],
)
def test_stage_probability_is_the_win_rate_known_at_the_origin(
    tmp_path: Path, known_at: pd.Timestamp | None, smb: float, large: float
) -> None:
    canonical, _ = tables(tmp_path, known_at=known_at)
    opps = by_id(canonical["opportunities"])
    assert opps.loc["sf:OEAP-4-1", "stage_probability"] == pytest.approx(smb)
    assert opps.loc["sf:OEAP-6-1", "stage_probability"] == pytest.approx(large)


def test_without_the_grand_total_row_the_deals_are_the_same(tmp_path: Path) -> None:
    with_total, _ = tables(tmp_path)
    without, _ = tables(tmp_path, total=None)
    pd.testing.assert_frame_equal(with_total["opportunities"], without["opportunities"])


@pytest.mark.parametrize(
    ("lines", "total", "message"),
    [
        (LINES, "Grand Total,,,,31500,7", r"Grand Total \(7 deals, 31,500.00\) is not the sum"),
        (LINES, "Grand Total,,,,31000,6", r"is not the sum of its rows \(6 deals, 31,500.00\)"),
        (("1/2/2024,1/19/2024,Negotiation,SMB,1000,1",), None, "stage.*'Negotiation'"),
        (("1/2/2024,Open,Closed Won,SMB,1000,1",), None, "deal EAP-2-1: date_closed 'Open'"),
        (("1/2/2024,,Closed Lost,SMB,1000,1",), None, "deal EAP-2-1: closed without a date"),
        (("1/20/2024,1/19/2024,Closed Won,SMB,1000,1",), None, "EAP-2-1: closed before created"),
        (("2024-01-02,1/19/2024,Closed Won,SMB,1000,1",), None, "date_created '2024-01-02'"),
        (("1/2/2024,1/19/2024,Closed Won,SMB,1000,0",), None, "line 2: Count of deal_id '0'"),
        (("1/2/2024,1/19/2024,Closed Won,SMB,1000,1.5",), None, "line 2: Count of deal_id '1.5'"),
        (("1/2/2024,1/19/2024,Closed Won,SMB,n/a,1",), None, "line 2: Sum of net_revenue 'n/a'"),
        (("1/2/2024,1/19/2024,Closed Won,,1000,1",), None, "empty value.*market_segment"),
    ],
)
def test_bad_input_is_a_clear_error(
    tmp_path: Path, lines: tuple[str, ...], total: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        tables(tmp_path, lines=lines, total=total)


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    raw = eap.read_summary(write(tmp_path)).drop(columns=["market_segment"])
    with pytest.raises(ValueError, match=r"lacks column.*market_segment"):
        eap.canonical_tables(raw)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 6), st.integers(0, 10**7)),  # (deals in the row, its revenue)
        min_size=1,
        max_size=12,
    )
)
def test_splitting_keeps_every_deal_and_every_dollar(rows: list[tuple[int, int]]) -> None:
    raw = pd.DataFrame(
        [("1/2/2024", "1/19/2024", "Closed Won", "SMB", str(rev), str(n)) for n, rev in rows],
        columns=list(eap.COLUMNS),
    )
    deals = eap.deals_of(raw)
    assert len(deals) == sum(n for n, _ in rows)
    assert deals["amount"].sum() == pytest.approx(sum(rev for _, rev in rows))
    assert deals["source_id"].is_unique
    first = deals.loc[deals["source_id"].str.startswith("EAP-2-")]
    assert list(first["amount"]) == pytest.approx([rows[0][1] / rows[0][0]] * rows[0][0])
