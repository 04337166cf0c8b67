"""GX Data Docs as people open them: one site for every entity and every run, served over HTTP
(`acm-sync docs`), readable offline.

- One site under `<warehouse dir>/data_docs/`: its `index.html` lists every validation kept,
  all entities, newest first. The results behind the pages are kept beside them
  (`data_docs/.results/`, a GX validation-results store on disk), trimmed to what a page shows,
  so earlier validations stay listed after later runs.
- Each expectation's notes say its severity, issue code, reason and why (from the suite's
  `meta`), and its failing rows are named by CRM record id (`sf:<Id>` / `hs:<id>`), not by
  the validated frame's row position.
- A suite whose failures are only warnings is not "Failed": the validation's success is whether
  any *critical* rule failed (each failing expectation still shows as failing).
- Offline: GX's templates load jQuery, Bootstrap and bootstrap-table from CDNs. Every page is
  rewritten to load `static/acm/` instead: a small stylesheet and a script that renders GX's
  table blocks (the `$(…).bootstrapTable({columns, data})` calls) as plain tables.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd

from acm_sync.quality.suites import Suite

if TYPE_CHECKING:  # GX is imported where a site is built: the CLI and the pulls never pay for it
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )

SITE = "acm_sync"
RESULTS_STORE = "acm_sync_results"
RESULTS_DIR = ".results"
STATIC = Path(__file__).with_name("docs_static")
SAMPLE_IDS = 20  # values GX samples per expectation
FAILING_SHOWN = 200  # failing records named per expectation
_CDN = re.compile(
    r"""<(?:script|link)\b[^>]*?(?:src|href)=["']https?://[^"']*["'][^>]*>(?:\s*</script>)?""",
    re.IGNORECASE,
)
_REMOTE_IMG = re.compile(r"""<img\b[^>]*src=["']https?://[^"']*["'][^>]*/?>""", re.IGNORECASE)
_REMOTE_URL = re.compile(r"""url\(\s*['"]?https?://[^)]*\)""", re.IGNORECASE)
_FOOTER = re.compile(r"<footer\b.*?</footer>", re.IGNORECASE | re.DOTALL)


DEFAULT_URL = "http://127.0.0.1:3100"
URL_ENV = "ACM_DATA_DOCS_URL"


def served_url(root: Path, page: Path, base: str | None = None, site: str | None = None) -> str:
    """Where `acm-sync docs` serves a page of the site (base: ACM_DATA_DOCS_URL, else
    http://127.0.0.1:3100). `site`: the connection whose site it is, when acm_sync.yaml lists
    connections — one server serves each connection's site under `/<name>/`."""
    base = (base or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    if site:
        base = f"{base}/{quote(site)}"
    return f"{base}/{page.resolve().relative_to(root.resolve()).as_posix()}"


def docs_root(warehouse_path: Path) -> Path:
    """Where the site lives: beside the warehouse (absolute: GX refuses a relative dir)."""
    return warehouse_path.parent.resolve() / "data_docs"


def _context(root: Path) -> Any:
    import great_expectations as gx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = gx.get_context(mode="ephemeral")
        context.enable_analytics(False)
    context.add_store(
        RESULTS_STORE,
        {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(root / RESULTS_DIR),
            },
        },
    )
    context.add_data_docs_site(
        site_name=SITE,
        site_config={  # type: ignore[typeddict-unknown-key]
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(root),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "site_section_builders": {
                "expectations": "None",  # the suites are the JSON files in expectations/
                "profiling": "None",
                "validations": {"source_store_name": RESULTS_STORE},
            },
        },
    )
    return context


def _failing(issues: pd.DataFrame, label: str) -> pd.DataFrame:
    """record_id, reason of the records failing one rule (a sample, by record id)."""
    columns = ["record_id", "reason", "name", "url"]
    if issues.empty or "reason" not in issues.columns:
        return pd.DataFrame({c: [] for c in columns}, dtype=object)
    rows = issues.loc[issues["rule"] == label].reindex(columns=columns)
    rows = rows.dropna(subset=["record_id", "reason"]).astype(object).fillna("").astype(str)
    rows = rows.drop_duplicates().sort_values(["reason", "record_id"])
    return rows.head(FAILING_SHOWN)


def annotate(
    result: ExpectationSuiteValidationResult,
    suite: Suite,
    issues: pd.DataFrame,
    run_name: str,
) -> ExpectationSuiteValidationResult:
    """The result as the page shows it: rule notes, failing rows by CRM id, success = no
    critical rule failed, run named by the Dagster run id. Lists trimmed to a sample."""
    from great_expectations.core.run_identifier import RunIdentifier

    critical_failed = False
    for r in result.results:
        rule = suite.rule_for(r.expectation_config)  # type: ignore[arg-type]
        body = dict(r.result or {})
        failing = _failing(issues, rule.label)
        for key in ("unexpected_index_list", "unexpected_list", "unexpected_index_query"):
            body.pop(key, None)
        body["partial_unexpected_list"] = list(body.get("partial_unexpected_list") or [])[
            :SAMPLE_IDS
        ]
        counts = list(body.get("partial_unexpected_counts") or [])[:SAMPLE_IDS]
        if len(failing):
            # Failing rows by CRM record id, grouped by what the rep reads (the reason).
            # (GX groups rows by the other keys: the issue text; these columns list the records)
            body["unexpected_index_column_names"] = ["record_id", "name", "link in the CRM"]
            issue = f"{rule.severity} · {rule.code} — "
            body["unexpected_index_list"] = [
                {
                    "record_id": rid,
                    "name": name,
                    "issue (severity · code — reason)": issue + reason,
                    "link in the CRM": url,
                }
                for rid, name, reason, url in zip(
                    failing["record_id"],
                    failing["name"],
                    failing["reason"],
                    failing["url"],
                    strict=True,
                )
            ]
            counts = counts or [{"value": "", "count": len(failing)}]
        body["partial_unexpected_counts"] = counts
        r.result = body
        if not r.success and rule.is_critical:
            critical_failed = True
    result.success = not critical_failed
    run_time = datetime.now(UTC)
    result.meta["run_id"] = RunIdentifier(run_name=run_name, run_time=run_time)
    result.meta["acm_sync"] = "success = no critical rule failed (warnings flag rows only)"  # type: ignore[typeddict-unknown-key]
    return result


class DataDocsSite:
    """The one Data Docs site of a warehouse."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        logging.getLogger("great_expectations").setLevel(logging.ERROR)

    @property
    def index(self) -> Path:
        return self.root / "index.html"

    def publish(
        self,
        results: Mapping[str, ExpectationSuiteValidationResult],
        suites: Mapping[str, Suite],
        issues: Mapping[str, pd.DataFrame],
        *,
        run_name: str,
    ) -> dict[str, Path]:
        """Add this run's validations to the site; entity → its page. Rebuilds the index."""
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        context = _context(self.root)
        store = context.stores[RESULTS_STORE]
        keys: dict[str, ValidationResultIdentifier] = {}
        for entity, result in results.items():
            annotated = annotate(result, suites[entity], issues[entity], run_name)
            run_id = annotated.meta["run_id"]
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=entity),
                run_id=run_id,
                batch_identifier=entity,
            )
            store.set(key, annotated)
            keys[entity] = key
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            context.build_data_docs(site_names=[SITE], resource_identifiers=list(keys.values()))
        self._offline()
        return {
            entity: self.root.joinpath("validations", *key.to_tuple()).with_suffix(".html")
            for entity, key in keys.items()
        }

    def _offline(self) -> None:
        """Copy our static files in and point every page at them instead of the CDNs."""
        target = self.root / "static" / "acm"
        shutil.copytree(STATIC, target, dirs_exist_ok=True)
        for page in self.root.rglob("*.html"):
            if RESULTS_DIR in page.parts:
                continue
            text = page.read_text(encoding="utf-8")
            if "static/acm/acm_docs.js" in text:
                continue
            up = "../" * (len(page.relative_to(self.root).parts) - 1)
            local = (
                f'<link rel="stylesheet" href="{up}static/acm/acm_docs.css">'
                f'<script src="{up}static/acm/acm_docs.js"></script>'
            )
            text = _CDN.sub("", text)
            text = _REMOTE_IMG.sub("", text)
            text = _REMOTE_URL.sub("none", text)
            text = _FOOTER.sub("", text)
            text = text.replace("<head>", "<head>" + local, 1)
            page.write_text(text, encoding="utf-8")
