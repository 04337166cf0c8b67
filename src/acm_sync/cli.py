"""`acm-sync`: the command line for revops and data engineers (typer + rich)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="acm_sync: CRM sync and data quality for Salesforce and HubSpot.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(help="The local Salesforce + HubSpot sandbox.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
console = Console()

DataDir = Annotated[Path, typer.Option(help="Where the sandbox keeps its state.")]


@sandbox_app.command("serve")
def sandbox_serve(
    data_dir: DataDir = Path(".sandbox"),
    accounts: Annotated[
        int, typer.Option(min=100, max=100_000, help="Accounts in a newly seeded org.")
    ] = 1000,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the demo-org generator (default 7; with --connection and no `sandbox` "
            "block: 7 + the connection's position in the list, so no two orgs are alike)."
        ),
    ] = None,
    sf_port: Annotated[
        int | None,
        typer.Option(
            help="Salesforce (HTTPS) port; 0 picks one (default 8443, with --connection 0)."
        ),
    ] = None,
    hs_port: Annotated[
        int | None,
        typer.Option(help="HubSpot (HTTP) port; 0 picks one (default 8080, with --connection 0)."),
    ] = None,
    hubspot_tier: Annotated[
        str, typer.Option(help="HubSpot rate-limit tier: starter, professional or enterprise.")
    ] = "professional",
    daily_api_limit: Annotated[
        int, typer.Option(help="Salesforce DailyApiRequests allocation.")
    ] = 100_000,
    reset: Annotated[bool, typer.Option(help="Wipe the data directory and seed anew.")] = False,
    empty: Annotated[
        bool,
        typer.Option(
            help="A new org with no records (the admin user, opportunity stages, HubSpot's "
            "default pipeline), to load your own data into through the CRM APIs."
        ),
    ] = False,
    set_audit_fields: Annotated[
        bool | None,
        typer.Option(
            "--set-audit-fields/--no-set-audit-fields",
            help="Grant (or withdraw) the Salesforce org's 'Set Audit Fields upon Record "
            "Creation' permission: CreatedDate, CreatedById, LastModifiedDate and "
            "LastModifiedById may be given on insert, as a migration user loading history "
            "does. Kept with the org; off in a new one.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="Print nothing but errors.")] = False,
    connection: Annotated[
        str | None,
        typer.Option(
            help="Serve the sandbox org of this connection (acm_sync.yaml): its `sandbox` seed "
            "and size, data in .sandbox/<name>, exports under its env_prefix, free ports."
        ),
    ] = None,
) -> None:
    """Start the sandbox; print its connection settings as environment exports."""
    from acm_sync.sandbox.server import SandboxSettings, serve

    prefix = ""
    if connection is not None:
        chosen = _connection_config(connection)
        prefix = chosen.env_prefix
        if chosen.sandbox is not None:
            seed, accounts = chosen.sandbox.seed, chosen.sandbox.accounts
        elif seed is None:
            seed = DEFAULT_SEED + defs_connections().index(connection)
        if data_dir == Path(".sandbox"):
            data_dir = data_dir / connection
    # Many sandboxes side by side: a connection's picks free ports unless told otherwise.
    if sf_port is None:
        sf_port = 0 if connection is not None else 8443
    if hs_port is None:
        hs_port = 0 if connection is not None else 8080

    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if hubspot_tier not in ("starter", "professional", "enterprise"):
        raise typer.BadParameter(
            "must be starter, professional or enterprise", param_hint="--hubspot-tier"
        )
    if reset:
        for name in ("salesforce.db", "hubspot.db", "settings.json", "connection.env"):
            for path in data_dir.glob(name + "*"):
                path.unlink()

    def ready(settings: SandboxSettings) -> None:
        if not quiet:
            console.print(f"[green]sandbox ready[/] — data in {data_dir.resolve()}")
            console.print(f"  Salesforce  {settings.salesforce_instance_url}")
            console.print(f"  HubSpot     {settings.hubspot_base_url}")
            console.print(
                f"  settings    {data_dir.resolve() / 'connection.env'} "
                "(source it to point acm-sync at the sandbox)"
            )
            typer.echo(_exports(settings, prefix), nl=False)

    serve(
        data_dir,
        accounts=accounts,
        seed=DEFAULT_SEED if seed is None else seed,
        empty=empty,
        set_audit_fields=set_audit_fields,
        sf_port=sf_port,
        hs_port=hs_port,
        hubspot_tier=hubspot_tier,
        daily_api_limit=daily_api_limit,
        on_ready=ready,
    )


@sandbox_app.command("env")
def sandbox_env(
    data_dir: DataDir = Path(".sandbox"),
    connection: Annotated[
        str | None,
        typer.Option(
            help="The sandbox of this connection (.sandbox/<name>), exported under its "
            "env_prefix (ACME_EU_SALESFORCE_USERNAME, …)."
        ),
    ] = None,
) -> None:
    """Print the running sandbox's connection settings as `export` lines."""
    from acm_sync.sandbox.server import SandboxSettings

    prefix = ""
    if connection is not None:
        prefix = _connection_config(connection).env_prefix
        if data_dir == Path(".sandbox"):
            data_dir = data_dir / connection
    if not (data_dir / "settings.json").exists():
        raise typer.BadParameter(
            f"no running sandbox in {data_dir}; start one with `acm-sync sandbox serve`",
            param_hint="--data-dir",
        )
    typer.echo(_exports(SandboxSettings.read(data_dir), prefix), nl=False)


@sandbox_app.command("connections")
def sandbox_connections() -> None:
    """For `make dev`: one line `NAME sandbox|credentials PREFIX` per connection acm_sync.yaml
    lists — `sandbox` when none of its login variables is set (it gets a sandbox org),
    `credentials` when some are (an incomplete set is named on stderr). Nothing when none is
    listed (the single org on the plain variables)."""
    import os

    from acm_sync.assets.connections import missing_credentials
    from acm_sync.config import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        _fail(str(exc))
    for connection in config.connections:
        prefix = connection.env_prefix
        if any(os.environ.get(prefix + name) for name in _LOGIN_VARIABLES):
            for problem in missing_credentials(connection):
                typer.echo(f"warning: {problem}", err=True)
            typer.echo(f"{connection.name} credentials {prefix}")
        else:
            typer.echo(f"{connection.name} sandbox {prefix}")


