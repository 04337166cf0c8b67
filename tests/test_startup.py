"""What a process pays before its first API call: loading the code location (every run, the
webserver, the daemon, `dagster job execute`) must not import the heavy libraries only some steps
need — Great Expectations (seconds; the quality steps import it), matplotlib (the scoring plots)
— nor the sandbox (the CLI and the demo start it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAZY = ("great_expectations", "matplotlib", "acm_sync.sandbox")


def test_loading_the_code_location_leaves_the_heavy_imports_to_the_steps_that_need_them() -> None:
    code = (
        "import sys, acm_sync.definitions; "
        f"print(','.join(m for m in {LAZY!r} if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "ACM_SYNC_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""
