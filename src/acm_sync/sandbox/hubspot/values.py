"""Property values as HubSpot puts them on the wire, and as the store keeps them.

Every property value travels as a string. The store keeps the wire form, with one exception:
datetimes are stored fixed-width with milliseconds (`2024-01-15T10:23:45.000Z`) so that text
comparison is time order (search filters, sorts, incremental pulls); on the way out a zero
fraction is dropped, as HubSpot's Java `Instant` formatting does (`2024-01-15T10:23:45Z`).

Writes accept what HubSpot accepts: numbers as strings or JSON numbers, datetimes as epoch
milliseconds or ISO 8601, dates as `YYYY-MM-DD` or epoch milliseconds at midnight UTC, booleans
as `true` / `false`, enumerations as one of the property's options (checkboxes: `;`-separated).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?$"
)
_INT_RE = re.compile(r"^-?\d{1,16}$")


class InvalidValue(ValueError):
    """A property value HubSpot would refuse; `code` is HubSpot's per-property error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- timestamps ------------------------------------------------------------------------------


def iso_ms(moment: datetime) -> str:
    """The store's fixed-width UTC form: 2024-01-15T10:23:45.123Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def wire_datetime(stored: str | None) -> str | None:
    """A stored datetime as HubSpot prints it (no fraction when it is zero)."""
    if stored is not None and stored.endswith(".000Z"):
        return stored[:-5] + "Z"
    return stored


def parse_instant(raw: Any) -> datetime:
    """Epoch milliseconds (number or digits) or ISO 8601 → aware UTC datetime."""
    if isinstance(raw, bool):
        raise InvalidValue("INVALID_DATETIME", f"{raw!r} is not a valid datetime")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise InvalidValue("INVALID_DATETIME", f"{raw!r} is not a valid datetime")
        return EPOCH + timedelta(milliseconds=int(raw))
    text = str(raw).strip()
    if _INT_RE.match(text):
        return EPOCH + timedelta(milliseconds=int(text))
    m = _ISO_RE.match(text)
    if not m:
        raise InvalidValue("INVALID_DATETIME", f"{text!r} is not a valid datetime")
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hh or 0),
            int(mm or 0),
            int(ss or 0),
            micro,
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise InvalidValue("INVALID_DATETIME", f"{text!r} is not a valid datetime") from exc
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


def stored_datetime(raw: Any) -> str:
    return iso_ms(parse_instant(raw))


def stored_date(raw: Any) -> str:
    """A date property: YYYY-MM-DD (HubSpot wants epoch ms at midnight UTC, or the date)."""
    text = str(raw).strip()
    if _INT_RE.match(text):
        moment = EPOCH + timedelta(milliseconds=int(text))
        if moment.hour or moment.minute or moment.second or moment.microsecond:
            raise InvalidValue(
                "INVALID_DATE",
                f"{text} is at {moment.time()} UTC; date values must be midnight UTC",
            )
        return moment.date().isoformat()
    try:
        return date.fromisoformat(text[:10]).isoformat() if len(text) >= 10 else _bad_date(text)
    except ValueError as exc:
        raise InvalidValue("INVALID_DATE", f"{text!r} is not a valid date") from exc


def _bad_date(text: str) -> str:
    raise InvalidValue("INVALID_DATE", f"{text!r} is not a valid date")


# -- numbers ---------------------------------------------------------------------------------


def format_number(value: float | int | Decimal) -> str:
    """12000.0 → "12000", 12000.5 → "12000.5" (never an exponent for ordinary values)."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return str(value.quantize(Decimal(1)))
        return format(value.normalize(), "f")
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        return format(Decimal(text).normalize(), "f")
    return text


def stored_number(raw: Any) -> str:
    if isinstance(raw, bool):
        raise InvalidValue("INVALID_LONG", f"{raw!r} was not a valid number")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise InvalidValue("INVALID_LONG", f"{raw!r} was not a valid number")
        return format_number(raw)
    text = str(raw).strip().replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidValue("INVALID_LONG", f"{raw!r} was not a valid number") from exc
    if not number.is_finite():
        raise InvalidValue("INVALID_LONG", f"{raw!r} was not a valid number")
    return format_number(number)


