"""Bulk API 2.0: ingest jobs (CSV upload, UploadComplete, results) and query jobs (CSV pages
with Sforce-Locator / Sforce-NumberOfRecords), under /services/data/vXX.X/jobs/.

Jobs run synchronously: an ingest job is processed when it is closed (UploadComplete) and a
query job when it is created, but the answers to those two requests report the state as
Salesforce does (UploadComplete); the next GET of the job reports JobComplete. Query results are
a snapshot of the selected rowids, stored with the job (so a restart keeps them); each page is
rendered from SQLite on request, so memory stays bounded for million-row results.
"""

from __future__ import annotations

import array
import base64
import binascii
import csv
import gzip
import io
import itertools
import secrets
import time
from collections.abc import Iterator
from typing import Any

from starlette.responses import Response

from acm_sync.sandbox.salesforce.calls import Call, SandboxState, allow
from acm_sync.sandbox.salesforce.common import RecordError, SfError, not_found
from acm_sync.sandbox.salesforce.ids import POD, case_safe_suffix
from acm_sync.sandbox.salesforce.reads import field_list
from acm_sync.sandbox.salesforce.schema import SOBJECTS, SObject, sobject
from acm_sync.sandbox.salesforce.soql import SoqlError, compile_soql
from acm_sync.sandbox.salesforce.validation import WriteOp

DEFAULT_PAGE = 50_000  # rows per results page when maxRecords is absent
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RESULT_NAMES = {
    "successfulresults": "successfulResults",
    "failedresults": "failedResults",
    "unprocessedrecords": "unprocessedrecords",
}
_FINAL = ("JobComplete", "Failed", "Aborted")


def _job_id() -> str:
    n, digits = secrets.randbelow(62**9), []
    for _ in range(10):
        n, r = divmod(n, 62)
        digits.append(_B62[r])
    id15 = "750" + POD + "".join(reversed(digits))
    return id15 + case_safe_suffix(id15)


def _public(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if not k.startswith("_")}


def _create_info(info: dict[str, Any]) -> dict[str, Any]:
    """The job as the create / close / abort answers show it (no counters)."""
    keys = (
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
        "apiVersion",
        "contentUrl",
        "lineEnding",
        "columnDelimiter",
    )
    return {k: info[k] for k in keys if k in info}


def _bad_job(message: str) -> SfError:
    return SfError(400, "INVALIDJOB", message)


def _format(payload: dict[str, Any]) -> tuple[str, str]:
    delimiter = payload.get("columnDelimiter", "COMMA") or "COMMA"
    line_ending = payload.get("lineEnding", "LF") or "LF"
    if delimiter not in DELIMITERS:
        raise _bad_job(f"InvalidJob : Invalid column delimiter: {delimiter}")
    if line_ending not in LINE_ENDINGS:
        raise _bad_job(f"InvalidJob : Invalid line ending: {line_ending}")
    content_type = payload.get("contentType", "CSV") or "CSV"
    if content_type != "CSV":
        raise _bad_job(f"InvalidJob : Invalid content type: {content_type}; only CSV is supported")
    return delimiter, line_ending


async def handle(app: SandboxState, call: Call) -> Response:
    parts = call.parts
    if len(parts) < 2 or parts[1] not in ("ingest", "query"):
        raise not_found()
    kind = parts[1]
    if len(parts) == 2:
        allow(call, "GET", "POST")
        if call.method == "GET":
            return _list(app, call, kind)
        return await (_create_ingest(app, call) if kind == "ingest" else _create_query(app, call))
    info = app.org.bulk_jobs.get(parts[2], kind)
    if info is None:
        raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
    if len(parts) == 3:
        allow(call, "GET", "PATCH", "DELETE")
        if call.method == "GET":
            return call.respond(_public(info))
        if call.method == "DELETE":
            if info["state"] not in ("UploadComplete", *_FINAL):
                raise SfError(
                    400,
                    "INVALIDJOBSTATE",
                    f"Deleting a job in state {info['state']} is not allowed",
                )
            app.org.bulk_jobs.delete(info["id"])
            return Response(status_code=204)
        return await _set_state(app, call, kind, info)
    if len(parts) == 4 and kind == "ingest" and parts[3] == "batches":
        allow(call, "PUT")
        return await _upload(app, call, info)
    if len(parts) == 4 and kind == "ingest" and parts[3].lower() in _RESULT_NAMES:
        allow(call, "GET")
        return _ingest_results(app, info, _RESULT_NAMES[parts[3].lower()])
    if len(parts) == 4 and kind == "query" and parts[3] == "results":
        allow(call, "GET")
        return _query_results(app, call, info)
    raise not_found()


