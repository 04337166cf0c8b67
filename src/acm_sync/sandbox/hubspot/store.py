"""The HubSpot portal's state in one SQLite file.

Layout (a restart on the same file keeps everything):

    meta(key, value)                               portal id, creation time
    properties(object_type, name, …)               property definitions (defaults + created)
    property_groups(object_type, name, …)
    obj_companies / obj_contacts / obj_deals       one row per record: id, created_at,
        (id INTEGER PRIMARY KEY, created_at, updated_at, archived, archived_at, merged_into,
         p_<property> TEXT …)                      one TEXT column per property
    aliases(object_type, old_id, new_id)           ids merged away → the record they live on in
    assoc(from_type, from_id, to_type, to_id, type_id)   both directions stored
    history(object_type, object_id, property, value, timestamp, source_type, source_id)
    pipelines / pipeline_stages                    deal pipelines and their stages
    owners                                         the portal's users

`hs_object_id`, `createdate` and `hs_lastmodifieddate` (`lastmodifieddate` on contacts) are not
columns: they are the record's id, created_at and updated_at, so they can never disagree with
`id`, `createdAt` and `updatedAt`. Every write sets updated_at from the store's clock.

All methods are synchronous and serialised by one lock; the ASGI app calls them from its event
loop (each call is a few indexed queries), tests may call them from another thread.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from acm_sync.sandbox.hubspot import schema
from acm_sync.sandbox.hubspot.values import (
    InvalidValue,
    iso_ms,
    series_to_stored,
    to_comparable,
    to_stored,
    wire_datetime,
)

OBJECTS = ("companies", "contacts", "deals")
SEARCH_MAX_RESULTS = 10_000
SEED_CHUNK = 50_000
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
# What HubSpot takes for a contact email: one @, a dot in the domain, no spaces.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
LOOKUP_INDEXES = {"companies": ["domain", "name"], "contacts": ["email"], "deals": ["dealname"]}


class StoreError(Exception):
    """A request HubSpot would refuse: HTTP status, category, message (+ optional extras)."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra


class PropertyErrors(StoreError):
    """Property values HubSpot refuses: 400 VALIDATION_ERROR with its per-property list."""

    def __init__(self, portal_id: int, problems: list[tuple[str, str, str]]) -> None:
        details = [
            {
                "isValid": False,
                "message": msg,
                "error": code,
                "name": name,
                "localizedErrorMessage": msg,
                "portalId": portal_id,
            }
            for name, code, msg in problems
        ]
        text = "Property values were not valid: " + orjson.dumps(details).decode()
        super().__init__(400, "VALIDATION_ERROR", text)
        self.problems = problems


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


_PROP_COLS = (
    "object_type",
    "name",
    "label",
    "type",
    "field_type",
    "group_name",
    "description",
    "options",
    "display_order",
    "hidden",
    "has_unique_value",
    "form_field",
    "calculated",
    "external_options",
    "hubspot_defined",
    "read_only_value",
    "read_only_definition",
    "archived",
    "archived_at",
    "created_at",
    "updated_at",
    "created_user_id",
)


def _table(obj: str) -> str:
    return f"obj_{obj}"


def _col(prop: str) -> str:
    return f'"p_{prop}"'


@dataclass
class Page:
    results: list[dict[str, Any]]
    next_after: str | None
    total: int | None = None


