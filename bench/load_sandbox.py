"""Load any deals export (and optionally accounts / contacts files) into a running sandbox org
through the CRMs' real clients, as a third party's loader would.

    .venv/bin/python bench/load_sandbox.py DEALS.csv --crm salesforce|hubspot|both
        [--accounts ACCOUNTS.csv] [--contacts CONTACTS.csv] [--append]
        [--name COL] [--contact COL] [column options as backtest_csv: --created COL
         --close-date COL --amount COL --stage COL [--won V]... [--lost V]... | --is-won COL
         --is-closed COL] [--id COL] [--account COL] [--type COL] [--segment COL]
        [--date-format FORMAT]

The org is the one the environment names — a sourced `.sandbox*/connection.env` (README, "Your
own data in the sandbox"): SALESFORCE_USERNAME / _PASSWORD / _SECURITY_TOKEN (+ _DOMAIN,
_LOGIN_URL, _CA_BUNDLE) and HUBSPOT_ACCESS_TOKEN (+ HUBSPOT_BASE_URL). No secret is printed.

The deals are read by bench/backtest_csv.py's own reader and column guessing (the same options;
bench/export_reader.py), plus a deal name column (--name; else "<account> <deal id>") and a deal
contact column (--contact; HubSpot associations only). The export's dirt is loaded as a CRM
holds it, for the product's quality checks to find there as in a real org: a deal without an
amount (left blank), with a negative amount, closed before it was created, with no created date
(dated on the load day), closed without a close date (sent without one: Salesforce refuses it,
CloseDate being required; HubSpot takes it). Only what cannot be loaded is set aside: a deleted
row (IsDeleted), a repeated id, no stage, a date or amount that cannot be read. The mapping is
printed, then per CRM and object "pulled N = loaded L + set aside S" with each reason: the
export's, and every row the CRM refused (a Bulk job's failedResults, a HubSpot batch's errors; a
HubSpot batch refused whole is split until the refused rows are found), with the CRM's message.
Nothing is dropped silently. Records per second are printed per object.

Accounts: without --accounts, one per distinct value of the deals' account column (its name),
created when its first deal was; deals with a blank account are loaded without one. With
--accounts FILE, its columns are guessed by header (id, name, website / domain, industry,
employees, annual revenue, created date); a deal's account value is matched to the file's id
column, else to its name; a deal whose account is not in the file is loaded without one (said).
Contacts (--contacts FILE): id, first and last name, email, title, phone, account (id or name).

Salesforce (Bulk API 2.0 through simple-salesforce: Accounts, Contacts, then Opportunities):
- StageName is one of the org's own stages (OpportunityStage): won → its won stage, lost → its
  closed stage that is not won, open → the export's stage when the org has it (case and
  punctuation ignored), or the one open stage whose name begins with it ("Proposal" →
  "Proposal/Price Quote"), else the org's first open stage (said, with counts).
- Type: the export's type (new / renewal / expansion, read as backtest_csv reads it) onto the
  org's Type picklist values (describe) that read as the same type; blank when none fits.
- CreatedDate is sent when the org grants it (describe: createable, "Set Audit Fields upon
  Record Creation"); else it is left out, and the deals are dated on the load day (the quality
  warning closed_before_created will flag the closed ones) — said.
- CloseDate is required: an open deal without one gets created + the median created → close
  days of the export's closed deals (90 when none closed) — said, with the count.
- Deal ↔ contact roles (OpportunityContactRole) are not loaded.
- A deal whose account the CRM refused is set aside (with the account's reason).
HubSpot (batch create APIs through hubspot-api-client, 100 a call: companies, contacts, deals):
- dealstage is a stage of the default pipeline (pipelines API): won → the closed stage with
  probability 1, lost → the closed stage with probability 0, open → the export's stage when the
  pipeline has it (by label or id), else the first open stage (said).
- createdate is sent as it is; dealtype newbusiness (new) / existingbusiness (renewal,
  expansion), else left blank; an open deal without a close date has none (HubSpot allows it).
- Companies carry name, domain (from the website), industry when it is one of the portal's
  industry options (else left out, counted), employees, annual revenue; associations: contact →
  company, deal → company, deal → contact. Results are matched to inputs by objectWriteTraceId.
- Contacts are unique by email in HubSpot (a batch holding a taken one fails whole with 409):
  an email repeated in the file, or one a contact of the portal already has (read by email
  when the portal holds contacts), is set aside with that reason before the batch is sent.

Re-running on the same org would duplicate every record: when the org already holds accounts,
contacts or deals (counted through the clients) the script stops with a one-line error unless
--append is given. Errors the script cannot go on from are one line on stderr (exit 2).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import backtest_csv as bc  # noqa: E402
from export_reader import (  # noqa: E402
    ExportError,
    Role,
    column_role,
    normalised,
    parse_amounts,
    parse_dates,
    read_export,
)

BATCH = 100  # HubSpot batch create takes at most 100 inputs
BULK_WAIT = 0.5  # seconds between polls of a Bulk API job
NO_CLOSE_CYCLE_DAYS = 90  # stand-in cycle when the export has no closed deal
MAX_REASONS = 15  # reasons shown per object (a CRM's message may quote the value: many kinds)


DEAL_EXTRA = {
    "name": column_role(
        "--name", "deal name", "dealname opportunityname name dealtitle title opportunity"
    ),
    "contact": column_role(
        "--contact", "deal contact", "contactid contact primarycontact contactemail"
    ),
}
ACCOUNT_ROLES = {
    "id": column_role("", "id", "id accountid companyid recordid"),
    "name": column_role("", "name", "name accountname companyname company account"),
    "website": column_role(
        "", "website", "website domain companydomain url companywebsite web site"
    ),
    "industry": column_role("", "industry", "industry sector vertical"),
    "employees": column_role(
        "", "employees", "numberofemployees employees employeecount headcount companysize"
    ),
    "revenue": column_role("", "annual revenue", "annualrevenue revenue yearlyrevenue"),
    "created": column_role(
        "", "created date", "createddate created createdate createdat datecreated"
    ),
}
CONTACT_ROLES = {
    "id": column_role("", "id", "contactid id recordid"),
    "first": column_role("", "first name", "firstname first givenname"),
    "last": column_role("", "last name", "lastname last surname familyname"),
    "email": column_role("", "email", "email emailaddress mail"),
    "title": column_role("", "title", "title jobtitle position"),
    "phone": column_role("", "phone", "phone phonenumber telephone mobile"),
    "account": column_role(
        "", "account", "accountid account companyid company accountname companyname"
    ),
}


class LoadError(RuntimeError):
    """A condition the loader cannot go on from (one line, for the user)."""


def guess_columns(columns: Sequence[str], roles: Mapping[str, Role]) -> dict[str, str]:
    """role → column guessed by header (as backtest_csv guesses: case and punctuation ignored)."""
    by_name: dict[str, str] = {}
    for column in columns:
        by_name.setdefault(normalised(column), column)
    found = {}
    used: set[str] = set()
    for role, spec in roles.items():
        column = next(
            (by_name[n] for n in spec.guesses if n in by_name and by_name[n] not in used), None
        )
        if column is not None:
            found[role] = column
            used.add(column)
    return found


def mapping_lines(what: str, found: Mapping[str, str], roles: Mapping[str, Role]) -> list[str]:
    lines = [f"{what} columns (guessed by header):"]
    for role, spec in roles.items():
        lines.append(
            f"  {spec.label:<15}{found[role]!r}" if role in found else f"  {spec.label:<15}none"
        )
    return lines


def domain_of(website: object) -> str | None:
    """The host of a website or domain value, lower case, without scheme, www. or path."""
    if not isinstance(website, str) or not website.strip():
        return None
    text = website.strip().lower()
    host = urlparse(text if "//" in text else "//" + text).hostname or ""
    host = host.removeprefix("www.")
    return host or None


def number_text(value: Any) -> str | None:
    """A number as the CRMs read it: no exponent, no trailing .0."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def sf_datetime(ts: Any) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.000Z")


