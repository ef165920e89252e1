"""Handlers that misbehave in the ways the reliability tests feed them bad input."""

from enterspeed_sync.handlers import Operation
from enterspeed_sync.handlers.pages import PagePublishHandler


class UnmappablePageHandler(PagePublishHandler):
    """Pages titled "Unmappable" cannot be mapped (a bug in a project's mapping)."""

    key = "unmappable_page"

    def get_mapper(self, page):
        if page.title == "Unmappable":
            raise ValueError(f"cannot map page {page.pk}")
        return super().get_mapper(page)


class BadPayloadHandler(PagePublishHandler):
    """Sends what a buggy mapping might: an invalid property name or 5 MB of text."""

    key = "bad_payload"

    def operations(self, job):
        page = self.get_object(job)
        entity = self.get_mapper(page).to_entity()
        if page.title == "Bad names":
            entity["properties"]["1st"] = "starts with a digit"
        elif page.title == "Huge":
            entity["properties"]["body"] = "x" * 5_000_000
        return [Operation.save(job, job.origin_id, entity)]


class BadInputHandler(PagePublishHandler):
    """All the bad input at once, picked by the page's title; other pages are sent as usual."""

    key = "bad_input"

    def operations(self, job):
        page = self.get_object(job)
        if page is None or not page.live:
            return super().operations(job)
        if page.title == "Unmappable":
            raise ValueError(f"cannot map page {page.pk}")
        entity = self.get_mapper(page).to_entity()
        if page.title == "Bad names":
            entity["properties"]["1st"] = "starts with a digit"
        elif page.title == "Huge":
            entity["properties"]["body"] = "x" * 5_000_000
        return [Operation.save(job, job.origin_id, entity)]


class LockedDatabaseHandler(PagePublishHandler):
    """Pages titled "Locked" meet a database that is locked while they are mapped."""

    key = "locked_database"

    def get_mapper(self, page):
        if page.title == "Locked":
            from django.db import OperationalError

            raise OperationalError("database is locked")
        return super().get_mapper(page)


class ConnectionCuttingHandler(PagePublishHandler):
    """Pages titled "Cut" lose the database connection while they are mapped (PostgreSQL:
    the server ends the session, as in a restart or fail-over)."""

    key = "connection_cutting"

    def get_mapper(self, page):
        if page.title == "Cut":
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return super().get_mapper(page)
