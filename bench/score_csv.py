"""Tiers, health and next actions on any purchase log or deals export, by the product's scoring.

    .venv/bin/python bench/score_csv.py ORDERS.csv [--as-of YYYY-MM-DD] [--out scores.csv]
        [--kind orders|deals] [--columns ROLE,ROLE,...] [--date-format FORMAT] [--config FILE]
        [--customer COL] [--date COL] [--amount COL | --quantity COL --price COL] [--order COL]
        [--name COL] [--since COL] [--industry COL]
        [--created COL --close-date COL --stage COL [--won V]... [--lost V]... | --is-won COL
         --is-closed COL] [--account COL] [--type COL] [--segment COL] [--id COL]

Two shapes of input (the shape read is printed; --kind forces one):
- **A purchase log** (orders): one row per order or order line — a customer id, a date and an
  amount, or a quantity and a unit price (amount = quantity × price). Every row is an order won
  on its date; lines of one order (same customer, order / invoice id and day) are one deal, and
  without an order column one deal is a customer's day. Optional: customer name, customer-since
  date (the account's created date; its first order when that is earlier or the date is
  missing), industry or country.
  A CSV with a header (columns guessed as in backtest_csv: CustomerID / customer_id / Client,
  InvoiceDate / order_date / Date, Amount / Total / Sales, Quantity / Qty, UnitPrice / Price,
  InvoiceNo / OrderID), or text with no header separated by whitespace, tabs or commas whose
  columns are given by position: `--columns customer,date,quantity,amount` (`-` skips one).
- **A deals export**: a CSV backtest_csv reads (created date, close date, amount, a stage or an
  is_won / is_closed pair), read by backtest_csv's own mapping, plus a needed account column:
  won deals are revenue, open deals pipeline. It is read as one when those columns are there,
  or when an outcome is (a stage, or the pair): a purchase log has none, so a deals export
  missing another column is told which (--created, …), not asked for an order date.
  An open deal keeps its own close date (what the CRM shows: renewals due or overdue, stale
  deals); with --as-of, or when it is blank, the date backtest_csv makes from earlier cycles.

Dates: ISO (also YYYYMMDD, read as a date, never as a number), US month/day/year, or
--date-format. Amounts: digits with an optional currency sign or code and thousands commas.

Nothing is dropped silently: every row is used or set aside with one reason, and "pulled N =
used U + set aside S" is printed with each reason's count and first rows. In a purchase log:
no customer id; no or unreadable date; dated on or after --as-of (not seen yet); no or
unreadable amount, quantity or price; a zero amount (no revenue: not an order); a return with no
earlier purchase of the customer's to net against. Returns — a negative amount or quantity
(credit notes, e.g. invoice "C536379") — are netted, as a revops report of net revenue does:
each return reduces that customer's latest purchases on or before its date (lines of one order
net first), never below zero, and the purchase's revenue counts net on its own date; a return
is never a purchase itself (it does not make a customer New or keep one from Dormant). A
purchase returned in full is no longer a purchase (a customer left with none is a Prospect); a
return larger than the purchases before it is netted as far as they go and the rest printed.
Exact duplicate rows are kept (a log may list the same line twice) and counted. In a deals
export: backtest_csv's reasons (a negative amount is set aside there: a deals export has no
returns), and a deal without an account.

As of: the day after the data's last date (printed; scoring an old log "as of today" would make
every customer Dormant). --as-of DATE replays the data as of that day: later rows are not seen,
customers first seen later do not exist yet (`scoring.existing_by`).

Scoring is the product's: canonical tables (accounts; no contacts; opportunities; stage history
empty for a purchase log, backtest_csv's for a deals export) scored by
`acm_sync.scoring.score_accounts` with the settings of acm_sync.yaml (`--config FILE`, else
$ACM_SYNC_CONFIG, else ./acm_sync.yaml, else the defaults) — with one change, printed: health
components and next-action rules whose source the export does not hold are not measured (their
health weights are set to 0 and the others scaled to sum to 100; the rules are switched off),
since a purchase log's lack of activities and contacts says nothing about its customers. A
purchase log scores revenue trend only (accounts without a prior year of revenue get no health
score: "No action: no health data"); a deals export adds pipeline coverage and, with a type
column, renewal risk. The bands the settings as they are would give (every component weighted:
Red nearly everywhere, for want of activities and contacts) are printed last, for comparison.

It prints the accounts per tier (count, share of T12M revenue), the Pareto check (Key accounts'
share of payers and of T12M revenue, the cap), health bands, next actions and example reasons
per tier; --out FILE writes one row per customer (customer_id, name, tier, tier_reason,
health_score, health_band, health_drivers, attention, next_action, t12m_revenue). An input it
cannot read at all is a one-line error (exit 2).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import backtest_csv  # noqa: E402
import public_deals  # noqa: E402
from export_reader import (  # noqa: E402
    ExportError,
    column_role,
    guess_columns,
    parse_amounts,
    parse_dates,
    read_export,
)

if TYPE_CHECKING:
    from acm_sync.currency import CurrencyConfig
    from acm_sync.scoring import Scores
    from acm_sync.scoring.settings import ScoringSettings


ORDER_ROLES = {
    "customer": column_role(
        "--customer",
        "customer id",
        "customerid customer customerno customernumber custid clientid client accountid account "
        "buyerid userid memberid companyid company customername accountname companyname",
    ),
    "date": column_role(
        "--date",
        "order date",
        "orderdate invoicedate purchasedate transactiondate saledate date orderdatetime "
        "invoicedatetime purchasedat orderedat timestamp",
    ),
    "amount": column_role(
        "--amount",
        "amount",
        "amount ordertotal totalamount total linetotal totalprice sales revenue netamount "
        "saleamount orderamount invoiceamount salesamount value subtotal",
    ),
    "quantity": column_role("--quantity", "quantity", "quantity qty units quantityordered"),
    "price": column_role(
        "--price", "unit price", "unitprice price priceeach itemprice saleprice sellingprice"
    ),
    "order": column_role(
        "--order",
        "order id",
        "invoiceno invoice invoicenumber invoiceid orderid orderno ordernumber order "
        "transactionid receiptid receiptno",
    ),
    "name": column_role(
        "--name", "customer name", "customername accountname companyname clientname name"
    ),
    "since": column_role(
        "--since",
        "customer since",
        "customersince accountcreated accountcreatedat accountcreateddate customercreated "
        "customercreatedat signupdate registrationdate registeredat",
    ),
    "industry": column_role(
        "--industry", "industry", "industry sector vertical country countrycode region"
    ),
}
ORDER_ABSENT = {
    "order": "one deal per customer and day",
    "name": "the customer id is the name",
    "since": "a customer exists from its first order",
    "industry": "no industry or country",
}
RETURN_REASON = "return with no earlier purchase of the customer's to net against"
TOLERANCE = 1e-9
# The canonical account id before the customer id: ours for a purchase log, backtest_csv's
# (public_deals') for a deals export's accounts.
ORDER_PREFIX, DEALS_PREFIX = "sf:A", "sf:Aacct-"


# --- reading ---------------------------------------------------------------------------------


def read_positional(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """A text file with no header: its columns named by `columns` (by position; "-" or "" skips
    one, further columns are "column N"), split by tab, comma, semicolon or bar when the first
    line has one, else by whitespace. Text columns, stripped, blanks NaN."""
    if not path.is_file():
        raise ExportError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise ExportError(f"{path}: the file is empty")
    sep = next((s for s in "\t,;|" if s in first), r"\s+")
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as error:
        raise ExportError(f"{path}: not readable by position ({str(error).strip()})") from None
    names = [
        name if i < len(columns) and name not in ("", "-") else f"column {i + 1}"
        for i, name in enumerate([*columns, *[""] * max(0, raw.shape[1] - len(columns))])
    ][: raw.shape[1]]
    if len(columns) > raw.shape[1]:
        raise ExportError(
            f"--columns names {len(columns)} columns but the file has {raw.shape[1]} "
            f"(first line: {first.strip()[:80]!r})"
        )
    unknown = [name for name in columns if name not in ("", "-") and name not in ORDER_ROLES]
    if unknown:
        raise ExportError(
            f"--columns: {', '.join(map(repr, unknown))} is no column role; roles: "
            + ", ".join(ORDER_ROLES)
        )
    raw.columns = names
    raw.index = pd.RangeIndex(1, len(raw) + 1, name="row")
    return raw.apply(lambda column: column.str.strip()).replace("", np.nan)


def order_mapping(
    columns: Sequence[str], given: Mapping[str, str | None]
) -> tuple[dict[str, str], list[str]]:
    """(role → column, printed lines) of a purchase log. Needed: customer id, date, and an amount
    or a quantity and a price (the amount wins when both are there, unless quantity and price are
    given). ExportError naming the missing role and the columns found."""
    found = ", ".join(map(repr, columns))
    mapping, how = guess_columns(columns, given, ORDER_ROLES)
    for role in ("customer", "date"):
        if role not in mapping:
            spec = ORDER_ROLES[role]
            raise ExportError(
                f"no {spec.label} column (give {spec.option} COLUMN); columns found: {found}"
            )
    pair_given = given.get("quantity") is not None and given.get("price") is not None
    if "amount" in mapping and not pair_given:
        mapping.pop("quantity", None)
        mapping.pop("price", None)
    elif "quantity" in mapping and "price" in mapping:
        mapping.pop("amount", None)
    else:
        raise ExportError(
            "no amount column (give --amount COLUMN, or --quantity COLUMN and --price COLUMN); "
            f"columns found: {found}"
        )
    if mapping.get("name") == mapping["customer"]:
        mapping.pop("name")
    lines = ["mapping (an option changes a column):"]
    for role, spec in ORDER_ROLES.items():
        if role in mapping:
            lines.append(f"  {spec.label:<15}{spec.option:<13}{mapping[role]!r} ({how[role]})")
        elif role in ORDER_ABSENT:
            lines.append(f"  {spec.label:<15}{spec.option:<13}none: {ORDER_ABSENT[role]}")
    if "quantity" in mapping:
        lines.append(f"  amount = {mapping['quantity']!r} × {mapping['price']!r}")
    return mapping, lines


# --- a purchase log --------------------------------------------------------------------------


@dataclass
class Orders:
    """What a purchase log gives scoring: its deals (customer, order, day, net amount after
    returns), customers (id, name, since, industry), the reason each set-aside row was set aside
    (by row), its row count, printed lines, and the as-of instant."""

    deals: pd.DataFrame
    customers: pd.DataFrame
    set_aside: pd.Series
    rows: int
    used: int
    lines: list[str]
    as_of: pd.Timestamp
    notes: list[str] = field(default_factory=list)


def net_returns(customer: np.ndarray, amount: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(purchases' amounts net of returns, each return's amount not netted) for deals sorted by
    customer then date (a day's purchases before its returns). A return (amount < 0) reduces the
    customer's latest purchases on or before it, latest first, never below zero."""
    net = np.where(amount > 0, amount, 0.0).astype(float)
    left_over = np.zeros(len(amount))
    returns = np.flatnonzero(amount < 0)
    if not len(returns):
        return net, left_over
    starts = np.searchsorted(customer, customer[returns], side="left")
    stack: list[int] = []
    current_start = -1
    position = -1
    for r, start in zip(returns, starts, strict=True):
        if start != current_start:  # a new customer: its purchases from the start
            stack, current_start, position = [], start, start
        while position < r:  # the purchases up to this return
            if amount[position] > 0:
                stack.append(position)
            position += 1
        position = int(r) + 1
        left = -amount[r]
        while left > TOLERANCE and stack:
            j = stack[-1]
            take = min(left, net[j])
            net[j] -= take
            left -= take
            if net[j] <= TOLERANCE:
                net[j] = 0.0
                stack.pop()
        left_over[r] = left if left > TOLERANCE else 0.0
    return net, left_over


