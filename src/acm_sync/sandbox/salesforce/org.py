"""The Salesforce sandbox's store: one SQLite table per sObject, plus the org's bookkeeping.

Storage conventions (the SOQL compiler relies on them): a table named like the sObject, one
column per field named exactly like the field's API name; datetimes as TEXT
'YYYY-MM-DDTHH:MM:SS.000+0000' (UTC), dates as TEXT 'YYYY-MM-DD', booleans INTEGER 0/1, numbers
INTEGER/REAL, NULL for null. Internal tables start with `_`.

Reads render JSON (REST) and CSV (Bulk 2.0) inside SQLite, so a page of 2,000 or 50,000 rows
never becomes Python dicts. Writes go through `Org.write`, which validates each record the way
the API does (field existence, createable/updateable, types, lengths, restricted picklists,
emails, references, required fields), maintains the audit fields and the derived fields, and
honours allOrNone with savepoints.
"""

from __future__ import annotations

import array
import logging
import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from acm_sync.sandbox.salesforce.common import RecordError, sf_datetime
from acm_sync.sandbox.salesforce.ids import KEY_PREFIX, POD, is_valid_id, make_id, to_18
from acm_sync.sandbox.salesforce.schema import (
    FORECAST_CATEGORY_LABELS,
    OPPORTUNITY_STAGES,
    SOBJECTS,
    STAGE_BY_NAME,
    Field,
    SObject,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PREFIX_TO_OBJECT = {prefix: name for name, prefix in KEY_PREFIX.items()}
_STRING_TYPES = {"string", "textarea", "email", "url", "phone", "picklist", "id", "reference"}
_FLOAT_TYPES = {"double", "currency", "percent"}
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?$"
)
_HISTORY_FIELDS = ("StageName", "Amount", "CloseDate", "Probability")
_ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)
_SKIP = object()  # a CSV cell left empty on update: leave the field as it is
_CHILDREN = {
    "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId"), ("Account", "ParentId"))
}

Reject = Callable[[str, str | None], "tuple[str, str] | None"]


@dataclass
class Result:
    """The outcome of one record of a write (SaveResult / UpsertResult / DeleteResult)."""

    id: str | None
    success: bool
    errors: list[RecordError] = field(default_factory=list)
    created: bool = False


@dataclass
class WriteOp:
    """One record of a write: create, update, upsert (by Id), delete or hardDelete."""

    kind: str
    sobject: SObject | None
    record_id: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    source: str = "json"  # "json": JSON-typed values; "csv": strings, Bulk API semantics
    error: RecordError | None = None  # rejected before it reached the store


class RecordFailed(Exception):
    def __init__(self, error: RecordError) -> None:
        super().__init__(error.message)
        self.error = error


class TypeProblem(Exception):
    """A value that cannot become the field's type (request-level for JSON bodies)."""

    def __init__(self, f: Field, raw: Any) -> None:
        super().__init__(f"{f.name}: {raw!r}")
        self.field = f
        self.raw = raw

    def json_message(self) -> str:
        kind = {"int": "int", "boolean": "boolean", "date": "date", "datetime": "datetime"}.get(
            self.field.type, "double" if self.field.type in _FLOAT_TYPES else "string"
        )
        token = (
            "VALUE_STRING"
            if isinstance(self.raw, str)
            else (
                "START_OBJECT"
                if isinstance(self.raw, dict)
                else "START_ARRAY"
                if isinstance(self.raw, list)
                else "VALUE_NUMBER"
            )
        )
        return (
            f"Cannot deserialize instance of {kind} from {token} value {self.raw} or request "
            "may be missing a required field"
        )

    def record_error(self) -> RecordError:
        return RecordError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{self.field.label}: value not of required type: {self.raw}",
            [self.field.name],
        )


def field_list(sobj: SObject, fields: Iterable[Any]) -> list[Field]:
    """Schema fields for names (any case) or field-like objects (with `.name`)."""
    out = []
    for item in fields:
        name = item if isinstance(item, str) else getattr(item, "name", str(item))
        f = sobj.field(name)
        if f is None:
            raise KeyError(name)
        out.append(f)
    return out


def _compound_expr(f: Field) -> str:
    """An address as REST returns it: an object of its parts, or null when all are empty."""
    from acm_sync.sandbox.salesforce.schema import ADDRESS_PARTS

    keys = {suffix: key for suffix, _, _, _, key in ADDRESS_PARTS}
    prefix = f.name.removesuffix("Address")
    pairs, cols = [], []
    for component in f.components:
        col = f"t.{_q(component)}"
        suffix = component.removeprefix(prefix)
        value = f"CAST({col} AS REAL)" if suffix in ("Latitude", "Longitude") else col
        pairs += [f"'{keys[suffix]}'", value]
        cols.append(col)
    return (
        f"json(CASE WHEN COALESCE({', '.join(cols)}) IS NULL THEN NULL "
        f"ELSE json_object({', '.join(pairs)}) END)"
    )


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def decode_serial(record_id: str) -> int:
    n = 0
    for ch in record_id[5:15]:
        n = n * 62 + _B62.index(ch)
    return n


