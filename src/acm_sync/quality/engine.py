"""GX as the engine: one ephemeral data context per run, one validation definition per suite.

Each entity's frame is validated with `ValidationDefinition.run(batch_parameters={"dataframe":
frame}, expectation_parameters=..., result_format=COMPLETE)`: GX decides which rows fail which
expectation and hands back their positions (`unexpected_index_list`).

Speed at a million rows. Two GX costs grow with the number of failing rows, and both are
avoided without leaving GX:
- with `unexpected_index_column_names`, GX looks up every failing row's id cell by cell
  (`DataFrame.at`) and deep-copies / serialises the resulting list of dicts into the stored
  result; at 1M rows that is most of the run. The frame is handed over with a plain 0..n-1
  index instead: GX then returns the failing positions as a list of ints (cheap to build and to
  store) and the ids are taken from the frame with one vectorised `take`.
- nullable Float64 / Int64 columns make GX's range metrics compare value by value; the prepared
  frame holds float64 instead (derive.py).
What is left scales with the work itself: one vectorised pandas pass per expectation.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from acm_sync.quality.docs import DataDocsSite
from acm_sync.quality.suites import Rule, Suite

if TYPE_CHECKING:  # GX is imported by the engine's constructor: a pull never pays for it
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )

RESULT_FORMAT: dict[str, Any] = {"result_format": "COMPLETE"}
_NO_ISSUES = pd.DataFrame({c: pd.Series(dtype=str) for c in ("rule", "record_id", "reason")})


class QualityRunError(RuntimeError):
    """GX could not evaluate an expectation (wrong column type, bad regex ...); names it."""


@dataclass(frozen=True)
class RuleOutcome:
    """What GX found for one rule: the failing row positions of the validated frame."""

    rule: Rule
    positions: np.ndarray
    evaluated: int  # rows the expectation looked at (GX element_count)

    @property
    def failures(self) -> int:
        return int(self.positions.size)


def _error(info: Any) -> str | None:
    """The first exception message in a GX result's exception_info (flat, or per metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error").splitlines()[0]
    for value in info.values():
        found = _error(value)
        if found:
            return found
    return None


class GxEngine:
    """An ephemeral GX data context holding one dataframe asset + suite per entity."""

    def __init__(self, suites: Mapping[str, Suite], *, docs_dir: str | Path | None = None):
        import great_expectations as gx

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.suites = dict(suites)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.context = gx.get_context(mode="ephemeral")
            self.context.enable_analytics(False)  # never phone home from a customer's pipeline
        self.context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
        source = self.context.data_sources.add_pandas("acm_sync")
        self._definitions = {}
        for entity, suite in self.suites.items():
            batch = source.add_dataframe_asset(entity).add_batch_definition_whole_dataframe(entity)
            gx_suite = self.context.suites.add(suite.gx_suite())
            self._definitions[entity] = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=entity, data=batch, suite=gx_suite)
            )
        self.docs_dir = Path(docs_dir) if docs_dir else None
        self.results: dict[str, ExpectationSuiteValidationResult] = {}
        self.pages: dict[str, Path] = {}  # entity → its Data Docs page, once built

    def validate(
        self, entity: str, frame: pd.DataFrame, parameters: Mapping[str, Any]
    ) -> tuple[list[RuleOutcome], ExpectationSuiteValidationResult]:
        """Run `entity`'s suite on `frame` (index must be 0..n-1)."""
        if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
            raise ValueError("validate a frame with a 0..n-1 index (derive.prepare gives one)")
        suite = self.suites[entity]
        # Only the columns the rules read: GX filters the whole frame per metric.
        frame = frame.loc[:, [c for c in suite.columns_read if c in frame.columns]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._definitions[entity].run(
                batch_parameters={"dataframe": frame},
                expectation_parameters=dict(parameters),
                result_format=RESULT_FORMAT,
            )
        self.results[entity] = result
        outcomes = []
        for r in result.results:
            rule = suite.rule_for(r.expectation_config)  # type: ignore[arg-type]
            error = _error(r.exception_info)
            body = r.result or {}
            if error is None and not r.success and "unexpected_index_list" not in body:
                error = "GX returned no failing rows for a failed expectation"
            if error is not None:
                raise QualityRunError(
                    f"{suite.path}: expectations[{rule.index}] ({rule.type}) could not be "
                    f"evaluated: {error}"
                )
            positions = np.asarray(body.get("unexpected_index_list") or [], dtype=np.int64)
            outcomes.append(
                RuleOutcome(rule, np.unique(positions), int(body.get("element_count") or 0))
            )
        outcomes.sort(key=lambda o: o.rule.index)
        return outcomes, result

    def build_docs(
        self, issues: Mapping[str, pd.DataFrame] | None = None, *, run_name: str = "manual"
    ) -> str | None:
        """This run's validations added to the Data Docs site in `docs_dir` (one site for every
        entity and run, see `quality.docs`); the index page's file URL. `issues`: per entity,
        the failing (record, rule) rows, to name failing rows by record id."""
        if self.docs_dir is None:
            return None
        site = DataDocsSite(self.docs_dir)
        issues = issues or {}
        self.pages = site.publish(
            self.results,
            self.suites,
            {e: issues.get(e, _NO_ISSUES) for e in self.results},
            run_name=run_name,
        )
        return site.index.as_uri()
