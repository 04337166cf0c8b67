"""`acm-sync docs`: the Data Docs site served over HTTP on 127.0.0.1, so the links in the Dagster
UI open in a browser (which refuses `file://` links from a web page). Static files only; the
results store behind the pages (`.results/`) is not served.

With connections listed in acm_sync.yaml, one server serves every connection's site, each under
`/<name>/` (the links the quality assets write say which), and `/` lists them."""

from __future__ import annotations

import functools
import html
import http.server
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from acm_sync.quality.docs import RESULTS_DIR


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0].lstrip("/").startswith(RESULTS_DIR):
            self.send_error(404)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per error only
        if args and str(args[1] if len(args) > 1 else "").startswith(("4", "5")):
            super().log_message(format, *args)


class _SitesHandler(_Handler):
    """Each connection's site under `/<name>/`; `/` is a list of them."""

    sites: Mapping[str, Path] = {}

    def do_GET(self) -> None:
        path = self.path.split("?")[0].split("#")[0]
        if path in ("/", "/index.html"):
            self._front_page()
        elif self._served(path):
            super(_Handler, self).do_GET()

    def do_HEAD(self) -> None:
        if self._served(self.path.split("?")[0].split("#")[0]):
            super().do_HEAD()

    def _served(self, path: str) -> bool:
        """A path of a connection's site, not of its results store (else: 404 sent)."""
        name, _, rest = path.lstrip("/").partition("/")
        if unquote(name) not in self.sites or unquote(rest).startswith(RESULTS_DIR):
            self.send_error(404)
            return False
        return True

    def translate_path(self, path: str) -> str:
        name, _, rest = path.lstrip("/").partition("/")
        site = self.sites.get(unquote(name.split("?")[0]))
        if site is None:
            return str(Path(self.directory) / "\0missing")  # never a file: 404
        self.directory = str(site)
        return super().translate_path("/" + rest)

    def _front_page(self) -> None:
        items = "".join(
            f'<li><a href="/{quote(name)}/">{html.escape(name)}</a></li>' for name in self.sites
        )
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Data Docs</title></head>"
            f"<body><h1>Data Docs by connection</h1><ul>{items}</ul></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def docs_server(
    root: Path | Mapping[str, Path], host: str = "127.0.0.1", port: int = 3100
) -> http.server.HTTPServer:
    """A server of `root` (not yet serving: call serve_forever, or `start` for a thread); of
    each connection's site under `/<name>/` when `root` maps connection names to sites."""
    if isinstance(root, Path):
        root.mkdir(parents=True, exist_ok=True)
        handler: Any = functools.partial(_Handler, directory=str(root))
    else:
        sites = dict(root)
        for site in sites.values():
            site.mkdir(parents=True, exist_ok=True)
        handler = type("SitesHandler", (_SitesHandler,), {"sites": sites})
    return http.server.ThreadingHTTPServer((host, port), handler)


def start(
    root: Path | Mapping[str, Path], host: str = "127.0.0.1", port: int = 0
) -> http.server.HTTPServer:
    """Serve `root` from a daemon thread (tests, the demo); `server.shutdown()` stops it."""
    server = docs_server(root, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
