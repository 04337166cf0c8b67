"""Identity precision / recall on a hand-built org the generator knows nothing of: companies on
hosting platforms (the customer's subdomain is its site), internationalised domains typed as
Unicode in one CRM and as punycode in the other, and look-alike names of different firms in
different countries. Each row below is one company or one pair of different companies, with the
truth written by hand.

    .venv/bin/pytest tests/test_identity_harder_org.py -s   # prints the figures
"""

from __future__ import annotations

import pandas as pd

from acm_sync import model
from acm_sync.identity import match_accounts, score_pairs

# (Salesforce name, website) | (HubSpot name, domain) | same company?
CASES: list[tuple[tuple[str, str | None], tuple[str, str | None], bool]] = [
    # hosting platforms: the same customer in both CRMs ...
    (
        ("Acme Robotics", "acme-robotics.appspot.com"),
        ("ACME Robotics Inc", "https://acme-robotics.appspot.com/home"),
        True,
    ),
    (("Globex", "globex.webflow.io"), ("Globex Corp", "www.globex.webflow.io"), True),
    (("Initech", "initech.carrd.co"), ("Initech LLC", "initech.carrd.co/"), True),
    (("Hooli", "hooli.herokuapp.com"), ("Hooli", "HOOLI.herokuapp.com"), True),
    (
        ("Vandelay Industries", "vandelay.myshopify.com"),
        ("Vandelay", "shop.vandelay.myshopify.com"),
        True,
    ),
    (
        ("Umbrella Labs", "umbrella-labs.github.io"),
        ("Umbrella Labs", "https://umbrella-labs.github.io/docs"),
        True,
    ),
    (
        ("Massive Dynamic", "massive.netlify.app"),
        ("Massive Dynamic Inc.", "massive.netlify.app"),
        True,
    ),
    (("Soylent Foods", "soylent.pages.dev"), ("Soylent", "soylent.pages.dev"), True),
    # ... and different customers of the same platform
    (("Pied Piper", "piedpiper.appspot.com"), ("Raviga Capital", "raviga.appspot.com"), False),
    (("Bluth Company", "bluth.webflow.io"), ("Sitwell Enterprises", "sitwell.webflow.io"), False),
    (("Dunder Paper", "dunder.carrd.co"), ("Wernham Paper", "wernham.carrd.co"), False),
    (("Prestige Worldwide", "prestige.wixsite.com"), ("Wolfcola", "wolfcola.wixsite.com"), False),
    (
        ("Oceanic Air", "oceanic.azurewebsites.net"),
        ("Ajira Airways", "ajira.azurewebsites.net"),
        False,
    ),
    (
        ("Gringotts Ltd", "gringotts.blogspot.com"),
        ("Ollivanders Ltd", "ollivanders.blogspot.com"),
        False,
    ),
    # internationalised domains: Unicode in Salesforce, punycode in HubSpot
    (
        ("Müller Maschinenbau GmbH", "https://www.müller-maschinenbau.de"),
        ("Mueller Maschinenbau", "xn--mller-maschinenbau-m6b.de"),
        True,
    ),
    (
        ("Zürich Versicherung AG", "zürich-versicherung.ch"),
        ("Zurich Versicherung", "www.xn--zrich-versicherung-m6b.ch"),
        True,
    ),
    (("Café Bonjour SARL", "café-bonjour.fr"), ("Cafe Bonjour", "xn--caf-bonjour-dbb.fr"), True),
    (("Søstrene Design ApS", "søstrene.dk"), ("Sostrene Design", "xn--sstrene-q1a.dk"), True),
    (
        ("Bäckerei Schön", "bäckerei-schön.at"),
        ("Baeckerei Schoen KG", "xn--bckerei-schn-gcb6x.at"),
        True,
    ),
    (("食狮 Trading", "食狮.公司.cn"), ("Shishi Trading", "xn--85x722f.xn--55qx5d.cn"), True),
    (("Ñandú Viajes SL", "ñandú.es"), ("Nandu Viajes", "xn--and-6ma2c.es"), True),
    # ordinary variants (subdomains, two-level suffixes, paths, case)
    (
        ("Stark Logistics", "eu.stark-logistics.co.uk"),
        ("Stark Logistics Ltd", "stark-logistics.co.uk"),
        True,
    ),
    (
        ("Wayne Mining Pty Ltd", "www2.wayne-mining.com.au"),
        ("Wayne Mining", "wayne-mining.com.au"),
        True,
    ),
    (("Tyrell KK", "tyrell.co.jp/en"), ("Tyrell", "TYRELL.CO.JP"), True),
    (("Kyoto Ceramics", "shop.kyoto-ceramics.jp"), ("Kyoto Ceramics", "kyoto-ceramics.jp"), True),
    # no website on one side: the name decides
    (("Cyberdyne Systems Inc", None), ("Cyberdyne Systems", "cyberdyne.io"), True),
    (("Borealis Shipping AS", None), ("Borealis Shipping ASA", "borealis.no"), True),
    # look-alike names, different firms in different countries
    (("Apex GmbH", "apex-maschinen.de"), ("Apex Ltd", "apex.co.uk"), False),
    (("Nova SA", None), ("Nova Inc", "nova-analytics.com"), False),
    (("Orion AB", None), ("Orion GmbH", "orion-technik.de"), False),
    (("Atlas Srl", "atlas-arredamenti.it"), ("Atlas Inc", None), False),
    (("Delta Oy", None), ("Delta Pty Ltd", None), False),
    (("Summit KK", None), ("Summit LLC", "summit-partners.com"), False),
    (("Polaris Sp. z o.o.", None), ("Polaris BV", "polaris.nl"), False),
    (("Meridian SAS", "meridian.fr"), ("Meridian Ltd", "meridian.co.uk"), False),
]


