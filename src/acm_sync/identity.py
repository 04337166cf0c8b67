"""Cross-CRM identity: which Salesforce account and HubSpot company are the same company, which
contacts are the same person, and which records are duplicates inside one CRM.

Accounts match by registrable domain first, then by normalised name; contacts by e-mail.

Domains. The registrable domain of domain / website comes from `acm_sync.domains.domain_key`:
the Public Suffix List (ICANN and private sections, shipped offline), so `eu.acme.co.uk` is
`acme.co.uk` while `acme.appspot.com` and `globex.appspot.com` stay two companies; IDN names
compare in their punycode form. Two accounts share a domain key only when the PSL says they
share a registrable domain.

Names. `name_key` folds unicode (NFKC then NFKD, accents dropped), lower-cases, reads `&` as
`and`, drops bracketed parts ("Acme (EU)"), punctuation, a leading "the" and legal-form words
(inc, ltd, gmbh, llc, sa, ag, corp, kk, ...), so "The ACME, Inc." and "Acme Inc" agree.

Matching rules, in order (one record takes part in at most one cross-CRM pair):
1. `domain`: live accounts of both CRMs with the same registrable domain. Within each CRM the
   oldest record of the domain is the primary; the primaries pair up, the others join the same
   unified account as `domain_duplicate` (and are flagged by the quality suite).
2. `name`: of what is still unmatched, records whose name key is unique on each side pair up,
   provided they do not carry two different valid domains (different web presences are
   stronger evidence of different companies than an equal name) nor legal forms of different
   countries (`LEGAL_FORM_COUNTRIES`: "Nova SA" and "Nova Inc" are two firms).
3. the rest stand alone: `salesforce_only` / `hubspot_only`.
`account_key` is the primary Salesforce account id of the unified account (else the HubSpot
one), the convention scoring's `identity_from_accounts` uses, so keys stay stable across runs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

import pandas as pd

from acm_sync.domains import domain_key
from acm_sync.model import STRING

LEGAL_FORMS: Final = frozenset(
    {
        "ab",
        "ag",
        "aps",
        "as",
        "asa",
        "bv",
        "bvba",
        "co",
        "company",
        "corp",
        "corporation",
        "cv",
        "gbr",
        "gmbh",
        "inc",
        "incorporated",
        "kft",
        "kg",
        "kk",
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "nv",
        "oy",
        "oyj",
        "plc",
        "pllc",
        "pte",
        "pty",
        "sa",
        "sab",
        "sae",
        "sarl",
        "sas",
        "se",
        "sl",
        "slu",
        "sp",
        "spa",
        "sro",
        "srl",
        "zoo",
        "ug",
        "kabushiki",
        "kaisha",
        "holding",
        "holdings",
        "group",
    }
)
# Where a legal form is used: two names whose forms share no country are two companies ("Apex
# GmbH" and "Apex Inc" are a German and an American firm). Forms used everywhere (co, group,
# holding, se) say nothing.
_US = ("us", "ca")
_COMMON_LAW = ("uk", "ie", "ca", "au", "nz", "hk", "sg", "in", "za", "il", "us")
LEGAL_FORM_COUNTRIES: Final[dict[str, frozenset[str]]] = {
    form: frozenset(countries)
    for forms, countries in (
        (("inc", "incorporated", "corp", "corporation", "llc", "pllc", "lp"), _US),
        (("ltd", "limited", "llp"), _COMMON_LAW),
        (("plc",), ("uk", "ie")),
        (("pty",), ("au", "za")),
        (("pte",), ("sg",)),
        (("gmbh", "ag"), ("de", "at", "ch", "li")),
        (("kg", "ug", "gbr"), ("de", "at")),
        (("sa",), ("fr", "es", "be", "ch", "lu", "pt", "br", "ar", "mx", "pl", "gr", "cl", "co")),
        (("sas", "sarl"), ("fr", "be", "lu", "ch")),
        (("sl", "slu"), ("es",)),
        (("spa", "srl"), ("it", "ro")),
        (("bv", "nv"), ("nl", "be")),
        (("bvba",), ("be",)),
        (("ab",), ("se", "fi")),
        (("as", "asa"), ("no", "dk")),
        (("aps",), ("dk",)),
        (("oy", "oyj"), ("fi",)),
        (("kk", "kabushiki", "kaisha"), ("jp",)),
        (("kft",), ("hu",)),
        (("sro",), ("cz", "sk")),
        (("sab", "cv"), ("mx",)),
    )
    for form in forms
}
# Names typed to get past a required field: no company is called that.
PLACEHOLDER_NAMES: Final = frozenset(
    {"n a", "na", "tbd", "tba", "unknown", "none", "null", "test", "dummy", "x", "xx", "xxx"}
)


def _fold(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_key(values: pd.Series) -> pd.Series:
    """Normalised company name for matching (NA when nothing meaningful is left)."""
    text = values.astype(STRING)
    uniq = pd.unique(text.dropna())
    keys = {v: _name_key_one(v) for v in uniq}
    out = text.map(keys).astype(STRING)
    return out.mask(out == "")


def _name_key_one(value: str) -> str:
    s = _fold(value).lower().replace("&", " and ")
    s = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", s)
    s = re.sub(r"\bsp\.?\s*z\s*o\.?\s*o\b\.?", " ", s)  # Polish "Sp. z o.o."
    s = s.replace(".", "")  # "S.A." → "sa", "B.V." → "bv", "Inc." → "inc"
    s = re.sub(r"[^\w\s]|_", " ", s)
    words = s.split()
    while words and words[0] == "the":
        words = words[1:]
    kept = [w for w in words if w not in LEGAL_FORMS]
    while kept and kept[-1] == "and":  # "GmbH & Co. KG" leaves an "and" behind
        kept.pop()
    # "Co" / "Group" alone is a name, not a legal form.
    key = " ".join(kept if kept else words)
    if key in PLACEHOLDER_NAMES or sum(ch.isalnum() for ch in key) < 2:
        return ""
    return key


def _countries_one(value: str) -> frozenset[str] | None:
    """Countries the name's legal forms are used in (None: no telling form)."""
    s = _fold(value).lower()
    if re.search(r"\bsp\.?\s*z\s*o\.?\s*o\b", s):
        return frozenset({"pl"})
    s = re.sub(r"[^\w\s]|_", " ", s.replace(".", ""))
    found: frozenset[str] | None = None
    for word in s.split():
        countries = LEGAL_FORM_COUNTRIES.get(word)
        if countries is not None:
            found = countries if found is None else found & countries or countries
    return found