def hs_datetime(ts: Any) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- what is loaded, in CRM-neutral form --------------------------------------------------------


@dataclass
class Book:
    """The records to load: accounts, contacts and deals (one frame each, `key` the account's
    or contact's key in the files, `row` the source row), and what was set aside reading them."""

    accounts: pd.DataFrame
    contacts: pd.DataFrame
    deals: pd.DataFrame
    pulled: dict[str, int]
    aside: dict[str, pd.Series]  # object → reason by row
    lines: list[str] = field(default_factory=list)


def read_book(args: argparse.Namespace) -> Book:
    raw, notes = read_export(Path(args.data))
    given = {role: getattr(args, role) for role in bc.ROLES}
    export = bc.export_from(
        raw,
        given,
        won_values=args.won,
        lost_values=args.lost,
        date_format=args.date_format,
        loading=True,
    )
    mapping, _ = bc.column_mapping(list(raw.columns), given)
    lines = [
        f"deals export: {args.data} ({len(raw):,} rows{'; ' if notes else ''}{'; '.join(notes)})"
    ]
    lines.extend(export.lines)
    at_outcome = next(i for i, line in enumerate(lines) if line.startswith("outcome:"))
    extra_lines: list[str] = []
    extra: dict[str, str] = {}
    taken = set(mapping.values())
    for role, spec in DEAL_EXTRA.items():
        column = getattr(args, role)
        if column is not None and column not in raw.columns:
            raise ExportError(f"{spec.option} {column!r} is not a column")
        if column is None:
            guessed = guess_columns([c for c in raw.columns if c not in taken], {role: spec})
            column = guessed.get(role)
            how = "guessed"
        else:
            how = "given"
        if column is not None:
            extra[role] = column
            extra_lines.append(f"  {spec.label:<13}{spec.option:<13}{column!r} ({how})")
        else:
            absent = "'<account> <deal id>'" if role == "name" else "deals not linked to contacts"
            extra_lines.append(f"  {spec.label:<13}{spec.option:<13}none: {absent}")
    lines[at_outcome:at_outcome] = extra_lines

    d = export.deals
    rows = d["row"].to_numpy()
    at = raw.loc[rows]
    account_value = at[mapping["account"]].to_numpy(dtype=object) if "account" in mapping else None
    close_given = parse_dates(at[mapping["close_date"]], args.date_format).to_numpy()
    is_open = ~(d["won"] | d["lost"]).to_numpy()
    deals = pd.DataFrame(
        {
            "row": rows,
            "source_id": d["source_id"].to_numpy(),
            "account_key": account_value if account_value is not None else None,
            "stage_value": at[mapping["stage"]].to_numpy(dtype=object)
            if "stage" in mapping
            else None,
            "won": d["won"].to_numpy(dtype=bool),
            "lost": d["lost"].to_numpy(dtype=bool),
            "amount": d["amount"].to_numpy(dtype=float),
            "created": d["created"].to_numpy(),
            "close": np.where(is_open, close_given, d["closed_at"].to_numpy()),
            "type": d["type"].to_numpy(dtype=object),
            "contact_key": at[extra["contact"]].to_numpy(dtype=object)
            if "contact" in extra
            else None,
            # each deal keeps its own currency (CurrencyIsoCode / deal_currency_code)
            "currency": at[mapping["currency"]].str.upper().to_numpy(dtype=object)
            if "currency" in mapping
            else None,
        }
    )
    deals["created"] = pd.to_datetime(deals["created"], utc=True)
    deals["close"] = pd.to_datetime(deals["close"], utc=True)
    account_label = deals["account_key"].fillna("").astype(str)
    if "name" in extra:
        names = at[extra["name"]].to_numpy(dtype=object)
        deals["name"] = [
            n if isinstance(n, str) else f"{a} {s}".strip()
            for n, a, s in zip(names, account_label, deals["source_id"], strict=True)
        ]
    else:
        deals["name"] = (account_label + " " + deals["source_id"].astype(str)).str.strip()

    aside = {"deals": export.set_aside}
    pulled = {"deals": export.rows}
    if args.accounts:
        accounts, acc_aside, acc_lines, acc_rows = read_accounts(Path(args.accounts), args)
        aside["accounts"], pulled["accounts"] = acc_aside, acc_rows
        lines.extend(acc_lines)
        by_id = dict(
            zip(
                accounts["file_id"].dropna(),
                accounts.loc[accounts["file_id"].notna(), "key"],
                strict=True,
            )
        )
        by_name = dict(zip(accounts["name"], accounts["key"], strict=False))
        key = deals["account_key"].map(
            lambda v: by_id.get(v, by_name.get(v)) if isinstance(v, str) else None
        )
        missing = deals["account_key"].notna() & key.isna()
        if missing.any():
            lines.append(
                f"account: {int(missing.sum()):,} deal(s) name an account not in --accounts "
                f"(e.g. {deals.loc[missing, 'account_key'].iloc[0]!r}): loaded without an account"
            )
        deals["account_key"] = key
        first_deal = deals.dropna(subset=["account_key"]).groupby("account_key")["created"].min()
        undated = accounts["created"].isna() & accounts["key"].isin(first_deal.index)
        if undated.any():
            accounts.loc[undated, "created"] = accounts.loc[undated, "key"].map(first_deal)
            lines.append(
                f"accounts: {int(undated.sum()):,} without a created date: created when their "
                "first deal was"
            )
    else:
        names = deals.dropna(subset=["account_key"]).groupby("account_key")["created"].min()
        accounts = pd.DataFrame(
            {
                "key": names.index.astype(str),
                "file_id": None,
                "name": names.index.astype(str),
                "website": None,
                "domain": None,
                "industry": None,
                "employees": np.nan,
                "revenue": np.nan,
                "created": names.to_numpy(),
                "row": None,
            }
        )
        accounts["created"] = pd.to_datetime(accounts["created"], utc=True)
        lines.append(
            f"accounts: {len(accounts):,} from the deals' account column (one per distinct value; "
            "created when its first deal was)"
        )
    blank = deals["account_key"].isna()
    if blank.any():
        lines.append(f"account: {int(blank.sum()):,} deal(s) with no account: loaded without one")

    contacts = pd.DataFrame(
        columns=["key", "first", "last", "email", "title", "phone", "account_key", "row"]
    )
    if args.contacts:
        contacts, con_aside, con_lines, con_rows = read_contacts(Path(args.contacts), accounts)
        aside["contacts"], pulled["contacts"] = con_aside, con_rows
        lines.extend(con_lines)
    return Book(accounts, contacts, deals, pulled, aside, lines)


