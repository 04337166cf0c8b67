"""bench/backtest_csv.py --history: a stage-history export (one row per change, as Salesforce's
OpportunityHistory) beside the deals export, on hand-made files: the columns guessed, every row
used or set aside with one reason, the pipeline replayed as it stood (stage, amount, shown close
date at the time), the stages' default probabilities, and a backtest figure counted by hand."""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from canonical_frames import ts
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
backtest_csv = importlib.import_module("backtest_csv")
history_csv = importlib.import_module("history_csv")

DEALS = (
    "Opportunity ID,Account Name,Stage,Amount,Created Date,Close Date",
    "D1,Acme,Closed Won,1000,2024-01-10,2024-05-20",
    "D2,Birch,Closed Lost,2000,2024-02-01,2024-04-15",
    "D3,Cedar,Negotiation,3500,2024-03-01,",
    "D4,Dune,Closed Won,500,2024-03-05,2024-03-25",  # no history row
)
HISTORY = (
    "Id,OpportunityId,StageName,Amount,CloseDate,Probability,CreatedDate",
    "H1,D1,Prospecting,800,2024-03-31,10,2024-01-10",
    "H2,D1,Negotiation,1000,2024-04-30,90,2024-04-02",
    "H3,D1,Closed Won,1000,2024-05-20,100,2024-05-20",
    "H4,D2,Prospecting,2000,2024-03-15,10,2024-02-01",
    "H5,D2,Proposal,2000,2024-04-30,75,2024-03-10",  # lost on 04-15: no closing row here
    "H6,D3,Prospecting,3000,2024-06-30,10,2024-03-01",
    "H7,D3,Negotiation,3500,2024-07-31,90,2024-05-01",
    "H8,X9,Prospecting,1,2024-01-01,10,2024-01-01",  # row 8: no such deal
    "H9,D3,,3500,2024-07-31,90,2024-05-02",  # row 9: no stage
    "H10,D1,Negotiation,1000,2024-04-30,90,soon",  # row 10: time unreadable
)


