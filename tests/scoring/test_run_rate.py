"""Run-rate of deals not created yet: hand-made past quarters, averaged at the same point of the
quarter, by type; young orgs average only the quarters they have."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_builders import accounts, contacts, opportunities

from acm_sync.config import RunRateConfig
from acm_sync.scoring import AccountBook, run_rate
from acm_sync.scoring.periods import quarters

AS_OF = pd.Timestamp("2025-06-15", tz="UTC")


def ts(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def won_deal(
    amount: float, created: str, closed: str, kind: str = "new", account: str = "sf:A"
) -> dict[str, object]:
    return {
        "account_id": account,
        "amount": amount,
        "is_won": True,
        "created_at": ts(created),
        "close_date": ts(closed),
        "type": kind,
    }


def book(*deals: dict[str, object]) -> AccountBook:
    ids = sorted({"sf:A", *(str(d["account_id"]) for d in deals)})
    return AccountBook.from_canonical(
        accounts(*({"account_id": i} for i in ids)), contacts(), opportunities(*deals)
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
        # a renewal on an account with no contract in the CRM (an orphan: the run-rate's)
        won_deal(400, "2025-03-16", "2025-03-30", kind="renewal", account="sf:B"),
    )
    table = rates(b)
    # 2025Q2 (rest of the quarter from 06-15), shifted back 1…4 quarters: 1,000 + 2,000 +
    # 3,000 + nothing in 2024-06-15…07-01 → mean 1,500.
    # Flow: new pipeline created in the quarter before each shifted as-of — 2024-12-15…
    # 2025-03-15: 2,000 + 9,000; before 2024-12-15: 3,000; then 0 and 0 → mean 3,500; today
    # (2025-03-15…06-15): 1,000 → growth 0.29, held at 1 / 2 → 1,500 × 0.5 = 750.
    # Run-rate: (1,500 + 750) / 2 = 1,125.
    assert table.loc[("2025Q2", "new"), "run_rate_amount"] == pytest.approx(1_125)
    assert table.loc[("2025Q2", "new"), "basis"] == "mean + flow"
    assert table.loc[("2025Q2", "new"), "quarters_averaged"] == 4
    # orphan renewals: the CRM's first deal is a term old on 2025-01-01, so 2025Q2 learns only
    # from the sample that starts after it (from 2025-03-15: the 400); no renewal pipeline in
    # the quarter before it → the mean alone. The new deals won on sf:A are an installed base,
    # but none of their terms ends within the two quarters.
    assert table.loc[("2025Q2", "renewal"), "run_rate_amount"] == pytest.approx(400)
    assert table.loc[("2025Q2", "renewal"), "quarters_averaged"] == 1
    assert table.loc[("2025Q2", "renewal"), "basis"] == "installed_base + mean"
    # 2025Q3, shifted back 2…5 quarters: created after 2024-12-15 and won in 2025Q1 are the
    # 1,000 and the 9,000 (new then, from that earlier point); 2024Q4 from 09-15: the 2,000;
    # 2024Q3 from 06-15: the 3,000; 2024Q2 from 03-15: nothing → mean 15,000 / 4 = 3,750.
    # Flow: the sample from 2024-03-15 looks before the first deal (2024-01-01) and is left
    # out; the other three: x 10,000 + 2,000 + 3,000, created before them 3,000 + 0 + 0 →
    # mean 1,000 = today's 1,000: growth 1 → 15,000 / 3 = 5,000. (3,750 + 5,000) / 2 = 4,375.
    assert table.loc[("2025Q3", "new"), "run_rate_amount"] == pytest.approx(4_375)
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
    # only one sample's flow quarter (2024-12-15…2025-03-15) is after the first deal: no flow
    assert table.loc[("2025Q2", "new"), "basis"] == "mean"


def test_no_history_no_run_rate() -> None:
    table = rates(book())
    assert (table["run_rate_amount"] == 0).all()
    assert (table["quarters_averaged"] == 0).all()


def base_deal(amount: float, closed: str, kind: str = "new") -> dict[str, object]:
    """A deal won long after it was created (never a "new pipeline" sample)."""
    return won_deal(amount, "2023-01-01", closed, kind)


def test_the_flow_follows_growing_pipeline() -> None:
    # as of a quarter start: the run-rate of 2025Q2 from the samples 2025Q1 … 2024Q2
    as_of = ts("2025-04-01")
    b = book(
        base_deal(100, "2023-01-05", kind="other"),  # first deal created 2023-01-01
        base_deal(1_000, "2024-05-01", kind="other"),  # neither a sample nor a flow
        # renewals created and won within each sample quarter, each on an account with no
        # contract in the CRM (orphans: the run-rate's, not the installed base's)
        won_deal(500, "2024-04-10", "2024-05-10", kind="renewal", account="sf:R1"),
        won_deal(500, "2024-07-10", "2024-08-10", kind="renewal", account="sf:R2"),
        won_deal(500, "2024-10-10", "2024-11-10", kind="renewal", account="sf:R3"),
        won_deal(500, "2025-01-10", "2025-02-10", kind="renewal", account="sf:R4"),
        # more renewal pipeline opened in the last quarter, still open
        {
            "account_id": "sf:R5",
            "amount": 100,
            "created_at": ts("2025-03-01"),
            "close_date": ts("2025-06-01"),
            "type": "renewal",
        },
    )
    table = run_rate(b, as_of, quarters(as_of, 1), RunRateConfig()).set_index(["period", "type"])
    row = table.loc[("2025Q2", "renewal")]
    # mean of the samples: 2,000 / 4 = 500. Flow: renewals created in the quarter before each
    # sample's as-of (2024Q4, Q3, Q2, Q1): 500, 500, 500, 0 → mean 375; today (2025Q1):
    # 500 + 100 = 600 → growth 1.6 → 500 × 1.6 = 800. Run-rate: (500 + 800) / 2 = 650.
    # The renewal won 2024-05-10 is itself a contract whose term ends 2025-05-10 with no
    # renewal deal yet: 500 × the prior rate 0.9 (no outcome known) = 450 from the base.
    assert row["basis"] == "installed_base + mean + flow"
    assert row["run_rate_amount"] == pytest.approx(650 + 450)
    # new business: no "new" deal was created within a sample nor in a flow quarter
    assert table.loc[("2025Q2", "new"), "basis"] == "mean"  # no new pipeline since 2023
    assert table.loc[("2025Q2", "new"), "run_rate_amount"] == 0


def test_a_shrinking_flow_lowers_the_run_rate() -> None:
    # orphan renewals created 800 (2024Q4) and 400 (2025Q1), both won at once; their terms end
    # after 2025Q2 (nothing from the installed base)
    as_of = ts("2025-04-01")
    b = book(
        won_deal(1_000, "2023-01-01", "2023-02-01", kind="other"),
        won_deal(800, "2024-10-10", "2024-11-10", kind="renewal", account="sf:R1"),
        won_deal(400, "2025-01-10", "2025-02-10", kind="renewal", account="sf:R2"),
    )
    table = run_rate(b, as_of, quarters(as_of, 1), RunRateConfig()).set_index(["period", "type"])
    row = table.loc[("2025Q2", "renewal")]
    assert row["basis"] == "installed_base + mean + flow"
    assert row["quarters_averaged"] == 4
    # mean (400 + 800 + 0 + 0) / 4 = 300. Flow: renewals created in the quarter before each
    # sample's as-of: 800, 0, 0, 0 → mean 200; today 400 → growth 2 (the cap) → 600.
    assert row["run_rate_amount"] == pytest.approx((300 + 600) / 2)


@settings(max_examples=40, deadline=None)
@given(
    base=st.lists(st.integers(0, 50_000), min_size=5, max_size=5),
    renewals=st.lists(st.integers(0, 20_000), min_size=4, max_size=4),
    scale=st.sampled_from([0.5, 3.0, 10.0]),
)
def test_run_rate_scales_with_money_and_never_goes_negative(
    base: list[int], renewals: list[int], scale: float
) -> None:
    as_of = ts("2025-04-01")
    closes = ["2023-05-01", "2023-08-01", "2023-11-01", "2024-02-01", "2024-05-01"]
    sample = [("2024-04-10", "2024-05-10"), ("2024-07-10", "2024-08-10")]
    sample += [("2024-10-10", "2024-11-10"), ("2025-01-10", "2025-02-10")]

    def org(k: float) -> AccountBook:
        deals = [base_deal(100 * k, "2023-01-05")]
        deals += [base_deal(a * k, c) for a, c in zip(base, closes, strict=True)]
        deals += [
            won_deal(r * k, c, w, kind="renewal")
            for r, (c, w) in zip(renewals, sample, strict=True)
        ]
        return book(*deals)

    one = run_rate(org(1.0), as_of, quarters(as_of, 2), RunRateConfig())
    scaled = run_rate(org(scale), as_of, quarters(as_of, 2), RunRateConfig())
    assert (one["run_rate_amount"] >= 0).all()
    assert scaled["run_rate_amount"].to_numpy() == pytest.approx(
        scale * one["run_rate_amount"].to_numpy(), rel=1e-9, abs=1e-6
    )
    # no renewal in any sample → no renewal run-rate, whatever the base
    if not any(renewals):
        assert (one.loc[one["type"] == "renewal", "run_rate_amount"] == 0).all()


def test_the_flow_growth_is_held_within_the_cap() -> None:
    # renewal pipeline created in the quarter before each sample's as-of: 100, 0, 0, 0 (mean
    # 25); today 100 + an open 700 = 800 → growth 32, held at MAX_GROWTH = 2
    as_of = ts("2025-04-01")
    b = book(
        won_deal(10, "2023-01-01", "2023-01-05", kind="other"),
        won_deal(100, "2024-10-10", "2024-11-10", kind="renewal", account="sf:R1"),
        won_deal(100, "2025-01-10", "2025-02-10", kind="renewal", account="sf:R2"),
        {
            "account_id": "sf:R3",
            "amount": 700,
            "created_at": ts("2025-02-01"),
            "close_date": ts("2025-05-01"),
            "type": "renewal",
        },
    )
    table = run_rate(b, as_of, quarters(as_of, 1), RunRateConfig()).set_index(["period", "type"])
    row = table.loc[("2025Q2", "renewal")]
    assert row["basis"] == "installed_base + mean + flow"
    # mean (100 + 100 + 0 + 0) / 4 = 50; flow 50 × 2 = 100 (uncapped it would be 1,600)
    assert row["run_rate_amount"] == pytest.approx(75)
