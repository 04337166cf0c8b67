"""Scoring's settings: the `tiers`, `health`, `forecast` and `next_action` sections of
acm_sync.yaml (with `currency`, which scoring reads too), as frozen pydantic models with
`extra="forbid"`. `acm_sync.config` assembles them with the other rooms' settings into the file's
model; scoring reads only these.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from acm_sync.currency import CurrencyConfig

Tier = Literal["Key", "New", "Dormant", "Existing", "Prospect"]
TIERS: Final[tuple[Tier, ...]] = ("Key", "New", "Dormant", "Existing", "Prospect")

Share = Annotated[float, Field(gt=0, le=1)]
Probability = Annotated[float, Field(ge=0, le=1)]
Days = Annotated[int, Field(ge=0)]
Money = Annotated[float, Field(ge=0)]
Weight = Annotated[float, Field(ge=0, le=100)]


class Section(BaseModel):
    """Base of every config section: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# --- tiers -----------------------------------------------------------------------------------


class StrategicConfig(Section):
    """Accounts made Key for where they are going rather than what they paid."""

    enabled: bool = True
    # Open pipeline (all open opportunities, corporate currency) at or above this → Key.
    min_open_pipeline: Money | None = 250_000.0
    # Trailing-12-month won revenue growth vs the prior 12 months (0.5 = +50 %) at or above
    # this → Key, for accounts already paying at least `min_growth_base` — unless one deal made
    # it (without the window's largest won deal the account paid less than before).
    min_growth: float | None = 1.0
    min_growth_base: Money = 10_000.0
    # Let prospects (never won) become Key on open pipeline alone.
    include_prospects: bool = False


class TiersConfig(Section):
    """Key / New / Dormant / Existing / Prospect."""

    # Key = the smallest set of paying accounts holding this share of T12M won revenue …
    key_revenue_share: Share = 0.8
    # … but never more than this share of paying accounts (at least one once anyone pays).
    key_max_share: Share = 0.2
    # Trailing window for "won revenue" (T12M by default).
    revenue_window_days: Annotated[int, Field(ge=1)] = 365
    # New: first won deal within this many days.
    new_days: Days = 90
    # Dormant: won before, but no won deal and no activity within this many days.
    dormant_days: Days = 365
    strategic: StrategicConfig = StrategicConfig()
    # Where an account qualifies for several tiers, the first in this list wins. Must list all
    # five tiers once. Existing (has won) and Prospect (never won) always catch the rest.
    precedence: tuple[Tier, ...] = ("Key", "New", "Dormant", "Existing", "Prospect")

    @field_validator("precedence")
    @classmethod
    def _all_tiers_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if sorted(value) != sorted(TIERS) or len(value) != len(TIERS):
            raise PydanticCustomError(
                "precedence",
                "must list each of {tiers} exactly once, got {got}",
                {"tiers": ", ".join(TIERS), "got": ", ".join(value)},
            )
        return value


# --- health ----------------------------------------------------------------------------------


class HealthWeights(Section):
    """Weight of each health component; they must sum to 100. A component an account has no
    data for is left out and the other weights are scaled up for that account."""

    engagement_recency: Weight = 25
    contact_coverage: Weight = 15
    revenue_trend: Weight = 20
    pipeline_coverage: Weight = 15
    renewal_risk: Weight = 10
    data_quality: Weight = 5
    satisfaction: Weight = 10


class HealthBands(Section):
    """Score thresholds of the bands: Green ≥ green_min, Yellow ≥ yellow_min, else Red."""

    green_min: Weight = 70
    yellow_min: Weight = 40


class EngagementConfig(Section):
    """Recency of the last activity on the account or any of its contacts."""

    full_score_days: Days = 14  # touched within this many days → 100
    zero_score_days: Annotated[int, Field(ge=1)] = 180  # silent this long or longer → 0