def read_accounts(
    path: Path, args: argparse.Namespace
) -> tuple[pd.DataFrame, pd.Series, list[str], int]:
    raw, notes = read_export(path)
    found = guess_columns(list(raw.columns), ACCOUNT_ROLES)
    if "name" not in found:
        raise ExportError(
            f"{path}: no account name column; columns found: {', '.join(map(repr, raw.columns))}"
        )
    lines = [f"accounts file: {path} ({len(raw):,} rows{'; ' if notes else ''}{'; '.join(notes)})"]
    lines.extend(mapping_lines("accounts", found, ACCOUNT_ROLES))
    reason = pd.Series(None, index=raw.index, dtype=object)
    reason[raw[found["name"]].isna()] = "account without a name"
    if "id" in found:
        repeated = raw[found["id"]].where(reason.isna()).dropna().duplicated()
        reason[repeated[repeated].index] = "repeated account id (its first row kept)"

    def col(role: str) -> pd.Series:
        return raw[found[role]] if role in found else pd.Series(None, index=raw.index, dtype=object)

    created = (
        parse_dates(col("created"), args.date_format)
        if "created" in found
        else pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    )
    accounts = pd.DataFrame(
        {
            "key": "row-" + raw.index.astype(str),
            "file_id": col("id"),
            "name": col("name"),
            "website": col("website"),
            "domain": col("website").map(domain_of),
            "industry": col("industry"),
            "employees": parse_amounts(col("employees").astype("string")).round(),
            "revenue": parse_amounts(col("revenue").astype("string")),
            "created": created,
            "row": raw.index,
        }
    )[reason.isna().to_numpy()]
    return accounts.reset_index(drop=True), reason.dropna(), lines, len(raw)


