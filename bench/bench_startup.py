"""Start-up of a run as users launch it: process start → first API call, and where it goes.

    .venv/bin/python bench/bench_startup.py                         # this checkout, 3 runs each
    .venv/bin/python bench/bench_startup.py --checkout before=/tmp/base --checkout after=.

Each run is `dagster job execute -m acm_sync.definitions -j <job>` in a fresh process (the
README's way to run a job; in process, as the jobs are defined), with its own DAGSTER_HOME and
warehouse, against a sandbox seeded once and copied for every run (the write-back changes it).
Per checkout and repetition, in this order:

    ingest        the first pull into an empty warehouse (timed)
    sync, sync    the first sync writes back, the second re-reads what it wrote (not timed)
    sync          a no-change sync (timed)

A probe (a `sitecustomize` on the child's PYTHONPATH, below) time-stamps the process's start,
the moment `acm_sync.definitions` is loaded, the first and last request to the sandbox, and
counts DuckDB connections and Great Expectations contexts (with the time spent creating them).
The run's step timings come from its Dagster event log. Checkouts are interleaved (before, after,
before, after …) so that a loaded machine weighs on both alike; the figures are min–max ranges.

Also printed: each heavy library's import time on its own (`python -X importtime`, fresh process)
and whether the code location's import pulls it in, and Dagster's own cost per step (a job of 21
no-op assets against one of 1, in process, on a SQLite instance as the CLI uses).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent(
    '''
    """bench_startup's probe: time stamps and counts of this process, written at exit."""
    import atexit, http.client, importlib.abc, json, os, sys, time

    _state = {"start": time.time(), "definitions_loaded": None, "first_request": None,
              "last_request": None, "requests": 0, "duckdb_connects": 0, "gx_contexts": 0,
              "gx_context_s": 0.0}

    _putrequest = http.client.HTTPConnection.putrequest

    def _timed_putrequest(self, method, url, *args, **kwargs):
        if self.host in ("127.0.0.1", "localhost"):  # the sandbox, not a library phoning home
            now = time.time()
            _state["first_request"] = _state["first_request"] or now
            _state["last_request"] = now
            _state["requests"] += 1
        return _putrequest(self, method, url, *args, **kwargs)

    http.client.HTTPConnection.putrequest = _timed_putrequest

    def _patch_duckdb(module):
        connect = module.connect
        def counted(*args, **kwargs):
            _state["duckdb_connects"] += 1
            return connect(*args, **kwargs)
        module.connect = counted

    def _patch_gx(module):
        get_context = module.get_context
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return get_context(*args, **kwargs)
            finally:
                _state["gx_contexts"] += 1
                _state["gx_context_s"] += time.perf_counter() - started
        module.get_context = timed

    def _definitions(module):
        _state["definitions_loaded"] = time.time()

    _AFTER = {"duckdb": _patch_duckdb, "great_expectations": _patch_gx,
              "acm_sync.definitions": _definitions}

    class _AfterImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name not in _AFTER:
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            else:
                return None
            exec_module = spec.loader.exec_module
            def exec_then_patch(module):
                exec_module(module)
                _AFTER[name](module)
            spec.loader.exec_module = exec_then_patch
            return spec

    sys.meta_path.insert(0, _AfterImport())

    @atexit.register
    def _write():
        _state["exit"] = time.time()
        with open(os.environ["ACM_STARTUP_PROBE"], "w") as out:
            json.dump(_state, out)
    '''
)

HEAVY = ["dagster", "great_expectations", "pandas", "matplotlib", "duckdb", "acm_sync.sandbox"]

NOOP_JOB = textwrap.dedent(
    """
    import json, time
    import dagster as dg

    def chain(n):
        assets, previous = [], None
        for i in range(n):
            deps = [previous] if previous is not None else []
            @dg.asset(name=f"a{i}", deps=deps)
            def step() -> None:
                return None
            assets.append(step)
            previous = step
        return assets

    instance = dg.DagsterInstance.get()
    out = []
    for n in (1, 21, 1, 21):
        assets = chain(n)
        started = time.perf_counter()
        dg.materialize(assets, instance=instance)
        out.append((n, time.perf_counter() - started))
    print(json.dumps(out))
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkout",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="a checkout (its src/, acm_sync.yaml, expectations/) to measure; repeatable",
    )
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    checkouts = {
        label: Path(path).resolve()
        for label, path in (c.split("=", 1) for c in args.checkout or [f"this={REPO}"])
    }
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="acm-bench-startup-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "probe").mkdir(exist_ok=True)
    (work / "probe" / "sitecustomize.py").write_text(PROBE)
    print(f"work directory {work}; {args.accounts:,}-account org, seed {args.seed}")

    print("\n== imports (each alone, fresh process, -X importtime; ms)")
    for label, root in checkouts.items():
        print(f"-- {label}")
        print_imports(root)

    print("\n== Dagster per step (no-op assets in process, SQLite instance)")
    per_step = noop_step_cost(work)
    print(f"   {per_step * 1000:.0f} ms a step")

    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        label: {"ingest": [], "sync": []} for label in checkouts
    }
    template = seed_org(work, args.accounts, args.seed)
    for rep in range(args.repeat):
        for label, root in checkouts.items():
            run_dir = work / f"{label}-{rep}"
            shutil.rmtree(run_dir, ignore_errors=True)
            shutil.copytree(template, run_dir / "sandbox")
            ingest, sync = one_round(root, run_dir, work / "probe")
            results[label]["ingest"].append(ingest)
            results[label]["sync"].append(sync)
            print(
                f"   {label} #{rep + 1}: ingest {ingest['wall']:.1f} s "
                f"(first call after {ingest['to_first_call']:.1f} s), "
                f"no-change sync {sync['wall']:.1f} s "
                f"(first call after {sync['to_first_call']:.1f} s)",
                flush=True,
            )
    print_report(results)


def seed_org(work: Path, accounts: int, seed: int) -> Path:
    from acm_sync.sandbox.process import SandboxProcess

    template = work / f"org-{accounts}-{seed}"
    if not (template / "salesforce.db").exists():
        print(f"\n== seeding the org into {template}", flush=True)
        with SandboxProcess(template, accounts=accounts, seed=seed):
            pass
    return template


def one_round(root: Path, run_dir: Path, probe: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from acm_sync.sandbox.process import SandboxProcess

    home = run_dir / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with SandboxProcess(run_dir / "sandbox") as settings:
        env = {
            **os.environ,
            **settings.env(),
            "DAGSTER_HOME": str(home),
            "ACM_WAREHOUSE_PATH": str(run_dir / "warehouse" / "acm_sync.duckdb"),
            "PYTHONPATH": f"{probe}{os.pathsep}{root / 'src'}",
        }
        env.pop("ACM_SYNC_CONFIG", None)  # the checkout's own acm_sync.yaml (cwd)
        ingest = run_job("ingest", root, run_dir, env)
        run_job("sync", root, run_dir, env)  # writes back the whole org
        run_job("sync", root, run_dir, env)  # re-reads what the write-back touched
        sync = run_job("sync", root, run_dir, env)
    return ingest, sync


def run_job(job: str, root: Path, run_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    probe_out = run_dir / f"probe-{job}-{time.time_ns()}.json"
    command = [
        str(Path(sys.executable).parent / "dagster"),
        *("job", "execute", "-m", "acm_sync.definitions", "-j", job),
    ]
    spawned = time.time()
    done = subprocess.run(
        command,
        cwd=root,
        env={**env, "ACM_STARTUP_PROBE": str(probe_out)},
        capture_output=True,
        text=True,
    )
    ended = time.time()
    if done.returncode != 0:
        raise SystemExit(f"{job} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    probe = json.loads(probe_out.read_text())
    steps = step_spans(Path(env["DAGSTER_HOME"]))
    return {
        "wall": ended - spawned,
        "to_interpreter": probe["start"] - spawned,
        "to_definitions": probe["definitions_loaded"] - spawned,
        "to_first_call": probe["first_request"] - spawned,
        "after_last_call": ended - probe["last_request"],
        "requests": probe["requests"],
        "duckdb_connects": probe["duckdb_connects"],
        "gx_contexts": probe["gx_contexts"],
        "gx_context_s": probe["gx_context_s"],
        **steps,
    }


def step_spans(home: Path) -> dict[str, Any]:
    """The last run's steps from its event log: how many, their summed span, the run's span."""
    code = textwrap.dedent(
        """
        import json
        import dagster as dg
        instance = dg.DagsterInstance.get()
        run = instance.get_runs(limit=1)[0]
        record = instance.get_run_record_by_id(run.run_id)
        stats = instance.get_run_step_stats(run.run_id)
        print(json.dumps({
            "steps": len(stats),
            "step_s": sum((s.end_time or 0) - (s.start_time or 0) for s in stats),
            "run_s": (record.end_time or 0) - (record.start_time or 0),
        }))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def print_imports(root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}

    def importtime(module: str) -> dict[str, int]:
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        cumulative: dict[str, int] = {}
        for line in out.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            _, cum, name = line.split("|")
            if cum.strip().isdigit():
                cumulative.setdefault(name.strip(), int(cum))
        return cumulative

    location = importtime("acm_sync.definitions")
    print(
        f"   {'acm_sync.definitions':<22} {location['acm_sync.definitions'] / 1e3:>6.0f}   "
        "(the code location, everything it imports)"
    )
    for module in HEAVY:
        alone = importtime(module).get(module, 0)
        pulled = "imported by it" if module in location else "not imported by it"
        print(f"   {module:<22} {alone / 1e3:>6.0f}   {pulled}")


def noop_step_cost(work: Path) -> float:
    home = work / "noop_home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    out = subprocess.run(
        [sys.executable, "-c", NOOP_JOB],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    )
    timings = json.loads(out.stdout.strip().splitlines()[-1])
    # The second pair (the first pays for loading Dagster's storage); the difference is 20 steps.
    return float((timings[3][1] - timings[2][1]) / 20)


def print_report(results: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    rows = [
        ("wall (s)", "wall", 1),
        ("process start → interpreter (s)", "to_interpreter", 2),
        ("process start → code location loaded (s)", "to_definitions", 1),
        ("process start → first API call (s)", "to_first_call", 1),
        ("last API call → process end (s)", "after_last_call", 1),
        ("run span in Dagster (s)", "run_s", 1),
        ("steps", "steps", 0),
        ("sum of step spans (s)", "step_s", 1),
        ("requests to the sandbox", "requests", 0),
        ("DuckDB connections", "duckdb_connects", 0),
        ("GX contexts", "gx_contexts", 0),
        ("GX context creation (s)", "gx_context_s", 2),
    ]
    for job in ("ingest", "sync"):
        title = "first ingest" if job == "ingest" else "no-change sync"
        print(f"\n== {title} (min–max over the runs)")
        labels = list(results)
        print(f"   {'':<44}" + "".join(f"{label:>18}" for label in labels))
        for name, key, digits in rows:
            cells = []
            for label in labels:
                values = [r[key] for r in results[label][job]]
                low, high = min(values), max(values)
                cell = f"{low:.{digits}f}" if low == high else f"{low:.{digits}f}–{high:.{digits}f}"
                cells.append(f"{cell:>18}")
            print(f"   {name:<44}" + "".join(cells))


if __name__ == "__main__":
    main()
