"""
Recovery times with the DEFAULT settings, measured on real `qcluster` processes and the
ingest stand-in: after a worker holding a batch is SIGKILLed, after the circuit breaker
opens, after a refused key is fixed (in the settings, with a cluster restart; and on
Enterspeed's side, from the next task). The minute schedule is removed, so the times are
the cluster's own wake-ups. A thin wrapper around tests/test_recovery_cluster.py, run
through the test runner.

    python bench/recovery.py [--runs 1] [--postgres]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL, not SQLite.")
    args = parser.parse_args()
    database = "--postgres-only" if args.postgres else "--sqlite-only"
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.jsonl"
        env = {**os.environ, "ENTERSPEED_RECOVERY_REPORT": str(report)}
        for run in range(1, args.runs + 1):
            command = [sys.executable, "-m", "tests", database, "-q", "-p", "no:cacheprovider"]
            command += ["tests/test_recovery_cluster.py"]
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)
            if done.returncode != 0:
                print(done.stdout.decode()[-3000:])
                raise SystemExit(f"run {run} failed")
        times = defaultdict(list)
        settings = {}
        for line in report.read_text().splitlines():
            row = json.loads(line)
            times[row.pop("scenario")].append(row.pop("seconds"))
            settings = row
    print("Settings (the defaults):", ", ".join(f"{k}={v}" for k, v in settings.items()))
    for scenario, seconds in times.items():
        shown = " / ".join(f"{s:.1f}" for s in seconds)
        print(f"{scenario:>64}: {shown} s")


if __name__ == "__main__":
    main()
