"""Account health: a 0–100 score from weighted components, a band, a trend and its drivers.

Components (each 0–100; NaN = no data for that account, left out and the other weights
scaled up for it):

- engagement_recency: last activity on the account or any contact; 100 within
  `engagement.full_score_days`, falling linearly to 0 at `engagement.zero_score_days`. Never
  touched scores 0 (silence is a signal, not missing data).
- contact_coverage: half for reachable contacts (usable email) up to `target_reachable`, half
  for reachable decision makers (title regex) up to `target_decision_makers`.
- revenue_trend: T12M won revenue vs the prior 12 months, 50 = flat, 0 = all gone:
  50 + 50 · (t12m − prior) / max(t12m, prior). Missing when the prior 12 months had no won
  revenue: without a year to compare with there is no trend (not "all new"), so the component
  is left out and the other weights renormalised. A CRM younger than two years compares the
  same calendar days of both years, as far back as its history goes, or — under half a year
  of them — has no trend at all (`facts.trend_span`).
- pipeline_coverage: open pipeline plus what was won in the last `recent_win_days`, relative
  to T12M won revenue; `target_ratio` of it scores 100. Recent wins count because a win turns
  open pipeline into revenue: marking a deal won must not read as lost coverage. With no T12M
  revenue: 100 if anything is open, else 0.
- renewal_risk: 100 minus the amount-weighted share of open renewals at risk — overdue ones
  count fully, ones closing within `window_days` below `safe_probability` count half. Missing
  without open renewals.
- data_quality: mean of the shares of filled account fields (name, domain, industry, owner),
  complete contacts (usable email and last name) and clean open deals (amount > 0, close
  date not past).
- satisfaction: the canonical accounts column `satisfaction` (CSAT / NPS from the CRM field
  `sync.<crm>.fields.accounts.satisfaction` maps; the mean over a company's records) rescaled
  from [scale_min, scale_max] to 0–100; missing when not mapped or empty.

Monotone by construction in what account managers expect: a more recent activity or another
reachable decision maker never lowers the score.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from acm_sync.scoring import text
from acm_sync.scoring.book import AccountBook, matches
from acm_sync.scoring.facts import account_facts, trend_text
from acm_sync.scoring.periods import NAT, NS_PER_DAY, Instant, nanos, utc
from acm_sync.scoring.settings import HealthConfig

COMPONENTS: Final = (
    "engagement_recency",
    "contact_coverage",
    "revenue_trend",
    "pipeline_coverage",
    "renewal_risk",
    "data_quality",
    "satisfaction",
)
LABELS: Final = {
    "engagement_recency": "Engagement",
    "contact_coverage": "Contact coverage",
    "revenue_trend": "Revenue trend",
    "pipeline_coverage": "Pipeline coverage",
    "renewal_risk": "Renewal risk",
    "data_quality": "Data quality",
    "satisfaction": "Satisfaction",
}
BANDS: Final = ("Green", "Yellow", "Red")
TRENDS: Final = ("Up", "Flat", "Down", "New")
NEUTRAL: Final = 50.0  # a component at 50 neither lifts nor drags the score
# The drivers text of an account no weighted component has data for (score and band stay
# empty: a number would be invented), followed by each weighted component and why it is missing.
NO_SCORE: Final = "Not scored: no data for any weighted component"


def score_health(
    book: AccountBook,
    as_of: Instant,
    config: HealthConfig,
    previous: pd.DataFrame | None = None,
    *,
    revenue_window_days: int = 365,
) -> pd.DataFrame:
    """Health per unified account.

    `previous` is the last run's snapshot (account_key, health_score) for the trend.

    Columns: account_key, health_score (0–100, whole points; <NA> only if no weighted component
    has data), health_band (Green/Yellow/Red; <NA> without a score), health_trend
    (Up/Flat/Down/New; <NA> without a score), health_drivers (≤ 1000 chars; without a score,
    "Not scored: …" and why each weighted component has no data), previous_health_score,
    health_change, `<component>_score` for each component, and their inputs:
    days_since_activity, reachable_contacts, decision_makers, t12m_won_revenue,
    prior_won_revenue, open_pipeline, open_renewals, renewals_at_risk_share.
    """
    facts = account_facts(book, as_of, revenue_window_days)
    inputs = _inputs(book, as_of, config, facts)
    components = _components(book, config, inputs)
    weights = np.array([getattr(config.weights, c) for c in COMPONENTS], dtype=float)
    score, impact = combine(components, weights)
    # Whole points, as the CRMs show it (ACM_Health_Score__c has scale 0; halves round up, as
    # Salesforce rounds): the band and the trend read the score the user sees, so a 39.96
    # shown as 40 is not banded Red under a Yellow that starts at 40.
    score = np.floor(score + 0.5)

    out = pd.DataFrame({"account_key": book.accounts["account_key"].to_numpy()})
    out["health_score"] = pd.array(score, dtype="Float64")
    out["health_band"] = pd.Series(band(score, config), dtype="string")
    previous_score = _previous(out["account_key"], previous)
    out["health_trend"] = pd.Series(trend(score, previous_score, config), dtype="string")
    shown = drivers(components, impact, _details(inputs, book.currency), config.drivers_shown)
    # no weighted component has data: nothing drives a score that is not there — say why not
    unscored = np.isnan(score)
    shown[unscored] = not_scored(_missing(book, inputs, config)[unscored], weights)
    out["health_drivers"] = pd.Series(shown, dtype="string")
    out["previous_health_score"] = pd.array(previous_score, dtype="Float64")
    out["health_change"] = pd.array(np.round(score - previous_score, 1), dtype="Float64")
    for i, name in enumerate(COMPONENTS):
        out[f"{name}_score"] = pd.array(np.round(components[:, i], 1), dtype="Float64")
    for column in (
        "days_since_activity",
        "reachable_contacts",
        "decision_makers",
        "t12m_won_revenue",
        "prior_won_revenue",
        "open_pipeline",
        "open_renewals",
        "renewals_at_risk_share",
    ):
        out[column] = inputs[column]
    return out


def data_gaps(health: pd.DataFrame, book: AccountBook, config: HealthConfig) -> list[str]:
    """Weighted components the whole org has no data for, each with what to do about it.

    An org whose CRM logs no activities (reps work in another tool) or holds no contacts
    scores every account 0 on engagement or contact coverage: silence is a signal on one
    account, but the same silence on every account says the data is not kept here. The scores
    stay as they are — treating it as missing would move every other account the day the first
    activity is logged — and this says which weight to set to 0 if so."""
    if not len(health):
        return []
    weights = config.weights
    gaps = []
    if weights.engagement_recency > 0 and health["days_since_activity"].isna().all():
        gaps.append(
            "engagement: no activity is recorded on any account or contact, so every account "
            "scores 0 on it; if this CRM does not log activities, set "
            "health.weights.engagement_recency: 0"
        )
    if weights.contact_coverage > 0 and not len(book.contacts):
        gaps.append(
            "contact coverage: the CRM holds no contacts, so every account scores 0 on it; if "
            "contacts are kept elsewhere, set health.weights.contact_coverage: 0"
        )
    return gaps


def combine(
    components: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Weighted mean over the components each account has data for, and each component's
    impact in points relative to neutral (positive lifts the score)."""
    present = ~np.isnan(components) & (weights > 0)
    effective = np.where(present, weights, 0.0)
    total = effective.sum(axis=1)
    safe_total = np.where(total > 0, total, 1.0)[:, None]
    filled = np.where(present, components, 0.0)
    score = np.where(total > 0, (effective * filled).sum(axis=1) / safe_total[:, 0], np.nan)
    impact = np.where(present, (filled - NEUTRAL) * effective / safe_total, np.nan)
    return np.clip(score, 0, 100), impact