def legal_form_conflict(a: pd.Series, b: pd.Series) -> pd.Series:
    """True where both names carry a legal form and the forms share no country."""
    out = []
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        cx = _countries_one(x) if isinstance(x, str) else None
        cy = _countries_one(y) if isinstance(y, str) else None
        out.append(cx is not None and cy is not None and not (cx & cy))
    return pd.Series(out, index=a.index, dtype=bool)


def email_key(values: pd.Series) -> pd.Series:
    e = values.astype(STRING).str.strip().str.lower()
    return e.mask(e == "")


# -- accounts ----------------------------------------------------------------------------------


def account_keys(accounts: pd.DataFrame) -> pd.DataFrame:
    """account_id, source, created_at, domain_key (from domain, else website), name_key, name."""
    domain = accounts["domain"].astype(STRING).fillna(accounts["website"].astype(STRING))
    return pd.DataFrame(
        {
            "account_id": accounts["account_id"].astype(STRING),
            "source": accounts["source"].astype(STRING),
            "created_at": accounts["created_at"],
            "domain_key": domain_key(domain),
            "name_key": name_key(accounts["name"]),
            "name": accounts["name"].astype(STRING),
        },
        index=accounts.index,
    )


def _live(frame: pd.DataFrame) -> pd.DataFrame:
    deleted = frame["is_deleted"].fillna(False).astype(bool)
    return frame.loc[~deleted]


def _primary_first(keys: pd.DataFrame) -> pd.DataFrame:
    """Oldest record first (ties by id): the primary of a group is its first row."""
    return keys.sort_values(["created_at", "account_id"], kind="stable", na_position="last")