def _list(app: SandboxState, call: Call, kind: str) -> Response:
    params = call.request.query_params
    jobs = [_public(j) for j in app.org.bulk_jobs.list(kind)]
    if state := params.get("state"):
        jobs = [j for j in jobs if j.get("state") == state]
    if operation := params.get("jobType"):
        jobs = [j for j in jobs if j.get("jobType") == operation]
    return call.respond({"done": True, "records": jobs, "nextRecordsUrl": None})


# -- ingest -------------------------------------------------------------------------------------


async def _create_ingest(app: SandboxState, call: Call) -> Response:
    payload = await call.json_body()
    if not isinstance(payload, dict):
        raise SfError(400, "JSON_PARSER_ERROR", "The job definition must be a JSON object")
    operation = payload.get("operation")
    if operation not in INGEST_OPERATIONS:
        raise _bad_job(f"InvalidJob : Invalid operation: {operation}")
    sobj = sobject(str(payload.get("object") or ""))
    if sobj is None:
        raise SfError(
            404,
            "NOT_FOUND",
            f"sObject type '{payload.get('object')}' is not "
            "supported. If you are attempting to use a custom object, be sure to "
            "append the '__c' after the entity name.",
        )
    delimiter, line_ending = _format(payload)
    external = payload.get("externalIdFieldName")
    if operation == "upsert":
        f = sobj.field(str(external or ""))
        if f is None or not (f.name == "Id" or f.external_id):
            raise _bad_job(
                f"InvalidJob : Field name provided, {external} does not match an "
                f"External ID, Salesforce Id, or indexed field for {sobj.name}"
            )
        external = f.name
    now = app.org.file.now()
    job_id = _job_id()
    info: dict[str, Any] = {
        "id": job_id,
        "operation": operation,
        "object": sobj.name,
        "createdById": call.user_id,
        "createdDate": now,
        "systemModstamp": now,
        "state": "Open",
        "externalIdFieldName": external if operation == "upsert" else None,
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(call.version),
        "contentUrl": f"services/data/v{call.version}/jobs/ingest/{job_id}/batches",
        "lineEnding": line_ending,
        "columnDelimiter": delimiter,
        "jobType": "V2Ingest",
        "numberRecordsProcessed": 0,
        "numberRecordsFailed": 0,
        "retries": 0,
        "totalProcessingTime": 0,
        "apiActiveProcessingTime": 0,
        "apexProcessingTime": 0,
    }
    if operation != "upsert":
        del info["externalIdFieldName"]
    app.org.bulk_jobs.save(job_id, "ingest", info)
    return call.respond(_create_info(info))


async def _upload(app: SandboxState, call: Call, info: dict[str, Any]) -> Response:
    if info["state"] != "Open":
        raise SfError(
            409,
            "INVALIDJOBSTATE",
            f"Job {info['id']} is not open for upload; its state is {info['state']}",
        )
    if info.get("_uploaded"):
        raise SfError(
            400,
            "INVALIDJOB",
            f"Found multiple contents for job: <{info['id']}>, please 'Close' / "
            "'Abort' / 'Delete' the current Job then create a new Job and make sure "
            "you only do 'PUT' once on a given Job.",
        )
    data = await call.request.body()
    if len(data) > 150 * 1024 * 1024:
        raise SfError(413, "REQUEST_ENTITY_TOO_LARGE", "The upload exceeds 150 MB")
    app.org.bulk_jobs.put_blob(info["id"], "upload", data)
    info["_uploaded"] = True
    info["systemModstamp"] = app.org.file.now()
    app.org.bulk_jobs.save(info["id"], "ingest", info)
    return Response(status_code=201)


