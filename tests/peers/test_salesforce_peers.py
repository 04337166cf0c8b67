"""tap-salesforce and airbyte-source-salesforce, unmodified, against the Salesforce sandbox.

Each connector discovers the org, syncs Account, Contact and Opportunity in full, and must
return exactly the org's rows: the live ones and those in the recycle bin (both connectors read
through queryAll and flag them IsDeleted), with distinct ids, and no request answered 4xx/5xx.
Then a few records are changed through simple-salesforce and an incremental run from the state
the connector wrote must return those, and otherwise only rows at its bookmark (or inside the
lookback window the connector declares).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from peer_runs import (
    Admin,
    Run,
    describe_calls,
    ensure_connector,
    record_figures,
    run_connector,
    salesforce_client,
)
from simple_salesforce import Salesforce

from acm_sync.sandbox.server import SandboxSettings

OBJECTS = ("Account", "Contact", "Opportunity")
START = "2000-01-01T00:00:00Z"


def _org_rows(sf: Salesforce, sobject: str) -> dict[str, bool]:
    """Id → IsDeleted for every row queryAll returns (live + recycle bin)."""
    rows = sf.query_all(f"SELECT Id, IsDeleted FROM {sobject}", include_deleted=True)["records"]
    return {r["Id"]: bool(r["IsDeleted"]) for r in rows}


def _assert_full(run: Run, sf: Salesforce) -> int:
    total = 0
    for sobject in OBJECTS:
        records = run.records(sobject)
        ids = [r["Id"] for r in records]
        expected = _org_rows(sf, sobject)
        assert len(ids) == len(set(ids)), f"{sobject}: duplicate ids"
        assert set(ids) == set(expected), f"{sobject}: {len(ids)} records vs {len(expected)}"
        deleted = {r["Id"] for r in records if r.get("IsDeleted") in (True, "true")}
        assert deleted == {i for i, d in expected.items() if d}, f"{sobject}: IsDeleted differs"
        total += len(ids)
    assert not run.failed_calls(), describe_calls(run.failed_calls())
    return total


def _change_records(sf: Salesforce) -> dict[str, set[str]]:
    """Update two live rows of each object through simple-salesforce."""
    changed: dict[str, set[str]] = {}
    for sobject, field, value in (
        ("Account", "Description", "peer suite: changed"),
        ("Contact", "Title", "Peer Suite Tester"),
        ("Opportunity", "Description", "peer suite: changed"),
    ):
        rows = sf.query(f"SELECT Id FROM {sobject} ORDER BY Id LIMIT 2")["records"]
        for row in rows:
            getattr(sf, sobject).update(row["Id"], {field: value})
        changed[sobject] = {r["Id"] for r in rows}
    return changed


def _modstamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00").replace(".000+0000", "+00:00"))


def _assert_incremental(
    run: Run,
    changed: dict[str, set[str]],
    since: dict[str, datetime],
    lookback: timedelta,
) -> int:
    total = 0
    for sobject in OBJECTS:
        records = run.records(sobject)
        ids = {r["Id"] for r in records}
        assert changed[sobject] <= ids, f"{sobject}: changed rows missing from the re-run"
        for r in records:
            if r["Id"] in changed[sobject]:
                continue
            # Anything else is at the bookmark (>= is inclusive) or inside the lookback.
            assert _modstamp(r["SystemModstamp"]) >= since[sobject] - lookback, (
                f"{sobject} {r['Id']} unchanged since {r['SystemModstamp']} came back"
            )
        total += len(records)
    assert not run.failed_calls(), describe_calls(run.failed_calls())
    return total


# -- tap-salesforce -------------------------------------------------------------------------------


def _tap_catalog(discovered: dict[str, Any]) -> dict[str, Any]:
    for stream in discovered["streams"]:
        selected = stream["tap_stream_id"] in OBJECTS
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = selected
                if selected:
                    entry["metadata"]["replication-method"] = "INCREMENTAL"
                    entry["metadata"]["replication-key"] = "SystemModstamp"
    return discovered


def _singer_state(run: Run) -> dict[str, Any]:
    states = [m["value"] for m in run.messages if m.get("type") == "STATE"]
    assert states, "the tap wrote no state"
    return states[-1]  # type: ignore[no-any-return]


def _tap_salesforce(
    peer_sandbox: SandboxSettings, tmp_path: Path, api_type: str, label: str
) -> None:
    entry = ensure_connector("tap-salesforce")
    admin = Admin(peer_sandbox.salesforce_instance_url, verify=peer_sandbox.salesforce_ca_bundle)
    sf = salesforce_client(peer_sandbox)
    creds = peer_sandbox.credentials
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "client_id": creds.salesforce_consumer_key,
                "client_secret": creds.salesforce_consumer_secret,
                "refresh_token": creds.salesforce_refresh_token,
                "start_date": START,
                "api_type": api_type,
                "select_fields_by_default": True,
            }
        )
    )
    common = {"settings": peer_sandbox, "workdir": tmp_path / "run", "admin": admin}
    discover = run_connector(entry, ["-c", str(config), "--discover"], **common)
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(_tap_catalog(json.loads(discover.stdout))))
    assert not discover.failed_calls(), describe_calls(discover.failed_calls())

    full = run_connector(entry, ["-c", str(config), "--properties", str(catalog_path)], **common)
    record_figures(label, "full", full, _assert_full(full, sf))
    if api_type == "REST":
        # Compound fields come as nested objects over REST (Bulk leaves them out).
        accounts = [a for a in full.records("Account") if a.get("BillingCountry")]
        assert accounts and all(
            a["BillingAddress"]["country"] == a["BillingCountry"] for a in accounts
        )

    state = _singer_state(full)
    since = {o: _modstamp(state["bookmarks"][o]["SystemModstamp"]) for o in OBJECTS}
    changed = _change_records(sf)
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    again = run_connector(
        entry,
        ["-c", str(config), "--properties", str(catalog_path), "--state", str(state_path)],
        **common,
    )
    record_figures(
        label, "incremental", again, _assert_incremental(again, changed, since, timedelta())
    )


def test_tap_salesforce_rest(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    _tap_salesforce(peer_sandbox, tmp_path, "REST", "tap-salesforce (REST)")


# -- airbyte-source-salesforce --------------------------------------------------------------------


def _airbyte_catalog(run: Run, names: tuple[str, ...]) -> dict[str, Any]:
    catalogs = [m["catalog"] for m in run.messages if m.get("type") == "CATALOG"]
    assert catalogs, "discover wrote no catalog"
    streams = []
    for stream in catalogs[-1]["streams"]:
        if stream["name"] not in names:
            continue
        assert "incremental" in stream["supported_sync_modes"], stream["name"]
        streams.append(
            {
                "stream": stream,
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
                "cursor_field": stream.get("default_cursor_field", []),
                "primary_key": stream.get("source_defined_primary_key", []),
            }
        )
    assert sorted(s["stream"]["name"] for s in streams) == sorted(names)
    return {"streams": streams}


def _airbyte_state(run: Run) -> list[dict[str, Any]]:
    last: dict[str, dict[str, Any]] = {}
    for m in run.messages:
        if m.get("type") == "STATE" and m["state"].get("type") == "STREAM":
            stream = m["state"]["stream"]
            last[stream["stream_descriptor"]["name"]] = {"type": "STREAM", "stream": stream}
    assert last, "the source wrote no state"
    return list(last.values())


def _airbyte_errors(run: Run) -> list[str]:
    return [
        m["trace"]["error"]["message"]
        for m in run.messages
        if m.get("type") == "TRACE" and m["trace"].get("type") == "ERROR"
    ]


AIRBYTE_SF_LOOKBACK = timedelta(minutes=10)  # the source's default lookback_window (600 s)


def test_airbyte_source_salesforce(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    entry = ensure_connector("airbyte-source-salesforce")
    admin = Admin(peer_sandbox.salesforce_instance_url, verify=peer_sandbox.salesforce_ca_bundle)
    sf = salesforce_client(peer_sandbox)
    creds = peer_sandbox.credentials
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "client_id": creds.salesforce_consumer_key,
                "client_secret": creds.salesforce_consumer_secret,
                "refresh_token": creds.salesforce_refresh_token,
                "start_date": "2015-01-01T00:00:00Z",
                "is_sandbox": False,
                # Yearly date slices: fewer Bulk jobs than the 30-day default, same rows.
                "stream_slice_step": "P365D",
            }
        )
    )
    common = {"settings": peer_sandbox, "workdir": tmp_path / "run", "admin": admin}
    check = run_connector(entry, ["check", "--config", str(config)], **common)
    status = [m for m in check.messages if m.get("type") == "CONNECTION_STATUS"]
    assert status and status[-1]["connectionStatus"]["status"] == "SUCCEEDED", check.messages
    assert not check.failed_calls(), describe_calls(check.failed_calls())

    discover = run_connector(entry, ["discover", "--config", str(config)], **common)
    assert not discover.failed_calls(), describe_calls(discover.failed_calls())
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(_airbyte_catalog(discover, OBJECTS)))

    args = ["read", "--config", str(config), "--catalog", str(catalog)]
    full = run_connector(entry, args, **common)
    assert not _airbyte_errors(full), _airbyte_errors(full)
    record_figures("airbyte-source-salesforce", "full", full, _assert_full(full, sf))

    state = _airbyte_state(full)
    since = {
        s["stream"]["stream_descriptor"]["name"]: _modstamp(
            s["stream"]["stream_state"]["slices"][-1]["most_recent_cursor_value"]
        )
        for s in state
    }
    changed = _change_records(sf)
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    again = run_connector(entry, [*args, "--state", str(state_path)], **common)
    assert not _airbyte_errors(again), _airbyte_errors(again)
    record_figures(
        "airbyte-source-salesforce",
        "incremental",
        again,
        _assert_incremental(again, changed, since, AIRBYTE_SF_LOOKBACK),
    )


def test_tap_salesforce_bulk(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    """Bulk mode: Bulk API 1.0 query jobs (queryAll), XML batch infos, CSV results."""
    _tap_salesforce(peer_sandbox, tmp_path, "BULK", "tap-salesforce (BULK)")