def band(score: npt.NDArray[np.float64], config: HealthConfig) -> npt.NDArray[np.object_]:
    out = np.where(
        score >= config.bands.green_min,
        "Green",
        np.where(score >= config.bands.yellow_min, "Yellow", "Red"),
    ).astype(object)
    out[np.isnan(score)] = None
    return out


def trend(
    score: npt.NDArray[np.float64],
    previous: npt.NDArray[np.float64],
    config: HealthConfig,
) -> npt.NDArray[np.object_]:
    change = score - previous
    out = np.where(
        change >= config.trend_threshold,
        "Up",
        np.where(change <= -config.trend_threshold, "Down", "Flat"),
    ).astype(object)
    out[np.isnan(previous)] = "New"
    # no score now: nothing to compare, and not a first score either (the drivers say why)
    out[np.isnan(score)] = None
    return out


def drivers(
    components: npt.NDArray[np.float64],
    impact: npt.NDArray[np.float64],
    details: npt.NDArray[np.object_],
    shown: int,
) -> npt.NDArray[np.object_]:
    """ "Up: Engagement 100 (last activity 3 days ago); … | Down: Renewal risk 0 (…)"."""
    n = len(components)
    labels = np.array([LABELS[c] for c in COMPONENTS], dtype=object)
    values = np.where(np.isnan(components), 0, components)
    rows = np.arange(n)

    def ranked(direction: float) -> npt.NDArray[np.object_]:
        signed = np.where(np.isnan(impact), 0.0, impact * direction)
        # stable sort on −impact: the strongest first, ties in component order
        order = np.argsort(-signed, axis=1, kind="stable")[:, :shown]
        out = text.constant("", n)
        for rank in range(order.shape[1]):
            column = order[:, rank]
            strong = signed[rows, column] >= 0.5  # under half a point is noise, not a driver
            piece = (
                labels[column]
                + " "
                + text.integer(values[rows, column])
                + " ("
                + details[rows, column]
                + ")"
            )
            separator = np.where(out == "", "", "; ").astype(object)
            out = np.where(strong, out + separator + piece, out)
        return out

    up, down = ranked(1.0), ranked(-1.0)
    both = (up != "") & (down != "")
    result = np.where(up != "", "Up: " + up, "") + np.where(both, " | ", "")
    result = result + np.where(down != "", "Down: " + down, "")
    result = np.where(result == "", "No strong drivers: components near neutral", result)
    return text.clip(result.astype(object), text.DRIVERS_MAX)