class ContactCoverageConfig(Section):
    """Reachable contacts (with an email) and decision makers (by title)."""

    target_reachable: Annotated[int, Field(ge=1)] = 5
    target_decision_makers: Annotated[int, Field(ge=1)] = 2
    # Case-insensitive regular expression on the contact title.
    decision_maker_titles: str = (
        r"\b(?:chief|ceo|cfo|cto|cio|coo|cmo|cro|ciso|vp|svp|evp|vice president|president"
        r"|head of|director|founder|owner|managing partner|general manager)\b"
    )

    @field_validator("decision_maker_titles")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        # a typo in the pattern is caught when the config loads, not mid-run in health
        try:
            re.compile(pattern)
        except re.error as error:
            raise PydanticCustomError(
                "regex", "not a valid regular expression: {error}", {"error": str(error)}
            ) from None
        return pattern


class PipelineCoverageConfig(Section):
    """Open expansion / renewal pipeline relative to what the account pays."""

    # Open pipeline of this fraction of T12M won revenue scores 100.
    target_ratio: Annotated[float, Field(gt=0)] = 0.5
    # Wins this recent count as covered: a win turns pipeline into revenue, not into a gap.
    recent_win_days: Days = 90


class RenewalRiskConfig(Section):
    """Open renewals that are overdue, or close soon while still early in the funnel."""

    window_days: Days = 90
    # A renewal closing within the window below this stage probability counts half at risk.
    safe_probability: Probability = 0.7


# Where the CRM field holding CSAT / NPS is named now (health.satisfaction.field is gone).
SATISFACTION_MAPPING: Final = (
    "sync.salesforce.fields.accounts.satisfaction (an Account field, e.g. CSAT__c) and / or "
    "sync.hubspot.fields.accounts.satisfaction (a company property, e.g. csat_score)"
)


