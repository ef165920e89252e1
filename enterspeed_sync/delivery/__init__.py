"""
Delivery: getting operations to Enterspeed's Ingest API and knowing what happened.

- ``client``: the HTTP client (requests only, no Django): save, delete, bulk, connection test,
  with ``errors`` (what went wrong, and whether a retry may help) and ``answers`` (what
  Enterspeed accepted, per entity for bulk requests). The client's module re-exports both.
- ``bulk``: operations (save an entity, delete an origin id) and how they pack into requests.
- ``gate``: the sending gate shared by every worker through the database: rate limit,
  rate-limit pauses, the circuit breaker and the stop on a refused key.
- ``retries``: the retry policy: which failure is retried, after how long, and which fails.
- ``ledger``: what each source last accepted, so unchanged entities are not sent again.
"""
