"""Start the sandbox in a child process and wait until it answers (tests, demo, benchmarks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from acm_sync.sandbox.server import SandboxSettings


class SandboxProcess:
    """`acm-sync sandbox serve` as a child process; a context manager that stops it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        accounts: int = 1000,
        seed: int = 7,
        empty: bool = False,
        set_audit_fields: bool = False,
        sf_port: int = 0,
        hs_port: int = 0,
        hubspot_tier: str = "professional",
        daily_api_limit: int = 100_000,
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.args = [
            sys.executable,
            "-m",
            "acm_sync.cli",
            "sandbox",
            "serve",
            "--data-dir",
            str(data_dir),
            "--accounts",
            str(accounts),
            "--seed",
            str(seed),
            "--sf-port",
            str(sf_port),
            "--hs-port",
            str(hs_port),
            "--hubspot-tier",
            hubspot_tier,
            "--daily-api-limit",
            str(daily_api_limit),
            "--quiet",
        ]
        if empty:
            self.args.append("--empty")
        if set_audit_fields:
            self.args.append("--set-audit-fields")
        self.log_path = log_path or data_dir / "sandbox.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.settings: SandboxSettings | None = None

    def start(self, timeout: float = 600.0) -> SandboxSettings:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "settings.json").unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the sandbox exited with {self.proc.returncode}; see {self.log_path}:\n"
                    + self.log_path.read_text()[-3000:]
                )
            if (self.data_dir / "settings.json").exists():
                self.settings = SandboxSettings.read(self.data_dir)
                return self.settings
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the sandbox did not start within {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> SandboxSettings:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
