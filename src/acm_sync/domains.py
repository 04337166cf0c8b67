"""Web domains: the one place a website / domain / e-mail value becomes a host and a host its
registrable domain. Used by the pulls' mapping (the canonical `domain` column), by identity
(matching accounts across CRMs) and by quality (duplicate accounts, malformed websites).

The registrable domain ("eTLD+1") comes from the Public Suffix List as shipped inside the
`publicsuffixlist` package (no network at run time), *including its private section*: on hosting
platforms where each customer owns a subdomain (`acme.appspot.com`, `globex.webflow.io`,
`shop.myshopify.com`) the subdomain is the company, so two customers never collapse into one.

    host("https://www.Acme.com:443/en?x=1")  → "acme.com"
    registrable_domain("shop.eu.acme.co.uk") → "acme.co.uk"
    registrable_domain("acme.appspot.com")   → "acme.appspot.com"
    domain_key("食狮.公司.cn")  → "xn--85x722f.xn--55qx5d.cn" (what identity compares)

`registrable_domain` answers exactly as the PSL's own test vectors expect (tests/data/
test_psl.txt): a bare public suffix, an empty label or a leading dot has none; an internationalised
name keeps the form it was typed in. `domain_key` is the same domain in its ASCII (punycode)
form, so `müller.de` typed in one CRM and `xn--mller-kva.de` in the other agree.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

import pandas as pd
from publicsuffixlist import PublicSuffixList

from acm_sync.model import STRING

_PREFIX: Final = re.compile(r"^(?:mailto:)?(?:[a-z][a-z0-9+.-]*://)?(?:[^/@]*@)?")
# An ASCII host name: LDH labels of 1-63 characters, a TLD that starts with a letter.
_ASCII_HOST: Final = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$"
)
_PSL: Final = PublicSuffixList()  # the bundled list, ICANN and private sections


def host(values: pd.Series) -> pd.Series:
    """Lower-case host of a domain / URL / e-mail value: no scheme, user, `www.`, port, path.

    A trailing dot (the fully qualified form) is dropped; a leading one is kept (no such host).
    `www.` is dropped only where a domain remains (`www.ck` is itself a registrable domain).
    Blank → NA.
    """
    d = values.astype(STRING).str.strip().str.lower()
    # mailto:, a scheme, user@ in a URL or an e-mail address; then port / path / query
    d = d.str.replace(_PREFIX, "", regex=True)
    d = d.str.replace(r"[/?#:\\].*$", "", regex=True).str.strip()
    d = d.str.replace(r"\.+$", "", regex=True)
    d = d.str.replace(r"^www\d*\.(?=[^.]+\.)", "", regex=True)
    return d.mask(d == "")


def to_ascii(name: str) -> str | None:
    """The ASCII (IDNA / punycode) form of a host name; None when it is no valid host name."""
    if name.isascii():
        ascii_name = name
    else:
        try:
            ascii_name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return ascii_name if _ASCII_HOST.fullmatch(ascii_name) else None


def registrable(name: str) -> str | None:
    """The registrable domain of one host name (already lower case), in the form it was given;
    None for a public suffix itself or anything that is not a valid host name."""
    if not name or to_ascii(name) is None:
        return None
    found = _PSL.privatesuffix(name)
    return found if isinstance(found, str) else None


def registrable_domain(values: pd.Series) -> pd.Series:
    """The registrable domain of each value (via `host`), NA when it has none."""
    h = host(values)
    uniq = pd.unique(h.dropna())
    found = {v: registrable(v) for v in uniq}
    return h.map(found).astype(STRING)


@cache
def _listed(tld: str) -> bool:
    return _PSL.publicsuffix(tld, accept_unknown=False) is not None


def listed_tld(name: str) -> bool:
    """Whether the name ends in a top-level domain the PSL lists (`acme.prismshipping` does not:
    the PSL's default rule would take it as a TLD, for a company website it is a typo)."""
    return _listed(name.rsplit(".", 1)[-1])


def _key_one(name: str) -> str | None:
    found = registrable(name)
    return to_ascii(found) if found is not None and listed_tld(found) else None


def domain_key(values: pd.Series) -> pd.Series:
    """The registrable domain of each value in ASCII form, under a listed TLD: what identity
    and quality compare."""
    h = host(values)
    found = {v: _key_one(v) for v in pd.unique(h.dropna())}
    return h.map(found).astype(STRING)


def problem(value: str | None) -> str | None:
    """What is wrong with a typed website / domain, in words a rep can act on (None: nothing)."""
    found = problems(pd.Series([value], dtype=object)).iloc[0]
    return None if pd.isna(found) else str(found)


def problems(values: pd.Series) -> pd.Series:
    """Per typed website / domain: what is wrong with it (NA where nothing is, or it is empty).
    Only values without a domain key are looked at one by one."""
    hosts = host(values)
    keys = hosts.map({v: _key_one(v) for v in pd.unique(hosts.dropna())})
    out = pd.Series(pd.NA, index=values.index, dtype=STRING)
    bad = (hosts.isna() & values.astype(STRING).str.strip().fillna("").ne("")) | (
        hosts.notna() & keys.isna()
    )
    if bad.any():
        found = {h: _host_problem(h) for h in pd.unique(hosts[bad].fillna(""))}
        out[bad] = hosts[bad].fillna("").map(found)
    return out


def _host_problem(h: str) -> str:
    if not h:
        return "it holds no host name"
    if any(ch.isspace() for ch in h):
        return "a domain cannot contain spaces"
    if "." not in h:
        return "it has no dot, so it names no domain (e.g. acme.com)"
    if h.startswith(".") or ".." in h:
        return "it has an empty part between dots"
    if to_ascii(h) is None:
        return "it has characters a domain cannot hold"
    if not listed_tld(h):
        return f"its ending .{h.rsplit('.', 1)[-1]} is not a top-level domain"
    return "it is a public suffix shared by many sites, not one company's domain"
