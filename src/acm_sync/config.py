"""The revops-editable configuration (`acm_sync.yaml`): models, defaults and loading.

Every section is a frozen pydantic model with `extra="forbid"`, so a typo is an error rather
than a silently ignored knob. Errors surface as `ConfigError` whose message names the file and
the dotted key, e.g. `acm_sync.yaml: health.weights: must sum to 100, got 95`.

The root model is a plain composition of sections: a later section (sync, quality, writeback,
schedules) is one more field on `AcmSyncConfig` with its own model and defaults, and files that
leave it out keep working.
"""

from __future__ import annotations

import datetime
import os
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from acm_sync.connectors.settings import SyncSettings
from acm_sync.operations import AlertSettings, ScheduleSettings
from acm_sync.quality.settings import QualitySettings
from acm_sync.writeback.settings import WritebackSettings

CONFIG_ENV_VAR: Final = "ACM_SYNC_CONFIG"
DEFAULT_CONFIG_PATH: Final = Path("acm_sync.yaml")

Tier = Literal["Key", "New", "Dormant", "Existing", "Prospect"]
TIERS: Final[tuple[Tier, ...]] = ("Key", "New", "Dormant", "Existing", "Prospect")

Share = Annotated[float, Field(gt=0, le=1)]
Probability = Annotated[float, Field(ge=0, le=1)]
Days = Annotated[int, Field(ge=0)]
Money = Annotated[float, Field(ge=0)]
Weight = Annotated[float, Field(ge=0, le=100)]


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; the message names file and key."""


class Section(BaseModel):
    """Base of every config section: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# --- money -----------------------------------------------------------------------------------


Rate = Annotated[float, Field(gt=0)]


class CurrencyConfig(Section):
    """How amounts in several currencies are added up (revenue, pipeline, forecast)."""

    corporate: str = "USD"
    # Units of corporate currency per one unit of the key's currency: one number, or dated
    # rates {date: rate} (each holds from its date on; the earliest also before it). An amount
    # in a currency with no rate cannot be converted: quality holds it back, totals skip it
    # (acm_sync/currency.py). A single-currency org needs no rates.
    rates: dict[str, Rate | dict[datetime.date, Rate]] = Field(default_factory=dict)


# --- tiers -----------------------------------------------------------------------------------


class StrategicConfig(Section):
    """Accounts made Key for where they are going rather than what they paid."""

    enabled: bool = True
    # Open pipeline (all open opportunities, corporate currency) at or above this → Key.
    min_open_pipeline: Money | None = 250_000.0
    # Trailing-12-month won revenue growth vs the prior 12 months (0.5 = +50 %) at or above
    # this → Key, for accounts already paying at least `min_growth_base`.
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


class SatisfactionConfig(Section):
    """CSAT / NPS, scored only when the accounts table carries the mapped column."""

    field: str | None = None  # e.g. "csat" or "nps" once the connector maps one
    scale_min: float = 0  # e.g. -100 for NPS, 1 for a 1–5 CSAT
    scale_max: float = 100


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

Segment = Literal["type", "size_band", "industry"]


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


class RunRateConfig(Section):
    """Bookings from deals not created yet, learnt from past quarters."""

    # How many past quarters (at the same point of the quarter) the run-rate averages.
    quarters: Annotated[int, Field(ge=1, le=12)] = 4


class ForecastConfig(Section):
    # Quarters forecast: the current one and the next (2), etc.
    horizon_quarters: Annotated[int, Field(ge=1, le=8)] = 2
    fiscal_year_start_month: Annotated[int, Field(ge=1, le=12)] = 1
    # Pseudo-count of deals at the stage's default probability: with n training deals seen in
    # a stage, p = (n · p_model + k · p_default) / (n + k). Larger = trust defaults longer.
    shrinkage_strength: Annotated[float, Field(ge=0)] = 20
    # Features of the time-to-close model besides stage, timing, time in stage and age.
    segments: tuple[Segment, ...] = ("type", "size_band")
    # Deal-size bands (corporate currency) for the `size_band` segment: upper bounds.
    size_band_edges: tuple[Money, ...] = (10_000.0, 50_000.0, 250_000.0)
    # Learn from the deals open at month starts within this many days before the as-of date.
    training_window_days: Annotated[int, Field(ge=30)] = 1095
    # Probability for an open opportunity in a stage with no CRM probability and no history.
    unknown_stage_probability: Probability = 0.1
    hazard: HazardConfig = HazardConfig()
    run_rate: RunRateConfig = RunRateConfig()
    stale: StaleConfig = StaleConfig()
    backtest: BacktestConfig = BacktestConfig()

    @field_validator("size_band_edges")
    @classmethod
    def _edges_increasing(cls, edges: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in pairwise(edges)):
            raise PydanticCustomError("edges_order", "must be strictly increasing", {})
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


