"""bench/backtest_csv.py: the forecast backtest on any deals export, on hand-made CSVs — the
column mapping (guessed or given, printed), every row used or set aside with one reason, bad
files as one-line errors, and a backtest whose bookings are counted by hand."""

from __future__ import annotations

import csv
import importlib
import io
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from canonical_frames import by_id, ts
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
backtest_csv = importlib.import_module("backtest_csv")


def write(tmp_path: Path, *lines: str, name: str = "deals.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def export_of(path: Path, **options: object) -> object:
    raw, _ = backtest_csv.read_export(path)
    return backtest_csv.export_from(raw, **options)  # type: ignore[arg-type]


def run(path: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = backtest_csv.main([str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (  # a Salesforce report
            "Opportunity ID,Account Name,Type,Stage,Amount,Created Date,Close Date",
            {
                "id": "Opportunity ID",
                "account": "Account Name",
                "type": "Type",
                "stage": "Stage",
                "amount": "Amount",
                "created": "Created Date",
                "close_date": "Close Date",
            },
        ),
        (  # Salesforce API names
            "Id,AccountId,StageName,Amount,CreatedDate,CloseDate",
            {
                "id": "Id",
                "account": "AccountId",
                "stage": "StageName",
                "amount": "Amount",
                "created": "CreatedDate",
                "close_date": "CloseDate",
            },
        ),
        (  # a HubSpot deals export
            "Record ID,Deal Stage,Amount,Create Date,Close Date,Pipeline,Deal Type,"
            "Associated Company",
            {
                "id": "Record ID",
                "stage": "Deal Stage",
                "amount": "Amount",
                "created": "Create Date",
                "close_date": "Close Date",
                "segment": "Pipeline",
                "type": "Deal Type",
                "account": "Associated Company",
            },
        ),
        (  # HubSpot internal names, lower case
            "dealstage,amount,createdate,closedate,dealtype,company",
            {
                "stage": "dealstage",
                "amount": "amount",
                "created": "createdate",
                "close_date": "closedate",
                "type": "dealtype",
                "account": "company",
            },
        ),
        (  # snake case, a "close value" amount, a segment
            "deal_stage,close_value,created,close_date,account,segment",
            {
                "stage": "deal_stage",
                "amount": "close_value",
                "created": "created",
                "close_date": "close_date",
                "account": "account",
                "segment": "segment",
            },
        ),
        (  # a Zoho CRM deals export
            "Deal Name,Account Name,Type,Stage,Amount,Closing Date,Created Time",
            {
                "account": "Account Name",
                "type": "Type",
                "stage": "Stage",
                "amount": "Amount",
                "close_date": "Closing Date",
                "created": "Created Time",
            },
        ),
        (  # a Dynamics 365 opportunities export: Status is Open / Won / Lost
            "Topic,Potential Customer,Status,Est. Revenue,Est. Close Date,Actual Close Date,"
            "Created On",
            {
                "account": "Potential Customer",
                "stage": "Status",
                "amount": "Est. Revenue",
                "close_date": "Actual Close Date",
                "created": "Created On",
            },
        ),
        (  # a Pipedrive deals export
            "Deal - ID,Deal - Title,Deal - Organization,Deal - Value,Deal - Status,"
            "Deal - Deal created,Deal - Expected close date,Deal - Deal closed on",
            {
                "id": "Deal - ID",
                "account": "Deal - Organization",
                "amount": "Deal - Value",
                "stage": "Deal - Status",
                "created": "Deal - Deal created",
                "close_date": "Deal - Deal closed on",
            },
        ),
        (  # "deal value", mixed case, an is_won / is_closed pair instead of a stage
            "CREATED_DATE,CloseDate,Deal Value,IsWon,IsClosed",
            {
                "created": "CREATED_DATE",
                "close_date": "CloseDate",
                "amount": "Deal Value",
                "is_won": "IsWon",
                "is_closed": "IsClosed",
            },
        ),
    ],
)
def test_common_header_names_are_guessed_and_printed(header: str, expected: dict[str, str]) -> None:
    mapping, lines = backtest_csv.column_mapping(header.split(","), {})
    assert mapping == expected
    for column in expected.values():
        assert f"{column!r} (guessed)" in "\n".join(lines)


def test_a_stage_column_wins_over_an_is_won_pair_unless_the_pair_is_given() -> None:
    columns = ["created", "close_date", "amount", "StageName", "IsWon", "IsClosed"]
    mapping, _ = backtest_csv.column_mapping(columns, {})
    assert mapping["stage"] == "StageName" and "is_won" not in mapping
    given = {"is_won": "IsWon", "is_closed": "IsClosed"}
    mapping, lines = backtest_csv.column_mapping(columns, given)
    assert "stage" not in mapping and mapping["is_won"] == "IsWon"
    assert "  is_won       --is-won     'IsWon' (given)" in lines


def test_explicit_mapping_overrides_the_guess_and_absent_roles_say_what_happens() -> None:
    columns = ["opened", "closed_on", "amount", "booked_value", "phase", "created"]
    given = {"created": "opened", "amount": "booked_value", "stage": "phase"}
    mapping, lines = backtest_csv.column_mapping(columns, given)
    assert mapping == {
        "created": "opened",
        "close_date": "closed_on",
        "amount": "booked_value",
        "stage": "phase",
    }
    assert lines == [
        "  created date --created    'opened' (given)",
        "  close date   --close-date 'closed_on' (guessed)",
        "  amount       --amount     'booked_value' (given)",
        "  stage        --stage      'phase' (given)",
        "  deal id      --id         none: deals numbered by row",
        "  account      --account    none: each deal is its own account (account WAPE = deal WAPE)",
        "  type         --type       none: every deal's type is other",
        "  segment      --segment    none: one group ('all deals')",
    ]


@pytest.mark.parametrize(
    ("columns", "given", "message"),
    [
        (
            ["Stage", "Amount", "Close Date"],
            {},
            "no created date column (give --created COLUMN); columns found: 'Stage', "
            "'Amount', 'Close Date'",
        ),
        (
            ["Created", "Amount", "Close Date"],
            {},
            "no stage column (give --stage COLUMN, or --is-won COLUMN and --is-closed COLUMN);"
            " columns found: 'Created', 'Amount', 'Close Date'",
        ),
        (
            ["Created", "Stage", "Close Date", "Revenue"],
            {},
            "no amount column (give --amount COLUMN, or --count to count deals); columns found: "
            "'Created', 'Stage', 'Close Date', 'Revenue'",
        ),
        (
            ["Created", "Stage", "Close Date", "Amount"],
            {"amount": "ACV"},
            "--amount 'ACV' is not a column; columns found: 'Created', 'Stage', "
            "'Close Date', 'Amount'",
        ),
        (
            ["Created", "Close Date", "Amount", "IsWon"],
            {},
            "no stage column (give --stage COLUMN, or --is-won COLUMN and --is-closed COLUMN);"
            " columns found: 'Created', 'Close Date', 'Amount', 'IsWon'",
        ),
    ],
)
def test_an_unmappable_export_names_the_column_and_the_columns_found(
    columns: list[str], given: dict[str, str], message: str
) -> None:
    with pytest.raises(backtest_csv.ExportError) as error:
        backtest_csv.column_mapping(columns, given)
    assert str(error.value) == message


def test_dates_iso_and_us_with_or_without_times() -> None:
    text = pd.Series(
        [
            "2024-01-05",
            "2024-01-05T10:30:00Z",
            "2024-01-05 10:30:00+02:00",
            "1/5/2024",
            "01/05/2024 10:30 AM",
            "01/05/2024 22:30",
            "1/5/24",
            "Jan 5, 2024",
            "2024/01/05",
            "31/12/2024",  # day first: not a US date, so unreadable
            "next week",
            None,
        ]
    )
    parsed = backtest_csv.parse_dates(text)
    assert list(parsed[:9]) == [
        ts("2024-01-05"),
        ts("2024-01-05 10:30"),
        ts("2024-01-05 08:30"),
        ts("2024-01-05"),
        ts("2024-01-05 10:30"),
        ts("2024-01-05 22:30"),
        ts("2024-01-05"),
        ts("2024-01-05"),
        ts("2024-01-05"),
    ]
    assert parsed[9:].isna().all()
    day_first = backtest_csv.parse_dates(pd.Series(["31/12/2024", "1/5/2024"]), "%d/%m/%Y")
    assert list(day_first) == [ts("2024-12-31"), ts("2024-05-01")]


def test_amounts_with_currency_and_thousands_separators() -> None:
    readable = ["1200", "$1,200.50", "USD 99", "€ 2,000", "1,234,567", "-5", "$-5", "0", ".5"]
    unreadable = ["12k", "1.200,50", "1,20", "abc", "1.2.3", None]
    amounts = backtest_csv.parse_amounts(pd.Series([*readable, *unreadable]))
    assert list(amounts[:9]) == [1200.0, 1200.5, 99.0, 2000.0, 1234567.0, -5.0, -5.0, 0.0, 0.5]
    assert amounts[9:].isna().all()


def test_types_read_from_their_words() -> None:
    read = {
        value: backtest_csv.contract_type(value)
        for value in (
            "New Business",
            "newbusiness",
            "Renewal",
            "existingbusiness",
            "Existing Customer - Upgrade",
            "Expansion",
            "Upsell",
            "Existing Customer - Replacement",
            None,
        )
    }
    assert read == {
        "New Business": "new",
        "newbusiness": "new",
        "Renewal": "renewal",
        "existingbusiness": "renewal",
        "Existing Customer - Upgrade": "expansion",
        "Expansion": "expansion",
        "Upsell": "expansion",
        "Existing Customer - Replacement": None,
        None: None,
    }


REASONS_CSV = (
    "id,created,close_date,stage,amount",
    "D1,2024-01-02,2024-02-01,Closed Won,1000",  # row 1: used
    "D2,,2024-02-01,Closed Won,1000",  # row 2: no created date
    "D3,31/12/2024,2024-02-01,Closed Lost,1000",  # row 3: created date unreadable
    "D4,2024-01-02,,Closed Won,1000",  # row 4: closed without a close date
    "D5,2024-01-02,soon,Closed Lost,1000",  # row 5: close date unreadable
    "D6,2024-03-01,2024-02-01,Closed Won,1000",  # row 6: closed before created
    "D7,2024-01-02,,Negotiation,",  # row 7: open without an amount
    "D8,2024-01-02,2024-02-01,Closed Lost,",  # row 8: closed without an amount
    "D9,2024-01-02,2024-02-01,Closed Won,12k",  # row 9: amount unreadable
    "D10,2024-01-02,2024-02-01,Closed Won,-300",  # row 10: negative
    "D1,2024-01-03,,Negotiation,50",  # row 11: D1 again
    "D12,2024-01-02,,,50",  # row 12: no stage
    'D13,2024-01-02,not a date,Negotiation,"$2,500"',  # row 13: used (an open deal's date unused)
    "D14,2024-01-02,2024-02-01,Closed Won,",  # row 14: closed without an amount
)


def test_each_row_set_aside_has_its_reason(tmp_path: Path) -> None:
    export = export_of(write(tmp_path, *REASONS_CSV))
    assert export.rows == 14
    assert list(export.deals["row"]) == [1, 13]
    assert list(export.deals["amount"]) == [1000.0, 2500.0]
    assert export.set_aside.to_dict() == {
        2: "no created date",
        3: "created date unreadable",
        4: "closed deal without a close date",
        5: "close date unreadable",
        6: "closed before created",
        7: "open deal without an amount (not read as 0)",
        8: "closed deal without an amount",
        9: "amount unreadable",
        10: "negative amount",
        11: "repeated id (its first usable row kept)",
        12: "no stage",
        14: "closed deal without an amount",
    }
    lines = backtest_csv.set_aside_lines(export)
    assert lines[0] == "pulled 14 = used 2 + set aside 12"
    assert "  set aside 2: closed deal without an amount (rows 8, 14)" in lines
    assert "  set aside 1: open deal without an amount (not read as 0) (row 7)" in lines
    assert len(lines) == 1 + 11  # one line per reason


def test_a_repeated_id_keeps_its_first_usable_row(tmp_path: Path) -> None:
    export = export_of(
        write(
            tmp_path,
            "id,created,close_date,stage,amount",
            "D1,2024-01-02,,Negotiation,",  # row 1: set aside (no amount): not the one kept
            "D1,2024-01-05,2024-02-01,Closed Won,700",  # row 2: D1's first usable row
            "D1,2024-01-06,2024-02-02,Closed Won,800",  # row 3: repeated
        )
    )
    assert list(export.deals["row"]) == [2]
    assert export.set_aside.to_dict() == {
        1: "open deal without an amount (not read as 0)",
        3: "repeated id (its first usable row kept)",
    }


PROSPECTING_CSV = (
    "Deal,Company,Stage,Value,Created,Expected Close",
    'A-1,Acme,Won,"$12,000",1/3/2024,2/14/2024',
    'A-2,Acme,Lost,"$3,000",1/10/2024,3/1/2024',
    "B-1,Birch,Prospecting,,4/2/2024,",  # open, no amount, no close date: set aside
    'B-2,Birch,Engaging,"$8,000",4/9/2024,',  # open, no close date: used
    'C-1,,Won,"$1,500",2/1/2024 09:15,3/30/2024 17:00',  # no company: its own account
    "C-2,Cedar,Engaging,,5/1/2024,6/30/2024",  # open, no amount: set aside
)


def test_stages_named_won_lost_open_deals_without_close_dates_or_amounts(
    tmp_path: Path,
) -> None:
    given = {"close_date": "Expected Close", "id": "Deal"}
    export = export_of(write(tmp_path, *PROSPECTING_CSV), given=given)
    assert export.set_aside.to_dict() == {
        3: "open deal without an amount (not read as 0)",
        6: "open deal without an amount (not read as 0)",
    }
    deals = export.deals.set_index("source_id")
    assert list(deals.index) == ["A-1", "A-2", "B-2", "C-1"]
    assert list(deals["won"]) == [True, False, False, True]
    assert list(deals["lost"]) == [False, True, False, False]
    assert list(deals["amount"]) == [12000.0, 3000.0, 8000.0, 1500.0]
    assert deals.loc["C-1", "closed_at"] == ts("2024-03-30 17:00")
    assert pd.isna(deals.loc["B-2", "closed_at"])
    assert export.as_of == ts("2024-04-10")  # the day after the last date used (B-2's creation)
    assert "  won  'Won' (2) — guessed; --won to change" in export.lines
    assert "  lost 'Lost' (1) — guessed; --lost to change" in export.lines
    assert "  open 'Engaging' (2), 'Prospecting' (1) — every other value" in export.lines
    assert "account: blank for 1 deal(s) used: each is its own account" in export.lines

    tables, _ = backtest_csv.canonical_tables(export)
    opps = by_id(tables["opportunities"])
    assert list(opps["stage"]) == ["Closed Won", "Closed Lost", "Open (all deals)", "Closed Won"]
    assert opps.loc["sf:OA-1", "account_id"] == opps.loc["sf:OA-2", "account_id"]
    assert opps.loc["sf:OC-1", "account_id"] == "sf:Adeal-C-1"
    assert sorted(tables["accounts"]["name"]) == ["Acme", "Birch", "deal C-1"]
    # B-2's shown close: created + the median cycle of the deals closed before it was created
    # (A-1 42 days, A-2 51 days, C-1 58.3 days → 51 days)
    assert opps.loc["sf:OB-2", "close_date"] == ts("2024-04-09") + pd.Timedelta(days=51)


def test_given_won_and_lost_values_and_an_unknown_one_is_noted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "created,close_date,stage,amount",
        "2024-01-02,2024-02-01,Converted,100",
        "2024-01-02,2024-02-01,Churned,200",
        "2024-01-02,2024-02-01,Closed Won,300",
        "2024-01-02,,Trial,400",
    )
    export = export_of(path, won_values=["converted", "Signed"], lost_values=["Churned"])
    assert list(export.deals["won"]) == [True, False, False, False]
    assert list(export.deals["lost"]) == [False, True, False, False]
    assert "  note: --won 'Signed' is no stage value here" in export.lines
    assert "  won  'Converted' (1) — given" in export.lines
    assert "  open 'Closed Won' (1), 'Trial' (1) — every other value" in export.lines


def test_an_is_won_is_closed_pair(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "created,close_date,amount,is_won,is_closed",
        "2024-01-02,2024-02-01,100,true,true",
        "2024-01-02,2024-02-01,200,0,1",
        "2024-01-02,,300,No,No",
        "2024-01-02,2024-02-01,400,yes,no",
        "2024-01-02,2024-02-01,500,maybe,yes",
    )
    export = export_of(path)
    assert list(export.deals["won"]) == [True, False, False]
    assert list(export.deals["lost"]) == [False, True, False]
    assert export.set_aside.to_dict() == {
        4: "won but not closed",
        5: "is_won / is_closed blank or unreadable",
    }


def test_as_of_sets_later_deals_aside_and_reopens_later_closes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "id,created,close_date,stage,amount",
        "D1,2024-01-02,2024-02-01,Closed Won,100",
        "D2,2024-01-02,2024-03-15,Closed Lost,200",  # closed after the as-of date: open then
        "D3,2024-03-01,2024-03-02,Closed Won,300",  # created on the as-of date: not there yet
    )
    export = export_of(path, as_of=ts("2024-03-01"))
    assert export.as_of == ts("2024-03-01")
    assert list(export.deals["source_id"]) == ["D1", "D2"]
    assert list(export.deals["lost"]) == [False, False]
    assert pd.isna(export.deals["closed_at"].iloc[1])
    assert export.set_aside.to_dict() == {3: "created on or after --as-of 2024-03-01"}


