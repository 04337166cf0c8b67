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
from typing import Any, Final

import yaml
from pydantic import ValidationError

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
        return AcmSyncConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from error


def _dotted(loc: tuple[int | str, ...]) -> str:
    """`('forecast', 'segments', 0)` → `forecast.segments[0]`."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return key or "(top level)"


def _describe(error: ValidationError, source: str) -> str:
    """One line per problem: `<file>: <dotted.key>: <what is wrong>`."""
    lines = []
    for problem in error.errors(include_url=False):
        key = _dotted(problem["loc"])
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        else:
            message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {key}: {message}")
    return "\n".join(lines)
