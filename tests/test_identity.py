"""Cross-CRM identity: domain and name normalisation, matching rules, and precision / recall
against the generator's true Salesforce ⇄ HubSpot pairs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from acm_sync import model
from acm_sync.domains import domain_key, registrable_domain
from acm_sync.identity import (
    match_accounts,
    match_contacts,
    name_key,
    score_pairs,
)
from acm_sync.sandbox.generator import generate_org

ORG_ACCOUNTS = 2000
ORG_SEED = 17


PSL_VECTORS = Path(__file__).parent / "data" / "test_psl.txt"


def psl_vectors() -> list[tuple[str | None, str | None]]:
    """`checkPublicSuffix(input, registrable)` lines of the Public Suffix List project's own
    test file (tests/data/test_psl.txt, as shipped inside the publicsuffixlist wheel)."""
    call = re.compile(r"checkPublicSuffix\((null|'[^']*'), (null|'[^']*')\);")
    out = []
    for line in PSL_VECTORS.read_text(encoding="utf-8").splitlines():
        m = call.fullmatch(line.strip())
        if m:
            a, b = (None if g == "null" else g[1:-1] for g in m.groups())
            out.append((a, b))
    return out


def test_every_active_vector_of_the_psl_file_is_read() -> None:
    lines = PSL_VECTORS.read_text(encoding="utf-8").splitlines()
    active = [x for x in lines if x.startswith("checkPublicSuffix(")]  # 4 are commented out
    assert len(psl_vectors()) == len(active) == 78


@pytest.mark.parametrize(("value", "expected"), psl_vectors())
def test_psl_vectors(value: str | None, expected: str | None) -> None:
    out = registrable_domain(pd.Series([value], dtype=model.STRING)).iloc[0]
    assert (None if pd.isna(out) else out) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.Acme.com/en?x=1", "acme.com"),
        ("shop.eu.acme.com:8443/path", "acme.com"),
        ("www2.acme.de", "acme.de"),
        ("uk.acme.co.uk", "acme.co.uk"),
        ("sales@acme.io", "acme.io"),
        ("mailto:sales@acme.io", "acme.io"),
        ("acme.com.", "acme.com"),  # the fully qualified form
        # hosting platforms (the PSL's private section): the customer's subdomain is the company
        ("acme.appspot.com", "acme.appspot.com"),
        ("https://globex.webflow.io/pricing", "globex.webflow.io"),
        ("initech.carrd.co", "initech.carrd.co"),
        ("beta.acme.myshopify.com", "acme.myshopify.com"),
        ("acme.github.io", "acme.github.io"),
        ("hooli.herokuapp.com", "hooli.herokuapp.com"),
        ("umbrella.pages.dev", "umbrella.pages.dev"),
        ("vandelay.netlify.app", "vandelay.netlify.app"),
        # internationalised names compare in punycode
        ("食狮.公司.cn", "xn--85x722f.xn--55qx5d.cn"),
        ("www.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn"),
        ("MÜLLER.de", "xn--mller-kva.de"),
        ("co.uk", None),
        ("appspot.com", None),
        ("N/A", None),
        ("acme", None),
        ("acme..com", None),
        ("acme .com", None),
        ("", None),
        (None, None),
    ],
)
def test_domain_key(value: str | None, expected: str | None) -> None:
    out = domain_key(pd.Series([value], dtype=model.STRING)).iloc[0]
    assert (None if pd.isna(out) else out) == expected


def test_platform_customers_stay_apart() -> None:
    accounts = _accounts(
        [
            {"account_id": "sf:1", "name": "Acme Robotics", "domain": "acme.appspot.com"},
            {"account_id": "sf:2", "name": "Globex Foods", "domain": "globex.appspot.com"},
            {"account_id": "hs:1", "name": "Acme Robotics Inc", "domain": "acme.appspot.com"},
            {"account_id": "hs:2", "name": "Initech", "domain": "www.initech.webflow.io"},
            {"account_id": "sf:3", "name": "Initrode", "domain": "initrode.webflow.io"},
        ]
    )
    identity = match_accounts(accounts)
    assert (identity["match_rule"] == "domain_duplicate").sum() == 0
    pairs = identity.dropna(subset=["sf_account_id", "hs_company_id"])
    assert pairs[["sf_account_id", "hs_company_id"]].values.tolist() == [["sf:1", "hs:1"]]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme Inc.", "ACME, Inc"),
        ("The Acme Corporation", "Acme Corp."),
        ("Rhein Logistik GmbH", "Rhein Logistik"),
        ("Müller & Söhne GmbH & Co. KG", "Muller and Sohne"),
        ("Acme (EMEA)", "Acme Ltd"),
        ("Société Générale S.A.", "SOCIETE GENERALE"),
        ("Acme Holdings plc", "acme"),
        ("Zürich Technik AG", "Zu\u0308rich Technik"),  # decomposed umlaut
    ],
)
def test_name_variants_share_a_key(a: str, b: str) -> None:
    keys = name_key(pd.Series([a, b], dtype=model.STRING))
    assert keys.iloc[0] == keys.iloc[1]


@pytest.mark.parametrize("placeholder", ["N/A", "TBD", "-", "?", "xxx", "Unknown"])
def test_placeholder_names_have_no_key(placeholder: str) -> None:
    assert pd.isna(name_key(pd.Series([placeholder], dtype=model.STRING)).iloc[0])


def test_a_legal_form_alone_is_kept_as_a_poor_name() -> None:
    assert name_key(pd.Series(["Inc."], dtype=model.STRING)).iloc[0] == "inc"


def test_different_companies_keep_different_keys() -> None:
    keys = name_key(pd.Series(["Acme Analytics", "Acme Logistics", "Acme"], dtype=model.STRING))
    assert keys.nunique() == 3


def _accounts(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {
        "website": None,
        "is_deleted": False,
        "created_at": pd.Timestamp("2024-01-01", tz="UTC"),
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["source"] = frame["account_id"].str[:2].map({"sf": "salesforce", "hs": "hubspot"})
    frame["source_id"] = frame["account_id"].str[3:]
    for column in model.ACCOUNTS:
        if column not in frame:
            frame[column] = None
    return model.conform(frame, "accounts")


def test_rules_in_order_domain_then_name_then_alone() -> None:
    accounts = _accounts(
        [
            {"account_id": "sf:1", "name": "Acme Inc", "domain": "acme.com"},
            {"account_id": "hs:1", "name": "ACME", "domain": "eu.acme.com"},
            # name only: no domain on the Salesforce side
            {"account_id": "sf:2", "name": "Borealis Shipping Ltd", "domain": None},
            {"account_id": "hs:2", "name": "Borealis Shipping", "domain": "borealis.no"},
            # same name, two different valid domains: two companies
            {"account_id": "sf:3", "name": "Summit Partners", "domain": "summit.com"},
            {"account_id": "hs:3", "name": "Summit Partners", "domain": "summit.co.uk"},
            # a duplicate inside Salesforce joins its primary's unified account
            {
                "account_id": "sf:4",
                "name": "Acme (EU)",
                "domain": "www.acme.com",
                "created_at": pd.Timestamp("2025-01-01", tz="UTC"),
            },
            {"account_id": "sf:5", "name": "Ghost Co", "domain": "ghost.io", "is_deleted": True},
        ]
    )
    identity = match_accounts(accounts).astype(object)
    identity = identity.where(identity.notna(), None)
    rule = {
        (r.sf_account_id, r.hs_company_id): (r.match_rule, r.account_key)
        for r in identity.itertuples(index=False)
    }
    assert rule[("sf:1", "hs:1")] == ("domain", "sf:1")
    assert rule[("sf:2", "hs:2")] == ("name", "sf:2")
    assert rule[("sf:3", None)] == ("salesforce_only", "sf:3")
    assert rule[(None, "hs:3")] == ("hubspot_only", "hs:3")
    assert rule[("sf:4", None)] == ("domain_duplicate", "sf:1")
    assert all("sf:5" not in k for k in rule)  # deleted records are not matched
    assert len(identity) == 5  # one row per live record, a pair being one row


def test_contacts_match_by_email_case_insensitively() -> None:
    rows = [
        ("sf:c1", "salesforce", "Jane.Doe@Acme.com"),
        ("hs:c1", "hubspot", "jane.doe@acme.com"),
        ("sf:c2", "salesforce", "solo@acme.com"),
        ("hs:c3", "hubspot", None),
    ]
    contacts = pd.DataFrame(rows, columns=["contact_id", "source", "email"])
    contacts["is_deleted"] = False
    contacts["created_at"] = pd.Timestamp("2024-01-01", tz="UTC")
    pairs = match_contacts(contacts)
    assert pairs[["sf_contact_id", "hs_contact_id"]].values.tolist() == [["sf:c1", "hs:c1"]]


@pytest.fixture(scope="module")
def org_tables() -> tuple[object, dict[str, pd.DataFrame]]:
    sys.path.insert(0, str(Path(__file__).parent / "quality"))
    from quality_demo import canonical_tables  # the org through the ingestion's mapping

    org = generate_org(ORG_ACCOUNTS, seed=ORG_SEED)
    return org, canonical_tables(org)


def test_generator_pairs_found_with_precision_and_recall(
    org_tables: tuple[object, dict[str, pd.DataFrame]],
) -> None:
    org, tables = org_tables
    overlap = org.overlap  # type: ignore[attr-defined]
    truth = pd.DataFrame(
        {
            "sf_account_id": "sf:" + overlap["sf_account_id"].astype(str),
            "hs_company_id": "hs:" + overlap["hs_company_id"].astype(str),
            "variant": overlap["variant"],
        }
    )
    identity = match_accounts(tables["accounts"])
    score = score_pairs(identity, truth, "sf_account_id", "hs_company_id")
    print(
        f"\naccounts SF⇄HubSpot: {score.true_positives}/{score.actual} pairs, "
        f"precision {score.precision:.4f}, recall {score.recall:.4f}"
    )
    assert score.precision >= 0.98 and score.recall >= 0.98
    # Every kind of domain variant the generator writes is found.
    found = truth.merge(identity, on=["sf_account_id", "hs_company_id"])
    by_variant = found.groupby("variant").size() / truth.groupby("variant").size()
    assert set(by_variant.index) == {"exact", "www", "case", "subdomain", "path", "scheme"}
    assert (by_variant >= 0.98).all(), by_variant

    contact_truth = pd.DataFrame(
        {
            "sf_contact_id": "sf:" + org.contact_overlap["sf_contact_id"].astype(str),  # type: ignore[attr-defined]
            "hs_contact_id": "hs:" + org.contact_overlap["hs_contact_id"].astype(str),  # type: ignore[attr-defined]
        }
    )
    contacts = score_pairs(
        match_contacts(tables["contacts"]), contact_truth, "sf_contact_id", "hs_contact_id"
    )
    print(
        f"contacts by email: {contacts.true_positives}/{contacts.actual} pairs, "
        f"precision {contacts.precision:.4f}, recall {contacts.recall:.4f}"
    )
    assert contacts.precision >= 0.98 and contacts.recall >= 0.98


def test_in_crm_duplicates_join_their_primary(
    org_tables: tuple[object, dict[str, pd.DataFrame]],
) -> None:
    org, tables = org_tables
    defects = org.defects  # type: ignore[attr-defined]
    dups = defects[defects["kind"] == "duplicate_account"]
    identity = match_accounts(tables["accounts"]).set_index("sf_account_id")
    twin = "sf:" + dups["record_id"]
    original = "sf:" + dups["detail"].str.split().str[-1]
    assert (identity.loc[twin, "match_rule"] == "domain_duplicate").all()
    assert (
        identity.loc[twin, "account_key"].to_numpy()
        == identity.loc[original, "account_key"].to_numpy()
    ).all()
