"""Connections as Dagster partitions: the partitions definition, and the CRM resources of the
run's connection.

A connection is one org (a Salesforce org and/or a HubSpot portal) listed in acm_sync.yaml; with
none listed there is one, `default`, on the plain variables (today's single org, unpartitioned:
exactly the code location it always was). Once connections are listed, every asset and job is
partitioned by connection with a **static** partitions definition built from the config when the
code location loads: the config is read at load anyway (schedules, alerts), so a new connection
needs a reload either way, and static partitions need no instance state, no sensor and no
`add_dynamic_partitions` call before the first run (the CLI, tests and a fresh Kubernetes
deployment can launch a connection's run at once).

Credentials of a connection with `env_prefix: ACME_EU_` are the usual variables with that
prefix (ACME_EU_SALESFORCE_USERNAME, ACME_EU_HUBSPOT_ACCESS_TOKEN, …), read through
`dagster.EnvVar` when its run starts — never stored in config, run config or metadata.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from acm_sync.config import (
    DEFAULT_CONNECTION,
    AcmSyncConfig,
    ConfigError,
    ConnectionConfig,
    load_config,
)
from acm_sync.connections import CONNECTION_TAG, ConnectionResolutionError, run_connection
from acm_sync.connectors import hubspot as hubspot_connector
from acm_sync.connectors import salesforce as salesforce_connector
from acm_sync.connectors.hubspot import HubSpotResource
from acm_sync.connectors.salesforce import SalesforceResource

# What a connection's Salesforce login needs, in the order the connector tries them: any one
# complete set will do (the connector's `method()` decides among them).
SALESFORCE_LOGINS: tuple[tuple[str, ...], ...] = (
    ("username", "password", "security_token"),
    ("instance_url", "access_token"),
    ("username", "consumer_key", "private_key_file"),
    ("username", "consumer_key", "private_key"),
    ("consumer_key", "consumer_secret"),
)
HUBSPOT_LOGINS: tuple[tuple[str, ...], ...] = (("access_token",),)


def connection_partitions(config: AcmSyncConfig) -> dg.StaticPartitionsDefinition | None:
    """One partition per listed connection; None when acm_sync.yaml lists none (the single
    `default` connection runs unpartitioned, exactly as a single-org code location always did:
    Dagster refuses a run without a partition key of partitioned assets whose upstreams are not
    in the run, so the UI would ask for a partition on every launch for nothing)."""
    if not config.connections:
        return None
    return dg.StaticPartitionsDefinition(list(config.connection_names()))


def partition_by_connection(
    assets: Sequence[dg.AssetsDefinition], partitions: dg.PartitionsDefinition | None
) -> list[dg.AssetsDefinition]:
    """The assets, each partitioned by connection (as they are when there are no partitions)."""
    if partitions is None:
        return list(assets)
    return list(
        dg.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=partitions), assets)
    )


def connection_tags(
    name: str, config: AcmSyncConfig | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The tags of a run serving connection `name`: the run-concurrency rules' keys (the
    instance's queue allows one run per connection, and one per CRM org: deploy/dagster.yaml).
    With the config, also which Salesforce org and HubSpot portal the run spends the API budget
    of (`api_tags`)."""
    tags = {CONNECTION_TAG: name}
    if config is not None and name in config.connection_names():
        tags.update(api_tags(config.connection(name), environ))
    return tags


SALESFORCE_API_TAG: Final = "acm_sync/salesforce-api"
HUBSPOT_API_TAG: Final = "acm_sync/hubspot-api"
# What names an org without being a secret: where it logs in and as whom (Salesforce), or the
# app token's one-way fingerprint (HubSpot: the token is all that names a portal offline).
_SALESFORCE_IDENTITY = ("instance_url", "login_url", "domain", "username", "consumer_key")


def _fingerprint(crm: str, parts: Sequence[str]) -> str:
    digest = hashlib.sha256("\0".join([crm, *parts]).encode()).hexdigest()
    return f"{crm}-{digest[:16]}"


