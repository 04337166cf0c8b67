"""Owned values as the CRM keeps them: the form both sides of the diff are compared in, and the
form they are sent in.

`normalize` turns values (ours, or ones read back from either CRM) into canonical text: numbers
rounded half away from zero to the field's scale, text trimmed (single-line text with its
whitespace collapsed) and cut to the field's length, timestamps in UTC to the second, empty →
None. Two values are equal exactly when the CRM would show the same thing, so a value we wrote
and read back never looks changed (no echo writes). One vectorised implementation serves a
single value and a column alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from acm_sync.writeback.fields import Crm, Owned

ELLIPSIS = "…"
NUMERIC = ("number", "percent", "currency")


class InvalidValues(ValueError):
    """Values a field cannot hold; `.mask` marks them (index-aligned)."""

    def __init__(self, field: Owned, mask: pd.Series, examples: list[Any]) -> None:
        self.field, self.mask = field, mask
        shown = ", ".join(repr(v) for v in examples[:3])
        super().__init__(f"{field.salesforce}: {int(mask.sum())} invalid value(s), e.g. {shown}")


def _text(values: pd.Series) -> pd.Series:
    present = values.notna()
    return values.where(~present, values.astype(str)).astype(object)


def normalize_series(field: Owned, values: pd.Series) -> pd.Series:
    """Canonical text of each value (object dtype; None = empty). Raises InvalidValues when
    some value cannot be held by the field (not a number, not a picklist option)."""
    values = values.astype(object).where(values.notna(), None)
    text = _text(values)
    blank = text.isna() | (text.astype(str).str.strip() == "")
    if field.kind in NUMERIC:
        numbers = pd.to_numeric(text.where(~blank), errors="coerce").astype("float64")
        bad = ~blank & ~np.isfinite(numbers)
        if bad.any():
            raise InvalidValues(field, bad, values[bad].tolist())
        factor = 10.0**field.scale
        magnitude = np.floor(numbers.abs() * factor + 0.5 + 1e-9) / factor
        rounded = np.where(numbers < 0, -magnitude, magnitude) + 0.0  # + 0.0: no "-0"
        spec = f".{field.scale}f"
        texts = [None if b else format(x, spec) for x, b in zip(rounded, blank, strict=True)]
        return pd.Series(texts, index=values.index, dtype=object)
    out = pd.Series(None, index=values.index, dtype=object)
    present = text[~blank].astype(str)
    if present.empty:
        return out
    if field.kind == "datetime":
        raw = present.str.strip()
        epoch = raw.str.fullmatch(r"\d{10,}")
        stamps = pd.to_datetime(
            raw.where(~epoch, None), utc=True, format="ISO8601", errors="coerce"
        )
        bad = stamps.isna() & ~epoch
        if bad.any():
            mask = pd.Series(False, index=values.index)
            mask[bad[bad].index] = True
            raise InvalidValues(field, mask, raw[bad].tolist())
        if epoch.any():
            millis = pd.to_datetime(pd.to_numeric(raw[epoch]), unit="ms", utc=True)
            stamps = stamps.where(~epoch, millis)
        out[present.index] = stamps.dt.floor("s").dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
        return out
    if field.kind == "longtext":
        # every line ending as \n (\r\n and a lone \r too): "a\r\r\nb" must not become
        # "a\r\nb", which would normalize again to something else
        cleaned = present.str.replace(r"\r\n?", "\n", regex=True).str.strip()
    else:
        cleaned = present.str.split().str.join(" ")
    if field.kind == "picklist":
        bad = ~cleaned.isin(field.options)
        if bad.any():
            raise InvalidValues(
                field, bad.reindex(values.index, fill_value=False), values[bad[bad].index].tolist()
            )
    else:
        long = cleaned.str.len() > field.length
        if long.any():
            cut = cleaned[long].str.slice(0, field.length - 1).str.rstrip() + ELLIPSIS
            cleaned = cleaned.where(~long, cut)
    out[cleaned.index] = cleaned.tolist()
    return out


def normalize(field: Owned, value: Any) -> str | None:
    """Canonical text of one value of `field` (None = empty); ValueError when it can't hold it."""
    out = normalize_series(field, pd.Series([value], dtype=object)).iloc[0]
    return None if pd.isna(out) else str(out)


def wire(field: Owned, crm: Crm, value: str | None) -> Any:
    """A normalized value as the CRM's API takes it (None clears the field)."""
    if crm == "hubspot":
        if value is None:
            return ""  # HubSpot clears a property written as the empty string
        if field.kind == "datetime":
            return value.replace("Z", ".000Z")
        return value
    if value is None:
        return None
    if field.kind in NUMERIC:
        return float(value)
    if field.kind == "datetime":
        return value.replace("Z", ".000Z")
    return value