def harder_org() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical accounts of both CRMs, and the true (sf, hs) pairs."""
    rows, truth = [], []
    for i, ((sf_name, sf_site), (hs_name, hs_site), same) in enumerate(CASES):
        sf_id, hs_id = f"sf:A{i:03d}", f"hs:{1000 + i}"
        rows.append({"account_id": sf_id, "name": sf_name, "website": sf_site})
        rows.append({"account_id": hs_id, "name": hs_name, "website": hs_site})
        if same:
            truth.append({"sf_account_id": sf_id, "hs_company_id": hs_id})
    frame = pd.DataFrame(rows)
    frame["source"] = frame["account_id"].str[:2].map({"sf": "salesforce", "hs": "hubspot"})
    frame["source_id"] = frame["account_id"].str[3:]
    frame["domain"] = None  # identity reads the website when the domain is empty
    frame["is_deleted"] = False
    frame["created_at"] = pd.Timestamp("2024-01-01", tz="UTC")
    for column in model.ACCOUNTS:
        if column not in frame:
            frame[column] = None
    return model.conform(frame, "accounts"), pd.DataFrame(truth)


def test_identity_precision_and_recall_on_the_harder_org() -> None:
    accounts, truth = harder_org()
    identity = match_accounts(accounts)
    score = score_pairs(identity, truth, "sf_account_id", "hs_company_id")
    found = identity.dropna(subset=["sf_account_id", "hs_company_id"])
    wrong = found.merge(truth, how="left", indicator=True).query("_merge == 'left_only'")
    print(
        f"\nharder org ({len(CASES)} cases, {len(truth)} true pairs): "
        f"{score.true_positives}/{score.actual} found, {score.predicted} predicted, "
        f"precision {score.precision:.3f}, recall {score.recall:.3f}"
    )
    assert wrong.empty, wrong  # no two different companies merged
    missed = truth.merge(found, how="left", indicator=True).query("_merge == 'left_only'")
    assert missed.empty, missed
    assert score.precision == 1.0 and score.recall == 1.0
    assert (identity["match_rule"] == "domain_duplicate").sum() == 0
