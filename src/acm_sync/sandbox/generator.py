"""The demo-org generator: a deterministic, realistic and deliberately dirty pair of CRMs.

`generate_org(n_accounts, seed=..., now=...)` returns a `DemoOrg`: a Salesforce org (User,
Account, Contact, Opportunity, OpportunityHistory, OpportunityStage) and a HubSpot portal
(companies, contacts, deals, owners, associations, deal property history) that share part of
their customers, plus the ground truth the product is tested against: which records are dirty
and how (`defects`), and which records are the same company / person in both CRMs (`overlap`,
`contact_overlap`).

How the data comes about (a small generative model, not shaped to fit any scoring model):

- Companies get a size (log-normal employees → segment SMB / mid-market / enterprise), an
  industry, a country (→ currency, TLD, legal suffix) and a contract size that scales with
  employees with heavy log-normal noise, so won revenue is Pareto-like.
- Each company runs one or more sales "chains" (product lines): New Business attempts until a
  win, then a Renewal every year (opened 60–100 days before the term ends, signed around the
  end date; some churn), plus Expansions while a customer.
- Each opportunity walks the stage ladder: at every stage it advances with a probability that
  depends on the stage, segment, industry, deal size and type (renewals are easy), or is lost.
  Time in stage is log-normal and slower for enterprises. Deals whose next move lies after
  `now` are open. True per-stage win rates therefore differ from the stages' default
  probabilities, and by segment / industry / size.
- Deals do not close as planned: close dates are set optimistically and pushed, some deals
  are abandoned open (silent deaths, never closed lost), and wins bunch up at quarter ends
  (more so in Q4). `crm_age_days` makes a young org with few closes.
- Every stage change, amount change and close-date push is an OpportunityHistory row (deal
  property history in HubSpot), the first at creation; the current record equals the last row.

Frame conventions (what the sandbox servers can rely on):

- Salesforce frames have exactly the schema's fields, in schema order. Ids / references /
  strings / picklists: object dtype, None for null. Booleans: bool. Numbers: float64 (NaN for
  null). `date` fields: 'YYYY-MM-DD' strings (None). `datetime` fields: datetime64[ns, UTC]
  (whole seconds). Ids are `ids.make_id(object, serial)` with serials 1..N assigned in
  CreatedDate order (so `ORDER BY Id` is creation order, as in a real org); orphan references
  use serials from 900,000,000 up, which never exist. The integration user is serial 1.
- HubSpot frames have `id` (int64), one column per `DEFAULT_PROPERTIES` property, then
  `createdAt`, `updatedAt` (datetime64[ns, UTC]), `archived` (bool), `archivedAt` (NaT unless
  archived). Numbers are float64 (`hs_object_id` int64 = id), datetimes datetime64[ns, UTC],
  bools bool, enumerations / strings object (None for empty). Ids grow with createdAt, with
  gaps; merged-away ids are absent and listed in the survivor's `hs_merged_object_ids`.
- `hubspot_property_history.value` is the stored string form: stage ids, numbers as
  `format`-style text ("12500" / "12500.5"), datetimes as '2024-01-15T10:23:45.000Z'.

Defect kinds (`DEFECT_KINDS`; each record carries at most one kind; rates are per object):

    bad_email, duplicate_email, missing_account_name, negative_amount, absurd_amount,
    unknown_stage, stale_open_deal, probability_out_of_range, closed_flag_mismatch,
    orphan_contact, orphan_opportunity, created_after_modified, future_date, overlong_string,
    control_characters, malformed_domain, duplicate_account, soft_deleted, merged,
    missing_close_date

Documented overlaps and choices:
- `merged` (SF) rows are IsDeleted=True too; they are listed only as `merged`.
- Deleting an account cascades: its contacts / opportunities are IsDeleted=True and listed as
  `soft_deleted` with detail "deleted with account <id>"; OpportunityHistory rows of deleted
  opportunities are IsDeleted=True (not listed: history is not a defect-bearing object).
- `duplicate_email` lists the copy; the original (named in `detail`) carries no kind.
- `overlong_string` is a 110-128 character Contact.Title (the field holds 128): storable in
  Salesforce but far beyond any sensible title (a pasted e-mail signature).
- `missing_account_name` in Salesforce is a placeholder Name ("  ", "-", "N/A", ...) because
  the field is required; in HubSpot the `name` property is absent.
- HubSpot `merged` lists the survivor (the absorbed records no longer exist).
- Values that are odd but valid (combining marks, mixed scripts, apostrophes) are not defects.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from acm_sync.sandbox import _names as names
from acm_sync.sandbox.hubspot import schema as hs_schema
from acm_sync.sandbox.salesforce import schema as sf_schema
from acm_sync.sandbox.salesforce.ids import KEY_PREFIX, POD

DEFAULT_NOW = datetime(2026, 11, 1, tzinfo=UTC)
MIN_ACCOUNTS, MAX_ACCOUNTS = 100, 100_000
DAY = 86_400
YEAR = 365 * DAY
NAT = np.iinfo(np.int64).min  # "no timestamp" in the int64-seconds arrays (= numpy NaT)
ORPHAN_SERIAL_BASE = 900_000_000
ORG_DOMAIN = "acm-demo.example"

DEFECT_KINDS: tuple[str, ...] = (
    "bad_email",
    "duplicate_email",
    "missing_account_name",
    "negative_amount",
    "absurd_amount",
    "unknown_stage",
    "stale_open_deal",
    "probability_out_of_range",
    "closed_flag_mismatch",
    "orphan_contact",
    "orphan_opportunity",
    "created_after_modified",
    "future_date",
    "overlong_string",
    "control_characters",
    "malformed_domain",
    "duplicate_account",
    "soft_deleted",
    "merged",
    "missing_close_date",
)
OVERLAP_VARIANTS: tuple[str, ...] = ("exact", "www", "case", "subdomain", "path", "scheme")
STALE_DAYS = 90  # an open deal whose close date is further in the past than this is stale

# -- the generative model's own parameters -----------------------------------------------------

SEGMENTS = ("SMB", "MidMarket", "Enterprise")
SEGMENT_SHIFT = np.array([0.25, 0.0, -0.3])  # log-odds of advancing a stage
SEGMENT_PACE = np.array([0.6, 1.0, 1.8])  # time-in-stage multiplier
EXTRA_CHAINS = np.array([1.5, 2.8, 4.5])  # Poisson mean of extra product lines
EXPANSION_RATE = np.array([0.4, 0.9, 1.8])  # expansions per customer-year
TYPE_NAMES = np.array(sf_schema.OPPORTUNITY_TYPES, dtype=object)  # New Business/Renewal/Exp.
NEW, RENEWAL, EXPANSION = 0, 1, 2
TYPE_SHIFT = np.array([0.0, 1.0, 0.3])
# Industry effects: fixed by their own seed so every org shares the same "market".
INDUSTRY_SHIFT = dict(
    zip(
        sf_schema.INDUSTRIES,
        np.random.default_rng(20_261_101).normal(0.0, 0.3, len(sf_schema.INDUSTRIES)),
        strict=True,
    )
)

# Defect rates, as a share of the object's (eligible) records.
RATES = {
    ("Account", "duplicate_account"): 0.015,
    ("Account", "merged"): 0.01,
    ("Account", "soft_deleted"): 0.008,
    ("Account", "missing_account_name"): 0.01,
    ("Account", "malformed_domain"): 0.01,
    ("Account", "created_after_modified"): 0.005,
    ("Account", "control_characters"): 0.005,
    ("Contact", "merged"): 0.005,
    ("Contact", "soft_deleted"): 0.006,
    ("Contact", "orphan_contact"): 0.008,
    ("Contact", "bad_email"): 0.015,
    ("Contact", "duplicate_email"): 0.01,
    ("Contact", "created_after_modified"): 0.005,
    ("Contact", "overlong_string"): 0.005,
    ("Contact", "control_characters"): 0.008,
    ("Opportunity", "soft_deleted"): 0.006,
    ("Opportunity", "unknown_stage"): 0.008,
    ("Opportunity", "negative_amount"): 0.008,
    ("Opportunity", "absurd_amount"): 0.005,
    ("Opportunity", "probability_out_of_range"): 0.005,
    ("Opportunity", "closed_flag_mismatch"): 0.005,
    ("Opportunity", "future_date"): 0.005,
    ("Opportunity", "orphan_opportunity"): 0.005,
    ("companies", "missing_account_name"): 0.01,
    ("companies", "malformed_domain"): 0.006,
    ("companies", "soft_deleted"): 0.01,
    ("companies", "merged"): 0.007,
    ("contacts", "bad_email"): 0.01,
    ("contacts", "soft_deleted"): 0.01,
    ("contacts", "merged"): 0.005,
    ("deals", "negative_amount"): 0.008,
    ("deals", "absurd_amount"): 0.005,
    ("deals", "unknown_stage"): 0.008,
    ("deals", "missing_close_date"): 0.02,
    ("deals", "soft_deleted"): 0.01,
}
# Silent deaths: deals reps stop touching instead of closing lost (→ stale_open_deal). On
# independent pipelines 10–22 % of deals never close at all.
ABANDON_SHARE = 0.12
# Seasonality: of the wins that would land within QUARTER_END_DAYS before a quarter end, this
# share is signed in the quarter's last days instead (the end-of-quarter push); Q4 pushes more.
QUARTER_END_DAYS = 45
QUARTER_END_PULL = np.array([0.35, 0.35, 0.35, 0.6])  # by calendar quarter Q1..Q4


@dataclass(frozen=True)
class _Ladder:
    """A sales process: per open stage, the base chance of advancing and the median days."""

    advance: np.ndarray
    median_days: np.ndarray
    skip_prob: float

    @property
    def n_open(self) -> int:
        return int(self.advance.size)


SF_LADDER = _Ladder(
    advance=np.array([0.3, 0.3, 0.55, 0.85, 0.88, 0.88, 0.86, 0.66]),
    median_days=np.array([9.0, 12, 16, 20, 15, 12, 14, 11]),
    skip_prob=0.12,
)
HS_LADDER = _Ladder(
    advance=np.array([0.45, 0.62, 0.82, 0.90, 0.84]),
    median_days=np.array([10.0, 14, 18, 14, 10]),
    skip_prob=0.10,
)


@dataclass(frozen=True)
class DemoOrg:
    """A generated Salesforce org + HubSpot portal and the ground truth about them."""

    now: datetime
    salesforce: dict[str, pd.DataFrame]
    hubspot: dict[str, pd.DataFrame]
    hubspot_associations: pd.DataFrame
    hubspot_property_history: pd.DataFrame
    defects: pd.DataFrame
    overlap: pd.DataFrame
    contact_overlap: pd.DataFrame


# -- small vectorised helpers ------------------------------------------------------------------

_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_SFX = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", np.uint8)


def sf_ids(object_name: str, serials: np.ndarray) -> np.ndarray:
    """`ids.make_id(object_name, s)` for every serial, vectorised (object array of str)."""
    serials = np.asarray(serials, dtype=np.int64)
    out = np.empty((serials.size, 18), dtype=np.uint8)
    out[:, :5] = np.frombuffer((KEY_PREFIX[object_name] + POD).encode(), np.uint8)
    rest = serials.copy()
    for pos in range(14, 4, -1):
        rest, digit = np.divmod(rest, 62)
        out[:, pos] = _B62[digit]
    upper = (out[:, :15] >= ord("A")) & (out[:, :15] <= ord("Z"))
    weights = 1 << np.arange(5)
    for chunk in range(3):
        out[:, 15 + chunk] = _SFX[upper[:, chunk * 5 : chunk * 5 + 5].astype(np.int64) @ weights]
    return out.view("S18").ravel().astype("U18").astype(object)


def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent random stream per part of the org, so parts do not shift each other."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


_NONE = np.array(None, dtype=object)  # a null that np.where broadcasts into object arrays


def _obj(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=object)


def _text(values: np.ndarray) -> np.ndarray:
    """Numbers → object array of their decimal text."""
    return np.asarray(values).astype(str).astype(object)


def _col(values: Any) -> pd.Series:
    """An object-dtype column (pandas would otherwise infer its `str` dtype)."""
    return pd.Series(values, dtype=object, copy=False)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _days(n: np.ndarray | float) -> np.ndarray:
    return (np.asarray(n, dtype=np.float64) * DAY).astype(np.int64)


def _pick(rng: np.random.Generator, eligible: np.ndarray, rate: float, total: int) -> np.ndarray:
    """Sorted indices of about `rate * total` eligible records (at least one when any)."""
    pool = np.flatnonzero(eligible)
    k = min(pool.size, max(1, round(rate * total)))
    if k == 0:
        return pool[:0]
    return np.sort(rng.choice(pool, size=k, replace=False))


def _choice(
    rng: np.random.Generator,
    options: tuple[Any, ...] | list[Any],
    size: int,
    p: list[float] | None = None,
) -> np.ndarray:
    """`size` draws from `options` as an object array (shared string objects)."""
    return _obj(list(options))[rng.choice(len(options), size=size, p=p)]


def _group_first(keys: np.ndarray) -> np.ndarray:
    return np.r_[True, keys[1:] != keys[:-1]] if keys.size else np.zeros(0, bool)


def _group_last(keys: np.ndarray) -> np.ndarray:
    return np.r_[keys[1:] != keys[:-1], True] if keys.size else np.zeros(0, bool)


def _dates(seconds: np.ndarray) -> np.ndarray:
    """int64 seconds (NAT = none) → 'YYYY-MM-DD' strings (None), one object per distinct day."""
    seconds = np.asarray(seconds, dtype=np.int64)
    out = np.full(seconds.size, None, dtype=object)
    valid = seconds != NAT
    if valid.any():
        uniq, inv = np.unique(seconds[valid] // DAY, return_inverse=True)
        text = np.datetime_as_string(uniq.astype("datetime64[D]")).astype(object)
        out[valid] = text[inv]
    return out


def _timestamps(seconds: np.ndarray) -> pd.Series:
    """int64 seconds (NAT = none) → datetime64[ns, UTC] series."""
    arr = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]").astype("datetime64[ns]")
    return pd.Series(arr).dt.tz_localize("UTC")


def _iso_ms(seconds: np.ndarray) -> np.ndarray:
    """int64 seconds → HubSpot's stored datetime text, '2024-01-15T10:23:45.000Z'."""
    moments = np.asarray(seconds, np.int64).astype("datetime64[s]").astype("datetime64[ms]")
    text = np.datetime_as_string(moments, unit="ms")
    return np.char.add(text, "Z").astype(object)


def _money_text(values: np.ndarray) -> np.ndarray:
    """Amounts as HubSpot stores numbers: no trailing zeros, no exponent."""
    out = np.empty(values.size, dtype=object)
    whole = np.isfinite(values) & (values == np.round(values))
    out[whole] = _text(values[whole].astype(np.int64))
    out[~whole] = [f"{v:.2f}".rstrip("0").rstrip(".") for v in values[~whole]]
    return out


def _round_money(x: np.ndarray) -> np.ndarray:
    """Amounts as people type them: to 10 below 10k, to 100 above."""
    return np.maximum(np.where(x < 10_000, np.round(x, -1), np.round(x, -2)), 100.0)