def test_semicolons_and_latin_1_are_read(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    path.write_bytes(
        "created;close_date;stage;amount;account\n"
        "2024-01-02;2024-02-01;Closed Won;1000;Société Générale\n".encode("latin-1")
    )
    raw, notes = backtest_csv.read_export(path)
    assert notes == ["read as Latin-1 (the file is not UTF-8)"]
    assert raw.loc[1, "account"] == "Société Générale"


@pytest.mark.parametrize(
    ("lines", "args", "message"),
    [
        ((), (), "the file is empty (no header line)"),
        (("created,close_date,stage,amount",), (), "no deal rows under the header"),
        (
            ("Stage,Amount,Close Date", "Closed Won,10,2024-01-01"),
            (),
            "no created date column (give --created COLUMN); columns found: 'Stage', "
            "'Amount', 'Close Date'",
        ),
        (
            (
                "created,close_date,stage,amount",
                "31/01/2024,2024-02-01,Closed Won,10",
                "yesterday,2024-02-01,Closed Lost,10",
            ),
            (),
            "no row can be used: created date unreadable (2)",
        ),
        (
            ("created,close_date,stage,amount", "2024-01-02,,Open,10"),
            (),
            "no usable deal is won or lost",
        ),
        (
            ("created,close_date,stage,amount", "2024-01-02,,Open,10"),
            ("--date-format", "%Q"),
            "--date-format '%Q': 'Q' is a bad directive",
        ),
        (
            ("created,close_date,stage,amount", "2024-01-02,,Open,10"),
            ("--stage", "Phase"),
            "--stage 'Phase' is not a column; columns found: 'created', 'close_date', "
            "'stage', 'amount'",
        ),
    ],
)
def test_a_bad_file_is_a_one_line_error_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lines: tuple[str, ...],
    args: tuple[str, ...],
    message: str,
) -> None:
    path = tmp_path / "deals.csv"
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    code, _, err = run(path, *args, capsys=capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_a_missing_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(tmp_path / "nope.csv", capsys=capsys)
    assert (code, err) == (2, f"error: {tmp_path / 'nope.csv'}: no such file\n")


# A small export, bookings counted by hand. Origins with --as-of 2025-01-01 and --origins 2:
# 2024-07-01 and 2024-10-01 (one quarter each).
#   2024Q3 bookings (won, closed 2024-07-01 … 09-30): W5 1,000 (open at the origin) + W6 2,500
#     (created 07-10, after it) = 3,500; the open pipeline at 07-01: W5, W7, L4, O1 → 4 deals.
#   2024Q4 bookings: W7 3,000 (open at 10-01) + W8 750 (created 11-01; closed 12-31 23:30 UTC)
#     = 3,750; W9 closes 2025-01-15, after --as-of: open. Open at 10-01: W7, O1 → 2 deals.
SMALL_EXPORT = (
    "Opportunity ID,Account Name,Type,Stage,Amount,Created Date,Close Date",
    'W1,Acme,New Business,Closed Won,"$2,000",1/3/2024,2/10/2024',
    'W2,Birch,New Business,Closed Won,"$1,200",1/20/2024,3/5/2024',
    'L1,Cedar,New Business,Closed Lost,"$5,000",2/1/2024,3/20/2024',
    "L2,Dune,New Business,Closed Lost,$800,2/15/2024,4/2/2024",
    'W3,Acme,Renewal,Closed Won,"$2,100",3/1/2024,4/15/2024',
    "W4,Elm,New Business,Closed Won,$900,3/10/2024,5/1/2024",
    'L3,Fjord,New Business,Closed Lost,"$4,000",4/1/2024,5/20/2024',
    'W5,Grove,New Business,Closed Won,"$1,000",5/1/2024,7/15/2024',
    'L4,Heath,New Business,Closed Lost,"$4,000",6/15/2024,9/1/2024',
    'W7,Birch,Expansion,Closed Won,"$3,000",6/1/2024,10/5/2024',
    'O1,Iris,New Business,Negotiation,"$6,000",6/20/2024,',
    'W6,Jade,New Business,Closed Won,"$2,500",7/10/2024,8/20/2024',
    "W8,Kiln,New Business,Closed Won,$750,11/1/2024,12/31/2024 11:30 PM",
    'W9,Lark,New Business,Closed Won,"$9,999",12/1/2024,1/15/2025',
    "O2,Moss,New Business,Prospecting,,12/5/2024,",
    "L5,Nook,New Business,Closed Lost,$300,1/20/2025,2/1/2025",
)


def test_end_to_end_a_small_export_prints_its_backtest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACM_SYNC_CONFIG", raising=False)
    path = write(tmp_path, *SMALL_EXPORT, name="our_deals.csv")
    code, out, err = run(path, "--as-of", "2025-01-01", "--origins", "2", capsys=capsys)
    assert (code, err) == (0, "")
    assert "  created date --created    'Created Date' (guessed)" in out
    assert "  type         --type       'Type' (guessed)" in out
    type_line = next(line for line in out.splitlines() if line.startswith("type: "))
    assert "'New Business' → new (12)" in type_line
    assert "'Renewal' → renewal (1)" in type_line and "'Expansion' → expansion (1)" in type_line
    assert "pulled 16 = used 14 + set aside 2" in out
    assert "  set aside 1: open deal without an amount (not read as 0) (row 15)" in out
    assert "  set aside 1: created on or after --as-of 2025-01-01 (row 16)" in out
    assert (
        "Backtest: our_deals.csv (12 accounts, 14 deals, 8 won), as of 2025-01-01 (--as-of), "
        "2 origins, horizon 1 quarter;"
    ) in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line[:6] == "2024Q3"}
    rows |= {line.split()[0]: line.split() for line in out.splitlines() if line[:6] == "2024Q4"}
    assert [rows["2024Q3"][2], rows["2024Q3"][3]] == ["4", "3,500"]
    assert [rows["2024Q4"][2], rows["2024Q4"][3]] == ["2", "3,750"]
    split = [line.split() for line in out.splitlines() if line.startswith("  2024Q")]
    # open pipeline actual | created after the origin actual
    assert [(s[0], s[1], s[5]) for s in split] == [
        ("2024Q3", "1,000", "2,500"),
        ("2024Q4", "3,000", "750"),
    ]