def read_contacts(
    path: Path, accounts: pd.DataFrame
) -> tuple[pd.DataFrame, pd.Series, list[str], int]:
    raw, notes = read_export(path)
    found = guess_columns(list(raw.columns), CONTACT_ROLES)
    lines = [f"contacts file: {path} ({len(raw):,} rows{'; ' if notes else ''}{'; '.join(notes)})"]
    lines.extend(mapping_lines("contacts", found, CONTACT_ROLES))
    if "last" not in found and "email" not in found:
        raise ExportError(
            f"{path}: no last name or email column; columns found: "
            + ", ".join(map(repr, raw.columns))
        )

    def col(role: str) -> pd.Series:
        return raw[found[role]] if role in found else pd.Series(None, index=raw.index, dtype=object)

    by_id = dict(
        zip(
            accounts["file_id"].dropna(),
            accounts.loc[accounts["file_id"].notna(), "key"],
            strict=True,
        )
    )
    by_name = dict(zip(accounts["name"], accounts["key"], strict=False))
    account = col("account").map(
        lambda v: by_id.get(v, by_name.get(v)) if isinstance(v, str) else None
    )
    unmatched = col("account").notna() & account.isna()
    if unmatched.any():
        lines.append(
            f"contacts: {int(unmatched.sum()):,} name an account not loaded: loaded without one"
        )
    contacts = pd.DataFrame(
        {
            "key": col("id") if "id" in found else "row-" + raw.index.astype(str),
            "first": col("first"),
            "last": col("last"),
            "email": col("email"),
            "title": col("title"),
            "phone": col("phone"),
            "account_key": account,
            "row": raw.index,
        }
    )
    return contacts.reset_index(drop=True), pd.Series(dtype=object), lines, len(raw)


# --- loading ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What became of one object's rows in one CRM: id by input position, reason by row."""

    ids: dict[int, str] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0


def report(
    crm: str,
    what: str,
    pulled: int,
    before: pd.Series,
    rows: Sequence[Any],
    out: Outcome,
    extra: pd.Series | None = None,
) -> list[str]:
    """ "pulled N = loaded L + set aside S" with each reason's count and first rows."""
    aside = pd.concat(
        [
            before,
            pd.Series({rows[i]: why for i, why in out.refused.items()}, dtype=object),
            *([] if extra is None else [extra]),
        ]
    )
    loaded = len(out.ids)
    rate = f" ({loaded / out.seconds:,.0f} records/s)" if out.seconds > 0 and loaded else ""
    lines = [
        f"{crm} {what}: pulled {pulled:,} = loaded {loaded:,} + set aside {len(aside):,}"
        f" — {out.seconds:.1f} s{rate}"
    ]
    groups = list(aside.groupby(aside, sort=False).groups.items())
    for why, idx in groups[:MAX_REASONS]:
        first = ", ".join(str(r) for r in list(idx)[:5]) + (", …" if len(idx) > 5 else "")
        lines.append(f"  set aside {len(idx):,}: {why} (row{'s' if len(idx) > 1 else ''} {first})")
    if len(groups) > MAX_REASONS:
        rest = sum(len(idx) for _, idx in groups[MAX_REASONS:])
        lines.append(f"  set aside {rest:,}: {len(groups) - MAX_REASONS:,} more reasons")
    return lines


def bulk_insert(sf: Any, sobject: str, records: list[dict[str, Any]]) -> Outcome:
    """Insert through Bulk API 2.0; each input's new id, or the CRM's error, by input position
    (results matched to inputs by the values sent, which Salesforce echoes)."""
    out = Outcome()
    if not records:
        return out
    columns = sorted({k for r in records for k in r})
    waiting: dict[tuple[str, ...], deque[int]] = defaultdict(deque)
    records = [{c: _cell(r.get(c)) for c in columns} for r in records]
    for i, r in enumerate(records):
        waiting[tuple(r[c] for c in columns)].append(i)
    start = time.perf_counter()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    api = getattr(sf.bulk2, sobject)
    path = _temp_csv(buffer.getvalue())
    try:
        jobs = api.insert(csv_file=str(path), wait=BULK_WAIT)
    finally:
        path.unlink(missing_ok=True)
    for job in jobs:
        for kind in ("ok", "failed"):
            text = (
                api.get_successful_records(job["job_id"])
                if kind == "ok"
                else api.get_failed_records(job["job_id"])
            )
            for row in csv.DictReader(io.StringIO(text)):
                key = tuple(row.get(c, "") for c in columns)
                queue = waiting.get(key)
                if not queue:
                    raise LoadError(f"{sobject}: a Bulk result matches no record sent: {key[:3]}")
                i = queue.popleft()
                if kind == "ok":
                    out.ids[i] = row["sf__Id"]
                else:
                    out.refused[i] = f"refused by Salesforce: {row['sf__Error']}"
    for queue in waiting.values():
        for i in queue:
            out.refused[i] = "not processed by the Bulk job (no result)"
    out.seconds = time.perf_counter() - start
    return out


def _cell(value: object) -> str:
    """A Bulk CSV cell: the text, or empty (null on insert) for anything else (None, NaN)."""
    return value if isinstance(value, str) else ""


def _temp_csv(text: str) -> Path:
    import tempfile

    handle, name = tempfile.mkstemp(suffix=".csv", prefix="load_sandbox_")
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return Path(name)


def org_stage_map(
    stages: list[dict[str, Any]], deals: pd.DataFrame, *, label: str, value: str
) -> tuple[pd.Series, list[str]]:
    """Each deal's stage in the org (`value` key of the stage dicts), and lines saying how.
    `stages` in the org's order, each with `label`, `value`, `closed`, `won`."""
    won = [s for s in stages if s["won"]]
    lost = [s for s in stages if s["closed"] and not s["won"]]
    open_ = [s for s in stages if not s["closed"]]
    if not (won and lost and open_):
        raise LoadError(f"{label}: the org needs a won, a lost and an open stage")
    known = {normalised(s["label"]): s[value] for s in open_}
    known.update({normalised(s[value]): s[value] for s in open_})

    def org_stage(name: object) -> Any:
        """The org's open stage `name` is (case and punctuation ignored), or the one stage it
        begins ("Proposal" → "Proposal/Price Quote", "Negotiation" → "Negotiation/Review":
        Salesforce's standard stages under their short names); None when none or several."""
        if not isinstance(name, str) or not normalised(name):
            return None
        key = normalised(name)
        if key in known:
            return known[key]
        begun = {stage for label, stage in known.items() if label.startswith(key)}
        return begun.pop() if len(begun) == 1 else None

    is_open = ~(deals["won"] | deals["lost"])
    own = deals["stage_value"].map(org_stage)
    stage = pd.Series(open_[0][value], index=deals.index, dtype=object)
    stage[is_open & own.notna()] = own[is_open & own.notna()]
    stage[deals["won"]] = won[0][value]
    stage[deals["lost"]] = lost[0][value]
    lines = [f"{label} stages: won → {won[0][value]!r}, lost → {lost[0][value]!r}"]
    kept = is_open & own.notna()
    if kept.any():
        lines.append(f"  open, the org's own stage kept: {int(kept.sum()):,} deal(s)")
    other = is_open & own.isna()
    if other.any():
        counts = deals.loc[other, "stage_value"].fillna("(none)").value_counts()
        shown = ", ".join(f"{v!r} ({n:,})" for v, n in counts.head(6).items())
        lines.append(
            f"  open, not a stage of the org → its first open stage {open_[0][value]!r}: {shown}"
            + (", …" if len(counts) > 6 else "")
        )
    return stage, lines


