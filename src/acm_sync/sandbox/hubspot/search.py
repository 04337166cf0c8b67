"""CRM search: filter groups, sorts, a query string and paging over one object type."""

from __future__ import annotations

import re
from typing import Any

import orjson

from acm_sync.sandbox.hubspot import schema, stagetiming
from acm_sync.sandbox.hubspot.catalog import Page, PropertyCatalog, rows_to_records
from acm_sync.sandbox.hubspot.db import PortalDb
from acm_sync.sandbox.hubspot.errors import StoreError, str_list
from acm_sync.sandbox.hubspot.propdefs import PropDef, column_name, table_name
from acm_sync.sandbox.hubspot.values import InvalidValue, to_comparable

SEARCH_MAX_RESULTS = 10_000
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


class Search:
    """`POST /crm/v3/objects/{type}/search` over one portal."""

    def __init__(self, db: PortalDb, catalog: PropertyCatalog) -> None:
        self.db = db
        self.catalog = catalog
        db.conn.create_function("hs_contains_token", 2, _contains_token, deterministic=True)

    def run(self, obj: str, body: dict[str, Any]) -> Page:
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
        names = self.catalog.returned_properties(
            obj, str_list(body.get("properties"), "properties")
        )
        select, dt_idx = self.catalog.select(obj, names)
        take = min(limit, SEARCH_MAX_RESULTS - after)
        with self.db.lock:
            total = self.db.conn.execute(
                f"SELECT COUNT(*) FROM {table_name(obj)} WHERE {where}", params
            ).fetchone()[0]
            rows = (
                self.db.conn.execute(
                    f"SELECT {select} FROM {table_name(obj)} WHERE {where} ORDER BY {order} "
                    f"LIMIT ? OFFSET ?",
                    (*params, take, after),
                ).fetchall()
                if take
                else []
            )
            records = rows_to_records(obj, rows, names, dt_idx)
            stagetiming.fill(self.db.conn, obj, records)
        nxt = after + len(records)
        return Page(records, str(nxt) if records and nxt < total else None, total)

    def _prop_expr(self, obj: str, name: Any) -> tuple[str, PropDef]:
        if not isinstance(name, str):
            raise StoreError(400, "VALIDATION_ERROR", "propertyName must be a string")
        p = self.catalog.prop(obj, name)
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
        if stagetiming.is_stage_timing(obj, name):
            return "NULL", p  # not stored; filtering / sorting on it is not emulated
        return column_name(name), p

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
            cols = [
                column_name(c)
                for c in schema.SEARCHABLE_PROPERTIES[obj]
                if c in self.catalog.columns[obj]
            ]
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