def orders_from(
    raw: pd.DataFrame,
    given: Mapping[str, str | None] | None = None,
    *,
    as_of: pd.Timestamp | None = None,
    date_format: str | None = None,
    symbol: str = "$",
) -> Orders:
    """The deals and customers of a purchase log's rows and why each other row is set aside."""
    mapping, lines = order_mapping(list(raw.columns), given or {})
    reason = pd.Series(None, index=raw.index, dtype=object)

    def aside(mask: pd.Series | np.ndarray, why: str) -> None:
        reason[np.asarray(mask, dtype=bool) & reason.isna().to_numpy()] = why

    customer = raw[mapping["customer"]]
    aside(customer.isna(), "no customer id")
    date_text = raw[mapping["date"]]
    date = parse_dates(date_text, date_format)
    aside(date_text.isna(), "no date")
    aside(date.isna(), "date unreadable")
    if as_of is not None:
        aside(date >= as_of, f"dated on or after --as-of {as_of:%Y-%m-%d} (not seen yet)")
    if "amount" in mapping:
        amount_text = raw[mapping["amount"]]
        amount = parse_amounts(amount_text)
        aside(amount_text.isna(), "no amount")
        aside(amount.isna(), "amount unreadable")
    else:
        quantity_text, price_text = raw[mapping["quantity"]], raw[mapping["price"]]
        quantity = parse_amounts(quantity_text)
        price = parse_amounts(price_text)
        aside(quantity_text.isna(), "no quantity")
        aside(quantity.isna(), "quantity unreadable")
        aside(price_text.isna(), "no unit price")
        aside(price.isna(), "unit price unreadable")
        amount = quantity * price
    aside(amount == 0, "zero amount (no revenue: not an order)")

    use = reason.isna().to_numpy()
    day = date.dt.floor("D")
    lines_used = pd.DataFrame(
        {
            "row": raw.index.to_numpy(),
            "customer": customer.to_numpy(dtype=object),
            "order": raw[mapping["order"]].fillna("").to_numpy(dtype=object)
            if "order" in mapping
            else "",
            "day": day.to_numpy(),
            "amount": amount.to_numpy(dtype=float),
        },
        index=raw.index,
    ).loc[use]
    # one deal per (customer, order, day); a day's purchases sort before its returns
    keys = ["customer", "day", "order"]
    deal_of = lines_used.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    deals = (
        lines_used.assign(deal=deal_of)
        .groupby("deal", sort=True)
        .agg(
            customer=("customer", "first"),
            day=("day", "first"),
            order=("order", "first"),
            amount=("amount", "sum"),
            lines=("row", "size"),
        )
    )
    deals["is_return"] = deals["amount"] < 0
    deals = deals.sort_values(["customer", "day", "is_return"], kind="stable")
    net, left_over = net_returns(deals["customer"].to_numpy(dtype=str), deals["amount"].to_numpy())
    deals["net"], deals["left_over"] = net, left_over
    not_netted = deals["is_return"] & (np.abs(deals["left_over"] + deals["amount"]) <= 1e-6)
    aside_deals = set(deals.index[not_netted])
    aside(
        pd.Series(deal_of, index=lines_used.index)
        .isin(aside_deals)
        .reindex(raw.index, fill_value=False),
        RETURN_REASON,
    )

    returns = deals["is_return"] & ~not_netted
    purchases = deals.loc[~deals["is_return"] & (deals["amount"] > 0)]
    kept = purchases.loc[purchases["net"] > TOLERANCE]
    notes = []
    if returns.any():
        netted = -(deals.loc[returns, "amount"] + deals.loc[returns, "left_over"]).sum()
        rows = int(deals.loc[returns, "lines"].sum())
        notes.append(
            f"returns: {int(returns.sum()):,} with a negative amount ({rows:,} row(s)), netted "
            f"into the customers' latest earlier purchases: −{symbol}{netted:,.2f}"
        )
        partly = float(deals.loc[returns, "left_over"].sum())
        if partly > TOLERANCE:
            notes.append(
                f"  {symbol}{partly:,.2f} of them exceeded the customer's earlier purchases "
                "in the log (bought before it starts?): not netted"
            )
        gone = int((purchases["net"] <= TOLERANCE).sum())
        if gone:
            notes.append(f"  {gone:,} purchase(s) returned in full: no longer purchases")
    else:
        notes.append("returns: none (no negative amount)")
    duplicated = int(raw.duplicated(keep="first").sum())
    notes.append(
        f"exact duplicate rows: {duplicated:,}"
        + (" — kept (a log may list the same line twice)" if duplicated else "")
    )
    used_rows = lines_used.loc[~lines_used["row"].isin(reason.dropna().index)]
    grouping = "customer, order and day" if "order" in mapping else "customer and day"
    notes.append(
        f"deals: {len(kept):,} purchases (one per {grouping}) of "
        f"{used_rows['customer'].nunique():,} customers"
    )

    customers = _customers(raw, mapping, used_rows, reason, date_format)
    at: pd.Timestamp = pd.Timestamp("NaT") if as_of is None else as_of
    if as_of is None and not used_rows.empty:
        at = (pd.Timestamp(used_rows["day"].max()) + pd.Timedelta(days=1)).floor("D")
    return Orders(
        deals=kept[["customer", "order", "day", "net"]].rename(columns={"net": "amount"}),
        customers=customers,
        set_aside=reason.dropna(),
        rows=len(raw),
        used=int(reason.isna().sum()),
        lines=lines,
        as_of=at,
        notes=notes,
    )


