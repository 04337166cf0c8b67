"""Account tiers: Key, New, Dormant, Existing, Prospect — each with a one-line reason.

Rules (all as of `as_of`; "won" = a won deal with close date on or before as_of):

- **Key (revenue)**: the smallest set of paying accounts (T12M won revenue > 0), largest first,
  whose T12M won revenue reaches `key_revenue_share` of the total — capped at `key_max_share`
  of paying accounts (floor, but at least one once anyone pays). Ties in revenue are broken by
  account_key so the set is deterministic; a payer left out by that tie-break says so in its
  reason ("tied with #k (the last Key account) …"), so two accounts with the same revenue in
  different tiers read why.
- **Key (strategic)**, when enabled: open pipeline ≥ `strategic.min_open_pipeline`, or T12M
  growth ≥ `strategic.min_growth` on a prior-12-month base ≥ `strategic.min_growth_base`,
  not made by one deal (without the window's largest won deal, it still paid what it paid
  before: one more or one bigger deal is no trend).
  Applies to accounts that have won before (and prospects if `include_prospects`).
- **New**: first won deal within `new_days`.
- **Dormant**: has won, but no won deal and no activity within `dormant_days`.
- **Existing**: has won (the catch-all for customers).
- **Prospect**: never won (the catch-all for the rest).

An account can qualify for several rules (a new logo with a huge first deal is New *and* Key);
`tiers.precedence` decides, first listed wins. Existing and Prospect are complementary, so every
account gets exactly one tier whatever the order.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from acm_sync.scoring import text
from acm_sync.scoring.book import AccountBook
from acm_sync.scoring.facts import account_facts, trend_text
from acm_sync.scoring.periods import Instant, days_between, nanos, utc
from acm_sync.scoring.settings import TiersConfig

# Relative slack when comparing a cumulative revenue share with the target, so that
# 50 + 30 reaching 80 % of 100 is not missed by float rounding.
_SHARE_TOLERANCE = 1e-9


def score_tiers(book: AccountBook, as_of: Instant, config: TiersConfig) -> pd.DataFrame:
    """Tier per unified account.

    Columns: account_key, tier (Key/New/Dormant/Existing/Prospect), tier_reason (≤ 255 chars),
    t12m_won_revenue, prior_won_revenue, open_pipeline, first_won_at, last_won_at,
    last_activity_at, revenue_rank (1 = largest T12M payer; <NA> if not paying),
    revenue_share (of all T12M won revenue), key_by_revenue, key_strategic, key_strategic_by
    ("pipeline" / "growth" for a strategic Key account, else <NA>), plus one boolean
    `qualifies_<tier>` per rule (before precedence) for audit.
    """
    facts = account_facts(book, as_of, config.revenue_window_days)
    rank = revenue_rank(facts["t12m_won_revenue"].to_numpy(), facts["account_key"].to_numpy())
    key_revenue = pareto_key(
        facts["t12m_won_revenue"].to_numpy(),
        facts["account_key"].to_numpy(),
        config.key_revenue_share,
        config.key_max_share,
    )
    by_pipeline, by_growth = _strategic(facts, config)
    strategic = by_pipeline | by_growth
    qualifies = _qualifying_rules(facts, as_of, config, key_revenue | strategic)

    tier = _apply_precedence(qualifies, config.precedence)
    total = facts["t12m_won_revenue"].sum()
    out = facts[
        [
            "account_key",
            "t12m_won_revenue",
            "prior_won_revenue",
            "open_pipeline",
            "first_won_at",
            "last_won_at",
            "last_activity_at",
        ]
    ].copy()
    out.insert(1, "tier", pd.Series(tier, dtype="string"))
    out["revenue_rank"] = pd.Series(rank, dtype="Int64").where(rank > 0)
    out["revenue_share"] = facts["t12m_won_revenue"] / total if total > 0 else 0.0
    out["key_by_revenue"] = key_revenue
    out["key_strategic"] = strategic & ~key_revenue
    rule = np.full(len(out), None, dtype=object)
    rule[by_growth] = "growth"
    rule[by_pipeline] = "pipeline"
    rule[key_revenue] = None
    out["key_strategic_by"] = pd.Series(rule, dtype="string")
    for name, mask in qualifies.items():
        out[f"qualifies_{name.lower()}"] = mask
    reasons = _reasons(out, facts, as_of, config, book.currency)
    out.insert(2, "tier_reason", pd.Series(reasons, dtype="string"))
    return out


def revenue_rank(revenue: npt.NDArray[np.float64], keys: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """1-based rank by revenue (desc, ties by key asc) among paying accounts; 0 if not paying."""
    order = _payer_order(revenue, keys)
    rank = np.zeros(len(revenue), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def pareto_key(
    revenue: npt.NDArray[np.float64],
    keys: npt.ArrayLike,
    revenue_share: float,
    max_share: float,
) -> npt.NDArray[np.bool_]:
    """The Key set by revenue: smallest top set reaching `revenue_share`, capped at
    `max_share` of paying accounts (floor, at least one). Worked example: revenues
    [50, 30, 10, 5, 5], share 0.8 → the top two reach 80; cap 0.2 × 5 = 1 → only the 50."""
    order = _payer_order(revenue, keys)
    selected = np.zeros(len(revenue), dtype=bool)
    needed, cap = pareto_cut(revenue[order], revenue_share, max_share)
    selected[order[: min(needed, cap)]] = True
    return selected


def pareto_cut(
    revenue_desc: npt.NDArray[np.float64], revenue_share: float, max_share: float
) -> tuple[int, int]:
    """(accounts needed to reach `revenue_share`, the cap) for payers sorted largest first;
    the Key set is the top min(needed, cap). (0, 0) without payers."""
    if len(revenue_desc) == 0:
        return 0, 0
    cumulative = np.cumsum(revenue_desc)
    target = revenue_share * cumulative[-1] * (1 - _SHARE_TOLERANCE)
    needed = min(int(np.searchsorted(cumulative, target, side="left")) + 1, len(revenue_desc))
    cap = max(1, math.floor(max_share * len(revenue_desc) + _SHARE_TOLERANCE))
    return needed, cap


def _payer_order(revenue: npt.NDArray[np.float64], keys: npt.ArrayLike) -> npt.NDArray[np.intp]:
    paying = np.flatnonzero(revenue > 0)
    key_array = np.asarray(keys, dtype=object)[paying].astype(str)
    # lexsort: last key is primary → revenue desc, then account_key asc
    return paying[np.lexsort((key_array, -revenue[paying]))]


def _strategic(
    facts: pd.DataFrame, config: TiersConfig
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(strategic by open pipeline, strategic by growth and not by pipeline) per account."""
    rule = config.strategic
    none = np.zeros(len(facts), dtype=bool)
    if not rule.enabled:
        return none, none
    eligible = facts["won_deals"].to_numpy() > 0
    if rule.include_prospects:
        eligible = np.ones(len(facts), dtype=bool)
    by_pipeline, by_growth = none, none
    if rule.min_open_pipeline is not None:
        by_pipeline = facts["open_pipeline"].to_numpy() >= max(rule.min_open_pipeline, 1e-9)
    if rule.min_growth is not None:
        by_growth = _growth_marked(facts, rule.min_growth, rule.min_growth_base)
    return eligible & by_pipeline, eligible & by_growth & ~by_pipeline


