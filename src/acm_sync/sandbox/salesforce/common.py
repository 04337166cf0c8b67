"""Salesforce-shaped errors and responses shared by the REST, Bulk 2.0 and login handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.responses import Response

JSON_TYPE = "application/json;charset=UTF-8"
CSV_TYPE = "text/csv"

# The HTTP status of an injected fault -> the errorCode Salesforce answers with.
_FAULT_CODES = {
    400: "BAD_REQUEST",
    401: "INVALID_SESSION_ID",
    403: "REQUEST_LIMIT_EXCEEDED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    415: "UNSUPPORTED_MEDIA_TYPE",
    420: "REQUEST_LIMIT_EXCEEDED",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "UNKNOWN_EXCEPTION",
    502: "SERVER_UNAVAILABLE",
    503: "SERVER_UNAVAILABLE",
    504: "SERVER_UNAVAILABLE",
}


class SfError(Exception):
    """A request-level error, answered as `[{"message", "errorCode", "fields"?}]`."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]

    def response(self) -> Response:
        return json_response(self.body(), self.status, headers=self.headers)


@dataclass
class RecordError:
    """One error of one record (a SaveResult / DeleteResult error)."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def rest(self) -> dict[str, Any]:
        """As the single-record REST resources report it (errorCode)."""
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def collection(self) -> dict[str, Any]:
        """As sObject Collections report it (statusCode)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def bulk(self) -> str:
        """As Bulk API 2.0 writes it in `sf__Error`."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


def json_response(
    data: Any,
    status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    pretty: bool = False,
) -> Response:
    option = orjson.OPT_INDENT_2 if pretty else 0
    return Response(
        orjson.dumps(data, option=option), status, headers=headers, media_type=JSON_TYPE
    )


def raw_json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status, media_type=JSON_TYPE)


def error_response(status: int, message: str, retry_after: float | None = None) -> Response:
    """The body of an injected fault, shaped as Salesforce's REST errors (FaultInjector hook)."""
    code = _FAULT_CODES.get(status, "UNKNOWN_EXCEPTION" if status >= 500 else "BAD_REQUEST")
    return json_response([{"message": message, "errorCode": code}], status)


def not_found() -> SfError:
    return SfError(404, "NOT_FOUND", "The requested resource does not exist")


def sf_datetime(moment: datetime) -> str:
    """A datetime as the REST API writes it: 2024-01-01T00:00:00.000+0000 (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