def _customers(
    raw: pd.DataFrame,
    mapping: Mapping[str, str],
    used: pd.DataFrame,
    reason: pd.Series,
    date_format: str | None,
) -> pd.DataFrame:
    """One row per customer of the used rows: id, name, since (the given date when readable,
    else the first used row's day), industry."""
    rows = used["row"].to_numpy()
    frame = pd.DataFrame({"customer": used["customer"].to_numpy(), "day": used["day"].to_numpy()})
    for role in ("name", "industry"):
        frame[role] = raw.loc[rows, mapping[role]].to_numpy() if role in mapping else None
    if "since" in mapping:
        frame["since"] = parse_dates(raw.loc[rows, mapping["since"]], date_format).to_numpy()
    else:
        frame["since"] = pd.NaT
    grouped = frame.groupby("customer", sort=True)
    out = pd.DataFrame(
        {
            "first": grouped["day"].min(),
            "name": grouped["name"].first(),
            "industry": grouped["industry"].first(),
            "since": grouped["since"].min(),
        }
    )
    # a customer exists from its since date, or its first order if that is earlier
    since, first = pd.to_datetime(out["since"], utc=True), pd.to_datetime(out["first"], utc=True)
    out["since"] = since.where(since <= first, first)
    out["name"] = out["name"].where(out["name"].notna(), out.index.to_series())
    return out.rename_axis("customer").reset_index()


