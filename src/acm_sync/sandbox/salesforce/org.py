"""The Salesforce sandbox's store: one SQLite table per sObject, plus the org's bookkeeping.

An `Org` is composed of its parts (each a small module):

    orgfile.OrgFile               the SQLite file: connection, clock, meta, ids, indexes
    reads.RecordReader            records as JSON / CSV rendered in SQLite, counts, snapshots
    validation.RecordValidator    values checked as the API does before a write
    usage.ApiUsage                DailyApiRequests per UTC day
    jobs.BulkJobs                 bulk jobs and their blobs
    seeding.Seeder                loading a generated org, the admin user

and does the writes itself (`Org.write`: audit and derived fields, OpportunityHistory, allOrNone
with savepoints; `Org.merge`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from acm_sync.sandbox.salesforce.common import RecordError
from acm_sync.sandbox.salesforce.jobs import BulkJobs
from acm_sync.sandbox.salesforce.orgfile import OrgFile, quote
from acm_sync.sandbox.salesforce.reads import RecordReader
from acm_sync.sandbox.salesforce.schema import (
    AUDIT_SETTABLE,
    FORECAST_CATEGORY_LABELS,
    SOBJECTS,
    STAGE_BY_NAME,
    SObject,
)
from acm_sync.sandbox.salesforce.seeding import Seeder
from acm_sync.sandbox.salesforce.usage import ApiUsage
from acm_sync.sandbox.salesforce.validation import RecordFailed, RecordValidator, Reject, WriteOp

log = logging.getLogger(__name__)
_HISTORY_FIELDS = ("StageName", "Amount", "CloseDate", "Probability")
_ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)
_CHILDREN = {
    "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId"), ("Account", "ParentId"))
}


@dataclass
class Result:
    """The outcome of one record of a write (SaveResult / UpsertResult / DeleteResult)."""

    id: str | None
    success: bool
    errors: list[RecordError] = field(default_factory=list)
    created: bool = False


class Org:
    """One sandbox org in one SQLite file: its writes, over its composed parts."""

    def __init__(self, db_path: Path, *, clock: Callable[[], datetime]) -> None:
        self.file = OrgFile(db_path, clock=clock)
        self.db = self.file.conn
        self.org_id = self.file.org_id
        self.reader = RecordReader(self.file)
        self.validator = RecordValidator(self.file)
        self.usage = ApiUsage(self.file)
        self.bulk_jobs = BulkJobs(self.file)
        self.seeder = Seeder(self.file)

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
        now = self.file.now()
        serials = dict(self.file.serials)
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
                self.file.serials = serials
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
            self.file.serials = serials
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

    def _row(self, sobj: SObject, rid: str) -> dict[str, Any] | None:
        cur = self.db.execute(f'SELECT * FROM {quote(sobj.name)} WHERE "Id" = ?', (rid,))
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
        out = self.validator.prepare(sobj, values, source, create=True)
        row: dict[str, Any] = dict.fromkeys(self.file.columns[sobj.name])
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
        # audit fields given on insert (only with the org's permission: see the validator)
        audit.update({k: v for k, v in out.items() if k in AUDIT_SETTABLE and v is not None})
        for key, value in audit.items():
            if key in row:
                row[key] = value
        if "OwnerId" in row and row["OwnerId"] is None:
            row["OwnerId"] = user_id
        if "CurrencyIsoCode" in row and row["CurrencyIsoCode"] is None:
            row["CurrencyIsoCode"] = "USD"
        self._derive(sobj, row, set(out), None)
        row["Id"] = self.file.new_id(sobj.name)
        self.db.execute(
            self.file.insert_sql[sobj.name], [row[c] for c in self.file.columns[sobj.name]]
        )
        if sobj.name == "Opportunity":  # history rows are the system's, dated by its clock
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
        sobj, rid = self.validator.target(sobj, record_id)
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
        out = self.validator.prepare(sobj, values, source, create=False)
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
        changed = [c for c in self.file.columns[sobj.name] if row[c] != old[c]]
        if changed:
            self.db.execute(
                f"UPDATE {quote(sobj.name)} SET {', '.join(quote(c) + ' = ?' for c in changed)} "
                'WHERE "Id" = ?',
                [row[c] for c in changed] + [rid],
            )
        if sobj.name == "Opportunity" and any(old[k] != row[k] for k in _HISTORY_FIELDS):
            self._history(row, now, user_id)
        return Result(rid, True, [], created=False)

    def _delete(
        self, sobj: SObject | None, record_id: str | None, now: str, user_id: str, *, hard: bool
    ) -> Result:
        sobj, rid = self.validator.target(sobj, record_id)
        if not sobj.deletable:
            raise RecordFailed(
                RecordError(
                    "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be deleted: {sobj.label}"
                )
            )
        row = self.db.execute(
            f'SELECT "IsDeleted" FROM {quote(sobj.name)} WHERE "Id" = ?', (rid,)
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
            self.db.execute(f'DELETE FROM {quote(name)} WHERE "Id" = ?', (rid,))
        else:
            self.db.execute(
                f'UPDATE {quote(name)} SET "IsDeleted" = 1, "SystemModstamp" = ?, '
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
                    f'SELECT "Id" FROM {quote(child)} WHERE {quote(fk)} = ? AND "IsDeleted" = 0',
                    (rid,),
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
            "Id": self.file.new_id("OpportunityHistory"),
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
        cols = self.file.columns["OpportunityHistory"]
        self.db.execute(self.file.insert_sql["OpportunityHistory"], [values.get(c) for c in cols])

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
        now = self.file.now()
        _, master = self.validator.target(sobj, master_id)
        dupes = [self.validator.target(sobj, d)[1] for d in duplicate_ids]
        for rid in (master, *dupes):
            row = self.db.execute(
                f'SELECT "IsDeleted" FROM {quote(sobj.name)} WHERE "Id" = ?', (rid,)
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
                    f'UPDATE {quote(sobj.name)} SET "IsDeleted" = 1, "MasterRecordId" = ?, '
                    '"SystemModstamp" = ?, "LastModifiedDate" = ?, "LastModifiedById" = ? '
                    'WHERE "Id" = ?',
                    (master, now, now, user_id, rid),
                )
                for child, fk in _CHILDREN.get(sobj.name, ()):
                    ids = [
                        r[0]
                        for r in self.db.execute(
                            f'SELECT "Id" FROM {quote(child)} WHERE {quote(fk)} = ?', (rid,)
                        )
                    ]
                    for child_id in ids:
                        self.db.execute(
                            f'UPDATE {quote(child)} SET {quote(fk)} = ?, "SystemModstamp" = ?, '
                            '"LastModifiedDate" = ?, "LastModifiedById" = ? WHERE "Id" = ?',
                            (master, now, now, user_id, child_id),
                        )
                    updated.extend(ids)
            self.db.execute(
                f'UPDATE {quote(sobj.name)} SET "SystemModstamp" = ?, "LastModifiedDate" = ?, '
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
