"""The embedded DuckDB warehouse: raw tables per CRM object, the canonical tables, sync state.

Writes are upserts by key — delete the batch's keys, insert the batch — in one transaction with
the sync cursor that covers them, so a re-run is idempotent and a crash or a spent budget leaves
either the whole batch and its cursor or neither.

Connections are opened per transaction and closed at once: DuckDB lets one process write a file
at a time, and Dagster may run assets in several processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
from pydantic import Field, PrivateAttr

from acm_sync import model
from acm_sync.config import AcmSyncConfig, ConfigError, load_config
from acm_sync.connections import ConnectionResolutionError, run_connection

DEFAULT_PATH = "./warehouse/acm_sync.duckdb"
PATH_ENV = "ACM_WAREHOUSE_PATH"
ROOT_ENV = "ACM_WAREHOUSE_ROOT"  # the listed connections' warehouses (a shared mount)
FILE_NAME = "acm_sync.duckdb"

_DUCK_TYPES = {
    model.STRING: "VARCHAR",
    model.FLOAT: "DOUBLE",
    model.INT: "BIGINT",
    model.BOOL: "BOOLEAN",
    model.TIMESTAMP: "TIMESTAMPTZ",
}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Upsert keys of the canonical tables (history rows are one per opportunity and moment).
TABLE_KEYS: dict[str, str | list[str]] = {
    **model.PRIMARY_KEYS,
    "opportunity_stage_history": ["opportunity_id", "changed_at"],
}
RAW_META = {"_synced_at": "TIMESTAMPTZ", "_run_id": "VARCHAR"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def raw_table_name(source: str, obj: str) -> str:
    name = f"raw_{source}_{obj}".lower()
    if not _IDENT.match(name):
        raise ValueError(f"not a table name: {name!r}")
    return name


@dataclass
class SyncState:
    """Where a (source, object) pull stands; saved with the rows it covers."""

    source: str
    object: str
    cursor: datetime | None = None  # rows modified before this are in the warehouse
    mode: str = "incremental"  # "full" while a full pull is under way (it may span runs)
    full_started_at: datetime | None = None
    resume: dict[str, Any] = field(default_factory=dict)  # paging token / bulk job + locator
    complete: bool = True
    run_id: str | None = None
    updated_at: datetime | None = None


@dataclass
class Batch:
    """One transaction's worth of a pull."""

    state: SyncState
    raw: pd.DataFrame | None = None  # all text; the key column is `raw_key`
    raw_key: str = "Id"
    canonical: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # upsert by key
    merged_stubs: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    # (table, key column, keys whose rows are replaced, new rows) — child rows such as history
    replace: list[tuple[str, str, list[str], pd.DataFrame]] = field(default_factory=list)
    raw_replace_key: str | None = None  # raw rows replaced by this column (long raw tables)
    # More raw tables written in the same transaction: (table, rows, replaced by this column)
    raw_children: list[tuple[str, pd.DataFrame, str]] = field(default_factory=list)
    # Raw columns that change when *we* write a record (the owned fields, the modified stamps).
    # A record re-read with nothing else changed was changed only by our own write-back: its
    # canonical `updated_at` is kept, so nothing downstream sees a change (echo suppression).
    echo_columns: tuple[str, ...] = ()


