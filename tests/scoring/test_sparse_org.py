"""Scoring an org as real CRMs hold them, not as the demo generator fills them: optional fields
left blank (Salesforce's Opportunity Type, industry, titles, amounts), no renewal anywhere.

Found by loading a few hand-made records into an empty sandbox through simple-salesforce: a
deal with no Type crashed health ("boolean value of NA is ambiguous"), and an org with no open
renewal crashed the next actions ("Cannot cast DatetimeArray to dtype float64")."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_builders import AS_OF, accounts, contacts, days_ago, opportunities, won

from acm_sync.config import parse_config
from acm_sync.scoring import score_accounts
from acm_sync.scoring.health import data_gaps
from acm_sync.scoring.settings import ScoringSettings

NO_HISTORY = pd.DataFrame(columns=["opportunity_id", "stage", "amount", "close_date", "changed_at"])


def _tables(
    accs: pd.DataFrame, people: pd.DataFrame, opps: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    return {
        "accounts": accs,
        "contacts": people,
        "opportunities": opps,
        "opportunity_stage_history": NO_HISTORY,
    }


def test_an_org_whose_deals_have_no_type_is_scored_with_no_renewal() -> None:
    # Type is optional in Salesforce and HubSpot (dealtype): an org may leave it blank on
    # every deal. (With some deals typed, pandas reads the blanks as NaN and it worked.)
    accs = accounts(
        {"account_id": "sf:A", "last_activity_at": days_ago(3)},
        {"account_id": "sf:B", "last_activity_at": days_ago(3)},
    )
    opps = opportunities(
        won("sf:A", 20_000, 30, type=None),
        won("sf:A", 20_000, 400, type=None),
        won("sf:B", 5_000, 200, type=None),
        # open and overdue: not a renewal at risk, nor "renewal overdue"
        {"account_id": "sf:A", "type": None, "close_date": days_ago(10)},
    )
    scores = score_accounts(_tables(accs, contacts(), opps), as_of=AS_OF)
    health = scores.health.set_index("account_key")
    assert health.loc["sf:A", "open_renewals"] == 0
    assert pd.isna(health.loc["sf:A", "renewal_risk_score"])  # no open renewal: not measured
    actions = scores.next_actions.set_index("account_key")
    assert "renewal" not in actions.loc["sf:A", "next_action"].replace("no renewal open", "")
    assert scores.tiers.set_index("account_key").loc["sf:A", "tier"] == "Key"


def test_an_org_with_open_deals_but_no_open_renewal_says_so() -> None:
    accs = accounts(
        {"account_id": "sf:A", "last_activity_at": days_ago(1)},
        {"account_id": "sf:P"},  # a prospect: one open new-business deal
    )
    people = contacts(
        *[{"account_id": "sf:A", "email": f"p{i}@a.com", "title": "CFO"} for i in range(5)]
    )
    opps = opportunities(
        won("sf:A", 50_000, 100),
        won("sf:A", 50_000, 400),
        {
            "account_id": "sf:A",
            "type": "expansion",
            "created_at": days_ago(10),
            "close_date": AS_OF + pd.Timedelta(days=20),
        },
        {
            "account_id": "sf:P",
            "type": "new",
            "created_at": days_ago(10),
            "close_date": AS_OF + pd.Timedelta(days=40),
        },
    )
    scores = score_accounts(_tables(accs, people, opps), as_of=AS_OF)
    actions = scores.next_actions.set_index("account_key")
    assert actions.loc["sf:A", "next_action"].endswith(", no renewal open")
    assert actions.loc["sf:P", "next_action"].startswith("No action: prospect, ")
    assert actions.loc["sf:P", "next_action"].endswith(", no renewal open")


# -- any optional field may be blank -------------------------------------------------------

_blank = st.booleans()


@st.composite
def sparse_orgs(draw: st.DrawFn) -> dict[str, pd.DataFrame]:
    """A small org where each optional field of each record is independently blank or not."""
    n_accounts = draw(st.integers(1, 6))
    account_rows: list[dict[str, Any]] = []
    for i in range(n_accounts):
        row: dict[str, Any] = {"account_id": f"sf:A{i}"}
        for field in ("domain", "website", "industry", "employees", "owner_id", "created_at"):
            if draw(_blank):
                row[field] = None
        if draw(_blank):
            row["last_activity_at"] = days_ago(draw(st.integers(0, 900)))
        account_rows.append(row)
    contact_rows: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 6))):
        contact_rows.append(
            {
                "account_id": f"sf:A{draw(st.integers(0, n_accounts - 1))}",
                "email": draw(st.sampled_from([None, "x@acme.com", "bad-email"])),
                "title": draw(st.sampled_from([None, "CFO", "Intern"])),
                "last_name": draw(st.sampled_from([None, "Lovelace"])),
                "last_activity_at": draw(st.sampled_from([None, days_ago(5)])),
            }
        )
    deal_rows: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 10))):
        is_won = draw(st.booleans())
        deal: dict[str, Any] = {
            "account_id": f"sf:A{draw(st.integers(0, n_accounts - 1))}",
            "is_won": is_won,
            "is_closed": is_won or draw(st.booleans()),
            "type": draw(st.sampled_from([None, "new", "renewal", "expansion", "Other"])),
            "amount": draw(st.sampled_from([None, 0.0, 5_000.0, 250_000.0])),
            "close_date": draw(st.sampled_from([None, days_ago(400), days_ago(20), days_ago(-45)])),
            "created_at": draw(st.sampled_from([None, days_ago(800), days_ago(60)])),
            "stage_probability": draw(st.sampled_from([None, 0.1, 0.6])),
            "forecast_category": draw(st.sampled_from([None, "Pipeline", "Commit"])),
        }
        if deal["is_closed"] and not is_won:
            deal.update(stage="Closed Lost", stage_probability=0.0)
        deal_rows.append(deal)
    return _tables(accounts(*account_rows), contacts(*contact_rows), opportunities(*deal_rows))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sparse_orgs())
def test_blank_optional_fields_never_break_scoring(tables: dict[str, pd.DataFrame]) -> None:
    scores = score_accounts(tables, as_of=AS_OF)
    keys = set(tables["accounts"]["account_id"])
    for frame in (scores.tiers, scores.health, scores.next_actions):
        assert set(frame["account_key"]) == keys
        assert len(frame) == len(keys)
    assert set(scores.tiers["tier"]) <= {"Key", "New", "Existing", "Dormant", "Prospect"}
    assert scores.tiers["tier_reason"].str.len().gt(0).all()
    assert scores.next_actions["next_action"].str.len().gt(0).all()
    assert scores.health["health_score"].between(0, 100).all()


def test_reasons_count_one_account_in_the_singular() -> None:
    # three payers: the top 20 % cap is one account
    accs = accounts(*[{"account_id": f"sf:{k}"} for k in "ABC"])
    opps = opportunities(won("sf:A", 300, 10), won("sf:B", 200, 10), won("sf:C", 100, 10))
    config = parse_config({"tiers": {"key_revenue_share": 0.9}})
    tiers = score_accounts(_tables(accs, contacts(), opps), as_of=AS_OF, config=config).tiers
    reasons = tiers.set_index("account_key")["tier_reason"]
    assert reasons["sf:A"].startswith("Key: #1 of 3 paying accounts — top 20 % cap")
    assert reasons["sf:B"].endswith(
        "not Key: #2 of 3 paying accounts, below the top 20 % cap (1 account)"
    )


def test_an_org_with_no_activity_and_no_contacts_says_which_weights_to_set() -> None:
    accs = accounts({"account_id": "sf:A"}, {"account_id": "sf:B"})
    opps = opportunities(won("sf:A", 10_000, 30))
    scores = score_accounts(_tables(accs, contacts(), opps), as_of=AS_OF)
    gaps = data_gaps(scores.health, scores.book, ScoringSettings().health)
    assert [gap.split(":")[0] for gap in gaps] == ["engagement", "contact coverage"]
    assert gaps[0].endswith("set health.weights.engagement_recency: 0")
    assert gaps[1].endswith("set health.weights.contact_coverage: 0")
    # weighted 0 already: nothing to say
    config = parse_config(
        {
            "health": {
                "weights": {
                    "engagement_recency": 0,
                    "contact_coverage": 0,
                    "revenue_trend": 40,
                    "pipeline_coverage": 30,
                    "renewal_risk": 15,
                    "data_quality": 5,
                    "satisfaction": 10,
                }
            }
        }
    )
    assert data_gaps(scores.health, scores.book, config.health) == []


def test_one_activity_or_one_contact_anywhere_is_no_gap() -> None:
    accs = accounts(
        {"account_id": "sf:A", "last_activity_at": days_ago(500)}, {"account_id": "sf:B"}
    )
    people = contacts({"account_id": "sf:B", "email": None})
    scores = score_accounts(_tables(accs, people, opportunities()), as_of=AS_OF)
    assert data_gaps(scores.health, scores.book, ScoringSettings().health) == []
