"""How fast the demo-org generator builds an org, and how much memory it takes.

    .venv/bin/python bench/bench_generator.py [N_ACCOUNTS] [--seed 7]

Prints the wall-clock seconds of `generate_org(N_ACCOUNTS)` (default 100,000), the process's
peak resident memory (ru_maxrss, which includes the interpreter and imports), the rows of every
frame, and the number of seeded defects per kind.
"""

from __future__ import annotations

import argparse
import resource
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("accounts", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from acm_sync.sandbox.generator import generate_org

    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    org = generate_org(args.accounts, seed=args.seed)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"generate_org({args.accounts:,}, seed={args.seed})")
    print(f"  seconds   {seconds:10.1f}")
    print(f"  peak MB   {peak_mb:10.0f}   (after imports: {baseline_mb:.0f} MB)")
    print("rows")
    for name, frame in org.salesforce.items():
        print(f"  salesforce.{name:<24} {len(frame):>10,}")
    for name, frame in org.hubspot.items():
        print(f"  hubspot.{name:<27} {len(frame):>10,}")
    print(f"  hubspot_associations{'':<15} {len(org.hubspot_associations):>10,}")
    print(f"  hubspot_property_history{'':<11} {len(org.hubspot_property_history):>10,}")
    print(f"  overlap{'':<28} {len(org.overlap):>10,}")
    print(f"  contact_overlap{'':<20} {len(org.contact_overlap):>10,}")
    print(f"defects ({org.defects['kind'].nunique()} kinds)")
    for kind, count in org.defects["kind"].value_counts().sort_index().items():
        print(f"  {kind:<35} {count:>10,}")


if __name__ == "__main__":
    main()
