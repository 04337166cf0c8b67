"""The portal's SQLite file: connection, lock, clock, schema and indexes.

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
    pipelines / pipeline_stages                    deal and ticket pipelines and their stages
    owners                                         the portal's users

`hs_object_id`, `createdate` and `hs_lastmodifieddate` (`lastmodifieddate` on contacts) are not
columns: they are the record's id, created_at and updated_at, so they can never disagree with
`id`, `createdAt` and `updatedAt`. Every write sets updated_at from the store's clock.

All methods are synchronous and serialised by one lock; the ASGI app calls them from its event
loop (each call is a few indexed queries), tests may call them from another thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from acm_sync.sandbox.hubspot import schema, stagetiming
from acm_sync.sandbox.hubspot.propdefs import (
    LOOKUP_INDEXES,
    OBJECTS,
    READ_ONLY,
    PropDef,
    column_name,
    insert_prop,
    table_name,
)
from acm_sync.sandbox.hubspot.values import iso_ms


class PortalDb:
    """The SQLite file of one portal; every read and write holds `lock`."""

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
        if self.is_new:
            self._create_schema()
        row = self.conn.execute("SELECT value FROM meta WHERE key='portal_id'").fetchone()
        self.portal_id = int(row[0])

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
                    f"{column_name(p.name)} TEXT"
                    for p in schema.DEFAULT_PROPERTIES[obj]
                    if p.name not in schema.SYSTEM_PROPERTIES[obj]
                )
                c.execute(
                    f"CREATE TABLE {table_name(obj)} (id INTEGER PRIMARY KEY, "
                    "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
                    "archived INTEGER NOT NULL DEFAULT 0, archived_at TEXT, "
                    f"merged_into INTEGER, {cols})"
                )
                for order, (gname, glabel, gorder) in enumerate(schema.PROPERTY_GROUPS[obj]):
                    c.execute(
                        "INSERT INTO property_groups VALUES (?, ?, ?, ?, 0)",
                        (obj, gname, glabel, gorder if gorder is not None else order),
                    )
                # Stage calculated properties are defined but never stored (stagetiming.py).
                computed = stagetiming.stage_timing_properties() if obj == "deals" else []
                for order, p in enumerate([*schema.DEFAULT_PROPERTIES[obj], *computed]):
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
                    insert_prop(self.conn, definition)
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
            _seed_pipeline(
                c,
                "deals",
                (schema.DEFAULT_PIPELINE_ID, schema.PIPELINE_LABEL),
                epoch,
                [
                    (
                        sid,
                        label,
                        order,
                        {"isClosed": "true" if closed else "false", "probability": prob},
                    )
                    for sid, label, prob, order, closed, _won in schema.DEAL_STAGES
                ],
            )
            # the default ticket pipeline (schema.TICKET_PIPELINE), dated from the portal
            _seed_pipeline(
                c,
                "tickets",
                schema.TICKET_PIPELINE,
                now,
                [
                    (sid, label, order, {"ticketState": state})
                    for order, (sid, label, state) in enumerate(schema.TICKET_STAGES)
                ],
            )
            c.execute(
                "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT, "
                "first_name TEXT, last_name TEXT, user_id INTEGER, created_at TEXT, "
                "updated_at TEXT, archived INTEGER DEFAULT 0, teams TEXT)"
            )
            c.execute("COMMIT")

    def create_indexes(self) -> None:
        c = self.conn
        for obj in OBJECTS:
            t = table_name(obj)
            c.execute(f"CREATE INDEX IF NOT EXISTS ix_{obj}_updated ON {t}(updated_at, id)")
            c.execute(f"CREATE INDEX IF NOT EXISTS ix_{obj}_created ON {t}(created_at, id)")
            c.execute(f"CREATE INDEX IF NOT EXISTS ix_{obj}_archived ON {t}(id) WHERE archived = 1")
            for prop in LOOKUP_INDEXES[obj]:
                c.execute(
                    f"CREATE INDEX IF NOT EXISTS ix_{obj}_{prop} "
                    f"ON {t}({column_name(prop)} COLLATE NOCASE)"
                )
        c.execute(
            "CREATE INDEX IF NOT EXISTS ix_history ON history(object_type, object_id, property)"
        )
        c.execute("CREATE INDEX IF NOT EXISTS ix_aliases_new ON aliases(object_type, new_id)")

    def ensure_indexes(self) -> None:
        """Create the indexes reads and searches use (after a bulk seed: faster that way)."""
        with self.lock:
            self.create_indexes()

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

    def counts(self) -> dict[str, dict[str, int]]:
        out = {}
        with self.lock:
            for obj in OBJECTS:
                live, archived = self.conn.execute(
                    f"SELECT SUM(archived = 0 AND merged_into IS NULL), SUM(archived = 1) "
                    f"FROM {table_name(obj)}"
                ).fetchone()
                out[obj] = {"live": int(live or 0), "archived": int(archived or 0)}
        return out

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def _seed_pipeline(
    c: sqlite3.Connection,
    obj: str,
    pipeline: tuple[str, str],
    stamp: str,
    stages: list[tuple[str, str, int, dict[str, Any]]],
) -> None:
    """One default pipeline of `obj` (id, label) and its stages (id, label, display order,
    metadata), all created and updated at `stamp`."""
    pid, label = pipeline
    c.execute("INSERT INTO pipelines VALUES (?, ?, ?, 0, ?, ?, 0)", (obj, pid, label, stamp, stamp))
    c.executemany(
        "INSERT INTO pipeline_stages VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
        [
            (obj, pid, sid, slabel, order, orjson.dumps(meta).decode(), stamp, stamp)
            for sid, slabel, order, meta in stages
        ],
    )
