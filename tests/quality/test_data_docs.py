"""The Data Docs site: one index over every entity and run, earlier validations kept, offline,
failing rows by CRM record id with severity · code — reason, "Failed" only for critical rules,
served over HTTP."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
import requests
from quality_demo import SUITES, Demo

from acm_sync.quality.docs import served_url
from acm_sync.quality.serve import start
from acm_sync.quality.suites import ENTITIES
from acm_sync.quality.validate import QualityRun, validate_tables

REMOTE_ASSET = re.compile(
    r"""<(?:script|link|img)\b[^>]*(?:src|href)=["']https?://|url\(\s*['"]?https?://""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def site(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[QualityRun]]:
    root = tmp_path_factory.mktemp("site") / "data_docs"
    runs = [
        validate_tables(demo.tables, SUITES, demo.context, run_id=f"run-{i}", docs_dir=root)
        for i in (1, 2)
    ]
    return root, runs


def _index_rows(root: Path) -> set[tuple[str, str]]:
    html = (root / "index.html").read_text(encoding="utf-8")
    return set(re.findall(r"validations/([a-z_]+)/(run-\d)/", html))


def test_one_index_lists_every_entity_of_every_run(site: tuple[Path, list[QualityRun]]) -> None:
    root, _ = site
    assert _index_rows(root) == {(e, r) for e in ENTITIES for r in ("run-1", "run-2")}
    pages = list((root / "validations").rglob("*.html"))
    assert len(pages) == 2 * len(ENTITIES)


def test_no_page_loads_anything_from_the_internet(site: tuple[Path, list[QualityRun]]) -> None:
    root, _ = site
    for page in root.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not REMOTE_ASSET.search(html), page
        assert "static/acm/acm_docs.js" in html
    assert (root / "static" / "acm" / "acm_docs.js").is_file()


def test_failing_rows_are_named_by_crm_id_with_severity_code_and_reason(
    site: tuple[Path, list[QualityRun]],
) -> None:
    root, runs = site
    issues = runs[1].reports["contacts"].issues
    bad = issues[issues["code"] == "bad_email"]
    page = next((root / "validations" / "contacts" / "run-2").rglob("*.html"))
    html = page.read_text(encoding="utf-8")
    shown_ids = [rid for rid in bad["record_id"] if rid in html]
    assert shown_ids and all(rid.startswith(("sf:", "hs:")) for rid in shown_ids)
    reasons = re.findall(r"critical · bad_email — ([^<]+)<", html)
    assert reasons and {unescape(r) for r in reasons} <= set(bad["reason"])


def test_only_warnings_is_not_failed(demo: Demo, tmp_path: Path) -> None:
    first = validate_tables(demo.tables, SUITES, demo.context, run_id="all", docs_dir=None)
    report = first.reports["contacts"]
    # the rows that passed every critical rule: warnings still fire on them
    clean = {"contacts": report.valid[report.valid["contact_id"].notna()]}
    run = validate_tables(clean, SUITES, demo.context, run_id="clean", docs_dir=tmp_path)
    issues = run.reports["contacts"].issues
    assert len(issues) and set(issues["severity"]) == {"warning"}
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"_validation_success_text': '(\w+)'", html) == ["Success"]
    page = next((tmp_path / "validations" / "contacts").rglob("*.html")).read_text("utf-8")
    assert "Status:" in page and "Failed" not in page.split("Status:")[1][:300]


def test_served_over_http(site: tuple[Path, list[QualityRun]]) -> None:
    root, _ = site
    server = start(root)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        http = requests.Session()
        http.trust_env = False
        index = http.get(f"{base}/", timeout=10)
        assert index.status_code == 200 and "validations/contacts/run-2" in index.text
        page = next((root / "validations" / "accounts").rglob("*.html"))
        url = served_url(root, page, base)
        assert http.get(url, timeout=10).status_code == 200
        assert http.get(f"{base}/static/acm/acm_docs.css", timeout=10).status_code == 200
        assert http.get(f"{base}/.results/", timeout=10).status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_one_server_serves_each_connection_s_site_under_its_name(tmp_path: Path) -> None:
    """Hand-made sites: each connection's page under /<name>/, and nothing else — no other
    connection's files, no results store, no path out of a site."""
    sites = {}
    for name in ("acme_eu", "acme_us"):
        root = tmp_path / name / "data_docs"
        (root / "validations").mkdir(parents=True)
        (root / "index.html").write_text(f"index of {name}")
        (root / "validations" / "page.html").write_text(f"page of {name}")
        (root / ".results").mkdir()
        (root / ".results" / "r.json").write_text("{}")
        sites[name] = root
    (tmp_path / "secret.txt").write_text("outside every site")
    server = start(sites)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        http = requests.Session()
        http.trust_env = False
        for name, root in sites.items():
            url = served_url(root, root / "validations" / "page.html", base, site=name)
            assert url == f"{base}/{name}/validations/page.html"
            assert http.get(url, timeout=10).text == f"page of {name}"
            assert http.get(f"{base}/{name}/", timeout=10).text == f"index of {name}"
            assert http.head(url, timeout=10).status_code == 200
            for hidden in (f"/{name}/.results/r.json", f"/{name}/%2Eresults/r.json"):
                assert http.get(base + hidden, timeout=10).status_code == 404
                assert http.head(base + hidden, timeout=10).status_code == 404
            assert http.get(f"{base}/{name}/../secret.txt", timeout=10).status_code == 404
            assert http.get(f"{base}/{name}/%2E%2E/secret.txt", timeout=10).text != (
                "outside every site"
            )
        front = http.get(f"{base}/", timeout=10).text
        assert 'href="/acme_eu/"' in front and 'href="/acme_us/"' in front
        assert http.get(f"{base}/acme_jp/validations/page.html", timeout=10).status_code == 404
        assert http.get(f"{base}/validations/page.html", timeout=10).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
