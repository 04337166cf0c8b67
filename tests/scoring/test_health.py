"""Health: bounded, deterministic, monotone where expected, renormalised, banded, trended."""

from __future__ import annotations

from typing import Any

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

from acm_sync.config import HealthConfig, parse_config
from acm_sync.scoring import AccountBook, score_health
from acm_sync.scoring.health import BANDS, COMPONENTS, TRENDS
from acm_sync.scoring.text import DRIVERS_MAX

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TITLES = ["CEO", "VP Sales", "Engineer", "Analyst", "Head of IT", None]


@st.composite
def small_orgs(draw: st.DrawFn) -> dict[str, Any]:
    """A few accounts with random activity, contacts, won and open deals."""
    n = draw(st.integers(1, 4))
    accs, people, deals = [], [], []
    for i in range(n):
        key = f"sf:A{i}"
        quiet = draw(st.one_of(st.none(), st.floats(0, 800)))
        accs.append(
            {
                "account_id": key,
                "last_activity_at": None if quiet is None else days_ago(quiet),
                "industry": draw(st.sampled_from(["Technology", None])),
            }
        )
        for _ in range(draw(st.integers(0, 4))):
            seen = draw(st.one_of(st.none(), st.floats(0, 800)))
            people.append(
                {
                    "account_id": key,
                    "email": draw(st.sampled_from(["x@acme.com", "broken", None])),
                    "title": draw(st.sampled_from(TITLES)),
                    "last_activity_at": None if seen is None else days_ago(seen),
                }
            )
        for _ in range(draw(st.integers(0, 3))):
            deals.append(won(key, draw(st.floats(0, 1e6)), draw(st.floats(0, 900))))
        for _ in range(draw(st.integers(0, 2))):
            deals.append(
                {
                    "account_id": key,
                    "amount": draw(st.floats(0, 1e6)),
                    "type": draw(st.sampled_from(["new", "renewal", "expansion"])),
                    "stage_probability": draw(st.floats(0, 1)),
                    "close_date": AS_OF + pd.Timedelta(days=draw(st.floats(-200, 300))),
                }
            )
    return {"accounts": accs, "contacts": people, "opportunities": deals}


def health_of(org: dict[str, Any], config: HealthConfig | None = None, **kw: Any) -> pd.DataFrame:
    accs = accounts(*org["accounts"])
    book = AccountBook.from_canonical(
        accs,
        contacts(*org["contacts"]),
        opportunities(*org["opportunities"]),
    )
    return score_health(book, AS_OF, config or HealthConfig(), **kw)


@FAST
@given(org=small_orgs())
def test_scores_are_bounded_valid_and_deterministic(org: dict[str, Any]) -> None:
    health = health_of(org)
    score = health["health_score"].to_numpy(dtype=float)
    assert ((score >= 0) & (score <= 100)).all()
    assert set(health["health_band"]) <= set(BANDS)
    assert set(health["health_trend"]) == {"New"}
    assert (health["health_drivers"].str.len() <= DRIVERS_MAX).all()
    for name in COMPONENTS:
        values = health[f"{name}_score"].to_numpy(dtype=float, na_value=np.nan)
        assert ((values[~np.isnan(values)] >= 0) & (values[~np.isnan(values)] <= 100)).all()
    pd.testing.assert_frame_equal(health, health_of(org))


@FAST
@given(org=small_orgs(), shuffle_seed=st.integers(0, 1000))
def test_scores_do_not_depend_on_row_order(org: dict[str, Any], shuffle_seed: int) -> None:
    rng = np.random.default_rng(shuffle_seed)
    shuffled = {name: [rows[i] for i in rng.permutation(len(rows))] for name, rows in org.items()}
    before = health_of(org).set_index("account_key")["health_score"]
    after = health_of(shuffled).set_index("account_key")["health_score"].reindex(before.index)
    np.testing.assert_allclose(before.to_numpy(float), after.to_numpy(float), atol=0.051)


