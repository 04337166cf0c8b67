"""Make the crm-dataset-builder data sets the public backtest runs on, reproducibly.

    git clone https://github.com/JuanitaOssa/crm-dataset-builder CHECKOUT_DIR
    git -C CHECKOUT_DIR checkout 32b7abc497129ca0dbfa3a081e30d652f5a13ce5
    nice -n 10 .venv/bin/python bench/make_public_datasets.py CHECKOUT_DIR OUT_DIR \
        [--profiles b2b_saas manufacturer consultancy] [--seeds 42 7] [--sizes 3000 20000] [--force]

`crm-dataset-builder` (MIT licence, written outside this project) generates a B2B CRM —
accounts, contacts, deals — for one of three business profiles (b2b_saas, manufacturer,
consultancy). Its own entry point (`src/main.py`) is an interactive menu capped at 10,000
companies; this script drives its generator classes directly instead, the way that menu does
(accounts → contacts → deals, each generator seeded with the same seed), once per profile ×
seed × size, into OUT_DIR/<profile>-s<seed>-n<size>/ (accounts.csv, contacts.csv, deals.csv and
made.json: commit, profile, seed, size, rows, seconds, library versions). A data set already
there is kept unless --force.

The generator runs in its own virtual environment, CHECKOUT_DIR/.venv (made when missing:
`python -m venv` + pip install of GENERATOR_REQUIREMENTS), never in this project's: faker and
pandas are the generator's dependencies, not ours (its `main` module imports pandas for its
exporters). Each data set is made in a fresh process, so one run's random state never leaks
into the next. The checkout must be at PINNED_COMMIT (the version measured), unless
--any-commit.

Each data set's line says how long the generator took and what it made (deals won / lost /
open, the dates spanned, the pipelines). Measured at the pin (2 shared cores): about 2.5 s per
3,000-company set, 14 s per 20,000-company set; the 20,000-company sets are CPU-heavy, so run
this under `nice`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PINNED_COMMIT = "32b7abc497129ca0dbfa3a081e30d652f5a13ce5"
GENERATOR_REQUIREMENTS = ("faker==40.63.0", "pandas==3.1.1")
PROFILE_CLASSES = {
    "b2b_saas": "B2BSaaSProfile",
    "manufacturer": "ManufacturerProfile",
    "consultancy": "ConsultancyProfile",
}

# Runs inside the generator's venv, cwd = the checkout: argv = profile module, class, seed,
# companies, output dir. Prints one JSON line of row counts.
DRIVER = """
import json, os, sys
sys.path.insert(0, "src")
import importlib
import main as m
from generators.accounts import AccountGenerator
from generators.contacts import ContactGenerator
from generators.deals import DealGenerator
module, cls, seed, companies, out = sys.argv[1:6]
seed, companies = int(seed), int(companies)
profile = getattr(importlib.import_module("profiles." + module), cls)()
os.makedirs(out, exist_ok=True)
accounts_csv = os.path.join(out, "accounts.csv")
contacts_csv = os.path.join(out, "contacts.csv")
deals_csv = os.path.join(out, "deals.csv")
accounts = AccountGenerator(seed=seed, profile=profile).generate(companies)
m.save_to_csv(accounts, accounts_csv, profile)
contacts = ContactGenerator(accounts_csv, seed=seed, profile=profile).generate()
m.save_contacts_to_csv(contacts, contacts_csv, profile)
deals = DealGenerator(accounts_csv, contacts_csv, seed=seed, profile=profile).generate()
m.save_deals_to_csv(deals, deals_csv, profile)
print(json.dumps({"accounts": len(accounts), "contacts": len(contacts), "deals": len(deals)}))
"""


def dataset_name(profile: str, seed: int, size: int) -> str:
    return f"{profile}-s{seed}-n{size}"


def generator_python(checkout: Path) -> Path:
    """The checkout's own venv python, made (and its requirements installed) when missing."""
    venv = checkout / ".venv"
    python = venv / "bin" / "python"
    marker = venv / ".acm-requirements"
    wanted = "\n".join(GENERATOR_REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *GENERATOR_REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return python


def checkout_commit(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def make_one(
    python: Path, checkout: Path, out: Path, profile: str, seed: int, size: int, commit: str
) -> dict[str, object]:
    started = time.perf_counter()
    argv = [profile, PROFILE_CLASSES[profile], str(seed), str(size), str(out.resolve())]
    done = subprocess.run(
        [str(python), "-c", DRIVER, *argv],
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"generator failed for {out.name}:\n{done.stderr[-2000:]}")
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    versions = subprocess.run(
        [str(python), "-c", "import faker, pandas; print(faker.VERSION, pandas.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    made = {
        "generator": "crm-dataset-builder",
        "commit": commit,
        "profile": profile,
        "seed": seed,
        "companies": size,
        **rows,
        "seconds": round(seconds, 1),
        "faker": versions[0],
        "pandas": versions[1],
    }
    (out / "made.json").write_text(json.dumps(made, indent=2) + "\n")
    return made


def describe(out: Path) -> str:
    """One line on a data set: deals by status, pipelines, the dates it spans."""
    import pandas as pd

    deals = pd.read_csv(out / "deals.csv", keep_default_na=False, na_values=[""])
    status = deals["deal_status"].value_counts()
    dates = pd.concat([pd.to_datetime(deals["created_date"]), pd.to_datetime(deals["close_date"])])
    return (
        f"{out.name}: {len(deals):,} deals (won {status.get('Won', 0):,}, lost "
        f"{status.get('Lost', 0):,}, open {status.get('Open', 0):,}), "
        f"{dates.min():%Y-%m-%d} – {dates.max():%Y-%m-%d}, pipelines "
        + ", ".join(sorted(deals["pipeline"].unique()))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="a crm-dataset-builder git checkout")
    parser.add_argument("out", type=Path, help="where the <profile>-s<seed>-n<size>/ dirs go")
    parser.add_argument("--profiles", nargs="+", choices=list(PROFILE_CLASSES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 7])
    parser.add_argument("--sizes", nargs="+", type=int, default=[3000, 20000])
    parser.add_argument("--force", action="store_true", help="remake data sets already there")
    parser.add_argument("--any-commit", action="store_true", help="do not insist on the pin")
    args = parser.parse_args()
    if not (args.checkout / "src" / "generators" / "deals.py").exists():
        raise SystemExit(f"{args.checkout} is not a crm-dataset-builder checkout (no src/)")
    commit = checkout_commit(args.checkout)
    if commit != PINNED_COMMIT and not args.any_commit:
        raise SystemExit(
            f"{args.checkout} is at {commit or 'no git commit'}, not the measured "
            f"{PINNED_COMMIT}: `git -C {args.checkout} checkout {PINNED_COMMIT}` "
            "(or --any-commit)"
        )
    python = generator_python(args.checkout)
    for size in sorted(args.sizes):
        for profile in args.profiles or list(PROFILE_CLASSES):
            for seed in args.seeds:
                out = args.out / dataset_name(profile, seed, size)
                if (out / "made.json").exists() and not args.force:
                    made = json.loads((out / "made.json").read_text())
                    note = "already made (--force to remake)"
                else:
                    made = make_one(python, args.checkout, out, profile, seed, size, commit)
                    note = "made"
                print(
                    f"{out.name}: {note}; {made['accounts']:,} accounts, {made['contacts']:,} "
                    f"contacts, {made['deals']:,} deals in {made['seconds']}s\n  " + describe(out),
                    flush=True,
                )


if __name__ == "__main__":
    main()
