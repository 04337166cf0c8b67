"""Loading a generated org (pandas frames) into an empty file, the stage catalog, the admin
user, then the indexes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acm_sync.sandbox.salesforce.ids import make_id
from acm_sync.sandbox.salesforce.orgfile import FLOAT_TYPES, OrgFile, quote
from acm_sync.sandbox.salesforce.schema import (
    FORECAST_CATEGORY_LABELS,
    OPPORTUNITY_STAGES,
    ORGANIZATION_NAME,
    SOBJECTS,
    Field,
    SObject,
)

if TYPE_CHECKING:
    import pandas as pd


class Seeder:
    """Bulk loads and first-start set-up of one org."""

    def __init__(self, file: OrgFile) -> None:
        self.file = file
        self.db = file.conn

    def load_frames(self, frames: dict[str, pd.DataFrame], *, admin_username: str) -> None:
        """Load a generated org (pandas frames keyed by sObject) in one transaction."""
        now = self.file.now()
        # A new file: no journal while loading (a failed load leaves no org behind anyway).
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("BEGIN")
        try:
            for name in SOBJECTS:  # what an interrupted earlier seeding may have left
                self.db.execute(f"DELETE FROM {quote(name)}")
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
        self.file.serials.clear()
        self.finish_init(admin_username)

    def finish_init(self, admin_username: str) -> None:
        if not self.db.execute('SELECT 1 FROM "OpportunityStage" LIMIT 1').fetchone():
            self._seed_stages()
        self.ensure_user(admin_username)
        self.file.create_indexes()
        self.file.set_meta("initialized", self.file.now())
        self.file.is_new = False

    def _seed_stages(self) -> None:
        now = self.file.now()
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
            rows.append([values.get(c) for c in self.file.columns["OpportunityStage"]])
        self.db.executemany(self.file.insert_sql["OpportunityStage"], rows)

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
                elif f.type in FLOAT_TYPES:
                    values = [None if v is None else float(v) for v in values]
                elif f.type == "date":
                    values = [None if v is None else str(v)[:10] for v in values]
                elif f.type != "datetime":
                    values = [None if v is None else str(v) for v in values]
            columns.append(values)
        self.db.executemany(self.file.insert_sql[sobj.name], zip(*columns, strict=True))

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

    def ensure_organization(self) -> None:
        """The org's one Organization row, added when missing (also to a file saved by an older
        sandbox). A sandbox org, as the SOAP login says (`sandbox` true): IsSandbox true and no
        trial expiration (a scratch org would have one)."""
        if self.db.execute('SELECT 1 FROM "Organization" LIMIT 1').fetchone():
            return
        now = self.file.now()
        values = {
            "Id": self.file.org_id,
            "Name": ORGANIZATION_NAME,
            "OrganizationType": "Enterprise Edition",
            "InstanceName": "CS5G",
            "IsSandbox": 1,
            "CreatedDate": now,
            "LastModifiedDate": now,
            "SystemModstamp": now,
        }
        cols = self.file.columns["Organization"]
        self.db.execute(self.file.insert_sql["Organization"], [values.get(c) for c in cols])

    def ensure_user(self, username: str) -> str:
        """The Id of the user named `username`, created (an active admin) when missing."""
        row = self.db.execute(
            'SELECT "Id" FROM "User" WHERE lower("Username") = lower(?)', (username,)
        ).fetchone()
        if row:
            return str(row[0])
        now = self.file.now()
        user_id = self.file.new_id("User")
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
        cols = self.file.columns["User"]
        self.db.execute(self.file.insert_sql["User"], [values.get(c) for c in cols])
        return user_id