def api_tags(
    connection: ConnectionConfig, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Which CRM org's API budget a run of the connection spends: one tag per CRM it uses, the
    same value for every connection on the same org (the same login), so two connections on one
    Salesforce org (business units sharing it) never run at once. A fingerprint (16 hex digits of
    a SHA-256): tags are shown in the UI and stored in the run records, so no login in clear."""
    environ = os.environ if environ is None else environ
    tags = {}
    if "salesforce" in connection.crms:
        env = prefixed(connection.env_prefix, salesforce_connector.ENV)
        parts = [environ.get(env[key], "") for key in _SALESFORCE_IDENTITY]
        tags[SALESFORCE_API_TAG] = _fingerprint(
            "salesforce", parts if any(parts) else [connection.name]
        )
    if "hubspot" in connection.crms:
        env = prefixed(connection.env_prefix, hubspot_connector.ENV)
        token = environ.get(env["access_token"], "")
        parts = [environ.get(env["base_url"], ""), token] if token else [connection.name]
        tags[HUBSPOT_API_TAG] = _fingerprint("hubspot", parts)
    return tags


def prefixed(prefix: str, names: Mapping[str, str]) -> dict[str, str]:
    """The connector's variable names under a connection's prefix."""
    return {key: f"{prefix}{name}" for key, name in names.items()}


_CRM_LOGINS = {
    "salesforce": (salesforce_connector.ENV, SALESFORCE_LOGINS),
    "hubspot": (hubspot_connector.ENV, HUBSPOT_LOGINS),
}


def missing_credentials(
    connection: ConnectionConfig, environ: Mapping[str, str] | None = None
) -> list[str]:
    """What is missing for each CRM the connection uses: one line per CRM naming the variables
    to set (never a value). Empty when every CRM has a complete set of credentials."""
    problems = []
    for crm in _CRM_LOGINS:
        missing = missing_login(connection, crm, environ) if crm in connection.crms else None
        if missing is not None:
            line = f"connection {connection.name}: {crm} credentials incomplete: {missing}"
            problems.append(line)
    return problems


def missing_login(
    connection: ConnectionConfig, crm: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """The variables to set for the connection's `crm` login ("A + B not set (or set C)"), or
    None when a complete set is there."""
    environ = os.environ if environ is None else environ
    names, logins = _CRM_LOGINS[crm]
    env = prefixed(connection.env_prefix, names)
    have = {key for key, name in env.items() if environ.get(name)}
    if any(set(login) <= have for login in logins):
        return None
    # Name what is missing from the login closest to complete (the first one, when none is
    # started).
    login = max(logins, key=lambda keys: len(have & set(keys)))
    missing = " + ".join(env[key] for key in login if key not in have)
    others = " or ".join(" + ".join(env[k] for k in keys) for keys in logins if keys != login)
    return f"{missing} not set" + (f" (or set {others})" if others else "")


class ConnectionUnavailable(dg.Failure):
    """The run's connection cannot be served (unknown name, missing credentials)."""


def resolve(tags: Mapping[str, str], config_path: str | None) -> tuple[AcmSyncConfig, str]:
    """The loaded config and the connection the run with these tags serves."""
    try:
        config = load_config(config_path)
        return config, run_connection(tags, config.connection_names())
    except (ConfigError, ConnectionResolutionError) as exc:
        raise ConnectionUnavailable(str(exc)) from None


def _tags(context: dg.InitResourceContext) -> dict[str, str]:
    run = context.run
    return dict(run.tags) if run is not None else {}


def _prefixed_resource(
    cls: type[SalesforceResource] | type[HubSpotResource],
    connection: ConnectionConfig,
    names: Mapping[str, str],
) -> SalesforceResource | HubSpotResource:
    problems = missing_credentials(connection)
    if problems:
        raise ConnectionUnavailable("; ".join(problems))
    env = prefixed(connection.env_prefix, names)
    # Secrets go in as EnvVar references, resolved by Dagster's own config processing, as the
    # resources of definitions.py are.
    kwargs: dict[str, Any] = {
        key: dg.EnvVar(name) for key, name in env.items() if os.environ.get(name)
    }
    return cls(**kwargs)


@contextmanager
def _run_resource(
    context: dg.InitResourceContext,
    config_path: str | None,
    plain: SalesforceResource | HubSpotResource,
    env: Mapping[str, str],
) -> Iterator[SalesforceResource | HubSpotResource]:
    """The CRM resource of the run's connection: `plain` for the connection without a prefix,
    else one of the same class on the prefixed variables, initialized for as long as the run
    uses it (Dagster gives it an ephemeral instance, disposed on exit: left to the garbage
    collector, its SQLite connections end in "closed database" errors)."""
    config, name = resolve(_tags(context), config_path)
    connection = config.connection(name)
    if not connection.env_prefix:
        yield plain
        return
    resource = _prefixed_resource(type(plain), connection, env)
    with resource.process_config_and_initialize_cm() as initialized:
        yield initialized


class ConnectionSalesforce(dg.ConfigurableResource[SalesforceResource]):
    """The Salesforce resource of the run's connection: `plain` (the SALESFORCE_* variables,
    as EnvVar) for the connection without a prefix, the prefixed variables otherwise."""

    plain: SalesforceResource
    config_path: str | None = None

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[SalesforceResource]:
        with _run_resource(context, self.config_path, self.plain, salesforce_connector.ENV) as r:
            assert isinstance(r, SalesforceResource)
            yield r

    def create_resource(self, context: dg.InitResourceContext) -> SalesforceResource:
        # Runs use yield_for_execution; this serves a one-off initialization.
        with self.yield_for_execution(context) as resource:
            return resource


class ConnectionHubSpot(dg.ConfigurableResource[HubSpotResource]):
    """The HubSpot resource of the run's connection (as ConnectionSalesforce)."""

    plain: HubSpotResource
    config_path: str | None = None

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[HubSpotResource]:
        with _run_resource(context, self.config_path, self.plain, hubspot_connector.ENV) as r:
            assert isinstance(r, HubSpotResource)
            yield r

    def create_resource(self, context: dg.InitResourceContext) -> HubSpotResource:
        # Runs use yield_for_execution; this serves a one-off initialization.
        with self.yield_for_execution(context) as resource:
            return resource


def for_connections(
    job: UnresolvedAssetJobDefinition,
    partitions: dg.PartitionsDefinition | None,
    settings: AcmSyncConfig | None = None,
) -> UnresolvedAssetJobDefinition:
    """The job partitioned by connection: a run is one connection, tagged
    `acm_sync/connection=<name>` whoever launches it (schedule, UI, CLI, backfill). Without
    partitions (no connections listed) every run of the job is tagged `default`."""
    base = job.config
    if base is not None and not isinstance(base, Mapping):
        raise TypeError(f"job {job.name}: only a plain run config can be partitioned")
    config: Any = base
    tags = dict(job.tags or {})
    if partitions is None:
        tags.update(connection_tags(DEFAULT_CONNECTION, settings))
    else:
        config = dg.PartitionedConfig(
            partitions_def=partitions,
            run_config_for_partition_key_fn=lambda _key: dict(base or {}),
            tags_for_partition_key_fn=lambda key: connection_tags(key, settings),
        )
    return dg.define_asset_job(
        name=job.name,
        selection=job.selection,
        config=config,
        description=job.description,
        tags=tags,
        run_tags=job.run_tags,
        metadata=job.metadata,
        executor_def=job.executor_def,
        hooks=job.hooks,
        op_retry_policy=job.op_retry_policy,
        owners=job.owners,
        automation_condition=job.automation_condition,
    )