def test_quarters_over_before_the_first_deal_are_not_backtested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the first deal, W1, was created 2024-01-03: of the 8 quarters asked (2023Q1 – 2024Q4),
    # 2023Q1 – 2023Q4 ended before it (2023Q4 on 2024-01-01)
    monkeypatch.delenv("ACM_SYNC_CONFIG", raising=False)
    path = write(tmp_path, *SMALL_EXPORT, name="our_deals.csv")
    code, out, _ = run(path, "--as-of", "2025-01-01", "--origins", "8", capsys=capsys)
    assert code == 0
    assert (
        "4 origins (of 8 asked: 4 ended before the first deal was created), horizon 1 quarter;"
    ) in out
    origins = [line.split()[0] for line in out.splitlines() if line[:4] in ("2023", "2024")]
    assert origins == ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]


def test_horizon_option_sets_the_backtest_horizon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACM_SYNC_CONFIG", raising=False)
    path = write(tmp_path, *SMALL_EXPORT)
    args = ("--as-of", "2025-01-01", "--origins", "1", "--horizon", "2")
    code, out, _ = run(path, *args, capsys=capsys)
    assert code == 0
    assert "1 origins, horizon 2 quarters;" in out
    # the last quarter start whose two quarters ended by 2025-01-01: 2024-07-01; its bookings
    # to 2024-12-31: 3,500 + 3,750
    row = next(line.split() for line in out.splitlines() if line.startswith("2024Q3"))
    assert row[3] == "7,250"


