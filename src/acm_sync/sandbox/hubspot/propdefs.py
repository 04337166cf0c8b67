"""Property definitions and how records are laid out in SQLite (one table per object type,
one TEXT column `p_<name>` per property)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import orjson

from acm_sync.sandbox.hubspot.errors import StoreError
from acm_sync.sandbox.hubspot.values import wire_datetime

OBJECTS = ("companies", "contacts", "deals")
PROPERTY_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
PROPERTY_TYPES = {"string", "number", "date", "datetime", "enumeration", "bool"}
FIELD_TYPES = {
    "textarea",
    "text",
    "date",
    "file",
    "number",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "calculation_equation",
    "phonenumber",
    "html",
}
FIELD_TYPES_BY_TYPE = {
    "string": {"text", "textarea", "file", "phonenumber", "html", "select", "radio"},
    "number": {"number", "calculation_equation", "select", "radio"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "bool": {"booleancheckbox", "radio", "select"},
}
LOOKUP_INDEXES = {"companies": ["domain", "name"], "contacts": ["email"], "deals": ["dealname"]}

# Calculated by HubSpot: writes are refused (READ_ONLY_VALUE).
READ_ONLY = {
    "companies": {
        "hs_object_id",
        "createdate",
        "hs_lastmodifieddate",
        "hs_merged_object_ids",
        "num_associated_contacts",
        "num_associated_deals",
        "notes_last_updated",
    },
    "contacts": {
        "hs_object_id",
        "lastmodifieddate",
        "hs_lastmodifieddate",
        "hs_merged_object_ids",
        "hs_email_bad_address",
        "notes_last_updated",
    },
    "deals": {
        "hs_object_id",
        "hs_lastmodifieddate",
        "hs_merged_object_ids",
        "hs_deal_stage_probability",
        "hs_is_closed",
        "hs_is_closed_won",
        "notes_last_updated",
    },
}
# Writable on create only (HubSpot lets an import set the create date).
CREATE_ONLY = {"createdate"}


@dataclass
class PropDef:
    object_type: str
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    display_order: int = -1
    hidden: bool = False
    has_unique_value: bool = False
    form_field: bool = True
    calculated: bool = False
    external_options: bool = False
    hubspot_defined: bool = True
    read_only_value: bool = False
    read_only_definition: bool = True
    archived: bool = False
    archived_at: str | None = None
    created_at: str = ""
    updated_at: str = ""
    created_user_id: str | None = None

    @property
    def option_values(self) -> set[str] | None:
        if self.type != "enumeration" or self.external_options:
            return None
        return {o["value"] for o in self.options}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "updatedAt": wire_datetime(self.updated_at),
            "createdAt": wire_datetime(self.created_at),
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": self.external_options,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.read_only_definition,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "dataSensitivity": "non_sensitive",
        }
        if self.created_user_id:
            out["createdUserId"] = self.created_user_id
            out["updatedUserId"] = self.created_user_id
        if self.archived:
            out["archived"] = True
            out["archivedAt"] = wire_datetime(self.archived_at)
        else:
            out["archived"] = False
        return out


# Boolean definition fields (stored as 0 / 1).
PROP_FLAGS = (
    "hidden",
    "has_unique_value",
    "form_field",
    "calculated",
    "external_options",
    "hubspot_defined",
    "read_only_value",
    "read_only_definition",
    "archived",
)
# The `properties` table's columns, in order.
PROP_COLUMNS = (
    "object_type",
    "name",
    "label",
    "type",
    "field_type",
    "group_name",
    "description",
    "options",
    "display_order",
    *PROP_FLAGS,
    "archived_at",
    "created_at",
    "updated_at",
    "created_user_id",
)


def table_name(obj: str) -> str:
    return f"obj_{obj}"


def column_name(prop: str) -> str:
    return f'"p_{prop}"'


def insert_prop(conn: sqlite3.Connection, p: PropDef) -> None:
    values = []
    for name in PROP_COLUMNS:
        value = getattr(p, name)
        if name == "options":
            value = orjson.dumps(value).decode()
        elif name in PROP_FLAGS:
            value = int(value)
        values.append(value)
    conn.execute(
        f"INSERT INTO properties ({', '.join(PROP_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(PROP_COLUMNS))})",
        values,
    )


def prop_from_row(row: tuple[Any, ...]) -> PropDef:
    """A `properties` row (PROP_COLUMNS) → its definition."""
    d = dict(zip(PROP_COLUMNS, row, strict=True))
    d["options"] = orjson.loads(d["options"] or "[]")
    for flag in PROP_FLAGS:
        d[flag] = bool(d[flag])
    return PropDef(**d)


def parse_options(raw: Any, ptype: str) -> list[dict[str, Any]]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise StoreError(400, "VALIDATION_ERROR", "options must be a list")
    if ptype == "bool" and not raw:
        raw = [{"label": "True", "value": "true"}, {"label": "False", "value": "false"}]
    out = []
    seen: set[str] = set()
    for i, o in enumerate(raw):
        if (
            not isinstance(o, dict)
            or not isinstance(o.get("label"), str)
            or not isinstance(o.get("value"), str)
        ):
            raise StoreError(
                400, "VALIDATION_ERROR", "each option needs a string `label` and `value`"
            )
        if o["value"] in seen:
            raise StoreError(400, "VALIDATION_ERROR", f"Duplicate option value {o['value']!r}")
        seen.add(o["value"])
        option: dict[str, Any] = {
            "label": o["label"],
            "value": o["value"],
            "displayOrder": int(o.get("displayOrder", i)),
            "hidden": bool(o.get("hidden", False)),
        }
        if o.get("description"):
            option["description"] = str(o["description"])
        out.append(option)
    return out