@FAST
@given(org=small_orgs(), newer=st.floats(0, 1), which=st.integers(0, 3))
def test_more_recent_activity_never_lowers_health(
    org: dict[str, Any], newer: float, which: int
) -> None:
    account = org["accounts"][which % len(org["accounts"])]
    before = health_of(org).set_index("account_key")["health_score"]
    current = account["last_activity_at"]
    days = 900.0 if current is None else (AS_OF - current).total_seconds() / 86_400
    account["last_activity_at"] = days_ago(days * newer)
    after = health_of(org).set_index("account_key")["health_score"]
    assert after[account["account_id"]] >= before[account["account_id"]]


@FAST
@given(
    org=small_orgs(),
    extra=st.integers(1, 3),
    title=st.sampled_from(["CEO", "VP Finance", "Director of IT", "Founder"]),
    seen=st.one_of(st.none(), st.floats(0, 800)),
    which=st.integers(0, 3),
)
def test_more_decision_makers_never_lower_health(
    org: dict[str, Any], extra: int, title: str, seen: float | None, which: int
) -> None:
    key = org["accounts"][which % len(org["accounts"])]["account_id"]
    before = health_of(org).set_index("account_key")["health_score"]
    org["contacts"] += [
        {
            "account_id": key,
            "email": f"dm{i}@acme.com",
            "title": title,
            "last_activity_at": None if seen is None else days_ago(seen),
        }
        for i in range(extra)
    ]
    after = health_of(org).set_index("account_key")["health_score"]
    assert after[key] >= before[key]


def two_component_config(**weights: float) -> HealthConfig:
    base = dict.fromkeys(COMPONENTS, 0.0)
    return parse_config({"health": {"weights": {**base, **weights}}}).health


def test_missing_component_is_left_out_and_weights_renormalised() -> None:
    org = {
        "accounts": [{"account_id": "sf:A", "last_activity_at": days_ago(0)}],
        "contacts": [],
        "opportunities": [],
    }
    # engagement 100, revenue trend missing (no revenue ever): score = engagement alone
    config = two_component_config(engagement_recency=50, revenue_trend=50)
    row = health_of(org, config).iloc[0]
    assert pd.isna(row["revenue_trend_score"])
    assert row["health_score"] == 100.0
    # with revenue that halved, trend = 50 + 50 × (5 − 10) / 10 = 25 → (100 + 25) / 2 = 62.5,
    # shown in whole points, the half up
    org["opportunities"] = [won("sf:A", 5_000, 100), won("sf:A", 10_000, 500, created_at=TWO_YEARS)]
    row = health_of(org, config).iloc[0]
    assert row["revenue_trend_score"] == 25.0
    assert row["health_score"] == 63


def test_satisfaction_counts_only_where_the_account_has_a_value() -> None:
    # the canonical `satisfaction` column (CSAT / NPS a connector maps): A has none (unmapped,
    # or empty in the CRM), B has an NPS of −20
    org = {
        "accounts": [
            {"account_id": "sf:A", "last_activity_at": days_ago(0)},
            {"account_id": "sf:B", "last_activity_at": days_ago(0), "satisfaction": -20},
        ],
        "contacts": [],
        "opportunities": [],
    }
    weights = two_component_config(engagement_recency=50, satisfaction=50).weights
    nps = HealthConfig.model_validate(
        {"weights": weights.model_dump(), "satisfaction": {"scale_min": -100, "scale_max": 100}}
    )
    rows = health_of(org, nps).set_index("account_key")
    # A: engagement 100 alone (satisfaction missing, its weight spread over the rest)
    assert pd.isna(rows.loc["sf:A", "satisfaction_score"])
    assert rows.loc["sf:A", "health_score"] == 100.0
    # B: −20 on −100…100 = 40; (50 × 100 + 50 × 40) / 100 = 70
    assert rows.loc["sf:B", "satisfaction_score"] == 40.0
    assert rows.loc["sf:B", "health_score"] == 70.0
    assert "CSAT/NPS -20" in rows.loc["sf:B", "health_drivers"]
    # the default scale 0…100 cannot hold −20 (an NPS read as a CSAT): left out, not clipped
    # to 0 — quality says so (satisfaction_out_of_scale) — so B is engagement alone
    rows = health_of(org, HealthConfig(weights=weights)).set_index("account_key")
    assert pd.isna(rows.loc["sf:B", "satisfaction_score"])
    assert rows.loc["sf:B", "health_score"] == 100.0


