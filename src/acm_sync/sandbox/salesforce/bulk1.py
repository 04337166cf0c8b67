"""Bulk API 1.0 query and ingest jobs, under /services/async/{version}/ (tap-salesforce's bulk
mode, salesforce-bulk).

    POST /services/async/{v}/job                                   create (JSON or XML jobInfo)
    GET  /services/async/{v}/job/{jobId}                           jobInfo
    POST /services/async/{v}/job/{jobId}                           {"state": "Closed"|"Aborted"}
    POST /services/async/{v}/job/{jobId}/batch                     add a batch: the SOQL, or the
                                                                   records (CSV) of an ingest job
    GET  /services/async/{v}/job/{jobId}/batch                     batchInfoList (XML)
    GET  /services/async/{v}/job/{jobId}/batch/{batchId}           batchInfo (XML)
    GET  /services/async/{v}/job/{jobId}/batch/{batchId}/request   the batch as it was sent
    GET  /services/async/{v}/job/{jobId}/batch/{batchId}/result    query: result-list (XML);
                                                                   ingest: "Id","Success",
                                                                   "Created","Error" (CSV)
    GET  /services/async/{v}/job/{jobId}/batch/{batchId}/result/{resultId}   the rows (CSV)

Authentication is the `X-SFDC-Session` header (a session id / access token). Every request counts
against the daily API allocation. Errors are `{exceptionCode, exceptionMessage}`, as JSON for a
JSON job and as XML (`<error>`) otherwise.

Ingest jobs (insert, update, upsert, delete, hardDelete) take CSV batches; each row is written
as Bulk API 2.0 ingest writes it (same validation, partial success), and the batch result has
one row per request row, in order, as Salesforce's "Get Batch Results" documents:
`"Id","Success","Created","Error"` with errors as `STATUS_CODE:message:fields --`. A header
naming an unknown field fails the batch (`InvalidBatch : Field name not found : X`).

PK chunking (`Sforce-Enable-PKChunking: TRUE` / `chunkSize=N; startRow=ID`, query jobs on the
objects Salesforce lists and custom objects): the batch as added turns "NotProcessed" and one
batch per Id range of `chunkSize` records (deleted ones counted, default 100,000, at most
250,000) runs in its place, as Salesforce documents it; a query with anything but WHERE fails.

A query job may be JSON (`contentType` JSON, batches sent as application/json): its batchInfo,
batch list and result list answer in JSON, and its rows are REST-shaped records with
`attributes`, but dates and datetimes as epoch milliseconds, as Bulk API 1.0 writes them.

Refused, with a clear InvalidJob error: XML jobs and JSON ingest jobs. A batch runs when it is
added (the answer says Queued, as Salesforce's does; the next read says Completed); a query
batch's result is one file.
"""

from __future__ import annotations

import array
import csv
import io
import secrets
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time
from typing import Any
from xml.sax.saxutils import escape

import orjson
from starlette.requests import Request
from starlette.responses import Response

from acm_sync.sandbox.salesforce.bulk import (
    _KINDS,
    _header_problem,
    _ingest_op,
    _key_column,
    compound_refusal,
)
from acm_sync.sandbox.salesforce.calls import MAX_VERSION, MIN_VERSION, SandboxState
from acm_sync.sandbox.salesforce.ids import POD, case_safe_suffix
from acm_sync.sandbox.salesforce.reads import field_list
from acm_sync.sandbox.salesforce.schema import SOBJECTS
from acm_sync.sandbox.salesforce.soql import SoqlError, compile_soql
from acm_sync.sandbox.salesforce.validation import WriteOp

