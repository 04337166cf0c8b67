"""Backtest the forecast on any deals export: one CSV, one row per deal (opportunity).

    .venv/bin/python bench/backtest_csv.py DEALS.csv [--origins 8] [--as-of YYYY-MM-DD]
        [--horizon QUARTERS] [--created COL] [--close-date COL] [--amount COL]
        [--stage COL [--won VALUE]... [--lost VALUE]...] [--is-won COL --is-closed COL]
        [--id COL] [--account COL] [--type COL] [--segment COL] [--currency COL]
        [--deleted COL] [--date-format FORMAT] [--count | --amounts]
        [--history HISTORY.csv [--history-id COL] [--history-at COL] [--history-stage COL]
         [--history-amount COL] [--history-close-date COL] [--history-probability COL]]

The mapping. Each column the backtest reads is given by its option or guessed from the header
(case, spaces and punctuation ignored: "CreatedDate", "created_date" and "Create Date" all read
as created); the mapping used is printed first, each column marked given or guessed.
- Needed: created date, close date, amount, and the outcome — a stage column whose won / lost
  values are given (--won / --lost, repeatable; case and punctuation ignored) or guessed
  ("Closed Won" / "closedwon" / "Won", "Closed Lost" / "Lost"; every other value is open), or
  an is_won / is_closed pair (true / false, 1 / 0, yes / no). A needed column that is not
  there is a one-line error (exit 2) naming it and the columns found.
- Optional: deal id (else the row number), account (else each deal is its own account, so
  account WAPE is deal WAPE), type (new / renewal / expansion read from the value's words —
  "renew", "expan" / "upsell" / "upgrade", "new" — anything else "other"), and a segment or
  pipeline column (else one group): open deals are in one open stage per segment; a currency
  column (CurrencyIsoCode: one currency, the amounts as they are; several, each amount into the
  corporate currency at its close date's rate in $ACM_SYNC_CONFIG's currency.rates, as the
  product converts — a currency with no rate there is set aside, never added 1:1); a deleted
  flag (IsDeleted: a Data Loader "Export All" keeps deleted rows; they are set aside).
- Dates: ISO (with or without a time or zone) or US month/day/year ("1/5/2024",
  "01/05/2024 10:30 AM", "Jan 5, 2024"); --date-format forces one strptime format (e.g.
  %d/%m/%Y); a date past 2262 ("2999-01-01" for "never") is unreadable, not an error. Amounts:
  digits with an optional currency symbol or code and thousands commas.

Stage history (`--history`, bench/history_csv.py). Without it, each deal is open in one made-up
stage from creation to close. With a stage-history export beside the deals (one row per change:
a Salesforce OpportunityHistory export, an "Opportunity History" report, …), the deals it
covers move through their recorded stages, amounts and close dates, and each stage's default
probability is the one its rows carry (else its win rate before the origin). Measured on the
demo org's Salesforce deals written out as a Data Loader export would (43,713 deals, 142,400
history rows; our generator's data): with the history the backtest gives what the product's
own backtest of the same tables gives (pooled WAPE 0.870 against 0.859, bias +0.065 against
+0.057, Brier 0.0462 against 0.0458, the same 6 of 8 origins met; the CSV has no account
industry or size, so the product ran without them too); without it, WAPE 1.419 and Brier
0.0704. 14.5 s. Its HubSpot deals written out as a HubSpot export with `Date entered` columns
(7,084 deals; 18 s): model WAPE 0.574 against the product's 0.579, Brier 0.0933 against
0.0921, 4 of 8 origins met either way; the baseline 1.005 against 0.959 (no stage probability
in an export: each stage's win rate before the origin, where the product reads HubSpot's).

Amounts or deal counts. The script prints how many lost, won and open deals have no amount
(0 or blank). When lost deals exist but none has an amount while won deals do — an export that
keeps a "close value", or clears a deal's amount when it is lost — an amount tells its deal's
outcome: with no stage history, a past day's open pipeline is read from the final amounts, so
every deal later lost would be open at $0 and the model would learn the outcome from its amount
(measured: Pipeline Command Center with its lost deals' amounts set to 0 gave the model a Brier
score of 0.074 against 0.184 on the real amounts). Then the backtest counts deals instead (each
deal 1: bookings are deals won, account WAPE is on deal counts) and says so; `--amounts` sums
the amounts anyway (with a warning), `--count` counts deals whatever the amounts (no amount
column needed; open deals without an amount are then used, not set aside).

Nothing is dropped silently: every row either is used or is set aside with one reason (no or
unreadable created date; created on or after --as-of; no stage; closed without, or with an
unreadable, close date; closed before created; no, unreadable or negative amount — an open deal
without an amount is set aside, never read as 0; a repeated id), and the script prints
"pulled = used + set aside" with the count and first rows of each reason.

What the backtest sees is what `public_deals` makes of deals with a created date, a close date
and an outcome but no stage history: each deal is open in "Open (<segment>)" from its creation
to its close; its shown close date is created + the segment's median cycle over deals closed
before it was created (an open deal's own close date in the export is not used: for deals that
later closed it is often their true close); the open stage's probability is the segment's win
rate over deals closed before each origin. `--as-of DATE` backtests the export as it stood then
(deals created later set aside, later closes still open). Forecast settings: the defaults, or
the file $ACM_SYNC_CONFIG names; --horizon overrides its backtest horizon. Origins: the last
--origins calendar quarter starts whose horizon has ended, bar quarters that were over before
the export's first deal was created (nothing to forecast or book; the header says how many).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import history_csv  # noqa: E402
import public_deals  # noqa: E402
from acm_sync.config import CONFIG_ENV_VAR, AcmSyncConfig, load_config  # noqa: E402
from acm_sync.currency import CurrencyConfig, Rates  # noqa: E402
from export_reader import (  # noqa: E402
    ExportError,
    column_role,
    flags,
    guess_columns,
    normalised,
    parse_amounts,
    parse_dates,
    read_export,
)

ROLES = {
    "created": column_role(
        "--created",
        "created date",
        # … Zoho's "Created Time", Pipedrive's "Deal - Deal created"
        "created createddate createdate createdat datecreated createdon createdtime dealcreated "
        "dealdealcreated",
    ),
    "close_date": column_role(
        "--close-date",
        "close date",
        # … Dynamics 365's "Actual Close Date", Pipedrive's "Deal - Deal closed on" (closed)
        # before an estimated or expected one (open)
        "closedate closeddate dateclosed closedat closedon closingdate actualclosedate "
        "dealclosedon dealdealclosedon estclosedate estimatedclosedate expectedclosedate "
        "dealexpectedclosedate",
    ),
    "amount": column_role(
        "--amount",
        "amount",
        # … Dynamics 365's "Est. Revenue", Pipedrive's "Deal - Value"
        "amount closevalue dealvalue dealamount opportunityamount value amountincompanycurrency "
        "estrevenue estimatedrevenue actualrevenue",
    ),
    "stage": column_role(
        "--stage",
        "stage",
        "stage stagename dealstage opportunitystage salesstage status dealstatus",
    ),
    "is_won": column_role("--is-won", "is_won", "iswon hsisclosedwon closedwon won"),
    "is_closed": column_role("--is-closed", "is_closed", "isclosed hsisclosed closed"),
    "id": column_role("--id", "deal id", "id opportunityid dealid oppid recordid"),
    "account": column_role(
        "--account",
        "account",
        "account accountid accountname company companyid companyname associatedcompany "
        "associatedcompanyprimary potentialcustomer dealorganization",
    ),
    "type": column_role("--type", "type", "type dealtype opportunitytype"),
    "segment": column_role(
        "--segment", "segment", "segment marketsegment customersegment pipeline dealpipeline group"
    ),
    "currency": column_role(
        "--currency", "currency", "currencyisocode currency currencycode dealcurrencycode"
    ),
    # a Salesforce export of all rows (Data Loader "Export All") holds deleted ones: IsDeleted
    "deleted": column_role("--deleted", "deleted flag", "isdeleted deleted"),
}
NEEDED = ("created", "close_date", "amount")
WON_VALUES = frozenset({"closedwon", "won"})
LOST_VALUES = frozenset({"closedlost", "lost"})
ONE_GROUP = "all deals"
UNITS = ("amount", "count", "auto")


ABSENT = {
    "id": "deals numbered by row",
    "account": "each deal is its own account (account WAPE = deal WAPE)",
    "type": "every deal's type is other",
    "segment": f"one group ({ONE_GROUP!r})",
}


def outcome_keys(
    won_values: Sequence[str], lost_values: Sequence[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """The normalised stage values read as won and as lost: those given, else the guesses."""
    won = frozenset(normalised(v) for v in won_values) or WON_VALUES
    lost = frozenset(normalised(v) for v in lost_values) or LOST_VALUES
    return won, lost


def column_mapping(
    columns: Sequence[str], given: Mapping[str, str | None], *, count: bool = False
) -> tuple[dict[str, str], list[str]]:
    """(role → column, one line per role saying which column and whether given or guessed).
    The outcome is the stage column, or the is_won / is_closed pair when they are given or no
    stage column is. ExportError naming the role and the columns found when a given column is
    not there or a needed one is neither given nor guessed (the amount is not needed when
    `count`: each deal counts 1)."""
    found = ", ".join(map(repr, columns))
    mapping, how = guess_columns(columns, given, ROLES)
    pair_given = given.get("is_won") is not None or given.get("is_closed") is not None
    if given.get("stage") is None and (pair_given or "stage" not in mapping):
        mapping.pop("stage", None)
        if not ("is_won" in mapping and "is_closed" in mapping):
            raise ExportError(
                "no stage column (give --stage COLUMN, or --is-won COLUMN and --is-closed "
                f"COLUMN); columns found: {found}"
            )
    else:
        mapping.pop("is_won", None)
        mapping.pop("is_closed", None)
    for role in NEEDED:
        if role not in mapping and not (count and role == "amount"):
            spec = ROLES[role]
            counting = ", or --count to count deals" if role == "amount" else ""
            raise ExportError(
                f"no {spec.label} column (give {spec.option} COLUMN{counting}); "
                f"columns found: {found}"
            )
    lines = []
    for role, spec in ROLES.items():
        if role in mapping:
            lines.append(f"  {spec.label:<13}{spec.option:<13}{mapping[role]!r} ({how[role]})")
        elif role in ABSENT:
            lines.append(f"  {spec.label:<13}{spec.option:<13}none: {ABSENT[role]}")
        elif role == "amount" and count:
            lines.append(f"  {spec.label:<13}{spec.option:<13}none: each deal counts 1 (--count)")
    return mapping, lines


def contract_type(value: object) -> str | None:
    """The canonical type a deal type value reads as (None: other)."""
    if not isinstance(value, str):
        return None
    word = normalised(value)
    if "renew" in word or word == "existingbusiness":  # HubSpot's default renewal type
        return "renewal"
    if any(part in word for part in ("expan", "upsell", "upgrade", "crosssell", "addon")):
        return "expansion"
    return "new" if "new" in word else None


def currency_rates(
    codes: pd.Series, when: pd.Series, config: CurrencyConfig | None
) -> tuple[pd.Series, pd.Series, str]:
    """(rate of each row into one currency, why a row cannot be converted — NA where it can —,
    the line saying what was done). One currency in the export (blanks are it too): rate 1, the
    amounts as they are, whatever it is. Several: each amount into `config`'s corporate
    currency at its date's rate (`when`: the close date, else the created date), as the product
    converts; a currency with no rate there cannot be added up and its rows are set aside.
    No `config` (a loader keeping each deal's own currency): the amounts as they are."""
    code = codes.str.upper()
    counts = code.value_counts()
    shown = ", ".join(f"{c} ({n:,})" for c, n in counts.items())
    if len(counts) <= 1 or config is None:
        none = pd.Series(pd.NA, index=codes.index, dtype=object)
        kept = "" if len(counts) <= 1 else " — amounts as they are, not converted"
        return pd.Series(1.0, index=codes.index), none, f"currency: {shown or 'none given'}{kept}"
    rates = Rates(config)
    home = code.where(code.notna(), rates.home)  # a blank currency is the corporate one
    rate = pd.Series(rates.rates(home, when), index=codes.index)
    why = rates.problems(home).astype(object).where(lambda r: r.notna(), pd.NA)
    why = why.map(lambda r: f"{r} (give rates in $ACM_SYNC_CONFIG)", na_action="ignore")
    line = f"currency: {shown} → {rates.home} at the rates of currency.rates, on each close date"
    return rate.fillna(1.0), why, line


def decide_unit(
    text: pd.Series, amount: pd.Series, won: pd.Series, lost: pd.Series, unit: str
) -> tuple[bool, list[str]]:
    """(count deals instead of summing amounts?, the lines saying what the amounts show) for
    `unit` "amount" or "auto", from the amounts as text and read, and the final outcomes."""
    lines = [amount_line(amount, won, lost)]
    tells = amounts_tell_outcome(amount, won, lost)
    if tells and unit == "auto":
        lines.append(
            "  no lost deal has one, so an amount tells its deal's outcome (the export keeps a "
            "deal's amount once it is won, or clears it when lost): the backtest counts deals "
            "instead, each deal 1 (--amounts to sum the amounts anyway)"
        )
        return True, lines
    if tells:
        lines.append(
            "  warning: no lost deal has one, so an amount tells its deal's outcome: the model "
            "learns the outcome from it and its figures below are no test (--count counts deals "
            "instead)"
        )
        return False, lines
    blank_lost = int((text.isna() & lost).sum())
    lost_share = blank_lost / max(int(lost.sum()), 1)
    won_share = int((text.isna() & won).sum()) / max(int(won.sum()), 1)
    if blank_lost and lost_share > won_share:
        lines.append(
            f"  note: {blank_lost:,} lost deal(s) without an amount are set aside "
            f"({lost_share:.0%} of lost, {won_share:.0%} of won deals): the backtest learns from "
            "fewer losses than happened (--count keeps every deal)"
        )
    return False, lines


def amount_line(amount: pd.Series, won: pd.Series, lost: pd.Series) -> str:
    """ "amount: 0 or blank on … of … lost, … of … won and … of … open deals" (rows with a
    readable outcome as the export gives it; unreadable amounts count as blank)."""
    none = ~(amount > 0)
    parts = [
        f"{int((none & mask).sum()):,} of {int(mask.sum()):,} {name}"
        for name, mask in (("lost", lost), ("won", won), ("open", ~won & ~lost))
    ]
    return f"amount: 0 or blank on {parts[0]}, {parts[1]} and {parts[2]} deals"


def amounts_tell_outcome(amount: pd.Series, won: pd.Series, lost: pd.Series) -> bool:
    """True when the export has lost deals and won deals with an amount, but no lost deal with
    one (every lost deal's amount 0 or blank): an export that keeps a deal's amount only once it
    is won (a "close value"), or clears it when the deal is lost. Its deals carry their final
    amounts, and with no stage history a past day's open pipeline is read from them: a deal open
    then that was later lost would carry 0, and the model would learn the outcome from the
    amount — the backtest would reward the leak, not the forecast. Deal counts do not leak."""
    positive = amount > 0
    return bool(lost.any() and (positive & won).any() and not (positive & lost).any())


@dataclass(frozen=True)
class Export:
    """What a deals export gives the backtest: the deals it can use, parsed (one row each,
    `row` the export's row), the reason each other row was set aside (by row), the export's
    row count, the printed lines saying how it was read, the as-of instant, and whether deals
    are counted (each deal's amount 1) instead of their amounts summed."""

    deals: pd.DataFrame
    set_aside: pd.Series
    rows: int
    lines: tuple[str, ...]
    as_of: pd.Timestamp
    counted: bool = False  # each deal's amount is 1: the backtest counts deals
    mapping: Mapping[str, str] | None = None  # role → the column read


def _values(counts: pd.Series, limit: int = 8) -> str:
    shown = [f"{value!r} ({count:,})" for value, count in counts.head(limit).items()]
    return ", ".join(shown) + (f", … {len(counts) - limit} more" if len(counts) > limit else "")


def export_from(
    raw: pd.DataFrame,
    given: Mapping[str, str | None] | None = None,
    *,
    won_values: Sequence[str] = (),
    lost_values: Sequence[str] = (),
    as_of: pd.Timestamp | None = None,
    date_format: str | None = None,
    unit: str = "amount",
    currency: CurrencyConfig | None = None,
    loading: bool = False,
) -> Export:
    """The usable deals of an export's rows (`read_export`) and why each other row is set aside.
    ExportError when the columns cannot be mapped (`column_mapping`).

    `unit`: "amount" (the deals' amounts), "count" (each deal 1; no amount needed) or "auto":
    counts when the amounts tell each deal's outcome (`amounts_tell_outcome`), else amounts.
    `currency`: the rates of an export in several currencies (`currency_rates`).

    `loading` (load_sandbox): the deals as a CRM would hold them, dirt included. Only what cannot
    be loaded is set aside — a deleted row, a repeated id, no stage, a value that cannot be read
    — and what a CRM takes is kept as it is for its quality checks to find: no created date
    (NaT: the CRM dates the record on the load day), no amount (NaN), a negative amount, a close
    date before the creation, a closed deal without a close date (NaT: Salesforce refuses it,
    CloseDate being required; HubSpot takes it). Amounts are always summed (no unit decision)."""
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r}: one of {', '.join(UNITS)}")
    mapping, lines = column_mapping(list(raw.columns), given or {}, count=unit == "count")
    lines.insert(0, "mapping (an option changes a column):")
    reason = pd.Series(None, index=raw.index, dtype=object)

    def aside(mask: pd.Series | np.ndarray, why: str | pd.Series) -> None:
        todo = np.asarray(mask) & reason.isna().to_numpy()
        reason[todo] = why if isinstance(why, str) else why[todo]

    if "deleted" in mapping:
        aside(flags(raw[mapping["deleted"]]) == True, "deleted in the CRM")  # noqa: E712
    created = parse_dates(raw[mapping["created"]], date_format)
    if not loading:
        aside(raw[mapping["created"]].isna(), "no created date")
    aside(created.isna() & raw[mapping["created"]].notna(), "created date unreadable")
    if as_of is not None:
        aside(created >= as_of, f"created on or after --as-of {as_of:%Y-%m-%d}")

    if "stage" in mapping:
        stage = raw[mapping["stage"]]
        key = stage.map(normalised, na_action="ignore")
        won_keys, lost_keys = outcome_keys(won_values, lost_values)
        won, lost = key.isin(won_keys), key.isin(lost_keys)
        aside(stage.isna(), "no stage")
        counts = stage.value_counts(sort=True)
        lines.append("outcome: stage values (rows) read as won, lost or open")
        for name, mask, how in (
            ("won", won, "given" if won_values else "guessed; --won to change"),
            ("lost", lost, "given" if lost_values else "guessed; --lost to change"),
            ("open", ~won & ~lost & stage.notna(), "every other value"),
        ):
            shown = _values(counts[counts.index.isin(stage[mask])]) or "(none)"
            lines.append(f"  {name:<5}{shown} — {how}")
        for option, values in (("--won", won_values), ("--lost", lost_values)):
            for value in values:
                if not (key == normalised(value)).any():
                    lines.append(f"  note: {option} {value!r} is no stage value here")
    else:
        is_won, is_closed = flags(raw[mapping["is_won"]]), flags(raw[mapping["is_closed"]])
        aside(is_won.isna() | is_closed.isna(), "is_won / is_closed blank or unreadable")
        aside((is_won == True) & (is_closed == False), "won but not closed")  # noqa: E712
        won = (is_won == True) & (is_closed == True)  # noqa: E712
        lost = (is_won == False) & (is_closed == True)  # noqa: E712
        lines.append("outcome: is_won / is_closed (true / false, 1 / 0, yes / no)")

    close_text = raw[mapping["close_date"]]
    close = parse_dates(close_text, date_format)
    closed = (won | lost).to_numpy()
    if not loading:
        aside(closed & close_text.isna(), "closed deal without a close date")
        aside(closed & (close < created), "closed before created")
    aside(closed & close.isna() & close_text.notna(), "close date unreadable")
    closed_at = close.where(closed)
    final_won, final_lost = won, lost  # as the export says, whatever --as-of reopens
    if as_of is not None:  # closed on or after the as-of date: still open then
        later = (closed_at >= as_of).to_numpy()
        won, lost, closed_at = won & ~later, lost & ~later, closed_at.where(~later)

    counted = unit == "count" and not loading
    rate = pd.Series(1.0, index=raw.index)  # into one currency
    if "amount" in mapping and not counted:
        amount_text = raw[mapping["amount"]]
        amount = parse_amounts(amount_text)
        if loading:
            lines.append(amount_line(amount, final_won, final_lost))
        else:
            counted, said = decide_unit(amount_text, amount, final_won, final_lost, unit)
            lines.extend(said)
    if counted:
        amount = pd.Series(1.0, index=raw.index)
        if unit == "count" and "amount" in mapping:
            lines.append(f"amount: {mapping['amount']!r} not used (--count: each deal counts 1)")
    else:
        if not loading:
            is_open = ~(won | lost).to_numpy()
            aside(is_open & amount_text.isna(), "open deal without an amount (not read as 0)")
            aside(amount_text.isna(), "closed deal without an amount")
            aside(amount < 0, "negative amount")
        aside(amount.isna() & amount_text.notna(), "amount unreadable")
        if "currency" in mapping:
            rate, why, line = currency_rates(
                raw[mapping["currency"]], close.where(close.notna(), created), currency
            )
            aside(why.notna().to_numpy(), why)
            amount = amount * rate
            lines.append(line)
            rate = rate.where(why.isna(), 1.0)

    rows = raw.index.to_series()
    if "id" in mapping:
        source_id = raw[mapping["id"]].fillna("row-" + rows.astype(str))
        repeated = source_id.where(reason.isna()).duplicated() & reason.isna()
        aside(repeated, "repeated id (its first usable row kept)")
    else:
        source_id = "row-" + rows.astype(str)

    use = reason.isna().to_numpy()
    account = (
        raw[mapping["account"]] if "account" in mapping else pd.Series(None, raw.index, object)
    )
    own = account.isna()
    account_name = account.fillna("deal " + source_id)
    segment = raw[mapping["segment"]].fillna("(blank)") if "segment" in mapping else None
    kind = raw[mapping["type"]].map(contract_type) if "type" in mapping else None
    deals = (
        pd.DataFrame(
            {
                "row": rows,
                "source_id": source_id,
                "account_id": "sf:A" + np.where(own, "deal-" + source_id, "acct-" + account_name),
                "account_name": account_name,
                "group": ONE_GROUP if segment is None else segment,
                "type": None if kind is None else kind,
                "amount": amount,
                "rate": rate,
                "created": created,
                "closed_at": closed_at,
                "won": won,
                "lost": lost,
            }
        )
        .loc[use]
        .reset_index(drop=True)
    )
    if "account" in mapping and own[use].any():
        lines.append(
            f"account: blank for {int(own[use].sum()):,} deal(s) used: each is its own account"
        )
    if kind is not None:
        type_counts = raw.loc[use, mapping["type"]].fillna("(blank)").value_counts()
        read = [f"{v!r} → {contract_type(v) or 'other'} ({n:,})" for v, n in type_counts.items()]
        lines.append("type: " + ", ".join(read[:8]) + (", …" if len(read) > 8 else ""))
    at = as_of
    if at is None:
        at = (
            pd.NaT
            if deals.empty
            else public_deals.day_after_last(deals["created"], deals["closed_at"])
        )
    return Export(deals, reason.dropna(), len(raw), tuple(lines), at, counted, mapping)


