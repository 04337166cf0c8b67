"""Inputs nobody on the team made that pass the quality step and still reach scoring: each
must be scored, or turned down with a clear error — never a crash or a silent drop."""

from __future__ import annotations

import pandas as pd
import pytest
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
