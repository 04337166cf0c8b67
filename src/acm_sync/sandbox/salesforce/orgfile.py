"""The org's SQLite file: one table per sObject (columns named like the fields) and the
internal tables (`_meta`, `_api_usage`, `_bulk_jobs`, `_bulk_blobs`); ids, the clock, indexes.

Storage conventions (the SOQL compiler relies on them): a table named like the sObject, one
column per field named exactly like the field's API name; datetimes as TEXT
'YYYY-MM-DDTHH:MM:SS.000+0000' (UTC), dates as TEXT 'YYYY-MM-DD', booleans INTEGER 0/1, numbers
INTEGER/REAL, NULL for null. Internal tables start with `_`.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from acm_sync.sandbox.salesforce.common import sf_datetime
from acm_sync.sandbox.salesforce.ids import KEY_PREFIX, POD, make_id
from acm_sync.sandbox.salesforce.schema import SOBJECTS

AUDIT_PERMISSION = "set_audit_fields_upon_record_creation"

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

FLOAT_TYPES = {"double", "currency", "percent"}  # stored as REAL


def java_double_text(value: float | None) -> str | None:
    """A number as Salesforce writes it into Bulk CSV results: Java's `Double.toString` (the
    shortest digits that read back as the same double; plain with at least one decimal when
    1e-3 <= |x| < 1e7, else `d.dddE<n>`: 948000.0, 9.9213206E7, 1.0E-4). Registered on the
    org's connection as the SQL function `java_double`."""
    if value is None:
        return None
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    exact = Decimal(repr(abs(x)))  # repr: the shortest round-tripping digits
    t = exact.as_tuple()
    assert isinstance(t.exponent, int)
    digits = "".join(map(str, t.digits)).lstrip("0")
    point = len(digits) + t.exponent - 1  # the power of ten of the first digit
    digits = digits.rstrip("0") or "0"
    if -3 <= point <= 6:
        if point >= 0:
            whole, fraction = digits[: point + 1].ljust(point + 1, "0"), digits[point + 1 :]
        else:
            whole, fraction = "0", "0" * (-point - 1) + digits
        return f"{sign}{whole}.{fraction or '0'}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{point}"


def quote(name: str) -> str:
    """A table / column name quoted for SQLite."""
    return '"' + name.replace('"', '""') + '"'


def decode_serial(record_id: str) -> int:
    n = 0
    for ch in record_id[5:15]:
        n = n * 62 + _B62.index(ch)
    return n


class OrgFile:
    """One org's SQLite file: the connection, the clock, meta values and record ids."""

    def __init__(self, db_path: Path, *, clock: Callable[[], datetime]) -> None:
        self.path = db_path
        self.clock = clock
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False)
        self.conn.create_function("java_double", 1, java_double_text, deterministic=True)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "temp_store=MEMORY",
            "cache_size=-65536",
            "foreign_keys=OFF",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self._create_schema()
        self.is_new = self.meta("initialized") is None
        org_id = self.meta("org_id")
        if org_id is None:
            org_id = make_id("Organization", 1)
            self.set_meta("org_id", org_id)
        self.org_id = org_id
        self.serials: dict[str, int] = {}
        self.columns = {name: [f.name for f in o.fields] for name, o in SOBJECTS.items()}
        self.insert_sql = {
            name: f"INSERT INTO {quote(name)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})"
            for name, cols in self.columns.items()
        }

    def _create_schema(self) -> None:
        for name, sobj in SOBJECTS.items():
            cols = ", ".join(
                f"{quote(f.name)} {f.sqlite_type}{' PRIMARY KEY' if f.name == 'Id' else ''}"
                for f in sobj.fields
            )
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {quote(name)} ({cols})")
            # An org saved by an older sandbox lacks fields added since: add them (empty).
            have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({quote(name)})")}
            for f in sobj.fields:
                if f.name not in have:
                    self.conn.execute(
                        f"ALTER TABLE {quote(name)} ADD COLUMN {quote(f.name)} {f.sqlite_type}"
                    )
        self.conn.executescript(
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
                    self.conn.execute(
                        f"CREATE INDEX IF NOT EXISTS {quote(f'_ix_{name}_{col}')} "
                        f"ON {quote(name)} ({quote(col)})"
                    )
        self.conn.execute("PRAGMA analysis_limit=2000")
        self.conn.execute("ANALYZE")

    @property
    def audit_fields_settable(self) -> bool:
        """The org's "Set Audit Fields upon Record Creation" permission (off in a new org)."""
        return self.meta(AUDIT_PERMISSION) == "1"

    def set_audit_fields_settable(self, on: bool) -> None:
        self.set_meta(AUDIT_PERMISSION, "1" if on else "0")

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO _meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        self.conn.close()

    def now(self) -> str:
        return sf_datetime(self.clock())

    def new_id(self, object_name: str) -> str:
        serial = self.serials.get(object_name)
        if serial is None:
            prefix = KEY_PREFIX[object_name] + POD
            row = self.conn.execute(
                f'SELECT MAX("Id") FROM {quote(object_name)} WHERE "Id" >= ? AND "Id" < ?',
                (prefix, prefix + "~"),
            ).fetchone()
            serial = decode_serial(row[0]) if row and row[0] else 0
        serial += 1
        self.serials[object_name] = serial
        return make_id(object_name, serial)
