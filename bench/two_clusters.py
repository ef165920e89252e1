"""
Two `qcluster` processes on one throwaway PostgreSQL database process a seed of N pages
against the ingest stand-in; prints what the stand-in counted. A thin wrapper around
tests/test_two_clusters.py, run through the test runner (which starts PostgreSQL).

    python bench/two_clusters.py [--pages 2000] [--runs 1]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.jsonl"
        env = {
            **os.environ,
            "ENTERSPEED_TWO_CLUSTER_PAGES": str(args.pages),
            "ENTERSPEED_TWO_CLUSTER_REPORT": str(report),
        }
        for run in range(1, args.runs + 1):
            command = [sys.executable, "-m", "tests", "--postgres-only", "-q"]
            command += ["-p", "no:cacheprovider", "tests/test_two_clusters.py"]
            code = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)
            if code.returncode != 0:
                print(code.stdout.decode()[-3000:])
                raise SystemExit(f"run {run} failed")
        for line in report.read_text().splitlines():
            for key, value in json.loads(line).items():
                print(f"{key:>40}: {value}")
            print()


if __name__ == "__main__":
    main()
