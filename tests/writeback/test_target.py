"""The target schema: the Salesforce package (rendered from fields.py, checked in), the describe
check, and HubSpot property creation — through the real clients against the sandbox."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot.crm.properties import PropertyCreate

from acm_sync.connectors.hubspot import HubSpotClient, HubSpotResource
from acm_sync.connectors.salesforce import SalesforceClient, SalesforceResource
from acm_sync.org_summary import hubspot_client
from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.salesforce import schema as sf_schema
from acm_sync.sandbox.server import SandboxSettings
from acm_sync.writeback import metadata
from acm_sync.writeback.fields import (
    HUBSPOT_GROUP,
    HUBSPOT_GROUP_LABEL,
    OBJECTS,
    OWNED,
    Owned,
    field_of,
    owned_names,
)
from acm_sync.writeback.target import (
    HUBSPOT_TYPES,
    SALESFORCE_DESCRIBE_TYPES,
    TargetReport,
    check_salesforce_fields,
    ensure_hubspot_properties,
    hubspot_property_problems,
    salesforce_object_report,
)

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "salesforce"
NS = {"md": metadata.METADATA_NS}
HS_OBJECTS = [hs for _sf, hs in OBJECTS.values()]
SF_OBJECTS = [sf for sf, _hs in OBJECTS.values()]


def _sf_owned() -> list[Owned]:
    return list({(f.object("salesforce"), f.salesforce): f for f in OWNED}.values())


# -- the Salesforce package ------------------------------------------------------------------


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }


def test_checked_in_package_is_what_fields_py_renders(tmp_path: Path) -> None:
    metadata.render_package(tmp_path)
    rendered, checked_in = _tree(tmp_path), _tree(PACKAGE)
    assert sorted(checked_in) == sorted(rendered), (
        "salesforce/ differs from fields.py: run "
        "`.venv/bin/python -m acm_sync.writeback.metadata salesforce`"
    )
    for path, content in rendered.items():
        assert checked_in[path] == content, f"salesforce/{path} is stale; re-render it"


def test_render_drops_fields_no_longer_owned(tmp_path: Path) -> None:
    metadata.render_package(tmp_path)
    stale = tmp_path / metadata.SOURCE_DIR / "objects/Account/fields/ACM_Old__c.field-meta.xml"
    stale.write_text("<CustomField/>")
    keep = tmp_path / "README.md"
    keep.write_text("notes")
    metadata.render_package(tmp_path)
    assert not stale.exists()
    assert keep.exists()


def test_project_file() -> None:
    project = json.loads((PACKAGE / "sfdx-project.json").read_text())
    assert project["sourceApiVersion"] == "59.0"
    assert project["packageDirectories"] == [{"path": "force-app", "default": True}]


def _text(node: ET.Element, tag: str) -> str | None:
    child = node.find(f"md:{tag}", NS)
    return None if child is None else child.text


@pytest.mark.parametrize("owned", _sf_owned(), ids=lambda f: f"{f.entity}.{f.salesforce}")
def test_field_xml_matches_fields_py(owned: Owned) -> None:
    path = (
        PACKAGE
        / "force-app/main/default/objects"
        / owned.object("salesforce")
        / "fields"
        / f"{owned.salesforce}.field-meta.xml"
    )
    root = ET.parse(path).getroot()
    assert root.tag == f"{{{metadata.METADATA_NS}}}CustomField"
    assert _text(root, "fullName") == owned.salesforce
    assert _text(root, "label") == owned.label
    assert _text(root, "description") == owned.description
    assert _text(root, "inlineHelpText") == owned.description
    expected_type = {
        "picklist": "Picklist",
        "text": "Text",
        "longtext": "LongTextArea",
        "number": "Number",
        "percent": "Percent",
        "currency": "Currency",
        "datetime": "DateTime",
    }[owned.kind]
    assert _text(root, "type") == expected_type
    if owned.kind == "text":
        assert _text(root, "length") == "255" == str(owned.length)
    if owned.kind == "longtext":
        assert _text(root, "length") == "1000" == str(owned.length)
        assert _text(root, "visibleLines") == "3"
    if owned.kind in ("number", "percent", "currency"):
        assert _text(root, "precision") == str(owned.precision)
        assert _text(root, "scale") == str(owned.scale)
    if owned.kind == "currency":
        assert (_text(root, "precision"), _text(root, "scale")) == ("18", "2")
    if owned.kind == "picklist":
        value_set = root.find("md:valueSet", NS)
        assert value_set is not None
        assert _text(value_set, "restricted") == "true"
        values = value_set.findall("md:valueSetDefinition/md:value", NS)
        assert [_text(v, "fullName") for v in values] == list(owned.options)
        assert [_text(v, "label") for v in values] == list(owned.options)
    else:
        assert root.find("md:valueSet", NS) is None


def test_permission_set_grants_edit_on_every_owned_field() -> None:
    path = PACKAGE / "force-app/main/default/permissionsets/ACM_Sync.permissionset-meta.xml"
    root = ET.parse(path).getroot()
    granted = {
        _text(p, "field"): (_text(p, "readable"), _text(p, "editable"))
        for p in root.findall("md:fieldPermissions", NS)
    }
    expected = {f"{f.object('salesforce')}.{f.salesforce}" for f in OWNED}
    assert set(granted) == expected
    assert set(granted.values()) == {("true", "true")}
    assert _text(root, "label") == "ACM Sync"


def test_sandbox_salesforce_schema_models_the_package() -> None:
    """The sandbox describes the owned fields as our package deploys them."""
    for obj in SF_OBJECTS:
        sobject = sf_schema.SOBJECTS[obj]
        acm = {f.name for f in sobject.fields if f.name.startswith("ACM_")}
        assert acm == set(owned_names("salesforce", obj)), obj
        for name in acm:
            field = sobject.field(name)
            owned = field_of("salesforce", obj, name)
            assert field is not None
            assert field.type == SALESFORCE_DESCRIBE_TYPES[owned.kind], name
            assert field.label == owned.label, name
            assert field.custom and field.updateable and field.createable, name
            if owned.kind in ("text", "longtext"):
                assert field.length == owned.length, name
            if owned.kind in ("number", "percent", "currency"):
                assert (field.precision, field.scale) == (owned.precision, owned.scale), name
            if owned.kind == "picklist":
                assert field.picklist == owned.options, name
                assert field.restricted, name


# -- Salesforce describe check ---------------------------------------------------------------


def _sf_client(env: dict[str, str]) -> SalesforceClient:
    return SalesforceResource(
        username=env["SALESFORCE_USERNAME"],
        password=env["SALESFORCE_PASSWORD"],
        security_token=env["SALESFORCE_SECURITY_TOKEN"],
        domain=env["SALESFORCE_DOMAIN"],
        login_url=env["SALESFORCE_LOGIN_URL"],
        ca_bundle=env["SALESFORCE_CA_BUNDLE"],
    ).connect()


def _hs_client(env: dict[str, str]) -> HubSpotClient:
    return HubSpotResource(
        access_token=env["HUBSPOT_ACCESS_TOKEN"], base_url=env["HUBSPOT_BASE_URL"]
    ).connect()


def test_salesforce_check_on_the_sandbox_finds_every_field(sandbox: SandboxSettings) -> None:
    client = _sf_client(sandbox.env())
    report = check_salesforce_fields(client)
    assert report.ok, report.message()
    assert [o.object for o in report.objects] == ["Account", "Opportunity", "Contact"]
    for o in report.objects:
        assert sorted(o.present) == sorted(owned_names("salesforce", o.object))
        assert o.missing == [] and o.problems == [] and o.created == []
    assert report.api_calls == 3 == client.calls  # one describe per object
    assert "Salesforce Account: ok — 10/10 owned fields" in report.message()


def test_salesforce_report_names_missing_and_wrong_fields(sandbox: SandboxSettings) -> None:
    """A describe as an org without the package (or without FLS) would answer it."""
    client = _sf_client(sandbox.env())
    fields: list[dict[str, Any]] = copy.deepcopy(client.sf.Account.describe()["fields"])
    by_name = {f["name"]: f for f in fields}
    fields.remove(by_name["ACM_Tier_Reason__c"])  # not deployed, or no field-level security
    by_name["ACM_Health_Score__c"]["updateable"] = False  # read-only FLS
    by_name["ACM_Health_Band__c"]["picklistValues"] = [
        v for v in by_name["ACM_Health_Band__c"]["picklistValues"] if v["value"] != "Red"
    ]
    by_name["ACM_Forecast_Amount__c"]["scale"] = 0
    by_name["ACM_Next_Action__c"]["length"] = 80
    by_name["ACM_Scored_At__c"]["type"] = "date"

    report = salesforce_object_report("Account", fields)
    assert not report.ok
    assert report.missing == ["ACM_Tier_Reason__c"]
    assert "ACM_Tier_Reason__c" not in report.present
    problems = "\n".join(report.problems)
    assert "ACM_Health_Score__c: read-only for this user" in problems
    assert "ACM_Health_Band__c: picklist lacks the value(s) Red" in problems
    assert "ACM_Forecast_Amount__c: has 0 decimal places, expected 2" in problems
    assert "ACM_Next_Action__c: keeps 80 characters, we write up to 255" in problems
    assert "ACM_Scored_At__c: is a date field, expected datetime" in problems
    assert len(report.problems) == 5

    message = TargetReport("salesforce", [report]).message()
    assert "missing: ACM_Tier_Reason__c" in message
    assert (
        "sf project deploy start --source-dir salesforce/force-app --target-org <alias>" in message
    )
    assert "sf org assign permset --name ACM_Sync" in message


def test_salesforce_report_for_an_object_the_user_cannot_see() -> None:
    report = salesforce_object_report("Contact", None)
    assert report.missing == ["ACM_Data_Issues__c"] and not report.ok
    assert "not accessible" in report.problems[0]


# -- HubSpot properties ----------------------------------------------------------------------


@pytest.fixture()
def portal(tmp_path: Path) -> Iterator[SandboxSettings]:
    """A fresh sandbox portal (no acm_sync group, no owned properties) for one test."""
    with SandboxProcess(tmp_path / "portal", accounts=100, seed=5) as settings:
        yield settings


def _sandbox_calls(settings: SandboxSettings) -> dict[str, int]:
    answer = requests.get(f"{settings.hubspot_base_url}/__sandbox__/calls", timeout=10)
    answer.raise_for_status()
    return dict(answer.json()["by_route"])


def _property_routes(calls: dict[str, int]) -> dict[str, int]:
    return {route: n for route, n in calls.items() if "/crm/v3/properties/" in route}


def test_hubspot_fresh_portal_gets_every_property_once(portal: SandboxSettings) -> None:
    env = portal.env()
    client = _hs_client(env)

    report_only = ensure_hubspot_properties(client, create=False)
    assert not report_only.ok
    for o in report_only.objects:
        assert o.missing == list(owned_names("hubspot", o.object)) and o.created == []
    assert report_only.api_calls == 3
    message = report_only.message()
    assert "missing: acm_tier, acm_tier_reason" in message
    assert "acm-sync doctor --fix" in message

    created = ensure_hubspot_properties(client)
    assert created.ok, created.message()
    for o in created.objects:
        assert o.created == list(owned_names("hubspot", o.object))
        assert o.missing == [] and o.present == []
    # per object type: list properties, create the group, one batch create
    assert created.api_calls == 9
    assert [o.api_calls for o in created.objects] == [3, 3, 3]

    plain = hubspot_client(env)
    for obj in HS_OBJECTS:
        group = plain.crm.properties.groups_api.get_by_name(obj, HUBSPOT_GROUP)
        assert group.label == HUBSPOT_GROUP_LABEL
    for owned in OWNED:
        obj = owned.object("hubspot")
        prop = plain.crm.properties.core_api.get_by_name(obj, owned.hubspot)
        assert prop.label == owned.label
        assert prop.description == owned.description
        assert prop.group_name == HUBSPOT_GROUP
        assert (prop.type, prop.field_type) == HUBSPOT_TYPES[owned.kind]
        if owned.kind == "picklist":
            assert [(o.value, o.label) for o in prop.options] == [(v, v) for v in owned.options]
            assert [o.display_order for o in prop.options] == list(range(len(owned.options)))
        else:
            assert prop.options == []

    before = _property_routes(_sandbox_calls(portal))
    again = ensure_hubspot_properties(client)
    after = _property_routes(_sandbox_calls(portal))
    assert again.ok and again.created == [] and again.api_calls == 3
    for o in again.objects:
        assert o.present == list(owned_names("hubspot", o.object))
    # the server saw three list calls and nothing else
    grown = {route: after[route] - before.get(route, 0) for route in after}
    assert {r: n for r, n in grown.items() if n} == {
        f"GET /crm/v3/properties/{obj}": 1 for obj in HS_OBJECTS
    }


def test_hubspot_partial_portal_creates_only_what_is_missing(portal: SandboxSettings) -> None:
    env = portal.env()
    plain = hubspot_client(env)
    plain.crm.properties.groups_api.create(
        "companies", property_group_create={"name": HUBSPOT_GROUP, "label": "Ours already"}
    )
    plain.crm.properties.core_api.create(
        "companies",
        property_create=PropertyCreate(
            name="acm_tier_reason",
            label="Tier reason",
            type="string",
            field_type="textarea",  # an admin's choice: still stores our text
            group_name=HUBSPOT_GROUP,
        ),
    )
    # an empty group of ours on deals: its create answers 409, which is fine
    plain.crm.properties.groups_api.create(
        "deals", property_group_create={"name": HUBSPOT_GROUP, "label": HUBSPOT_GROUP_LABEL}
    )
    # someone's own enumeration lacking two of our options (and with one of theirs)
    plain.crm.properties.core_api.create(
        "companies",
        property_create=PropertyCreate(
            name="acm_health_trend",
            label="Trend",
            type="enumeration",
            field_type="radio",
            group_name=HUBSPOT_GROUP,
            options=[
                {"label": "Up", "value": "Up", "displayOrder": 0},
                {"label": "Sideways", "value": "Sideways", "displayOrder": 1},
            ],
        ),
    )
    # and a property of ours with a type that cannot hold our values
    plain.crm.properties.core_api.create(
        "companies",
        property_create=PropertyCreate(
            name="acm_health_score",
            label="Score",
            type="string",
            field_type="text",
            group_name=HUBSPOT_GROUP,
        ),
    )
    client = _hs_client(env)

    report_only = ensure_hubspot_properties(client, create=False)
    companies = report_only.objects[0]
    assert companies.present == ["acm_tier_reason", "acm_health_score", "acm_health_trend"]
    assert "acm_tier" in companies.missing and "acm_tier_reason" not in companies.missing
    assert "acm_health_score: is string/text, expected number/number" in companies.problems
    assert "acm_health_trend: lacks the option(s) Flat, Down, New" in companies.problems

    fixed = ensure_hubspot_properties(client)
    companies = fixed.objects[0]
    assert companies.created == [
        name
        for name in owned_names("hubspot", "companies")
        if name not in ("acm_tier_reason", "acm_health_score", "acm_health_trend")
    ]
    assert companies.updated == ["acm_health_trend"]
    assert companies.missing == []
    # the wrong type is not ours to change: it stays a problem, and the report says so
    assert companies.problems == ["acm_health_score: is string/text, expected number/number"]
    assert not fixed.ok
    assert "archived in HubSpot" in fixed.message()
    # the group existed (a property of ours is in it): list, batch create, one PATCH
    assert companies.api_calls == 3

    deals = fixed.objects[1]
    assert deals.created == list(owned_names("hubspot", "deals")) and deals.ok
    assert deals.api_calls == 3  # list, group create (409), batch create

    trend = plain.crm.properties.core_api.get_by_name("companies", "acm_health_trend")
    assert [o.value for o in trend.options] == ["Up", "Sideways", "Flat", "Down", "New"]
    assert plain.crm.properties.groups_api.get_by_name("companies", HUBSPOT_GROUP).label == (
        "Ours already"
    )
    tier = plain.crm.properties.core_api.get_by_name("companies", "acm_tier")
    assert tier.group_name == HUBSPOT_GROUP


def test_hubspot_property_problems_on_definitions() -> None:
    tier = field_of("hubspot", "companies", "acm_tier")
    assert hubspot_property_problems(tier, {"type": "enumeration", "fieldType": "select"}) == []
    assert hubspot_property_problems(tier, {"type": "enumeration", "fieldType": "radio"}) == []
    # a multi-select keeps `a;b` lists, not one value
    assert hubspot_property_problems(tier, {"type": "enumeration", "fieldType": "checkbox"}) == [
        "acm_tier: is enumeration/checkbox, expected enumeration/select"
    ]
    scored = field_of("hubspot", "companies", "acm_scored_at")
    assert hubspot_property_problems(scored, {"type": "date", "fieldType": "date"}) == [
        "acm_scored_at: is date/date, expected datetime/date"
    ]
    calculated = {
        "type": "datetime",
        "fieldType": "date",
        "calculated": True,
        "modificationMetadata": {"readOnlyValue": True},
    }
    assert hubspot_property_problems(scored, calculated) == [
        "acm_scored_at: its values are read-only (calculated by HubSpot)"
    ]