def salesforce_env_client() -> Any:
    from acm_sync.org_summary import salesforce_client

    env = dict(os.environ)
    needed = ("SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN")
    missing = [n for n in needed if not env.get(n)]
    if missing:
        raise LoadError(
            f"{', '.join(missing)} not set: source the sandbox's connection.env "
            "(set -a; . .sandbox-mine/connection.env; set +a)"
        )
    try:
        sf = salesforce_client(env)
    except Exception as error:  # login refused: say which, never the secrets
        raise LoadError(f"Salesforce login failed ({type(error).__name__})") from None
    sf.session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the sandbox's CA
    return sf


def hubspot_env_client() -> Any:
    import hubspot
    from urllib3.util.retry import Retry

    token = os.environ.get("HUBSPOT_ACCESS_TOKEN")
    if not token:
        raise LoadError(
            "HUBSPOT_ACCESS_TOKEN not set: source the sandbox's connection.env "
            "(set -a; . .sandbox-mine/connection.env; set +a)"
        )
    retry = Retry(
        total=8,
        backoff_factor=1.0,
        status_forcelist=(429, 502, 503, 504),
        allowed_methods=None,  # batch creates are POSTs; a 429 is answered before any write
        respect_retry_after_header=True,
    )
    kwargs: dict[str, Any] = {"access_token": token, "retry": retry}
    if os.environ.get("HUBSPOT_BASE_URL"):
        kwargs["host"] = os.environ["HUBSPOT_BASE_URL"]
    return hubspot.HubSpot(**kwargs)


def salesforce_held(sf: Any) -> dict[str, int]:
    return {
        obj: int(sf.query(f"SELECT COUNT() FROM {obj}")["totalSize"])
        for obj in ("Account", "Contact", "Opportunity")
    }


def hubspot_held(hs: Any) -> dict[str, int]:
    return {
        obj: int(
            getattr(hs.crm, obj)
            .search_api.do_search(public_object_search_request={"limit": 1})
            .total
        )
        for obj in ("companies", "contacts", "deals")
    }


