"""Record values checked the way the API does before a write: field existence, createable /
updateable, types, lengths, restricted picklists, emails, references, required fields."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from acm_sync.sandbox.salesforce.common import RecordError
from acm_sync.sandbox.salesforce.ids import KEY_PREFIX, is_valid_id, to_18
from acm_sync.sandbox.salesforce.orgfile import FLOAT_TYPES, OrgFile, quote
from acm_sync.sandbox.salesforce.schema import AUDIT_SETTABLE, SOBJECTS, Field, SObject

_PREFIX_TO_OBJECT = {prefix: name for name, prefix in KEY_PREFIX.items()}
_STRING_TYPES = {"string", "textarea", "email", "url", "phone", "picklist", "id", "reference"}
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?$"
)
Reject = Callable[[str, str | None], "tuple[str, str] | None"]


_SKIP = object()  # a CSV cell left empty on update: leave the field as it is


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
            self.field.type, "double" if self.field.type in FLOAT_TYPES else "string"
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
    if t == "int" or t in FLOAT_TYPES:
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


class RecordValidator:
    """Checks a write's records against the schema and the org (references)."""

    def __init__(self, file: OrgFile) -> None:
        self.file = file
        self.db = file.conn

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
            (t == "int" or t in FLOAT_TYPES)
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
            f'SELECT "Id"{deleted} FROM {quote(target)} WHERE "Id" = ?', (to_18(value),)
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
            settable = f.createable if create else f.updateable
            if create and f.name in AUDIT_SETTABLE and self.file.audit_fields_settable:
                settable = True
            if not settable:
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

    def target(self, sobj: SObject | None, record_id: str | None) -> tuple[SObject, str]:
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
