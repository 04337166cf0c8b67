"""Inputs nobody on the team made that pass the quality step and still reach scoring: each
must be scored, or turned down with a clear error — never a crash or a silent drop."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_builders import (
    AS_OF,
    accounts,
    contacts,
    days_ago,
    deal_story,
    history,
    opportunities,
    stories,
)

from acm_sync.config import ConfigError, parse_config
from acm_sync.scoring import AccountBook, DealHistory, backtest, score_accounts
from acm_sync.scoring.settings import ForecastConfig, ScoringSettings


def _tables(
    accs: pd.DataFrame, opps: pd.DataFrame, hist: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    return {
        "accounts": accs,
        "contacts": contacts(),
        "opportunities": opps,
        "opportunity_stage_history": history() if hist is None else hist,
    }


def test_open_deals_whose_every_account_is_gone_are_kept_as_orphans() -> None:
    # Every account deleted (or, in a replay, created after the as-of date): the book has no
    # account, and the open deal indexed an empty key array (IndexError in win_probabilities).
    accs = accounts({"account_id": "sf:A", "is_deleted": True})
    opps = opportunities({"account_id": "sf:A"})
    scores = score_accounts(_tables(accs, opps), as_of=AS_OF)
    assert scores.book.size == 0
    probabilities = scores.win_probabilities
    assert list(probabilities["opportunity_id"]) == ["sf:00600000"]
    assert probabilities["account_key"].isna().all()


def test_an_as_of_date_before_every_account_existed_scores_an_empty_book() -> None:
    accs = accounts({"account_id": "sf:A", "created_at": days_ago(100)})
    opps = opportunities({"account_id": "sf:A", "created_at": days_ago(50)})
    scores = score_accounts(_tables(accs, opps), as_of=days_ago(400))
    assert scores.book.size == 0
    assert len(scores.win_probabilities) == 1
    assert scores.forecast.totals["forecast_amount"].eq(0).all()


def test_a_backtest_on_a_crm_younger_than_a_quarter_has_a_table_with_no_rows() -> None:
    # No origin's horizon has ended yet: the asset still writes its (empty) markdown table.
    opps, hist = stories(
        deal_story("sf:0061", "sf:A", ["Prospecting"], outcome="won", start_days_ago=30)
    )
    book = AccountBook.from_canonical(accounts({"account_id": "sf:A"}), contacts(), opps)
    result = backtest(DealHistory.build(book, hist), AS_OF, ForecastConfig())
    assert len(result.origins) == 0
    assert result.markdown().startswith("| origin | horizon_end |")
    assert result.metadata()["backtest_origins"] == 0


def test_next_actions_with_every_rule_switched_off_say_no_action() -> None:
    # "Remove a rule from the list to switch it off": all removed crashed text.join (no
    # pieces → zero rows, "All arrays must be of the same length").
    config = ScoringSettings.model_validate({"next_action": {"rules": [], "attention_rules": []}})
    accs = accounts({"account_id": "sf:A"}, {"account_id": "sf:B"})
    scores = score_accounts(
        _tables(accs, opportunities({"account_id": "sf:A"})), as_of=AS_OF, config=config
    )
    actions = scores.next_actions
    assert len(actions) == 2
    assert actions["action_rule"].eq("").all() and actions["matched_rules"].eq("").all()
    assert not actions["attention"].any()


def test_an_invalid_decision_maker_pattern_is_a_config_error_naming_it() -> None:
    # It used to load fine and crash health mid-run with a bare re.error.
    raw = {"health": {"contact_coverage": {"decision_maker_titles": "(ceo|cfo"}}}
    with pytest.raises(ConfigError, match=r"decision_maker_titles.*regular expression"):
        parse_config(raw)


@pytest.mark.parametrize("as_of", [None, "NaT", "nan"])
def test_a_missing_as_of_time_is_a_clear_error(as_of: str | None) -> None:
    # A replay's as_of of "NaT" parsed to NaT and failed deep in the hazard's landmarks
    # ("Neither `start` nor `end` can be NaT").
    tables = _tables(accounts({"account_id": "sf:A"}), opportunities({"account_id": "sf:A"}))
    with pytest.raises(ValueError, match="not a point in time"):
        score_accounts(tables, as_of=as_of)  # type: ignore[arg-type]


# Deals as the quality step lets them through: amounts in [0, 1e9] or blank, a known stage whose
# closed / won flags agree with it, created no later than now (closed before created, close
# dates years away, blank type and forecast category are warnings only), on an account that may
# be deleted or merged away (quality accepts any account the pull returned).
_DAY = st.integers(-4000, 0).map(lambda d: AS_OF + pd.Timedelta(days=d))
_CLOSE = st.one_of(
    st.none(),
    st.integers(-4000, 4000).map(lambda d: AS_OF + pd.Timedelta(days=d)),
    st.just(pd.Timestamp("1990-01-01", tz="UTC")),
    st.just(pd.Timestamp("2099-12-31", tz="UTC")),
)
_STAGE = st.sampled_from(
    [
        ("Prospecting", 0.1, False, False),
        ("Value Proposition", 0.5, False, False),
        ("Closed Won", 1.0, True, True),
        ("Closed Lost", 0.0, True, False),
    ]
)
_DEAL = st.fixed_dictionaries(
    {
        "account_id": st.sampled_from(["sf:A", "sf:B", "sf:GONE"]),
        "amount": st.one_of(st.none(), st.sampled_from([0.0, 1.0, 1e9]), st.floats(0, 1e6)),
        "created_at": _DAY,
        "close_date": _CLOSE,
        "stage": _STAGE,
        "type": st.sampled_from([None, "new", "renewal", "expansion", "other"]),
        "forecast_category": st.sampled_from([None, "Pipeline", "Commit", "Omitted"]),
    }
)


def _deal_row(deal: dict[str, Any]) -> dict[str, Any]:
    stage, probability, closed, won = deal["stage"]
    close = deal["close_date"]
    if closed and close is None:  # quality quarantines a closed deal with no close date
        close = deal["created_at"]
    return {
        **deal,
        "stage": stage,
        "stage_probability": probability,
        "is_closed": closed,
        "is_won": won,
        "close_date": close,
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_DEAL, max_size=8),
    st.integers(-3000, 3000),
    st.booleans(),
    st.sampled_from([(), ("type", "size_band", "industry", "company_size")]),
)
def test_any_org_quality_lets_through_is_scored_with_every_open_deal_kept(
    deals: list[dict[str, Any]], shift_days: int, with_history: bool, segments: tuple[str, ...]
) -> None:
    accs = accounts(
        {"account_id": "sf:A", "employees": None, "industry": None},
        {"account_id": "sf:B", "created_at": days_ago(30)},
        {"account_id": "sf:GONE", "is_deleted": True, "merged_into": "sf:A"},
    )
    opps = opportunities(*[_deal_row(d) for d in deals])
    rows = [
        {
            "opportunity_id": opp_id,
            "stage": stage,
            "amount": amount,
            "close_date": close,
            "changed_at": created,
        }
        for opp_id, stage, amount, close, created in zip(
            opps["opportunity_id"],
            opps["stage"],
            opps["amount"],
            opps["close_date"],
            opps["created_at"],
            strict=True,
        )
    ]
    hist = history(*rows) if with_history else None
    config = ScoringSettings.model_validate(
        {"forecast": {"segments": list(segments), "hazard": {"min_events": 1}}}
    )
    as_of = AS_OF + pd.Timedelta(days=shift_days)
    scores = score_accounts(_tables(accs, opps, hist), as_of=as_of, config=config)

    open_ids = set(opps.loc[~opps["is_closed"].astype(bool), "opportunity_id"])
    assert set(scores.win_probabilities["opportunity_id"]) == open_ids
    p = scores.win_probabilities[["p_win", *scores.win_probabilities.filter(like="p_period_")]]
    assert ((p >= 0) & (p <= 1)).all().all()
    totals = scores.forecast.totals.select_dtypes("number").to_numpy(dtype=float)
    assert np.isfinite(totals).all()
    assert len(scores.next_actions) == scores.book.size == len(scores.health)
