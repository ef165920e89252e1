"""
What reading a setting costs now that every read checks the value against its rule in
``conf.SETTING_RULES``: nanoseconds per ``conf.<KEY>`` read, for a key left at its default
and a key set by the project (the case that runs the rule).

    python bench/conf_reads.py [--reads 200000]
"""

import argparse
import os
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("BATCH_SIZE", "TIMEOUT", "SKIP_UNCHANGED", "UNKNOWN_FIELDS", "MAPPERS", "RATE_LIMIT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--reads", type=int, default=200_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.test import override_settings

    django.setup()
    from enterspeed_sync.conf import DEFAULTS, conf

    for configured in (False, True):
        user = {"API_KEY": "source-bench"}
        if configured:
            user.update({key: DEFAULTS[key] for key in KEYS})
        with override_settings(ENTERSPEED_SYNC=user):
            for key in KEYS:
                seconds = timeit.timeit(lambda key=key: getattr(conf, key), number=args.reads)
                where = "set by the project" if configured else "default"
                print(f"conf.{key:<16} {where:<19} {seconds / args.reads * 1e9:7.0f} ns")


if __name__ == "__main__":
    main()
