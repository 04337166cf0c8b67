"""The Pipeline Command Center loader (bench/bench_public_pipeline_command_center.py): its pure
mapping to canonical tables, on hand-made rows — only what was known at each origin."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
pcc = importlib.import_module("bench_public_pipeline_command_center")
public_deals = importlib.import_module("public_deals")

HEADER = (
    "opportunity_id",
    "account_name",
    "segment",
    "lead_source",
    "created_date",
    "close_date",
    "stage",
    "amount",
)
ROWS = (
    # SMB, won after 20 days; the first deal of all
    ("OPP-1", "Apex Health", "SMB", "Inbound", "2024-01-01", "2024-01-21", "Closed Won", "1000"),
    # SMB expansion, lost after 60 days, created before OPP-1 closed
    (
        "OPP-2",
        "Apex Health",
        "SMB",
        "Customer Expansion",
        "2024-01-10",
        "2024-03-10",
        "Closed Lost",
        "2000",
    ),
    # SMB, open at the end, created after OPP-1 closed; the data's planned close is not shown
    ("OPP-3", "Blue Co", "SMB", "Outbound - SDR", "2024-02-01", "2024-12-01", "Proposal", "3000"),
    # Enterprise, open, no Enterprise deal ever closed
    (
        "OPP-4",
        "Blue Co",
        "Enterprise",
        "Partner",
        "2024-01-05",
        "2024-09-01",
        "Negotiation",
        "4000",
    ),
)


def raw(rows: tuple[tuple[str, ...], ...] = ROWS) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(HEADER), dtype=str)


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("opportunity_id")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_outcomes_types_and_accounts() -> None:
    tables, as_of = pcc.canonical_tables(raw())
    assert as_of == ts("2024-03-11")  # the day after the last event (OPP-2 lost 2024-03-10)
    opps = by_id(tables["opportunities"])
    assert list(opps["stage"]) == ["Closed Won", "Closed Lost", "Open (SMB)", "Open (Enterprise)"]
    assert list(opps["is_closed"]) == [True, True, False, False]
    assert list(opps["is_won"]) == [True, False, False, False]
    assert list(opps["type"]) == ["new", "expansion", "new", "new"]
    assert list(opps["amount"]) == [1000.0, 2000.0, 3000.0, 4000.0]
    assert opps.loc["sf:OOPP-1", "close_date"] == ts("2024-01-21")
    accounts = tables["accounts"].set_index("account_id")
    assert sorted(accounts.index) == ["sf:Aapex-health", "sf:Ablue-co"]
    assert accounts.loc["sf:Aapex-health", "created_at"] == ts("2024-01-01")
    assert accounts.loc["sf:Ablue-co", "created_at"] == ts("2024-01-05")  # its first deal, OPP-4
    assert accounts["employees"].isna().all()  # the data has no company size: none invented
    assert list(opps["account_id"]) == ["sf:Aapex-health"] * 2 + ["sf:Ablue-co"] * 2


def test_shown_close_date_uses_only_cycles_closed_before_creation() -> None:
    tables, _ = pcc.canonical_tables(raw())
    opps = by_id(tables["opportunities"])
    history = tables["opportunity_stage_history"]
    opening = by_id(history.loc[history["stage"].str.startswith("Open")])
    # no SMB deal had closed when OPP-1 / OPP-2 were created: the 30-day default
    assert opening.loc["sf:OOPP-1", "close_date"] == ts("2024-01-31")
    assert opening.loc["sf:OOPP-2", "close_date"] == ts("2024-02-09")
    # OPP-3 was created after OPP-1 closed (20 days): 20 days, not the data's 2024-12-01
    assert opening.loc["sf:OOPP-3", "close_date"] == ts("2024-02-21")
    assert opps.loc["sf:OOPP-3", "close_date"] == ts("2024-02-21")
    assert opps.loc["sf:OOPP-4", "close_date"] == ts("2024-02-04")
    # closed deals: opened at creation, closed on their close date
    closing = by_id(history.loc[~history["stage"].str.startswith("Open")])
    assert closing.loc["sf:OOPP-1", "changed_at"] == ts("2024-01-21")
    assert closing.loc["sf:OOPP-2", "stage"] == "Closed Lost"
    assert opening.loc["sf:OOPP-2", "changed_at"] == ts("2024-01-10")
    assert len(history) == 6


@pytest.mark.parametrize(
    ("known_at", "smb", "enterprise"),
    [
        (None, 0.5, 0.1),  # both SMB deals closed by the end: 1 won of 2
        (ts("2024-02-01"), 1.0, 0.1),  # only OPP-1 (won) had closed
        (ts("2024-01-21"), 0.1, 0.1),  # OPP-1 closes that instant: not known before it
    ],
)
def test_stage_probability_is_the_win_rate_known_at_the_origin(
    known_at: pd.Timestamp | None, smb: float, enterprise: float
) -> None:
    tables, _ = pcc.canonical_tables(raw(), known_at=known_at)
    opps = by_id(tables["opportunities"])
    assert opps.loc["sf:OOPP-3", "stage_probability"] == pytest.approx(smb)
    assert opps.loc["sf:OOPP-4", "stage_probability"] == pytest.approx(enterprise)
    assert list(opps["stage_probability"])[:2] == [1.0, 0.0]


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"lacks column.*segment"):
        pcc.canonical_tables(raw().drop(columns=["segment"]))
    no_close = raw()
    no_close.loc[0, "close_date"] = None
    with pytest.raises(ValueError, match="row 0: a closed deal without close_date"):
        pcc.canonical_tables(no_close)
    with pytest.raises(ValueError, match="row 2: amount 'n/a'"):
        pcc.canonical_tables(raw().assign(amount=["1", "2", "n/a", "4"]))
    nameless = raw()
    nameless.loc[1, "account_name"] = None
    with pytest.raises(ValueError, match=r"empty value.*account_name"):
        pcc.canonical_tables(nameless)


def test_read_opportunities_reads_the_published_columns(tmp_path: Path) -> None:
    path = tmp_path / "opportunities.csv"
    raw().assign(owner="Ava Chen", is_won="True").to_csv(path, index=False)
    tables, _ = pcc.canonical_tables(pcc.read_opportunities(path))
    assert len(tables["opportunities"]) == 4


@settings(max_examples=40, deadline=None)
@example([("SMB", 0, 10, True), ("SMB", 10, 5, True)])  # closed the instant the other opened
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["SMB", "Enterprise"]),
            st.integers(0, 400),  # created, days after 2024-01-01
            st.integers(1, 200),  # cycle in days
            st.booleans(),  # closed (else open)
        ),
        min_size=1,
        max_size=25,
    )
)
def test_shown_close_is_the_median_cycle_of_deals_closed_before_creation(
    deals: list[tuple[str, int, int, bool]],
) -> None:
    start = pd.Timestamp("2024-01-01", tz="UTC")
    segment = pd.Series([d[0] for d in deals])
    created = pd.Series([start + pd.Timedelta(days=d[1]) for d in deals])
    closed = np.array([d[3] for d in deals])
    closed_at = pd.Series(
        [start + pd.Timedelta(days=d[1] + d[2]) if d[3] else pd.NaT for d in deals],
        dtype="datetime64[ns, UTC]",
    )
    shown = public_deals.shown_close_dates(segment, created, closed_at, closed)
    for i, (seg, _, _, _) in enumerate(deals):
        before = [
            d[2] for j, d in enumerate(deals) if d[0] == seg and d[3] and closed_at[j] < created[i]
        ]
        days = float(np.median(before)) if before else public_deals.UNKNOWN_CYCLE_DAYS
        assert shown[i] == created[i] + pd.Timedelta(days=days)


def test_the_backtest_takes_its_settings_from_the_config_file_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the public benches compare a setting's two values on the same data through
    # $ACM_SYNC_CONFIG; unset, the defaults (a one-quarter horizon)
    data = raw()

    def tables_at(origin: pd.Timestamp) -> dict[str, pd.DataFrame]:
        return pcc.canonical_tables(data, known_at=origin)[0]

    as_of = ts("2024-12-02")
    monkeypatch.delenv("ACM_SYNC_CONFIG", raising=False)
    default = public_deals.backtest_by_origin(tables_at, as_of, 1).origins
    assert list(default["origin"]) == [ts("2024-07-01")]
    assert list(default["horizon_end"]) == [ts("2024-10-01")]
    config = tmp_path / "two_quarters.yaml"
    config.write_text("forecast:\n  backtest:\n    horizon_quarters: 2\n", encoding="utf-8")
    monkeypatch.setenv("ACM_SYNC_CONFIG", str(config))
    named = public_deals.backtest_by_origin(tables_at, as_of, 1).origins
    # the last quarter start whose two-quarter horizon ended by as_of, and its horizon
    assert list(named["origin"]) == [ts("2024-04-01")]
    assert list(named["horizon_end"]) == [ts("2024-10-01")]


def test_the_generators_own_forecast_is_its_win_rate_times_the_cycle_ending_in_the_quarter() -> (
    None
):
    # the reference forecaster the bench prints beside the model: what the data's generator
    # (src/generate_data.py) expects, worked out here by hand from its definition
    rows = (
        # SMB, 30 days old at 2024-07-01, won in the quarter
        ("A", "Apex", "SMB", "Inbound - Website", "2024-06-01", "2024-08-01", "Closed Won", "900"),
        # Enterprise partner deal, 100 days old, lost after the quarter
        (
            "B",
            "Apex",
            "Enterprise",
            "Partner Referral",
            "2024-03-23",
            "2024-11-02",
            "Closed Lost",
            "5000",
        ),
        # closed before the origin: not open, not forecast
        ("C", "Blue", "SMB", "Inbound - Website", "2024-05-01", "2024-06-10", "Closed Won", "700"),
        # created in the quarter and won in it: run-rate's, not the open pipeline's
        ("D", "Blue", "SMB", "Outbound - SDR", "2024-07-10", "2024-08-20", "Closed Won", "300"),
    )
    got = pcc.generator_origin(raw(rows), pd.Timestamp("2024-07-01"))
    phi = NormalDist().cdf

    def ends_by(days: int, median: float) -> float:  # P(int(lognormal) + 5 ≤ days)
        return phi((math.log(days - 4) - math.log(median)) / 0.45)

    # A: open 30 days, the quarter ends 122 days after its creation; B: 100 and 192 days
    p_a = 0.34 * (ends_by(121, 35) - ends_by(29, 35)) / (1 - ends_by(29, 35))
    p_b = 0.22 * 1.2 * (ends_by(191, 120) - ends_by(99, 120)) / (1 - ends_by(99, 120))
    assert got["open_forecast"] == pytest.approx(900 * p_a + 5000 * p_b)
    assert got["open_actual"] == 900.0
    # one account holds both open deals: its error over what it booked
    assert got["wape"] == pytest.approx(abs(900 * p_a + 5000 * p_b - 900) / 900)
    assert got["bias"] == pytest.approx((900 * p_a + 5000 * p_b - 900) / 900)
    assert got["run_rate"] > 0
    total = got["open_forecast"] + got["run_rate"]
    assert got["total_error"] == pytest.approx((total - 1200) / 1200)
    with pytest.raises(ValueError, match="segment 'Startup' is not the generator's"):
        pcc.generator_origin(
            raw(((*rows[0][:2], "Startup", *rows[0][3:]),)), pd.Timestamp("2024-07-01")
        )


def test_the_generators_creation_rate_is_its_6000_deals_spread_by_trend_and_season() -> None:
    window = pd.date_range("2023-01-01", "2026-06-29", freq="D")
    rate = pcc.creation_rate(window)
    assert rate.sum() == pytest.approx(6000)
    outside = pcc.creation_rate(pd.DatetimeIndex(["2022-12-31", "2026-06-30"]))
    assert list(outside) == [0.0, 0.0]
    # one day apart, so the trend barely moves: 31 Oct → 1 Nov is the Q4 push, 30 Jun → 1 Jul
    # the summer dip; and the same day a year apart grows by 0.9 × 365 / 1276 of the start
    pair = pcc.creation_rate(
        pd.DatetimeIndex(["2024-10-31", "2024-11-01", "2024-06-30", "2024-07-01"])
    )
    assert pair[1] / pair[0] == pytest.approx(1.35, rel=1e-3)
    assert pair[3] / pair[2] == pytest.approx(0.72, rel=1e-3)
    years = pcc.creation_rate(pd.DatetimeIndex(["2023-03-01", "2024-03-01"]))
    start = pd.Timestamp("2023-01-01")
    grow = [1 + (pd.Timestamp(d) - start).days / 1276 * 0.9 for d in ("2023-03-01", "2024-03-01")]
    assert years[1] / years[0] == pytest.approx(grow[1] / grow[0])
