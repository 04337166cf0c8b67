"""bench/load_sandbox.py on hand-made files, loaded into empty sandbox orgs and read back through
simple-salesforce and hubspot-api-client directly (never through the loader or the product).

Every expected value is worked out by hand from the files below."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hubspot
import pandas as pd
import pytest
import requests
from simple_salesforce import Salesforce
from urllib3.util.retry import Retry

from acm_sync.sandbox.process import SandboxProcess
from acm_sync.sandbox.server import SandboxSettings

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import load_sandbox  # noqa: E402

LONG_NAME = "X" * 121  # Opportunity.Name holds 120 characters
ACCOUNTS = """Account ID,Account Name,Website,Industry,Employees,Annual Revenue
A1,Globex,https://www.globex.com/about,Manufacturing,250,"$12,000,000"
A2,Initech,initech.com,Technology,40,
A3,Hooli,http://hooli.com,,,
"""
CONTACTS = """Contact ID,First Name,Last Name,Email,Title,Account ID
C1,Ann,Lee,ann@globex.com,CFO,A1
C2,Bob,Ray,not-an-email,CTO,A2
C3,Cy,Fox,cy@initech.com,,A2
"""
# Row 5's amount is beyond Salesforce's Amount (18 digits, 2 decimals: < 1e16); row 6's name is
# 121 characters; row 8's account is not in the accounts file (loaded without one); row 2's
# contact is refused by both CRMs. Dirt a CRM holds is loaded as it is, for the product's quality
# checks to find: row 7 closed without an amount, row 9 with no created date (dated on the load
# day), row 10 a negative amount; row 11 is closed without a close date: Salesforce refuses it
# (CloseDate is required), HubSpot takes it.
DEALS = f"""Deal ID,Account,Deal Name,Stage,Amount,Created,Close Date,Deal Type,Contact
D1,A1,Globex platform,Closed Won,"$1,200.50",2024-01-05,2024-02-10,New Business,C1
D2,A1,Globex renewal,Closed Lost,800,2024-03-01T15:30:00Z,2024-04-15,Renewal,C2
D3,A1,Globex upsell,Negotiation/Review,5000,2024-05-01,2024-08-01,Upsell,C1
D4,A2,Initech pilot,Discovery,300,2024-06-01,,,C3
D5,A2,Initech huge,Closed Won,99999999999999999,2024-02-01,2024-03-01,New,
D6,A3,{LONG_NAME},Closed Won,100,2024-02-01,2024-03-01,,
D7,A3,Hooli no amount,Closed Won,,2024-02-01,2024-03-01,,
D8,A9,Unknown account,Closed Won,70,2024-02-01,2024-03-05,,
D9,A3,Hooli undated,Discovery,40,,2024-09-01,,
D10,A3,Hooli refund,Closed Won,-50,2024-02-01,2024-03-01,,
D11,A3,Hooli no close,Closed Won,60,2024-02-01,,,
"""
# Closed deals with both dates: D1 36 days, D2 44 (and 8.5 h), D5 29, D6 29, D7 29, D8 33, D10 29
# → median 29; D4 is open without a close date: Salesforce gets 2024-06-01 + 29 days.
STAND_IN_CLOSE = "2024-06-30"
SMALL = """Id,Account Name,Stage,Amount,Created Date,Close Date
S1,Vandelay,Closed Won,900,2023-05-02,2023-06-01
S2,Vandelay,Prospecting,400,2023-07-01,2023-09-30
"""


def sf_client(env: dict[str, str]) -> Salesforce:
    """simple-salesforce on a refresh-token login (the sandbox's CA, no environment CA)."""
    http = requests.Session()
    http.trust_env = False
    http.verify = env["SALESFORCE_CA_BUNDLE"]
    token = http.post(
        env["SALESFORCE_LOGIN_URL"] + "/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": env["SALESFORCE_CONSUMER_KEY"],
            "client_secret": env["SALESFORCE_CONSUMER_SECRET"],
            "refresh_token": env["SALESFORCE_REFRESH_TOKEN"],
        },
    ).json()
    return Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=http
    )


