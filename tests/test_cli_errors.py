"""Every CLI error is one clear line saying what to do — through the installed `acm-sync`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "HUBSPOT_", "ACM_"))
    }
    env["ACM_WAREHOUSE_PATH"] = str(tmp_path / "w.duckdb")
    env["COLUMNS"] = "80"
    return subprocess.run(
        [str(BIN / "acm-sync"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    text = " ".join(lines)
    assert text.startswith("error: ") and "Traceback" not in text, done.stderr
    return text


def test_sandbox_summary_without_a_sandbox(tmp_path: Path) -> None:
    text = _one_line(_run("sandbox", "summary", tmp_path=tmp_path))
    assert "no running sandbox in .sandbox" in text and "acm-sync sandbox serve" in text


def test_apply_an_unknown_plan(tmp_path: Path) -> None:
    text = _one_line(_run("apply", "--plan-id", "nope", tmp_path=tmp_path))
    assert text.startswith("error: plan nope not applied: ")


def test_docs_on_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        text = _one_line(_run("docs", "--port", str(port), tmp_path=tmp_path))
    assert f"cannot serve on 127.0.0.1:{port}" in text and "--port" in text


def test_sync_as_of_must_be_a_day(tmp_path: Path) -> None:
    for bad in ("2018-13-01", "2018-01-01T05:00", "soon"):
        text = _one_line(_run("sync", "--as-of", bad, tmp_path=tmp_path))
        assert f"--as-of {bad!r}: give a day, YYYY-MM-DD" in text


def test_sync_as_of_reaches_every_scoring_step_and_no_other() -> None:
    from acm_sync.cli import as_of_ops
    from acm_sync.definitions import defs

    day = {"config": {"as_of": "2018-01-01T00:00:00+00:00"}}
    # scoring replays the day; validation judges the data as pulled (today)
    assert as_of_ops(defs.resolve_job_def("sync"), "2018-01-01") == {
        "account_scores": day,
        "forecast_backtest": day,
    }
    assert as_of_ops(defs.resolve_job_def("plan"), "2018-01-01") == {
        "account_scores": day,
        "forecast_backtest": day,
    }
    assert as_of_ops(defs.resolve_job_def("validate"), "2018-01-01") == {}
