"""The deployment files (deploy/) load with Dagster's own config schemas and agree with each other.

No cluster, no Docker engine here: the instance configs are validated by the code Dagster loads
them with (the instance schema, then each configured class's own `config_type`), the Helm values
by rendering the instance sections the official chart renders from them (its templates'
mapping, camelCase → the instance keys) and validating those, and the Dockerfile statically.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._config import process_config, validate_config
from dagster._core.instance.config import dagster_instance_config, dagster_instance_config_schema
from dagster._serdes.config_class import class_from_code_pointer

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
INSTANCE_FILES = ["dagster.yaml", "celery/dagster.yaml", "k8s/dagster.yaml"]
PG_ENV = {
    "DAGSTER_PG_HOST": "db.internal",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-secret",
    "DAGSTER_PG_DB": "dagster",
}
# The run tags the queue limits: one run per connection, one per Salesforce org / HubSpot portal.
LIMITED_TAGS = ["acm_sync/connection", "acm_sync/salesforce-api", "acm_sync/hubspot-api"]


def _yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict), path
    return loaded


def _check_class_config(section: dict[str, Any], what: str) -> Any:
    """Load the configured class as Dagster does and validate its config with its config_type."""
    klass = class_from_code_pointer(section["module"], section["class"])
    result = process_config(klass.config_type(), section.get("config") or {})
    assert result.success, f"{what}: {[e.message for e in result.errors or []]}"
    return result.value


@pytest.fixture()
def pg_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("name", INSTANCE_FILES)
def test_each_instance_config_loads_with_dagsters_schemas(
    name: str, tmp_path: Path, pg_env: None
) -> None:
    (tmp_path / "dagster.yaml").write_text((DEPLOY / name).read_text())
    config, custom_class = dagster_instance_config(str(tmp_path))  # raises on a schema error
    assert custom_class is None
    assert config["telemetry"] == {"enabled": False}
    for key in ("run_launcher", "run_coordinator"):
        _check_class_config(config[key], f"{name}: {key}")
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["tag_concurrency_limits"]
    assert [(lim["key"], lim["value"], lim["limit"]) for lim in limits] == [
        (tag, {"applyLimitPerUniqueValue": True}, 1) for tag in LIMITED_TAGS
    ]
    if name == "dagster.yaml":
        assert "storage" not in config  # make dev: the local (SQLite) instance, as before
        return
    # Many orgs: Postgres for runs, event logs and schedules, from the environment.
    from dagster_postgres import DagsterPostgresStorage

    assert list(config["storage"]) == ["postgres"]
    pg = process_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    assert pg.success, pg.errors
    assert pg.value["postgres_db"]["password"] == "not-a-secret"  # resolved from the env
    # SQLAlchemy 2.1 would read plain postgresql:// as psycopg 3, which is not installed.
    assert pg.value["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert "not-a-secret" not in (DEPLOY / name).read_text()
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_retries"]["enabled"] is True and config["run_retries"]["max_retries"] >= 1


def test_a_broken_instance_config_is_refused(tmp_path: Path, pg_env: None) -> None:
    """The check above can fail: a typo'd key and a wrong class config are both caught."""
    config = _yaml(DEPLOY / "celery" / "dagster.yaml")
    config["run_monitoring"]["poll_interval_secs"] = 5
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(dg.DagsterInvalidConfigError, match="poll_interval_secs"):
        dagster_instance_config(str(tmp_path))
    launcher = _yaml(DEPLOY / "k8s" / "dagster.yaml")["run_launcher"]
    launcher["config"]["load_incluster_config"] = "yes please"
    with pytest.raises(AssertionError, match="load_incluster_config"):
        _check_class_config(launcher, "k8s run_launcher")


def test_the_one_machine_instance_runs_our_local_launcher_with_monitoring() -> None:
    config = _yaml(DEPLOY / "celery" / "dagster.yaml")
    assert config["run_launcher"] == _yaml(DEPLOY / "dagster.yaml")["run_launcher"]
    assert config["run_launcher"]["class"] == "LocalRunLauncher"
    # A run whose worker died is retried; one whose step failed (a quality gate) is not.
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False


def test_the_k8s_instance_launches_runs_as_kubernetes_jobs() -> None:
    from dagster_k8s import K8sRunLauncher

    config = _yaml(DEPLOY / "k8s" / "dagster.yaml")
    launcher = config["run_launcher"]
    assert class_from_code_pointer(launcher["module"], launcher["class"]) is K8sRunLauncher
    value = _check_class_config(launcher, "k8s run_launcher")
    assert value["env_secrets"] == ["acm-sync-crm-credentials"]  # credentials only from a Secret


# --- Helm values -----------------------------------------------------------------------------

# The top-level keys of the official chart's values (its schema model, DagsterHelmValues).
CHART_KEYS = {
    "dagsterWebserver", "dagster-user-deployments", "postgresql",
    "generatePostgresqlPasswordSecret", "generateCeleryConfigSecret", "rabbitmq", "redis", "flower",
    "ingress", "imagePullSecrets",
    "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox",
    "migrate", "telemetry", "serviceAccount", "global", "retention", "concurrency",
    "additionalInstanceConfig",
}  # fmt: skip


