"""The frame GX validates: an entity's live rows plus a few derived helper columns.

GX checks one frame at a time; a handful of rules need facts from elsewhere (other tables, the
CRM's stage list, the run's as-of time, the identity keys). Those facts become helper columns,
named with a leading underscore, so the rules themselves stay plain GX expectations in the suite
files. Each helper, and why it is a column rather than a suite parameter:

accounts
  _domain_key     registrable domain of domain / website (domains.domain_key, the PSL): the
                  in-CRM duplicate rule is `expect_compound_columns_to_be_unique(source,
                  _domain_key)`; `eu.acme.com` and `www.acme.com/en` are the same company.
  _name_key       normalised name (identity.name_key): duplicates by name, as above.
  _typed_website  the website as typed (website, else the domain field), for reasons that quote
                  what the rep typed rather than its normalised form.
  _website_problem
                  for an account left without a domain key: what is wrong with its typed
                  website, in words
                  (domains.problem: "it has no dot ...", "it is a public suffix ..."), else null.
  _satisfaction_not_a_number
                  the text the CRM holds in the field mapped to `satisfaction` (CSAT / NPS)
                  where it is not a number ("n/a"), else null: the canonical column keeps
                  numbers only, so without this the value would be gone without a word. Read
                  from the raw tables by the quality step (connectors.raw_values), handed in
                  as RunContext.satisfaction_typed.
  _satisfaction_scale
                  the configured CSAT / NPS scale as text ("1…5"), for the out-of-scale
                  rule's reason (the bounds themselves are the suite parameters
                  satisfaction_scale_min / satisfaction_scale_max).
every entity, for each free-text name column (name, first_name, last_name, title)
  _<column>_invisible
                  the first invisible character in it, named ("U+202E RIGHT-TO-LEFT
                  OVERRIDE"), else null: one rule over the Unicode general categories Cc
                  (control), Cf (format: bidi overrides and isolates, zero-width characters, soft
                  hyphen, BOM ...), Zl and Zp (line / paragraph separators) rather than a list.
contacts, opportunities
  _missing_account_id
                  account_id when it names no account the pull returned (deleted and merged
                  ones included), else null: `expect_column_values_to_be_null`. A value set of
                  every account id as a `$PARAMETER` would work too, but GX would then store the
                  whole id list in every validation result and Data Docs page.
opportunities
  _closed_probability / _closed_outcome / _closed_probability_conflict
                  1.0 / "won" for a deal the record says is closed won, 0.0 / "lost" for closed
                  lost, else null; the probability where it disagrees with them, else null.
  _forecast_category_conflict
                  the forecast category where it contradicts the record's own state (a won
                  deal not "Closed", a lost one not "Omitted", an open one "Closed"), else null.
  _account_currency
                  the currency of the deal's Salesforce account (null when unknown; HubSpot
                  companies have no currency of their own).
  _currency_mismatch
                  the deal's currency where it differs from _account_currency, else null.
  _currency_problem
                  why the amount cannot be converted to the corporate currency (a currency
                  with no rate in `currency.rates`, acm_sync/currency.py), else null.
  _stage_is_closed / _stage_is_won
                  what the stage means in the CRM's own stage list (Salesforce OpportunityStage,
                  HubSpot pipelines); null for a stage not in the list (that is its own rule):
                  `expect_column_pair_values_to_be_equal(is_closed, _stage_is_closed)`.
  _days_overdue_open
                  days since the close date, for deals the record says are open (else null):
                  the stale-deal rule is `expect_column_values_to_be_between(max_value=90)`,
                  with the 90 days in the suite where revops can change it.
  _close_days_ahead
                  days from the run's as-of time to the close date (a close date decades ahead
                  is a typo, not pipeline).
  _closed_without_close_date / _open_without_close_date
                  the stage of a deal with no close date, by whether the record says it is
                  closed (or does not say: counted closed) or open; else null. A closed deal
                  needs one (its revenue has no date); an open one often has none in HubSpot,
                  where the close date is optional, and the forecast places it by its age and
                  stage (hazard level "no close date").
  _days_created_to_close
                  whole calendar days (UTC) from the creation date to the close date; null when
                  either is missing. Dates, not times: close_date is a date (HubSpot may add a
                  time of day), so a deal created at 15:00 and closed that day is 0, not -0.6.
                  Negative = closed before it was created (a CRM migrated without its audit
                  fields): `expect_column_values_to_be_between(min_value=-1)` — a day's slack,
                  as Salesforce's CloseDate is the org's local date and CreatedDate is UTC (a
                  deal created on a US evening and closed that day reads -1) — the bound in the
                  suite where revops can change it.
opportunity_stage_history
  _source         salesforce / hubspot from the id prefix (the table has no source column), for
                  the per-CRM stage rules' row_condition.
  _missing_opportunity_id
                  opportunity_id when the pull has no such opportunity, else null.

Only live rows are validated: deleted and merged-away records are already out of scoring (the
pull marks them) and are never written back, so a rule on them would only be noise; they pass
through to the valid output untouched. Nullable numbers are handed to GX as float64 (NaN for
missing), which its range metrics compare vectorised rather than value by value.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

import numpy as np
import pandas as pd

from acm_sync import domains, identity, model
from acm_sync.currency import CurrencyConfig, Rates
from acm_sync.quality.stages import StageCatalog

DAY: Final = pd.Timedelta(days=1)
KEYS: Final = {
    "accounts": "account_id",
    "contacts": "contact_id",
    "opportunities": "opportunity_id",
    "opportunity_stage_history": "opportunity_id",
}
HELPERS: Final[dict[str, tuple[str, ...]]] = {
    "accounts": (
        "_domain_key",
        "_name_key",
        "_typed_website",
        "_website_problem",
        "_satisfaction_not_a_number",
        "_satisfaction_scale",
        "_name_invisible",
    ),
    "contacts": (
        "_missing_account_id",
        "_first_name_invisible",
        "_last_name_invisible",
        "_title_invisible",
    ),
    "opportunities": (
        "_missing_account_id",
        "_name_invisible",
        "_closed_probability",
        "_closed_outcome",
        "_closed_probability_conflict",
        "_forecast_category_conflict",
        "_account_currency",
        "_currency_mismatch",
        "_currency_problem",
        "_stage_is_closed",
        "_stage_is_won",
        "_days_overdue_open",
        "_close_days_ahead",
        "_closed_without_close_date",
        "_open_without_close_date",
        "_days_created_to_close",
    ),
    "opportunity_stage_history": ("_source", "_missing_opportunity_id"),
}
SOURCE_OF_PREFIX: Final = {"sf": "salesforce", "hs": "hubspot"}
TEXT_COLUMNS: Final = {
    "accounts": ("name",),
    "contacts": ("first_name", "last_name", "title"),
    "opportunities": ("name",),
}
# Helpers that are mostly empty with few distinct texts: held as categoricals.
SPARSE_TEXT_HELPERS: Final = (
    "_website_problem",
    "_satisfaction_not_a_number",
    "_satisfaction_scale",
    "_name_invisible",
    "_first_name_invisible",
    "_last_name_invisible",
    "_title_invisible",
    "_closed_outcome",
    "_forecast_category_conflict",
    "_account_currency",
    "_currency_mismatch",
    "_currency_problem",
    "_closed_without_close_date",
    "_open_without_close_date",
)
# Unicode general categories of characters nobody sees: control, format, line / paragraph sep.
INVISIBLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})


@dataclass(frozen=True)
class RunContext:
    """What a validation run knows besides the frame: the as-of time, the CRMs' stage lists,
    and the ids the pull returned (for the reference rules)."""

    as_of: pd.Timestamp
    stages: StageCatalog = field(default_factory=StageCatalog.empty)
    account_ids: pd.Index = field(default_factory=lambda: pd.Index([], dtype=model.STRING))
    opportunity_ids: pd.Index = field(default_factory=lambda: pd.Index([], dtype=model.STRING))
    # account_id → the account's currency (for the deal-currency rule)
    account_currency: pd.Series = field(
        default_factory=lambda: pd.Series(dtype=model.STRING, index=pd.Index([], dtype=object))
    )
    currency: CurrencyConfig = field(default_factory=CurrencyConfig)
    # health.satisfaction.scale_min / scale_max: the range a CSAT / NPS must lie in
    satisfaction_scale: tuple[float, float] = (0.0, 100.0)
    # account_id → what the CRM holds in the field mapped to `satisfaction` where it is not a
    # number (connectors.raw_values.unreadable_numbers)
    satisfaction_typed: pd.Series = field(
        default_factory=lambda: pd.Series(dtype=model.STRING, index=pd.Index([], dtype=object))
    )

    @classmethod
    def from_tables(
        cls,
        tables: dict[str, pd.DataFrame],
        *,
        as_of: pd.Timestamp,
        stages: StageCatalog | None = None,
        currency: CurrencyConfig | None = None,
    ) -> RunContext:
        ids = {
            name: pd.Index(tables[table][key].dropna().unique(), dtype=model.STRING)
            for name, table, key in (
                ("account_ids", "accounts", "account_id"),
                ("opportunity_ids", "opportunities", "opportunity_id"),
            )
            if table in tables
        }
        extra: dict[str, object] = {}
        if "accounts" in tables:
            extra["account_currency"] = account_currencies(tables["accounts"])
        return cls(
            as_of=as_of,
            stages=stages or StageCatalog.empty(),
            currency=currency or CurrencyConfig(),
            **ids,
            **extra,  # type: ignore[arg-type]
        )

    def parameters(self) -> dict[str, object]:
        """Values of the suites' `$PARAMETER`s."""
        return {
            "now": self.as_of,
            "salesforce_stages": self.stages.stages("salesforce"),
            "hubspot_stages": self.stages.stages("hubspot"),
            "satisfaction_scale_min": self.satisfaction_scale[0],
            "satisfaction_scale_max": self.satisfaction_scale[1],
        }