class HubSpotStore:
    """The portal: records, properties, associations, history, pipelines, owners."""

    def __init__(self, db_path: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.db_path = Path(db_path)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.is_new = not self.db_path.exists() or self.db_path.stat().st_size == 0
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self.lock = threading.RLock()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "cache_size=-65536",
            "temp_store=MEMORY",
            "mmap_size=268435456",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.create_function("hs_contains_token", 2, _contains_token, deterministic=True)
        if self.is_new:
            self._create_schema()
        self.props: dict[str, dict[str, PropDef]] = {}
        self.columns: dict[str, set[str]] = {}
        self._load_definitions()
        row = self.conn.execute("SELECT value FROM meta WHERE key='portal_id'").fetchone()
        self.portal_id = int(row[0])
        self._select_cache: dict[tuple[str, tuple[str, ...]], tuple[str, list[int]]] = {}

    # -- setup -------------------------------------------------------------------------------

    def now(self) -> str:
        return iso_ms(self.clock())

    def portal_created_at(self) -> str:
        """When the portal was created (the standard types' properties date from then)."""
        with self.lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key='created_at'").fetchone()
        return str(row[0]) if row else self.now()

    def _create_schema(self) -> None:
        c = self.conn
        now = self.now()
        with self.lock:
            c.execute("BEGIN")
            c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            c.executemany(
                "INSERT INTO meta VALUES (?, ?)", [("portal_id", "46123987"), ("created_at", now)]
            )
            c.execute(
                "CREATE TABLE properties (object_type TEXT, name TEXT, label TEXT, type TEXT, "
                "field_type TEXT, group_name TEXT, description TEXT, options TEXT, "
                "display_order INTEGER, hidden INTEGER, has_unique_value INTEGER, "
                "form_field INTEGER, calculated INTEGER, external_options INTEGER, "
                "hubspot_defined INTEGER, read_only_value INTEGER, read_only_definition INTEGER,"
                " archived INTEGER, archived_at TEXT, created_at TEXT, updated_at TEXT, "
                "created_user_id TEXT, PRIMARY KEY (object_type, name))"
            )
            c.execute(
                "CREATE TABLE property_groups (object_type TEXT, name TEXT, label TEXT, "
                "display_order INTEGER, archived INTEGER DEFAULT 0, "
                "PRIMARY KEY (object_type, name))"
            )
            for obj in OBJECTS:
                cols = ", ".join(
                    f"{_col(p.name)} TEXT"
                    for p in schema.DEFAULT_PROPERTIES[obj]
                    if p.name not in schema.SYSTEM_PROPERTIES[obj]
                )
                c.execute(
                    f"CREATE TABLE {_table(obj)} (id INTEGER PRIMARY KEY, "
                    "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
                    "archived INTEGER NOT NULL DEFAULT 0, archived_at TEXT, "
                    f"merged_into INTEGER, {cols})"
                )
                for order, (gname, glabel, gorder) in enumerate(schema.PROPERTY_GROUPS[obj]):
                    c.execute(
                        "INSERT INTO property_groups VALUES (?, ?, ?, ?, 0)",
                        (obj, gname, glabel, gorder if gorder is not None else order),
                    )
                for order, p in enumerate(schema.DEFAULT_PROPERTIES[obj]):
                    ro = p.read_only_value or p.name in READ_ONLY[obj]
                    definition = PropDef(
                        object_type=obj,
                        name=p.name,
                        label=p.label,
                        type=p.type,
                        field_type=p.field_type,
                        group_name=p.group_name,
                        description=p.description,
                        options=[
                            {"label": label, "value": value, "displayOrder": i, "hidden": False}
                            for i, (value, label) in enumerate(p.options)
                        ],
                        display_order=order,
                        has_unique_value=p.has_unique_value,
                        calculated=ro and p.name not in schema.SYSTEM_PROPERTIES[obj],
                        external_options=p.name in ("hubspot_owner_id", "pipeline", "dealstage"),
                        hubspot_defined=True,
                        read_only_value=ro,
                        read_only_definition=True,
                        form_field=not ro,
                        created_at=now,
                        updated_at=now,
                    )
                    self._insert_prop(definition)
            c.execute(
                "CREATE TABLE aliases (object_type TEXT, old_id INTEGER, new_id INTEGER, "
                "PRIMARY KEY (object_type, old_id))"
            )
            c.execute(
                "CREATE TABLE assoc (from_type TEXT, from_id INTEGER, to_type TEXT, "
                "to_id INTEGER, type_id INTEGER, "
                "PRIMARY KEY (from_type, to_type, from_id, to_id, type_id)) WITHOUT ROWID"
            )
            c.execute(
                "CREATE TABLE history (object_type TEXT, object_id INTEGER, "
                "property TEXT, value TEXT, timestamp TEXT, source_type TEXT, "
                "source_id TEXT)"
            )
            c.execute(
                "CREATE TABLE pipelines (object_type TEXT, id TEXT, label TEXT, "
                "display_order INTEGER, created_at TEXT, updated_at TEXT, "
                "archived INTEGER DEFAULT 0, PRIMARY KEY (object_type, id))"
            )
            c.execute(
                "CREATE TABLE pipeline_stages (object_type TEXT, pipeline_id TEXT, "
                "id TEXT, label TEXT, display_order INTEGER, metadata TEXT, "
                "created_at TEXT, updated_at TEXT, archived INTEGER DEFAULT 0, "
                "PRIMARY KEY (object_type, pipeline_id, id))"
            )
            epoch = "1970-01-01T00:00:00.000Z"  # HubSpot's default pipeline dates from 0
            c.execute(
                "INSERT INTO pipelines VALUES ('deals', ?, ?, 0, ?, ?, 0)",
                (schema.DEFAULT_PIPELINE_ID, schema.PIPELINE_LABEL, epoch, epoch),
            )
            for sid, label, prob, order, closed, _won in schema.DEAL_STAGES:
                meta = {"isClosed": "true" if closed else "false", "probability": prob}
                c.execute(
                    "INSERT INTO pipeline_stages VALUES ('deals', ?, ?, ?, ?, ?, ?, ?, 0)",
                    (
                        schema.DEFAULT_PIPELINE_ID,
                        sid,
                        label,
                        order,
                        orjson.dumps(meta).decode(),
                        epoch,
                        epoch,
                    ),
                )
            c.execute(
                "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT, "
                "first_name TEXT, last_name TEXT, user_id INTEGER, created_at TEXT, "
                "updated_at TEXT, archived INTEGER DEFAULT 0, teams TEXT)"
            )
            c.execute("COMMIT")

    def _create_indexes(self) -> None:
        c = self.conn
        for obj in OBJECTS:
            t = _table(obj)
            c.execute(f"CREATE INDEX IF NOT EXISTS ix_{obj}_updated ON {t}(updated_at, id)")
            c.execute(f"CREATE INDEX IF NOT EXISTS ix_{obj}_created ON {t}(created_at, id)")
            c.execute(f"CREATE INDEX IF NOT EXISTS ix_{obj}_archived ON {t}(id) WHERE archived = 1")
            for prop in LOOKUP_INDEXES[obj]:
                c.execute(
                    f"CREATE INDEX IF NOT EXISTS ix_{obj}_{prop} "
                    f"ON {t}({_col(prop)} COLLATE NOCASE)"
                )
        c.execute(
            "CREATE INDEX IF NOT EXISTS ix_history ON history(object_type, object_id, property)"
        )
        c.execute("CREATE INDEX IF NOT EXISTS ix_aliases_new ON aliases(object_type, new_id)")

    def _insert_prop(self, p: PropDef) -> None:
        self.conn.execute(
            f"INSERT INTO properties ({', '.join(_PROP_COLS)}) "
            f"VALUES ({', '.join('?' * len(_PROP_COLS))})",
            (
                p.object_type,
                p.name,
                p.label,
                p.type,
                p.field_type,
                p.group_name,
                p.description,
                orjson.dumps(p.options).decode(),
                p.display_order,
                int(p.hidden),
                int(p.has_unique_value),
                int(p.form_field),
                int(p.calculated),
                int(p.external_options),
                int(p.hubspot_defined),
                int(p.read_only_value),
                int(p.read_only_definition),
                int(p.archived),
                p.archived_at,
                p.created_at,
                p.updated_at,
                p.created_user_id,
            ),
        )

    def _load_definitions(self) -> None:
        with self.lock:
            self.props = {obj: {} for obj in OBJECTS}
            for row in self.conn.execute(f"SELECT {', '.join(_PROP_COLS)} FROM properties"):
                d = dict(zip(_PROP_COLS, row, strict=True))
                d["options"] = orjson.loads(d["options"] or "[]")
                for flag in (
                    "hidden",
                    "has_unique_value",
                    "form_field",
                    "calculated",
                    "external_options",
                    "hubspot_defined",
                    "read_only_value",
                    "read_only_definition",
                    "archived",
                ):
                    d[flag] = bool(d[flag])
                self.props[d["object_type"]][d["name"]] = PropDef(**d)
            for obj in OBJECTS:
                cols = self.conn.execute(f"PRAGMA table_info({_table(obj)})").fetchall()
                self.columns[obj] = {c[1][2:] for c in cols if c[1].startswith("p_")}

    def ensure_indexes(self) -> None:
        """Create the indexes reads and searches use (after a bulk seed: faster that way)."""
        with self.lock:
            self._create_indexes()

    # -- seeding -----------------------------------------------------------------------------

    def load_seed(self, org: Any) -> dict[str, int]:
        """Load the generator's HubSpot share (`DemoOrg`) into a new portal, in one transaction."""
        counts: dict[str, int] = {}
        frames: dict[str, Any] = getattr(org, "hubspot", {}) or {}
        with self.lock:
            c = self.conn
            # One big write: keep the rollback journal in memory, then go back to WAL.
            c.execute("PRAGMA journal_mode=MEMORY")
            c.execute("PRAGMA synchronous=OFF")
            c.execute("BEGIN")
            try:
                for obj in OBJECTS:
                    frame = frames.get(obj)
                    if frame is not None and len(frame):
                        counts[obj] = self._load_frame(obj, frame)
                owners = frames.get("owners")
                if owners is not None and len(owners):
                    counts["owners"] = self._load_owners(owners)
                assoc = getattr(org, "hubspot_associations", None)
                if assoc is not None and len(assoc):
                    counts["associations"] = self._load_associations(assoc)
                history = getattr(org, "hubspot_property_history", None)
                if history is not None and len(history):
                    counts["history"] = self._load_history(history)
                counts["aliases"] = self._load_aliases()
                self._create_indexes()
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            finally:
                c.execute("PRAGMA journal_mode=WAL")
                c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA analysis_limit=2000")
            c.execute("ANALYZE")
        return counts

    def _load_frame(self, obj: str, frame: Any) -> int:
        system = schema.SYSTEM_PROPERTIES[obj]
        props = [name for name in self.columns[obj] if name in frame.columns and name not in system]
        defs = self.props[obj]
        cols = [
            "id",
            "created_at",
            "updated_at",
            "archived",
            "archived_at",
            *(_col(p) for p in props),
        ]
        sql = f"INSERT INTO {_table(obj)} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        total = 0
        for start in range(0, len(frame), SEED_CHUNK):
            chunk = frame.iloc[start : start + SEED_CHUNK]
            ids = [int(v) for v in chunk["id"].tolist()]
            created = series_to_stored(chunk["createdAt"], "datetime")
            updated = series_to_stored(chunk["updatedAt"], "datetime")
            archived = [1 if bool(v) else 0 for v in chunk["archived"].fillna(False).tolist()]
            if "archivedAt" in chunk.columns:
                archived_at = series_to_stored(chunk["archivedAt"], "datetime")
            else:
                archived_at = [None] * len(chunk)
            columns = [series_to_stored(chunk[p], defs[p].type) for p in props]
            now = self.now()
            created = [v or now for v in created]
            updated = [u or cr for u, cr in zip(updated, created, strict=True)]
            archived_at = [
                (at or up) if arch else None
                for at, up, arch in zip(archived_at, updated, archived, strict=True)
            ]
            rows = zip(ids, created, updated, archived, archived_at, *columns, strict=True)
            self.conn.executemany(sql, rows)
            total += len(ids)
        return total

    def _load_owners(self, frame: Any) -> int:
        def col(*names: str) -> list[Any]:
            for n in names:
                if n in frame.columns:
                    return [None if _isnull(v) else v for v in frame[n].tolist()]
            return [None] * len(frame)

        ids = col("id", "ownerId")
        created = (
            series_to_stored(frame["createdAt"], "datetime")
            if "createdAt" in frame.columns
            else [self.now()] * len(frame)
        )
        updated = (
            series_to_stored(frame["updatedAt"], "datetime")
            if "updatedAt" in frame.columns
            else created
        )
        archived = [1 if v else 0 for v in col("archived")]
        user_ids = col("userId", "user_id")
        rows = [
            (
                int(i),
                e,
                f,
                last,
                int(u) if u is not None else int(i),
                cr or self.now(),
                up or cr or self.now(),
                a,
                None,
            )
            for i, e, f, last, u, cr, up, a in zip(
                ids,
                col("email"),
                col("firstName", "first_name"),
                col("lastName", "last_name"),
                user_ids,
                created,
                updated,
                archived,
                strict=True,
            )
        ]
        self.conn.executemany("INSERT OR REPLACE INTO owners VALUES (?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    def _load_associations(self, frame: Any) -> int:
        cols = ["from_type", "to_type", "from_id", "to_id", "type_id"]
        df = frame[cols].copy()
        for c in ("from_type", "to_type"):
            df[c] = _object_names(df[c])
        # In primary-key order: the B-tree is then built by appends, not random inserts.
        df = df.astype({"from_id": "int64", "to_id": "int64", "type_id": "int64"})
        # A "Primary" association is always an unlabelled one too (v4 answers both type ids).
        plain = {
            t: schema.DEFAULT_ASSOCIATION_TYPE[(i[0], i[1])]
            for t, i in schema.ASSOCIATION_TYPE_INFO.items()
            if i[2] == "Primary"
        }
        primary = df[df["type_id"].isin(list(plain))]
        if len(primary):
            df = pd.concat([df, primary.assign(type_id=primary["type_id"].map(plain))])
        df = df.sort_values(cols, kind="stable")
        rows = zip(
            *(df[c].tolist() for c in ("from_type", "from_id", "to_type", "to_id", "type_id")),
            strict=True,
        )
        cur = self.conn.executemany("INSERT OR IGNORE INTO assoc VALUES (?, ?, ?, ?, ?)", rows)
        return cur.rowcount

    def _load_aliases(self) -> int:
        """Ids merged away before the seed (listed in survivors' hs_merged_object_ids)."""
        rows = []
        for obj in OBJECTS:
            for rid, merged in self.conn.execute(
                f"SELECT id, {_col('hs_merged_object_ids')} FROM {_table(obj)} "
                f"WHERE {_col('hs_merged_object_ids')} IS NOT NULL"
            ):
                rows += [(obj, int(old), rid) for old in merged.split(";") if old.isdigit()]
        self.conn.executemany("INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)", rows)
        return len(rows)

    def _load_history(self, frame: Any) -> int:
        stamps = series_to_stored(frame["timestamp"], "datetime")
        values = [None if _isnull(v) else str(v) for v in frame["value"].tolist()]
        types = _object_names(frame["object_type"]).tolist()
        props = frame["property"].tolist()
        prop_types = [self.props.get(t, {}).get(p) for t, p in zip(types, props, strict=True)]
        values = [
            _normalise_seed_value(v, d.type if d else "string")
            for v, d in zip(values, prop_types, strict=True)
        ]
        sources = (
            frame["source_type"].tolist()
            if "source_type" in frame.columns
            else ["CRM_UI"] * len(frame)
        )
        rows = zip(
            types,
            frame["object_id"].astype("int64").tolist(),
            props,
            values,
            stamps,
            sources,
            (None for _ in stamps),
            strict=True,
        )
        cur = self.conn.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return cur.rowcount

    def insert_records(self, obj: str, rows: Iterable[dict[str, Any]]) -> int:
        """Bulk insert already-stored values (tests, fixtures): dicts of id/created_at/…/props."""
        n = 0
        with self.lock:
            self.conn.execute("BEGIN")
            for row in rows:
                props = {
                    k: v
                    for k, v in row.items()
                    if k not in ("id", "created_at", "updated_at", "archived", "archived_at")
                }
                cols = [
                    "created_at",
                    "updated_at",
                    "archived",
                    "archived_at",
                    *(_col(p) for p in props),
                ]
                vals = [
                    row.get("created_at") or self.now(),
                    row.get("updated_at") or row.get("created_at") or self.now(),
                    int(bool(row.get("archived"))),
                    row.get("archived_at"),
                    *props.values(),
                ]
                if "id" in row:
                    cols.insert(0, "id")
                    vals.insert(0, row["id"])
                self.conn.execute(
                    f"INSERT INTO {_table(obj)} ({', '.join(cols)}) "
                    f"VALUES ({', '.join('?' * len(cols))})",
                    vals,
                )
                n += 1
            self.conn.execute("COMMIT")
        return n

    # -- properties ----------------------------------------------------------------------------

    def prop(self, obj: str, name: str) -> PropDef | None:
        p = self.props[obj].get(name)
        return p if p is not None and not p.archived else None

    def list_properties(self, obj: str, archived: bool = False) -> list[PropDef]:
        return [p for p in self.props[obj].values() if p.archived == archived]

    def list_groups(self, obj: str, archived: bool = False) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT name, label, display_order, archived FROM property_groups "
            "WHERE object_type=? AND archived=? ORDER BY display_order, name",
            (obj, int(archived)),
        ).fetchall()
        return [
            {"name": n, "label": lab, "displayOrder": o, "archived": bool(a)}
            for n, lab, o, a in rows
        ]

    def get_group(self, obj: str, name: str) -> dict[str, Any] | None:
        row = self.conn.execute(
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
        with self.lock:
            existing = self.conn.execute(
                "SELECT archived FROM property_groups WHERE object_type=? AND name=?", (obj, name)
            ).fetchone()
            if existing is not None and not existing[0]:
                raise StoreError(
                    409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists."
                )
            self.conn.execute(
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
        with self.lock:
            self.conn.execute(
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
        with self.lock:
            self.conn.execute(
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
        options = _options(body.get("options"), ptype)
        with self.lock:
            current = self.props[obj].get(name)
            if current is not None and not current.archived:
                raise StoreError(
                    409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists."
                )
            if current is not None and current.hubspot_defined:
                raise StoreError(
                    409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists."
                )
            now = self.now()
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
            self.conn.execute("BEGIN")
            if current is not None:
                self.conn.execute(
                    "DELETE FROM properties WHERE object_type=? AND name=?", (obj, name)
                )
            self._insert_prop(definition)
            if name not in self.columns[obj]:
                self.conn.execute(f"ALTER TABLE {_table(obj)} ADD COLUMN {_col(name)} TEXT")
                self.columns[obj].add(name)
            if definition.has_unique_value:
                self.conn.execute(
                    f"CREATE INDEX IF NOT EXISTS ix_{obj}_{name} ON {_table(obj)}({_col(name)})"
                )
            self.conn.execute("COMMIT")
            self.props[obj][name] = definition
            self._select_cache.clear()
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
            p.options = _options(body["options"], p.type)
        for key, attr in (("label", "label"), ("description", "description")):
            if key in body and isinstance(body[key], str):
                setattr(p, attr, body[key])
        for key, attr in (("hidden", "hidden"), ("formField", "form_field")):
            if key in body:
                setattr(p, attr, bool(body[key]))
        if "displayOrder" in body and isinstance(body["displayOrder"], int):
            p.display_order = body["displayOrder"]
        p.updated_at = self.now()
        with self.lock:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM properties WHERE object_type=? AND name=?", (obj, name))
            self._insert_prop(p)
            self.conn.execute("COMMIT")
        return p

    def archive_property(self, obj: str, name: str) -> None:
        p = self.prop(obj, name)
        if p is None:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
        if p.hubspot_defined:
            raise StoreError(
                400, "VALIDATION_ERROR", f"Property {name} is HubSpot-defined and can't be archived"
            )
        p.archived, p.archived_at = True, self.now()
        with self.lock:
            self.conn.execute(
                "UPDATE properties SET archived=1, archived_at=? WHERE object_type=? AND name=?",
                (p.archived_at, obj, name),
            )
            self._select_cache.clear()

    # -- reading records -------------------------------------------------------------------------

    def _select(self, obj: str, names: tuple[str, ...]) -> tuple[str, list[int]]:
        """SELECT list for record rows with these properties; indices of datetime values."""
        key = (obj, names)
        cached = self._select_cache.get(key)
        if cached is not None:
            return cached
        system = schema.SYSTEM_PROPERTIES[obj]
        exprs = ["id", "created_at", "updated_at", "archived", "archived_at"]
        dt_idx: list[int] = []
        for i, name in enumerate(names):
            if name in system:
                src = system[name]
                exprs.append("CAST(id AS TEXT)" if src == "id" else src)
            else:
                exprs.append(_col(name))
            p = self.props[obj].get(name)
            if p is not None and p.type == "datetime":
                dt_idx.append(i)
        out = (", ".join(exprs), dt_idx)
        self._select_cache[key] = out
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

    def _rows_to_records(
        self, obj: str, rows: list[tuple[Any, ...]], names: tuple[str, ...], dt_idx: list[int]
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

    def list_page(
        self,
        obj: str,
        *,
        after: int,
        limit: int,
        properties: Sequence[str] | None,
        with_history: Sequence[str] | None,
        associations: Sequence[str] | None,
        archived: bool,
    ) -> Page:
        names = self.returned_properties(obj, properties)
        select, dt_idx = self._select(obj, names)
        where = "archived = 1" if archived else "archived = 0 AND merged_into IS NULL"
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {select} FROM {_table(obj)} WHERE {where} AND id > ? ORDER BY id LIMIT ?",
                (after, limit + 1),
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        records = self._rows_to_records(obj, rows, names, dt_idx)
        ids = [int(r["id"]) for r in records]
        if with_history:
            self._attach_history(obj, records, ids, with_history)
        if associations:
            self._attach_associations(obj, records, ids, associations)
        return Page(records, str(ids[-1]) if more and ids else None)

    def resolve_id(
        self, obj: str, raw: Any, id_property: str | None = None, archived: bool = False
    ) -> int | None:
        """The current record for an id (following merges) or a unique property value."""
        with self.lock:
            if id_property and id_property != "hs_object_id":
                p = self.prop(obj, id_property)
                if p is None or id_property in schema.SYSTEM_PROPERTIES[obj]:
                    return None
                row = self.conn.execute(
                    f"SELECT id FROM {_table(obj)} WHERE {_col(id_property)} = ? "
                    f"COLLATE NOCASE AND archived = ? AND merged_into IS NULL "
                    f"ORDER BY id LIMIT 1",
                    (str(raw), int(archived)),
                ).fetchone()
                return int(row[0]) if row else None
            try:
                rid = int(str(raw))
            except ValueError:
                return None
            row = self.conn.execute(
                f"SELECT id, archived, merged_into FROM {_table(obj)} WHERE id = ?", (rid,)
            ).fetchone()
            if row is None or row[2] is not None:  # merged away: the id lives on elsewhere
                alias = self.conn.execute(
                    "SELECT new_id FROM aliases WHERE object_type=? AND old_id=?", (obj, rid)
                ).fetchone()
                if alias is None or alias[0] == rid:
                    return None
                return self.resolve_id(obj, alias[0], None, archived)
            if bool(row[1]) != archived:
                return None
            return rid

    def get_records(
        self,
        obj: str,
        ids: Sequence[int],
        *,
        properties: Sequence[str] | None,
        with_history: Sequence[str] | None = None,
        associations: Sequence[str] | None = None,
    ) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        names = self.returned_properties(obj, properties)
        select, dt_idx = self._select(obj, names)
        unique = list(dict.fromkeys(ids))
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {select} FROM {_table(obj)} WHERE id IN ({', '.join('?' * len(unique))})",
                unique,
            ).fetchall()
        records = self._rows_to_records(obj, rows, names, dt_idx)
        rids = [int(r["id"]) for r in records]
        if with_history:
            self._attach_history(obj, records, rids, with_history)
        if associations:
            self._attach_associations(obj, records, rids, associations)
        return dict(zip(rids, records, strict=True))

    def _attach_history(
        self, obj: str, records: list[dict[str, Any]], ids: list[int], props: Sequence[str]
    ) -> None:
        known = [p for p in dict.fromkeys(props) if self.prop(obj, p) is not None]
        if not known or not ids:
            for r in records:
                r["propertiesWithHistory"] = {}
            return
        hist: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        stored = [p for p in known if p not in schema.SYSTEM_PROPERTIES[obj]]
        if stored:
            with self.lock:
                rows = self.conn.execute(
                    "SELECT object_id, property, value, timestamp, source_type, source_id "
                    f"FROM history WHERE object_type=? AND object_id IN "
                    f"({', '.join('?' * len(ids))}) AND property IN "
                    f"({', '.join('?' * len(stored))}) ORDER BY timestamp DESC, rowid DESC",
                    (obj, *ids, *stored),
                ).fetchall()
            for oid, prop, value, ts, source, source_id in rows:
                entry: dict[str, Any] = {
                    "value": value if value is not None else "",
                    "timestamp": wire_datetime(ts),
                    "sourceType": source or "CRM_UI",
                }
                if source_id:
                    entry["sourceId"] = source_id
                hist[(oid, prop)].append(entry)
        current = self.get_records(obj, ids, properties=known) if known else {}
        for r in records:
            rid = int(r["id"])
            out: dict[str, list[dict[str, Any]]] = {}
            cur = current.get(rid, {}).get("properties", {})
            for p in known:
                versions = hist.get((rid, p))
                if not versions and cur.get(p) is not None:
                    if p == schema.LAST_MODIFIED_PROPERTY[obj]:
                        # HubSpot sets it at the moment it names, on every change.
                        versions = [
                            {"value": cur[p], "timestamp": cur[p], "sourceType": "CALCULATED"}
                        ]
                    else:
                        # Seeded values without recorded history: one version, set at creation.
                        versions = [
                            {"value": cur[p], "timestamp": r["createdAt"], "sourceType": "IMPORT"}
                        ]
                out[p] = versions or []
            r["propertiesWithHistory"] = out

    def _attach_associations(
        self, obj: str, records: list[dict[str, Any]], ids: list[int], to_types: Sequence[str]
    ) -> None:
        if not ids:
            return
        for to_type in dict.fromkeys(to_types):
            if to_type not in OBJECTS:
                continue
            with self.lock:
                rows = self.conn.execute(
                    f"SELECT a.from_id, a.to_id, a.type_id FROM assoc a "
                    f"JOIN {_table(to_type)} t ON t.id = a.to_id AND t.archived = 0 "
                    f"AND t.merged_into IS NULL "
                    f"WHERE a.from_type=? AND a.to_type=? AND a.from_id IN "
                    f"({', '.join('?' * len(ids))}) ORDER BY a.from_id, a.to_id, a.type_id",
                    (obj, to_type, *ids),
                ).fetchall()
            by_from: dict[int, list[dict[str, str]]] = defaultdict(list)
            for from_id, to_id, type_id in rows:
                if type_id in schema.ASSOCIATION_TYPE_INFO:
                    name = schema.v3_association_type_name(type_id)
                else:
                    name = f"{schema.SINGULAR[obj]}_to_{schema.SINGULAR[to_type]}"
                by_from[from_id].append({"id": str(to_id), "type": name})
            for r in records:
                found = by_from.get(int(r["id"]))
                if found:
                    r.setdefault("associations", {})[to_type] = {"results": found}

    def current_values(self, obj: str, rid: int, names: Iterable[str]) -> dict[str, str | None]:
        cols = [n for n in names if n in self.columns[obj]]
        if not cols:
            return {}
        with self.lock:
            row = self.conn.execute(
                f"SELECT {', '.join(_col(c) for c in cols)} FROM {_table(obj)} WHERE id=?", (rid,)
            ).fetchone()
        return dict(zip(cols, row, strict=True)) if row else {}

    # -- writing records ---------------------------------------------------------------------

    def validate(self, obj: str, properties: Any, *, creating: bool) -> dict[str, str | None]:
        """Written properties → stored values; PropertyErrors lists what HubSpot would refuse."""
        if not isinstance(properties, dict):
            raise StoreError(400, "VALIDATION_ERROR", "`properties` must be an object")
        problems: list[tuple[str, str, str]] = []
        out: dict[str, str | None] = {}
        for name, raw in properties.items():
            p = self.prop(obj, name)
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
            raise PropertyErrors(self.portal_id, problems)
        return out

    def _check_stage(
        self, values: dict[str, str | None], problems: list[tuple[str, str, str]]
    ) -> None:
        stage = values.get("dealstage")
        if stage is None:
            return
        pipeline = values.get("pipeline") or schema.DEFAULT_PIPELINE_ID
        row = self.conn.execute(
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

    def _derived(
        self, obj: str, values: dict[str, str | None], rid: int | None
    ) -> dict[str, str | None]:
        """Properties HubSpot recalculates from a write (deal stage → probability, closed)."""
        if obj != "deals" or "dealstage" not in values:
            return {}
        stage = values["dealstage"]
        pipeline = values.get("pipeline")
        if pipeline is None and rid is not None:
            pipeline = self.current_values(obj, rid, ["pipeline"]).get("pipeline")
        row = self.conn.execute(
            "SELECT metadata FROM pipeline_stages WHERE object_type='deals' AND pipeline_id=? "
            "AND id=?",
            (pipeline or schema.DEFAULT_PIPELINE_ID, stage),
        ).fetchone()
        if row is None:
            return {}
        meta = orjson.loads(row[0])
        prob = meta.get("probability", "0")
        closed = meta.get("isClosed") == "true"
        won = closed and float(prob) >= 1.0
        out: dict[str, str | None] = {
            "hs_deal_stage_probability": prob,
            "hs_is_closed": "true" if closed else "false",
            "hs_is_closed_won": "true" if won else "false",
        }
        if values.get("pipeline") is None and rid is None:
            out["pipeline"] = schema.DEFAULT_PIPELINE_ID
        return {k: v for k, v in out.items() if k in self.columns[obj]}

    def check_unique(
        self, obj: str, values: dict[str, str | None], exclude_id: int | None = None
    ) -> None:
        for name, value in values.items():
            if value is None:
                continue
            p = self.props[obj].get(name)
            if not (name == "email" and obj == "contacts") and not (p and p.has_unique_value):
                continue
            row = self.conn.execute(
                f"SELECT id FROM {_table(obj)} WHERE {_col(name)} = ? COLLATE NOCASE "
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

    def create(
        self,
        obj: str,
        values: dict[str, str | None],
        associations: Sequence[tuple[str, int, int]] = (),
    ) -> int:
        """Insert one record (values already validated) and its associations; return its id."""
        now = self.now()
        values = {**values, **self._derived(obj, values, None)}
        created = values.pop("createdate", None) or now
        cols = ["created_at", "updated_at", *(_col(k) for k in values)]
        with self.lock:
            cur = self.conn.execute(
                f"INSERT INTO {_table(obj)} ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' * len(cols))})",
                (created, now, *values.values()),
            )
            rid = int(cur.lastrowid or 0)
            self._history(obj, rid, {k: v for k, v in values.items() if v is not None}, now)
            for to_type, to_id, type_id in associations:
                self.associate(obj, rid, to_type, to_id, type_id)
        return rid

    def update(self, obj: str, rid: int, values: dict[str, str | None]) -> None:
        now = self.now()
        values = {**values, **self._derived(obj, values, rid)}
        values.pop("createdate", None)
        with self.lock:
            old = self.current_values(obj, rid, values)
            changed = {k: v for k, v in values.items() if old.get(k) != v}
            sets = ", ".join(["updated_at = ?", *(f"{_col(k)} = ?" for k in values)])
            self.conn.execute(
                f"UPDATE {_table(obj)} SET {sets} WHERE id = ?", (now, *values.values(), rid)
            )
            self._history(obj, rid, changed, now)

    def archive(self, obj: str, rid: int) -> None:
        now = self.now()
        with self.lock:
            self.conn.execute(
                f"UPDATE {_table(obj)} SET archived = 1, archived_at = ?, updated_at = ? "
                f"WHERE id = ? AND archived = 0",
                (now, now, rid),
            )

    def _history(self, obj: str, rid: int, values: dict[str, str | None], now: str) -> None:
        if values:
            self.conn.executemany(
                "INSERT INTO history VALUES (?, ?, ?, ?, ?, 'INTEGRATION', ?)",
                [(obj, rid, k, v, now, "sandbox-private-app") for k, v in values.items()],
            )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several writes as one (a batch): all or nothing, one commit."""
        with self.lock:
            if self.conn.in_transaction:  # already inside one: join it
                yield
                return
            self.conn.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # -- associations ------------------------------------------------------------------------

    def associate(self, obj: str, rid: int, to_type: str, to_id: int, type_id: int) -> None:
        info = schema.ASSOCIATION_TYPE_INFO.get(type_id)
        rows = [(obj, rid, to_type, to_id, type_id)]
        if info is not None:
            rows.append((to_type, to_id, obj, rid, info[3]))
            if info[2] == "Primary":  # a primary association is also an unlabelled one
                plain = schema.DEFAULT_ASSOCIATION_TYPE.get((obj, to_type))
                if plain is not None:
                    rows.append((obj, rid, to_type, to_id, plain))
                    rows.append((to_type, to_id, obj, rid, schema.ASSOCIATION_TYPE_INFO[plain][3]))
        with self.lock:
            self.conn.executemany("INSERT OR IGNORE INTO assoc VALUES (?, ?, ?, ?, ?)", rows)
            self._recount(obj, rid, to_type, to_id)

    def dissociate(
        self, obj: str, rid: int, to_type: str, to_id: int, type_ids: Sequence[int] | None = None
    ) -> None:
        with self.lock:
            if type_ids is None:
                self.conn.execute(
                    "DELETE FROM assoc WHERE (from_type=? AND from_id=? AND to_type=? "
                    "AND to_id=?) OR (from_type=? AND from_id=? AND to_type=? AND to_id=?)",
                    (obj, rid, to_type, to_id, to_type, to_id, obj, rid),
                )
            else:
                for t in type_ids:
                    inverse = schema.ASSOCIATION_TYPE_INFO.get(t, (None, None, None, t))[3]
                    self.conn.execute(
                        "DELETE FROM assoc WHERE from_type=? AND from_id=? AND to_type=? "
                        "AND to_id=? AND type_id=?",
                        (obj, rid, to_type, to_id, t),
                    )
                    self.conn.execute(
                        "DELETE FROM assoc WHERE from_type=? AND from_id=? AND to_type=? "
                        "AND to_id=? AND type_id=?",
                        (to_type, to_id, obj, rid, inverse),
                    )
            self._recount(obj, rid, to_type, to_id)

    def _recount(self, obj: str, rid: int, to_type: str, to_id: int) -> None:
        for company_side, other, cid in ((obj, to_type, rid), (to_type, obj, to_id)):
            if company_side != "companies" or other not in ("contacts", "deals"):
                continue
            column = f"num_associated_{other}"
            if column not in self.columns["companies"]:
                continue
            self.conn.execute(
                f"UPDATE obj_companies SET {_col(column)} = (SELECT CAST(COUNT(DISTINCT to_id) "
                f"AS TEXT) FROM assoc WHERE from_type='companies' AND from_id=? AND to_type=?) "
                f"WHERE id = ?",
                (cid, other, cid),
            )

    def association_page(
        self, obj: str, rid: int, to_type: str, after: int, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """v4: the records `rid` is associated with (grouped by record), `limit` a page."""
        with self.lock:
            targets = [
                r[0]
                for r in self.conn.execute(
                    f"SELECT DISTINCT a.to_id FROM assoc a JOIN {_table(to_type)} t "
                    f"ON t.id = a.to_id AND t.archived = 0 AND t.merged_into IS NULL "
                    f"WHERE a.from_type=? AND a.to_type=? AND a.from_id=? AND a.to_id > ? "
                    f"ORDER BY a.to_id LIMIT ?",
                    (obj, to_type, rid, after, limit + 1),
                )
            ]
            more = len(targets) > limit
            targets = targets[:limit]
            types: dict[int, list[int]] = defaultdict(list)
            if targets:
                for to_id, type_id in self.conn.execute(
                    f"SELECT to_id, type_id FROM assoc WHERE from_type=? AND to_type=? "
                    f"AND from_id=? AND to_id IN ({', '.join('?' * len(targets))}) "
                    f"ORDER BY type_id",
                    (obj, to_type, rid, *targets),
                ):
                    types[to_id].append(type_id)
        results = [
            {"toObjectId": str(t), "associationTypes": [_v4_type(tid) for tid in types[t]]}
            for t in targets
        ]
        return results, (targets[-1] if more else None)

    # -- search --------------------------------------------------------------------------------

    def search(self, obj: str, body: dict[str, Any]) -> Page:
        limit = body.get("limit", 10)
        if limit is None:
            limit = 10
        if isinstance(limit, str) and limit.strip().isdigit():  # JSON "10" binds as 10
            limit = int(limit)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise StoreError(400, "VALIDATION_ERROR", "limit must be a non-negative integer")
        if limit > 200:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Invalid limit {limit}: the search API returns at most 200 results a page",
            )
        after_raw = body.get("after") or 0
        try:
            after = int(str(after_raw))
        except ValueError as exc:
            raise StoreError(400, "VALIDATION_ERROR", f"Invalid after value {after_raw!r}") from exc
        if after < 0:
            raise StoreError(400, "VALIDATION_ERROR", f"Invalid after value {after_raw!r}")
        if after >= SEARCH_MAX_RESULTS:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"There was a problem with the request: the search API returns at most "
                f"{SEARCH_MAX_RESULTS} results for one query (after={after}); narrow the "
                "filters to page further",
            )
        where, params = self._where(obj, body)
        order = self._order(obj, body.get("sorts"))
        names = self.returned_properties(obj, _str_list(body.get("properties"), "properties"))
        select, dt_idx = self._select(obj, names)
        take = min(limit, SEARCH_MAX_RESULTS - after)
        with self.lock:
            total = self.conn.execute(
                f"SELECT COUNT(*) FROM {_table(obj)} WHERE {where}", params
            ).fetchone()[0]
            rows = (
                self.conn.execute(
                    f"SELECT {select} FROM {_table(obj)} WHERE {where} ORDER BY {order} "
                    f"LIMIT ? OFFSET ?",
                    (*params, take, after),
                ).fetchall()
                if take
                else []
            )
        records = self._rows_to_records(obj, rows, names, dt_idx)
        nxt = after + len(records)
        return Page(records, str(nxt) if records and nxt < total else None, total)

    def _prop_expr(self, obj: str, name: Any) -> tuple[str, PropDef]:
        if not isinstance(name, str):
            raise StoreError(400, "VALIDATION_ERROR", "propertyName must be a string")
        p = self.prop(obj, name)
        if p is None:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"There was a problem with the request: property {name!r} does not exist on {obj}",
                errors=[
                    {
                        "message": f"Unable to find property {name}",
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": [name]},
                    }
                ],
            )
        system = schema.SYSTEM_PROPERTIES[obj]
        if name in system:
            return system[name], p
        return _col(name), p

    def _where(self, obj: str, body: dict[str, Any]) -> tuple[str, list[Any]]:
        clauses = ["archived = 0", "merged_into IS NULL"]
        params: list[Any] = []
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list):
            raise StoreError(400, "VALIDATION_ERROR", "filterGroups must be a list")
        if len(groups) > 5:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Too many filter groups ({len(groups)}): at most 5 are allowed",
            )
        n_filters = 0
        ors = []
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list):
                raise StoreError(400, "VALIDATION_ERROR", "each filter group needs `filters`")
            if len(filters) > 6:
                raise StoreError(
                    400,
                    "VALIDATION_ERROR",
                    f"Too many filters in a group ({len(filters)}): at most 6",
                )
            n_filters += len(filters)
            ands = []
            for f in filters:
                sql, p = self._filter(obj, f)
                ands.append(sql)
                params.extend(p)
            if ands:
                ors.append("(" + " AND ".join(ands) + ")")
        if n_filters > 18:
            raise StoreError(
                400, "VALIDATION_ERROR", f"Too many filters ({n_filters}): at most 18 in all"
            )
        if ors:
            clauses.append("(" + " OR ".join(ors) + ")")
        # Top-level `filters` (outside the published schema, but accepted by HubSpot and sent by
        # connectors): every one must hold, on top of the filter groups.
        top = body.get("filters")
        if top is not None:
            if not isinstance(top, list):
                raise StoreError(400, "VALIDATION_ERROR", "filters must be a list of filters")
            for f in top:
                sql, p = self._filter(obj, f)
                clauses.append(sql)
                params.extend(p)
        query = body.get("query")
        if query:
            cols = [_col(c) for c in schema.SEARCHABLE_PROPERTIES[obj] if c in self.columns[obj]]
            for term in str(query).split():
                like = (
                    "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                )
                clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in cols) + ")")
                params.extend([like] * len(cols))
        return " AND ".join(clauses), params

    def _filter(self, obj: str, f: Any) -> tuple[str, list[Any]]:
        if not isinstance(f, dict):
            raise StoreError(400, "VALIDATION_ERROR", "a filter must be an object")
        op = f.get("operator")
        if op not in FILTER_OPERATORS:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"Invalid input JSON on line 1: Cannot deserialize value of type "
                f"`com.hubspot.inbounddb.publicobject.core.v2.search.FilterOperator` from "
                f"String {orjson.dumps(op).decode()}: not one of the values accepted for Enum "
                f"class: [{', '.join(FILTER_OPERATORS)}]",
            )
        expr, p = self._prop_expr(obj, f.get("propertyName"))
        kind = p.type
        if op == "HAS_PROPERTY":
            return f"({expr} IS NOT NULL AND {expr} != '')", []
        if op == "NOT_HAS_PROPERTY":
            return f"({expr} IS NULL OR {expr} = '')", []

        def val(raw: Any) -> Any:
            if raw is None or isinstance(raw, dict | list):
                raise StoreError(
                    400, "VALIDATION_ERROR", f"Filter on {p.name} with operator {op} needs a value"
                )
            try:
                return to_comparable(kind, raw)
            except InvalidValue as exc:
                raise StoreError(
                    400, "VALIDATION_ERROR", f"Invalid value for {p.name}: {exc.message}"
                ) from exc

        if kind == "number":
            lhs = f"CAST({expr} AS REAL)" if expr != "id" else "id"
        elif kind in ("datetime", "date"):
            lhs = expr
        else:
            lhs = f"lower({expr})"

        def rhs(raw: Any) -> Any:
            v = val(raw)
            return v.lower() if isinstance(v, str) and lhs.startswith("lower(") else v

        if op in ("EQ", "NEQ", "LT", "LTE", "GT", "GTE"):
            v = rhs(f.get("value"))
            sql_op = {"EQ": "=", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}[op]
            if op == "NEQ":
                return f"({expr} IS NULL OR {lhs} != ?)", [v]
            return f"({expr} IS NOT NULL AND {lhs} {sql_op} ?)", [v]
        if op == "BETWEEN":
            low, high = rhs(f.get("value")), rhs(f.get("highValue"))
            return f"({expr} IS NOT NULL AND {lhs} BETWEEN ? AND ?)", [low, high]
        if op in ("IN", "NOT_IN"):
            values = f.get("values")
            if not isinstance(values, list) or not values:
                raise StoreError(
                    400, "VALIDATION_ERROR", f"Filter on {p.name} with operator {op} needs `values`"
                )
            vs = [rhs(v) for v in values]
            marks = ", ".join("?" * len(vs))
            if op == "IN":
                return f"({expr} IS NOT NULL AND {lhs} IN ({marks}))", vs
            return f"({expr} IS NULL OR {lhs} NOT IN ({marks}))", vs
        # CONTAINS_TOKEN / NOT_CONTAINS_TOKEN
        token = str(f.get("value") if f.get("value") is not None else "")
        if not token:
            raise StoreError(
                400, "VALIDATION_ERROR", f"Filter on {p.name} with operator {op} needs a value"
            )
        if op == "CONTAINS_TOKEN":
            return f"hs_contains_token({expr}, ?)", [token]
        return f"NOT hs_contains_token({expr}, ?)", [token]

    def _order(self, obj: str, sorts: Any) -> str:
        if not sorts:
            return "id ASC"
        if not isinstance(sorts, list):
            raise StoreError(400, "VALIDATION_ERROR", "sorts must be a list")
        parts = []
        for s in sorts:
            name: Any
            if isinstance(s, str):
                desc = s.startswith("-")
                name = s.lstrip("-+")
            elif isinstance(s, dict):
                name = s.get("propertyName")
                direction = str(s.get("direction", "ASCENDING")).upper()
                if direction not in ("ASCENDING", "DESCENDING"):
                    raise StoreError(
                        400, "VALIDATION_ERROR", f"Invalid sort direction {direction!r}"
                    )
                desc = direction == "DESCENDING"
            else:
                raise StoreError(400, "VALIDATION_ERROR", "a sort is a string or an object")
            expr, p = self._prop_expr(obj, name)
            if p.type == "number" and expr != "id":
                expr = f"CAST({expr} AS REAL)"
            # HubSpot puts records without a value last, whichever the direction.
            parts.append(f"({expr} IS NULL) ASC, {expr} {'DESC' if desc else 'ASC'}")
        return ", ".join([*parts, "id ASC"])

    # -- merges --------------------------------------------------------------------------------

    def merge(self, obj: str, primary_raw: Any, other_raw: Any) -> int:
        """Merge two records into a new one (HubSpot's merge); return the new record's id."""
        primary = self.resolve_id(obj, primary_raw)
        other = self.resolve_id(obj, other_raw)
        if primary is None or other is None:
            missing = primary_raw if primary is None else other_raw
            raise StoreError(
                404,
                "OBJECT_NOT_FOUND",
                f"Object not found. objectId are usually numeric. ({missing})",
            )
        if primary == other:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                "Can't merge a record into itself: primaryObjectId and "
                "objectIdToMerge name the same record",
            )
        now = self.now()
        cols = sorted(self.columns[obj])
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                p_row = self.conn.execute(
                    f"SELECT created_at, {', '.join(_col(c) for c in cols)} "
                    f"FROM {_table(obj)} WHERE id=?",
                    (primary,),
                ).fetchone()
                o_row = self.conn.execute(
                    f"SELECT created_at, {', '.join(_col(c) for c in cols)} "
                    f"FROM {_table(obj)} WHERE id=?",
                    (other,),
                ).fetchone()
                values = {
                    c: (pv if pv is not None else ov)
                    for c, pv, ov in zip(cols, p_row[1:], o_row[1:], strict=True)
                }
                merged_ids: list[str] = []
                for row_ids in (p_row, o_row):
                    prev = dict(zip(cols, row_ids[1:], strict=True)).get("hs_merged_object_ids")
                    if prev:
                        merged_ids.extend(x for x in prev.split(";") if x)
                merged_ids += [str(primary), str(other)]
                values["hs_merged_object_ids"] = ";".join(dict.fromkeys(merged_ids))
                created = min(p_row[0], o_row[0])
                ins_cols = ["created_at", "updated_at", *(_col(c) for c in values)]
                cur = self.conn.execute(
                    f"INSERT INTO {_table(obj)} ({', '.join(ins_cols)}) "
                    f"VALUES ({', '.join('?' * len(ins_cols))})",
                    (created, now, *values.values()),
                )
                new_id = int(cur.lastrowid or 0)
                self.conn.execute(
                    f"UPDATE {_table(obj)} SET merged_into=?, updated_at=? WHERE id IN (?, ?)",
                    (new_id, now, primary, other),
                )
                self.conn.execute(
                    "UPDATE aliases SET new_id=? WHERE object_type=? AND new_id IN (?, ?)",
                    (new_id, obj, primary, other),
                )
                self.conn.executemany(
                    "INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)",
                    [(obj, primary, new_id), (obj, other, new_id)],
                )
                self._move_associations(obj, primary, other, new_id)
                self.conn.execute(
                    "INSERT INTO history SELECT object_type, ?, property, value, timestamp, "
                    "source_type, source_id FROM history WHERE object_type=? "
                    "AND object_id IN (?, ?)",
                    (new_id, obj, primary, other),
                )
                self._history(
                    obj, new_id, {"hs_merged_object_ids": values["hs_merged_object_ids"]}, now
                )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return new_id

    def _move_associations(self, obj: str, primary: int, other: int, new_id: int) -> None:
        c = self.conn
        rows = c.execute(
            "SELECT from_id, to_type, to_id, type_id FROM assoc WHERE from_type=? "
            "AND from_id IN (?, ?)",
            (obj, primary, other),
        ).fetchall()
        primary_labels = {
            (to_type, type_id)
            for fid, to_type, _to, type_id in rows
            if fid == primary and schema.ASSOCIATION_TYPE_INFO.get(type_id, ("", "", None))[2]
        }
        keep = []
        for fid, to_type, to_id, type_id in rows:
            info = schema.ASSOCIATION_TYPE_INFO.get(type_id)
            labelled = info is not None and info[2] is not None
            # The primary's "Primary" associations win; the other's extra ones are dropped.
            if labelled and fid == other and (to_type, type_id) in primary_labels:
                continue
            keep.append((to_type, to_id, type_id))
        c.execute(
            "DELETE FROM assoc WHERE from_type=? AND from_id IN (?, ?)", (obj, primary, other)
        )
        c.execute("DELETE FROM assoc WHERE to_type=? AND to_id IN (?, ?)", (obj, primary, other))
        for to_type, to_id, type_id in keep:
            info = schema.ASSOCIATION_TYPE_INFO.get(type_id)
            inverse = info[3] if info else type_id
            c.execute(
                "INSERT OR IGNORE INTO assoc VALUES (?, ?, ?, ?, ?)",
                (obj, new_id, to_type, to_id, type_id),
            )
            c.execute(
                "INSERT OR IGNORE INTO assoc VALUES (?, ?, ?, ?, ?)",
                (to_type, to_id, obj, new_id, inverse),
            )
        for to_type, to_id, _t in keep:
            self._recount(obj, new_id, to_type, to_id)
        if obj == "companies":
            self._recount("companies", new_id, "contacts", -1)
            self._recount("companies", new_id, "deals", -1)

    # -- pipelines and owners --------------------------------------------------------------------

    def pipelines(self, obj: str, pipeline_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            sql = (
                "SELECT id, label, display_order, created_at, updated_at, archived "
                "FROM pipelines WHERE object_type=? AND archived=0"
            )
            args: tuple[Any, ...] = (obj,)
            if pipeline_id is not None:
                sql += " AND id=?"
                args = (obj, pipeline_id)
            rows = self.conn.execute(sql + " ORDER BY display_order, id", args).fetchall()
            out = []
            for pid, label, order, created, updated, archived in rows:
                stages = self.stages(obj, pid)
                out.append(
                    {
                        "label": label,
                        "displayOrder": order,
                        "id": pid,
                        "stages": stages,
                        "createdAt": wire_datetime(created),
                        "updatedAt": wire_datetime(updated),
                        "archived": bool(archived),
                    }
                )
        return out

    def stages(self, obj: str, pipeline_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT id, label, display_order, metadata, created_at, updated_at, archived "
            "FROM pipeline_stages WHERE object_type=? AND pipeline_id=? AND archived=0 "
            "ORDER BY display_order, id",
            (obj, pipeline_id),
        ).fetchall()
        return [
            {
                "label": label,
                "displayOrder": order,
                "metadata": orjson.loads(meta),
                "id": sid,
                "createdAt": wire_datetime(created),
                "updatedAt": wire_datetime(updated),
                "archived": bool(archived),
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for sid, label, order, meta, created, updated, archived in rows
        ]

    def owners(self, *, after: int, limit: int, email: str | None, archived: bool) -> Page:
        sql = (
            "SELECT id, email, first_name, last_name, user_id, created_at, updated_at, "
            "archived FROM owners WHERE archived=? AND id > ?"
        )
        args: list[Any] = [int(archived), after]
        if email:
            sql += " AND email = ? COLLATE NOCASE"
            args.append(email)
        with self.lock:
            rows = self.conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return Page([_owner_json(r) for r in rows], str(rows[-1][0]) if more else None)

    def owner(self, owner_id: int, by_user_id: bool, archived: bool) -> dict[str, Any] | None:
        col = "user_id" if by_user_id else "id"
        with self.lock:
            row = self.conn.execute(
                "SELECT id, email, first_name, last_name, user_id, created_at, updated_at, "
                f"archived FROM owners WHERE {col}=? AND archived=?",
                (owner_id, int(archived)),
            ).fetchone()
        return _owner_json(row) if row else None

    def counts(self) -> dict[str, dict[str, int]]:
        out = {}
        with self.lock:
            for obj in OBJECTS:
                live, archived = self.conn.execute(
                    f"SELECT SUM(archived = 0 AND merged_into IS NULL), SUM(archived = 1) "
                    f"FROM {_table(obj)}"
                ).fetchone()
                out[obj] = {"live": int(live or 0), "archived": int(archived or 0)}
        return out

    def close(self) -> None:
        with self.lock:
            self.conn.close()


FILTER_OPERATORS = (
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
)
_TOKEN_SPLIT = re.compile(r"[\s;,.@/\-_:]+")


def _contains_token(value: str | None, token: str) -> bool:
    if value is None:
        return False
    token = token.lower()
    text = value.lower()
    if "*" in token:
        pattern = "^" + ".*".join(re.escape(t) for t in token.split("*")) + "$"
        return re.search(pattern, text) is not None or any(
            re.search(pattern, t) for t in _TOKEN_SPLIT.split(text)
        )
    return token == text or token in _TOKEN_SPLIT.split(text)


def _v4_type(type_id: int) -> dict[str, Any]:
    info = schema.ASSOCIATION_TYPE_INFO.get(type_id)
    if info is None:
        return {"category": "USER_DEFINED", "typeId": type_id, "label": None}
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": info[2]}


def _owner_json(row: Sequence[Any]) -> dict[str, Any]:
    oid, email, first, last, user_id, created, updated, archived = row
    return {
        "id": str(oid),
        "email": email,
        "type": "PERSON",
        "firstName": first or "",
        "lastName": last or "",
        "userId": user_id,
        "userIdIncludingInactive": user_id,
        "createdAt": wire_datetime(created),
        "updatedAt": wire_datetime(updated),
        "archived": bool(archived),
    }


def _options(raw: Any, ptype: str) -> list[dict[str, Any]]:
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


def _str_list(raw: Any, what: str) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise StoreError(400, "VALIDATION_ERROR", f"{what} must be a list of strings")
    return raw


def _object_name(raw: Any) -> str:
    text = str(raw)
    if text in schema.OBJECT_TYPES_BY_ID:
        return schema.OBJECT_TYPES_BY_ID[text]
    for plural, singular in schema.SINGULAR.items():
        if text in (plural, singular):
            return plural
    return text


def _object_names(series: Any) -> Any:
    """A column of object types (any spelling) → plural names, mapped once per distinct value."""
    text = series.astype(str)
    return text.map({v: _object_name(v) for v in text.unique()})


def _isnull(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN / NaT
    except (TypeError, ValueError):
        return False


def _normalise_seed_value(value: str | None, ptype: str) -> str | None:
    if value is None or value == "":
        return value
    try:
        return to_stored(ptype, value, None)
    except InvalidValue:
        return value