def order_tables(orders: Orders, currency: str) -> dict[str, pd.DataFrame]:
    """Canonical tables of a purchase log: its customers as accounts, each purchase a won deal
    closed (and created) on its day; no contacts, no stage history."""
    customers, deals = orders.customers, orders.deals
    account_id = ORDER_PREFIX + customers["customer"].astype(str)
    accounts = public_deals.account_rows(
        account_id,
        customers["name"].to_numpy(),
        customers["since"].to_numpy(),
        customers["industry"].to_numpy(),
    )
    accounts["currency"] = currency
    source_id = "order-" + pd.Series(np.arange(1, len(deals) + 1), dtype=str).to_numpy()
    day = pd.to_datetime(deals["day"], utc=True).to_numpy()
    opportunities = pd.DataFrame(
        {
            "opportunity_id": "sf:O" + source_id,
            "source": "salesforce",
            "source_id": source_id,
            "account_id": ORDER_PREFIX + deals["customer"].astype(str).to_numpy(),
            "name": deals["order"].to_numpy(dtype=object),
            "stage": public_deals.WON_STAGE,
            "stage_probability": 1.0,
            "amount": deals["amount"].to_numpy(dtype=float),
            "currency": currency,
            "close_date": day,
            "created_at": day,
            "updated_at": day,
            "is_closed": True,
            "is_won": True,
            "type": None,
            "forecast_category": "Closed",
            "is_deleted": False,
        }
    )
    from acm_sync.model import empty_frame

    return public_deals.conformed_tables(
        accounts, opportunities, empty_frame("opportunity_stage_history")
    )


# --- a deals export --------------------------------------------------------------------------


