"""bench/score_csv.py: tiers, health and next actions on any purchase log or deals export, on
hand-made files — tiers worked out by hand, returns netted, files with no header, every row
used or set aside with one reason, --as-of replays, health components an export does not hold
not scored, bad input as one-line errors."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
score_csv = importlib.import_module("score_csv")
export_reader = importlib.import_module("export_reader")


def write(tmp_path: Path, *lines: str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(
    tmp_path: Path, path: Path, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str, pd.DataFrame | None]:
    """(exit code, stdout, stderr, the --out table by customer id) with the default settings."""
    config = tmp_path / "acm_sync.yaml"
    config.write_text("{}\n", encoding="utf-8")
    out = tmp_path / "scores.csv"
    code = score_csv.main([str(path), "--config", str(config), "--out", str(out), *args])
    stdout, stderr = capsys.readouterr()
    table = (
        pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")
        if out.exists()
        else None
    )
    return code, stdout, stderr, table


# Ten paying customers (as of 2024-07-01, the day after the last date 2024-06-30), plus one
# Dormant. T12M revenue: A 5,000, B 3,000, C 500, D 400, E 300 (200 + 100), F 250, G 200, H 150,
# I 100, J 100, L 100 — 11 payers, 10,100 in all. Key: 80 % of 10,100 is 8,080, which A + B
# (8,000) miss and A + B + C reach, so 3 are needed; the cap is floor(20 % × 11) = 2: A and B.
# L's first order is 30 days before the as-of date: New. K's only order is 400 days before it
# (2023-05-28): Dormant. C and D also bought in the prior 12 months: revenue trend C 50 (500 vs
# 500: Yellow), D 75 (50 + 50 · 200 / 400: Green); K 0 (0 vs 700: Red); the rest have no prior
# year, so no health score.
TEN = (
    "customer_id,order_date,amount",
    "A,2024-01-15,5000",
    "B,2024-02-10,3000",
    "C,2023-03-01,500",
    "C,2024-01-15,500",
    "D,2023-03-01,200",
    "D,2024-01-15,400",
    "E,2024-01-15,200",
    "E,2024-06-30,100",
    "F,2024-01-15,250",
    "G,2024-01-15,200",
    "H,2024-01-15,150",
    "I,2024-01-15,100",
    "J,2024-01-15,100",
    "L,2024-06-01,100",
    "K,2023-05-28,700",
)


def test_tiers_of_a_small_log_are_the_ones_worked_out_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err, table = run(tmp_path, write(tmp_path, *TEN), capsys=capsys)
    assert (code, err) == (0, "")
    assert table is not None
    assert table["tier"].to_dict() == {
        "A": "Key",
        "B": "Key",
        "C": "Existing",
        "D": "Existing",
        "E": "Existing",
        "F": "Existing",
        "G": "Existing",
        "H": "Existing",
        "I": "Existing",
        "J": "Existing",
        "L": "New",
        "K": "Dormant",
    }
    assert "as of 2024-07-01: the day after the data's last date (2024-06-30)" in out
    assert table.loc["E", "t12m_revenue"] == 300
    assert table.loc["K", "t12m_revenue"] == 0
    assert table.loc["A", "tier_reason"] == (
        "Key: #1 of 11 paying accounts — top 20 % cap (T12M won revenue $5k, 50 % of total)"
    )
    assert table.loc["C", "tier_reason"].endswith(
        "not Key: #3 of 11 paying accounts, below the top 20 % cap (2 accounts)"
    )
    assert table.loc["L", "tier_reason"] == "New: first deal won 2024-06-01 (30 days ago)"
    assert table.loc["K", "next_action"] == "Dormant (last won 2023-05-28): plan a win-back touch"
    lines = out.splitlines()
    assert "  Key             2   16.7% of accounts   79.2% of T12M revenue" in lines
    assert "  Existing        8   66.7% of accounts   19.8% of T12M revenue" in lines
    assert "  New             1    8.3% of accounts    1.0% of T12M revenue" in lines
    assert (
        "Pareto: Key by revenue = 2 of 11 payers (18.2%) holding 79.2% of T12M revenue; the "
        "top 20% cap (2 accounts) decided: 3 would reach 80% of revenue"
    ) in lines
    assert "next actions: no action 11, dormant_win_back 1; attention flag raised on 0" in lines


def test_health_a_purchase_log_cannot_measure_is_not_scored_and_not_all_red(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # M's order two years back: the log covers the prior 12 months (T12M against them)
    log = write(tmp_path, *TEN, "M,2022-06-20,50")
    code, out, _, table = run(tmp_path, log, capsys=capsys)
    assert code == 0 and table is not None
    assert "health scored from: revenue trend (weight 100)" in out
    assert "revenue trend: the data begins" not in out
    for line in (
        "  engagement: no activities in the export",
        "  contact coverage: no contacts in the export",
        "  pipeline coverage: no open deals: every row of a purchase log is an order",
        "  renewal risk: no open renewals: every row of a purchase log is an order",
        "  satisfaction: no CSAT / NPS column in the export",
    ):
        assert line in out.splitlines()
    assert "next-action rules not applied: key_no_activity (no activities in the export)" in out
    assert table["health_band"].fillna("none").to_dict() == {
        **dict.fromkeys("ABEFGHIJLM", "none"),
        "C": "Yellow",
        "D": "Green",
        "K": "Red",
    }
    assert table.loc[["C", "D", "K"], "health_score"].tolist() == [50.0, 75.0, 0.0]
    assert "health: Green 1, Yellow 1, Red 1, no score 10" in out
    # the product as it is: engagement and contact coverage 0 for everyone, every account Red
    # (A: only data quality 25 of 60 weighted points, 2; L: pipeline 100 from its recent win,
    # (15 · 100 + 5 · 25) / 60 = 27; D: (20 · 75 + 5 · 25) / 80 = 20)
    assert (
        "with every component weighted (the settings as they are) health would read Green 0, "
        "Yellow 0, Red 13, no score 0"
    ) in out
    assert table.loc["L", "next_action"] == "No action: no health data, no renewal open"


def test_a_log_younger_than_two_years_compares_what_it_holds_of_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # TEN begins 2023-03-01, as of 2024-07-01: of the prior 12 months (from 2023-07-02) the log
    # holds 124 days, under half a year: no trend for anyone, said (C's 500 on 2023-03-01 is
    # not its whole prior year)
    code, out, _, table = run(tmp_path, write(tmp_path, *TEN), capsys=capsys)
    assert code == 0 and table is not None
    assert (
        "  revenue trend: the data begins 2023-03-01, less than two years before, and under 182 "
        "days of it lie a year back: no customer has a trend"
    ) in out
    assert table["health_score"].isna().all()
    # from 2023-01-01 on (Q's order): 183 days a year back, the same days compared — C's 500
    # of 2024-01-15 against its 500 of 2023-03-01: flat, 50; D's 400 against 200: 75
    code, out, _, table = run(tmp_path, write(tmp_path, *TEN, "Q,2023-01-01,10"), capsys=capsys)
    assert code == 0 and table is not None
    assert (
        "  revenue trend: the data begins 2023-01-01, less than two years before: each "
        "customer's last 183 days are compared with the same days a year before"
    ) in out
    assert table.loc[["C", "D"], "health_score"].tolist() == [50.0, 75.0]
    drivers = table.loc["D", "health_drivers"]
    assert "last 183 days $400 vs the same days a year before $200" in drivers


# Returns (quantity × price; credit notes "C…"): P buys 1,000 (inv 1) and 500 (inv 2), returns
# 700 (C3) — inv 2 goes to 0, inv 1 to 800. Q returns with nothing bought: set aside. R returns
# before its first purchase: set aside, the purchase (30) stays. S buys 100 and returns 150: 100
# netted, 50 left over, S has no purchase left (a Prospect). T's invoice 9 has a +20 and a −10
# line: one order of 10, on 2024-05-01, the last date: as of 2024-05-02.
RETURNS = (
    "InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice",
    "1,P,2024-01-10,10,100",
    "2,P,2024-03-01,5,100",
    "C3,P,2024-04-01,-7,100",
    "C4,Q,2024-02-01,-1,50",
    "C5,R,2024-01-01,-2,10",
    "6,R,2024-02-01,1,30",
    "7,S,2024-02-01,1,100",
    "C8,S,2024-02-15,-3,50",
    "9,T,2024-05-01,2,10",
    "9,T,2024-05-01,-1,10",
)


def test_returns_are_netted_into_the_customers_earlier_purchases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _, table = run(tmp_path, write(tmp_path, *RETURNS), capsys=capsys)
    assert code == 0 and table is not None
    assert table["t12m_revenue"].to_dict() == {"P": 800.0, "R": 30.0, "T": 10.0, "S": 0.0}
    assert table["tier"].to_dict() == {"P": "Key", "R": "Existing", "T": "New", "S": "Prospect"}
    # inv 2 was returned in full: P's last purchase is inv 1
    assert table.loc["P", "tier_reason"] == (
        "Key: #1 of 3 paying accounts by T12M won revenue ($800, 95 % of total)"
    )
    lines = out.splitlines()
    assert "pulled 10 = used 8 + set aside 2" in lines
    assert (
        "  set aside 2: return with no earlier purchase of the customer's to net against "
        "(rows 4, 5)"
    ) in lines
    assert (
        "returns: 2 with a negative amount (2 row(s)), netted into the customers' latest "
        "earlier purchases: −$800.00"
    ) in lines
    assert (
        "  $50.00 of them exceeded the customer's earlier purchases in the log (bought before "
        "it starts?): not netted"
    ) in lines
    assert "  2 purchase(s) returned in full: no longer purchases" in lines
    assert "  amount = 'Quantity' × 'UnitPrice'" in lines
    assert "as of 2024-05-02" in out


def test_a_whitespace_file_without_header_and_yyyymmdd_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "00001 20240105 2 19.90",
        "00001   20240301 1 9.95",
        "00002\t20231231\t3\t30.00",
        "00003 20240302 1 5.00",
        name="orders.txt",
    )
    code, out, err, table = run(
        tmp_path, path, "--columns", "customer,date,quantity,amount", capsys=capsys
    )
    assert (code, err) == (0, "")
    assert table is not None
    # the amount column is the order's total: not quantity × amount; ids keep their zeros
    assert table["t12m_revenue"].to_dict() == {"00002": 30.0, "00001": 29.85, "00003": 5.0}
    # 20240302 is 2 March 2024, not 20,240,302 ns after 1970
    assert "as of 2024-03-03: the day after the data's last date (2024-03-02)" in out
    assert "pulled 4 = used 4 + set aside 0" in out
    assert table.loc["00003", "tier"] == "New"


def test_quantity_times_price_and_an_amount_column_preferred(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "Quantity,UnitPrice,CustomerID,InvoiceDate",
        "3,2.50,c1,2024-01-02",
        "4,1.25,c1,2024-01-03",
        "2,$10.00,c2,2024-01-03",
    )
    code, out, _, table = run(tmp_path, path, capsys=capsys)
    assert code == 0 and table is not None
    assert table["t12m_revenue"].to_dict() == {"c2": 20.0, "c1": 12.5}
    assert "deals: 3 purchases (one per customer and day) of 2 customers" in out
    # a sample-sales layout: SALES is the line's amount, QUANTITYORDERED × PRICEEACH is not used
    path = write(
        tmp_path,
        "ORDERNUMBER,QUANTITYORDERED,PRICEEACH,SALES,ORDERDATE,CUSTOMERNAME",
        "10107,30,95.70,2871.00,2/24/2003 0:00,Land of Toys Inc.",
        "10107,10,10.00,99.00,2/24/2003 0:00,Land of Toys Inc.",
        name="sales.csv",
    )
    code, out, _, table = run(tmp_path, path, capsys=capsys)
    assert code == 0 and table is not None
    assert table["t12m_revenue"].to_dict() == {"Land of Toys Inc.": 2970.0}
    assert "  amount         --amount     'SALES' (guessed)" in out
    assert "deals: 1 purchases (one per customer, order and day) of 1 customers" in out


def test_rows_set_aside_with_their_reasons_and_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "customer,date,amount",
        "a,2024-01-05,100",
        ",2024-01-05,100",
        "b,,100",
        "b,31/31/2024,100",
        "b,2024-01-06,abc",
        "b,2024-01-06,",
        "c,2024-01-06,0",
        "a,2024-01-05,100",
        'd,1/7/2024,"$1,200.50"',
    )
    code, out, _, table = run(tmp_path, path, capsys=capsys)
    assert code == 0 and table is not None
    assert out.splitlines()[out.splitlines().index("pulled 9 = used 3 + set aside 6") :][:7] == [
        "pulled 9 = used 3 + set aside 6",
        "  set aside 1: no customer id (row 2)",
        "  set aside 1: no date (row 3)",
        "  set aside 1: date unreadable (row 4)",
        "  set aside 1: amount unreadable (row 5)",
        "  set aside 1: no amount (row 6)",
        "  set aside 1: zero amount (no revenue: not an order) (row 7)",
    ]
    assert "exact duplicate rows: 1 — kept (a log may list the same line twice)" in out
    # the repeated line counts twice; "$1,200.50" is an amount, 1/7/2024 a US date
    assert table["t12m_revenue"].to_dict() == {"d": 1200.5, "a": 200.0}
    assert "as of 2024-01-08" in out


def test_as_of_replays_the_log_without_later_rows_or_customers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "customer,date,amount,customer since",
        "X,2024-01-01,100,",
        "Y,2024-03-01,50,",
        "X,2024-04-01,70,",
        "Z,2024-01-10,20,2024-03-01",
    )
    code, out, _, table = run(tmp_path, path, "--as-of", "2024-02-15", capsys=capsys)
    assert code == 0 and table is not None
    # Y is first seen after the as-of date: not there; X's later order is not seen; Z ordered
    # before its "since" date, so it exists from that first order
    assert table["t12m_revenue"].to_dict() == {"X": 100.0, "Z": 20.0}
    assert "  set aside 2: dated on or after --as-of 2024-02-15 (not seen yet) (rows 2, 3)" in out
    assert "as of 2024-02-15 (--as-of)" in out
    assert "pulled 4 = used 2 + set aside 2" in out


def test_a_needed_column_missing_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "client_ref,when,total", "a,2024-01-01,5")
    code, out, err, table = run(tmp_path, path, capsys=capsys)
    assert (code, table) == (2, None)
    assert err == (
        "error: no customer id column (give --customer COLUMN); columns found: 'client_ref', "
        "'when', 'total'\n"
    )
    code, _, err, _ = run(tmp_path, path, "--customer", "client_ref", capsys=capsys)
    assert code == 2
    assert err == (
        "error: no order date column (give --date COLUMN); columns found: 'client_ref', "
        "'when', 'total'\n"
    )
    code, _, err, _ = run(
        tmp_path, path, "--customer", "client_ref", "--date", "when", capsys=capsys
    )
    assert code == 0, err
    path = write(tmp_path, "customer,date,quantity", "a,2024-01-01,5", name="noprice.csv")
    code, _, err, _ = run(tmp_path, path, capsys=capsys)
    assert code == 2
    assert err == (
        "error: no amount column (give --amount COLUMN, or --quantity COLUMN and --price "
        "COLUMN); columns found: 'customer', 'date', 'quantity'\n"
    )
    code, _, err, _ = run(tmp_path, path, "--amount", "Total", capsys=capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "--amount 'Total' is not a column" in err
    path = write(tmp_path, "customer,date,amount", ",2024-01-01,5", "a,x,5", name="none.csv")
    code, out, err, _ = run(tmp_path, path, capsys=capsys)
    assert (code, err) == (2, "error: no row can be used\n")
    assert "pulled 2 = used 0 + set aside 2" in out
    code, _, err, _ = run(tmp_path, tmp_path / "missing.csv", capsys=capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "no such file" in err


def test_a_deals_export_scores_won_revenue_and_open_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "Opportunity ID,Account Name,Type,Stage,Amount,Created Date,Close Date",
        "1,Acme,New Business,Closed Won,1000,2023-01-05,2023-02-01",
        "2,Acme,Renewal,Negotiation,1200,2024-01-05,2024-03-01",
        "3,Beta,New Business,Closed Won,500,2023-06-01,2023-07-01",
        "4,Beta,Expansion,Closed Lost,300,2023-09-01,2023-10-01",
        "5,,New Business,Closed Won,100,2023-09-01,2023-10-01",
        "6,Gamma,New Business,Prospecting,900,2024-01-10,",
        "7,Acme,Renewal,Closed Won,1100,2023-12-01,2024-02-01",
        "8,Acme,New Business,Closed Won,900,2021-12-01,2022-01-10",  # two years of history
        name="deals.csv",
    )
    code, out, _, table = run(tmp_path, path, capsys=capsys)
    assert code == 0 and table is not None
    assert "read as a deals export" in out
    assert "  set aside 1: no customer id (account blank) (row 5)" in out
    # weights 20, 15, 10 of the measured components scaled to 100: 44, 33, 22
    assert (
        "health scored from: revenue trend (weight 44), pipeline coverage (weight 33), renewal "
        "risk (weight 22)"
    ) in out
    assert table["tier"].to_dict() == {"Acme": "Key", "Beta": "Existing", "Gamma": "Prospect"}
    # as of 2024-02-02: Acme T12M 1,100 vs 1,000 → trend 50 + 50 · 100 / 1,100 = 54.5; open
    # 1,200 + won recently 1,100 ≥ half of 1,100 → pipeline 100; its renewal closes 2024-03-01
    # (its own close date) at the open stage's 3 / 4 win rate ≥ 0.7 → no risk, 100.
    # (20 · 54.5 + 15 · 100 + 10 · 100) / 45 = 79.8, shown in whole points: 80
    assert table.loc["Acme", "health_score"] == 80
    assert table.loc["Acme", "next_action"] == (
        "No action: healthy (80), renewal not due (next 2024-03-01)"
    )
    # Beta: no open pipeline against 500 of T12M revenue, no prior year, no renewal: 0, Red
    assert (table.loc["Beta", "health_score"], table.loc["Beta", "health_band"]) == (0.0, "Red")
    assert table.loc["Beta", "next_action"] == "Health Red (0): review pipeline coverage"


KNOWN_REASONS = {
    "no customer id",
    "no date",
    "date unreadable",
    "no amount",
    "amount unreadable",
    "zero amount (no revenue: not an order)",
    score_csv.RETURN_REASON,
}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", None]),
            st.sampled_from(
                ["2024-01-05", "20240106", "1/7/2024", "2023-12-31", None, "soon", "2024-13-01"]
            ),
            st.sampled_from(["10", "-5", "0", None, "x", "$1,000.50", "-20", "7.25"]),
            st.sampled_from(["1", "2", "C3", None]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_every_row_is_used_or_set_aside_with_exactly_one_reason(
    rows: list[tuple[str | None, ...]],
) -> None:
    raw = pd.DataFrame(rows, columns=["customer", "date", "amount", "order"], dtype=object)
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row")
    orders = score_csv.orders_from(raw)
    aside = orders.set_aside
    assert aside.index.is_unique and set(aside.index) <= set(raw.index)
    assert orders.used + len(aside) == orders.rows == len(raw)
    assert set(aside) <= KNOWN_REASONS
    # money: netting never makes a purchase negative, never adds, never takes more than the
    # returns of the rows used
    used = raw.loc[~raw.index.isin(aside.index)]
    amounts = export_reader.parse_amounts(used["amount"])
    total = float(orders.deals["amount"].sum())
    assert (orders.deals["amount"] > 0).all()
    assert float(amounts.sum()) - 1e-6 <= total <= float(amounts[amounts > 0].sum()) + 1e-6


def test_the_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, *TEN)
    out = tmp_path / "scores.csv"
    config = tmp_path / "empty.yaml"
    config.write_text("{}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "score_csv.py"), str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        env={"ACM_SYNC_CONFIG": str(config), "PATH": ""},
        cwd=tmp_path,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert f"settings: {config}" in done.stdout
    assert out.read_text(encoding="utf-8").splitlines()[0] == (
        "customer_id,name,tier,tier_reason,health_score,health_band,health_drivers,attention,"
        "next_action,t12m_revenue"
    )
    bad = subprocess.run(
        [sys.executable, str(REPO / "bench" / "score_csv.py"), str(tmp_path / "none.csv")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1


def _amounts_by_pattern(text: pd.Series) -> pd.Series:
    """export_reader.parse_amounts before its plain-number fast path: every value through the
    amount pattern (the reference the fast path must agree with)."""
    parts = text.str.replace(r"\s", "", regex=True).str.extract(export_reader.AMOUNT)
    number = pd.to_numeric(parts[2].str.replace(",", "", regex=False), errors="coerce")
    negative = (parts[0] == "-") | (parts[1] == "-")
    return number.where(~negative, -number)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.,-+$€ eE１", max_size=8), min_size=1, max_size=20))
def test_reading_plain_numbers_directly_changes_no_amount(values: list[str]) -> None:
    text = pd.Series([v.strip() or None for v in values], dtype=object)
    fast = export_reader.parse_amounts(text).to_numpy(dtype=float)
    reference = _amounts_by_pattern(text).to_numpy(dtype=float)
    assert ((fast == reference) | (pd.isna(fast) & pd.isna(reference))).all()


def test_names_industries_and_a_deals_export_without_open_deals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "Customer ID,Customer Name,Sector,Order Date,Total",
        "17,Acme Ltd,Retail,2024-01-02,100",
        "17,,Retail,2024-02-02,50",
        "18,Beta GmbH,,2024-02-03,70",
    )
    code, out, _, table = run(tmp_path, path, capsys=capsys)
    assert code == 0 and table is not None
    assert table["name"].to_dict() == {"17": "Acme Ltd", "18": "Beta GmbH"}
    assert "  industry       --industry   'Sector' (guessed)" in out
    # a deals export with no open deal: pipeline coverage and renewal risk are not measured
    path = write(
        tmp_path,
        "Account,Stage,Amount,Created,Close Date",
        "Acme,Won,100,2023-01-01,2023-02-01",
        "Acme,Lost,100,2023-03-01,2023-04-01",
        name="closed.csv",
    )
    code, out, _, table = run(tmp_path, path, capsys=capsys)
    assert code == 0 and table is not None
    assert "health scored from: revenue trend (weight 100)" in out
    assert "  pipeline coverage: no open deal in the export" in out.splitlines()
    assert "  renewal risk: no type column: no deal reads as a renewal" in out.splitlines()


def test_a_deals_export_missing_a_column_is_told_which_deals_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a deals export whose creation column has a name nothing guesses (an "engage date"): its
    # stage column says it is deals, so the error names the deals column to give — not the
    # order date of a purchase log, which this file never was
    path = write(
        tmp_path,
        "opportunity_id,account,deal_stage,engage_date,close_date,close_value",
        "o1,Acme,Won,2024-01-05,2024-02-01,500",
        "o2,Acme,Lost,2024-01-10,2024-03-01,0",
        name="pipeline.csv",
    )
    code, out, err, table = run(tmp_path, path, capsys=capsys)
    assert (code, table) == (2, None)
    assert out.startswith("deals export: ")
    assert err == (
        "error: no created date column (give --created COLUMN); columns found: "
        "'opportunity_id', 'account', 'deal_stage', 'engage_date', 'close_date', "
        "'close_value'\n"
    )
    code, out, err, table = run(tmp_path, path, "--created", "engage_date", capsys=capsys)
    assert code == 0, err
    assert table is not None and table.loc["Acme", "t12m_revenue"] == 500.0
    # an outcome alone makes a deals export; a purchase log keeps its own error
    path = write(tmp_path, "client_ref,when,total", "a,2024-01-01,5", name="log.csv")
    code, out, err, _ = run(tmp_path, path, "--customer", "client_ref", capsys=capsys)
    assert out.startswith("purchase log: ") and "no order date column" in err


def test_a_file_with_no_header_is_told_to_give_its_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.txt"
    path.write_text("00001 19970101 1 11.77\n00002 19970112 5 77.00\n", encoding="utf-8")
    code, _, err, _ = run(tmp_path, path, capsys=capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert "looks like data, not a header: give the columns by position with --columns" in err
    # a real header gets no such hint
    path.write_text("client;when;total\nA;2024-01-01;5\n", encoding="utf-8")
    code, _, err, _ = run(tmp_path, path, capsys=capsys)
    assert code == 2 and "looks like data" not in err


def test_a_deals_export_of_close_values_is_scored_without_the_backtests_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # lost deals at 0 ("close value"): a backtest would learn the outcome from the amount and
    # says so; scoring reads won amounts as revenue and lost ones as nothing, so no warning
    path = write(
        tmp_path,
        "deal_id,account,deal_stage,created,close_date,close_value",
        "1,Acme,Won,2024-01-05,2024-02-01,1000",
        "2,Acme,Lost,2024-01-05,2024-02-10,0",
        "3,Beta,Won,2024-02-01,2024-03-01,500",
        name="close_values.csv",
    )
    code, out, _, table = run(tmp_path, path, capsys=capsys)
    assert code == 0 and table is not None
    assert "amount: 0 or blank on 1 of 1 lost, 0 of 2 won and 0 of 0 open deals" in out
    assert "an amount tells its deal's outcome" not in out
    assert table["t12m_revenue"].to_dict() == {"Acme": 1000.0, "Beta": 500.0}