def set_aside_lines(export: Export) -> list[str]:
    """ "pulled N = used U + set aside S", then each reason with its count and first rows."""
    return pulled_lines(export.rows, len(export.deals), export.set_aside)


def pulled_lines(pulled: int, used: int, aside: pd.Series) -> list[str]:
    """ "pulled N = used U + set aside S", then each reason of `aside` (by row) with its count
    and first rows."""
    lines = [f"pulled {pulled:,} = used {used:,} + set aside {len(aside):,}"]
    for why, rows in aside.groupby(aside, sort=False).groups.items():
        first = ", ".join(str(r) for r in list(rows)[:5]) + (", …" if len(rows) > 5 else "")
        lines.append(
            f"  set aside {len(rows):,}: {why} (row{'s' if len(rows) > 1 else ''} {first})"
        )
    return lines


def canonical_tables(
    export: Export,
    known_at: pd.Timestamp | None = None,
    history: history_csv.History | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """(canonical tables, as-of instant) of the export's usable deals; the open stages'
    probabilities are the segments' win rates over the deals closed before `known_at`
    (default: the as-of instant). With a stage `history` (`history_csv`), the deals it covers
    move through their recorded stages, and the tables carry the stage list ("stages")."""
    deals = export.deals
    known_at = export.as_of if known_at is None else known_at
    opportunities, stage_history = public_deals.deal_tables(
        source_id=deals["source_id"],
        account_id=deals["account_id"],
        name=deals["account_name"] + " – " + deals["group"],
        group=deals["group"],
        kind=deals["type"].to_numpy(dtype=object),
        amount=deals["amount"],
        created=deals["created"],
        closed_at=deals["closed_at"],
        won=deals["won"].to_numpy(dtype=bool),
        lost=deals["lost"].to_numpy(dtype=bool),
        known_at=known_at,
    )
    stages = None
    if history is not None:
        opportunities, stage_history, stages = history_csv.stage_tables(
            history,
            deals=deals,
            opportunities=opportunities,
            synthetic=stage_history,
            known_at=known_at,
            counted=export.counted,
        )
    first_deal = public_deals.first_deals(deals["account_id"], deals["created"])
    names = deals["account_name"].groupby(deals["account_id"].to_numpy()).first()
    accounts = public_deals.account_rows(
        first_deal.index, names.reindex(first_deal.index).to_numpy(), first_deal.to_numpy()
    )
    tables = public_deals.conformed_tables(accounts, opportunities, stage_history)
    if stages is not None:
        tables["stages"] = stages
    return tables, export.as_of


def forecast_settings() -> AcmSyncConfig:
    """The settings the backtest runs with: the defaults, or the file $ACM_SYNC_CONFIG names."""
    path = os.environ.get(CONFIG_ENV_VAR)
    return load_config(path) if path else AcmSyncConfig()


def read_stage_history(args: argparse.Namespace, export: Export) -> history_csv.History:
    """The --history export read against the deals `export` uses."""
    raw, _ = read_export(args.history)
    if export.mapping is None or "id" not in export.mapping:
        raise ExportError(
            "--history needs the deals export's deal id column (give --id COLUMN) to match its rows"
        )
    won, lost = outcome_keys(args.won, args.lost)
    return history_csv.read_history(
        raw,
        {role: getattr(args, f"history_{role}") for role in history_csv.HISTORY_ROLES},
        deal_ids=export.deals["source_id"],
        won_keys=won,
        lost_keys=lost,
        date_format=args.date_format,
        as_of=args.as_of,
    )


def print_pulled(prefix: str, history: history_csv.History) -> None:
    """ "history: pulled N = used U + set aside S", then each reason."""
    lines = pulled_lines(history.pulled, len(history.rows), history.set_aside)
    print("\n".join([prefix + lines[0], *lines[1:]]))


def entered_stage_history(
    raw: pd.DataFrame, args: argparse.Namespace, export: Export
) -> history_csv.History:
    """The stage history a HubSpot deals export's 'Date entered' columns hold (history_csv)."""
    won, lost = outcome_keys(args.won, args.lost)
    long = history_csv.entered_history(
        raw, export.deals["source_id"], export.deals["row"], won, lost
    )
    return history_csv.read_history(
        long,
        {"id": "OpportunityId", "at": "EnteredAt", "stage": "StageName"},
        deal_ids=export.deals["source_id"],
        won_keys=won,
        lost_keys=lost,
        date_format=args.date_format,
        as_of=args.as_of,
    )


def check_usable(export: Export) -> None:
    """ExportError when no deal can be used, or none is won or lost (nothing to learn from)."""
    if export.deals.empty:
        reasons = export.set_aside.value_counts()
        raise ExportError(
            "no row can be used: " + ", ".join(f"{why} ({n:,})" for why, n in reasons.items())
        )
    if not (export.deals["won"] | export.deals["lost"]).any():
        raise ExportError(
            "no usable deal is won or lost (give --won / --lost VALUE for the stage values, or "
            "--stage / --is-won / --is-closed)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = public_deals.public_data_parser(__doc__, None, "the deals export (CSV)")
    parser.add_argument("--as-of", type=public_deals.as_of_date, help="the export as it stood then")
    parser.add_argument("--horizon", type=int, choices=range(1, 5), metavar="QUARTERS")
    for role, spec in ROLES.items():
        what = f"the {spec.label} column (default: guessed from the header)"
        parser.add_argument(spec.option, dest=role, metavar="COLUMN", help=what)
    parser.add_argument("--won", action="append", default=[], metavar="VALUE")
    parser.add_argument("--lost", action="append", default=[], metavar="VALUE")
    parser.add_argument("--date-format", help="one strptime format for every date (%%d/%%m/%%Y)")
    unit = parser.add_mutually_exclusive_group()
    unit.add_argument(
        "--count",
        dest="unit",
        action="store_const",
        const="count",
        help="count deals (each deal 1) instead of summing amounts; no amount column needed",
    )
    unit.add_argument(
        "--amounts",
        dest="unit",
        action="store_const",
        const="amount",
        help="sum the amounts even when no lost deal has one",
    )
    parser.set_defaults(unit="auto")
    parser.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        help="the deals' stage history, one row per change (bench/history_csv.py)",
    )
    for role, spec in history_csv.HISTORY_ROLES.items():
        what = f"the history's {spec.label} column"
        parser.add_argument(spec.option, dest=f"history_{role}", metavar="COLUMN", help=what)
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("give the deals export (CSV)")
    try:
        raw, notes = read_export(Path(args.data))
        export = export_from(
            raw,
            {role: getattr(args, role) for role in ROLES},
            won_values=args.won,
            lost_values=args.lost,
            as_of=args.as_of,
            date_format=args.date_format,
            unit=args.unit,
            currency=forecast_settings().currency,
        )
        print(
            f"deals export: {args.data} ({len(raw):,} rows{'; ' if notes else ''}"
            f"{'; '.join(notes)})"
        )
        print("\n".join(export.lines))
        print("\n".join(set_aside_lines(export)))
        check_usable(export)
        history = None
        if args.history is not None:
            history = read_stage_history(args, export)
            print(f"stage history: {args.history} ({history.pulled:,} rows)")
            print("\n".join(history.lines))
            print_pulled("history: ", history)
        elif entered := history_csv.entered_columns(list(raw.columns)):
            history = entered_stage_history(raw, args, export)
            print(
                f"stage history: the export's {len(entered)} 'Date entered' columns (HubSpot's "
                "stage-entry dates), one row per stage a deal entered"
            )
            print_pulled("history: ", history)
        if history is not None:
            covered = export.deals["source_id"].isin(set(history.rows["source_id"]))
            print(
                f"history: {int(covered.sum()):,} of {len(covered):,} deals used have one; the "
                "others are open in 'Open (<segment>)' from their creation"
            )
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from backtest_table import print_backtest, print_split

    tables, as_of, result, seconds = public_deals.backtest_tables(
        lambda known_at: canonical_tables(export, known_at, history), args.origins, args.horizon
    )
    shown = f"{as_of:%Y-%m-%d}{' (--as-of)' if args.as_of is not None else ''}"
    print()
    counting = "counting deals, each 1: " if export.counted else ""
    print(
        public_deals.backtest_header(
            Path(args.data).name, tables, shown, result, seconds, counting, args.origins
        )
    )
    print_backtest(result)
    print_split(result.origins)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