NS = "http://www.force.com/2009/06/asyncapi/dataload"
JSON_TYPE = "application/json"
XML_TYPE = "application/xml"
QUERY_OPERATIONS = ("query", "queryAll")
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
MAX_BATCH_RECORDS = 10_000  # "A batch can contain a maximum of 10,000 records" (Bulk API limits)
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_JOB_KIND = "bulk1"
_JOB_FIELDS = (
    "id",
    "operation",
    "object",
    "createdById",
    "createdDate",
    "systemModstamp",
    "state",
    "externalIdFieldName",
    "concurrencyMode",
    "contentType",
    "numberBatchesQueued",
    "numberBatchesInProgress",
    "numberBatchesCompleted",
    "numberBatchesFailed",
    "numberBatchesTotal",
    "numberRecordsProcessed",
    "numberRetries",
    "apiVersion",
    "numberRecordsFailed",
    "totalProcessingTime",
    "apiActiveProcessingTime",
    "apexProcessingTime",
)
_BATCH_FIELDS = (
    "id",
    "jobId",
    "state",
    "stateMessage",
    "createdDate",
    "systemModstamp",
    "numberRecordsProcessed",
    "numberRecordsFailed",
    "totalProcessingTime",
    "apiActiveProcessingTime",
    "apexProcessingTime",
)


