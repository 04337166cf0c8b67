"""Rebuild tests/peers/sfcli/package-lock.json from the pinned CLI's own npm-shrinkwrap.json.

npm 11 resolves @salesforce/cli's dependency ranges afresh instead of honouring the shrinkwrap
the CLI ships, and the fresh tree needs Node 22 (@jsforce/jsforce-node >= 3.10.17, undici 8).
So the lock is the shipped tree: the shrinkwrap's non-dev packages hoisted under ours, with
the `resolved` download addresses and `funding` links dropped (the lock names no host).

Usage (from this directory, with npm and network access to the registry):
    python lock_from_shrinkwrap.py
then `npm ci --ignore-scripts --legacy-peer-deps` installs it (the shipped tree pairs marked 4
with marked-terminal 4, whose peer range is marked ^1 || ^2).
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    package = json.loads((HERE / "package.json").read_text())
    version = package["dependencies"]["@salesforce/cli"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "package.json").write_text(json.dumps(package))
        subprocess.run(
            ["npm", "install", "--package-lock-only", "--ignore-scripts", "--loglevel=error"],
            cwd=work,
            check=True,
        )
        ours = json.loads((work / "package-lock.json").read_text())
        subprocess.run(
            ["npm", "pack", f"@salesforce/cli@{version}", "--silent"], cwd=work, check=True
        )
        with tarfile.open(work / f"salesforce-cli-{version}.tgz") as tar:
            member = tar.extractfile("package/npm-shrinkwrap.json")
            assert member is not None
            shrinkwrap = json.load(member)
    cli = dict(ours["packages"]["node_modules/@salesforce/cli"])
    packages = {"": ours["packages"][""], "node_modules/@salesforce/cli": cli}
    for path, entry in shrinkwrap["packages"].items():
        if path and not entry.get("dev"):
            packages[path] = entry
    for entry in packages.values():
        entry.pop("resolved", None)
        entry.pop("funding", None)
    lock = {
        "name": ours["name"],
        "version": ours["version"],
        "lockfileVersion": 3,
        "requires": True,
        "packages": packages,
    }
    (HERE / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")


if __name__ == "__main__":
    main()