def backtest_only(line: str) -> bool:
    """A line of backtest_csv's reading that is about the backtest's model (`decide_unit`)."""
    return line.startswith("  warning: no lost deal has one") or (
        line.startswith("  note: ") and "the backtest learns from" in line
    )


def deals_from(
    raw: pd.DataFrame,
    given: Mapping[str, str | None],
    *,
    won_values: Sequence[str] = (),
    lost_values: Sequence[str] = (),
    as_of: pd.Timestamp | None = None,
    date_format: str | None = None,
    currency: CurrencyConfig | None = None,
) -> backtest_csv.Export:
    """backtest_csv's reading of a deals export, with an account column needed and a deal
    without an account set aside (scoring is per customer); amounts in several currencies
    converted at `currency`'s rates."""
    mapping, _ = backtest_csv.column_mapping(list(raw.columns), given)
    if "account" not in mapping:
        raise ExportError(
            "no account column (give --account COLUMN); columns found: "
            + ", ".join(map(repr, raw.columns))
        )
    export = backtest_csv.export_from(
        raw,
        given,
        won_values=won_values,
        lost_values=lost_values,
        as_of=as_of,
        date_format=date_format,
        currency=currency,
    )
    # what the amounts would do to a backtest's model is no concern of scoring: won deals'
    # amounts are revenue, lost ones count for nothing
    export = replace(export, lines=tuple(line for line in export.lines if not backtest_only(line)))
    blank = raw.loc[export.deals["row"], mapping["account"]].isna().to_numpy()
    if not blank.any():
        return export
    lines = tuple(line for line in export.lines if not line.startswith("account: blank"))
    extra = pd.Series("no customer id (account blank)", index=export.deals["row"][blank])
    set_aside = pd.concat([export.set_aside, extra]).sort_index(kind="stable")
    deals = export.deals.loc[~blank].reset_index(drop=True)
    at = export.as_of
    if as_of is None and not deals.empty:
        at = public_deals.day_after_last(deals["created"], deals["closed_at"])
    return replace(export, deals=deals, set_aside=set_aside, lines=lines, as_of=at)


def with_own_close_dates(
    tables: dict[str, pd.DataFrame],
    export: backtest_csv.Export,
    raw: pd.DataFrame,
    given: Mapping[str, str | None],
    date_format: str | None,
) -> dict[str, pd.DataFrame]:
    """`tables` with each open deal's close date its own in the export (what the CRM shows now,
    for renewal risk, overdue and stale deals) where readable. backtest_csv makes one from
    earlier cycles instead (an open deal's own date is often its later true close); that is kept
    for a blank or unreadable date, and with --as-of (then the export's date is not what the CRM
    showed at the time)."""
    mapping, _ = backtest_csv.column_mapping(list(raw.columns), given)
    deals = export.deals
    own = parse_dates(
        raw.loc[deals["row"], mapping["close_date"]].reset_index(drop=True), date_format
    )
    use = (~(deals["won"] | deals["lost"]) & own.notna()).to_numpy()
    if not use.any():
        return tables
    by_id = pd.Series(own[use].to_numpy(), index=("sf:O" + deals["source_id"][use]).to_numpy())
    out = dict(tables)
    for name in ("opportunities", "opportunity_stage_history"):
        frame = tables[name]
        shown = frame["opportunity_id"].map(by_id)
        if name == "opportunity_stage_history":  # only the opening row of an open deal
            shown = shown.where(frame["stage"].str.startswith("Open"))
        close = frame["close_date"].astype("datetime64[us, UTC]")
        out[name] = frame.assign(close_date=close.where(shown.isna(), shown))
    return out


# --- what the export can measure -------------------------------------------------------------

NOT_MEASURED = {
    "engagement_recency": "no activities in the export",
    "contact_coverage": "no contacts in the export",
    "data_quality": "it scores the CRM's account fields (domain, owner), contacts and open "
    "deals' hygiene, which an export does not carry",
    "satisfaction": "no CSAT / NPS column in the export",
}


def measured_components(
    kind: str, has_open: bool, has_type: bool
) -> tuple[list[str], dict[str, str]]:
    """(health components the export measures, why each other one is not)."""
    from acm_sync.scoring.health import COMPONENTS

    why = dict(NOT_MEASURED)
    if kind == "orders":
        why["pipeline_coverage"] = "no open deals: every row of a purchase log is an order"
        why["renewal_risk"] = "no open renewals: every row of a purchase log is an order"
    else:
        if not has_open:
            why["pipeline_coverage"] = "no open deal in the export"
        if not has_open or not has_type:
            why["renewal_risk"] = (
                "no type column: no deal reads as a renewal"
                if not has_type
                else why.get("pipeline_coverage", "no open deal in the export")
            )
    return [c for c in COMPONENTS if c not in why], why


RULES_NOT_APPLIED = {
    "key_no_activity": "no activities in the export",
    "new_without_decision_maker": "no contacts in the export",
}