def test_a_csat_outside_its_scale_is_left_out_and_said() -> None:
    # 1–5 CSAT: 4.5 → 100 × (4.5 − 1) / 4 = 87.5; 7 is a typo, not "100"
    weights = {**dict.fromkeys(COMPONENTS, 0.0), "satisfaction": 100}
    config = HealthConfig.model_validate(
        {"weights": weights, "satisfaction": {"scale_min": 1, "scale_max": 5}}
    )
    org = {
        "accounts": [
            {"account_id": "sf:A", "satisfaction": 4.5},
            {"account_id": "sf:B", "satisfaction": 7},
        ],
        "contacts": [],
        "opportunities": [],
    }
    rows = health_of(org, config).set_index("account_key")
    assert rows.loc["sf:A", "satisfaction_score"] == 87.5
    assert rows.loc["sf:A", "health_score"] == 88  # whole points, the half up
    assert "CSAT/NPS 4.5" in rows.loc["sf:A", "health_drivers"]
    assert pd.isna(rows.loc["sf:B", "health_score"])
    assert rows.loc["sf:B", "health_drivers"] == (
        "Not scored: no data for any weighted component — Satisfaction (CSAT / NPS 7 outside "
        "the scale 1…5)"
    )


def test_engagement_falls_linearly_between_the_configured_days() -> None:
    config = two_component_config(engagement_recency=100)
    scores = []
    for quiet in (0, 14, 97, 180, 400):
        org = {
            "accounts": [{"account_id": "sf:A", "last_activity_at": days_ago(quiet)}],
            "contacts": [],
            "opportunities": [],
        }
        scores.append(health_of(org, config).iloc[0]["health_score"])
    assert scores == [100.0, 100.0, 50.0, 0.0, 0.0]


def test_contact_coverage_counts_reachable_decision_makers() -> None:
    people = [
        {"account_id": "sf:A", "email": "ceo@a.com", "title": "Chief Executive Officer"},
        {"account_id": "sf:A", "email": "vp@a.com", "title": "VP Engineering"},
        {"account_id": "sf:A", "email": "dev@a.com", "title": "Developer"},
        {"account_id": "sf:A", "email": "not an email", "title": "CEO"},
        {"account_id": "sf:A", "email": "x@a.com", "title": "Head of Procurement"},
    ]
    org = {"accounts": [{"account_id": "sf:A"}], "contacts": people, "opportunities": []}
    row = health_of(org).iloc[0]
    assert row["reachable_contacts"] == 4
    assert row["decision_makers"] == 3
    # 50 × 4/5 + 50 × min(1, 3/2)
    assert row["contact_coverage_score"] == 90.0


def test_renewal_risk_from_overdue_and_early_renewals() -> None:
    deals = [
        {"account_id": "sf:A", "type": "renewal", "amount": 100.0, "close_date": days_ago(3)},
        {
            "account_id": "sf:A",
            "type": "renewal",
            "amount": 100.0,
            "stage_probability": 0.2,
            "close_date": days_ago(-30),
        },
        {
            "account_id": "sf:A",
            "type": "renewal",
            "amount": 200.0,
            "stage_probability": 0.9,
            "close_date": days_ago(-30),
        },
    ]
    org = {"accounts": [{"account_id": "sf:A"}], "contacts": [], "opportunities": deals}
    row = health_of(org).iloc[0]
    # at risk: 100 × 1 + 100 × 0.5 of 400 open → 100 × (1 − 150 / 400)
    assert row["renewal_risk_score"] == 62.5
    assert row["open_renewals"] == 3


@pytest.mark.parametrize(
    ("previous", "expected"),
    [(None, "New"), (40.0, "Up"), (97.0, "Flat"), (103.0, "Flat"), (120.0, "Down")],
)
def test_trend_against_the_previous_snapshot(previous: float | None, expected: str) -> None:
    org = {
        "accounts": [{"account_id": "sf:A", "last_activity_at": days_ago(0)}],
        "contacts": [],
        "opportunities": [],
    }
    config = two_component_config(engagement_recency=100)
    snapshot = (
        None
        if previous is None
        else pd.DataFrame({"account_key": ["sf:A", "sf:OTHER"], "health_score": [previous, 1]})
    )
    row = health_of(org, config, previous=snapshot).iloc[0]
    assert row["health_score"] == 100.0
    assert row["health_trend"] == expected
    assert row["health_trend"] in TRENDS