async def _set_state(app: SandboxState, call: Call, kind: str, info: dict[str, Any]) -> Response:
    payload = await call.json_body()
    state = payload.get("state") if isinstance(payload, dict) else None
    current = info["state"]
    if state == "Aborted":
        if current in _FINAL:
            raise SfError(400, "INVALIDJOBSTATE", f"Job is already in state {current}")
        info["state"] = "Aborted"
        info["systemModstamp"] = app.org.file.now()
        if kind == "ingest":
            upload = app.org.bulk_jobs.blob(info["id"], "upload") or b""
            app.org.bulk_jobs.put_blob(info["id"], "unprocessedrecords", upload)
        app.org.bulk_jobs.save(info["id"], kind, info)
        return call.respond(_create_info(info))
    if state == "UploadComplete" and kind == "ingest":
        if current != "Open":
            raise SfError(
                400,
                "INVALIDJOBSTATE",
                f"Cannot change the state of a job in state {current} to {state}",
            )
        answer = _create_info(
            {**info, "state": "UploadComplete", "systemModstamp": app.org.file.now()}
        )
        _process_ingest(app, call, info)
        return call.respond(answer)
    raise SfError(400, "INVALIDJOBSTATE", f"Invalid job state change: {state}")


def _fail(app: SandboxState, info: dict[str, Any], message: str, upload: bytes) -> None:
    info["state"] = "Failed"
    info["errorMessage"] = message
    info["systemModstamp"] = app.org.file.now()
    app.org.bulk_jobs.put_blob(info["id"], "unprocessedrecords", upload)
    app.org.bulk_jobs.save(info["id"], "ingest", info)


def _csv_bytes(header: list[str], rows: list[list[str]], line_ending: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator=line_ending)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


_CHUNK = 10_000  # rows written per transaction while processing an ingest job
_KINDS = {
    "insert": "create",
    "update": "update",
    "upsert": "upsert",
    "delete": "delete",
    "hardDelete": "hardDelete",
}


def _header_problem(sobj: SObject, info: dict[str, Any], header: list[str]) -> str | None:
    """Why a job's CSV header is refused (the job fails), or None."""
    operation = info["operation"]
    if not header or not any(c.strip() for c in header):
        return "InvalidBatch : Field name not provided"
    columns = []
    for name in header:
        f = sobj.field(name.strip())
        if f is None:
            return f"InvalidBatch : Field name not found : {name}"
        columns.append(f.name)
    if len(set(columns)) != len(columns):
        duplicate = next(c for c in columns if columns.count(c) > 1)
        return f"InvalidBatch : Duplicate field name: {duplicate}"
    if operation in ("delete", "hardDelete") and columns != ["Id"]:
        return f"InvalidBatch : The '{operation}' batch must contain only ids"
    key = _key_column(info)
    if key is not None and key not in columns:
        return f"InvalidBatch : Field name not found : {key}"
    return None


def _key_column(info: dict[str, Any]) -> str | None:
    operation = info["operation"]
    if operation == "upsert":
        return str(info.get("externalIdFieldName"))
    return "Id" if operation in ("update", "delete", "hardDelete") else None


