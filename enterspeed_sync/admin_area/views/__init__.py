"""Views of the Enterspeed area in the Wagtail admin (routes: enterspeed_sync/admin_urls.py)."""
