"""The GX suites in `expectations/`: loading, checking, and what each expectation means to us.

One file per canonical entity (`accounts.json`, `contacts.json`, `opportunities.json`,
`opportunity_stage_history.json`), in GX's own suite JSON (`ExpectationSuite(**json)`), read at
run time. Each expectation carries in its `meta`:

- `severity`: `critical` (the row is quarantined, out of scoring) or `warning` (flagged, flows
  on). Copied onto GX's own `severity` field so Data Docs show the same.
- `code`: the stable issue code (lower snake case) used in quarantine rows, issue texts and
  check metadata.
- `reason`: the human text for one failing record, a `str.format` template. Fields: `{value}`
  (the failing value, quoted and escaped), `{length}` (its length), `{others}` (the other
  records sharing a value a uniqueness rule flagged), and any column of the validated frame by
  name (`{close_date}`, `{website}` ...). A format spec applies to the raw value (`{value:.0%}`).
- `why` (optional): one line for humans on the choice of severity.

Editing a file changes behaviour with no code change. A malformed file, an unknown expectation
type, invalid arguments, an unknown column, severity or `$PARAMETER`, or a reason naming an
unknown field raise `SuiteError` naming the file and the expectation.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # GX is imported where a suite is read (seconds of imports a pull never needs)
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation import Expectation

ENTITIES: Final = ("accounts", "contacts", "opportunities", "opportunity_stage_history")
SEVERITIES: Final = ("critical", "warning")
# Values the run supplies to `{"$PARAMETER": name}` in a suite.
PARAMETERS: Final = frozenset(
    {
        "now",
        "salesforce_stages",
        "hubspot_stages",
        "satisfaction_scale_min",  # health.satisfaction.scale_min / scale_max (acm_sync.yaml)
        "satisfaction_scale_max",
    }
)
REASON_FIELDS: Final = frozenset({"value", "length", "others", "column"})
_COLUMN_KWARGS: Final = ("column", "column_A", "column_B")
_LIST_KWARGS: Final = ("column_list",)


class SuiteError(ValueError):
    """A suite file is unreadable or an expectation in it is invalid; the message names both."""


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, as quality reads it."""

    entity: str
    index: int  # position in the suite file: the order of importance within a severity
    expectation: Expectation
    type: str
    columns: tuple[str, ...]
    code: str
    severity: str
    reason: str
    why: str
    condition: str = ""  # the row_condition, as text
    reads: tuple[str, ...] = ()  # columns the rule reads (its own + its row_condition's)
    parameters: tuple[str, ...] = ()  # the `$PARAMETER`s it takes from the run

    @property
    def label(self) -> str:
        """`rule` of a quarantine row: expectation type + columns (+ condition), issue code."""
        where = f" where {self.condition}" if self.condition else ""
        return f"{self.type}({', '.join(self.columns)}){where} [{self.code}]"

    @property
    def is_critical(self) -> bool:
        return self.severity == "critical"

    @property
    def uniqueness(self) -> bool:
        return "unique" in self.type


@dataclass(frozen=True)
class Suite:
    entity: str
    path: Path
    rules: tuple[Rule, ...]

    @property
    def name(self) -> str:
        return self.entity

    @property
    def parameters(self) -> set[str]:
        return {p for rule in self.rules for p in rule.parameters}

    @property
    def columns_read(self) -> list[str]:
        """Columns any rule reads: all GX needs of the frame."""
        out: dict[str, None] = {}
        for rule in self.rules:
            out.update(dict.fromkeys(rule.reads))
        return list(out)

    def gx_suite(self) -> ExpectationSuite:
        """A fresh GX suite of the rules (the one to add to a data context)."""
        from great_expectations.core.expectation_suite import ExpectationSuite

        return ExpectationSuite(
            name=self.entity, expectations=[r.expectation.copy() for r in self.rules]
        )

    def rule_for(self, expectation: Expectation) -> Rule:
        """The rule a GX result's expectation stands for (matched by its position in meta)."""
        return self.rules[int((expectation.meta or {})["_rule"])]


