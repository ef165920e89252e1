"""
Diagnostics: tools that look at the sync without changing what it sends.

- ``inspection``: what one origin id would send now, and the mapping self-test over every
  synced model (``manage.py enterspeed_inspect``, the admin's self-test page).
- ``verify``: compare what the site publishes with what Enterspeed last accepted, and repair
  the drift (``manage.py enterspeed_verify``).
"""
