"""`acm-sync docs`: the Data Docs site served over HTTP on 127.0.0.1, so the links in the Dagster
UI open in a browser (which refuses `file://` links from a web page). Static files only; the
results store behind the pages (`.results/`) is not served."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Any

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


def docs_server(root: Path, host: str = "127.0.0.1", port: int = 3100) -> http.server.HTTPServer:
    """A server of `root` (not yet serving: call serve_forever, or `start` for a thread)."""
    root.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_Handler, directory=str(root))
    return http.server.ThreadingHTTPServer((host, port), handler)


def start(root: Path, host: str = "127.0.0.1", port: int = 0) -> http.server.HTTPServer:
    """Serve `root` from a daemon thread (tests, the demo); `server.shutdown()` stops it."""
    server = docs_server(root, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
