"""Loading a generated demo org into an empty portal (bulk inserts, then the indexes), and
inserting prepared records in bulk (the scale benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from acm_sync.sandbox.hubspot import schema
from acm_sync.sandbox.hubspot.catalog import PropertyCatalog
from acm_sync.sandbox.hubspot.db import PortalDb
from acm_sync.sandbox.hubspot.propdefs import OBJECTS, column_name, table_name
from acm_sync.sandbox.hubspot.values import InvalidValue, series_to_stored, to_stored

SEED_CHUNK = 50_000


class Seeder:
    """Bulk loads into one portal."""

    def __init__(self, db: PortalDb, catalog: PropertyCatalog) -> None:
        self.db = db
        self.catalog = catalog

    def load_seed(self, org: Any) -> dict[str, int]:
        """Load the generator's HubSpot share (`DemoOrg`) into a new portal, in one transaction."""
        counts: dict[str, int] = {}
        frames: dict[str, Any] = getattr(org, "hubspot", {}) or {}
        with self.db.lock:
            c = self.db.conn
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
                self.db.create_indexes()
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
        props = [
            name
            for name in self.catalog.columns[obj]
            if name in frame.columns and name not in system
        ]
        defs = self.catalog.props[obj]
        cols = [
            "id",
            "created_at",
            "updated_at",
            "archived",
            "archived_at",
            *(column_name(p) for p in props),
        ]
        marks = ", ".join("?" * len(cols))
        sql = f"INSERT INTO {table_name(obj)} ({', '.join(cols)}) VALUES ({marks})"
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
            now = self.db.now()
            created = [v or now for v in created]
            updated = [u or cr for u, cr in zip(updated, created, strict=True)]
            archived_at = [
                (at or up) if arch else None
                for at, up, arch in zip(archived_at, updated, archived, strict=True)
            ]
            rows = zip(ids, created, updated, archived, archived_at, *columns, strict=True)
            self.db.conn.executemany(sql, rows)
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
            else [self.db.now()] * len(frame)
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
                cr or self.db.now(),
                up or cr or self.db.now(),
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
        self.db.conn.executemany("INSERT OR REPLACE INTO owners VALUES (?,?,?,?,?,?,?,?,?)", rows)
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
        cur = self.db.conn.executemany("INSERT OR IGNORE INTO assoc VALUES (?, ?, ?, ?, ?)", rows)
        return cur.rowcount

    def _load_aliases(self) -> int:
        """Ids merged away before the seed (listed in survivors' hs_merged_object_ids)."""
        rows = []
        for obj in OBJECTS:
            for rid, merged in self.db.conn.execute(
                f"SELECT id, {column_name('hs_merged_object_ids')} FROM {table_name(obj)} "
                f"WHERE {column_name('hs_merged_object_ids')} IS NOT NULL"
            ):
                rows += [(obj, int(old), rid) for old in merged.split(";") if old.isdigit()]
        self.db.conn.executemany("INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)", rows)
        return len(rows)

    def _load_history(self, frame: Any) -> int:
        stamps = series_to_stored(frame["timestamp"], "datetime")
        values = [None if _isnull(v) else str(v) for v in frame["value"].tolist()]
        types = _object_names(frame["object_type"]).tolist()
        props = frame["property"].tolist()
        prop_types = [
            self.catalog.props.get(t, {}).get(p) for t, p in zip(types, props, strict=True)
        ]
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
        cur = self.db.conn.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return cur.rowcount

    def insert_records(self, obj: str, rows: Iterable[dict[str, Any]]) -> int:
        """Bulk insert already-stored values (tests, fixtures): dicts of id/created_at/…/props."""
        n = 0
        with self.db.lock:
            self.db.conn.execute("BEGIN")
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
                    *(column_name(p) for p in props),
                ]
                vals = [
                    row.get("created_at") or self.db.now(),
                    row.get("updated_at") or row.get("created_at") or self.db.now(),
                    int(bool(row.get("archived"))),
                    row.get("archived_at"),
                    *props.values(),
                ]
                if "id" in row:
                    cols.insert(0, "id")
                    vals.insert(0, row["id"])
                self.db.conn.execute(
                    f"INSERT INTO {table_name(obj)} ({', '.join(cols)}) "
                    f"VALUES ({', '.join('?' * len(cols))})",
                    vals,
                )
                n += 1
            self.db.conn.execute("COMMIT")
        return n


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
