"""
The Enterspeed area of the Wagtail admin: dashboard, seed, jobs list, inspect, retry, the
mapping self-test, and the page actions. ``wagtail_hooks.py`` (at the app's top level, where
Wagtail looks for it) registers ``urls`` and the menu item; the views call ``operations`` for
anything that changes jobs.
"""
