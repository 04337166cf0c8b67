"""Property values as HubSpot checks them on create / update: known, writable, typed,
valid options and stages, unique where the property says so."""

from __future__ import annotations

import re
from typing import Any

from acm_sync.sandbox.hubspot import schema
from acm_sync.sandbox.hubspot.catalog import PropertyCatalog
from acm_sync.sandbox.hubspot.db import PortalDb
from acm_sync.sandbox.hubspot.errors import PropertyErrors, StoreError
from acm_sync.sandbox.hubspot.propdefs import CREATE_ONLY, column_name, table_name
from acm_sync.sandbox.hubspot.values import InvalidValue, to_stored

# What HubSpot takes for a contact email: one @, a dot in the domain, no spaces.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


class Validator:
    """Checks property values against the catalog before a write."""

    def __init__(self, db: PortalDb, catalog: PropertyCatalog) -> None:
        self.db = db
        self.catalog = catalog

    def validate(self, obj: str, properties: Any, *, creating: bool) -> dict[str, str | None]:
        """Written properties → stored values; PropertyErrors lists what HubSpot would refuse."""
        if not isinstance(properties, dict):
            raise StoreError(400, "VALIDATION_ERROR", "`properties` must be an object")
        problems: list[tuple[str, str, str]] = []
        out: dict[str, str | None] = {}
        for name, raw in properties.items():
            p = self.catalog.prop(obj, name)
            if p is None:
                problems.append(
                    (name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                )
                continue
            if p.read_only_value and not (creating and name in CREATE_ONLY):
                problems.append(
                    (
                        name,
                        "READ_ONLY_VALUE",
                        f'"{name}" is a read only property; its value cannot be set.',
                    )
                )
                continue
            try:
                value = to_stored(p.type, raw, p.option_values)
            except InvalidValue as exc:
                problems.append((name, exc.code, exc.message))
                continue
            if name == "email" and value is not None:
                value = value.strip().lower()
                if obj == "contacts" and value and not _EMAIL.match(value):
                    problems.append((name, "INVALID_EMAIL", f"Email address {raw} is invalid"))
                    continue
            out[name] = value
        if obj == "deals" and not problems:
            self._check_stage(out, problems)
        if problems:
            raise PropertyErrors(self.db.portal_id, problems)
        return out

    def _check_stage(
        self, values: dict[str, str | None], problems: list[tuple[str, str, str]]
    ) -> None:
        stage = values.get("dealstage")
        if stage is None:
            return
        pipeline = values.get("pipeline") or schema.DEFAULT_PIPELINE_ID
        row = self.db.conn.execute(
            "SELECT 1 FROM pipeline_stages WHERE object_type='deals' AND pipeline_id=? "
            "AND id=? AND archived=0",
            (pipeline, stage),
        ).fetchone()
        if row is None:
            problems.append(
                (
                    "dealstage",
                    "INVALID_OPTION",
                    f"{stage} was not one of the allowed options for pipeline {pipeline}",
                )
            )

    def check_unique(
        self, obj: str, values: dict[str, str | None], exclude_id: int | None = None
    ) -> None:
        for name, value in values.items():
            if value is None:
                continue
            p = self.catalog.props[obj].get(name)
            if not (name == "email" and obj == "contacts") and not (p and p.has_unique_value):
                continue
            row = self.db.conn.execute(
                f"SELECT id FROM {table_name(obj)} WHERE {column_name(name)} = ? COLLATE NOCASE "
                f"AND archived = 0 AND merged_into IS NULL AND id != ? LIMIT 1",
                (value, exclude_id or -1),
            ).fetchone()
            if row is not None:
                if name == "email":
                    raise StoreError(
                        409, "CONFLICT", f"Contact already exists. Existing ID: {row[0]}"
                    )
                raise StoreError(
                    400,
                    "VALIDATION_ERROR",
                    f"Property values were not valid: {name}={value} is already used by "
                    f"record {row[0]}; {name} must be unique",
                )
