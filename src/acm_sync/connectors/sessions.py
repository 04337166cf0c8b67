"""Salesforce sessions kept between the steps of a run and between runs.

Every step that talks to Salesforce (the pulls, the stage catalog, the write-back target check,
write-back itself) connects on its own — in its own process under the multi-process executor —
and a SOAP / OAuth login per step cost a login call each. A session is good until the org's
inactivity timeout (2 hours by default), so the first step logs in and stores the session;
the others, and the next runs, reuse it:

- one file per set of credentials, named by a hash of them (method, login host, user, consumer
  key and the secrets), so other credentials never see it and a changed password misses it;
- owner-only: the directory is created 0700 and each file written 0600 (atomically); a
  directory or file anyone else can read or write is not used at all;
- a lock (`flock`), so steps starting together in several processes log in once;
- a session not used for `max_idle` seconds is not reused (the org would have expired it);
  one the org refuses anyway (401 INVALID_SESSION_ID) is replaced by one fresh login — unless
  another process already replaced it, in which case that one is taken;
- the token is never logged, and never leaves this module except into the client's headers.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_IDLE_SECONDS = 2 * 3600.0 - 300.0  # Salesforce's default timeout, less a margin


def default_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "acm_sync" / "salesforce-sessions"


@dataclass(frozen=True)
class CachedSession:
    session_id: str
    instance: str  # host[:port], as simple-salesforce's SalesforceLogin returns it

    def __repr__(self) -> str:  # never the token
        return f"CachedSession(instance={self.instance!r}, session_id=<hidden>)"


Login = Callable[[], tuple[str, str]]


def credentials_key(parts: Sequence[str | None]) -> str:
    """The file name for one set of credentials: a hash, so the name says nothing of them."""
    text = "\x1f".join("" if p is None else p for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


class SessionCache:
    """Sessions on disk under `directory`, one per credentials key (see the module doc)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_idle: float = DEFAULT_MAX_IDLE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.max_idle = max_idle
        self.clock = clock
        self.logins = 0  # logins made through this object (for tests and metadata)

    # -- the two operations -----------------------------------------------------------------

    def session(self, key: str, login: Login) -> CachedSession:
        """A live session for `key`: the stored one when fresh, else a new login (stored)."""
        with self._locked(key) as usable:
            if usable:
                cached = self._read(key)
                if cached is not None:
                    self._touch(key)
                    return cached
            return self._login(key, login, store=usable)

    def replace(self, key: str, stale: str, login: Login) -> CachedSession:
        """The org refused `stale`: another process's newer session, or one new login."""
        with self._locked(key) as usable:
            if usable:
                cached = self._read(key)
                if cached is not None and cached.session_id != stale:
                    self._touch(key)
                    return cached
            return self._login(key, login, store=usable)

    def forget(self, key: str) -> None:
        with self._locked(key) as usable:
            if usable:
                self._path(key).unlink(missing_ok=True)

    # -- storage ----------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def _login(self, key: str, login: Login, *, store: bool) -> CachedSession:
        session_id, instance = login()
        self.logins += 1
        fresh = CachedSession(session_id, instance)
        if store:
            self._write(key, fresh)
            self._prune()
        return fresh

    def _private_dir(self) -> bool:
        """Create the directory 0700; False when it exists with looser rights or another
        owner (then nothing is stored or read: a session is a credential)."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = self.directory.stat()
        except OSError:
            return False
        return info.st_uid == os.getuid() and not (info.st_mode & 0o077)

    @contextmanager
    def _locked(self, key: str) -> Iterator[bool]:
        """Hold the cache's lock (one for the directory: logins are rare and short); yields
        whether the cache is usable at all."""
        if not self._private_dir():
            yield False
            return
        try:
            fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield False
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield True
        finally:
            os.close(fd)  # releases the lock

    def _read(self, key: str) -> CachedSession | None:
        path = self._path(key)
        try:
            info = path.stat()
        except OSError:
            return None
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.getuid()
            or info.st_mode & 0o077
            or self.clock() - info.st_mtime > self.max_idle
        ):
            return None
        try:
            data = json.loads(path.read_text())
            return CachedSession(str(data["session_id"]), str(data["instance"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write(self, key: str, session: CachedSession) -> None:
        path = self._path(key)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        body = json.dumps({"session_id": session.session_id, "instance": session.instance})
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(body)
            os.replace(tmp, path)
            self._touch(key)
        except OSError:
            tmp.unlink(missing_ok=True)

    def _touch(self, key: str) -> None:
        """Mark the session used now (its idle time counts from its last use)."""
        now = self.clock()
        with suppress(OSError):
            os.utime(self._path(key), (now, now))

    def _prune(self) -> None:
        """Drop sessions idle past `max_idle` (other credentials, other sandboxes)."""
        now = self.clock()
        for path in self.directory.glob("*.json"):
            try:
                if now - path.stat().st_mtime > self.max_idle:
                    path.unlink(missing_ok=True)
            except OSError:
                continue
