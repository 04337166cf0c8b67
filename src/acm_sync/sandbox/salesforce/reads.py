"""Reading records: REST JSON and Bulk CSV rendered inside SQLite (a page of 2,000 or 50,000
rows never becomes Python dicts), counts, snapshots for cursors, changed ids, users."""

from __future__ import annotations

import array
from collections.abc import Iterable, Sequence
from typing import Any

from acm_sync.sandbox.salesforce.orgfile import FLOAT_TYPES, OrgFile, quote
from acm_sync.sandbox.salesforce.schema import (
    ADDRESS_PARTS,
    SOBJECTS,
    Field,
    SObject,
    path_field,
)


def field_list(sobj: SObject, fields: Iterable[Any], *, paths: bool = False) -> list[Field]:
    """Schema fields for names (any case) or field-like objects (with `.name`); with `paths`
    also parent fields through a lookup (`Owner.Name`, as a SOQL SELECT list has them)."""
    out = []
    for item in fields:
        name = item if isinstance(item, str) else getattr(item, "name", str(item))
        f = sobj.field(name)
        if f is None and paths and "." in name:
            f = path_field(sobj, name)
        if f is None:
            raise KeyError(name)
        out.append(f)
    return out


def _column(f: Field, alias: str = "t") -> str:
    """The SQL value of a field: its column, or for `Owner.Name` the parent row's column."""
    if f.path is None:
        return f"{alias}.{quote(f.name)}"
    lookup, parent, column = f.path
    return (
        f"(SELECT p.{quote(column)} FROM {quote(parent)} AS p "
        f'WHERE p."Id" = {alias}.{quote(lookup)})'
    )


def _json_value(f: Field, col: str) -> str:
    if f.type == "boolean":
        return f"json(CASE WHEN {col} IS NULL THEN 'null' WHEN {col} THEN 'true' ELSE 'false' END)"
    if f.type in FLOAT_TYPES:
        return f"CAST({col} AS REAL)"
    return col


def _compound_expr(f: Field) -> str:
    """An address as REST returns it: an object of its parts, or null when all are empty."""
    keys = {suffix: key for suffix, _, _, _, key in ADDRESS_PARTS}
    prefix = f.name.removesuffix("Address")
    pairs, cols = [], []
    for component in f.components:
        col = f"t.{quote(component)}"
        suffix = component.removeprefix(prefix)
        value = f"CAST({col} AS REAL)" if suffix in ("Latitude", "Longitude") else col
        pairs += [f"'{keys[suffix]}'", value]
        cols.append(col)
    return (
        f"json(CASE WHEN COALESCE({', '.join(cols)}) IS NULL THEN NULL "
        f"ELSE json_object({', '.join(pairs)}) END)"
    )