def hs_client(env: dict[str, str]) -> hubspot.HubSpot:
    """hubspot-api-client retrying 429s (search is limited to a few calls a second)."""
    retry = Retry(total=6, backoff_factor=0.5, status_forcelist=(429,), allowed_methods=None)
    return hubspot.HubSpot(
        access_token=env["HUBSPOT_ACCESS_TOKEN"], host=env["HUBSPOT_BASE_URL"], retry=retry
    )


def run_loader(
    org: SandboxSettings, argv: list[str], capsys: pytest.CaptureFixture[str] | None = None
) -> tuple[int, list[str], str]:
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as env:
        for name, value in org.env().items():
            env.setenv(name, value)
        code = load_sandbox.main(argv, out=lambda text: lines.extend(text.split("\n")))
    err = capsys.readouterr().err if capsys is not None else ""
    return code, lines, err


def pulled_line(lines: list[str], head: str) -> tuple[int, int, int]:
    line = next(x for x in lines if x.startswith(head))
    m = re.search(r"pulled ([\d,]+) = loaded ([\d,]+) \+ set aside ([\d,]+)", line)
    assert m, line
    pulled, loaded, aside = (int(g.replace(",", "")) for g in m.groups())
    return pulled, loaded, aside


def reasons_after(lines: list[str], head: str) -> list[str]:
    start = next(i for i, x in enumerate(lines) if x.startswith(head))
    out = []
    for line in lines[start + 1 :]:
        if not line.startswith("  set aside"):
            break
        out.append(line)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("load_files")
    out = {}
    for name, text in (
        ("accounts", ACCOUNTS),
        ("contacts", CONTACTS),
        ("deals", DEALS),
        ("small", SMALL),
    ):
        out[name] = base / f"{name}.csv"
        out[name].write_text(text)
    return out


@pytest.fixture(scope="module")
def audit_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSettings]:
    with SandboxProcess(
        tmp_path_factory.mktemp("audit_org"), empty=True, set_audit_fields=True
    ) as settings:
        yield settings


@pytest.fixture(scope="module")
def plain_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSettings]:
    with SandboxProcess(tmp_path_factory.mktemp("plain_org"), empty=True) as settings:
        yield settings


@pytest.fixture(scope="module")
def loaded(audit_org: SandboxSettings, files: dict[str, Path]) -> dict[str, Any]:
    code, lines, _ = run_loader(
        audit_org,
        [
            str(files["deals"]),
            "--crm",
            "both",
            "--accounts",
            str(files["accounts"]),
            "--contacts",
            str(files["contacts"]),
        ],
    )
    return {"code": code, "lines": lines}


def test_counts_per_object_and_pulled_equals_loaded_plus_set_aside(
    audit_org: SandboxSettings, loaded: dict[str, Any]
) -> None:
    assert loaded["code"] == 0, loaded["lines"]
    lines = loaded["lines"]
    env = audit_org.env()
    sf = sf_client(env)
    held = {
        obj: sf.query(f"SELECT COUNT() FROM {obj}")["totalSize"]
        for obj in ("Account", "Contact", "Opportunity")
    }
    assert held == {"Account": 3, "Contact": 2, "Opportunity": 8}
    assert pulled_line(lines, "Salesforce accounts") == (3, 3, 0)
    assert pulled_line(lines, "Salesforce contacts") == (3, 2, 1)
    assert pulled_line(lines, "Salesforce opportunities") == (11, 8, 3)
    hs = hs_client(env)
    counts = {
        obj: getattr(hs.crm, obj)
        .search_api.do_search(public_object_search_request={"limit": 1})
        .total
        for obj in ("companies", "contacts", "deals")
    }
    # HubSpot takes the huge amount, the long name and the closed deal without a close date
    assert counts == {"companies": 3, "contacts": 2, "deals": 11}
    assert pulled_line(lines, "HubSpot companies") == (3, 3, 0)
    assert pulled_line(lines, "HubSpot contacts") == (3, 2, 1)
    assert pulled_line(lines, "HubSpot deals") == (11, 11, 0)