def not_scored(
    missing: npt.NDArray[np.object_], weights: npt.NDArray[np.float64]
) -> npt.NDArray[np.object_]:
    """The drivers text of accounts no weighted component has data for: "Not scored: no data
    for any weighted component — Revenue trend (no won revenue in the prior 12 months);
    Renewal risk (no open renewal)". `missing`: (accounts × components) why each has no data."""
    pieces = [
        (np.ones(len(missing), dtype=bool), LABELS[name] + " (" + missing[:, i] + ")")
        for i, name in enumerate(COMPONENTS)
        if weights[i] > 0
    ]
    reasons = text.join(pieces, rows=len(missing))
    return text.clip(NO_SCORE + " — " + reasons, text.DRIVERS_MAX)


def _missing(
    book: AccountBook, inputs: pd.DataFrame, config: HealthConfig
) -> npt.NDArray[np.object_]:
    """(accounts × components) why a component has no data for the account (read only where
    it has none)."""
    n = len(inputs)
    days = inputs["trend_days"].to_numpy(dtype=float)
    whole = inputs["trend_whole_window"].to_numpy(dtype=bool)
    revenue = text.choose(
        np.isnan(days),
        text.constant("the CRM's history holds under half a year of the prior year", n),
        text.choose(
            whole,
            text.constant("no won revenue in the prior 12 months", n),
            "no won revenue in the same "
            + text.count(np.nan_to_num(days), "day")
            + " a year before",
        ),
    )
    value = inputs["satisfaction"].to_numpy(dtype=float)
    low, high = config.satisfaction.scale_min, config.satisfaction.scale_max
    satisfaction = text.choose(
        np.isnan(value),
        text.constant(
            "no CSAT / NPS value"
            if book.accounts["satisfaction"].notna().any()
            else "no CSAT / NPS value on any account: map the CRM field holding it, "
            "sync.<crm>.fields.accounts.satisfaction",
            n,
        ),
        "CSAT / NPS " + _csat(value) + f" outside the scale {low:g}…{high:g}",
    )
    nothing = text.constant("no data", n)
    return np.column_stack(
        [
            nothing,  # engagement: never missing (no activity scores 0)
            nothing,  # contact coverage: never missing (no contacts score 0)
            revenue,
            nothing,  # pipeline coverage: never missing
            text.constant("no open renewal", n),
            text.constant("no account fields, contacts or open deals to check", n),
            satisfaction,
        ]
    ).astype(object)