@pytest.mark.parametrize(("quiet", "band"), [(0, "Green"), (97, "Yellow"), (170, "Red")])
def test_bands_follow_the_configured_thresholds(quiet: float, band: str) -> None:
    org = {
        "accounts": [{"account_id": "sf:A", "last_activity_at": days_ago(quiet)}],
        "contacts": [],
        "opportunities": [],
    }
    assert (
        health_of(org, two_component_config(engagement_recency=100)).iloc[0]["health_band"] == band
    )


def test_drivers_name_the_strongest_components_up_and_down() -> None:
    org = {
        "accounts": [{"account_id": "sf:A", "last_activity_at": days_ago(2)}],
        "contacts": [],
        "opportunities": [won("sf:A", 60_000, 30)],
    }
    drivers = health_of(org).iloc[0]["health_drivers"]
    # no prior year: no revenue trend at all; the win 30 days ago covers the pipeline
    assert drivers == (
        "Up: Engagement 100 (last activity 2 days ago);"
        " Pipeline coverage 100 (open pipeline $0 + won recently $60k)"
        " | Down: Contact coverage 0 (0 reachable, 0 decision makers)"
    )


def test_no_prior_year_revenue_is_a_missing_trend_not_all_new() -> None:
    # 60k this year, nothing the year before: not "100 = all new", but no trend at all
    org = {
        "accounts": [{"account_id": "sf:A", "last_activity_at": days_ago(2)}],
        "contacts": [],
        "opportunities": [won("sf:A", 60_000, 200)],
    }
    row = health_of(org).iloc[0]
    assert pd.isna(row["revenue_trend_score"])
    assert "Revenue trend" not in row["health_drivers"]
    # with a prior year it is there: 40k → 60k is 50 + 50 · 20 / 60
    org["opportunities"].append(won("sf:A", 40_000, 500, created_at=TWO_YEARS))
    assert health_of(org).iloc[0]["revenue_trend_score"] == pytest.approx(66.7)
    # and all gone stays 0
    org["opportunities"] = [won("sf:A", 40_000, 500, created_at=TWO_YEARS)]
    assert health_of(org).iloc[0]["revenue_trend_score"] == 0


def test_marking_a_deal_won_does_not_lower_health() -> None:
    """The same company before and after its 90k deal is marked won (customer for two years:
    a 100k win 500 days ago and one of 80k 200 days ago)."""
    history = [won("sf:A", 100_000, 500), won("sf:A", 80_000, 200)]
    deal = {"account_id": "sf:A", "amount": 90_000, "close_date": days_ago(-20)}
    account = [{"account_id": "sf:A", "last_activity_at": days_ago(2)}]
    people = [{"account_id": "sf:A", "email": "ceo@a.com", "title": "CEO"}]
    before = health_of({"accounts": account, "contacts": people, "opportunities": [*history, deal]})
    after = health_of(
        {
            "accounts": account,
            "contacts": people,
            "opportunities": [*history, won("sf:A", 90_000, 1)],
        }
    )
    # before: 90k open over 80k × 0.5 → 100; after: 0 open + 90k won recently over 170k × 0.5
    assert before.iloc[0]["pipeline_coverage_score"] == 100
    assert after.iloc[0]["pipeline_coverage_score"] == 100
    assert after.iloc[0]["health_score"] >= before.iloc[0]["health_score"]


def test_recent_wins_count_only_within_the_configured_days() -> None:
    org = {
        "accounts": [{"account_id": "sf:A", "last_activity_at": days_ago(2)}],
        "contacts": [],
        "opportunities": [won("sf:A", 100_000, 120)],
    }
    # 100k won 120 days ago, nothing open: covered only when 120 days count as recent
    assert health_of(org).iloc[0]["pipeline_coverage_score"] == 0
    config = parse_config({"health": {"pipeline_coverage": {"recent_win_days": 150}}}).health
    assert health_of(org, config).iloc[0]["pipeline_coverage_score"] == 100