def test_refused_rows_are_counted_with_the_crms_reason(loaded: dict[str, Any]) -> None:
    lines = loaded["lines"]
    opps = reasons_after(lines, "Salesforce opportunities")
    assert len(opps) == 3
    assert any("REQUIRED_FIELD_MISSING" in x and "CloseDate" in x and "(row 11)" in x for x in opps)
    assert any("NUMBER_OUTSIDE_VALID_RANGE" in x and "(row 5)" in x for x in opps)
    assert any("STRING_TOO_LONG" in x and "(row 6)" in x for x in opps)
    contacts = reasons_after(lines, "Salesforce contacts")
    assert len(contacts) == 1 and "INVALID_EMAIL_ADDRESS" in contacts[0]
    assert "(row 2)" in contacts[0]
    hs_contacts = reasons_after(lines, "HubSpot contacts")
    assert len(hs_contacts) == 1 and "refused by HubSpot" in hs_contacts[0]
    assert "not-an-email" in hs_contacts[0] and "(row 2)" in hs_contacts[0]
    assert reasons_after(lines, "HubSpot deals") == []


def test_dirt_a_crm_holds_is_loaded_as_it_is(
    audit_org: SandboxSettings, loaded: dict[str, Any]
) -> None:
    assert loaded["code"] == 0
    loaded_at = pd.Timestamp.now(tz="UTC")
    sf = sf_client(audit_org.env())
    deals = {
        r["Name"]: r
        for r in sf.query(
            "SELECT Name, Amount, CloseDate, CreatedDate, StageName FROM Opportunity "
            "WHERE Name LIKE 'Hooli%'"
        )["records"]
    }
    assert deals["Hooli no amount"]["Amount"] is None
    assert deals["Hooli refund"]["Amount"] == -50.0
    undated = deals["Hooli undated"]
    assert (undated["CloseDate"], undated["StageName"]) == ("2024-09-01", "Prospecting")
    assert abs(pd.Timestamp(undated["CreatedDate"]) - loaded_at) < pd.Timedelta(hours=1)
    assert "Hooli no close" not in deals  # refused: CloseDate is required
    hs = hs_client(audit_org.env())
    page = hs.crm.deals.basic_api.get_page(
        limit=100, properties=["dealname", "amount", "closedate", "createdate", "dealstage"]
    )
    by_name = {d.properties["dealname"]: d.properties for d in page.results}
    assert by_name["Hooli no amount"].get("amount") in (None, "")
    assert float(by_name["Hooli refund"]["amount"]) == -50.0
    no_close = by_name["Hooli no close"]
    assert (no_close["dealstage"], no_close.get("closedate")) == ("closedwon", None)
    created = pd.Timestamp(by_name["Hooli undated"]["createdate"])
    assert abs(created - loaded_at) < pd.Timedelta(hours=1)


