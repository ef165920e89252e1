"""
Two `qcluster` processes on one throwaway PostgreSQL database against the ingest
stand-in; prints what the stand-in counted. A thin wrapper around the cluster tests, run
through the test runner (which starts PostgreSQL).

    python bench/two_clusters.py [--pages 2000] [--runs 1]
    python bench/two_clusters.py --throttled [--pages 300] [--every N] [--variants ...]
                                 [--headroom 0.1]

Without ``--throttled``: a seed of ``--pages`` pages under a shared limit of 60 requests per
second (tests/test_two_clusters.py). With it: a seed, then every page unpublished, against a
stand-in that enforces Enterspeed's 25 requests per second strictly and answers every n-th
request 429 (``--every 0``: only the strict limit), for each of the variants bulk / single
requests, with and without SKIP_UNCHANGED (tests/test_fault_injection.py).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = "bulk,single,bulk-skip-unchanged,single-skip-unchanged"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--throttled", action="store_true", help="the 429 runs")
    parser.add_argument("--every", type=int, default=None, help="429 every n-th request")
    parser.add_argument("--variants", default=VARIANTS, help=f"comma-separated ({VARIANTS})")
    parser.add_argument("--headroom", type=float, default=None, help="RATE_LIMIT_HEADROOM")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.jsonl"
        if args.throttled:
            env = {
                "ENTERSPEED_THROTTLED_PAGES": str(args.pages or 300),
                "ENTERSPEED_THROTTLED_VARIANTS": args.variants,
                "ENTERSPEED_THROTTLED_REPORT": str(report),
            }
            if args.headroom is not None:
                env["ENTERSPEED_RATE_LIMIT_HEADROOM"] = str(args.headroom)
            if args.every is not None:
                env["ENTERSPEED_THROTTLE_EVERY"] = str(args.every)
            tests = ["tests/test_fault_injection.py", "-k", "429s"]
        else:
            env = {
                "ENTERSPEED_TWO_CLUSTER_PAGES": str(args.pages or 2000),
                "ENTERSPEED_TWO_CLUSTER_REPORT": str(report),
            }
            tests = ["tests/test_two_clusters.py"]
        for run in range(1, args.runs + 1):
            command = [sys.executable, "-m", "tests", "--postgres-only", "-q"]
            command += ["-p", "no:cacheprovider", *tests]
            code = subprocess.run(
                command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, check=False
            )
            if code.returncode != 0:
                print(code.stdout.decode()[-3000:])
                raise SystemExit(f"run {run} failed")
        for line in report.read_text().splitlines():
            for key, value in json.loads(line).items():
                print(f"{key:>45}: {value}")
            print()


if __name__ == "__main__":
    main()