def account_currencies(accounts: pd.DataFrame) -> pd.Series:
    """account_id → currency of the Salesforce accounts that have one. A HubSpot company has no
    currency of its own (its `currency` is the portal's default), so a deal's currency is never
    compared with it."""
    rows = accounts[accounts["source"] == "salesforce"]
    rows = rows.dropna(subset=["account_id", "currency"]).drop_duplicates("account_id")
    return pd.Series(
        rows["currency"].astype(model.STRING).str.upper().to_numpy(),
        index=rows["account_id"].astype(model.STRING).to_numpy(),
        dtype=model.STRING,
    )


def _first_invisible(text: str) -> str | None:
    for ch in text:
        if unicodedata.category(ch) in INVISIBLE_CATEGORIES:
            name = unicodedata.name(ch, "") or "control character"
            return f"U+{ord(ch):04X} {name}"
    return None


@lru_cache(maxsize=1)
def _invisible_pattern() -> re.Pattern[str]:
    """A character class of every code point in INVISIBLE_CATEGORIES, built from the Unicode
    database of this Python (not a hand list), so the rule is the category."""
    ranges: list[tuple[int, int]] = []
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp)) in INVISIBLE_CATEGORIES:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    body = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{body}]")


def invisible(values: pd.Series) -> pd.Series:
    """The first invisible character of each value, named; NA when there is none. Looked for
    once per distinct value; the answer is a categorical (mostly empty, few texts)."""
    pattern = _invisible_pattern()
    uniq = pd.unique(values.dropna().astype(object))
    named = {v: _first_invisible(v) for v in uniq if isinstance(v, str) and pattern.search(v)}
    labels = sorted({n for n in named.values() if n is not None})
    dtype = pd.CategoricalDtype(pd.Index(labels, dtype=object))
    codes = np.full(len(values), -1, dtype=np.int16)
    if named:
        bad = pd.Index(list(named), dtype=object)
        at = bad.get_indexer(pd.Index(values.astype(object)))
        label_code = np.array([labels.index(n) if n else -1 for n in named.values()], np.int16)
        found = at >= 0
        codes[found] = label_code[at[found]]
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=values.index)


