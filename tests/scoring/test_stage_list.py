"""The CRM's own stage list fills what current deals cannot say: a stage no deal is in now
(every deal moved on, or a custom stage seen only in history) has no probability on any current
deal, and the vendors' standard stages do not know a custom name. Without the list such a stage
had no default (the forecast's `unknown_stage_probability`, the baseline nothing to go by)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scoring_builders import accounts, contacts, days_ago, history, opportunities

from acm_sync.scoring import AccountBook, DealHistory

DEALS = [
    {"opportunity_id": "sf:O1", "account_id": "sf:A", "stage": "Demo Booked",
     "stage_probability": 0.25, "close_date": days_ago(-30), "created_at": days_ago(90)},
    {"opportunity_id": "sf:O2", "account_id": "sf:A", "stage": "Signed", "is_won": True,
     "stage_probability": 1.0, "close_date": days_ago(5), "created_at": days_ago(120)},
]  # fmt: skip
ROWS = [
    {"opportunity_id": "sf:O1", "stage": "Discovery", "amount": 10.0,
     "close_date": days_ago(-30), "changed_at": days_ago(90)},
    {"opportunity_id": "sf:O1", "stage": "Demo Booked", "amount": 10.0,
     "close_date": days_ago(-30), "changed_at": days_ago(40)},
    {"opportunity_id": "sf:O2", "stage": "Discovery", "amount": 20.0,
     "close_date": days_ago(5), "changed_at": days_ago(120)},
    {"opportunity_id": "sf:O2", "stage": "Legal Review", "amount": 20.0,
     "close_date": days_ago(5), "changed_at": days_ago(30)},
    {"opportunity_id": "sf:O2", "stage": "Signed", "amount": 20.0,
     "close_date": days_ago(5), "changed_at": days_ago(5)},
]  # fmt: skip
STAGE_LIST = pd.DataFrame(
    {
        "source": ["salesforce"] * 5,
        "stage": ["Discovery", "Demo Booked", "Legal Review", "Signed", "Never Used"],
        "default_probability": [0.1, 0.4, 0.8, 1.0, 0.5],
        "is_closed": [False, False, False, True, False],
        "is_won": [False, False, False, True, False],
    }
)


def _catalogue(stage_list: pd.DataFrame | None) -> pd.DataFrame:
    book = AccountBook.from_canonical(
        accounts({"account_id": "sf:A"}), contacts(), opportunities(*DEALS)
    )
    hist = DealHistory.build(book, history(*ROWS), stage_list)
    custom = hist.stages["stage"].isin(["Discovery", "Demo Booked", "Legal Review", "Signed"])
    return hist.stages.loc[custom].set_index("stage")


def test_stages_no_deal_is_in_take_the_crm_stage_list() -> None:
    without = _catalogue(None)
    assert np.isnan(without.loc["Discovery", "default_probability"])  # nobody is there now
    assert np.isnan(without.loc["Legal Review", "default_probability"])
    stages = _catalogue(STAGE_LIST)
    assert stages.loc["Discovery", "default_probability"] == 0.1
    assert stages.loc["Legal Review", "default_probability"] == 0.8
    assert not stages.loc["Legal Review", "is_closed"]


def test_what_current_deals_carry_comes_before_the_list() -> None:
    stages = _catalogue(STAGE_LIST)
    # O1 carries 0.25 in Demo Booked (the list says 0.4): the deals' own word wins
    assert stages.loc["Demo Booked", "default_probability"] == 0.25
    assert stages.loc["Signed", "is_won"] and stages.loc["Signed", "is_closed"]


def test_a_listed_stage_no_deal_was_ever_in_is_not_added_and_partial_lists_work() -> None:
    stages = _catalogue(STAGE_LIST)
    assert "Never Used" not in set(_catalogue(STAGE_LIST).index)
    book = AccountBook.from_canonical(
        accounts({"account_id": "sf:A"}), contacts(), opportunities(*DEALS)
    )
    only_probability = STAGE_LIST[["source", "stage", "default_probability"]]
    hist = DealHistory.build(book, history(*ROWS), only_probability)
    assert "Never Used" not in set(hist.stages["stage"])
    legal = hist.stages.set_index("stage").loc["Legal Review"]
    assert legal["default_probability"] == 0.8 and not legal["is_closed"]
    assert stages.loc["Discovery", "default_probability"] == 0.1
