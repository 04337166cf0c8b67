"""A SOQL subset, parsed by hand and compiled to a SQLite query over the sandbox's store.

Storage (fixed by the server): one table per sObject named like it, one column per field named
like the field; datetimes as UTC TEXT 'YYYY-MM-DDTHH:MM:SS.000+0000', dates as 'YYYY-MM-DD',
booleans as 0/1, numbers as INTEGER/REAL, everything else TEXT.

Supported: SELECT fields (and parent fields one level up, `Owner.Name`, in the SELECT list only)
| COUNT() | FIELDS(ALL|STANDARD|CUSTOM) FROM obj [alias]
[WHERE ...] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n].
WHERE has AND / OR / NOT / parentheses (as in SOQL, AND and OR can't be mixed at one level
without parentheses), = != <> < <= > >= [NOT] IN LIKE, and string / number / boolean / null /
date / dateTime / relative date literals. SOQL compares with two-valued logic (null != 'x' is
true), so every atom compiles to an expression that is never NULL and NOT stays correct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from acm_sync.sandbox.salesforce import ids
from acm_sync.sandbox.salesforce.schema import Field, SObject, path_field, sobject


class SoqlError(Exception):
    """A query Salesforce would refuse, with its error code and message."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class CompiledQuery:
    sobject: SObject
    fields: tuple[Field, ...]  # selected fields in SELECT order (empty for COUNT())
    count_only: bool
    where_sql: str  # SQLite boolean expression, "1" without WHERE
    params: tuple[object, ...]  # bound parameters of where_sql, in order
    order_by_sql: str  # "" or 'ORDER BY "Name" COLLATE NOCASE ASC, "Id" ASC'
    limit: int | None
    offset: int | None


MAX_OFFSET = 2000
FIELDS_FUNCTION_LIMIT = 200
_MAX_DEPTH = 64
_MAX_INT = 2**31 - 1

STRING_TYPES = frozenset(
    {"string", "textarea", "email", "url", "phone", "picklist", "multipicklist", "combobox"}
)
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})

# Salesforce's reserved words (plus the boolean / null literals): never a field or an alias.
# fmt: off
_RESERVED = frozenset({
    "AND", "ASC", "DESC", "EXCLUDES", "FIRST", "FROM", "GROUP", "HAVING", "IN", "INCLUDES", "LAST",
    "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OR", "SELECT", "WHERE", "WITH", "TRUE", "FALSE",
})
# fmt: on
_CLAUSES = frozenset(
    ["WHERE", "ORDER", "LIMIT", "OFFSET", "WITH", "GROUP", "HAVING", "USING", "FOR", "UPDATE"]
)
_UNSUPPORTED_CLAUSES = {
    "WITH": "WITH",
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "USING": "USING SCOPE",
    "FOR": "FOR VIEW / FOR REFERENCE / FOR UPDATE",
    "UPDATE": "UPDATE TRACKING / VIEWSTAT",
}

# --- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    kind: str  # ident string number date datetime op punct eof
    text: str  # as written
    pos: int  # offset into the query
    value: object = None  # decoded literal
    like: str = ""  # strings: the LIKE pattern (ESCAPE '\')

    @property
    def word(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


_SPACE = re.compile(r"\s+")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))(?![\w:.])",
    re.ASCII,
)
_DATETIME_ISH = re.compile(r"\d{4}-\d{2}-\d{2}[Tt][\w:.+-]*", re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?![\w.:-])", re.ASCII)
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?![\w.])", re.ASCII)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _located(text: str, pos: int, message: str) -> str:
    """Salesforce's error layout: the offending line, a caret, Row:Column, then the message."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start : end if end >= 0 else len(text)]
    row = text.count("\n", 0, pos) + 1
    col = pos - start + 1
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}"


def _malformed(text: str, pos: int, message: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", _located(text, pos, message))


def _utc_text(dt: datetime) -> str:
    """A datetime in the store's form (UTC, milliseconds, +0000)."""
    dt = dt.astimezone(UTC)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
        f"{dt.second:02d}.{dt.microsecond // 1000:03d}+0000"
    )


