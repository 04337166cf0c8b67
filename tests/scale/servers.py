"""Real PostgreSQL and Redis servers for the scale test, started in a temp dir on free ports.

Both are Debian's packages (`make test-scale` installs `postgresql` and `redis-server` when they
are missing). PostgreSQL refuses to run as root: as root, its cluster is made and run as the
`postgres` user the package creates (`runuser`), in a directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(name: str) -> str:
    """A PostgreSQL server program: Debian keeps them in /usr/lib/postgresql/<major>/bin."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (make test-scale installs it)")
    return path


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str

    def env(self) -> dict[str, str]:
        """The environment deploy/celery/dagster.yaml reads its storage from."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with (
            psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname=self.db,
            ) as con,
            con.cursor() as cur,
        ):
            cur.execute(sql, params)
            return list(cur.fetchall())


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    as_root = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="acm-pg-"))
    run_as: list[str] = []
    if as_root:
        owner = pwd.getpwnam("postgres")  # made by Debian's postgresql package
        os.chown(root, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"
    port, user, password = free_port(), "dagster", "dagster-test"
    pwfile = root / "pw"
    pwfile.write_text(password)
    if as_root:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    subprocess.run(
        [*run_as, _pg_bin("initdb"), "-D", str(data), "-U", user, "-A", "scram-sha-256",
         f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=400 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    subprocess.run(
        [*run_as, _pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
         "-t", "60", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        con = psycopg2.connect(
            host="127.0.0.1", port=port, user=user, password=password, dbname="postgres"
        )
        con.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with con.cursor() as cur:
            cur.execute("CREATE DATABASE dagster")
        con.close()
        yield Postgres("127.0.0.1", port, user, password, "dagster")
    finally:
        subprocess.run(
            [*run_as, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[str]:
    """A Redis server (no persistence) on a free port; yields its URL base (redis://host:port)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make test-scale installs it)")
    root = Path(tempfile.mkdtemp(prefix="acm-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(root), "--logfile", str(root / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client.close()
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
