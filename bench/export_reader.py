"""What the export readers share: reading a CSV as text columns, guessing its columns from the
header, and parsing dates, amounts and flags as CRM exports write them.

Used by `backtest_csv.py` (a deals export), `history_csv.py` (a stage-history export beside it),
`score_csv.py` (a purchase log or deals export) and `load_sandbox.py`. One module of their own,
not part of backtest_csv: backtest_csv runs as `__main__`, so a module importing it would load a
second copy, whose `ExportError` is not the one its `main` catches.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Role:
    """A column an export reader reads: its option, what it is called in messages, the header names
    (normalised: lower case, letters and digits only) that are guessed as it, best first."""

    option: str
    label: str
    guesses: tuple[str, ...]


def column_role(option: str, label: str, guesses: str) -> Role:
    """A Role from its guesses written as one space-separated string."""
    return Role(option, label, tuple(guesses.split()))


TRUE, FALSE = frozenset({"true", "t", "yes", "y", "1"}), frozenset({"false", "f", "no", "n", "0"})
US_DATE_FORMATS = (
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%y",
    "%m/%d/%y %H:%M",
    "%m/%d/%y %I:%M %p",
    "%Y/%m/%d",
    "%b %d, %Y",
    "%B %d, %Y",
)
CURRENCY = r"(?:[A-Za-z]{3}|[$€£¥])"
AMOUNT = re.compile(
    rf"^(-?){CURRENCY}?(-?)(\d{{1,3}}(?:,\d{{3}})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)"
    rf"{CURRENCY}?$"
)
PLAIN_NUMBER = r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"


EARLIEST, LATEST = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")


class ExportError(ValueError):
    """A deals export the backtest cannot read at all (one line, for the user)."""


def normalised(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def read_export(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """(the CSV as text columns, notes on how it was read): UTF-8 (Latin-1 when it is not), the
    separator of the header line (comma, semicolon, tab or bar; runs of spaces when the header
    has none of those but several words). ExportError when the file is missing, empty or has no
    rows."""
    if not path.is_file():
        raise ExportError(f"{path}: no such file")
    data = path.read_bytes()
    notes = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        notes.append("read as Latin-1 (the file is not UTF-8)")
    header = text.split("\n", 1)[0]
    if not header.strip():
        raise ExportError(f"{path}: the file is empty (no header line)")
    sep = max(",;\t|", key=header.count)
    if not header.count(sep) and len(header.split()) > 1:  # columns apart by spaces
        sep = r"\s+"
        notes.append("columns separated by spaces")
    try:
        raw = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""]
        )
    except pd.errors.ParserError as error:
        raise ExportError(f"{path}: not a readable CSV ({str(error).strip()})") from None
    if raw.empty:
        raise ExportError(f"{path}: no deal rows under the header ({', '.join(raw.columns)})")
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row")  # 1 = the first row under the header
    return raw.apply(lambda column: column.str.strip()).replace("", np.nan), notes


def guess_columns(
    columns: Sequence[str], given: Mapping[str, str | None], roles: Mapping[str, Role]
) -> tuple[dict[str, str], dict[str, str]]:
    """(role → column, role → "given" / "guessed"): each role's given column, else the first of
    its guesses in the header. ExportError when a given column is not there."""
    found = ", ".join(map(repr, columns))
    by_name: dict[str, str] = {}
    for name in columns:
        by_name.setdefault(normalised(name), name)
    mapping: dict[str, str] = {}
    how: dict[str, str] = {}
    for role, spec in roles.items():
        column = given.get(role)
        if column is not None and column not in columns:
            raise ExportError(f"{spec.option} {column!r} is not a column; columns found: {found}")
        if column is None:
            column = next((by_name[name] for name in spec.guesses if name in by_name), None)
        if column is not None:
            mapping[role] = column
            how[role] = "given" if given.get(role) is not None else "guessed"
    return mapping, how


def parse_dates(text: pd.Series, date_format: str | None = None) -> pd.Series:
    """Each value in the first format that reads it (ISO, then US month/day/year; or only
    `date_format`), in UTC; NaT where none does or the value is blank."""
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    for fmt in (date_format,) if date_format else ("ISO8601", *US_DATE_FORMATS):
        todo = parsed.isna() & text.notna()
        if not todo.any():
            break
        try:
            got = pd.to_datetime(text[todo], format=fmt, utc=True, errors="coerce")
        except ValueError as error:  # a bad directive in --date-format
            raise ExportError(f"--date-format {fmt!r}: {error}") from None
        # outside the years a timestamp holds (1677–2262: "2999-01-01" for "never"): unreadable
        held = got.isna() | ((got >= EARLIEST) & (got <= LATEST))
        parsed[todo] = got.where(held).astype("datetime64[ns, UTC]")
    return parsed


def parse_amounts(text: pd.Series) -> pd.Series:
    """ "$1,200.50", "1200", "EUR 99", "-5" → numbers; NaN where the value is blank or not an
    amount (letters, several dots, "1.200,50"). Plain numbers ("1200", "-5.5": most of a large
    log) are read directly, the rest through the amount pattern."""
    plain = text.str.fullmatch(PLAIN_NUMBER).fillna(False).to_numpy(dtype=bool)
    number = pd.Series(np.nan, index=text.index)
    if plain.any():
        number[plain] = pd.to_numeric(text[plain]).astype(float).to_numpy()
    rest = ~plain & text.notna().to_numpy()
    if rest.any():
        parts = text[rest].str.replace(r"\s", "", regex=True).str.extract(AMOUNT)
        value = pd.to_numeric(parts[2].str.replace(",", "", regex=False), errors="coerce")
        negative = (parts[0] == "-") | (parts[1] == "-")
        number[rest] = value.where(~negative, -value).to_numpy(dtype=float)
    return number


def flags(text: pd.Series) -> pd.Series:
    """true / false (1 / 0, yes / no, …) → True / False; anything else NaN."""
    lower = text.str.lower()
    return lower.map(lambda v: True if v in TRUE else False if v in FALSE else np.nan)
