"""Next actions: which rule fires, its text, priority order and the attention flag."""

from __future__ import annotations

import pandas as pd
from scoring_builders import (
    AS_OF,
    TWO_YEARS,
    accounts,
    contacts,
    days_ago,
    opportunities,
    won,
)

from acm_sync.config import parse_config
from acm_sync.scoring import score_accounts
from acm_sync.scoring.text import REASON_MAX


def actions_for(next_action: dict[str, object] | None = None) -> pd.DataFrame:
    # five paying accounts: let two of them be Key
    config = parse_config({"tiers": {"key_max_share": 0.4}, "next_action": next_action or {}})
    accs = accounts(
        # Key, untouched for 45 days, one reachable decision maker
        {"account_id": "sf:KEY_QUIET", "last_activity_at": days_ago(45)},
        # Key in Red: silent for a year, revenue collapsed
        {"account_id": "sf:KEY_RED", "last_activity_at": days_ago(400)},
        # a renewal past its close date
        {"account_id": "sf:RENEWAL", "last_activity_at": days_ago(2)},
        # New customer without a decision maker
        {"account_id": "sf:NEW", "last_activity_at": days_ago(2)},
        # healthy existing customer with nothing to do
        {"account_id": "sf:FINE", "last_activity_at": days_ago(1)},
    )
    people = contacts(
        {"account_id": "sf:KEY_QUIET", "email": "ceo@k.com", "title": "CEO"},
        *[
            {
                "account_id": "sf:FINE",
                "email": f"p{i}@f.com",
                "title": "VP Sales",
                "last_activity_at": days_ago(1),
            }
            for i in range(5)
        ],
        {"account_id": "sf:RENEWAL", "email": "cfo@r.com", "title": "CFO"},
    )
    opps = opportunities(
        won("sf:KEY_QUIET", 2_000_000, 100),
        won("sf:KEY_RED", 1_500_000, 300),
        won("sf:KEY_RED", 9_000_000, 600),
        won("sf:RENEWAL", 10_000, 200),
        {
            "account_id": "sf:RENEWAL",
            "type": "renewal",
            "amount": 12_000,
            "close_date": days_ago(9),
        },
        won("sf:NEW", 10_000, 20),
        won("sf:FINE", 50_000, 100),
        won("sf:FINE", 45_000, 450),
        {
            "account_id": "sf:FINE",
            "type": "expansion",
            "amount": 30_000,
            "close_date": days_ago(-40),
            "created_at": days_ago(10),
        },
    )
    tables = {
        "accounts": accs,
        "contacts": people,
        "opportunities": opps,
        "opportunity_stage_history": pd.DataFrame(
            columns=["opportunity_id", "stage", "amount", "close_date", "changed_at"]
        ),
    }
    scores = score_accounts(tables, as_of=AS_OF, config=config)
    return scores.next_actions.set_index("account_key")


def test_each_rule_writes_its_action() -> None:
    actions = actions_for()
    assert actions.loc["sf:KEY_RED", "action_rule"] == "key_red"
    assert actions.loc["sf:KEY_RED", "next_action"].startswith("Key account in Red (health ")
    assert actions.loc["sf:KEY_QUIET", "next_action"] == (
        "No activity for 45 days on this Key account: schedule a call with a decision maker"
    )
    assert actions.loc["sf:RENEWAL", "next_action"] == (
        "Renewal $12k overdue since 2025-06-06: confirm the renewal or update its close date"
    )
    assert actions.loc["sf:NEW", "action_rule"] == "new_without_decision_maker"
    # nothing to do is said, not left empty (an empty field reads "nothing computed")
    assert actions.loc["sf:FINE", "next_action"].startswith("No action: healthy (")
    assert actions.loc["sf:FINE", "next_action"].endswith("), no renewal open")
    assert actions.loc["sf:FINE", "action_rule"] == ""


def test_attention_flag_and_matched_rules() -> None:
    actions = actions_for()
    assert actions.loc["sf:KEY_RED", "attention"]
    assert actions.loc["sf:KEY_QUIET", "attention"]
    assert actions.loc["sf:RENEWAL", "attention"]
    assert not actions.loc["sf:NEW", "attention"]
    assert not actions.loc["sf:FINE", "attention"]
    # the Red Key account is also quiet and Red: every match is listed, the first one wins
    assert actions.loc["sf:KEY_RED", "matched_rules"] == "key_red,key_no_activity,red_health"
    assert (actions["next_action"].str.len() <= REASON_MAX).all()


def test_rule_order_and_switching_rules_off() -> None:
    actions = actions_for({"rules": ["key_no_activity", "key_red"], "attention_rules": []})
    assert actions.loc["sf:KEY_RED", "action_rule"] == "key_no_activity"
    assert not actions["attention"].any()
    # rules not listed never fire: what was found is still said
    assert actions.loc["sf:RENEWAL", "action_rule"] == ""
    assert actions.loc["sf:RENEWAL", "next_action"].endswith(", renewal overdue since 2025-06-06")
    assert actions.loc["sf:NEW", "action_rule"] == ""
    assert actions.loc["sf:NEW", "next_action"].startswith("No action: ")