def _group_cumsum(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Cumulative sum within runs of equal (sorted) keys."""
    total = np.cumsum(values)
    first = np.flatnonzero(_group_first(keys))
    run = np.repeat(first, np.diff(np.r_[first, keys.size]))
    return total - total[run] + values[run]


def _group_cummax(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Running maximum within runs of equal (sorted) keys."""
    return pd.Series(values).groupby(keys, sort=False).cummax().to_numpy()


# -- word-list based text -------------------------------------------------------------------


def _slug_table(words: tuple[str, ...] | list[str]) -> np.ndarray:
    return _obj([names.ascii_slug(w) for w in words])


_FIRST = _obj(names.FIRST_NAMES)
_LAST = _obj(names.LAST_NAMES)
_FIRST_SLUG = _slug_table(names.FIRST_NAMES)
_LAST_SLUG = _slug_table(names.LAST_NAMES)
# The same names in decomposed form (combining marks): valid, but a trap for naive matching.
_FIRST_NFD = _obj([unicodedata.normalize("NFD", w) for w in names.FIRST_NAMES])
_LAST_NFD = _obj([unicodedata.normalize("NFD", w) for w in names.LAST_NAMES])
_LATIN_SURNAMES = tuple(w for w in names.LAST_NAMES if w not in names.ASCII_OVERRIDES)
_COINED = tuple(s + e for s in names.COINED_STEMS for e in names.COINED_ENDINGS)

# Company-name patterns per vocabulary: (weight, brand words, industry words or None,
# industry word first?, leading words or None, brand is a "X & Y" pair?)
_Pattern = tuple[
    float, tuple[str, ...], tuple[tuple[str, str], ...] | None, bool, tuple[str, ...] | None, bool
]
_PATTERNS: dict[str, list[_Pattern]] = {
    "en": [
        (0.38, names.EN_PREFIXES, names.EN_CORES, False, None, False),
        (0.17, _LATIN_SURNAMES, names.EN_CORES, False, None, False),
        (0.25, _COINED, names.EN_CORES, False, None, False),
        (0.05, _COINED, None, False, None, False),
        (0.15, _LATIN_SURNAMES, names.EN_CORES, False, None, True),
    ],
    "de": [
        (0.50, names.DE_PREFIXES, names.DE_CORES, False, None, False),
        (0.15, _LATIN_SURNAMES, names.DE_CORES, False, None, False),
        (0.35, names.EN_PREFIXES, names.EN_CORES, False, None, False),
    ],
    "fr": [
        (0.45, names.FR_PREFIXES, names.FR_CORES, False, names.FR_LEADS, False),
        (0.35, _LATIN_SURNAMES, names.FR_CORES, True, None, False),
        (0.20, _COINED, names.FR_CORES, False, None, False),
    ],
    "nordic": [
        (0.6, names.NORDIC_PREFIXES, names.NORDIC_CORES, False, None, False),
        (0.4, names.NORDIC_PREFIXES, names.EN_CORES, False, None, False),
    ],
    "es": [
        (0.7, names.ES_PREFIXES, names.ES_CORES, True, None, False),
        (0.3, _LATIN_SURNAMES, names.ES_CORES, True, None, False),
    ],
    "it": [
        (0.7, names.IT_PREFIXES, names.IT_CORES, True, None, False),
        (0.3, _LATIN_SURNAMES, names.IT_CORES, True, None, False),
    ],
    "jp": [
        (0.7, names.JP_PREFIXES, names.EN_CORES, False, None, False),
        (0.3, _COINED, names.EN_CORES, False, None, False),
    ],
}
_STYLES = names.COUNTRY_STYLES
_COUNTRY = _obj([s[0] for s in _STYLES])
_CURRENCY = _obj([s[2] for s in _STYLES])
_LANG = np.array([s[5] for s in _STYLES])


@dataclass
class _Companies:
    """A pool of distinct companies: names, registrable domains, country, industry."""

    name: np.ndarray  # legal name, e.g. "Rhein Logistik GmbH"
    base: np.ndarray  # without the legal suffix, e.g. "Rhein Logistik"
    suffix: np.ndarray  # " GmbH", "" ...
    domain: np.ndarray  # registrable domain, lower case ASCII, e.g. "rhein-logistik.de"
    country: np.ndarray  # index into COUNTRY_STYLES
    industry: np.ndarray  # Salesforce Industry value or None

    def take(self, idx: np.ndarray) -> _Companies:
        return _Companies(
            *(
                getattr(self, f)[idx]
                for f in ("name", "base", "suffix", "domain", "country", "industry")
            )
        )


def _company_batch(rng: np.random.Generator, m: int) -> tuple[_Companies, np.ndarray]:
    """`m` candidate companies (possibly repeating) and their uniqueness keys."""
    weights = np.array([s[1] for s in _STYLES])
    country = rng.choice(len(_STYLES), size=m, p=weights / weights.sum())
    lang = _LANG[country]
    brand = np.empty(m, object)
    brand_slug = np.empty(m, object)
    core = np.full(m, "", dtype=object)
    core_slug = np.full(m, "", dtype=object)
    industry = np.full(m, None, dtype=object)
    core_first = np.zeros(m, bool)
    lead = np.full(m, "", dtype=object)
    for code, patterns in _PATTERNS.items():
        rows = np.flatnonzero(lang == code)
        if not rows.size:
            continue
        w = np.array([p[0] for p in patterns])
        which = rng.choice(len(patterns), size=rows.size, p=w / w.sum())
        for k, (_, brands, cores, first, leads, pair) in enumerate(patterns):
            r = rows[which == k]
            if not r.size:
                continue
            words, slugs = _obj(brands), _slug_table(brands)
            i = rng.integers(0, len(brands), r.size)
            brand[r], brand_slug[r] = words[i], slugs[i]
            if pair:
                j = rng.integers(0, len(brands), r.size)
                brand[r] = brand[r] + " & " + words[j]
                brand_slug[r] = brand_slug[r] + slugs[j]
            if cores is not None:
                c = rng.integers(0, len(cores), r.size)
                core[r] = _obj([w for w, _ in cores])[c]
                core_slug[r] = _slug_table([w for w, _ in cores])[c]
                industry[r] = _obj([ind for _, ind in cores])[c]
            else:
                industry[r] = _choice(rng, sf_schema.INDUSTRIES, r.size)
            core_first[r] = first
            if leads is not None:
                use = rng.random(r.size) < 0.4
                lead[r[use]] = _choice(rng, leads, int(use.sum())) + " "
    has_core = core != ""
    body = np.where(core_first, core + " " + brand, brand + np.where(has_core, " ", "") + core)
    base = lead + body
    suffixes, tlds = [s[4] for s in _STYLES], [s[3] for s in _STYLES]
    pick = rng.integers(0, 1 << 30, (2, m))
    suffix = _obj(
        [suffixes[c][j % len(suffixes[c])] for c, j in zip(country, pick[0], strict=True)]
    )
    tld = _obj([tlds[c][j % len(tlds[c])] for c, j in zip(country, pick[1], strict=True)])
    sep = np.where(has_core & (rng.random(m) < 0.3), "-", "")
    first_slug = np.where(core_first, core_slug, brand_slug)
    second_slug = np.where(core_first, brand_slug, core_slug)
    domain = first_slug + sep + second_slug + tld
    key = first_slug + second_slug
    companies = _Companies(base + suffix, base, suffix, domain, country, industry)
    return companies, key


def _company_pool(rng: np.random.Generator, n: int) -> _Companies:
    """`n` companies with pairwise distinct names and domains (deterministic by `rng`)."""
    parts: list[_Companies] = []
    keys: list[np.ndarray] = []
    have = 0
    for _ in range(8):
        batch, key = _company_batch(rng, int((n - have) * 1.3) + 64)
        parts.append(batch)
        keys.append(key)
        have = int((~pd.Series(np.concatenate(keys)).duplicated()).sum())
        if have >= n:
            break
    pool = _Companies(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("name", "base", "suffix", "domain", "country", "industry")
        )
    )
    order = np.flatnonzero(~pd.Series(np.concatenate(keys)).duplicated().to_numpy())
    if order.size < n:  # word lists exhausted: number the rest ("Summit Logistics 2")
        extra = np.arange(n - order.size) % order.size
        more = pool.take(order[extra])
        tag = _text(2 + np.arange(extra.size))
        more.base = more.base + " " + tag
        more.name = more.base + more.suffix
        host, _, tld = np.char.partition(more.domain.astype(str), ".").T
        more.domain = host.astype(object) + tag + "." + tld.astype(object)
        pool = pool.take(order)
        return _Companies(
            *(
                np.concatenate([getattr(pool, f), getattr(more, f)])
                for f in ("name", "base", "suffix", "domain", "country", "industry")
            )
        )
    return pool.take(order[:n])


