"""Run-rate of deals not created yet: hand-made past quarters, averaged at the same point of the
quarter, by type; young orgs average only the quarters they have."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_builders import accounts, contacts, opportunities

from acm_sync.config import RunRateConfig
from acm_sync.scoring import AccountBook, run_rate
from acm_sync.scoring.periods import quarters
from acm_sync.scoring.run_rate import installed_base, season_of, seasonal_index, window_exposure

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


# --- renewals from the installed base ---------------------------------------------------------

Q2_START = ts("2025-04-01")  # as-of of the installed-base tests: the run-rate of 2025Q2 (, Q3)


def renewal_row(b: AccountBook, config: RunRateConfig | None = None, n: int = 1) -> pd.DataFrame:
    table = run_rate(b, Q2_START, quarters(Q2_START, n), config or RunRateConfig())
    return table.loc[table["type"] == "renewal"].set_index("period")


def contract(amount: float, closed: str, account: str = "sf:A") -> dict[str, object]:
    """A new logo won long after it was created (never a run-rate sample)."""
    return won_deal(amount, "2023-01-01", closed, account=account)


def renewal_deal(created: str, account: str = "sf:A", **outcome: object) -> dict[str, object]:
    """A renewal deal: open (close date ahead) unless `outcome` says otherwise."""
    return {
        "account_id": account,
        "amount": 10_000.0,
        "created_at": ts(created),
        "close_date": ts("2025-06-01"),
        "type": "renewal",
        **outcome,
    }


def test_a_contract_won_a_term_ago_forecasts_its_renewal() -> None:
    # won 2024-05-01: its 12-month term ends 2025-05-01, inside 2025Q2; no renewal deal yet and
    # no renewal outcome known anywhere → the prior rate 0.9, booked when the term ends
    row = renewal_row(book(contract(10_000, "2024-05-01"))).loc["2025Q2"]
    assert row["run_rate_amount"] == pytest.approx(9_000)
    # no renewal deal in the CRM yet: the renewals rest on the assumption alone, and say so
    assert row["basis"] == "installed_base (assumed) + mean"


def test_a_contract_whose_renewal_deal_exists_is_not_counted_twice() -> None:
    alone = [contract(10_000, "2024-05-01"), contract(4_000, "2024-06-01", account="sf:B")]
    # sf:A's renewal deal is open: the pipeline forecasts it, the installed base must not
    opened = renewal_row(book(*alone, renewal_deal("2025-03-01"))).loc["2025Q2"]
    assert opened["run_rate_amount"] == pytest.approx(0.9 * 4_000)
    # a renewal deal on another account renews nothing of sf:A's
    elsewhere = renewal_row(book(*alone, renewal_deal("2025-03-01", account="sf:C")))
    assert elsewhere.loc["2025Q2", "run_rate_amount"] == pytest.approx(0.9 * 14_000)
    # a renewal deal opened before the contract was won renews an earlier contract, not it
    earlier = renewal_row(book(*alone, renewal_deal("2024-04-01")))
    assert earlier.loc["2025Q2", "run_rate_amount"] == pytest.approx(0.9 * 14_000)


def lapsed_history(n: int) -> list[dict[str, object]]:
    """n contracts (own accounts) won 2023-05-01 whose renewal deal was lost at term end."""
    out: list[dict[str, object]] = []
    for i in range(n):
        account = f"sf:L{i}"
        out.append(contract(10_000, "2023-05-01", account=account))
        lost = {"is_closed": True, "is_won": False, "close_date": ts("2024-05-01")}
        out.append(renewal_deal("2024-03-01", account=account, **lost))
    return out


@pytest.mark.parametrize("history", [2, 200])
def test_the_renewal_rate_shrinks_toward_the_prior_with_few_outcomes(history: int) -> None:
    # n contracts' renewals were all lost (observed rate 0), k = 20:
    # expected = 10,000 × (n / (n + 20) · 0 + 20 / (n + 20) · 0.9)
    b = book(contract(10_000, "2024-05-01"), *lapsed_history(history))
    value = renewal_row(b).loc["2025Q2", "run_rate_amount"]
    assert value == pytest.approx(10_000 * 0.9 * 20 / (history + 20))


def test_the_renewal_rate_follows_what_renewals_booked() -> None:
    # 200 contracts (2022–23) renewed at half their amount, booked 60 days before their term
    # ended:
    # the booking curve learns both — a contract whose term ends 2025-08-01 (in 2025Q3)
    # books in 2025Q2 (on 2025-06-02), at 0.5
    history: list[dict[str, object]] = []
    for i in range(200):
        account = f"sf:R{i}"
        history.append(contract(10_000, "2022-08-01", account=account))
        booked = {"is_closed": True, "is_won": True, "amount": 5_000.0}
        history.append(
            renewal_deal("2023-05-01", account=account, close_date=ts("2023-06-02"), **booked)
        )
    b = book(contract(10_000, "2024-08-01"), *history)
    table = renewal_row(b, n=2)
    w = 200 / 220  # 200 outcomes against k = 20
    # 2025Q2: the learnt half (0.5) from the curve; the prior books at the term end (Q3)
    assert table.loc["2025Q2", "run_rate_amount"] == pytest.approx(10_000 * w * 0.5)
    # 2025Q3: only the prior's share, booked at the term's end. (The 200 renewals are contracts
    # too: their terms ended 2024-06-02 with no renewal deal — lapsed, nothing ahead.)
    assert table.loc["2025Q3", "run_rate_amount"] == pytest.approx(10_000 * (1 - w) * 0.9)


def test_the_term_moves_the_forecast() -> None:
    b = book(contract(10_000, "2024-05-01"))

    def forecast(months: int) -> pd.Series:
        config = RunRateConfig(renewal_term_months=months)
        return renewal_row(b, config, n=2)["run_rate_amount"]

    assert forecast(12).to_dict() == pytest.approx({"2025Q2": 9_000, "2025Q3": 0})
    assert forecast(15).to_dict() == pytest.approx({"2025Q2": 0, "2025Q3": 9_000})
    # a 6-month term ended 2024-11-01 with no renewal deal: lapsed, nothing ahead (and the
    # ended term is one known outcome, renewed at 0 so far: the learnt part is 0 as well)
    assert forecast(6).to_dict() == pytest.approx({"2025Q2": 0, "2025Q3": 0})


def expired_contracts(n: int) -> list[dict[str, object]]:
    """n contracts (own accounts) won 2023-06-01: their terms ended 2024-06-01."""
    return [contract(10_000, "2023-06-01", account=f"sf:E{i}") for i in range(n)]


def test_an_org_that_books_no_renewal_deals_gets_no_renewal_forecast() -> None:
    # 30 terms ended a year ago and the CRM holds no renewal deal at all: renewals are not
    # booked as opportunities here — the contract ending in 2025Q2 forecasts nothing (the
    # shrinkage alone would still leave 20 / (30 + 20) of the prior: 3,600)
    b = book(contract(10_000, "2024-05-01"), *expired_contracts(30))
    row = renewal_row(b).loc["2025Q2"]
    assert row["run_rate_amount"] == 0
    assert not row["basis"].startswith("installed_base")
    # one renewal deal anywhere, even lost, says the org books renewals as deals
    lost = {"is_closed": True, "is_won": False, "close_date": ts("2024-06-01")}
    with_one = book(
        contract(10_000, "2024-05-01"),
        *expired_contracts(30),
        renewal_deal("2024-05-01", account="sf:E0", **lost),
    )
    # 30 ended terms, none renewed (one lost, 29 lapsed): 10,000 × 0.9 × 20 / 50
    assert renewal_row(with_one).loc["2025Q2", "run_rate_amount"] == pytest.approx(3_600)


def test_a_first_renewal_season_keeps_the_prior_before_any_term_ended() -> None:
    # no renewal deal yet, but no term has ended either: nothing tells a non-renewing org from
    # one whose first renewals are still ahead
    b = book(contract(10_000, "2024-05-01"), contract(5_000, "2024-04-15", account="sf:B"))
    assert renewal_row(b).loc["2025Q2", "run_rate_amount"] == pytest.approx(0.9 * 15_000)
    assert renewal_row(b).loc["2025Q2", "basis"] == "installed_base (assumed) + mean"
    # forced on, it is the user's word, not an assumption
    forced = renewal_row(b, RunRateConfig(renewals_from_installed_base="on"))
    assert forced.loc["2025Q2", "basis"] == "installed_base + mean"
    # one renewal deal created before the forecast date (here lost, on another account) says
    # the org books renewals as deals: no longer an assumption
    lost = {"is_closed": True, "is_won": False, "close_date": ts("2025-02-01")}
    seen = book(
        contract(10_000, "2024-05-01"),
        contract(5_000, "2024-04-15", account="sf:B"),
        renewal_deal("2025-01-15", account="sf:C", **lost),
    )
    assert renewal_row(seen).loc["2025Q2", "basis"] == "installed_base + mean"


def test_the_installed_base_can_be_forced_on_or_off() -> None:
    silent = book(contract(10_000, "2024-05-01"), *expired_contracts(30))
    forced = renewal_row(silent, RunRateConfig(renewals_from_installed_base="on"))
    assert forced.loc["2025Q2", "run_rate_amount"] == pytest.approx(10_000 * 0.9 * 20 / 50)
    # off: renewals are the run-rate's like any type — here a renewal created and won within
    # 2025Q1 (not an orphan: sf:B has a contract, and it counts all the same), one of the 4
    # past quarters averaged: 2,000 / 4
    renewed = book(
        contract(10_000, "2024-05-01"),
        contract(8_000, "2024-01-01", account="sf:B"),
        won_deal(2_000, "2025-01-02", "2025-02-01", kind="renewal", account="sf:B"),
    )
    off = renewal_row(renewed, RunRateConfig(renewals_from_installed_base="off"))
    assert off.loc["2025Q2", "basis"] == "mean"
    assert off.loc["2025Q2", "run_rate_amount"] == pytest.approx(500)


def test_no_contracts_no_installed_base() -> None:
    # open and lost deals are no contracts; a won "other" deal (services) is none either
    b = book(
        {"account_id": "sf:A", "created_at": ts("2024-01-01"), "close_date": ts("2025-05-01")},
        {
            "account_id": "sf:A",
            "created_at": ts("2024-01-01"),
            "close_date": ts("2024-05-01"),
            "is_closed": True,
        },
        won_deal(5_000, "2023-01-01", "2024-05-01", kind="other"),
    )
    base = installed_base(b, Q2_START, quarters(Q2_START, 2), RunRateConfig())
    assert base.contracts == 0
    assert (base.amounts == 0).all()
    row = renewal_row(b).loc["2025Q2"]
    assert row["run_rate_amount"] == 0
    assert row["basis"] == "mean"


@settings(max_examples=30, deadline=None)
@given(
    amounts=st.lists(st.integers(1, 50_000), min_size=1, max_size=6),
    months=st.lists(st.integers(0, 11), min_size=6, max_size=6),
    opened=st.lists(st.booleans(), min_size=6, max_size=6),
    extra=st.integers(1, 1_000_000),
)
def test_contracts_with_a_renewal_deal_never_add_to_the_base(
    amounts: list[int], months: list[int], opened: list[bool], extra: int
) -> None:
    # contracts won in 2024 (one per account); some have a renewal deal opened already. Making
    # those contracts larger changes nothing; every forecast stays within [0, prior × expiring]
    def org(bump: int) -> AccountBook:
        deals: list[dict[str, object]] = []
        for i, amount in enumerate(amounts):
            account = f"sf:C{i}"
            closed = str(ts("2024-01-15") + pd.DateOffset(months=months[i]))[:10]
            deals.append(contract(amount + (bump if opened[i] else 0), closed, account=account))
            if opened[i]:
                deals.append(renewal_deal("2025-03-20", account=account))
        return book(*deals)

    periods = quarters(Q2_START, 2)
    one = installed_base(org(0), Q2_START, periods, RunRateConfig())
    bumped = installed_base(org(extra), Q2_START, periods, RunRateConfig())
    assert bumped.amounts == pytest.approx(one.amounts)
    pending = sum(a for a, o in zip(amounts, opened, strict=False) if not o)
    assert (one.amounts >= 0).all()
    assert one.amounts.sum() <= 0.9 * pending + 1e-6


# --- seasonality ------------------------------------------------------------------------------


def quarter_starts(first: str, n: int) -> list[pd.Timestamp]:
    return [ts(first) + pd.DateOffset(months=3 * k) for k in range(n)]


DEALS = 100  # deals a quarter in the seasonal books


def deals_a_quarter(first: str, amounts: list[float]) -> AccountBook:
    """From `first` on, each quarter's amount as DEALS equal new deals created on the
    quarter's first day and won ten days later: each quarter's run-rate sample is its deals,
    and the pipeline created in the quarter before an as-of is the previous quarter's deals.
    Their count's noise: a ratio r's variance r² / DEALS."""
    days = quarter_starts(first, len(amounts))
    return book(
        *(
            won_deal(a / DEALS, f"{d:%Y-%m-%d}", f"{d + pd.Timedelta(days=10):%Y-%m-%d}")
            for a, d in zip(amounts, days, strict=True)
            for _ in range(DEALS)
        )
    )


def new_row(b: AccountBook, as_of: pd.Timestamp, seasonality: str = "on") -> pd.Series:
    config = RunRateConfig(seasonality=seasonality)  # type: ignore[arg-type]
    row = run_rate(b, as_of, quarters(as_of, 1), config).set_index("type").loc["new"]
    assert isinstance(row, pd.Series)
    return row


# three years, 2022Q4 … 2025Q3: 2,000 in every Q4, 1,000 in every other quarter
Q4_PUSH = [2_000.0, 1_000.0, 1_000.0, 1_000.0] * 3


def eb(tau2: float, noise: float, years: int) -> float:
    """The shrinkage factor τ² / (τ² + σ² / n), written out for the expected values."""
    return tau2 / (tau2 + noise / years)


def test_a_repeated_q4_push_is_forecast_in_q4() -> None:
    b = deals_a_quarter("2022-10-01", Q4_PUSH)
    # The raw index: 2,000 / 1,250 = 1.6 in Q4, 0.8 otherwise (the trend is flat at the
    # quarters' mean, 1,250). The pattern repeats exactly (no spread between years), so the
    # noise is the deal count's: mean r² / DEALS over the twelve ratios = (3 × 1.6² + 9 ×
    # 0.8²) / 12 / 100 = 0.0112, per quarter of the year (3 years) 0.0037333; τ² = (0.6² +
    # 3 × 0.2²) / 3 − 0.0037333 = 0.1562667; B = τ² / 0.16 = 0.9766667.
    big = eb(0.16 - 0.0112 / 3, 0.0112, 3)
    q4, rest = 1 + 0.6 * big, 1 - 0.2 * big
    # The last four samples over their indices: 1,000 / rest (2025Q3, Q2, Q1) and 2,000 / q4
    # (2024Q4) → level 1,247.32. The pipeline created in the quarter before each is the
    # quarter before's deals, with the same indices a quarter on: today 1,000 / rest vs the
    # same level → growth 0.996335; (level + level × growth) / 2 × q4 = 1,974.6 (2,000 if
    # the count made no noise).
    level = (3_000 / rest + 2_000 / q4) / 4
    growth = 1_000 / rest / level
    on = new_row(b, ts("2025-10-01"))
    assert on["run_rate_amount"] == pytest.approx((level + level * growth) / 2 * q4, rel=1e-6)
    assert on["run_rate_amount"] == pytest.approx(1_974.6, abs=0.05)
    assert on["basis"] == "mean + flow × season"
    # Without: mean of the last four quarters (3 × 1,000 + 2,000) / 4 = 1,250; flow: pipeline
    # today 1,000 (2025Q3) vs mean 1,250 (2025Q2, Q1, 2024Q4, Q3) → growth 0.8 → 1,000;
    # (1,250 + 1,000) / 2 = 1,125.
    off = new_row(b, ts("2025-10-01"), "off")
    assert off["run_rate_amount"] == pytest.approx(1_125)
    assert off["basis"] == "mean + flow"


def test_a_repeated_q4_push_is_not_forecast_in_q3() -> None:
    b = deals_a_quarter("2022-10-01", Q4_PUSH)
    # As of 2025-07-01, eleven quarters are known (2022Q4 … 2025Q2): Q4, Q1, Q2 three times,
    # Q3 twice. The same raw index; the count's noise (3 × 1.6² + 8 × 0.8²) / 11 / 100 =
    # 0.0116364; τ² = 0.16 − 0.0116364 × (1/3 + 1/3 + 1/3 + 1/2) / 4 = 0.1556364.
    noise, tau2 = 0.0116364, 0.16 - 0.0116364 * 0.375
    q4, rest = 1 + 0.6 * eb(tau2, noise, 3), 1 - 0.2 * eb(tau2, noise, 3)
    q3 = 1 - 0.2 * eb(tau2, noise, 2)
    # samples 2025Q2, Q1 (rest), 2024Q4 (q4), Q3 (q3) over their indices; pipeline today
    # (2025Q2) 1,000 / rest against the same four seasons → × q3 = 1,004.5 (the flat
    # run-rate's 1,000, less shrunk than 1,125)
    level = (2_000 / rest + 2_000 / q4 + 1_000 / q3) / 4
    growth = 1_000 / rest / level
    on = new_row(b, ts("2025-07-01"))
    assert on["run_rate_amount"] == pytest.approx((level + level * growth) / 2 * q3, rel=1e-5)
    assert on["run_rate_amount"] == pytest.approx(1_004.5, abs=0.05)
    # Without: the same four samples, mean 1,250; pipeline 1,000 vs 2025Q1, 2024Q4, Q3, Q2 =
    # 1,250 → 1,000; 1,125.
    assert new_row(b, ts("2025-07-01"), "off")["run_rate_amount"] == pytest.approx(1_125)


def test_a_pattern_that_does_not_repeat_is_no_season() -> None:
    # two years from 2023Q3: each quarter of the year once at 800 and once at 1,200, in turn
    # (Q3 800 then 1,200, Q4 1,200 then 800, …): every quarter of the year averages 1,000,
    # the fitted slope is 0 (the rises and falls cancel), so R = 1 for all four quarters,
    # τ² = 0 and the index is exactly 1 — the run-rate is the one without seasonality.
    amounts = [800.0, 1_200.0, 800.0, 1_200.0, 1_200.0, 800.0, 1_200.0, 800.0]
    b = deals_a_quarter("2023-07-01", amounts)
    as_of = ts("2025-07-01")
    on, off = new_row(b, as_of), new_row(b, as_of, "off")
    assert on["run_rate_amount"] == off["run_rate_amount"]
    assert on["basis"] == off["basis"] == "mean + flow"


def test_no_season_before_every_quarter_was_seen_twice() -> None:
    # seven quarters of a strong Q4 push: Q3 has been seen once → no index at all
    b = deals_a_quarter("2023-10-01", [3_000.0, 1_000.0, 1_000.0, 1_000.0] * 2)
    as_of = ts("2025-07-01")  # the last deal (2025Q2, the 8th) is the period's sample j = 1
    assert new_row(b, as_of)["run_rate_amount"] == new_row(b, as_of, "off")["run_rate_amount"]
    assert "season" not in new_row(b, as_of)["basis"]


def test_year_to_year_noise_shrinks_a_pattern_toward_one() -> None:
    # two years, 2023Q4 … 2025Q3: Q4 1,900 then 2,100; Q1 1,100 / 900; Q2 900 / 1,100; Q3
    # 1,100 / 900. The rises and falls cancel: slope 0, trend = the quarters' mean, 1,250.
    # Ratios: Q4 1.52 / 1.68 → R = 1.6; the others 0.88 / 0.72 → 0.8 (they average 1).
    # σ² = 8 × 0.08² / (8 − 5) = 0.017067, σ² / n = 0.0085333 (n = 2 years);
    # τ² = (0.6² + 3 × 0.2²) / 3 − 0.0085333 = 0.1514667; B = τ² / (τ² + σ² / n) = 0.946667;
    # Q4 index 1 + 0.6 × B = 1.568, the others 1 − 0.2 × B = 0.810667. (The deal count's
    # noise, mean r² / DEALS = 0.011264, is below the years' spread: the spread counts.)
    amounts = [1_900.0, 1_100.0, 900.0, 1_100.0, 2_100.0, 900.0, 1_100.0, 900.0]
    b = deals_a_quarter("2023-10-01", amounts)
    q4, rest = 1 + 0.6 * 0.1514667 / 0.16, 1 - 0.2 * 0.1514667 / 0.16
    # j quarters back from 2025-10-01 (j = 1: 2025Q3 … j = 8: 2023Q4); row j mod 4
    series = np.concatenate([[np.nan], amounts[::-1]])[:, None]
    assert seasonal_index(series)[:, 0] == pytest.approx([q4, rest, rest, rest], rel=1e-5)
    # the run-rate of 2025Q4: samples 900, 1,100, 900 (2025Q3 … Q1) and 2,100 (2024Q4) over
    # their indices → mean 1,229.147; the pipeline created in the quarter before each sample
    # is the deal a quarter earlier: today 900 / rest = 1,110.197 vs (1,100 + 900 + 1,100) /
    # rest + 2,100 / q4 over 4 = 1,290.825 → growth 0.860072 → flow 1,057.151;
    # (1,229.147 + 1,057.151) / 2 × q4 = 1,792.4
    level = (2_900 / rest + 2_100 / q4) / 4
    growth = (900 / rest) / ((3_100 / rest + 2_100 / q4) / 4)
    on = new_row(b, ts("2025-10-01"))
    assert on["run_rate_amount"] == pytest.approx((level + level * growth) / 2 * q4, rel=1e-5)
    assert on["run_rate_amount"] == pytest.approx(1_792.4, abs=0.5)
    # without: mean 1,250; pipeline 900 vs (1,100 + 900 + 2,100 + 1,100) / 4 = 1,300 →
    # flow 1,250 × 900 / 1,300 = 865.385; 1,057.692
    off = new_row(b, ts("2025-10-01"), "off")
    assert off["run_rate_amount"] == pytest.approx((1_250 + 1_250 * 900 / 1_300) / 2)


@settings(max_examples=60, deadline=None)
@given(
    level=st.floats(1.0, 1e7),
    pattern=st.lists(st.floats(0.1, 10.0), min_size=4, max_size=4),
    length=st.integers(8, 16),
    first=st.integers(0, 3),
    scale=st.sampled_from([0.001, 0.5, 7.0, 1e4]),
    deals=st.integers(1, 1_000),
)
def test_season_properties(
    level: float, pattern: list[float], length: int, first: int, scale: float, deals: int
) -> None:
    flat = np.full((first + length, 1), np.nan)
    flat[first:, 0] = level
    # every quarter identical → exactly no season (to rounding)
    assert seasonal_index(flat) == pytest.approx(np.ones((4, 1)), abs=1e-9)
    periodic = flat.copy()
    periodic[first:, 0] = [level * pattern[(first + k) % 4] for k in range(length)]
    index = seasonal_index(periodic)
    # a pattern repeated exactly is kept whole: each quarter over the quarters' mean
    assert index[:, 0] == pytest.approx(np.array(pattern) / np.mean(pattern), rel=1e-6)
    # money's unit changes nothing
    assert seasonal_index(periodic * scale) == pytest.approx(index, rel=1e-6)
    # the deal count's noise (squares: Σ amount², here of `deals` equal deals a quarter)
    # shrinks the pattern toward 1, never past it nor beyond what it was
    noisy = seasonal_index(periodic, periodic**2 / deals)[:, 0]
    assert ((noisy - 1) * (index[:, 0] - 1) >= -1e-12).all()
    assert (np.abs(noisy - 1) <= np.abs(index[:, 0] - 1) + 1e-12).all()
    # fewer than two of some quarter of the year → no index
    short = periodic[: first + 7]
    assert (seasonal_index(short) == 1.0).all()


def test_a_crm_begun_inside_a_sample_counts_it_by_its_exposure() -> None:
    # as of 2025-04-01, 2025Q2: the one past sample is 2025Q1 (deals created from 01-01 and won
    # by 04-01: a window of L = 90 days). The CRM's first deal came on 01-19: it saw the last
    # S = 72 days. Its won deals took D = 13 and 19 days, so its exposure is
    # E[(S − D)+] / E[(L − D)+] = (59 + 53) / (77 + 71) = 112 / 148, and its 800 of bookings
    # are 800 × 148 / 112 = 1,057.14 a full window (it used to be skipped: a run-rate of 0).
    as_of = ts("2025-04-01")
    b = book(
        won_deal(400, "2025-01-19", "2025-02-01"),
        won_deal(400, "2025-02-10", "2025-03-01"),
    )
    table = run_rate(b, as_of, quarters(as_of, 1), RunRateConfig()).set_index(["period", "type"])
    assert table.loc[("2025Q2", "new"), "run_rate_amount"] == pytest.approx(800 * 148 / 112)
    assert table.loc[("2025Q2", "new"), "quarters_averaged"] == 1
    # no flow: the quarter before the sample is before the first deal
    assert table.loc[("2025Q2", "new"), "basis"] == "mean"
    # a CRM begun on the window's first day: exposure 1, the bookings as they are
    b = book(
        won_deal(0, "2025-01-01", "2025-01-02", kind="other"),
        won_deal(400, "2025-01-19", "2025-02-01"),
        won_deal(400, "2025-02-10", "2025-03-01"),
    )
    table = run_rate(b, as_of, quarters(as_of, 1), RunRateConfig()).set_index(["period", "type"])
    assert table.loc[("2025Q2", "new"), "run_rate_amount"] == pytest.approx(800)


def test_window_exposure_weighs_the_days_seen_by_the_time_to_win() -> None:
    lags = np.array([0, 4, 20])
    # a window of 10 whose last 5 were seen: (5 + 1 + 0) / (10 + 6 + 0) — less than the time
    # share 0.5, since deals created early have more time to be won within the window
    assert window_exposure(10, 5, lags) == pytest.approx(6 / 16)
    assert window_exposure(10, 5, np.array([], dtype=np.int64)) == 0.5  # no won deal yet
    assert window_exposure(10, 10, lags) == 1.0
    assert window_exposure(10, 12, lags) == 1.0
    # no deal was ever won within a window's length: the time share
    assert window_exposure(10, 5, np.array([30])) == 0.5


def test_a_deal_closed_before_it_was_created_is_in_no_sample() -> None:
    # a CRM migrated on 2025-01-19 without audit fields: an old deal, closed on 01-10, carries
    # the import day as its creation. It was not created and then won, so the sample holds only
    # the two deals of the case above (800 × 148 / 112; with it: 5,800, and a time to win of 0
    # in the exposure). Closed on its creation day (created 15:00, closed that day): it counts;
    # so does a close the day before (a local close date, a UTC creation time).
    as_of = ts("2025-04-01")
    imported = won_deal(5_000, "2025-01-19", "2025-01-10")
    deals = [won_deal(400, "2025-01-19", "2025-02-01"), won_deal(400, "2025-02-10", "2025-03-01")]
    table = run_rate(book(imported, *deals), as_of, quarters(as_of, 1), RunRateConfig())
    new = table.set_index(["period", "type"]).loc[("2025Q2", "new")]
    assert new["run_rate_amount"] == pytest.approx(800 * 148 / 112)
    same_day = won_deal(400, "2025-02-10", "2025-02-10")
    same_day["created_at"] = pd.Timestamp("2025-02-10T15:00", tz="UTC")
    table = run_rate(book(*deals, same_day), as_of, quarters(as_of, 1), RunRateConfig())
    new = table.set_index(["period", "type"]).loc[("2025Q2", "new")]
    # lags 13, 19 and 0 days: e = (59 + 53 + 72) / (77 + 71 + 90) = 184 / 238
    assert new["run_rate_amount"] == pytest.approx(1_200 * 238 / 184)
    day_before = won_deal(400, "2025-02-09", "2025-02-09")
    day_before["created_at"] = pd.Timestamp("2025-02-10T01:00", tz="UTC")
    table = run_rate(book(*deals, day_before), as_of, quarters(as_of, 1), RunRateConfig())
    new = table.set_index(["period", "type"]).loc[("2025Q2", "new")]
    assert new["run_rate_amount"] == pytest.approx(1_200 * 238 / 184)


def test_the_season_index_of_amounts_far_below_money_s_scale_is_finite() -> None:
    """Two years of quarters booking ~1e-259 (a property test's amount): Σ amount² underflows
    to 0 and so did trend², and 0 / 0 made the index's noise NaN (a RuntimeWarning)."""
    x = np.array([1.0, 2.0, 1.5, 3.0, 1.2, 2.1, 1.4, 3.2]) * 1e-259
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index = season_of(x, 0, x**2)
    assert np.isfinite(index).all()
