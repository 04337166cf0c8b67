"""Sending the plan: batched, journaled, per-record outcomes kept.

- Salesforce: sObject Collections (`PATCH composite/sobjects`, ≤ 200 records a call, allOrNone
  false), or one Bulk API 2.0 update job per object above `salesforce.bulk_threshold` records.
- HubSpot: `POST …/batch/update`, ≤ 100 records a call. A 207 names the records not written;
  a 400 refuses the whole batch, which is then split in halves until the refused records are
  alone (the others are written).
- A rejected record never stops its batch: it goes to the dead-letter table with the CRM's error
  code and message, and is planned again on later runs (up to `max_attempts`).
- Every batch is journaled just before its request goes out (a batch the API budget refused
  never left, so it is not journaled) and closed with its outcome in one transaction
  (`writeback.store`). A batch left `sent` by a killed process is settled first: its records
  are read back and those already holding the sent values are recorded as written.
- A write whose answer was lost (`AmbiguousWrite`: a dropped connection, a timeout, a 5xx that
  does not say whether it was applied) is never resent blindly: it is settled the same way, by
  reading the records back, and only the records that did not land are sent again.
- `wire_record` is the one place a request body is made, and it refuses any field we do not own.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd

from acm_sync.connectors.hubspot import HubSpotClient
from acm_sync.connectors.policy import AmbiguousWrite, RequestPolicy
from acm_sync.connectors.salesforce import SalesforceClient
from acm_sync.writeback.fields import Crm, field_of, owned_names
from acm_sync.writeback.plan import payloads
from acm_sync.writeback.store import Batch, Rejection, WritebackStore
from acm_sync.writeback.values import normalize, wire

log = logging.getLogger(__name__)

SF_COLLECTION_MAX = 200
HS_BATCH_MAX = 100
BULK_NULL = "#N/A"  # Bulk API 2.0 CSV: set the field to null
# Lost answers in a row on one batch before the step gives up (each is settled by a read-back).
AMBIGUOUS_ROUNDS = 3


class NotOwnedField(Exception):
    """A write would touch a field acm_sync does not own: nothing is sent."""


def wire_record(crm: Crm, obj: str, values: dict[str, str | None]) -> dict[str, Any]:
    """The field values of one record as sent — only owned fields, ever."""
    owned = set(owned_names(crm, obj))
    foreign = sorted(set(values) - owned)
    if foreign:
        raise NotOwnedField(
            f"refusing to write {crm} {obj} fields acm_sync does not own: {', '.join(foreign)}"
        )
    return {name: wire(field_of(crm, obj, name), crm, value) for name, value in values.items()}


@dataclass
class ObjectOutcome:
    crm: str
    object: str
    method: str = ""
    records: int = 0
    written: int = 0
    rejected: int = 0
    recovered: int = 0
    ambiguous: int = 0  # batches whose answer was lost, settled by reading back
    batches: int = 0
    write_calls: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)  # error code → records

    def add(self, written: int, rejections: list[Rejection]) -> None:
        self.written += written
        self.rejected += len(rejections)
        for r in rejections:
            self.errors[r.error_code] = self.errors.get(r.error_code, 0) + 1


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Writer:
    """One CRM's write path; subclasses speak the API."""

    crm: Crm

    def __init__(self, store: WritebackStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    @property
    def calls(self) -> int:
        raise NotImplementedError

    @property
    def policy(self) -> RequestPolicy[Any]:
        raise NotImplementedError

    def send(
        self, obj: str, records: dict[str, dict[str, str | None]], outcome: ObjectOutcome
    ) -> None:
        raise NotImplementedError

    def read_back(self, obj: str, ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def _batch(self, obj: str, records: dict[str, dict[str, str | None]]) -> Batch:
        return Batch(uuid.uuid4().hex, self.run_id, self.crm, obj, records)

    def _settle(
        self,
        batch: Batch,
        written: list[str],
        rejected: list[Rejection],
        outcome: ObjectOutcome,
    ) -> None:
        self.store.record_outcome(batch, written=written, rejected=rejected)
        outcome.add(len(written), rejected)

    def recover(self, batch: Batch) -> int:
        """Settle a batch a killed process left `sent`: read its records back; those holding
        the values sent were written (ledgered), the rest were not (they stay in the plan)."""
        written = self._landed(batch)
        log.warning(
            "%s %s: settled an interrupted batch: %d of %d records had been written",
            self.crm,
            batch.object,
            len(written),
            len(batch.records),
        )
        return len(written)

    def _landed(self, batch: Batch) -> list[str]:
        """Read the batch's records back; those holding the values sent were written: record
        them (ledger) and close the batch. The rest did not land."""
        fields = sorted({f for values in batch.records.values() for f in values})
        current = self.read_back(batch.object, list(batch.records), fields)
        written = []
        for rid, values in batch.records.items():
            now = current.get(rid)
            if now is not None and all(
                normalize(field_of(self.crm, batch.object, f), now.get(f)) == v
                for f, v in values.items()
            ):
                written.append(rid)
        self.store.record_outcome(batch, written=written, rejected=[], recovered=True)
        return written

    def _send_batch(
        self,
        obj: str,
        records: dict[str, dict[str, str | None]],
        outcome: ObjectOutcome,
        send: Callable[[list[str]], tuple[list[str], list[Rejection]]],
    ) -> None:
        """One batch through `send` (ids → written, rejected), journaled as its request goes
        out. A lost answer is settled by reading back; only what did not land is sent again."""
        pending = records
        for _round in range(AMBIGUOUS_ROUNDS):
            batch = self._batch(obj, pending)
            before = self.calls
            try:
                with self.policy.writing(journal=partial(self.store.journal_sent, batch)):
                    written, rejected = send(list(pending))
            except AmbiguousWrite as exc:
                outcome.write_calls += self.calls - before
                outcome.ambiguous += 1
                landed = set(self._landed(batch))
                outcome.add(len(landed), [])
                outcome.recovered += len(landed)
                log.warning(
                    "%s %s: %s; read back: %d of %d records had landed, %d to send again",
                    self.crm,
                    obj,
                    exc,
                    len(landed),
                    len(pending),
                    len(pending) - len(landed),
                )
                pending = {rid: v for rid, v in pending.items() if rid not in landed}
                if not pending:
                    return
                continue
            outcome.write_calls += self.calls - before
            self._settle(batch, written, rejected, outcome)
            return
        raise AmbiguousWrite(
            self.crm,
            obj,
            f"{AMBIGUOUS_ROUNDS} answers in a row lost; {len(pending)} records "
            "not written (they stay planned for the next run)",
        )


class SalesforceWriter(Writer):
    crm: Crm = "salesforce"

    def __init__(
        self,
        client: SalesforceClient,
        store: WritebackStore,
        run_id: str,
        *,
        bulk_threshold: int,
        poll_seconds: float,
    ) -> None:
        super().__init__(store, run_id)
        self.client = client
        self.bulk_threshold = bulk_threshold
        self.poll_seconds = poll_seconds

    @property
    def calls(self) -> int:
        return self.client.calls

    @property
    def policy(self) -> RequestPolicy[Any]:
        return self.client.policy

    def send(
        self, obj: str, records: dict[str, dict[str, str | None]], outcome: ObjectOutcome
    ) -> None:
        if len(records) > self.bulk_threshold:
            outcome.method = "bulk_api_2"
            self._send_bulk(obj, records, outcome)
            return
        outcome.method = "composite_sobjects"

        def send(ids: list[str]) -> tuple[list[str], list[Rejection]]:
            body = [
                {"attributes": {"type": obj}, "id": rid, **wire_record(self.crm, obj, records[rid])}
                for rid in ids
            ]
            outcome.batches += 1
            results = self.client.update_collection(body)
            written, rejected = [], []
            for rid, result in zip(ids, results, strict=True):
                if result.get("success"):
                    written.append(rid)
                    continue
                errors = result.get("errors") or [{}]
                rejected.append(
                    Rejection(
                        rid,
                        records[rid],
                        str(errors[0].get("statusCode") or "UNKNOWN"),
                        "; ".join(str(e.get("message", "")) for e in errors),
                    )
                )
            return written, rejected

        for ids in _chunks(list(records), SF_COLLECTION_MAX):
            self._send_batch(obj, {rid: records[rid] for rid in ids}, outcome, send)

    def _send_bulk(
        self, obj: str, records: dict[str, dict[str, str | None]], outcome: ObjectOutcome
    ) -> None:
        fields = sorted({f for values in records.values() for f in values})
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["Id", *fields])
        for rid, values in records.items():
            wired = wire_record(self.crm, obj, values)
            writer.writerow([rid, *(_bulk_cell(wired[f]) if f in wired else "" for f in fields)])
        batch = self._batch(obj, records)
        created: list[str] = []

        def on_created(job_id: str) -> None:
            created.append(job_id)
            self.store.journal_job(batch.batch_id, job_id)

        before = self.client.calls
        outcome.batches += 1
        try:
            # Journaled as the job-create request goes out: a crash from there on reads back.
            with self.policy.writing(journal=lambda: self.store.journal_sent(batch)):
                job_id = self.client.ingest_start(obj, out.getvalue(), on_created=on_created)
        except AmbiguousWrite as exc:
            outcome.ambiguous += 1
            if created:  # the job exists: its state says whether the data went in
                batch = Batch(batch.batch_id, batch.run_id, batch.crm, obj, records, created[0])
                landed = set(self._settle_bulk(batch))
            else:  # no job was made, so nothing landed; the read-back closes the batch
                landed = set(self._landed(batch))
            outcome.add(len(landed), [])
            outcome.recovered += len(landed)
            outcome.write_calls += self.client.calls - before
            log.warning(
                "%s %s: %s; settled: %d of %d records had landed",
                self.crm,
                obj,
                exc,
                len(landed),
                len(records),
            )
            rest = {rid: v for rid, v in records.items() if rid not in landed}
            if rest and len(rest) < len(records):
                self.send(obj, rest, outcome)  # progress was made: send what did not land
            elif rest:
                raise  # nothing landed and the answer was lost again: stop; the next run retries
            return
        batch = Batch(batch.batch_id, batch.run_id, batch.crm, obj, records, job_id)
        self._finish_bulk(batch, outcome)
        outcome.write_calls += self.client.calls - before

    def _finish_bulk(self, batch: Batch, outcome: ObjectOutcome) -> list[str]:
        assert batch.job_id is not None
        self.client.ingest_wait(batch.object, batch.job_id, poll_seconds=self.poll_seconds)
        failed = _csv_rows(self.client.ingest_results(batch.object, batch.job_id, "failedResults"))
        unprocessed = _csv_rows(
            self.client.ingest_results(batch.object, batch.job_id, "unprocessedrecords")
        )
        rejected = []
        for row in failed:
            rid = row.get("sf__Id") or row.get("Id") or ""
            code, _, message = (row.get("sf__Error") or "UNKNOWN:").partition(":")
            if rid in batch.records:
                rejected.append(Rejection(rid, batch.records[rid], code, message.strip()))
        for row in unprocessed:
            rid = row.get("Id") or ""
            if rid in batch.records:
                rejected.append(
                    Rejection(rid, batch.records[rid], "UNPROCESSED", "not processed by the job")
                )
        refused = {r.record_id for r in rejected}
        written = [rid for rid in batch.records if rid not in refused]
        self._settle(batch, written, rejected, outcome)
        return written

    def recover(self, batch: Batch) -> int:
        if batch.job_id is None:
            return super().recover(batch)
        return len(self._settle_bulk(batch))

    def _settle_bulk(self, batch: Batch) -> list[str]:
        """The records a journaled bulk job wrote (an Open job, never closed, wrote none)."""
        assert batch.job_id is not None
        state = self.client.ingest_state(batch.object, batch.job_id)
        if state == "Open":  # never closed: nothing was processed
            self.client.ingest_abort(batch.object, batch.job_id)
            self.store.record_outcome(batch, written=[], rejected=[], recovered=True)
            return []
        outcome = ObjectOutcome(self.crm, batch.object)
        return self._finish_bulk(batch, outcome)

    def read_back(self, obj: str, ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids, SF_COLLECTION_MAX):
            quoted = ", ".join(f"'{i}'" for i in chunk if i.isalnum())
            soql = f"SELECT Id, {', '.join(fields)} FROM {obj} WHERE Id IN ({quoted})"
            for page in self.client.query_pages(soql, include_deleted=False):
                for record in page.records:
                    out[str(record["Id"])] = record
        return out


class HubSpotWriter(Writer):
    crm: Crm = "hubspot"

    def __init__(self, client: HubSpotClient, store: WritebackStore, run_id: str) -> None:
        super().__init__(store, run_id)
        self.client = client

    @property
    def calls(self) -> int:
        return self.client.calls

    @property
    def policy(self) -> RequestPolicy[Any]:
        return self.client.policy

    def send(
        self, obj: str, records: dict[str, dict[str, str | None]], outcome: ObjectOutcome
    ) -> None:
        outcome.method = "batch_update"
        for ids in _chunks(list(records), HS_BATCH_MAX):
            self._send_batch(
                obj,
                {rid: records[rid] for rid in ids},
                outcome,
                lambda pending: self._update(obj, pending, records, outcome),
            )

    def _update(
        self,
        obj: str,
        ids: list[str],
        records: dict[str, dict[str, str | None]],
        outcome: ObjectOutcome,
    ) -> tuple[list[str], list[Rejection]]:
        inputs = [
            {"id": rid, "properties": wire_record(self.crm, obj, records[rid])} for rid in ids
        ]
        outcome.batches += 1
        try:
            answer = self.client.batch_update(obj, inputs)
        except Exception as exc:  # the client's ApiException: the whole batch refused
            status = getattr(exc, "status", None)
            if status != 400:
                raise
            if len(ids) > 1:  # split until the refused records are alone
                half = len(ids) // 2
                a = self._update(obj, ids[:half], records, outcome)
                b = self._update(obj, ids[half:], records, outcome)
                return a[0] + b[0], a[1] + b[1]
            code, message = _hubspot_error(str(getattr(exc, "body", "") or exc))
            return [], [Rejection(ids[0], records[ids[0]], code, message)]
        refused: dict[str, tuple[str, str]] = {}
        for error in answer.get("errors") or []:
            for rid in (error.get("context") or {}).get("ids") or []:
                refused[str(rid)] = (
                    str(error.get("category") or "ERROR"),
                    str(error.get("message") or ""),
                )
        rejected = [Rejection(rid, records[rid], *refused[rid]) for rid in ids if rid in refused]
        return [rid for rid in ids if rid not in refused], rejected

    def read_back(self, obj: str, ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids, HS_BATCH_MAX):
            answer = self.client.batch_read(obj, chunk, properties=fields)
            for record in answer.get("results") or []:
                out[str(record["id"])] = record.get("properties") or {}
        return out


def _bulk_cell(value: Any) -> str:
    if value is None:
        return BULK_NULL
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _csv_rows(text: str) -> list[dict[str, str]]:
    if not text.strip():
        return []
    return list(csv.DictReader(io.StringIO(text)))


def _hubspot_error(body: str) -> tuple[str, str]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return "ERROR", body[:500]
    return str(parsed.get("category") or "ERROR"), str(parsed.get("message") or "")[:500]


def apply_plan(
    plan: pd.DataFrame,
    writers: dict[str, Writer],
    *,
    planned_at: pd.Timestamp | None = None,
    on_object: Callable[[ObjectOutcome], None] | None = None,
) -> list[ObjectOutcome]:
    """Send the plan's write / overwrite_manual cells, object by object.

    Interrupted batches are settled first. Cells the ledger already shows written with the same
    value since `planned_at` (a re-executed apply step) are not sent again.
    """
    for writer in writers.values():
        for batch in writer.store.interrupted():
            if batch.crm == writer.crm:
                writer.recover(batch)
    outcomes = []
    for (crm, obj), cells in plan.groupby(["crm", "object"], sort=True):
        found = writers.get(str(crm))
        if found is None:
            continue
        writer = found
        records = payloads(cells)
        if planned_at is not None and records:
            records = _not_yet_written(writer.store, str(crm), str(obj), records, planned_at)
        outcome = ObjectOutcome(str(crm), str(obj), records=len(records))
        started = time.perf_counter()
        if records:
            writer.send(str(obj), records, outcome)
        outcome.seconds = round(time.perf_counter() - started, 2)
        outcomes.append(outcome)
        if on_object is not None:
            on_object(outcome)
    return outcomes


def _not_yet_written(
    store: WritebackStore,
    crm: str,
    obj: str,
    records: dict[str, dict[str, str | None]],
    since: pd.Timestamp,
) -> dict[str, dict[str, str | None]]:
    ledger = store.ledger(crm, obj)
    ledger = ledger[ledger["written_at"] >= since]
    if ledger.empty:
        return records
    done = {
        (str(r), str(f)): (None if pd.isna(v) else str(v))
        for r, f, v in zip(ledger["record_id"], ledger["field"], ledger["value"], strict=True)
    }
    return {
        rid: values
        for rid, values in records.items()
        if not all(done.get((rid, f), "\x00") == v for f, v in values.items())
    }