class RecordReader:
    """Reads of one org: records as JSON or CSV, counts, snapshots, users."""

    def __init__(self, file: OrgFile) -> None:
        self.file = file
        self.db = file.conn

    def _json_expr(self, sobj: SObject, fields: Sequence[Field]) -> str:
        """The record as REST JSON. Parameter ?1 is the record URL prefix (`.../sobjects/<Name>/`).
        Parent fields (`Owner.Name`) nest as REST has them: one object per relationship (at its
        first field's place) with its own attributes, or null when the lookup is empty."""
        parts = [
            "'attributes'",
            f"json_object('type', '{sobj.name}', 'url', ?1 || t.\"Id\")",
        ]
        done: set[str] = set()
        for f in fields:
            if f.path is not None:
                relationship = f.name.split(".", 1)[0]
                if relationship in done:
                    continue
                done.add(relationship)
                lookup, parent, _ = f.path
                same = [g for g in fields if g.path and g.name.split(".", 1)[0] == relationship]
                url = f"substr(?1, 1, length(?1) - {len(sobj.name) + 1}) || '{parent}/' || p.\"Id\""
                inner = ["'attributes'", f"json_object('type', '{parent}', 'url', {url})"]
                for g in same:
                    assert g.path is not None
                    inner += [f"'{g.path[2]}'", _json_value(g, f"p.{quote(g.path[2])}")]
                parts += [
                    f"'{relationship}'",
                    f"json((SELECT json_object({', '.join(inner)}) FROM {quote(parent)} AS p "
                    f'WHERE p."Id" = t.{quote(lookup)}))',
                ]
                continue
            col = f"t.{quote(f.name)}"
            expr = _compound_expr(f) if f.components else _json_value(f, col)
            parts += [f"'{f.name}'", expr]
        return f"json_object({', '.join(parts)})"

    def record_json(
        self, sobj: SObject, record_id: str, fields: Sequence[Field], url_prefix: str
    ) -> tuple[str | None, bool]:
        """(the record as REST JSON text, is_deleted); (None, False) when there is none."""
        deleted = 't."IsDeleted"' if sobj.field("IsDeleted") else "0"
        row = self.db.execute(
            f"SELECT {self._json_expr(sobj, fields)}, {deleted} FROM {quote(sobj.name)} AS t "
            'WHERE t."Id" = ?',
            (url_prefix, record_id),
        ).fetchone()
        if row is None:
            return None, False
        return str(row[0]), bool(row[1])

    def count(
        self,
        sobject: str,
        where_sql: str,
        params: Sequence[Any],
        *,
        include_deleted: bool,
        limit: int | None,
        offset: int | None,
    ) -> int:
        sql = self._where(sobject, where_sql, include_deleted)
        total = int(
            self.db.execute(
                f"SELECT COUNT(*) FROM {quote(sobject)} {sql}", list(params)
            ).fetchone()[0]
        )
        total = max(0, total - (offset or 0))
        return min(total, limit) if limit is not None else total

    def _where(self, sobject: str, where_sql: str, include_deleted: bool) -> str:
        clauses = []
        if where_sql and where_sql.strip():
            clauses.append(f"({where_sql})")
        if not include_deleted and SOBJECTS[sobject].field("IsDeleted") is not None:
            clauses.append('"IsDeleted" = 0')
        return ("WHERE " + " AND ".join(clauses)) if clauses else ""

    def snapshot(
        self,
        sobject: str,
        where_sql: str,
        params: Sequence[Any],
        *,
        include_deleted: bool,
        order_by_sql: str,
        limit: int | None,
        offset: int | None,
    ) -> array.array[int]:
        """The rowids a query selects, in result order (a query cursor's snapshot)."""
        sql = (
            f"SELECT rowid FROM {quote(sobject)} {self._where(sobject, where_sql, include_deleted)}"
        )
        order = (order_by_sql or "").strip()
        if order:
            sql += " " + (order if order.upper().startswith("ORDER BY") else "ORDER BY " + order)
        if limit is not None or offset:
            sql += f" LIMIT {int(limit) if limit is not None else -1} OFFSET {int(offset or 0)}"
        rowids: array.array[int] = array.array("q")
        cur = self.db.execute(sql, list(params))
        while True:
            chunk = cur.fetchmany(100_000)
            if not chunk:
                break
            rowids.extend(r[0] for r in chunk)
        return rowids

    def page_json(
        self, sobj: SObject, fields: Sequence[Field], rowids: Sequence[int], url_prefix: str
    ) -> list[str]:
        """REST JSON records (text) for these rowids, in their order."""
        ids = "[" + ",".join(map(str, rowids)) + "]"
        rows = self.db.execute(
            f"SELECT {self._json_expr(sobj, fields)} FROM {quote(sobj.name)} AS t "
            "JOIN json_each(?) AS j ON t.rowid = j.value ORDER BY j.key",
            (url_prefix, ids),
        ).fetchall()
        return [r[0] for r in rows]

    def page_csv(
        self, sobj: SObject, fields: Sequence[Field], rowids: Sequence[int], delimiter: str
    ) -> list[str]:
        """Bulk API 2.0 CSV lines (no line ending) for these rowids, in their order."""
        parts = []
        for f in fields:
            col = _column(f)
            if f.type == "boolean":
                parts.append(
                    f"CASE WHEN {col} IS NULL THEN '' WHEN {col} THEN '\"true\"' "
                    "ELSE '\"false\"' END"
                )
            elif f.type == "datetime":
                parts.append(
                    f"CASE WHEN {col} IS NULL THEN '' ELSE "
                    f"'\"' || substr({col}, 1, 23) || 'Z\"' END"
                )
            elif f.type in FLOAT_TYPES:  # as Java's Double.toString writes it (orgfile)
                parts.append(
                    f"CASE WHEN {col} IS NULL THEN '' ELSE '\"' || java_double({col}) || '\"' END"
                )
            else:
                parts.append(
                    f"CASE WHEN {col} IS NULL THEN '' ELSE "
                    f"'\"' || replace({col}, '\"', '\"\"') || '\"' END"
                )
        sep = " || " + "'" + delimiter.replace("'", "''") + "'" + " || "
        ids = "[" + ",".join(map(str, rowids)) + "]"
        rows = self.db.execute(
            f"SELECT {sep.join(parts)} FROM {quote(sobj.name)} AS t "
            "JOIN json_each(?) AS j ON t.rowid = j.value ORDER BY j.key",
            (ids,),
        ).fetchall()
        return [r[0] for r in rows]

    def changed_ids(
        self, sobj: SObject, start: str, end: str, *, deleted: bool
    ) -> list[tuple[str, str]]:
        """(Id, SystemModstamp) of records changed (or deleted) in [start, end)."""
        cond = '"IsDeleted" = 1' if deleted else '"IsDeleted" = 0'
        if sobj.field("IsDeleted") is None:
            cond = "0" if deleted else "1"
        rows = self.db.execute(
            f'SELECT "Id", "SystemModstamp" FROM {quote(sobj.name)} WHERE {cond} '
            'AND "SystemModstamp" >= ? AND "SystemModstamp" < ? ORDER BY "SystemModstamp"',
            (start, end),
        ).fetchall()
        return [(str(a), str(b)) for a, b in rows]

    def user_info(self, user_id: str) -> dict[str, Any]:
        cur = self.db.execute('SELECT * FROM "User" WHERE "Id" = ?', (user_id,))
        row = cur.fetchone()
        if row is None:
            return {"Id": user_id}
        return dict(zip([d[0] for d in cur.description], row, strict=True))
