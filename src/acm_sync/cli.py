"""`acm-sync`: the command line for revops and data engineers (typer + rich)."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Annotated, Any

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
    seed: Annotated[int, typer.Option(help="Seed of the demo-org generator.")] = 7,
    sf_port: Annotated[int, typer.Option(help="Salesforce (HTTPS) port; 0 picks one.")] = 8443,
    hs_port: Annotated[int, typer.Option(help="HubSpot (HTTP) port; 0 picks one.")] = 8080,
    hubspot_tier: Annotated[
        str, typer.Option(help="HubSpot rate-limit tier: starter, professional or enterprise.")
    ] = "professional",
    daily_api_limit: Annotated[
        int, typer.Option(help="Salesforce DailyApiRequests allocation.")
    ] = 100_000,
    reset: Annotated[bool, typer.Option(help="Wipe the data directory and seed anew.")] = False,
    quiet: Annotated[bool, typer.Option(help="Print nothing but errors.")] = False,
) -> None:
    """Start the sandbox; print its connection settings as environment exports."""
    from acm_sync.sandbox.server import SandboxSettings, serve

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
            typer.echo(settings.exports(), nl=False)

    serve(
        data_dir,
        accounts=accounts,
        seed=seed,
        sf_port=sf_port,
        hs_port=hs_port,
        hubspot_tier=hubspot_tier,
        daily_api_limit=daily_api_limit,
        on_ready=ready,
    )


@sandbox_app.command("env")
def sandbox_env(data_dir: DataDir = Path(".sandbox")) -> None:
    """Print the running sandbox's connection settings as `export` lines."""
    from acm_sync.sandbox.server import SandboxSettings

    if not (data_dir / "settings.json").exists():
        raise typer.BadParameter(
            f"no running sandbox in {data_dir}; start one with `acm-sync sandbox serve`",
            param_hint="--data-dir",
        )
    typer.echo(SandboxSettings.read(data_dir).exports(), nl=False)


@sandbox_app.command("summary")
def sandbox_summary(
    data_dir: DataDir = Path(".sandbox"),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """What the running sandbox holds, read through the real Salesforce and HubSpot clients."""
    from acm_sync.org_summary import org_summary
    from acm_sync.sandbox.server import SandboxSettings

    summary = org_summary(SandboxSettings.read(data_dir))
    _print_summary(summary, as_json)


@app.command("demo")
def demo(
    accounts: Annotated[int, typer.Option(min=100, max=100_000)] = 1000,
    seed: int = 7,
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the sandbox and warehouse here (default: a temporary folder)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Seed a fresh sandbox, run the pipeline on it (pull → quality → scoring), show the result."""
    from acm_sync.demo import run_demo

    def progress(message: str) -> None:
        if not as_json:
            console.print(f"[dim]•[/] {message}")

    with tempfile.TemporaryDirectory(prefix="acm-demo-") as tmp:
        target = work_dir or Path(tmp)
        summary = run_demo(target, accounts=accounts, seed=seed, progress=progress)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    _print_pipeline_summary(summary)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[f"{v:,}" if isinstance(v, int | float) else str(v) for v in row])
    return table


def _print_pipeline_summary(s: dict[str, Any]) -> None:
    console.print(_table("Pulled", ["records", "count"], [[k, v] for k, v in s["pulled"].items()]))
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
            ["period", "calibrated", "stage-default baseline", "open deals"],
            [
                [
                    f["period"],
                    round(f["expected_bookings"]),
                    round(f["stage_default_baseline"]),
                    f["open_opportunities"],
                ]
                for f in s["forecast"]
            ],
        )
    )
    calls = ", ".join(f"{k}: {v:,}" for k, v in s["api_calls"].items())
    console.print(
        f"API calls: {calls}   attention flags: {s['attention_flags']:,}   {s['seconds']}s"
    )
    console.print("[dim]Write-back to the CRMs is not built yet; nothing was written.[/]")


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    for vendor in ("salesforce", "hubspot"):
        table = Table(title=f"{vendor.title()} sandbox — {summary[vendor]['url']}")
        table.add_column("object")
        table.add_column("records", justify="right")
        table.add_column("deleted / archived", justify="right")
        for obj, counts in summary[vendor]["objects"].items():
            table.add_row(obj, f"{counts['live']:,}", f"{counts['deleted']:,}")
        console.print(table)
        console.print(f"  API calls used: {summary[vendor]['api_usage']}")
    if summary.get("samples"):
        console.print("[bold]A few records, as the APIs return them:[/]")
        for sample in summary["samples"]:
            console.print(sample)


def main() -> None:  # pragma: no cover - console script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
