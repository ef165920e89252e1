"""
Signals enterspeed_sync sends, so projects can react in code::

    from django.dispatch import receiver
    from enterspeed_sync.signals import entity_synced

    @receiver(entity_synced)
    def purge_cdn(sender, origin_id, action, destination, job, **kwargs):
        if destination == "publish":
            purge_cdn_for(origin_id)
"""

from django.dispatch import Signal

#: Sent in the worker after Enterspeed accepted a save or a delete, once per entity and
#: request (a save the ledger skipped as unchanged sends nothing), after the job was
#: recorded as succeeded. Arguments: ``origin_id``, ``action`` ("save" or "delete"),
#: ``destination`` ("publish" or "preview") and ``job`` (the ``EnterspeedJob``, already
#: deleted from the database). The sender is ``EnterspeedJob``. A receiver that raises is
#: logged and never fails the job.
entity_synced = Signal()
