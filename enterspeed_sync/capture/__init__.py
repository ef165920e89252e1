"""
Change capture: content changes in Wagtail become job rows, in the editor's transaction.

The flow, one module per step:

- ``receivers``: the signal receivers (publish, unpublish, delete, move, save, revision).
  Each is one call into ``fanout`` and never raises into the editor's request.
  ``redirects`` does the same for Wagtail's redirects.
- ``fanout``: which jobs a change implies (the entity itself, its translations, what refers
  to it, a moved subtree, the preview draft, the translation group), as ``JobSpec``s.
- ``seeding``: everything that belongs in a source, built with the same spec builders.
- ``outbox``: writes the specs as job rows, one pending job per entity (the newest
  instruction wins); ``pause_sync()`` stops job creation for a block of code.
- ``enqueue``: after commit, asks the django-q2 cluster to process the queue.

Processing (``enterspeed_sync.processing``) takes it from there.
"""
