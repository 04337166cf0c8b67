"""The ComplyFlow loader (bench/bench_public_complyflow.py): its mapping to canonical tables,
on hand-made CSVs in the data set's format — only what was known at each origin."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pandas as pd
import pytest
from canonical_frames import by_id, openings, ts

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
complyflow = importlib.import_module("bench_public_complyflow")

OPPORTUNITIES = """\
opp_id,lead_id,account_id,rep_id,segment,lead_source,plan,stage,amount,created_date,close_date
OPP-1,LEAD-1,ACC-1,REP-1,SMB,Paid Search,SOC2 Starter,Closed Won,1200.5,2024-01-01,2024-01-11
OPP-2,LEAD-2,ACC-1,REP-2,SMB,,SOC2 Starter,Closed Lost,1300,2024-01-05,2024-02-04
OPP-3,LEAD-3,ACC-2,REP-1,SMB,Organic Search,SOC2 Starter,Proposal,1100,2024-01-20,2024-06-30
OPP-4,LEAD-4,ACC-2,REP-3,Enterprise,Referral,SOC2 + ISO,Closed Won,3000,2024-01-03,2024-03-03
OPP-5,LEAD-5,ACC-3,REP-2,Enterprise,Paid Search,Multi,Negotiation,7000,2024-02-10,2024-06-30
"""
ACCOUNTS = """\
account_id,company_name,segment,industry,region,arr,signup_date
ACC-1,Acme Compliance,Mid-Market,FinTech,West,41000,2024-03-01
ACC-2,Blue Audit,SMB,HealthTech,EMEA,9000,2023-11-01
ACC-3,Cyan Labs,Enterprise,EdTech,South,88000,2024-01-15
ACC-4,No Deals Inc,SMB,Legal Tech,West,5000,2024-01-01
"""
IDS = ["sf:OOPP-1", "sf:OOPP-2", "sf:OOPP-3", "sf:OOPP-4", "sf:OOPP-5"]


def read(
    tmp_path: Path, opportunities: str = OPPORTUNITIES, accounts: str = ACCOUNTS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    (tmp_path / "opportunities.csv").write_text(opportunities)
    (tmp_path / "accounts.csv").write_text(accounts)
    return complyflow.read_data(tmp_path)


def tables(
    tmp_path: Path, known_at: pd.Timestamp | None = None, opportunities: str = OPPORTUNITIES
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    opps, accounts = read(tmp_path, opportunities)
    return complyflow.canonical_tables(opps, accounts, known_at=known_at)


def test_outcomes_amounts_types_and_dates(tmp_path: Path) -> None:
    canonical, as_of = tables(tmp_path)
    assert as_of == ts("2024-03-04")  # the day after OPP-4's close; open deals' plans unused
    opps = by_id(canonical["opportunities"])
    assert list(opps.index) == IDS
    assert list(opps["stage"]) == [
        "Closed Won",
        "Closed Lost",
        "Open (SMB)",
        "Closed Won",
        "Open (Enterprise)",
    ]
    assert list(opps["is_closed"]) == [True, True, False, True, False]
    assert list(opps["is_won"]) == [True, False, False, True, False]
    assert list(opps["amount"]) == [1200.5, 1300.0, 1100.0, 3000.0, 7000.0]
    assert set(opps["type"]) == {"new"}
    assert opps.loc["sf:OOPP-2", "close_date"] == ts("2024-02-04")
    assert opps.loc["sf:OOPP-4", "created_at"] == ts("2024-01-03")
    assert list(opps["account_id"]) == [
        "sf:AACC-1",
        "sf:AACC-1",
        "sf:AACC-2",
        "sf:AACC-2",
        "sf:AACC-3",
    ]


def test_accounts_with_deals_exist_from_their_first_deal(tmp_path: Path) -> None:
    canonical, _ = tables(tmp_path)
    accounts = canonical["accounts"].set_index("account_id")
    assert list(accounts.index) == ["sf:AACC-1", "sf:AACC-2", "sf:AACC-3"]  # ACC-4: no deals
    # ACC-1 signs up 2024-03-01 in the data, but its first deal is 2024-01-01
    assert accounts.loc["sf:AACC-1", "created_at"] == ts("2024-01-01")
    assert accounts.loc["sf:AACC-2", "created_at"] == ts("2024-01-03")  # OPP-4 before OPP-3
    assert accounts.loc["sf:AACC-2", "industry"] == "HealthTech"
    assert accounts.loc["sf:AACC-3", "name"] == "Cyan Labs"
    assert accounts["employees"].isna().all()  # ARR is not company size: none invented
    assert accounts["annual_revenue"].isna().all()


def test_open_deals_show_a_close_from_earlier_cycles_not_their_plan(tmp_path: Path) -> None:
    canonical, _ = tables(tmp_path)
    opps = by_id(canonical["opportunities"])
    # OPP-3 (SMB, created 1/20): only OPP-1 had closed, after 10 days; not the data's 6/30
    assert opps.loc["sf:OOPP-3", "close_date"] == ts("2024-01-30")
    # OPP-5 (Enterprise, created 2/10): no Enterprise deal had closed → 30 days
    assert opps.loc["sf:OOPP-5", "close_date"] == ts("2024-03-11")
    history = canonical["opportunity_stage_history"]
    opening = openings(history)
    assert opening.loc["sf:OOPP-2", "close_date"] == ts("2024-02-04")  # 1/5 + 30: none closed
    assert opening.loc["sf:OOPP-4", "changed_at"] == ts("2024-01-03")
    assert len(history) == 8  # 5 openings + 3 closings


@pytest.mark.parametrize(
    ("known_at", "smb", "enterprise"),
    [
        (None, 0.5, 1.0),  # at the end: SMB 1 won of 2, Enterprise 1 of 1
        (ts("2024-01-11"), 0.1, 0.1),  # OPP-1 closes that instant: not known before it
        (ts("2024-02-01"), 1.0, 0.1),
        (ts("2024-03-01"), 0.5, 0.1),
    ],
)
def test_stage_probability_is_the_win_rate_known_at_the_origin(
    tmp_path: Path, known_at: pd.Timestamp | None, smb: float, enterprise: float
) -> None:
    canonical, _ = tables(tmp_path, known_at=known_at)
    opps = by_id(canonical["opportunities"])
    assert opps.loc["sf:OOPP-3", "stage_probability"] == pytest.approx(smb)
    assert opps.loc["sf:OOPP-5", "stage_probability"] == pytest.approx(enterprise)


def _with_line(line: int, text: str) -> str:
    rows = OPPORTUNITIES.splitlines()
    rows[line] = text
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize(
    ("line", "text", "message"),
    [
        (2, "OPP-2,L,ACC-1,R,SMB,,P,Won,1300,2024-01-05,2024-02-04", "stage.*'Won'"),
        (2, "OPP-2,L,ACC-9,R,SMB,,P,Closed Lost,1300,2024-01-05,2024-02-04", "'ACC-9' is not"),
        (2, "OPP-2,L,ACC-1,R,SMB,,P,Closed Lost,n/a,2024-01-05,2024-02-04", "row 1: amount 'n/a'"),
        (2, "OPP-2,L,ACC-1,R,SMB,,P,Closed Lost,1300,2024-01-05,", "empty value.*close_date"),
        (2, "OPP-2,L,ACC-1,R,SMB,,P,Closed Lost,1300,2024-01-05,soon", "row 1: close_date 'soon'"),
        (
            2,
            "OPP-2,L,ACC-1,R,SMB,,P,Closed Lost,1300,2024-01-05,2024-01-01",
            "row 1: closed before",
        ),
        (2, "OPP-2,L,ACC-1,R,,,P,Closed Lost,1300,2024-01-05,2024-02-04", "empty value.*segment"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, line: int, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tables(tmp_path, opportunities=_with_line(line, text))


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    opps, accounts = read(tmp_path)
    with pytest.raises(ValueError, match=r"opportunities CSV lacks column.*segment"):
        complyflow.canonical_tables(opps.drop(columns=["segment"]), accounts)
    with pytest.raises(ValueError, match=r"accounts CSV lacks column.*industry"):
        complyflow.canonical_tables(opps, accounts.drop(columns=["industry"]))


def test_main_skips_without_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(complyflow.ENV_VAR, raising=False)
    monkeypatch.setattr(sys, "argv", ["bench_public_complyflow.py", str(tmp_path)])
    complyflow.main()
    assert capsys.readouterr().out.startswith("SKIPPED: the ComplyFlow data is not here")


def test_the_generators_own_forecast_is_worked_out_from_its_uniform_cycles(tmp_path: Path) -> None:
    # the reference forecaster the bench prints beside the model, by hand from the generator
    # (scripts/generate_synthetic_data.py): at 2024-04-01 (a 91-day quarter) OPP-5, Enterprise
    # from Paid Search, is 51 days old: its cycle (60…180 days, uniform) is ≥ 51 surely and
    # ends in the quarter if ≤ 141 days: 82 of 121 values, won 45 % of the time
    rows = OPPORTUNITIES.replace(
        "Negotiation,7000,2024-02-10,2024-06-30", "Closed Won,7000,2024-02-10,2024-05-01"
    )
    rows += "OPP-6,LEAD-6,ACC-3,REP-1,Mid-Market,,Multi,Closed Lost,2000,2024-03-20,2024-05-20\n"
    # SMB, created in the quarter and won in it: the run-rate's
    rows += "OPP-7,LEAD-7,ACC-4,REP-1,SMB,,SOC2 Starter,Closed Won,1250,2024-04-02,2024-04-20\n"
    opps, _ = read(tmp_path, rows)
    got = complyflow.generator_origin(opps, pd.Timestamp("2024-04-01"))
    # OPP-6, Mid-Market 12 days old (cycle 20…75 days: all end in the quarter), 27 %;
    # OPP-3, SMB created 2024-01-20 and closing 2024-06-30, is 72 days old: its cycle (7…30)
    # cannot be that long, so the generator gives it nothing
    expected_5, expected_6 = 7000 * 0.45 * 82 / 121, 2000 * 0.27
    assert got["open_forecast"] == pytest.approx(expected_5 + expected_6)
    assert got["open_actual"] == 7000.0
    # two accounts with open deals: ACC-2 (OPP-3, nothing either way) and ACC-3
    assert got["wape"] == pytest.approx(abs(expected_5 + expected_6 - 7000) / 7000)

    # the run-rate: 91 days of leads, each segment's share × the chance a lead is an
    # opportunity (uniform × boost × factor > 0.55; boost 1.25 for 2 of 8 sources) × price ×
    # win rate × the share of the quarter's creation days whose cycle ends by its end
    def qualified(factor: float) -> float:
        return 0.75 * max(0.0, 1 - 0.55 / factor) + 0.25 * max(0.0, 1 - 0.55 / (1.25 * factor))

    def ends_by(low: int, high: int) -> float:  # summed over the quarter's 91 creation days
        return sum(
            min(1.0, max(0.0, (left - 1 - low + 1) / (high - low + 1))) for left in range(1, 92)
        )

    per_day = 6500 / 897  # leads on 2024-01-01 … 2026-06-15: 366 + 365 + 166 days
    enterprise_win = 0.22 + 0.97 / 8 * (0.45 - 0.22)
    expected_rate = (
        per_day
        * 1.075
        * (
            0.55 * qualified(1.0) * 1200 * 0.30 * ends_by(7, 30)
            + 0.32 * qualified(0.9) * 3500 * 0.27 * ends_by(20, 75)
            + 0.13 * qualified(0.75) * 3500 * enterprise_win * ends_by(60, 180)
        )
    )
    assert got["run_rate"] == pytest.approx(expected_rate)
    total = expected_5 + expected_6 + expected_rate
    assert got["total_error"] == pytest.approx((total - 8250) / 8250)
    with pytest.raises(ValueError, match="segment 'Startup' is not the generator's"):
        complyflow.generator_origin(opps.assign(segment="Startup"), pd.Timestamp("2024-04-01"))
