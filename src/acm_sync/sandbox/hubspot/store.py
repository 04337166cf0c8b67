"""The HubSpot portal: its records (read, write, archive, merge) and their associations, over
the parts it is composed of:

    db.PortalDb              the SQLite file: connection, lock, clock, schema, indexes
    catalog.PropertyCatalog  property definitions and groups; the SELECT list of a read
    validation.Validator     property values checked as HubSpot does before a write
    search.Search            CRM search (filters, sorts, query, paging)
    directory.Directory      pipelines, stages and owners
    seeding.Seeder           bulk loads of a generated demo org

All methods are synchronous and serialised by the db's lock; the ASGI app calls them from its
event loop (each call is a few indexed queries), tests may call them from another thread.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from acm_sync.sandbox.hubspot import schema, stagetiming
from acm_sync.sandbox.hubspot.catalog import Page, PropertyCatalog, rows_to_records
from acm_sync.sandbox.hubspot.db import PortalDb
from acm_sync.sandbox.hubspot.directory import Directory
from acm_sync.sandbox.hubspot.errors import PropertyErrors, StoreError
from acm_sync.sandbox.hubspot.propdefs import OBJECTS, PropDef, column_name, table_name
from acm_sync.sandbox.hubspot.search import Search
from acm_sync.sandbox.hubspot.seeding import Seeder
from acm_sync.sandbox.hubspot.validation import Validator
from acm_sync.sandbox.hubspot.values import wire_datetime

__all__ = ["OBJECTS", "HubSpotStore", "Page", "PropDef", "PropertyErrors", "StoreError"]


class HubSpotStore:
    """One portal's records and associations, composed with its catalog, validation, search,
    directory and seeding."""

    def __init__(self, db_path: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.db = PortalDb(db_path, clock)
        self.catalog = PropertyCatalog(self.db)
        self.validator = Validator(self.db, self.catalog)
        self.search = Search(self.db, self.catalog)
        self.directory = Directory(self.db)
        self.seeder = Seeder(self.db, self.catalog)

    # -- reading records -------------------------------------------------------------------------

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
        names = self.catalog.returned_properties(obj, properties)
        select, dt_idx = self.catalog.select(obj, names)
        where = "archived = 1" if archived else "archived = 0 AND merged_into IS NULL"
        with self.db.lock:
            rows = self.db.conn.execute(
                f"SELECT {select} FROM {table_name(obj)} WHERE {where} AND id > ? "
                "ORDER BY id LIMIT ?",
                (after, limit + 1),
            ).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            records = rows_to_records(obj, rows, names, dt_idx)
            stagetiming.fill(self.db.conn, obj, records)
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
        with self.db.lock:
            if id_property and id_property != "hs_object_id":
                p = self.catalog.prop(obj, id_property)
                if p is None or id_property in schema.SYSTEM_PROPERTIES[obj]:
                    return None
                row = self.db.conn.execute(
                    f"SELECT id FROM {table_name(obj)} WHERE {column_name(id_property)} = ? "
                    f"COLLATE NOCASE AND archived = ? AND merged_into IS NULL "
                    f"ORDER BY id LIMIT 1",
                    (str(raw), int(archived)),
                ).fetchone()
                return int(row[0]) if row else None
            try:
                rid = int(str(raw))
            except ValueError:
                return None
            row = self.db.conn.execute(
                f"SELECT id, archived, merged_into FROM {table_name(obj)} WHERE id = ?", (rid,)
            ).fetchone()
            if row is None or row[2] is not None:  # merged away: the id lives on elsewhere
                alias = self.db.conn.execute(
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
        names = self.catalog.returned_properties(obj, properties)
        select, dt_idx = self.catalog.select(obj, names)
        unique = list(dict.fromkeys(ids))
        with self.db.lock:
            rows = self.db.conn.execute(
                f"SELECT {select} FROM {table_name(obj)} "
                f"WHERE id IN ({', '.join('?' * len(unique))})",
                unique,
            ).fetchall()
            records = rows_to_records(obj, rows, names, dt_idx)
            stagetiming.fill(self.db.conn, obj, records)
        rids = [int(r["id"]) for r in records]
        if with_history:
            self._attach_history(obj, records, rids, with_history)
        if associations:
            self._attach_associations(obj, records, rids, associations)
        return dict(zip(rids, records, strict=True))

    def _attach_history(
        self, obj: str, records: list[dict[str, Any]], ids: list[int], props: Sequence[str]
    ) -> None:
        known = [p for p in dict.fromkeys(props) if self.catalog.prop(obj, p) is not None]
        if not known or not ids:
            for r in records:
                r["propertiesWithHistory"] = {}
            return
        hist: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        stored = [
            p
            for p in known
            if p not in schema.SYSTEM_PROPERTIES[obj] and not stagetiming.is_stage_timing(obj, p)
        ]
        if stored:
            with self.db.lock:
                rows = self.db.conn.execute(
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
                    if p == schema.LAST_MODIFIED_PROPERTY[obj] or stagetiming.is_stage_timing(
                        obj, p
                    ):
                        # HubSpot sets it at the moment it names, on every change (a stage
                        # timing value is calculated when the stage changes).
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
            with self.db.lock:
                rows = self.db.conn.execute(
                    f"SELECT a.from_id, a.to_id, a.type_id FROM assoc a "
                    f"JOIN {table_name(to_type)} t ON t.id = a.to_id AND t.archived = 0 "
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
        cols = [n for n in names if n in self.catalog.columns[obj]]
        if not cols:
            return {}
        with self.db.lock:
            row = self.db.conn.execute(
                f"SELECT {', '.join(column_name(c) for c in cols)} "
                f"FROM {table_name(obj)} WHERE id=?",
                (rid,),
            ).fetchone()
        return dict(zip(cols, row, strict=True)) if row else {}

    # -- writing records ---------------------------------------------------------------------

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
        row = self.db.conn.execute(
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
        return {k: v for k, v in out.items() if k in self.catalog.columns[obj]}

    def create(
        self,
        obj: str,
        values: dict[str, str | None],
        associations: Sequence[tuple[str, int, int]] = (),
    ) -> int:
        """Insert one record (values already validated) and its associations; return its id."""
        now = self.db.now()
        values = {**values, **self._derived(obj, values, None)}
        created = values.pop("createdate", None) or now
        cols = ["created_at", "updated_at", *(column_name(k) for k in values)]
        with self.db.lock:
            cur = self.db.conn.execute(
                f"INSERT INTO {table_name(obj)} ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' * len(cols))})",
                (created, now, *values.values()),
            )
            rid = int(cur.lastrowid or 0)
            self._history(obj, rid, {k: v for k, v in values.items() if v is not None}, now)
            for to_type, to_id, type_id in associations:
                self.associate(obj, rid, to_type, to_id, type_id)
        return rid

    def update(self, obj: str, rid: int, values: dict[str, str | None]) -> None:
        now = self.db.now()
        values = {**values, **self._derived(obj, values, rid)}
        values.pop("createdate", None)
        with self.db.lock:
            old = self.current_values(obj, rid, values)
            changed = {k: v for k, v in values.items() if old.get(k) != v}
            sets = ", ".join(["updated_at = ?", *(f"{column_name(k)} = ?" for k in values)])
            self.db.conn.execute(
                f"UPDATE {table_name(obj)} SET {sets} WHERE id = ?", (now, *values.values(), rid)
            )
            self._history(obj, rid, changed, now)

    def archive(self, obj: str, rid: int) -> None:
        now = self.db.now()
        with self.db.lock:
            self.db.conn.execute(
                f"UPDATE {table_name(obj)} SET archived = 1, archived_at = ?, updated_at = ? "
                f"WHERE id = ? AND archived = 0",
                (now, now, rid),
            )

    def _history(self, obj: str, rid: int, values: dict[str, str | None], now: str) -> None:
        if values:
            self.db.conn.executemany(
                "INSERT INTO history VALUES (?, ?, ?, ?, ?, 'INTEGRATION', ?)",
                [(obj, rid, k, v, now, "sandbox-private-app") for k, v in values.items()],
            )

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
        with self.db.lock:
            self.db.conn.executemany("INSERT OR IGNORE INTO assoc VALUES (?, ?, ?, ?, ?)", rows)
            self._recount(obj, rid, to_type, to_id)

    def dissociate(
        self, obj: str, rid: int, to_type: str, to_id: int, type_ids: Sequence[int] | None = None
    ) -> None:
        with self.db.lock:
            if type_ids is None:
                self.db.conn.execute(
                    "DELETE FROM assoc WHERE (from_type=? AND from_id=? AND to_type=? "
                    "AND to_id=?) OR (from_type=? AND from_id=? AND to_type=? AND to_id=?)",
                    (obj, rid, to_type, to_id, to_type, to_id, obj, rid),
                )
            else:
                for t in type_ids:
                    inverse = schema.ASSOCIATION_TYPE_INFO.get(t, (None, None, None, t))[3]
                    self.db.conn.execute(
                        "DELETE FROM assoc WHERE from_type=? AND from_id=? AND to_type=? "
                        "AND to_id=? AND type_id=?",
                        (obj, rid, to_type, to_id, t),
                    )
                    self.db.conn.execute(
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
            if column not in self.catalog.columns["companies"]:
                continue
            self.db.conn.execute(
                f"UPDATE obj_companies SET {column_name(column)} = "
                "(SELECT CAST(COUNT(DISTINCT to_id) "
                f"AS TEXT) FROM assoc WHERE from_type='companies' AND from_id=? AND to_type=?) "
                f"WHERE id = ?",
                (cid, other, cid),
            )

    def association_page(
        self, obj: str, rid: int, to_type: str, after: int, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """v4: the records `rid` is associated with (grouped by record), `limit` a page."""
        with self.db.lock:
            targets = [
                r[0]
                for r in self.db.conn.execute(
                    f"SELECT DISTINCT a.to_id FROM assoc a JOIN {table_name(to_type)} t "
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
                for to_id, type_id in self.db.conn.execute(
                    f"SELECT to_id, type_id FROM assoc WHERE from_type=? AND to_type=? "
                    f"AND from_id=? AND to_id IN ({', '.join('?' * len(targets))}) "
                    f"ORDER BY type_id",
                    (obj, to_type, rid, *targets),
                ):
                    types[to_id].append(type_id)
        # `toObjectId` is a JSON number on the wire. HubSpot's spec typed it int64 until early
        # 2024 and a string since (hubspot-api-python commit c63d73a1, "AssociationsV4:
        # Codegen"), but "the api calls still return numbers" (github.com/HubSpot/
        # hubspot-api-nodejs/issues/552); HubSpot/hubspot-api-php#261 quotes a live
        # `to_object_id in json = 5434402448`. The Python client's `str` field takes a number
        # (its deserialiser calls str() on primitives). `from.id` of the batch read
        # (app.v4_batch_read) stays a string, as the spec and live answers have it.
        results = [
            {"toObjectId": t, "associationTypes": [_v4_type(tid) for tid in types[t]]}
            for t in targets
        ]
        return results, (targets[-1] if more else None)

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
        now = self.db.now()
        cols = sorted(self.catalog.columns[obj])
        with self.db.lock:
            self.db.conn.execute("BEGIN")
            try:
                p_row = self.db.conn.execute(
                    f"SELECT created_at, {', '.join(column_name(c) for c in cols)} "
                    f"FROM {table_name(obj)} WHERE id=?",
                    (primary,),
                ).fetchone()
                o_row = self.db.conn.execute(
                    f"SELECT created_at, {', '.join(column_name(c) for c in cols)} "
                    f"FROM {table_name(obj)} WHERE id=?",
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
                ins_cols = ["created_at", "updated_at", *(column_name(c) for c in values)]
                cur = self.db.conn.execute(
                    f"INSERT INTO {table_name(obj)} ({', '.join(ins_cols)}) "
                    f"VALUES ({', '.join('?' * len(ins_cols))})",
                    (created, now, *values.values()),
                )
                new_id = int(cur.lastrowid or 0)
                self.db.conn.execute(
                    f"UPDATE {table_name(obj)} SET merged_into=?, updated_at=? WHERE id IN (?, ?)",
                    (new_id, now, primary, other),
                )
                self.db.conn.execute(
                    "UPDATE aliases SET new_id=? WHERE object_type=? AND new_id IN (?, ?)",
                    (new_id, obj, primary, other),
                )
                self.db.conn.executemany(
                    "INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)",
                    [(obj, primary, new_id), (obj, other, new_id)],
                )
                self._move_associations(obj, primary, other, new_id)
                self.db.conn.execute(
                    "INSERT INTO history SELECT object_type, ?, property, value, timestamp, "
                    "source_type, source_id FROM history WHERE object_type=? "
                    "AND object_id IN (?, ?)",
                    (new_id, obj, primary, other),
                )
                self._history(
                    obj, new_id, {"hs_merged_object_ids": values["hs_merged_object_ids"]}, now
                )
                self.db.conn.execute("COMMIT")
            except BaseException:
                self.db.conn.execute("ROLLBACK")
                raise
        return new_id

    def _move_associations(self, obj: str, primary: int, other: int, new_id: int) -> None:
        c = self.db.conn
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


def _v4_type(type_id: int) -> dict[str, Any]:
    info = schema.ASSOCIATION_TYPE_INFO.get(type_id)
    if info is None:
        return {"category": "USER_DEFINED", "typeId": type_id, "label": None}
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": info[2]}