def _growth_marked(facts: pd.DataFrame, min_growth: float, base: float) -> npt.NDArray[np.bool_]:
    """Growth over what the revenue trend compares (`facts.trend_span`: T12M vs the prior 12
    months, or the same days of both years in a CRM younger than two years; none under half a
    year of them) — and not made by one deal: without the current span's largest won deal the
    account still paid at least what it paid before (`_growth`)."""
    prior = facts["trend_prior"].to_numpy(dtype=float)
    growth, without_largest = _growth(facts)
    return (prior > 0) & (prior >= base) & (growth >= min_growth) & (without_largest >= 0)


def _growth(facts: pd.DataFrame) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Revenue growth per account (0 without a prior base), and the same without the largest
    single won deal of the current span.

    Why both: a B2B account wins a few lumpy deals a year, so one more deal than last year, or
    one bigger deal in place of last year's, reads as doubling. On Pipeline Command Center,
    whose deals go to account names at random (so no account grows there but by chance),
    "up ≥ 100 %" marked 31 of 288 payers strategic. Growth whose increase is larger than the
    largest deal (without it, the account still paid what it paid before) is carried by more
    than one deal: 16 of them there. Requiring the whole `min_growth` without the largest deal
    (4 there) would miss an account that doubled over many deals (4 → 8 equal deals: +75 %
    without one)."""
    prior = facts["trend_prior"].to_numpy(dtype=float)
    current = facts["trend_current"].to_numpy(dtype=float)
    largest = np.nan_to_num(facts["trend_current_largest"].to_numpy(dtype=float))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        growth = np.where(prior > 0, current / prior - 1, 0)
        without = np.where(prior > 0, (current - largest) / prior - 1, 0)
    return growth, without


def _qualifying_rules(
    facts: pd.DataFrame, as_of: Instant, config: TiersConfig, key: npt.NDArray[np.bool_]
) -> dict[str, npt.NDArray[np.bool_]]:
    now = utc(as_of).value
    has_won = facts["won_deals"].to_numpy() > 0
    days_since_first = days_between(nanos(facts["first_won_at"]), now)
    days_since_last = days_between(nanos(facts["last_won_at"]), now)
    days_quiet = facts["days_since_activity"].to_numpy()
    quiet = np.isnan(days_quiet) | (days_quiet >= config.dormant_days)
    return {
        "Key": key,
        "New": has_won & (days_since_first <= config.new_days),
        # ≥, not >: a win exactly `dormant_days` ago has just left the trailing window
        # (which ends after as_of − window), so it must count as dormant, not fall between.
        "Dormant": has_won & (days_since_last >= config.dormant_days) & quiet,
        "Existing": has_won,
        "Prospect": ~has_won,
    }


def _apply_precedence(
    qualifies: dict[str, npt.NDArray[np.bool_]], precedence: tuple[str, ...]
) -> npt.NDArray[np.object_]:
    n = len(next(iter(qualifies.values())))
    tier = np.full(n, "", dtype=object)
    assigned = np.zeros(n, dtype=bool)
    for name in precedence:
        take = ~assigned & qualifies[name]
        tier[take] = name
        assigned |= take
    return tier


def _reasons(
    out: pd.DataFrame, facts: pd.DataFrame, as_of: Instant, config: TiersConfig, currency: str
) -> text.Text:
    symbol = text.currency_symbol(currency)
    now = utc(as_of).value
    n = len(out)
    t12m = text.money(out["t12m_won_revenue"], symbol)
    pipeline = text.money(out["open_pipeline"], symbol)
    rank = out["revenue_rank"].fillna(0).to_numpy(dtype=np.int64)
    paying = int((out["t12m_won_revenue"] > 0).sum())
    payers = f"{paying:,} paying {_accounts(paying)}"
    first_won, last_won = text.dates(out["first_won_at"]), text.dates(out["last_won_at"])
    days_first = text.count(days_between(nanos(out["first_won_at"]), now), "day")
    last_touch = text.dates(out["last_activity_at"])

    key_revenue = (
        "Key: #"
        + text.grouped(rank)
        + f" of {payers} by T12M won revenue ("
        + t12m
        + ", "
        + text.percent(out["revenue_share"])
        + " of total)"
    )
    needed, cap = pareto_cut(
        np.sort(out["t12m_won_revenue"].to_numpy()[rank > 0])[::-1],
        config.key_revenue_share,
        config.key_max_share,
    )
    cap_text = f"top {config.key_max_share:.0%} cap".replace("%", " %")
    if needed > cap:  # the cap, not the revenue share, decided where Key ends
        key_revenue = (
            "Key: #"
            + text.grouped(rank)
            + f" of {payers} — {cap_text} (T12M won revenue "
            + t12m
            + ", "
            + text.percent(out["revenue_share"])
            + " of total)"
        )
    # payers the revenue share would have made Key but the cap left out say so
    beyond_cap = (rank > cap) & (rank <= needed)
    not_key = text.choose(
        beyond_cap,
        "; not Key: #"
        + text.grouped(rank)
        + f" of {payers}, below the {cap_text} ({cap:,} {_accounts(cap)})",
        text.constant("", n),
    )
    # a payer left out with the same revenue as the last Key account: the cut fell inside a
    # tie, and only the account id (the deterministic tie-break) put it on this side
    revenue = out["t12m_won_revenue"].to_numpy()
    by_revenue = out["key_by_revenue"].to_numpy(dtype=bool)
    if by_revenue.any():
        last = int(rank[by_revenue].max())
        cut = float(revenue[rank == last][0])
        tied = (rank > last) & (revenue == cut)
        not_key = text.choose(
            tied,
            "; not Key: #"
            + text.grouped(rank)
            + f" of {payers}, tied with #{last:,} (the last Key account) at "
            + text.money([cut], symbol)[0]
            + " — ties at the Key cut go by account id",
            not_key,
        )
    key_strategic = _strategic_reason(
        facts, config, symbol, pipeline, (out["key_strategic_by"] == "pipeline").fillna(False)
    )
    by_tier: dict[str, text.Text] = {
        "Key": text.choose(out["key_by_revenue"], key_revenue, key_strategic),
        "New": "New: first deal won " + first_won + " (" + days_first + " ago)" + not_key,
        "Dormant": (
            f"Dormant: no won deal or activity in {config.dormant_days} days (last won "
            + last_won
            + ", last activity "
            + last_touch
            + ")"
        ),
        "Existing": "Existing: T12M won revenue " + t12m + ", last deal won " + last_won + not_key,
        "Prospect": text.choose(
            out["open_pipeline"] > 0,
            "Prospect: no won deal yet, open pipeline " + pipeline,
            text.constant("Prospect: no won deal yet", n),
        ),
    }
    reasons = text.constant("", n)
    tier = out["tier"].to_numpy(dtype=object)
    for name, reason in by_tier.items():
        reasons = np.where(tier == name, reason, reasons)
    return text.clip(reasons, text.REASON_MAX)


def _strategic_reason(
    facts: pd.DataFrame,
    config: TiersConfig,
    symbol: str,
    pipeline: text.Text,
    by_pipeline: pd.Series,
) -> text.Text:
    rule = config.strategic
    n = len(facts)
    threshold = text.money([rule.min_open_pipeline or 0], symbol)[0]
    prior = facts["trend_prior"].to_numpy(dtype=float)
    current = facts["trend_current"].to_numpy(dtype=float)
    growth, without = _growth(facts)
    up = text.percent(growth)
    # the rule's second test: not made by one deal (`_growth`)
    still = (
        "; without its largest deal ("
        + text.money(facts["trend_current_largest"], symbol)
        + ") "
        + text.choose(without >= 0, text.constant("up ", n), text.constant("down ", n))
        + text.percent(np.abs(without))
    )
    growth_text = text.choose(
        facts["trend_whole_window"].to_numpy(dtype=bool),
        "Key (strategic): T12M won revenue up "
        + up
        + " ("
        + text.money(current, symbol)
        + " vs "
        + text.money(prior, symbol)
        + ")"
        + still,
        "Key (strategic): won revenue up " + up + " (" + trend_text(facts, symbol) + ")" + still,
    )
    pipeline_text = "Key (strategic): open pipeline " + pipeline + " ≥ " + threshold
    return text.choose(by_pipeline, pipeline_text, growth_text)


def _accounts(n: int) -> str:
    return "account" if n == 1 else "accounts"
