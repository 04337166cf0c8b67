"""Vectorised text for the explanations (tier reasons, drivers, next actions).

Numbers are formatted once per *distinct displayed value* ("$12k" covers thousands of
accounts) and spread back with an index, and pieces are joined with numpy object-array `+`,
so explaining 100k accounts costs a few array operations, not 100k f-strings. Values that land
in CRM fields are clipped to the field's length with `clip`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

Text = npt.NDArray[np.object_]

REASON_MAX: Final = 255  # CRM text fields: tier reason, next action
DRIVERS_MAX: Final = 1000  # CRM long text: health drivers

_SYMBOLS: Final = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_NS_PER_DAY: Final = 86_400 * 1_000_000_000


def objects(values: pd.Series | npt.ArrayLike) -> Text:
    """Values as an object array with None for every kind of missing (pd.NA, NaN, None),
    so that `== "renewal"` compares element-wise to plain booleans."""
    out = np.asarray(pd.Series(values).to_numpy(dtype=object), dtype=object).copy()
    out[pd.isna(out)] = None
    return out


def currency_symbol(currency: str) -> str:
    return _SYMBOLS.get(currency.upper(), currency.upper() + " ")


def constant(text: str, n: int) -> Text:
    out = np.empty(n, dtype=object)
    out[:] = text
    return out


def strings(values: npt.ArrayLike) -> Text:
    """Any array as an object array of Python str (for `+` concatenation)."""
    return _distinct(np.asarray(values), str)


def integer(values: npt.ArrayLike) -> Text:
    """Whole numbers, no separators ("12"); NaN → "0"."""
    array = np.clip(np.nan_to_num(np.asarray(values, dtype=float)), -9e15, 9e15)
    return _distinct(np.rint(array).astype(np.int64), str)


def grouped(values: npt.ArrayLike) -> Text:
    """Whole numbers with thousands separators ("1,662"); NaN → "0"."""
    array = np.clip(np.nan_to_num(np.asarray(values, dtype=float)), -9e15, 9e15)
    return _distinct(np.rint(array).astype(np.int64), lambda v: f"{v:,}")


def count(values: npt.ArrayLike, unit: str) -> Text:
    """ "1 day", "12 days" (NaN → "0 days")."""
    whole = np.rint(np.nan_to_num(np.asarray(values, dtype=float)))
    return integer(whole) + np.where(whole == 1, f" {unit}", f" {unit}s").astype(object)


def money(values: npt.ArrayLike, symbol: str = "$") -> Text:
    """Compact money: $950, $12k, $1.2M, $3.4B; negatives keep their sign."""
    array = np.clip(np.nan_to_num(np.asarray(values, dtype=float)), -9e17, 9e17)
    size = np.abs(array)
    # unit 0..3 = none, k, M, B; promote early so 999,600 reads $1.0M, not $1000k
    unit = np.select([size >= 999_950_000, size >= 999_500, size >= 999.5], [3, 2, 1], 0)
    # displayed number in tenths: whole dollars and k, one decimal for M and B
    step = np.array([1.0, 1e3, 1e5, 1e8])[unit]
    tenths = (np.rint(size / step) * np.array([10, 10, 1, 1])[unit]).astype(np.int64)
    key = (tenths * 4 + unit) * np.where(array < 0, -1, 1)

    def render(code: np.int64) -> str:
        sign = "-" if code < 0 else ""
        magnitude, unit_code = divmod(abs(int(code)), 4)
        number = f"{magnitude / 10:.1f}" if unit_code >= 2 else f"{magnitude // 10}"
        return f"{sign}{symbol}{number}{('', 'k', 'M', 'B')[unit_code]}"

    return _distinct(key, render)


def percent(fraction: npt.ArrayLike) -> Text:
    """0.123 → "12 %"; NaN → "0 %". Under 1 % with one decimal, 0.004 → "0.4 %", and under
    0.05 % "< 0.1 %": a small share is not read as none (one Key account of a few hundred
    holds well under 1 % of the revenue)."""
    with np.errstate(over="ignore"):  # a huge ratio is clipped below, not an error
        share = np.clip(np.nan_to_num(np.asarray(fraction, dtype=float) * 100), -9e15, 9e15)
    small = (share != 0) & (np.abs(share) < 0.95)
    tenths = np.where(small, np.rint(share * 10), 0).astype(np.int64)
    fine = _distinct(tenths, lambda v: f"{v / 10:.1f} %")
    tiny = np.where(share > 0, "< 0.1 %", "> -0.1 %")
    fine = np.where(tenths == 0, tiny, fine)
    return np.where(small, fine, integer(share) + " %").astype(object)


def dates(values: pd.Series) -> Text:
    """Timestamps as ISO dates (UTC); missing → "never"."""
    stamps = pd.to_datetime(values, utc=True).to_numpy(dtype="datetime64[ns]").view(np.int64)
    missing = stamps == np.iinfo(np.int64).min
    day = np.where(missing, -(10**9), stamps // _NS_PER_DAY)

    def render(code: np.int64) -> str:
        if code == -(10**9):
            return "never"
        return str(np.datetime64(int(code), "D"))

    return _distinct(day, render)


def choose(condition: npt.ArrayLike, yes: Text, no: Text) -> Text:
    return np.where(np.asarray(condition, dtype=bool), yes, no).astype(object)


def join(
    pieces: list[tuple[npt.NDArray[np.bool_], Text]],
    separator: str = "; ",
    rows: int | None = None,
) -> Text:
    """Per row, the pieces whose mask is set, joined with `separator`. `rows`: how many rows
    when there may be no piece at all (else the first piece's)."""
    n = rows if rows is not None else len(pieces[0][0]) if pieces else 0
    out = constant("", n)
    for mask, piece in pieces:
        glue = np.where(out == "", "", separator).astype(object)
        out = np.where(mask, out + glue + piece, out)
    return out


def clip(texts: Text, limit: int) -> Text:
    """Texts cut to `limit` characters (with an ellipsis) so they fit their CRM field."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    out = np.asarray(texts, dtype=object).copy()
    for i in np.flatnonzero(lengths > limit):  # only the few long ones
        out[i] = out[i][: limit - 1] + "…"
    return out


def _distinct(values: npt.NDArray[np.generic], render: Callable[..., str]) -> Text:
    """Render each distinct value once, then spread the strings back."""
    if len(values) == 0:
        return np.empty(0, dtype=object)
    uniques, inverse = np.unique(values, return_inverse=True)
    table = np.array([render(u) for u in uniques], dtype=object)
    return table[inverse.reshape(-1)]