# --- connections: many orgs ------------------------------------------------------------------

CRM = Literal["salesforce", "hubspot"]
CRMS: Final[tuple[CRM, ...]] = ("salesforce", "hubspot")
DEFAULT_CONNECTION: Final = "default"
# The sections a connection may override (deep-merged over the top-level ones). `alerts`,
# `warehouse` and `connections` are the code location's own.
OVERRIDABLE: Final = (
    "currency",
    "tiers",
    "health",
    "forecast",
    "next_action",
    "sync",
    "quality",
    "writeback",
    "schedules",
)
# A connection's name is its Dagster partition key, its warehouse directory and a run tag value.
ConnectionName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
EnvPrefix = Annotated[str, Field(pattern=r"^([A-Z][A-Z0-9_]*_)?$")]
Override = dict[str, Any] | None


class WarehouseConfig(Section):
    """Where the connections' warehouses live (section `warehouse`)."""

    # The warehouse of a connection with an env_prefix (its Data Docs and plots beside it) is
    # <root>/<name>/acm_sync.duckdb. null = the directory of the default file
    # ($ACM_WAREHOUSE_PATH, else ./warehouse/acm_sync.duckdb, which the connection on the
    # plain variables keeps using). $ACM_WAREHOUSE_ROOT overrides it: a shared mount for runs
    # on several machines.
    root: str | None = None


class SandboxOrgConfig(Section):
    """The sandbox org a connection gets when it has no credentials (`acm-sync sandbox serve
    --connection NAME` seeds and starts it and prints its settings under the prefix)."""

    seed: int = 7
    accounts: Annotated[int, Field(ge=100, le=100_000)] = 1000


class ConnectionConfig(Section):
    """One org: a Salesforce org and/or a HubSpot portal, its credentials, its own settings."""

    name: ConnectionName
    crms: tuple[CRM, ...] = CRMS
    # Credentials are the usual variables with this prefix: `ACME_EU_` reads
    # ACME_EU_SALESFORCE_USERNAME, ACME_EU_HUBSPOT_ACCESS_TOKEN, … ("" = the plain names).
    env_prefix: EnvPrefix = ""
    sandbox: SandboxOrgConfig | None = None
    # Per-connection overrides, deep-merged over the top-level sections of the same name.
    currency: Override = None
    tiers: Override = None
    health: Override = None
    forecast: Override = None
    next_action: Override = None
    sync: Override = None
    quality: Override = None
    writeback: Override = None
    schedules: Override = None

    @field_validator("crms")
    @classmethod
    def _some_crms_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or len(set(value)) != len(value):
            raise PydanticCustomError(
                "crms",
                "must list salesforce and/or hubspot, each once, got [{got}]",
                {"got": ", ".join(value)},
            )
        return value

    def overrides(self) -> dict[str, dict[str, Any]]:
        return {k: v for k in OVERRIDABLE if (v := getattr(self, k)) is not None}


# --- root ------------------------------------------------------------------------------------