def _tables(
    accs: pd.DataFrame, people: pd.DataFrame, opps: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    return {
        "accounts": accs,
        "contacts": people,
        "opportunities": opps,
        "opportunity_stage_history": pd.DataFrame(
            columns=["opportunity_id", "stage", "amount", "close_date", "changed_at"]
        ),
    }


def test_dormant_accounts_get_the_win_back_not_a_health_review() -> None:
    # Dormant = no win and no activity for a year: Red by construction. The rep's action for
    # that tier is the win-back, whatever the rule order says about red_health.
    accs = accounts(
        {"account_id": "sf:BIG", "last_activity_at": days_ago(1)},
        {"account_id": "sf:GONE", "last_activity_at": days_ago(500)},
        {"account_id": "sf:RED", "last_activity_at": days_ago(170)},
    )
    opps = opportunities(
        won("sf:BIG", 1_000_000, 10),
        won("sf:GONE", 20_000, 600),
        won("sf:RED", 5_000, 100),
        won("sf:RED", 50_000, 500),
    )
    for rules in (None, ["red_health", "dormant_win_back"]):
        config = parse_config({"next_action": {"rules": rules} if rules else {}})
        scores = score_accounts(_tables(accs, contacts(), opps), as_of=AS_OF, config=config)
        tiers = scores.tiers.set_index("account_key")["tier"]
        health = scores.health.set_index("account_key")["health_band"]
        actions = scores.next_actions.set_index("account_key")
        assert (tiers["sf:GONE"], health["sf:GONE"]) == ("Dormant", "Red")
        assert actions.loc["sf:GONE", "action_rule"] == "dormant_win_back"
        assert actions.loc["sf:GONE", "next_action"] == (
            "Dormant (last won 2023-10-24): plan a win-back touch"
        )
        assert "red_health" not in actions.loc["sf:GONE", "matched_rules"]
        # an Existing customer in Red still gets its health review
        assert (tiers["sf:RED"], health["sf:RED"]) == ("Existing", "Red")
        assert actions.loc["sf:RED", "action_rule"] == "red_health"


def test_no_action_text_names_the_health_and_the_next_renewal() -> None:
    accs = accounts({"account_id": "sf:OK", "last_activity_at": days_ago(1)})
    people = contacts(
        *[{"account_id": "sf:OK", "email": f"p{i}@ok.com", "title": "CFO"} for i in range(5)]
    )
    opps = opportunities(
        won("sf:OK", 50_000, 100),
        won("sf:OK", 50_000, 400),
        {
            "account_id": "sf:OK",
            "type": "renewal",
            "amount": 50_000,
            "stage": "Negotiation/Review",
            "stage_probability": 0.9,
            "close_date": AS_OF + pd.Timedelta(days=200),
            "created_at": days_ago(10),
        },
    )
    scores = score_accounts(_tables(accs, people, opps), as_of=AS_OF)
    action = scores.next_actions.set_index("account_key").loc["sf:OK"]
    assert action["action_rule"] == ""
    assert action["next_action"].startswith("No action: healthy (")
    assert action["next_action"].endswith("), renewal not due (next 2026-01-01)")


def test_an_account_without_health_data_and_a_deal_without_a_type_are_scored() -> None:
    # Health is <NA> when no weighted component has data: here only revenue trend is weighted
    # and sf:YOUNG has no prior year to compare with. Its next action says so instead of
    # failing; deals without a type (a blank Salesforce Type is <NA>; here every deal's, as in
    # an org that does not use the field) are no renewals; and no open renewal anywhere is
    # "no renewal open".
    weights = dict.fromkeys(
        (
            "engagement_recency",
            "contact_coverage",
            "pipeline_coverage",
            "renewal_risk",
            "data_quality",
            "satisfaction",
        ),
        0,
    )
    config = parse_config(
        {
            "health": {"weights": {**weights, "revenue_trend": 100}},
            "next_action": {"rules": ["red_health"]},
        }
    )
    accs = accounts({"account_id": "sf:OLD"}, {"account_id": "sf:YOUNG"})
    opps = opportunities(
        won("sf:OLD", 10_000, 10, type=None),  # in the forecast's current quarter
        won("sf:OLD", 10_000, 400, type=None, created_at=TWO_YEARS),
        won("sf:YOUNG", 5_000, 100, type=None),
        {"account_id": "sf:YOUNG", "type": None, "amount": 1_000, "close_date": days_ago(-30)},
    )
    scores = score_accounts(_tables(accs, contacts(), opps), as_of=AS_OF, config=config)
    health = scores.health.set_index("account_key")
    assert health.loc["sf:OLD", "health_score"] == 50.0  # flat: 10k vs 10k
    assert pd.isna(health.loc["sf:YOUNG", "health_score"])
    actions = scores.next_actions.set_index("account_key")["next_action"]
    assert actions["sf:OLD"] == "No action: health Yellow (50), no renewal open"
    assert actions["sf:YOUNG"] == "No action: no health data, no renewal open"


def test_a_red_health_review_names_a_weighted_component() -> None:
    # Engagement has weight 0 and scores 0 (never touched); revenue trend, the only weighted
    # component, is 10 (T12M 1k vs 5k before: 50 + 50 · −4k / 5k). The review names what made
    # the score Red, not the lower component left out of it.
    weights = dict.fromkeys(
        (
            "engagement_recency",
            "contact_coverage",
            "pipeline_coverage",
            "renewal_risk",
            "data_quality",
            "satisfaction",
        ),
        0,
    )
    config = parse_config({"health": {"weights": {**weights, "revenue_trend": 100}}})
    accs = accounts({"account_id": "sf:BIG"}, {"account_id": "sf:GONE"})
    opps = opportunities(
        won("sf:BIG", 50_000, 10),
        won("sf:GONE", 5_000, 400, created_at=TWO_YEARS),
        won("sf:GONE", 1_000, 100),
    )
    scores = score_accounts(_tables(accs, contacts(), opps), as_of=AS_OF, config=config)
    actions = scores.next_actions.set_index("account_key")
    assert scores.tiers.set_index("account_key").loc["sf:GONE", "tier"] == "Existing"
    assert actions.loc["sf:GONE", "next_action"] == "Health Red (10): review revenue trend"