DEFAULT_SEED = 7
# Any of these set means a connection has an org of its own (make dev starts no sandbox for it).
_LOGIN_VARIABLES = (
    "SALESFORCE_USERNAME",
    "SALESFORCE_INSTANCE_URL",
    "SALESFORCE_CONSUMER_KEY",
    "HUBSPOT_ACCESS_TOKEN",
)


def _connection_config(name: str) -> Any:
    """The connection `name` of acm_sync.yaml (a bad file or name: one line, exit 1)."""
    from acm_sync.config import ConfigError, load_config

    try:
        return load_config().connection(name)
    except ConfigError as exc:
        _fail(str(exc))


def _exports(settings: Any, prefix: str) -> str:
    """The sandbox's settings as `export` lines, under a connection's prefix."""
    if not prefix:
        return str(settings.exports())
    import shlex

    return "".join(f"export {prefix}{k}={shlex.quote(v)}\n" for k, v in settings.env().items())


@sandbox_app.command("summary")
def sandbox_summary(
    data_dir: DataDir = Path(".sandbox"),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """What the running sandbox holds, read through the real Salesforce and HubSpot clients."""
    import os

    from acm_sync.org_summary import org_summary
    from acm_sync.sandbox.server import SandboxSettings

    if (data_dir / "settings.json").exists():
        settings: Any = SandboxSettings.read(data_dir)
    elif os.environ.get("SALESFORCE_LOGIN_URL") and os.environ.get("HUBSPOT_BASE_URL"):
        settings = dict(os.environ)  # a sourced connection.env
    else:
        _fail(
            f"no running sandbox in {data_dir} and no sandbox settings in the environment: "
            "start one with `acm-sync sandbox serve` (or `make dev`), pass --data-dir, or "
            "source its connection.env"
        )
    try:
        summary = org_summary(settings)
    except OSError as exc:  # requests' ConnectionError is one
        _fail(
            f"the sandbox does not answer ({type(exc).__name__}): is it running? "
            "start it with `acm-sync sandbox serve` or `make dev`"
        )
    _print_summary(summary, as_json)


@contextmanager
def _pull_bars(*, enabled: bool) -> Iterator[Any]:
    """A rich progress bar per pull (rows, rate, time left where the CRM gives a total) while
    the block runs; None when disabled."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from acm_sync.connectors.progress import PullProgress, listening

    bars = Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(p: PullProgress) -> None:
        if p.what not in tasks:
            tasks[p.what] = bars.add_task(p.what, total=p.total, rate="")
        rate = f"{p.rate:,.0f} rows/s" if p.rate else ""
        bars.update(tasks[p.what], completed=p.rows, total=p.total, rate=rate)

    with bars, listening(update):
        yield bars


@app.command("demo")
def demo(
    accounts: Annotated[int, typer.Option(min=100, max=100_000)] = 1000,
    seed: int = 7,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            help="Keep the sandbox, warehouse, Data Docs and plan CSV here (default: ./.demo, "
            "emptied at the start of each demo)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Seed a fresh sandbox, run the sync job on it (pull → quality → scoring → write-back), and
    show the result, with three records before → after, and what to open next."""
    import shutil

    from acm_sync.demo import run_demo

    def progress(message: str) -> None:
        if not as_json:
            console.print(f"[dim]•[/] {message}")

    target = work_dir or Path(".demo")
    if work_dir is None and target.exists():
        shutil.rmtree(target)  # ours: a demo starts from a freshly seeded org
    with _pull_bars(enabled=not as_json) as bars:
        summary = run_demo(
            target,
            accounts=accounts,
            seed=seed,
            progress=(lambda m: bars.console.print(f"[dim]•[/] {m}")) if bars else progress,
        )
    summary["next"] = _demo_outputs(target, summary)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    _print_pipeline_summary(summary)
    out = summary["next"]
    console.print(f"\n[bold]What next[/] (the demo's files are kept in {target.resolve()}):")
    console.print(
        f"  the write plan, as CSV       {out['plan_csv']}", highlight=False, soft_wrap=True
    )
    console.print(
        f"  the Data Docs                .venv/bin/acm-sync docs --warehouse {out['warehouse']}"
        "  → http://127.0.0.1:3100/",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"  the plots                    {out['plots']}", highlight=False, soft_wrap=True)
    console.print(
        "  the Dagster UI               make dev  → http://127.0.0.1:3000 (its own sandbox)",
        highlight=False,
        soft_wrap=True,
    )


def _demo_outputs(target: Path, summary: dict[str, Any]) -> dict[str, str]:
    """The demo's plan exported as CSV beside its warehouse; the paths to open next."""
    import csv

    from acm_sync.warehouse import Warehouse
    from acm_sync.writeback.preview import with_names_and_links
    from acm_sync.writeback.store import WritebackStore

    warehouse = Path(summary["warehouse"])
    store = WritebackStore(Warehouse(warehouse))
    latest = store.latest_plan_run()
    plan_csv = target.resolve() / "plan.csv"
    columns = ["crm", "object", "record_id", "field", "before", "after", "action", "status"]
    named = [*columns[:3], "name", "url", *columns[3:]]
    with plan_csv.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(named)
        if latest is not None:
            plan = with_names_and_links(store.wh, store.plan(latest[0])[columns])
            for row in plan[named].itertuples(index=False):
                writer.writerow(["" if pd_isna(v) else v for v in row])
    return {
        "plan_csv": str(plan_csv),
        "warehouse": str(warehouse.resolve()),
        "data_docs": str(warehouse.resolve().parent / "data_docs" / "index.html"),
        "plots": str(warehouse.resolve().parent / "plots"),
    }


def pd_isna(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value)) if not isinstance(value, list | dict) else False