def _people(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """First / last names (a few decomposed), and their ASCII slugs."""
    fi = rng.integers(0, _FIRST.size, n)
    li = rng.integers(0, _LAST.size, n)
    nfd = rng.random(n) < 0.03
    first = np.where(nfd, _FIRST_NFD[fi], _FIRST[fi])
    last = np.where(nfd, _LAST_NFD[li], _LAST[li])
    return first, last, _FIRST_SLUG[fi], _LAST_SLUG[li]


def _email_local(
    rng: np.random.Generator, first_slug: np.ndarray, last_slug: np.ndarray
) -> np.ndarray:
    """E-mail local parts in the usual corporate patterns (first.last, flast, first ...)."""
    pattern = rng.choice(5, size=first_slug.size, p=[0.5, 0.2, 0.12, 0.1, 0.08])
    first = np.where(first_slug == "", "x", first_slug)
    out = np.empty(first_slug.size, dtype=object)
    for code in range(5):
        rows = np.flatnonzero(pattern == code)
        f, last = first[rows], last_slug[rows]
        if code == 0:
            out[rows] = f + "." + last
        elif code == 1:
            out[rows] = f.astype(str).astype("U1").astype(object) + last
        elif code == 2:
            out[rows] = f
        elif code == 3:
            out[rows] = f + "_" + last
        else:
            out[rows] = f + last.astype(str).astype("U1").astype(object)
    return out


def _dedupe_emails(emails: np.ndarray, taken: np.ndarray | None = None) -> np.ndarray:
    """Make e-mails unique (also against `taken`) by numbering repeats: john.doe2@acme.com.

    Generated addresses are lower case, so plain comparison is case-insensitive here.
    """
    emails = emails.copy()
    has = np.flatnonzero(emails != None)  # noqa: E711 (element-wise on object arrays)
    prior = np.zeros(0, dtype=object) if taken is None else _obj(taken)
    for attempt in range(5):
        current = emails[has]
        dup = pd.Series(np.r_[prior, current]).duplicated().to_numpy()[prior.size :]
        if not dup.any():
            break
        rows = has[dup]
        rank = pd.Series(current[dup]).groupby(current[dup]).cumcount().to_numpy()
        local, _, domain = np.char.partition(emails[rows].astype(str), "@").T
        emails[rows] = (
            local.astype(object) + _text(rank + 2 + 10 * attempt) + "@" + domain.astype(object)
        )
    return emails


def _phones(rng: np.random.Generator, country: np.ndarray, share: float) -> np.ndarray:
    """Phone numbers ("+49 891 2345678") for `share` of the rows, else None."""
    prefix = _obj([names.PHONE_PREFIXES[c] + " " for c in _COUNTRY])[country]
    digits = _text(rng.integers(1_000_000_000, 9_999_999_999, country.size)).astype("U10")
    codes = digits.view(np.uint32).reshape(-1, 10)
    spaced = np.full((country.size, 11), ord(" "), dtype=np.uint32)
    spaced[:, :3], spaced[:, 4:] = codes[:, :3], codes[:, 3:]
    out = prefix + spaced.view("U11").ravel().astype(object)
    out[rng.random(country.size) >= share] = None
    return out


# -- sales simulation -----------------------------------------------------------------------


@dataclass
class _Deals:
    """Simulated deals (one row each) and their history rows (sorted by deal, then time)."""

    created: np.ndarray
    code: np.ndarray  # final stage index (ladder.n_open = won, +1 = lost)
    amount: np.ndarray
    close: np.ndarray  # close date as seconds (the close moment, or the planned one)
    last: np.ndarray  # time of the last change
    status: np.ndarray  # 0 open, 1 won, 2 lost, 3 stale (open, abandoned, close date long past)
    h_deal: np.ndarray
    h_t: np.ndarray
    h_code: np.ndarray
    h_amount: np.ndarray
    h_close: np.ndarray

    @staticmethod
    def concat(parts: list[_Deals]) -> _Deals:
        offsets = np.cumsum([0] + [p.created.size for p in parts])
        fields = ("created", "code", "amount", "close", "last", "status")
        merged = {f: np.concatenate([getattr(p, f) for p in parts]) for f in fields}
        merged["h_deal"] = np.concatenate(
            [p.h_deal + o for p, o in zip(parts, offsets, strict=False)]
        )
        for f in ("h_t", "h_code", "h_amount", "h_close"):
            merged[f] = np.concatenate([getattr(p, f) for p in parts])
        return _Deals(**merged)


def _walk_stages(
    rng: np.random.Generator,
    ladder: _Ladder,
    now: int,
    start_t: np.ndarray,
    start_stage: np.ndarray,
    shift: np.ndarray,
    pace: np.ndarray,
    abandon: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Move every deal through the ladder until it closes or its next move is after `now`."""
    n, k = start_t.size, ladder.n_open
    logit = np.log(ladder.advance / (1.0 - ladder.advance))
    cur, t = start_stage.astype(np.int64), start_t.astype(np.int64)
    status = np.zeros(n, np.int8)
    horizon = np.full(n, now, np.int64)
    active = np.ones(n, bool)
    ev_deal, ev_t, ev_code = [np.arange(n)], [t.copy()], [cur.copy()]
    for _ in range(k):
        idx = np.flatnonzero(active)
        if not idx.size:
            break
        s = cur[idx]
        days = ladder.median_days[s] * pace[idx] * rng.lognormal(0.0, 0.55, idx.size)
        advance = rng.random(idx.size) < _sigmoid(logit[s] + shift[idx])
        frac = np.where(advance, 1.0, rng.uniform(0.25, 1.0, idx.size))
        skip = rng.random(idx.size) < ladder.skip_prob
        t_next = t[idx] + np.maximum(_days(days * frac), 3600)
        pending = t_next >= now - 60
        quiet = ~pending & ~advance & abandon[idx]
        moved = ~pending & ~quiet
        nxt = np.where(advance, np.where(s == k - 1, k, np.minimum(s + 1 + skip, k - 1)), k + 1)
        t_next = np.where(moved & (nxt == k), _quarter_end_push(rng, t_next, now), t_next)
        m = idx[moved]
        cur[m], t[m] = nxt[moved], t_next[moved]
        ev_deal.append(m)
        ev_t.append(t_next[moved])
        ev_code.append(nxt[moved])
        done = m[cur[m] >= k]
        status[done] = np.where(cur[done] == k, 1, 2)
        q = idx[quiet]
        status[q], horizon[q] = 3, t_next[quiet]
        active[done] = active[idx[pending]] = active[q] = False
    deal = np.concatenate(ev_deal)
    order = np.argsort(deal, kind="stable")
    return (
        deal[order],
        np.concatenate(ev_t)[order],
        np.concatenate(ev_code)[order],
        status,
        horizon,
    )


def _quarter_end_push(rng: np.random.Generator, t: np.ndarray, now: int) -> np.ndarray:
    """Win moments, some moved to the last days of their calendar quarter (never past `now`):
    buyers and reps both wait for the quarter end, so bookings bunch up there."""
    month = t.astype("datetime64[s]").astype("datetime64[M]")
    month_index = month.astype(np.int64)  # months since 1970-01
    quarter_end = (month_index - month_index % 3 + 3).astype("datetime64[M]")
    end = quarter_end.astype("datetime64[s]").astype(np.int64)
    quarter = (month_index % 12) // 3
    near = (end - t) <= QUARTER_END_DAYS * DAY
    pull = near & (rng.random(t.size) < QUARTER_END_PULL[quarter])
    target = end - _days(rng.uniform(0.5, 6.0, t.size))
    moved = np.where(pull & (target > t) & (target < now - 3600), target, t)
    return moved


def _simulate(
    rng: np.random.Generator,
    ladder: _Ladder,
    now: int,
    start_t: np.ndarray,
    start_stage: np.ndarray,
    shift: np.ndarray,
    pace: np.ndarray,
    amount0: np.ndarray,
) -> _Deals:
    """Simulate deals: stage walk, close-date pushes, amount changes → records + history."""
    n, k = start_t.size, ladder.n_open
    abandon = rng.random(n) < ABANDON_SHARE
    deal, tt, code, status, horizon = _walk_stages(
        rng, ladder, now, start_t, start_stage, shift, pace, abandon
    )
    # Close-date pushes between two changes (or before the horizon for deals still open).
    last = _group_last(deal)
    following = np.where(last, horizon[deal], np.r_[tt[1:], 0])
    push = (code < k) & (following - tt > 7200) & (rng.random(deal.size) < 0.4)
    p_t = tt[push] + ((following[push] - tt[push]) * rng.uniform(0.2, 0.8, push.sum())).astype(
        np.int64
    )
    remaining = np.cumsum(ladder.median_days[::-1])[::-1]
    optimism = rng.uniform(0.45, 0.9, n)

    def assemble(
        extra_deal: np.ndarray, extra_t: np.ndarray, extra_est: np.ndarray, extra_code: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        est = tt + _days(remaining[np.minimum(code, k - 1)] * pace[deal] * optimism[deal])
        est = np.where(code >= k, -1, est)
        d = np.r_[deal, extra_deal]
        t_all = np.r_[tt, extra_t]
        order = np.lexsort((t_all, d))
        d, t_all = d[order], t_all[order]
        c = np.r_[code, extra_code][order]
        is_push = np.r_[np.zeros(deal.size, bool), np.ones(extra_deal.size, bool)][order]
        # Planned close dates are whole days (a date picker); a close is the moment it happened.
        planned = _group_cummax(np.r_[est, extra_est][order], d) // DAY * DAY
        close = np.where(c >= k, t_all, planned)
        return d, t_all, c, is_push, close

    p_est = p_t + _days(rng.uniform(14, 75, p_t.size))
    d, t_all, c, is_push, close = assemble(deal[push], p_t, p_est, code[push])
    # Open deals whose plan slipped into the past get a fresh close date, except the abandoned
    # ones whose date is long past: those are the stale open deals.
    end = _group_last(d)
    final_close = np.empty(n, np.int64)
    final_close[d[end]] = close[end]
    last_t = np.empty(n, np.int64)
    last_t[d[end]] = t_all[end]
    status = np.where((status == 3) & (final_close >= now - STALE_DAYS * DAY), 0, status)
    refresh = (status == 0) & (final_close < now - 45 * DAY) & (last_t < now - 7200)
    r = np.flatnonzero(refresh)
    r_t = np.minimum(np.maximum(last_t[r] + 60, now - _days(rng.uniform(1, 20, r.size))), now - 60)
    r_est = r_t + _days(rng.uniform(20, 90, r.size))
    r_code = np.empty(n, np.int64)
    r_code[d[end]] = c[end]
    d, t_all, c, is_push, close = assemble(
        np.r_[deal[push], r], np.r_[p_t, r_t], np.r_[p_est, r_est], np.r_[code[push], r_code[r]]
    )
    # Amounts: occasional re-scoping while open, a discount at signature.
    first = _group_first(d)
    mult = np.ones(d.size)
    change = ~first & ~is_push & (c < k) & (rng.random(d.size) < 0.18)
    mult[change] = rng.lognormal(0.0, 0.2, change.sum())
    discount = (c == k) & (rng.random(d.size) < 0.35)
    mult[discount] = rng.uniform(0.8, 0.98, discount.sum())
    amount = _round_money(amount0[d] * np.exp(_group_cumsum(np.log(mult), d)))
    # A push that changed nothing (an earlier push already went further) is no history row.
    same = ~first & is_push & (np.r_[0, close[:-1]] == close) & (np.r_[0, amount[:-1]] == amount)
    keep = ~same
    d, t_all, c, amount, close = d[keep], t_all[keep], c[keep], amount[keep], close[keep]
    end = _group_last(d)
    return _Deals(
        created=start_t.astype(np.int64),
        code=c[end],
        amount=amount[end],
        close=close[end],
        last=t_all[end],
        status=status.astype(np.int8),
        h_deal=d,
        h_t=t_all,
        h_code=c,
        h_amount=amount,
        h_close=close,
    )


@dataclass
class _Accounts:
    """Per-company attributes the sales model reads."""

    created: np.ndarray
    employees: np.ndarray
    segment: np.ndarray
    industry: np.ndarray
    acv: np.ndarray  # typical first-year contract value
    z: np.ndarray  # latent fit with the product


def _deal_shift(
    rng: np.random.Generator, acc: _Accounts, a: np.ndarray, kind: int, amount: np.ndarray
) -> np.ndarray:
    """Log-odds shift of a deal advancing: segment, industry, size, type, fit, noise."""
    ind = (
        pd.Series(acc.industry[a], dtype=object)
        .map(INDUSTRY_SHIFT)
        .fillna(0.0)
        .to_numpy(np.float64)
    )
    size = np.clip(np.log(amount / np.maximum(acc.acv[a], 1.0)), -2, 2)
    return (
        SEGMENT_SHIFT[acc.segment[a]]
        + ind
        - 0.35 * size
        + TYPE_SHIFT[kind]
        + 0.35 * acc.z[a]
        + rng.normal(0.0, 0.45, a.size)
    )


# Median days from each open stage to the close (the rest of the ladder).
_REMAINING_DAYS = np.cumsum(SF_LADDER.median_days[::-1])[::-1]

_START_STAGES = {
    NEW: ([0, 1], [0.45, 0.55]),
    RENEWAL: ([6, 7], [0.6, 0.4]),
    EXPANSION: ([2, 3], [0.5, 0.5]),
}


def _sales(
    rng: np.random.Generator, acc: _Accounts, now: int
) -> tuple[_Deals, np.ndarray, np.ndarray]:
    """All Salesforce opportunities: per product line New Business → Renewals, + Expansions."""
    n = acc.created.size
    parts: list[_Deals] = []
    deal_acc: list[np.ndarray] = []
    deal_type: list[np.ndarray] = []

    def run(
        a: np.ndarray,
        kind: int,
        start: np.ndarray,
        amount0: np.ndarray,
        due: np.ndarray | None = None,
    ) -> _Deals:
        stages, p = _START_STAGES[kind]
        stage = rng.choice(stages, size=a.size, p=p)
        shift = _deal_shift(rng, acc, a, kind, amount0)
        if due is None:
            pace = SEGMENT_PACE[acc.segment[a]]
        else:  # the walk's median length is the time left until `due`
            pace = (due - start) / DAY / _REMAINING_DAYS[stage]
        deals = _simulate(rng, SF_LADDER, now, start, stage, shift, pace, amount0)
        parts.append(deals)
        deal_acc.append(a)
        deal_type.append(np.full(a.size, kind))
        return deals

    # Product lines ("chains"); some companies never get an opportunity.
    sells = rng.random(n) < 0.86
    n_chains = np.where(sells, 1 + rng.poisson(EXTRA_CHAINS[acc.segment]), 0)
    chain_acc = np.repeat(np.arange(n), n_chains)
    first = _group_first(chain_acc)
    room = now - acc.created[chain_acc]
    start = np.where(
        first,
        acc.created[chain_acc] + _days(rng.exponential(40, chain_acc.size)),
        acc.created[chain_acc] + (room * rng.random(chain_acc.size)).astype(np.int64),
    )
    n_ch = chain_acc.size
    win_t = np.full(n_ch, NAT, np.int64)
    win_amount = np.zeros(n_ch)
    churn_t = np.full(n_ch, NAT, np.int64)
    # New Business attempts until a win (a lost attempt is retried about half the time).
    pending = np.flatnonzero(start < now - DAY)
    pending_t = start[pending]
    for _attempt in range(4):
        if not pending.size:
            break
        a = chain_acc[pending]
        deals = run(a, NEW, pending_t, _round_money(acc.acv[a] * rng.lognormal(0, 0.3, a.size)))
        won = deals.status == 1
        win_t[pending[won]] = deals.last[won]
        win_amount[pending[won]] = deals.amount[won]
        again = (deals.status == 2) & (rng.random(a.size) < 0.55)
        nxt = deals.last + _days(rng.exponential(120, a.size))
        keep = again & (nxt < now - DAY)
        pending, pending_t = pending[keep], nxt[keep]
    # Renewals at every anniversary of the first win; a lost renewal is churn.
    customer = np.flatnonzero(win_t != NAT)
    tracked = customer[rng.random(customer.size) < 0.88]
    amount = win_amount.copy()
    # A renewal deal opens 60–100 days before the term ends and is signed around the end date,
    # some early, some late: the date renewal tools plan it on (Salesforce CPQ's renewal
    # opportunity has the contract's end date as close date, help article 000381709 and its
    # "Renewal Forecast" how-to), and what crm-dataset-builder (an independent generator) does:
    # renewals booked 365–410 days after the first win. Until #13 they were signed about two
    # months early, a timing no source shows.
    for year in range(1, 4):
        due = win_t[tracked] + year * YEAR
        created = due - _days(rng.uniform(60, 100, tracked.size))
        opened = created < now - DAY
        tracked, created, due = tracked[opened], created[opened], due[opened]
        if not tracked.size:
            break
        a = chain_acc[tracked]
        deals = run(
            a,
            RENEWAL,
            created,
            _round_money(amount[tracked] * rng.lognormal(0.04, 0.08, a.size)),
            due,
        )
        won = deals.status == 1
        amount[tracked[won]] = deals.amount[won]
        lost = (deals.status == 2) | (deals.status == 3)
        churn_t[tracked[lost]] = deals.last[lost]
        tracked = tracked[won]
    # Expansions while a customer.
    end = np.where(churn_t[customer] != NAT, churn_t[customer], now)
    begin = win_t[customer] + 30 * DAY
    years = np.clip((end - begin) / YEAR, 0, None)
    a_cust = chain_acc[customer]
    n_exp = rng.poisson(EXPANSION_RATE[acc.segment[a_cust]] * years)
    rows = np.repeat(np.arange(customer.size), n_exp)
    if rows.size:
        created = begin[rows] + ((end[rows] - DAY - begin[rows]) * rng.random(rows.size)).astype(
            np.int64
        )
        ok = created < now - DAY
        a = a_cust[rows][ok]
        run(
            a,
            EXPANSION,
            created[ok],
            _round_money(acc.acv[a] * 0.35 * rng.lognormal(0, 0.5, a.size)),
        )
    deals = _Deals.concat(parts)
    return deals, np.concatenate(deal_acc), np.concatenate(deal_type)


# -- Salesforce ------------------------------------------------------------------------------


_STRING_TYPES = {"id", "reference", "string", "textarea", "email", "url", "phone", "picklist"}
_NUMBER_TYPES = {"int", "double", "currency", "percent"}


def _sf_frame(obj: str, cols: dict[str, Any], n: int) -> pd.DataFrame:
    """A frame with exactly the schema's fields of `obj`, in order, typed by field type.

    Inputs: strings as object arrays, booleans, numbers, `date` and `datetime` fields as int64
    seconds (NAT for none). Missing fields are empty.
    """
    sobj = sf_schema.SOBJECTS[obj]
    unknown = set(cols) - {f.name for f in sobj.fields}
    if unknown:
        raise KeyError(f"{obj} has no field(s) {sorted(unknown)}")
    data: dict[str, pd.Series] = {}
    for f in sobj.fields:
        v = cols.get(f.name)
        if f.type == "boolean":
            data[f.name] = pd.Series(np.zeros(n, bool) if v is None else np.asarray(v, bool))
        elif f.type in _NUMBER_TYPES:
            data[f.name] = pd.Series(np.full(n, np.nan) if v is None else np.asarray(v, np.float64))
        elif f.type == "date":
            data[f.name] = pd.Series(
                np.full(n, None, object) if v is None else _dates(v), dtype=object
            )
        elif f.type == "datetime":
            data[f.name] = _timestamps(np.full(n, NAT) if v is None else v)
        else:
            data[f.name] = pd.Series(
                np.full(n, None, object) if v is None else _obj(v), dtype=object
            )
        if len(data[f.name]) != n:
            raise ValueError(f"{obj}.{f.name}: {len(data[f.name])} values for {n} rows")
    return pd.DataFrame(data)


def _serials_by_time(created: np.ndarray) -> np.ndarray:
    """1-based serials in creation order (ties by position), as a real org hands out ids."""
    order = np.argsort(created, kind="stable")
    serial = np.empty(created.size, np.int64)
    serial[order] = np.arange(1, created.size + 1)
    return serial


def _modified(rng: np.random.Generator, created: np.ndarray, now: int) -> tuple[np.ndarray, ...]:
    """LastModifiedDate in [created, now] and SystemModstamp >= it (system touches)."""
    lmd = created + ((now - 60 - created) * rng.random(created.size) ** 1.5).astype(np.int64)
    lmd = np.maximum(lmd, created)
    bump = np.where(rng.random(created.size) < 0.15, rng.integers(1, 3600, created.size), 0)
    sms = np.minimum(lmd + bump, np.maximum(now - 1, lmd))
    return lmd, sms


@dataclass
class _Dirt:
    """The defects ledger: appended per kind, turned into the `defects` frame at the end."""

    rows: list[pd.DataFrame]

    def add(
        self, system: str, obj: str, ids: np.ndarray, kind: str, detail: np.ndarray | str
    ) -> None:
        if not len(ids):
            return
        detail_arr = (
            np.full(len(ids), detail, dtype=object) if isinstance(detail, str) else _obj(detail)
        )
        self.rows.append(
            pd.DataFrame(
                {
                    "system": _col([system] * len(ids)),
                    "object": _col([obj] * len(ids)),
                    "record_id": _col(_obj([str(i) for i in ids])),
                    "kind": _col([kind] * len(ids)),
                    "detail": _col(detail_arr),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame(
                {
                    c: pd.Series(dtype=object)
                    for c in ("system", "object", "record_id", "kind", "detail")
                }
            )
        out = pd.concat(self.rows, ignore_index=True)
        return out.sort_values(
            ["system", "object", "kind", "record_id"], kind="stable", ignore_index=True
        )


def _users(
    rng: np.random.Generator, n_accounts: int, golive: int, now: int
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Sales reps (≈ 1 per 40 accounts) + the integration user (serial 1).

    Returns the User columns, the reps' positions and their weight as account owners.
    """
    reps = max(5, n_accounts // 40)
    n = reps + 1
    first, last, fs, ls = _people(rng, n)
    first[0], last[0], fs[0], ls[0] = "Integration", "User", "integration", "user"
    local = _dedupe_emails(np.where(fs == "", "x", fs) + "." + ls + "@" + ORG_DOMAIN)
    title = _choice(rng, names.USER_TITLES, n)
    title[0] = "Integration User"
    active = rng.random(n) >= 0.1
    active[0] = True
    created = golive - 30 * DAY + (np.r_[0, rng.random(reps)] * (now - golive)).astype(np.int64)
    created = np.minimum(created, now - 30 * DAY)
    lmd, sms = _modified(rng, created, now)
    ids = sf_ids("User", np.arange(1, n + 1))
    cols = {
        "Id": ids,
        "Username": local,
        "LastName": last,
        "FirstName": first,
        "Name": first + " " + last,
        "Email": local,
        "Title": title,
        "IsActive": active,
        "CreatedDate": created,
        "LastModifiedDate": lmd,
        "SystemModstamp": sms,
    }
    weight = rng.lognormal(0, 0.5, reps) * np.where(active[1:], 1.0, 0.3)
    return cols, np.arange(1, n), weight / weight.sum()


def _website_forms(rng: np.random.Generator, domain: np.ndarray) -> np.ndarray:
    """How people type a company website into Salesforce (all normalise to `domain`)."""
    form = rng.choice(6, size=domain.size, p=[0.35, 0.1, 0.2, 0.15, 0.12, 0.08])
    out = "https://www." + domain
    out = np.where(form == 1, "http://www." + domain, out)
    out = np.where(form == 2, "www." + domain, out)
    out = np.where(form == 3, domain, out)
    out = np.where(form == 4, "https://" + domain, out)
    return np.where(form == 5, "https://www." + domain + "/", out)


def _name_variant(name: str, suffix: str, k: int) -> str:
    """A slightly different spelling of a company name ("Acme Inc." vs "Acme, Inc")."""
    base = name[: len(name) - len(suffix)] if suffix and name.endswith(suffix) else name
    s = suffix.strip()
    if k == 0 and s:
        return base  # legal suffix dropped
    if k == 1 and s.endswith("."):
        return f"{base}, {s.rstrip('.')}"
    if k == 1 and s:
        return f"{base} {s}."
    if k == 2:
        return name.upper()
    if k == 3:
        return f"The {name}"
    if k == 4 and " & " in name:
        return name.replace(" & ", " and ")
    return (
        f"{base} ({names.SUBDOMAINS[len(name) % len(names.SUBDOMAINS)].upper()})"
        if k == 5
        else base.lower()
    )


def _domain_variant(
    rng: np.random.Generator, domain: np.ndarray, variant: np.ndarray
) -> np.ndarray:
    """The same registrable domain written another way (variant codes as OVERLAP_VARIANTS)."""
    out = domain.copy()
    www = variant == 1
    out[www] = "www." + domain[www]
    case = np.flatnonzero(variant == 2)
    out[case] = _obj(
        [
            d.upper() if i % 2 else ".".join(p.capitalize() for p in d.split("."))
            for i, d in zip(case, domain[case], strict=True)
        ]
    )
    sub = variant == 3
    out[sub] = _choice(rng, names.SUBDOMAINS, int(sub.sum())) + "." + domain[sub]
    path = variant == 4
    out[path] = domain[path] + _choice(rng, names.PATHS, int(path.sum()))
    scheme = variant == 5
    out[scheme] = (
        np.where(rng.random(int(scheme.sum())) < 0.7, "https://", "http://") + domain[scheme]
    )
    return out


_BAD_EMAIL_FORMS = (
    lambda local, dom: f"{local}@",
    lambda local, dom: f"{local}@@{dom}",
    lambda local, dom: f"{local[:1]} {local[1:] or 'x'}@{dom}",
    lambda local, dom: f"{local}@{dom.split('.')[0]}",
    lambda local, dom: f"{local}.{dom}",
    lambda local, dom: f"{local}@{dom.replace('.', ',', 1)}",
    lambda local, dom: f"{local}@{dom.replace('.', '..', 1)}",
)
_MALFORMED_WEBSITES = (
    lambda d: "htp:/" + d.split(".")[0],
    lambda d: d.split(".")[0],
    lambda d: d.replace(".", "..", 1),
    lambda d: "http//" + d,
    lambda d: "www." + d.split(".")[0],
    lambda d: d.replace(".", " .", 1),
    lambda d: "https://" + d.split(".")[0] + ".c",
)
_CONTROL_CHARS = ("\x07", "\u200b", "\t", "\r\n", "\ufeff", "\x1b", "\u00ad")
_PLACEHOLDER_NAMES = ("  ", "-", "N/A", "n/a", ".", "?", "TBD", "Unknown", "xxx", "\u00a0")
_UNKNOWN_STAGES = {
    1: ("Closed - Won (old)", "Won - Legacy", "Signed"),
    2: ("Closed - Lost (old)", "Dead", "Disqualified"),
    0: ("Verbal", "Stalled", "On Hold", "Discovery"),
}
_SIGNATURE = (
    " | {company} | Tel. +49 89 1234 5678 | Mobile +49 170 1234567 | This e-mail and "
    "any attachments are confidential"
)


def _with_control(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """Embed a control / invisible character in each value."""
    chars = _choice(rng, _CONTROL_CHARS, values.size)
    cut = [max(1, len(v) // 2) for v in values]
    # at the very end of a one-character value, whitespace (tab, CR LF) is what any pull trims
    # away — the record would be listed dirty but arrive clean: use an invisible one instead
    inserted = [
        "\u200b" if c >= len(v) and ch.isspace() else ch
        for v, ch, c in zip(values, chars, cut, strict=True)
    ]
    return _obj([v[:c] + ch + v[c:] for v, ch, c in zip(values, inserted, cut, strict=True)])


@dataclass
class _SfContext:
    """What the Salesforce builders share: time, users, the base companies and their sales."""

    now: int
    golive: int
    users: dict[str, Any]
    rep_pos: np.ndarray  # positions of the sales reps in `users`
    rep_weight: np.ndarray  # their share of new records
    comp: _Companies  # the base companies (one per base account)
    acc: _Accounts
    imported: np.ndarray  # base accounts loaded by the go-live import
    owner: np.ndarray  # base accounts' OwnerId
    deals: _Deals
    deal_acc: np.ndarray  # base account of each opportunity
    deal_type: np.ndarray

    @property
    def integration(self) -> str:
        return str(self.users["Id"][0])

    def reps(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` User ids drawn by rep weight (a few reps own most records)."""
        return self.users["Id"][rng.choice(self.rep_pos, size=size, p=self.rep_weight)]


@dataclass
class _AccountRows:
    """The Account rows: base companies, then live duplicates, then merged-away copies."""

    cols: dict[str, Any]
    src: np.ndarray  # base company each row describes
    is_dup: np.ndarray
    twin_of: np.ndarray  # base company of each duplicate / merged row
    country: np.ndarray


def _salesforce(
    seed: int, n: int, now: int, pool: _Companies, n_base: int, dirt: _Dirt, golive: int
) -> dict[str, Any]:
    """The Salesforce org: frames plus what the HubSpot side needs to share customers."""
    r_acc, r_sales = _rng(seed, "accounts"), _rng(seed, "sales")
    users, rep_pos, rep_weight = _users(_rng(seed, "users"), n, golive, now)
    comp = pool.take(np.arange(n_base))
    employees = np.clip(np.round(r_acc.lognormal(5.0, 1.7, n_base)), 1, 400_000)
    imported = r_acc.random(n_base) < 0.35
    created = np.where(
        imported,
        golive + r_acc.integers(0, 2 * DAY, n_base),
        golive + 3 * DAY + ((now - golive - 10 * DAY) * r_acc.random(n_base)).astype(np.int64),
    )
    # Contract size grows with company size, with heavy noise: Pareto-like won revenue.
    acv = _round_money(5000 * (employees / 30) ** 0.55 * r_acc.lognormal(0, 0.95, n_base))
    acc = _Accounts(
        created=created,
        employees=employees,
        segment=np.digitize(employees, [200, 2000]),
        industry=comp.industry,
        acv=acv,
        z=r_acc.normal(0, 1, n_base),
    )
    owner = users["Id"][r_acc.choice(rep_pos, size=n_base, p=rep_weight)]
    deals, deal_acc, deal_type = _sales(r_sales, acc, now)
    ctx = _SfContext(
        now,
        golive,
        users,
        rep_pos,
        rep_weight,
        comp,
        acc,
        imported,
        owner,
        deals,
        deal_acc,
        deal_type,
    )
    ever_won, acc_lad, opp_lad = _activity(r_acc, ctx)
    ctx.deal_type = np.where(
        (deal_type == NEW) & (deals.created > _first_win(ctx)[deal_acc]), EXPANSION, deal_type
    )  # New Business after a win is an expansion
    rows = _account_rows(r_acc, ctx, n, ever_won, acc_lad)
    contact, c_acc = _contacts(_rng(seed, "contacts"), ctx, rows)
    opportunity, hist = _opportunities(r_sales, ctx, rows, opp_lad)
    account = rows.cols
    sf = {"account": account, "contact": contact, "opportunity": opportunity, "history": hist}
    meta = {
        "n_base": n_base,
        "src": rows.src,
        "is_dup": rows.is_dup,
        "c_acc": c_acc,
        "o_acc": deal_acc,
        "h_deal": deals.h_deal,
        "h_last": np.flatnonzero(_group_last(deals.h_deal)),
        "status": deals.status,
        "employees": employees,
        "ever_won": ever_won,
        "users": users,
        "domain": comp.domain,
        "country": comp.country,
        "created": created,
        "owner": owner,
        "golive": golive,
    }
    _salesforce_dirt(_rng(seed, "sf-defects"), sf, meta, now, dirt)
    frames = {
        "User": _sf_frame("User", users, users["Id"].size),
        "Account": _sf_frame("Account", account, account["Id"].size),
        "Contact": _sf_frame("Contact", _with_contact_names(contact), contact["Id"].size),
        "Opportunity": _sf_frame("Opportunity", opportunity, opportunity["Id"].size),
        "OpportunityHistory": _sf_frame(
            "OpportunityHistory", _with_expected(hist), hist["Id"].size
        ),
        "OpportunityStage": _stage_frame(golive, ctx.integration),
    }
    return {"frames": frames, **sf, **meta}


def _first_win(ctx: _SfContext) -> np.ndarray:
    """Time of each base account's first won deal (int64 max when none)."""
    won = ctx.deals.status == 1
    first = np.full(ctx.acc.created.size, np.iinfo(np.int64).max)
    np.minimum.at(first, ctx.deal_acc[won], ctx.deals.last[won])
    return first


def _activity(rng: np.random.Generator, ctx: _SfContext) -> tuple[np.ndarray, ...]:
    """Who ever bought, and LastActivityDate (as seconds) of base accounts and opportunities.

    Accounts with open deals or recent wins are touched recently; dormant ones went quiet
    after their last deal; some prospects were never touched at all.
    """
    deals, now, created = ctx.deals, ctx.now, ctx.acc.created
    n_base, n_opp = created.size, deals.status.size
    won = deals.status == 1
    last_win = np.full(n_base, NAT)
    np.maximum.at(last_win, ctx.deal_acc[won], deals.last[won])
    last_event = np.full(n_base, NAT)
    np.maximum.at(last_event, ctx.deal_acc, deals.last)
    has_open = np.zeros(n_base, bool)
    has_open[ctx.deal_acc[deals.status == 0]] = True
    ever_won = last_win != NAT
    active_customer = ever_won & (last_win > now - 450 * DAY)

    closed = (deals.status == 1) | (deals.status == 2)
    opp_touch = np.where(
        closed,
        deals.last - _days(rng.exponential(5, n_opp)),
        now - _days(rng.exponential(7, n_opp)),
    )
    opp_touch = np.where(deals.status == 3, deals.last, np.maximum(opp_touch, deals.created))
    opp_lad = np.where(rng.random(n_opp) < 0.2, NAT, opp_touch)

    at_risk = rng.random(n_base) < 0.15
    customer_touch = np.where(
        at_risk, now - _days(rng.uniform(60, 200, n_base)), now - _days(rng.exponential(14, n_base))
    )
    gone_quiet = np.minimum(last_event + _days(rng.exponential(20, n_base)), now - 60)
    never = np.where(
        rng.random(n_base) < 0.45,
        NAT,
        created + ((now - created) * 0.5 * rng.random(n_base)).astype(np.int64),
    )
    touch = np.where(
        has_open,
        now - _days(rng.exponential(6, n_base)),
        np.where(active_customer, customer_touch, np.where(last_event != NAT, gone_quiet, never)),
    )
    touch = np.where(touch == NAT, NAT, np.maximum(touch, created))
    has = opp_lad != NAT
    np.maximum.at(touch, ctx.deal_acc[has], opp_lad[has])  # deal activity rolls up
    return ever_won, touch, opp_lad


def _account_rows(
    rng: np.random.Generator, ctx: _SfContext, n: int, ever_won: np.ndarray, base_lad: np.ndarray
) -> _AccountRows:
    """Account columns: the base companies + live duplicates + merged-away copies."""
    now, comp = ctx.now, ctx.comp
    n_base = comp.name.size
    n_dup = max(1, round(RATES[("Account", "duplicate_account")] * n))
    n_merged = max(1, n - n_base - n_dup)
    no_site = rng.random(n_base) < 0.05
    # Twins copy companies that have a website, so the pair stays recognisable by domain.
    twin_of = rng.choice(np.flatnonzero(~no_site), size=n_dup + n_merged, replace=False)
    created = ctx.acc.created
    twin_created = created[twin_of] + (
        (now - DAY - created[twin_of]) * rng.uniform(0.05, 0.9, twin_of.size)
    ).astype(np.int64)
    all_created = np.r_[created, twin_created]
    n_all = all_created.size
    acc_id = sf_ids("Account", _serials_by_time(all_created))
    is_dup = np.r_[np.zeros(n_base, bool), np.ones(n_dup, bool), np.zeros(n_merged, bool)]
    is_merged = np.r_[np.zeros(n_base + n_dup, bool), np.ones(n_merged, bool)]
    src = np.r_[np.arange(n_base), twin_of]
    name = comp.name[src].copy()
    variant = rng.integers(0, 7, twin_of.size)
    name[n_base:] = _obj(
        [
            _name_variant(nm, sx, int(v))
            for nm, sx, v in zip(comp.name[twin_of], comp.suffix[twin_of], variant, strict=True)
        ]
    )
    website = _website_forms(rng, comp.domain[src])
    website[np.flatnonzero(no_site)] = None
    website[n_base:] = _domain_variant(
        rng, comp.domain[twin_of], rng.choice([1, 3, 4, 5], size=twin_of.size)
    )
    country = comp.country[src]
    owner = np.r_[ctx.owner, ctx.reps(rng, twin_of.size)]
    lmd, sms = _modified(rng, all_created, now)
    master = np.full(n_all, None, object)
    master[is_merged] = acc_id[twin_of[n_dup:]]
    merge_t = lmd[is_merged] + ((now - 60 - lmd[is_merged]) * rng.random(n_merged)).astype(np.int64)
    lmd[is_merged] = sms[is_merged] = merge_t
    lad = np.full(n_all, NAT)
    lad[:n_base] = base_lad
    # Type is maintained by hand: buyers are customers (even long-gone ones), the rest mostly
    # prospects with a few partners.
    kind = np.where(
        ever_won,
        np.where(rng.random(n_base) < 0.85, "Customer - Direct", "Customer - Channel"),
        _choice(rng, sf_schema.ACCOUNT_TYPES, n_base, p=[0.82, 0.0, 0.0, 0.08, 0.03, 0.04, 0.03]),
    )
    kind = np.r_[kind, kind[twin_of]].astype(object)
    kind[rng.random(n_all) < 0.04] = None
    industry = comp.industry[src].copy()
    industry[rng.random(n_all) < 0.07] = None
    employees = ctx.acc.employees[src]
    headcount = employees.astype(np.float64)
    headcount[rng.random(n_all) < 0.06] = np.nan
    revenue = np.round(employees * rng.lognormal(np.log(180_000), 0.5, n_all), -3)
    revenue[rng.random(n_all) < 0.12] = np.nan
    description = np.full(n_all, None, object)
    has_desc = rng.random(n_all) < 0.2
    description[has_desc] = _choice(rng, names.ACCOUNT_DESCRIPTIONS, int(has_desc.sum()))
    parent = np.full(n_all, None, object)
    child = np.flatnonzero((rng.random(n_all) < 0.02) & ~is_merged)
    parent[child] = acc_id[rng.integers(0, n_base, child.size)]
    parent[child[parent[child] == acc_id[child]]] = None
    cols = {
        "Id": acc_id,
        "IsDeleted": is_merged.copy(),
        "MasterRecordId": master,
        "Name": name,
        "Type": kind,
        "ParentId": parent,
        "Website": website,
        "Phone": _phones(rng, country, 0.8),
        "Industry": industry,
        "NumberOfEmployees": headcount,
        "AnnualRevenue": revenue,
        "BillingCountry": _COUNTRY[country],
        "Description": description,
        "CurrencyIsoCode": _CURRENCY[country],
        "OwnerId": owner,
        "CreatedDate": all_created,
        "CreatedById": np.where(
            np.r_[ctx.imported, np.zeros(twin_of.size, bool)], ctx.integration, owner
        ),
        "LastModifiedDate": lmd,
        "LastModifiedById": np.where(rng.random(n_all) < 0.25, ctx.integration, owner),
        "SystemModstamp": sms,
        "LastActivityDate": lad,
    }
    return _AccountRows(cols, src, is_dup, twin_of, country)


def _contacts(
    rng: np.random.Generator, ctx: _SfContext, rows: _AccountRows
) -> tuple[dict[str, Any], np.ndarray]:
    """Contacts: 1 + Poisson(λ ~ size) per base company, 0-2 per duplicate, none when merged."""
    now, acc = ctx.now, rows.cols
    n_base = ctx.comp.name.size
    n_dup = int(rows.is_dup.sum())
    n_merged = acc["Id"].size - n_base - n_dup
    lam = np.maximum(ctx.acc.employees, 1) ** 0.3
    lam = lam * 9.0 / lam.mean()
    per = np.r_[1 + rng.poisson(lam), rng.integers(0, 3, n_dup), np.zeros(n_merged, int)]
    c_acc = np.repeat(np.arange(acc["Id"].size), per)
    m = c_acc.size
    first, last, fslug, lslug = _people(rng, m)
    first[rng.random(m) < 0.03] = None
    domain = ctx.comp.domain[rows.src][c_acc]
    personal = rng.random(m) < 0.06
    domain[personal] = _choice(rng, names.PERSONAL_EMAIL_DOMAINS, int(personal.sum()))
    email = _email_local(rng, fslug, lslug) + "@" + domain
    email[rng.random(m) < 0.04] = None
    email = _dedupe_emails(email)
    role = rng.random(m)
    title = np.where(
        role < 0.25,
        _choice(rng, names.DECISION_MAKER_TITLES, m),
        _choice(rng, names.OTHER_TITLES, m),
    )
    title[role > 0.85] = None
    account_created = acc["CreatedDate"][c_acc]
    imported = ctx.imported[rows.src[c_acc]] & (c_acc < n_base) & (rng.random(m) < 0.5)
    created = np.where(
        imported,
        account_created + rng.integers(60, 3600, m),
        account_created
        + np.minimum(
            _days(rng.exponential(150, m)),
            ((now - 120 - account_created) * rng.random(m)).astype(np.int64),
        ),
    )
    created = np.minimum(created, now - 120)
    lmd, sms = _modified(rng, created, now)
    account_lad = acc["LastActivityDate"][c_acc]
    lad = np.where(
        (account_lad != NAT) & (rng.random(m) < 0.65),
        np.maximum(account_lad - _days(rng.exponential(25, m)), created),
        NAT,
    )
    owner = acc["OwnerId"][c_acc]
    bounced = np.full(m, None, object)
    bounced[(email != None) & (rng.random(m) < 0.01)] = (  # noqa: E711
        "550 5.1.1 <recipient>: Recipient address rejected"
    )
    contact = {
        "Id": sf_ids("Contact", _serials_by_time(created)),
        "IsDeleted": np.zeros(m, bool),
        "MasterRecordId": np.full(m, None, object),
        "AccountId": acc["Id"][c_acc],
        "LastName": last,
        "FirstName": first,
        "Title": title,
        "Email": email,
        "Phone": _phones(rng, rows.country[c_acc], 0.65),
        "LeadSource": np.where(rng.random(m) < 0.6, _choice(rng, sf_schema.LEAD_SOURCES, m), _NONE),
        "HasOptedOutOfEmail": rng.random(m) < 0.04,
        "EmailBouncedReason": bounced,
        "CurrencyIsoCode": acc["CurrencyIsoCode"][c_acc],
        "OwnerId": owner,
        "CreatedDate": created,
        "CreatedById": np.where(imported, ctx.integration, owner),
        "LastModifiedDate": lmd,
        "LastModifiedById": np.where(rng.random(m) < 0.2, ctx.integration, owner),
        "SystemModstamp": sms,
        "LastActivityDate": lad,
    }
    return contact, c_acc


_STAGE_NAME = _obj([s[0] for s in sf_schema.OPPORTUNITY_STAGES])
_STAGE_PROB = np.array([s[1] for s in sf_schema.OPPORTUNITY_STAGES], np.float64)
_STAGE_FC = _obj([s[2] for s in sf_schema.OPPORTUNITY_STAGES])
_STAGE_FC_LABEL = _obj(
    [sf_schema.FORECAST_CATEGORY_LABELS[s[2]] for s in sf_schema.OPPORTUNITY_STAGES]
)
_STAGE_CLOSED = np.array([s[3] for s in sf_schema.OPPORTUNITY_STAGES])
_STAGE_WON = np.array([s[4] for s in sf_schema.OPPORTUNITY_STAGES])


def _opportunities(
    rng: np.random.Generator, ctx: _SfContext, rows: _AccountRows, lad: np.ndarray
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Opportunity and OpportunityHistory columns from the simulated deals."""
    now, deals, kind = ctx.now, ctx.deals, ctx.deal_type
    o_acc = ctx.deal_acc
    n_opp = o_acc.size
    opp_id = sf_ids("Opportunity", _serials_by_time(deals.created))
    owner = np.where(rng.random(n_opp) < 0.9, ctx.owner[o_acc], ctx.reps(rng, n_opp))
    year = ((deals.created + 90 * DAY) // DAY).astype("datetime64[D]").astype(
        "datetime64[Y]"
    ).astype(np.int64) + 1970
    product = _choice(rng, names.PRODUCTS, n_opp)
    seats = _text(rng.integers(5, 200, n_opp)) + " Additional Seats"
    label = np.where(
        kind == RENEWAL,
        "Renewal " + _text(year),
        np.where(
            kind == EXPANSION,
            np.where(rng.random(n_opp) < 0.5, seats, product + " Upsell"),
            product,
        ),
    )
    name = (ctx.comp.base[o_acc] + " - " + label).astype(str).astype("U120").astype(object)
    created_by = np.where((kind == RENEWAL) & (rng.random(n_opp) < 0.3), ctx.integration, owner)
    later_edit = rng.random(n_opp) < 0.2  # e.g. a description edit after the last change
    lmd = deals.last + np.where(
        later_edit, ((now - 60 - deals.last) * rng.random(n_opp) * 0.3).astype(np.int64), 0
    )
    sms = np.maximum(
        np.minimum(
            lmd + np.where(rng.random(n_opp) < 0.1, rng.integers(1, 600, n_opp), 0), now - 1
        ),
        lmd,
    )
    code = deals.code
    description = np.full(n_opp, None, object)
    has_desc = rng.random(n_opp) < 0.1
    description[has_desc] = "Champion: " + _choice(
        rng, names.DECISION_MAKER_TITLES, int(has_desc.sum())
    )
    opportunity = {
        "Id": opp_id,
        "IsDeleted": np.zeros(n_opp, bool),
        "AccountId": rows.cols["Id"][o_acc],
        "Name": name,
        "Description": description,
        "StageName": _STAGE_NAME[code],
        "Amount": deals.amount.copy(),
        "Probability": _STAGE_PROB[code],
        "ExpectedRevenue": None,
        "CloseDate": deals.close.copy(),
        "Type": TYPE_NAMES[kind],
        "LeadSource": np.where(kind == NEW, _choice(rng, sf_schema.LEAD_SOURCES, n_opp), _NONE),
        "IsClosed": _STAGE_CLOSED[code],
        "IsWon": _STAGE_WON[code],
        "ForecastCategory": _STAGE_FC[code],
        "ForecastCategoryName": _STAGE_FC_LABEL[code],
        "CurrencyIsoCode": _CURRENCY[rows.country[o_acc]],
        "OwnerId": owner,
        "CreatedDate": deals.created,
        "CreatedById": created_by,
        "LastModifiedDate": lmd,
        "LastModifiedById": np.where(rng.random(n_opp) < 0.25, ctx.integration, owner),
        "SystemModstamp": sms,
        "LastActivityDate": lad,
    }
    h = deals.h_deal
    hist = {
        "Id": sf_ids("OpportunityHistory", _serials_by_time(deals.h_t)),
        "OpportunityId": opp_id[h],
        "CreatedById": np.where(_group_first(h), created_by[h], owner[h]),
        "CreatedDate": deals.h_t,
        "StageName": _STAGE_NAME[deals.h_code],
        "Amount": deals.h_amount.copy(),
        "ExpectedRevenue": None,
        "CloseDate": deals.h_close.copy(),
        "Probability": _STAGE_PROB[deals.h_code],
        "ForecastCategory": _STAGE_FC[deals.h_code],
        "SystemModstamp": deals.h_t.copy(),
        "IsDeleted": np.zeros(h.size, bool),
    }
    return opportunity, hist


def _with_contact_names(contact: dict[str, Any]) -> dict[str, Any]:
    first = contact["FirstName"]
    last = contact["LastName"]
    has_first = first != None  # noqa: E711
    full = last.copy()
    full[has_first] = first[has_first] + " " + last[has_first]
    return {**contact, "Name": full}


def _with_expected(hist: dict[str, Any]) -> dict[str, Any]:
    return {**hist, "ExpectedRevenue": hist["Amount"] * hist["Probability"] / 100.0}


def _stage_frame(golive: int, creator: str) -> pd.DataFrame:
    stages = sf_schema.OPPORTUNITY_STAGES
    n = len(stages)
    t = np.full(n, golive - 30 * DAY)
    cols = {
        "Id": sf_ids("OpportunityStage", np.arange(1, n + 1)),
        "MasterLabel": _obj([s[0] for s in stages]),
        "ApiName": _obj([s[0] for s in stages]),
        "IsActive": np.ones(n, bool),
        "SortOrder": np.arange(1, n + 1),
        "IsClosed": np.array([s[3] for s in stages]),
        "IsWon": np.array([s[4] for s in stages]),
        "ForecastCategory": _obj([s[2] for s in stages]),
        "ForecastCategoryName": _obj([sf_schema.FORECAST_CATEGORY_LABELS[s[2]] for s in stages]),
        "DefaultProbability": np.array([s[1] for s in stages], np.float64),
        "CreatedById": np.full(n, creator, object),
        "CreatedDate": t,
        "LastModifiedById": np.full(n, creator, object),
        "LastModifiedDate": t,
        "SystemModstamp": t,
    }
    return _sf_frame("OpportunityStage", cols, n)


# -- the defect tables ----------------------------------------------------------------------

Detail = np.ndarray | str
Inject = Callable[["_Seeding", "_Defect", np.ndarray], tuple[np.ndarray, Detail]]


@dataclass
class _Seeding:
    """What a defect table works on: the records of one CRM and who already carries a kind.

    `records[obj]` is the object's column dict (Salesforce: its fields; HubSpot: `props` plus
    the system columns), `taken[obj]` marks records that carry a kind or must stay clean, and
    `ctx` is whatever else the rows read (the builders' shared arrays).
    """

    system: str
    rng: np.random.Generator
    now: int
    records: dict[str, dict[str, Any]]
    ids: dict[str, np.ndarray]
    taken: dict[str, np.ndarray]
    ctx: dict[str, Any]


@dataclass(frozen=True)
class _Defect:
    """A row of a defect table: which records of `obj` get `kind`, and what it does to them.

    `pick` chooses the records (default: `RATES[(obj, kind)] * share` of those not yet taken
    and, when given, `where`); `inject` changes them in place and returns the records to list
    and the detail. Rows run in table order, so the random draws follow it.
    """

    obj: str
    kind: str
    inject: Inject
    where: Callable[[_Seeding], np.ndarray] | None = None
    pick: Callable[[_Seeding, _Defect], np.ndarray] | None = None
    share: float = 1.0


def _by_rate(s: _Seeding, d: _Defect) -> np.ndarray:
    eligible = ~s.taken[d.obj] if d.where is None else ~s.taken[d.obj] & d.where(s)
    return _pick(s.rng, eligible, RATES[(d.obj, d.kind)] * d.share, s.taken[d.obj].size)


def _seed_defects(s: _Seeding, table: tuple[_Defect, ...], dirt: _Dirt) -> None:
    """Run a defect table: pick, inject, mark taken and list every row's records."""
    for d in table:
        idx = (d.pick or _by_rate)(s, d)
        listed, detail = d.inject(s, d, idx)
        s.taken[d.obj][listed] = True
        dirt.add(s.system, d.obj, s.ids[d.obj][listed], d.kind, detail)


def _texts(template: str, values: Any) -> np.ndarray:
    """One detail text per value (`template.format(v)`)."""
    return _obj([template.format(v) for v in values])


# -- Salesforce defects --------------------------------------------------------------------


def _sf_delete_at(s: _Seeding, cols: dict[str, Any], idx: np.ndarray) -> np.ndarray:
    """Soft-delete `idx` at a random moment after its last change; returns that moment."""
    t = cols["LastModifiedDate"][idx] + (
        (s.now - 60 - cols["LastModifiedDate"][idx]) * s.rng.random(idx.size)
    ).astype(np.int64)
    cols["IsDeleted"][idx] = True
    cols["LastModifiedDate"][idx] = cols["SystemModstamp"][idx] = t
    return t


def _sf_deleted(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    _sf_delete_at(s, s.records[d.obj], idx)
    return idx, "deleted"


def _sf_account_merged(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    acc, src = s.records["Account"], s.ctx["src"]
    s.taken["Account"][src[idx]] = True  # the base company keeps its twin findable
    return idx, "merged into " + acc["MasterRecordId"][idx]


def _sf_duplicate_account(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    acc, src = s.records["Account"], s.ctx["src"]
    s.taken["Account"][src[idx]] = True  # the base company keeps its duplicate findable
    return idx, "duplicate of " + acc["Id"][src[idx]]


def _sf_prospect(s: _Seeding) -> np.ndarray:
    """Accounts nobody bought from and with no stale deal (which would carry a second kind)."""
    n_acc, n_base = s.taken["Account"].size, s.ctx["n_base"]
    prospect = np.r_[~s.ctx["ever_won"], np.zeros(n_acc - n_base, bool)]
    prospect[s.ctx["o_acc"][s.ctx["status"] == 3]] = False
    return prospect


def _sf_account_deleted(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    when = np.full(s.taken["Account"].size, NAT)
    when[idx] = _sf_delete_at(s, s.records["Account"], idx)
    s.ctx["deleted_at"] = when
    return idx, "deleted"


_SF_ACCOUNT_OF = {"Contact": "c_acc", "Opportunity": "o_acc"}  # ctx key: each record's account


def _sf_cascade(s: _Seeding, d: _Defect) -> np.ndarray:
    """Records whose account was deleted."""
    return np.flatnonzero(s.ctx["deleted_at"][s.ctx[_SF_ACCOUNT_OF[d.obj]]] != NAT)


def _sf_deleted_with_account(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    cols, account = s.records[d.obj], s.ctx[_SF_ACCOUNT_OF[d.obj]][idx]
    t = np.maximum(s.ctx["deleted_at"][account], cols["LastModifiedDate"][idx])
    cols["IsDeleted"][idx] = True
    cols["LastModifiedDate"][idx] = cols["SystemModstamp"][idx] = t
    return idx, "deleted with account " + s.records["Account"]["Id"][account]


def _sf_placeholder_name(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    acc = s.records["Account"]
    acc["Name"][idx] = _choice(s.rng, _PLACEHOLDER_NAMES, idx.size)
    return idx, _texts("Name is a placeholder {!r}", acc["Name"][idx])


def _sf_malformed_website(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    acc = s.records["Account"]
    forms = s.rng.integers(0, len(_MALFORMED_WEBSITES), idx.size)
    domain = s.ctx["domain"][s.ctx["src"][idx]]
    acc["Website"][idx] = _obj(
        [_MALFORMED_WEBSITES[f](d) for f, d in zip(forms, domain, strict=True)]
    )
    s.ctx["bad_site"] = np.zeros(acc["Id"].size, bool)
    s.ctx["bad_site"][idx] = True
    return idx, _texts("Website {!r} is not a valid URL", acc["Website"][idx])


def _sf_control_characters(field: str) -> Inject:
    def inject(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
        cols = s.records[d.obj]
        cols[field][idx] = _with_control(s.rng, cols[field][idx])
        return idx, _texts(field + " {!r} holds a control character", cols[field][idx])

    return inject


def _sf_created_after_modified(
    s: _Seeding, d: _Defect, idx: np.ndarray
) -> tuple[np.ndarray, Detail]:
    """CreatedDate after LastModifiedDate (clock-skewed import)."""
    cols = s.records[d.obj]
    lmd = cols["LastModifiedDate"][idx]
    gap = np.minimum(_days(s.rng.uniform(1, 30, idx.size)), (s.now - lmd) // 2)
    cols["CreatedDate"][idx] = lmd + np.maximum(gap, 1)
    return idx, _obj([f"CreatedDate is {g // 3600} h after LastModifiedDate" for g in gap])


def _sf_contact_merge_pick(s: _Seeding, d: _Defect) -> np.ndarray:
    """Contacts right after a live contact of the same account, never a master themselves."""
    live, c_acc = ~s.taken["Contact"], s.ctx["c_acc"]
    same_acc_prev = np.r_[False, c_acc[1:] == c_acc[:-1]]
    n_con = live.size
    cand = _pick(
        s.rng, live & same_acc_prev & np.r_[False, live[:-1]], RATES[("Contact", "merged")], n_con
    )
    chosen = np.zeros(n_con, bool)
    chosen[cand] = True
    return cand[~chosen[cand - 1]]


def _sf_contact_merged(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    """An existing contact becomes the merged-away twin of the one before it (same account),
    keeping its own email (extra rows are not added)."""
    con = s.records["Contact"]
    master = idx - 1
    _sf_delete_at(s, con, idx)
    con["MasterRecordId"][idx] = con["Id"][master]
    con["LastName"][idx] = con["LastName"][master]
    con["FirstName"][idx] = con["FirstName"][master]
    s.taken["Contact"][master] = True
    return idx, "merged into " + con["Id"][master]


def _sf_orphan(base: int) -> Inject:
    """AccountId of an account that never existed (serials from `base`)."""

    def inject(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
        ghost = sf_ids("Account", base + s.rng.integers(0, 1_000_000, idx.size))
        s.records[d.obj]["AccountId"][idx] = ghost
        return idx, "AccountId " + ghost + " does not exist"

    return inject


def _sf_has_email(s: _Seeding) -> np.ndarray:
    return s.records["Contact"]["Email"] != None  # noqa: E711


def _sf_bad_email(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    con = s.records["Contact"]
    forms = s.rng.integers(0, len(_BAD_EMAIL_FORMS), idx.size)
    parts = [e.split("@", 1) for e in con["Email"][idx]]
    con["Email"][idx] = _obj(
        [_BAD_EMAIL_FORMS[f](p[0], p[1]) for f, p in zip(forms, parts, strict=True)]
    )
    return idx, _texts("Email {!r} is not a valid address", con["Email"][idx])


def _sf_duplicate_email(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    """Half the picked contacts copy the email of the other half (the copies are listed)."""
    con = s.records["Contact"]
    s.rng.shuffle(idx)
    half = idx.size // 2
    by_copy = np.argsort(idx[:half])
    copy, original = idx[:half][by_copy], idx[half : 2 * half][by_copy]
    con["Email"][copy] = con["Email"][original]
    s.taken["Contact"][original] = True
    return copy, "same email as " + con["Id"][original]


def _sf_overlong_title(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    con = s.records["Contact"]
    company = s.ctx["domain"][s.ctx["src"][s.ctx["c_acc"][idx]]]
    base_title = np.where(con["Title"][idx] == None, "Head of IT", con["Title"][idx])  # noqa
    long = _obj(
        [
            (str(t) + _SIGNATURE.format(company=c) + " " + "-" * 128)[: int(n)]
            for t, c, n in zip(base_title, company, s.rng.integers(110, 129, idx.size), strict=True)
        ]
    )
    con["Title"][idx] = long
    return idx, _obj([f"Title is {len(v)} characters" for v in long])


def _sf_stale(s: _Seeding, d: _Defect) -> np.ndarray:
    return np.flatnonzero((s.ctx["status"] == 3) & ~s.taken["Opportunity"])


def _sf_stale_open_deal(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    opp, close = s.records["Opportunity"], s.records["Opportunity"]["CloseDate"][idx]
    return idx, _obj(
        [
            f"open at {st!r}, CloseDate {day} is {(s.now - c) // DAY} days past"
            for st, day, c in zip(opp["StageName"][idx], _dates(close), close, strict=True)
        ]
    )


def _sf_not_first_nor_won(s: _Seeding) -> np.ndarray:
    """Never an account's first deal nor a won one (renewals follow wins), so every account's
    story still starts with New Business and renews what it bought."""
    opp, o_acc = s.records["Opportunity"], s.ctx["o_acc"]
    first_deal = np.zeros(o_acc.size, bool)
    by_account = np.lexsort((opp["CreatedDate"], o_acc))
    first_deal[by_account[_group_first(o_acc[by_account])]] = True
    return ~first_deal & ~opp["IsWon"]


def _set_last(s: _Seeding, obj: str, field: str, idx: np.ndarray, value: np.ndarray) -> None:
    """Set a deal field and its last history row (the record equals its last row)."""
    s.records[obj][field][idx] = value
    s.ctx["history"][field][s.ctx["h_last"][idx]] = value


def _sf_unknown_stage(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    opp = s.records["Opportunity"]
    state = np.where(opp["IsWon"][idx], 1, np.where(opp["IsClosed"][idx], 2, 0))
    new_stage = _obj(
        [
            _UNKNOWN_STAGES[st][j % len(_UNKNOWN_STAGES[st])]
            for st, j in zip(state, s.rng.integers(0, 12, idx.size), strict=True)
        ]
    )
    _set_last(s, d.obj, "StageName", idx, new_stage)
    return idx, _texts("StageName {!r} is not in the sales process", new_stage)


def _negative(s: _Seeding, amount: np.ndarray) -> np.ndarray:
    return -amount


def _absurd(options: tuple[float, ...]) -> Callable[[_Seeding, np.ndarray], np.ndarray]:
    def make(s: _Seeding, amount: np.ndarray) -> np.ndarray:
        return _choice(s.rng, options, amount.size).astype(np.float64)

    return make


def _amount(field: str, make: Callable[[_Seeding, np.ndarray], np.ndarray]) -> Inject:
    """Replace the deal's amount `field` by `make(amount)` (history included)."""

    def inject(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
        value = make(s, s.records[d.obj][field][idx])
        _set_last(s, d.obj, field, idx, value)
        return idx, _obj([f"{field} {v:,.2f}" for v in value])

    return inject


def _sf_probability(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    value = _choice(s.rng, (150.0, -5.0, 110.0, 999.0, -1.0), idx.size).astype(np.float64)
    _set_last(s, d.obj, "Probability", idx, value)
    return idx, _obj([f"Probability {v:g}" for v in value])


def _sf_closed_flag_mismatch(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    opp = s.records["Opportunity"]
    won = opp["IsWon"][idx]
    opp["IsWon"][idx[won]] = False  # Closed Won but not won
    opp["IsClosed"][idx[~won]] = ~opp["IsClosed"][idx[~won]]  # open closed / lost open
    return idx, _obj(
        [
            f"StageName {st!r} but IsClosed={c}, IsWon={w}"
            for st, c, w in zip(
                opp["StageName"][idx], opp["IsClosed"][idx], opp["IsWon"][idx], strict=True
            )
        ]
    )


def _sf_open(s: _Seeding) -> np.ndarray:
    return ~s.records["Opportunity"]["IsClosed"]


def _sf_future_close(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    far_days = np.array(
        list(_choice(s.rng, ("2099-12-31", "2098-06-30", "2999-01-01", "2100-01-01"), idx.size)),
        dtype="datetime64[D]",
    )
    far = far_days.astype(np.int64) * DAY
    _set_last(s, d.obj, "CloseDate", idx, far)
    return idx, _obj([f"CloseDate {day}" for day in _dates(far)])


def _sf_has_website(s: _Seeding) -> np.ndarray:
    return s.records["Account"]["Website"] != None  # noqa: E711


# Structural kinds first (merges, duplicates, deletes with their cascade), then per object.
SF_DEFECTS: tuple[_Defect, ...] = (
    _Defect(
        "Account",
        "merged",
        _sf_account_merged,
        pick=lambda s, d: np.flatnonzero(s.records["Account"]["IsDeleted"]),
    ),
    _Defect(
        "Account",
        "duplicate_account",
        _sf_duplicate_account,
        pick=lambda s, d: np.flatnonzero(s.ctx["is_dup"]),
    ),
    _Defect("Account", "soft_deleted", _sf_account_deleted, where=_sf_prospect),
    _Defect("Contact", "soft_deleted", _sf_deleted_with_account, pick=_sf_cascade),
    _Defect("Opportunity", "soft_deleted", _sf_deleted_with_account, pick=_sf_cascade),
    _Defect("Account", "missing_account_name", _sf_placeholder_name),
    _Defect("Account", "malformed_domain", _sf_malformed_website, where=_sf_has_website),
    _Defect("Account", "control_characters", _sf_control_characters("Name")),
    _Defect("Account", "created_after_modified", _sf_created_after_modified),
    _Defect("Contact", "merged", _sf_contact_merged, pick=_sf_contact_merge_pick),
    _Defect("Contact", "soft_deleted", _sf_deleted),
    _Defect("Contact", "orphan_contact", _sf_orphan(ORPHAN_SERIAL_BASE)),
    _Defect("Contact", "bad_email", _sf_bad_email, where=_sf_has_email),
    _Defect("Contact", "duplicate_email", _sf_duplicate_email, where=_sf_has_email, share=2),
    _Defect("Contact", "overlong_string", _sf_overlong_title),
    _Defect("Contact", "control_characters", _sf_control_characters("LastName")),
    _Defect("Contact", "created_after_modified", _sf_created_after_modified),
    _Defect("Opportunity", "stale_open_deal", _sf_stale_open_deal, pick=_sf_stale),
    _Defect("Opportunity", "soft_deleted", _sf_deleted),
    _Defect(
        "Opportunity",
        "orphan_opportunity",
        _sf_orphan(ORPHAN_SERIAL_BASE + 1_000_000),
        where=_sf_not_first_nor_won,
    ),
    _Defect("Opportunity", "unknown_stage", _sf_unknown_stage),
    _Defect("Opportunity", "negative_amount", _amount("Amount", _negative)),
    _Defect(
        "Opportunity",
        "absurd_amount",
        _amount("Amount", _absurd((1e12, 999_999_999_999.0, 123_456_789_012.0, 5e11))),
    ),
    _Defect("Opportunity", "probability_out_of_range", _sf_probability),
    _Defect("Opportunity", "closed_flag_mismatch", _sf_closed_flag_mismatch),
    _Defect("Opportunity", "future_date", _sf_future_close, where=_sf_open),
)


def _salesforce_dirt(
    rng: np.random.Generator, sf: dict[str, Any], meta: dict[str, Any], now: int, dirt: _Dirt
) -> None:
    """Seed the Salesforce defects in place (`SF_DEFECTS`) and list each one in `dirt`."""
    acc, con, opp, hist = sf["account"], sf["contact"], sf["opportunity"], sf["history"]
    records = {"Account": acc, "Contact": con, "Opportunity": opp}
    taken = {
        "Account": acc["IsDeleted"].copy(),  # merged-away rows carry `merged` ...
        "Contact": np.zeros(con["Id"].size, bool),
        "Opportunity": np.zeros(opp["Id"].size, bool),
    }
    taken["Account"][meta["n_base"] :] = True  # ... twins duplicate_account / merged
    s = _Seeding(
        "salesforce",
        rng,
        now,
        records,
        {obj: cols["Id"] for obj, cols in records.items()},
        taken,
        {**meta, "history": hist},
    )
    _seed_defects(s, SF_DEFECTS, dirt)
    meta["bad_site"] = s.ctx["bad_site"]
    opp["ExpectedRevenue"] = opp["Amount"] * opp["Probability"] / 100.0
    # History of deleted opportunities is in the recycle bin with them.
    h_opp = meta["h_deal"]
    gone_h = opp["IsDeleted"][h_opp]
    hist["IsDeleted"][gone_h] = True
    hist["SystemModstamp"][gone_h] = opp["SystemModstamp"][h_opp[gone_h]]
    meta["c_taken"], meta["o_taken"], meta["a_taken"] = (
        taken["Contact"],
        taken["Opportunity"],
        taken["Account"],
    )


# -- HubSpot ---------------------------------------------------------------------------------

_HS_INDUSTRY = {
    "Banking": "BANKING",
    "Biotechnology": "BIOTECHNOLOGY",
    "Chemicals": "CHEMICALS",
    "Construction": "CONSTRUCTION",
    "Education": "EDUCATION_MANAGEMENT",
    "Finance": "FINANCIAL_SERVICES",
    "Food & Beverage": "FOOD_BEVERAGES",
    "Healthcare": "HOSPITAL_HEALTH_CARE",
    "Technology": "COMPUTER_SOFTWARE",
    "Insurance": "INSURANCE",
    "Machinery": "MACHINERY",
    "Media": "MEDIA_PRODUCTION",
    "Retail": "RETAIL",
    "Telecommunications": "TELECOMMUNICATIONS",
    "Transportation": "TRANSPORTATION_TRUCKING_RAILROAD",
    "Utilities": "UTILITIES",
    "Consulting": "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "Electronics": "COMPUTER_SOFTWARE",
    "Shipping": "TRANSPORTATION_TRUCKING_RAILROAD",
}
_HS_STAGE_IDS = _obj([s[0] for s in hs_schema.DEAL_STAGES])
_HS_STAGE_PROB = np.array([float(s[2]) for s in hs_schema.DEAL_STAGES])
_HS_STAGE_CLOSED = np.array([s[4] for s in hs_schema.DEAL_STAGES])
_HS_STAGE_WON = np.array([s[5] for s in hs_schema.DEAL_STAGES])
_HS_FORECAST = _obj(["PIPELINE", "PIPELINE", "PIPELINE", "BEST_CASE", "COMMIT", "CLOSED", "OMIT"])
_HS_UNKNOWN_STAGES = ("12345678", "closedwon_legacy", "appointmentscheduled_old", "92817364")
_SOURCE_TYPES = (
    "CRM_UI",
    "CRM_UI",
    "CRM_UI",
    "CRM_UI",
    "CRM_UI",
    "CRM_UI",
    "CRM_UI",
    "CRM_UI",
    "INTEGRATION",
    "API",
    "IMPORT",
)


def _hs_ids(
    rng: np.random.Generator, created: np.ndarray, start: int, spare: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Ids growing with creation time (gaps of 1-3) plus `spare` unused ids for merged records."""
    n = created.size + spare
    seq = start + np.cumsum(rng.integers(1, 4, n))
    spare_pos = np.sort(rng.choice(n, size=spare, replace=False)) if spare else np.zeros(0, int)
    mask = np.ones(n, bool)
    mask[spare_pos] = False
    ids = np.empty(created.size, np.int64)
    ids[np.argsort(created, kind="stable")] = seq[mask]
    return ids, seq[spare_pos]


def _hs_frame(
    obj: str,
    ids: np.ndarray,
    created: np.ndarray,
    updated: np.ndarray,
    archived: np.ndarray,
    archived_at: np.ndarray,
    props: dict[str, Any],
) -> pd.DataFrame:
    """A HubSpot frame: id, every default property (typed), createdAt .. archivedAt."""
    n = ids.size
    known = {p.name: p for p in hs_schema.DEFAULT_PROPERTIES[obj]}
    unknown = set(props) - set(known)
    if unknown:
        raise KeyError(f"{obj} has no propert(ies) {sorted(unknown)}")
    system = {
        "hs_object_id": ids,
        "createdate": created,
        "hs_lastmodifieddate": updated,
        "lastmodifieddate": updated,
    }
    data: dict[str, pd.Series] = {"id": pd.Series(ids.astype(np.int64))}
    for name, p in known.items():
        v = system.get(name, props.get(name))
        if name == "hs_object_id":
            data[name] = pd.Series(ids.astype(np.int64))
        elif p.type == "datetime":
            data[name] = _timestamps(np.full(n, NAT) if v is None else v)
        elif p.type == "number":
            data[name] = pd.Series(np.full(n, np.nan) if v is None else np.asarray(v, np.float64))
        elif p.type == "bool":
            data[name] = pd.Series(np.zeros(n, bool) if v is None else np.asarray(v, bool))
        else:
            data[name] = pd.Series(np.full(n, None, object) if v is None else _obj(v), dtype=object)
    data["createdAt"] = _timestamps(created)
    data["updatedAt"] = _timestamps(updated)
    data["archived"] = pd.Series(np.asarray(archived, bool))
    data["archivedAt"] = _timestamps(archived_at)
    return pd.DataFrame(data)


def _hubspot(
    seed: int, now: int, pool: _Companies, sf: dict[str, Any], dirt: _Dirt
) -> dict[str, Any]:
    """The HubSpot portal: ~60 % of the Salesforce companies (domain variants) + its own."""
    r_co, r_ct, r_dl = _rng(seed, "hs-companies"), _rng(seed, "hs-contacts"), _rng(seed, "hs-deals")
    hs_golive = max(now - int(2.5 * YEAR), sf["golive"])
    n_base = sf["n_base"]
    acc = sf["account"]
    users = sf["users"]

    # Owners: the active sales team (same people, same e-mails as in Salesforce).
    active = np.flatnonzero(users["IsActive"])
    active = active[active > 0]  # the integration user owns nothing in HubSpot
    owner_id = 10_000_000 + np.arange(active.size) * 7 + 3
    n_ow = active.size
    owner_created = np.maximum(users["CreatedDate"][active], hs_golive)
    owners = pd.DataFrame(
        {
            "id": pd.Series(owner_id.astype(np.int64)),
            "email": _col(users["Email"][active]),
            "firstName": _col(users["FirstName"][active]),
            "lastName": _col(users["LastName"][active]),
            "userId": pd.Series((50_000_000 + np.arange(n_ow) * 13).astype(np.int64)),
            "createdAt": _timestamps(owner_created),
            "updatedAt": _timestamps(owner_created),
            "archived": pd.Series(np.zeros(n_ow, bool)),
        }
    )
    owner_of_user = dict(zip(users["Id"][active], _text(owner_id), strict=True))

    # Companies: overlap with Salesforce base accounts whose website is sound and live.
    eligible = ~acc["IsDeleted"][:n_base] & (acc["Website"][:n_base] != None)  # noqa: E711
    eligible &= ~sf["bad_site"][:n_base]
    shared = _pick(r_co, eligible, 0.6 * n_base / max(1, eligible.sum()), int(eligible.sum()))
    n_hs_only = pool.name.size - n_base
    n_sh = shared.size
    n_co = n_sh + n_hs_only
    variant = r_co.choice(len(OVERLAP_VARIANTS), size=n_sh, p=[0.4, 0.15, 0.12, 0.1, 0.1, 0.13])
    only = pool.take(np.arange(n_base, pool.name.size))
    base_domain = np.r_[sf["domain"][shared], only.domain]
    domain = np.r_[_domain_variant(r_co, sf["domain"][shared], variant), only.domain]
    nm = np.r_[pool.name[shared], only.name]
    k = r_co.integers(0, 7, n_co)
    vary = (r_co.random(n_co) < 0.3) & (np.arange(n_co) < n_sh)
    nm[vary] = _obj(
        [
            _name_variant(a, b, int(c))
            for a, b, c in zip(
                nm[vary], np.r_[pool.suffix[shared], only.suffix][vary], k[vary], strict=True
            )
        ]
    )
    website = "https://www." + base_domain
    sub = np.flatnonzero(variant == 3)
    website[sub] = "https://" + _obj([d.lower() for d in domain[sub]])
    plain = np.flatnonzero(r_co.random(n_co) < 0.1)
    website[plain] = "http://" + base_domain[plain]
    country = np.r_[sf["country"][shared], only.country]
    employees = np.r_[
        sf["employees"][shared], np.clip(np.round(r_co.lognormal(4.6, 1.6, n_hs_only)), 1, 200_000)
    ]
    sf_created = sf["created"][shared]
    created = np.r_[
        np.maximum(sf_created, hs_golive) + _days(r_co.exponential(60, n_sh)),
        hs_golive + ((now - hs_golive) * r_co.random(n_hs_only)).astype(np.int64),
    ]
    created = np.minimum(created, now - DAY)
    sf_owner = sf["owner"][shared]
    hs_owner = np.r_[
        _obj([owner_of_user.get(u) for u in sf_owner]),
        _text(owner_id[r_co.integers(0, n_ow, n_hs_only)]),
    ]
    industry = np.r_[
        _obj([_HS_INDUSTRY.get(i) for i in sf["account"]["Industry"][shared]]),
        _obj([_HS_INDUSTRY.get(i) for i in only.industry]),
    ]
    ever_won = np.r_[sf["ever_won"][shared], r_co.random(n_hs_only) < 0.3]
    lifecycle = np.where(
        ever_won,
        "customer",
        _choice(
            r_co, ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity"), n_co
        ),
    )
    sf_lad = acc["LastActivityDate"][shared]
    notes = np.r_[
        sf_lad,
        np.where(r_co.random(n_hs_only) < 0.4, NAT, now - _days(r_co.exponential(60, n_hs_only))),
    ]
    notes = np.where(notes == NAT, NAT, np.clip(notes, created, now - 60))
    co_spare = max(1, round(RATES[("companies", "merged")] * n_co * 1.2))
    co_id, co_absorbed = _hs_ids(r_co, created, 1000, co_spare)
    updated = created + ((now - 60 - created) * r_co.random(n_co) ** 1.3).astype(np.int64)
    updated = np.maximum(updated, np.where(notes == NAT, created, notes))
    revenue = np.round(employees * r_co.lognormal(np.log(170_000), 0.6, n_co), -3)
    company = {
        "name": nm,
        "domain": domain,
        "website": website,
        "industry": industry,
        "numberofemployees": np.where(r_co.random(n_co) < 0.15, np.nan, employees),
        "annualrevenue": np.where(r_co.random(n_co) < 0.3, np.nan, revenue),
        "phone": _phones(r_co, country, 0.6),
        "city": _obj(
            [
                names.CITIES[_COUNTRY[c]][j % len(names.CITIES[_COUNTRY[c]])]
                for c, j in zip(country, r_co.integers(0, 1 << 20, n_co), strict=True)
            ]
        ),
        "country": _COUNTRY[country],
        "lifecyclestage": lifecycle,
        "description": np.full(n_co, None, object),
        "hubspot_owner_id": hs_owner,
        "hs_merged_object_ids": np.full(n_co, None, object),
        "notes_last_updated": notes,
    }
    co_archived = np.zeros(n_co, bool)
    co_archived_at = np.full(n_co, NAT)
    co_record = {
        "props": company,
        "updated": updated,
        "archived": co_archived,
        "archived_at": co_archived_at,
        "absorbed": co_absorbed,
        "base_domain": base_domain,
    }
    # the shared companies are overlap truth: they stay live with a sound domain
    _hubspot_dirt(r_co, now, "companies", co_id, co_record, n_sh, HS_COMPANY_DEFECTS, dirt)

    # Contacts.
    con = sf["contact"]
    c_acc = sf["c_acc"]
    shared_pos = np.full(acc["Id"].size, -1)
    shared_pos[shared] = np.arange(n_sh)
    c_co = shared_pos[c_acc]
    c_ok = (c_co >= 0) & ~sf["c_taken"] & (con["Email"] != None)  # noqa: E711
    c_ok &= ~con["IsDeleted"]
    mirrored = np.flatnonzero(c_ok & (r_ct.random(c_acc.size) < 0.5))
    n_mir = mirrored.size
    mir_email = con["Email"][mirrored].copy()
    recase = r_ct.random(n_mir) < 0.15
    mir_email[recase] = _obj(
        [
            e[:1].upper() + e[1:] if i % 2 else e.upper()
            for i, e in zip(np.flatnonzero(recase), mir_email[recase], strict=True)
        ]
    )
    # HubSpot-only contacts: at HubSpot-only companies, extra ones at shared ones, and loose.
    per_co = np.r_[r_ct.poisson(0.8, n_sh), 1 + r_ct.poisson(2.5, n_hs_only)]
    o_co = np.repeat(np.arange(n_co), per_co)
    n_loose = max(1, round(0.05 * (n_mir + o_co.size)))
    o_co = np.r_[o_co, np.full(n_loose, -1)]
    n_own = o_co.size
    first, last, fs, ls = _people(r_ct, n_own)
    dom = np.where(
        o_co >= 0,
        base_domain[np.maximum(o_co, 0)],
        _choice(r_ct, names.PERSONAL_EMAIL_DOMAINS, n_own),
    )
    own_email = _email_local(r_ct, fs, ls) + "@" + dom
    own_email[r_ct.random(n_own) < 0.05] = None
    sf_lower = np.char.lower(con["Email"][con["Email"] != None].astype(str))  # noqa: E711
    own_email = _dedupe_emails(own_email, taken=sf_lower)
    ct_co = np.r_[c_co[mirrored], o_co]
    n_ct = ct_co.size
    email = np.r_[mir_email, own_email]
    firstname = np.r_[con["FirstName"][mirrored], first]
    lastname = np.r_[con["LastName"][mirrored], last]
    jobtitle = np.r_[
        np.where(r_ct.random(n_mir) < 0.8, con["Title"][mirrored], _NONE),
        np.where(
            r_ct.random(n_own) < 0.6,
            _choice(r_ct, names.OTHER_TITLES + names.DECISION_MAKER_TITLES, n_own),
            _NONE,
        ),
    ]
    ct_country = np.where(ct_co >= 0, country[np.maximum(ct_co, 0)], 0)
    co_created = np.where(ct_co >= 0, created[np.maximum(ct_co, 0)], hs_golive)
    ct_created = np.minimum(co_created + _days(r_ct.exponential(90, n_ct)), now - 3600)
    ct_updated = ct_created + ((now - 60 - ct_created) * r_ct.random(n_ct) ** 1.5).astype(np.int64)
    ct_spare = max(1, round(RATES[("contacts", "merged")] * n_ct * 1.2))
    ct_id, ct_absorbed = _hs_ids(r_ct, ct_created, 500, ct_spare)
    assoc_co = np.where(ct_co >= 0, co_id[np.maximum(ct_co, 0)], -1)
    contact = {
        "hubspot_owner_id": np.where(ct_co >= 0, hs_owner[np.maximum(ct_co, 0)], _NONE),
        "hs_merged_object_ids": np.full(n_ct, None, object),
        "notes_last_updated": np.where(
            r_ct.random(n_ct) < 0.5,
            NAT,
            np.maximum(ct_updated - _days(r_ct.exponential(20, n_ct)), ct_created),
        ),
        "email": email,
        "firstname": firstname,
        "lastname": lastname,
        "jobtitle": jobtitle,
        "phone": _phones(r_ct, ct_country, 0.5),
        "company": np.where(ct_co >= 0, company["name"][np.maximum(ct_co, 0)], _NONE),
        "associatedcompanyid": np.where(assoc_co >= 0, assoc_co, np.nan),
        "lifecyclestage": np.where(
            ct_co >= 0, lifecycle[np.maximum(ct_co, 0)], _choice(r_ct, ("subscriber", "lead"), n_ct)
        ),
        "hs_email_bad_address": np.zeros(n_ct, bool),
    }
    ct_archived = np.zeros(n_ct, bool)
    ct_archived_at = np.full(n_ct, NAT)
    ct_record = {
        "props": contact,
        "updated": ct_updated,
        "archived": ct_archived,
        "archived_at": ct_archived_at,
        "absorbed": ct_absorbed,
    }
    # mirrored contacts are overlap truth and stay clean
    _hubspot_dirt(r_ct, now, "contacts", ct_id, ct_record, n_mir, HS_CONTACT_DEFECTS, dirt)

    # Deals.
    deals_out = _hs_deals(
        r_dl, now, co_id, created, employees, hs_owner, company["name"], country, co_archived, dirt
    )

    assoc = _associations(ct_id, assoc_co, deals_out["deal_id"], deals_out["deal_company"])
    live_assoc_ct = assoc_co[~ct_archived]
    num_ct = pd.Series(live_assoc_ct[live_assoc_ct >= 0]).value_counts()
    company["num_associated_contacts"] = pd.Series(co_id).map(num_ct).fillna(0).to_numpy(np.float64)
    num_dl = pd.Series(deals_out["deal_company"][~deals_out["archived"]]).value_counts()
    company["num_associated_deals"] = pd.Series(co_id).map(num_dl).fillna(0).to_numpy(np.float64)

    frames = {
        "companies": _hs_frame(
            "companies", co_id, created, updated, co_archived, co_archived_at, company
        ),
        "contacts": _hs_frame(
            "contacts", ct_id, ct_created, ct_updated, ct_archived, ct_archived_at, contact
        ),
        "deals": deals_out["frame"],
        "owners": owners,
    }
    overlap = pd.DataFrame(
        {
            "sf_account_id": _col(acc["Id"][shared]),
            "hs_company_id": pd.Series(co_id[:n_sh].astype(np.int64)),
            "variant": _col(_obj(list(OVERLAP_VARIANTS))[variant]),
        }
    )
    contact_overlap = pd.DataFrame(
        {
            "sf_contact_id": _col(con["Id"][mirrored]),
            "hs_contact_id": pd.Series(ct_id[:n_mir].astype(np.int64)),
        }
    )
    return {
        "frames": frames,
        "associations": assoc,
        "history": deals_out["history"],
        "overlap": overlap,
        "contact_overlap": contact_overlap,
    }


def _split_absorbed(absorbed: np.ndarray, n_survivors: int) -> np.ndarray:
    """Spread absorbed ids over survivors (most absorb one, some two): ';'-joined text."""
    out = np.full(n_survivors, None, object)
    if not n_survivors:
        return out
    owner = np.arange(absorbed.size) % n_survivors
    for i in range(n_survivors):
        out[i] = ";".join(str(int(x)) for x in absorbed[owner == i]) or None
    return out


# -- HubSpot defects -----------------------------------------------------------------------


def _hs_archived(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    """Archive at a random moment after the last change (which the archiving then is)."""
    rec = s.records[d.obj]
    updated = rec["updated"]
    rec["archived"][idx] = True
    rec["archived_at"][idx] = updated[idx] + (
        (s.now - 30 - updated[idx]) * s.rng.random(idx.size)
    ).astype(np.int64)
    updated[idx] = rec["archived_at"][idx]
    return idx, "archived"


def _hs_merge_pick(s: _Seeding, d: _Defect) -> np.ndarray:
    """Survivors: any record without a defect kind (overlap truth too: merging keeps the
    survivor's values), one per absorbed id at most."""
    rec, taken = s.records[d.obj], s.taken[d.obj]
    absorbed = rec["absorbed"]
    n = taken.size
    survivors = _pick(s.rng, ~taken | rec["truth"], absorbed.size / max(1, n), n)
    return survivors[: absorbed.size]


def _hs_merged(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    rec = s.records[d.obj]
    merged_ids = _split_absorbed(rec["absorbed"], idx.size)
    rec["props"]["hs_merged_object_ids"][idx] = merged_ids
    return idx, "absorbed " + _obj(merged_ids)


def _hs_nameless(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    s.records["companies"]["props"]["name"][idx] = None
    return idx, "name is empty"


def _hs_malformed_domain(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    rec = s.records["companies"]
    props = rec["props"]
    forms = s.rng.integers(0, len(_MALFORMED_WEBSITES), idx.size)
    props["domain"][idx] = _obj(
        [_MALFORMED_WEBSITES[f](d) for f, d in zip(forms, rec["base_domain"][idx], strict=True)]
    )
    props["website"][idx] = None
    return idx, _texts("domain {!r} is not a valid domain", props["domain"][idx])


def _hs_has_email(s: _Seeding) -> np.ndarray:
    return s.records["contacts"]["props"]["email"] != None  # noqa: E711


def _hs_bad_email(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    """Malformed addresses; besides them HubSpot flags a few sound ones that bounced
    (`hs_email_bad_address`, not a defect kind)."""
    props, taken = s.records["contacts"]["props"], s.taken["contacts"]
    has_mail = _hs_has_email(s)
    forms = s.rng.integers(0, len(_BAD_EMAIL_FORMS), idx.size)
    parts = [e.split("@", 1) for e in props["email"][idx]]
    props["email"][idx] = _obj(
        [_BAD_EMAIL_FORMS[f](p[0], p[1]) for f, p in zip(forms, parts, strict=True)]
    )
    taken[idx] = True
    bounced = ~taken & has_mail & (s.rng.random(taken.size) < 0.005)
    props["hs_email_bad_address"][bounced] = True
    return idx, _texts("email {!r} is not a valid address", props["email"][idx])


def _hs_stale(s: _Seeding, d: _Defect) -> np.ndarray:
    return np.flatnonzero((s.records["deals"]["status"] == 3) & ~s.taken["deals"])


def _hs_stale_open_deal(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    rec = s.records["deals"]
    close = rec["closedate"][idx]
    return idx, _obj(
        [
            f"open at {st!r}, closedate {day} is {(s.now - c) // DAY} days past"
            for st, day, c in zip(rec["dealstage"][idx], _dates(close), close, strict=True)
        ]
    )


def _hs_unknown_stage(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    new_stage = _choice(s.rng, _HS_UNKNOWN_STAGES, idx.size)
    _set_last(s, d.obj, "dealstage", idx, new_stage)
    return idx, _texts("dealstage {!r} is not a stage of pipeline 'default'", new_stage)


def _hs_no_close_date(s: _Seeding, d: _Defect, idx: np.ndarray) -> tuple[np.ndarray, Detail]:
    rec = s.records["deals"]
    rec["closedate"][idx] = NAT
    rec["drop_close"][idx] = True  # and no closedate history either
    return idx, "closedate is empty"


HS_COMPANY_DEFECTS: tuple[_Defect, ...] = (
    _Defect("companies", "soft_deleted", _hs_archived),
    _Defect("companies", "missing_account_name", _hs_nameless),
    _Defect("companies", "malformed_domain", _hs_malformed_domain),
    _Defect("companies", "merged", _hs_merged, pick=_hs_merge_pick),
)
HS_CONTACT_DEFECTS: tuple[_Defect, ...] = (
    _Defect("contacts", "soft_deleted", _hs_archived),
    _Defect("contacts", "bad_email", _hs_bad_email, where=_hs_has_email),
    _Defect("contacts", "merged", _hs_merged, pick=_hs_merge_pick),
)
HS_DEAL_DEFECTS: tuple[_Defect, ...] = (
    _Defect("deals", "stale_open_deal", _hs_stale_open_deal, pick=_hs_stale),
    _Defect("deals", "soft_deleted", _hs_archived),
    _Defect("deals", "unknown_stage", _hs_unknown_stage),
    _Defect("deals", "negative_amount", _amount("amount", _negative)),
    _Defect("deals", "absurd_amount", _amount("amount", _absurd((1e12, 999_999_999_999.0, 5e11)))),
    _Defect("deals", "missing_close_date", _hs_no_close_date),
)


def _hubspot_dirt(
    rng: np.random.Generator,
    now: int,
    obj: str,
    ids: np.ndarray,
    record: dict[str, Any],
    clean: int,
    table: tuple[_Defect, ...],
    dirt: _Dirt,
    ctx: dict[str, Any] | None = None,
) -> None:
    """Seed one HubSpot object's defects (`table`) in place; its first `clean` records are
    overlap truth and get no kind (but may survive a merge)."""
    truth = np.arange(ids.size) < clean
    record["truth"] = truth
    s = _Seeding("hubspot", rng, now, {obj: record}, {obj: ids}, {obj: truth.copy()}, ctx or {})
    _seed_defects(s, table, dirt)


def _hs_deals(
    rng: np.random.Generator,
    now: int,
    co_id: np.ndarray,
    co_created: np.ndarray,
    employees: np.ndarray,
    co_owner: np.ndarray,
    co_name: np.ndarray,
    country: np.ndarray,
    co_archived: np.ndarray,
    dirt: _Dirt,
) -> dict[str, Any]:
    """HubSpot deals of the default pipeline, with dealstage / amount / closedate history."""
    n_co = co_id.size
    has = (rng.random(n_co) < 0.55) & ~co_archived
    per = np.where(has, 1 + rng.poisson(0.6, n_co), 0)
    d_co = np.repeat(np.arange(n_co), per)
    n = d_co.size
    start = co_created[d_co] + ((now - DAY - co_created[d_co]) * rng.random(n)).astype(np.int64)
    order = np.lexsort((start, d_co))
    d_co, start = d_co[order], start[order]
    existing = ~_group_first(d_co)
    segment = np.digitize(employees[d_co], [200, 2000])
    acv = _round_money(4000 * (employees[d_co] / 30) ** 0.5 * rng.lognormal(0, 0.7, n))
    stage = np.where(existing, rng.choice([2, 3], size=n), 0)
    shift = SEGMENT_SHIFT[segment] + np.where(existing, 1.2, 0.0) + rng.normal(0, 0.5, n)
    deals = _simulate(rng, HS_LADDER, now, start, stage, shift, SEGMENT_PACE[segment], acv)
    # Creation order of the deal ids follows createdate.
    spare = 0
    deal_id, _ = _hs_ids(rng, start, 2000, spare)
    code = deals.code.copy()
    stage_id = _HS_STAGE_IDS[code].copy()
    amount = deals.amount.copy()
    close = deals.close.copy()
    updated = np.minimum(
        deals.last + np.where(rng.random(n) < 0.3, _days(rng.uniform(0, 5, n)), 0), now - 30
    )
    updated = np.maximum(updated, deals.last)
    archived = np.zeros(n, bool)
    archived_at = np.full(n, NAT)
    h_deal, h_t = deals.h_deal, deals.h_t
    history_stage = _HS_STAGE_IDS[deals.h_code].copy()
    history_amount = deals.h_amount.copy()
    history_close = deals.h_close.copy()
    drop_close = np.zeros(n, bool)
    record = {
        "updated": updated,
        "archived": archived,
        "archived_at": archived_at,
        "dealstage": stage_id,
        "amount": amount,
        "closedate": close,
        "drop_close": drop_close,
        "status": deals.status,
    }
    last_rows = {
        "history": {"dealstage": history_stage, "amount": history_amount},
        "h_last": np.flatnonzero(_group_last(h_deal)),
    }
    _hubspot_dirt(rng, now, "deals", deal_id, record, 0, HS_DEAL_DEFECTS, dirt, last_rows)
    closed_flag = np.where(np.isin(stage_id, _HS_STAGE_IDS), _HS_STAGE_CLOSED[code], False)
    won_flag = np.where(np.isin(stage_id, _HS_STAGE_IDS), _HS_STAGE_WON[code], False)
    name = co_name[d_co]
    name = np.where(name == None, "Deal", name)  # noqa: E711
    product = _choice(rng, names.PRODUCTS, n)
    props = {
        "hubspot_owner_id": co_owner[d_co],
        "hs_merged_object_ids": np.full(n, None, object),
        "notes_last_updated": np.where(rng.random(n) < 0.3, NAT, deals.last),
        "dealname": name + " - " + product,
        "amount": amount,
        "deal_currency_code": _CURRENCY[country[d_co]],
        "dealstage": stage_id,
        "pipeline": np.full(n, hs_schema.DEFAULT_PIPELINE_ID, object),
        "closedate": close,
        "dealtype": np.where(existing, "existingbusiness", "newbusiness"),
        "hs_deal_stage_probability": np.where(
            np.isin(stage_id, _HS_STAGE_IDS), _HS_STAGE_PROB[code], np.nan
        ),
        "hs_is_closed": closed_flag,
        "hs_is_closed_won": won_flag,
        "hs_forecast_category": _HS_FORECAST[code],
        "description": np.full(n, None, object),
    }
    frame = _hs_frame("deals", deal_id, start, updated, archived, archived_at, props)
    history = _deal_history(
        rng, deal_id, h_deal, h_t, history_stage, history_amount, history_close, drop_close
    )
    return {
        "frame": frame,
        "deal_id": deal_id,
        "deal_company": co_id[d_co],
        "archived": archived,
        "history": history,
    }


def _deal_history(
    rng: np.random.Generator,
    deal_id: np.ndarray,
    h_deal: np.ndarray,
    h_t: np.ndarray,
    stage: np.ndarray,
    amount: np.ndarray,
    close: np.ndarray,
    drop_close: np.ndarray,
) -> pd.DataFrame:
    """propertiesWithHistory rows: a row whenever dealstage / amount / closedate changed."""
    first = _group_first(h_deal)
    parts = []
    for prop, values, text in (
        ("dealstage", stage, stage),
        ("amount", amount, None),
        ("closedate", close, None),
    ):
        prev = np.r_[values[:1], values[:-1]]
        changed = first | (values != prev)
        if prop == "closedate":
            changed &= ~drop_close[h_deal]
        rows = np.flatnonzero(changed)
        if prop == "amount":
            shown = _money_text(values[rows])
        elif prop == "closedate":
            shown = _iso_ms(values[rows])
        else:
            shown = _obj(text)[rows]
        parts.append(
            pd.DataFrame(
                {
                    "object_type": _col(np.full(rows.size, "deals", object)),
                    "object_id": pd.Series(deal_id[h_deal[rows]].astype(np.int64)),
                    "property": _col(np.full(rows.size, prop, object)),
                    "value": _col(shown),
                    "timestamp": _timestamps(h_t[rows]),
                    "source_type": _col(_choice(rng, _SOURCE_TYPES, rows.size)),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["object_id", "timestamp", "property"], kind="stable", ignore_index=True)


def _associations(
    ct_id: np.ndarray, ct_company: np.ndarray, deal_id: np.ndarray, deal_company: np.ndarray
) -> pd.DataFrame:
    """contact⇄company (1 / 2) and deal⇄company (5 / 6), both directions."""
    has = ct_company >= 0
    c, co = ct_id[has], ct_company[has]
    from_type = np.r_[
        np.full(c.size, "contacts", object),
        np.full(c.size, "companies", object),
        np.full(deal_id.size, "deals", object),
        np.full(deal_id.size, "companies", object),
    ]
    to_type = np.r_[
        np.full(c.size, "companies", object),
        np.full(c.size, "contacts", object),
        np.full(deal_id.size, "companies", object),
        np.full(deal_id.size, "deals", object),
    ]
    return pd.DataFrame(
        {
            "from_type": _col(from_type),
            "from_id": pd.Series(np.r_[c, co, deal_id, deal_company].astype(np.int64)),
            "to_type": _col(to_type),
            "to_id": pd.Series(np.r_[co, c, deal_company, deal_id].astype(np.int64)),
            "type_id": pd.Series(
                np.r_[
                    np.full(c.size, 1),
                    np.full(c.size, 2),
                    np.full(deal_id.size, 5),
                    np.full(deal_id.size, 6),
                ].astype(np.int64)
            ),
        }
    )


# -- entry point -----------------------------------------------------------------------------


def generate_org(
    n_accounts: int = 1000,
    *,
    seed: int = 7,
    now: datetime | None = None,
    crm_age_days: int | None = None,
) -> DemoOrg:
    """A demo org of `n_accounts` Salesforce accounts (+ its HubSpot portal), by `seed`.

    Same seed, size and `now` give identical frames. `now` defaults to 2026-11-01 UTC (fixed,
    so runs are reproducible on any machine); every timestamp is at or before it except the
    deliberate future-date defects. `crm_age_days` makes a young org: Salesforce went live
    that many days before `now` (default: three years and a month), so its history holds only
    the first, fast closes and much still-open pipeline.
    """
    if not isinstance(n_accounts, int | np.integer) or not (
        MIN_ACCOUNTS <= n_accounts <= MAX_ACCOUNTS
    ):
        raise ValueError(
            f"n_accounts must be an integer from {MIN_ACCOUNTS:,} to {MAX_ACCOUNTS:,}, "
            f"got {n_accounts!r}"
        )
    moment = DEFAULT_NOW if now is None else now
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    moment = moment.astimezone(UTC)
    now_s = int(moment.timestamp())
    if crm_age_days is not None and not 60 <= crm_age_days <= 3 * 365 + 30:
        raise ValueError(f"crm_age_days must be from 60 to 1,125, got {crm_age_days!r}")
    golive = now_s - (3 * YEAR + 30 * DAY if crm_age_days is None else crm_age_days * DAY)
    n = int(n_accounts)
    n_dup = max(1, round(RATES[("Account", "duplicate_account")] * n))
    n_merged = max(1, round(RATES[("Account", "merged")] * n))
    n_base = n - n_dup - n_merged
    n_hs_only = round(0.25 * n)
    pool = _company_pool(_rng(seed, "companies"), n_base + n_hs_only)
    dirt = _Dirt([])
    sf = _salesforce(seed, n, now_s, pool, n_base, dirt, golive)
    hs = _hubspot(seed, now_s, pool, sf, dirt)
    return DemoOrg(
        now=moment,
        salesforce=sf["frames"],
        hubspot=hs["frames"],
        hubspot_associations=hs["associations"],
        hubspot_property_history=hs["history"],
        defects=dirt.frame(),
        overlap=hs["overlap"],
        contact_overlap=hs["contact_overlap"],
    )