def _columns(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    cols = [kwargs[k] for k in _COLUMN_KWARGS if k in kwargs]
    for k in _LIST_KWARGS:
        cols += list(kwargs.get(k) or [])
    return tuple(str(c) for c in cols)


def _parameters(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        if "$PARAMETER" in value:
            yield str(value["$PARAMETER"])
        else:
            for v in value.values():
                yield from _parameters(v)
    elif isinstance(value, list):
        for v in value:
            yield from _parameters(v)


def _condition_columns(condition: Any) -> Iterable[str]:
    """Columns a row_condition (GX Condition as JSON) reads."""
    if isinstance(condition, dict):
        column = condition.get("column")
        if isinstance(column, dict) and "name" in column:
            yield str(column["name"])
        for value in condition.values():
            yield from _condition_columns(value)
    elif isinstance(condition, list):
        for value in condition:
            yield from _condition_columns(value)


def _condition_text(condition: Any) -> str:
    """A row_condition as a short text: `source == 'salesforce'`."""
    if not condition:
        return ""
    if isinstance(condition, dict) and condition.get("type") == "comparison":
        column = (condition.get("column") or {}).get("name")
        return f"{column} {condition.get('operator')} {condition.get('parameter')!r}"
    if isinstance(condition, dict) and isinstance(condition.get("conditions"), list):
        joiner = " or " if condition.get("type") == "or" else " and "
        return joiner.join(_condition_text(c) for c in condition["conditions"])
    return str(condition)


def _reason_fields(template: str) -> set[str]:
    fields = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None:
            fields.add(name.split(".")[0].split("[")[0])
    return fields


def load_suite(path: str | Path, entity: str, columns: Iterable[str]) -> Suite:
    """Read and check one suite file. `columns` are those of the frame it will validate."""
    path = Path(path)
    where = str(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"{where}: suite file not found") from None
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("expectations"), list):
        raise SuiteError(f"{where}: a GX suite is an object with an `expectations` list")
    if raw.get("name") not in (None, entity):
        raise SuiteError(f"{where}: suite name {raw.get('name')!r} should be {entity!r}")
    known = set(columns)
    rules: list[Rule] = []
    seen: dict[tuple[str, tuple[str, ...], str, str], int] = {}
    for i, item in enumerate(raw["expectations"]):
        rule = _rule(where, entity, i, item, known)
        key = (rule.type, rule.columns, rule.condition, rule.code)
        if key in seen:
            raise SuiteError(
                f"{where}: expectations[{i}] ({rule.type}): same type, columns, row_condition "
                "and code as "
                f"expectations[{seen[key]}]"
            )
        seen[key] = i
        rules.append(rule)
    return Suite(entity, path, tuple(rules))


def _rule(where: str, entity: str, i: int, item: Any, known: set[str]) -> Rule:
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )
    from great_expectations.expectations.metadata_types import FailureSeverity

    if not isinstance(item, dict) or "type" not in item:
        raise SuiteError(f"{where}: expectations[{i}]: an expectation needs a `type`")
    kind = str(item["type"])
    at = f"{where}: expectations[{i}] ({kind})"
    meta = dict(item.get("meta") or {})
    severity = meta.get("severity")
    if severity not in SEVERITIES:
        raise SuiteError(f"{at}: meta.severity must be one of {list(SEVERITIES)}, got {severity!r}")
    code = meta.get("code")
    if not isinstance(code, str) or not code.replace("_", "").isalnum() or code != code.lower():
        raise SuiteError(f"{at}: meta.code must be a lower_snake_case issue code, got {code!r}")
    reason = meta.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise SuiteError(f"{at}: meta.reason (the text a rep reads) is missing")
    kwargs = dict(item.get("kwargs") or {})
    unknown_params = sorted(set(_parameters(kwargs)) - PARAMETERS)
    if unknown_params:
        raise SuiteError(
            f"{at}: unknown $PARAMETER {unknown_params}; the run supplies {sorted(PARAMETERS)}"
        )
    columns = _columns(kwargs)
    missing = [c for c in columns if c not in known]
    if not columns:
        raise SuiteError(f"{at}: quality rules are row-level: name a column (or column_list)")
    missing += [c for c in _condition_columns(kwargs.get("row_condition")) if c not in known]
    if missing:
        raise SuiteError(f"{at}: unknown column(s) {missing} for {entity}")
    try:
        fields = _reason_fields(reason)
    except ValueError as exc:
        raise SuiteError(f"{at}: meta.reason is not a valid template: {exc}") from None
    bad_fields = sorted(fields - REASON_FIELDS - known)
    if bad_fields:
        raise SuiteError(f"{at}: meta.reason names unknown field(s) {bad_fields}")
    meta["_rule"] = i
    config: dict[str, Any] = {
        "type": kind,
        "kwargs": kwargs,
        "meta": meta,
        "severity": FailureSeverity(severity),
    }
    if "notes" in item:
        config["notes"] = item["notes"]
    extra = sorted(set(item) - {"type", "kwargs", "meta", "notes", "severity", "id"})
    if extra:
        raise SuiteError(f"{at}: unknown key(s) {extra}")
    if item.get("severity") not in (None, severity):
        raise SuiteError(f"{at}: severity {item['severity']!r} disagrees with meta.severity")
    try:
        expectation = ExpectationConfiguration(**config).to_domain_obj()
    except Exception as exc:  # GX raises its own and pydantic errors; both say what is wrong
        message = " ".join(str(exc).split())
        raise SuiteError(f"{at}: {message}") from None
    if not getattr(expectation, "map_metric", None):
        raise SuiteError(
            f"{at}: only row-level (map) expectations can quarantine rows; "
            f"{kind} describes the table as a whole"
        )
    return Rule(
        entity=entity,
        index=i,
        expectation=expectation,
        type=kind,
        columns=columns,
        code=code,
        severity=severity,
        reason=reason,
        why=str(meta.get("why", "")),
        condition=_condition_text(kwargs.get("row_condition")),
        reads=tuple(dict.fromkeys([*columns, *_condition_columns(kwargs.get("row_condition"))])),
        parameters=tuple(sorted(set(_parameters(kwargs)))),
    )


def load_suites(directory: str | Path, columns: Mapping[str, Iterable[str]]) -> dict[str, Suite]:
    """Every entity's suite from `directory` (`<entity>.json`)."""
    base = Path(directory)
    return {e: load_suite(base / f"{e}.json", e, columns[e]) for e in ENTITIES if e in columns}