def _writeback_mode(config: Any, crms: tuple[str, ...] = ("salesforce", "hubspot")) -> str:
    """What writeback_apply will do to each CRM (of `crms`), from writeback.dry_run and where
    the credentials point (dry_run auto: writes to the local sandbox only)."""
    from acm_sync.assets.writeback import local_crms
    from acm_sync.connectors.hubspot import HubSpotResource
    from acm_sync.connectors.salesforce import SalesforceResource

    settings = config.writeback
    # Initialized in a `with`: Dagster gives each an ephemeral instance, disposed on exit (left
    # to the garbage collector, its SQLite connections end in "closed database" errors).
    with (
        SalesforceResource.from_env().process_config_and_initialize_cm() as sf,
        HubSpotResource.from_env().process_config_and_initialize_cm() as hs,
    ):
        local = local_crms(sf, hs) & set(crms)
    setting = {"auto": "auto", True: "true", False: "false"}[settings.dry_run]
    parts = []
    for crm, label in (("salesforce", "Salesforce"), ("hubspot", "HubSpot")):
        if crm not in crms:
            continue
        where = "the local sandbox" if crm in local else "a real org"
        if settings.is_dry_run(sandbox=crm in local):
            parts.append(f"{label} ({where}): dry run, plans only")
        else:
            parts.append(f"{label} ({where}): writes")
    text = f"writeback.dry_run: {setting} → " + "; ".join(parts)
    if settings.dry_run == "auto" and len(local) < len(crms):
        text += " (set writeback.dry_run: false in acm_sync.yaml to write to a real org)"
    if settings.require_approval:
        text += "; require_approval: a scheduled sync stops at the plan until applied"
    return text


# A doctor check: (name, ok, detail, how to fix).
Check = Callable[[str, bool, str, str], None]
# Every variable a CRM login reads (the connectors' ENV, plus the OAuth refresh token).
_CRM_VARIABLES = ("SALESFORCE_REFRESH_TOKEN",)


def _crm_variables() -> list[str]:
    from acm_sync.connectors.hubspot import ENV as HS_ENV
    from acm_sync.connectors.salesforce import ENV as SF_ENV

    return [*SF_ENV.values(), *HS_ENV.values(), *_CRM_VARIABLES]


def _secret_variables() -> set[str]:
    from acm_sync.connectors.hubspot import ENV as HS_ENV
    from acm_sync.connectors.salesforce import ENV as SF_ENV
    from acm_sync.connectors.salesforce import SECRET_FIELDS

    return {SF_ENV[f] for f in SECRET_FIELDS} | {HS_ENV["access_token"], *_CRM_VARIABLES}


def _read_exports(path: Path) -> dict[str, str]:
    """The `export NAME=value` lines of a sandbox's connection.env."""
    import shlex

    env = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