class AsyncError(Exception):
    """A Bulk API 1.0 error: `exceptionCode` + `exceptionMessage`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self, as_json: bool) -> Response:
        if as_json:
            body = orjson.dumps({"exceptionCode": self.code, "exceptionMessage": self.message})
            return Response(body, self.status, media_type=JSON_TYPE)
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><error xmlns="{NS}">'
            f"<exceptionCode>{escape(self.code)}</exceptionCode>"
            f"<exceptionMessage>{escape(self.message)}</exceptionMessage></error>"
        )
        return Response(xml.encode(), self.status, media_type=XML_TYPE)


# Bulk API 1.0 "PK Chunking": supported for these standard objects and custom objects; the
# default chunk size is 100,000, the largest 250,000.
PK_CHUNKING_OBJECTS = frozenset(
    {
        "Account",
        "Campaign",
        "CampaignMember",
        "Case",
        "Contact",
        "Lead",
        "LoginHistory",
        "Opportunity",
        "Task",
        "User",
    }
)
PK_CHUNK_DEFAULT, PK_CHUNK_MAX = 100_000, 250_000


def _pk_chunking(header: str) -> dict[str, Any] | None:
    """`Sforce-Enable-PKChunking` → {chunkSize, startRow?, parent?}, or None when off.

    The header is `TRUE` / `FALSE`, or `;`-separated `chunkSize=N`, `startRow=ID`, `parent=X`
    (with or without a leading `TRUE`)."""
    parts = [p.strip() for p in header.split(";") if p.strip()]
    if not parts or parts[0].lower() == "false":
        return None
    options: dict[str, Any] = {"chunkSize": PK_CHUNK_DEFAULT}
    for part in parts:
        if part.lower() == "true":
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in ("chunkSize", "startRow", "parent"):
            raise AsyncError(400, "InvalidJob", f"Invalid Sforce-Enable-PKChunking option: {part}")
        if key == "chunkSize":
            if not value.isdigit() or not 1 <= int(value) <= PK_CHUNK_MAX:
                raise AsyncError(
                    400,
                    "InvalidJob",
                    f"Invalid chunkSize {value!r}: a whole number up to {PK_CHUNK_MAX:,}",
                )
            options[key] = int(value)
        else:
            options[key] = value
    return options


def _epoch_ms(wire: str) -> int:
    """`2024-05-03T12:00:00.000+0000` or `2024-05-03` (midnight UTC) → epoch milliseconds."""
    if len(wire) == 10:
        moment = datetime.combine(date.fromisoformat(wire), time.min, tzinfo=UTC)
    else:
        moment = datetime.strptime(wire, "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(moment.timestamp() * 1000)


def _batch_json(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: batch.get(k) for k in _BATCH_FIELDS}


def _batch_response(info: dict[str, Any], batch: dict[str, Any], status: int = 200) -> Response:
    """batchInfo: JSON for a JSON job, XML otherwise."""
    if info["contentType"] == "JSON":
        return Response(orjson.dumps(_batch_json(batch)), status, media_type=JSON_TYPE)
    return _xml_response(_xml("batchInfo", batch, _BATCH_FIELDS), status)


def _new_id(prefix: str) -> str:
    n, digits = secrets.randbelow(62**9), []
    for _ in range(10):
        n, r = divmod(n, 62)
        digits.append(_B62[r])
    id15 = prefix + POD + "".join(reversed(digits))
    return id15 + case_safe_suffix(id15)


def _xml(root: str, info: dict[str, Any], keys: tuple[str, ...]) -> str:
    inner = "".join(
        f"<{k}>{escape(_text(info[k]))}</{k}>" for k in keys if k in info and info[k] is not None
    )
    return f"<{root}>{inner}</{root}>"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml_response(body: str, status: int = 200) -> Response:
    """`body` is one element without attributes: the namespace goes on it."""
    rooted = body.replace(">", f' xmlns="{NS}">', 1)
    text = f'<?xml version="1.0" encoding="UTF-8"?>{rooted}'
    return Response(text.encode(), status, media_type=XML_TYPE)


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == JSON_TYPE


class Bulk1:
    """Bulk API 1.0 query jobs over one org (jobs and results kept in the org's database)."""

    def __init__(self, app: SandboxState) -> None:
        self.app = app

    async def handle(self, request: Request, version: str, parts: list[str]) -> Response:
        as_json = _is_json(request)
        try:
            try:
                major = float(version)
            except ValueError:
                major = 0.0
            if not MIN_VERSION <= major <= MAX_VERSION or not parts or parts[0] != "job":
                raise AsyncError(404, "InvalidUrl", f"Unknown resource {request.url.path}")
            session = self._session(request)
            if self.app.org.usage.used() >= self.app.daily_api_limit:
                raise AsyncError(403, "ExceededQuota", "TotalRequests Limit exceeded.")
            self.app.org.usage.count_call()
            response = await self._route(request, version, parts[1:], session.user_id)
        except AsyncError as exc:
            response = exc.response(as_json)
        response.headers["Sforce-Limit-Info"] = self.app.limit_info()
        return response

    def _session(self, request: Request) -> Any:
        token = request.headers.get("x-sfdc-session", "").strip()
        if not token:
            raise AsyncError(400, "InvalidSessionId", "Invalid session id: X-SFDC-Session missing")
        session = self.app.sessions.get(token)
        if session is None:
            raise AsyncError(400, "InvalidSessionId", "Invalid session id")
        return session

    async def _route(
        self, request: Request, version: str, rest: list[str], user_id: str
    ) -> Response:
        method = request.method
        if not rest:
            if method != "POST":
                raise AsyncError(405, "InvalidUrl", f"Method {method} not allowed on job")
            return await self._create(request, version, user_id)
        info = self.app.org.bulk_jobs.get(rest[0], _JOB_KIND)
        if info is None:
            raise AsyncError(400, "InvalidJob", f"Unable to find job {rest[0]}")
        if len(rest) == 1:
            if method == "GET":
                return self._job_response(info)
            if method == "POST":
                return await self._set_state(request, info)
            raise AsyncError(405, "InvalidUrl", f"Method {method} not allowed on a job")
        if rest[1] != "batch":
            raise AsyncError(404, "InvalidUrl", f"Unknown resource {request.url.path}")
        if len(rest) == 2:
            if method == "POST":
                return await self._add_batch(request, info, user_id)
            if method == "GET":
                if info["contentType"] == "JSON":
                    listing = {"batchInfo": [_batch_json(b) for b in info["_batches"]]}
                    return Response(orjson.dumps(listing), 200, media_type=JSON_TYPE)
                batches = "".join(_xml("batchInfo", b, _BATCH_FIELDS) for b in info["_batches"])
                return _xml_response(f"<batchInfoList>{batches}</batchInfoList>")
            raise AsyncError(405, "InvalidUrl", f"Method {method} not allowed on batches")
        batch = next((b for b in info["_batches"] if b["id"] == rest[2]), None)
        if batch is None:
            raise AsyncError(400, "InvalidBatch", f"Unable to find batch {rest[2]}")
        if method != "GET":
            raise AsyncError(405, "InvalidUrl", f"Method {method} not allowed on a batch")
        if len(rest) == 3:
            return _batch_response(info, batch)
        if rest[3] == "request" and len(rest) == 4:
            sent = self.app.org.bulk_jobs.blob(info["id"], f"request-{batch['id']}") or b""
            media = "text/csv" if info["operation"] in INGEST_OPERATIONS else "text/plain"
            return Response(sent, 200, media_type=media)
        if rest[3] != "result" or len(rest) > 5:
            raise AsyncError(404, "InvalidUrl", f"Unknown resource {request.url.path}")
        if batch["state"] != "Completed":
            raise AsyncError(400, "InvalidBatch", f"Batch {batch['id']} is {batch['state']}")
        if info["operation"] in INGEST_OPERATIONS:
            if len(rest) != 4:
                raise AsyncError(404, "InvalidUrl", f"Unknown resource {request.url.path}")
            data = self.app.org.bulk_jobs.blob(info["id"], f"result-{batch['id']}") or b""
            # `text/csv` with no charset parameter: salesforce-bulk compares the header with
            # 'text/csv' exactly, and its live-org CI test reads 50 results through it.
            return Response(data, 200, headers={"content-type": "text/csv"})
        if len(rest) == 4:
            if info["contentType"] == "JSON":
                return Response(orjson.dumps([batch["_result"]]), 200, media_type=JSON_TYPE)
            return _xml_response(f"<result-list><result>{batch['_result']}</result></result-list>")
        if rest[4] != batch["_result"]:
            raise AsyncError(400, "InvalidBatch", f"Unable to find result {rest[4]}")
        if info["contentType"] == "JSON":
            return self._result_json(info, batch)
        return self._result_csv(info, batch)

    # -- jobs ----------------------------------------------------------------------------------

    async def _create(self, request: Request, version: str, user_id: str) -> Response:
        as_json = _is_json(request)
        body = await request.body()
        payload = self._job_payload(body, as_json)
        operation = payload.get("operation")
        if operation not in QUERY_OPERATIONS + INGEST_OPERATIONS:
            raise AsyncError(400, "InvalidJob", f"Invalid operation: {operation}")
        name = payload.get("object")
        if not isinstance(name, str) or name not in SOBJECTS:
            raise AsyncError(400, "InvalidJob", f"Unable to find object: {name}")
        content_type = payload.get("contentType", "CSV")
        if content_type not in ("CSV", "JSON") or (
            content_type == "JSON" and operation not in QUERY_OPERATIONS
        ):
            raise AsyncError(
                400,
                "InvalidJob",
                f"The sandbox emulates CSV jobs and JSON query jobs, not a {content_type} "
                f"{operation} job",
            )
        pk_chunking = _pk_chunking(request.headers.get("sforce-enable-pkchunking", ""))
        if pk_chunking is not None and operation not in QUERY_OPERATIONS:
            pk_chunking = None  # the header is about query jobs; others go on without it
        external_id = payload.get("externalIdFieldName") or None
        if operation == "upsert":
            field = SOBJECTS[name].field(str(external_id or ""))
            if field is None:
                raise AsyncError(
                    400,
                    "InvalidJob",
                    f"External ID was blank for {name}"
                    if not external_id
                    else f"Field name not found : {external_id}",
                )
            external_id = field.name
        concurrency = payload.get("concurrencyMode") or "Parallel"
        if concurrency not in ("Parallel", "Serial"):
            raise AsyncError(400, "InvalidJob", f"Invalid concurrencyMode: {concurrency}")
        now = self.app.org.file.now()
        info: dict[str, Any] = {
            "id": _new_id("750"),
            "operation": operation,
            "object": name,
            "externalIdFieldName": external_id if operation == "upsert" else None,
            "createdById": user_id,
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open",
            "concurrencyMode": concurrency,
            "contentType": content_type,
            "numberBatchesQueued": 0,
            "numberBatchesInProgress": 0,
            "numberBatchesCompleted": 0,
            "numberBatchesFailed": 0,
            "numberBatchesTotal": 0,
            "numberRecordsProcessed": 0,
            "numberRetries": 0,
            "apiVersion": float(version),
            "numberRecordsFailed": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
            "_json": as_json,
            "_batches": [],
            "_pk_chunking": pk_chunking,
        }
        self.app.org.bulk_jobs.save(info["id"], _JOB_KIND, info)
        return self._job_response(info, 201)

    def _job_payload(self, body: bytes, as_json: bool) -> dict[str, Any]:
        if not body.strip():
            raise AsyncError(400, "InvalidJob", "The job definition is empty")
        if as_json:
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise AsyncError(400, "InvalidJob", f"Unable to parse the job: {exc}") from None
            if not isinstance(payload, dict):
                raise AsyncError(400, "InvalidJob", "The job definition must be a JSON object")
            return payload
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise AsyncError(400, "XmlParserException", f"Unable to parse the job: {exc}") from None
        return {child.tag.rpartition("}")[2]: (child.text or "").strip() for child in root}

    def _job_response(self, info: dict[str, Any], status: int = 200) -> Response:
        if info.get("_json"):
            public = {k: info[k] for k in _JOB_FIELDS if info.get(k) is not None}
            return Response(orjson.dumps(public), status, media_type=JSON_TYPE)
        return _xml_response(_xml("jobInfo", info, _JOB_FIELDS), status)

    async def _set_state(self, request: Request, info: dict[str, Any]) -> Response:
        payload = self._job_payload(await request.body(), _is_json(request))
        state = payload.get("state")
        if state not in ("Closed", "Aborted"):
            raise AsyncError(400, "InvalidJob", f"Invalid state {state!r}: Closed or Aborted")
        if info["state"] != "Open":
            raise AsyncError(400, "InvalidJobState", f"Job {info['id']} is {info['state']}")
        info["state"] = state
        info["systemModstamp"] = self.app.org.file.now()
        self.app.org.bulk_jobs.save(info["id"], _JOB_KIND, info)
        return self._job_response(info)

    # -- batches -------------------------------------------------------------------------------

    async def _add_batch(self, request: Request, info: dict[str, Any], user_id: str) -> Response:
        if info["state"] != "Open":
            raise AsyncError(400, "InvalidJobState", f"Job {info['id']} is {info['state']}")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        expected = JSON_TYPE if info["contentType"] == "JSON" else "text/csv"
        if content_type != expected:
            raise AsyncError(
                400,
                "InvalidBatch",
                f"A batch of a {info['contentType']} job must be {expected}, not {content_type}",
            )
        body = await request.body()
        soql = body.decode("utf-8", errors="replace")
        now = self.app.org.file.now()
        batch: dict[str, Any] = {
            "id": _new_id("751"),
            "jobId": info["id"],
            "state": "Queued",
            "createdDate": now,
            "systemModstamp": now,
            "numberRecordsProcessed": 0,
            "numberRecordsFailed": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }
        answer = dict(batch)
        self.app.org.bulk_jobs.put_blob(info["id"], f"request-{batch['id']}", body)
        if info["operation"] in INGEST_OPERATIONS:
            self._ingest(info, batch, body, user_id)
            return self._batch_added(info, batch, answer)
        try:
            compiled = compile_soql(soql, now=self.app.clock())
            if compiled.sobject.name != info["object"]:
                raise SoqlError(
                    "INVALID_TYPE",
                    f"The batch queries {compiled.sobject.name}; the job is for {info['object']}",
                )
            if compiled.count_only:
                raise SoqlError("API_ERROR", "Aggregate queries are not supported by Bulk API")
            if compound := [f.name for f in compiled.fields if f.components]:
                raise SoqlError(
                    "InvalidBatch", "Failed to process query: " + compound_refusal(compound)
                )
            chunking = info.get("_pk_chunking")
            if chunking is not None:
                ranges = self._pk_ranges(compiled, chunking)
            else:
                self._run_query(info, batch, compiled)
        except SoqlError as exc:
            batch.update(state="Failed", stateMessage=f"{exc.error_code} : {exc.message}")
            info["numberBatchesFailed"] += 1
            return self._batch_added(info, batch, answer)
        if chunking is None:
            return self._batch_added(info, batch, answer)
        # PK chunking: the batch as sent is NotProcessed; one batch per Id range runs instead.
        # The wire value has no space (the async API's BatchStateEnum: Queued, InProgress,
        # Completed, Failed, NotProcessed), whatever older guides wrote ("Not Processed").
        batch["state"] = "NotProcessed"
        response = self._batch_added(info, batch, answer)
        for lo, hi in ranges:
            chunk = dict(batch, id=_new_id("751"), state="Queued")
            self._run_query(info, chunk, compiled, (lo, hi))
            self._batch_added(info, chunk, chunk)
        return response

    def _pk_ranges(self, compiled: Any, chunking: dict[str, Any]) -> list[tuple[str, str | None]]:
        """The Id ranges of a PK-chunked query: `chunkSize` records of the object each (deleted
        ones counted too), from `startRow` (default: the first record) on."""
        name = compiled.sobject.name
        if name not in PK_CHUNKING_OBJECTS and not name.endswith("__c"):
            raise SoqlError("InvalidBatch", f"PK chunking is not supported for {name}")
        if compiled.order_by_sql or compiled.limit is not None or compiled.offset:
            raise SoqlError(
                "InvalidBatch",
                "PK chunking works only with queries that have no clause other than WHERE",
            )
        start = chunking.get("startRow") or ""
        rows = self.app.org.reader.db.execute(
            f'SELECT "Id" FROM "{name}" WHERE "Id" >= ? ORDER BY "Id"', (start,)
        ).fetchall()
        ids = [str(r[0]) for r in rows]
        size = int(chunking["chunkSize"])
        starts = ids[::size] or [start or "0"]
        return [(lo, starts[i + 1] if i + 1 < len(starts) else None) for i, lo in enumerate(starts)]

    def _run_query(
        self,
        info: dict[str, Any],
        batch: dict[str, Any],
        compiled: Any,
        id_range: tuple[str, str | None] | None = None,
    ) -> None:
        where, params = compiled.where_sql, list(compiled.params)
        if id_range is not None:
            lo, hi = id_range
            where = f'({where}) AND "Id" >= ?' + (' AND "Id" < ?' if hi else "")
            params += [lo, hi] if hi else [lo]
        rowids = self.app.org.reader.snapshot(
            compiled.sobject.name,
            where,
            params,
            include_deleted=info["operation"] == "queryAll",
            order_by_sql=compiled.order_by_sql,
            limit=compiled.limit,
            offset=compiled.offset,
        )
        batch.update(state="Completed", numberRecordsProcessed=len(rowids))
        batch["_fields"] = [f.name for f in compiled.fields]
        batch["_result"] = _new_id("752")
        self.app.org.bulk_jobs.put_blob(info["id"], f"rows-{batch['id']}", rowids.tobytes())
        info["numberBatchesCompleted"] += 1
        info["numberRecordsProcessed"] += len(rowids)

    def _batch_added(
        self, info: dict[str, Any], batch: dict[str, Any], answer: dict[str, Any]
    ) -> Response:
        info["numberBatchesTotal"] += 1
        info["_batches"].append(batch)
        self.app.org.bulk_jobs.save(info["id"], _JOB_KIND, info)
        return _batch_response(info, answer, 201)

    def _ingest(
        self, info: dict[str, Any], batch: dict[str, Any], body: bytes, user_id: str
    ) -> None:
        """Write an ingest batch's rows; its result CSV has one row per request row."""
        sobj = SOBJECTS[info["object"]]
        rows: list[list[str]] = []
        problem = None
        try:
            text = body.decode("utf-8-sig")
            rows = [r for r in csv.reader(io.StringIO(text, newline=""), strict=True) if r]
        except UnicodeDecodeError:
            problem = "InvalidBatch : The data is not valid UTF-8"
        except csv.Error as exc:
            problem = f"InvalidBatch : Failed to parse CSV: {exc}"
        if problem is None:
            problem = _header_problem(sobj, info, rows[0] if rows else [])
        if problem is None and len(rows) - 1 > MAX_BATCH_RECORDS:
            problem = f"InvalidBatch : Records in a batch exceed the limit of {MAX_BATCH_RECORDS}"
        if problem is not None:
            batch.update(state="Failed", stateMessage=problem)
            info["numberBatchesFailed"] += 1
            return
        header, records = rows[0], rows[1:]
        columns = [f.name for f in field_list(sobj, [name.strip() for name in header])]
        key, kind = _key_column(info), _KINDS[info["operation"]]
        ops: list[WriteOp] = [_ingest_op(sobj, kind, key, columns, row) for row in records]
        results = self.app.org.write(
            ops, all_or_none=False, user_id=user_id, reject=self.app.faults.take_rejection
        )
        self.app.faults.record_writes(sobj.name, [r.id for r in results if r.success and r.id])
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["Id", "Success", "Created", "Error"])
        failed = 0
        for result in results:
            if result.success:
                writer.writerow([result.id or "", "true", _text(bool(result.created)), ""])
            else:
                failed += 1
                error = " ".join(e.bulk() for e in result.errors)
                writer.writerow([result.id or "", "false", "false", error])
        self.app.org.bulk_jobs.put_blob(
            info["id"], f"result-{batch['id']}", out.getvalue().encode("utf-8")
        )
        batch.update(
            state="Completed", numberRecordsProcessed=len(records), numberRecordsFailed=failed
        )
        info["numberBatchesCompleted"] += 1
        info["numberRecordsProcessed"] += len(records)
        info["numberRecordsFailed"] += failed

    def _result_json(self, info: dict[str, Any], batch: dict[str, Any]) -> Response:
        """A JSON query job's rows: REST-shaped records, but dates and datetimes as epoch
        milliseconds, as Bulk API 1.0 writes them."""
        blob = self.app.org.bulk_jobs.blob(info["id"], f"rows-{batch['id']}") or b""
        rowids: array.array[int] = array.array("q")
        rowids.frombytes(blob)
        sobj = SOBJECTS[info["object"]]
        fields = field_list(sobj, batch["_fields"], paths=True)
        prefix = f"/services/data/v{info['apiVersion']:.1f}/sobjects/{sobj.name}/"
        texts = self.app.org.reader.page_json(sobj, fields, rowids, prefix) if len(rowids) else []
        timed = [f.name for f in fields if f.type in ("date", "datetime")]
        records = []
        for text in texts:
            record = orjson.loads(text)
            for name in timed:
                if isinstance(record.get(name), str):
                    record[name] = _epoch_ms(record[name])
            records.append(record)
        return Response(orjson.dumps(records), 200, media_type=JSON_TYPE)

    def _result_csv(self, info: dict[str, Any], batch: dict[str, Any]) -> Response:
        blob = self.app.org.bulk_jobs.blob(info["id"], f"rows-{batch['id']}") or b""
        rowids: array.array[int] = array.array("q")
        rowids.frombytes(blob)
        sobj = SOBJECTS[info["object"]]
        fields = field_list(sobj, batch["_fields"], paths=True)
        lines = self.app.org.reader.page_csv(sobj, fields, rowids, ",") if len(rowids) else []
        header = ",".join(f'"{f.name}"' for f in fields)
        body = (header + "\n" + "".join(line + "\n" for line in lines)).encode("utf-8")
        return Response(body, 200, media_type="text/csv")