class Warehouse:
    """The DuckDB file and the handful of statements the pipeline needs."""

    def __init__(self, path: str | Path, *, lock_timeout: float = 120.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._ready = False
        self._local = threading.local()

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Hold one connection for a block: the calls inside reuse it (a DuckDB file open costs
        ~10 ms; a step making dozens of small queries opens it once)."""
        if getattr(self._local, "con", None) is not None:
            yield
            return
        with self.connect() as con:
            self._local.con = con
            try:
                yield
            finally:
                self._local.con = None

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        held = getattr(self._local, "con", None)
        if held is not None:  # inside session(): a cursor of the held connection
            cursor = held.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only and self.path.exists())
                break
            except duckdb.IOException as exc:  # another process holds the write lock
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            if not self._ready and not read_only:
                self._create(con)
                self._ready = True
            yield con
        finally:
            con.close()

    def _create(self, con: duckdb.DuckDBPyConnection) -> None:
        for table, columns in model.TABLES.items():
            cols = ", ".join(f"{_q(c)} {_DUCK_TYPES[t]}" for c, t in columns.items())
            con.execute(f"CREATE TABLE IF NOT EXISTS {_q(table)} ({cols})")
            # A warehouse an earlier release made lacks the columns added since (accounts'
            # `satisfaction`): added, empty, so its upserts by column name keep working.
            have = {r[0] for r in con.execute(f"DESCRIBE {_q(table)}").fetchall()}
            for c, t in columns.items():
                if c not in have:
                    con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(c)} {_DUCK_TYPES[t]}")
        con.execute(
            """
            CREATE TABLE IF NOT EXISTS _sync_state (
                source VARCHAR, object VARCHAR, cursor TIMESTAMPTZ, mode VARCHAR,
                full_started_at TIMESTAMPTZ, resume VARCHAR, complete BOOLEAN, run_id VARCHAR,
                updated_at TIMESTAMPTZ, PRIMARY KEY (source, object))
            """
        )
        con.execute(
            """
            CREATE TABLE IF NOT EXISTS _api_calls (
                run_id VARCHAR, source VARCHAR, step VARCHAR, calls BIGINT, recorded_at TIMESTAMPTZ)
            """
        )
        con.execute(
            """
            CREATE TABLE IF NOT EXISTS _schema_checks (
                source VARCHAR, object VARCHAR, fingerprint VARCHAR, checked_at TIMESTAMPTZ,
                PRIMARY KEY (source, object))
            """
        )
        # Optional fields (the owned fields read along) the CRM did not have at the check.
        con.execute("ALTER TABLE _schema_checks ADD COLUMN IF NOT EXISTS missing VARCHAR")

    # -- reads ---------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self.connect() as con, warnings.catch_warnings():
            # duckdb's .df() still passes pandas an `inplace=` it deprecates (pandas 3.1).
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*inplace.*")
            return con.execute(sql, list(params)).df()

    def table(self, table: str, where: str = "", params: Sequence[Any] = ()) -> pd.DataFrame:
        """A canonical table as a conformed frame."""
        frame = self.query(f"SELECT * FROM {_q(table)} {where}", params)
        return model.conform(frame, table) if table in model.TABLES else frame

    def state(self, source: str, obj: str) -> SyncState:
        with self.connect() as con:
            row = con.execute(
                "SELECT cursor, mode, full_started_at, resume, complete, run_id, updated_at "
                "FROM _sync_state WHERE source = ? AND object = ?",
                [source, obj],
            ).fetchone()
        if row is None:
            return SyncState(source, obj)
        return SyncState(
            source,
            obj,
            cursor=_utc(row[0]),
            mode=row[1],
            full_started_at=_utc(row[2]),
            resume=json.loads(row[3] or "{}"),
            complete=bool(row[4]),
            run_id=row[5],
            updated_at=_utc(row[6]),
        )

    def count(self, table: str, where: str = "", params: Sequence[Any] = ()) -> int:
        with self.connect() as con:
            if not _exists(con, table):
                return 0
            row = con.execute(f"SELECT count(*) FROM {_q(table)} {where}", list(params)).fetchone()
        return int(row[0]) if row else 0

    def has_table(self, table: str) -> bool:
        with self.connect(read_only=True) as con:
            return _exists(con, table)

    def replace_run(self, table: str, frame: pd.DataFrame, run_id: str) -> None:
        """This run's snapshot rows of `table` (which keeps one snapshot per run), idempotently:
        a re-run of the same run id replaces its rows, earlier runs stay for trends."""
        with self.connect() as con:
            con.register("_rows", frame)
            ensure_table_like(con, table, "_rows")
            con.execute("BEGIN")
            con.execute(f"DELETE FROM {_q(table)} WHERE run_id = ?", [run_id])
            con.execute(f"INSERT INTO {_q(table)} BY NAME SELECT * FROM _rows")
            con.execute("COMMIT")
            con.unregister("_rows")

    def calls_this_run(self, run_id: str, source: str) -> int:
        with self.connect() as con:
            row = con.execute(
                "SELECT coalesce(sum(calls), 0) FROM _api_calls WHERE run_id = ? AND source = ?",
                [run_id, source],
            ).fetchone()
        return int(row[0]) if row else 0

    def record_calls(self, run_id: str, source: str, step: str, calls: int) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT INTO _api_calls VALUES (?, ?, ?, ?, ?)",
                [run_id, source, step, calls, datetime.now(UTC)],
            )

    def schema_checked(self, source: str, obj: str) -> tuple[str, datetime] | None:
        with self.connect() as con:
            row = con.execute(
                "SELECT fingerprint, checked_at FROM _schema_checks "
                "WHERE source = ? AND object = ?",
                [source, obj],
            ).fetchone()
        return None if row is None else (str(row[0]), _utc(row[1]) or datetime.now(UTC))

    def missing_fields(self, source: str, obj: str) -> frozenset[str] | None:
        """Optional fields the last schema check did not find (None: never checked)."""
        with self.connect() as con:
            row = con.execute(
                "SELECT missing FROM _schema_checks WHERE source = ? AND object = ?", [source, obj]
            ).fetchone()
        if row is None:
            return None
        return frozenset(n for n in str(row[0] or "").split(",") if n)

    def save_schema_check(
        self, source: str, obj: str, fingerprint: str, missing: Iterable[str] = ()
    ) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO _schema_checks "
                "(source, object, fingerprint, checked_at, missing) VALUES (?, ?, ?, ?, ?)",
                [source, obj, fingerprint, datetime.now(UTC), ",".join(sorted(missing))],
            )

    # -- writes --------------------------------------------------------------------------------

    def commit(self, batch: Batch, *, raw_table: str | None = None) -> None:
        """Upsert the batch's rows and save its sync state, in one transaction."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                echoes = None
                if batch.raw is not None and raw_table is not None and len(batch.raw):
                    self._ensure_raw(con, raw_table, batch.raw)
                    if (
                        batch.echo_columns
                        and batch.canonical
                        and "updated_at" in (model.TABLES.get(batch.canonical[0][0], {}))
                    ):
                        echoes = self._echoes(con, raw_table, batch)
                    if batch.raw_replace_key:
                        key = batch.raw_replace_key
                        keys = batch.raw[key].dropna().unique().tolist()
                        self._replace(con, raw_table, key, keys, batch.raw)
                    else:
                        self._upsert(con, raw_table, batch.raw, batch.raw_key)
                for child, rows, key in batch.raw_children:
                    if len(rows):
                        self._ensure_raw(con, child, rows)
                        self._replace(con, child, key, rows[key].dropna().unique().tolist(), rows)
                for table, frame in batch.canonical:
                    if len(frame):
                        self._upsert(con, table, frame, TABLE_KEYS[table])
                if echoes is not None:
                    table = batch.canonical[0][0]
                    con.execute(
                        f"UPDATE {_q(table)} AS t SET updated_at = e.updated_at FROM _echo AS e "
                        f"WHERE t.{_q(str(TABLE_KEYS[table]))} = e.id"
                    )
                    con.execute("DROP TABLE _echo")
                for table, frame in batch.merged_stubs:
                    if len(frame):
                        self._merge_stubs(con, table, frame)
                for table, key, keys, frame in batch.replace:
                    self._replace(con, table, key, keys, frame)
                self._save_state(con, batch.state)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    @staticmethod
    def _echoes(con: duckdb.DuckDBPyConnection, raw_table: str, batch: Batch) -> int | None:
        """Before the upsert: the canonical rows (id, updated_at) of the batch's records whose
        raw row differs from the stored one only in `echo_columns`, into temp table `_echo`."""
        assert batch.raw is not None
        table = batch.canonical[0][0]
        have = {r[0] for r in con.execute(f"DESCRIBE {_q(raw_table)}").fetchall()}
        ignore = {*batch.echo_columns, *RAW_META, batch.raw_key}
        compared = [c for c in batch.raw.columns if c in have and c not in ignore]
        same = " AND ".join(f"r.{_q(c)} IS NOT DISTINCT FROM b.{_q(c)}" for c in compared) or "1=1"
        key = _q(batch.raw_key)
        con.register("_raw_batch", batch.raw[[batch.raw_key, *compared]])
        con.execute(
            f"CREATE TEMP TABLE _echo AS SELECT c.{_q(str(TABLE_KEYS[table]))} AS id, c.updated_at "
            f"FROM _raw_batch AS b JOIN {_q(raw_table)} AS r ON r.{key} = b.{key} "
            f"JOIN {_q(table)} AS c ON c.source_id = CAST(b.{key} AS VARCHAR) "
            f"AND c.source = ? WHERE {same}",
            [batch.state.source],
        )
        con.unregister("_raw_batch")
        rows = con.execute("SELECT count(*) FROM _echo").fetchall()
        return int(rows[0][0])

    def save_state(self, state: SyncState) -> None:
        with self.connect() as con:
            self._save_state(con, state)

    def mark_vanished(
        self, *, source: str, table: str, raw_table: str, raw_key: str, since: datetime
    ) -> int:
        """After a complete full pull: rows not seen since it began are gone from the CRM
        (hard-deleted, purged from the recycle bin); flag them rather than drop them."""
        key = model.PRIMARY_KEYS[table]
        prefix = "sf:" if source == "salesforce" else "hs:"
        with self.connect() as con:
            if not _exists(con, raw_table):
                return 0
            con.execute("BEGIN TRANSACTION")
            merged = "AND merged_into IS NULL " if "merged_into" in model.TABLES[table] else ""
            rows = con.execute(
                f"UPDATE {_q(table)} SET is_deleted = true WHERE source = ? "
                f"AND NOT coalesce(is_deleted, false) {merged}"
                f"AND {_q(key)} NOT IN (SELECT ? || {_q(raw_key)} FROM {_q(raw_table)} "
                "WHERE _synced_at >= ?)",
                [source, prefix, since],
            ).fetchone()
            con.execute("COMMIT")
        return int(rows[0]) if rows else 0

    @staticmethod
    def _save_state(con: duckdb.DuckDBPyConnection, s: SyncState) -> None:
        con.execute(
            "INSERT OR REPLACE INTO _sync_state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                s.source,
                s.object,
                s.cursor,
                s.mode,
                s.full_started_at,
                json.dumps(s.resume, default=str),
                s.complete,
                s.run_id,
                datetime.now(UTC),
            ],
        )

    @staticmethod
    def _upsert(
        con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, key: str | list[str]
    ) -> None:
        keys = [key] if isinstance(key, str) else list(key)
        frame = frame.drop_duplicates(keys, keep="last")
        cols = ", ".join(_q(c) for c in frame.columns)
        match = " AND ".join(f"t.{_q(k)} = b.{_q(k)}" for k in keys)
        con.register("_batch", frame)
        try:
            if "merged_into" in frame.columns and frame["merged_into"].isna().any():
                # A merge is final: a later read of the merged-away record (say from HubSpot's
                # archive) must not erase where it went.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*inplace.*")
                    kept = con.execute(
                        f"SELECT t.{_q(keys[0])}, t.merged_into FROM {_q(table)} AS t "
                        f"JOIN _batch AS b ON {match} WHERE t.merged_into IS NOT NULL"
                    ).df()
                if len(kept):
                    con.unregister("_batch")
                    pointer = kept.set_index(keys[0])["merged_into"]
                    frame = frame.copy()
                    frame["merged_into"] = (
                        frame["merged_into"]
                        .fillna(frame[keys[0]].map(pointer))
                        .astype(frame["merged_into"].dtype)
                    )
                    con.register("_batch", frame)
            con.execute(f"DELETE FROM {_q(table)} AS t USING _batch AS b WHERE {match}")
            con.execute(f"INSERT INTO {_q(table)} ({cols}) SELECT {cols} FROM _batch")
        finally:
            _unregister(con, "_batch")

    @staticmethod
    def _ensure_raw(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
        columns = {c: "VARCHAR" for c in frame.columns if c not in RAW_META} | RAW_META
        if not _exists(con, table):
            cols = ", ".join(f"{_q(c)} {t}" for c, t in columns.items())
            con.execute(f"CREATE TABLE {_q(table)} ({cols})")
        else:
            have = {r[0] for r in con.execute(f"DESCRIBE {_q(table)}").fetchall()}
            for c, t in columns.items():
                if c not in have:
                    con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(c)} {t}")

    @staticmethod
    def _merge_stubs(con: duckdb.DuckDBPyConnection, table: str, stubs: pd.DataFrame) -> None:
        """Flag merged-away records; insert a stub for those never seen before."""
        key = model.PRIMARY_KEYS[table]
        cols = ", ".join(_q(c) for c in stubs.columns)
        con.register("_stubs", stubs.drop_duplicates(key, keep="last"))
        try:
            con.execute(
                f"UPDATE {_q(table)} AS t SET is_deleted = true, merged_into = s.merged_into "
                f"FROM _stubs AS s WHERE t.{_q(key)} = s.{_q(key)}"
            )
            con.execute(
                f"INSERT INTO {_q(table)} ({cols}) SELECT {cols} FROM _stubs "
                f"WHERE {_q(key)} NOT IN (SELECT {_q(key)} FROM {_q(table)})"
            )
        finally:
            _unregister(con, "_stubs")

    @staticmethod
    def _replace(
        con: duckdb.DuckDBPyConnection,
        table: str,
        key: str,
        keys: Sequence[str],
        frame: pd.DataFrame,
    ) -> None:
        if len(keys):
            con.register("_keys", pd.DataFrame({"k": pd.Series(list(keys), dtype="string")}))
            try:
                con.execute(f"DELETE FROM {_q(table)} WHERE {_q(key)} IN (SELECT k FROM _keys)")
            finally:
                _unregister(con, "_keys")
        if len(frame):
            cols = ", ".join(_q(c) for c in frame.columns)
            con.register("_batch", frame)
            try:
                con.execute(f"INSERT INTO {_q(table)} ({cols}) SELECT {cols} FROM _batch")
            finally:
                _unregister(con, "_batch")