@app.command("doctor")
def doctor(
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Create the missing HubSpot properties (group acm_sync) and options."
        ),
    ] = False,
    sandbox_dir: Annotated[
        Path,
        typer.Option(
            help="Sandbox whose connection.env is used when no credentials are set (a listed "
            "connection's: <dir>/<name>/connection.env)."
        ),
    ] = Path(".sandbox"),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check the config, both CRM logins (of every connection listed), API limits left and the
    fields acm_sync writes."""
    import os

    from acm_sync.config import AcmSyncConfig, ConfigError, config_path, load_config
    from acm_sync.connectors.common import scrub
    from acm_sync.environment import temporary_environment

    checks: list[dict[str, Any]] = []
    reports: dict[str, Any] = {}

    def check(name: str, ok: bool, detail: str, how: str = "") -> None:
        checks.append({"check": name, "ok": ok, "detail": detail, "fix": "" if ok else how})

    # -- config
    config = AcmSyncConfig()
    try:
        config = load_config()
        where = config_path()
        check("config", True, f"{where}" if where.exists() else f"{where} absent: defaults")
    except ConfigError as exc:
        check("config", False, str(exc), "correct the key it names (ACM_SYNC_CONFIG: the file)")

    secret_names = _secret_variables()
    secrets = [v for k, v in os.environ.items() if k in secret_names]
    if config.connections:
        # Each connection on its own variables (or its sandbox org): the plain ones serve no run
        # of a listed connection unless it has no prefix.
        reports["connections"] = {}
        for connection in config.connections:
            env = _doctor_connection(
                check,
                reports["connections"].setdefault(connection.name, {}),
                config,
                connection,
                sandbox_dir=sandbox_dir,
                fix=fix,
            )
            secrets += [v for k, v in env.items() if k in secret_names]
    else:
        env = _doctor_plain_credentials(check, sandbox_dir)
        secrets += [v for k, v in env.items() if k in secret_names]
        # The resources read their EnvVars from the process environment.
        with temporary_environment(env):
            _doctor_crms(check, reports, config, fix=fix)

    for c in checks:
        c["detail"], c["fix"] = scrub(c["detail"], secrets), scrub(c["fix"], secrets)
    ok = all(c["ok"] for c in checks)
    if as_json:
        text = json.dumps({"ok": ok, "checks": checks, **reports}, indent=2, default=str)
        typer.echo(scrub(text, secrets))
    else:
        from rich.text import Text

        if console.width >= 120:
            table = Table(title="acm-sync doctor", title_justify="left", show_lines=True)
            for column in ("check", "status", "detail", "how to fix"):
                table.add_column(column)
            for c in checks:
                status = Text("ok", style="green") if c["ok"] else Text("problem", style="bold red")
                table.add_row(c["check"], status, Text(c["detail"]), Text(c["fix"]))
            console.print(table)
        else:  # narrow terminal: one block per check, commands never cut across cells
            console.print(Text("acm-sync doctor", style="bold"))
            for c in checks:
                mark = (
                    Text("ok     ", style="green") if c["ok"] else Text("PROBLEM", style="bold red")
                )
                console.print(Text.assemble(mark, " ", (c["check"], "bold"), " — ", c["detail"]))
                if c["fix"] and not c["ok"]:
                    console.print(f"        fix: {c['fix']}", highlight=False, soft_wrap=True)
        summary = "everything is ready" if ok else "some checks failed"
        console.print(Text(summary, style="green" if ok else "bold red"))
    if not ok:
        raise typer.Exit(1)


def _doctor_plain_credentials(check: Check, sandbox_dir: Path) -> dict[str, str]:
    """Where the single org's credentials come from: the plain variables, else the sandbox's
    connection.env (returned, to be set while the checks run)."""
    import os

    env = {n: os.environ[n] for n in _crm_variables() if os.environ.get(n)}
    sandbox_env = sandbox_dir / "connection.env"
    load_hint = f"set -a; . {sandbox_env}; set +a"
    if env:
        check("credentials", True, "from the environment", "")
    elif sandbox_env.exists():
        env = _read_exports(sandbox_env)
        check(
            "credentials",
            True,
            f"no SALESFORCE_* / HUBSPOT_* set: using the sandbox's {sandbox_env} "
            f"(to load it into your shell: {load_hint})",
            "",
        )
    else:
        check(
            "credentials",
            False,
            "no SALESFORCE_* / HUBSPOT_* variables set and no sandbox connection file at "
            f"{sandbox_env}",
            "set the credentials (README: Pulling the CRMs), or start the sandbox "
            f"(make dev) and load it: {load_hint}",
        )
    return env


_CRM_LABELS = {"salesforce": "Salesforce", "hubspot": "HubSpot"}


def _doctor_connection(
    check: Check,
    report: dict[str, Any],
    config: Any,
    connection: Any,
    *,
    sandbox_dir: Path,
    fix: bool,
) -> dict[str, str]:
    """The checks of one listed connection, each named `<name>: …`: where its credentials come
    from, then per CRM one login line — not used, not configured (the variables to set),
    configured and reachable, or configured and not reachable — and, for each CRM that
    answered, the same checks as a single org gets. Returns the credentials used (plain names),
    whose secrets the caller scrubs."""
    import os
    import re

    from acm_sync.assets.connections import missing_login
    from acm_sync.environment import temporary_environment

    name, prefix = connection.name, connection.env_prefix
    variables = _crm_variables()
    env = {n: os.environ[prefix + n] for n in variables if os.environ.get(prefix + n)}
    sandbox_env = sandbox_dir / name / "connection.env"
    start = f"acm-sync sandbox serve --connection {name}"
    if env:
        check(f"{name}: credentials", True, f"from the environment ({prefix}…)", "")
    elif sandbox_env.exists():
        env = _read_exports(sandbox_env)
        check(
            f"{name}: credentials",
            True,
            f"no {prefix}SALESFORCE_* / {prefix}HUBSPOT_* set: using its sandbox org's "
            f"{sandbox_env} (to load it into your shell: "
            f'eval "$(acm-sync sandbox env --connection {name})")',
            "",
        )
    else:
        check(
            f"{name}: credentials",
            False,
            f"no {prefix}SALESFORCE_* / {prefix}HUBSPOT_* variables set and no sandbox org at "
            f"{sandbox_env.parent}",
            f"set them (docs/connections.md), or start its sandbox org: {start}",
        )
    # The connector's messages name the plain variables; this connection's are prefixed.
    plain_name = re.compile(r"(?<![A-Z0-9_])(?=(?:SALESFORCE|HUBSPOT)_[A-Z])")

    def named(text: str) -> str:
        return plain_name.sub(prefix, text) if prefix else text

    def connection_check(check_name: str, ok: bool, detail: str, how: str = "") -> None:
        if check_name.endswith(" login"):
            detail = ("configured, reachable: " if ok else "configured, not reachable: ") + detail
        check(f"{name}: {check_name}", ok, named(detail), named(how))

    usable = []
    for crm, label in _CRM_LABELS.items():
        if crm not in connection.crms:
            used = ", ".join(connection.crms)
            check(f"{name}: {label} login", True, f"not used (crms: {used})", "")
            continue
        missing = missing_login(connection, crm, {prefix + k: v for k, v in env.items()})
        if missing is not None:
            check(
                f"{name}: {label} login",
                False,
                f"not configured: {missing}",
                f"set them (docs/connections.md), or start its sandbox org: {start}",
            )
            continue
        usable.append(crm)
    if usable:
        # The connection's variables under the plain names the resources read (every other one
        # unset), exactly what its runs get from its prefix.
        with temporary_environment({n: env.get(n) for n in variables}):
            _doctor_crms(
                connection_check,
                report,
                config.for_connection(name),
                fix=fix,
                crms=tuple(usable),
                writeback_crms=connection.crms,
            )
    return env


def _doctor_crms(
    check: Check,
    reports: dict[str, Any],
    config: Any,
    *,
    fix: bool,
    crms: tuple[str, ...] = ("salesforce", "hubspot"),
    writeback_crms: tuple[str, ...] = ("salesforce", "hubspot"),
) -> None:
    """Login, API limit, owned fields and field mapping of each CRM in `crms`, then what
    write-back will do, on the credentials in the process environment (plain names)."""
    if "salesforce" in crms:
        _doctor_salesforce(check, reports, config.sync.salesforce)
    if "hubspot" in crms:
        _doctor_hubspot(check, reports, config.sync.hubspot, fix=fix)
    # -- whether write-back will really write, per CRM (as writeback_apply decides)
    try:
        check("write-back", True, _writeback_mode(config, writeback_crms), "")
    except Exception as exc:
        check("write-back", False, f"{type(exc).__name__}: {exc}", "")


_OWNED_CHECKS = {
    "salesforce_fields": "Salesforce owned fields",
    "hubspot_properties": "HubSpot owned properties",
}


def _owned_check(check: Check, reports: dict[str, Any], key: str, report: Any) -> None:
    """Whether the fields acm_sync writes exist in the CRM (the report kept under `key`)."""
    reports[key] = report.to_dict()
    check(_OWNED_CHECKS[key], report.ok, report.message(with_fix=False), report.fix())


def _mapping_check(check: Check, crm: str, unmapped: list[str], thing: str, things: str) -> None:
    """The `sync` field mapping of `crm` against what the CRM has (as a pull checks it)."""
    label = _CRM_LABELS[crm]
    check(
        f"{label} field mapping",
        not unmapped,
        "\n".join(unmapped) or f"every mapped {thing} exists (sync.{crm}.fields)",
        f"fix the names under sync.{crm}.fields in acm_sync.yaml, or create the "
        f"{things} in {label}",
    )


def _doctor_salesforce(check: Check, reports: dict[str, Any], sf_settings: Any) -> None:
    from acm_sync.connectors.policy import ApiBudget
    from acm_sync.connectors.salesforce import SalesforceResource
    from acm_sync.writeback.target import check_salesforce_fields

    # The resource is initialized within the `with`, which disposes the ephemeral Dagster
    # instance it was given (see _writeback_mode).
    with ExitStack() as resources:
        try:
            # a fresh login: the check is of the credentials, not of a session stored by a run
            sf_resource = SalesforceResource.from_env(session_reuse=False)
            sf_resource = resources.enter_context(sf_resource.process_config_and_initialize_cm())
            sf = sf_resource.connect(budget=ApiBudget("salesforce"), retry=sf_settings.retry)
            check(
                "Salesforce login",
                True,
                f"{sf_resource.method()} login"
                + (f" as {sf_resource.username}" if sf_resource.username else "")
                + f" → {sf.sf.sf_instance}",
                "",
            )
        except Exception as exc:
            check("Salesforce login", False, str(exc), _doctor_login_fix(exc, "Salesforce"))
            return
        try:
            daily = sf.limits()["DailyApiRequests"]
            left, cap = int(daily["Remaining"]), int(daily["Max"])
            reserve = sf_settings.budget.reserve_calls
            check(
                "Salesforce API limit",
                left > reserve,
                f"{left:,} of {cap:,} daily API requests left (reserve {reserve:,})",
                "wait for the rolling 24 h window, or lower sync.salesforce.budget.reserve_calls",
            )
            _owned_check(check, reports, "salesforce_fields", check_salesforce_fields(sf))
            # The `sync` mapping, checked against describe as a pull checks it.
            from acm_sync.connectors.salesforce_pull import mapping_problems

            _mapping_check(
                check, "salesforce", mapping_problems(sf, sf_settings), "field", "fields"
            )
        except Exception as exc:
            check("Salesforce API", False, f"{type(exc).__name__}: {exc}", "")


def _doctor_hubspot(check: Check, reports: dict[str, Any], hs_settings: Any, *, fix: bool) -> None:
    from acm_sync.connectors.hubspot import DEFAULT_BASE_URL, HubSpotResource
    from acm_sync.connectors.policy import ApiBudget
    from acm_sync.writeback.target import ensure_hubspot_properties

    with ExitStack() as resources:
        try:
            hs_resource = resources.enter_context(
                HubSpotResource.from_env().process_config_and_initialize_cm()
            )
            hs = hs_resource.connect(budget=ApiBudget("hubspot"), settings=hs_settings)
            # The properties list is the cheapest call that proves the token (and its schema
            # scopes) and brings back the daily-limit headers.
            hs_report = ensure_hubspot_properties(hs, create=fix)
            host = hs_resource.base_url or DEFAULT_BASE_URL
            check("HubSpot login", True, f"private-app token accepted by {host}", "")
        except Exception as exc:
            check("HubSpot login", False, str(exc), _doctor_login_fix(exc, "HubSpot"))
            return
        left_hs, cap_hs = hs.budget.vendor_remaining, hs.budget.vendor_limit
        reserve = hs_settings.budget.reserve_calls
        if left_hs is None:
            check("HubSpot API limit", True, "the daily limit headers were not sent", "")
        else:
            check(
                "HubSpot API limit",
                left_hs > reserve,
                f"{left_hs:,} of {cap_hs or 0:,} daily API calls left (reserve {reserve:,})",
                "wait for the daily limit to reset (midnight in the portal's time zone), or "
                "lower sync.hubspot.budget.reserve_calls",
            )
        _owned_check(check, reports, "hubspot_properties", hs_report)
        # The `sync` mapping, checked against the properties API as a pull checks it.
        from acm_sync.connectors.hubspot_pull import mapping_problems as hs_mapping_problems

        try:
            _mapping_check(
                check, "hubspot", hs_mapping_problems(hs, hs_settings), "property", "properties"
            )
        except Exception as exc:
            check("HubSpot API", False, f"{type(exc).__name__}: {exc}", "")


@app.command("plan")
def plan_export(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the CSV to this file (default: stdout).")
    ] = None,
    include_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every planned cell, skipped ones too (default: the cells to send and the "
            "manual edits kept).",
        ),
    ] = False,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="The plan of this run (default: the latest).")
    ] = None,
    warehouse: Annotated[
        Path | None,
        typer.Option(
            "--warehouse",
            help="The warehouse's DuckDB file (default: $ACM_WAREHOUSE_PATH or "
            "./warehouse/acm_sync.duckdb).",
        ),
    ] = None,
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection", "-c", help="The connection (acm_sync.yaml) whose warehouse to read."
        ),
    ] = None,
) -> None:
    """Export the write plan as CSV: per owned field, before → after, action and status."""
    import csv
    import io
    import os

    import pandas as pd
    from rich import box

    from acm_sync.warehouse import DEFAULT_PATH, PATH_ENV, Warehouse
    from acm_sync.writeback.plan import OVERWRITE_MANUAL, SENDING, SKIP_GIVEN_UP, SKIP_MANUAL
    from acm_sync.writeback.preview import with_names_and_links
    from acm_sync.writeback.store import PLAN, PLAN_RUNS

    err = Console(stderr=True)
    columns = ["crm", "object", "record_id", "field", "before", "after", "action", "status"]
    path = warehouse or _warehouse_of(connection) or Path(os.environ.get(PATH_ENV) or DEFAULT_PATH)
    no_plan = "run the `plan` job or `acm-sync demo` first"

    def fail(message: str) -> NoReturn:
        err.print(f"[bold red]error:[/] {message}", highlight=False)
        raise typer.Exit(1)

    if not path.is_file():
        fail(f"no warehouse at {path}: no write plan yet; {no_plan}")
    with Warehouse(path).connect(read_only=True) as con:
        tables = {str(r[0]) for r in con.execute("SHOW TABLES").fetchall()}
        if not {PLAN, PLAN_RUNS} <= tables:
            fail(f"no write plan yet in {path}; {no_plan}")
        runs = con.execute(
            f"SELECT run_id, planned_at, cells FROM {PLAN_RUNS} "
            + ("WHERE run_id = ? " if run_id else "")
            + "ORDER BY planned_at DESC LIMIT 1",
            [run_id] if run_id else [],
        ).fetchall()
        if not runs:
            fail(
                f"no write plan of run {run_id} in {path} (`--run-id` is optional: the latest)"
                if run_id
                else f"no write plan yet in {path}; {no_plan}"
            )
        chosen, planned_at, _ = runs[0]
        cells = con.execute(
            f"SELECT {', '.join(columns)} FROM {PLAN} WHERE run_id = ? "
            "ORDER BY crm, object, record_id, field",
            [chosen],
        ).fetchall()

    shown_actions = (*SENDING, SKIP_MANUAL)
    shown = [c for c in cells if include_all or c[6] in shown_actions]
    # each record's name and link in its CRM, after its id
    named = with_names_and_links(Warehouse(path), pd.DataFrame(shown, columns=columns))
    named = named.astype(object).where(named.notna(), None)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(named.columns)
    writer.writerows([["" if v is None else v for v in c] for c in named.itertuples(index=False)])
    if out is None:
        typer.echo(buffer.getvalue(), nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(buffer.getvalue(), encoding="utf-8")

    # the summary (of the whole plan, whatever the CSV shows) goes to stderr
    per_object: dict[tuple[str, str], dict[str, Any]] = {}
    for crm, obj, record_id, _f, _b, _a, action, status in cells:
        counts = per_object.setdefault(
            (crm, obj),
            {"records": set(), "fields": 0, "manual": 0, "given_up": set(), "status": {}},
        )
        if action in SENDING:
            counts["records"].add(record_id)
            counts["fields"] += 1
            outcome = "written" if status in ("written", "recovered") else status
            counts["status"][outcome] = counts["status"].get(outcome, 0) + 1
        if action in (SKIP_MANUAL, OVERWRITE_MANUAL):
            counts["manual"] += 1
        if action == SKIP_GIVEN_UP:
            counts["given_up"].add(record_id)
    stamp = f"{planned_at:%Y-%m-%d %H:%M:%S %Z}".strip() if planned_at else "?"
    table = Table(
        title=f"Write plan {chosen} ({stamp})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        caption="records, fields: to send · manual: edited by people (kept or overwritten "
        "per policy) · written, rejected: fields sent so far",
        caption_justify="left",
    )
    headers = ["crm", "object", "records", "fields", "manual", "given up", "written", "rejected"]
    for i, name in enumerate(headers):
        table.add_column(name, justify="left" if i < 2 else "right", no_wrap=True)
    for (crm, obj), counts in sorted(per_object.items()):
        table.add_row(
            crm,
            obj,
            *(
                f"{n:,}"
                for n in (
                    len(counts["records"]),
                    counts["fields"],
                    counts["manual"],
                    len(counts["given_up"]),
                    counts["status"].get("written", 0),
                    counts["status"].get("rejected", 0),
                )
            ),
        )
    if per_object:
        err.print(table)
    records = sum(len(c["records"]) for c in per_object.values())
    fields = sum(c["fields"] for c in per_object.values())
    manual = sum(c["manual"] for c in per_object.values())
    given_up = sum(len(c["given_up"]) for c in per_object.values())
    held = ", ".join(
        text
        for n, text in ((manual, f"{manual:,} manual edits"), (given_up, f"{given_up:,} given up"))
        if n
    )
    where = f" to {out}" if out is not None else ""
    sent = sum(n for c in per_object.values() for s, n in c["status"].items() if s)
    written = sum(c["status"].get("written", 0) for c in per_object.values())
    if records and sent:
        head = (
            f"plan {chosen} applied: {written:,} of {fields:,} planned fields written "
            f"({records:,} records)"
        )
    elif records:
        head = (
            f"plan {chosen}: {records:,} records / {fields:,} fields planned, none sent — a dry "
            f"run, or awaiting approval (`acm-sync apply --plan-id {chosen}`)"
        )
    else:
        head = f"nothing to write in plan {chosen}"
    err.print(
        f"{head}{f' ({held})' if held else ''}; {len(shown):,} cells exported{where}",
        highlight=False,
    )


def _doctor_login_fix(exc: BaseException, crm: str) -> str:
    from acm_sync.connectors.common import CredentialsError

    if isinstance(exc, CredentialsError):
        return "fix the variables the message names (README: Pulling the CRMs)"
    if crm == "Salesforce":
        return "check SALESFORCE_DOMAIN / SALESFORCE_LOGIN_URL and SALESFORCE_CA_BUNDLE"
    return "check HUBSPOT_BASE_URL and the network"


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[f"{v:,}" if isinstance(v, int | float) else str(v) for v in row])
    return table


def _print_pipeline_summary(s: dict[str, Any]) -> None:
    crm_names = {
        "salesforce.accounts": "Salesforce Account",
        "salesforce.contacts": "Salesforce Contact",
        "salesforce.opportunities": "Salesforce Opportunity",
        "hubspot.accounts": "HubSpot companies",
        "hubspot.contacts": "HubSpot contacts",
        "hubspot.opportunities": "HubSpot deals",
    }
    console.print(
        _table(
            "Pulled (every record read, deleted and merged-away ones included)",
            ["CRM object", "records"],
            [[crm_names.get(k, k), v] for k, v in s["pulled"].items()],
        )
    )
    console.print(
        _table(
            "Quality",
            ["entity", "valid", "quarantined"],
            [[e, s["valid"][e], s["quarantined"].get(e, 0)] for e in s["valid"]],
        )
    )
    console.print(
        _table(
            "Issues by rule",
            ["entity", "code", "severity", "records"],
            [
                [r["entity"], r["code"], r["severity"], r["records"]]
                for r in s["issues_by_rule"][:15]
            ],
        )
    )
    console.print(_table("Tiers", ["tier", "accounts"], [[k, v] for k, v in s["tiers"].items()]))
    console.print(
        _table("Health", ["band", "accounts"], [[k, v] for k, v in s["health_bands"].items()])
    )
    console.print(
        _table(
            "Forecast (expected bookings)",
            [
                "period",
                "pipeline (time-to-close model)",
                "+ run-rate (new deals)",
                "= total forecast",
                "stage-default baseline (pipeline)",
                "open deals",
            ],
            [
                [
                    f["period"],
                    f"{f['pipeline_forecast']:,.0f}",
                    f"{f['run_rate']:,.0f}",
                    f"{f['total_forecast']:,.0f}",
                    f"{f['stage_default_baseline']:,.0f}",
                    f"{f['open_opportunities']:,}",
                ]
                for f in s["forecast"]
            ],
        )
    )
    console.print(
        "[dim]pipeline: won + open deals × the model's chance of closing in the quarter; "
        "run-rate: deals not created yet; baseline: won + open deals × the stage's default "
        "probability (compare it with the pipeline column)[/]",
        highlight=False,
    )
    wb = s["writeback"]
    console.print(
        _table(
            f"Written back ({wb['written']:,} of {wb['planned']:,} planned records; "
            f"{wb['rejected']:,} rejected, {wb['skipped_manual']:,} manual edits kept)",
            ["CRM object", "records written"],
            [[k, f"{v:,}"] for k, v in wb["written_by_object"].items()],
        )
    )
    for example in s.get("examples", []):
        console.print(
            _table(
                f"{_VENDOR.get(example['crm'], example['crm'])} {example['object']} "
                f"{example['id']} — before → after",
                ["field", "before", "after"],
                [
                    [f["field"], "—" if f["before"] is None else str(f["before"]), str(f["after"])]
                    for f in example["fields"]
                ],
            )
        )
    calls = ", ".join(f"{k}: {v:,}" for k, v in s["api_calls"].items())
    writes = ", ".join(f"{k}: {v:,}" for k, v in wb["write_calls"].items())
    console.print(
        f"API calls: {calls} (of which writes: {writes})   "
        f"accounts flagged for attention (next_action.attention_rules, e.g. a Key account "
        f"in Red): {s['attention_flags']:,}   {s['seconds']}s"
    )


_VENDOR = {"salesforce": "Salesforce", "hubspot": "HubSpot"}


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    for vendor in ("salesforce", "hubspot"):
        table = Table(title=f"{_VENDOR[vendor]} sandbox — {summary[vendor]['url']}")
        table.add_column("object")
        table.add_column("records", justify="right")
        table.add_column("deleted / archived", justify="right")
        for obj, counts in summary[vendor]["objects"].items():
            table.add_row(obj, f"{counts['live']:,}", f"{counts['deleted']:,}")
        console.print(table)
        console.print(f"  API calls used: {summary[vendor]['api_usage']}")
        fill = summary[vendor].get("owned_fill") or {}
        if fill:
            owned = Table(title=f"{_VENDOR[vendor]}: the fields acm_sync writes, filled")
            owned.add_column("object")
            owned.add_column("field")
            owned.add_column("filled", justify="right")
            owned.add_column("of live", justify="right")
            for obj, fields in fill.items():
                for name, n in fields.items():
                    share = f" ({n['filled'] / n['records']:.0%})" if n["records"] else ""
                    owned.add_row(obj, name, f"{n['filled']:,}{share}", f"{n['records']:,}")
            console.print(owned)
    if summary.get("samples"):
        console.print("[bold]A few records, as the APIs return them:[/]")
        for sample in summary["samples"]:
            console.print(sample)


def _fail(message: str) -> NoReturn:
    """One clear line on stderr, exit status 1."""
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command("docs")
def docs(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 3100,
    warehouse: Annotated[
        Path | None,
        typer.Option(
            "--warehouse",
            help="The warehouse's DuckDB file; the Data Docs are in data_docs/ beside it "
            "(default: $ACM_WAREHOUSE_PATH or ./warehouse/acm_sync.duckdb).",
        ),
    ] = None,
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection", "-c", help="The connection (acm_sync.yaml) whose warehouse to read."
        ),
    ] = None,
) -> None:
    """Serve the GX Data Docs over HTTP (the Dagster UI links them here; `make dev` starts it).
    With connections listed: each connection's site under /<name>/ (all, or the one named)."""
    import os

    from acm_sync.quality.docs import docs_root
    from acm_sync.quality.serve import docs_server
    from acm_sync.warehouse import DEFAULT_PATH, PATH_ENV

    listed = [] if warehouse is not None else _listed_connections()
    if connection is not None and listed and connection not in listed:
        _fail(f"no connection {connection!r} in acm_sync.yaml (connections: {', '.join(listed)})")
    root: Path | dict[str, Path]
    if listed:  # the links the quality assets write name the connection: /<name>/…
        names = [connection] if connection is not None else listed
        root = {name: docs_root(_warehouse_of(name) or Path()) for name in names}
        where = "\n".join(f"  {name}: {site} → /{name}/" for name, site in root.items())
    else:
        root = docs_root(
            warehouse or _warehouse_of(connection) or Path(os.environ.get(PATH_ENV) or DEFAULT_PATH)
        )
        where = f"  {root}"
    try:
        server = docs_server(root, port=port)
    except OSError as exc:
        _fail(f"cannot serve on 127.0.0.1:{port} ({exc.strerror}); pick another with --port")
    console.print(
        f"Data Docs on http://127.0.0.1:{port}/ (built by each validation run; Ctrl-C stops)\n"
        + where,
        highlight=False,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


SYNC_JOBS = ("sync", "full_refresh", "plan", "ingest", "validate")


def defs_connections() -> list[str]:
    """The connections the code location serves (a bad config: one line, exit 1)."""
    from acm_sync.config import ConfigError, load_config

    try:
        return list(load_config().connection_names())
    except ConfigError as exc:
        _fail(str(exc))


def _listed_connections() -> list[str]:
    """The connections acm_sync.yaml lists (none: the single org; a bad config: exit 1)."""
    from acm_sync.config import ConfigError, load_config

    try:
        return [c.name for c in load_config().connections]
    except ConfigError as exc:
        _fail(str(exc))


def _warehouse_of(connection: str | None) -> Path | None:
    """The warehouse file of `connection` (None: none named)."""
    if connection is None:
        return None
    import dagster as dg

    from acm_sync.warehouse import WarehouseResource

    try:
        return WarehouseResource().path_for(connection)
    except dg.Failure as exc:
        _fail(str(exc.description))


@app.command("sync")
def sync(
    connection: Annotated[
        list[str] | None,
        typer.Option(
            "--connection",
            "-c",
            help="The connection (acm_sync.yaml `connections`) to run; repeat for several. "
            "Default: every connection (the only one when none is listed).",
        ),
    ] = None,
    job: Annotated[
        str,
        typer.Option(help=f"The job to run: {', '.join(SYNC_JOBS)}."),
    ] = "sync",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Score as of this day (YYYY-MM-DD, 00:00 UTC) instead of today: a replay of an "
            "org's history (accounts created later do not exist yet, later wins do not count). "
            "`--job plan` previews its write-back without writing.",
        ),
    ] = None,
) -> None:
    """Run a job (default `sync`: pull → validate → score → plan → write back) in this process,
    one run per connection, one after the other; runs are recorded in $DAGSTER_HOME when set."""
    import os
    import time

    import dagster as dg

    from acm_sync.assets.connections import connection_tags, missing_credentials
    from acm_sync.config import ConfigError, load_config

    if job not in SYNC_JOBS:
        _fail(f"unknown job {job!r}; one of {', '.join(SYNC_JOBS)}")
    day = _as_of_day(as_of) if as_of is not None else None
    try:
        config = load_config()
    except ConfigError as exc:
        _fail(str(exc))
    names = list(config.connection_names())
    chosen = list(dict.fromkeys(connection or names))
    unknown = [n for n in chosen if n not in names]
    if unknown:
        _fail(
            f"no connection {', '.join(map(repr, unknown))} in acm_sync.yaml (connections: "
            f"{', '.join(names)})"
        )
    # Credentials first, for every chosen connection: one line naming the variables to set.
    problems = [
        p
        for name in chosen
        if config.connection(name).env_prefix
        for p in missing_credentials(config.connection(name))
    ]
    if problems:
        _fail("; ".join(problems))

    from acm_sync.definitions import defs

    job_def = defs.resolve_job_def(job)
    partitioned = job_def.partitions_def is not None
    run_config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if day is not None:
        run_config["ops"] = as_of_ops(job_def, day)
        writes = "writes them to the CRMs" if job in ("sync", "full_refresh") else "writes nothing"
        console.print(
            f"as of {day}: scored as of that day, not today; this {job} {writes}",
            highlight=False,
        )
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    failed = []
    with dg.DagsterInstance.ephemeral() if instance is None else instance as inst:
        for name in chosen:
            started = time.perf_counter()
            with _pull_bars(enabled=True):
                result = job_def.execute_in_process(
                    run_config=run_config,
                    instance=inst,
                    partition_key=name if partitioned else None,
                    tags=connection_tags(name),
                    raise_on_error=False,
                )
            seconds = time.perf_counter() - started
            steps = [e.step_key for e in result.get_step_failure_events()]
            status = "[green]ok[/]" if result.success else f"[bold red]failed[/] at {steps}"
            console.print(
                f"{name}: {job} {status} in {seconds:,.1f} s (run {result.run_id})",
                highlight=False,
            )
            if not result.success:
                failed.append(name)
    if failed:
        _fail(f"{job} failed for {', '.join(failed)}; see the runs above")