# -- the property-type dispatch ----------------------------------------------------------------


def to_stored(prop_type: str, raw: Any, options: set[str] | None) -> str | None:
    """Validate one written value and return its stored form (None clears the property)."""
    if raw is None:
        return None
    if isinstance(raw, dict | list):
        raise InvalidValue("INVALID_VALUE", f"{raw!r} is not a property value")
    if isinstance(raw, str) and raw == "":
        return None
    if prop_type == "number":
        return stored_number(raw)
    if prop_type == "datetime":
        return stored_datetime(raw)
    if prop_type == "date":
        return stored_date(raw)
    if prop_type == "bool":
        text = str(raw).strip().lower()
        if text not in ("true", "false"):
            raise InvalidValue("INVALID_BOOLEAN", f"{raw!r} is not a valid boolean (true/false)")
        return text
    text = raw if isinstance(raw, str) else str(raw)
    if prop_type == "enumeration" and options is not None:
        for part in text.split(";"):
            if part not in options:
                raise InvalidValue(
                    "INVALID_OPTION",
                    f"{part!r} was not one of the allowed options: [{', '.join(sorted(options))}]",
                )
    return text


def to_comparable(prop_type: str, raw: Any) -> Any:
    """A search filter value in the store's comparable form (for SQL parameters)."""
    if prop_type == "number":
        try:
            return float(Decimal(str(raw).strip()))
        except InvalidOperation as exc:
            raise InvalidValue("INVALID_LONG", f"{raw!r} was not a valid number") from exc
    if prop_type == "datetime":
        return stored_datetime(raw)
    if prop_type == "date":
        text = str(raw).strip()
        if _INT_RE.match(text):
            return (EPOCH + timedelta(milliseconds=int(text))).date().isoformat()
        return stored_date(text)
    if prop_type == "bool":
        return str(raw).strip().lower()
    return str(raw)


# -- vectorised conversion of the generator's typed frames -------------------------------------


def series_to_stored(series: pd.Series, prop_type: str) -> list[str | None]:
    """One typed frame column (float / datetime64 / str / bool) → stored strings, None = empty."""
    if prop_type == "datetime" or pd.api.types.is_datetime64_any_dtype(series.dtype):
        if prop_type == "date":
            return _dates(series)
        return _datetimes(series)
    if prop_type == "date":
        return _dates(series)
    if prop_type == "number":
        return _numbers(series)
    if prop_type == "bool":
        out: list[str | None] = []
        for v in series.tolist():
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                out.append(None)
            elif isinstance(v, str):
                out.append(v.lower() if v else None)
            else:
                out.append("true" if v else "false")
        return out
    values = series.astype(object).where(series.notna(), None).tolist()
    return [
        None if v is None or v == "" else (v if isinstance(v, str) else _as_text(v)) for v in values
    ]


def _as_text(v: Any) -> str:
    if isinstance(v, float):
        return format_number(v)
    if isinstance(v, datetime | pd.Timestamp):
        return iso_ms(pd.Timestamp(v).to_pydatetime())
    return str(v)


def _datetimes(series: pd.Series) -> list[str | None]:
    s = pd.to_datetime(series, utc=True, errors="coerce")
    arr = s.dt.tz_convert(None).to_numpy(dtype="datetime64[ms]")
    text = np.datetime_as_string(arr, unit="ms")
    mask = np.isnat(arr)
    return [None if m else t + "Z" for t, m in zip(text.tolist(), mask.tolist(), strict=True)]


def _dates(series: pd.Series) -> list[str | None]:
    s = pd.to_datetime(series, utc=True, errors="coerce")
    arr = s.dt.tz_convert(None).to_numpy(dtype="datetime64[D]")
    text = np.datetime_as_string(arr, unit="D")
    mask = np.isnat(arr)
    return [None if m else t for t, m in zip(text.tolist(), mask.tolist(), strict=True)]


def _numbers(series: pd.Series) -> list[str | None]:
    numeric = pd.to_numeric(series, errors="coerce")
    out: list[str | None] = []
    for v in numeric.tolist():
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            out.append(None)
        else:
            out.append(format_number(v))
    return out
