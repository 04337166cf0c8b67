"""crm-dataset-builder's own generator as a forecaster (bench/bench_public_dataset.py
`generator_origin`): each figure worked out here by hand from the generator's source
(src/generators/deals.py, src/profiles/*.py at the pinned commit), on hand-made deals."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_public_dataset import (
    GENERATOR,
    PROFILES,
    followups_pending,
    generator_origin,
    generator_probabilities,
    generator_run_rate,
    snapshot,
)

START, END, WINDOW = date(2023, 1, 1), date(2026, 2, 1), date(2025, 8, 1)
END_DAY = (END - START).days  # 1127
WINDOW_DAYS = (END - WINDOW).days + 1  # Open-outcome NB deals: created uniformly on 185 days
COLUMNS = ["deal_id", "account_id", "pipeline", "segment", "stage", "amount"]
COLUMNS += ["created_date", "close_date"]


def day(text: str) -> int:
    return (date.fromisoformat(text) - START).days


def deals_frame(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["close_date"] = frame["close_date"].astype(object).where(frame["close_date"].notna())
    frame["deal_status"] = "Open"
    frame["loss_reason"] = np.nan
    return frame


def created_weight(cycle: int, values: int) -> float:
    """A won / lost NB deal's cycle drawn uniformly (`values` of them), then its created day
    uniformly on START … END − cycle: END − cycle − START + 1 days."""
    return 1 / values / (END_DAY - cycle + 1)


def test_open_deals_chances_given_their_age() -> None:
    # consultancy at 2025-10-01 (a 92-day quarter, to 2026-01-01)
    deals = deals_frame(
        [
            # NB Mid-Market (cycle 60…120) created 2025-09-10 in the active window, never
            # closes: 21 days old, so every cycle is still ahead, and 60…112 end in the quarter
            (1, 1, "New Business", "Mid-Market", "Proposal", 200_000, "2025-09-10", None),
            # NB Enterprise (120…240) created 2025-08-02, 60 days old; lost 2026-01-15. Created
            # then, its cycle can be at most END − created = 183 days; 120…151 end in the
            # quarter
            (
                2,
                2,
                "New Business",
                "Enterprise",
                "Closed Lost",
                1_000_000,
                "2025-08-02",
                "2026-01-15",
            ),
            # Expansion (20…60) created 2025-09-01 in the window, 30 days old; won 2025-10-20
            (3, 1, "Expansion", "Mid-Market", "Closed Won", 50_000, "2025-09-01", "2025-10-20"),
            # closed before the origin: not open, not forecast
            (4, 3, "Extension", "SMB", "Closed Won", 9_000, "2025-06-01", "2025-07-01"),
        ]
    )
    accounts = pd.DataFrame({"id": [1, 2, 3], "employee_count": [500, 5000, 50]})
    origin = pd.Timestamp("2025-10-01")
    got = generator_origin(deals, accounts, PROFILES["consultancy"], origin)

    # outcome shares New Business: won 25, lost 55, open 20 (the open ones: window only)
    mid = [created_weight(k, 61) for k in range(60, 121)]
    p1 = 0.25 * sum(mid[: 113 - 60]) / (0.20 / WINDOW_DAYS + 0.80 * sum(mid))
    assert day("2025-09-10") + 120 <= END_DAY and (day("2026-01-01") - day("2025-09-10")) == 113
    assert END_DAY - day("2025-08-02") == 183
    ent = {k: created_weight(k, 121) for k in range(120, 184)}
    p2 = (
        0.25
        * sum(ent[k] for k in range(120, 152))
        / (0.20 / WINDOW_DAYS + 0.80 * sum(ent.values()))
    )
    # Expansion: won 60, lost 20, open 20; the 31 cycles of 41 that are ≥ 30 days all end by
    # 2026-01-01 (122 days after its creation)
    p3 = 0.60 * (31 / 41) / (0.20 + 0.80 * (31 / 41))
    forecast = 200_000 * p1 + 1_000_000 * p2 + 50_000 * p3
    assert got["open_forecast"] == pytest.approx(forecast)
    assert got["open_actual"] == 50_000.0
    # account 1: deals 1 and 3, booked 50,000; account 2: deal 2, booked nothing
    wape = (abs(200_000 * p1 + 50_000 * p3 - 50_000) + 1_000_000 * p2) / 50_000
    assert got["wape"] == pytest.approx(wape)
    assert got["bias"] == pytest.approx((forecast - 50_000) / 50_000)
    assert got["total_error"] == pytest.approx((forecast + got["run_rate"] - 50_000) / 50_000)

    # the data as it stood at 2026-01-01: deal 2's loss not yet there, the same forecast
    cut = snapshot(deals, pd.Timestamp("2026-01-01", tz="UTC"), PROFILES["consultancy"])
    assert generator_origin(cut, accounts, PROFILES["consultancy"], origin) == pytest.approx(got)

    with pytest.raises(ValueError, match="segment 'Startup' is not the generator's"):
        generator_origin(deals.assign(segment="Startup"), accounts, PROFILES["consultancy"], origin)


def test_follow_ups_before_the_window_self_serve_and_plg_deals() -> None:
    # b2b_saas at 2024-07-01 (to 2024-10-01), 1,000 companies
    deals = deals_frame(
        [
            # Renewal (15…30) created 2024-06-20, 11 days old: before the active window its
            # Open share (5) is redrawn Won 85 : Lost 15, so it wins 85 + 5 × 0.85 %; every
            # cycle is ≥ 11 and ends in the quarter
            (1, 1, "Renewal", "SMB", "Closed Won", 10_000, "2024-06-20", "2024-07-10"),
            # Self-Serve created 2024-06-25, 6 days old: converted (15 %) after 1…14 days, else
            # churned after 1…30
            (2, 2, "Self-Serve", "Self-Serve", "Churned", 300, "2024-06-25", "2024-07-20"),
        ]
    )
    gen = GENERATOR["b2b_saas"]
    p = generator_probabilities(deals, gen, day("2024-07-01"), day("2024-10-01"), 1000)
    assert p[0] == pytest.approx(0.85 + 0.05 * 0.85)
    assert p[1] == pytest.approx(0.15 * 9 / 14 / (0.15 * 9 / 14 + 0.85 * 25 / 30))

    # an NB SMB deal (30…45) created 2025-09-10 in the window, 21 days old at 2025-10-01:
    # besides the 20 % Open NB deals, round(0.2 × 1000) Self-Serve accounts convert at 15 %
    # and 10 % of those outside the round(0.7 × 1000) NB accounts get an NB deal that never
    # closes — per NB deal (700 accounts × 1.65 deals):
    plg = 200 * 0.15 * 0.10 * (1 - 700 / 1000) / (700 * 1.65)
    nb = deals_frame([(1, 1, "New Business", "SMB", "Discovery", 9_000, "2025-09-10", None)])
    smb = [created_weight(k, 16) for k in range(30, 46)]
    expected = 0.22 * sum(smb) / ((0.20 + plg) / WINDOW_DAYS + 0.80 * sum(smb))
    got = generator_probabilities(nb, gen, day("2025-10-01"), day("2026-01-01"), 1000)
    assert got[0] == pytest.approx(expected)


def test_run_rate_of_new_deals_and_follow_ups_of_known_wins() -> None:
    # manufacturer at 2024-07-01 (days 547 … 638), one company of 50 employees (SMB)
    o, e = day("2024-07-01"), day("2024-10-01")
    assert (o, e) == (547, 639)
    deals = deals_frame(
        [
            # NB win closed 2023-07-01 (day 181): its reorder is created 350…380 days later,
            # days 531…561; none is there by the origin (day 547), so it comes on one of the
            # 15 days 547…561, all in the quarter; its expansion's days 271…451 are all
            # before it: none came, none will
            (1, 1, "New Accounts", "SMB", "Closed Won", 40_000, "2023-05-01", "2023-07-01"),
            # NB win closed 2024-03-01 (day 425): its expansion (half the time) is created on
            # days 515…695 — not on 515…546, as none is there —, its reorder after the quarter
            (2, 1, "New Accounts", "SMB", "Closed Won", 20_000, "2024-01-10", "2024-03-01"),
            # another account's reorder: no win of its own to come from, changes nothing
            (3, 2, "Reorders", "SMB", "Closed Won", 5_000, "2024-06-01", "2024-06-20"),
        ]
    )
    assert (day("2023-07-01"), day("2024-03-01")) == (181, 425)
    employees = np.array([50.0])
    got = generator_run_rate(
        deals, employees, GENERATOR["manufacturer"], frozenset({"Closed Won"}), o, e
    )
    # NB: round(0.7 × 1) = 1 account × 1.65 deals, won 18 %, amount 5,000…50,000; created day c
    # and cycle k (45…90) weighted as drawn, booked when c + k < 639
    nb = sum(created_weight(k, 46) for c in range(o, e) for k in range(45, 91) if c + k < e)
    nb *= 1.65 * 0.18 * 27_500
    # reorders (10…30 days) created before the active window: won 90 + 5 × 0.85 %, all by the
    # quarter's end; amount the win's × 0.95…1.05
    reorder = 40_000 * (0.90 + 0.05 * 0.85)
    # expansions (Custom/Engineered, 90…270 days): won 30 + 25 × 0.60 %, amount × 0.2…0.5;
    # created on day c of the quarter, booked when its cycle < 639 − c; drawn on one of the
    # 181 days 515…695 half the time, and not on the 32 days 515…546
    expansion = sum(sum(1 for k in range(90, 271) if c + k < e) / 181 for c in range(o, e))
    expansion *= 20_000 * 0.35 * (0.30 + 0.25 * 0.60) / 181
    expansion *= 0.5 / (1 - 0.5 * 32 / 181)
    assert got == pytest.approx(nb + reorder + expansion)

    # the reorder of the first win came on 2024-06-24 (day 540, in its window): none to come
    came = deals_frame([(4, 1, "Reorders", "SMB", "Quote", 41_000, "2024-06-24", None)])
    got = generator_run_rate(
        pd.concat([deals, came], ignore_index=True),
        employees,
        GENERATOR["manufacturer"],
        frozenset({"Closed Won"}),
        o,
        e,
    )
    assert got == pytest.approx(nb + expansion)

    # b2b_saas, 1,000 companies of 50 employees (SMB): NB as above (round(0.7 × 1000) accounts,
    # won 22 %, cycle 30…45, amount 8,000…25,000), and round(0.2 × 1000) Self-Serve deals
    # created uniformly on the 1,128 days START … END, 15 % converted after 1…14 days, amount
    # Monthly (60 %) 50…500 or Annual 500…5,000
    employees = np.full(1000, 50.0)
    saas = generator_run_rate(
        deals.iloc[:0], employees, GENERATOR["b2b_saas"], frozenset({"Closed Won"}), o, e
    )
    ss = 200 / (END_DAY + 1) * 0.15 * (0.6 * 275 + 0.4 * 2750)
    ss *= sum(sum(1 for k in range(1, 15) if c + k < e) / 14 for c in range(o, e))
    nb_saas = sum(created_weight(k, 16) for c in range(o, e) for k in range(30, 46) if c + k < e)
    nb_saas *= 700 * 1.65 * 0.22 * 16_500
    assert saas == pytest.approx(ss + nb_saas)


def test_each_follow_up_is_taken_by_its_accounts_earliest_open_win_whose_window_holds_it() -> None:
    # account 7 won on days 100 and 110 (renewal windows 450…480 and 460…490), account 8 on 100
    wins_account, wins_day = np.array([7, 7, 8]), np.array([110, 100, 100])
    # a renewal on day 465 fits both of account 7's wins: the earlier takes it
    pending = followups_pending(wins_account, wins_day, np.array([7]), np.array([465]), (350, 380))
    assert pending.tolist() == [True, False, True]
    # a second one on day 485 fits only the later; one on day 440 none
    pending = followups_pending(
        wins_account, wins_day, np.array([7, 7, 8]), np.array([485, 465, 440]), (350, 380)
    )
    assert pending.tolist() == [False, False, True]