def _lost_amounts(rows: tuple[str, ...], value: str) -> list[str]:
    """SMALL_EXPORT's lines with every lost deal's amount replaced by `value`."""
    table = list(csv.reader(rows))
    amount = table[0].index("Amount")
    for fields in table[1:]:
        if fields[3] == "Closed Lost":
            fields[amount] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(table)
    return out.getvalue().splitlines()


@pytest.mark.parametrize(
    ("lost", "won", "tells"),
    [
        (["0", "", "0"], ["100", "5"], True),  # a "close value": lost deals 0 or blank
        (["", ""], ["100"], True),  # cleared when lost
        (["0", "250", "0"], ["100"], False),  # one lost deal keeps its amount
        ([], ["100"], False),  # nothing lost: nothing to tell
        (["0"], ["0", ""], False),  # no won deal has an amount either
        (["abc", "-5"], ["100"], True),  # unreadable or negative is no amount
    ],
)
def test_amounts_tell_outcome_when_no_lost_deal_has_one(
    lost: list[str], won: list[str], tells: bool
) -> None:
    text = pd.Series([*lost, *won, "40"]).replace("", None)  # and one open deal
    amount = backtest_csv.parse_amounts(text)
    is_lost = pd.Series([True] * len(lost) + [False] * (len(won) + 1))
    is_won = pd.Series([False] * len(lost) + [True] * len(won) + [False])
    assert backtest_csv.amounts_tell_outcome(amount, is_won, is_lost) is tells


