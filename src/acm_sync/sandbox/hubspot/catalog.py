"""The property catalog: definitions and groups per object type (create, update, archive)
and how a read selects them (the SELECT list, the wire record)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from acm_sync.sandbox.hubspot import schema, stagetiming
from acm_sync.sandbox.hubspot.db import PortalDb
from acm_sync.sandbox.hubspot.errors import StoreError
from acm_sync.sandbox.hubspot.propdefs import (
    FIELD_TYPES,
    FIELD_TYPES_BY_TYPE,
    OBJECTS,
    PROP_COLUMNS,
    PROPERTY_NAME_RE,
    PROPERTY_TYPES,
    PropDef,
    column_name,
    insert_prop,
    parse_options,
    prop_from_row,
    table_name,
)
from acm_sync.sandbox.hubspot.values import wire_datetime


@dataclass
class Page:
    results: list[dict[str, Any]]
    next_after: str | None
    total: int | None = None


class PropertyCatalog:
    """Property definitions and groups of one portal, cached in memory."""

    def __init__(self, db: PortalDb) -> None:
        self.db = db
        self.props: dict[str, dict[str, PropDef]] = {}
        self.columns: dict[str, set[str]] = {}
        self.select_cache: dict[tuple[str, tuple[str, ...]], tuple[str, list[int]]] = {}
        self.load()

    def load(self) -> None:
        with self.db.lock:
            self.props = {obj: {} for obj in OBJECTS}
            for row in self.db.conn.execute(f"SELECT {', '.join(PROP_COLUMNS)} FROM properties"):
                p = prop_from_row(row)
                self.props[p.object_type][p.name] = p
            for obj in OBJECTS:
                cols = self.db.conn.execute(f"PRAGMA table_info({table_name(obj)})").fetchall()
                self.columns[obj] = {c[1][2:] for c in cols if c[1].startswith("p_")}

    def prop(self, obj: str, name: str) -> PropDef | None:
        p = self.props[obj].get(name)
        return p if p is not None and not p.archived else None

    def list_properties(self, obj: str, archived: bool = False) -> list[PropDef]:
        return [p for p in self.props[obj].values() if p.archived == archived]

    def list_groups(self, obj: str, archived: bool = False) -> list[dict[str, Any]]:
        rows = self.db.conn.execute(
            "SELECT name, label, display_order, archived FROM property_groups "
            "WHERE object_type=? AND archived=? ORDER BY display_order, name",
            (obj, int(archived)),
        ).fetchall()
        return [
            {"name": n, "label": lab, "displayOrder": o, "archived": bool(a)}
            for n, lab, o, a in rows
        ]

    def get_group(self, obj: str, name: str) -> dict[str, Any] | None:
        row = self.db.conn.execute(
            "SELECT name, label, display_order, archived FROM property_groups "
            "WHERE object_type=? AND name=? AND archived=0",
            (obj, name),
        ).fetchone()
        if row is None:
            return None
        return {"name": row[0], "label": row[1], "displayOrder": row[2], "archived": False}

    def create_group(self, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        name, label = body.get("name"), body.get("label")
        if not isinstance(name, str) or not isinstance(label, str) or not label:
            raise StoreError(
                400, "VALIDATION_ERROR", "Property group creation requires `name` and `label`"
            )
        if not PROPERTY_NAME_RE.match(name):
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Property group name {name!r} is invalid: use lowercase letters, "
                "digits and underscores, starting with a letter",
            )
        order = body.get("displayOrder", -1)
        if not isinstance(order, int):
            raise StoreError(400, "VALIDATION_ERROR", "displayOrder must be an integer")
        with self.db.lock:
            existing = self.db.conn.execute(
                "SELECT archived FROM property_groups WHERE object_type=? AND name=?", (obj, name)
            ).fetchone()
            if existing is not None and not existing[0]:
                raise StoreError(
                    409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists."
                )
            self.db.conn.execute(
                "INSERT OR REPLACE INTO property_groups VALUES (?, ?, ?, ?, 0)",
                (obj, name, label, order),
            )
        return {"name": name, "label": label, "displayOrder": order, "archived": False}

    def update_group(self, obj: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        group = self.get_group(obj, name)
        if group is None:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property group {name}")
        if "label" in body and isinstance(body["label"], str):
            group["label"] = body["label"]
        if "displayOrder" in body and isinstance(body["displayOrder"], int):
            group["displayOrder"] = body["displayOrder"]
        with self.db.lock:
            self.db.conn.execute(
                "UPDATE property_groups SET label=?, display_order=? "
                "WHERE object_type=? AND name=?",
                (group["label"], group["displayOrder"], obj, name),
            )
        return group

    def archive_group(self, obj: str, name: str) -> None:
        if self.get_group(obj, name) is None:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property group {name}")
        if any(p.group_name == name for p in self.list_properties(obj)):
            raise StoreError(
                400, "VALIDATION_ERROR", f"Property group {name} still contains properties"
            )
        with self.db.lock:
            self.db.conn.execute(
                "UPDATE property_groups SET archived=1 WHERE object_type=? AND name=?", (obj, name)
            )

    def create_property(self, obj: str, body: dict[str, Any]) -> PropDef:
        missing = [
            k
            for k in ("name", "label", "type", "fieldType", "groupName")
            if not isinstance(body.get(k), str) or not body.get(k)
        ]
        if missing:
            raise StoreError(
                400, "VALIDATION_ERROR", f"Missing required fields: {', '.join(missing)}"
            )
        name, ptype, ftype = body["name"], body["type"], body["fieldType"]
        if not PROPERTY_NAME_RE.match(name):
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Property name {name!r} is invalid: names use lowercase letters, "
                "digits and underscores and start with a letter",
            )
        if ptype not in PROPERTY_TYPES:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Invalid property type {ptype!r}: one of {sorted(PROPERTY_TYPES)}",
            )
        if ftype not in FIELD_TYPES or ftype not in FIELD_TYPES_BY_TYPE[ptype]:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Field type {ftype!r} is not valid for a property of type {ptype!r}",
            )
        if self.get_group(obj, body["groupName"]) is None:
            raise StoreError(
                400, "VALIDATION_ERROR", f"Property group {body['groupName']!r} does not exist"
            )
        options = parse_options(body.get("options"), ptype)
        with self.db.lock:
            current = self.props[obj].get(name)
            if current is not None and not current.archived:
                raise StoreError(
                    409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists."
                )
            if current is not None and current.hubspot_defined:
                raise StoreError(
                    409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists."
                )
            now = self.db.now()
            definition = PropDef(
                object_type=obj,
                name=name,
                label=body["label"],
                type=ptype,
                field_type=ftype,
                group_name=body["groupName"],
                description=str(body.get("description") or ""),
                options=options,
                display_order=int(body.get("displayOrder", -1)),
                hidden=bool(body.get("hidden", False)),
                has_unique_value=bool(body.get("hasUniqueValue", False)),
                form_field=bool(body.get("formField", True)),
                calculated=ftype == "calculation_equation",
                external_options=bool(body.get("externalOptions", False)),
                hubspot_defined=False,
                read_only_value=False,
                read_only_definition=False,
                created_at=now,
                updated_at=now,
                created_user_id="2620164",
            )
            self.db.conn.execute("BEGIN")
            if current is not None:
                self.db.conn.execute(
                    "DELETE FROM properties WHERE object_type=? AND name=?", (obj, name)
                )
            insert_prop(self.db.conn, definition)
            if name not in self.columns[obj]:
                self.db.conn.execute(
                    f"ALTER TABLE {table_name(obj)} ADD COLUMN {column_name(name)} TEXT"
                )
                self.columns[obj].add(name)
            if definition.has_unique_value:
                self.db.conn.execute(
                    f"CREATE INDEX IF NOT EXISTS ix_{obj}_{name} "
                    f"ON {table_name(obj)}({column_name(name)})"
                )
            self.db.conn.execute("COMMIT")
            self.props[obj][name] = definition
            self.select_cache.clear()
        return definition

    def update_property(self, obj: str, name: str, body: dict[str, Any]) -> PropDef:
        p = self.prop(obj, name)
        if p is None:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
        if p.read_only_definition:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Property {name} is a HubSpot-defined property whose definition can't be changed",
            )
        if "type" in body or "fieldType" in body:
            ptype = body.get("type", p.type)
            ftype = body.get("fieldType", p.field_type)
            if ptype not in PROPERTY_TYPES or ftype not in FIELD_TYPES_BY_TYPE.get(ptype, ()):
                raise StoreError(
                    400, "VALIDATION_ERROR", f"Field type {ftype!r} is not valid for type {ptype!r}"
                )
            p.type, p.field_type = ptype, ftype
        if "groupName" in body:
            if self.get_group(obj, str(body["groupName"])) is None:
                raise StoreError(
                    400, "VALIDATION_ERROR", f"Property group {body['groupName']!r} does not exist"
                )
            p.group_name = str(body["groupName"])
        if "options" in body:
            p.options = parse_options(body["options"], p.type)
        for key, attr in (("label", "label"), ("description", "description")):
            if key in body and isinstance(body[key], str):
                setattr(p, attr, body[key])
        for key, attr in (("hidden", "hidden"), ("formField", "form_field")):
            if key in body:
                setattr(p, attr, bool(body[key]))
        if "displayOrder" in body and isinstance(body["displayOrder"], int):
            p.display_order = body["displayOrder"]
        p.updated_at = self.db.now()
        with self.db.lock:
            self.db.conn.execute("BEGIN")
            self.db.conn.execute(
                "DELETE FROM properties WHERE object_type=? AND name=?", (obj, name)
            )
            insert_prop(self.db.conn, p)
            self.db.conn.execute("COMMIT")
        return p

    def archive_property(self, obj: str, name: str) -> None:
        p = self.prop(obj, name)
        if p is None:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
        if p.hubspot_defined:
            raise StoreError(
                400, "VALIDATION_ERROR", f"Property {name} is HubSpot-defined and can't be archived"
            )
        p.archived, p.archived_at = True, self.db.now()
        with self.db.lock:
            self.db.conn.execute(
                "UPDATE properties SET archived=1, archived_at=? WHERE object_type=? AND name=?",
                (p.archived_at, obj, name),
            )
            self.select_cache.clear()

    def select(self, obj: str, names: tuple[str, ...]) -> tuple[str, list[int]]:
        """SELECT list for record rows with these properties; indices of datetime values."""
        key = (obj, names)
        cached = self.select_cache.get(key)
        if cached is not None:
            return cached
        system = schema.SYSTEM_PROPERTIES[obj]
        exprs = ["id", "created_at", "updated_at", "archived", "archived_at"]
        dt_idx: list[int] = []
        for i, name in enumerate(names):
            if name in system:
                src = system[name]
                exprs.append("CAST(id AS TEXT)" if src == "id" else src)
            elif stagetiming.is_stage_timing(obj, name):
                exprs.append("NULL")  # computed after the read (stagetiming.fill)
            else:
                exprs.append(column_name(name))
            p = self.props[obj].get(name)
            if p is not None and p.type == "datetime":
                dt_idx.append(i)
        out = (", ".join(exprs), dt_idx)
        self.select_cache[key] = out
        return out

    def returned_properties(self, obj: str, requested: Sequence[str] | None) -> tuple[str, ...]:
        """The properties a read returns: the defaults, or those asked for (+ the always-set)."""
        if not requested:
            return tuple(schema.DEFAULT_RETURNED[obj])
        known = self.props[obj]
        names = dict.fromkeys(n for n in requested if n in known and not known[n].archived)
        for n in schema.ALWAYS_RETURNED[obj]:
            names.setdefault(n, None)
        return tuple(names)


def rows_to_records(
    obj: str, rows: list[tuple[Any, ...]], names: tuple[str, ...], dt_idx: list[int]
) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        rid, created, updated, archived, archived_at = row[:5]
        values = list(row[5:])
        for i in dt_idx:
            v = values[i]
            if v is not None and v.endswith(".000Z"):
                values[i] = v[:-5] + "Z"
        record: dict[str, Any] = {
            "id": str(rid),
            "properties": dict(zip(names, values, strict=True)),
            "createdAt": wire_datetime(created),
            "updatedAt": wire_datetime(updated),
            "archived": bool(archived),
        }
        if archived:
            record["archivedAt"] = wire_datetime(archived_at)
        out.append(record)
    return out