def load_salesforce(book: Book, lines: list[str]) -> None:
    """Load the book into the Salesforce org; what happened is appended to `lines` as it goes."""
    sf = salesforce_env_client()
    deals = book.deals
    described = sf.Opportunity.describe()
    fields = {f["name"]: f for f in described["fields"]}
    audit = bool(fields.get("CreatedDate", {}).get("createable"))
    account_audit = bool(
        {f["name"]: f for f in sf.Account.describe()["fields"]}.get("CreatedDate", {}).get(
            "createable"
        )
    )
    if audit:
        lines.append("Salesforce: the org grants audit fields: CreatedDate kept")
    else:
        lines.append(
            'Salesforce: CreatedDate is not createable (the org does not grant "Set Audit Fields '
            'upon Record Creation"): not sent — the deals are dated on the load day, and the '
            "closed ones will get the closed_before_created quality warning"
        )
    rows = sf.query_all(
        "SELECT MasterLabel, ApiName, IsActive, IsClosed, IsWon, SortOrder FROM OpportunityStage"
    )["records"]
    stages = [
        {
            "label": r["MasterLabel"],
            "value": r.get("ApiName") or r["MasterLabel"],  # the StageName picklist value
            "closed": r["IsClosed"],
            "won": r["IsWon"],
        }
        for r in sorted(rows, key=lambda r: (r.get("SortOrder") is None, r.get("SortOrder") or 0))
        if r.get("IsActive", True)
    ]
    stage, stage_lines = org_stage_map(stages, deals, label="Salesforce", value="value")
    lines.extend(stage_lines)
    type_values = [
        v["value"]
        for v in fields.get("Type", {}).get("picklistValues", [])
        if v.get("active", True)
    ]
    type_of = {}
    for kind in ("new", "renewal", "expansion"):
        fit = next((v for v in type_values if bc.contract_type(v) == kind), None)
        if fit is not None:
            type_of[kind] = fit
    sent_type = deals["type"].map(lambda k: type_of.get(k) if isinstance(k, str) else None)
    shown = ", ".join(f"{k} → {v!r}" for k, v in type_of.items()) or "none fits"
    lines.append(
        f"Salesforce Type: {shown} (picklist: {', '.join(map(repr, type_values)) or 'none'}); "
        f"{int(sent_type.isna().sum()):,} deal(s) left blank"
    )

    is_open = ~(deals["won"] | deals["lost"])
    cycle = (deals["close"] - deals["created"]).dt.days[~is_open]
    stand_in = int(cycle.median()) if len(cycle) else NO_CLOSE_CYCLE_DAYS
    stand_in = max(stand_in, 1)
    no_close = is_open & deals["close"].isna()
    # an undated deal is created on the load day
    created = deals["created"].fillna(pd.Timestamp.now(tz="UTC").floor("D"))
    close = deals["close"].where(~no_close, created + pd.Timedelta(days=stand_in))
    if no_close.any():
        lines.append(
            f"Salesforce CloseDate is required: {int(no_close.sum()):,} open deal(s) without one "
            f"get created + {stand_in} days (the median created → close of the export's closed "
            "deals" + (")" if len(cycle) else f"; none closed: {NO_CLOSE_CYCLE_DAYS})")
        )

    accounts = book.accounts
    acc_records = []
    for a in accounts.itertuples():
        r: dict[str, str | None] = {
            "Name": a.name,
            "Website": a.website,
            "Industry": a.industry if isinstance(a.industry, str) else None,
            "NumberOfEmployees": number_text(a.employees),
            "AnnualRevenue": number_text(a.revenue),
        }
        if account_audit and not pd.isna(a.created):
            r["CreatedDate"] = sf_datetime(a.created)
        acc_records.append(r)
    acc = bulk_insert(sf, "Account", acc_records)
    account_id = {accounts["key"].iat[i]: sid for i, sid in acc.ids.items()}
    account_refused = {accounts["key"].iat[i]: why for i, why in acc.refused.items()}
    lines.extend(
        report(
            "Salesforce",
            "accounts",
            book.pulled.get("accounts", len(accounts)),
            book.aside.get("accounts", pd.Series(dtype=object)),
            list(accounts["row"]) if "accounts" in book.pulled else list(accounts["name"]),
            acc,
        )
    )
    contacts = book.contacts
    if len(contacts) or "contacts" in book.pulled:
        con_records = [
            {
                "FirstName": c.first if isinstance(c.first, str) else None,
                "LastName": c.last if isinstance(c.last, str) else None,
                "Email": c.email if isinstance(c.email, str) else None,
                "Title": c.title if isinstance(c.title, str) else None,
                "Phone": c.phone if isinstance(c.phone, str) else None,
                "AccountId": account_id.get(c.account_key),
            }
            for c in contacts.itertuples()
        ]
        con = bulk_insert(sf, "Contact", con_records)
        lines.extend(
            report(
                "Salesforce",
                "contacts",
                book.pulled["contacts"],
                book.aside["contacts"],
                list(contacts["row"]),
                con,
            )
        )

    refused_account = deals["account_key"].map(account_refused)
    keep = refused_account.isna()
    opp_records = []
    for d, s, t, c in zip(
        deals[keep].itertuples(), stage[keep], sent_type[keep], close[keep], strict=True
    ):
        r = {
            "Name": d.name,
            "AccountId": account_id.get(d.account_key),
            "StageName": s,
            "Amount": number_text(d.amount),
            # a closed deal without one is sent without one: Salesforce refuses it (required)
            "CloseDate": None if pd.isna(c) else c.strftime("%Y-%m-%d"),
            "Type": t,
        }
        if audit and not pd.isna(d.created):
            r["CreatedDate"] = sf_datetime(d.created)
        if isinstance(d.currency, str):
            r["CurrencyIsoCode"] = d.currency
        opp_records.append(r)
    opp = bulk_insert(sf, "Opportunity", opp_records)
    extra = pd.Series(
        {
            row: "its account was refused by Salesforce "
            f"({why.removeprefix('refused by Salesforce: ')})"
            for row, why in zip(deals.loc[~keep, "row"], refused_account[~keep], strict=True)
        },
        dtype=object,
    )
    lines.extend(
        report(
            "Salesforce",
            "opportunities",
            book.pulled["deals"],
            book.aside["deals"],
            list(deals.loc[keep, "row"]),
            opp,
            extra,
        )
    )


def _hs_models(obj: str) -> tuple[Any, Any, Any]:
    module = __import__(f"hubspot.crm.{obj}", fromlist=["x"])
    return (
        module.BatchInputSimplePublicObjectBatchInputForCreate,
        module.SimplePublicObjectBatchInputForCreate,
        module.ApiException,
    )


def _error_text(body: Any) -> str:
    import json

    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return str(body)[:200]
    message = str(data.get("message", body))
    return message[:300]