def export_settings(
    base: ScoringSettings, kind: str, has_open: bool, has_type: bool
) -> tuple[ScoringSettings, list[str]]:
    """The user's settings with health weight 0 for the components the export does not measure
    (the others scaled to sum to 100) and the next-action rules it cannot feed switched off;
    and the printed lines saying which and why. ExportError when every measured component has
    weight 0 in the user's settings."""
    from acm_sync.scoring.health import LABELS
    from acm_sync.scoring.settings import HealthWeights

    measured, why = measured_components(kind, has_open, has_type)
    weights = base.health.weights.model_dump()
    total = sum(weights[c] for c in measured)
    if total <= 0:
        raise ExportError(
            "the settings give weight 0 to every health component this export measures ("
            + ", ".join(LABELS[c].lower() for c in measured)
            + ")"
        )
    scaled = {c: (weights[c] * 100 / total if c in measured else 0.0) for c in weights}
    health = base.health.model_copy(update={"weights": HealthWeights(**scaled)})
    off = dict(RULES_NOT_APPLIED)
    if kind == "orders":
        off["renewal_at_risk"] = off["stale_deals"] = "no open deals in a purchase log"
    rules = tuple(r for r in base.next_action.rules if r not in off)
    next_action = base.next_action.model_copy(update={"rules": rules})
    settings = base.model_copy(update={"health": health, "next_action": next_action})
    lines = [
        "health scored from: "
        + ", ".join(f"{LABELS[c].lower()} (weight {scaled[c]:.0f})" for c in measured),
        "health not scored (not in the export, weight set to 0; not a finding about customers):",
    ]
    lines += [f"  {LABELS[c].lower()}: {reason}" for c, reason in why.items()]
    lines.append("next-action rules applied: " + (", ".join(rules) or "none"))
    switched = [(r, w) for r, w in off.items() if r in base.next_action.rules]
    if switched:
        lines.append(
            "next-action rules not applied: " + "; ".join(f"{r} ({w})" for r, w in switched)
        )
    return settings, lines


def trend_lines(
    tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, settings: ScoringSettings
) -> list[str]:
    """A line when the revenue trend is weighted and the data does not reach back over the
    prior window (`facts.trend_span`): what it compares instead, or that no customer has one."""
    from acm_sync.scoring.facts import MIN_TREND_DAYS, history_start, trend_span
    from acm_sync.scoring.periods import NS_PER_DAY

    days = settings.tiers.revenue_window_days
    deals = tables["opportunities"]
    if settings.health.weights.revenue_trend <= 0 or deals.empty:
        return []
    window = days * NS_PER_DAY
    span = trend_span(deals, as_of.value, window)
    if span == window:
        return []
    first = pd.Timestamp(history_start(deals), tz="UTC")
    begins = f"  revenue trend: the data begins {first:%Y-%m-%d}, less than two years before"
    if span:
        return [
            f"{begins}: each customer's last {span // NS_PER_DAY} days are compared with the "
            "same days a year before (revenue before the data began is unknown, not 0)"
        ]
    return [
        f"{begins}, and under {MIN_TREND_DAYS} days of it lie a year back: no customer has a "
        "trend (revenue before the data began is unknown, not 0; --as-of a later day, or an "
        "export reaching further back)"
    ]


# --- the report ------------------------------------------------------------------------------


