"""The whole browser suite (`pytest -m browser`: every test that drives Chromium) run N times in a row while busy
processes hold the cores, as a developer's machine or CI does when background training runs beside the tests.
Reports pass/fail, test counts, wall time and the load average for each run, and a verdict: all runs passed.

    python -m scripts.browser_suite_under_load --runs 5            # two hogs (one per core of a 2-core machine)
    python -m scripts.browser_suite_under_load --runs 1 --hogs 0   # the same suite without the load

Bounded in time: --budget-minutes for all runs together (a run still going at the end is stopped and reported as
such); each hog ends by itself at the same deadline, so none outlives the script. Results in docs/test_suite.md.
A run counts as passed only if pytest exits 0 and ran at least one test: a machine without Chromium skips them all.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOG = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")


def load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def counts(output: str) -> dict[str, int]:
    """pytest's last summary line as {outcome: count} ("error" and "errors" alike)."""
    lines = [line for line in output.splitlines() if SUMMARY.search(line) and " in " in line]
    found: dict[str, int] = {}
    for n, outcome in SUMMARY.findall(lines[-1] if lines else ""):
        found[outcome.rstrip("s") if outcome.startswith("error") else outcome] = int(n)
    return found


def run_suite(args: argparse.Namespace, deadline: float) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "browser", "-p", "no:randomly", *args.pytest_args]
    start, load_before = time.monotonic(), load()
    # its own process group: at the budget, the run's Streamlit servers and browsers are stopped with it
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=max(deadline - start, 1))
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        code = None
    found = counts(output)
    passed = code == 0 and found.get("passed", 0) > 0 and not found.get("failed") and not found.get("error")
    failures = [line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return {"passed": passed, "code": code, "counts": found, "seconds": time.monotonic() - start,
            "load before": load_before, "load after": load(), "failures": failures, "output": output}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="how many times to run the browser suite in a row")
    p.add_argument("--hogs", type=int, default=2, help="busy processes kept running during the runs (0: none)")
    p.add_argument("--budget-minutes", type=float, default=90.0, help="time for all runs together")
    p.add_argument("--log-dir", help="write each run's pytest output (failures, slowest tests) to run-N.log here")
    p.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --), e.g. -- -x")
    args = p.parse_args(argv)
    if args.runs < 1 or args.hogs < 0 or not args.budget_minutes > 0:
        p.error("--runs must be at least 1, --hogs at least 0 and --budget-minutes above 0")
    if args.log_dir and Path(args.log_dir).exists() and not Path(args.log_dir).is_dir():
        p.error(f"--log-dir {args.log_dir} is a file; give a folder for the runs' logs")
    deadline = time.monotonic() + args.budget_minutes * 60
    hogs = [subprocess.Popen([sys.executable, "-c", HOG, str(args.budget_minutes * 60)]) for _ in range(args.hogs)]
    print(f"{args.runs} runs of `pytest -m browser` with {args.hogs} busy processes on {os.cpu_count()} cores; "
          f"load average before: {load()}", flush=True)
    results = []
    try:
        for i in range(1, args.runs + 1):
            if time.monotonic() >= deadline:
                print(f"run {i}: not started, the {args.budget_minutes:g}-minute budget is spent", flush=True)
                continue
            r = run_suite(args, deadline)
            results.append(r)
            if args.log_dir:
                Path(args.log_dir).mkdir(parents=True, exist_ok=True)
                (Path(args.log_dir) / f"run-{i}.log").write_text(r["output"])
            verdict = "pass" if r["passed"] else ("stopped at the budget" if r["code"] is None else "FAIL")
            tally = ", ".join(f"{n} {k}" for k, n in r["counts"].items())
            print(f"run {i}: {verdict}  ({tally or 'no summary'})  {r['seconds']:.0f} s  load average "
                  f"{r['load before']} -> {r['load after']}", flush=True)
            for line in r["failures"]:
                print(f"    {line}", flush=True)
    finally:
        for hog in hogs:  # only the processes this script started
            hog.terminate()
            hog.wait()
    ok = len(results) == args.runs and all(r["passed"] for r in results)
    total = sum(r["seconds"] for r in results)
    print(f"{sum(r['passed'] for r in results)} of {args.runs} runs passed; {total:.0f} s in all; load average "
          f"after: {load()}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
