"""The roll-up to unified accounts: identity, deleted records, orphans, currencies."""

from __future__ import annotations

import pandas as pd
import pytest
from scoring_builders import AS_OF, accounts, contacts, days_ago, opportunities, won

from acm_sync.config import CurrencyConfig, TiersConfig
from acm_sync.model import conform
from acm_sync.scoring import AccountBook, identity_from_accounts, score_tiers


def test_identity_from_accounts_makes_each_account_its_own_key() -> None:
    accs = accounts(
        {"account_id": "sf:001A"},
        {"account_id": "hs:42", "source": "hubspot"},
        {"account_id": "sf:001D", "is_deleted": True},
    )
    identity = identity_from_accounts(accs)
    assert identity.fillna("-").to_dict("list") == {
        "account_key": ["sf:001A", "hs:42"],
        "sf_account_id": ["sf:001A", "-"],
        "hs_company_id": ["-", "hs:42"],
        "match_rule": ["self", "self"],
    }
    assert list(conform(identity, "account_identity").columns) == list(identity.columns)


def test_identity_merges_salesforce_and_hubspot_records_into_one_account() -> None:
    accs = accounts(
        {"account_id": "sf:001A", "last_activity_at": days_ago(50)},
        {"account_id": "hs:42", "source": "hubspot", "last_activity_at": days_ago(3)},
        {"account_id": "sf:001B"},
    )
    identity = pd.DataFrame(
        {
            "account_key": ["acme", "beta"],
            # raw and namespaced ids are both accepted
            "sf_account_id": ["001A", "sf:001B"],
            "hs_company_id": ["42", None],
            "match_rule": ["domain", "self"],
        }
    )
    people = contacts(
        {"account_id": "sf:001A", "email": "a@acme.com"},
        {"account_id": "hs:42", "email": "b@acme.com", "source": "hubspot"},
        {"account_id": "sf:NOPE", "email": "orphan@x.com"},
    )
    opps = opportunities(won("sf:001A", 100, 10), won("hs:42", 50, 20, source="hubspot"))
    book = AccountBook.from_canonical(accs, people, opps, identity)
    assert list(book.accounts["account_key"]) == ["acme", "beta"]
    acme = book.accounts.iloc[0]
    assert acme["records"] == 2
    assert acme["last_activity_at"] == days_ago(3)
    assert list(book.contacts["account_pos"]) == [0, 0, -1]
    tiers = score_tiers(book, AS_OF, TiersConfig()).set_index("account_key")
    assert tiers.loc["acme", "t12m_won_revenue"] == 150


def test_accounts_missing_from_identity_stay_their_own_key() -> None:
    accs = accounts({"account_id": "sf:001A"}, {"account_id": "sf:NEWER"})
    identity = pd.DataFrame(
        {
            "account_key": ["acme"],
            "sf_account_id": ["sf:001A"],
            "hs_company_id": [None],
            "match_rule": ["self"],
        }
    )
    book = AccountBook.from_canonical(accs, contacts(), opportunities(), identity)
    assert list(book.accounts["account_key"]) == ["acme", "sf:NEWER"]


def test_amounts_are_converted_and_dirty_amounts_add_nothing() -> None:
    accs = accounts({"account_id": "sf:A"})
    opps = opportunities(
        won("sf:A", 100, 10, currency="EUR"),
        won("sf:A", 100, 10, currency="USD"),
        won("sf:A", -500, 10),
        won("sf:A", None, 10),
    )
    book = AccountBook.from_canonical(
        accs, contacts(), opps, currency=CurrencyConfig(rates={"EUR": 1.5})
    )
    assert list(book.opportunities["amount"]) == [150.0, 100.0, 0.0, 0.0]
    assert book.currency == "USD"


def test_contact_reachability() -> None:
    people = contacts(
        *[
            {"account_id": "sf:A", "email": email}
            for email in [
                "ok@acme.com",
                "no-at.acme.com",
                "two@@acme.com",
                "a@b",
                "x y@a.com",
                None,
            ]
        ]
    )
    book = AccountBook.from_canonical(accounts({"account_id": "sf:A"}), people, opportunities())
    assert list(book.contacts["reachable"]) == [True, False, False, False, False, False]


def test_amounts_convert_at_their_close_date_and_an_unknown_currency_adds_nothing() -> None:
    accs = accounts({"account_id": "sf:A"})
    opps = opportunities(
        won("sf:A", 100, 400, currency="EUR"),  # closed before the rate changed
        won("sf:A", 100, 10, currency="EUR"),  # after
        won("sf:A", 100, 10, currency="CHF"),  # no rate: never 1:1
    )
    change = (AS_OF - pd.Timedelta(days=100)).date()
    rates = CurrencyConfig(rates={"EUR": {change - pd.Timedelta(days=1000): 1.1, change: 1.2}})
    book = AccountBook.from_canonical(accs, contacts(), opps, currency=rates)
    assert list(book.opportunities["amount"]) == pytest.approx([110.0, 120.0, 0.0])


def test_records_left_on_a_merged_away_account_count_for_the_survivor() -> None:
    # The CRM moved them to the survivor (a merge reparents children), but an incremental pull
    # can still hold a deal on the old id: it must count for B, not drop out of scoring.
    accs = accounts(
        {"account_id": "hs:B", "source": "hubspot"},
        {"account_id": "hs:A", "source": "hubspot", "is_deleted": True, "merged_into": "hs:B"},
    )
    opps = opportunities(won("hs:A", 50_000, 30), {"account_id": "hs:A", "amount": 300_000.0})
    people = contacts({"account_id": "hs:A", "email": "ada@acme.com"})
    book = AccountBook.from_canonical(accs, people, opps)
    assert list(book.accounts["account_key"]) == ["hs:B"]
    assert list(book.opportunities["account_pos"]) == [0, 0]
    assert list(book.contacts["account_pos"]) == [0]
    tiers = score_tiers(book, AS_OF, TiersConfig())
    assert tiers.loc[0, "tier"] != "Prospect"


def test_a_chain_of_merges_is_followed_to_its_end_and_a_dead_end_maps_nowhere() -> None:
    accs = accounts(
        {"account_id": "sf:C"},
        {"account_id": "sf:A", "is_deleted": True, "merged_into": "sf:B"},
        {"account_id": "sf:B", "is_deleted": True, "merged_into": "sf:C"},
        # merged into an account since deleted, and two merged into each other
        {"account_id": "sf:D", "is_deleted": True, "merged_into": "sf:E"},
        {"account_id": "sf:E", "is_deleted": True},
        {"account_id": "sf:F", "is_deleted": True, "merged_into": "sf:G"},
        {"account_id": "sf:G", "is_deleted": True, "merged_into": "sf:F"},
    )
    opps = opportunities(*({"account_id": f"sf:{x}"} for x in "ABCDEFG"))
    book = AccountBook.from_canonical(accs, contacts(), opps)
    assert list(book.accounts["account_key"]) == ["sf:C"]
    assert list(book.opportunities["account_pos"]) == [0, 0, 0, -1, -1, -1, -1]


def test_deal_types_are_read_whatever_their_case_and_surrounding_spaces() -> None:
    accs = accounts({"account_id": "sf:A"})
    opps = opportunities(*({"account_id": "sf:A", "type": t} for t in ("Renewal ", " NEW", None)))
    book = AccountBook.from_canonical(accs, contacts(), opps)
    kinds = list(book.opportunities["type"])
    assert kinds[:2] == ["renewal", "new"] and pd.isna(kinds[2])
