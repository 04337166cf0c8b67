"""The revops-editable configuration (`acm_sync.yaml`): models, defaults and loading.

Every section is a frozen pydantic model with `extra="forbid"`, so a typo is an error rather
than a silently ignored knob. Errors surface as `ConfigError` whose message names the file and
the dotted key, e.g. `acm_sync.yaml: health.weights: must sum to 100, got 95`.

Each section's model lives in its room (`scoring/settings.py`, `connectors/settings.py`,
`quality/settings.py`, `writeback/settings.py`, `schedules_and_alerts.py`; `currency` in
`currency.py`); this module assembles them into `AcmSyncConfig` and reads the file. A later
section is one more field with its own model and defaults, and files that leave it out keep
working.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from acm_sync.connectors.settings import SyncSettings
from acm_sync.currency import CurrencyConfig
from acm_sync.quality.settings import QualitySettings
from acm_sync.schedules_and_alerts import AlertSettings, ScheduleSettings
from acm_sync.scoring.settings import (
    ACTION_RULES,
    TIERS,
    ActionRule,
    BacktestConfig,
    ContactCoverageConfig,
    EngagementConfig,
    ForecastConfig,
    HazardConfig,
    HealthBands,
    HealthConfig,
    HealthWeights,
    NextActionConfig,
    PipelineCoverageConfig,
    RenewalRiskConfig,
    RunRateConfig,
    SatisfactionConfig,
    ScoringSettings,
    Section,
    Segment,
    StaleConfig,
    StrategicConfig,
    Tier,
    TiersConfig,
)
from acm_sync.writeback.settings import WritebackSettings

# The sections' models live in their rooms; they are re-exported here, where the file is read.
__all__ = [
    "ACTION_RULES",
    "CONFIG_ENV_VAR",
    "TIERS",
    "AcmSyncConfig",
    "ActionRule",
    "BacktestConfig",
    "ConfigError",
    "ContactCoverageConfig",
    "CurrencyConfig",
    "EngagementConfig",
    "ForecastConfig",
    "HazardConfig",
    "HealthBands",
    "HealthConfig",
    "HealthWeights",
    "NextActionConfig",
    "PipelineCoverageConfig",
    "RenewalRiskConfig",
    "RunRateConfig",
    "SatisfactionConfig",
    "ScoringSettings",
    "Section",
    "Segment",
    "StaleConfig",
    "StrategicConfig",
    "Tier",
    "TiersConfig",
    "config_path",
    "load_config",
    "parse_config",
]

CONFIG_ENV_VAR: Final = "ACM_SYNC_CONFIG"
DEFAULT_CONFIG_PATH: Final = Path("acm_sync.yaml")


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; the message names file and key."""


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


class AcmSyncConfig(ScoringSettings):
    """The whole file: scoring's sections (currency, tiers, health, forecast, next_action —
    acm_sync.scoring.settings) first, then each other room's. A later section is one more
    field here with its own model and defaults."""

    sync: SyncSettings = SyncSettings()  # pulls from the CRMs (acm_sync.connectors.settings)
    quality: QualitySettings = QualitySettings()  # data-quality gates (acm_sync.quality.settings)
    writeback: WritebackSettings = WritebackSettings()  # writing back (acm_sync.writeback)
    # when jobs run, who hears of failures (acm_sync.schedules_and_alerts)
    schedules: ScheduleSettings = ScheduleSettings()
    alerts: AlertSettings = AlertSettings()
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
