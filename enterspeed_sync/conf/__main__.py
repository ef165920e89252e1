"""``python -m enterspeed_sync.conf [--check] [docs/configuration.md]``: write the settings
table of the configuration reference from ``enterspeed_sync.conf.SETTINGS``."""

import sys

from enterspeed_sync.conf.reference import main

sys.exit(main())