def _string_token(text: str, pos: int) -> _Tok:
    value: list[str] = []
    like: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == "'":
            return _Tok("string", text[pos : i + 1], pos, "".join(value), "".join(like))
        if ch == "\\":
            esc = text[i + 1 : i + 2]
            if esc in ("%", "_"):  # literal % / _ in LIKE patterns
                value.append(esc)
                like.append("\\" + esc)
            elif esc.lower() in _ESCAPES:
                decoded = _ESCAPES[esc.lower()]
                value.append(decoded)
                like.append("\\\\" if decoded == "\\" else decoded)
            else:
                raise _malformed(text, i, f"Invalid string literal: illegal escape '\\{esc}'")
            i += 2
            continue
        value.append(ch)
        like.append("\\\\" if ch == "\\" else ch)
        i += 1
    raise _malformed(text, pos, "Invalid string literal: missing closing quote")


def _datetime_token(text: str, pos: int, m: re.Match[str]) -> _Tok:
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    try:
        offset = timedelta(0) if z else timedelta(hours=int(oh), minutes=int(om))
        tz = timezone(-offset if sign == "-" else offset)
        ms = int((frac or "0")[:3].ljust(3, "0"))
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), ms * 1000, tzinfo=tz)
        stored = _utc_text(dt)
    except (ValueError, OverflowError):
        raise _malformed(text, pos, f"invalid dateTime literal: {m.group(0)}") from None
    return _Tok("datetime", m.group(0), pos, stored)


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while True:
        if m := _SPACE.match(text, i):
            i = m.end()
        if i >= len(text):
            toks.append(_Tok("eof", "<EOF>", len(text)))
            return toks
        ch = text[i]
        if ch == "'":
            tok = _string_token(text, i)
        elif m := _DATETIME.match(text, i):
            tok = _datetime_token(text, i, m)
        elif m := _DATETIME_ISH.match(text, i):
            raise _malformed(text, i, f"invalid dateTime literal: {m.group(0)}")
        elif m := _DATE.match(text, i):
            try:
                day = date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                raise _malformed(text, i, f"invalid date literal: {m.group(0)}") from None
            tok = _Tok("date", m.group(0), i, day.isoformat())
        elif m := _NUMBER.match(text, i):
            num: int | float = float(m[0]) if "." in m[0] else int(m[0])
            if isinstance(num, int) and abs(num) >= 2**63:
                num = float(num)  # SQLite integers are 64-bit
            tok = _Tok("number", m.group(0), i, num)
        elif m := _IDENT.match(text, i):
            tok = _Tok("ident", m.group(0), i)
        elif op := next((o for o in _OPS if text.startswith(o, i)), None):
            tok = _Tok("op", op, i)
        elif ch in "(),:":
            tok = _Tok("punct", ch, i)
        else:
            raise _malformed(text, i, f"no viable alternative at character '{ch}'")
        toks.append(tok)
        i = tok.pos + len(tok.text)


# --- relative date literals -------------------------------------------------------------------

_MAX_ORD = date.max.toordinal()
_UNITS = {"DAY": "day", "WEEK": "week", "MONTH": "month", "QUARTER": "quarter", "YEAR": "year"}
_UNITS.update({"FISCAL_QUARTER": "quarter", "FISCAL_YEAR": "year"})  # fiscal year = calendar
_UNIT_RE = "|".join(sorted(_UNITS, key=len, reverse=True))
_REL_FIXED = {  # name -> (family, unit, n)
    "TODAY": ("THIS", "day", 0),
    "YESTERDAY": ("LAST", "day", 0),
    "TOMORROW": ("NEXT", "day", 0),
    "LAST_90_DAYS": ("LAST_N", "day", 90),
    "NEXT_90_DAYS": ("NEXT_N", "day", 90),
}
_REL_SIMPLE = re.compile(rf"(THIS|LAST|NEXT)_({_UNIT_RE})")
_REL_N = re.compile(rf"(LAST|NEXT)_N_({_UNIT_RE})S")
_REL_AGO = re.compile(rf"N_({_UNIT_RE})S_AGO")