def test_an_account_with_no_score_says_so_in_its_drivers() -> None:
    # revenue trend is the only weighted component and this account has no prior year: no
    # score — its drivers must not read "components near neutral" (found by score_csv on a
    # purchase log, where the trend is all there is)
    org = {
        "accounts": [{"account_id": "sf:A"}, {"account_id": "sf:B"}],
        "contacts": [],
        "opportunities": [won("sf:A", 60_000, 200), won("sf:B", 5_000, 100),
                          won("sf:B", 10_000, 500, created_at=TWO_YEARS)],
    }  # fmt: skip
    rows = health_of(org, two_component_config(revenue_trend=100)).set_index("account_key")
    a, b = rows.iloc[0], rows.iloc[1]
    assert pd.isna(a["health_score"])
    assert a["health_drivers"] == (
        "Not scored: no data for any weighted component — Revenue trend (no won revenue in the "
        "prior 12 months)"
    )
    assert b["health_score"] == 25.0 and b["health_drivers"].startswith("Down: Revenue trend 25")


def test_an_unscored_account_says_why_and_has_no_band_or_trend() -> None:
    # Weighted only where data can be missing: revenue trend 60, renewal risk 40. A won 60k 200
    # days ago, nothing the year before, no open renewal: no data for either — no score, no
    # band, and no trend against its score of 62 last week (not "Down", not "New").
    # B: 10k 500 days ago, 5k 200 days ago → 50 + 50 · (5 − 10) / 10 = 25; an open renewal
    # closing in 30 days at 0.9 (≥ 0.7: not at risk) → 100; (60 · 25 + 40 · 100) / 100 = 55.
    renewal = {
        "type": "renewal",
        "amount": 1_000.0,
        "stage_probability": 0.9,
        "close_date": days_ago(-30),
    }
    org = {
        "accounts": [{"account_id": "sf:A"}, {"account_id": "sf:B"}],
        "contacts": [],
        "opportunities": [won("sf:A", 60_000, 200), won("sf:B", 5_000, 200),
                          won("sf:B", 10_000, 500, created_at=TWO_YEARS),
                          {"account_id": "sf:B", **renewal}],
    }  # fmt: skip
    config = two_component_config(revenue_trend=60, renewal_risk=40)
    last_week = pd.DataFrame({"account_key": ["sf:A", "sf:B"], "health_score": [62.0, 55.0]})
    rows = health_of(org, config, previous=last_week).set_index("account_key")
    a, b = rows.loc["sf:A"], rows.loc["sf:B"]
    assert pd.isna(a["health_score"]) and pd.isna(a["health_band"])
    assert pd.isna(a["health_trend"])
    assert a["health_drivers"] == (
        "Not scored: no data for any weighted component — Revenue trend (no won revenue in the "
        "prior 12 months); Renewal risk (no open renewal)"
    )
    assert (b["health_score"], b["health_band"], b["health_trend"]) == (55.0, "Yellow", "Flat")
    # The next run compares with this one (A's score <NA>): the same values, so a re-run plans
    # nothing for A — still no trend, the same drivers.
    snapshot = rows.reset_index()[["account_key", "health_score"]]
    again = health_of(org, config, previous=snapshot).set_index("account_key")
    columns = ["health_score", "health_band", "health_trend", "health_drivers"]
    pd.testing.assert_frame_equal(again[columns], rows[columns])
    # Once A has data (a safe open renewal: renewal risk 100, the trend still missing) it has
    # a first score: 100, Green, New — nothing to compare with.
    org["opportunities"].append({"account_id": "sf:A", **renewal})
    scored = health_of(org, config, previous=snapshot).set_index("account_key").loc["sf:A"]
    assert (scored["health_score"], scored["health_band"]) == (100.0, "Green")
    assert scored["health_trend"] == "New"