class SatisfactionConfig(Section):
    """The scale of the canonical accounts column `satisfaction` (CSAT / NPS). Which CRM field
    fills it is the connectors' field map (`sync.<crm>.fields.accounts.satisfaction`); an
    account with no value (nothing mapped, or an empty field) is not scored on it."""

    # Retired: it named an accounts column, and no connector could carry one. Only null (the
    # shipped file's old default) is still accepted; anything else says what to set instead.
    field: None = None
    scale_min: float = 0  # e.g. -100 for NPS, 1 for a 1–5 CSAT
    scale_max: float = 100

    @field_validator("field", mode="before")
    @classmethod
    def _field_retired(cls, value: object) -> None:
        if value is None:
            return None
        raise PydanticCustomError(
            "satisfaction_field_retired",
            "no longer used: map the CRM field holding CSAT / NPS to the accounts column "
            "satisfaction instead — {mapping} — and keep scale_min / scale_max here; then "
            "delete this key (it was given '{value}')",
            {"mapping": SATISFACTION_MAPPING, "value": value},
        )

    @field_validator("scale_max")
    @classmethod
    def _scale_has_a_span(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("scale_min")
        if low is not None and value <= low:
            raise PydanticCustomError(
                "satisfaction_scale",
                "must be above scale_min ({low}), got {value}",
                {"low": low, "value": value},
            )
        return value


class HealthConfig(Section):
    weights: HealthWeights = HealthWeights()
    bands: HealthBands = HealthBands()
    # Score change vs the snapshot `trend_window_days` ago that counts as Up / Down (else Flat).
    trend_threshold: Annotated[float, Field(ge=0)] = 5
    # The trend compares with the latest score at least this many days old (none yet: New).
    trend_window_days: Annotated[int, Field(ge=1, le=365)] = 7
    # How many drivers up and down are named in the drivers text.
    drivers_shown: Annotated[int, Field(ge=1, le=7)] = 2
    engagement: EngagementConfig = EngagementConfig()
    contact_coverage: ContactCoverageConfig = ContactCoverageConfig()
    pipeline_coverage: PipelineCoverageConfig = PipelineCoverageConfig()
    renewal_risk: RenewalRiskConfig = RenewalRiskConfig()
    satisfaction: SatisfactionConfig = SatisfactionConfig()

    @field_validator("weights")
    @classmethod
    def _weights_sum_to_100(cls, weights: HealthWeights) -> HealthWeights:
        total = sum(weights.model_dump().values())
        if abs(total - 100) > 1e-6:
            raise PydanticCustomError(
                "weights_sum", "must sum to 100, got {total}", {"total": f"{total:g}"}
            )
        return weights

    @field_validator("bands")
    @classmethod
    def _bands_ordered(cls, bands: HealthBands) -> HealthBands:
        if bands.yellow_min > bands.green_min:
            raise PydanticCustomError("bands_order", "yellow_min must not exceed green_min", {})
        return bands


# --- forecast --------------------------------------------------------------------------------

Segment = Literal["type", "size_band", "industry", "company_size"]

# The most edges each band list may have. Every segment (deal size, type, industry, company
# size) is learnt per age band, so the model's columns are (age bands) × (the segments' levels)
# and the cells it is fitted on grow with their product: a long list makes every run slow, with
# no error (730 daily age bands: 302 s on a 400-account org). Measured with
# bench/bench_bands.py (learn + score, CPU s) on the demo org of 2,000 accounts, age edges
# 4 / 16 / 64 / 128 / 256: 0.20 / 0.54 / 2.6 / 8.1 / 33 s, 185 → 1,307 MB; of 100,000 accounts
# (bench/bench_scoring.py's), all three lists at these limits with the industry segment on:
# the model learnt in 5.0 s against 1.1 s, the whole scoring 15.6 s CPU against 11.6 s at the
# defaults (22.2 / 15.8 s wall on this shared 2-core machine), 2,038 MB against 2,000 MB — a 100k
# org stays within 20 s and 3 GB (age 16 instead: 16.5 s CPU, 24.2 s wall). Age: 14 holds the
# monthly layout measured in #13 (30, 60, …, 330, 365, 545, 730); size and company size: five
# bands, as many as `size_band_edges: auto` learns.
MAX_AGE_EDGES: Final = 14
MAX_SIZE_BAND_EDGES: Final = 4
MAX_COMPANY_SIZE_EDGES: Final = 4


def check_edges(edges: tuple[float, ...], limit: int, *, increasing_message: str) -> None:
    """Band edges (upper bounds) as the model reads them: at most `limit`, positive, strictly
    increasing; each rule its own error, naming the limit or the value."""
    if len(edges) > limit:
        raise PydanticCustomError(
            "edges_count",
            "at most {limit} edges ({bands} bands), got {got}: every band multiplies the "
            "forecast model's columns, and scoring time with them",
            {"limit": limit, "bands": limit + 1, "got": len(edges)},
        )
    if edges and edges[0] <= 0:
        raise PydanticCustomError(
            "edges_positive", "must be positive, got {first}", {"first": f"{edges[0]:g}"}
        )
    if any(b <= a for a, b in pairwise(edges)):
        raise PydanticCustomError("edges_order", increasing_message, {})


class StaleConfig(Section):
    """When an open opportunity is flagged stale."""

    days_in_stage: Days = 90  # no stage change for this long
    close_date_pushes: Annotated[int, Field(ge=1)] = 3  # close date moved later this often
    overdue: bool = True  # close date already past


class BacktestConfig(Section):
    origins: Annotated[int, Field(ge=1, le=40)] = 6  # most recent past quarter starts
    horizon_quarters: Annotated[int, Field(ge=1, le=4)] = 1


class HazardConfig(Section):
    """The time-to-close model (acm_sync.scoring.hazard)."""

    # Months ahead the hazard is learnt and projected for; the CRM field's win probability is
    # p(won within this many months).
    steps: Annotated[int, Field(ge=3, le=24)] = 12
    # L2 penalty on the model's coefficients (in deal-months): larger = smoother.
    l2: Annotated[float, Field(ge=0)] = 1.0
    # Fit only with at least this many wins and this many losses in the training data.
    min_events: Annotated[int, Field(ge=1)] = 20
    # Large orgs learn from a fixed, deterministic sample of deals (weighted back up).
    max_training_deals: Annotated[int, Field(ge=1000)] = 100_000
    # Deal-age bands (days since created; upper bounds) of the hazard's age axis and of the
    # segments' per-age effects. Monthly through the first year, (30, 60, …, 330, 365, 545,
    # 730), was measured in #13 and is not the default (docs/forecast-decisions.md, "Deal age").
    # At most MAX_AGE_EDGES (14) edges, positive (why: MAX_AGE_EDGES).
    age_edges: tuple[float, ...] = (90.0, 180.0, 365.0, 730.0)
    # Training snapshots per month (the deals open then; hazard.training_landmarks): 1 = at
    # each calendar month start only; 4 = also about weekly (days 8, 16, 23), each weighing
    # 1/4, so a deal open a week or more is seen whenever in the month it opens (measured no
    # better on the dev data, #13: docs/forecast-decisions.md, "Landmarks").
    landmarks_per_month: Annotated[int, Field(ge=1, le=8)] = 1

    @field_validator("age_edges")
    @classmethod
    def _age_edges_increasing(cls, edges: tuple[float, ...]) -> tuple[float, ...]:
        if not edges:
            raise PydanticCustomError("edges_order", "must be positive, strictly increasing", {})
        check_edges(
            edges, MAX_AGE_EDGES, increasing_message="must be positive, strictly increasing"
        )
        return edges


class RunRateConfig(Section):
    """Bookings from deals not created yet, learnt from past quarters."""

    # How many past quarters (at the same point of the quarter) the run-rate averages.
    quarters: Annotated[int, Field(ge=1, le=12)] = 4
    # Renewals from the installed base: a won subscription deal (new, renewal, expansion) is a
    # contract that comes up for renewal this many months after its close date.
    renewal_term_months: Annotated[int, Field(ge=1, le=60)] = 12
    # Renewal bookings per unit of expiring contract amount, before any renewal outcome is
    # known. 0.9: SaaS Capital's 2023 B2B SaaS retention survey (1,500+ private companies)
    # puts median gross revenue retention at 90–93 % across contract-value bands.
    renewal_rate_prior: Annotated[float, Field(ge=0, le=2)] = 0.9
    # Pseudo-count of contracts at the prior: with n contracts whose renewal outcome is known,
    # rate = (n · observed + k · prior) / (n + k).
    renewal_prior_strength: Annotated[float, Field(ge=0)] = 20
    # "auto": renewals come from the installed base when the CRM holds a renewal deal, and in
    # its first renewal season before any contract's term has ended (assumed: the forecast's
    # basis says so); not once a term has ended with no renewal deal in the CRM (an org that
    # books no renewal as an opportunity has nothing for that forecast to come true in);
    # "on" / "off": always / never (then renewals are forecast by the run-rate like new deals).
    renewals_from_installed_base: Literal["auto", "on", "off"] = "auto"
    # "on": a quarter-of-year index per type, learnt from the org's own history and shrunk
    # toward 1 by how repeated it is (none before two years of history), scales the run-rate;
    # "off": no seasonality (the run-rate of before, to compare the two on the same data).
    seasonality: Literal["on", "off"] = "on"


class ForecastConfig(Section):
    # Quarters forecast: the current one and the next (2), etc.
    horizon_quarters: Annotated[int, Field(ge=1, le=8)] = 2
    fiscal_year_start_month: Annotated[int, Field(ge=1, le=12)] = 1
    # Pseudo-count of deals at the stage's default probability: with n training deals seen in
    # a stage, p = (n · p_model + k · p_default) / (n + k). Larger = trust defaults longer.
    shrinkage_strength: Annotated[float, Field(ge=0)] = 20
    # Features of the time-to-close model besides stage, timing, time in stage and age.
    segments: tuple[Segment, ...] = ("type", "size_band", "company_size")
    # Deal-size bands for the `size_band` segment: upper bounds in the corporate currency, or
    # "auto" = from the org's own deal amounts at each training (equal-count bands,
    # acm_sync.scoring.hazard.size_band_edges; measured in #13, not the default — see
    # docs/forecast-decisions.md, "Deal size"). At most MAX_SIZE_BAND_EDGES (4) edges, positive.
    size_band_edges: Literal["auto"] | tuple[Money, ...] = (10_000.0, 50_000.0, 250_000.0)
    # Employee-count bands of the buying account for the `company_size` segment: upper bounds
    # (small business / mid-market / enterprise); an unknown count is its own band. At most
    # MAX_COMPANY_SIZE_EDGES (4) edges, positive.
    company_size_edges: tuple[float, ...] = (100.0, 1_000.0)
    # Learn from the deals open at month starts within this many days before the as-of date.
    training_window_days: Annotated[int, Field(ge=30)] = 1095
    # Probability for an open opportunity in a stage with no CRM probability and no history.
    unknown_stage_probability: Probability = 0.1
    hazard: HazardConfig = HazardConfig()
    run_rate: RunRateConfig = RunRateConfig()
    stale: StaleConfig = StaleConfig()
    backtest: BacktestConfig = BacktestConfig()

    @field_validator("size_band_edges", "company_size_edges")
    @classmethod
    def _edges_increasing(
        cls, edges: str | tuple[float, ...], info: ValidationInfo
    ) -> str | tuple[float, ...]:
        limits = {
            "size_band_edges": MAX_SIZE_BAND_EDGES,
            "company_size_edges": MAX_COMPANY_SIZE_EDGES,
        }
        if not isinstance(edges, str):
            limit = limits[str(info.field_name)]
            check_edges(edges, limit, increasing_message="must be strictly increasing")
        return edges


# --- next action -----------------------------------------------------------------------------

ActionRule = Literal[
    "key_red",
    "key_no_activity",
    "renewal_at_risk",
    "stale_deals",
    "red_health",
    "new_without_decision_maker",
    "dormant_win_back",
]
# What a rep should do for the tier first (Key, renewals, Dormant, New), the clean-up after.
ACTION_RULES: Final[tuple[ActionRule, ...]] = (
    "key_red",
    "key_no_activity",
    "renewal_at_risk",
    "dormant_win_back",
    "new_without_decision_maker",
    "stale_deals",
    "red_health",
)


class NextActionConfig(Section):
    # Rules in priority order: an account gets the text of the first rule it matches.
    # Remove a rule from the list to switch it off.
    rules: tuple[ActionRule, ...] = ACTION_RULES
    # Rules that also raise the attention flag.
    attention_rules: tuple[ActionRule, ...] = ("key_red", "key_no_activity", "renewal_at_risk")
    key_no_activity_days: Annotated[int, Field(ge=1)] = 30
    renewal_due_days: Days = 60
    renewal_low_probability: Probability = 0.6
    stale_deals_min: Annotated[int, Field(ge=1)] = 1

    @field_validator("rules", "attention_rules")
    @classmethod
    def _no_repeats(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({r for r in rules if rules.count(r) > 1})
        if repeated:
            raise PydanticCustomError(
                "repeated_rule", "lists {rules} more than once", {"rules": ", ".join(repeated)}
            )
        return rules


# --- what scoring reads of the file ---------------------------------------------------------


class ScoringSettings(Section):
    """The sections scoring reads (the first of the file's model, `AcmSyncConfig`)."""

    currency: CurrencyConfig = CurrencyConfig()
    tiers: TiersConfig = TiersConfig()
    health: HealthConfig = HealthConfig()
    forecast: ForecastConfig = ForecastConfig()
    next_action: NextActionConfig = NextActionConfig()