def test_lost_deals_without_amounts_are_backtested_by_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SMALL_EXPORT with every lost deal at $0: counted, each deal 1. By hand (the comment above
    # SMALL_EXPORT): 2024Q3 won W5 (open at 07-01) and W6 (created after) → 2 deals; 2024Q4 W7
    # (open at 10-01) and W8 (created after) → 2. O2 (no amount) is used, counting needs none:
    # Moss is a 13th account.
    monkeypatch.delenv("ACM_SYNC_CONFIG", raising=False)
    path = write(tmp_path, *_lost_amounts(SMALL_EXPORT, "$0"), name="close_values.csv")
    code, out, err = run(path, "--as-of", "2025-01-01", "--origins", "2", capsys=capsys)
    assert (code, err) == (0, "")
    assert "amount: 0 or blank on 5 of 5 lost, 0 of 9 won and 1 of 2 open deals" in out
    assert "the backtest counts deals instead, each deal 1 (--amounts" in out
    assert "pulled 16 = used 15 + set aside 1" in out
    assert (
        "Backtest: close_values.csv (counting deals, each 1: 13 accounts, 15 deals, 8 won)" in out
    )
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line[:5] == "2024Q"}
    assert [rows["2024Q3"][3], rows["2024Q4"][3]] == ["2", "2"]
    split = [line.split() for line in out.splitlines() if line.startswith("  2024Q")]
    assert [(s[0], s[1], s[5]) for s in split] == [("2024Q3", "1", "1"), ("2024Q4", "1", "1")]