def _inputs(
    book: AccountBook, as_of: Instant, config: HealthConfig, facts: pd.DataFrame
) -> pd.DataFrame:
    """The raw per-account measurements the components are computed from."""
    now = utc(as_of).value
    people = book.contacts
    people_pos = people["account_pos"].to_numpy()
    reachable = people["reachable"].to_numpy()
    decision_maker = reachable & matches(
        people["title"], config.contact_coverage.decision_maker_titles
    )
    complete = reachable & people["has_last_name"].to_numpy()

    deals = book.opportunities
    deal_pos = deals["account_pos"].to_numpy()
    open_ = ~deals["is_closed"].to_numpy()
    close = nanos(deals["close_date"])
    amount = deals["amount"].to_numpy()
    today = now - now % NS_PER_DAY
    overdue = open_ & (close != NAT) & (close < today)
    renewal = open_ & (text.objects(deals["type"]) == "renewal")  # a blank type is <NA>
    soon = close <= now + config.renewal_risk.window_days * NS_PER_DAY
    early = ~(deals["stage_probability"].to_numpy() >= config.renewal_risk.safe_probability)
    risk = np.where(overdue, 1.0, np.where(soon & early, 0.5, 0.0))
    exposure = np.maximum(amount, 1.0)  # zero-amount renewals still count, by number
    clean_deal = open_ & (amount > 0) & ~overdue & (close != NAT)

    renewal_exposure = book.per_account(deal_pos[renewal], exposure[renewal])
    inputs = facts[
        [
            "days_since_activity",
            "t12m_won_revenue",
            "prior_won_revenue",
            "open_pipeline",
            "trend_current",
            "trend_prior",
            "trend_days",
            "trend_whole_window",
        ]
    ].copy()
    recent = config.pipeline_coverage.recent_win_days * NS_PER_DAY
    won_recently = (
        deals["is_won"].to_numpy() & (close != NAT) & (close <= now) & (close > now - recent)
    )
    inputs["recent_won_revenue"] = book.per_account(deal_pos[won_recently], amount[won_recently])
    inputs["reachable_contacts"] = book.per_account(people_pos[reachable]).astype(np.int64)
    inputs["decision_makers"] = book.per_account(people_pos[decision_maker]).astype(np.int64)
    inputs["contacts"] = book.per_account(people_pos)
    inputs["complete_contacts"] = book.per_account(people_pos[complete])
    inputs["open_renewals"] = book.per_account(deal_pos[renewal]).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inputs["renewals_at_risk_share"] = (
            book.per_account(deal_pos[renewal], (exposure * risk)[renewal]) / renewal_exposure
        )
    inputs["open_deals"] = book.per_account(deal_pos[open_])
    inputs["clean_open_deals"] = book.per_account(deal_pos[clean_deal])
    inputs["account_fields_filled"] = book.accounts["account_fields_filled"].to_numpy()
    inputs["satisfaction"] = book.accounts["satisfaction"].to_numpy(dtype=float, na_value=np.nan)
    return inputs


def _components(
    book: AccountBook, config: HealthConfig, inputs: pd.DataFrame
) -> npt.NDArray[np.float64]:
    """(accounts × components) matrix of 0–100 scores, NaN where an account has no data."""
    days = inputs["days_since_activity"].to_numpy()
    full, zero = config.engagement.full_score_days, config.engagement.zero_score_days
    engagement = 100 * np.clip((zero - days) / max(zero - full, 1e-9), 0, 1)
    engagement = np.where(np.isnan(days), 0.0, engagement)

    coverage = config.contact_coverage
    contact = 50 * np.minimum(1, inputs["reachable_contacts"] / coverage.target_reachable)
    contact += 50 * np.minimum(1, inputs["decision_makers"] / coverage.target_decision_makers)

    t12m = inputs["t12m_won_revenue"].to_numpy()
    current = inputs["trend_current"].to_numpy(dtype=float)
    prior = inputs["trend_prior"].to_numpy(dtype=float)
    larger = np.maximum(current, prior)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        revenue = np.where(prior > 0, NEUTRAL + NEUTRAL * (current - prior) / larger, np.nan)
        covered = inputs["open_pipeline"].to_numpy() + inputs["recent_won_revenue"].to_numpy()
        pipeline_ratio = covered / (t12m * config.pipeline_coverage.target_ratio)
    pipeline = np.where(
        t12m > 0,
        100 * np.minimum(1, pipeline_ratio),
        np.where(inputs["open_pipeline"].to_numpy() > 0, 100.0, 0.0),
    )
    renewal = 100 * (1 - inputs["renewals_at_risk_share"].to_numpy())

    quality = np.nanmean(
        np.column_stack(
            [
                inputs["account_fields_filled"].to_numpy(),
                _share(inputs["complete_contacts"], inputs["contacts"]),
                _share(inputs["clean_open_deals"], inputs["open_deals"]),
            ]
        ),
        axis=1,
    )
    satisfaction = _rescaled(inputs["satisfaction"].to_numpy(dtype=float), config)
    matrix = np.column_stack(
        [engagement, contact, revenue, pipeline, renewal, 100 * quality, satisfaction]
    ).astype(float)
    return np.clip(matrix, 0, 100)


