"""Does each CRM have the fields we own, in the shape we write them? (../DESIGN "Fields we own")

- Salesforce: custom fields are metadata, deployed by an admin (`salesforce/`, see metadata.py);
  `check_salesforce_fields` only describes the objects and says what is missing or wrong and
  how to fix it.
- HubSpot: properties are created through the properties API; `ensure_hubspot_properties`
  creates the `acm_sync` group and whatever owned property is missing (or, with
  `create=False`, only reports). It spends one list call per object type when nothing is
  missing, and at most a group create and one batch create per object type otherwise.

Both run through our connector clients, so the calls are metered and retried like every other.

A check that found everything in place is not repeated on every run (a no-change run should
cost the CRMs nothing but its pulls): `recent_target_check` says when it can be skipped — the
last check passed less than `schema_check_hours` ago (the pulls' describe interval), for the
same owned fields and the same dry-run CRMs. A failed check is always run again. The risk, a
field deleted in the CRM within that window, costs the write-back of that field (its records
are dead-lettered with the CRM's error and sent again once the check has run and the field
is back), never a wrong value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from acm_sync.connectors.hubspot import HubSpotClient
from acm_sync.connectors.salesforce import SalesforceClient
from acm_sync.connectors.settings import mapping_fingerprint
from acm_sync.warehouse import Warehouse
from acm_sync.writeback.fields import (
    HUBSPOT_GROUP,
    HUBSPOT_GROUP_LABEL,
    OBJECTS,
    OWNED,
    Crm,
    Kind,
    Owned,
)
from acm_sync.writeback.metadata import ASSIGN_COMMAND, DEPLOY_COMMAND, PERMISSION_SET

# Salesforce describe `type` of each kind (Text → string, LongTextArea → textarea, Number →
# double: the SOAP types describe reports for the metadata types in metadata.METADATA_TYPES).
SALESFORCE_DESCRIBE_TYPES: dict[Kind, str] = {
    "picklist": "picklist",
    "text": "string",
    "longtext": "textarea",
    "number": "double",
    "percent": "percent",
    "currency": "currency",
    "datetime": "datetime",
}

# HubSpot (type, fieldType) we create for each kind. Valid pairs per HubSpot's properties guide
# ("Property type and fieldType values"): enumeration → select / radio / checkbox /
# booleancheckbox; string → text / textarea / …; number → number; datetime → date.
HUBSPOT_TYPES: dict[Kind, tuple[str, str]] = {
    "picklist": ("enumeration", "select"),
    "text": ("string", "text"),
    "longtext": ("string", "textarea"),
    "number": ("number", "number"),
    "percent": ("number", "number"),
    "currency": ("number", "number"),
    "datetime": ("datetime", "date"),
}
# An existing property of the right `type` whose fieldType stores values as we write them.
# (enumeration + checkbox would be a multi-select: values become `a;b` lists.)
_HUBSPOT_FIELD_TYPES_ACCEPTED: dict[str, set[str]] = {
    "enumeration": {"select", "radio"},
    "string": {"text", "textarea"},
    "number": {"number"},
    "datetime": {"date"},
}

HUBSPOT_FIX_COMMAND = "acm-sync doctor --fix"


@dataclass
class ObjectReport:
    """One CRM object: which owned fields it has, which we created, what is wrong."""

    crm: Crm
    object: str
    present: list[str] = field(default_factory=list)  # existed before this check
    missing: list[str] = field(default_factory=list)  # still absent after it
    created: list[str] = field(default_factory=list)  # created by this call (HubSpot)
    updated: list[str] = field(default_factory=list)  # repaired in place (HubSpot options)
    problems: list[str] = field(default_factory=list)  # "<name>: what is wrong"
    api_calls: int = 0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "crm": self.crm,
            "object": self.object,
            "ok": self.ok,
            "present": self.present,
            "missing": self.missing,
            "created": self.created,
            "updated": self.updated,
            "problems": self.problems,
            "api_calls": self.api_calls,
        }


@dataclass
class TargetReport:
    """The owned fields of one CRM, object by object."""

    crm: Crm
    objects: list[ObjectReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.objects)

    @property
    def api_calls(self) -> int:
        return sum(o.api_calls for o in self.objects)

    @property
    def missing(self) -> list[str]:
        return [f"{o.object}.{name}" for o in self.objects for name in o.missing]

    @property
    def created(self) -> list[str]:
        return [f"{o.object}.{name}" for o in self.objects for name in o.created]

    @property
    def problems(self) -> list[str]:
        return [f"{o.object}.{p}" for o in self.objects for p in o.problems]

    def fix(self) -> str:
        """How to fix what is wrong ("" when nothing is)."""
        if self.ok:
            return ""
        if self.crm == "salesforce":
            fix = (
                f"deploy the package: {DEPLOY_COMMAND}, then assign the permission set "
                f"{PERMISSION_SET} to the API user: {ASSIGN_COMMAND}"
            )
            if self.missing:
                fix += (
                    " (a field that is deployed but invisible to the API user lacks "
                    "field-level security, which the permission set grants)"
                )
            return fix
        if self.missing and not self.problems:
            return (
                f"create them: {HUBSPOT_FIX_COMMAND} (needs the crm.schemas.companies.write, "
                "crm.schemas.deals.write and crm.schemas.contacts.write scopes)"
            )
        return (
            f"{HUBSPOT_FIX_COMMAND} creates missing properties and adds missing options; a "
            "property of the wrong type must be archived in HubSpot (Settings → Properties) "
            "before it can be created again"
        )

    def message(self, *, with_fix: bool = True) -> str:
        """Human text: per object what is there, created, missing or wrong; then the fix."""
        name = "Salesforce" if self.crm == "salesforce" else "HubSpot"
        lines = []
        for o in self.objects:
            there = len(o.present) + len(o.created)
            state = "ok" if o.ok else "NOT ready"
            line = f"{name} {o.object}: {state} — {there}/{there + len(o.missing)} owned fields"
            if o.created:
                line += f"; created {', '.join(o.created)}"
            if o.updated:
                line += f"; options added to {', '.join(o.updated)}"
            lines.append(line)
            if o.missing:
                lines.append(f"  missing: {', '.join(o.missing)}")
            lines.extend(f"  problem: {p}" for p in o.problems)
        if not self.ok and with_fix:
            lines.append(f"To fix: {self.fix()}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "crm": self.crm,
            "ok": self.ok,
            "api_calls": self.api_calls,
            "objects": [o.to_dict() for o in self.objects],
            "fix": self.fix(),
        }


def _owned_on(crm: Crm) -> dict[str, list[Owned]]:
    """CRM object → the owned fields on it, in fields.py order."""
    out: dict[str, list[Owned]] = {}
    for sf_obj, hs_obj in OBJECTS.values():
        out[sf_obj if crm == "salesforce" else hs_obj] = []
    for f in OWNED:
        out[f.object(crm)].append(f)
    return out


# -- Salesforce ------------------------------------------------------------------------------


def salesforce_field_problems(f: Owned, described: Mapping[str, Any]) -> list[str]:
    """What keeps a described Salesforce field from holding what we write ([] when fine)."""
    problems = []
    name = f.salesforce
    expected = SALESFORCE_DESCRIBE_TYPES[f.kind]
    actual = described.get("type")
    if actual != expected:
        return [
            f"{name}: is a {actual} field, expected {expected} ({f.kind}); delete it in Setup "
            "and deploy the package"
        ]
    if not described.get("updateable", False):
        problems.append(
            f"{name}: read-only for this user; grant edit access with the permission set "
            f"{PERMISSION_SET}"
        )
    if f.kind in ("text", "longtext") and int(described.get("length") or 0) < f.length:
        problems.append(
            f"{name}: keeps {described.get('length')} characters, we write up to {f.length}"
        )
    if f.kind in ("number", "percent", "currency"):
        scale = int(described.get("scale") or 0)
        precision = int(described.get("precision") or 0)
        if scale != f.scale:
            problems.append(f"{name}: has {scale} decimal places, expected {f.scale}")
        if precision - scale < f.precision - f.scale:
            problems.append(
                f"{name}: holds {precision - scale} digits before the decimal point, "
                f"expected {f.precision - f.scale}"
            )
    if f.kind == "picklist":
        values = {
            str(v.get("value"))
            for v in described.get("picklistValues") or []
            if v.get("active", True)
        }
        absent = [o for o in f.options if o not in values]
        if absent:
            problems.append(f"{name}: picklist lacks the value(s) {', '.join(absent)}")
    return problems


def salesforce_object_report(
    obj: str, fields: Iterable[Mapping[str, Any]] | None, *, api_calls: int = 0
) -> ObjectReport:
    """The report for one object from its describe `fields` (None: the object is not there)."""
    owned = _owned_on("salesforce")[obj]
    report = ObjectReport("salesforce", obj, api_calls=api_calls)
    if fields is None:
        report.missing = [f.salesforce for f in owned]
        report.problems.append(
            f"{obj}: the object is not accessible to this user (describe answered 404)"
        )
        return report
    by_name = {str(d.get("name", "")).lower(): d for d in fields}
    for f in owned:
        described = by_name.get(f.salesforce.lower())
        if described is None:
            report.missing.append(f.salesforce)
            continue
        report.present.append(f.salesforce)
        report.problems.extend(salesforce_field_problems(f, described))
    return report


def check_salesforce_fields(client: SalesforceClient) -> TargetReport:
    """Describe Account / Opportunity / Contact (one call each); report owned fields."""
    report = TargetReport("salesforce")
    for obj in _owned_on("salesforce"):
        before = client.calls
        described = client.describe(obj)
        fields = None if described is None else list(described["fields"])
        report.objects.append(
            salesforce_object_report(obj, fields, api_calls=client.calls - before)
        )
    return report


# -- HubSpot ---------------------------------------------------------------------------------


def hubspot_property(f: Owned, display_order: int) -> dict[str, Any]:
    """The property definition we create for an owned field (POST /crm/v3/properties/{type})."""
    ptype, field_type = HUBSPOT_TYPES[f.kind]
    body: dict[str, Any] = {
        "name": f.hubspot,
        "label": f.label,
        "description": f.description,
        "groupName": HUBSPOT_GROUP,
        "type": ptype,
        "fieldType": field_type,
        "displayOrder": display_order,
        "formField": False,
        "hasUniqueValue": False,
        "hidden": False,
    }
    if f.kind == "picklist":
        body["options"] = hubspot_options(f.options)
    return body


def hubspot_options(values: Iterable[str], start: int = 0) -> list[dict[str, Any]]:
    return [
        {"label": v, "value": v, "displayOrder": start + i, "hidden": False}
        for i, v in enumerate(values)
    ]


def hubspot_property_problems(f: Owned, existing: Mapping[str, Any]) -> list[str]:
    """What keeps an existing HubSpot property from holding what we write ([] when fine).

    Missing enumeration options are not a problem here: they can be added in place."""
    ptype, field_type = HUBSPOT_TYPES[f.kind]
    actual_type, actual_field = existing.get("type"), existing.get("fieldType")
    problems = []
    if actual_type != ptype or actual_field not in _HUBSPOT_FIELD_TYPES_ACCEPTED[ptype]:
        problems.append(
            f"{f.hubspot}: is {actual_type}/{actual_field}, expected {ptype}/{field_type}"
        )
    meta = existing.get("modificationMetadata") or {}
    if existing.get("calculated") or meta.get("readOnlyValue"):
        problems.append(f"{f.hubspot}: its values are read-only (calculated by HubSpot)")
    return problems


def missing_options(f: Owned, existing: Mapping[str, Any]) -> list[str]:
    if f.kind != "picklist":
        return []
    values = {str(o.get("value")) for o in existing.get("options") or []}
    return [o for o in f.options if o not in values]


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def ensure_hubspot_properties(client: HubSpotClient, *, create: bool = True) -> TargetReport:
    """Make sure every owned property exists on companies / deals / contacts (group acm_sync).

    Per object type: one GET of all properties; then, only when something is missing (and
    `create`), the group (POST, 409 = already there) and one batch create of the missing
    properties; a PATCH per enumeration that lacks some of our options. A second call creates
    nothing and costs one call per object type. With `create=False` nothing is written.
    """
    report = TargetReport("hubspot")
    for obj, owned in _owned_on("hubspot").items():
        before = client.calls
        o = ObjectReport("hubspot", obj)
        existing = {str(p["name"]): p for p in client.properties(obj)}
        group_exists = any(p.get("groupName") == HUBSPOT_GROUP for p in existing.values())
        to_create: list[Owned] = []
        for f in owned:
            prop = existing.get(f.hubspot)
            if prop is None:
                to_create.append(f)
                continue
            o.present.append(f.hubspot)
            problems = hubspot_property_problems(f, prop)
            o.problems.extend(problems)
            absent = missing_options(f, prop)
            if absent and not problems:
                if create:
                    _add_options(client, obj, f, prop, absent)
                    o.updated.append(f.hubspot)
                else:
                    o.problems.append(f"{f.hubspot}: lacks the option(s) {', '.join(absent)}")
        if to_create and create:
            if not group_exists:
                _create_group(client, obj)
            created, raced, failed = _batch_create(client, obj, to_create, owned)
            o.created = created
            o.present.extend(raced)
            o.missing = [f.hubspot for f in to_create if f.hubspot not in {*created, *raced}]
            o.problems.extend(failed)
        else:
            o.missing = [f.hubspot for f in to_create]
        o.api_calls = client.calls - before
        report.objects.append(o)
    return report


def _create_group(client: HubSpotClient, obj: str) -> None:
    body = {"name": HUBSPOT_GROUP, "label": HUBSPOT_GROUP_LABEL, "displayOrder": -1}
    try:
        client.create_property_group(obj, body)
    except Exception as exc:
        if _status(exc) != 409:  # 409 OBJECT_ALREADY_EXISTS: an empty group of ours
            raise


def _batch_create(
    client: HubSpotClient, obj: str, to_create: list[Owned], owned: list[Owned]
) -> tuple[list[str], list[str], list[str]]:
    """POST /crm/v3/properties/{type}/batch/create → (created, created meanwhile by someone
    else, problems). HubSpot answers 201, or 207 with an `errors` entry per refused input."""
    order = {f.hubspot: i for i, f in enumerate(owned)}
    answer = client.create_properties(
        obj, [hubspot_property(f, order[f.hubspot]) for f in to_create]
    )
    created = [str(p["name"]) for p in answer.get("results", [])]
    raced: list[str] = []
    problems = []
    for error in answer.get("errors", []):
        names = (error.get("context") or {}).get("name") or ["?"]
        category = str(error.get("category", ""))
        for name in names:
            if category == "OBJECT_ALREADY_EXISTS":
                # Created by someone else since our list call: there now.
                raced.append(str(name))
            else:
                problems.append(f"{name}: HubSpot refused to create it: {error.get('message')}")
    return created, raced, problems


def _add_options(
    client: HubSpotClient, obj: str, f: Owned, prop: Mapping[str, Any], absent: list[str]
) -> None:
    """PATCH the enumeration's options: the ones it has (kept as they are) + ours it lacks."""
    current = list(prop.get("options") or [])
    start = 1 + max((int(o.get("displayOrder", 0)) for o in current), default=-1)
    client.update_property(obj, f.hubspot, {"options": [*current, *hubspot_options(absent, start)]})


# -- when the check can be skipped ------------------------------------------------------------

_CHECK_KEY = ("writeback", "target")


def target_fingerprint(dry_run: Iterable[str]) -> str:
    """What a passed check vouches for: these owned fields, with these CRMs in dry-run (a CRM
    leaving dry-run must have its missing properties created)."""
    return mapping_fingerprint([asdict(f) for f in OWNED], sorted(dry_run))


def recent_target_check(
    wh: Warehouse, fingerprint: str, *, max_age_hours: float
) -> datetime | None:
    """When the last check that passed ran, if it vouches for `fingerprint` and is younger
    than `max_age_hours`; otherwise None (check now)."""
    seen = wh.schema_checked(*_CHECK_KEY)
    if seen is None or seen[0] != fingerprint:
        return None
    if datetime.now(UTC) - seen[1] >= timedelta(hours=max_age_hours):
        return None
    return seen[1]


def record_target_check(wh: Warehouse, fingerprint: str, reports: Iterable[TargetReport]) -> None:
    """Remember a check that passed; forget any earlier one when this one did not."""
    wh.save_schema_check(*_CHECK_KEY, fingerprint if all(r.ok for r in reports) else "")
