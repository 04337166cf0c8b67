"""Record links: Lightning record pages and HubSpot's app URLs, by hand-written examples."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from acm_sync.connectors.links import RecordLinks, hubspot_app_url, remember
from acm_sync.warehouse import Warehouse


def test_the_hubspot_app_lives_on_app_hubspot_com_for_the_real_api_and_on_the_sandbox_host() -> (
    None
):
    assert hubspot_app_url(None) == "https://app.hubspot.com"
    assert hubspot_app_url("https://api.hubapi.com/") == "https://app.hubspot.com"
    # an EU portal names its UI domain in its account details
    assert hubspot_app_url("https://api.hubapi.com", "app-eu1.hubspot.com") == (
        "https://app-eu1.hubspot.com"
    )
    assert hubspot_app_url("http://127.0.0.1:8124/", "127.0.0.1:8124") == "http://127.0.0.1:8124"


def test_record_urls_as_the_crms_spell_them() -> None:
    links = RecordLinks(
        salesforce_instance="https://acme.my.salesforce.com",
        hubspot_app="https://app.hubspot.com",
        hubspot_portal="2519445",
    )
    assert links.url("salesforce", "Account", "001Hs00001abcDEIAY") == (
        "https://acme.my.salesforce.com/lightning/r/Account/001Hs00001abcDEIAY/view"
    )
    assert links.url("hubspot", "contacts", "51") == (
        "https://app.hubspot.com/contacts/2519445/record/0-1/51"
    )
    assert links.url("hubspot", "companies", 7) == (
        "https://app.hubspot.com/contacts/2519445/record/0-2/7"
    )
    assert links.entity_url("hubspot", "opportunities", "9") == (
        "https://app.hubspot.com/contacts/2519445/record/0-3/9"
    )
    assert links.entity_url("salesforce", "contacts", "003A") == (
        "https://acme.my.salesforce.com/lightning/r/Contact/003A/view"
    )
    # no id, an unknown object or an entity without a record page: no link
    assert links.url("salesforce", "Account", None) == ""
    assert links.url("hubspot", "tickets", "1") == ""
    assert links.entity_url("salesforce", "opportunity_stage_history", "006A") == ""


def test_unknown_bases_give_no_link_and_known_ones_are_kept_per_warehouse(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    assert RecordLinks.load(wh) == RecordLinks()
    assert RecordLinks.load(wh).url("salesforce", "Account", "001A") == ""
    remember(
        wh,
        "hubspot",
        api_base="https://api.hubapi.com",
        app_url="https://app.hubspot.com",
        portal_id="42",
    )
    remember(
        wh,
        "hubspot",
        api_base="https://api.hubapi.com",
        app_url="https://app.hubspot.com",
        portal_id="43",
    )  # replaced, not duplicated
    links = RecordLinks.load(wh)
    assert links.hubspot_portal == "43" and links.salesforce_instance is None
    urls = links.entity_urls(
        "accounts", pd.Series(["hubspot", "salesforce"]), pd.Series(["5", "001A"])
    )
    assert urls.tolist() == ["https://app.hubspot.com/contacts/43/record/0-2/5", ""]