def hs_batch_create(
    hs: Any, obj: str, inputs: list[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> Outcome:
    """Create through `…/batch/create`, 100 a call; each input's id, or HubSpot's error, by
    input position, matched by objectWriteTraceId (HubSpot does not promise the input order).
    With a trace id on every input, a bad property value is refused per input (a 207 entry);
    a batch refused whole all the same (400, or a 409 for a taken unique value) is split until
    each refused input is found."""
    batch_model, input_model, api_error = _hs_models(obj)
    api = getattr(hs.crm, obj).batch_api
    out = Outcome()
    start = time.perf_counter()

    def send(positions: list[int]) -> None:
        items = [
            input_model(
                properties=inputs[i][0],
                associations=inputs[i][1] or None,
                object_write_trace_id=str(i),
            )
            for i in positions
        ]
        try:
            answer = api.create(batch_model(inputs=items))
        except api_error as error:
            if error.status in (400, 409) and len(positions) > 1:
                half = len(positions) // 2
                send(positions[:half])
                send(positions[half:])
                return
            if error.status in (400, 409):
                out.refused[positions[0]] = f"refused by HubSpot: {_error_text(error.body)}"
                return
            raise
        for record in answer.results:
            trace = record.object_write_trace_id
            if trace is None or not trace.isdigit() or int(trace) not in positions:
                raise LoadError(f"HubSpot {obj}: a created record carries no input's trace id")
            out.ids[int(trace)] = record.id
        for error in getattr(answer, "errors", None) or []:
            traces = (error.context or {}).get("objectWriteTraceId") or []
            for trace in traces:
                out.refused[int(trace)] = f"refused by HubSpot: {error.message}"
        for i in positions:
            if i not in out.ids and i not in out.refused:
                out.refused[i] = "no result from HubSpot's batch create"

    for begin in range(0, len(inputs), BATCH):
        send(list(range(begin, min(begin + BATCH, len(inputs)))))
    out.seconds = time.perf_counter() - start
    return out


def contacts_not_to_create(hs: Any, contacts: pd.DataFrame) -> dict[int, str]:
    """Contacts HubSpot would refuse for their email (unique per portal; a batch holding one
    fails whole with 409), by position with the reason: an email a contact of the portal already
    has (batch read by email, only when the portal holds contacts) or one repeated in the file."""
    from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId

    emails = [e.strip().lower() if isinstance(e, str) else None for e in contacts["email"]]
    held: dict[str, str] = {}
    wanted = sorted({e for e in emails if e})
    portal = hs.crm.contacts.search_api.do_search(public_object_search_request={"limit": 1})
    if portal.total and wanted:
        for begin in range(0, len(wanted), BATCH):
            answer = hs.crm.contacts.batch_api.read(
                BatchReadInputSimplePublicObjectId(
                    inputs=[{"id": e} for e in wanted[begin : begin + BATCH]],
                    id_property="email",
                    properties=["email"],
                )
            )
            for record in answer.results:
                held[str(record.properties.get("email", "")).lower()] = record.id
    out: dict[int, str] = {}
    first_row: dict[str, Any] = {}
    for i, (email, row) in enumerate(zip(emails, contacts["row"], strict=True)):
        if email is None:
            continue
        if email in held:
            out[i] = "a contact of the portal already has this email"
        elif email in first_row:
            out[i] = "repeated email (HubSpot contacts are unique by email; first row kept)"
        else:
            first_row[email] = row
    return out


def _assoc(to: str, type_id: int) -> dict[str, Any]:
    return {
        "to": {"id": to},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }


def load_hubspot(book: Book, lines: list[str]) -> None:
    """Load the book into the HubSpot portal; what happened is appended to `lines` as it goes."""
    hs = hubspot_env_client()
    deals = book.deals
    pipelines = hs.crm.pipelines.pipelines_api.get_all("deals").results
    pipeline = next(
        (p for p in pipelines if p.id == "default"), pipelines[0] if pipelines else None
    )
    if pipeline is None:
        raise LoadError("HubSpot: the portal has no deal pipeline")
    stages = [
        {
            "label": s.label,
            "value": s.id,
            "closed": str((s.metadata or {}).get("isClosed", "false")).lower() == "true",
            "won": float((s.metadata or {}).get("probability", 0) or 0) >= 1.0,
        }
        for s in sorted(pipeline.stages, key=lambda s: s.display_order)
        if not s.archived
    ]
    stage, stage_lines = org_stage_map(
        stages, deals, label=f"HubSpot (pipeline {pipeline.id!r})", value="value"
    )
    lines.extend(stage_lines)
    industry_options = None
    try:
        prop = hs.crm.properties.core_api.get_by_name("companies", "industry")
        if prop.type == "enumeration":
            industry_options = {}
            for o in prop.options or []:
                industry_options[normalised(o.label)] = o.value
                industry_options[normalised(o.value)] = o.value
    except Exception:  # no industry property: leave industry out
        industry_options = {}

    accounts = book.accounts
    company_inputs: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    industry_dropped = 0
    for a in accounts.itertuples():
        props = {
            "name": a.name,
            "domain": a.domain,
            "numberofemployees": number_text(a.employees),
            "annualrevenue": number_text(a.revenue),
            "createdate": hs_datetime(a.created) if not pd.isna(a.created) else None,
        }
        if isinstance(a.industry, str):
            value = (
                a.industry
                if industry_options is None
                else industry_options.get(normalised(a.industry))
            )
            industry_dropped += value is None
            props["industry"] = value
        company_inputs.append(({k: v for k, v in props.items() if v is not None}, []))
    if industry_dropped:
        lines.append(
            f"HubSpot industry: {industry_dropped:,} value(s) are not options of the portal's "
            "industry property: left out"
        )
    com = hs_batch_create(hs, "companies", company_inputs)
    company_id = {accounts["key"].iat[i]: cid for i, cid in com.ids.items()}
    company_refused = {accounts["key"].iat[i]: why for i, why in com.refused.items()}
    lines.extend(
        report(
            "HubSpot",
            "companies",
            book.pulled.get("accounts", len(accounts)),
            book.aside.get("accounts", pd.Series(dtype=object)),
            list(accounts["row"]) if "accounts" in book.pulled else list(accounts["name"]),
            com,
        )
    )
    contacts = book.contacts
    contact_id: dict[Any, str] = {}
    if len(contacts) or "contacts" in book.pulled:
        contact_inputs = []
        for c in contacts.itertuples():
            props = {
                "firstname": c.first,
                "lastname": c.last,
                "email": c.email,
                "jobtitle": c.title,
                "phone": c.phone,
            }
            company = company_id.get(c.account_key)
            contact_inputs.append(
                (
                    {k: v for k, v in props.items() if isinstance(v, str)},
                    [_assoc(company, 1)] if company else [],
                )
            )
        skipped = contacts_not_to_create(hs, contacts)
        todo = [i for i in range(len(contact_inputs)) if i not in skipped]
        sent = hs_batch_create(hs, "contacts", [contact_inputs[i] for i in todo])
        con = Outcome(
            ids={todo[j]: cid for j, cid in sent.ids.items()},
            refused={**skipped, **{todo[j]: why for j, why in sent.refused.items()}},
            seconds=sent.seconds,
        )
        contact_id = {contacts["key"].iat[i]: cid for i, cid in con.ids.items()}
        lines.extend(
            report(
                "HubSpot",
                "contacts",
                book.pulled["contacts"],
                book.aside["contacts"],
                list(contacts["row"]),
                con,
            )
        )

    refused_account = deals["account_key"].map(company_refused)
    keep = refused_account.isna()
    deal_inputs = []
    unlinked = 0
    for d, s in zip(deals[keep].itertuples(), stage[keep], strict=True):
        props = {
            "dealname": d.name,
            "pipeline": pipeline.id,
            "dealstage": s,
            "amount": number_text(d.amount),
            "createdate": None if pd.isna(d.created) else hs_datetime(d.created),
            "closedate": hs_datetime(d.close) if not pd.isna(d.close) else None,
            "dealtype": {
                "new": "newbusiness",
                "renewal": "existingbusiness",
                "expansion": "existingbusiness",
            }.get(d.type)
            if isinstance(d.type, str)
            else None,
        }
        if isinstance(d.currency, str):
            props["deal_currency_code"] = d.currency
        assoc = []
        if company_id.get(d.account_key):
            assoc.append(_assoc(company_id[d.account_key], 5))
        if isinstance(d.contact_key, str) and contact_id.get(d.contact_key):
            assoc.append(_assoc(contact_id[d.contact_key], 3))
        elif isinstance(d.contact_key, str) and "contacts" in book.pulled:
            unlinked += 1
        deal_inputs.append(({k: v for k, v in props.items() if v is not None}, assoc))
    if unlinked:
        lines.append(
            f"HubSpot: {unlinked:,} deal(s) name a contact not loaded: not associated to one"
        )
    no_close = int((keep & deals["close"].isna()).sum())
    if no_close:
        lines.append(f"HubSpot: {no_close:,} open deal(s) without a close date: loaded without one")
    dl = hs_batch_create(hs, "deals", deal_inputs)
    extra = pd.Series(
        {
            row: f"its company was refused by HubSpot ({why.removeprefix('refused by HubSpot: ')})"
            for row, why in zip(deals.loc[~keep, "row"], refused_account[~keep], strict=True)
        },
        dtype=object,
    )
    lines.extend(
        report(
            "HubSpot",
            "deals",
            book.pulled["deals"],
            book.aside["deals"],
            list(deals.loc[keep, "row"]),
            dl,
            extra,
        )
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("data", help="the deals export (CSV)")
    p.add_argument("--crm", required=True, choices=("salesforce", "hubspot", "both"))
    p.add_argument("--accounts", help="an accounts / companies file (CSV)")
    p.add_argument("--contacts", help="a contacts file (CSV)")
    p.add_argument("--append", action="store_true", help="load into an org that holds records")
    for role, spec in {**bc.ROLES, **DEAL_EXTRA}.items():
        p.add_argument(spec.option, dest=role, metavar="COLUMN", help=f"the {spec.label} column")
    p.add_argument("--won", action="append", default=[], metavar="VALUE")
    p.add_argument("--lost", action="append", default=[], metavar="VALUE")
    p.add_argument("--date-format", help="one strptime format for every date (%%d/%%m/%%Y)")
    return p


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = parser().parse_args(argv)
    crms = ("salesforce", "hubspot") if args.crm == "both" else (args.crm,)
    try:
        book = read_book(args)
        out("\n".join(book.lines))
        clients: dict[str, Callable[[], dict[str, int]]] = {
            "salesforce": lambda: salesforce_held(salesforce_env_client()),
            "hubspot": lambda: hubspot_held(hubspot_env_client()),
        }
        if not args.append:
            for crm in crms:
                held = {k: v for k, v in clients[crm]().items() if v}
                if held:
                    counts = ", ".join(f"{k} {v:,}" for k, v in held.items())
                    raise LoadError(
                        f"the {crm} org already holds records ({counts}): loading again would "
                        "duplicate them; give --append to add to them"
                    )
    except (ExportError, LoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the CRM refused a call (login, limits): one line, no secrets
        if not client_error(error):
            raise
        print(f"error: {crm_failure(error)}", file=sys.stderr)
        return 2
    for crm in crms:
        lines: list[str] = []
        try:
            (load_salesforce if crm == "salesforce" else load_hubspot)(book, lines)
        except Exception as error:
            if not (isinstance(error, LoadError) or client_error(error)):
                raise
            out("\n".join(["", *lines]))
            why = error if isinstance(error, LoadError) else crm_failure(error)
            print(
                f"error: {crm}: {why} — the records loaded before it stay in the org (see above)",
                file=sys.stderr,
            )
            return 2
        out("\n".join(["", *lines]))
    return 0


def client_error(error: Exception) -> bool:
    """An error a CRM client raised (a refused call, a lost connection), not a bug of ours."""
    import requests
    from simple_salesforce.exceptions import SalesforceError

    return isinstance(error, SalesforceError | requests.RequestException) or type(
        error
    ).__module__.startswith(("hubspot.", "urllib3."))


def crm_failure(error: Exception) -> str:
    """A client's exception in one line: its kind, HTTP status and the CRM's own message (an
    error code and text, which carry no credentials), never the request."""
    status = getattr(error, "status", None) or getattr(error, "status_code", None)
    said = ""
    content = getattr(error, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        said = f": {content[0].get('errorCode', '')} {content[0].get('message', '')}".rstrip()
    elif getattr(error, "body", None):
        said = f": {_error_text(error.body)}"  # type: ignore[attr-defined]
    return f"{type(error).__name__}{f' (HTTP {status})' if status else ''}{said}"


if __name__ == "__main__":
    raise SystemExit(main())