def test_counting_reads_the_same_deals_whatever_the_lost_amounts(tmp_path: Path) -> None:
    # the leak removed: auto on the cleared export = --count on the real one, deal for deal
    cleared = export_of(
        write(tmp_path, *_lost_amounts(SMALL_EXPORT, ""), name="a.csv"), unit="auto"
    )
    real = export_of(write(tmp_path, *SMALL_EXPORT, name="b.csv"), unit="count")
    assert cleared.counted and real.counted
    pd.testing.assert_frame_equal(cleared.deals, real.deals)
    assert (real.deals["amount"] == 1.0).all() and len(real.deals) == 16


def test_amounts_kept_when_given_or_when_a_lost_deal_has_one(tmp_path: Path) -> None:
    cleared = write(tmp_path, *_lost_amounts(SMALL_EXPORT, ""), name="a.csv")
    forced = export_of(cleared, unit="amount")
    assert not forced.counted
    assert any(line.startswith("  warning: no lost deal has one") for line in forced.lines)
    assert forced.set_aside.value_counts()["closed deal without an amount"] == 5
    real = export_of(write(tmp_path, *SMALL_EXPORT, name="b.csv"), unit="auto")
    assert not real.counted and list(real.deals["amount"])[:2] == [2000.0, 1200.0]
    assert "amount: 0 or blank on 0 of 5 lost, 0 of 9 won and 1 of 2 open deals" in real.lines
    assert not any("no lost deal has one" in line for line in real.lines)