def ensure_table_like(con: duckdb.DuckDBPyConnection, table: str, source: str) -> None:
    """`table` with every column of `source` (a registered frame or a table): created when
    missing, given the columns it lacks (a newer release added them, empty).

    A column whose values are all null — an org's first run with no issue of a kind, no URL,
    no reason — is scanned by DuckDB as type NULL, and a table created with it could never
    hold a value in it: such a column is made VARCHAR, or given `source`'s type when `source`
    has one. A table an earlier release created that way is repaired the same way."""
    wanted = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {_q(source)}").fetchall()]
    if not _exists(con, table):
        columns = ", ".join(f"{_q(name)} {_typed(type_)}" for name, type_ in wanted)
        con.execute(f"CREATE TABLE {_q(table)} ({columns})")
        return
    have = {r[0]: r[1] for r in con.execute(f"DESCRIBE {_q(table)}").fetchall()}
    for name, type_ in wanted:
        if name not in have:
            con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(name)} {_typed(type_)}")
        elif _is_null_type(have[name]):
            retyped = _typed(type_)
            con.execute(f"ALTER TABLE {_q(table)} ALTER COLUMN {_q(name)} TYPE {retyped}")


def _is_null_type(type_: str) -> bool:
    return type_.strip('"') == "NULL"


def _typed(type_: str) -> str:
    return "VARCHAR" if _is_null_type(type_) else type_


