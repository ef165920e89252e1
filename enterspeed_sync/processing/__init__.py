"""
Processing the job queue, one module per step:

- ``runner``: the run loop (``process_pending_jobs``), destination after destination;
- ``claims``: claiming due jobs, and the leases that keep them claimed;
- ``batch``: one claimed batch: its handlers' operations, sent in bulk;
- ``failures``: the retry policy applied to a failed request or handler;
- ``transitions``: every state change of a job (succeeded, retry, release, failed) and the
  sweeps (stale jobs, manual retry);
- ``database_faults``: riding out a database that is locked or away;
- ``schedules``: django-q2 schedules and wake-ups; ``post_sync``: what follows a sync.
"""