def website_problems(typed: pd.Series, key: pd.Series) -> pd.Series:
    """What is wrong with each typed website (domains.problems), NA when nothing. Only accounts
    left without a domain key are looked at."""
    look = (typed.notna() & key.isna()).astype(bool)
    out = pd.Series(pd.NA, index=typed.index, dtype=model.STRING)
    if look.any():
        out[look] = domains.problems(typed[look])
    return out


def _closed_state(out: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    closed = out["is_closed"].eq(True).fillna(False).astype(bool)
    won = out["is_won"].eq(True).fillna(False).astype(bool)
    probability = pd.Series(np.nan, index=out.index)
    probability[closed & won] = 1.0
    probability[closed & ~won] = 0.0
    outcome = pd.Series(pd.NA, index=out.index, dtype=model.STRING)
    outcome[closed & won] = "won"
    outcome[closed & ~won] = "lost"
    return probability, outcome


def _forecast_category_conflict(out: pd.DataFrame) -> pd.Series:
    category = out["forecast_category"].astype(model.STRING)
    closed = out["is_closed"].eq(True).fillna(False).astype(bool)
    won = out["is_won"].eq(True).fillna(False).astype(bool)
    is_open = out["is_closed"].eq(False).fillna(False).astype(bool)
    known = category.notna()
    conflict = known & (
        (closed & won & (category != "Closed"))
        | (closed & ~won & (category != "Omitted"))
        | (is_open & (category == "Closed"))
    )
    return category.where(conflict.fillna(False).astype(bool)).astype(model.STRING)


def columns(entity: str) -> list[str]:
    """Every column a suite for `entity` may name: canonical + helpers."""
    return [*model.TABLES[entity], *HELPERS[entity]]


def live_mask(frame: pd.DataFrame) -> np.ndarray:
    if "is_deleted" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return ~frame["is_deleted"].fillna(False).to_numpy(dtype=bool)


def record_ids(entity: str, frame: pd.DataFrame) -> pd.Series:
    """The record id quarantine rows carry, one per row of `frame` (history: opportunity id @
    change time, and "#2", "#3", … on later rows of a deal changed twice in one second or with
    no time: Salesforce dates history to the second, and an insert and a workflow update often
    share it — two held rows must not read as one)."""
    if entity != "opportunity_stage_history":
        return frame[KEYS[entity]].astype(model.STRING)
    when = frame["changed_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("?")
    ids = (frame["opportunity_id"].astype(model.STRING) + "@" + when).astype(model.STRING)
    nth = ids.groupby(ids.to_numpy(), sort=False).cumcount().to_numpy()
    if not nth.any():
        return ids
    return ids.where(nth == 0, ids + "#" + pd.Series(nth + 1, index=ids.index).astype(str))


def record_names(entity: str, frame: pd.DataFrame) -> pd.Series:
    """The record's name as its CRM shows it (contacts: first + last name); NA for history."""
    if entity == "contacts":
        parts = (
            frame[["first_name", "last_name"]]
            .astype(object)
            .where(frame[["first_name", "last_name"]].notna(), "")
        )
        names = (parts["first_name"].astype(str) + " " + parts["last_name"].astype(str)).str.strip()
        return names.astype(model.STRING).mask(names == "")
    if "name" in frame.columns:
        return frame["name"].astype(model.STRING)
    return pd.Series(pd.NA, index=frame.index, dtype=model.STRING)


def sources(entity: str, frame: pd.DataFrame) -> pd.Series:
    if "source" in frame.columns:
        return frame["source"].astype(model.STRING)
    ids = frame["opportunity_id"].astype(model.STRING)
    out = pd.Series(pd.NA, index=frame.index, dtype=model.STRING)
    for prefix, source in SOURCE_OF_PREFIX.items():
        out = out.mask(ids.str.startswith(prefix + ":").fillna(False).astype(bool), source)
    return out


def source_ids(entity: str, frame: pd.DataFrame) -> pd.Series:
    if "source_id" in frame.columns:
        return frame["source_id"].astype(model.STRING)
    return frame["opportunity_id"].astype(model.STRING).str.slice(3)  # after "sf:" / "hs:"


def _missing(values: pd.Series, known: pd.Index) -> pd.Series:
    values = values.astype(model.STRING)
    return values.where(~values.isin(known) & values.notna()).astype(model.STRING)


def _as_category(frame: pd.DataFrame, helpers: tuple[str, ...]) -> pd.DataFrame:
    """Text helpers as categoricals: mostly empty, a few distinct texts, so an int8 code per
    row instead of an object pointer (a million contacts carry three of them)."""
    for column in helpers:
        if column in frame.columns and frame[column].dtype == model.STRING:
            frame[column] = frame[column].astype("category")
    return frame


def _as_float(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if str(frame[column].dtype) in (model.FLOAT, model.INT):
            frame[column] = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return frame


def prepare(entity: str, frame: pd.DataFrame, context: RunContext) -> pd.DataFrame:
    """The live rows of `frame` (canonical `entity`) with helper columns, index 0..n-1."""
    out = frame.loc[live_mask(frame)].reset_index(drop=True)
    if entity == "accounts":
        domain = out["domain"].astype(model.STRING).fillna(out["website"].astype(model.STRING))
        out["_domain_key"] = domains.domain_key(domain)
        out["_name_key"] = identity.name_key(out["name"])
        typed = out["website"].astype(model.STRING).fillna(domain)
        out["_typed_website"] = typed
        out["_website_problem"] = website_problems(typed, out["_domain_key"])
        unreadable = out["account_id"].astype(model.STRING).map(context.satisfaction_typed)
        # only where the canonical column is empty: a value since fixed in the CRM is not stale
        low, high = context.satisfaction_scale
        out["_satisfaction_scale"] = pd.Series(
            f"{low:g}…{high:g}", index=out.index, dtype=model.STRING
        )
        out["_satisfaction_not_a_number"] = (
            unreadable.astype(model.STRING).where(out["satisfaction"].isna().to_numpy())
            if "satisfaction" in out.columns
            else unreadable.astype(model.STRING)
        )
    elif entity == "contacts":
        out["_missing_account_id"] = _missing(out["account_id"], context.account_ids)
    elif entity == "opportunities":
        out["_missing_account_id"] = _missing(out["account_id"], context.account_ids)
        out["_stage_is_closed"] = context.stages.lookup(out["source"], out["stage"], "is_closed")
        out["_stage_is_won"] = context.stages.lookup(out["source"], out["stage"], "is_won")
        out["_closed_probability"], out["_closed_outcome"] = _closed_state(out)
        probability = out["stage_probability"].astype("Float64")
        wrong = (probability != out["_closed_probability"]).fillna(False).astype(bool)
        out["_closed_probability_conflict"] = probability.where(wrong)
        out["_forecast_category_conflict"] = _forecast_category_conflict(out)
        account = out["account_id"].astype(model.STRING)
        out["_account_currency"] = account.map(context.account_currency).astype(model.STRING)
        deal_currency = out["currency"].astype(model.STRING).str.upper()
        differs = (deal_currency != out["_account_currency"]).fillna(False).astype(bool)
        out["_currency_mismatch"] = deal_currency.where(differs)
        out["_currency_problem"] = Rates(context.currency).problems(out["currency"])
        # Whole calendar days (UTC): the same text all day, so a re-run the same day
        # writes no changed issue text back.
        today = pd.Timestamp(context.as_of).floor("D")
        overdue = (today - out["close_date"].dt.floor("D")).dt.total_seconds() / DAY.total_seconds()
        is_open = out["is_closed"].eq(False).fillna(False).astype(bool)
        out["_days_overdue_open"] = np.floor(overdue.where(is_open).astype("float64"))
        out["_close_days_ahead"] = np.floor(-overdue.astype("float64"))
        no_close = out["close_date"].isna().to_numpy()
        stage = out["stage"].astype(model.STRING).fillna("(none)")
        out["_closed_without_close_date"] = stage.where(no_close & ~is_open.to_numpy())
        out["_open_without_close_date"] = stage.where(no_close & is_open.to_numpy())
        to_close = out["close_date"].dt.floor("D") - out["created_at"].dt.floor("D")
        out["_days_created_to_close"] = (to_close / DAY).astype("float64")
    elif entity == "opportunity_stage_history":
        out["_source"] = sources(entity, out)
        out["_missing_opportunity_id"] = _missing(out["opportunity_id"], context.opportunity_ids)
    for column in TEXT_COLUMNS.get(entity, ()):
        out[f"_{column}_invisible"] = invisible(out[column])
    return _as_float(_as_category(out, SPARSE_TEXT_HELPERS))