def customer_scores(scores: Scores, prefix: str = ORDER_PREFIX) -> pd.DataFrame:
    """One row per customer: the --out columns, largest T12M revenue first."""
    book = scores.book.accounts[["account_key", "name"]]
    frame = (
        book.merge(scores.tiers, on="account_key", validate="one_to_one")
        .merge(scores.health, on="account_key", validate="one_to_one", suffixes=("", "_h"))
        .merge(scores.next_actions, on="account_key", validate="one_to_one")
    )
    out = pd.DataFrame(
        {
            "customer_id": frame["account_key"].str.removeprefix(prefix),
            "name": frame["name"],
            "tier": frame["tier"],
            "tier_reason": frame["tier_reason"],
            "health_score": frame["health_score"],
            "health_band": frame["health_band"],
            "health_drivers": frame["health_drivers"],
            "attention": frame["attention"],
            "next_action": frame["next_action"],
            "t12m_revenue": frame["t12m_won_revenue"].round(2),
        }
    )
    return out.sort_values(
        ["t12m_revenue", "customer_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def report_lines(
    scores: Scores, settings: ScoringSettings, prefix: str = ORDER_PREFIX, as_is: str = ""
) -> list[str]:
    """Tiers (counts, share of T12M revenue), the Pareto check, health bands, next actions and
    example reasons per tier."""
    from acm_sync.scoring.settings import TIERS
    from acm_sync.scoring.tiers import pareto_cut

    table = customer_scores(scores, prefix)
    tiers = scores.tiers
    revenue = tiers["t12m_won_revenue"].to_numpy(dtype=float)
    total = float(revenue.sum())
    n = len(table)
    from acm_sync.scoring.text import currency_symbol

    symbol = currency_symbol(settings.currency.corporate)
    lines = [f"tiers ({n:,} accounts, T12M revenue {symbol}{total:,.0f}):"]
    for tier in TIERS:
        mine = (tiers["tier"] == tier).to_numpy()
        share = revenue[mine].sum() / total if total > 0 else 0.0
        lines.append(
            f"  {tier:<9}{int(mine.sum()):>8,}  {mine.mean() if n else 0:>6.1%} of accounts"
            f"  {share:>6.1%} of T12M revenue"
        )
    config = settings.tiers
    payers = np.sort(revenue[revenue > 0])[::-1]
    key = tiers["key_by_revenue"].to_numpy(dtype=bool)
    needed, cap = pareto_cut(payers, config.key_revenue_share, config.key_max_share)
    if len(payers):
        decided = (
            f"the top {config.key_max_share:.0%} cap ({_accounts(cap)}) decided: "
            f"{needed:,} would reach {config.key_revenue_share:.0%} of revenue"
            if needed > cap
            else f"the {config.key_revenue_share:.0%} revenue share decided "
            f"(cap {config.key_max_share:.0%} = {_accounts(cap)})"
        )
        lines.append(
            f"Pareto: Key by revenue = {int(key.sum()):,} of {len(payers):,} payers "
            f"({key.sum() / len(payers):.1%}) holding {revenue[key].sum() / total:.1%} of T12M "
            f"revenue; {decided}"
        )
        by = tiers["key_strategic_by"].value_counts()
        if by.sum():
            lines.append(
                f"  and {int(by.sum()):,} Key (strategic): {int(by.get('pipeline', 0)):,} by open "
                f"pipeline (tiers.strategic.min_open_pipeline), {int(by.get('growth', 0)):,} by "
                "growth (min_growth)"
            )
    else:
        lines.append("Pareto: no account has T12M revenue (no payer, so no Key by revenue)")
    bands = table["health_band"].fillna("no score").value_counts()
    shown = [f"{b} {int(bands.get(b, 0)):,}" for b in ("Green", "Yellow", "Red", "no score")]
    lines.append("health: " + ", ".join(shown))
    if bands.get("no score", 0):
        lines.append(
            "  no score: no measured component has data for the account (e.g. no revenue in "
            "the prior 12 months to compare with)"
        )
    if as_is:
        lines.append("  " + as_is)
    rule = scores.next_actions["action_rule"].fillna("").replace("", "no action")
    counts = rule.value_counts()
    lines.append(
        "next actions: "
        + ", ".join(f"{name} {count:,}" for name, count in counts.items())
        + f"; attention flag raised on {int(scores.next_actions['attention'].sum()):,}"
    )
    lines.append("examples (tier reason → next action):")
    for tier in TIERS:
        for row in table.loc[table["tier"] == tier].head(3).itertuples():
            lines.append(f"  {row.customer_id}: {row.tier_reason} → {row.next_action}")
    return lines


def _accounts(n: int) -> str:
    return f"{n:,} account{'' if n == 1 else 's'}"


def bands_as_is(
    tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, settings: ScoringSettings
) -> pd.Series:
    """Accounts per health band (Green, Yellow, Red, no score) with the settings as they are,
    every component weighted — what the CRM sync's scoring would show on these tables."""
    from acm_sync.scoring import build_book, existing_by, score_health

    book, _ = build_book(existing_by(tables, as_of), settings)
    health = score_health(
        book, as_of, settings.health, revenue_window_days=settings.tiers.revenue_window_days
    )
    counts = health["health_band"].fillna("no score").value_counts()
    return counts.reindex(["Green", "Yellow", "Red", "no score"], fill_value=0)


def as_is_line(
    tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, settings: ScoringSettings
) -> str:
    """The bands with the settings as they are, and why they are not the ones shown."""
    counts = bands_as_is(tables, as_of, settings)
    return (
        "with every component weighted (the settings as they are) health would read "
        + ", ".join(f"{band} {int(n):,}" for band, n in counts.items())
        + ": an export's missing activities and contacts would score 0 for every customer"
    )


# --- the command line ------------------------------------------------------------------------


def load_settings(path: str | None) -> tuple[ScoringSettings, str]:
    """(the scoring settings, where they came from): `path`, else $ACM_SYNC_CONFIG, else
    ./acm_sync.yaml, else the defaults. ExportError on a config error."""
    from acm_sync.config import ConfigError, config_path, load_config

    try:
        config = load_config(path)
    except ConfigError as error:
        raise ExportError(f"settings: {error}") from None
    resolved = Path(path) if path is not None else config_path()
    return config, str(resolved) if resolved.exists() else "the defaults (no acm_sync.yaml)"


def header_hint(path: Path, columns: str | None) -> str:
    """A hint for a file whose first line is data, not a header (every field a number or a
    date): --columns names the columns by position. Empty otherwise."""
    if columns is not None or not path.is_file():
        return ""
    with path.open(encoding="utf-8", errors="replace") as file:
        first = file.readline()
    fields = [f for f in re.split(r"[,;\t|\s]+", first.strip()) if f]
    if fields and all(re.fullmatch(r"[\d.,/:+-]+", f) for f in fields):
        return (
            f" — the first line ({first.strip()[:60]!r}) looks like data, not a header: give "
            "the columns by position with --columns (e.g. customer,date,quantity,amount)"
        )
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("data", type=Path, help="the purchase log or deals export")
    parser.add_argument("--as-of", type=public_deals.as_of_date, help="the data as it stood then")
    parser.add_argument("--out", type=Path, help="write one row per customer to this CSV")
    parser.add_argument("--kind", choices=("orders", "deals"), help="default: read from columns")
    parser.add_argument(
        "--columns", help="no header: the columns' roles by position (customer,date,amount,…)"
    )
    parser.add_argument("--config", help="acm_sync.yaml to read the settings from")
    parser.add_argument("--date-format", help="one strptime format for every date (%%d/%%m/%%Y)")
    roles = {**ORDER_ROLES, **backtest_csv.ROLES}
    for role, spec in roles.items():
        parser.add_argument(spec.option, dest=role, metavar="COLUMN")
    parser.add_argument("--won", action="append", default=[], metavar="VALUE")
    parser.add_argument("--lost", action="append", default=[], metavar="VALUE")
    args = parser.parse_args(argv)
    from acm_sync.scoring.text import currency_symbol

    try:
        if args.columns is not None:
            raw = read_positional(args.data, [c.strip() for c in args.columns.split(",")])
            notes: list[str] = ["no header: columns by position (--columns)"]
        else:
            raw, notes = read_export(args.data)
        kind = args.kind or ("orders" if args.columns is not None else detect(raw, args))
        settings, source = load_settings(args.config)
        print(
            f"{'purchase log' if kind == 'orders' else 'deals export'}: {args.data} "
            f"({len(raw):,} rows{'; ' if notes else ''}{'; '.join(notes)})"
        )
        if kind == "orders":
            given = {role: getattr(args, role) for role in ORDER_ROLES}
            given["customer"] = given["customer"] or args.account
            orders = orders_from(
                raw,
                given,
                as_of=args.as_of,
                date_format=args.date_format,
                symbol=currency_symbol(settings.currency.corporate),
            )
            print(
                "read as a purchase log: every row an order won on its date (--kind deals "
                "to read it as a deals export)"
            )
            print("\n".join(orders.lines))
            print("\n".join(backtest_csv.pulled_lines(orders.rows, orders.used, orders.set_aside)))
            print("\n".join(orders.notes))
            if orders.used == 0:
                raise ExportError("no row can be used")
            tables = order_tables(orders, settings.currency.corporate)
            as_of, prefix = orders.as_of, ORDER_PREFIX
            has_open, has_type = False, False
        else:
            given = {role: getattr(args, role) for role in backtest_csv.ROLES}
            given["account"] = given["account"] or args.customer
            export = deals_from(
                raw,
                given,
                won_values=args.won,
                lost_values=args.lost,
                as_of=args.as_of,
                date_format=args.date_format,
                currency=settings.currency,
            )
            print(
                "read as a deals export: won deals are revenue, open deals pipeline "
                "(--kind orders to read it as a purchase log)"
            )
            print("\n".join(export.lines))
            print("\n".join(backtest_csv.set_aside_lines(export)))
            if export.deals.empty:
                raise ExportError("no row can be used")
            tables, as_of = backtest_csv.canonical_tables(export)
            if args.as_of is None:
                tables = with_own_close_dates(tables, export, raw, given, args.date_format)
            prefix = DEALS_PREFIX
            deals = export.deals
            has_open = bool((~(deals["won"] | deals["lost"])).any())
            has_type = bool(deals["type"].notna().any())
        base = settings
        settings, measured = export_settings(settings, kind, has_open, has_type)
    except ExportError as error:
        print(f"error: {error}{header_hint(args.data, args.columns)}", file=sys.stderr)
        return 2
    from acm_sync.scoring import score_accounts

    if args.as_of is not None:
        print(f"as of {as_of:%Y-%m-%d} (--as-of): later rows not seen, later customers not there")
    else:
        print(
            f"as of {as_of:%Y-%m-%d}: the day after the data's last date "
            f"({as_of - pd.Timedelta(days=1):%Y-%m-%d}), "
            "not today (an old log scored as of today would make everyone Dormant); --as-of "
            "DATE replays an earlier day"
        )
    print(f"settings: {source}")
    print("\n".join([*measured[:1], *trend_lines(tables, as_of, settings), *measured[1:]]))
    scores = score_accounts(tables, as_of=as_of, config=settings)
    print()
    print("\n".join(report_lines(scores, settings, prefix, as_is_line(tables, as_of, base))))
    if args.out is not None:
        customer_scores(scores, prefix).to_csv(args.out, index=False)
        print(f"wrote {len(scores.tiers):,} customers to {args.out}")
    return 0


def detect(raw: pd.DataFrame, args: argparse.Namespace) -> str:
    """ "deals" when backtest_csv finds a deals export's columns (created, close date, amount, an
    outcome) — or an outcome alone (a stage, or an is-won / is-closed pair): a purchase log has
    none, so a deals export missing another column reads as one and its error names that column
    ("no created date column (give --created COLUMN)"), not an order date. Else "orders"."""
    given = {role: getattr(args, role) for role in backtest_csv.ROLES}
    try:
        backtest_csv.column_mapping(list(raw.columns), given)
    except ExportError:
        mapping, _ = guess_columns(list(raw.columns), given, backtest_csv.ROLES)
        outcome = "stage" in mapping or {"is_won", "is_closed"} <= mapping.keys()
        return "deals" if outcome else "orders"
    return "deals"


if __name__ == "__main__":
    raise SystemExit(main())