def _unregister(con: duckdb.DuckDBPyConnection, name: str) -> None:
    # After a failed statement the transaction is aborted and so is this: the first error is
    # the one worth seeing.
    with contextlib.suppress(duckdb.Error):
        con.unregister(name)


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchone()
    return bool(row and row[0])


def _utc(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    return ts.to_pydatetime()


def connection_path(root: str | Path, name: str) -> Path:
    """The warehouse file of a listed connection: its own directory under the root (its Data
    Docs and plots land beside it), so no two connections ever share a file."""
    return Path(root) / name / FILE_NAME


class WarehouseResource(dg.ConfigurableResource):
    """Where the run's connection keeps its warehouse.

    The connection on the plain credential variables (the implicit `default` one when
    acm_sync.yaml lists no `connections:`, or a listed one without `env_prefix`) uses `path`
    (`ACM_WAREHOUSE_PATH`, default ./warehouse/acm_sync.duckdb), as ever. A connection with an
    `env_prefix` uses `<root>/<name>/acm_sync.duckdb`, root being `root`, else
    `$ACM_WAREHOUSE_ROOT`, else `warehouse.root` in acm_sync.yaml, else the directory of
    `path`. The connection is the run's partition key (read when the run starts).
    """

    path: str = Field(
        default_factory=lambda: os.environ.get(PATH_ENV, DEFAULT_PATH),
        description="DuckDB file of the default connection's warehouse.",
    )
    root: str | None = Field(
        default=None,
        description="Directory of the listed connections' warehouses (default: "
        "$ACM_WAREHOUSE_ROOT, acm_sync.yaml warehouse.root, or the directory of `path`).",
    )
    config_path: str | None = Field(
        default=None, description="acm_sync.yaml (default: $ACM_SYNC_CONFIG or ./acm_sync.yaml)."
    )

    _tags: dict[str, str] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        self._tags = dict(run.tags) if run is not None else {}

    def connection(self) -> str:
        """The run's connection (see `acm_sync.connections.run_connection`)."""
        return self._resolve()[0]

    def path_for(self, name: str) -> Path:
        """The warehouse file of connection `name`."""
        return self._file(name, self._config())

    def get(self) -> Warehouse:
        name, config = self._resolve()
        return Warehouse(self._file(name, config))

    def _config(self) -> AcmSyncConfig:
        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            raise dg.Failure(str(exc)) from None

    def _resolve(self) -> tuple[str, AcmSyncConfig]:
        config = self._config()
        try:
            return run_connection(self._tags, config.connection_names()), config
        except ConnectionResolutionError as exc:
            raise dg.Failure(str(exc)) from None

    def _file(self, name: str, config: AcmSyncConfig) -> Path:
        try:
            connection = config.connection(name)  # unknown: an error, never a new empty file
        except ConfigError as exc:
            raise dg.Failure(str(exc)) from None
        if not connection.env_prefix:
            # The connection on the plain variables (at most one): the org a single-org setup
            # serves keeps today's file when more connections are added beside it.
            return Path(self.path)
        root = (
            self.root
            or os.environ.get(ROOT_ENV)
            or config.warehouse.root
            or str(Path(self.path).parent)
        )
        return connection_path(root, name)
