"""Keep a Wagtail site in sync with Enterspeed through its Ingest API."""

__version__ = "0.1.0"