def _process_ingest(app: SandboxState, call: Call, info: dict[str, Any]) -> None:
    """Run a closed ingest job: check the CSV, then write it in chunks, streaming results."""
    started = time.perf_counter()
    upload = app.org.bulk_jobs.blob(info["id"], "upload")
    if not upload:
        _fail(app, info, "InvalidBatch : No data was uploaded for this job", b"")
        return
    sobj = SOBJECTS[info["object"]]
    delimiter = DELIMITERS[info["columnDelimiter"]]
    try:
        text = upload.decode("utf-8-sig")
    except UnicodeDecodeError:
        _fail(app, info, "InvalidBatch : The data is not valid UTF-8", upload)
        return

    def reader() -> Iterator[list[str]]:
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        return (r for r in rows if r)

    try:  # first pass: the whole file must parse, and its header must name real fields
        rows = reader()
        header = next(rows, [])
        total = sum(1 for _ in rows)
    except csv.Error as exc:
        _fail(app, info, f"InvalidBatch : Failed to parse CSV: {exc}", upload)
        return
    problem = _header_problem(sobj, info, header)
    if problem is not None:
        _fail(app, info, problem, upload)
        return
    columns = [f.name for f in field_list(sobj, [name.strip() for name in header])]
    key = _key_column(info)
    kind = _KINDS[info["operation"]]
    ok_out, failed_out = io.StringIO(), io.StringIO()
    ok_csv = csv.writer(ok_out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    failed_csv = csv.writer(failed_out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    ok_csv.writerow(["sf__Id", "sf__Created", *header])
    failed_csv.writerow(["sf__Id", "sf__Error", *header])
    failed = 0
    rows = reader()
    next(rows)
    while chunk := list(itertools.islice(rows, _CHUNK)):
        ops = [_ingest_op(sobj, kind, key, columns, row) for row in chunk]
        results = app.org.write(
            ops, all_or_none=False, user_id=call.user_id, reject=app.faults.take_rejection
        )
        app.faults.record_writes(sobj.name, [r.id for r in results if r.success and r.id])
        for row, result in zip(chunk, results, strict=True):
            if result.success:
                ok_csv.writerow([result.id or "", "true" if result.created else "false", *row])
            else:
                failed += 1
                error = " ".join(e.bulk() for e in result.errors)
                failed_csv.writerow([result.id or "", error, *row])
    app.org.bulk_jobs.put_blob(info["id"], "successfulResults", ok_out.getvalue().encode("utf-8"))
    app.org.bulk_jobs.put_blob(info["id"], "failedResults", failed_out.getvalue().encode("utf-8"))
    app.org.bulk_jobs.put_blob(info["id"], "unprocessedrecords", _csv_bytes(header, []))
    elapsed = int((time.perf_counter() - started) * 1000)
    info.update(
        {
            "state": "JobComplete",
            "systemModstamp": app.org.file.now(),
            "numberRecordsProcessed": total,
            "numberRecordsFailed": failed,
            "totalProcessingTime": elapsed,
            "apiActiveProcessingTime": elapsed,
        }
    )
    app.org.bulk_jobs.save(info["id"], "ingest", info)


def _ingest_op(
    sobj: SObject, kind: str, key: str | None, columns: list[str], row: list[str]
) -> WriteOp:
    values = dict(zip(columns, row, strict=False))
    if len(row) != len(columns):
        error = RecordError(
            "INVALID_FIELD", f"The row has {len(row)} values for {len(columns)} columns"
        )
        return WriteOp(kind, sobj, values.get("Id"), {}, source="csv", error=error)
    record_id = values.pop(key, None) if key else None
    if kind == "create":
        values.pop("Id", None)
    return WriteOp(kind, sobj, record_id or None, values, source="csv")


def _ingest_results(app: SandboxState, info: dict[str, Any], name: str) -> Response:
    if info["state"] not in _FINAL:
        raise SfError(
            400,
            "INVALIDJOBSTATE",
            f"Results are available once the job is complete; its state is {info['state']}",
        )
    data = app.org.bulk_jobs.blob(info["id"], name)
    if data is None:
        data = (
            b""
            if name == "unprocessedrecords"
            else _csv_bytes(
                ["sf__Id", "sf__Created" if name == "successfulResults" else "sf__Error"], []
            )
        )
    return Response(data, 200, media_type="text/csv")


# -- query --------------------------------------------------------------------------------------


async def _create_query(app: SandboxState, call: Call) -> Response:
    payload = await call.json_body()
    if not isinstance(payload, dict):
        raise SfError(400, "JSON_PARSER_ERROR", "The job definition must be a JSON object")
    operation = payload.get("operation", "query")
    if operation not in QUERY_OPERATIONS:
        raise _bad_job(f"InvalidJob : Invalid operation: {operation}")
    text = payload.get("query")
    if not isinstance(text, str) or not text.strip():
        raise _bad_job("InvalidJob : The query is required")
    delimiter, line_ending = _format(payload)
    try:
        compiled = compile_soql(text, now=app.clock())
    except SoqlError as exc:
        raise SfError(400, exc.error_code, exc.message) from None
    if compiled.count_only:
        raise SfError(
            400,
            "API_ERROR",
            "Aggregate queries, including COUNT(), are not supported by Bulk API 2.0",
        )
    if compound := [f.name for f in compiled.fields if f.components]:
        raise SfError(400, "API_ERROR", compound_refusal(compound))
    name = compiled.sobject.name
    rowids = app.org.reader.snapshot(
        name,
        compiled.where_sql,
        compiled.params,
        include_deleted=operation == "queryAll",
        order_by_sql=compiled.order_by_sql,
        limit=compiled.limit,
        offset=compiled.offset,
    )
    now = app.org.file.now()
    job_id = _job_id()
    info: dict[str, Any] = {
        "id": job_id,
        "operation": operation,
        "object": name,
        "createdById": call.user_id,
        "createdDate": now,
        "systemModstamp": now,
        "state": "UploadComplete",
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(call.version),
        "lineEnding": line_ending,
        "columnDelimiter": delimiter,
        "_fields": [f.name for f in compiled.fields],
        "_count": len(rowids),
    }
    answer = _create_info(info)
    info.update(
        {
            "state": "JobComplete",
            "jobType": "V2Query",
            "numberRecordsProcessed": len(rowids),
            "retries": 0,
            "totalProcessingTime": 0,
            "isPkChunkingSupported": True,
        }
    )
    app.org.bulk_jobs.put_blob(job_id, "rowids", rowids.tobytes())
    app.org.bulk_jobs.save(job_id, "query", info)
    return call.respond(answer)


def compound_refusal(names: list[str]) -> str:
    """Why a Bulk query selecting compound fields (`BillingAddress`, …) is refused."""
    return (
        "FUNCTIONALITY_NOT_ENABLED: Selecting compound data not supported in Bulk Query "
        f"({', '.join(names)}); select the component fields instead"
    )


def _decode_locator(locator: str) -> int | None:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
        offset = int(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return offset if offset >= 0 else None


def _encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _query_results(app: SandboxState, call: Call, info: dict[str, Any]) -> Response:
    if info["state"] != "JobComplete":
        raise SfError(
            400,
            "JOB_NOT_COMPLETE",
            "can only download query results of successfully completed bulk job with "
            f"status: JOB_COMPLETE. Current status: {info['state']}",
        )
    params = call.request.query_params
    raw_max = params.get("maxRecords")
    page = DEFAULT_PAGE
    if raw_max is not None:
        try:
            page = int(raw_max)
        except ValueError:
            page = 0
        if page <= 0:
            raise SfError(
                400, "INVALIDREQUEST", f"maxRecords must be a positive integer: {raw_max}"
            )
    total = int(info["_count"])
    offset = 0
    if locator := params.get("locator"):
        decoded = _decode_locator(locator)
        if decoded is None or decoded > total:
            raise SfError(400, "INVALID_QUERY_LOCATOR", f"Invalid locator: {locator}")
        offset = decoded
    end = min(total, offset + page)
    blob = app.org.db.execute(
        "SELECT substr(data, ?, ?) FROM _bulk_blobs WHERE job_id = ? AND name = 'rowids'",
        (offset * 8 + 1, (end - offset) * 8, info["id"]),
    ).fetchone()
    rowids: array.array[int] = array.array("q")
    if blob and blob[0]:
        rowids.frombytes(bytes(blob[0]))
    sobj = SOBJECTS[info["object"]]
    fields = field_list(sobj, info["_fields"], paths=True)
    delimiter = DELIMITERS[info["columnDelimiter"]]
    newline = LINE_ENDINGS[info["lineEnding"]]
    lines = app.org.reader.page_csv(sobj, fields, rowids, delimiter) if len(rowids) else []
    header = delimiter.join(f'"{f.name}"' for f in fields)
    body = (header + newline + "".join(line + newline for line in lines)).encode("utf-8")
    headers = {
        "Sforce-NumberOfRecords": str(len(lines)),
        "Sforce-Locator": _encode_locator(end) if end < total else "null",
    }
    if _accepts_gzip(call.request.headers.get("accept-encoding", "")):
        # As Salesforce does when the client asks for it (requests always does).
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return Response(body, 200, headers=headers, media_type="text/csv")


def _accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
