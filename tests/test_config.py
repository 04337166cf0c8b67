"""acm_sync.yaml: defaults, the shipped file, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from acm_sync.config import (
    CONFIG_ENV_VAR,
    AcmSyncConfig,
    ConfigError,
    load_config,
    parse_config,
)

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "acm_sync.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_shipped_file_is_valid_and_matches_the_defaults() -> None:
    shipped = load_config(REPO / "acm_sync.yaml")
    # Only the conversion rates differ: the file carries dated rates for the demo org's
    # currencies, the default is a single-currency org.
    assert sorted(shipped.currency.rates) == ["EUR", "GBP"]
    assert shipped.model_copy(update={"currency": AcmSyncConfig().currency}) == AcmSyncConfig()


def test_missing_default_file_means_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    assert load_config() == AcmSyncConfig()


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "tiers:\n  new_days: 30\n")
    monkeypatch.setenv(CONFIG_ENV_VAR, str(path))
    assert load_config().tiers.new_days == 30


def test_explicit_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing set\n")) == AcmSyncConfig()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "tiers:\n  key_revenue_shar: 0.8\n",
            "acm_sync.yaml: tiers.key_revenue_shar: unknown key",
        ),
        (
            "health:\n  weights:\n    engagement_recency: 20\n",
            "acm_sync.yaml: health.weights: must sum to 100, got 95",
        ),
        ("health:\n  weights:\n    engagment: 5\n", "acm_sync.yaml: health.weights.engagment: "),
        ("sync:\n  batch: 200\n", "acm_sync.yaml: sync.batch: unknown key"),
        ("tiers:\n  key_max_share: 1.5\n", "acm_sync.yaml: tiers.key_max_share: "),
        (
            "tiers:\n  precedence: [Key, New]\n",
            "acm_sync.yaml: tiers.precedence: must list each of",
        ),
        ("forecast:\n  segments: [colour]\n", "acm_sync.yaml: forecast.segments[0]: "),
        (
            "health:\n  bands:\n    green_min: 30\n    yellow_min: 60\n",
            "acm_sync.yaml: health.bands: yellow_min must not exceed green_min",
        ),
        (
            "next_action:\n  rules: [key_red, key_red]\n",
            "acm_sync.yaml: next_action.rules: lists key_red more than once",
        ),
        ("forecast:\n  stale:\n    days_in_stag: 3\n", "forecast.stale.days_in_stag: unknown"),
    ],
)
def test_errors_name_the_file_and_the_dotted_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, body))
    assert message in str(error.value)


SET_THE_MAPPING = (
    "no longer used: map the CRM field holding CSAT / NPS to the accounts column satisfaction "
    "instead — sync.salesforce.fields.accounts.satisfaction (an Account field, e.g. CSAT__c) and "
    "/ or sync.hubspot.fields.accounts.satisfaction (a company property, e.g. csat_score) — and "
    "keep scale_min / scale_max here; then delete this key"
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # an old file naming a column (which no connector could ever carry): told what to set
        # instead, not a crash and not a silently dropped weight
        (
            "health:\n  satisfaction:\n    field: csat\n",
            f"acm_sync.yaml: health.satisfaction.field: {SET_THE_MAPPING} (it was given 'csat')",
        ),
        (
            "health:\n  satisfaction:\n    field: employees\n",
            f"acm_sync.yaml: health.satisfaction.field: {SET_THE_MAPPING} (it was given "
            "'employees')",
        ),
        # one connection's own health section is checked the same way
        (
            "connections:\n  - name: acme_eu\n    env_prefix: ACME_EU_\n"
            "    health: {satisfaction: {field: nps}}\n",
            f"acm_sync.yaml: connections[0].health.satisfaction.field: {SET_THE_MAPPING} (it was "
            "given 'nps')",
        ),
        # a scale with no span cannot rescale anything
        (
            "health:\n  satisfaction:\n    scale_min: 5\n    scale_max: 1\n",
            "acm_sync.yaml: health.satisfaction.scale_max: must be above scale_min (5.0), got 1.0",
        ),
    ],
)
def test_the_retired_satisfaction_field_says_what_to_set_instead(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, body))
    assert str(error.value) == message


def test_an_old_files_null_satisfaction_field_still_loads(tmp_path: Path) -> None:
    # the shipped file's old `field: null`: harmless, accepted
    body = "health:\n  satisfaction:\n    field: null\n    scale_min: -100\n"
    assert load_config(write(tmp_path, body)).health.satisfaction.scale_min == -100


@pytest.mark.parametrize(("crm", "field"), [("salesforce", "CSAT__c"), ("hubspot", "csat_score")])
def test_satisfaction_is_mapped_in_the_field_map(tmp_path: Path, crm: str, field: str) -> None:
    body = (
        f"sync:\n  {crm}:\n    fields:\n      accounts: {{satisfaction: {field}}}\n"
        "health:\n  satisfaction: {scale_min: 1, scale_max: 5}\n"
    )
    config = load_config(write(tmp_path, body))
    assert getattr(config.sync, crm).field_map("accounts")["satisfaction"] == field
    other = "hubspot" if crm == "salesforce" else "salesforce"
    assert getattr(config.sync, other).field_map("accounts")["satisfaction"] is None
    assert (config.health.satisfaction.scale_min, config.health.satisfaction.scale_max) == (1, 5)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    body = "tiers:\n  new_dayz: 1\nforecast:\n  horizon_quarter: 2\n"
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, body))
    assert "tiers.new_dayz: unknown key" in str(error.value)
    assert "forecast.horizon_quarter: unknown key" in str(error.value)


def test_yaml_syntax_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"acm_sync.yaml: not valid YAML"):
        load_config(write(tmp_path, "tiers: [\n"))


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_config(["tiers"])


def test_weights_may_move_between_components_while_summing_to_100() -> None:
    config = parse_config({"health": {"weights": {"engagement_recency": 35, "satisfaction": 0}}})
    assert config.health.weights.engagement_recency == 35


def test_config_is_immutable() -> None:
    config = AcmSyncConfig()
    with pytest.raises(ValueError):
        config.tiers.new_days = 5  # type: ignore[misc]


# 730 daily age bands made one 400-account run take 302 s, with no error: each band list that
# multiplies the forecast model's columns has a limit (settings.MAX_*_EDGES says why).
DAILY_AGES = "[" + ", ".join(str(day) for day in range(1, 731)) + "]"
MONTHLY_AGES = "[30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 330, 365, 545, 730]"  # 14


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            f"forecast:\n  hazard:\n    age_edges: {DAILY_AGES}\n",
            "acm_sync.yaml: forecast.hazard.age_edges: at most 14 edges (15 bands), got 730",
        ),
        (
            "forecast:\n  hazard:\n    age_edges: [30, 60, 90, 120, 150, 180, 210, 240, 270, 300,"
            " 330, 365, 545, 730, 1095]\n",
            "acm_sync.yaml: forecast.hazard.age_edges: at most 14 edges (15 bands), got 15",
        ),
        (
            "forecast:\n  size_band_edges: [1000, 5000, 10000, 50000, 250000]\n",
            "acm_sync.yaml: forecast.size_band_edges: at most 4 edges (5 bands), got 5",
        ),
        (
            "forecast:\n  company_size_edges: [10, 50, 100, 1000, 10000]\n",
            "acm_sync.yaml: forecast.company_size_edges: at most 4 edges (5 bands), got 5",
        ),
        (
            "forecast:\n  company_size_edges: [0, 100]\n",
            "acm_sync.yaml: forecast.company_size_edges: must be positive, got 0",
        ),
        (
            "forecast:\n  company_size_edges: [-50, 100]\n",
            "acm_sync.yaml: forecast.company_size_edges: must be positive, got -50",
        ),
        (
            "forecast:\n  size_band_edges: [0, 10000]\n",
            "acm_sync.yaml: forecast.size_band_edges: must be positive, got 0",
        ),
        (
            "forecast:\n  hazard:\n    age_edges: [0, 90]\n",
            "acm_sync.yaml: forecast.hazard.age_edges: must be positive, got 0",
        ),
    ],
)
def test_band_lists_are_bounded_and_positive(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, body))
    assert message in str(error.value)


def test_band_lists_at_their_limits_load(tmp_path: Path) -> None:
    body = (
        f"forecast:\n  hazard:\n    age_edges: {MONTHLY_AGES}\n"
        "  size_band_edges: [1000, 10000, 50000, 250000]\n"
        "  company_size_edges: [10, 100, 1000, 10000]\n"
    )
    forecast = load_config(write(tmp_path, body)).forecast
    assert len(forecast.hazard.age_edges) == 14
    assert forecast.size_band_edges == (1_000.0, 10_000.0, 50_000.0, 250_000.0)
    assert forecast.company_size_edges == (10.0, 100.0, 1_000.0, 10_000.0)
    auto = load_config(write(tmp_path, "forecast:\n  size_band_edges: auto\n")).forecast
    assert auto.size_band_edges == "auto"