def test_count_needs_no_amount_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "created,close_date,stage",
        "2024-01-02,2024-02-01,Closed Won",
        "2024-01-03,2024-02-05,Closed Lost",
        "2024-01-04,,Proposal",
    )
    export = export_of(path, unit="count")
    assert list(export.deals["amount"]) == [1.0, 1.0, 1.0]
    assert "  amount       --amount     none: each deal counts 1 (--count)" in export.lines
    with pytest.raises(backtest_csv.ExportError, match="or --count to count deals"):
        export_of(path)


CREATED = st.sampled_from(["2024-01-05", "1/5/2024", "01/20/2024 10:30 AM", "", "31/12/2024"])
CLOSE = st.sampled_from(["2024-03-01", "3/1/2024", "2024-01-01", "", "soon"])
STAGE = st.sampled_from(["Closed Won", "won", "Closed Lost", "Prospecting", ""])
AMOUNT = st.sampled_from(["$1,200", "500", "", "abc", "-5", "0"])
ID = st.sampled_from(["A", "B", "C", ""])
ROW = st.tuples(ID, CREATED, CLOSE, STAGE, AMOUNT)


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=25), st.booleans(), st.sampled_from(backtest_csv.UNITS))
def test_every_row_is_used_or_set_aside_with_exactly_one_reason(
    rows: list[tuple[str, ...]], as_of: bool, unit: str
) -> None:
    text = "id,created,close_date,stage,amount\n" + "".join(
        ",".join(f'"{value}"' for value in row) + "\n" for row in rows
    )
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "deals.csv"
        path.write_text(text, encoding="utf-8")
        raw, _ = backtest_csv.read_export(path)
    export = backtest_csv.export_from(raw, as_of=ts("2024-02-01") if as_of else None, unit=unit)
    used = list(export.deals["row"])
    aside = list(export.set_aside.index)
    assert sorted(used + aside) == list(range(1, len(rows) + 1))
    assert len(set(used)) == len(used) and not set(used) & set(aside)
    assert all(isinstance(why, str) and why for why in export.set_aside)
    deals = export.deals
    assert (deals["amount"] >= 0).all() and deals["created"].notna().all()
    closed = deals["won"] | deals["lost"]
    assert (deals.loc[closed, "closed_at"] >= deals.loc[closed, "created"]).all()
    assert deals.loc[~closed, "closed_at"].isna().all()
    assert deals["source_id"].is_unique