def test_an_unscored_account_names_every_weighted_component_and_its_gap() -> None:
    # A young CRM (first deal 500 days ago sees 135 days of the prior year, under half a year):
    # no trend for anyone. Satisfaction weighted; A has no CSAT / NPS value, B has one.
    org = {
        "accounts": [
            {"account_id": "sf:A", "satisfaction": None},
            {"account_id": "sf:B", "satisfaction": 30},
        ],
        "contacts": [],
        "opportunities": [won("sf:A", 40_000, 500), won("sf:A", 60_000, 200)],
    }
    config = HealthConfig.model_validate(
        {
            "weights": {**dict.fromkeys(COMPONENTS, 0.0), "revenue_trend": 50, "satisfaction": 50},
        }
    )
    rows = health_of(org, config).set_index("account_key")
    assert rows.loc["sf:A", "health_drivers"] == (
        "Not scored: no data for any weighted component — Revenue trend (the CRM's history "
        "holds under half a year of the prior year); Satisfaction (no CSAT / NPS value)"
    )
    assert rows.loc["sf:B", "health_score"] == 30.0  # 30 on 0…100, the trend missing


def test_no_csat_anywhere_says_where_to_map_it() -> None:
    # Satisfaction weighted alone, and no account holds a value (nothing mapped): unscored,
    # and the reason names the field map key that would fill it.
    weights = {**dict.fromkeys(COMPONENTS, 0.0), "satisfaction": 100}
    config = HealthConfig.model_validate({"weights": weights})
    org = {"accounts": [{"account_id": "sf:A"}], "contacts": [], "opportunities": []}
    row = health_of(org, config).iloc[0]
    assert pd.isna(row["health_score"])
    assert row["health_drivers"] == (
        "Not scored: no data for any weighted component — Satisfaction (no CSAT / NPS value on "
        "any account: map the CRM field holding it, sync.<crm>.fields.accounts.satisfaction)"
    )


def test_one_companys_records_score_the_mean_of_their_csat() -> None:
    # A Salesforce account (CSAT 80) and a HubSpot company (CSAT 60) of one company, and a
    # third record of it with none: the unified account reads (80 + 60) / 2 = 70.
    frame = accounts(
        {"account_id": "sf:A", "last_activity_at": days_ago(0), "satisfaction": 80},
        {"account_id": "hs:1", "source": "hubspot", "satisfaction": 60},
        {"account_id": "hs:2", "source": "hubspot", "satisfaction": None},
    )
    identity = pd.DataFrame(
        {
            "account_key": ["K", "K", "K"],
            "sf_account_id": ["sf:A", None, None],
            "hs_company_id": [None, "hs:1", "hs:2"],
            "match_rule": ["domain"] * 3,
        }
    ).astype("string")
    book = AccountBook.from_canonical(frame, contacts(), opportunities(), identity)
    assert book.accounts.set_index("account_key").loc["K", "satisfaction"] == 70.0
    weights = {**dict.fromkeys(COMPONENTS, 0.0), "engagement_recency": 50, "satisfaction": 50}
    health = score_health(book, AS_OF, HealthConfig.model_validate({"weights": weights}))
    # (50 × 100 + 50 × 70) / 100 = 85
    assert health.iloc[0]["health_score"] == 85.0
    assert "CSAT/NPS 70" in health.iloc[0]["health_drivers"]


@FAST
@given(org=small_orgs(), which=st.sampled_from(["revenue_trend", "renewal_risk", "data_quality"]))
def test_no_score_means_no_band_no_trend_and_a_reason(org: dict[str, Any], which: str) -> None:
    # weights on one component an account can lack data for, the rest on none
    config = two_component_config(**{which: 100})
    previous = pd.DataFrame(
        {"account_key": [row["account_id"] for row in org["accounts"]], "health_score": 50.0}
    )
    health = health_of(org, config, previous=previous)
    unscored = health["health_score"].isna()
    assert (health["health_band"].isna() == unscored).all()
    assert (health["health_trend"].isna() == unscored).all()
    assert (health["health_drivers"].str.startswith("Not scored: ") == unscored).all()
    assert (health.loc[~unscored, "health_trend"].isin(["Up", "Flat", "Down"])).all()


