"""The baseline: sync the given connections one after another in ONE process (the in-process
executor, a throwaway local instance), as a single-org deployment runs them.

    python tests/scale/sequential.py NAME [NAME …]     (cwd: the code location's directory)

Prints one JSON line: {"seconds": wall time of the runs, "runs": {name: seconds}}.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import dagster as dg


def main(names: list[str]) -> None:
    started = time.perf_counter()
    from acm_sync.definitions import defs  # reads ./acm_sync.yaml: the connections

    job = defs.get_job_def("sync")
    took: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.local_temp(home) as instance:
        for name in names:
            began = time.perf_counter()
            result = job.execute_in_process(
                partition_key=name, instance=instance, raise_on_error=False
            )
            if not result.success:
                failed = [e.step_key for e in result.get_step_failure_events()]
                raise SystemExit(f"sync of {name} failed at {failed}")
            took[name] = round(time.perf_counter() - began, 1)
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1), "runs": took}))


if __name__ == "__main__":
    main(sys.argv[1:])