def _rendered_instance(values: dict[str, Any]) -> dict[str, Any]:
    """The instance sections the chart's templates render from the values (instance ConfigMap)."""
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    monitoring = daemon["runMonitoring"]
    retries = daemon["runRetries"]
    launcher_config: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s["jobNamespace"],
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": values["global"]["serviceAccountName"],
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": [
            {"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"},
            *(m["name"] for m in k8s.get("envConfigMaps", []) if "name" in m),
        ],
        "env_secrets": [s["name"] for s in k8s.get("envSecrets", []) if "name" in s],
        "volume_mounts": k8s["volumeMounts"],
        "volumes": k8s["volumes"],
    }
    rendered: dict[str, Any] = {
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": daemon["runCoordinator"]["type"],
            "config": {
                "max_concurrent_runs": queued["maxConcurrentRuns"],
                "tag_concurrency_limits": queued["tagConcurrencyLimits"],
            },
        },
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher"}
        | {"config": launcher_config},
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
        },
        "run_retries": {"enabled": retries["enabled"], "max_retries": retries["maxRetries"]},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    return rendered


def test_the_helm_values_render_a_valid_instance_that_matches_deploy_k8s(
    pg_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the chart sets in every pod it runs (the rendered config names them).
    for name in ("DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP", "DAGSTER_K8S_INSTANCE_CONFIG_MAP"):
        monkeypatch.setenv(name, "dagster-instance")
    monkeypatch.setenv("DAGSTER_K8S_PG_PASSWORD_SECRET", "dagster-postgresql-secret")
    monkeypatch.setenv("DAGSTER_HOME", "/opt/dagster/dagster_home")
    values = _yaml(DEPLOY / "k8s" / "values.yaml")
    assert set(values) <= CHART_KEYS, set(values) - CHART_KEYS
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    rendered = _rendered_instance(values)
    schema = {k: v for k, v in dagster_instance_config_schema().items() if k in rendered}
    schema_check = validate_config(dg.Shape(schema), rendered)
    assert schema_check.success, [e.message for e in schema_check.errors or []]
    _check_class_config(rendered["run_coordinator"], "helm run coordinator")
    _check_class_config(rendered["run_launcher"], "helm run launcher")

    standalone = _yaml(DEPLOY / "k8s" / "dagster.yaml")
    standalone_launcher = dict(standalone["run_launcher"]["config"])
    # The chart names these by environment variables it sets in every pod; the standalone file
    # names them directly.
    for key in ("dagster_home", "instance_config_map", "postgres_password_secret"):
        standalone_launcher.pop(key)
        rendered["run_launcher"]["config"].pop(key)
    rendered_maps = rendered["run_launcher"]["config"].pop("env_config_maps")
    assert rendered_maps[1:] == standalone_launcher.pop("env_config_maps")
    assert rendered["run_launcher"]["config"] == standalone_launcher
    assert rendered["run_coordinator"]["config"] == standalone["run_coordinator"]["config"]
    for key in ("run_monitoring", "run_retries", "telemetry"):
        assert rendered[key] == standalone[key], key
    postgres = standalone["storage"]["postgres"]["postgres_db"]
    assert values["postgresql"]["postgresqlScheme"] == postgres["scheme"]
    assert values["postgresql"]["postgresqlDatabase"] == "dagster"


def test_the_helm_user_deployment_serves_the_image_of_the_dockerfile() -> None:
    values = _yaml(DEPLOY / "k8s" / "values.yaml")
    users = values["dagster-user-deployments"]
    assert users["enabled"] is True
    (deployment,) = users["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "acm_sync.definitions"]
    cmd = _dockerfile_instructions()["CMD"][-1]
    grpc = yaml.safe_load(cmd)  # the exec form is a JSON (so YAML) list
    assert grpc[:3] == ["dagster", "api", "grpc"]
    assert grpc[grpc.index("-m") + 1] == "acm_sync.definitions"
    assert int(grpc[grpc.index("-p") + 1]) == deployment["port"]
    assert _dockerfile_instructions()["EXPOSE"] == [str(deployment["port"])]
    # The run pods mount the same warehouse volume as the code server.
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert k8s["volumeMounts"] == deployment["volumeMounts"]
    assert k8s["envSecrets"] == deployment["envSecrets"]
    limits = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert [lim["key"] for lim in limits["tagConcurrencyLimits"]] == LIMITED_TAGS


# --- Dockerfile --------------------------------------------------------------------------------


def _dockerfile_instructions() -> dict[str, list[str]]:
    text = (DEPLOY / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    out: dict[str, list[str]] = {}
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.setdefault(word.upper(), []).append(rest.strip())
    return out


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; `!` re-includes."""
    import fnmatch

    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        if fnmatch.fnmatch(path, pat) or path.startswith(pat + "/"):
            ignored = not negate
    return ignored


def test_the_dockerfile_copies_files_that_exist_and_installs_from_the_lock() -> None:
    instructions = _dockerfile_instructions()
    ignore = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = []
    for copy in instructions["COPY"]:
        args = [a for a in shlex.split(copy) if not a.startswith("--")]
        for source in args[:-1]:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
            assert not _ignored(source, ignore), f"COPY {source}: excluded by the dockerignore"
            copied.append(source)
    # What the code location reads at run time, and what uv needs to install it.
    for needed in ("pyproject.toml", "uv.lock", "src", "acm_sync.yaml", "expectations"):
        assert needed in copied, needed
    syncs = [r for r in instructions["RUN"] if "uv sync" in r]
    assert syncs and all("--frozen" in r and "--no-dev" in r for r in syncs)
    assert not any("pip install" in r and "uv==" not in r for r in instructions["RUN"])
    # The image's Python is the one the project requires.
    (base,) = instructions["FROM"]
    minor = re.match(r"python:(\d+\.\d+)", base)
    assert minor is not None, base
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert f">={minor.group(1)}" in requires
    assert "USER" in instructions  # not root


# --- Celery ------------------------------------------------------------------------------------


def test_the_workers_celery_settings_are_the_executors(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_celery import celery_executor

    from acm_sync.assets.jobs import CELERY_EXECUTOR_CONFIG

    worker = _yaml(DEPLOY / "celery" / "celery.yaml")["execution"]["config"]
    assert worker == CELERY_EXECUTOR_CONFIG
    monkeypatch.setenv("ACM_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("ACM_CELERY_BACKEND_URL", "redis://127.0.0.1:6379/1")
    checked = process_config(celery_executor.config_schema.config_type, worker)
    assert checked.success, checked.errors
    assert checked.value["broker"] == "redis://127.0.0.1:6379/0"
    source = checked.value["config_source"]
    assert source["task_acks_late"] is True and source["task_reject_on_worker_lost"] is True


def test_the_pipeline_executor_is_in_process_unless_celery_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from acm_sync.assets.jobs import EXECUTOR_ENV, pipeline_executor

    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    assert pipeline_executor() is dg.in_process_executor
    monkeypatch.setenv(EXECUTOR_ENV, "celery")
    celery = pipeline_executor()
    assert celery.name == "celery"
    monkeypatch.setenv(EXECUTOR_ENV, "kubernetes")
    with pytest.raises(ValueError, match="in_process or celery"):
        pipeline_executor()


# --- The queue's keys on the runs ----------------------------------------------------------------


def test_runs_carry_the_tags_the_queue_limits(tmp_path: Path) -> None:
    """Each connection's runs are tagged with the connection and with which Salesforce org and
    HubSpot portal they spend the API budget of: the same value for connections on the same org
    (the same login), a different one otherwise, and no credential in clear."""
    from acm_sync.assets.connections import api_tags, connection_tags
    from acm_sync.config import parse_config
    from acm_sync.definitions import build_definitions

    config = parse_config(
        {
            "connections": [
                {"name": "acme_eu", "env_prefix": "EU_"},
                {"name": "acme_us", "env_prefix": "US_"},
                {"name": "beta", "env_prefix": "BETA_", "crms": ["hubspot"]},
            ]
        }
    )
    environ = {
        # acme_eu and acme_us: business units of one Salesforce org, each its own HubSpot portal
        "EU_SALESFORCE_USERNAME": "integration@acme.example",
        "EU_SALESFORCE_DOMAIN": "login",
        "US_SALESFORCE_USERNAME": "integration@acme.example",
        "US_SALESFORCE_DOMAIN": "login",
        "EU_HUBSPOT_ACCESS_TOKEN": "pat-na1-eu-secret-token",
        "US_HUBSPOT_ACCESS_TOKEN": "pat-na1-us-secret-token",
        "BETA_HUBSPOT_ACCESS_TOKEN": "pat-na1-beta-secret-token",
    }
    tags = {c.name: connection_tags(c.name, config, environ) for c in config.connections}
    assert set(tags["acme_eu"]) == set(LIMITED_TAGS)
    assert tags["acme_eu"]["acm_sync/connection"] == "acme_eu"
    sf, hs = "acm_sync/salesforce-api", "acm_sync/hubspot-api"
    assert tags["acme_eu"][sf] == tags["acme_us"][sf]  # one org: never two runs at once
    assert tags["acme_eu"][hs] != tags["acme_us"][hs]  # two portals: may run together
    assert sf not in tags["beta"] and tags["beta"][hs] not in (tags["acme_eu"][hs],)
    shown = repr(tags)
    assert "secret" not in shown and "integration@" not in shown
    other_org = {**environ, "US_SALESFORCE_USERNAME": "integration@acme-us.example"}
    assert api_tags(config.connection("acme_us"), other_org)[sf] != tags["acme_eu"][sf]

    # A run launched for a partition (schedule, UI, backfill) gets them from the job.
    with pytest.MonkeyPatch.context() as env:
        for name, value in environ.items():
            env.setenv(name, value)
        job = build_definitions(config).resolve_job_def("sync")
        assert job.partitioned_config is not None
        launched = job.partitioned_config.get_tags_for_partition_key("acme_us")
        assert tags["acme_us"].items() <= launched.items()