def _unit_start(unit: str, today: date, k: int) -> int:
    """Ordinal of the first day of the unit `k` units from today's, clamped to the calendar.

    Weeks start on Sunday (en_US locale); the fiscal year is the calendar year.
    """
    if unit == "day":
        o = today.toordinal() + k
    elif unit == "week":
        o = today.toordinal() - (today.weekday() + 1) % 7 + 7 * k
    else:
        step = {"month": 1, "quarter": 3, "year": 12}[unit]
        mi = today.year * 12 + today.month - 1
        mi = mi - mi % step + step * k
        if not 1 <= mi // 12 <= 9999:
            return 1 if mi < 12 else _MAX_ORD + 1
        o = date(mi // 12, mi % 12 + 1, 1).toordinal()
    return min(max(o, 1), _MAX_ORD + 1)


def _relative_range(family: str, unit: str, n: int, today: date) -> tuple[int, int]:
    """[start, end) ordinals of a relative date literal, as Salesforce defines them."""

    def s(k: int) -> int:
        return _unit_start(unit, today, k)

    if family == "THIS":
        return s(0), s(1)
    if family == "LAST":
        return s(-1), s(0)
    if family == "NEXT":
        return s(1), s(2)
    if family == "LAST_N":  # LAST_N_DAYS includes today; the others stop at the current unit
        return s(-n), s(1) if unit == "day" else s(0)
    if family == "NEXT_N":
        return s(1), s(n + 1)
    return s(-n), s(-n + 1)  # N_<unit>S_AGO


def _ord_text(o: int, datetime_field: bool) -> str:
    # '9999-12-32' sorts after every storable date and datetime: an open end
    day = "9999-12-32" if o > _MAX_ORD else date.fromordinal(o).isoformat()
    return day + "T00:00:00.000+0000" if datetime_field else day


# --- parser / compiler -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Val:
    kind: str  # string number bool null date datetime relative
    tok: _Tok
    value: object = None
    span: tuple[int, int] = (0, 0)  # relative: [start, end) ordinals


def _q(f: Field) -> str:
    return f'"{f.name}"'


def _col(f: Field) -> str:
    return f'"{f.name}" COLLATE NOCASE' if f.type in STRING_TYPES else f'"{f.name}"'


class _Compiler:
    def __init__(self, text: str, now: datetime) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.today = (now.astimezone(UTC) if now.tzinfo else now).date()
        self.params: list[object] = []
        self.depth = 0
        self.obj: SObject | None = None
        self.alias: str | None = None

    # token helpers
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def accept(self, word: str) -> bool:
        tok = self.peek()
        if tok.word == word or (tok.kind == "punct" and tok.text == word):
            self.next()
            return True
        return False

    def expect(self, word: str) -> _Tok:
        tok = self.next()
        if tok.word != word and not (tok.kind == "punct" and tok.text == word):
            raise self.unexpected(tok)
        return tok

    def unexpected(self, tok: _Tok) -> SoqlError:
        if tok.word in _UNSUPPORTED_CLAUSES:
            clause = _UNSUPPORTED_CLAUSES[tok.word]
            return self.error("MALFORMED_QUERY", tok, f"{clause} is not supported by the sandbox")
        shown = "<EOF>" if tok.kind == "eof" else f"'{tok.text}'"
        return self.error("MALFORMED_QUERY", tok, f"unexpected token: {shown}")

    def error(self, code: str, tok: _Tok, message: str) -> SoqlError:
        return SoqlError(code, _located(self.text, tok.pos, message))

    def name_token(self) -> _Tok:
        tok = self.next()
        if tok.kind != "ident" or tok.word in _RESERVED:
            raise self.unexpected(tok)
        if self.peek().text == "(":
            msg = f"function {tok.text}() is not supported by the sandbox"
            raise self.error("MALFORMED_QUERY", tok, msg)
        return tok

    # query
    def compile(self) -> CompiledQuery:
        self.expect("SELECT")
        items = self.select_list()
        self.expect("FROM")
        obj_tok = self.next()
        if obj_tok.kind != "ident" or obj_tok.word in _RESERVED:
            raise self.unexpected(obj_tok)
        obj = sobject(obj_tok.text)
        if obj is None or not obj.queryable:
            raise self.error(
                "INVALID_TYPE", obj_tok,
                f"sObject type '{obj_tok.text}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )  # fmt: skip
        self.obj = obj
        alias = self.peek()
        if (
            alias.kind == "ident"
            and "." not in alias.text
            and alias.word not in _RESERVED | _CLAUSES
        ):
            self.alias = self.next().text
        fields, count_only, fields_fn = self.resolve_select(items)
        where_sql = self.condition() if self.accept("WHERE") else "1"
        order_by_sql = ""
        if self.accept("ORDER"):
            self.expect("BY")
            order_by_sql = self.order_by()
        limit = self.count_value("LIMIT") if self.accept("LIMIT") else None
        offset = self.count_value("OFFSET") if self.accept("OFFSET") else None
        if (end := self.peek()).kind != "eof":
            raise self.unexpected(end)
        if fields_fn is not None and (limit is None or limit > FIELDS_FUNCTION_LIMIT):
            msg = f"The SOQL FIELDS function must have a LIMIT of at most {FIELDS_FUNCTION_LIMIT}"
            raise self.error("MALFORMED_QUERY", fields_fn, msg)
        return CompiledQuery(
            obj, fields, count_only, where_sql, tuple(self.params), order_by_sql, limit, offset
        )

    def select_list(self) -> list[tuple[str, _Tok]]:
        items: list[tuple[str, _Tok]] = []
        while True:
            tok = self.peek()
            if tok.word in ("COUNT", "FIELDS") and self.toks[self.i + 1].text == "(":
                self.next()
                self.next()
                if tok.word == "COUNT":
                    if not self.accept(")"):
                        msg = "aggregate functions are not supported by the sandbox (only COUNT())"
                        raise self.error("MALFORMED_QUERY", tok, msg)
                    items.append(("COUNT", tok))
                else:
                    arg = self.next()
                    if arg.word not in ("ALL", "STANDARD", "CUSTOM"):
                        raise self.unexpected(arg)
                    self.expect(")")
                    items.append((arg.word, tok))
            elif tok.kind == "punct" and tok.text == "(":
                msg = "subqueries are not supported by the sandbox"
                raise self.error("MALFORMED_QUERY", tok, msg)
            else:
                items.append(("FIELD", self.name_token()))
            if not self.accept(","):
                return items

    def resolve_select(
        self, items: list[tuple[str, _Tok]]
    ) -> tuple[tuple[Field, ...], bool, _Tok | None]:
        assert self.obj is not None
        counts = [tok for kind, tok in items if kind == "COUNT"]
        if counts:
            if len(items) > 1:
                msg = "COUNT() must be the only element in the SELECT list"
                raise self.error("MALFORMED_QUERY", counts[0], msg)
            return (), True, None
        out: dict[str, Field] = {}
        explicit: set[str] = set()
        fields_fn: _Tok | None = None
        for kind, tok in items:
            if kind == "FIELD":
                f = self.field(tok, select=True)
                if f.name in explicit:
                    raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {f.name}")
                explicit.add(f.name)
                out.setdefault(f.name, f)
                continue
            if kind != "STANDARD":
                fields_fn = tok
            for f in self.obj.fields:
                if kind == "ALL" or (kind == "CUSTOM") == f.custom:
                    out.setdefault(f.name, f)
        return tuple(out.values()), False, fields_fn

    def field(self, tok: _Tok, *, select: bool = False) -> Field:
        """The field a name token names; in the SELECT list also a parent's field through a
        lookup (`Owner.Name`, one level), which WHERE / ORDER BY don't take here."""
        assert self.obj is not None
        name, *rest = tok.text.split(".")
        qualifiers = {self.obj.name.lower(), (self.alias or self.obj.name).lower()}
        if len(rest) > 1 and name.lower() in qualifiers:
            name, *rest = rest
        if rest:
            is_relationship = any(
                (f.relationship_name or "").lower() == name.lower() for f in self.obj.fields
            )
            path = path_field(self.obj, ".".join([name, *rest])) if select else None
            if path is not None:
                return path
            if len(rest) == 1 and name.lower() in qualifiers:
                name = rest[0]
            elif is_relationship and len(rest) == 1 and select:
                parent = next(
                    f.reference_to[0]
                    for f in self.obj.fields
                    if (f.relationship_name or "").lower() == name.lower() and f.reference_to
                )
                raise self.error(
                    "INVALID_FIELD", tok,
                    f"No such column '{rest[0]}' on entity '{parent}'. If you are attempting to "
                    "use a custom field, be sure to append the '__c' after the custom field "
                    "name. Please reference your WSDL or the describe call for the appropriate "
                    "names.",
                )  # fmt: skip
            elif is_relationship:
                where = "beyond one level" if select else "in WHERE / ORDER BY"
                msg = (
                    f"relationship paths such as '{tok.text}' are not supported by the sandbox "
                    f"{where}"
                )
                raise self.error("MALFORMED_QUERY", tok, msg)
            else:
                raise self.error(
                    "INVALID_FIELD", tok,
                    f"Didn't understand relationship '{name}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' after "
                    "the custom relationship name. Please reference your WSDL or the describe "
                    "call for the appropriate names.",
                )  # fmt: skip
        f = self.obj.field(name)
        if f is None:
            raise self.error(
                "INVALID_FIELD", tok,
                f"No such column '{name}' on entity '{self.obj.name}'. If you are attempting to "
                "use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )  # fmt: skip
        return f

    def count_value(self, clause: str) -> int:
        tok = self.next()
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.text[0] in "+-":
            raise self.unexpected(tok)
        if tok.value > _MAX_INT:
            raise self.error("MALFORMED_QUERY", tok, f"{clause} value is too large: {tok.text}")
        if clause == "OFFSET" and tok.value > MAX_OFFSET:
            msg = f"Maximum SOQL offset allowed is {MAX_OFFSET}"
            raise self.error("NUMBER_OUTSIDE_VALID_RANGE", tok, msg)
        return tok.value

    def order_by(self) -> str:
        parts = []
        while True:
            ftok = self.name_token()
            f = self.field(ftok)
            if not f.sortable:
                msg = f"field '{f.name}' can not be sorted in a query call"
                raise self.error("INVALID_FIELD", ftok, msg)
            direction = "DESC" if self.accept("DESC") else "ASC"
            if direction == "ASC":
                self.accept("ASC")
            nulls = ""
            if self.accept("NULLS"):
                tok = self.next()
                if tok.word not in ("FIRST", "LAST"):
                    raise self.unexpected(tok)
                nulls = f" NULLS {tok.word}"
            parts.append(f"{_col(f)} {direction}{nulls}")
            if not self.accept(","):
                return "ORDER BY " + ", ".join(parts)

    # WHERE
    def nest(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error("MALFORMED_QUERY", tok, "the WHERE clause is nested too deeply")

    def condition(self) -> str:
        self.nest(self.peek())
        parts = [self.unary()]
        conj = ""
        while (tok := self.peek()).word in ("AND", "OR"):
            if conj and tok.word != conj:  # SOQL wants parentheses to mix AND and OR
                raise self.unexpected(tok)
            conj = self.next().word
            parts.append(self.unary())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else "(" + f" {conj} ".join(parts) + ")"

    def unary(self) -> str:
        tok = self.peek()
        if tok.word == "NOT":
            self.next()
            self.nest(tok)
            inner = self.unary()
            self.depth -= 1
            return f"(NOT {inner})"
        if tok.kind == "punct" and tok.text == "(":
            self.next()
            if self.peek().word == "SELECT":
                raise self.error(
                    "MALFORMED_QUERY", tok, "subqueries are not supported by the sandbox"
                )
            inner = self.condition()
            self.expect(")")
            return inner
        return self.field_expression()

    def field_expression(self) -> str:
        ftok = self.name_token()
        f = self.field(ftok)
        if not f.filterable:
            msg = f"field '{f.name}' can not be filtered in query call"
            raise self.error("INVALID_FIELD", ftok, msg)
        op = self.next()
        if op.kind == "op":
            return self.compare(f, "!=" if op.text == "<>" else op.text, self.value())
        if op.word == "LIKE":
            return self.like(f, self.value())
        if op.word == "IN":
            return self.in_list(f)
        if op.word == "NOT" and self.peek().word == "IN":
            self.next()
            return f"(NOT {self.in_list(f)})"
        if op.word in ("INCLUDES", "EXCLUDES"):
            msg = "includes or excludes operator only valid on multipicklist field"
            raise self.error("INVALID_QUERY_FILTER_OPERATOR", op, msg)
        raise self.unexpected(op)

    def value(self) -> _Val:
        tok = self.next()
        if tok.kind in ("string", "number", "date", "datetime"):
            return _Val(tok.kind, tok, tok.value)
        word = tok.word
        if word in ("TRUE", "FALSE"):
            return _Val("bool", tok, word == "TRUE")
        if word == "NULL":
            return _Val("null", tok)
        if word in _REL_FIXED:
            family, unit, n = _REL_FIXED[word]
        elif m := _REL_SIMPLE.fullmatch(word):
            family, unit, n = m[1], _UNITS[m[2]], 0
        elif (m := _REL_N.fullmatch(word)) or (m := _REL_AGO.fullmatch(word)):
            family = f"{m[1]}_N" if m.re is _REL_N else "AGO"
            unit = _UNITS[m[m.re.groups]]
            self.expect(":")
            num = self.next()
            if num.kind != "number" or not isinstance(num.value, int) or num.text[0] in "+-":
                raise self.unexpected(num)
            n = num.value
        else:
            raise self.unexpected(tok)
        return _Val("relative", tok, span=_relative_range(family, unit, n, self.today))

    def bind(self, *values: object) -> None:
        self.params.extend(values)

    def guard(self, f: Field, expr: str, negative: bool = False) -> str:
        """`expr` made null-safe: a null field fails a positive test and passes a negative one."""
        if not f.nillable:
            return f"({expr})"
        return f"({_q(f)} IS NULL OR {expr})" if negative else f"({_q(f)} IS NOT NULL AND {expr})"

    def is_null(self, f: Field, negative: bool = False) -> str:
        q = _q(f)
        if f.type == "boolean":  # Salesforce: null matches false on boolean fields
            return f"({q} = 1)" if negative else f"({q} IS NULL OR {q} = 0)"
        if f.type in STRING_TYPES:  # Salesforce stores '' as null
            return f"({q} IS NOT NULL AND {q} <> '')" if negative else f"({q} IS NULL OR {q} = '')"
        return f"({q} IS NOT NULL)" if negative else f"({q} IS NULL)"

    def type_error(self, f: Field, v: _Val) -> SoqlError:
        names = {"id": "id", "reference": "id", "boolean": "boolean", "int": "integer"}
        names.update({"date": "date", "datetime": "dateTime", "double": "double"})
        names.update({"currency": "double", "percent": "double"})
        want = names.get(f.type, "string")
        quotes = "should" if want in ("id", "string") else "should not"
        msg = (
            f"value of filter criterion for field '{f.name}' must be of type {want} and "
            f"{quotes} be enclosed in quotes"
        )
        return self.error("INVALID_QUERY_FILTER_OPERATOR", v.tok, msg)

    def coerce(self, f: Field, v: _Val) -> object:
        """The stored form of `v` for field `f` (None: the empty string, i.e. null)."""
        expected = {"boolean": "bool", "date": "date", "datetime": "datetime"}
        if f.type in STRING_TYPES or f.type in ID_TYPES:
            if v.kind != "string":
                raise self.type_error(f, v)
            value = str(v.value)
            if value == "" or f.type in STRING_TYPES:
                return value or None
            if not ids.is_valid_id(value):
                msg = f"invalid ID field: {value}"
                raise self.error("INVALID_QUERY_FILTER_OPERATOR", v.tok, msg)
            return ids.to_18(value)
        if v.kind != expected.get(f.type, "number"):
            raise self.type_error(f, v)
        return int(v.value) if isinstance(v.value, bool) else v.value

    def compare(self, f: Field, op: str, v: _Val) -> str:
        if v.kind == "null":
            if op not in ("=", "!="):
                msg = f"invalid operator on null for field '{f.name}'"
                raise self.error("INVALID_QUERY_FILTER_OPERATOR", v.tok, msg)
            return self.is_null(f, negative=op == "!=")
        if v.kind == "relative":
            return self.in_range(f, op, v)
        value = self.coerce(f, v)
        if value is None:
            return self.is_null(f, negative=op == "!=")
        if f.type == "boolean" and op in ("=", "!="):  # null is false
            return self.is_null(f, negative=(value == 1) != (op == "!="))
        self.bind(value)
        return self.guard(f, f"{_col(f)} {'<>' if op == '!=' else op} ?", negative=op == "!=")

    def in_range(self, f: Field, op: str, v: _Val) -> str:
        if f.type not in ("date", "datetime"):
            raise self.type_error(f, v)
        start, end = (_ord_text(o, f.type == "datetime") for o in v.span)
        q = _q(f)
        if op == "=":
            self.bind(start, end)
            return self.guard(f, f"{q} >= ? AND {q} < ?")
        if op == "!=":
            self.bind(start, end)
            return self.guard(f, f"{q} < ? OR {q} >= ?", negative=True)
        # before the range, up to its end, after it, from its start
        bounds = {"<": ("<", start), "<=": ("<", end), ">": (">=", end), ">=": (">=", start)}
        sql_op, bound = bounds[op]
        self.bind(bound)
        return self.guard(f, f"{q} {sql_op} ?")

    def like(self, f: Field, v: _Val) -> str:
        if f.type not in STRING_TYPES:
            msg = f"invalid operator on field '{f.name}': LIKE is only valid on string fields"
            raise self.error("INVALID_QUERY_FILTER_OPERATOR", v.tok, msg)
        if v.kind != "string":
            raise self.type_error(f, v)
        self.bind(v.tok.like)
        return self.guard(f, f"{_q(f)} LIKE ? ESCAPE '\\'")

    def in_list(self, f: Field) -> str:
        self.expect("(")
        if (tok := self.peek()).word == "SELECT":
            msg = "semi-join subqueries are not supported by the sandbox"
            raise self.error("MALFORMED_QUERY", tok, msg)
        values = [self.value()]
        while self.accept(","):
            values.append(self.value())
        self.expect(")")
        plain = [
            None if v.kind == "null" else self.coerce(f, v) for v in values if v.kind != "relative"
        ]
        parts: list[str] = []
        if known := [value for value in plain if value is not None]:
            self.bind(*known)
            parts.append(self.guard(f, f"{_col(f)} IN ({', '.join('?' * len(known))})"))
        parts += [self.in_range(f, "=", v) for v in values if v.kind == "relative"]
        if None in plain or (f.type == "boolean" and 0 in plain):
            parts.append(self.is_null(f))
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def compile_soql(text: str, *, now: datetime) -> CompiledQuery:
    """Parse `text` and compile it for the SQLite store; raise SoqlError as Salesforce would.

    `now` (UTC; the sandbox org's time zone is GMT) anchors the relative date literals.
    """
    return _Compiler(text, now).compile()
