"""Tiers: the Pareto Key set on hand-worked cases, each rule, precedence, and the partition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_builders import (
    AS_OF,
    TWO_YEARS,
    accounts,
    contacts,
    days_ago,
    opportunities,
    won,
)

from acm_sync.config import TIERS, TiersConfig, parse_config
from acm_sync.scoring import AccountBook, pareto_key, score_tiers
from acm_sync.scoring.text import REASON_MAX

KEYS = np.array(["a", "b", "c", "d", "e"], dtype=object)


def key_set(revenues: list[float], share: float, cap: float) -> list[str]:
    keys = np.array([chr(ord("a") + i) for i in range(len(revenues))], dtype=object)
    selected = pareto_key(np.asarray(revenues, dtype=float), keys, share, cap)
    return list(keys[selected])


@pytest.mark.parametrize(
    ("revenues", "share", "cap", "expected"),
    [
        # the top two reach 80 of 100, but 20 % of five paying accounts is one account
        ([50, 30, 10, 5, 5], 0.8, 0.2, ["a"]),
        # with room for two, the smallest set reaching 80 % is exactly the top two
        ([50, 30, 10, 5, 5], 0.8, 0.4, ["a", "b"]),
        ([50, 30, 10, 5, 5], 0.9, 1.0, ["a", "b", "c"]),
        # 50 alone is already half
        ([50, 30, 10, 5, 5], 0.5, 1.0, ["a"]),
        # order of input does not matter: largest first
        ([5, 10, 50, 5, 30], 0.8, 1.0, ["c", "e"]),
        # ties are broken by account key, so the set is deterministic
        ([10, 10, 10, 10], 0.5, 1.0, ["a", "b"]),
        # accounts that paid nothing are never Key and do not count toward the cap
        ([100, 0, 0, 0, 0], 0.8, 0.2, ["a"]),
        ([0, 0, 0], 0.8, 0.2, []),
        # at least one Key account once anyone pays, even when 20 % rounds down to zero
        ([60, 40], 0.8, 0.2, ["a"]),
        # float sums: 0.1 × 3 must count as reaching 30 %
        ([0.1] * 10, 0.3, 1.0, ["a", "b", "c"]),
    ],
)
def test_pareto_key_hand_worked(
    revenues: list[float], share: float, cap: float, expected: list[str]
) -> None:
    assert key_set(revenues, share, cap) == expected


@given(
    revenues=st.lists(
        st.floats(min_value=0, max_value=1e7, allow_nan=False), min_size=1, max_size=40
    ),
    share=st.floats(min_value=0.05, max_value=1.0),
    cap=st.floats(min_value=0.05, max_value=1.0),
)
def test_pareto_key_is_the_smallest_top_set_within_the_cap(
    revenues: list[float], share: float, cap: float
) -> None:
    values = np.asarray(revenues)
    keys = np.array([f"k{i:03d}" for i in range(len(values))], dtype=object)
    selected = pareto_key(values, keys, share, cap)
    paying = values > 0
    assert not (selected & ~paying).any()
    if not paying.any():
        assert not selected.any()
        return
    n_paying = int(paying.sum())
    limit = max(1, int(np.floor(cap * n_paying + 1e-9)))
    assert 1 <= selected.sum() <= limit
    # a top set: nothing outside earns more than anything inside
    assert values[selected].min() >= values[paying & ~selected].max(initial=0)
    reached = values[selected].sum() >= share * values.sum() * (1 - 1e-9)
    if selected.sum() < limit:
        assert reached
        # minimal: without its smallest member the set would fall short
        smaller = values[selected].sum() - values[selected].min()
        assert smaller < share * values.sum() * (1 - 1e-9) or selected.sum() == 1


def book_of(accs: pd.DataFrame, opps: pd.DataFrame, people: pd.DataFrame | None = None):
    return AccountBook.from_canonical(accs, people if people is not None else contacts(), opps)


def tier_of(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["account_key"], frame["tier"], strict=True))


def test_each_rule_on_a_small_book() -> None:
    accs = accounts(
        {"account_id": "sf:KEY", "last_activity_at": days_ago(5)},
        {"account_id": "sf:NEW", "last_activity_at": days_ago(5)},
        {"account_id": "sf:OLD", "last_activity_at": days_ago(400)},
        {"account_id": "sf:EXI", "last_activity_at": days_ago(5)},
        {"account_id": "sf:PRO"},
        {"account_id": "sf:QUIET", "last_activity_at": days_ago(30)},
    )
    opps = opportunities(
        won("sf:KEY", 500_000, 200),
        won("sf:KEY", 400_000, 700),
        won("sf:NEW", 20_000, 20),
        won("sf:OLD", 50_000, 500),
        won("sf:EXI", 30_000, 200),
        won("sf:EXI", 10_000, 800),
        # won long ago but touched recently: not dormant
        won("sf:QUIET", 5_000, 800),
        {"account_id": "sf:PRO", "amount": 40_000},
    )
    tiers = score_tiers(book_of(accs, opps), AS_OF, TiersConfig())
    assert tier_of(tiers) == {
        "sf:KEY": "Key",
        "sf:NEW": "New",
        "sf:OLD": "Dormant",
        "sf:EXI": "Existing",
        "sf:PRO": "Prospect",
        "sf:QUIET": "Existing",
    }
    reasons = dict(zip(tiers["account_key"], tiers["tier_reason"], strict=True))
    assert reasons["sf:KEY"] == (
        "Key: #1 of 3 paying accounts by T12M won revenue ($500k, 91 % of total)"
    )
    assert reasons["sf:NEW"].startswith("New: first deal won 2025-05-26 (20 days ago)")
    assert reasons["sf:OLD"].startswith("Dormant: no won deal or activity in 365 days")
    assert reasons["sf:PRO"] == "Prospect: no won deal yet, open pipeline $40k"


def test_strategic_key_by_open_pipeline_and_growth() -> None:
    accs = accounts(
        {"account_id": "sf:BIG"},
        {"account_id": "sf:PIPE"},
        {"account_id": "sf:GROW"},
        {"account_id": "sf:SMALL"},
        {"account_id": "sf:PROSPECT"},
    )
    opps = opportunities(
        won("sf:BIG", 1_000_000, 100),
        won("sf:PIPE", 1_000, 100),
        {"account_id": "sf:PIPE", "amount": 300_000},
        won("sf:GROW", 15_000, 100),
        won("sf:GROW", 15_000, 200),
        won("sf:GROW", 12_000, 500, created_at=TWO_YEARS),
        won("sf:SMALL", 1_000, 100),
        {"account_id": "sf:PROSPECT", "amount": 900_000},
    )
    tiers = score_tiers(book_of(accs, opps), AS_OF, TiersConfig())
    by_key = tiers.set_index("account_key")
    assert by_key.loc["sf:PIPE", "tier"] == "Key"
    assert by_key.loc["sf:PIPE", "key_strategic"]
    assert by_key.loc["sf:PIPE", "tier_reason"] == ("Key (strategic): open pipeline $300k ≥ $250k")
    assert by_key.loc["sf:GROW", "tier_reason"] == (
        "Key (strategic): T12M won revenue up 150 % ($30k vs $12k); without its largest deal "
        "($15k) up 25 %"
    )
    assert by_key.loc["sf:SMALL", "tier"] == "Existing"
    # which rule made each strategic Key account (Key by revenue is none of them)
    assert by_key["key_strategic_by"].fillna("-").to_dict() == {
        "sf:BIG": "-",
        "sf:PIPE": "pipeline",
        "sf:GROW": "growth",
        "sf:SMALL": "-",
        "sf:PROSPECT": "-",
    }
    # prospects are not strategic unless revops says so
    assert by_key.loc["sf:PROSPECT", "tier"] == "Prospect"
    with_prospects = parse_config({"tiers": {"strategic": {"include_prospects": True}}}).tiers
    assert tier_of(score_tiers(book_of(accs, opps), AS_OF, with_prospects))["sf:PROSPECT"] == (
        "Key"
    )
    disabled = parse_config({"tiers": {"strategic": {"enabled": False}}}).tiers
    assert tier_of(score_tiers(book_of(accs, opps), AS_OF, disabled))["sf:PIPE"] != "Key"


def test_precedence_decides_between_overlapping_rules() -> None:
    # a brand-new logo with one huge deal is both New and Key
    accs = accounts({"account_id": "sf:A"}, {"account_id": "sf:B"}, {"account_id": "sf:C"})
    opps = opportunities(
        won("sf:A", 900_000, 10), won("sf:B", 10_000, 200), won("sf:C", 5_000, 300)
    )
    book = book_of(accs, opps)
    default = score_tiers(book, AS_OF, TiersConfig())
    assert tier_of(default)["sf:A"] == "Key"
    assert default.set_index("account_key").loc["sf:A", "qualifies_new"]
    new_first = parse_config(
        {"tiers": {"precedence": ["New", "Key", "Dormant", "Existing", "Prospect"]}}
    ).tiers
    assert tier_of(score_tiers(book, AS_OF, new_first))["sf:A"] == "New"


def test_deleted_records_and_orphan_deals_do_not_count() -> None:
    accs = accounts({"account_id": "sf:A"}, {"account_id": "sf:GONE", "is_deleted": True})
    opps = opportunities(
        won("sf:A", 10_000, 10, is_deleted=True),
        won("sf:GONE", 10_000, 10),
        won("sf:NOBODY", 10_000, 10),
    )
    tiers = score_tiers(book_of(accs, opps), AS_OF, TiersConfig())
    assert tier_of(tiers) == {"sf:A": "Prospect"}


org_rows = st.lists(
    st.tuples(
        st.lists(  # won deals: (amount, days ago)
            st.tuples(st.floats(0, 1e6), st.floats(0, 1500)), max_size=4
        ),
        st.one_of(st.none(), st.floats(0, 1500)),  # days since last activity
        st.floats(0, 5e5),  # open pipeline
    ),
    min_size=1,
    max_size=12,
)


def book_from_rows(rows: list[tuple[list[tuple[float, float]], float | None, float]]):
    accs = accounts(
        *[
            {
                "account_id": f"sf:A{i:02d}",
                "last_activity_at": None if quiet is None else days_ago(quiet),
            }
            for i, (_, quiet, _) in enumerate(rows)
        ]
    )
    deals = []
    for i, (wins, _, pipeline) in enumerate(rows):
        deals += [won(f"sf:A{i:02d}", amount, age) for amount, age in wins]
        if pipeline > 0:
            deals.append({"account_id": f"sf:A{i:02d}", "amount": pipeline})
    return book_of(accs, opportunities(*deals))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=org_rows, precedence=st.permutations(TIERS))
def test_tiers_partition_the_accounts(
    rows: list[tuple[list[tuple[float, float]], float | None, float]],
    precedence: list[str],
) -> None:
    config = TiersConfig(precedence=tuple(precedence))  # type: ignore[arg-type]
    book = book_from_rows(rows)
    tiers = score_tiers(book, AS_OF, config)
    assert list(tiers["account_key"]) == list(book.accounts["account_key"])
    assert tiers["account_key"].is_unique
    assert set(tiers["tier"]) <= set(TIERS)
    # the tier is the first qualifying rule in precedence order
    flags = tiers[[f"qualifies_{t.lower()}" for t in precedence]].to_numpy(dtype=bool)
    assert flags.any(axis=1).all()
    first = np.array(precedence, dtype=object)[flags.argmax(axis=1)]
    assert (tiers["tier"].to_numpy(dtype=object) == first).all()
    assert (tiers["tier_reason"].str.len() <= REASON_MAX).all()
    assert (tiers["tier_reason"].str.len() > 0).all()
    # deterministic
    pd.testing.assert_frame_equal(tiers, score_tiers(book, AS_OF, config))


def test_a_win_exactly_a_year_ago_is_dormant_not_in_between() -> None:
    # the trailing window is (as_of − 365 days, as_of]: a win exactly 365 days ago has left it,
    # so with no activity since the account is Dormant (it used to be in neither)
    accs = accounts({"account_id": "sf:YEAR"}, {"account_id": "sf:DAY_LESS"})
    opps = opportunities(won("sf:YEAR", 10_000, 365), won("sf:DAY_LESS", 10_000, 364))
    tiers = score_tiers(book_of(accs, opps), AS_OF, TiersConfig()).set_index("account_key")
    assert tiers.loc["sf:YEAR", "t12m_won_revenue"] == 0
    assert tiers.loc["sf:YEAR", "tier"] == "Dormant"
    assert tiers.loc["sf:DAY_LESS", "t12m_won_revenue"] == 10_000
    assert tiers.loc["sf:DAY_LESS", "tier"] == "Key"  # the only payer


def tiers_of_payers(revenues: list[float]) -> pd.DataFrame:
    """Tiers of payers sf:P00, sf:P01, … who won these amounts 100 days ago, by account key."""
    accs = accounts(
        *[
            {"account_id": f"sf:P{i:02d}", "last_activity_at": days_ago(5)}
            for i in range(len(revenues))
        ]
    )
    opps = opportunities(*[won(f"sf:P{i:02d}", r, 100) for i, r in enumerate(revenues)])
    return score_tiers(book_of(accs, opps), AS_OF, TiersConfig()).set_index("account_key")


def test_the_reason_says_when_the_cap_decided_key() -> None:
    # ten payers 100, 90, …, 10 (total 550): 80 % needs the top six (450 ≥ 440), the 20 % cap
    # allows two — so the cap decides, and #3 to #6 are told why they are not Key
    revenues = [100, 90, 80, 70, 60, 50, 40, 30, 20, 10]
    tiers = tiers_of_payers(revenues)
    reasons = tiers["tier_reason"]
    assert list(tiers.index[tiers["tier"] == "Key"]) == ["sf:P00", "sf:P01"]
    assert reasons["sf:P00"] == (
        "Key: #1 of 10 paying accounts — top 20 % cap (T12M won revenue $100, 18 % of total)"
    )
    assert reasons["sf:P02"] == (
        "Existing: T12M won revenue $80, last deal won 2025-03-07; not Key: #3 of 10 paying"
        " accounts, below the top 20 % cap (2 accounts)"
    )
    assert reasons["sf:P05"].endswith(
        "not Key: #6 of 10 paying accounts, below the top 20 % cap (2 accounts)"
    )
    # #7 would not be Key even without the cap: no note
    assert "not Key" not in reasons["sf:P06"]


def test_a_payer_left_out_by_the_tie_break_says_so() -> None:
    # ten payers; the top three paid 100 each. 80 % of 410 needs four, the 20 % cap allows
    # two: the cut falls inside the tie at 100, and only the account id leaves P02 out
    revenues = [100, 100, 100, 40, 30, 20, 10, 5, 3, 2]
    tiers = tiers_of_payers(revenues)
    reasons = tiers["tier_reason"]
    assert list(tiers.index[tiers["tier"] == "Key"]) == ["sf:P00", "sf:P01"]
    assert reasons["sf:P02"] == (
        "Existing: T12M won revenue $100, last deal won 2025-03-07; not Key: #3 of 10 paying"
        " accounts, tied with #2 (the last Key account) at $100 — ties at the Key cut go by"
        " account id"
    )
    # not tied: the cap's note as before
    assert reasons["sf:P03"].endswith(
        "not Key: #4 of 10 paying accounts, below the top 20 % cap (2 accounts)"
    )


def test_a_tie_at_the_revenue_share_cut_is_explained_too() -> None:
    # four payers of 10, share 50 %, no cap: the top two reach it; the other two tie with #2
    config = parse_config({"tiers": {"key_revenue_share": 0.5, "key_max_share": 1.0}}).tiers
    accs = accounts(
        *[{"account_id": f"sf:T{i}", "last_activity_at": days_ago(5)} for i in range(4)]
    )
    opps = opportunities(*[won(f"sf:T{i}", 10, 100) for i in range(4)])
    tiers = score_tiers(book_of(accs, opps), AS_OF, config).set_index("account_key")
    assert list(tiers.index[tiers["tier"] == "Key"]) == ["sf:T0", "sf:T1"]
    for key, rank in (("sf:T2", 3), ("sf:T3", 4)):
        assert tiers.loc[key, "tier_reason"].endswith(
            f"not Key: #{rank} of 4 paying accounts, tied with #2 (the last Key account) at $10"
            " — ties at the Key cut go by account id"
        )


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        (0.123, "12 %"),
        (0.0, "0 %"),
        (1.0, "100 %"),
        # under 1 %: one decimal, so a small share does not read as none
        (0.004, "0.4 %"),
        (0.0094, "0.9 %"),
        (0.0096, "1 %"),
        (-0.003, "-0.3 %"),
        (0.0004, "< 0.1 %"),
        (float("nan"), "0 %"),
    ],
)
def test_percentages_keep_small_shares_visible(fraction: float, expected: str) -> None:
    from acm_sync.scoring import text

    assert list(text.percent([fraction])) == [expected]


def test_a_key_account_among_hundreds_shows_its_share_of_revenue() -> None:
    # 300 payers: one of 2,000 and 299 of 1,000 (total 301,000); the cap of 60 decides Key
    accs = accounts(*[{"account_id": f"sf:P{i:03d}"} for i in range(300)])
    opps = opportunities(
        *[won(f"sf:P{i:03d}", 2_000 if i == 0 else 1_000, 100) for i in range(300)]
    )
    tiers = score_tiers(book_of(accs, opps), AS_OF, TiersConfig()).set_index("account_key")
    # 2,000 / 301,000 = 0.66 %, 1,000 / 301,000 = 0.33 % (it used to read "0 % of total")
    assert tiers.loc["sf:P000", "tier_reason"].endswith("(T12M won revenue $2k, 0.7 % of total)")
    assert tiers.loc["sf:P001", "tier_reason"].endswith("(T12M won revenue $1k, 0.3 % of total)")


def test_large_ranks_read_with_thousands_separators() -> None:
    from acm_sync.scoring import text

    assert list(text.grouped([1662, 8312, 7])) == ["1,662", "8,312", "7"]


def test_accounts_created_after_the_as_of_date_do_not_exist_yet() -> None:
    from scoring_builders import history

    from acm_sync.scoring import score_accounts

    accs = accounts(
        {"account_id": "sf:OLD"},
        # created later on the as-of day (as_of is 12:00): a daily run must still see it
        {"account_id": "sf:TODAY", "created_at": AS_OF + pd.Timedelta(hours=6)},
        {"account_id": "sf:LATER", "created_at": AS_OF + pd.Timedelta(days=10)},
    )
    tables = {
        "accounts": accs,
        "contacts": contacts(),
        "opportunities": opportunities(won("sf:OLD", 1_000, 10)),
        "opportunity_stage_history": history(),
    }
    scores = score_accounts(tables, as_of=AS_OF)
    assert tier_of(scores.tiers) == {"sf:OLD": "Key", "sf:TODAY": "Prospect"}
    assert set(scores.health["account_key"]) == {"sf:OLD", "sf:TODAY"}


@pytest.mark.parametrize(
    ("current", "strategic"),
    [
        # one bigger deal in place of last year's 12k: +150 %, but one deal is no trend
        ([30_000], False),
        # one more deal, the larger one: +150 %; without it 10k, less than last year
        ([10_000, 20_000], False),
        # the increase is larger than the largest deal: carried by more than one
        ([15_000, 15_000], True),
        # doubling over many deals: 4 → 8 deals of 3k (+100 %; +75 % without one)
        ([3_000] * 8, True),
    ],
)
def test_growth_made_by_one_deal_is_not_strategic(current: list[int], strategic: bool) -> None:
    prior = [12_000] if len(current) < 8 else [3_000] * 4
    accs = accounts({"account_id": "sf:GROW"}, {"account_id": "sf:BIG"})
    opps = opportunities(
        won("sf:BIG", 1_000_000, 100),
        *(won("sf:GROW", amount, 30 + 20 * i) for i, amount in enumerate(current)),
        *(won("sf:GROW", amount, 400 + 20 * i) for i, amount in enumerate(prior)),
        won("sf:BIG", 1_000, 700, created_at=TWO_YEARS),
    )
    tiers = score_tiers(book_of(accs, opps), AS_OF, TiersConfig()).set_index("account_key")
    assert tiers.loc["sf:GROW", "tier"] == ("Key" if strategic else "Existing")
    assert bool(tiers.loc["sf:GROW", "key_strategic"]) is strategic


def test_growth_is_not_read_from_a_prior_year_the_crm_never_saw() -> None:
    # 12k → 30k is +150 % (strategic Key) when the CRM's history covers the prior 12 months;
    # in a CRM whose first deal is 500 days old the prior year is unknown: no growth rule
    accs = accounts({"account_id": "sf:GROW"}, {"account_id": "sf:BIG"})
    deals = [
        won("sf:BIG", 1_000_000, 100),
        won("sf:GROW", 15_000, 100),
        won("sf:GROW", 15_000, 200),
    ]
    young = tier_of(
        score_tiers(
            book_of(accs, opportunities(*deals, won("sf:GROW", 12_000, 500))), AS_OF, TiersConfig()
        )
    )
    assert young["sf:GROW"] == "Existing"
    seen = opportunities(*deals, won("sf:GROW", 12_000, 500, created_at=TWO_YEARS))
    assert tier_of(score_tiers(book_of(accs, seen), AS_OF, TiersConfig()))["sf:GROW"] == "Key"