class AcmSyncConfig(Section):
    """The whole file. Later sections (sync, quality, writeback, schedules) slot in here."""

    currency: CurrencyConfig = CurrencyConfig()
    tiers: TiersConfig = TiersConfig()
    health: HealthConfig = HealthConfig()
    forecast: ForecastConfig = ForecastConfig()
    next_action: NextActionConfig = NextActionConfig()
    sync: SyncSettings = SyncSettings()  # pulls from the CRMs (acm_sync.connectors.settings)
    quality: QualitySettings = QualitySettings()  # data-quality gates (acm_sync.quality.settings)
    writeback: WritebackSettings = WritebackSettings()  # writing back (acm_sync.writeback)
    schedules: ScheduleSettings = ScheduleSettings()  # when jobs run (acm_sync.operations)
    alerts: AlertSettings = AlertSettings()  # failure / freshness alerts (acm_sync.operations)
    warehouse: WarehouseConfig = WarehouseConfig()  # where each connection's warehouse lives
    # The orgs served; none = one connection, `default`, on the plain environment variables.
    connections: tuple[ConnectionConfig, ...] = ()

    @field_validator("connections")
    @classmethod
    def _unique_connections(
        cls, value: tuple[ConnectionConfig, ...]
    ) -> tuple[ConnectionConfig, ...]:
        for what, key in (("name", "name"), ("env_prefix", "env_prefix")):
            seen = [getattr(c, key) for c in value]
            repeated = sorted({v for v in seen if seen.count(v) > 1})
            if repeated:
                shown = ", ".join(repr(v) for v in repeated)
                raise PydanticCustomError(
                    "duplicate_connection",
                    "two connections have the same {what} {shown} (each org once, each with "
                    "its own credentials)",
                    {"what": what, "shown": shown},
                )
        return value

    def connection_names(self) -> tuple[str, ...]:
        """The connections served, as Dagster partition keys (`default` when none is listed)."""
        return tuple(c.name for c in self.connections) or (DEFAULT_CONNECTION,)

    def connection(self, name: str) -> ConnectionConfig:
        """The connection called `name` (the implicit `default` when none is listed)."""
        if not self.connections and name == DEFAULT_CONNECTION:
            return ConnectionConfig(name=DEFAULT_CONNECTION)
        for connection in self.connections:
            if connection.name == name:
                return connection
        raise ConfigError(
            f"no connection {name!r} in the config (connections: "
            f"{', '.join(self.connection_names())})"
        )

    def for_connection(self, name: str) -> AcmSyncConfig:
        """The settings one connection runs with: its overrides deep-merged over the top-level
        sections (validated when the file was loaded)."""
        overrides = self.connection(name).overrides()
        if not overrides:
            return self
        return _merged(self, overrides)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _merged(config: AcmSyncConfig, overrides: dict[str, dict[str, Any]]) -> AcmSyncConfig:
    """`config` with `overrides` merged in, validated (raises pydantic's ValidationError).
    Only what the file set is merged over (defaults stay defaults of the merged model)."""
    base = config.model_dump(exclude_unset=True, exclude={"connections"})
    return AcmSyncConfig.model_validate(_deep_merge(base, overrides))


def config_path() -> Path:
    """Where the config is read from: `$ACM_SYNC_CONFIG`, else `./acm_sync.yaml`."""
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_config(path: str | Path | None = None) -> AcmSyncConfig:
    """Load and validate the config file.

    With no `path`, `$ACM_SYNC_CONFIG` or `./acm_sync.yaml` is read, and a missing file means
    all defaults. A path given explicitly (argument or env var) must exist: a typo there should
    not silently score with defaults. Raises `ConfigError` naming the file and dotted key.
    """
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV_VAR))
    resolved = Path(path) if path is not None else config_path()
    if not resolved.exists():
        if explicit:
            raise ConfigError(f"{resolved}: config file not found")
        return AcmSyncConfig()
    try:
        raw = yaml.safe_load(resolved.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{resolved.name}: not valid YAML: {error}") from error
    return parse_config(raw, source=resolved.name)


def parse_config(raw: Any, *, source: str = "acm_sync.yaml") -> AcmSyncConfig:
    """Validate an already-parsed mapping (None = empty file = defaults)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections")
    try:
        config = AcmSyncConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from error
    # Each connection's overrides must make a valid config too: checked now, so a bad override
    # stops the load naming `connections[i].<key>` rather than failing that connection's runs.
    for index, connection in enumerate(config.connections):
        if not connection.overrides():
            continue
        try:
            _merged(config, connection.overrides())
        except ValidationError as error:
            raise ConfigError(_describe(error, source, prefix=("connections", index))) from error
    return config


def _dotted(loc: tuple[int | str, ...]) -> str:
    """`('forecast', 'segments', 0)` → `forecast.segments[0]`."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return key or "(top level)"


def _describe(error: ValidationError, source: str, prefix: tuple[int | str, ...] = ()) -> str:
    """One line per problem: `<file>: <dotted.key>: <what is wrong>`."""
    lines = []
    for problem in error.errors(include_url=False):
        key = _dotted((*prefix, *problem["loc"]))
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        else:
            message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {key}: {message}")
    return "\n".join(lines)
