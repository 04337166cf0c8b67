"""`connections:` in acm_sync.yaml: validation, overrides, run resolution, credentials, paths,
partitions and schedules — no CRM involved."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from acm_sync.assets.connections import (
    connection_partitions,
    missing_credentials,
)
from acm_sync.assets.schedules import build_schedules
from acm_sync.config import DEFAULT_CONNECTION, AcmSyncConfig, ConfigError, parse_config
from acm_sync.connections import CONNECTION_TAG, ConnectionResolutionError, run_connection
from acm_sync.definitions import build_definitions
from acm_sync.warehouse import DEFAULT_PATH, PATH_ENV, ROOT_ENV, WarehouseResource

TWO = {
    "connections": [
        {"name": "acme_eu", "env_prefix": "ACME_EU_", "tiers": {"key_revenue_share": 0.7}},
        {"name": "acme_us", "env_prefix": "ACME_US_", "crms": ["salesforce"]},
    ]
}


def error(raw: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    return str(caught.value)


# -- the file ----------------------------------------------------------------------------------


def test_no_connections_is_one_default_connection_with_today_s_settings() -> None:
    config = parse_config({"tiers": {"new_days": 30}})
    assert config.connection_names() == (DEFAULT_CONNECTION,)
    default = config.connection(DEFAULT_CONNECTION)
    assert (default.env_prefix, default.crms) == ("", ("salesforce", "hubspot"))
    assert config.for_connection(DEFAULT_CONNECTION) is config


def test_overrides_are_merged_over_the_top_level_sections() -> None:
    config = parse_config(
        {
            "tiers": {"new_days": 30, "strategic": {"min_growth": 2.0}},
            "schedules": {"sync": {"cron": "0 * * * *"}},
            "connections": [
                {
                    "name": "acme_eu",
                    "env_prefix": "ACME_EU_",
                    "tiers": {"key_revenue_share": 0.7, "strategic": {"enabled": False}},
                    "schedules": {"sync": {"timezone": "Europe/Berlin"}},
                },
                {"name": "acme_us", "env_prefix": "ACME_US_"},
            ],
        }
    )
    eu, us = config.for_connection("acme_eu"), config.for_connection("acme_us")
    # eu: its own keys, the file's others, the defaults beyond (deep merge, key by key)
    assert (eu.tiers.key_revenue_share, eu.tiers.new_days) == (0.7, 30)
    assert (eu.tiers.strategic.enabled, eu.tiers.strategic.min_growth) == (False, 2.0)
    assert (eu.schedules.sync.cron, eu.schedules.sync.timezone) == ("0 * * * *", "Europe/Berlin")
    # us has no overrides: exactly the top-level settings
    assert us.tiers == config.tiers and us.schedules == config.schedules
    assert config.tiers.key_revenue_share == 0.8  # the top level is untouched


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"connections": [{"name": "a", "env_prefix": "A_"}, {"name": "a", "env_prefix": "B_"}]},
            "acm_sync.yaml: connections: two connections have the same name 'a'",
        ),
        (
            {"connections": [{"name": "a", "env_prefix": "X_"}, {"name": "b", "env_prefix": "X_"}]},
            "acm_sync.yaml: connections: two connections have the same env_prefix 'X_'",
        ),
        (
            {"connections": [{"name": "a", "crms": ["salesforce", "pipedrive"]}]},
            "acm_sync.yaml: connections[0].crms[1]: Input should be 'salesforce' or 'hubspot'",
        ),
        (
            {"connections": [{"name": "a", "crms": []}]},
            "acm_sync.yaml: connections[0].crms: must list salesforce and/or hubspot",
        ),
        (
            {"connections": [{"name": "Acme EU"}]},
            "acm_sync.yaml: connections[0].name: String should match pattern",
        ),
        (
            {"connections": [{"name": "a", "env_prefix": "acme-"}]},
            "acm_sync.yaml: connections[0].env_prefix: String should match pattern",
        ),
        (
            {"connections": [{"env_prefix": "A_"}]},
            "acm_sync.yaml: connections[0].name: Field required",
        ),
        (
            {"connections": [{"name": "a", "alerts": {"run_failure": False}}]},
            "acm_sync.yaml: connections[0].alerts: unknown key",
        ),
        (
            {"connections": [{"name": "a"}, {"name": "b", "env_prefix": "B_", "tiers": {"x": 1}}]},
            "acm_sync.yaml: connections[1].tiers.x: unknown key",
        ),
        (
            {
                "connections": [
                    {"name": "a", "health": {"weights": {"engagement_recency": 30}}},
                ]
            },
            "acm_sync.yaml: connections[0].health.weights: must sum to 100, got 105",
        ),
        (
            {"connections": [{"name": "a", "schedules": {"sync": {"cron": "every hour"}}}]},
            "acm_sync.yaml: connections[0].schedules.sync.cron: not a valid cron string",
        ),
        (
            {"connections": {"name": "a"}},
            "acm_sync.yaml: connections: Input should be a valid",
        ),
    ],
)
def test_a_bad_connection_is_one_line_naming_the_key(raw: Any, message: str) -> None:
    text = error(raw)
    assert len(text.splitlines()) == 1, text
    assert text.startswith(message), text


def test_the_shipped_example_block_is_valid(tmp_path: Path) -> None:
    """The commented `connections:` example in acm_sync.yaml, uncommented, loads."""
    shipped = (Path(__file__).resolve().parents[1] / "acm_sync.yaml").read_text()
    start = shipped.index("# connections:")
    block = []
    for line in shipped[start:].splitlines():
        if not line.startswith("#"):
            break
        block.append(line[2:] if line.startswith("# ") else line[1:])
    config = parse_config(yaml.safe_load("\n".join(block)))
    assert len(config.connections) >= 2


# -- which connection a run serves -------------------------------------------------------------


def test_the_run_s_partition_names_its_connection() -> None:
    names = ("acme_eu", "acme_us")
    assert run_connection({"dagster/partition": "acme_us"}, names) == "acme_us"
    assert run_connection({CONNECTION_TAG: "acme_eu"}, names) == "acme_eu"
    assert run_connection({}, ("default",)) == "default"  # the only one
    range_of_one = {
        "dagster/asset_partition_range_start": "acme_eu",
        "dagster/asset_partition_range_end": "acme_eu",
    }
    assert run_connection(range_of_one, names) == "acme_eu"


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({}, "this run names no connection; pick one partition (acme_eu, acme_us)"),
        ({"dagster/partition": "acme_jp"}, "no connection 'acme_jp' in acm_sync.yaml"),
        (
            {
                "dagster/asset_partition_range_start": "acme_eu",
                "dagster/asset_partition_range_end": "acme_us",
            },
            "a run serves one connection, this one spans acme_eu…acme_us",
        ),
        (
            {"dagster/partition": "acme_eu", CONNECTION_TAG: "acme_us"},
            "run tagged acm_sync/connection=acme_us but launched for partition acme_eu",
        ),
    ],
)
def test_a_run_not_naming_one_known_connection_is_refused(
    tags: dict[str, str], message: str
) -> None:
    with pytest.raises(ConnectionResolutionError) as caught:
        run_connection(tags, ("acme_eu", "acme_us"))
    assert str(caught.value).startswith(message)


# -- credentials -------------------------------------------------------------------------------


def test_missing_prefixed_credentials_name_the_variables_never_values() -> None:
    config = parse_config(TWO)
    eu = config.connection("acme_eu")
    secret = "hunter2-Very-Secret"
    environ = {
        "ACME_EU_SALESFORCE_USERNAME": "ops@acme.example",
        "ACME_EU_SALESFORCE_PASSWORD": secret,
        # no security token; no HubSpot token at all
        "SALESFORCE_SECURITY_TOKEN": "plain-token",  # another connection's: never borrowed
        "HUBSPOT_ACCESS_TOKEN": "pat-plain",
    }
    problems = missing_credentials(eu, environ)
    assert problems[0].startswith(
        "connection acme_eu: salesforce credentials incomplete: ACME_EU_SALESFORCE_SECURITY_TOKEN"
        " not set (or set ACME_EU_SALESFORCE_INSTANCE_URL + ACME_EU_SALESFORCE_ACCESS_TOKEN"
    )
    assert problems[1] == (
        "connection acme_eu: hubspot credentials incomplete: ACME_EU_HUBSPOT_ACCESS_TOKEN not set"
    )
    assert all(secret not in p and "ops@acme" not in p for p in problems)
    complete = {
        **environ,
        "ACME_EU_SALESFORCE_SECURITY_TOKEN": "t",
        "ACME_EU_HUBSPOT_ACCESS_TOKEN": "p",
    }
    assert missing_credentials(eu, complete) == []
    # a connection without HubSpot needs no HubSpot token
    us = config.connection("acme_us")
    assert (
        missing_credentials(
            us,
            {
                "ACME_US_SALESFORCE_INSTANCE_URL": "https://x.example",
                "ACME_US_SALESFORCE_ACCESS_TOKEN": "00D!x",
            },
        )
        == []
    )


# -- storage -----------------------------------------------------------------------------------


def _warehouse_file(
    raw: dict[str, Any], tmp_path: Path, tags: dict[str, str], **fields: Any
) -> Path:
    config = tmp_path / "acm_sync.yaml"
    config.write_text(yaml.safe_dump(raw))
    resource = WarehouseResource(config_path=str(config), **fields)
    resource._tags = tags  # what setup_for_execution reads from the run
    return resource.get().path


def test_each_prefixed_connection_has_its_own_file_under_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PATH_ENV, raising=False)
    monkeypatch.delenv(ROOT_ENV, raising=False)
    raw = {
        "warehouse": {"root": str(tmp_path / "shared")},
        "connections": [{"name": "main"}, *TWO["connections"]],
    }
    eu = _warehouse_file(raw, tmp_path, {"dagster/partition": "acme_eu"})
    us = _warehouse_file(raw, tmp_path, {"dagster/partition": "acme_us"})
    main = _warehouse_file(raw, tmp_path, {"dagster/partition": "main"})
    assert eu == tmp_path / "shared" / "acme_eu" / "acm_sync.duckdb"
    assert us == tmp_path / "shared" / "acme_us" / "acm_sync.duckdb"
    # the connection on the plain variables keeps today's file
    assert main == Path(DEFAULT_PATH)
    # $ACM_WAREHOUSE_ROOT (a shared mount) wins over the file's root
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "mount"))
    eu = _warehouse_file(raw, tmp_path, {"dagster/partition": "acme_eu"})
    assert eu == tmp_path / "mount" / "acme_eu" / "acm_sync.duckdb"


def test_without_connections_the_warehouse_is_today_s_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PATH_ENV, str(tmp_path / "mine.duckdb"))
    assert _warehouse_file({}, tmp_path, {}) == tmp_path / "mine.duckdb"
    assert _warehouse_file({}, tmp_path, {"dagster/partition": "default"}) == (
        tmp_path / "mine.duckdb"
    )


def test_a_run_for_an_unknown_connection_opens_no_warehouse(tmp_path: Path) -> None:
    with pytest.raises(dg.Failure, match="no connection 'acme_jp'"):
        _warehouse_file(TWO, tmp_path, {"dagster/partition": "acme_jp"})
    assert not list(tmp_path.rglob("*.duckdb"))


# -- partitions and schedules ------------------------------------------------------------------


def test_every_asset_is_partitioned_by_connection() -> None:
    defs = build_definitions(parse_config(TWO))
    graph = defs.resolve_asset_graph()
    partitions = {graph.get(k).partitions_def for k in graph.get_all_asset_keys()}
    assert partitions == {dg.StaticPartitionsDefinition(["acme_eu", "acme_us"])}
    job = defs.resolve_job_def("sync")
    assert job.partitions_def == dg.StaticPartitionsDefinition(["acme_eu", "acme_us"])
    # a run of a partition, whoever launches it, carries the concurrency rule's tag
    assert job.partitioned_config is not None
    tags = job.partitioned_config.get_tags_for_partition_key("acme_us", job.name)
    assert tags[CONNECTION_TAG] == "acme_us"


def test_without_connections_the_code_location_is_today_s_single_org_one() -> None:
    """No partitions (a launch needs no partition pick); every run tagged `default`."""
    assert connection_partitions(AcmSyncConfig()) is None
    defs = build_definitions(AcmSyncConfig())
    graph = defs.resolve_asset_graph()
    assert {graph.get(k).partitions_def for k in graph.get_all_asset_keys()} == {None}
    for name in ("sync", "full_refresh", "plan", "ingest", "apply_plan", "validate"):
        job = defs.resolve_job_def(name)
        assert job.partitions_def is None
        assert job.tags[CONNECTION_TAG] == DEFAULT_CONNECTION
    schedule = defs.get_schedule_def("sync_schedule")
    tick = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    with dg.build_schedule_context(
        scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    ) as context:
        (request,) = schedule.evaluate_tick(context).run_requests or []
    assert request.partition_key is None and request.tags[CONNECTION_TAG] == DEFAULT_CONNECTION


def test_a_schedule_tick_requests_one_run_per_connection() -> None:
    config = parse_config(
        {
            "connections": [
                {"name": "a", "env_prefix": "A_"},
                {"name": "b", "env_prefix": "B_"},
                {"name": "c", "env_prefix": "C_", "schedules": {"sync": {"cron": "0 6 * * *"}}},
            ]
        }
    )
    schedules = {s.name: s for s in build_schedules(config.schedules, config)}
    defs = build_definitions(config)
    assert {s.name for s in defs.schedules or []} == set(schedules)
    assert set(schedules) == {"sync_schedule", "sync_schedule__c", "full_refresh_schedule"}
    assert schedules["sync_schedule__c"].cron_schedule == "0 6 * * *"

    def requested(name: str) -> list[tuple[str | None, str | None]]:
        tick = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
        with dg.build_schedule_context(
            scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        ) as context:
            data = defs.get_schedule_def(name).evaluate_tick(context)
        return [(r.partition_key, r.tags.get(CONNECTION_TAG)) for r in data.run_requests or []]

    assert requested("sync_schedule") == [("a", "a"), ("b", "b")]
    assert requested("sync_schedule__c") == [("c", "c")]
    assert requested("full_refresh_schedule") == [("a", "a"), ("b", "b"), ("c", "c")]


# -- the command line --------------------------------------------------------------------------


def _cli(tmp_path: Path, raw: dict[str, Any], *args: str, **env: str) -> tuple[int, str]:
    import os
    import subprocess
    import sys

    config = tmp_path / "acm_sync.yaml"
    config.write_text(yaml.safe_dump(raw))
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "HUBSPOT_", "ACM"))
    }
    environ |= {"ACM_SYNC_CONFIG": str(config), "COLUMNS": "200", **env}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "acm-sync"), "sync", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, " ".join(done.stderr.split())


def test_sync_command_errors_are_one_line(tmp_path: Path) -> None:
    code, text = _cli(tmp_path, TWO, "--connection", "acme_jp")
    assert code == 1
    assert text == (
        "error: no connection 'acme_jp' in acm_sync.yaml (connections: acme_eu, acme_us)"
    )
    secret = "Pa55-w0rd-secret"
    code, text = _cli(
        tmp_path,
        TWO,
        "-c",
        "acme_us",
        ACME_US_SALESFORCE_USERNAME="ops@acme.example",
        ACME_US_SALESFORCE_PASSWORD=secret,
    )
    assert code == 1
    assert text.startswith(
        "error: connection acme_us: salesforce credentials incomplete: "
        "ACME_US_SALESFORCE_SECURITY_TOKEN not set"
    )
    assert secret not in text
    code, text = _cli(tmp_path, {"connections": [{"name": "a", "crms": ["x"]}]})
    assert code == 1 and text.startswith("error: acm_sync.yaml: connections[0].crms[0]: ")


def test_a_run_of_a_connection_without_its_credentials_fails_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "acm_sync.yaml"
    config.write_text(yaml.safe_dump(TWO))
    secret = "Pa55-w0rd-secret"
    for name in list(os.environ):
        if name.startswith(("SALESFORCE_", "HUBSPOT_", "ACME_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ACM_SYNC_CONFIG", str(config))
    monkeypatch.setenv("ACM_WAREHOUSE_ROOT", str(tmp_path / "warehouses"))
    monkeypatch.setenv("ACME_US_SALESFORCE_USERNAME", "ops@acme.example")
    monkeypatch.setenv("ACME_US_SALESFORCE_PASSWORD", secret)
    defs = build_definitions(parse_config(TWO))
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("ingest").execute_in_process(
            partition_key="acme_us", instance=instance, raise_on_error=False
        )
        text = " ".join(
            str(e.dagster_event.event_specific_data)
            for e in instance.all_logs(result.run_id)
            if e.dagster_event is not None
        )
    assert not result.success
    assert (
        "connection acme_us: salesforce credentials incomplete: "
        "ACME_US_SALESFORCE_SECURITY_TOKEN not set" in text
    )
    assert secret not in text
    assert not list(tmp_path.rglob("*.duckdb"))  # nothing ran, no warehouse opened