def test_a_prior_year_the_crm_never_saw_is_not_read_as_zero() -> None:
    # 40k 500 days ago, 60k 200 days ago. A CRM whose first deal is that 500-day one saw the
    # prior 12 months (365–730 days ago) only from day 500 on: the same days a year apart are
    # 136, under half a year — no trend (the revenue before its history is unknown, not 0).
    deals = [won("sf:A", 40_000, 500), won("sf:A", 60_000, 200)]
    org = {"accounts": [{"account_id": "sf:A"}, {"account_id": "sf:B"}], "contacts": []}
    young = health_of({**org, "opportunities": deals}).set_index("account_key")
    assert pd.isna(young.loc["sf:A", "revenue_trend_score"])
    assert "Revenue trend" not in young.loc["sf:A", "health_drivers"]
    # History from 600 days ago (another account's deal): the last 236 days against the same
    # days a year before (365–601 days ago), 60k vs 40k: 50 + 50 · 20 / 60. From 760 days ago:
    # T12M against the prior 12 months, the same deals.
    marker = {"account_id": "sf:B", "amount": 1_000, "stage": "Closed Lost", "is_closed": True}
    for created, score, compared in (
        (600, 66.7, "last 236 days $60k vs the same days a year before $40k"),
        (760, 66.7, "T12M $60k vs $40k"),
    ):
        old = {**marker, "created_at": days_ago(created), "close_date": days_ago(created - 10)}
        rows = health_of({**org, "opportunities": [*deals, old]}).set_index("account_key")
        assert rows.loc["sf:A", "revenue_trend_score"] == pytest.approx(score), created
        assert compared in rows.loc["sf:A", "health_drivers"], rows.loc["sf:A", "health_drivers"]


def test_a_trend_window_shorter_than_half_a_year_is_compared_when_history_covers_it() -> None:
    # a 90-day revenue window: the last 90 days (6k) against the 90 before (12k), 50 − 50 · 6 /
    # 12 = 25, whatever half a year would need — the history (from 400 days ago) covers both
    deals = [won("sf:A", 6_000, 30), won("sf:A", 12_000, 120), won("sf:A", 1_000, 400)]
    org = {"accounts": [{"account_id": "sf:A"}], "contacts": [], "opportunities": deals}
    row = health_of(org, revenue_window_days=90).iloc[0]
    assert row["revenue_trend_score"] == 25.0


def test_one_date_typed_decades_early_does_not_date_the_whole_history() -> None:
    # A 15-month CRM (first deal 450 days ago): the prior year is seen only from day 450 on,
    # 85 days — no trend. One lost deal "closed" on 1990-01-01 (quality only warns) used to
    # date the history back to 1990, and the prior year read as fully seen: 60k vs 0, growth.
    deals = [won("sf:A", 40_000, 450), won("sf:A", 60_000, 200)]
    typo = {
        "account_id": "sf:B",
        "amount": 1_000,
        "stage": "Closed Lost",
        "is_closed": True,
        "created_at": days_ago(300),
        "close_date": pd.Timestamp("1990-01-01", tz="UTC"),
    }
    org = {"accounts": [{"account_id": "sf:A"}, {"account_id": "sf:B"}], "contacts": []}
    for opps in (deals, [*deals, typo]):
        row = health_of({**org, "opportunities": opps}).set_index("account_key")
        assert pd.isna(row.loc["sf:A", "revenue_trend_score"]), opps
    # a history with a deal every few months reaches back as before (T12M vs the prior year)
    steady = [won("sf:B", 1_000, d) for d in range(400, 800, 120)]
    row = health_of({**org, "opportunities": [*deals, *steady]}).set_index("account_key")
    assert "T12M $60k vs $40k" in row.loc["sf:A", "health_drivers"]


def test_the_band_reads_the_score_the_crm_shows() -> None:
    """Pipeline coverage alone: 19,980 open over 100k won × 0.5 = 39.96 points. The CRMs show
    40 (ACM_Health_Score__c has no decimals), and Yellow starts at 40: a 40 banded Red (from
    the unshown 39.96) contradicts the rule the user reads."""
    org = {
        "accounts": [{"account_id": "sf:A", "last_activity_at": days_ago(2)}],
        "contacts": [],
        "opportunities": [
            won("sf:A", 100_000, 200),
            {"account_id": "sf:A", "amount": 19_980, "close_date": days_ago(-20)},
        ],
    }
    row = health_of(org, two_component_config(pipeline_coverage=100)).iloc[0]
    assert row["health_score"] == 40
    assert row["health_band"] == "Yellow"
