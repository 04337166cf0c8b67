"""Property tests: random Unicode and random domains through the domain function, identity and
the quality rules. Whatever a rep types, nothing crashes, every record is accounted for, and the
domain function keeps its invariants."""

from __future__ import annotations

import unicodedata

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quality_demo import SUITES

from acm_sync import model
from acm_sync.domains import domain_key, host, problem, registrable_domain, to_ascii
from acm_sync.identity import match_accounts, match_contacts, name_key
from acm_sync.quality import derive
from acm_sync.quality.derive import RunContext
from acm_sync.quality.engine import GxEngine
from acm_sync.quality.suites import load_suites
from acm_sync.quality.validate import validate_entity

# Text of every kind: any code point but surrogates (not encodable, no CRM stores them).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
UNICODE_LABEL = st.text(
    st.characters(whitelist_categories=("Ll", "Lo"), max_codepoint=0x9FFF), min_size=1, max_size=8
)
# ICANN suffixes, private (platform) suffixes, IDN suffixes, and made-up ones
SUFFIX = st.sampled_from(
    ["com", "co.uk", "com.au", "de", "jp", "kyoto.jp", "appspot.com", "webflow.io", "carrd.co",
     "github.io", "myshopify.com", "公司.cn", "中国", "xn--55qx5d.cn", "example", "zz"]
)  # fmt: skip
DOMAIN = st.builds(
    lambda labels, suffix: ".".join([*labels, suffix]),
    st.lists(st.one_of(LABEL, UNICODE_LABEL), min_size=0, max_size=3),
    SUFFIX,
)
WEBSITE = st.one_of(
    TEXT,
    DOMAIN,
    st.builds(lambda s, d, p: f"{s}{d}{p}", st.sampled_from(["", "https://", "http://www."]),
              DOMAIN, st.sampled_from(["", "/", "/en?x=1", ":8443/a"])),
)  # fmt: skip


@given(st.lists(st.one_of(st.none(), WEBSITE), max_size=20))
@settings(max_examples=150, deadline=None)
def test_the_domain_function_never_crashes_and_keeps_its_invariants(values: list) -> None:
    series = pd.Series(values, dtype=object)
    hosts = host(series)
    reg = registrable_domain(series)
    keys = domain_key(series)
    assert len(hosts) == len(reg) == len(keys) == len(values)
    for h, r, k, v in zip(hosts, reg, keys, values, strict=True):
        if pd.notna(r):
            assert pd.notna(h) and (h == r or h.endswith("." + r))  # a suffix of the host
        if pd.notna(k):
            assert pd.notna(r) and k.isascii() and to_ascii(r) == k
            assert domain_key(pd.Series([k], dtype=object)).iloc[0] == k  # idempotent
        reason = problem(v)
        assert reason is None or isinstance(reason, str)
        if pd.notna(k):
            assert reason is None  # a usable domain has nothing wrong with it


@given(st.lists(st.tuples(LABEL, st.sampled_from(["appspot.com", "webflow.io", "carrd.co"]))))
@settings(max_examples=100, deadline=None)
def test_customers_of_a_platform_never_share_a_key(sites: list[tuple[str, str]]) -> None:
    # ("r.appspot.com" is itself a listed suffix: App Engine regions; prefix the customer)
    distinct = {(label, suffix) for label, suffix in sites}
    keys = domain_key(pd.Series([f"www.acct-{label}.{suffix}" for label, suffix in distinct]))
    assert keys.notna().all() and keys.nunique() == len(distinct)


def _accounts(names: list[str | None], sites: list[str | None]) -> pd.DataFrame:
    n = len(names)
    frame = pd.DataFrame(
        {
            "account_id": [f"{'sf' if i % 2 else 'hs'}:{i}" for i in range(n)],
            "source": ["salesforce" if i % 2 else "hubspot" for i in range(n)],
            "source_id": [str(i) for i in range(n)],
            "name": names,
            "website": sites,
            "domain": [None if s is None else str(s) for s in sites],
            "is_deleted": False,
            "created_at": pd.Timestamp("2024-01-01", tz="UTC"),
            "updated_at": pd.Timestamp("2024-01-02", tz="UTC"),
            "currency": "USD",
        }
    )
    for column in model.ACCOUNTS:
        if column not in frame:
            frame[column] = None
    return model.conform(frame, "accounts")


PAIRS = st.lists(st.tuples(st.one_of(st.none(), TEXT), st.one_of(st.none(), WEBSITE)), max_size=25)


@given(PAIRS)
@settings(max_examples=80, deadline=None)
def test_identity_takes_any_names_and_websites(rows: list[tuple[str | None, str | None]]) -> None:
    accounts = _accounts([r[0] for r in rows], [r[1] for r in rows])
    name_key(accounts["name"])
    identity = match_accounts(accounts)
    ids = pd.concat([identity["sf_account_id"], identity["hs_company_id"]]).dropna()
    assert sorted(ids) == sorted(accounts["account_id"])  # every live record, once
    contacts = pd.DataFrame(
        {
            "contact_id": accounts["account_id"].str.replace(":", ":c", regex=False),
            "source": accounts["source"],
            "email": accounts["name"],
            "is_deleted": False,
            "created_at": accounts["created_at"],
        }
    )
    match_contacts(contacts)


@pytest.fixture(scope="module")
def engine() -> GxEngine:
    return GxEngine(load_suites(SUITES, {"accounts": derive.columns("accounts")}))


@given(rows=PAIRS)
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_the_account_rules_take_any_text(
    engine: GxEngine, rows: list[tuple[str | None, str | None]]
) -> None:
    accounts = _accounts([r[0] for r in rows], [r[1] for r in rows])
    context = RunContext(as_of=pd.Timestamp("2025-01-01", tz="UTC"))
    report = validate_entity(engine, "accounts", accounts, context, run_id="prop")
    assert len(report.valid) + len(report.quarantined) == len(accounts)
    assert report.issues["reason"].notna().all()
    # Flagged exactly when the name holds a character of an invisible category (by definition).
    flagged = set(report.issues.loc[report.issues["code"] == "control_characters", "record_id"])
    for record_id, name in zip(accounts["account_id"], accounts["name"], strict=True):
        hidden = isinstance(name, str) and any(
            unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name
        )
        assert (record_id in flagged) == hidden, repr(name)
