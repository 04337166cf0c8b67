"""Run-rate of deals not created yet: hand-made past quarters, averaged at the same point of the
quarter, by type; young orgs average only the quarters they have."""

from __future__ import annotations

import pandas as pd
import pytest
from scoring_builders import accounts, contacts, opportunities

from acm_sync.config import RunRateConfig
from acm_sync.scoring import AccountBook, run_rate
from acm_sync.scoring.periods import quarters

AS_OF = pd.Timestamp("2025-06-15", tz="UTC")


def ts(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def won_deal(amount: float, created: str, closed: str, kind: str = "new") -> dict[str, object]:
    return {
        "account_id": "sf:A",
        "amount": amount,
        "is_won": True,
        "created_at": ts(created),
        "close_date": ts(closed),
        "type": kind,
    }


def book(*deals: dict[str, object]) -> AccountBook:
    return AccountBook.from_canonical(
        accounts({"account_id": "sf:A"}), contacts(), opportunities(*deals)
    )


def rates(b: AccountBook) -> pd.DataFrame:
    periods = quarters(AS_OF, 2)
    return run_rate(b, AS_OF, periods, RunRateConfig()).set_index(["period", "type"])


def test_the_same_point_of_past_quarters_averaged() -> None:
    b = book(
        won_deal(500, "2024-01-01", "2024-02-01"),  # the org's first deal: nothing else
        # rest of Q2 from 06-15, shifted back 1, 2, 3 quarters: created after the shifted
        # as-of and won before the shifted quarter end
        won_deal(1_000, "2025-03-20", "2025-03-25"),
        won_deal(2_000, "2024-12-16", "2024-12-20"),
        won_deal(3_000, "2024-09-16", "2024-09-25"),
        # created before its shifted as-of: it was pipeline then, not a new deal
        won_deal(9_000, "2025-03-01", "2025-03-25"),
        won_deal(400, "2025-03-16", "2025-03-30", kind="renewal"),
    )
    table = rates(b)
    # 2025Q2 (rest of the quarter): (1,000 + 2,000 + 3,000 + nothing in 2024-06-15…07-01) / 4
    assert table.loc[("2025Q2", "new"), "run_rate_amount"] == pytest.approx(1_500)
    assert table.loc[("2025Q2", "renewal"), "run_rate_amount"] == pytest.approx(100)
    assert table.loc[("2025Q2", "new"), "quarters_averaged"] == 4
    # 2025Q3, shifted back 2…5 quarters: created after 2024-12-15 and won in 2025Q1 are the
    # 1,000 and the 9,000 (new then, from that earlier point); 2024Q4 from 09-15: the 2,000;
    # 2024Q3 from 06-15: the 3,000; 2024Q2 from 03-15: nothing → (10,000 + 2,000 + 3,000) / 4
    assert table.loc[("2025Q3", "new"), "run_rate_amount"] == pytest.approx(3_750)
    assert table.loc[("2025Q3", "expansion"), "run_rate_amount"] == 0


def test_a_young_org_averages_only_the_quarters_it_has() -> None:
    # first deal 2024-11-01: of the shifted as-ofs only 2025-03-15 and 2024-12-15 are later
    b = book(
        won_deal(100, "2024-11-01", "2024-11-05"),
        won_deal(1_000, "2025-03-20", "2025-03-25"),
        won_deal(2_000, "2024-12-16", "2024-12-20"),
    )
    table = rates(b)
    assert table.loc[("2025Q2", "new"), "quarters_averaged"] == 2
    assert table.loc[("2025Q2", "new"), "run_rate_amount"] == pytest.approx(1_500)


def test_no_history_no_run_rate() -> None:
    table = rates(book())
    assert (table["run_rate_amount"] == 0).all()
    assert (table["quarters_averaged"] == 0).all()