def test_a_date_past_what_a_timestamp_holds_is_unreadable_not_an_error(tmp_path: Path) -> None:
    # "2999-01-01" stands for "never" in many CRMs; it read as an error for the whole file
    dates = backtest_csv.parse_dates(pd.Series(["2999-01-01", "12/31/2999", "2024-01-05"]))
    assert dates[:2].isna().all() and dates[2] == ts("2024-01-05")
    export = export_of(
        write(
            tmp_path,
            "created,close_date,stage,amount",
            "2024-01-02,2999-01-01,Closed Won,100",
            "2024-01-02,2024-02-01,Closed Won,100",
        )
    )
    assert export.set_aside.to_dict() == {1: "close date unreadable"}


def test_columns_apart_by_spaces_with_a_header_are_read(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_text(
        "customer   date      quantity  amount\n00001 19970101 1 11.77\n00002  19970112 5 77.00\n"
    )
    raw, notes = backtest_csv.read_export(path)
    assert notes == ["columns separated by spaces"]
    assert list(raw.columns) == ["customer", "date", "quantity", "amount"]
    assert raw.loc[2].tolist() == ["00002", "19970112", "5", "77.00"]
    # a comma file whose header has spaces inside names stays a comma file
    path.write_text("Account Name,Close Date\nAcme Inc,2024-01-01\n")
    raw, notes = backtest_csv.read_export(path)
    assert notes == [] and list(raw.columns) == ["Account Name", "Close Date"]


def test_lost_deals_more_often_without_an_amount_are_noted(tmp_path: Path) -> None:
    # two of three lost deals have no amount, no won deal lacks one: amounts are kept (one lost
    # deal has one), the two are set aside, and the backtest says it learns from fewer losses
    path = write(
        tmp_path,
        "created,close_date,stage,amount",
        "2024-01-02,2024-02-01,Closed Won,100",
        "2024-01-02,2024-02-01,Closed Lost,",
        "2024-01-03,2024-02-02,Closed Lost,",
        "2024-01-04,2024-02-03,Closed Lost,50",
    )
    export = export_of(path, unit="auto")
    assert not export.counted
    assert (
        "  note: 2 lost deal(s) without an amount are set aside (67% of lost, 0% of won deals): "
        "the backtest learns from fewer losses than happened (--count keeps every deal)"
    ) in export.lines
    assert export.set_aside.value_counts()["closed deal without an amount"] == 2