def _csat(values: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    """CSAT / NPS as read: whole numbers as such ("72"), else one decimal ("4.5" on a 1–5
    scale, where a whole number would hide half the scale); NaN → "0" (not shown)."""
    rounded = pd.Series(np.nan_to_num(values)).round(1)
    return rounded.map("{:g}".format).to_numpy(dtype=object)


def _rescaled(values: npt.NDArray[np.float64], config: HealthConfig) -> npt.NDArray[np.float64]:
    """CSAT / NPS on scale_min…scale_max → 0–100. A value outside the scale is left out (NaN),
    not clipped: a 7 on a 1–5 CSAT, or an NPS read on the default 0…100, is a typo or a wrong
    scale (quality flags it, `satisfaction_out_of_scale`), and 100 or 0 would be invented."""
    low, high = config.satisfaction.scale_min, config.satisfaction.scale_max
    inside = (values >= low) & (values <= high)
    return np.where(inside, 100 * (values - low) / (high - low), np.nan)


def _share(part: pd.Series, whole: pd.Series) -> npt.NDArray[np.float64]:
    whole_array = whole.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(whole_array > 0, part.to_numpy(dtype=float) / whole_array, np.nan)


def _details(inputs: pd.DataFrame, currency: str) -> npt.NDArray[np.object_]:
    """(accounts × components) object matrix: the evidence behind each component."""
    symbol = text.currency_symbol(currency)
    days = inputs["days_since_activity"].to_numpy()
    engagement = text.choose(
        np.isnan(days),
        text.constant("no activity recorded", len(days)),
        "last activity " + text.count(np.maximum(days, 0), "day") + " ago",
    )
    contacts = (
        text.integer(inputs["reachable_contacts"])
        + " reachable, "
        + text.count(inputs["decision_makers"], "decision maker")
    )
    revenue = trend_text(inputs, symbol)
    recent = inputs["recent_won_revenue"].to_numpy()
    pipeline = "open pipeline " + text.money(inputs["open_pipeline"], symbol)
    pipeline = text.choose(
        recent > 0, pipeline + " + won recently " + text.money(recent, symbol), pipeline
    )
    renewals = (
        text.percent(np.nan_to_num(inputs["renewals_at_risk_share"].to_numpy()))
        + " of "
        + text.count(inputs["open_renewals"], "open renewal")
        + " at risk"
    )
    contact_share = _share(inputs["complete_contacts"], inputs["contacts"])
    quality = (
        "account fields "
        + text.percent(inputs["account_fields_filled"])
        + text.choose(
            np.isnan(contact_share),
            text.constant(", no contacts", len(inputs)),
            ", contacts " + text.percent(contact_share) + " complete",
        )
    )
    satisfaction = "CSAT/NPS " + _csat(inputs["satisfaction"].to_numpy(dtype=float))
    return np.column_stack(
        [
            engagement,
            contacts,
            revenue,
            pipeline,
            renewals,
            quality,
            satisfaction,
        ]
    ).astype(object)


def _previous(keys: pd.Series, previous: pd.DataFrame | None) -> npt.NDArray[np.float64]:
    if previous is None or previous.empty:
        return np.full(len(keys), np.nan)
    last = previous.drop_duplicates("account_key", keep="last").set_index("account_key")
    mapped = keys.map(last["health_score"].astype("Float64"))
    return np.asarray(mapped.to_numpy(dtype=float, na_value=np.nan), dtype=np.float64)