def parse_datetime(text: str) -> str | None:
    """An ISO-8601 date/datetime as the stored UTC text, or None when it isn't one."""
    m = _DATETIME.match(text.strip())
    if not m:
        return None
    day, hh, mm, ss, frac, tz = m.groups()
    try:
        base = datetime.fromisoformat(day).replace(tzinfo=UTC)
        if hh is not None:
            base = base.replace(hour=int(hh), minute=int(mm), second=int(ss or 0))
        millis = int((frac or "0")[:3].ljust(3, "0"))
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            digits = tz[1:].replace(":", "")
            base -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    except ValueError:
        return None
    return base.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}+0000"


def parse_date(text: str) -> str | None:
    m = _DATETIME.match(text.strip())
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1)).isoformat()
    except ValueError:
        return None


def parse_value(f: Field, raw: Any, source: str) -> Any:
    """The stored form of a value for field `f`; raises TypeProblem when it cannot be."""
    if source == "csv":
        if raw == "":
            return _SKIP
        if raw == "#N/A":
            return None
    if raw is None:
        return None
    t = f.type
    if t == "boolean":
        if isinstance(raw, bool):
            return int(raw)
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false", "1", "0"):
            return int(raw.strip().lower() in ("true", "1"))
        raise TypeProblem(f, raw)
    if t == "int" or t in _FLOAT_TYPES:
        if isinstance(raw, bool | dict | list):
            raise TypeProblem(f, raw)
        try:
            number = float(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise TypeProblem(f, raw) from None
        if not isinstance(number, int | float) or not math.isfinite(number):
            raise TypeProblem(f, raw)
        if t == "int":
            if number != int(number):
                raise TypeProblem(f, raw)
            return int(number)
        return float(number)
    if t == "date":
        parsed = parse_date(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise TypeProblem(f, raw)
        return parsed
    if t == "datetime":
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise TypeProblem(f, raw)
        return parsed
    if isinstance(raw, dict | list):
        raise TypeProblem(f, raw)
    if isinstance(raw, bool):
        raw = "true" if raw else "false"
    text = raw if isinstance(raw, str) else repr(raw)
    return text if text != "" else None


class Org:
    """One sandbox org in one SQLite file."""

    def __init__(self, db_path: Path, *, clock: Callable[[], datetime]) -> None:
        self.path = db_path
        self.clock = clock
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "temp_store=MEMORY",
            "cache_size=-65536",
            "foreign_keys=OFF",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self._create_schema()
        self.is_new = self.meta("initialized") is None
        org_id = self.meta("org_id")
        if org_id is None:
            org_id = make_id("Organization", 1)
            self.set_meta("org_id", org_id)
        self.org_id = org_id
        self._serials: dict[str, int] = {}
        self._columns = {name: [f.name for f in o.fields] for name, o in SOBJECTS.items()}
        self._insert_sql = {
            name: f"INSERT INTO {_q(name)} ({', '.join(_q(c) for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})"
            for name, cols in self._columns.items()
        }
        self._usage_day = ""
        self._usage_used = 0

    # -- schema and bookkeeping ------------------------------------------------------------

    def _create_schema(self) -> None:
        for name, sobj in SOBJECTS.items():
            cols = ", ".join(
                f"{_q(f.name)} {f.sqlite_type}{' PRIMARY KEY' if f.name == 'Id' else ''}"
                for f in sobj.fields
            )
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {_q(name)} ({cols})")
            # An org saved by an older sandbox lacks fields added since: add them (empty).
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({_q(name)})")}
            for f in sobj.fields:
                if f.name not in have:
                    self.db.execute(
                        f"ALTER TABLE {_q(name)} ADD COLUMN {_q(f.name)} {f.sqlite_type}"
                    )
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS _api_usage (day TEXT PRIMARY KEY, used INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS _bulk_jobs (
                id TEXT PRIMARY KEY, kind TEXT NOT NULL, created TEXT NOT NULL,
                info TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS _bulk_blobs (
                job_id TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
                PRIMARY KEY (job_id, name));
            """
        )

    def create_indexes(self) -> None:
        for name, sobj in SOBJECTS.items():
            for col in ("SystemModstamp", "AccountId", "OpportunityId"):
                if sobj.field(col) is not None:
                    self.db.execute(
                        f"CREATE INDEX IF NOT EXISTS {_q(f'_ix_{name}_{col}')} "
                        f"ON {_q(name)} ({_q(col)})"
                    )
        self.db.execute("PRAGMA analysis_limit=2000")
        self.db.execute("ANALYZE")

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO _meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        self.db.close()

    def now(self) -> str:
        return sf_datetime(self.clock())

    def new_id(self, object_name: str) -> str:
        serial = self._serials.get(object_name)
        if serial is None:
            prefix = KEY_PREFIX[object_name] + POD
            row = self.db.execute(
                f'SELECT MAX("Id") FROM {_q(object_name)} WHERE "Id" >= ? AND "Id" < ?',
                (prefix, prefix + "~"),
            ).fetchone()
            serial = decode_serial(row[0]) if row and row[0] else 0
        serial += 1
        self._serials[object_name] = serial
        return make_id(object_name, serial)

    # -- the logged-in user ------------------------------------------------------------------

    def ensure_user(self, username: str) -> str:
        """The Id of the user named `username`, created (an active admin) when missing."""
        row = self.db.execute(
            'SELECT "Id" FROM "User" WHERE lower("Username") = lower(?)', (username,)
        ).fetchone()
        if row:
            return str(row[0])
        now = self.now()
        user_id = self.new_id("User")
        values = {
            "Id": user_id,
            "Username": username,
            "LastName": "Integration",
            "FirstName": "API",
            "Name": "API Integration",
            "Email": username if "@" in username else None,
            "Title": "Integration User",
            "IsActive": 1,
            "CreatedDate": now,
            "LastModifiedDate": now,
            "SystemModstamp": now,
        }
        cols = self._columns["User"]
        self.db.execute(self._insert_sql["User"], [values.get(c) for c in cols])
        return user_id

    def user_info(self, user_id: str) -> dict[str, Any]:
        cur = self.db.execute('SELECT * FROM "User" WHERE "Id" = ?', (user_id,))
        row = cur.fetchone()
        if row is None:
            return {"Id": user_id}
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    # -- API usage (DailyApiRequests) --------------------------------------------------------

    def _today(self) -> str:
        return self.clock().astimezone(UTC).date().isoformat()

    def api_used(self) -> int:
        day = self._today()
        if day != self._usage_day:
            row = self.db.execute("SELECT used FROM _api_usage WHERE day = ?", (day,)).fetchone()
            self._usage_day, self._usage_used = day, int(row[0]) if row else 0
        return self._usage_used

    def count_api_call(self) -> int:
        used = self.api_used() + 1
        self.db.execute(
            "INSERT INTO _api_usage VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET used = used + 1",
            (self._usage_day,),
        )
        self._usage_used = used
        return used

    def set_api_used(self, used: int) -> None:
        day = self._today()
        self.db.execute(
            "INSERT INTO _api_usage VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET used = ?",
            (day, used, used),
        )
        self._usage_day, self._usage_used = day, used

    # -- seeding -----------------------------------------------------------------------------

    def load_frames(self, frames: dict[str, pd.DataFrame], *, admin_username: str) -> None:
        """Load a generated org (pandas frames keyed by sObject) in one transaction."""
        now = self.now()
        # A new file: no journal while loading (a failed load leaves no org behind anyway).
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("BEGIN")
        try:
            for name in SOBJECTS:  # what an interrupted earlier seeding may have left
                self.db.execute(f"DELETE FROM {_q(name)}")
            for name, sobj in SOBJECTS.items():
                frame = frames.get(name)
                if frame is None or len(frame) == 0:
                    continue
                # In slices, so the Python values of only one slice exist at a time.
                for start in range(0, len(frame), 100_000):
                    self._load_frame(sobj, frame.iloc[start : start + 100_000], now, start)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        finally:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self._serials.clear()
        self.finish_init(admin_username)

    def finish_init(self, admin_username: str) -> None:
        if not self.db.execute('SELECT 1 FROM "OpportunityStage" LIMIT 1').fetchone():
            self._seed_stages()
        self.ensure_user(admin_username)
        self.create_indexes()
        self.set_meta("initialized", self.now())
        self.is_new = False

    def _seed_stages(self) -> None:
        now = self.now()
        rows = []
        for i, (label, prob, fc, closed, won) in enumerate(OPPORTUNITY_STAGES, start=1):
            values = {
                "Id": make_id("OpportunityStage", i),
                "MasterLabel": label,
                "ApiName": label,
                "IsActive": 1,
                "SortOrder": i,
                "IsClosed": int(closed),
                "IsWon": int(won),
                "ForecastCategory": fc,
                "ForecastCategoryName": FORECAST_CATEGORY_LABELS[fc],
                "DefaultProbability": float(prob),
                "CreatedDate": now,
                "LastModifiedDate": now,
                "SystemModstamp": now,
            }
            rows.append([values.get(c) for c in self._columns["OpportunityStage"]])
        self.db.executemany(self._insert_sql["OpportunityStage"], rows)

    def _load_frame(self, sobj: SObject, frame: pd.DataFrame, now: str, first: int) -> None:
        import numpy as np
        import pandas as pd

        n = len(frame)
        columns: list[list[Any]] = []
        for f in sobj.fields:
            if f.name not in frame.columns:
                columns.append(self._default_column(sobj, f, n, now, columns, first))
                continue
            s = frame[f.name]
            values: list[Any]
            if f.type == "datetime":
                if not pd.api.types.is_datetime64_any_dtype(s):
                    s = pd.to_datetime(s, utc=True, errors="coerce")
                if getattr(s.dt, "tz", None) is not None:
                    s = s.dt.tz_convert("UTC").dt.tz_localize(None)
                text = np.datetime_as_string(s.to_numpy().astype("datetime64[ms]"), unit="ms")
                values = [None if v == "NaT" else v + "+0000" for v in text.tolist()]
            elif f.type == "date" and pd.api.types.is_datetime64_any_dtype(s):
                text = np.datetime_as_string(s.to_numpy().astype("datetime64[D]"), unit="D")
                values = [None if v == "NaT" else v for v in text.tolist()]
            elif f.type == "boolean" and s.dtype == bool:
                values = s.astype("int64").tolist()
            else:
                values = s.astype(object).where(s.notna(), None).tolist()
                if f.type == "boolean":
                    values = [None if v is None else int(bool(v)) for v in values]
                elif f.type == "int":
                    values = [None if v is None else int(v) for v in values]
                elif f.type in _FLOAT_TYPES:
                    values = [None if v is None else float(v) for v in values]
                elif f.type == "date":
                    values = [None if v is None else str(v)[:10] for v in values]
                elif f.type != "datetime":
                    values = [None if v is None else str(v) for v in values]
            columns.append(values)
        self.db.executemany(self._insert_sql[sobj.name], zip(*columns, strict=True))

    def _default_column(
        self, sobj: SObject, f: Field, n: int, now: str, done: list[list[Any]], first: int
    ) -> list[Any]:
        by_name = dict(zip([x.name for x in sobj.fields], done, strict=False))
        if f.name == "IsDeleted":
            return [0] * n
        if f.name in ("LastModifiedDate", "SystemModstamp"):
            for source in ("LastModifiedDate", "CreatedDate"):
                if source in by_name and source != f.name:
                    return [v or now for v in by_name[source]]
            return [now] * n
        if f.name == "CreatedDate":
            return [now] * n
        if f.name == "Id":
            return [make_id(sobj.name, i) for i in range(first + 1, first + n + 1)]
        if f.type == "boolean" and not f.nillable:
            return [0] * n
        return [None] * n

    # -- reads -------------------------------------------------------------------------------

    def _json_expr(self, sobj: SObject, fields: Sequence[Field]) -> str:
        parts = [
            "'attributes'",
            f"json_object('type', '{sobj.name}', 'url', ? || t.\"Id\")",
        ]
        for f in fields:
            col = f"t.{_q(f.name)}"
            if f.type == "boolean":
                expr = (
                    f"json(CASE WHEN {col} IS NULL THEN 'null' WHEN {col} THEN 'true' "
                    "ELSE 'false' END)"
                )
            elif f.type in _FLOAT_TYPES:
                expr = f"CAST({col} AS REAL)"
            elif f.components:
                expr = _compound_expr(f)
            else:
                expr = col
            parts += [f"'{f.name}'", expr]
        return f"json_object({', '.join(parts)})"

    def record_json(
        self, sobj: SObject, record_id: str, fields: Sequence[Field], url_prefix: str
    ) -> tuple[str | None, bool]:
        """(the record as REST JSON text, is_deleted); (None, False) when there is none."""
        deleted = 't."IsDeleted"' if sobj.field("IsDeleted") else "0"
        row = self.db.execute(
            f"SELECT {self._json_expr(sobj, fields)}, {deleted} FROM {_q(sobj.name)} AS t "
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
            self.db.execute(f"SELECT COUNT(*) FROM {_q(sobject)} {sql}", list(params)).fetchone()[0]
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
        sql = f"SELECT rowid FROM {_q(sobject)} {self._where(sobject, where_sql, include_deleted)}"
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
            f"SELECT {self._json_expr(sobj, fields)} FROM {_q(sobj.name)} AS t "
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
            col = f"t.{_q(f.name)}"
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
            elif f.type in _FLOAT_TYPES:
                parts.append(
                    f"CASE WHEN {col} IS NULL THEN '' ELSE '\"' || CAST({col} AS REAL) || '\"' END"
                )
            else:
                parts.append(
                    f"CASE WHEN {col} IS NULL THEN '' ELSE "
                    f"'\"' || replace({col}, '\"', '\"\"') || '\"' END"
                )
        sep = " || " + "'" + delimiter.replace("'", "''") + "'" + " || "
        ids = "[" + ",".join(map(str, rowids)) + "]"
        rows = self.db.execute(
            f"SELECT {sep.join(parts)} FROM {_q(sobj.name)} AS t "
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
            f'SELECT "Id", "SystemModstamp" FROM {_q(sobj.name)} WHERE {cond} '
            'AND "SystemModstamp" >= ? AND "SystemModstamp" < ? ORDER BY "SystemModstamp"',
            (start, end),
        ).fetchall()
        return [(str(a), str(b)) for a, b in rows]

    # -- writes ------------------------------------------------------------------------------

    def write(
        self,
        ops: Sequence[WriteOp],
        *,
        all_or_none: bool,
        user_id: str,
        reject: Reject | None = None,
    ) -> list[Result]:
        """Apply the records in order, each on its own or all together (allOrNone)."""
        results: list[Result] = []
        now = self.now()
        serials = dict(self._serials)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                if op.error is not None:
                    results.append(
                        Result(op.record_id if op.kind != "create" else None, False, [op.error])
                    )
                    continue
                rejected = (
                    reject(op.sobject.name if op.sobject else "", op.record_id)
                    if reject is not None
                    else None
                )
                if rejected is not None:
                    results.append(
                        Result(
                            op.record_id if op.kind != "create" else None,
                            False,
                            [RecordError(rejected[0], rejected[1])],
                        )
                    )
                    continue
                self.db.execute("SAVEPOINT rec")
                try:
                    result = self._apply(op, now, user_id)
                    self.db.execute("RELEASE rec")
                except RecordFailed as exc:
                    self.db.execute("ROLLBACK TO rec")
                    self.db.execute("RELEASE rec")
                    keep_id = op.kind not in ("create",) and not (
                        op.kind == "upsert" and not op.record_id
                    )
                    result = Result(op.record_id if keep_id else None, False, [exc.error])
                results.append(result)
            if all_or_none and any(not r.success for r in results):
                self.db.execute("ROLLBACK")
                self._serials = serials
                results = [
                    r
                    if not r.success
                    else Result(None if r.created else r.id, False, [_ROLLED_BACK])
                    for r in results
                ]
            else:
                self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self._serials = serials
            raise
        return results

    def _apply(self, op: WriteOp, now: str, user_id: str) -> Result:
        sobj = op.sobject
        if op.kind in ("delete", "hardDelete"):
            return self._delete(sobj, op.record_id, now, user_id, hard=op.kind == "hardDelete")
        assert sobj is not None
        if op.kind == "create":
            return self._create(sobj, op.values, op.source, now, user_id)
        if op.kind == "update":
            return self._update(sobj, op.record_id, op.values, op.source, now, user_id)
        if op.kind == "upsert":
            if op.record_id:
                return self._update(sobj, op.record_id, op.values, op.source, now, user_id)
            return self._create(sobj, op.values, op.source, now, user_id)
        raise RecordFailed(RecordError("INVALID_OPERATION", f"unknown operation {op.kind}"))

    # validation

    def _check(self, sobj: SObject, f: Field, value: Any) -> None:
        if value is None:
            return
        t = f.type
        if t in _STRING_TYPES:
            if f.length and len(value) > f.length and t not in ("reference", "id"):
                raise RecordFailed(
                    RecordError(
                        "STRING_TOO_LONG",
                        f"{f.label}: data value too large: {value[:100]} (max length={f.length})",
                        [f.name],
                    )
                )
            if t == "picklist" and f.restricted and value not in f.picklist:
                raise RecordFailed(
                    RecordError(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{f.label}: bad value for restricted picklist field: {value}",
                        [f.name],
                    )
                )
            if t == "email" and not _EMAIL.match(value):
                raise RecordFailed(
                    RecordError(
                        "INVALID_EMAIL_ADDRESS",
                        f"{f.label}: invalid email address: {value}",
                        [f.name],
                    )
                )
            if t == "reference":
                self._check_reference(f, value)
        elif (
            (t == "int" or t in _FLOAT_TYPES)
            and f.precision
            and abs(value) >= 10 ** (f.precision - f.scale)
        ):
            raise RecordFailed(
                RecordError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{f.label}: value outside of valid range on numeric field: {value}",
                    [f.name],
                )
            )

    def _check_reference(self, f: Field, value: str) -> None:
        if not is_valid_id(value):
            raise RecordFailed(
                RecordError(
                    "MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name]
                )
            )
        target = _PREFIX_TO_OBJECT.get(value[:3])
        if target not in f.reference_to:
            raise RecordFailed(
                RecordError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{f.label}: id value of incorrect type: {value}",
                    [f.name],
                )
            )
        assert target is not None
        deleted = ', "IsDeleted"' if SOBJECTS[target].field("IsDeleted") else ", 0"
        row = self.db.execute(
            f'SELECT "Id"{deleted} FROM {_q(target)} WHERE "Id" = ?', (to_18(value),)
        ).fetchone()
        if row is None or row[1]:
            raise RecordFailed(
                RecordError(
                    "ENTITY_IS_DELETED" if row else "INVALID_CROSS_REFERENCE_KEY",
                    "entity is deleted" if row else "invalid cross reference id",
                    [f.name],
                )
            )

    def prepare(
        self, sobj: SObject, values: dict[str, Any], source: str, *, create: bool
    ) -> dict[str, Any]:
        """Validated, typed values by field API name (raises RecordFailed)."""
        out: dict[str, Any] = {}
        for key, raw in values.items():
            if key == "attributes":
                continue
            f = sobj.field(key)
            if f is None:
                raise RecordFailed(
                    RecordError(
                        "INVALID_FIELD",
                        f"No such column '{key}' on sobject of type {sobj.name}",
                        [key],
                    )
                )
            if f.name == "Id":
                if create and raw not in (None, ""):
                    raise RecordFailed(
                        RecordError(
                            "INVALID_FIELD_FOR_INSERT_UPDATE",
                            "cannot specify Id in an insert call",
                            ["Id"],
                        )
                    )
                continue
            try:
                value = parse_value(f, raw, source)
            except TypeProblem as exc:
                if source == "json":
                    raise RecordFailed(
                        RecordError("JSON_PARSER_ERROR", exc.json_message())
                    ) from None
                raise RecordFailed(exc.record_error()) from None
            if value is _SKIP:
                continue
            if not (f.createable if create else f.updateable):
                raise RecordFailed(
                    RecordError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        f"Unable to create/update fields: {f.name}. Please check the security "
                        "settings of this field and verify that it is read/write for your profile "
                        "or permission set.",
                        [f.name],
                    )
                )
            if f.type == "reference" and value is not None:
                value = to_18(value) if is_valid_id(value) else value
            self._check(sobj, f, value)
            out[f.name] = value
        missing = [
            f.name
            for f in sobj.fields
            if f.required
            and (out.get(f.name) is None if create else (f.name in out and out[f.name] is None))
        ]
        if missing:
            raise RecordFailed(
                RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
            )
        return out

    def _target(self, sobj: SObject | None, record_id: str | None) -> tuple[SObject, str]:
        raw = record_id or ""
        if not is_valid_id(raw):
            label = f"{sobj.label} ID" if sobj else "Record ID"
            raise RecordFailed(
                RecordError("MALFORMED_ID", f"{label}: id value of incorrect type: {raw}", ["Id"])
            )
        rid = to_18(raw)
        owner = _PREFIX_TO_OBJECT.get(rid[:3])
        if owner is None or (sobj is not None and owner != sobj.name):
            label = f"{sobj.label} ID" if sobj else "Record ID"
            raise RecordFailed(
                RecordError("MALFORMED_ID", f"{label}: id value of incorrect type: {raw}", ["Id"])
            )
        return SOBJECTS[owner], rid

    def _row(self, sobj: SObject, rid: str) -> dict[str, Any] | None:
        cur = self.db.execute(f'SELECT * FROM {_q(sobj.name)} WHERE "Id" = ?', (rid,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def _create(
        self, sobj: SObject, values: dict[str, Any], source: str, now: str, user_id: str
    ) -> Result:
        if not sobj.createable:
            raise RecordFailed(
                RecordError(
                    "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {sobj.label}"
                )
            )
        out = self.prepare(sobj, values, source, create=True)
        row: dict[str, Any] = dict.fromkeys(self._columns[sobj.name])
        row.update(out)
        for f in sobj.fields:
            if row[f.name] is None and f.type == "boolean" and not f.nillable:
                row[f.name] = 1 if f.name == "IsActive" else 0
        audit = {
            "IsDeleted": 0,
            "CreatedDate": now,
            "CreatedById": user_id,
            "LastModifiedDate": now,
            "LastModifiedById": user_id,
            "SystemModstamp": now,
        }
        for key, value in audit.items():
            if key in row:
                row[key] = value
        if "OwnerId" in row and row["OwnerId"] is None:
            row["OwnerId"] = user_id
        if "CurrencyIsoCode" in row and row["CurrencyIsoCode"] is None:
            row["CurrencyIsoCode"] = "USD"
        self._derive(sobj, row, set(out), None)
        row["Id"] = self.new_id(sobj.name)
        self.db.execute(self._insert_sql[sobj.name], [row[c] for c in self._columns[sobj.name]])
        if sobj.name == "Opportunity":
            self._history(row, now, user_id)
        return Result(row["Id"], True, [], created=True)

    def _update(
        self,
        sobj: SObject,
        record_id: str | None,
        values: dict[str, Any],
        source: str,
        now: str,
        user_id: str,
    ) -> Result:
        sobj, rid = self._target(sobj, record_id)
        if not sobj.updateable:
            raise RecordFailed(
                RecordError(
                    "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be updated: {sobj.label}"
                )
            )
        old = self._row(sobj, rid)
        if old is None:
            raise RecordFailed(
                RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"])
            )
        if old.get("IsDeleted"):
            raise RecordFailed(RecordError("ENTITY_IS_DELETED", "entity is deleted", ["Id"]))
        out = self.prepare(sobj, values, source, create=False)
        row = dict(old)
        row.update(out)
        for key, value in (
            ("LastModifiedDate", now),
            ("LastModifiedById", user_id),
            ("SystemModstamp", now),
        ):
            if key in row:
                row[key] = value
        self._derive(sobj, row, set(out), old)
        changed = [c for c in self._columns[sobj.name] if row[c] != old[c]]
        if changed:
            self.db.execute(
                f"UPDATE {_q(sobj.name)} SET {', '.join(_q(c) + ' = ?' for c in changed)} "
                'WHERE "Id" = ?',
                [row[c] for c in changed] + [rid],
            )
        if sobj.name == "Opportunity" and any(old[k] != row[k] for k in _HISTORY_FIELDS):
            self._history(row, now, user_id)
        return Result(rid, True, [], created=False)

    def _delete(
        self, sobj: SObject | None, record_id: str | None, now: str, user_id: str, *, hard: bool
    ) -> Result:
        sobj, rid = self._target(sobj, record_id)
        if not sobj.deletable:
            raise RecordFailed(
                RecordError(
                    "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {sobj.label}"
                )
            )
        row = self.db.execute(
            f'SELECT "IsDeleted" FROM {_q(sobj.name)} WHERE "Id" = ?', (rid,)
        ).fetchone()
        if row is None:
            raise RecordFailed(
                RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            )
        if row[0] and not hard:
            raise RecordFailed(RecordError("ENTITY_IS_DELETED", "entity is deleted"))
        self._remove(sobj.name, rid, now, user_id, hard=hard)
        return Result(rid, True, [])

    def _remove(self, name: str, rid: str, now: str, user_id: str, *, hard: bool) -> None:
        """Delete one record and (as Salesforce cascades) its contacts, deals and history."""
        if hard:
            self.db.execute(f'DELETE FROM {_q(name)} WHERE "Id" = ?', (rid,))
        else:
            self.db.execute(
                f'UPDATE {_q(name)} SET "IsDeleted" = 1, "SystemModstamp" = ?, '
                '"LastModifiedDate" = ?, "LastModifiedById" = ? WHERE "Id" = ?',
                (now, now, user_id, rid),
            )
        cascades: list[tuple[str, str]] = []
        if name == "Account":
            cascades = [("Contact", "AccountId"), ("Opportunity", "AccountId")]
        elif name == "Opportunity":
            cascades = [("OpportunityHistory", "OpportunityId")]
        for child, fk in cascades:
            ids = [
                r[0]
                for r in self.db.execute(
                    f'SELECT "Id" FROM {_q(child)} WHERE {_q(fk)} = ? AND "IsDeleted" = 0', (rid,)
                )
            ]
            for child_id in ids:
                if child == "OpportunityHistory":
                    if hard:
                        self.db.execute(
                            'DELETE FROM "OpportunityHistory" WHERE "Id" = ?', (child_id,)
                        )
                    else:
                        self.db.execute(
                            'UPDATE "OpportunityHistory" SET "IsDeleted" = 1, '
                            '"SystemModstamp" = ? WHERE "Id" = ?',
                            (now, child_id),
                        )
                else:
                    self._remove(child, child_id, now, user_id, hard=hard)

    def _derive(
        self, sobj: SObject, row: dict[str, Any], given: set[str], old: dict[str, Any] | None
    ) -> None:
        if sobj.name in ("Contact", "User") and (old is None or {"FirstName", "LastName"} & given):
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
        if sobj.name != "Opportunity":
            return
        stage = STAGE_BY_NAME.get(row.get("StageName") or "")
        stage_changed = old is None or (
            "StageName" in given and row["StageName"] != old["StageName"]
        )
        if stage is not None:
            _, default_probability, category, closed, won = stage
            if stage_changed:
                # Derived when the stage is set. (Salesforce derives them at every save, where
                # they never disagree with the stage; the demo org seeds some that do, as dirty
                # data, and they stay so until someone sets the stage — not when any field of
                # the record is written.)
                row["IsClosed"], row["IsWon"] = int(closed), int(won)
                if "Probability" not in given:
                    row["Probability"] = float(default_probability)
                if "ForecastCategoryName" not in given:
                    row["ForecastCategory"] = category
                    row["ForecastCategoryName"] = FORECAST_CATEGORY_LABELS[category]
        if "ForecastCategoryName" in given and row.get("ForecastCategoryName"):
            by_label = {v: k for k, v in FORECAST_CATEGORY_LABELS.items()}
            row["ForecastCategory"] = by_label.get(
                row["ForecastCategoryName"], row.get("ForecastCategory")
            )
        if old is None:
            row["IsClosed"] = row.get("IsClosed") or 0
            row["IsWon"] = row.get("IsWon") or 0
            if row.get("ForecastCategory") is None:
                row["ForecastCategory"] = "Pipeline"
                row["ForecastCategoryName"] = row.get("ForecastCategoryName") or "Pipeline"
        amount, probability = row.get("Amount"), row.get("Probability")
        row["ExpectedRevenue"] = (
            None if amount is None or probability is None else round(amount * probability / 100, 2)
        )

    def _history(self, opp: dict[str, Any], now: str, user_id: str) -> None:
        values = {
            "Id": self.new_id("OpportunityHistory"),
            "OpportunityId": opp["Id"],
            "CreatedById": user_id,
            "CreatedDate": now,
            "StageName": opp.get("StageName"),
            "Amount": opp.get("Amount"),
            "ExpectedRevenue": opp.get("ExpectedRevenue"),
            "CloseDate": opp.get("CloseDate"),
            "Probability": opp.get("Probability"),
            "ForecastCategory": opp.get("ForecastCategory"),
            "SystemModstamp": now,
            "IsDeleted": 0,
        }
        cols = self._columns["OpportunityHistory"]
        self.db.execute(self._insert_sql["OpportunityHistory"], [values.get(c) for c in cols])

    # -- merge -------------------------------------------------------------------------------

    def merge(
        self, object_name: str, master_id: str, duplicate_ids: Sequence[str], user_id: str
    ) -> dict[str, Any]:
        """Merge duplicates into a master as Salesforce's merge() does (raises RecordFailed)."""
        sobj = SOBJECTS.get(object_name)
        if sobj is None or not sobj.mergeable:
            raise RecordFailed(
                RecordError(
                    "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be merged: {object_name}"
                )
            )
        if not 1 <= len(duplicate_ids) <= 2:
            raise RecordFailed(
                RecordError(
                    "INVALID_OPERATION", "A merge request requires one or two records to merge"
                )
            )
        now = self.now()
        _, master = self._target(sobj, master_id)
        dupes = [self._target(sobj, d)[1] for d in duplicate_ids]
        for rid in (master, *dupes):
            row = self.db.execute(
                f'SELECT "IsDeleted" FROM {_q(sobj.name)} WHERE "Id" = ?', (rid,)
            ).fetchone()
            if row is None:
                raise RecordFailed(
                    RecordError("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {rid}")
                )
            if row[0]:
                raise RecordFailed(RecordError("ENTITY_IS_DELETED", f"entity is deleted: {rid}"))
        if master in dupes:
            raise RecordFailed(
                RecordError("INVALID_ID_FIELD", "The master record id appears in the merge list")
            )
        updated: list[str] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for rid in dupes:
                self.db.execute(
                    f'UPDATE {_q(sobj.name)} SET "IsDeleted" = 1, "MasterRecordId" = ?, '
                    '"SystemModstamp" = ?, "LastModifiedDate" = ?, "LastModifiedById" = ? '
                    'WHERE "Id" = ?',
                    (master, now, now, user_id, rid),
                )
                for child, fk in _CHILDREN.get(sobj.name, ()):
                    ids = [
                        r[0]
                        for r in self.db.execute(
                            f'SELECT "Id" FROM {_q(child)} WHERE {_q(fk)} = ?', (rid,)
                        )
                    ]
                    for child_id in ids:
                        self.db.execute(
                            f'UPDATE {_q(child)} SET {_q(fk)} = ?, "SystemModstamp" = ?, '
                            '"LastModifiedDate" = ?, "LastModifiedById" = ? WHERE "Id" = ?',
                            (master, now, now, user_id, child_id),
                        )
                    updated.extend(ids)
            self.db.execute(
                f'UPDATE {_q(sobj.name)} SET "SystemModstamp" = ?, "LastModifiedDate" = ?, '
                '"LastModifiedById" = ? WHERE "Id" = ?',
                (now, now, user_id, master),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return {
            "id": master,
            "success": True,
            "errors": [],
            "mergedRecordIds": dupes,
            "updatedRelatedIds": updated,
        }

    # -- Bulk API 2.0 job storage ------------------------------------------------------------

    def save_job(self, job_id: str, kind: str, info: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO _bulk_jobs VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "info = excluded.info",
            (job_id, kind, info.get("createdDate", ""), orjson.dumps(info).decode()),
        )

    def job(self, job_id: str, kind: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT info FROM _bulk_jobs WHERE id = ? AND kind = ?", (job_id, kind)
        ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def jobs(self, kind: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT info FROM _bulk_jobs WHERE kind = ? ORDER BY created, id", (kind,)
        ).fetchall()
        return [dict(orjson.loads(r[0])) for r in rows]

    def delete_job(self, job_id: str) -> None:
        self.db.execute("DELETE FROM _bulk_blobs WHERE job_id = ?", (job_id,))
        self.db.execute("DELETE FROM _bulk_jobs WHERE id = ?", (job_id,))

    def put_blob(self, job_id: str, name: str, data: bytes) -> None:
        self.db.execute(
            "INSERT INTO _bulk_blobs VALUES (?, ?, ?) ON CONFLICT(job_id, name) DO UPDATE SET "
            "data = excluded.data",
            (job_id, name, data),
        )

    def blob(self, job_id: str, name: str) -> bytes | None:
        row = self.db.execute(
            "SELECT data FROM _bulk_blobs WHERE job_id = ? AND name = ?", (job_id, name)
        ).fetchone()
        return None if row is None else bytes(row[0])
