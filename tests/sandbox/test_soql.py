"""The SOQL compiler on its own: compiled queries run against an in-memory SQLite store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acm_sync.sandbox.salesforce import ids
from acm_sync.sandbox.salesforce.schema import SOBJECTS
from acm_sync.sandbox.salesforce.soql import CompiledQuery, SoqlError, compile_soql

NOW = datetime(2024, 5, 15, 12, 30, tzinfo=UTC)  # a Wednesday; weeks start on Sunday the 12th
OWNER = ids.make_id("User", 1)


def _dt(text: str) -> str:
    return text + ".000+0000"


ACCOUNTS = [  # Name, Industry, NumberOfEmployees, AnnualRevenue, BillingCountry, CreatedDate
    ("Acme Corp", "Technology", 120, 1.5e6, "US", _dt("2024-05-15T08:00:00")),
    ("acme labs", "Banking", 10, None, "DE", _dt("2024-05-01T00:00:00")),
    ("Globex", None, None, 5e5, None, _dt("2023-12-31T23:30:00")),
    ("Initech 100%_off", "Retail", 5000, 2e7, "", _dt("2024-02-29T12:00:00")),
    ("O'Brien\\Sons", "Technology", 50, 0.0, "IE", _dt("2024-05-15T23:59:59")),
]
CONTACTS = [  # LastName, FirstName, account index, HasOptedOutOfEmail, Email
    ("Smith", "Ann", 0, 0, "ann@acme.com"),
    ("smith", "Bob", 0, 1, None),
    ("Jones", None, 1, None, "JONES@labs.de"),  # a legacy null boolean
]


def _create(db: sqlite3.Connection, name: str) -> None:
    cols = ", ".join(f'"{f.name}" {f.sqlite_type}' for f in SOBJECTS[name].fields)
    db.execute(f'CREATE TABLE "{name}" ({cols})')


def _insert(db: sqlite3.Connection, name: str, row: dict[str, object]) -> None:
    cols = ", ".join(f'"{c}"' for c in row)
    db.execute(
        f'INSERT INTO "{name}" ({cols}) VALUES ({", ".join("?" * len(row))})', tuple(row.values())
    )


def _audit(obj: str, serial: int, created: str) -> dict[str, object]:
    return {
        "Id": ids.make_id(obj, serial),
        "IsDeleted": 0,
        "CreatedDate": created,
        "CreatedById": OWNER,
        "LastModifiedDate": created,
        "LastModifiedById": OWNER,
        "SystemModstamp": created,
        "OwnerId": OWNER,
    }


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:")
    for name in ("Account", "Contact", "Opportunity"):
        _create(db, name)
    for i, (name, industry, employees, revenue, country, created) in enumerate(ACCOUNTS, 1):
        row = _audit("Account", i, created)
        row.update(Name=name, Industry=industry, NumberOfEmployees=employees)
        row.update(AnnualRevenue=revenue, BillingCountry=country)
        _insert(db, "Account", row)
    for i, (last, first, account, opted_out, email) in enumerate(CONTACTS, 1):
        row = _audit("Contact", i, _dt("2024-05-10T10:00:00"))
        row.update(LastName=last, FirstName=first, AccountId=ids.make_id("Account", account + 1))
        row.update(HasOptedOutOfEmail=opted_out, Email=email)
        _insert(db, "Contact", row)
    # one Opportunity per day of 2023-2025: created at midnight and at the day's last millisecond
    day, serial = date(2023, 1, 1), 0
    while day.year < 2026:
        for clock in ("00:00:00.000", "23:59:59.999"):
            serial += 1
            row = _audit("Opportunity", serial, f"{day.isoformat()}T{clock}+0000")
            row.update(Name=f"{day.isoformat()} {clock[:2]}", StageName="Prospecting")
            row.update(CloseDate=day.isoformat(), Amount=serial * 10.0)
            _insert(db, "Opportunity", row)
        day += timedelta(days=1)
    yield db
    db.close()


def run(db: sqlite3.Connection, soql: str, now: datetime = NOW) -> list[tuple[object, ...]]:
    c = compile_soql(soql, now=now)
    # Stored columns only: a parent's field (Owner.Name) is read through its lookup by reads.py.
    stored = [f'"{f.name}"' for f in c.fields if f.path is None]
    cols = "COUNT(*)" if c.count_only else ", ".join(stored) or "1"
    sql = f'SELECT {cols} FROM "{c.sobject.name}" WHERE {c.where_sql} {c.order_by_sql}'
    if c.limit is not None or c.offset is not None:
        sql += f" LIMIT {-1 if c.limit is None else c.limit} OFFSET {c.offset or 0}"
    return db.execute(sql, c.params).fetchall()


def names(db: sqlite3.Connection, where: str, obj: str = "Account") -> list[str]:
    """Names (Contact: last names) matching `where`, in insertion order."""
    field = "LastName" if obj == "Contact" else "Name"
    return [str(r[0]) for r in run(db, f"SELECT {field} FROM {obj} WHERE {where} ORDER BY Id")]


def error(soql: str) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        compile_soql(soql, now=NOW)
    return info.value


# --- SELECT / FROM ---------------------------------------------------------------------------


def test_select_resolves_canonical_names_case_insensitively(db: sqlite3.Connection) -> None:
    c = compile_soql("select id, NAME, acm_tier__C from ACCOUNT", now=NOW)
    assert c.sobject.name == "Account"
    assert [f.name for f in c.fields] == ["Id", "Name", "ACM_Tier__c"]
    assert (c.count_only, c.where_sql, c.params, c.order_by_sql) == (False, "1", (), "")
    assert (c.limit, c.offset) == (None, None)
    assert len(run(db, "SELECT Id FROM Account")) == 5


def test_object_qualified_and_aliased_fields(db: sqlite3.Connection) -> None:
    c = compile_soql("SELECT Account.Name, a.Id FROM Account a WHERE a.Name = 'globex'", now=NOW)
    assert [f.name for f in c.fields] == ["Name", "Id"]
    assert names(db, "Account.Industry = 'Banking'") == ["acme labs"]


def test_count(db: sqlite3.Connection) -> None:
    c = compile_soql("SELECT COUNT() FROM Account WHERE Industry = 'technology'", now=NOW)
    assert c.count_only and c.fields == ()
    assert run(db, "SELECT count() FROM Account WHERE Industry = 'technology'") == [(2,)]
    assert run(db, "SELECT COUNT() FROM Contact") == [(3,)]


def test_fields_functions() -> None:
    account = SOBJECTS["Account"]
    c = compile_soql("SELECT FIELDS(ALL) FROM Account LIMIT 200", now=NOW)
    assert c.fields == account.fields
    c = compile_soql("SELECT FIELDS(STANDARD) FROM Account", now=NOW)
    assert c.fields == tuple(f for f in account.fields if not f.custom)
    c = compile_soql("SELECT Name, FIELDS(CUSTOM) FROM Account LIMIT 10", now=NOW)
    assert c.fields == (account.fields[3], *(f for f in account.fields if f.custom))
    for soql in ("SELECT FIELDS(ALL) FROM Account", "SELECT FIELDS(CUSTOM) FROM Account LIMIT 201"):
        e = error(soql)
        assert e.error_code == "MALFORMED_QUERY"
        assert e.message.endswith("The SOQL FIELDS function must have a LIMIT of at most 200")


# --- operators -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("NumberOfEmployees = 120", ["Acme Corp"]),
        ("NumberOfEmployees != 120", ["acme labs", "Globex", "Initech 100%_off", "O'Brien\\Sons"]),
        ("NumberOfEmployees <> 120", ["acme labs", "Globex", "Initech 100%_off", "O'Brien\\Sons"]),
        ("NumberOfEmployees < 120", ["acme labs", "O'Brien\\Sons"]),
        ("NumberOfEmployees <= 120", ["Acme Corp", "acme labs", "O'Brien\\Sons"]),
        ("NumberOfEmployees > 120", ["Initech 100%_off"]),
        ("NumberOfEmployees >= 120", ["Acme Corp", "Initech 100%_off"]),
        ("AnnualRevenue > 1000000.5", ["Acme Corp", "Initech 100%_off"]),
        ("AnnualRevenue = 0", ["O'Brien\\Sons"]),
        ("AnnualRevenue >= -5", ["Acme Corp", "Globex", "Initech 100%_off", "O'Brien\\Sons"]),
        ("NumberOfEmployees IN (10, 50, 7)", ["acme labs", "O'Brien\\Sons"]),
        ("NumberOfEmployees NOT IN (10, 50)", ["Acme Corp", "Globex", "Initech 100%_off"]),
        ("Name = 'ACME CORP'", ["Acme Corp"]),
        ("Name != 'acme corp'", ["acme labs", "Globex", "Initech 100%_off", "O'Brien\\Sons"]),
        ("Name < 'b'", ["Acme Corp", "acme labs"]),  # case-insensitive string order
        ("Name >= 'GLOBEX'", ["Globex", "Initech 100%_off", "O'Brien\\Sons"]),
        ("Industry IN ('technology', 'BANKING')", ["Acme Corp", "acme labs", "O'Brien\\Sons"]),
        ("Industry NOT IN ('Technology')", ["acme labs", "Globex", "Initech 100%_off"]),
        ("Name LIKE 'acme%'", ["Acme Corp", "acme labs"]),
        ("Name LIKE '%CORP'", ["Acme Corp"]),
        ("Name LIKE 'Glob_x'", ["Globex"]),
        ("Name LIKE 'Glob_'", []),
        ("Name LIKE '%100\\%\\_%'", ["Initech 100%_off"]),
        ("Name LIKE '%0\\%_off'", ["Initech 100%_off"]),
        ("Name LIKE '%\\_x%'", []),
        ("Name LIKE 'O\\'Brien\\\\%'", ["O'Brien\\Sons"]),
        ("Name = 'O\\'brien\\\\sons'", ["O'Brien\\Sons"]),
        ("NOT Name LIKE 'acme%'", ["Globex", "Initech 100%_off", "O'Brien\\Sons"]),
        ("Industry LIKE '%'", ["Acme Corp", "acme labs", "Initech 100%_off", "O'Brien\\Sons"]),
    ],
)
def test_operators(db: sqlite3.Connection, where: str, expected: list[str]) -> None:
    assert names(db, where) == expected


def test_string_escapes() -> None:
    c = compile_soql(r"SELECT Id FROM Account WHERE Name = 'a\nb\tc\"d\'e\\f\%g\_h\N'", now=NOW)
    assert c.params == ("a\nb\tc\"d'e\\f%g_h\n",)
    e = error(r"SELECT Id FROM Account WHERE Name = 'a\qb'")
    assert e.error_code == "MALFORMED_QUERY" and "illegal escape" in e.message


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Industry = null", ["Globex"]),
        ("Industry != null", ["Acme Corp", "acme labs", "Initech 100%_off", "O'Brien\\Sons"]),
        ("NumberOfEmployees = null", ["Globex"]),
        ("AnnualRevenue != null", ["Acme Corp", "Globex", "Initech 100%_off", "O'Brien\\Sons"]),
        ("BillingCountry = ''", ["Globex", "Initech 100%_off"]),  # '' is null in Salesforce
        ("BillingCountry = null", ["Globex", "Initech 100%_off"]),
        ("BillingCountry != ''", ["Acme Corp", "acme labs", "O'Brien\\Sons"]),
        ("Industry IN ('Retail', null)", ["Globex", "Initech 100%_off"]),
        ("Industry NOT IN ('Retail', null)", ["Acme Corp", "acme labs", "O'Brien\\Sons"]),
        ("NOT Industry = 'Retail'", ["Acme Corp", "acme labs", "Globex", "O'Brien\\Sons"]),
        ("NOT NumberOfEmployees > 100", ["acme labs", "Globex", "O'Brien\\Sons"]),
        ("ParentId = null", [a[0] for a in ACCOUNTS]),
        ("LastActivityDate != null", []),
    ],
)
def test_nulls(db: sqlite3.Connection, where: str, expected: list[str]) -> None:
    assert names(db, where) == expected


def test_booleans(db: sqlite3.Connection) -> None:
    assert names(db, "HasOptedOutOfEmail = true", "Contact") == ["smith"]
    assert names(db, "HasOptedOutOfEmail IN (false)", "Contact") == ["Smith", "Jones"]
    assert names(db, "HasOptedOutOfEmail = FALSE", "Contact") == ["Smith", "Jones"]
    assert names(db, "HasOptedOutOfEmail != true", "Contact") == ["Smith", "Jones"]
    # Salesforce: on a boolean field null matches false, != null matches true
    assert names(db, "HasOptedOutOfEmail = null", "Contact") == ["Smith", "Jones"]
    assert names(db, "HasOptedOutOfEmail != null", "Contact") == ["smith"]
    assert names(db, "IsDeleted = false") == [a[0] for a in ACCOUNTS]


def test_contact_case_insensitive_email_and_ids(db: sqlite3.Connection) -> None:
    assert names(db, "Email = 'jones@LABS.DE'", "Contact") == ["Jones"]
    assert names(db, "LastName = 'SMITH'", "Contact") == ["Smith", "smith"]
    acme = ids.make_id("Account", 1)
    assert names(db, f"AccountId = '{acme}'", "Contact") == ["Smith", "smith"]
    assert names(db, f"AccountId = '{acme[:15]}'", "Contact") == ["Smith", "smith"]  # 15-char id
    assert names(db, f"AccountId != '{acme}'", "Contact") == ["Jones"]
    assert names(db, f"Id IN ('{acme}', '{ids.make_id('Account', 3)}')") == ["Acme Corp", "Globex"]
    assert names(db, f"Id > '{ids.make_id('Account', 4)}'") == ["O'Brien\\Sons"]


# --- dates and datetimes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CreatedDate = 2024-05-15T08:00:00Z", ["Acme Corp"]),
        ("CreatedDate = 2024-05-15T10:00:00+02:00", ["Acme Corp"]),
        ("CreatedDate = 2024-05-15T03:30:00-04:30", ["Acme Corp"]),
        ("CreatedDate = 2024-05-15T08:00:00.000Z", ["Acme Corp"]),
        ("CreatedDate = 2024-05-15t08:00:00.000z", ["Acme Corp"]),
        ("CreatedDate = 2024-05-15T08:00:00.000+00:00", ["Acme Corp"]),
        ("CreatedDate > 2024-05-15T08:00:00Z", ["O'Brien\\Sons"]),
        ("CreatedDate >= 2024-05-15T08:00:00Z", ["Acme Corp", "O'Brien\\Sons"]),
        ("CreatedDate < 2024-01-01T01:00:00+01:00", ["Globex"]),  # 2024-01-01T00:00Z
        ("CreatedDate <= 2023-12-31T18:30:00-05:00", ["Globex"]),
        ("CreatedDate < 2023-12-31T18:30:00-05:00", []),
        ("CreatedDate > 2024-02-29T12:00:00.001Z", ["Acme Corp", "acme labs", "O'Brien\\Sons"]),
        ("CreatedDate != 2024-05-01T02:00:00+02:00", ["Acme Corp", "Globex", "Initech 100%_off",
                                                        "O'Brien\\Sons"]),
        ("CreatedDate = TODAY", ["Acme Corp", "O'Brien\\Sons"]),
        ("CreatedDate = YESTERDAY", []),
        ("CreatedDate < THIS_YEAR", ["Globex"]),
    ],
)  # fmt: skip
def test_datetime_literals(db: sqlite3.Connection, where: str, expected: list[str]) -> None:
    assert names(db, where) == expected


def test_date_fields(db: sqlite3.Connection) -> None:
    where = "CloseDate = 2024-02-29"
    assert names(db, where, "Opportunity") == ["2024-02-29 00", "2024-02-29 23"]
    assert len(names(db, "CloseDate >= 2025-12-30", "Opportunity")) == 4
    assert len(names(db, "CloseDate < 2023-01-02", "Opportunity")) == 2
    assert len(names(db, "CloseDate IN (2023-01-01, 2024-01-01)", "Opportunity")) == 4
    assert len(names(db, "CloseDate != 2023-01-01", "Opportunity")) == 2 * (365 + 366 + 365) - 2


D = date.fromisoformat
RELATIVE = [  # literal, first day in range, first day after it (NOW is Wednesday 2024-05-15)
    ("TODAY", D("2024-05-15"), D("2024-05-16")),
    ("YESTERDAY", D("2024-05-14"), D("2024-05-15")),
    ("TOMORROW", D("2024-05-16"), D("2024-05-17")),
    ("LAST_WEEK", D("2024-05-05"), D("2024-05-12")),
    ("THIS_WEEK", D("2024-05-12"), D("2024-05-19")),
    ("NEXT_WEEK", D("2024-05-19"), D("2024-05-26")),
    ("LAST_MONTH", D("2024-04-01"), D("2024-05-01")),
    ("THIS_MONTH", D("2024-05-01"), D("2024-06-01")),
    ("NEXT_MONTH", D("2024-06-01"), D("2024-07-01")),
    ("LAST_90_DAYS", D("2024-02-15"), D("2024-05-16")),  # 91 days, today included
    ("NEXT_90_DAYS", D("2024-05-16"), D("2024-08-14")),
    ("LAST_N_DAYS:1", D("2024-05-14"), D("2024-05-16")),
    ("LAST_N_DAYS:30", D("2024-04-15"), D("2024-05-16")),
    ("NEXT_N_DAYS:3", D("2024-05-16"), D("2024-05-19")),
    ("N_DAYS_AGO:3", D("2024-05-12"), D("2024-05-13")),
    ("LAST_N_WEEKS:2", D("2024-04-28"), D("2024-05-12")),
    ("NEXT_N_WEEKS:1", D("2024-05-19"), D("2024-05-26")),
    ("N_WEEKS_AGO:2", D("2024-04-28"), D("2024-05-05")),
    ("THIS_QUARTER", D("2024-04-01"), D("2024-07-01")),
    ("LAST_QUARTER", D("2024-01-01"), D("2024-04-01")),
    ("NEXT_QUARTER", D("2024-07-01"), D("2024-10-01")),
    ("LAST_N_QUARTERS:2", D("2023-10-01"), D("2024-04-01")),
    ("NEXT_N_QUARTERS:3", D("2024-07-01"), D("2025-04-01")),
    ("N_QUARTERS_AGO:4", D("2023-04-01"), D("2023-07-01")),
    ("THIS_YEAR", D("2024-01-01"), D("2025-01-01")),
    ("LAST_YEAR", D("2023-01-01"), D("2024-01-01")),
    ("NEXT_YEAR", D("2025-01-01"), D("2026-01-01")),
    ("LAST_N_YEARS:1", D("2023-01-01"), D("2024-01-01")),
    ("NEXT_N_YEARS:1", D("2025-01-01"), D("2026-01-01")),
    ("N_YEARS_AGO:1", D("2023-01-01"), D("2024-01-01")),
    ("LAST_N_MONTHS:2", D("2024-03-01"), D("2024-05-01")),  # the current month excluded
    ("NEXT_N_MONTHS:2", D("2024-06-01"), D("2024-08-01")),
    ("N_MONTHS_AGO:5", D("2023-12-01"), D("2024-01-01")),
    ("THIS_FISCAL_QUARTER", D("2024-04-01"), D("2024-07-01")),  # fiscal year = calendar year
    ("LAST_FISCAL_YEAR", D("2023-01-01"), D("2024-01-01")),
    ("NEXT_N_FISCAL_QUARTERS:1", D("2024-07-01"), D("2024-10-01")),
    ("N_FISCAL_YEARS_AGO:1", D("2023-01-01"), D("2024-01-01")),
]


def _days(start: date, end: date) -> list[str]:
    """The Opportunity names of [start, end): two per day."""
    out = []
    while start < end:
        out += [f"{start.isoformat()} 00", f"{start.isoformat()} 23"]
        start += timedelta(days=1)
    return out


@pytest.mark.parametrize(("literal", "start", "end"), RELATIVE, ids=[r[0] for r in RELATIVE])
@pytest.mark.parametrize("field", ["CloseDate", "CreatedDate"])
def test_relative_date_literals(
    db: sqlite3.Connection, field: str, literal: str, start: date, end: date
) -> None:
    first, last = _days(D("2023-01-01"), start), _days(end, D("2026-01-01"))
    inside = _days(start, end)
    assert names(db, f"{field} = {literal}", "Opportunity") == inside
    assert names(db, f"{field} != {literal}", "Opportunity") == first + last
    assert names(db, f"{field} < {literal}", "Opportunity") == first
    assert names(db, f"{field} <= {literal}", "Opportunity") == first + inside
    assert names(db, f"{field} > {literal}", "Opportunity") == last
    assert names(db, f"{field} >= {literal}", "Opportunity") == inside + last
    other = "2023-01-01" if field == "CloseDate" else "2023-01-01T00:00:00Z"
    extra = {"2023-01-01 00", "2023-01-01 23"} if field == "CloseDate" else {"2023-01-01 00"}
    expected = sorted({*inside, *extra})
    assert sorted(names(db, f"{field} IN ({literal}, {other})", "Opportunity")) == expected


def test_relative_literal_case_and_naive_now(db: sqlite3.Connection) -> None:
    naive = datetime(2024, 5, 15, 23, 59)
    c = compile_soql("SELECT Id FROM Opportunity WHERE CloseDate = today", now=naive)
    assert c.params == ("2024-05-15", "2024-05-16")
    # an aware `now` in another zone is taken in GMT, the org's time zone
    tokyo = datetime(2024, 5, 16, 7, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    c = compile_soql("SELECT Id FROM Opportunity WHERE CloseDate = TODAY", now=tokyo)
    assert c.params == ("2024-05-16", "2024-05-17")
    c = compile_soql("SELECT Id FROM Account WHERE CreatedDate > NEXT_N_DAYS:99999999", now=NOW)
    assert c.params == ("9999-12-32T00:00:00.000+0000",)  # clamped: nothing is after it
    c = compile_soql("SELECT Id FROM Account WHERE CreatedDate < N_YEARS_AGO:99999", now=NOW)
    assert c.params == ("0001-01-01T00:00:00.000+0000",)
    assert names(db, "CreatedDate = LAST_N_DAYS:99999999") == [a[0] for a in ACCOUNTS]


# --- boolean logic -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Industry = 'Technology' AND NumberOfEmployees > 60", ["Acme Corp"]),
        ("Industry = 'Banking' OR NumberOfEmployees > 60", ["Acme Corp", "acme labs",
                                                             "Initech 100%_off"]),
        ("(Industry = 'Banking' OR Industry = 'Retail') AND AnnualRevenue > 1",
         ["Initech 100%_off"]),
        ("Industry = 'Banking' OR (Industry = 'Retail' AND AnnualRevenue > 1)",
         ["acme labs", "Initech 100%_off"]),
        ("NOT Industry = 'Technology' AND NumberOfEmployees > 5", ["acme labs",
                                                                    "Initech 100%_off"]),
        ("NOT (Industry = 'Technology' OR Industry = 'Retail')", ["acme labs", "Globex"]),
        ("NOT (NOT (Industry = 'Retail'))", ["Initech 100%_off"]),
        ("NOT NOT Industry = 'Retail'", ["Initech 100%_off"]),
        ("((Name = 'globex'))", ["Globex"]),
        ("Name = 'a' OR Name = 'globex' OR (Name = 'acme corp' AND Industry != null)",
         ["Acme Corp", "Globex"]),
        ("NOT (Industry = 'Retail' AND NumberOfEmployees > 1) AND AnnualRevenue != null",
         ["Acme Corp", "Globex", "O'Brien\\Sons"]),
    ],
)  # fmt: skip
def test_boolean_logic(db: sqlite3.Connection, where: str, expected: list[str]) -> None:
    assert names(db, where) == expected


def test_and_or_mix_needs_parentheses() -> None:
    for soql in (
        "SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'",
        "SELECT Id FROM Account WHERE Name = 'a' OR Name = 'b' AND Name = 'c'",
    ):
        e = error(soql)
        assert e.error_code == "MALFORMED_QUERY"
        assert e.message.endswith("unexpected token: 'AND'") or e.message.endswith("'OR'")


# --- ORDER BY / LIMIT / OFFSET ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("Name", ["Acme Corp", "acme labs", "Globex", "Initech 100%_off", "O'Brien\\Sons"]),
        ("Name DESC", ["O'Brien\\Sons", "Initech 100%_off", "Globex", "acme labs", "Acme Corp"]),
        ("NumberOfEmployees", ["Globex", "acme labs", "O'Brien\\Sons", "Acme Corp",
                               "Initech 100%_off"]),  # ASC: nulls first
        ("NumberOfEmployees DESC", ["Initech 100%_off", "Acme Corp", "O'Brien\\Sons", "acme labs",
                                    "Globex"]),  # DESC: nulls last
        ("NumberOfEmployees ASC NULLS LAST", ["acme labs", "O'Brien\\Sons", "Acme Corp",
                                              "Initech 100%_off", "Globex"]),
        ("NumberOfEmployees desc nulls first", ["Globex", "Initech 100%_off", "Acme Corp",
                                                "O'Brien\\Sons", "acme labs"]),
        ("Industry DESC NULLS FIRST, Name DESC", ["Globex", "O'Brien\\Sons", "Acme Corp",
                                                  "Initech 100%_off", "acme labs"]),
    ],
)  # fmt: skip
def test_order_by(db: sqlite3.Connection, order: str, expected: list[str]) -> None:
    assert [r[0] for r in run(db, f"SELECT Name FROM Account ORDER BY {order}")] == expected


def test_order_by_sql_shape() -> None:
    c = compile_soql("SELECT Id FROM Account ORDER BY systemmodstamp ASC, id", now=NOW)
    assert c.order_by_sql == 'ORDER BY "SystemModstamp" ASC, "Id" ASC'


def test_limit_offset(db: sqlite3.Connection) -> None:
    base = "SELECT Name FROM Account ORDER BY Name"
    assert [r[0] for r in run(db, f"{base} LIMIT 2")] == ["Acme Corp", "acme labs"]
    assert [r[0] for r in run(db, f"{base} LIMIT 2 OFFSET 2")] == ["Globex", "Initech 100%_off"]
    assert [r[0] for r in run(db, f"{base} OFFSET 4")] == ["O'Brien\\Sons"]
    assert run(db, f"{base} LIMIT 0") == []
    c = compile_soql(f"{base} limit 7 offset 3", now=NOW)
    assert (c.limit, c.offset) == (7, 3)
    e = error(f"{base} OFFSET 2001")
    assert e.error_code == "NUMBER_OUTSIDE_VALID_RANGE"
    assert e.message.endswith("Maximum SOQL offset allowed is 2000")
    assert compile_soql(f"{base} OFFSET 2000", now=NOW).offset == 2000


# --- errors ------------------------------------------------------------------------------------


def test_invalid_field_message_is_salesforces() -> None:
    e = error("SELECT Foo FROM Account")
    assert e.error_code == "INVALID_FIELD"
    assert e.message == (
        "\nSELECT Foo FROM Account\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo' on "
        "entity 'Account'. If you are attempting to use a custom field, be sure to append the "
        "'__c' after the custom field name. Please reference your WSDL or the describe call for "
        "the appropriate names."
    )
    e = error("SELECT Id\nFROM Account\nWHERE  Bar = 1")
    assert e.message.startswith("\nWHERE  Bar = 1\n       ^\nERROR at Row:3:Column:8\n")
    assert str(e).startswith("INVALID_FIELD: ")


ERRORS = [
    ("SELECT Id FROM Foo", "INVALID_TYPE", "sObject type 'Foo' is not supported."),
    ("SELECT Id FROM Account WHERE Nme = 'x'", "INVALID_FIELD", "No such column 'Nme'"),
    ("SELECT Id FROM Account ORDER BY Nme", "INVALID_FIELD", "No such column 'Nme'"),
    ("SELECT Foo.Name FROM Account", "INVALID_FIELD", "Didn't understand relationship 'Foo'"),
    ("SELECT Id FROM Account WHERE Owner.Name = 'x'", "MALFORMED_QUERY",
     "not supported by the sandbox in WHERE"),
    ("SELECT Id FROM Account ORDER BY Owner.Name", "MALFORMED_QUERY", "in WHERE / ORDER BY"),
    ("SELECT Account.Owner.Name FROM Contact", "MALFORMED_QUERY", "beyond one level"),
    ("SELECT Owner.Nope FROM Account", "INVALID_FIELD", "No such column 'Nope' on entity 'User'"),
    ("SELECT Id, Name, id FROM Account", "MALFORMED_QUERY", "duplicate field selected: Id"),
    ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01", "INVALID_QUERY_FILTER_OPERATOR",
     "value of filter criterion for field 'CreatedDate' must be of type dateTime and should not "
     "be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE CreatedDate = '2024-01-01T00:00:00Z'",
     "INVALID_QUERY_FILTER_OPERATOR", "must be of type dateTime and should not be enclosed"),
    ("SELECT Id FROM Opportunity WHERE CloseDate = 2024-01-01T00:00:00Z",
     "INVALID_QUERY_FILTER_OPERATOR", "field 'CloseDate' must be of type date and should not"),
    ("SELECT Id FROM Account WHERE NumberOfEmployees = '5'", "INVALID_QUERY_FILTER_OPERATOR",
     "must be of type integer and should not be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE AnnualRevenue IN (1, '2')", "INVALID_QUERY_FILTER_OPERATOR",
     "field 'AnnualRevenue' must be of type double"),
    ("SELECT Id FROM Account WHERE IsDeleted = 'true'", "INVALID_QUERY_FILTER_OPERATOR",
     "must be of type boolean"),
    ("SELECT Id FROM Account WHERE IsDeleted = 0", "INVALID_QUERY_FILTER_OPERATOR",
     "must be of type boolean"),
    ("SELECT Id FROM Account WHERE Name = 5", "INVALID_QUERY_FILTER_OPERATOR",
     "field 'Name' must be of type string and should be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE Name = TODAY", "INVALID_QUERY_FILTER_OPERATOR",
     "must be of type string"),
    ("SELECT Id FROM Account WHERE Name = true", "INVALID_QUERY_FILTER_OPERATOR",
     "must be of type string"),
    ("SELECT Id FROM Account WHERE OwnerId = 5", "INVALID_QUERY_FILTER_OPERATOR",
     "must be of type id and should be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE Id = '001xyz'", "INVALID_QUERY_FILTER_OPERATOR",
     "invalid ID field: 001xyz"),
    ("SELECT Id FROM Account WHERE NumberOfEmployees LIKE '1%'",
     "INVALID_QUERY_FILTER_OPERATOR", "LIKE is only valid on string fields"),
    ("SELECT Id FROM Account WHERE Id LIKE '001%'", "INVALID_QUERY_FILTER_OPERATOR", "LIKE"),
    ("SELECT Id FROM Account WHERE Name LIKE 5", "INVALID_QUERY_FILTER_OPERATOR", "string"),
    ("SELECT Id FROM Account WHERE Industry INCLUDES ('x')", "INVALID_QUERY_FILTER_OPERATOR",
     "multipicklist"),
    ("SELECT Id FROM Account WHERE Name < null", "INVALID_QUERY_FILTER_OPERATOR", "null"),
    ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
    ("SELECT FROM Account", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
    ("SELECT Id Name FROM Account", "MALFORMED_QUERY", "unexpected token: 'Name'"),
    ("SELECT Id FROM Account WHERE Name = 'x", "MALFORMED_QUERY", "Invalid string literal"),
    ("SELECT Id FROM Account WHERE Name = 'x' LIMIT", "MALFORMED_QUERY", "<EOF>"),
    ("SELECT Id FROM Account LIMIT -1", "MALFORMED_QUERY", "unexpected token: '-1'"),
    ("SELECT Id FROM Account LIMIT 1.5", "MALFORMED_QUERY", "unexpected token: '1.5'"),
    ("SELECT Id FROM Account OFFSET 1 LIMIT 1", "MALFORMED_QUERY", "unexpected token: 'LIMIT'"),
    ("SELECT Id FROM Account WHERE Name IN ()", "MALFORMED_QUERY", "unexpected token: ')'"),
    ("SELECT Id FROM Account WHERE Name IN 'x'", "MALFORMED_QUERY", "unexpected token: ''x''"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", "MALFORMED_QUERY",
     "semi-join"),
    ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "MALFORMED_QUERY", "subqueries"),
    ("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry", "MALFORMED_QUERY",
     "aggregate functions"),
    ("SELECT MAX(Amount) FROM Opportunity", "MALFORMED_QUERY", "MAX() is not supported"),
    ("SELECT Id FROM Account GROUP BY Id", "MALFORMED_QUERY", "GROUP BY is not supported"),
    ("SELECT Id FROM Account WITH SECURITY_ENFORCED", "MALFORMED_QUERY", "WITH is not supported"),
    ("SELECT Id FROM Account FOR UPDATE", "MALFORMED_QUERY", "FOR VIEW"),
    ("SELECT COUNT(), Id FROM Account", "MALFORMED_QUERY", "COUNT() must be the only"),
    ("SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS", "MALFORMED_QUERY", "<EOF>"),
    ("SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS:x", "MALFORMED_QUERY", "'x'"),
    ("SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS:-1", "MALFORMED_QUERY", "'-1'"),
    ("SELECT Id FROM Account WHERE CreatedDate > LAST_DECADE", "MALFORMED_QUERY", "LAST_DECADE"),
    ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01T00:00:00", "MALFORMED_QUERY",
     "invalid dateTime literal"),
    ("SELECT Id FROM Account WHERE CreatedDate > 2024-13-01T00:00:00Z", "MALFORMED_QUERY",
     "invalid dateTime literal"),
    ("SELECT Id FROM Account WHERE CreatedDate > 0001-01-01T00:00:00+01:00", "MALFORMED_QUERY",
     "invalid dateTime literal"),
    ("SELECT Id FROM Opportunity WHERE CloseDate > 2023-02-29", "MALFORMED_QUERY",
     "invalid date literal"),
    ("SELECT Id FROM Account WHERE Name = \"x\"", "MALFORMED_QUERY", "no viable alternative"),
    ("SELECT Id FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2024", "MALFORMED_QUERY",
     "CALENDAR_YEAR() is not supported"),
    ("SELECT Id FROM Account WHERE " + "(" * 100 + "Name = 'x'" + ")" * 100, "MALFORMED_QUERY",
     "nested too deeply"),
    ("SELECT Id FROM Account WHERE " + "NOT " * 100 + "Name = 'x'", "MALFORMED_QUERY",
     "nested too deeply"),
    ("", "MALFORMED_QUERY", "unexpected token: <EOF>"),
    ("DELETE FROM Account", "MALFORMED_QUERY", "unexpected token: 'DELETE'"),
]  # fmt: skip


@pytest.mark.parametrize(("soql", "code", "fragment"), ERRORS, ids=[e[0][:60] for e in ERRORS])
def test_errors(soql: str, code: str, fragment: str) -> None:
    e = error(soql)
    assert (e.error_code, fragment in e.message) == (code, True), e.message
    assert "ERROR at Row:" in e.message or e.message.startswith("duplicate field")


# --- fuzzing -----------------------------------------------------------------------------------

VALID = [
    "SELECT Id, Name FROM Account WHERE (Name LIKE 'a\\%%' OR Industry IN ('Retail', null)) AND "
    "CreatedDate >= LAST_N_DAYS:30 ORDER BY Name DESC NULLS LAST, Id LIMIT 10 OFFSET 5",
    "SELECT COUNT() FROM Opportunity WHERE NOT (CloseDate = THIS_QUARTER) AND Amount > -1.5",
    "SELECT FIELDS(STANDARD) FROM Contact c WHERE c.Email != null AND "
    "SystemModstamp < 2024-01-01T10:00:00.123-08:00 AND HasOptedOutOfEmail = false",
]
WORDS = [
    "SELECT", "FROM", "WHERE", "Id", "Name", "Account", "Contact", "AND", "OR", "NOT", "IN",
    "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "COUNT()",
    "FIELDS(ALL)", "(", ")", ",", "=", "!=", "<", ">=", "'x'", "'a\\%'", "null", "true", "5",
    "-2.5", "2024-01-01", "2024-01-01T00:00:00Z", "TODAY", "LAST_N_DAYS:3", "N_DAYS_AGO", ":",
    "CreatedDate", "CloseDate", "Amount", "IsDeleted", "Industry", "a.Name", "Owner.Name", "a",
]  # fmt: skip


def _check(db: sqlite3.Connection, soql: str) -> None:
    try:
        c = compile_soql(soql, now=NOW)
    except SoqlError as e:
        assert e.error_code and e.message
        return
    assert isinstance(c, CompiledQuery)
    if c.sobject.name in ("Account", "Contact", "Opportunity"):
        run(db, soql)  # whatever compiles must be valid SQLite


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200))
def test_fuzz_random_text(db: sqlite3.Connection, text: str) -> None:
    _check(db, text)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(WORDS), max_size=25))
def test_fuzz_token_soup(db: sqlite3.Connection, words: list[str]) -> None:
    _check(db, " ".join(words))
    _check(db, "SELECT Id FROM Account WHERE " + " ".join(words))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(VALID), st.data())
def test_fuzz_mutated_queries(db: sqlite3.Connection, soql: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(soql)))
    j = data.draw(st.integers(i, len(soql)))
    insert = data.draw(st.text(max_size=5))
    _check(db, soql[:i] + insert + soql[j:])


def test_every_prefix_of_valid_queries(db: sqlite3.Connection) -> None:
    for soql in VALID:
        run(db, soql)
        for n in range(len(soql)):
            _check(db, soql[:n])
