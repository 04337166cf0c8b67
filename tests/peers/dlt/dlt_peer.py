"""dlt's verified sources for HubSpot and Salesforce (tests/peers/dlt/sources/, unmodified) in a
dlt pipeline. Run in its own virtualenv by tests/peers/test_dlt_peers.py with the config file's
path as the only argument; prints one JSON line: {"steps": {name: {"result": ...} | {"error":
...}}}.

Configured as a dlt user configures them (dlt reads its settings from the environment): the
credentials come in `SOURCES__HUBSPOT__API_KEY` / `SOURCES__SALESFORCE__CREDENTIALS__*`, set by
the test. The config file says which source, which of its resources to run (`with_resources`,
the source's public API) and where the pipeline keeps its state (its `pipelines_dir`, kept
between the test's two runs: the second run is incremental from the state dlt wrote) and its
duckdb file. After the run the script reads back, per table, the columns asked for from duckdb
and which rows this run loaded (their `_dlt_load_id`).
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import dlt

# `dlt init hubspot duckdb` copies sources/hubspot/ next to the user's pipeline script as the
# package `hubspot`; the same layout here.
sys.path.insert(0, str(Path(__file__).resolve().parent / "sources"))

STEPS: dict[str, dict[str, Any]] = {}


def step(name: str, fn: Any) -> Any:
    try:
        result = fn()
    except Exception as exc:  # the test reads the error and says what it was
        STEPS[name] = {
            "error": f"{type(exc).__name__}: {exc}",
            "class": type(exc).__name__,
            "stack": traceback.format_exc(),
        }
        return None
    STEPS[name] = {"result": result}
    return result


def make_source(crm: str) -> Any:
    if crm == "hubspot":
        from hubspot import hubspot  # type: ignore[import-not-found]

        return hubspot()
    from salesforce import salesforce_source  # type: ignore[import-not-found]

    return salesforce_source()


def run(config: dict[str, Any]) -> dict[str, Any]:
    source = make_source(config["crm"])
    available = sorted(source.resources)
    if config.get("resources"):
        source = source.with_resources(*config["resources"])
    pipeline = dlt.pipeline(
        pipeline_name=f"{config['crm']}_peer",
        pipelines_dir=config["pipelines_dir"],
        destination=dlt.destinations.duckdb(config["duckdb"]),
        dataset_name=f"{config['crm']}_data",
    )
    info = pipeline.run(source)
    load_ids = list(info.loads_ids)
    row_counts = dict(pipeline.last_trace.last_normalize_info.row_counts)
    tables: dict[str, list[dict[str, Any]]] = {}
    missing: dict[str, list[str]] = {}
    schema = pipeline.default_schema
    with pipeline.sql_client() as client:
        for table, columns in config["columns"].items():
            if table not in schema.tables:
                missing[table] = ["*"]
                continue
            # dlt creates no column that only ever held nulls: such a column reads as null.
            present = schema.get_table_columns(table)
            names = [c for c in columns if c in present]
            missing[table] = [c for c in columns if c not in present]
            if "_dlt_load_id" in present:  # child tables (e.g. companies__contacts) have none
                names.append("_dlt_load_id")
            with client.execute_query(
                f"SELECT {', '.join(names)} FROM {client.make_qualified_table_name(table)}"
            ) as cursor:
                tables[table] = [
                    {
                        **dict.fromkeys([*columns, "_dlt_load_id"]),
                        **dict(zip(names, row, strict=True)),
                    }
                    for row in cursor.fetchall()
                ]
    return {
        "resources_available": available,
        "resources_run": sorted(source.selected_resources),
        "load_ids": load_ids,
        "row_counts": row_counts,
        "tables": tables,
        "missing_columns": {t: c for t, c in missing.items() if c},
        "state": pipeline.state.get("sources", {}),
        "has_failed_jobs": info.has_failed_jobs,
    }


def main() -> None:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    step("run", lambda: run(config))


if __name__ == "__main__":
    try:
        main()
    finally:
        print(json.dumps({"steps": STEPS}, default=str))