def test_salesforce_account_and_its_deals_read_back(
    audit_org: SandboxSettings, loaded: dict[str, Any]
) -> None:
    assert loaded["code"] == 0
    sf = sf_client(audit_org.env())
    (globex,) = sf.query(
        "SELECT Id, Website, Industry, NumberOfEmployees, AnnualRevenue, CreatedDate FROM Account "
        "WHERE Name = 'Globex'"
    )["records"]
    assert globex["Website"] == "https://www.globex.com/about"
    assert globex["Industry"] == "Manufacturing"
    assert globex["NumberOfEmployees"] == 250
    assert globex["AnnualRevenue"] == 12_000_000
    # the accounts file has no created date: created when its first deal was (D1)
    assert globex["CreatedDate"] == "2024-01-05T00:00:00.000+0000"
    deals = {
        r["Name"]: r
        for r in sf.query(
            "SELECT Name, StageName, Amount, CloseDate, CreatedDate, IsWon, IsClosed, Type "
            f"FROM Opportunity WHERE AccountId = '{globex['Id']}'"
        )["records"]
    }
    assert set(deals) == {"Globex platform", "Globex renewal", "Globex upsell"}
    won, lost, upsell = deals["Globex platform"], deals["Globex renewal"], deals["Globex upsell"]
    assert (won["StageName"], won["Amount"], won["CloseDate"], won["IsWon"]) == (
        "Closed Won",
        1200.5,
        "2024-02-10",
        True,
    )
    assert won["CreatedDate"] == "2024-01-05T00:00:00.000+0000"
    assert won["Type"] == "New Business"
    assert (lost["StageName"], lost["Amount"], lost["CloseDate"], lost["IsWon"]) == (
        "Closed Lost",
        800.0,
        "2024-04-15",
        False,
    )
    assert lost["IsClosed"] is True
    assert lost["CreatedDate"] == "2024-03-01T15:30:00.000+0000"
    assert lost["Type"] == "Renewal"
    # an open stage the org has is kept; "Upsell" reads as expansion
    assert (upsell["StageName"], upsell["CloseDate"], upsell["IsWon"]) == (
        "Negotiation/Review",
        "2024-08-01",
        False,
    )
    assert upsell["Type"] == "Expansion"
    (pilot,) = sf.query(
        "SELECT StageName, CloseDate, Type, AccountId FROM Opportunity WHERE Name = 'Initech pilot'"
    )["records"]
    # "Discovery" is no stage of the org: its first open stage; no close date: the stand-in
    assert (pilot["StageName"], pilot["CloseDate"], pilot["Type"]) == (
        "Prospecting",
        STAND_IN_CLOSE,
        None,
    )
    (orphan,) = sf.query("SELECT AccountId FROM Opportunity WHERE Name = 'Unknown account'")[
        "records"
    ]
    assert orphan["AccountId"] is None
    lines = loaded["lines"]
    assert any("'Discovery' (2)" in x and "'Prospecting'" in x for x in lines)
    assert any("created + 29 days" in x and "1 open deal" in x for x in lines)


def test_hubspot_company_and_its_deals_read_back(
    audit_org: SandboxSettings, loaded: dict[str, Any]
) -> None:
    assert loaded["code"] == 0
    hs = hs_client(audit_org.env())
    found = hs.crm.companies.search_api.do_search(
        public_object_search_request={
            "filterGroups": [
                {"filters": [{"propertyName": "name", "operator": "EQ", "value": "Globex"}]}
            ],
            "properties": ["name", "domain", "numberofemployees", "annualrevenue"],
        }
    ).results
    assert len(found) == 1
    globex = found[0]
    assert globex.properties["domain"] == "globex.com"
    assert float(globex.properties["numberofemployees"]) == 250
    assert float(globex.properties["annualrevenue"]) == 12_000_000
    page = hs.crm.deals.basic_api.get_page(
        limit=100,
        properties=["dealname", "dealstage", "amount", "closedate", "createdate", "dealtype"],
        associations=["companies", "contacts"],
    )
    by_name = {d.properties["dealname"]: d for d in page.results}
    assert len(by_name) == 11

    def company_ids(deal: Any) -> set[str]:
        links = (deal.associations or {}).get("companies")
        return {r.id for r in links.results} if links else set()

    globex_deals = {n for n, d in by_name.items() if globex.id in company_ids(d)}
    assert globex_deals == {"Globex platform", "Globex renewal", "Globex upsell"}
    won = by_name["Globex platform"].properties
    assert (won["dealstage"], float(won["amount"]), won["dealtype"]) == (
        "closedwon",
        1200.5,
        "newbusiness",
    )
    assert pd.Timestamp(won["closedate"]) == pd.Timestamp("2024-02-10", tz="UTC")
    assert pd.Timestamp(won["createdate"]) == pd.Timestamp("2024-01-05", tz="UTC")
    lost = by_name["Globex renewal"].properties
    assert (lost["dealstage"], float(lost["amount"]), lost["dealtype"]) == (
        "closedlost",
        800.0,
        "existingbusiness",
    )
    assert pd.Timestamp(lost["createdate"]) == pd.Timestamp("2024-03-01T15:30:00Z")
    # "Negotiation/Review" is no stage of the default pipeline: its first open stage
    assert by_name["Globex upsell"].properties["dealstage"] == "appointmentscheduled"
    pilot = by_name["Initech pilot"].properties
    assert not pilot.get("closedate")  # open without a close date: HubSpot allows it
    assert pilot.get("dealtype") in (None, "")
    # read as a float by backtest_csv (1e17); HubSpot takes what Salesforce refuses
    assert float(by_name["Initech huge"].properties["amount"]) == 1e17
    links = (by_name["Globex platform"].associations or {}).get("contacts")
    assert links is not None and len(links.results) == 1
    ann = hs.crm.contacts.basic_api.get_by_id(links.results[0].id, properties=["email"])
    assert ann.properties["email"] == "ann@globex.com"
    assert company_ids(by_name["Unknown account"]) == set()
    assert not (by_name["Globex renewal"].associations or {}).get("contacts")
    assert "HubSpot: 1 deal(s) name a contact not loaded: not associated to one" in loaded["lines"]
    assert (
        "accounts: 3 without a created date: created when their first deal was" in (loaded["lines"])
    )


