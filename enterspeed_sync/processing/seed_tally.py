"""
Counting a seed's outcomes: each job a seed queued carries the seed's name, and when
processing resolves it, the seed's ``SeedTally`` row of its entity type counts it as sent,
unchanged (skipped by the ledger) or failed. Jobs retried or put back are counted later.
"""

from __future__ import annotations

import logging
from collections import Counter

from django.db import DatabaseError, transaction
from django.db.models import F

from enterspeed_sync.models import EnterspeedJob, SeedTally
from enterspeed_sync.processing.transitions import Outcome

logger = logging.getLogger(__name__)

#: The tally column each final outcome counts in.
COLUMNS = {Outcome.SUCCEEDED: "sent", Outcome.UNCHANGED: "unchanged", Outcome.FAILED: "failed"}


def count_outcomes(jobs: list[EnterspeedJob], outcomes: dict[int, str]) -> None:
    """Count the seeded ones of a batch's ``jobs`` by their ``outcomes``: one UPDATE per
    seed, entity type and outcome. A database error is logged: the jobs' own outcomes are
    recorded already, and a tally must never stop the sending."""
    tally: Counter[tuple[str, str, str]] = Counter()
    for job in jobs:
        column = COLUMNS.get(outcomes.get(job.pk, ""))
        if job.seed and column:
            tally[(job.seed, job.entity_type, column)] += 1
    if not tally:
        return
    try:
        with transaction.atomic():
            for (seed, entity_type, column), count in tally.items():
                SeedTally.objects.filter(seed=seed, entity_type=entity_type).update(
                    **{column: F(column) + count}
                )
    except DatabaseError:
        logger.warning("Could not count a batch's outcomes against its seed", exc_info=True)
