"""tap-hubspot and airbyte-source-hubspot, unmodified, against the HubSpot sandbox.

Each connector discovers the portal, syncs companies, contacts and deals in full and must return
exactly the portal's live records (distinct ids), with no request answered 4xx/5xx. Then a few
records are changed through hubspot-api-client and an incremental run from the state the
connector wrote must return those, and otherwise only records at its bookmark (the connectors
filter with >=).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hubspot
from hubspot.crm.objects import SimplePublicObjectInput
from peer_runs import (
    Admin,
    Run,
    describe_calls,
    ensure_connector,
    hubspot_client,
    hubspot_ids,
    record_figures,
    run_connector,
)
from test_salesforce_peers import _airbyte_catalog, _airbyte_errors, _airbyte_state

from acm_sync.sandbox.server import SandboxSettings

OBJECTS = ("companies", "contacts", "deals")
CHANGES = {
    "companies": ("description", "peer suite: changed"),
    "contacts": ("jobtitle", "Peer Suite Tester"),
    "deals": ("description", "peer suite: changed"),
}


def _change_records(hs: hubspot.HubSpot) -> dict[str, set[str]]:
    changed: dict[str, set[str]] = {}
    for obj, (prop, value) in CHANGES.items():
        api = getattr(hs.crm, obj).basic_api
        page = api.get_page(limit=2)
        for record in page.results:
            api.update(record.id, SimplePublicObjectInput(properties={prop: value}))
        changed[obj] = {r.id for r in page.results}
    return changed


def _hubspot_time(value: Any) -> datetime:
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _assert_full(run: Run, hs: hubspot.HubSpot, id_key: dict[str, str]) -> int:
    total = 0
    for obj in OBJECTS:
        ids = [str(r[id_key[obj]]) for r in run.records(obj)]
        live = hubspot_ids(hs, obj)
        assert len(ids) == len(set(ids)), f"{obj}: duplicate ids"
        assert set(ids) == live, f"{obj}: {len(ids)} records vs {len(live)} live"
        total += len(ids)
    assert not run.failed_calls(), describe_calls(run.failed_calls())
    return total


def _assert_incremental(
    run: Run,
    changed: dict[str, set[str]],
    since: dict[str, datetime],
    id_key: dict[str, str],
    modified: dict[str, Any],
) -> int:
    total = 0
    for obj in OBJECTS:
        records = run.records(obj)
        ids = {str(r[id_key[obj]]) for r in records}
        assert changed[obj] <= ids, f"{obj}: changed records missing from the re-run"
        for r in records:
            if str(r[id_key[obj]]) in changed[obj]:
                continue
            at = _hubspot_time(modified[obj](r))
            assert at >= since[obj], f"{obj} {r[id_key[obj]]} unchanged since {at} came back"
        total += len(records)
    assert not run.failed_calls(), describe_calls(run.failed_calls())
    return total


# -- tap-hubspot ----------------------------------------------------------------------------------


TAP_IDS = {"companies": "companyId", "contacts": "id", "deals": "dealId"}
TAP_MODIFIED = {
    "companies": lambda r: r["properties"]["hs_lastmodifieddate"]["timestamp"],
    "contacts": lambda r: r["updatedAt"],
    "deals": lambda r: r["properties"]["hs_lastmodifieddate"]["timestamp"],
}
TAP_BOOKMARK = {
    "companies": "property_hs_lastmodifieddate",
    "contacts": "updatedAt",
    "deals": "property_hs_lastmodifieddate",
}


def test_tap_hubspot(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    entry = ensure_connector("tap-hubspot")
    admin = Admin(peer_sandbox.hubspot_base_url)
    hs = hubspot_client(peer_sandbox)
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_key": peer_sandbox.credentials.hubspot_access_token,
                "start_date": "2000-01-01T00:00:00Z",
            }
        )
    )
    common = {"settings": peer_sandbox, "workdir": tmp_path / "run", "admin": admin}
    discover = run_connector(entry, ["-c", str(config), "--discover"], **common)
    assert not discover.failed_calls(), describe_calls(discover.failed_calls())
    catalog = json.loads(discover.stdout)
    for stream in catalog["streams"]:
        for entry_md in stream["metadata"]:
            if entry_md["breadcrumb"] == []:
                entry_md["metadata"]["selected"] = stream["tap_stream_id"] in OBJECTS
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))

    args = ["-c", str(config), "--properties", str(catalog_path)]
    full = run_connector(entry, args, **common)
    record_figures("tap-hubspot", "full", full, _assert_full(full, hs, TAP_IDS))

    states = [m["value"] for m in full.messages if m.get("type") == "STATE"]
    state = states[-1]
    since = {o: _hubspot_time(state["bookmarks"][o][TAP_BOOKMARK[o]]) for o in OBJECTS}
    changed = _change_records(hs)
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    again = run_connector(entry, [*args, "--state", str(state_path)], **common)
    record_figures(
        "tap-hubspot",
        "incremental",
        again,
        _assert_incremental(again, changed, since, TAP_IDS, TAP_MODIFIED),
    )


# -- airbyte-source-hubspot -----------------------------------------------------------------------

AIRBYTE_IDS = {o: "id" for o in OBJECTS}
AIRBYTE_MODIFIED = {o: (lambda r: r["updatedAt"]) for o in OBJECTS}


def test_airbyte_source_hubspot(peer_sandbox: SandboxSettings, tmp_path: Path) -> None:
    entry = ensure_connector("airbyte-source-hubspot")
    admin = Admin(peer_sandbox.hubspot_base_url)
    hs = hubspot_client(peer_sandbox)
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "credentials": {
                    "credentials_title": "Private App Credentials",
                    "access_token": peer_sandbox.credentials.hubspot_access_token,
                },
                "start_date": "2000-01-01T00:00:00Z",
            }
        )
    )
    common = {"settings": peer_sandbox, "workdir": tmp_path / "run", "admin": admin}
    discover = run_connector(entry, ["discover", "--config", str(config)], **common)
    assert not discover.failed_calls(), describe_calls(discover.failed_calls())
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(_airbyte_catalog(discover, OBJECTS)))

    args = ["read", "--config", str(config), "--catalog", str(catalog)]
    full = run_connector(entry, args, **common)
    assert not _airbyte_errors(full), _airbyte_errors(full)
    record_figures("airbyte-source-hubspot", "full", full, _assert_full(full, hs, AIRBYTE_IDS))

    state = _airbyte_state(full)
    since = {
        s["stream"]["stream_descriptor"]["name"]: _hubspot_time(
            s["stream"]["stream_state"]["updatedAt"]
        )
        for s in state
    }
    changed = _change_records(hs)
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    again = run_connector(entry, [*args, "--state", str(state_path)], **common)
    assert not _airbyte_errors(again), _airbyte_errors(again)
    # The incremental run goes through search (top-level `filters`) and v4 association reads.
    routes = describe_calls(again.calls)
    assert any("/search" in r for r in routes), routes
    record_figures(
        "airbyte-source-hubspot",
        "incremental",
        again,
        _assert_incremental(again, changed, since, AIRBYTE_IDS, AIRBYTE_MODIFIED),
    )