def test_a_non_empty_org_is_refused_without_append(
    audit_org: SandboxSettings,
    loaded: dict[str, Any],
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert loaded["code"] == 0
    capsys.readouterr()
    code, _lines, err = run_loader(audit_org, [str(files["small"]), "--crm", "both"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "already holds records" in err and "--append" in err
    assert "Opportunity 8" in err
    sf = sf_client(audit_org.env())
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 8
    hs = hs_client(audit_org.env())
    total = hs.crm.deals.search_api.do_search(public_object_search_request={"limit": 1}).total
    assert total == 11


def test_without_audit_fields_no_created_date_is_sent_and_it_says_so(
    plain_org: SandboxSettings, files: dict[str, Path]
) -> None:
    today = datetime.now(UTC).date().isoformat()
    code, lines, _ = run_loader(plain_org, [str(files["small"]), "--crm", "salesforce"])
    assert code == 0, lines
    assert any("CreatedDate is not createable" in x and "load day" in x for x in lines)
    sf = sf_client(plain_org.env())
    rows = sf.query("SELECT Name, CreatedDate, CloseDate, StageName FROM Opportunity")["records"]
    assert len(rows) == 2
    assert {r["CreatedDate"][:10] for r in rows} == {today}
    assert {(r["StageName"], r["CloseDate"]) for r in rows} == {
        ("Closed Won", "2023-06-01"),
        ("Prospecting", "2023-09-30"),  # the export's own open stage and close date kept
    }
    # --append loads the same export again, on purpose
    code, lines, _ = run_loader(plain_org, [str(files["small"]), "--crm", "salesforce", "--append"])
    assert code == 0
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 4
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 2


def test_command_line(plain_org: SandboxSettings, files: dict[str, Path]) -> None:
    """The script as a user runs it, with a sourced connection.env (HubSpot: still empty)."""
    env = {**os.environ, **plain_org.env()}
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "load_sandbox.py"),
            str(files["small"]),
            "--crm",
            "hubspot",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "HubSpot deals: pulled 2 = loaded 2 + set aside 0" in done.stdout
    assert "HubSpot companies: pulled 1 = loaded 1 + set aside 0" in done.stdout
    for secret in (plain_org.env()["HUBSPOT_ACCESS_TOKEN"], plain_org.env()["SALESFORCE_PASSWORD"]):
        assert secret not in done.stdout + done.stderr


# --- matching results to inputs, whatever order the CRM answers in ----------------------------


class ReversingBatchApi:
    """hubspot-api-client's batch_api.create as HubSpot may answer: results in any order."""

    def __init__(self) -> None:
        self.made: dict[str, str] = {}  # id → dealname

    def create(self, batch: Any) -> Any:
        results = []
        for item in reversed(batch.inputs):
            new_id = str(9000 + len(self.made))
            self.made[new_id] = item.properties["dealname"]
            results.append(
                SimpleNamespace(id=new_id, object_write_trace_id=item.object_write_trace_id)
            )
        return SimpleNamespace(results=results, errors=None)


def test_hubspot_results_are_matched_by_trace_id_not_order() -> None:
    api = ReversingBatchApi()
    hs = SimpleNamespace(crm=SimpleNamespace(deals=SimpleNamespace(batch_api=api)))
    names = [f"deal {i}" for i in range(150)]  # two calls: 100 + 50
    out = load_sandbox.hs_batch_create(hs, "deals", [({"dealname": n}, []) for n in names])
    assert out.refused == {}
    assert {i: api.made[rid] for i, rid in out.ids.items()} == dict(enumerate(names))


class ShufflingBulk:
    """simple-salesforce's bulk2.<Object> as Salesforce may answer: results in any order (rows
    of several batches), each echoing the values sent; names starting "bad" fail."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def insert(self, csv_file: str, wait: float) -> list[dict[str, Any]]:
        with open(csv_file, newline="") as f:
            self.rows = list(csv.DictReader(f))
        return [{"job_id": "750J"}]

    def _results(self, ok: bool) -> str:
        buffer = io.StringIO()
        columns = list(self.rows[0])
        extra = ["sf__Id", "sf__Created" if ok else "sf__Error"]
        writer = csv.DictWriter(buffer, fieldnames=extra + columns, lineterminator="\n")
        writer.writeheader()
        for n, row in reversed(list(enumerate(self.rows))):
            if row["Name"].startswith("bad") != ok:
                tag = (
                    {"sf__Id": f"001{n:015d}", "sf__Created": "true"}
                    if ok
                    else {
                        "sf__Id": "",
                        "sf__Error": f"FIELD_CUSTOM_VALIDATION_EXCEPTION:{row['Name']}",
                    }
                )
                writer.writerow({**tag, **row})
        return buffer.getvalue()

    def get_successful_records(self, job_id: str) -> str:
        return self._results(True)

    def get_failed_records(self, job_id: str) -> str:
        return self._results(False)


def test_bulk_results_are_matched_by_the_values_echoed() -> None:
    bulk = ShufflingBulk()
    sf = SimpleNamespace(bulk2=SimpleNamespace(Account=bulk))
    records = [{"Name": "Acme", "Website": None}, {"Name": "bad one"}, {"Name": "Acme"}]
    records.append({"Name": "Zed", "Website": "zed.com"})
    out = load_sandbox.bulk_insert(sf, "Account", records)
    # the two identical Acme rows each get one of the two ids; the failed row its own error
    assert sorted(out.ids) == [0, 2, 3]
    assert {out.ids[0], out.ids[2]} == {f"001{0:015d}", f"001{2:015d}"}
    assert out.ids[3] == f"001{3:015d}"
    assert out.refused == {1: "refused by Salesforce: FIELD_CUSTOM_VALIDATION_EXCEPTION:bad one"}


@pytest.mark.parametrize(
    ("crm", "variable"),
    [("hubspot", "HUBSPOT_ACCESS_TOKEN"), ("salesforce", "SALESFORCE_PASSWORD")],
)
def test_a_refused_login_is_one_line_without_the_secret(
    plain_org: SandboxSettings,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    crm: str,
    variable: str,
) -> None:
    wrong = "wrong-" + plain_org.env()[variable][-6:]
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as env:
        for name, value in plain_org.env().items():
            env.setenv(name, value)
        env.setenv(variable, wrong)
        code = load_sandbox.main([str(files["small"]), "--crm", crm], out=lambda _: None)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert ("401" in err) if crm == "hubspot" else ("login failed" in err)
    assert wrong not in err and plain_org.env()[variable] not in err


def test_hubspot_contacts_are_unique_by_email_across_runs(
    plain_org: SandboxSettings, tmp_path: Path, files: dict[str, Path]
) -> None:
    contacts = tmp_path / "people.csv"
    contacts.write_text(
        "Email,First Name,Last Name,Company\n"
        "Kel@Vandelay.com,Kel,Varn,Vandelay\n"
        "kel@vandelay.com,Kel,Again,Vandelay\n"
        "art@vandelay.com,Art,Vandelay,Vandelay\n"
    )
    argv = [str(files["small"]), "--crm", "hubspot", "--append", "--contacts", str(contacts)]
    code, lines, _ = run_loader(plain_org, argv)
    assert code == 0
    assert pulled_line(lines, "HubSpot contacts") == (3, 2, 1)
    assert reasons_after(lines, "HubSpot contacts") == [
        "  set aside 1: repeated email (HubSpot contacts are unique by email; first row kept) "
        "(row 2)"
    ]
    code, lines, _ = run_loader(plain_org, argv)
    assert code == 0
    assert pulled_line(lines, "HubSpot contacts") == (3, 0, 3)
    assert reasons_after(lines, "HubSpot contacts") == [
        "  set aside 3: a contact of the portal already has this email (rows 1, 2, 3)"
    ]
    hs = hs_client(plain_org.env())
    found = hs.crm.contacts.basic_api.get_page(limit=100, properties=["email", "lastname"])
    assert sorted((c.properties["email"], c.properties["lastname"]) for c in found.results) == [
        ("art@vandelay.com", "Vandelay"),
        ("kel@vandelay.com", "Varn"),
    ]


def test_each_deal_keeps_its_own_currency(tmp_path: Path) -> None:
    # a multi-currency export: the amounts are loaded as they are, each with its currency (the
    # CRM converts; the loader must not, nor add them up 1:1 as the corporate currency)
    path = tmp_path / "eur.csv"
    path.write_text(
        "Id,Account Name,Stage,Amount,CurrencyIsoCode,Created Date,Close Date\n"
        "E1,Zeta,Closed Won,1000,EUR,2024-01-02,2024-02-01\n"
        "E2,Zeta,Closed Won,700,GBP,2024-01-03,2024-02-03\n"
        "E3,Zeta,Closed Won,500,,2024-01-04,2024-02-04\n"
    )
    with SandboxProcess(tmp_path / "org", empty=True) as org:
        code, lines, _ = run_loader(org, [str(path), "--crm", "both"])
        assert code == 0, lines
        assert "currency: EUR (1), GBP (1) — amounts as they are, not converted" in lines
        sf = sf_client(org.env())
        got = {
            r["Name"]: (r["Amount"], r["CurrencyIsoCode"])
            for r in sf.query("SELECT Name, Amount, CurrencyIsoCode FROM Opportunity")["records"]
        }
        assert sorted(got.values()) == [(500.0, "USD"), (700.0, "GBP"), (1000.0, "EUR")]
        hs = hs_client(org.env())
        deals = hs.crm.deals.basic_api.get_page(
            limit=10, properties=["amount", "deal_currency_code"]
        ).results
        amounts = sorted(
            (float(d.properties["amount"]), d.properties.get("deal_currency_code")) for d in deals
        )
        assert amounts[1:] == [(700.0, "GBP"), (1000.0, "EUR")]
        assert amounts[0][0] == 500.0  # no currency given: the portal's own


def test_open_stages_map_onto_the_org_stage_their_name_begins() -> None:
    # Salesforce's standard stages (API names = labels) against an export's short names
    names = [
        ("Prospecting", False, False),
        ("Qualification", False, False),
        ("Needs Analysis", False, False),
        ("Value Proposition", False, False),
        ("Id. Decision Makers", False, False),
        ("Perception Analysis", False, False),
        ("Proposal/Price Quote", False, False),
        ("Negotiation/Review", False, False),
        ("Closed Won", True, True),
        ("Closed Lost", True, False),
    ]
    stages = [{"label": n, "value": n, "closed": c, "won": w} for n, c, w in names]
    export = ["proposal", "Negotiation", "qualification", "Discovery", None, "P"]
    deals = pd.DataFrame(
        {"stage_value": export, "won": [False] * 6, "lost": [False] * 6}, dtype=object
    ).astype({"won": bool, "lost": bool})
    stage, lines = load_sandbox.org_stage_map(stages, deals, label="Salesforce", value="value")
    assert stage.tolist() == [
        "Proposal/Price Quote",
        "Negotiation/Review",
        "Qualification",
        "Prospecting",  # no such stage: the first open one, said
        "Prospecting",
        "Prospecting",  # begins two stages (Prospecting, Proposal…, Perception…): none chosen
    ]
    assert "  open, the org's own stage kept: 3 deal(s)" in lines