def match_accounts(accounts: pd.DataFrame) -> pd.DataFrame:
    """The `account_identity` table for the live accounts of both CRMs (module docstring).

    One row per live account record: account_key, sf_account_id, hs_company_id, match_rule.
    A cross-CRM pair is one row holding both ids; a record sharing its domain with an older one
    of the same CRM is a `domain_duplicate` row under that record's key.
    """
    keys = _primary_first(account_keys(_live(accounts)))
    has_domain = keys["domain_key"].notna()
    duplicate = has_domain & keys.duplicated(["source", "domain_key"])
    primaries = keys[~duplicate]
    sf = primaries[primaries["source"] == "salesforce"]
    hs = primaries[primaries["source"] == "hubspot"]

    # 1. domain: the primaries of a domain pair up across the CRMs.
    by_domain = sf.dropna(subset=["domain_key"]).merge(
        hs.dropna(subset=["domain_key"]), on="domain_key", suffixes=("_sf", "_hs")
    )
    pairs = [by_domain.assign(match_rule="domain")]
    taken = set(by_domain["account_id_sf"]) | set(by_domain["account_id_hs"])

    # 2. name: unique on each side among the unmatched, no conflicting valid domains.
    sf_rest = sf[~sf["account_id"].isin(taken)].dropna(subset=["name_key"])
    hs_rest = hs[~hs["account_id"].isin(taken)].dropna(subset=["name_key"])
    sf_rest = sf_rest[~sf_rest["name_key"].duplicated(keep=False)]
    hs_rest = hs_rest[~hs_rest["name_key"].duplicated(keep=False)]
    by_name = sf_rest.merge(hs_rest, on="name_key", suffixes=("_sf", "_hs"))
    conflict = (
        by_name["domain_key_sf"].notna()
        & by_name["domain_key_hs"].notna()
        & (by_name["domain_key_sf"] != by_name["domain_key_hs"])
    )
    conflict = conflict.fillna(False).astype(bool)
    # Look-alike names of firms in different countries ("Nova SA" / "Nova Inc").
    conflict |= legal_form_conflict(by_name["name_sf"], by_name["name_hs"])
    by_name = by_name[~conflict]
    pairs.append(by_name.assign(match_rule="name"))
    taken |= set(by_name["account_id_sf"]) | set(by_name["account_id_hs"])

    paired = pd.concat(pairs, ignore_index=True)
    rows = [_pair_rows(paired["account_id_sf"], paired["account_id_hs"], paired["match_rule"])]
    key_of = dict(zip(paired["account_id_sf"], paired["account_id_sf"], strict=True))
    key_of |= dict(zip(paired["account_id_hs"], paired["account_id_sf"], strict=True))

    # 3. the rest stand alone.
    for side, group, rule in (("sf", sf, "salesforce_only"), ("hs", hs, "hubspot_only")):
        alone = group[~group["account_id"].isin(taken)]
        key_of |= dict(zip(alone["account_id"], alone["account_id"], strict=True))
        rows.append(_side_rows(alone["account_id"], alone["account_id"], side, rule))

    # Duplicates join the unified account of their domain's primary.
    primary_of = primaries.dropna(subset=["domain_key"]).set_index(["source", "domain_key"])
    dups = keys[duplicate]
    primary_id = primary_of["account_id"].reindex(
        pd.MultiIndex.from_frame(dups[["source", "domain_key"]])
    )
    dup_key = pd.Series(primary_id.to_numpy(), index=dups.index).map(key_of)
    for side, source in (("sf", "salesforce"), ("hs", "hubspot")):
        mine = dups["source"] == source
        rows.append(
            _side_rows(dups.loc[mine, "account_id"], dup_key[mine], side, "domain_duplicate")
        )

    out = pd.concat(rows, ignore_index=True).astype(STRING)
    return out.sort_values(["account_key", "match_rule"], ignore_index=True)


def _pair_rows(sf_ids: pd.Series, hs_ids: pd.Series, rule: pd.Series | str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_key": sf_ids.to_numpy(),
            "sf_account_id": sf_ids.to_numpy(),
            "hs_company_id": hs_ids.to_numpy(),
            "match_rule": rule if isinstance(rule, str) else rule.to_numpy(),
        }
    )


def _side_rows(ids: pd.Series, key: pd.Series, side: str, rule: str) -> pd.DataFrame:
    none = pd.Series(pd.NA, index=ids.index, dtype=STRING)
    return pd.DataFrame(
        {
            "account_key": key.to_numpy(),
            "sf_account_id": (ids if side == "sf" else none).to_numpy(),
            "hs_company_id": (ids if side == "hs" else none).to_numpy(),
            "match_rule": rule,
        }
    )


# -- contacts ----------------------------------------------------------------------------------


def match_contacts(contacts: pd.DataFrame) -> pd.DataFrame:
    """sf_contact_id, hs_contact_id, match_rule ("email") for live contacts with the same
    e-mail in both CRMs. Where a CRM holds the address twice (a duplicate the quality suite
    flags), its oldest live record takes part in the pair."""
    live = _live(contacts).assign(_email=lambda f: email_key(f["email"])).dropna(subset=["_email"])
    live = live.sort_values(["created_at", "contact_id"], kind="stable", na_position="last")
    first = live.drop_duplicates(["source", "_email"])
    sf = first.loc[first["source"] == "salesforce", ["contact_id", "_email"]]
    hs = first.loc[first["source"] == "hubspot", ["contact_id", "_email"]]
    pairs = sf.merge(hs, on="_email", suffixes=("_sf", "_hs"))
    return pd.DataFrame(
        {
            "sf_contact_id": pairs["contact_id_sf"].to_numpy(),
            "hs_contact_id": pairs["contact_id_hs"].to_numpy(),
            "match_rule": "email",
        }
    ).astype(STRING)


# -- evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchScore:
    true_positives: int
    predicted: int
    actual: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.actual if self.actual else 1.0


def score_pairs(predicted: pd.DataFrame, truth: pd.DataFrame, a: str, b: str) -> MatchScore:
    """Precision / recall of predicted (a, b) pairs against true ones (rows with both set)."""
    p = predicted.dropna(subset=[a, b])
    got = set(zip(p[a].astype(str), p[b].astype(str), strict=True))
    want = set(zip(truth[a].astype(str), truth[b].astype(str), strict=True))
    return MatchScore(len(got & want), len(got), len(want))