def _as_of_day(text: str) -> str:
    """--as-of as an ISO day, or a one-line error."""
    import pandas as pd

    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        _fail(f"--as-of {text!r}: give a day, YYYY-MM-DD")
    if pd.isna(stamp) or stamp != stamp.normalize():
        _fail(f"--as-of {text!r}: give a day, YYYY-MM-DD")
    return f"{stamp:%Y-%m-%d}"


def as_of_ops(job_def: Any, day: str) -> dict[str, Any]:
    """Run config giving every scoring step of `job_def` the day `day` (00:00 UTC) to score as
    of. Validation keeps today: it judges the data as pulled now ("modified in the future" is
    about the pull, and every record of an org has been modified since a past day)."""
    from acm_sync.assets.scoring import scoring_assets

    scoring = {asset.op.name for asset in scoring_assets}
    steps = {node.name for node in job_def.graph.node_defs}
    return {
        name: {"config": {"as_of": f"{day}T00:00:00+00:00"}} for name in sorted(scoring & steps)
    }


@app.command("apply")
def apply(
    plan_id: Annotated[
        str,
        typer.Option(
            "--plan-id", help="The plan to approve and write (the run id `acm-sync plan` shows)."
        ),
    ],
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection",
            "-c",
            help="The connection (acm_sync.yaml) the plan belongs to (default: the only one).",
        ),
    ] = None,
) -> None:
    """Approve a write plan and write exactly its cells: each record is read back first; cells
    whose CRM value moved since the plan are planned again (a new plan id), not written."""
    import os

    import dagster as dg

    from acm_sync.definitions import defs

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    from acm_sync.assets.connections import connection_tags

    job = defs.resolve_job_def("apply_plan")
    names = defs_connections()
    if connection is None and len(names) > 1:
        _fail(f"which connection's plan? pass --connection ({', '.join(names)})")
    name = connection or names[0]
    if name not in names:
        _fail(f"no connection {name!r} in acm_sync.yaml (connections: {', '.join(names)})")
    with dg.DagsterInstance.ephemeral() if instance is None else instance as inst:
        result = job.execute_in_process(
            partition_key=name if job.partitions_def is not None else None,
            tags=connection_tags(name),
            run_config={
                "ops": {"writeback_apply": {"config": {"plan_id": plan_id}}},
                # the outcome is printed below, one line; Dagster's own log stays quiet
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
            instance=inst,
            raise_on_error=False,
        )
    if not result.success:
        failures = [
            str(e.step_failure_data.error.message if e.step_failure_data.error else e.message)
            for e in result.get_step_failure_events()
        ]
        reason = " ".join(" ".join(failures).split()) or "the apply_plan run failed"
        reason = reason.removeprefix("dagster._core.definitions.events.Failure: ")
        _fail(f"plan {plan_id} not applied: {reason}")
    meta: dict[str, Any] = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat is not None:
            meta = {k: v.value for k, v in mat.metadata.items()}
    console.print(
        f"plan {plan_id}: {meta.get('written', 0):,} records written, "
        f"{meta.get('rejected', 0):,} rejected; dry run: {meta.get('dry_run', '?')}",
        highlight=False,
    )
    moved = int(meta.get("moved_since_planned", 0) or 0)
    if moved:
        console.print(
            f"{moved:,} cells changed in the CRM since the plan: not written, planned again as "
            f"{meta.get('replanned_as')} — review it with `acm-sync plan --run-id "
            f"{meta.get('replanned_as')}`, then apply that id",
            highlight=False,
        )


def main() -> None:  # pragma: no cover - console script entry point
    """`acm-sync`: an unexpected error is one line (ACM_SYNC_DEBUG=1 for the traceback)."""
    import os

    if os.environ.get("ACM_SYNC_DEBUG"):
        app()
        return
    try:
        app(standalone_mode=True)
    except Exception as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        Console(stderr=True).print(
            f"[bold red]error:[/] {type(exc).__name__}: {text[:300]} "
            "(ACM_SYNC_DEBUG=1 shows the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(1) from None


if __name__ == "__main__":  # pragma: no cover
    app()
