"""The Dagster UI in a real browser (headless Chromium from Debian, driven by Playwright) over
the session sandbox, after a `sync` launched through the webserver:

- the write-back preview shows a health-drivers value containing `|` whole, in its column;
- the Data Docs link of a quality asset opens a page over HTTP (`acm-sync docs`' server);
- the account_scores page shows the plots.

The screenshots it takes are the README's (`docs/*.png`), so they stay true. Run by
`make test-ui` (which installs chromium when missing); skipped, saying so, without a browser.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from acm_sync.quality.serve import start as start_docs
from acm_sync.sandbox.server import SandboxSettings
from test_webserver import (
    DAGSTER_YAML,
    REPO,
    Webserver,
    _overview,
    run_job,
    running_webserver,
)

pytestmark = pytest.mark.ui
CHROMIUM = os.environ.get("ACM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
DOCS = REPO / "docs"
RUN_TIMEOUT = 240

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"no chromium at {CHROMIUM}: `make test-ui` installs Debian's", allow_module_level=True
    )


@pytest.fixture(scope="module")
def synced(
    sandbox: SandboxSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A webserver over the sandbox (write-back in dry run: the sandbox is shared), a Data Docs
    server beside it, and one `sync` run through the webserver."""
    tmp = tmp_path_factory.mktemp("ui")
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    warehouse = tmp / "warehouse" / "acm_sync.duckdb"
    docs_server = start_docs(warehouse.parent / "data_docs")
    docs_url = f"http://127.0.0.1:{docs_server.server_address[1]}"
    config = yaml.safe_load((REPO / "acm_sync.yaml").read_text())
    config["writeback"] = {**config["writeback"], "dry_run": True, "preview_rows": 60}
    config["quality"] = {**config["quality"], "expectations_dir": str(REPO / "expectations")}
    (tmp / "acm_sync.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        **sandbox.env(),
        "DAGSTER_HOME": str(home),
        "ACM_WAREHOUSE_PATH": str(warehouse),
        "ACM_SYNC_CONFIG": str(tmp / "acm_sync.yaml"),
        "ACM_DATA_DOCS_URL": docs_url,
        "PYTHONUNBUFFERED": "1",
    }
    try:
        with running_webserver(env, tmp / "webserver.log") as server:
            yield _sync(server, docs_url, warehouse)
    finally:
        docs_server.shutdown()
        docs_server.server_close()


def _sync(server: Webserver, docs_url: str, warehouse: Path) -> dict[str, Any]:
    """One `sync` launched through the webserver, followed to SUCCESS."""
    _, repo = _overview(server)
    run_id, run = run_job(server, repo, "sync", RUN_TIMEOUT)
    assert run["status"] == "SUCCESS", server.log.read_text()[-3000:]
    return {"ui": server.url, "docs": docs_url, "warehouse": warehouse, "run_id": run_id}


@pytest.fixture(scope="module")
def browser(synced: dict[str, Any]) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def _asset_page(browser: Any, ui: str, asset: str, width: int = 1400) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.goto(f"{ui}/assets/{asset}", wait_until="networkidle")
    page.get_by_text("Metadata", exact=True).first.wait_for(timeout=30_000)
    _dismiss_dialogs(page)
    return page


def _dismiss_dialogs(page: Any) -> None:
    """Dagster's "join the community" dialog opens a moment after the first page load."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=3_000)
    except playwright_api.TimeoutError:
        return
    skip.click()
    skip.wait_for(state="detached")


def test_the_preview_shows_a_value_with_a_pipe_whole(synced: dict[str, Any], browser: Any) -> None:
    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        planned = {
            str(r[0])
            for r in con.execute(
                "SELECT after FROM writeback_plan WHERE run_id = ? AND after LIKE '%|%'",
                [synced["run_id"]],
            ).fetchall()
        }
    assert planned
    page = _asset_page(browser, synced["ui"], "writeback_plan", width=2100)
    # a row of the preview table (not the metadata row holding the whole table)
    row = page.locator("tr:not(:has(tr))", has_text=" | Down: ").first
    row.wait_for(timeout=30_000)
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    with_pipe = [c for c in cells if " | Down: " in c]
    assert len(with_pipe) == 1 and with_pipe[0] in planned, cells  # whole, in one cell
    # the columns are not shifted: crm, object, record_id, name, field, before, after, action, url
    assert len(cells) == 9 and cells[6] == with_pipe[0], cells
    assert cells[5] == "—" and cells[7] == "write", cells
    assert cells[8].startswith("http") and cells[2] in cells[8], cells  # the record's link
    row.scroll_into_view_if_needed()
    _dismiss_dialogs(page)
    page.screenshot(path=str(DOCS / "ui_writeback_plan.png"))
    page.close()


def test_the_data_docs_link_opens_over_http(synced: dict[str, Any], browser: Any) -> None:
    page = _asset_page(browser, synced["ui"], "quality_contacts")
    link = page.locator(f"a[href^='{synced['docs']}/validations/contacts/']").first
    link.wait_for(timeout=30_000)
    href = link.get_attribute("href")
    assert href and href.startswith("http://")
    page.close()
    docs = browser.new_page(viewport={"width": 1400, "height": 1000})
    remote: list[str] = []
    docs.on(
        "request", lambda r: remote.append(r.url) if not r.url.startswith(synced["docs"]) else None
    )
    response = docs.goto(href, wait_until="networkidle")
    assert response is not None and response.status == 200
    assert "Expectation Validation Result" in docs.inner_text("body")
    assert docs.locator("td", has_text="critical · ").count() > 0  # severity · code — reason
    assert not [u for u in remote if not u.startswith("data:")], remote  # offline
    docs.screenshot(path=str(DOCS / "data_docs_contacts.png"))
    index = docs.goto(f"{synced['docs']}/", wait_until="networkidle")
    assert index is not None and index.status == 200
    docs.close()


def test_account_scores_shows_the_plots(synced: dict[str, Any], browser: Any) -> None:
    page = _asset_page(browser, synced["ui"], "account_scores")
    for key in ("health_histogram_plot", "tier_pareto_plot"):
        row = page.locator("tr:not(:has(tr))", has_text=key).first
        row.get_by_text("[Show Markdown]").click()
        image = page.locator("img[src^='data:image/png']").last
        image.wait_for(timeout=30_000)
        width, height = image.evaluate("e => [e.naturalWidth, e.naturalHeight]")
        assert width > 300 and height > 150, key
        page.screenshot(path=str(DOCS / f"ui_{key}.png"))
        page.keyboard.press("Escape")
        page.locator("img[src^='data:image/png']").first.wait_for(state="detached")
    page.close()