def write(tmp_path: Path, name: str, lines: tuple[str, ...] | list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read(tmp_path: Path, history: tuple[str, ...] | list[str] = HISTORY, **given: str) -> tuple:
    raw, _ = backtest_csv.read_export(write(tmp_path, "deals.csv", DEALS))
    export = backtest_csv.export_from(raw, unit="auto")
    args = argparse.Namespace(
        history=write(tmp_path, "history.csv", history), won=[], lost=[], date_format=None,
        as_of=None, **{f"history_{role}": given.get(role) for role in history_csv.HISTORY_ROLES},
    )  # fmt: skip
    return export, backtest_csv.read_stage_history(args, export)


def test_history_columns_guessed_and_rows_set_aside_with_reasons(tmp_path: Path) -> None:
    _, history = read(tmp_path)
    assert "  deal id      --history-id          'OpportunityId' (guessed)" in history.lines
    assert "  changed at   --history-at          'CreatedDate' (guessed)" in history.lines
    assert "  probability read as percent (some values are over 1)" in history.lines
    assert history.set_aside.to_dict() == {
        8: "a deal the deals export does not use",
        9: "no stage",
        10: "time unreadable",
    }
    assert list(history.rows["row"]) == [1, 2, 3, 4, 5, 6, 7]
    assert list(history.rows["probability"]) == [0.1, 0.9, 1.0, 0.1, 0.75, 0.1, 0.9]
    assert history.rows.loc[2, "stage"] == "Closed Won"


def test_a_history_needs_its_three_columns(tmp_path: Path) -> None:
    with pytest.raises(backtest_csv.ExportError, match="no stage column in the history"):
        read(tmp_path, ["OpportunityId,CreatedDate", "D1,2024-01-10"])
    with pytest.raises(backtest_csv.ExportError, match="--history-at 'When' is not a history"):
        read(tmp_path, HISTORY, at="When")


def _tables(tmp_path: Path, history_lines: tuple[str, ...] | list[str] = HISTORY) -> dict:
    export, history = read(tmp_path, history_lines)
    tables, _ = backtest_csv.canonical_tables(export, None, history)
    return tables


def test_the_pipeline_replays_the_recorded_stages(tmp_path: Path) -> None:
    from acm_sync.scoring import AccountBook, DealHistory

    tables = _tables(tmp_path)
    book = AccountBook.from_canonical(
        tables["accounts"], tables["contacts"], tables["opportunities"]
    )
    hist = DealHistory.build(book, tables["opportunity_stage_history"], tables["stages"])
    state = hist.state_at(ts("2024-04-10").value)
    ids = book.opportunities["opportunity_id"].to_numpy()[state["opp_pos"]]
    stage = hist.stages["stage"].to_numpy()[state["stage_code"]]
    seen = {
        str(i): (str(s), float(a), pd.Timestamp(c, tz="UTC"))
        for i, s, a, c in zip(ids, stage, state["amount"], state["close_date"], strict=True)
    }
    assert seen == {
        "sf:OD1": ("Negotiation", 1000.0, ts("2024-04-30")),
        "sf:OD2": ("Proposal", 2000.0, ts("2024-04-30")),
        "sf:OD3": ("Prospecting", 3000.0, ts("2024-06-30")),
        "sf:OD4": ("Closed Won", 500.0, ts("2024-03-25")),
    }
    # D2's history stops in Proposal: it closes lost on its close date
    d2 = tables["opportunity_stage_history"].query("opportunity_id == 'sf:OD2'")
    assert list(d2["stage"]) == ["Prospecting", "Proposal", "Closed Lost"]
    assert d2["changed_at"].iloc[-1] == ts("2024-04-15")
    # D4 has none: open in the made-up stage from its creation, as without history
    d4 = tables["opportunity_stage_history"].query("opportunity_id == 'sf:OD4'")
    assert list(d4["stage"]) == ["Open (all deals)", "Closed Won"]
    opps = tables["opportunities"].set_index("opportunity_id")
    assert opps.loc["sf:OD3", "stage"] == "Negotiation"
    assert opps.loc["sf:OD3", "stage_probability"] == 0.9


def test_stage_defaults_from_the_probability_column_else_win_rates(tmp_path: Path) -> None:
    stages = _tables(tmp_path)["stages"].set_index("stage")["default_probability"]
    assert stages.to_dict() == {
        "Open (all deals)": 1.0,  # D4, the one deal ever in it, won
        "Prospecting": 0.1,
        "Negotiation": 0.9,
        "Proposal": 0.75,
    }
    no_probability = [",".join(line.split(",")[:5] + line.split(",")[6:]) for line in HISTORY]
    stages = _tables(tmp_path, no_probability)["stages"].set_index("stage")["default_probability"]
    # as of the data's end: Prospecting held D1 (won) and D2 (lost); Negotiation D1 (won) and
    # D3 (open: not counted); Proposal D2 (lost)
    assert stages.to_dict() == {
        "Open (all deals)": 1.0,
        "Prospecting": 0.5,
        "Negotiation": 1.0,
        "Proposal": 0.0,
    }


def test_backtest_with_history_counted_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # origin 2024-04-01. Open then: D1 Prospecting 800 (shown close 03-31), D2 Proposal 2,000
    # (04-30), D3 Prospecting 3,000 (06-30). The stage-default forecast for the quarter:
    # 0.1 × 800 + 0.75 × 2,000 + 0.1 × 3,000 = 1,880. Booked: D1's 1,000 (won 05-20).
    monkeypatch.delenv("ACM_SYNC_CONFIG", raising=False)
    deals, history = write(tmp_path, "deals.csv", DEALS), write(tmp_path, "h.csv", HISTORY)
    code = backtest_csv.main(
        [str(deals), "--history", str(history), "--as-of", "2024-07-01", "--origins", "1"]
    )
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "history: pulled 10 = used 7 + set aside 3" in out
    assert "history: 3 of 4 deals used have one;" in out
    row = next(line.split() for line in out.splitlines() if line.startswith("2024Q2"))
    assert (row[2], row[3]) == ("3", "1,000")  # open deals, actual
    split = next(line.split() for line in out.splitlines() if line.startswith("  2024Q2"))
    assert (split[1], split[3]) == ("1,000", "1,880")  # open pipeline: actual, baseline


def test_history_needs_a_deal_id_in_the_deals_export(tmp_path: Path) -> None:
    raw, _ = backtest_csv.read_export(
        write(
            tmp_path,
            "d.csv",
            ["Stage,Amount,Created,Close Date", "Closed Won,5,2024-01-01,2024-02-01"],
        )
    )
    export = backtest_csv.export_from(raw)
    args = argparse.Namespace(
        history=write(tmp_path, "h.csv", HISTORY), won=[], lost=[], date_format=None, as_of=None,
        **{f"history_{role}": None for role in history_csv.HISTORY_ROLES},
    )  # fmt: skip
    with pytest.raises(backtest_csv.ExportError, match="needs the deals export's deal id"):
        backtest_csv.read_stage_history(args, export)


def test_rows_deleted_in_the_crm_are_set_aside(tmp_path: Path) -> None:
    # a Data Loader "Export All" of Opportunity and OpportunityHistory keeps deleted rows
    deals = write(
        tmp_path,
        "d.csv",
        [
            "Id,IsDeleted,StageName,Amount,CreatedDate,CloseDate",
            "D1,0,Closed Won,100,2024-01-02,2024-02-01",
            "D2,1,Closed Won,200,2024-01-02,2024-02-01",
            "D3,false,Prospecting,300,2024-01-03,",
        ],
    )
    raw, _ = backtest_csv.read_export(deals)
    export = backtest_csv.export_from(raw)
    assert export.set_aside.to_dict() == {2: "deleted in the CRM"}
    assert "  deleted flag --deleted    'IsDeleted' (guessed)" in export.lines
    args = argparse.Namespace(
        history=write(tmp_path, "h.csv", [
            "OpportunityId,StageName,CreatedDate,IsDeleted",
            "D1,Prospecting,2024-01-02,0",
            "D1,Negotiation,2024-01-20,1",
            "D3,Prospecting,2024-01-03,0",
        ]),
        won=[], lost=[], date_format=None, as_of=None,
        **{f"history_{role}": None for role in history_csv.HISTORY_ROLES},
    )  # fmt: skip
    history = backtest_csv.read_stage_history(args, export)
    assert history.set_aside.to_dict() == {2: "deleted in the CRM"}
    assert list(history.rows["source_id"]) == ["D1", "D3"]


def test_several_currencies_are_converted_at_the_configs_rates(tmp_path: Path) -> None:
    from acm_sync.currency import CurrencyConfig

    path = write(
        tmp_path,
        "d.csv",
        [
            "Id,StageName,Amount,CurrencyIsoCode,CreatedDate,CloseDate",
            "D1,Closed Won,100,USD,2024-01-02,2024-02-01",
            "D2,Closed Won,100,EUR,2024-01-02,2024-02-01",  # 1.10 until 2024-06-30
            "D3,Closed Won,100,EUR,2024-06-02,2024-08-01",  # 1.20 from 2024-07-01
            "D4,Closed Won,100,PEN,2024-01-02,2024-02-01",  # no rate
            "D5,Prospecting,100,,2024-01-05,",  # blank: the corporate currency
        ],
    )
    raw, _ = backtest_csv.read_export(path)
    rates = CurrencyConfig(rates={"EUR": {"2024-01-01": 1.1, "2024-07-01": 1.2}})
    export = backtest_csv.export_from(raw, currency=rates)
    assert export.set_aside.to_dict() == {
        4: "no PEN→USD rate in currency.rates (give rates in $ACM_SYNC_CONFIG)"
    }
    assert list(export.deals["amount"].round(6)) == [100.0, 110.0, 120.0, 100.0]
    assert (
        "currency: EUR (2), USD (1), PEN (1) → USD at the rates of currency.rates, on each close "
        "date"
    ) in export.lines
    # a loader that keeps each deal's own currency (no rates given): nothing converted
    kept = backtest_csv.export_from(raw)
    assert kept.set_aside.empty and list(kept.deals["amount"]) == [100.0] * 5
    assert "currency: EUR (2), USD (1), PEN (1) — amounts as they are, not converted" in kept.lines
    # one currency, whichever: the amounts as they are
    raw, _ = backtest_csv.read_export(
        write(tmp_path, "e.csv", ["Stage,Amount,Currency,Created,Close Date",
                                  "Closed Won,100,EUR,2024-01-02,2024-02-01"])
    )  # fmt: skip
    export = backtest_csv.export_from(raw)
    assert list(export.deals["amount"]) == [100.0] and "currency: EUR (1)" in export.lines


def test_a_data_loader_export_of_opportunity_history_is_read_as_it_comes() -> None:
    # every field of OpportunityHistory, as Data Loader writes them (the object's API names):
    # the change time is CreatedDate, not CreatedDateForInsert or SystemModstamp; the stage is
    # StageName, not FromOpportunityStageName; the deal is OpportunityId, not the row's Id
    header = (
        "Id,OpportunityId,CreatedById,CreatedDate,CreatedDateForInsert,StageName,Amount,"
        "ExpectedRevenue,CloseDate,Probability,FromForecastCategory,ForecastCategory,"
        "PrevForecastUpdate,FromOpportunityStageName,PrevOpportunityStageUpdate,CurrencyIsoCode,"
        "ValidThroughDate,SystemModstamp,IsDeleted,PrevAmount,PrevCloseDate"
    )
    columns = next(csv.reader([header]))
    mapping, _ = history_csv.history_mapping(columns, {})
    assert mapping == {
        "id": "OpportunityId",
        "at": "CreatedDate",
        "stage": "StageName",
        "amount": "Amount",
        "close_date": "CloseDate",
        "probability": "Probability",
        "deleted": "IsDeleted",
    }


H_ID = st.sampled_from(["D1", "D2", "D3", "D4", "X9", ""])
H_AT = st.sampled_from(["2024-01-05", "1/20/2024", "soon", "", "2999-01-01"])
H_STAGE = st.sampled_from(["Prospecting", "Closed Won", "closed lost", ""])
H_P = st.sampled_from(["10", "0.5", "", "abc", "-3"])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(H_ID, H_AT, H_STAGE, H_P), min_size=1, max_size=20))
def test_every_history_row_is_used_or_set_aside_once(rows: list[tuple[str, ...]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        history = ["OpportunityId,CreatedDate,StageName,Probability"] + [
            ",".join(row) for row in rows
        ]
        _, read_back = read(Path(directory), history)
    used, aside = list(read_back.rows["row"]), list(read_back.set_aside.index)
    assert sorted(used + aside) == list(range(1, len(rows) + 1))
    assert not set(used) & set(aside)
    assert read_back.rows["changed_at"].notna().all()
    assert read_back.rows["source_id"].isin(["D1", "D2", "D3", "D4"]).all()
    probability = read_back.rows["probability"].dropna()
    assert ((probability >= 0) & (probability <= 1)).all()


HUBSPOT_EXPORT = (
    "Record ID,Deal Name,Deal Stage,Amount,Create Date,Close Date,Associated Company,"
    'Date entered "Appointment Scheduled (Sales Pipeline)",'
    'Date entered "Contract Sent (Sales Pipeline)",Date entered "Closed Won (Sales Pipeline)",'
    'Date entered "Closed Lost (Sales Pipeline)"',
    "101,A deal,Closed Won,1000,2024-01-10 09:00,2024-05-20 10:00,Acme,2024-01-10 09:00,"
    "2024-04-02 12:00,2024-05-20 10:00,",
    "102,B deal,Closed Lost,2000,2024-02-01 09:00,2024-04-15 10:00,Birch,2024-02-01 09:00,"
    "2024-03-10 12:00,,2024-04-15 10:00",
    "103,C deal,Contract Sent,3500,2024-03-01 09:00,2024-07-31,Cedar,2024-03-01 09:00,"
    "2024-05-01 12:00,,",
)


def test_a_hubspot_export_s_date_entered_columns_are_its_stage_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # origin 2024-04-01: A in Appointment Scheduled (Contract Sent only on 04-02), B in Contract
    # Sent (03-10), C in Appointment Scheduled; no deal closed before it, so every stage's
    # default is the unknown win rate 0.1: 0.1 × (1,000 + 2,000 + 3,500) = 650
    monkeypatch.delenv("ACM_SYNC_CONFIG", raising=False)
    path = write(tmp_path, "hubspot.csv", HUBSPOT_EXPORT)
    code = backtest_csv.main([str(path), "--as-of", "2024-07-01", "--origins", "1"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "stage history: the export's 4 'Date entered' columns" in out
    assert "history: pulled 8 = used 8 + set aside 0" in out
    assert "history: 3 of 3 deals used have one;" in out
    split = next(line.split() for line in out.splitlines() if line.startswith("  2024Q2"))
    assert (split[1], split[3]) == ("1,000", "650")
    raw, _ = backtest_csv.read_export(path)
    export = backtest_csv.export_from(raw)
    won, lost = frozenset({"closedwon", "won"}), frozenset({"closedlost", "lost"})
    long = history_csv.entered_history(
        raw, export.deals["source_id"], export.deals["row"], won, lost
    )
    assert sorted(zip(long["OpportunityId"], long["StageName"], strict=True)) == [
        ("101", "Appointment Scheduled (Sales Pipeline)"),
        ("101", "Closed Won"),
        ("101", "Contract Sent (Sales Pipeline)"),
        ("102", "Appointment Scheduled (Sales Pipeline)"),
        ("102", "Closed Lost"),
        ("102", "Contract Sent (Sales Pipeline)"),
        ("103", "Appointment Scheduled (Sales Pipeline)"),
        ("103", "Contract Sent (Sales Pipeline)"),
    ]
